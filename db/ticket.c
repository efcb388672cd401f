/* db/ticket: the tickets table (see ticket.h). */
#include "config.h"

#include "db/ticket.h"

#include <errno.h>
#include <string.h>

#include "db/sql.h"

static const char *const protocols[] = { "rdp", "vnc", NULL };

/* A SHA-256 in lowercase hex, as broker/ticket.c writes it. */
static gboolean hash_valid(const char *hash)
{
    size_t len = hash ? strlen(hash) : 0;

    if (len != 64)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isxdigit(hash[i]) || g_ascii_isupper(hash[i]))
            return FALSE;
    }
    return TRUE;
}

int db_ticket_add(struct db *db, const char *user, const char *pool, const char *protocol,
                  const char *secret_hash, int64_t expires_at, GError **error)
{
    g_autofree char *detail = NULL;
    sqlite3_stmt *st = NULL;
    int64_t uid = 0, pid = 0, now = sql_now();
    int r;

    if (!sql_one_of(protocol, protocols))
        return sql_fail(error, EINVAL, "unknown protocol '%s': use rdp or vnc",
                        protocol ? protocol : "");
    if (!hash_valid(secret_hash))
        return sql_fail(error, EINVAL, "a ticket's hash must be a SHA-256 in lowercase hex");
    if (expires_at <= now)
        return sql_fail(error, EINVAL, "a ticket must expire in the future");
    detail = g_strdup_printf("%s, valid for %" G_GINT64_FORMAT " s", protocol, expires_at - now);
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_USER, user, &uid, error);
    if (r == 0)
        r = sql_lookup_id(db, SQL_KIND_POOL, pool, &pid, error);
    if (r == 0)
        r = sql_prepare(db,
                        "INSERT INTO tickets (secret_hash, user_id, pool_id, protocol, created_at,"
                        " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                        &st, error);
    if (r == 0) {
        int rc;

        sql_bind_text(st, 1, secret_hash);
        sqlite3_bind_int64(st, 2, uid);
        sqlite3_bind_int64(st, 3, pid);
        sql_bind_text(st, 4, protocol);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, expires_at);
        rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            r = sql_fail(error, EEXIST, "a ticket with that secret exists already");
        else if (rc != SQLITE_DONE)
            r = sql_db_fail(db, error, "adding a ticket");
        sqlite3_finalize(st);
    }
    if (r == 0)
        r = sql_audit(db, user, "ticket.issue", pool, user, pool, "ok", detail, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_ticket_use(struct db *db, const char *secret_hash, const char *protocol, int64_t now,
                  char **userp, char **poolp, GError **error)
{
    g_autofree char *user = NULL, *pool = NULL, *proto = NULL;
    sqlite3_stmt *st = NULL;
    int64_t id = 0, expires_at = 0;
    gboolean used = FALSE, disabled = FALSE;
    int r, rc;

    if (!sql_one_of(protocol, protocols))
        return sql_fail(error, EINVAL, "unknown protocol '%s': use rdp or vnc",
                        protocol ? protocol : "");
    if (!hash_valid(secret_hash))
        return sql_fail(error, ENOENT, "unknown ticket");
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_prepare(db,
                    "SELECT t.id, u.name, p.name, t.protocol, t.expires_at, t.used_at IS NOT NULL,"
                    " u.disabled FROM tickets t JOIN users u ON u.id = t.user_id"
                    " JOIN pools p ON p.id = t.pool_id WHERE t.secret_hash = ?",
                    &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, secret_hash);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            user = sql_col_text(st, 1);
            pool = sql_col_text(st, 2);
            proto = sql_col_text(st, 3);
            expires_at = sqlite3_column_int64(st, 4);
            used = sqlite3_column_int(st, 5) != 0;
            disabled = sqlite3_column_int(st, 6) != 0;
        } else if (rc == SQLITE_DONE) {
            r = sql_fail(error, ENOENT, "unknown ticket");
        } else {
            r = sql_db_fail(db, error, "reading a ticket");
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    /* The order of the checks decides the reason given: a used ticket is
     * reported as used even after it has expired. */
    if (r == 0 && used)
        r = sql_fail(error, EALREADY, "the ticket has been used already");
    if (r == 0 && now >= expires_at)
        r = sql_fail(error, ETIMEDOUT, "the ticket expired %" G_GINT64_FORMAT " s ago",
                     now - expires_at);
    if (r == 0 && strcmp(proto, protocol) != 0)
        r = sql_fail(error, EPROTO, "the ticket is for %s, not %s", proto, protocol);
    if (r == 0 && disabled)
        r = sql_fail(error, EACCES, "user '%s' is disabled", user);
    if (r == 0)
        r = sql_prepare(db, "UPDATE tickets SET used_at = ? WHERE id = ? AND used_at IS NULL", &st,
                        error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, id);
        r = sql_step_done(db, st, error, "using a ticket");
        if (r == 0 && sqlite3_changes(db->h) != 1)
            r = sql_fail(error, EALREADY, "the ticket has been used already");
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0) {
        sql_rollback(db);
        return r;
    }
    *userp = g_steal_pointer(&user);
    *poolp = g_steal_pointer(&pool);
    return 0;
}

int db_ticket_prune(struct db *db, int64_t older_than, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db, "DELETE FROM tickets WHERE expires_at < ?", &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, older_than);
    return sql_step_done(db, st, error, "removing old tickets");
}
