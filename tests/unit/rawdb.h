/* The SQLite file seen from outside: helpers for tests that open their own
 * connection to check what an API cannot show, and to remove temp directories.
 * Every SQL helper opens and closes a connection of its own and fails the
 * running cmocka test (fail_msg) if SQLite refuses. */
#ifndef AULA_TESTS_UNIT_RAWDB_H
#define AULA_TESTS_UNIT_RAWDB_H

#include <glib.h>

/* Run sql on the file at path through a read-write connection of its own. */
void rawdb_exec(const char *path, const char *sql);

/* The first column of the first row of sql, read through a connection of its own. */
gint64 rawdb_int(const char *path, const char *sql);

/* The first column of the first row of sql as text (NULL if NULL). Caller frees. */
char *rawdb_text(const char *path, const char *sql);

/* Every row of every table (and the schema and its version) as text. Caller frees. */
char *rawdb_dump(const char *path);

/* Remove dir and everything under it, without following symlinks. */
void rawdb_rm_rf(const char *dir);

#endif
