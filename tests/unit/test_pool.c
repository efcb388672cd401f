/* Unit tests for broker/pool.c: the reconciler, allocation, release and
 * recovery, against libvirt's test driver and a real SQLite file. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libvirt/libvirt.h>
#include <string.h>

#include "broker/conf.h"
#include "broker/pool.h"
#include "db/db.h"
#include "tests/unit/rawdb.h"
#include "vmm/conn.h"
#include "vmm/storage.h"

struct fx {
    char *dir;
    struct conf *cfg;
    struct db *db;
    struct pool_mgr *mgr;
    virConnectPtr conn; /* our own view of the test driver */
};

/* Run the main loop until cond holds or timeout_ms passes. */
static gboolean wait_for(gboolean (*cond)(struct fx *f, const void *arg), struct fx *f, const void *arg,
                         int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

    while (!cond(f, arg)) {
        if (g_get_monotonic_time() > end)
            return FALSE;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    return TRUE;
}

static int count_state(struct fx *f, const char *pool, const char *state)
{
    g_autoptr(GPtrArray) vms = NULL;

    assert_int_equal(db_vm_list(f->db, pool, state, &vms, NULL), 0);
    return (int)vms->len;
}

struct want {
    const char *state;
    int n;
};

static gboolean has_n(struct fx *f, const void *arg)
{
    const struct want *w = arg;
    return count_state(f, "lab", w->state) == w->n;
}

static gboolean total_n(struct fx *f, const void *arg)
{
    return count_state(f, "lab", NULL) == *(const int *)arg;
}

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    g_autofree char *conf_path = NULL, *conf_text = NULL, *db_path = NULL;
    struct db_template t = { .name = "tmpl", .disk_path = "/srv/tmpl.qcow2", .memory_mib = 256,
                             .vcpus = 1, .video = "vga", .firmware = "bios", .os = "linux",
                             .volume = "tmpl.template.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .min_size = 2, .max_size = 3,
                         .spare = 2, .clone = "linked", .protocols = "rdp,vnc", .network = "none" };
    virStoragePoolPtr pool;
    virStorageVolPtr vol;

    f->dir = g_dir_make_tmp("aula-test-pool-XXXXXX", NULL);
    conf_path = g_build_filename(f->dir, "aulad.conf", NULL);
    /* A private storage pool name per test run: the test driver is per
     * connection, but keep the names apart anyway. */
    conf_text = g_strdup_printf("[aulad]\nstate_dir = %s\nlibvirt_uri = test:///default\n"
                                "hypervisor = qemu\nstorage_pool = aula-unit\nallocate_timeout = 5\n"
                                "memory_budget_mib = 4096\n", f->dir);
    g_assert_true(g_file_set_contents(conf_path, conf_text, -1, NULL));
    assert_int_equal(conf_load(conf_path, &f->cfg, NULL), 0);
    db_path = conf_db_path(f->cfg);
    assert_int_equal(db_open(db_path, &f->db, NULL), 0);
    assert_int_equal(db_host_ensure(f->db, "test", "local", "test:///default", NULL), 0);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "alice", NULL, "$y$x", NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "bob", NULL, "$y$x", NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "lab", "alice", NULL, NULL), 0);

    /* test:///default is one shared in-memory host per process while a
     * connection to it is open: make aula's storage pool and the template's
     * volume there before the manager looks. */
    vmm_event_init();
    f->conn = virConnectOpen("test:///default");
    assert_non_null(f->conn);
    {
        g_autofree char *images = g_build_filename(f->dir, "images", NULL);
        assert_int_equal(vmm_storage_pool_ensure(f->conn, "aula-unit", images, NULL), 0);
    }
    pool = virStoragePoolLookupByName(f->conn, "aula-unit");
    assert_non_null(pool);
    vol = virStorageVolCreateXML(pool, "<volume><name>tmpl.template.qcow2</name><capacity unit='MiB'>64</capacity>"
                                       "<target><format type='qcow2'/></target></volume>", 0);
    assert_non_null(vol);
    virStorageVolFree(vol);
    virStoragePoolFree(pool);
    f->mgr = pool_mgr_new(f->db, f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    pool_mgr_free(f->mgr);
    virConnectClose(f->conn);
    db_close(f->db);
    conf_free(f->cfg);
    rawdb_rm_rf(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

static gboolean domain_running(struct fx *f, const char *name)
{
    virDomainPtr dom = virDomainLookupByName(f->conn, name);
    gboolean up = dom && virDomainIsActive(dom) == 1;

    if (dom)
        virDomainFree(dom);
    return up;
}

/* The pool fills to min 2 with 2 running spares, each a linked clone. */
static void test_fill(void **state)
{
    struct fx *f = *state;
    const struct want two_ready = { "ready", 2 };
    struct db_vm *vm = NULL;
    g_autoptr(GError) err = NULL;
    struct vmm_vol_info info = { 0 };

    assert_true(wait_for(has_n, f, &two_ready, 10000));
    assert_int_equal(count_state(f, "lab", NULL), 2);
    assert_int_equal(db_vm_get(f->db, "aula-lab-1", &vm, NULL), 0);
    assert_true(domain_running(f, "aula-lab-1"));
    assert_true(domain_running(f, "aula-lab-2"));
    assert_int_equal(vmm_storage_vol_info(f->conn, "aula-unit", "aula-lab-1.qcow2", &info, &err), 0);
    assert_non_null(info.backing);
    assert_true(g_str_has_suffix(info.backing, "tmpl.template.qcow2"));
    assert_non_null(vm->overlay_path);
    assert_true(g_str_has_suffix(vm->overlay_path, "aula-lab-1.qcow2"));
    assert_true(vm->started_at > 0);
    vmm_vol_info_clear(&info);
    db_vm_free(vm);
}

struct alloc_result {
    gboolean done;
    int r;
    char *vm;
    char *message;
};

static void on_alloc(int r, const GError *err, const char *vm, gpointer data)
{
    struct alloc_result *a = data;

    a->done = TRUE;
    a->r = r;
    a->vm = g_strdup(vm);
    a->message = err ? g_strdup(err->message) : NULL;
}

static gboolean alloc_done(struct fx *f, const void *arg)
{
    return ((const struct alloc_result *)arg)->done;
}

static void allocate(struct fx *f, const char *user, struct alloc_result *a)
{
    memset(a, 0, sizeof(*a));
    pool_mgr_allocate(f->mgr, "test", user, "lab", on_alloc, a);
    assert_true(wait_for(alloc_done, f, a, 10000));
}

static void alloc_clear(struct alloc_result *a)
{
    g_free(a->vm);
    g_free(a->message);
}

/* Allocation takes a spare, the pool makes up for it; release resets the VM
 * to its template and it becomes a spare again. */
static void test_allocate_release(void **state)
{
    struct fx *f = *state;
    const struct want two_ready = { "ready", 2 };
    const int three = 3;
    struct alloc_result a, again, refused;
    struct db_vm *vm = NULL;
    g_autoptr(GError) err = NULL;

    assert_true(wait_for(has_n, f, &two_ready, 10000));
    allocate(f, "alice", &a);
    assert_int_equal(a.r, 0);
    assert_non_null(a.vm);
    assert_int_equal(db_vm_get(f->db, a.vm, &vm, NULL), 0);
    assert_string_equal(vm->state, "assigned");
    assert_string_equal(vm->owner, "alice");
    db_vm_free(vm);
    /* spare 2 again: a third VM appears (max 3). */
    assert_true(wait_for(total_n, f, &three, 10000));
    assert_true(wait_for(has_n, f, &two_ready, 10000));
    /* The same user gets the same VM back. */
    allocate(f, "alice", &again);
    assert_int_equal(again.r, 0);
    assert_string_equal(again.vm, a.vm);
    /* bob is not entitled. */
    allocate(f, "bob", &refused);
    assert_int_equal(refused.r, -EACCES);
    assert_non_null(strstr(refused.message, "not entitled"));

    assert_int_equal(pool_mgr_release(f->mgr, "test", a.vm, &err), 0);
    {
        const struct want three_ready = { "ready", 3 };
        const struct want two_after = { "ready", 2 };
        /* back as a spare, then one surplus spare (3 > spare 2, > min 2) goes */
        assert_true(wait_for(has_n, f, &three_ready, 10000) || wait_for(has_n, f, &two_after, 10000));
        assert_true(wait_for(has_n, f, &two_after, 10000));
    }
    assert_int_equal(pool_mgr_release(f->mgr, "test", a.vm, &err) < 0 ||
                     db_vm_get(f->db, a.vm, &vm, NULL) < 0, TRUE);
    alloc_clear(&a);
    alloc_clear(&again);
    alloc_clear(&refused);
}

/* No spare and no room (max reached): the allocation waits, then times out. */
static void test_allocate_timeout(void **state)
{
    struct fx *f = *state;
    struct db_pool *p = NULL;
    const struct want two_ready = { "ready", 2 };
    struct alloc_result a[3];

    assert_int_equal(db_pool_get(f->db, "lab", &p, NULL), 0);
    p->max_size = 2;
    assert_int_equal(db_pool_update(f->db, "test", "lab", p, NULL), 0);
    db_pool_free(p);
    assert_int_equal(db_entitle(f->db, "test", "lab", "bob", NULL, NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "carol", NULL, "$y$x", NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "lab", "carol", NULL, NULL), 0);
    assert_true(wait_for(has_n, f, &two_ready, 10000));
    allocate(f, "alice", &a[0]);
    allocate(f, "bob", &a[1]);
    assert_int_equal(a[0].r, 0);
    assert_int_equal(a[1].r, 0);
    assert_string_not_equal(a[0].vm, a[1].vm);
    allocate(f, "carol", &a[2]); /* allocate_timeout = 5 s */
    assert_int_equal(a[2].r, -ETIMEDOUT);
    assert_non_null(strstr(a[2].message, "became ready within 5 s"));
    assert_int_equal(count_state(f, "lab", NULL), 2);
    for (int i = 0; i < 3; i++)
        alloc_clear(&a[i]);
}

/* destroy removes a VM (domain and disk); the pool makes a new one. */
static void test_destroy_and_replace(void **state)
{
    struct fx *f = *state;
    const struct want two_ready = { "ready", 2 };
    g_autoptr(GError) err = NULL;
    struct vmm_vol_info info = { 0 };
    virDomainPtr dom;

    assert_true(wait_for(has_n, f, &two_ready, 10000));
    assert_int_equal(pool_mgr_vm_action(f->mgr, "test", "aula-lab-1", "destroy", &err), 0);
    assert_int_equal(pool_mgr_vm_action(f->mgr, "test", "aula-lab-1", "start", &err), -EBUSY);
    g_clear_error(&err);
    pool_mgr_drain(f->mgr);
    dom = virDomainLookupByName(f->conn, "aula-lab-1");
    /* either gone, or already its replacement (the lowest free name is reused) */
    if (dom)
        virDomainFree(dom);
    assert_true(wait_for(has_n, f, &two_ready, 10000));
    assert_int_equal(count_state(f, "lab", NULL), 2);
    assert_int_equal(pool_mgr_vm_action(f->mgr, "test", "aula-lab-2", "frobnicate", &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(pool_mgr_vm_action(f->mgr, "test", "aula-lab-9", "start", &err), -ENOENT);
    (void)info;
}

/* After a crash: a VM left in provisioning is rolled back, a running VM
 * recorded as stopped is taken as running, and a stray disk goes. */
static void test_recovery(void **state)
{
    struct fx *f = *state;
    const struct want two_ready = { "ready", 2 };
    struct db_vm *vm = NULL;
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    struct vmm_vol_info info = { 0 };

    assert_true(wait_for(has_n, f, &two_ready, 10000));
    pool_mgr_free(f->mgr);
    f->mgr = NULL;
    /* As a crash would leave it: a row half provisioned, a leftover disk. */
    assert_int_equal(db_vm_create(f->db, "test", "lab", "local", "52:54:00:00:00:09", &vm, NULL), 0);
    assert_string_equal(vm->name, "aula-lab-3");
    db_vm_free(vm);
    pool = virStoragePoolLookupByName(f->conn, "aula-unit");
    vol = virStorageVolCreateXML(pool, "<volume><name>aula-lab-7.qcow2</name><capacity unit='MiB'>1</capacity>"
                                       "<target><format type='qcow2'/></target></volume>", 0);
    assert_non_null(vol);
    virStorageVolFree(vol);
    virStoragePoolFree(pool);

    f->mgr = pool_mgr_new(f->db, f->cfg);
    {
        const int two = 2;
        assert_true(wait_for(total_n, f, &two, 10000));
    }
    pool_mgr_drain(f->mgr);
    assert_int_equal(db_vm_get(f->db, "aula-lab-3", &vm, NULL), -ENOENT);
    assert_int_equal(vmm_storage_vol_info(f->conn, "aula-unit", "aula-lab-7.qcow2", &info, NULL), -ENOENT);
    assert_int_equal(count_state(f, "lab", "ready"), 2);
}

static gboolean has_error_vm(struct fx *f, const void *arg)
{
    g_autoptr(GPtrArray) vms = NULL;

    if (db_vm_list(f->db, arg, "error", &vms, NULL) < 0)
        return FALSE;
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);
        if (vm->attempts >= 1 && vm->error && strstr(vm->error, "broken.qcow2"))
            return TRUE;
    }
    return FALSE;
}

/* A pool whose VMs cannot be made: they go to state error with the reason
 * and a retry time, and the other pool fills as if nothing happened. */
static void test_errors_do_not_block(void **state)
{
    struct fx *f = *state;
    const struct want two_ready = { "ready", 2 };
    struct db_template t = { .name = "broken", .disk_path = "/srv/b.qcow2", .memory_mib = 128, .vcpus = 1,
                             .video = "vga", .firmware = "bios", .os = "linux", .volume = "broken.qcow2" };
    struct db_pool p = { .name = "bad", .template_name = "broken", .max_size = 2, .spare = 2,
                         .clone = "linked", .protocols = "vnc", .network = "none" };
    g_autoptr(GPtrArray) vms = NULL;

    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    pool_mgr_kick(f->mgr);
    assert_true(wait_for(has_error_vm, f, "bad", 10000));
    assert_true(wait_for(has_n, f, &two_ready, 10000));
    assert_int_equal(db_vm_list(f->db, "bad", NULL, &vms, NULL), 0);
    assert_int_equal(vms->len, 2); /* never more than max, even while failing */
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);
        if (strcmp(vm->state, "error") == 0)
            assert_true(vm->retry_at > vm->state_since);
    }
}

/* A pool with spare 0: a login still gets a desktop, made for it. */
static void test_spare_zero_serves_logins(void **state)
{
    struct fx *f = *state;
    struct db_pool *p = NULL;
    struct alloc_result a;
    const int none = 0;

    assert_int_equal(db_pool_get(f->db, "lab", &p, NULL), 0);
    p->min_size = 0;
    p->spare = 0;
    assert_int_equal(db_pool_update(f->db, "test", "lab", p, NULL), 0);
    db_pool_free(p);
    pool_mgr_kick(f->mgr);
    assert_true(wait_for(total_n, f, &none, 10000));
    allocate(f, "alice", &a);
    assert_int_equal(a.r, 0);
    assert_non_null(a.vm);
    assert_int_equal(count_state(f, "lab", "assigned"), 1);
    alloc_clear(&a);
}

/* The memory budget holds: no VM beyond it, and the pool says why. */
static void test_memory_budget(void **state)
{
    struct fx *f = *state;
    const int one = 1;
    const char *note;

    f->cfg->memory_budget_mib = 300; /* room for one 256 MiB VM */
    pool_mgr_kick(f->mgr);
    assert_true(wait_for(total_n, f, &one, 10000));
    for (int i = 0; i < 200; i++) {
        g_main_context_iteration(NULL, FALSE);
        g_usleep(1000);
    }
    assert_int_equal(count_state(f, "lab", NULL), 1);
    note = pool_mgr_pool_note(f->mgr, "lab");
    assert_non_null(note);
    assert_non_null(strstr(note, "would exceed the memory budget of 300 MiB"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocate_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocate_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_do_not_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_zero_serves_logins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_budget, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
