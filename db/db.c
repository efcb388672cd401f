/* db: SQLite access for the broker. See db.h for the error contract. */
#include "config.h"

#include "db/db.h"

#include <errno.h>
#include <gio/gio.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#include "db/migrations-resource.h"
#include "db/sql.h"

#define MIGRATIONS_PATH "/org/aula/db/migrations"
#define BUSY_TIMEOUT_MS 5000

gboolean db_network_valid(const char *network)
{
    const char *name;

    if (strcmp(network, "none") == 0)
        return TRUE;
    if (g_str_has_prefix(network, "network:"))
        name = network + strlen("network:");
    else if (g_str_has_prefix(network, "bridge:"))
        name = network + strlen("bridge:");
    else
        return FALSE;
    /* libvirt network names and Linux interface names (at most 15 characters). */
    return db_name_valid(name) && (network[0] == 'n' || strlen(name) <= 15);
}

gboolean db_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > 32 || !g_ascii_isalnum(name[0]))
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!g_ascii_isalnum(c) && c != '.' && c != '_' && c != '-')
            return FALSE;
    }
    return TRUE;
}

/* ---- opening and migrations ---- */

static int migration_version(const char *file)
{
    return g_ascii_isdigit(file[0]) ? (int)g_ascii_strtoll(file, NULL, 10) : 0;
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The compiled-in migrations (registered on first use). Borrowed. */
static GResource *migrations(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        db_migrations_register_resource();
        g_once_init_leave(&once, 1);
    }
    return db_migrations_get_resource();
}

/* The migration file names, sorted. Caller frees. */
static char **migration_files(void)
{
    char **files = g_resource_enumerate_children(migrations(), MIGRATIONS_PATH, 0, NULL);

    if (files == NULL)
        return g_new0(char *, 1);
    qsort(files, g_strv_length(files), sizeof(char *), cmp_str);
    return files;
}

int db_latest_schema_version(void)
{
    g_auto(GStrv) files = migration_files();
    int latest = 0;

    for (char **f = files; *f; f++)
        latest = MAX(latest, migration_version(*f));
    return latest;
}

int db_schema_version(struct db *db)
{
    int64_t v = 0;

    if (sql_count(db, "PRAGMA user_version", 0, &v, NULL) < 0)
        return -EIO;
    return (int)v;
}

/* Apply each migration newer than the database, one transaction each. */
static int migrate(struct db *db, GError **error)
{
    g_auto(GStrv) files = migration_files();
    int current = db_schema_version(db);
    int latest = db_latest_schema_version();

    if (current < 0)
        return sql_db_fail(db, error, "reading the schema version");
    if (current > latest)
        return sql_fail(error, EPROTO,
                    "%s has schema version %d, newer than this aula knows (%d): "
                    "run a newer aula, or restore a backup of the database",
                    db->path, current, latest);
    for (char **f = files; *f; f++) {
        int version = migration_version(*f);
        g_autofree char *res = NULL, *pragma = NULL;
        g_autoptr(GBytes) sql = NULL;
        int r;

        if (version <= current)
            continue;
        res = g_strconcat(MIGRATIONS_PATH "/", *f, NULL);
        sql = g_resource_lookup_data(migrations(), res, 0, NULL);
        if (sql == NULL)
            return sql_fail(error, EIO, "migration %s is missing from the binary", *f);
        pragma = g_strdup_printf("PRAGMA user_version = %d", version);
        r = sql_begin(db, error);
        if (r == 0)
            r = sql_exec(db, g_bytes_get_data(sql, NULL), error);
        if (r == 0)
            r = sql_exec(db, pragma, error);
        if (r == 0)
            r = sql_commit(db, error);
        if (r < 0) {
            sql_rollback(db);
            g_prefix_error(error, "migration %s: ", *f);
            return r;
        }
        g_info("%s: applied migration %s", db->path, *f);
    }
    return 0;
}

/* Wait for another connection's write lock: SQLite's own busy timeout sleeps
 * in steps of up to 100 ms, which is what a contended allocation would wait;
 * short steps keep the wait near the lock holder's transaction time. Gives up
 * (SQLITE_BUSY) after BUSY_TIMEOUT_MS. */
static int on_busy(void *data, int count)
{
    int step_us = count < 50 ? 100 : 1000;
    int64_t waited_us = count < 50 ? (int64_t)count * 100 : 5000 + (int64_t)(count - 50) * 1000;

    if (waited_us >= (int64_t)BUSY_TIMEOUT_MS * 1000)
        return 0;
    g_usleep(step_us);
    return 1;
}

int db_open(const char *path, struct db **dbp, GError **error)
{
    struct db *db = g_new0(struct db, 1);
    sqlite3_stmt *st = NULL;
    int r = -EIO;

    db->path = g_strdup(path);
    if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        r = sql_fail(error, EIO, "cannot open database %s: %s", path,
                 db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto out;
    }
    sqlite3_extended_result_codes(db->h, 1);
    sqlite3_busy_handler(db->h, on_busy, NULL);
    /* WAL lets readers (an admin's sqlite3 shell, backups) run beside the writer. */
    r = sql_prepare(db, "PRAGMA journal_mode = WAL", &st, error);
    if (r < 0)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW ||
        g_ascii_strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
        r = sql_fail(error, EIO, "cannot open database %s: %s", path,
                 sqlite3_errcode(db->h) == SQLITE_OK ? "WAL mode is not available"
                                                     : sqlite3_errmsg(db->h));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    r = sql_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", error);
    if (r < 0)
        goto out;
    r = migrate(db, error);
    if (r < 0)
        goto out;
    *dbp = db;
    db = NULL;
out:
    if (st)
        sqlite3_finalize(st);
    db_close(db);
    return r;
}

void db_close(struct db *db)
{
    if (db == NULL)
        return;
    sqlite3_close(db->h);
    g_free(db->path);
    g_free(db);
}

/* ---- hosts ---- */

void db_host_free(struct db_host *host)
{
    if (host == NULL)
        return;
    g_free(host->name);
    g_free(host->libvirt_uri);
    g_free(host);
}

int db_host_ensure(struct db *db, const char *actor, const char *name, const char *libvirt_uri,
                   GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    if (!db_name_valid(name))
        return sql_fail(error, EINVAL, "invalid host name '%s': use %s", name, DB_NAME_RULE);
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_prepare(db,
                "INSERT INTO hosts (name, libvirt_uri, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET libvirt_uri = excluded.libvirt_uri"
                " WHERE libvirt_uri <> excluded.libvirt_uri",
                &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, name);
        sql_bind_text(st, 2, libvirt_uri);
        sqlite3_bind_int64(st, 3, sql_now());
        r = sql_step_done(db, st, error, "recording the host");
    }
    if (r == 0 && sqlite3_changes(db->h) > 0)
        r = sql_audit(db, actor, "host.ensure", name, NULL, NULL, "ok", libvirt_uri, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_host_list(struct db *db, GPtrArray **hostsp, GError **error)
{
    g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func((GDestroyNotify)db_host_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT id, name, libvirt_uri, memory_budget_mib FROM hosts ORDER BY name",
                &st, error);
    if (r < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_host *h = g_new0(struct db_host, 1);
        h->id = sqlite3_column_int64(st, 0);
        h->name = sql_col_text(st, 1);
        h->libvirt_uri = sql_col_text(st, 2);
        h->memory_budget_mib = sqlite3_column_int64(st, 3);
        g_ptr_array_add(hosts, h);
    }
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing hosts");
    sqlite3_finalize(st);
    if (r == 0)
        *hostsp = g_steal_pointer(&hosts);
    return r;
}

/* ---- users ---- */

void db_user_free(struct db_user *user)
{
    if (user == NULL)
        return;
    g_free(user->name);
    g_free(user->full_name);
    g_free(user->password_hash);
    g_strfreev(user->groups);
    g_strfreev(user->pools);
    g_free(user);
}

static int check_password_hash(const char *hash, GError **error)
{
    /* A crypt(5) hash starts with '$'; anything else would be a clear-text password. */
    if (hash == NULL || hash[0] != '$' || strlen(hash) > 512)
        return sql_fail(error, EINVAL, "refusing to store a password that is not a crypt(5) hash");
    return 0;
}

int db_user_add(struct db *db, const char *actor, const char *name, const char *full_name,
                const char *password_hash, GError **error)
{
    sqlite3_stmt *st = NULL;
    int64_t t = sql_now();
    int r;

    if (full_name && (strlen(full_name) > 128 || strpbrk(full_name, "\n\r\t")))
        return sql_fail(error, EINVAL, "invalid full name: at most 128 characters on one line");
    r = check_password_hash(password_hash, error);
    if (r < 0)
        return r;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_check_new_name(db, SQL_KIND_USER, name, error);
    if (r == 0)
        r = sql_prepare(db,
                    "INSERT INTO users (name, full_name, password_hash, created_at, password_changed_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, name);
        sql_bind_text(st, 2, full_name ? full_name : "");
        sql_bind_text(st, 3, password_hash);
        sqlite3_bind_int64(st, 4, t);
        sqlite3_bind_int64(st, 5, t);
        r = sql_step_done(db, st, error, "adding the user");
    }
    if (r == 0)
        r = sql_audit(db, actor, "user.add", name, name, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_user_set_password(struct db *db, const char *actor, const char *name,
                         const char *password_hash, GError **error)
{
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    int r;

    r = check_password_hash(password_hash, error);
    if (r < 0)
        return r;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_USER, name, &id, error);
    if (r == 0)
        r = sql_prepare(db, "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                    &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, password_hash);
        sqlite3_bind_int64(st, 2, sql_now());
        sqlite3_bind_int64(st, 3, id);
        r = sql_step_done(db, st, error, "changing the password");
    }
    if (r == 0)
        r = sql_audit(db, actor, "user.passwd", name, name, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_user_remove(struct db *db, const char *actor, const char *name, GError **error)
{
    int64_t id = 0, active = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_USER, name, &id, error);
    if (r == 0)
        r = sql_count(db,
                        "SELECT count(*) FROM sessions WHERE user_id = ? AND state <> 'logged_off'",
                        id, &active, error);
    if (r == 0 && active > 0)
        r = sql_fail(error, EBUSY, "user '%s' has %" G_GINT64_FORMAT " active session(s): log them off first",
                 name, active);
    if (r == 0)
        r = sql_delete_row(db, SQL_KIND_USER, id, error);
    if (r == 0)
        r = sql_audit(db, actor, "user.rm", name, name, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

#define USER_COLUMNS "id, name, full_name, password_hash, disabled, created_at, password_changed_at"

static int user_fill(struct db *db, sqlite3_stmt *st, struct db_user **userp, GError **error)
{
    struct db_user *u = g_new0(struct db_user, 1);
    int r;

    u->id = sqlite3_column_int64(st, 0);
    u->name = sql_col_text(st, 1);
    u->full_name = sql_col_text(st, 2);
    u->password_hash = sql_col_text(st, 3);
    u->disabled = sqlite3_column_int(st, 4) != 0;
    u->created_at = sqlite3_column_int64(st, 5);
    u->password_changed_at = sqlite3_column_int64(st, 6);
    r = sql_strv(db,
                   "SELECT g.name FROM groups g JOIN memberships m ON m.group_id = g.id"
                   " WHERE m.user_id = ? ORDER BY g.name",
                   u->id, &u->groups, error);
    if (r == 0)
        r = sql_strv(db,
                       "SELECT DISTINCT p.name FROM pools p JOIN entitlements e ON e.pool_id = p.id"
                       " WHERE e.user_id = ?1 OR e.group_id IN"
                       " (SELECT group_id FROM memberships WHERE user_id = ?1) ORDER BY p.name",
                       u->id, &u->pools, error);
    if (r < 0) {
        db_user_free(u);
        return r;
    }
    *userp = u;
    return 0;
}

int db_user_get(struct db *db, const char *name, struct db_user **userp, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " USER_COLUMNS " FROM users WHERE name = ?", &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = user_fill(db, st, userp, error);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "unknown user '%s'", name ? name : "");
    else
        r = sql_db_fail(db, error, "reading a user");
    sqlite3_finalize(st);
    return r;
}

int db_user_list(struct db *db, GPtrArray **usersp, GError **error)
{
    g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func((GDestroyNotify)db_user_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " USER_COLUMNS " FROM users ORDER BY name", &st, error);
    if (r < 0)
        return r;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_user *u = NULL;
        r = user_fill(db, st, &u, error);
        if (r == 0)
            g_ptr_array_add(users, u);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing users");
    sqlite3_finalize(st);
    if (r == 0)
        *usersp = g_steal_pointer(&users);
    return r;
}

/* ---- groups ---- */

void db_group_free(struct db_group *group)
{
    if (group == NULL)
        return;
    g_free(group->name);
    g_strfreev(group->members);
    g_free(group);
}

int db_group_add(struct db *db, const char *actor, const char *name, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_check_new_name(db, SQL_KIND_GROUP, name, error);
    if (r == 0)
        r = sql_prepare(db, "INSERT INTO groups (name, created_at) VALUES (?, ?)", &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, name);
        sqlite3_bind_int64(st, 2, sql_now());
        r = sql_step_done(db, st, error, "adding the group");
    }
    if (r == 0)
        r = sql_audit(db, actor, "group.add", name, NULL, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_group_remove(struct db *db, const char *actor, const char *name, GError **error)
{
    int64_t id = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_GROUP, name, &id, error);
    if (r == 0)
        r = sql_delete_row(db, SQL_KIND_GROUP, id, error);
    if (r == 0)
        r = sql_audit(db, actor, "group.rm", name, NULL, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

/* Add (add = TRUE) or remove a membership. */
static int membership_change(struct db *db, const char *actor, const char *group, const char *user,
                             gboolean add, GError **error)
{
    sqlite3_stmt *st = NULL;
    int64_t gid = 0, uid = 0, exists = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_GROUP, group, &gid, error);
    if (r == 0)
        r = sql_lookup_id(db, SQL_KIND_USER, user, &uid, error);
    if (r == 0)
        r = sql_prepare(db, "SELECT count(*) FROM memberships WHERE user_id = ? AND group_id = ?", &st,
                    error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, gid);
        if (sqlite3_step(st) == SQLITE_ROW)
            exists = sqlite3_column_int64(st, 0);
        else
            r = sql_db_fail(db, error, "reading memberships");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (r == 0 && add && exists)
        r = sql_fail(error, EEXIST, "user '%s' is already in group '%s'", user, group);
    if (r == 0 && !add && !exists)
        r = sql_fail(error, ENOENT, "user '%s' is not in group '%s'", user, group);
    if (r == 0)
        r = sql_prepare(db,
                    add ? "INSERT INTO memberships (user_id, group_id) VALUES (?, ?)"
                        : "DELETE FROM memberships WHERE user_id = ? AND group_id = ?",
                    &st, error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, gid);
        r = sql_step_done(db, st, error, "changing a membership");
    }
    if (r == 0) {
        g_autofree char *detail = g_strdup_printf("user %s", user);
        r = sql_audit(db, actor, add ? "group.adduser" : "group.deluser", group, user, NULL,
                         "ok", detail, error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_group_add_user(struct db *db, const char *actor, const char *group, const char *user,
                      GError **error)
{
    return membership_change(db, actor, group, user, TRUE, error);
}

int db_group_remove_user(struct db *db, const char *actor, const char *group, const char *user,
                         GError **error)
{
    return membership_change(db, actor, group, user, FALSE, error);
}

int db_group_list(struct db *db, GPtrArray **groupsp, GError **error)
{
    g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func((GDestroyNotify)db_group_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT id, name, created_at FROM groups ORDER BY name", &st, error);
    if (r < 0)
        return r;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_group *g = g_new0(struct db_group, 1);
        g->id = sqlite3_column_int64(st, 0);
        g->name = sql_col_text(st, 1);
        g->created_at = sqlite3_column_int64(st, 2);
        g_ptr_array_add(groups, g);
        r = sql_strv(db,
                       "SELECT u.name FROM users u JOIN memberships m ON m.user_id = u.id"
                       " WHERE m.group_id = ? ORDER BY u.name",
                       g->id, &g->members, error);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing groups");
    sqlite3_finalize(st);
    if (r == 0)
        *groupsp = g_steal_pointer(&groups);
    return r;
}

/* ---- templates ---- */

void db_template_free(struct db_template *tmpl)
{
    if (tmpl == NULL)
        return;
    g_free(tmpl->name);
    g_free(tmpl->disk_path);
    g_free(tmpl->video);
    g_free(tmpl->firmware);
    g_free(tmpl->os);
    g_free(tmpl->volume);
    g_free(tmpl->kernel_volume);
    g_free(tmpl->initrd_volume);
    g_free(tmpl->cmdline);
    g_strfreev(tmpl->pools);
    g_free(tmpl);
}

static int check_template(const struct db_template *t, GError **error)
{
    static const char *const videos[] = { "virtio", "qxl", "vga", NULL };
    static const char *const firmwares[] = { "bios", "uefi", NULL };
    static const char *const oses[] = { "linux", "windows", NULL };

    if (t->disk_path == NULL || !g_path_is_absolute(t->disk_path) || strlen(t->disk_path) > 4096)
        return sql_fail(error, EINVAL, "the disk must be an absolute path");
    if (t->memory_mib < 64 || t->memory_mib > 4194304)
        return sql_fail(error, EINVAL, "memory %" G_GINT64_FORMAT " MiB is out of range (64 MiB to 4 TiB)",
                    t->memory_mib);
    if (t->vcpus < 1 || t->vcpus > 512)
        return sql_fail(error, EINVAL, "vcpus %" G_GINT64_FORMAT " is out of range (1 to 512)", t->vcpus);
    if (!sql_one_of(t->video, videos))
        return sql_fail(error, EINVAL, "unknown video model '%s': use virtio, qxl or vga",
                    t->video ? t->video : "");
    if (!sql_one_of(t->firmware, firmwares))
        return sql_fail(error, EINVAL, "unknown firmware '%s': use bios or uefi",
                    t->firmware ? t->firmware : "");
    if (!sql_one_of(t->os, oses))
        return sql_fail(error, EINVAL, "unknown OS type '%s': use linux or windows", t->os ? t->os : "");
    if (t->cmdline && (strlen(t->cmdline) > 4096 || strpbrk(t->cmdline, "\n\r")))
        return sql_fail(error, EINVAL, "the kernel command line must be one line of at most 4096 characters");
    if (t->cmdline && *t->cmdline && (t->kernel_volume == NULL || *t->kernel_volume == '\0'))
        return sql_fail(error, EINVAL, "a kernel command line needs a kernel");
    return 0;
}

int db_template_check(struct db *db, const struct db_template *t, GError **error)
{
    int r = check_template(t, error);

    if (r == 0)
        r = sql_check_new_name(db, SQL_KIND_TEMPLATE, t->name, error);
    return r;
}

int db_template_add(struct db *db, const char *actor, const struct db_template *t, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = check_template(t, error);
    if (r < 0)
        return r;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_check_new_name(db, SQL_KIND_TEMPLATE, t->name, error);
    if (r == 0)
        r = sql_prepare(db,
                    "INSERT INTO templates (name, disk_path, memory_mib, vcpus, video, firmware, os, created_at,"
                    " volume, kernel_volume, initrd_volume, cmdline)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, t->name);
        sql_bind_text(st, 2, t->disk_path);
        sqlite3_bind_int64(st, 3, t->memory_mib);
        sqlite3_bind_int64(st, 4, t->vcpus);
        sql_bind_text(st, 5, t->video);
        sql_bind_text(st, 6, t->firmware);
        sql_bind_text(st, 7, t->os);
        sqlite3_bind_int64(st, 8, sql_now());
        sql_bind_text(st, 9, t->volume ? t->volume : "");
        sql_bind_text(st, 10, t->kernel_volume ? t->kernel_volume : "");
        sql_bind_text(st, 11, t->initrd_volume ? t->initrd_volume : "");
        sql_bind_text(st, 12, t->cmdline ? t->cmdline : "");
        r = sql_step_done(db, st, error, "adding the template");
    }
    if (r == 0)
        r = sql_audit(db, actor, "template.add", t->name, NULL, NULL, "ok", t->disk_path, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_template_remove(struct db *db, const char *actor, const char *name, GError **error)
{
    g_auto(GStrv) pools = NULL;
    int64_t id = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_TEMPLATE, name, &id, error);
    if (r == 0)
        r = sql_strv(db, "SELECT name FROM pools WHERE template_id = ? ORDER BY name", id, &pools,
                       error);
    if (r == 0 && pools[0] != NULL) {
        g_autofree char *list = g_strjoinv(", ", pools);
        r = sql_fail(error, EBUSY, "template '%s' is used by pool(s) %s: remove them first", name, list);
    }
    if (r == 0)
        r = sql_delete_row(db, SQL_KIND_TEMPLATE, id, error);
    if (r == 0)
        r = sql_audit(db, actor, "template.rm", name, NULL, NULL, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

#define TEMPLATE_COLUMNS \
    "id, name, disk_path, memory_mib, vcpus, video, firmware, os, created_at, volume," \
    " kernel_volume, initrd_volume, cmdline"

static int template_fill(struct db *db, sqlite3_stmt *st, struct db_template **tp, GError **error)
{
    struct db_template *t = g_new0(struct db_template, 1);
    int r;

    t->id = sqlite3_column_int64(st, 0);
    t->name = sql_col_text(st, 1);
    t->disk_path = sql_col_text(st, 2);
    t->memory_mib = sqlite3_column_int64(st, 3);
    t->vcpus = sqlite3_column_int64(st, 4);
    t->video = sql_col_text(st, 5);
    t->firmware = sql_col_text(st, 6);
    t->os = sql_col_text(st, 7);
    t->created_at = sqlite3_column_int64(st, 8);
    t->volume = sql_col_text(st, 9);
    t->kernel_volume = sql_col_text(st, 10);
    t->initrd_volume = sql_col_text(st, 11);
    t->cmdline = sql_col_text(st, 12);
    r = sql_strv(db, "SELECT name FROM pools WHERE template_id = ? ORDER BY name", t->id,
                   &t->pools, error);
    if (r < 0) {
        db_template_free(t);
        return r;
    }
    *tp = t;
    return 0;
}

int db_template_get(struct db *db, const char *name, struct db_template **tmplp, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " TEMPLATE_COLUMNS " FROM templates WHERE name = ?", &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = template_fill(db, st, tmplp, error);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "unknown template '%s'", name ? name : "");
    else
        r = sql_db_fail(db, error, "reading a template");
    sqlite3_finalize(st);
    return r;
}

int db_template_list(struct db *db, GPtrArray **tmplsp, GError **error)
{
    g_autoptr(GPtrArray) tmpls = g_ptr_array_new_with_free_func((GDestroyNotify)db_template_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " TEMPLATE_COLUMNS " FROM templates ORDER BY name", &st, error);
    if (r < 0)
        return r;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_template *t = NULL;
        r = template_fill(db, st, &t, error);
        if (r == 0)
            g_ptr_array_add(tmpls, t);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing templates");
    sqlite3_finalize(st);
    if (r == 0)
        *tmplsp = g_steal_pointer(&tmpls);
    return r;
}

/* ---- pools ---- */

void db_pool_free(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    g_free(pool->name);
    g_free(pool->template_name);
    g_free(pool->clone);
    g_free(pool->protocols);
    g_free(pool->network);
    g_strfreev(pool->entitled_users);
    g_strfreev(pool->entitled_groups);
    g_free(pool);
}

char *db_protocols_normalize(const char *protocols)
{
    g_auto(GStrv) parts = NULL;
    gboolean rdp = FALSE, vnc = FALSE;

    if (protocols == NULL)
        return NULL;
    parts = g_strsplit(protocols, ",", -1);
    for (char **p = parts; *p; p++) {
        g_strstrip(*p);
        if (strcmp(*p, "rdp") == 0 && !rdp)
            rdp = TRUE;
        else if (strcmp(*p, "vnc") == 0 && !vnc)
            vnc = TRUE;
        else
            return NULL;
    }
    if (rdp && vnc)
        return g_strdup("rdp,vnc");
    return rdp ? g_strdup("rdp") : vnc ? g_strdup("vnc") : NULL;
}

#define TIMEOUT_MAX (366 * 24 * 3600)

static int check_pool(const struct db_pool *p, GError **error)
{
    static const char *const clones[] = { "linked", "full", NULL };
    g_autofree char *protocols = db_protocols_normalize(p->protocols);

    if (p->min_size < 0 || p->max_size < 1 || p->spare < 0 || p->max_size > 10000)
        return sql_fail(error, EINVAL, "pool sizes out of range: min >= 0, 1 <= max <= 10000, spare >= 0");
    if (p->min_size > p->max_size)
        return sql_fail(error, EINVAL, "min (%" G_GINT64_FORMAT ") is greater than max (%" G_GINT64_FORMAT ")",
                    p->min_size, p->max_size);
    if (p->spare > p->max_size)
        return sql_fail(error, EINVAL, "spare (%" G_GINT64_FORMAT ") is greater than max (%" G_GINT64_FORMAT ")",
                    p->spare, p->max_size);
    if (protocols == NULL)
        return sql_fail(error, EINVAL, "invalid protocols '%s': use rdp, vnc or rdp,vnc",
                    p->protocols ? p->protocols : "");
    if (!sql_one_of(p->clone, clones))
        return sql_fail(error, EINVAL, "unknown clone mode '%s': use linked or full",
                    p->clone ? p->clone : "");
    if (p->disconnect_timeout < 0 || p->disconnect_timeout > TIMEOUT_MAX || p->idle_timeout < 0 ||
        p->idle_timeout > TIMEOUT_MAX)
        return sql_fail(error, EINVAL, "timeouts must be between 0 and %d seconds", TIMEOUT_MAX);
    if (p->network && !db_network_valid(p->network))
        return sql_fail(error, EINVAL, "invalid network '%s': use network:NAME, bridge:DEVICE or none", p->network);
    if (p->vlan < 0 || p->vlan > 4094)
        return sql_fail(error, EINVAL, "VLAN tag %" G_GINT64_FORMAT " is out of range (1 to 4094, 0: none)", p->vlan);
    if (p->vlan && (p->network == NULL || !g_str_has_prefix(p->network, "bridge:")))
        return sql_fail(error, EINVAL, "a VLAN tag needs a bridge network (--network bridge:DEVICE)");
    return 0;
}

int db_pool_add(struct db *db, const char *actor, const struct db_pool *p, GError **error)
{
    g_autofree char *protocols = db_protocols_normalize(p->protocols);
    sqlite3_stmt *st = NULL;
    int64_t tid = 0;
    int r;

    r = check_pool(p, error);
    if (r < 0)
        return r;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_check_new_name(db, SQL_KIND_POOL, p->name, error);
    if (r == 0)
        r = sql_lookup_id(db, SQL_KIND_TEMPLATE, p->template_name, &tid, error);
    if (r == 0)
        r = sql_prepare(db,
                    "INSERT INTO pools (name, template_id, min_size, max_size, spare, persistent, clone,"
                    " protocols, disconnect_timeout, idle_timeout, created_at, network, vlan)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &st, error);
    if (r == 0) {
        sql_bind_text(st, 1, p->name);
        sqlite3_bind_int64(st, 2, tid);
        sqlite3_bind_int64(st, 3, p->min_size);
        sqlite3_bind_int64(st, 4, p->max_size);
        sqlite3_bind_int64(st, 5, p->spare);
        sqlite3_bind_int(st, 6, p->persistent ? 1 : 0);
        sql_bind_text(st, 7, p->clone);
        sql_bind_text(st, 8, protocols);
        sqlite3_bind_int64(st, 9, p->disconnect_timeout);
        sqlite3_bind_int64(st, 10, p->idle_timeout);
        sqlite3_bind_int64(st, 11, sql_now());
        sql_bind_text(st, 12, p->network ? p->network : "network:default");
        sqlite3_bind_int64(st, 13, p->vlan);
        r = sql_step_done(db, st, error, "adding the pool");
    }
    if (r == 0) {
        g_autofree char *detail = g_strdup_printf(
            "template=%s min=%" G_GINT64_FORMAT " max=%" G_GINT64_FORMAT " spare=%" G_GINT64_FORMAT,
            p->template_name, p->min_size, p->max_size, p->spare);
        r = sql_audit(db, actor, "pool.create", p->name, NULL, p->name, "ok", detail, error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_pool_update(struct db *db, const char *actor, const char *name, const struct db_pool *p,
                   GError **error)
{
    g_autofree char *protocols = db_protocols_normalize(p->protocols);
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    int r;

    r = check_pool(p, error);
    if (r < 0)
        return r;
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_POOL, name, &id, error);
    if (r == 0)
        r = sql_prepare(db,
                    "UPDATE pools SET min_size = ?, max_size = ?, spare = ?, persistent = ?, clone = ?,"
                    " protocols = ?, disconnect_timeout = ?, idle_timeout = ?, network = ?, vlan = ?"
                    " WHERE id = ?",
                    &st, error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, p->min_size);
        sqlite3_bind_int64(st, 2, p->max_size);
        sqlite3_bind_int64(st, 3, p->spare);
        sqlite3_bind_int(st, 4, p->persistent ? 1 : 0);
        sql_bind_text(st, 5, p->clone);
        sql_bind_text(st, 6, protocols);
        sqlite3_bind_int64(st, 7, p->disconnect_timeout);
        sqlite3_bind_int64(st, 8, p->idle_timeout);
        sql_bind_text(st, 9, p->network ? p->network : "network:default");
        sqlite3_bind_int64(st, 10, p->vlan);
        sqlite3_bind_int64(st, 11, id);
        r = sql_step_done(db, st, error, "changing the pool");
    }
    if (r == 0) {
        g_autofree char *detail = g_strdup_printf(
            "min=%" G_GINT64_FORMAT " max=%" G_GINT64_FORMAT " spare=%" G_GINT64_FORMAT
            " persistent=%d protocols=%s disconnect_timeout=%" G_GINT64_FORMAT
            " idle_timeout=%" G_GINT64_FORMAT " network=%s vlan=%" G_GINT64_FORMAT,
            p->min_size, p->max_size, p->spare, p->persistent ? 1 : 0, protocols,
            p->disconnect_timeout, p->idle_timeout, p->network ? p->network : "network:default",
            p->vlan);
        r = sql_audit(db, actor, "pool.set", name, NULL, name, "ok", detail, error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_pool_remove(struct db *db, const char *actor, const char *name, GError **error)
{
    int64_t id = 0, active = 0, vms = 0;
    int r;

    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_POOL, name, &id, error);
    if (r == 0)
        r = sql_count(db,
                        "SELECT count(*) FROM sessions WHERE pool_id = ? AND state <> 'logged_off'",
                        id, &active, error);
    if (r == 0 && active > 0)
        r = sql_fail(error, EBUSY,
                 "pool '%s' has %" G_GINT64_FORMAT " active session(s): log them off first", name,
                 active);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM vms WHERE pool_id = ?", id, &vms, error);
    if (r == 0 && vms > 0)
        r = sql_fail(error, EBUSY,
                 "pool '%s' still has %" G_GINT64_FORMAT " VM(s): set --min 0 --spare 0 and wait for them to go (or vm destroy them)",
                 name, vms);
    if (r == 0)
        r = sql_delete_row(db, SQL_KIND_POOL, id, error);
    if (r == 0)
        r = sql_audit(db, actor, "pool.rm", name, NULL, name, "ok", NULL, error);
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

#define POOL_COLUMNS                                                                          \
    "p.id, p.name, t.name, p.min_size, p.max_size, p.spare, p.persistent, p.clone, p.protocols," \
    " p.disconnect_timeout, p.idle_timeout, p.created_at, p.network, p.vlan"                                     \
    " FROM pools p JOIN templates t ON t.id = p.template_id"

static int pool_fill(struct db *db, sqlite3_stmt *st, struct db_pool **pp, GError **error)
{
    struct db_pool *p = g_new0(struct db_pool, 1);
    int r;

    p->id = sqlite3_column_int64(st, 0);
    p->name = sql_col_text(st, 1);
    p->template_name = sql_col_text(st, 2);
    p->min_size = sqlite3_column_int64(st, 3);
    p->max_size = sqlite3_column_int64(st, 4);
    p->spare = sqlite3_column_int64(st, 5);
    p->persistent = sqlite3_column_int(st, 6) != 0;
    p->clone = sql_col_text(st, 7);
    p->protocols = sql_col_text(st, 8);
    p->disconnect_timeout = sqlite3_column_int64(st, 9);
    p->idle_timeout = sqlite3_column_int64(st, 10);
    p->created_at = sqlite3_column_int64(st, 11);
    p->network = sql_col_text(st, 12);
    p->vlan = sqlite3_column_int64(st, 13);
    r = sql_count(db, "SELECT count(*) FROM sessions WHERE pool_id = ? AND state <> 'logged_off'",
                    p->id, &p->active_sessions, error);
    if (r == 0)
        r = sql_strv(db,
                       "SELECT u.name FROM users u JOIN entitlements e ON e.user_id = u.id"
                       " WHERE e.pool_id = ? ORDER BY u.name",
                       p->id, &p->entitled_users, error);
    if (r == 0)
        r = sql_strv(db,
                       "SELECT g.name FROM groups g JOIN entitlements e ON e.group_id = g.id"
                       " WHERE e.pool_id = ? ORDER BY g.name",
                       p->id, &p->entitled_groups, error);
    if (r < 0) {
        db_pool_free(p);
        return r;
    }
    *pp = p;
    return 0;
}

int db_pool_get(struct db *db, const char *name, struct db_pool **poolp, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " POOL_COLUMNS " WHERE p.name = ?", &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        r = pool_fill(db, st, poolp, error);
    else if (rc == SQLITE_DONE)
        r = sql_fail(error, ENOENT, "unknown pool '%s'", name ? name : "");
    else
        r = sql_db_fail(db, error, "reading a pool");
    sqlite3_finalize(st);
    return r;
}

int db_pool_list(struct db *db, GPtrArray **poolsp, GError **error)
{
    g_autoptr(GPtrArray) pools = g_ptr_array_new_with_free_func((GDestroyNotify)db_pool_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, "SELECT " POOL_COLUMNS " ORDER BY p.name", &st, error);
    if (r < 0)
        return r;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_pool *p = NULL;
        r = pool_fill(db, st, &p, error);
        if (r == 0)
            g_ptr_array_add(pools, p);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing pools");
    sqlite3_finalize(st);
    if (r == 0)
        *poolsp = g_steal_pointer(&pools);
    return r;
}

/* ---- entitlements ---- */

void db_entitlement_free(struct db_entitlement *ent)
{
    if (ent == NULL)
        return;
    g_free(ent->pool);
    g_free(ent->user);
    g_free(ent->group);
    g_free(ent);
}

/* Grant (add = TRUE) or revoke an entitlement of a user or a group to a pool. */
static int entitlement_change(struct db *db, const char *actor, const char *pool, const char *user,
                              const char *group, gboolean add, GError **error)
{
    const char *who = user ? user : group;
    const char *word = user ? "user" : "group";
    sqlite3_stmt *st = NULL;
    int64_t pid = 0, wid = 0, exists = 0;
    int r;

    if ((user == NULL) == (group == NULL))
        return sql_fail(error, EINVAL, "name exactly one of a user or a group");
    r = sql_begin(db, error);
    if (r < 0)
        return r;
    r = sql_lookup_id(db, SQL_KIND_POOL, pool, &pid, error);
    if (r == 0)
        r = sql_lookup_id(db, user ? SQL_KIND_USER : SQL_KIND_GROUP, who, &wid, error);
    if (r == 0)
        r = sql_prepare(db,
                    user ? "SELECT count(*) FROM entitlements WHERE user_id = ? AND pool_id = ?"
                         : "SELECT count(*) FROM entitlements WHERE group_id = ? AND pool_id = ?",
                    &st, error);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, wid);
        sqlite3_bind_int64(st, 2, pid);
        if (sqlite3_step(st) == SQLITE_ROW)
            exists = sqlite3_column_int64(st, 0);
        else
            r = sql_db_fail(db, error, "reading entitlements");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (r == 0 && add && exists)
        r = sql_fail(error, EEXIST, "%s '%s' is already entitled to pool '%s'", word, who, pool);
    if (r == 0 && !add && !exists)
        r = sql_fail(error, ENOENT, "%s '%s' is not entitled to pool '%s'", word, who, pool);
    if (r == 0) {
        if (add)
            r = sql_prepare(db,
                        user ? "INSERT INTO entitlements (user_id, pool_id, created_at) VALUES (?, ?, ?)"
                             : "INSERT INTO entitlements (group_id, pool_id, created_at) VALUES (?, ?, ?)",
                        &st, error);
        else
            r = sql_prepare(db,
                        user ? "DELETE FROM entitlements WHERE user_id = ? AND pool_id = ?"
                             : "DELETE FROM entitlements WHERE group_id = ? AND pool_id = ?",
                        &st, error);
    }
    if (r == 0) {
        sqlite3_bind_int64(st, 1, wid);
        sqlite3_bind_int64(st, 2, pid);
        if (add)
            sqlite3_bind_int64(st, 3, sql_now());
        r = sql_step_done(db, st, error, "changing an entitlement");
    }
    if (r == 0) {
        g_autofree char *target = g_strdup_printf("%s:%s", word, who);
        r = sql_audit(db, actor, add ? "entitle" : "unentitle", target, user, pool, "ok", NULL,
                         error);
    }
    if (r == 0)
        r = sql_commit(db, error);
    if (r < 0)
        sql_rollback(db);
    return r;
}

int db_entitle(struct db *db, const char *actor, const char *pool, const char *user,
               const char *group, GError **error)
{
    return entitlement_change(db, actor, pool, user, group, TRUE, error);
}

int db_unentitle(struct db *db, const char *actor, const char *pool, const char *user,
                 const char *group, GError **error)
{
    return entitlement_change(db, actor, pool, user, group, FALSE, error);
}

int db_entitlement_list(struct db *db, const char *pool, GPtrArray **entsp, GError **error)
{
    g_autoptr(GPtrArray) ents = g_ptr_array_new_with_free_func((GDestroyNotify)db_entitlement_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db,
                "SELECT e.id, p.name, u.name, g.name, e.created_at FROM entitlements e"
                " JOIN pools p ON p.id = e.pool_id"
                " LEFT JOIN users u ON u.id = e.user_id LEFT JOIN groups g ON g.id = e.group_id"
                " WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name, u.name, g.name",
                &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, pool);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_entitlement *e = g_new0(struct db_entitlement, 1);
        e->id = sqlite3_column_int64(st, 0);
        e->pool = sql_col_text(st, 1);
        e->user = sql_col_text(st, 2);
        e->group = sql_col_text(st, 3);
        e->created_at = sqlite3_column_int64(st, 4);
        g_ptr_array_add(ents, e);
    }
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "listing entitlements");
    sqlite3_finalize(st);
    if (r == 0)
        *entsp = g_steal_pointer(&ents);
    return r;
}

/* ---- sessions ---- */

/* ---- audit log ---- */

void db_audit_free(struct db_audit *e)
{
    if (e == NULL)
        return;
    g_free(e->actor);
    g_free(e->action);
    g_free(e->target);
    g_free(e->user);
    g_free(e->pool);
    g_free(e->outcome);
    g_free(e->detail);
    g_free(e);
}

int db_audit_add(struct db *db, const char *actor, const char *action, const char *target,
                 const char *user, const char *pool, const char *outcome, const char *detail,
                 GError **error)
{
    static const char *const outcomes[] = { "ok", "refused", "denied", "failed", NULL };

    if (!sql_one_of(outcome, outcomes) || action == NULL || *action == '\0')
        return sql_fail(error, EINVAL, "an audit entry needs an action and an outcome of ok, refused, denied or failed");
    return sql_audit(db, actor, action, target, user, pool, outcome, detail, error);
}

int db_audit_list(struct db *db, const struct db_audit_filter *f, GPtrArray **entriesp,
                  GError **error)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)db_audit_free);
    sqlite3_stmt *st = NULL;
    int r, rc;

    /* The newest `limit` entries, returned oldest first. */
    r = sql_prepare(db,
                "SELECT * FROM (SELECT id, ts, actor, action, target, user_name, pool_name, outcome, detail"
                " FROM audit_log WHERE ts >= ?1 AND (?2 IS NULL OR user_name = ?2)"
                " AND (?3 IS NULL OR pool_name = ?3) ORDER BY id DESC LIMIT ?4) ORDER BY id",
                &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, f ? f->since : 0);
    sql_bind_text(st, 2, f ? f->user : NULL);
    sql_bind_text(st, 3, f ? f->pool : NULL);
    sqlite3_bind_int64(st, 4, f && f->limit > 0 ? f->limit : -1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct db_audit *e = g_new0(struct db_audit, 1);
        e->id = sqlite3_column_int64(st, 0);
        e->ts = sqlite3_column_int64(st, 1);
        e->actor = sql_col_text(st, 2);
        e->action = sql_col_text(st, 3);
        e->target = sql_col_text(st, 4);
        e->user = sql_col_text(st, 5);
        e->pool = sql_col_text(st, 6);
        e->outcome = sql_col_text(st, 7);
        e->detail = sql_col_text(st, 8);
        g_ptr_array_add(list, e);
    }
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "reading the audit log");
    sqlite3_finalize(st);
    if (r == 0)
        *entriesp = g_steal_pointer(&list);
    return r;
}

int db_counts(struct db *db, struct db_counts *c, GError **error)
{
    struct db_counts tmp = { 0 };
    int r;

    r = sql_count(db, "SELECT count(*) FROM users", 0, &tmp.users, error);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM groups", 0, &tmp.groups, error);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM templates", 0, &tmp.templates, error);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM pools", 0, &tmp.pools, error);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM vms WHERE state <> 'deleted'", 0, &tmp.vms, error);
    if (r == 0)
        r = sql_count(db, "SELECT count(*) FROM sessions WHERE state <> 'logged_off'", 0,
                        &tmp.active_sessions, error);
    if (r == 0)
        *c = tmp;
    return r;
}
