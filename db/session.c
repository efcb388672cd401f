/* db/session: the sessions table (see db.h for the states). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "db/sql.h"

static const char *const session_states[] = { "waiting_for_vm", "connected", "disconnected",
                                              "logged_off", NULL };
static const char *const protocols[] = { "rdp", "vnc", NULL };

#define SESSION_COLUMNS                                                                          \
    "SELECT s.id, s.user_name, s.pool_name, v.name, s.protocol, s.client_addr, s.encoding,"     \
    " s.state, s.end_reason, s.bytes_sent, s.fps, s.created_at, s.state_since,"                  \
    " coalesce(s.connected_at, 0)"                                                               \
    " FROM sessions s LEFT JOIN vms v ON v.id = s.vm_id "

void db_session_free(struct db_session *s)
{
    if (s == NULL)
        return;
    g_free(s->user);
    g_free(s->pool);
    g_free(s->vm);
    g_free(s->protocol);
    g_free(s->client_addr);
    g_free(s->encoding);
    g_free(s->state);
    g_free(s->end_reason);
    g_free(s);
}

static struct db_session *session_from_row(sqlite3_stmt *st)
{
    struct db_session *s = g_new0(struct db_session, 1);

    s->id = sqlite3_column_int64(st, 0);
    s->user = sql_col_text(st, 1);
    s->pool = sql_col_text(st, 2);
    s->vm = sql_col_text(st, 3);
    s->protocol = sql_col_text(st, 4);
    s->client_addr = sql_col_text(st, 5);
    s->encoding = sql_col_text(st, 6);
    s->state = sql_col_text(st, 7);
    s->end_reason = sql_col_text(st, 8);
    s->bytes_sent = sqlite3_column_int64(st, 9);
    s->fps = sqlite3_column_int64(st, 10);
    s->created_at = sqlite3_column_int64(st, 11);
    s->state_since = sqlite3_column_int64(st, 12);
    s->connected_at = sqlite3_column_int64(st, 13);
    return s;
}

int db_session_list(struct db *db, gboolean active_only, GPtrArray **sessionsp, GError **error)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)db_session_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, SESSION_COLUMNS "WHERE ?1 = 0 OR s.state <> 'logged_off' ORDER BY s.id", &st,
                    error);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, active_only ? 1 : 0);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(list, session_from_row(st));
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing sessions");
    sqlite3_finalize(st);
    if (r == 0)
        *sessionsp = g_steal_pointer(&list);
    return r;
}

int db_session_get(struct db *db, int64_t id, struct db_session **sessionp, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, SESSION_COLUMNS "WHERE s.id = ?", &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *sessionp = session_from_row(st);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "unknown session %" G_GINT64_FORMAT, id);
    else
        r = sql_db_fail(db, error, "reading a session");
    sqlite3_finalize(st);
    return r;
}

int db_session_create(struct db *db, const char *actor, const char *user, const char *pool,
                      const char *protocol, const char *client_addr, int64_t *idp, GError **error)
{
    sqlite3_stmt *st = NULL;
    int64_t uid = 0, pid = 0, now = sql_now(), id = 0;
    g_autofree char *target = NULL;
    int r;

    if (!sql_one_of(protocol, protocols))
        return sql_fail(error, EINVAL, "unknown protocol '%s'", protocol ? protocol : "");
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_USER, user, &uid, error);
    if (r == 0)
        r = sql_lookup_id(db, SQL_KIND_POOL, pool, &pid, error);
    if (r == 0)
        r = sql_prepare(db,
                        "INSERT INTO sessions (user_id, user_name, pool_id, pool_name, protocol,"
                        " client_addr, state, created_at, state_since)"
                        " VALUES (?, ?, ?, ?, ?, ?, 'waiting_for_vm', ?, ?)",
                        &st, error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, uid);
        sql_bind_text(st, 2, user);
        sqlite3_bind_int64(st, 3, pid);
        sql_bind_text(st, 4, pool);
        sql_bind_text(st, 5, protocol);
        sql_bind_text(st, 6, client_addr ? client_addr : "");
        sqlite3_bind_int64(st, 7, now);
        sqlite3_bind_int64(st, 8, now);
        r = sql_step_done(db, st, error, "creating a session");
    }
    if (r == 0) {
        id = sqlite3_last_insert_rowid(db->h);
        target = g_strdup_printf("%" G_GINT64_FORMAT, id);
        r = sql_audit(db, actor, "session.start", target, user, pool, "ok",
                      client_addr ? client_addr : "", error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0) {
        sql_rollback(db);
        return r;
    }
    *idp = id;
    return 0;
}

int db_session_find_resumable(struct db *db, const char *user, const char *pool, int64_t *idp,
                              GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db,
                    "SELECT id FROM sessions WHERE user_name = ? AND pool_name = ?"
                    " AND state = 'disconnected' ORDER BY id DESC LIMIT 1",
                    &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, user);
    sql_bind_text(st, 2, pool);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *idp = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "%s has no disconnected session in pool %s", user, pool);
    else
        r = sql_db_fail(db, error, "finding a disconnected session");
    sqlite3_finalize(st);
    return r;
}

int db_session_transition(struct db *db, const char *actor, int64_t id, const char *const *from,
                          const char *to, const char *reason, GError **error)
{
    static const char *const live[] = { "waiting_for_vm", "connected", "disconnected", NULL };
    struct db_session *s = NULL;
    sqlite3_stmt *st = NULL;
    g_autofree char *target = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autofree char *action = NULL;
    gboolean ending;
    int r;

    if (!sql_one_of(to, session_states))
        return sql_fail(error, EINVAL, "unknown session state '%s'", to ? to : "");
    ending = strcmp(to, "disconnected") == 0 || strcmp(to, "logged_off") == 0;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = db_session_get(db, id, &s, error);
    if (r == 0 && !sql_one_of(s->state, from ? from : live))
        r = sql_fail(error, EBUSY, "session %" G_GINT64_FORMAT " is %s", id, s->state);
    if (r == 0)
        r = sql_prepare(db,
                        "UPDATE sessions SET state = ?1, state_since = ?2,"
                        " end_reason = CASE WHEN ?3 THEN ?4 ELSE '' END,"
                        " connected_at = CASE WHEN ?1 = 'connected' THEN ?2 ELSE connected_at END,"
                        " fps = CASE WHEN ?1 = 'connected' THEN fps ELSE 0 END,"
                        " ended_at = CASE WHEN ?1 = 'logged_off' THEN ?2 ELSE NULL END"
                        " WHERE id = ?5",
                        &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, to);
        sqlite3_bind_int64(st, 2, sql_now());
        sqlite3_bind_int(st, 3, ending);
        sql_bind_text(st, 4, reason ? reason : "");
        sqlite3_bind_int64(st, 5, id);
        r = sql_step_done(db, st, error, "changing a session's state");
    }
    if (r == 0 && strcmp(s->state, to) != 0) {
        action = g_strdup_printf("session.%s", to);
        r = sql_audit(db, actor, action, target, s->user, s->pool, "ok", reason ? reason : "", error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    db_session_free(s);
    return r;
}

int db_session_attach(struct db *db, int64_t id, const char *vm, const char *protocol,
                      const char *client_addr, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    if (!sql_one_of(protocol, protocols))
        return sql_fail(error, EINVAL, "unknown protocol '%s'", protocol ? protocol : "");
    r = sql_prepare(db,
                    "UPDATE sessions SET vm_id = (SELECT id FROM vms WHERE name = ?1),"
                    " protocol = ?2, client_addr = ?3 WHERE id = ?4",
                    &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, vm);
    sql_bind_text(st, 2, protocol);
    sql_bind_text(st, 3, client_addr ? client_addr : "");
    sqlite3_bind_int64(st, 4, id);
    r = sql_step_done(db, st, error, "recording a session's VM");
    if (r == 0 && sqlite3_changes(db->h) == 0)
        r = sql_fail(error, ENOENT, "unknown session %" G_GINT64_FORMAT, id);
    return r;
}

int db_session_stats(struct db *db, int64_t id, const char *encoding, int64_t bytes_sent,
                     int64_t fps, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db, "UPDATE sessions SET encoding = ?, bytes_sent = ?, fps = ? WHERE id = ?",
                    &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, encoding ? encoding : "");
    sqlite3_bind_int64(st, 2, bytes_sent);
    sqlite3_bind_int64(st, 3, fps);
    sqlite3_bind_int64(st, 4, id);
    return sql_step_done(db, st, error, "recording session figures");
}
