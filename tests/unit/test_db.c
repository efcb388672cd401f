/* Unit tests for db/: a real SQLite file in a fresh temporary directory per
 * test. A second sqlite3 connection looks at the file from outside, to check
 * what the API cannot show (schema, pragmas, audit rows) and to compare full
 * dumps of every table before and after a refused change. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "db/db.h"
#include "tests/unit/rawdb.h"

#define HASH "$y$j9T$abcdefghijklmnopqrstuv$0123456789abcdefghijklmnopqrstuvwxyzABCDE"
#define HASH2 "$y$j9T$ABCDEFGHIJKLMNOPQRSTUV$0123456789abcdefghijklmnopqrstuvwxyzABCDE"

/* ---- log: count warnings and criticals, drop chatter ---- */

static int log_warnings;
static gboolean log_quiet; /* a test expects warnings: count them, do not print them */

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        log_warnings++;
        return log_quiet ? G_LOG_WRITER_HANDLED : g_log_writer_default(level, fields, n, data);
    }
    return G_LOG_WRITER_HANDLED;
}

/* ---- fixture ---- */

struct fx {
    char *dir;
    char *path;
    struct db *db;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    GError *error = NULL;

    log_warnings = 0;
    log_quiet = FALSE;
    f->dir = g_dir_make_tmp("aula-test-db-XXXXXX", &error);
    if (f->dir == NULL) {
        print_error("g_dir_make_tmp: %s\n", error->message);
        g_error_free(error);
        g_free(f);
        return -1;
    }
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    if (db_open(f->path, &f->db, &error) < 0) {
        print_error("db_open: %s\n", error->message);
        g_error_free(error);
        rawdb_rm_rf(f->dir);
        g_free(f->path);
        g_free(f->dir);
        g_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;
    int r = 0;

    db_close(f->db);
    rawdb_rm_rf(f->dir);
    if (g_file_test(f->dir, G_FILE_TEST_EXISTS)) {
        print_error("%s was not removed\n", f->dir);
        r = -1;
    }
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    if (warnings > 0) {
        print_error("%d unexpected warning(s) were logged\n", warnings);
        r = -1;
    }
    return r;
}

static gint64 audit_rows(const struct fx *f)
{
    return rawdb_int(f->path, "SELECT count(*) FROM audit_log");
}

/* A change that must succeed and write exactly one audit row. The expression
 * passes &error as its GError **. */
#define CHANGE_OK(f, expr)                                                                   \
    do {                                                                                     \
        GError *error = NULL;                                                                \
        gint64 audit_before_ = audit_rows(f);                                                \
        int r_ = (expr);                                                                     \
        if (r_ != 0)                                                                         \
            fail_msg("%s returned %d: %s", #expr, r_, error ? error->message : "no error"); \
        assert_null(error);                                                                  \
        assert_int_equal(audit_rows(f), audit_before_ + 1);                                  \
    } while (0)

/* A change that must be refused with -code and a DB_ERROR that says why, and
 * must leave every table (the audit log too) exactly as it was. */
#define REFUSED(f, ecode, expr)                                                               \
    do {                                                                                     \
        GError *error = NULL;                                                                \
        char *before_ = rawdb_dump((f)->path);                                                \
        int r_ = (expr);                                                                     \
        char *after_ = rawdb_dump((f)->path);                                                 \
        if (r_ != -(ecode))                                                                   \
            fail_msg("%s returned %d, expected %d (%s)", #expr, r_, -(ecode),                 \
                     error ? error->message : "no error");                                   \
        assert_non_null(error);                                                              \
        assert_true(error->domain == DB_ERROR);                                              \
        assert_int_equal(error->code, (ecode));                                               \
        assert_true(error->message[0] != '\0');                                              \
        assert_string_equal(before_, after_);                                                \
        g_free(before_);                                                                     \
        g_free(after_);                                                                      \
        g_error_free(error);                                                                 \
    } while (0)

/* A read that must fail with -code. */
#define READ_FAILS(ecode, expr)                                                               \
    do {                                                                                     \
        GError *error = NULL;                                                                \
        int r_ = (expr);                                                                     \
        assert_int_equal(r_, -(ecode));                                                       \
        assert_non_null(error);                                                              \
        assert_int_equal(error->code, (ecode));                                               \
        g_error_free(error);                                                                 \
    } while (0)

#define assert_strv(v, expected)                   \
    do {                                           \
        char *joined_ = g_strjoinv(",", (v));      \
        assert_string_equal(joined_, (expected));  \
        g_free(joined_);                           \
    } while (0)

static struct db_user *get_user(struct fx *f, const char *name)
{
    struct db_user *u = NULL;
    GError *error = NULL;

    if (db_user_get(f->db, name, &u, &error) < 0)
        fail_msg("db_user_get %s: %s", name, error->message);
    assert_non_null(u);
    return u;
}

static struct db_pool *get_pool(struct fx *f, const char *name)
{
    struct db_pool *p = NULL;
    GError *error = NULL;

    if (db_pool_get(f->db, name, &p, &error) < 0)
        fail_msg("db_pool_get %s: %s", name, error->message);
    assert_non_null(p);
    return p;
}

static struct db_template *get_template(struct fx *f, const char *name)
{
    struct db_template *t = NULL;
    GError *error = NULL;

    if (db_template_get(f->db, name, &t, &error) < 0)
        fail_msg("db_template_get %s: %s", name, error->message);
    assert_non_null(t);
    return t;
}

static struct db_template good_template(const char *name)
{
    struct db_template t = {
        .name = (char *)name,
        .disk_path = (char *)"/var/lib/aula/images/base.qcow2",
        .memory_mib = 2048,
        .vcpus = 2,
        .video = (char *)"virtio",
        .firmware = (char *)"bios",
        .os = (char *)"linux",
    };
    return t;
}

static struct db_pool good_pool(const char *name, const char *tmpl)
{
    struct db_pool p = {
        .name = (char *)name,
        .template_name = (char *)tmpl,
        .min_size = 1,
        .max_size = 5,
        .spare = 2,
        .persistent = FALSE,
        .clone = (char *)"linked",
        .protocols = (char *)"rdp,vnc",
        .disconnect_timeout = 300,
        .idle_timeout = 0,
    };
    return p;
}

/* A template "t1" and a pool "p1" built on it. */
static void add_template_and_pool(struct fx *f)
{
    struct db_template t = good_template("t1");
    struct db_pool p = good_pool("p1", "t1");

    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    CHANGE_OK(f, db_pool_add(f->db, "root", &p, &error));
}

/* Insert a session row the way the session code will, from outside the API. */
static void add_session(struct fx *f, const char *user, const char *pool, const char *state)
{
    g_autofree char *sql = g_strdup_printf(
        "INSERT INTO sessions (user_id, user_name, pool_id, pool_name, protocol, state,"
        " created_at, state_since)"
        " SELECT u.id, u.name, p.id, p.name, 'rdp', '%s', 1000, 1000"
        " FROM users u, pools p WHERE u.name = '%s' AND p.name = '%s'",
        state, user, pool);
    gint64 before = rawdb_int(f->path, "SELECT count(*) FROM sessions");

    rawdb_exec(f->path, sql);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM sessions"), before + 1);
}

/* ---- opening ---- */

static void test_open_creates_schema(void **state)
{
    struct fx *f = *state;
    g_autofree char *mode = NULL;

    assert_int_equal(db_latest_schema_version(), 3);
    assert_int_equal(db_schema_version(f->db), 3);
    assert_int_equal(rawdb_int(f->path, "PRAGMA user_version"), 3);
    /* journal_mode = WAL is stored in the file, so a second connection sees it. */
    mode = rawdb_text(f->path, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND"
                                        " name IN ('hosts', 'templates', 'pools', 'users', 'groups',"
                                        " 'memberships', 'entitlements', 'vms', 'sessions',"
                                        " 'tickets', 'audit_log')"),
                     11);
    /* Migrating writes no audit rows and creates no objects. */
    assert_int_equal(audit_rows(f), 0);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM users"), 0);
}

/* foreign_keys is a per-connection setting, so it is checked by its effect: the
 * schema's ON DELETE CASCADE only runs with foreign keys on. */
static void test_open_foreign_keys_on(void **state)
{
    struct fx *f = *state;

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "staff", &error));
    CHANGE_OK(f, db_group_add_user(f->db, "root", "staff", "alice", &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p1", "alice", NULL, &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p1", NULL, "staff", &error));
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM memberships"), 1);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM entitlements"), 2);

    CHANGE_OK(f, db_user_remove(f->db, "root", "alice", &error));
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM memberships"), 0);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM entitlements"), 1);
    CHANGE_OK(f, db_group_remove(f->db, "root", "staff", &error));
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM entitlements"), 0);
}

static void test_open_reopen_idempotent(void **state)
{
    struct fx *f = *state;
    g_autofree char *before = NULL, *after = NULL;
    struct db_user *u;
    GError *gerr = NULL;

    CHANGE_OK(f, db_user_add(f->db, "root", "alice", "Alice", HASH, &error));
    db_close(f->db);
    f->db = NULL;
    before = rawdb_dump(f->path);

    assert_int_equal(db_open(f->path, &f->db, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(db_schema_version(f->db), 3);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);

    u = get_user(f, "alice");
    assert_string_equal(u->full_name, "Alice");
    db_user_free(u);

    /* And a third time, with the database open on the other handle. */
    {
        struct db *second = NULL;
        assert_int_equal(db_open(f->path, &second, &gerr), 0);
        assert_null(gerr);
        assert_int_equal(db_schema_version(second), 3);
        db_close(second);
    }
    g_free(after);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);
}

static void test_open_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    struct db *db = NULL;
    GError *error = NULL;
    g_autofree char *before = NULL, *after = NULL;

    db_close(f->db);
    f->db = NULL;
    rawdb_exec(f->path, "PRAGMA user_version = 4");
    before = rawdb_dump(f->path);

    assert_int_equal(db_open(f->path, &db, &error), -EPROTO);
    assert_null(db);
    assert_non_null(error);
    assert_true(error->domain == DB_ERROR);
    assert_int_equal(error->code, EPROTO);
    assert_non_null(strstr(error->message, f->path));
    assert_non_null(strstr(error->message, "version 4"));
    g_clear_error(&error);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);

    rawdb_exec(f->path, "PRAGMA user_version = 1000");
    assert_int_equal(db_open(f->path, &db, &error), -EPROTO);
    assert_null(db);
    assert_non_null(strstr(error->message, f->path));
    g_clear_error(&error);

    /* Back at the version this binary knows, it opens again. */
    rawdb_exec(f->path, "PRAGMA user_version = 3");
    assert_int_equal(db_open(f->path, &f->db, &error), 0);
    assert_null(error);
}

static void test_open_bad_paths(void **state)
{
    struct fx *f = *state;
    g_autofree char *missing = g_build_filename(f->dir, "no", "such", "dir", "aula.db", NULL);
    g_autofree char *garbage = g_build_filename(f->dir, "garbage.db", NULL);
    struct db *db = NULL;
    GError *error = NULL;

    assert_int_equal(db_open(missing, &db, &error), -EIO);
    assert_null(db);
    assert_int_equal(error->code, EIO);
    assert_non_null(strstr(error->message, missing));
    g_clear_error(&error);

    assert_true(g_file_set_contents(garbage, "this is not an SQLite database, not at all....",
                                    -1, NULL));
    log_quiet = TRUE;
    assert_int_equal(db_open(garbage, &db, &error), -EIO);
    assert_null(db);
    assert_int_equal(error->code, EIO);
    g_clear_error(&error);
    /* The SQLite failure is logged once, where it is found. */
    assert_int_equal(log_warnings, 1);
    log_warnings = 0;
}

/* ---- names ---- */

static void test_name_valid(void **state)
{
    static const char *const good[] = { "a", "alice", "Bob", "0day", "a.b", "a_b", "a-b",
                                        "a1234567890123456789012345678901" /* 32 */ };
    static const char *const bad[] = { "", "-bob", ".bob", "_bob", "a@b", "a/b", "a b", "a:b",
                                       "a\nb", "ä", "a1234567890123456789012345678901x" /* 33 */ };

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
        assert_true(db_name_valid(good[i]));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        assert_false(db_name_valid(bad[i]));
    assert_false(db_name_valid(NULL));
}

/* ---- users ---- */

static void test_user_add_get(void **state)
{
    struct fx *f = *state;
    gint64 t0 = g_get_real_time() / G_USEC_PER_SEC;
    struct db_user *u;

    CHANGE_OK(f, db_user_add(f->db, "root", "alice", "Alice Liddell", HASH, &error));
    u = get_user(f, "alice");
    assert_true(u->id > 0);
    assert_string_equal(u->name, "alice");
    assert_string_equal(u->full_name, "Alice Liddell");
    assert_string_equal(u->password_hash, HASH);
    assert_false(u->disabled);
    assert_true(u->created_at >= t0 && u->created_at <= t0 + 5);
    assert_int_equal(u->password_changed_at, u->created_at);
    assert_non_null(u->groups);
    assert_null(u->groups[0]);
    assert_non_null(u->pools);
    assert_null(u->pools[0]);
    db_user_free(u);

    /* No full name: stored as "". */
    CHANGE_OK(f, db_user_add(f->db, NULL, "bob", NULL, HASH2, &error));
    u = get_user(f, "bob");
    assert_string_equal(u->full_name, "");
    db_user_free(u);

    /* The audit rows say who did what. */
    {
        g_autofree char *actors = rawdb_text(f->path, "SELECT group_concat(actor || ' ' || action || ' '"
                                                      " || target || ' ' || user_name || ' ' || outcome,"
                                                      " ';') FROM (SELECT * FROM audit_log ORDER BY id)");
        assert_string_equal(actors, "root user.add alice alice ok;aulad user.add bob bob ok");
    }
    /* The password hash never reaches the audit log. */
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM audit_log WHERE detail LIKE '%$y$%'"), 0);

    READ_FAILS(ENOENT, db_user_get(f->db, "carol", &u, &error));
    READ_FAILS(ENOENT, db_user_get(f->db, "", &u, &error));
    READ_FAILS(ENOENT, db_user_get(f->db, NULL, &u, &error));
}

static void test_user_list(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) users = NULL;
    GError *gerr = NULL;

    assert_int_equal(db_user_list(f->db, &users, &gerr), 0);
    assert_int_equal(users->len, 0);
    g_clear_pointer(&users, g_ptr_array_unref);

    CHANGE_OK(f, db_user_add(f->db, "root", "carol", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", NULL, HASH, &error));
    assert_int_equal(db_user_list(f->db, &users, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(users->len, 3);
    assert_string_equal(((struct db_user *)users->pdata[0])->name, "alice");
    assert_string_equal(((struct db_user *)users->pdata[1])->name, "bob");
    assert_string_equal(((struct db_user *)users->pdata[2])->name, "carol");
}

static void test_user_refusals(void **state)
{
    struct fx *f = *state;
    static const char *const bad_names[] = {
        "", "a1234567890123456789012345678901x" /* 33 */, "-alice", "al@ce", "al/ce", "al ce",
        ".alice", "alice\n",
    };
    g_autofree char *long_name = g_strnfill(129, 'x');
    g_autofree char *fill = g_strnfill(600, 'a');
    g_autofree char *huge_hash = g_strconcat("$y$", fill, NULL);

    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    REFUSED(f, EEXIST, db_user_add(f->db, "root", "alice", NULL, HASH2, &error));
    for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++)
        REFUSED(f, EINVAL, db_user_add(f->db, "root", bad_names[i], NULL, HASH, &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", NULL, NULL, HASH, &error));
    /* The longest valid name is accepted. */
    CHANGE_OK(f, db_user_add(f->db, "root", "a1234567890123456789012345678901", NULL, HASH, &error));

    /* Clear text (or anything that is not a crypt(5) hash) is never stored. */
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", NULL, "secret", &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", NULL, "", &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", NULL, NULL, &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", NULL, " $y$abc", &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", NULL, huge_hash, &error));
    /* Full names: at most 128 characters, on one line. */
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", long_name, HASH, &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", "Bob\nEvil", HASH, &error));
    REFUSED(f, EINVAL, db_user_add(f->db, "root", "bob", "Bob\tEvil", HASH, &error));
    long_name[128] = '\0';
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", long_name, HASH, &error));
}

static void test_user_passwd(void **state)
{
    struct fx *f = *state;
    struct db_user *u;
    gint64 created;

    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    rawdb_exec(f->path, "UPDATE users SET created_at = 1000, password_changed_at = 1000");
    CHANGE_OK(f, db_user_set_password(f->db, "root", "alice", HASH2, &error));
    u = get_user(f, "alice");
    assert_string_equal(u->password_hash, HASH2);
    created = u->created_at;
    assert_int_equal(created, 1000);
    assert_true(u->password_changed_at > 1000);
    db_user_free(u);
    {
        g_autofree char *last = rawdb_text(f->path, "SELECT action || ' ' || target || ' ' || detail"
                                                    " FROM audit_log ORDER BY id DESC LIMIT 1");
        assert_string_equal(last, "user.passwd alice ");
    }

    REFUSED(f, ENOENT, db_user_set_password(f->db, "root", "bob", HASH, &error));
    REFUSED(f, ENOENT, db_user_set_password(f->db, "root", "", HASH, &error));
    REFUSED(f, EINVAL, db_user_set_password(f->db, "root", "alice", "hunter2", &error));
    REFUSED(f, EINVAL, db_user_set_password(f->db, "root", "alice", NULL, &error));
}

static void test_user_remove(void **state)
{
    struct fx *f = *state;
    struct db_user *u = NULL;

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", NULL, HASH, &error));
    CHANGE_OK(f, db_user_remove(f->db, "root", "bob", &error));
    READ_FAILS(ENOENT, db_user_get(f->db, "bob", &u, &error));
    assert_null(u);
    REFUSED(f, ENOENT, db_user_remove(f->db, "root", "bob", &error));
    REFUSED(f, ENOENT, db_user_remove(f->db, "root", "-x", &error));
    REFUSED(f, ENOENT, db_user_remove(f->db, "root", NULL, &error));

    /* Not while the user has an active session; a logged-off one is history. */
    add_session(f, "alice", "p1", "disconnected");
    REFUSED(f, EBUSY, db_user_remove(f->db, "root", "alice", &error));
    rawdb_exec(f->path, "UPDATE sessions SET state = 'logged_off'");
    CHANGE_OK(f, db_user_remove(f->db, "root", "alice", &error));
    /* The session keeps the user's name. */
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM sessions WHERE user_id IS NULL"
                                        " AND user_name = 'alice'"),
                     1);
}

/* ---- groups ---- */

static void test_groups(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) groups = NULL;
    struct db_group *g;
    struct db_user *u;
    GError *gerr = NULL;

    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", NULL, HASH, &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "staff", &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "admins", &error));
    REFUSED(f, EEXIST, db_group_add(f->db, "root", "staff", &error));
    REFUSED(f, EINVAL, db_group_add(f->db, "root", "st aff", &error));
    REFUSED(f, EINVAL, db_group_add(f->db, "root", "", &error));
    REFUSED(f, EINVAL, db_group_add(f->db, "root", "@staff", &error));

    CHANGE_OK(f, db_group_add_user(f->db, "root", "staff", "bob", &error));
    CHANGE_OK(f, db_group_add_user(f->db, "root", "staff", "alice", &error));
    CHANGE_OK(f, db_group_add_user(f->db, "root", "admins", "alice", &error));
    REFUSED(f, EEXIST, db_group_add_user(f->db, "root", "staff", "alice", &error));
    REFUSED(f, ENOENT, db_group_add_user(f->db, "root", "nogroup", "alice", &error));
    REFUSED(f, ENOENT, db_group_add_user(f->db, "root", "staff", "carol", &error));
    REFUSED(f, ENOENT, db_group_add_user(f->db, "root", "staff", NULL, &error));

    assert_int_equal(db_group_list(f->db, &groups, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(groups->len, 2);
    g = groups->pdata[0];
    assert_string_equal(g->name, "admins");
    assert_strv(g->members, "alice");
    g = groups->pdata[1];
    assert_string_equal(g->name, "staff");
    assert_strv(g->members, "alice,bob");
    assert_true(g->created_at > 0);
    g_clear_pointer(&groups, g_ptr_array_unref);

    u = get_user(f, "alice");
    assert_strv(u->groups, "admins,staff");
    db_user_free(u);

    CHANGE_OK(f, db_group_remove_user(f->db, "root", "staff", "alice", &error));
    REFUSED(f, ENOENT, db_group_remove_user(f->db, "root", "staff", "alice", &error));
    REFUSED(f, ENOENT, db_group_remove_user(f->db, "root", "nogroup", "bob", &error));
    REFUSED(f, ENOENT, db_group_remove_user(f->db, "root", "staff", "carol", &error));
    u = get_user(f, "alice");
    assert_strv(u->groups, "admins");
    db_user_free(u);

    CHANGE_OK(f, db_group_remove(f->db, "root", "staff", &error));
    REFUSED(f, ENOENT, db_group_remove(f->db, "root", "staff", &error));
    REFUSED(f, ENOENT, db_group_remove(f->db, "root", "", &error));
    u = get_user(f, "bob");
    assert_strv(u->groups, "");
    db_user_free(u);
    assert_int_equal(db_group_list(f->db, &groups, &gerr), 0);
    assert_int_equal(groups->len, 1);
}

/* ---- templates ---- */

static void test_template_add_get(void **state)
{
    struct fx *f = *state;
    struct db_template t = good_template("base");
    struct db_template *got;
    g_autoptr(GPtrArray) list = NULL;
    GError *gerr = NULL;

    t.memory_mib = 4096;
    t.vcpus = 4;
    t.video = (char *)"qxl";
    t.firmware = (char *)"uefi";
    t.os = (char *)"windows";
    t.id = 12345;       /* ignored */
    t.created_at = 7;   /* ignored */
    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    got = get_template(f, "base");
    assert_string_equal(got->name, "base");
    assert_string_equal(got->disk_path, "/var/lib/aula/images/base.qcow2");
    assert_int_equal(got->memory_mib, 4096);
    assert_int_equal(got->vcpus, 4);
    assert_string_equal(got->video, "qxl");
    assert_string_equal(got->firmware, "uefi");
    assert_string_equal(got->os, "windows");
    assert_true(got->id != 12345);
    assert_true(got->created_at > 7);
    assert_strv(got->pools, "");
    db_template_free(got);

    /* The bounds themselves are accepted. */
    t = good_template("small");
    t.memory_mib = 64;
    t.vcpus = 1;
    t.video = (char *)"vga";
    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    t = good_template("big");
    t.memory_mib = 4194304;
    t.vcpus = 512;
    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));

    assert_int_equal(db_template_list(f->db, &list, &gerr), 0);
    assert_int_equal(list->len, 3);
    assert_string_equal(((struct db_template *)list->pdata[0])->name, "base");
    assert_string_equal(((struct db_template *)list->pdata[1])->name, "big");
    assert_string_equal(((struct db_template *)list->pdata[2])->name, "small");

    READ_FAILS(ENOENT, db_template_get(f->db, "nope", &got, &error));
}

static void test_template_refusals(void **state)
{
    struct fx *f = *state;
    struct db_template t;

    t = good_template("base");
    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    REFUSED(f, EEXIST, db_template_add(f->db, "root", &t, &error));

    t = good_template("bad name");
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t = good_template(NULL);
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.video = (char *)"cirrus";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.video = NULL;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.video = (char *)"VIRTIO";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.firmware = (char *)"coreboot";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.firmware = NULL;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.os = (char *)"macos";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.os = NULL;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.memory_mib = 63;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.memory_mib = 4194305;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.memory_mib = -2048;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.vcpus = 0;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.vcpus = 513;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));

    t = good_template("t2");
    t.disk_path = (char *)"images/base.qcow2";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.disk_path = (char *)"";
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
    t.disk_path = NULL;
    REFUSED(f, EINVAL, db_template_add(f->db, "root", &t, &error));
}

static void test_template_remove(void **state)
{
    struct fx *f = *state;
    struct db_template *t;

    add_template_and_pool(f);
    t = get_template(f, "t1");
    assert_strv(t->pools, "p1");
    db_template_free(t);

    REFUSED(f, EBUSY, db_template_remove(f->db, "root", "t1", &error));
    REFUSED(f, ENOENT, db_template_remove(f->db, "root", "t2", &error));
    CHANGE_OK(f, db_pool_remove(f->db, "root", "p1", &error));
    CHANGE_OK(f, db_template_remove(f->db, "root", "t1", &error));
    READ_FAILS(ENOENT, db_template_get(f->db, "t1", &t, &error));
    REFUSED(f, ENOENT, db_template_remove(f->db, "root", "t1", &error));
}

/* ---- pools ---- */

static void test_pool_add_get(void **state)
{
    struct fx *f = *state;
    struct db_template t = good_template("t1");
    struct db_pool p = good_pool("p1", "t1");
    struct db_pool *got;
    g_autoptr(GPtrArray) list = NULL;
    GError *gerr = NULL;

    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    p.protocols = (char *)" vnc , rdp ";
    p.persistent = TRUE;
    p.clone = (char *)"full";
    p.idle_timeout = 600;
    CHANGE_OK(f, db_pool_add(f->db, "root", &p, &error));
    got = get_pool(f, "p1");
    assert_string_equal(got->name, "p1");
    assert_string_equal(got->template_name, "t1");
    assert_int_equal(got->min_size, 1);
    assert_int_equal(got->max_size, 5);
    assert_int_equal(got->spare, 2);
    assert_true(got->persistent);
    assert_string_equal(got->clone, "full");
    assert_string_equal(got->protocols, "rdp,vnc"); /* stored in canonical form */
    assert_int_equal(got->disconnect_timeout, 300);
    assert_int_equal(got->idle_timeout, 600);
    assert_int_equal(got->active_sessions, 0);
    assert_strv(got->entitled_users, "");
    assert_strv(got->entitled_groups, "");
    assert_true(got->created_at > 0);
    db_pool_free(got);
    {
        g_autofree char *row = rawdb_text(f->path, "SELECT action || ' ' || target || ' ' || pool_name"
                                                   " || ' ' || detail FROM audit_log ORDER BY id DESC LIMIT 1");
        assert_string_equal(row, "pool.create p1 p1 template=t1 min=1 max=5 spare=2");
    }

    p = good_pool("p0", "t1");
    p.protocols = (char *)"vnc";
    p.min_size = 0;
    p.max_size = 1;
    p.spare = 1;
    CHANGE_OK(f, db_pool_add(f->db, "root", &p, &error));
    assert_int_equal(db_pool_list(f->db, &list, &gerr), 0);
    assert_int_equal(list->len, 2);
    assert_string_equal(((struct db_pool *)list->pdata[0])->name, "p0");
    assert_string_equal(((struct db_pool *)list->pdata[0])->protocols, "vnc");
    assert_string_equal(((struct db_pool *)list->pdata[1])->name, "p1");

    READ_FAILS(ENOENT, db_pool_get(f->db, "p2", &got, &error));
}

static void test_pool_refusals(void **state)
{
    struct fx *f = *state;
    static const char *const bad_protocols[] = { "", "ssh", "rdp,rdp", "rdp,", ",", "RDP",
                                                 "rdp;vnc", "rdp,vnc,spice" };
    struct db_template t = good_template("t1");
    struct db_pool p;

    CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    p = good_pool("p1", "t1");
    CHANGE_OK(f, db_pool_add(f->db, "root", &p, &error));
    REFUSED(f, EEXIST, db_pool_add(f->db, "root", &p, &error));

    p = good_pool("p2", "nosuch");
    REFUSED(f, ENOENT, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", NULL);
    REFUSED(f, ENOENT, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p 2", "t1");
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));

    p = good_pool("p2", "t1");
    p.min_size = 6;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", "t1");
    p.spare = 6;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", "t1");
    p.min_size = -1;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", "t1");
    p.spare = -1;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", "t1");
    p.min_size = p.spare = 0;
    p.max_size = 0;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p.max_size = 10001;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));

    for (size_t i = 0; i < G_N_ELEMENTS(bad_protocols); i++) {
        p = good_pool("p2", "t1");
        p.protocols = (char *)bad_protocols[i];
        REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    }
    p = good_pool("p2", "t1");
    p.protocols = NULL;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));

    p = good_pool("p2", "t1");
    p.clone = (char *)"thin";
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p.clone = NULL;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));

    p = good_pool("p2", "t1");
    p.disconnect_timeout = -1;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));
    p = good_pool("p2", "t1");
    p.idle_timeout = 366 * 24 * 3600 + 1;
    REFUSED(f, EINVAL, db_pool_add(f->db, "root", &p, &error));

    /* The edges are fine. */
    p = good_pool("p2", "t1");
    p.min_size = p.max_size = p.spare = 10000;
    p.idle_timeout = p.disconnect_timeout = 366 * 24 * 3600;
    CHANGE_OK(f, db_pool_add(f->db, "root", &p, &error));
}

static void test_pool_update(void **state)
{
    struct fx *f = *state;
    struct db_pool *p;
    struct db_pool bad;

    add_template_and_pool(f);
    {
        struct db_template t = good_template("t2");
        CHANGE_OK(f, db_template_add(f->db, "root", &t, &error));
    }
    p = get_pool(f, "p1");
    p->min_size = 2;
    p->max_size = 8;
    p->spare = 3;
    p->persistent = TRUE;
    g_free(p->protocols);
    p->protocols = g_strdup("vnc");
    p->disconnect_timeout = 60;
    p->idle_timeout = 120;
    /* Name and template are not changed by an update. */
    g_free(p->name);
    p->name = g_strdup("renamed");
    g_free(p->template_name);
    p->template_name = g_strdup("t2");
    CHANGE_OK(f, db_pool_update(f->db, "root", "p1", p, &error));
    db_pool_free(p);

    p = get_pool(f, "p1");
    assert_string_equal(p->name, "p1");
    assert_string_equal(p->template_name, "t1");
    assert_int_equal(p->min_size, 2);
    assert_int_equal(p->max_size, 8);
    assert_int_equal(p->spare, 3);
    assert_true(p->persistent);
    assert_string_equal(p->protocols, "vnc");
    assert_int_equal(p->disconnect_timeout, 60);
    assert_int_equal(p->idle_timeout, 120);
    {
        g_autofree char *row = rawdb_text(f->path, "SELECT action || ' ' || detail FROM audit_log"
                                                   " ORDER BY id DESC LIMIT 1");
        assert_string_equal(row, "pool.set min=2 max=8 spare=3 persistent=1 protocols=vnc"
                                 " disconnect_timeout=60 idle_timeout=120 network=network:default vlan=0");
    }

    /* The same checks as db_pool_add. */
    bad = *p;
    bad.min_size = 9;
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.spare = 9;
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.protocols = (char *)"rdp,ssh";
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.protocols = (char *)"";
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.clone = (char *)"thin";
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.max_size = 0;
    bad.min_size = bad.spare = 0;
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    bad = *p;
    bad.idle_timeout = -5;
    REFUSED(f, EINVAL, db_pool_update(f->db, "root", "p1", &bad, &error));
    REFUSED(f, ENOENT, db_pool_update(f->db, "root", "p9", p, &error));
    REFUSED(f, ENOENT, db_pool_update(f->db, "root", NULL, p, &error));
    db_pool_free(p);
}

static void test_pool_remove(void **state)
{
    struct fx *f = *state;
    struct db_pool *p = NULL;

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p1", "alice", NULL, &error));

    add_session(f, "alice", "p1", "connected");
    p = get_pool(f, "p1");
    assert_int_equal(p->active_sessions, 1);
    db_pool_free(p);
    REFUSED(f, EBUSY, db_pool_remove(f->db, "root", "p1", &error));
    rawdb_exec(f->path, "UPDATE sessions SET state = 'logged_off', ended_at = 2000");
    p = get_pool(f, "p1");
    assert_int_equal(p->active_sessions, 0);
    db_pool_free(p);

    /* VMs keep the pool, even while they are being removed (their rows go
     * when their domain and disk are gone). */
    CHANGE_OK(f, db_host_ensure(f->db, NULL, "localhost", "qemu:///system", &error));
    rawdb_exec(f->path, "INSERT INTO vms (name, pool_id, host_id, state, state_since, created_at)"
                        " SELECT 'p1-1', p.id, h.id, 'ready', 1, 1 FROM pools p, hosts h");
    REFUSED(f, EBUSY, db_pool_remove(f->db, "root", "p1", &error));
    rawdb_exec(f->path, "UPDATE vms SET state = 'deleted'");
    REFUSED(f, EBUSY, db_pool_remove(f->db, "root", "p1", &error));
    rawdb_exec(f->path, "DELETE FROM vms");

    CHANGE_OK(f, db_pool_remove(f->db, "root", "p1", &error));
    READ_FAILS(ENOENT, db_pool_get(f->db, "p1", &p, &error));
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM vms"), 0);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM entitlements"), 0);
    /* Session history survives, with the pool's name. */
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM sessions WHERE pool_id IS NULL"
                                        " AND pool_name = 'p1'"),
                     1);
    REFUSED(f, ENOENT, db_pool_remove(f->db, "root", "p1", &error));
}

static void test_protocols_normalize(void **state)
{
    static const char *const cases[][2] = {
        { "rdp", "rdp" },         { "vnc", "vnc" },         { "rdp,vnc", "rdp,vnc" },
        { "vnc,rdp", "rdp,vnc" }, { " vnc , rdp ", "rdp,vnc" }, { " rdp", "rdp" },
        { "", NULL },             { ",", NULL },            { "rdp,", NULL },
        { ",vnc", NULL },         { "rdp,rdp", NULL },      { "vnc,vnc", NULL },
        { "RDP", NULL },          { "ssh", NULL },          { "rdp;vnc", NULL },
        { "rdp vnc", NULL },      { "rdp,vnc,rdp", NULL },  { "spice", NULL },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *got = db_protocols_normalize(cases[i][0]);
        if (cases[i][1] == NULL) {
            if (got != NULL)
                fail_msg("'%s' normalized to '%s', expected a refusal", cases[i][0], got);
        } else {
            if (got == NULL)
                fail_msg("'%s' refused, expected '%s'", cases[i][0], cases[i][1]);
            assert_string_equal(got, cases[i][1]);
        }
        g_free(got);
    }
    assert_null(db_protocols_normalize(NULL));
}

/* ---- entitlements ---- */

static void test_entitlements(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) ents = NULL;
    struct db_entitlement *e;
    struct db_user *u;
    struct db_pool *p;
    GError *gerr = NULL;

    add_template_and_pool(f);
    {
        struct db_pool p2 = good_pool("p2", "t1");
        struct db_pool p3 = good_pool("p3", "t1");
        CHANGE_OK(f, db_pool_add(f->db, "root", &p2, &error));
        CHANGE_OK(f, db_pool_add(f->db, "root", &p3, &error));
    }
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", NULL, HASH, &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "staff", &error));
    CHANGE_OK(f, db_group_add_user(f->db, "root", "staff", "alice", &error));

    CHANGE_OK(f, db_entitle(f->db, "root", "p1", "alice", NULL, &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p1", NULL, "staff", &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p2", NULL, "staff", &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p3", "bob", NULL, &error));
    {
        g_autofree char *row = rawdb_text(f->path, "SELECT actor || ' ' || action || ' ' || target"
                                                   " || ' ' || coalesce(user_name, '-') || ' ' || pool_name"
                                                   " FROM audit_log ORDER BY id DESC LIMIT 1");
        assert_string_equal(row, "root entitle user:bob bob p3");
    }

    REFUSED(f, EEXIST, db_entitle(f->db, "root", "p1", "alice", NULL, &error));
    REFUSED(f, EEXIST, db_entitle(f->db, "root", "p1", NULL, "staff", &error));
    REFUSED(f, EINVAL, db_entitle(f->db, "root", "p1", NULL, NULL, &error));
    REFUSED(f, EINVAL, db_entitle(f->db, "root", "p1", "bob", "staff", &error));
    REFUSED(f, ENOENT, db_entitle(f->db, "root", "p9", "bob", NULL, &error));
    REFUSED(f, ENOENT, db_entitle(f->db, "root", "p1", "carol", NULL, &error));
    REFUSED(f, ENOENT, db_entitle(f->db, "root", "p1", NULL, "nogroup", &error));
    /* A user and a group of the same name are different things. */
    REFUSED(f, ENOENT, db_entitle(f->db, "root", "p1", NULL, "alice", &error));

    /* alice: p1 directly and through staff (listed once), p2 through staff. */
    u = get_user(f, "alice");
    assert_strv(u->pools, "p1,p2");
    db_user_free(u);
    u = get_user(f, "bob");
    assert_strv(u->pools, "p3");
    db_user_free(u);

    p = get_pool(f, "p1");
    assert_strv(p->entitled_users, "alice");
    assert_strv(p->entitled_groups, "staff");
    db_pool_free(p);

    assert_int_equal(db_entitlement_list(f->db, NULL, &ents, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(ents->len, 4);
    g_clear_pointer(&ents, g_ptr_array_unref);
    assert_int_equal(db_entitlement_list(f->db, "p1", &ents, &gerr), 0);
    assert_int_equal(ents->len, 2);
    e = ents->pdata[0];
    assert_string_equal(e->pool, "p1");
    assert_null(e->user);
    assert_string_equal(e->group, "staff");
    e = ents->pdata[1];
    assert_string_equal(e->pool, "p1");
    assert_string_equal(e->user, "alice");
    assert_null(e->group);
    assert_true(e->created_at > 0);
    g_clear_pointer(&ents, g_ptr_array_unref);
    assert_int_equal(db_entitlement_list(f->db, "p9", &ents, &gerr), 0);
    assert_int_equal(ents->len, 0);
    g_clear_pointer(&ents, g_ptr_array_unref);

    CHANGE_OK(f, db_unentitle(f->db, "root", "p1", "alice", NULL, &error));
    REFUSED(f, ENOENT, db_unentitle(f->db, "root", "p1", "alice", NULL, &error));
    REFUSED(f, ENOENT, db_unentitle(f->db, "root", "p1", "bob", NULL, &error));
    REFUSED(f, ENOENT, db_unentitle(f->db, "root", "p3", NULL, "staff", &error));
    REFUSED(f, ENOENT, db_unentitle(f->db, "root", "p9", NULL, "staff", &error));
    REFUSED(f, EINVAL, db_unentitle(f->db, "root", "p1", NULL, NULL, &error));
    REFUSED(f, EINVAL, db_unentitle(f->db, "root", "p1", "alice", "staff", &error));
    /* Still entitled to p1 through staff. */
    u = get_user(f, "alice");
    assert_strv(u->pools, "p1,p2");
    db_user_free(u);
    CHANGE_OK(f, db_unentitle(f->db, "root", "p1", NULL, "staff", &error));
    u = get_user(f, "alice");
    assert_strv(u->pools, "p2");
    db_user_free(u);
    /* Leaving the group takes the pool away. */
    CHANGE_OK(f, db_group_remove_user(f->db, "root", "staff", "alice", &error));
    u = get_user(f, "alice");
    assert_strv(u->pools, "");
    db_user_free(u);
}

/* ---- sessions, hosts, audit, counts ---- */

static void test_sessions(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) list = NULL;
    struct db_session *s;
    GError *gerr = NULL;

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    assert_int_equal(db_session_list(f->db, FALSE, &list, &gerr), 0);
    assert_int_equal(list->len, 0);
    g_clear_pointer(&list, g_ptr_array_unref);

    add_session(f, "alice", "p1", "connected");
    add_session(f, "alice", "p1", "logged_off");
    assert_int_equal(db_session_list(f->db, TRUE, &list, &gerr), 0);
    assert_int_equal(list->len, 1);
    s = list->pdata[0];
    assert_string_equal(s->user, "alice");
    assert_string_equal(s->pool, "p1");
    assert_null(s->vm);
    assert_string_equal(s->protocol, "rdp");
    assert_string_equal(s->state, "connected");
    assert_string_equal(s->client_addr, "");
    assert_int_equal(s->created_at, 1000);
    g_clear_pointer(&list, g_ptr_array_unref);
    assert_int_equal(db_session_list(f->db, FALSE, &list, &gerr), 0);
    assert_int_equal(list->len, 2);
    assert_string_equal(((struct db_session *)list->pdata[1])->state, "logged_off");
    assert_null(gerr);
}

static void test_hosts(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) hosts = NULL;
    struct db_host *h;
    GError *gerr = NULL;
    gint64 rows;

    CHANGE_OK(f, db_host_ensure(f->db, NULL, "localhost", "qemu:///system", &error));
    /* Unchanged: nothing to record. */
    rows = audit_rows(f);
    assert_int_equal(db_host_ensure(f->db, NULL, "localhost", "qemu:///system", &gerr), 0);
    assert_int_equal(audit_rows(f), rows);
    CHANGE_OK(f, db_host_ensure(f->db, NULL, "localhost", "qemu:///session", &error));
    REFUSED(f, EINVAL, db_host_ensure(f->db, NULL, "local host", "qemu:///system", &error));

    assert_int_equal(db_host_list(f->db, &hosts, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(hosts->len, 1);
    h = hosts->pdata[0];
    assert_string_equal(h->name, "localhost");
    assert_string_equal(h->libvirt_uri, "qemu:///session");
    assert_int_equal(h->memory_budget_mib, 0);
}

/* Four entries with timestamps 100..400. */
static void add_audit_entries(struct fx *f)
{
    CHANGE_OK(f, db_audit_add(f->db, "alice", "a1", "x", "alice", "p1", "ok", NULL, &error));
    CHANGE_OK(f, db_audit_add(f->db, "bob", "a2", "x", "bob", "p1", "refused", "d", &error));
    CHANGE_OK(f, db_audit_add(f->db, "alice", "a3", "x", "alice", "p2", "denied", NULL, &error));
    CHANGE_OK(f, db_audit_add(f->db, NULL, "a4", NULL, NULL, NULL, "failed", NULL, &error));
    rawdb_exec(f->path, "UPDATE audit_log SET ts = id * 100");
}

/* The actions of list, comma-separated. Caller frees. */
static char *actions(GPtrArray *list)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < list->len; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", ((struct db_audit *)list->pdata[i])->action);
    return g_string_free(s, FALSE);
}

#define assert_audit(f, filter, expected)                                  \
    do {                                                                   \
        g_autoptr(GPtrArray) list_ = NULL;                                 \
        GError *e_ = NULL;                                                 \
        char *got_;                                                        \
        assert_int_equal(db_audit_list((f)->db, (filter), &list_, &e_), 0); \
        assert_null(e_);                                                   \
        got_ = actions(list_);                                             \
        assert_string_equal(got_, (expected));                             \
        g_free(got_);                                                      \
    } while (0)

static void test_audit_filters(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) list = NULL;
    struct db_audit *e;
    GError *gerr = NULL;

    add_audit_entries(f);
    assert_audit(f, NULL, "a1,a2,a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ 0 }), "a1,a2,a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .since = 200 }), "a2,a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .since = 201 }), "a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .since = 401 }), "");
    assert_audit(f, (&(struct db_audit_filter){ .user = "alice" }), "a1,a3");
    assert_audit(f, (&(struct db_audit_filter){ .user = "carol" }), "");
    assert_audit(f, (&(struct db_audit_filter){ .pool = "p1" }), "a1,a2");
    assert_audit(f, (&(struct db_audit_filter){ .user = "alice", .pool = "p1" }), "a1");
    /* limit keeps the newest, still oldest first */
    assert_audit(f, (&(struct db_audit_filter){ .limit = 2 }), "a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .limit = 1 }), "a4");
    assert_audit(f, (&(struct db_audit_filter){ .limit = 10 }), "a1,a2,a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .user = "alice", .limit = 1 }), "a3");
    assert_audit(f, (&(struct db_audit_filter){ .since = 150, .limit = 2 }), "a3,a4");
    assert_audit(f, (&(struct db_audit_filter){ .since = 150, .pool = "p1", .limit = 5 }), "a2");

    assert_int_equal(db_audit_list(f->db, NULL, &list, &gerr), 0);
    e = list->pdata[1];
    assert_int_equal(e->ts, 200);
    assert_string_equal(e->actor, "bob");
    assert_string_equal(e->target, "x");
    assert_string_equal(e->user, "bob");
    assert_string_equal(e->pool, "p1");
    assert_string_equal(e->outcome, "refused");
    assert_string_equal(e->detail, "d");
    e = list->pdata[3];
    assert_string_equal(e->actor, "aulad");
    assert_string_equal(e->target, "");
    assert_null(e->user);
    assert_null(e->pool);
    assert_string_equal(e->detail, "");
    assert_true(((struct db_audit *)list->pdata[0])->id < e->id);

    /* Bad entries are refused and leave no trace. */
    REFUSED(f, EINVAL, db_audit_add(f->db, "root", "x", NULL, NULL, NULL, "maybe", NULL, &error));
    REFUSED(f, EINVAL, db_audit_add(f->db, "root", "x", NULL, NULL, NULL, NULL, NULL, &error));
    REFUSED(f, EINVAL, db_audit_add(f->db, "root", "", NULL, NULL, NULL, "ok", NULL, &error));
    REFUSED(f, EINVAL, db_audit_add(f->db, "root", NULL, NULL, NULL, NULL, "ok", NULL, &error));
}

static void test_counts(void **state)
{
    struct fx *f = *state;
    struct db_counts c;
    GError *gerr = NULL;

    memset(&c, 0xff, sizeof(c));
    assert_int_equal(db_counts(f->db, &c, &gerr), 0);
    assert_null(gerr);
    assert_int_equal(c.users, 0);
    assert_int_equal(c.groups, 0);
    assert_int_equal(c.templates, 0);
    assert_int_equal(c.pools, 0);
    assert_int_equal(c.vms, 0);
    assert_int_equal(c.active_sessions, 0);

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_user_add(f->db, "root", "bob", NULL, HASH, &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "staff", &error));
    CHANGE_OK(f, db_host_ensure(f->db, NULL, "localhost", "qemu:///system", &error));
    rawdb_exec(f->path, "INSERT INTO vms (name, pool_id, host_id, state, state_since, created_at, seq)"
                        " SELECT 'vm' || x.n, p.id, h.id, x.s, 1, 1, x.n FROM pools p, hosts h,"
                        " (SELECT 1 AS n, 'ready' AS s UNION SELECT 2, 'in_use'"
                        "  UNION SELECT 3, 'deleted') x");
    add_session(f, "alice", "p1", "connected");
    add_session(f, "bob", "p1", "waiting_for_vm");
    add_session(f, "bob", "p1", "logged_off");
    assert_int_equal(db_counts(f->db, &c, &gerr), 0);
    assert_int_equal(c.users, 2);
    assert_int_equal(c.groups, 1);
    assert_int_equal(c.templates, 1);
    assert_int_equal(c.pools, 1);
    assert_int_equal(c.vms, 2);
    assert_int_equal(c.active_sessions, 2);
}

/* Refusals from every kind of change leave the whole database as it was,
 * checked together on a populated database. */
static void test_refusals_change_nothing(void **state)
{
    struct fx *f = *state;
    struct db_template t = good_template("t1");
    struct db_pool p = good_pool("p1", "t1");

    add_template_and_pool(f);
    CHANGE_OK(f, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    CHANGE_OK(f, db_group_add(f->db, "root", "staff", &error));
    CHANGE_OK(f, db_group_add_user(f->db, "root", "staff", "alice", &error));
    CHANGE_OK(f, db_entitle(f->db, "root", "p1", "alice", NULL, &error));
    add_session(f, "alice", "p1", "connected");
    assert_int_equal(audit_rows(f), 6);

    REFUSED(f, EEXIST, db_user_add(f->db, "root", "alice", NULL, HASH, &error));
    REFUSED(f, EBUSY, db_user_remove(f->db, "root", "alice", &error));
    REFUSED(f, EEXIST, db_group_add(f->db, "root", "staff", &error));
    REFUSED(f, ENOENT, db_group_remove(f->db, "root", "other", &error));
    REFUSED(f, EEXIST, db_group_add_user(f->db, "root", "staff", "alice", &error));
    REFUSED(f, EEXIST, db_template_add(f->db, "root", &t, &error));
    REFUSED(f, EBUSY, db_template_remove(f->db, "root", "t1", &error));
    REFUSED(f, EEXIST, db_pool_add(f->db, "root", &p, &error));
    REFUSED(f, EBUSY, db_pool_remove(f->db, "root", "p1", &error));
    REFUSED(f, EEXIST, db_entitle(f->db, "root", "p1", "alice", NULL, &error));
    REFUSED(f, ENOENT, db_unentitle(f->db, "root", "p1", NULL, "staff", &error));
    assert_int_equal(audit_rows(f), 6);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_schema),
        T(test_open_foreign_keys_on),
        T(test_open_reopen_idempotent),
        T(test_open_newer_schema_refused),
        T(test_open_bad_paths),
        cmocka_unit_test(test_name_valid),
        T(test_user_add_get),
        T(test_user_list),
        T(test_user_refusals),
        T(test_user_passwd),
        T(test_user_remove),
        T(test_groups),
        T(test_template_add_get),
        T(test_template_refusals),
        T(test_template_remove),
        T(test_pool_add_get),
        T(test_pool_refusals),
        T(test_pool_update),
        T(test_pool_remove),
        cmocka_unit_test(test_protocols_normalize),
        T(test_entitlements),
        T(test_sessions),
        T(test_hosts),
        T(test_audit_filters),
        T(test_counts),
        T(test_refusals_change_nothing),
    };
#undef T

    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
