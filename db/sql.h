/* db/sql: helpers shared by the db/ modules (db.c, vm.c): statements,
 * transactions, audit rows and name lookups. Private to db/: nothing outside
 * db/ includes this header. Same error contract as db.h. */
#ifndef AULA_DB_SQL_H
#define AULA_DB_SQL_H

#include <glib.h>
#include <sqlite3.h>
#include <stdint.h>

#include "db/db.h"

struct db {
    sqlite3 *h;
    char *path;
};

/* Set *error (code = err) and return -err. */
int sql_fail(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* An SQLite failure while doing what: logged once, EIO. */
int sql_db_fail(struct db *db, GError **error, const char *what);
int sql_exec(struct db *db, const char *sql, GError **error);
int sql_prepare(struct db *db, const char *sql, sqlite3_stmt **stmtp, GError **error);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (the latter only inside a transaction). */
int sql_begin(struct db *db, GError **error);
int sql_commit(struct db *db, GError **error);
void sql_rollback(struct db *db);
int64_t sql_now(void);
/* A text column, copied (caller frees), or NULL. */
char *sql_col_text(sqlite3_stmt *st, int col);
/* Bind text (copied), or NULL for a NULL pointer. */
void sql_bind_text(sqlite3_stmt *st, int idx, const char *text);
/* Step a statement that returns no rows, and finalize it. */
int sql_step_done(struct db *db, sqlite3_stmt *st, GError **error, const char *what);
/* Insert an audit row (inside the caller's transaction). */
int sql_audit(struct db *db, const char *actor, const char *action, const char *target,
              const char *user, const char *pool, const char *outcome, const char *detail,
              GError **error);

/* The kinds of named objects; their tables and words. */
enum sql_kind { SQL_KIND_USER, SQL_KIND_GROUP, SQL_KIND_TEMPLATE, SQL_KIND_POOL };
extern const char *const sql_kind_table[];
extern const char *const sql_kind_word[];
/* The id of the object called name; ENOENT "unknown pool 'x'" if none. */
int sql_lookup_id(struct db *db, enum sql_kind kind, const char *name, int64_t *idp, GError **error);
/* EINVAL for a name that breaks the rule, EEXIST for one that is taken. */
int sql_check_new_name(struct db *db, enum sql_kind kind, const char *name, GError **error);
/* The first column of a query with one int64 parameter, as a strv (caller frees). */
int sql_strv(struct db *db, const char *sql, int64_t param, char ***strvp, GError **error);
/* A count from a query with at most one int64 parameter. */
int sql_count(struct db *db, const char *sql, int64_t param, int64_t *countp, GError **error);
gboolean sql_one_of(const char *value, const char *const *choices);
int sql_delete_row(struct db *db, enum sql_kind kind, int64_t id, GError **error);

#endif
