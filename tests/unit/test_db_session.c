/* Unit tests for db/session.c: session rows, their state transitions with
 * audit rows, resuming a disconnected session, the VM and client a session
 * is attached to, and the live figures of `aulactl session list`. */
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

struct fx {
    char *dir;
    char *path;
    struct db *db;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    struct db_template t = { .name = "tmpl", .disk_path = "/srv/t.qcow2", .memory_mib = 512,
                             .vcpus = 1, .video = "vga", .firmware = "bios", .os = "linux",
                             .volume = "tmpl.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .min_size = 0, .max_size = 10,
                         .spare = 0, .clone = "linked", .protocols = "rdp,vnc" };
    struct db_pool q = p;
    struct db_vm *vm = NULL;

    f->dir = g_dir_make_tmp("aula-test-session-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    assert_int_equal(db_open(f->path, &f->db, NULL), 0);
    assert_int_equal(db_host_ensure(f->db, "test", "local", "test:///default", NULL), 0);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    q.name = "other";
    assert_int_equal(db_pool_add(f->db, "test", &q, NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "alice", NULL, "$y$dummy", NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "bob", NULL, "$y$dummy", NULL), 0);
    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:00:00:01", &vm, NULL), 0);
    assert_string_equal(vm->name, "aula-lab-1");
    db_vm_free(vm);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    db_close(f->db);
    rawdb_rm_rf(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* A new session of user in pool over vnc; its id. */
static int64_t create(struct fx *f, const char *user, const char *pool)
{
    int64_t id = 0;

    assert_int_equal(db_session_create(f->db, user, user, pool, "vnc", "192.0.2.7 port 50000", &id,
                                       NULL), 0);
    assert_true(id > 0);
    return id;
}

static struct db_session *get(struct fx *f, int64_t id)
{
    struct db_session *s = NULL;

    assert_int_equal(db_session_get(f->db, id, &s, NULL), 0);
    assert_non_null(s);
    return s;
}

/* Move id to `to` from any state but logged_off, which must succeed. */
static void move(struct fx *f, int64_t id, const char *to, const char *reason)
{
    g_autoptr(GError) err = NULL;

    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, to, reason, &err), 0);
    assert_null(err);
}

/* An expression over session id's row, read from outside. */
static gint64 row_int(struct fx *f, int64_t id, const char *expr)
{
    g_autofree char *sql = g_strdup_printf("SELECT %s FROM sessions WHERE id = %" G_GINT64_FORMAT,
                                           expr, id);

    return rawdb_int(f->path, sql);
}

/* Change session id's row behind the API's back (set: "column = value"). */
static void row_set(struct fx *f, int64_t id, const char *set)
{
    g_autofree char *sql = g_strdup_printf("UPDATE sessions SET %s WHERE id = %" G_GINT64_FORMAT,
                                           set, id);

    rawdb_exec(f->path, sql);
}

/* The audit entries whose action starts with prefix, oldest first. */
static GPtrArray *audit_of(struct fx *f, const char *prefix)
{
    struct db_audit_filter filter = { 0 };
    GPtrArray *all = NULL, *out = g_ptr_array_new_with_free_func((GDestroyNotify)db_audit_free);

    assert_int_equal(db_audit_list(f->db, &filter, &all, NULL), 0);
    for (guint i = 0; i < all->len; i++) {
        struct db_audit *a = g_ptr_array_index(all, i);
        if (g_str_has_prefix(a->action, prefix))
            g_ptr_array_add(out, g_ptr_array_steal_index(all, i--));
    }
    g_ptr_array_unref(all);
    return out;
}

static void test_create(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) audit = NULL;
    g_autofree char *target = NULL;
    struct db_session *s;
    struct db_audit *a;
    int64_t id, before = g_get_real_time() / G_USEC_PER_SEC;

    id = create(f, "alice", "lab");
    s = get(f, id);
    assert_int_equal(s->id, id);
    assert_string_equal(s->user, "alice");
    assert_string_equal(s->pool, "lab");
    assert_null(s->vm);
    assert_string_equal(s->protocol, "vnc");
    assert_string_equal(s->client_addr, "192.0.2.7 port 50000");
    assert_string_equal(s->encoding, "");
    assert_string_equal(s->state, "waiting_for_vm");
    assert_string_equal(s->end_reason, "");
    assert_int_equal(s->bytes_sent, 0);
    assert_int_equal(s->fps, 0);
    assert_true(s->created_at >= before);
    assert_int_equal(s->state_since, s->created_at);
    assert_int_equal(s->connected_at, 0);
    db_session_free(s);

    audit = audit_of(f, "session.");
    assert_int_equal(audit->len, 1);
    a = g_ptr_array_index(audit, 0);
    target = g_strdup_printf("%" G_GINT64_FORMAT, id);
    assert_string_equal(a->action, "session.start");
    assert_string_equal(a->actor, "alice");
    assert_string_equal(a->target, target);
    assert_string_equal(a->user, "alice");
    assert_string_equal(a->pool, "lab");
    assert_string_equal(a->outcome, "ok");
    assert_string_equal(a->detail, "192.0.2.7 port 50000");

    /* A second session gets a new id. */
    assert_true(create(f, "alice", "other") > id);
}

static void test_create_refused(void **state)
{
    struct fx *f = *state;
    g_autofree char *before = rawdb_dump(f->path), *after = NULL;
    GError *err = NULL;
    int64_t id = -7;

    assert_int_equal(db_session_create(f->db, "x", "nobody", "lab", "vnc", "", &id, &err), -ENOENT);
    assert_int_equal(err->code, ENOENT);
    assert_non_null(strstr(err->message, "nobody"));
    g_clear_error(&err);
    assert_int_equal(db_session_create(f->db, "alice", "alice", "nope", "rdp", "", &id, &err), -ENOENT);
    assert_non_null(strstr(err->message, "unknown pool 'nope'"));
    g_clear_error(&err);
    assert_int_equal(db_session_create(f->db, "alice", "alice", "lab", "spice", "", &id, &err), -EINVAL);
    assert_int_equal(err->code, EINVAL);
    assert_non_null(strstr(err->message, "spice"));
    g_clear_error(&err);
    assert_int_equal(db_session_create(f->db, "alice", "alice", "lab", NULL, "", &id, &err), -EINVAL);
    g_clear_error(&err);
    /* Out-parameter untouched, and nothing written, not even an audit row. */
    assert_int_equal(id, -7);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);
}

static void test_transitions(void **state)
{
    static const char *const from_connected[] = { "connected", NULL };
    static const char *const from_waiting[] = { "waiting_for_vm", NULL };
    static const char *const from_disconnected[] = { "disconnected", NULL };
    struct fx *f = *state;
    g_autofree char *before = NULL, *after = NULL;
    struct db_session *s;
    GError *err = NULL;
    int64_t id = create(f, "alice", "lab");

    /* Not in the from-list: EBUSY, with the state it is in. */
    before = rawdb_dump(f->path);
    assert_int_equal(db_session_transition(f->db, "aulad", id, from_connected, "disconnected", "x", &err),
                     -EBUSY);
    assert_int_equal(err->code, EBUSY);
    assert_non_null(strstr(err->message, "is waiting_for_vm"));
    g_clear_error(&err);
    /* Unknown state, unknown session. */
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, "authenticated", NULL, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, NULL, NULL, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(db_session_transition(f->db, "aulad", id + 100, NULL, "connected", NULL, &err),
                     -ENOENT);
    assert_int_equal(err->code, ENOENT);
    g_clear_error(&err);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);

    /* The way through: waiting -> connected -> disconnected -> waiting
     * (a reconnect) -> connected -> logged_off. */
    assert_int_equal(db_session_transition(f->db, "alice", id, from_waiting, "connected", "192.0.2.7", NULL), 0);
    s = get(f, id);
    assert_string_equal(s->state, "connected");
    db_session_free(s);
    assert_int_equal(db_session_transition(f->db, "alice", id, from_connected, "disconnected", "gone", NULL), 0);
    assert_int_equal(db_session_transition(f->db, "alice", id, from_disconnected, "waiting_for_vm",
                                           "reconnecting", NULL), 0);
    move(f, id, "connected", NULL);
    move(f, id, "logged_off", "done");
    s = get(f, id);
    assert_string_equal(s->state, "logged_off");
    db_session_free(s);

    /* NULL from-list: any state but logged_off, so a logged-off session
     * stays logged off. */
    g_free(before);
    before = rawdb_dump(f->path);
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, "connected", NULL, &err), -EBUSY);
    assert_non_null(strstr(err->message, "is logged_off"));
    g_clear_error(&err);
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, "logged_off", "again", &err), -EBUSY);
    g_clear_error(&err);
    g_free(after);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);
}

static void test_connected_at_and_end_reason(void **state)
{
    struct fx *f = *state;
    struct db_session *s;
    int64_t id = create(f, "alice", "lab"), first;

    /* Entering connected sets connected_at (and state_since); a reason given
     * for a state that is not an ending is not kept. */
    row_set(f, id, "state_since = 5");
    move(f, id, "connected", "not an end");
    s = get(f, id);
    assert_true(s->connected_at > 0);
    assert_int_equal(s->state_since, s->connected_at);
    assert_string_equal(s->end_reason, "");
    first = s->connected_at;
    db_session_free(s);

    /* disconnected keeps its reason and the time it was connected. */
    assert_int_equal(db_session_stats(f->db, id, "tight", 1000, 25, NULL), 0);
    move(f, id, "disconnected", "the viewer closed the connection");
    s = get(f, id);
    assert_string_equal(s->end_reason, "the viewer closed the connection");
    assert_int_equal(s->connected_at, first);
    /* fps is a live figure: 0 once nobody is watching; the bytes stay. */
    assert_int_equal(s->fps, 0);
    assert_int_equal(s->bytes_sent, 1000);
    db_session_free(s);
    assert_int_equal(row_int(f, id, "ended_at IS NULL"), 1);

    /* Resuming clears the reason; connecting again moves connected_at. */
    row_set(f, id, "connected_at = 7");
    move(f, id, "waiting_for_vm", "reconnecting");
    s = get(f, id);
    assert_string_equal(s->end_reason, "");
    assert_int_equal(s->connected_at, 7);
    db_session_free(s);
    move(f, id, "connected", NULL);
    s = get(f, id);
    assert_true(s->connected_at >= first);
    db_session_free(s);

    /* logged_off keeps its reason and sets ended_at. */
    move(f, id, "logged_off", "logged off by root");
    s = get(f, id);
    assert_string_equal(s->end_reason, "logged off by root");
    db_session_free(s);
    assert_true(row_int(f, id, "ended_at") > 0);
}

static void test_find_resumable(void **state)
{
    struct fx *f = *state;
    GError *err = NULL;
    int64_t a1, a2, a3, a4, b1, id = -7;

    a1 = create(f, "alice", "lab");
    a2 = create(f, "alice", "lab");
    a3 = create(f, "alice", "lab");
    a4 = create(f, "alice", "other");
    b1 = create(f, "bob", "lab");

    /* Nothing disconnected yet: waiting_for_vm is not resumable. */
    assert_int_equal(db_session_find_resumable(f->db, "alice", "lab", &id, &err), -ENOENT);
    assert_int_equal(err->code, ENOENT);
    g_clear_error(&err);
    assert_int_equal(id, -7);

    move(f, a1, "disconnected", "gone");
    move(f, a2, "disconnected", "gone");
    move(f, a3, "connected", NULL);
    move(f, a4, "disconnected", "gone");
    move(f, b1, "disconnected", "gone");

    /* The newest disconnected one of that user and that pool. */
    assert_int_equal(db_session_find_resumable(f->db, "alice", "lab", &id, NULL), 0);
    assert_int_equal(id, a2);
    assert_int_equal(db_session_find_resumable(f->db, "alice", "other", &id, NULL), 0);
    assert_int_equal(id, a4);
    assert_int_equal(db_session_find_resumable(f->db, "bob", "lab", &id, NULL), 0);
    assert_int_equal(id, b1);
    move(f, a2, "logged_off", "done");
    assert_int_equal(db_session_find_resumable(f->db, "alice", "lab", &id, NULL), 0);
    assert_int_equal(id, a1);
    /* A connected session is not resumable, nor a logged-off one. */
    move(f, a1, "logged_off", "done");
    id = -7;
    assert_int_equal(db_session_find_resumable(f->db, "alice", "lab", &id, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(db_session_find_resumable(f->db, "bob", "other", &id, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(db_session_find_resumable(f->db, "nobody", "lab", &id, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(id, -7);
}

static void test_attach(void **state)
{
    struct fx *f = *state;
    g_autofree char *before = NULL, *after = NULL;
    g_autoptr(GPtrArray) audit = NULL;
    struct db_session *s;
    GError *err = NULL;
    int64_t id = create(f, "alice", "lab");

    assert_int_equal(db_session_attach(f->db, id, "aula-lab-1", "rdp", "198.51.100.1 port 3000", NULL), 0);
    s = get(f, id);
    assert_string_equal(s->vm, "aula-lab-1");
    assert_string_equal(s->protocol, "rdp");
    assert_string_equal(s->client_addr, "198.51.100.1 port 3000");
    assert_string_equal(s->state, "waiting_for_vm");
    db_session_free(s);
    /* A resumed session may come back over another protocol, from elsewhere. */
    assert_int_equal(db_session_attach(f->db, id, "aula-lab-1", "vnc", NULL, NULL), 0);
    s = get(f, id);
    assert_string_equal(s->protocol, "vnc");
    assert_string_equal(s->client_addr, "");
    db_session_free(s);

    before = rawdb_dump(f->path);
    assert_int_equal(db_session_attach(f->db, id + 100, "aula-lab-1", "vnc", "", &err), -ENOENT);
    assert_int_equal(err->code, ENOENT);
    g_clear_error(&err);
    assert_int_equal(db_session_attach(f->db, id, "aula-lab-1", "spice", "", &err), -EINVAL);
    g_clear_error(&err);
    after = rawdb_dump(f->path);
    assert_string_equal(before, after);
    /* Not a state change: only session.start is in the audit log. */
    audit = audit_of(f, "session.");
    assert_int_equal(audit->len, 1);
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) audit = NULL;
    struct db_session *s;
    int64_t id = create(f, "alice", "lab"), since;

    move(f, id, "connected", NULL);
    s = get(f, id);
    since = s->state_since;
    db_session_free(s);
    assert_int_equal(db_session_stats(f->db, id, "tight", 123456789012, 30, NULL), 0);
    s = get(f, id);
    assert_string_equal(s->encoding, "tight");
    assert_int_equal(s->bytes_sent, 123456789012);
    assert_int_equal(s->fps, 30);
    assert_string_equal(s->state, "connected");
    assert_int_equal(s->state_since, since);
    db_session_free(s);
    assert_int_equal(db_session_stats(f->db, id, NULL, 5, 0, NULL), 0);
    s = get(f, id);
    assert_string_equal(s->encoding, "");
    assert_int_equal(s->bytes_sent, 5);
    assert_int_equal(s->fps, 0);
    db_session_free(s);
    /* Not audited: session.start and session.connected only. */
    audit = audit_of(f, "session.");
    assert_int_equal(audit->len, 2);
}

static void test_list_and_get(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) active = NULL, all = NULL;
    struct db_session *s = (struct db_session *)0x1;
    GError *err = NULL;
    int64_t a = create(f, "alice", "lab"), b = create(f, "bob", "lab"), c = create(f, "alice", "other");

    assert_int_equal(db_session_list(f->db, TRUE, &active, NULL), 0);
    assert_int_equal(active->len, 3);
    g_clear_pointer(&active, g_ptr_array_unref);
    move(f, b, "logged_off", "done");
    move(f, c, "disconnected", "gone");
    assert_int_equal(db_session_list(f->db, TRUE, &active, NULL), 0);
    assert_int_equal(db_session_list(f->db, FALSE, &all, NULL), 0);
    /* Active: every state but logged_off, in id order. */
    assert_int_equal(active->len, 2);
    assert_int_equal(((struct db_session *)active->pdata[0])->id, a);
    assert_int_equal(((struct db_session *)active->pdata[1])->id, c);
    assert_string_equal(((struct db_session *)active->pdata[1])->state, "disconnected");
    assert_int_equal(all->len, 3);
    assert_int_equal(((struct db_session *)all->pdata[0])->id, a);
    assert_int_equal(((struct db_session *)all->pdata[1])->id, b);
    assert_string_equal(((struct db_session *)all->pdata[1])->state, "logged_off");
    assert_string_equal(((struct db_session *)all->pdata[1])->end_reason, "done");
    assert_int_equal(((struct db_session *)all->pdata[2])->id, c);

    assert_int_equal(db_session_get(f->db, 999, &s, &err), -ENOENT);
    assert_int_equal(err->code, ENOENT);
    assert_string_equal(err->message, "unknown session 999");
    g_clear_error(&err);
    assert_ptr_equal(s, (struct db_session *)0x1);
}

static void test_audit_per_change(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) audit = NULL;
    g_autofree char *target = NULL;
    static const char *const expect[][3] = {
        { "session.start", "alice", "192.0.2.7 port 50000" },
        { "session.connected", "alice", "192.0.2.7" },
        { "session.disconnected", "aulad", "the viewer closed the connection" },
        { "session.waiting_for_vm", "alice", "reconnecting" },
        { "session.connected", "alice", "" },
        { "session.logged_off", "root", "logged off by root" },
    };
    int64_t id = create(f, "alice", "lab");

    assert_int_equal(db_session_transition(f->db, "alice", id, NULL, "connected", "192.0.2.7", NULL), 0);
    /* No change of state (a second CONNECTED), no audit row. */
    assert_int_equal(db_session_transition(f->db, "alice", id, NULL, "connected", "again", NULL), 0);
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, "disconnected",
                                           "the viewer closed the connection", NULL), 0);
    assert_int_equal(db_session_transition(f->db, "aulad", id, NULL, "disconnected", "twice", NULL), 0);
    assert_int_equal(db_session_transition(f->db, "alice", id, NULL, "waiting_for_vm", "reconnecting", NULL), 0);
    assert_int_equal(db_session_transition(f->db, "alice", id, NULL, "connected", NULL, NULL), 0);
    assert_int_equal(db_session_transition(f->db, "root", id, NULL, "logged_off", "logged off by root", NULL), 0);

    audit = audit_of(f, "session.");
    assert_int_equal(audit->len, G_N_ELEMENTS(expect));
    target = g_strdup_printf("%" G_GINT64_FORMAT, id);
    for (guint i = 0; i < audit->len; i++) {
        struct db_audit *a = g_ptr_array_index(audit, i);
        assert_string_equal(a->action, expect[i][0]);
        assert_string_equal(a->actor, expect[i][1]);
        assert_string_equal(a->detail, expect[i][2]);
        assert_string_equal(a->target, target);
        assert_string_equal(a->user, "alice");
        assert_string_equal(a->pool, "lab");
        assert_string_equal(a->outcome, "ok");
    }
}

static void test_user_and_pool_removal(void **state)
{
    struct fx *f = *state;
    struct db_session *s;
    GError *err = NULL;
    int64_t id = create(f, "bob", "other");

    /* An active session holds its user and its pool. */
    assert_int_equal(db_user_remove(f->db, "root", "bob", &err), -EBUSY);
    assert_non_null(strstr(err->message, "active session"));
    g_clear_error(&err);
    assert_int_equal(db_pool_remove(f->db, "root", "other", &err), -EBUSY);
    g_clear_error(&err);
    move(f, id, "disconnected", "gone");
    assert_int_equal(db_user_remove(f->db, "root", "bob", &err), -EBUSY);
    g_clear_error(&err);
    /* Once logged off, they may go; the row keeps their names. */
    move(f, id, "logged_off", "done");
    assert_int_equal(db_user_remove(f->db, "root", "bob", NULL), 0);
    assert_int_equal(db_pool_remove(f->db, "root", "other", NULL), 0);
    s = get(f, id);
    assert_string_equal(s->user, "bob");
    assert_string_equal(s->pool, "other");
    db_session_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connected_at_and_end_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_resumable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_audit_per_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_and_pool_removal, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
