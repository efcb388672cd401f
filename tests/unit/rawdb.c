/* rawdb: the SQLite file seen from outside, through connections of its own,
 * for tests that check what an API cannot show; and temp directory removal. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "tests/unit/rawdb.h"

/* A connection of our own to path that waits up to 5 s for locks; fails the test if none. */
static sqlite3 *rawdb_open(const char *path, int flags)
{
    sqlite3 *h = NULL;

    if (sqlite3_open_v2(path, &h, flags, NULL) != SQLITE_OK)
        fail_msg("cannot open %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_busy_timeout(h, 5000);
    return h;
}

/* Run SQL on the file through a connection of its own. */
void rawdb_exec(const char *path, const char *sql)
{
    sqlite3 *h = rawdb_open(path, SQLITE_OPEN_READWRITE);
    char *msg = NULL;

    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(h);
}

/* The first column of the first row of sql, read through a connection of its own. */
gint64 rawdb_int(const char *path, const char *sql)
{
    sqlite3 *h = rawdb_open(path, SQLITE_OPEN_READONLY);
    sqlite3_stmt *st = NULL;
    gint64 v;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("%s: no row", sql);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* The first column of the first row of sql as text (NULL if NULL). Caller frees. */
char *rawdb_text(const char *path, const char *sql)
{
    sqlite3 *h = rawdb_open(path, SQLITE_OPEN_READONLY);
    sqlite3_stmt *st = NULL;
    char *v;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("%s: no row", sql);
    v = g_strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Every row of every table (and the schema and its version) as text. Caller frees. */
char *rawdb_dump(const char *path)
{
    GString *out = g_string_new(NULL);
    sqlite3 *h = rawdb_open(path, SQLITE_OPEN_READONLY);
    sqlite3_stmt *tables = NULL;

    if (sqlite3_prepare_v2(h,
                           "SELECT type, name, sql FROM sqlite_schema ORDER BY type, name", -1,
                           &tables, NULL) != SQLITE_OK)
        fail_msg("listing tables: %s", sqlite3_errmsg(h));
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(tables, 0);
        const char *name = (const char *)sqlite3_column_text(tables, 1);
        const char *sql = (const char *)sqlite3_column_text(tables, 2);
        g_autofree char *select = NULL;
        sqlite3_stmt *rows = NULL;

        g_string_append_printf(out, "%s %s: %s\n", type, name, sql ? sql : "");
        if (strcmp(type, "table") != 0)
            continue;
        select = g_strdup_printf("SELECT * FROM \"%s\" ORDER BY rowid", name);
        if (sqlite3_prepare_v2(h, select, -1, &rows, NULL) != SQLITE_OK)
            fail_msg("%s: %s", select, sqlite3_errmsg(h));
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(rows); c++) {
                const unsigned char *t = sqlite3_column_text(rows, c);
                g_string_append_printf(out, "%s%d:%s", c ? "|" : "  ",
                                       sqlite3_column_type(rows, c), t ? (const char *)t : "NULL");
            }
            g_string_append_c(out, '\n');
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &tables, NULL) != SQLITE_OK ||
        sqlite3_step(tables) != SQLITE_ROW)
        fail_msg("reading user_version: %s", sqlite3_errmsg(h));
    g_string_append_printf(out, "user_version %d\n", sqlite3_column_int(tables, 0));
    sqlite3_finalize(tables);
    sqlite3_close(h);
    return g_string_free(out, FALSE);
}

/* Remove dir and everything under it; a symlink is removed, never followed. */
void rawdb_rm_rf(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (d != NULL) {
        while ((name = g_dir_read_name(d)) != NULL) {
            g_autofree char *p = g_build_filename(dir, name, NULL);
            if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                rawdb_rm_rf(p);
            else
                g_remove(p);
        }
        g_dir_close(d);
    }
    g_rmdir(dir);
}
