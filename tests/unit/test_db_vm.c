/* Unit tests for db/vm.c: VM rows, state transitions and the allocator,
 * including many threads allocating from one pool at once. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "db/db.h"

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
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .min_size = 0, .max_size = 40,
                         .spare = 0, .clone = "linked", .protocols = "rdp,vnc" };
    struct db_pool q = p;

    f->dir = g_dir_make_tmp("aula-test-vm-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    assert_int_equal(db_open(f->path, &f->db, NULL), 0);
    assert_int_equal(db_host_ensure(f->db, "test", "local", "test:///default", NULL), 0);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    q.name = "other";
    assert_int_equal(db_pool_add(f->db, "test", &q, NULL), 0);
    assert_int_equal(db_group_add(f->db, "test", "staff", NULL), 0);
    for (int i = 0; i < 40; i++) {
        g_autofree char *u = g_strdup_printf("user%d", i);
        assert_int_equal(db_user_add(f->db, "test", u, NULL, "$y$dummy", NULL), 0);
        assert_int_equal(db_group_add_user(f->db, "test", "staff", u, NULL), 0);
    }
    assert_int_equal(db_user_add(f->db, "test", "eve", NULL, "$y$dummy", NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "lab", NULL, "staff", NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    g_autofree char *wal = g_strconcat(f->path, "-wal", NULL), *shm = g_strconcat(f->path, "-shm", NULL);

    db_close(f->db);
    g_unlink(f->path);
    g_unlink(wal);
    g_unlink(shm);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Create n VMs in lab and make them ready. */
static void make_ready(struct fx *f, int n)
{
    static const char *const from[] = { "provisioning", NULL };

    for (int i = 0; i < n; i++) {
        struct db_vm *vm = NULL;
        assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:00:00:01", &vm, NULL), 0);
        assert_int_equal(db_vm_transition(f->db, "test", vm->name, from, "ready", NULL, 0, NULL), 0);
        db_vm_free(vm);
    }
}

static void test_create_names_and_reuse(void **state)
{
    struct fx *f = *state;
    struct db_vm *a = NULL, *b = NULL, *c = NULL;
    g_autoptr(GError) err = NULL;

    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:aa:bb:01", &a, NULL), 0);
    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:aa:bb:02", &b, NULL), 0);
    assert_string_equal(a->name, "aula-lab-1");
    assert_string_equal(b->name, "aula-lab-2");
    assert_string_equal(a->state, "provisioning");
    assert_true(g_uuid_string_is_valid(a->uuid));
    assert_string_not_equal(a->uuid, b->uuid);
    assert_string_equal(a->host, "local");
    assert_null(a->owner);
    /* A freed number is used again. */
    assert_int_equal(db_vm_delete(f->db, "test", "aula-lab-1", NULL), 0);
    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:aa:bb:03", &c, NULL), 0);
    assert_string_equal(c->name, "aula-lab-1");
    db_vm_free(a);
    db_vm_free(b);
    db_vm_free(c);
    assert_int_equal(db_vm_create(f->db, "test", "nope", "local", "52:54:00:aa:bb:04", &a, &err), -ENOENT);
    assert_non_null(strstr(err->message, "unknown pool 'nope'"));
}

static void test_transitions(void **state)
{
    static const char *const from_prov[] = { "provisioning", NULL };
    static const char *const from_ready[] = { "ready", NULL };
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;

    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:aa:bb:01", &vm, NULL), 0);
    db_vm_free(vm);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", from_ready, "assigned", NULL, 0, &err), -EBUSY);
    assert_non_null(strstr(err->message, "is provisioning"));
    g_clear_error(&err);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", from_prov, "error", "define failed", 30, NULL), 0);
    assert_int_equal(db_vm_get(f->db, "aula-lab-1", &vm, NULL), 0);
    assert_string_equal(vm->state, "error");
    assert_string_equal(vm->error, "define failed");
    assert_int_equal(vm->attempts, 1);
    assert_true(vm->retry_at >= vm->state_since + 30);
    assert_int_equal(vm->started_at, 0);
    db_vm_free(vm);
    /* Retrying (back to provisioning) keeps the count, so the next failure waits longer. */
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", NULL, "provisioning", NULL, 0, NULL), 0);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", NULL, "error", "again", 60, NULL), 0);
    assert_int_equal(db_vm_get(f->db, "aula-lab-1", &vm, NULL), 0);
    assert_int_equal(vm->attempts, 2);
    db_vm_free(vm);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", NULL, "ready", NULL, 0, NULL), 0);
    assert_int_equal(db_vm_get(f->db, "aula-lab-1", &vm, NULL), 0);
    assert_null(vm->error);
    assert_int_equal(vm->attempts, 0);
    assert_true(vm->started_at > 0);
    db_vm_free(vm);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-1", NULL, "bogus", NULL, 0, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(db_vm_transition(f->db, "test", "aula-lab-9", NULL, "ready", NULL, 0, &err), -ENOENT);
    assert_int_equal(db_vm_set_disk(f->db, "aula-lab-1", "aula-lab-1.qcow2", "/x/aula-lab-1.qcow2", NULL), 0);
    assert_int_equal(db_vm_get(f->db, "aula-lab-1", &vm, NULL), 0);
    assert_string_equal(vm->overlay_path, "/x/aula-lab-1.qcow2");
    db_vm_free(vm);
}

static void test_allocate_order(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    struct db_vm *a = NULL, *b = NULL, *c = NULL;
    g_autoptr(GPtrArray) audit = NULL;
    struct db_audit_filter filter = { .user = "eve" };

    /* Nothing ready yet. */
    assert_int_equal(db_vm_allocate(f->db, "test", "user1", "lab", &a, &err), -EAGAIN);
    g_clear_error(&err);
    make_ready(f, 2);
    assert_int_equal(db_vm_allocate(f->db, "test", "user1", "lab", &a, NULL), 0);
    assert_string_equal(a->state, "assigned");
    assert_string_equal(a->owner, "user1");
    /* The same user gets the same VM again (reconnect), not a second one. */
    assert_int_equal(db_vm_allocate(f->db, "test", "user1", "lab", &b, NULL), 0);
    assert_string_equal(a->name, b->name);
    assert_int_equal(db_vm_allocate(f->db, "test", "user2", "lab", &c, NULL), 0);
    assert_string_not_equal(a->name, c->name);
    db_vm_free(b);
    db_vm_free(c);
    assert_int_equal(db_vm_allocate(f->db, "test", "user3", "lab", &b, &err), -EAGAIN);
    g_clear_error(&err);
    /* Not entitled: refused and audited. */
    assert_int_equal(db_vm_allocate(f->db, "test", "eve", "lab", &b, &err), -EACCES);
    assert_non_null(strstr(err->message, "not entitled"));
    g_clear_error(&err);
    assert_int_equal(db_audit_list(f->db, &filter, &audit, NULL), 0);
    assert_int_equal(audit->len, 2); /* user.add and the refusal */
    assert_string_equal(((struct db_audit *)g_ptr_array_index(audit, 1))->outcome, "refused");
    assert_int_equal(db_vm_allocate(f->db, "test", "user1", "other", &b, &err), -EACCES);
    g_clear_error(&err);
    assert_int_equal(db_vm_allocate(f->db, "test", "ghost", "lab", &b, &err), -ENOENT);
    db_vm_free(a);
}

struct race {
    const char *path;
    int index;
    char *got; /* the VM this thread got, or NULL */
    int eagain;
};

static gpointer race_thread(gpointer data)
{
    struct race *r = data;
    g_autofree char *user = g_strdup_printf("user%d", r->index);
    struct db *db = NULL;
    struct db_vm *vm = NULL;
    int rc;

    g_assert_cmpint(db_open(r->path, &db, NULL), ==, 0);
    rc = db_vm_allocate(db, "race", user, "lab", &vm, NULL);
    if (rc == 0)
        r->got = g_strdup(vm->name);
    else if (rc == -EAGAIN)
        r->eagain = 1;
    else
        g_error("unexpected allocate result %d", rc);
    db_vm_free(vm);
    db_close(db);
    return NULL;
}

/* 32 users race for 20 spares: each spare goes to exactly one user. */
static void test_allocate_race(void **state)
{
    struct fx *f = *state;
    struct race races[32];
    GThread *threads[32];
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) assigned = NULL;
    int got = 0, eagain = 0;

    make_ready(f, 20);
    for (int i = 0; i < 32; i++) {
        races[i] = (struct race){ .path = f->path, .index = i };
        threads[i] = g_thread_new("alloc", race_thread, &races[i]);
    }
    for (int i = 0; i < 32; i++)
        g_thread_join(threads[i]);
    for (int i = 0; i < 32; i++) {
        if (races[i].got) {
            assert_false(g_hash_table_contains(seen, races[i].got));
            g_hash_table_add(seen, races[i].got);
            got++;
        }
        eagain += races[i].eagain;
    }
    assert_int_equal(got, 20);
    assert_int_equal(eagain, 12);
    assert_int_equal(db_vm_list(f->db, "lab", "assigned", &assigned, NULL), 0);
    assert_int_equal(assigned->len, 20);
    for (guint i = 0; i < assigned->len; i++)
        assert_non_null(((struct db_vm *)g_ptr_array_index(assigned, i))->owner);
    for (int i = 0; i < 32; i++)
        g_free(races[i].got);
}

static void test_owner_and_list(void **state)
{
    struct fx *f = *state;
    g_autoptr(GPtrArray) all = NULL, ready = NULL;
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;

    make_ready(f, 3);
    assert_int_equal(db_vm_set_owner(f->db, "test", "aula-lab-2", "user5", NULL), 0);
    /* An owned VM is the user's, even when a spare is older. */
    assert_int_equal(db_vm_allocate(f->db, "test", "user5", "lab", &vm, NULL), 0);
    assert_string_equal(vm->name, "aula-lab-2");
    db_vm_free(vm);
    assert_int_equal(db_vm_list(f->db, NULL, NULL, &all, NULL), 0);
    assert_int_equal(all->len, 3);
    assert_int_equal(db_vm_list(f->db, "lab", "ready", &ready, NULL), 0);
    assert_int_equal(ready->len, 3);
    assert_int_equal(db_vm_list(f->db, NULL, "sleepy", &ready, &err), -EINVAL);
    assert_int_equal(db_vm_set_owner(f->db, "test", "aula-lab-2", NULL, NULL), 0);
    assert_int_equal(db_vm_set_owner(f->db, "test", "aula-lab-2", "ghost", &err), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_names_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocate_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocate_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_and_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
