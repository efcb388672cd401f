/* db/sql: helpers shared by the db/ modules. */
#include "config.h"

#include "db/sql.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK(aula-db-error-quark, db_error)


/* Set *error (code = err) and return -err. */
int sql_fail(GError **error, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(DB_ERROR, err, fmt, ap);
    va_end(ap);
    return -err;
}

/* Report an SQLite failure; logged here, where it is found. */
int sql_db_fail(struct db *db, GError **error, const char *what)
{
    g_warning("%s: %s: %s", __func__, what, sqlite3_errmsg(db->h));
    return sql_fail(error, EIO, "database error while %s: %s", what, sqlite3_errmsg(db->h));
}

int sql_exec(struct db *db, const char *sql, GError **error)
{
    char *msg = NULL;

    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int r = sql_fail(error, EIO, "database error: %s", msg ? msg : sqlite3_errmsg(db->h));
        g_warning("%s: %s", __func__, msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

int sql_prepare(struct db *db, const char *sql, sqlite3_stmt **stmtp, GError **error)
{
    if (sqlite3_prepare_v2(db->h, sql, -1, stmtp, NULL) != SQLITE_OK)
        return sql_db_fail(db, error, "preparing a statement");
    return 0;
}

/* BEGIN IMMEDIATE takes the write lock up front, so checks made inside the
 * transaction still hold when it commits. */
int sql_begin(struct db *db, GError **error)
{
    return sql_exec(db, "BEGIN IMMEDIATE", error);
}

int sql_commit(struct db *db, GError **error)
{
    return sql_exec(db, "COMMIT", error);
}

void sql_rollback(struct db *db)
{
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int64_t sql_now(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

char *sql_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? g_strdup((const char *)t) : NULL;
}

void sql_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text)
        sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, idx);
}

/* Run a statement that returns no rows. Takes ownership of st. */
int sql_step_done(struct db *db, sqlite3_stmt *st, GError **error, const char *what)
{
    int rc = sqlite3_step(st);
    int r = 0;

    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, what);
    sqlite3_finalize(st);
    return r;
}

int sql_audit(struct db *db, const char *actor, const char *action, const char *target,
                        const char *user, const char *pool, const char *outcome,
                        const char *detail, GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db,
                "INSERT INTO audit_log (ts, actor, action, target, user_name, pool_name, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, sql_now());
    sql_bind_text(st, 2, actor ? actor : "aulad");
    sql_bind_text(st, 3, action);
    sql_bind_text(st, 4, target ? target : "");
    sql_bind_text(st, 5, user);
    sql_bind_text(st, 6, pool);
    sql_bind_text(st, 7, outcome);
    sql_bind_text(st, 8, detail ? detail : "");
    return sql_step_done(db, st, error, "writing the audit log");
}

/* The kinds of named objects; the table names come only from here. */
const char *const sql_kind_table[] = { "users", "groups", "templates", "pools" };
const char *const sql_kind_word[] = { "user", "group", "template", "pool" };

/* Find the id of the object called name; ENOENT with a clear message if none. */
int sql_lookup_id(struct db *db, enum sql_kind kind, const char *name, int64_t *idp, GError **error)
{
    g_autofree char *sql = g_strdup_printf("SELECT id FROM %s WHERE name = ?", sql_kind_table[kind]);
    sqlite3_stmt *st = NULL;
    int r, rc;

    if (name == NULL || !db_name_valid(name))
        return sql_fail(error, ENOENT, "unknown %s '%s'", sql_kind_word[kind], name ? name : "");
    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    sql_bind_text(st, 1, name);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *idp = sqlite3_column_int64(st, 0);
        r = 0;
    } else if (rc == SQLITE_DONE) {
        r = sql_fail(error, ENOENT, "unknown %s '%s'", sql_kind_word[kind], name);
    } else {
        r = sql_db_fail(db, error, "looking up a name");
    }
    sqlite3_finalize(st);
    return r;
}

/* Refuse a name that breaks the rule or is taken (EINVAL, EEXIST). */
int sql_check_new_name(struct db *db, enum sql_kind kind, const char *name, GError **error)
{
    int64_t id;
    int r;

    if (name == NULL || !db_name_valid(name))
        return sql_fail(error, EINVAL, "invalid %s name '%s': use %s", sql_kind_word[kind],
                    name ? name : "", DB_NAME_RULE);
    r = sql_lookup_id(db, kind, name, &id, NULL);
    if (r == 0)
        return sql_fail(error, EEXIST, "%s '%s' already exists", sql_kind_word[kind], name);
    if (r != -ENOENT)
        return sql_db_fail(db, error, "looking up a name");
    return 0;
}

/* Collect the first column of a query with one int64 parameter into a strv. */
int sql_strv(struct db *db, const char *sql, int64_t param, char ***strvp, GError **error)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    sqlite3_stmt *st = NULL;
    int r, rc;

    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, param);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        g_strv_builder_add(b, (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE)
        r = sql_db_fail(db, error, "reading a list");
    sqlite3_finalize(st);
    if (r == 0)
        *strvp = g_strv_builder_end(b);
    return r;
}

/* Count rows of a query with one int64 parameter. */
int sql_count(struct db *db, const char *sql, int64_t param, int64_t *countp,
                       GError **error)
{
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    if (strchr(sql, '?'))
        sqlite3_bind_int64(st, 1, param);
    if (sqlite3_step(st) == SQLITE_ROW)
        *countp = sqlite3_column_int64(st, 0);
    else
        r = sql_db_fail(db, error, "counting rows");
    sqlite3_finalize(st);
    return r;
}

gboolean sql_one_of(const char *value, const char *const *choices)
{
    return value && g_strv_contains(choices, value);
}

/* Delete the row id from table (a fixed name from sql_kind_table). */
int sql_delete_row(struct db *db, enum sql_kind kind, int64_t id, GError **error)
{
    g_autofree char *sql = g_strdup_printf("DELETE FROM %s WHERE id = ?", sql_kind_table[kind]);
    sqlite3_stmt *st = NULL;
    int r;

    r = sql_prepare(db, sql, &st, error);
    if (r < 0)
        return r;
    sqlite3_bind_int64(st, 1, id);
    return sql_step_done(db, st, error, "removing a row");
}

