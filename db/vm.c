/* db/vm: VM rows and the allocator. */
#include "config.h"

#include "db/db.h"

#include <errno.h>
#include <string.h>

#include "db/sql.h"

static const char *const vm_states[] = { "provisioning", "stopped", "starting", "ready", "assigned",
                                         "in_use", "recycling", "deleted", "error", NULL };
static const char *const running_states[] = { "starting", "ready", "assigned", "in_use", NULL };

void db_vm_free(struct db_vm *vm)
{
    if (vm == NULL)
        return;
    g_free(vm->name);
    g_free(vm->pool);
    g_free(vm->host);
    g_free(vm->uuid);
    g_free(vm->mac);
    g_free(vm->volume);
    g_free(vm->overlay_path);
    g_free(vm->state);
    g_free(vm->owner);
    g_free(vm->error);
    g_free(vm);
}

#define VM_COLUMNS                                                                             \
    "v.id, v.name, p.name, v.seq, h.name, v.uuid, v.mac, v.volume, v.overlay_path, v.state,"  \
    " u.name, v.error, v.attempts, v.retry_at, v.state_since, v.started_at, v.created_at"      \
    " FROM vms v JOIN pools p ON p.id = v.pool_id JOIN hosts h ON h.id = v.host_id"           \
    " LEFT JOIN users u ON u.id = v.owner_id"

static struct db_vm *vm_from_row(sqlite3_stmt *st)
{
    struct db_vm *vm = g_new0(struct db_vm, 1);

    vm->id = sqlite3_column_int64(st, 0);
    vm->name = sql_col_text(st, 1);
    vm->pool = sql_col_text(st, 2);
    vm->seq = sqlite3_column_int64(st, 3);
    vm->host = sql_col_text(st, 4);
    vm->uuid = sql_col_text(st, 5);
    vm->mac = sql_col_text(st, 6);
    vm->volume = sql_col_text(st, 7);
    vm->overlay_path = sql_col_text(st, 8);
    vm->state = sql_col_text(st, 9);
    vm->owner = sql_col_text(st, 10);
    vm->error = sql_col_text(st, 11);
    vm->attempts = sqlite3_column_int64(st, 12);
    vm->retry_at = sqlite3_column_int64(st, 13);
    vm->state_since = sqlite3_column_int64(st, 14);
    vm->started_at = sqlite3_column_int64(st, 15);
    vm->created_at = sqlite3_column_int64(st, 16);
    return vm;
}

/* Read one VM by a query with one int64 (?1) or text (?2) parameter. */
static int vm_query_one(struct db *db, const char *where, int64_t id, const char *name,
                        struct db_vm **vmp, GError **error)
{
    g_autofree char *sql = g_strdup_printf("SELECT " VM_COLUMNS " WHERE %s", where);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    if (strstr(where, "?1"))
        sqlite3_bind_int64(st, 1, id);
    if (strstr(where, "?2"))
        sql_bind_text(st, 2, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *vmp = vm_from_row(st);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "unknown VM '%s'", name ? name : "");
    else
        r = sql_db_fail(db, error, "reading a VM");
    sqlite3_finalize(st);
    return r;
}

int db_vm_get(struct db *db, const char *name, struct db_vm **vmp, GError **error)
{
    return vm_query_one(db, "v.name = ?2", 0, name, vmp, error);
}

int db_vm_list(struct db *db, const char *pool, const char *state, GPtrArray **vmsp,
               GError **error)
{
    g_autoptr(GPtrArray) vms = g_ptr_array_new_with_free_func((GDestroyNotify)db_vm_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    if (state && !sql_one_of(state, vm_states))
        return sql_fail(error, EINVAL, "unknown VM state '%s'", state);
    r = sql_prepare(db,
                    "SELECT " VM_COLUMNS " WHERE (?1 IS NULL OR p.name = ?1) AND (?2 IS NULL OR v.state = ?2)"
                    " ORDER BY p.name, v.seq",
                    &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, pool);
    sql_bind_text(st, 2, state);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_ptr_array_add(vms, vm_from_row(st));
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing VMs");
    sqlite3_finalize(st);
    if (r == 0)
        *vmsp = g_steal_pointer(&vms);
    return r;
}

int db_vm_create(struct db *db, const char *actor, const char *pool, const char *host,
                 const char *mac, struct db_vm **vmp, GError **error)
{
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *name = NULL;
    sqlite3_stmt *st = NULL;
    int64_t pid = 0, hid = 0, seq = 0, t = sql_now();
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_POOL, pool, &pid, error);
    if (r == 0) {
        r = sql_prepare(db, "SELECT id FROM hosts WHERE name = ?", &st, error);
        if (r == 0) {
            sql_bind_text(st, 1, host);
            if (sqlite3_step(st) == SQLITE_ROW)
                hid = sqlite3_column_int64(st, 0);
            else
                r = sql_fail(error, ENOENT, "unknown host '%s'", host);
            sqlite3_finalize(st);
            st = NULL;
        }
    }
    /* The lowest free number, so names stay short as VMs come and go. */
    if (r == 0)
        r = sql_count(db,
                      "SELECT coalesce(min(s.seq + 1), 1) FROM (SELECT 0 AS seq UNION SELECT seq FROM vms"
                      " WHERE pool_id = ?1) s WHERE NOT EXISTS"
                      " (SELECT 1 FROM vms v WHERE v.pool_id = ?1 AND v.seq = s.seq + 1)",
                      pid, &seq, error);
    if (r == 0) {
        name = g_strdup_printf("aula-%s-%" G_GINT64_FORMAT, pool, seq);
        r = sql_prepare(db,
                        "INSERT INTO vms (name, pool_id, host_id, uuid, mac, state, state_since, created_at, seq)"
                        " VALUES (?, ?, ?, ?, ?, 'provisioning', ?, ?, ?)",
                        &st, error);
    }
    if (r == 0) {
        sql_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, pid);
        sqlite3_bind_int64(st, 3, hid);
        sql_bind_text(st, 4, uuid);
        sql_bind_text(st, 5, mac);
        sqlite3_bind_int64(st, 6, t);
        sqlite3_bind_int64(st, 7, t);
        sqlite3_bind_int64(st, 8, seq);
        r = sql_step_done(db, st, error, "adding a VM");
    }
    if (r == 0)
        r = sql_audit(db, actor, "vm.create", name, NULL, pool, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0) {
        sql_rollback(db);
        return r;
    }
    return db_vm_get(db, name, vmp, error);
}

int db_vm_transition(struct db *db, const char *actor, const char *name, const char *const *from,
                     const char *to, const char *error_text, int64_t retry_after, GError **error)
{
    struct db_vm *vm = NULL;
    sqlite3_stmt *st = NULL;
    gboolean is_error, running;
    int64_t t = sql_now();
    int r;

    if (!sql_one_of(to, vm_states))
        return sql_fail(error, EINVAL, "unknown VM state '%s'", to ? to : "");
    is_error = strcmp(to, "error") == 0;
    running = sql_one_of(to, running_states);
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = db_vm_get(db, name, &vm, error);
    if (r == 0 && from && !sql_one_of(vm->state, from))
        r = sql_fail(error, EBUSY, "VM %s is %s, not %s", name, vm->state, from[0]);
    if (r == 0)
        r = sql_prepare(db,
                        "UPDATE vms SET state = ?1, state_since = ?2,"
                        " error = CASE WHEN ?3 THEN ?4 ELSE NULL END,"
                        " attempts = CASE WHEN ?3 THEN attempts + 1"
                        "   WHEN ?1 IN ('ready', 'assigned', 'in_use') THEN 0 ELSE attempts END,"
                        " retry_at = CASE WHEN ?3 THEN ?2 + ?5 ELSE 0 END,"
                        " started_at = CASE WHEN ?6 THEN coalesce(started_at, ?2)"
                        "   WHEN ?1 IN ('stopped', 'error', 'provisioning', 'recycling', 'deleted') THEN NULL ELSE started_at END"
                        " WHERE id = ?7",
                        &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, to);
        sqlite3_bind_int64(st, 2, t);
        sqlite3_bind_int(st, 3, is_error);
        sql_bind_text(st, 4, error_text);
        sqlite3_bind_int64(st, 5, retry_after);
        sqlite3_bind_int(st, 6, running);
        sqlite3_bind_int64(st, 7, vm->id);
        r = sql_step_done(db, st, error, "changing a VM's state");
    }
    if (r == 0 && strcmp(vm->state, to) != 0) {
        g_autofree char *detail = g_strdup_printf("%s -> %s%s%s", vm->state, to,
                                                  error_text ? ": " : "", error_text ? error_text : "");
        r = sql_audit(db, actor, "vm.state", name, vm->owner, vm->pool, is_error ? "failed" : "ok",
                      detail, error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    db_vm_free(vm);
    return r;
}

int db_vm_set_disk(struct db *db, const char *name, const char *volume, const char *path,
                   GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db, "UPDATE vms SET volume = ?, overlay_path = ? WHERE name = ?", &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, volume);
    sql_bind_text(st, 2, path);
    sql_bind_text(st, 3, name);
    r = sql_step_done(db, st, error, "recording a VM's disk");
    if (r == 0 && sqlite3_changes(db->h) == 0)
        r = sql_fail(error, ENOENT, "unknown VM '%s'", name);
    return r;
}

int db_vm_set_owner(struct db *db, const char *actor, const char *name, const char *user,
                    GError **error)
{
    struct db_vm *vm = NULL;
    sqlite3_stmt *st = NULL;
    int64_t uid = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = db_vm_get(db, name, &vm, error);
    if (r == 0 && user)
        r = sql_lookup_id(db, SQL_KIND_USER, user, &uid, error);
    if (r == 0)
        r = sql_prepare(db, "UPDATE vms SET owner_id = ? WHERE id = ?", &st, error);
    if (r == 0) {
        if (user)
            sqlite3_bind_int64(st, 1, uid);
        else
            sqlite3_bind_null(st, 1);
        sqlite3_bind_int64(st, 2, vm->id);
        r = sql_step_done(db, st, error, "changing a VM's owner");
    }
    if (r == 0 && g_strcmp0(vm->owner, user) != 0)
        r = sql_audit(db, actor, user ? "vm.own" : "vm.disown", name, user ? user : vm->owner,
                      vm->pool, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    db_vm_free(vm);
    return r;
}

int db_vm_delete(struct db *db, const char *actor, const char *name, GError **error)
{
    struct db_vm *vm = NULL;
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = db_vm_get(db, name, &vm, error);
    if (r == 0)
        r = sql_prepare(db, "DELETE FROM vms WHERE id = ?", &st, error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, vm->id);
        r = sql_step_done(db, st, error, "removing a VM");
    }
    if (r == 0)
        r = sql_audit(db, actor, "vm.delete", name, NULL, vm->pool, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    db_vm_free(vm);
    return r;
}

/* Is user (id) entitled to pool (id), directly or through a group? */
static int entitled(struct db *db, int64_t uid, int64_t pid, gboolean *yes, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db,
                    "SELECT count(*) FROM entitlements WHERE pool_id = ?2 AND (user_id = ?1 OR group_id IN"
                    " (SELECT group_id FROM memberships WHERE user_id = ?1))",
                    &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, pid);
    if (sqlite3_step(st) == SQLITE_ROW)
        *yes = sqlite3_column_int64(st, 0) > 0;
    else
        r = sql_db_fail(db, error, "checking an entitlement");
    sqlite3_finalize(st);
    return r;
}

/* The id of the first VM matching a query with ?1 = user id, ?2 = pool id; 0 if none. */
static int first_vm(struct db *db, const char *sql, int64_t uid, int64_t pid, int64_t *idp,
                    GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, pid);
    rc = sqlite3_step(st);
    *idp = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "looking for a VM");
    sqlite3_finalize(st);
    return r;
}

int db_vm_allocate(struct db *db, const char *actor, const char *user, const char *pool,
                   struct db_vm **vmp, GError **error)
{
    struct db_vm *vm = NULL;
    sqlite3_stmt *st = NULL;
    int64_t uid = 0, pid = 0, vid = 0;
    gboolean ok = FALSE;
    const char *how = "own";
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_USER, user, &uid, error);
    if (r == 0)
        r = sql_lookup_id(db, SQL_KIND_POOL, pool, &pid, error);
    if (r == 0)
        r = entitled(db, uid, pid, &ok, error);
    if (r == 0 && !ok)
        r = sql_fail(error, EACCES, "user '%s' is not entitled to pool '%s'", user, pool);
    /* 1. The user's own VM: a persistent desktop or a disconnected session's. */
    if (r == 0)
        r = first_vm(db,
                     "SELECT id FROM vms WHERE owner_id = ?1 AND pool_id = ?2"
                     " AND state <> 'deleted' ORDER BY seq LIMIT 1",
                     uid, pid, &vid, error);
    /* 2. A ready spare, the longest-running first. The UPDATE re-checks its
     * state: with BEGIN IMMEDIATE no one else can have taken it, and if that
     * ever changed, a VM would still never be handed out twice. */
    if (r == 0 && vid == 0) {
        how = "spare";
        r = first_vm(db,
                     "SELECT id FROM vms WHERE pool_id = ?2 AND owner_id IS NULL AND state = 'ready'"
                     " ORDER BY started_at, seq LIMIT 1",
                     uid, pid, &vid, error);
        if (r == 0 && vid != 0)
            r = sql_prepare(db,
                            "UPDATE vms SET owner_id = ?1, state = 'assigned', state_since = ?2"
                            " WHERE id = ?3 AND state = 'ready' AND owner_id IS NULL",
                            &st, error);
        if (r == 0 && vid != 0) {
            sqlite3_bind_int64(st, 1, uid);
            sqlite3_bind_int64(st, 2, sql_now());
            sqlite3_bind_int64(st, 3, vid);
            r = sql_step_done(db, st, error, "assigning a VM");
            if (r == 0 && sqlite3_changes(db->h) != 1)
                r = sql_fail(error, EAGAIN, "the spare VM was taken meanwhile");
        }
    }
    if (r == 0 && vid == 0)
        r = sql_fail(error, EAGAIN, "no desktop of pool '%s' is ready yet", pool);
    if (r == 0)
        r = vm_query_one(db, "v.id = ?1", vid, NULL, &vm, error);
    if (r == 0)
        r = sql_audit(db, actor, "allocate", vm->name, user, pool, "ok", how, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0) {
        sql_rollback(db);
        db_vm_free(vm);
        /* A refusal leaves a trace, in a transaction of its own. */
        if (r == -EACCES)
            sql_audit(db, actor, "allocate", pool, user, pool, "refused", "not entitled", NULL);
        return r;
    }
    *vmp = vm;
    return 0;
}
