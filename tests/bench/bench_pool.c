/* bench_pool: how fast aula makes and hands out desktops. Prints numbers.
 *
 *   clone+define  N linked clones (qcow2 overlay + domain definition), boot excluded
 *   fill          a pool from empty to N ready (running) spares, through the reconciler
 *   allocate      db_vm_allocate latency (p50/p99) from a pool of ready spares,
 *                 and allocations per second with 32 concurrent requesters
 *
 * Usage: bench_pool [--uri URI] [-n N] [--fill N]
 * The clone and fill parts need libvirt (default qemu:///system, as root);
 * they use a storage pool and domains of their own and remove them. */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/conf.h"
#include "broker/pool.h"
#include "db/db.h"
#include "tests/unit/rawdb.h"
#include "vmm/conn.h"
#include "vmm/domain_xml.h"
#include "vmm/storage.h"

#define STORAGE_POOL "aula-bench"

static char *opt_uri = "qemu:///system";
static int opt_n = 20;
static int opt_fill = 4;

static const GOptionEntry entries[] = {
    { "uri", 0, 0, G_OPTION_ARG_STRING, &opt_uri, "libvirt URI (default qemu:///system)", "URI" },
    { "clones", 'n', 0, G_OPTION_ARG_INT, &opt_n, "Linked clones to make (default 20)", "N" },
    { "fill", 0, 0, G_OPTION_ARG_INT, &opt_fill, "Spares to fill a pool with (default 4; 0 skips)", "N" },
    { NULL },
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[MIN(n - 1, (int)(p * n))];
}

static double now_ms(void)
{
    return (double)g_get_monotonic_time() / 1000.0;
}

/* Make N overlays and domain definitions, timing each; then remove them. */
static int bench_clones(virConnectPtr conn, const char *dir)
{
    g_autofree char *images = g_build_filename(dir, "images", NULL);
    g_autofree double *ms = g_new0(double, opt_n);
    g_autoptr(GError) err = NULL;
    virStoragePoolPtr pool;
    virStorageVolPtr base;
    double total = 0;
    int r = 0;

    if (vmm_storage_pool_ensure(conn, STORAGE_POOL, images, &err) < 0) {
        fprintf(stderr, "bench_pool: %s\n", err->message);
        return 1;
    }
    pool = virStoragePoolLookupByName(conn, STORAGE_POOL);
    base = virStorageVolCreateXML(pool, "<volume><name>base.qcow2</name><capacity unit='GiB'>8</capacity>"
                                        "<target><format type='qcow2'/></target></volume>", 0);
    if (base == NULL) {
        fprintf(stderr, "bench_pool: cannot make the base volume: %s\n", vmm_last_error());
        virStoragePoolFree(pool);
        return 1;
    }
    for (int i = 0; i < opt_n && r == 0; i++) {
        g_autofree char *name = g_strdup_printf("aula-bench-%d", i + 1);
        g_autofree char *volume = g_strconcat(name, ".qcow2", NULL);
        g_autofree char *uuid = g_uuid_string_random(), *mac = vmm_random_mac();
        g_autofree char *path = NULL, *xml = NULL;
        double t0 = now_ms();
        virDomainPtr dom = NULL;

        if (vmm_storage_overlay(conn, STORAGE_POOL, volume, "base.qcow2", &path, &err) == 0) {
            struct vmm_vm_spec spec = { .name = name, .uuid = uuid, .mac = mac,
                                        .domain_type = VMM_HV_QEMU, .memory_mib = 256, .vcpus = 1,
                                        .video = "vga", .firmware = "bios", .os = "linux",
                                        .disk_path = path, .network = "none" };
            if (vmm_domain_xml(&spec, &xml, &err) == 0)
                dom = virDomainDefineXML(conn, xml);
        }
        if (dom == NULL) {
            fprintf(stderr, "bench_pool: clone %d: %s\n", i + 1, err ? err->message : vmm_last_error());
            r = 1;
            break;
        }
        ms[i] = now_ms() - t0;
        total += ms[i];
        virDomainFree(dom);
    }
    if (r == 0) {
        double mean = total / opt_n;
        printf("clone+define: %d linked clones in %.1f ms: mean %.2f ms, p50 %.2f ms, p99 %.2f ms per VM"
               " (target <= 50 ms)\n",
               opt_n, total, mean, percentile(ms, opt_n, 0.5), percentile(ms, opt_n, 0.99));
    }
    for (int i = 0; i < opt_n; i++) {
        g_autofree char *name = g_strdup_printf("aula-bench-%d", i + 1);
        g_autofree char *volume = g_strconcat(name, ".qcow2", NULL);
        virDomainPtr dom = virDomainLookupByName(conn, name);
        if (dom) {
            virDomainUndefine(dom);
            virDomainFree(dom);
        }
        vmm_storage_delete(conn, STORAGE_POOL, volume, NULL);
    }
    virStorageVolDelete(base, 0);
    virStorageVolFree(base);
    virStoragePoolFree(pool);
    return r;
}

static gboolean n_ready(struct db *db, int n)
{
    g_autoptr(GPtrArray) vms = NULL;

    return db_vm_list(db, "bench", "ready", &vms, NULL) == 0 && (int)vms->len >= n;
}

/* A pool from empty to opt_fill running spares, through aula's reconciler. */
static int bench_fill(const char *dir)
{
    g_autofree char *conf_path = g_build_filename(dir, "aulad.conf", NULL);
    g_autofree char *text = g_strdup_printf(
        "[aulad]\nstate_dir = %s\nlibvirt_uri = %s\nhypervisor = qemu\nstorage_pool = " STORAGE_POOL
        "\nparallel_provisioning = 2\nlog_level = warning\n", dir, opt_uri);
    struct db_template t = { .name = "bench", .disk_path = "/dev/null", .memory_mib = 128, .vcpus = 1,
                             .video = "vga", .firmware = "bios", .os = "linux", .volume = "base.qcow2" };
    struct db_pool p = { .name = "bench", .template_name = "bench", .min_size = 0,
                         .max_size = opt_fill, .spare = 0, .clone = "linked", .protocols = "vnc",
                         .network = "none" };
    g_autofree char *db_path = NULL;
    struct conf *cfg = NULL;
    struct db *db = NULL;
    struct pool_mgr *mgr;
    virConnectPtr conn;
    virStoragePoolPtr pool;
    virStorageVolPtr base;
    double t0, t1;
    int r = 0;

    g_assert_true(g_file_set_contents(conf_path, text, -1, NULL));
    if (conf_load(conf_path, &cfg, NULL) < 0)
        return 1;
    db_path = conf_db_path(cfg);
    if (db_open(db_path, &db, NULL) < 0 || db_host_ensure(db, "bench", "local", opt_uri, NULL) < 0 ||
        db_template_add(db, "bench", &t, NULL) < 0 || db_pool_add(db, "bench", &p, NULL) < 0) {
        fprintf(stderr, "bench_pool: cannot prepare the database\n");
        return 1;
    }
    conn = virConnectOpen(opt_uri);
    pool = virStoragePoolLookupByName(conn, STORAGE_POOL);
    base = virStorageVolCreateXML(pool, "<volume><name>base.qcow2</name><capacity unit='MiB'>64</capacity>"
                                        "<target><format type='qcow2'/></target></volume>", 0);
    mgr = pool_mgr_new(db, cfg);
    /* Let it connect and settle with no spares wanted, then ask for them. */
    for (int i = 0; i < 200; i++)
        g_main_context_iteration(NULL, FALSE), g_usleep(1000);
    p.spare = opt_fill;
    db_pool_update(db, "bench", "bench", &p, NULL);
    t0 = now_ms();
    pool_mgr_kick(mgr);
    while (!n_ready(db, opt_fill) && now_ms() - t0 < 120000)
        g_main_context_iteration(NULL, TRUE);
    t1 = now_ms();
    if (n_ready(db, opt_fill))
        printf("fill: %d ready spares (running domains, TCG, 128 MiB) in %.0f ms (%.0f ms per VM, %d at a time)\n",
               opt_fill, t1 - t0, (t1 - t0) / opt_fill, cfg->parallel_provisioning);
    else
        r = fprintf(stderr, "bench_pool: the pool did not fill within 120 s\n") > 0;
    /* Empty the pool again, through the reconciler. */
    p.spare = 0;
    p.max_size = 1;
    db_pool_update(db, "bench", "bench", &p, NULL);
    pool_mgr_kick(mgr);
    t0 = now_ms();
    while (now_ms() - t0 < 60000) {
        g_autoptr(GPtrArray) vms = NULL;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(2000);
        if (db_vm_list(db, "bench", NULL, &vms, NULL) == 0 && vms->len == 0)
            break;
    }
    pool_mgr_free(mgr);
    if (base) {
        virStorageVolDelete(base, 0);
        virStorageVolFree(base);
    }
    virStoragePoolFree(pool);
    virConnectClose(conn);
    db_close(db);
    conf_free(cfg);
    return r;
}

struct racer {
    const char *path;
    int index, per_thread;
    double *ms;
};

static gpointer racer_thread(gpointer data)
{
    struct racer *rc = data;
    struct db *db = NULL;

    g_assert_cmpint(db_open(rc->path, &db, NULL), ==, 0);
    for (int i = 0; i < rc->per_thread; i++) {
        g_autofree char *user = g_strdup_printf("u%d", rc->index * rc->per_thread + i);
        struct db_vm *vm = NULL;
        double t0 = now_ms();
        int r = db_vm_allocate(db, "bench", user, "lab", &vm, NULL);
        rc->ms[i] = now_ms() - t0;
        g_assert_cmpint(r, ==, 0);
        db_vm_free(vm);
    }
    db_close(db);
    return NULL;
}

/* Fill a database with ready VMs and users, for the allocator. */
static struct db *allocation_db(const char *path, int vms, int users)
{
    struct db_template t = { .name = "t", .disk_path = "/dev/null", .memory_mib = 128, .vcpus = 1,
                             .video = "vga", .firmware = "bios", .os = "linux", .volume = "t.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "t", .max_size = 10000, .clone = "linked",
                         .protocols = "vnc" };
    static const char *const from[] = { "provisioning", NULL };
    struct db *db = NULL;

    g_assert_cmpint(db_open(path, &db, NULL), ==, 0);
    db_host_ensure(db, "bench", "local", "test:///default", NULL);
    db_template_add(db, "bench", &t, NULL);
    db_pool_add(db, "bench", &p, NULL);
    db_group_add(db, "bench", "all", NULL);
    db_entitle(db, "bench", "lab", NULL, "all", NULL);
    for (int i = 0; i < users; i++) {
        g_autofree char *u = g_strdup_printf("u%d", i);
        db_user_add(db, "bench", u, NULL, "$y$x", NULL);
        db_group_add_user(db, "bench", "all", u, NULL);
    }
    for (int i = 0; i < vms; i++) {
        struct db_vm *vm = NULL;
        db_vm_create(db, "bench", "lab", "local", "52:54:00:00:00:01", &vm, NULL);
        db_vm_transition(db, "bench", vm->name, from, "ready", NULL, 0, NULL);
        db_vm_free(vm);
    }
    return db;
}

struct broker_req {
    double t0, ms;
    gboolean done;
};

static void on_broker_alloc(int r, const GError *err, const char *vm, gpointer data)
{
    struct broker_req *q = data;

    g_assert_cmpint(r, ==, 0);
    q->ms = now_ms() - q->t0;
    q->done = TRUE;
}

/* As aulad does it: one database connection on the main loop, 32 requests
 * arriving together, each answered through pool_mgr_allocate. */
static void bench_broker_allocate(const char *dir, const char *path)
{
    enum { REQS = 32, ROUNDS = 16 };
    g_autofree char *conf_path = g_build_filename(dir, "alloc.conf", NULL);
    g_autofree char *text = g_strdup_printf("[aulad]\nstate_dir = %s\nlibvirt_uri = test:///default\n"
                                            "hypervisor = qemu\nstorage_pool = aula-bench-alloc\n"
                                            "log_level = warning\n", dir);
    g_autofree double *ms = g_new0(double, REQS * ROUNDS);
    struct broker_req reqs[REQS];
    struct conf *cfg = NULL;
    struct db *db = NULL;
    struct pool_mgr *mgr;
    double t0, elapsed;

    g_assert_true(g_file_set_contents(conf_path, text, -1, NULL));
    g_assert_cmpint(conf_load(conf_path, &cfg, NULL), ==, 0);
    g_assert_cmpint(db_open(path, &db, NULL), ==, 0);
    mgr = pool_mgr_new(db, cfg);
    t0 = now_ms();
    for (int round = 0; round < ROUNDS; round++) {
        /* They arrive together: each one's wait includes those before it. */
        double arrival = now_ms();
        for (int i = 0; i < REQS; i++) {
            g_autofree char *user = g_strdup_printf("u%d", round * REQS + i);
            reqs[i] = (struct broker_req){ .t0 = arrival };
            pool_mgr_allocate(mgr, "bench", user, "lab", on_broker_alloc, &reqs[i]);
        }
        for (int i = 0; i < REQS; i++) {
            while (!reqs[i].done)
                g_main_context_iteration(NULL, TRUE);
            ms[round * REQS + i] = reqs[i].ms;
        }
    }
    elapsed = now_ms() - t0;
    printf("allocate (in aulad: one connection, main loop): %d rounds of %d concurrent requests:"
           " %.0f allocations/s, latency from arrival p50 %.2f ms, p99 %.2f ms\n",
           ROUNDS, REQS, REQS * ROUNDS / (elapsed / 1000.0), percentile(ms, REQS * ROUNDS, 0.5),
           percentile(ms, REQS * ROUNDS, 0.99));
    pool_mgr_free(mgr);
    db_close(db);
    conf_free(cfg);
}

static void bench_allocate(const char *dir)
{
    enum { SERIAL = 500, THREADS = 32, PER_THREAD = 16 };
    g_autofree char *path1 = g_build_filename(dir, "alloc1.db", NULL);
    g_autofree char *path2 = g_build_filename(dir, "alloc2.db", NULL);
    g_autofree char *path3 = g_build_filename(dir, "alloc3.db", NULL);
    g_autofree double *ms = g_new0(double, THREADS * PER_THREAD);
    struct racer racers[THREADS];
    GThread *threads[THREADS];
    struct db *db = allocation_db(path1, SERIAL, SERIAL);
    double t0, elapsed;

    for (int i = 0; i < SERIAL; i++) {
        g_autofree char *user = g_strdup_printf("u%d", i);
        struct db_vm *vm = NULL;
        double t = now_ms();
        g_assert_cmpint(db_vm_allocate(db, "bench", user, "lab", &vm, NULL), ==, 0);
        ms[i] = now_ms() - t;
        db_vm_free(vm);
    }
    printf("allocate: %d allocations of a ready spare, one at a time: p50 %.3f ms, p99 %.3f ms (target p99 <= 5 ms)\n",
           SERIAL, percentile(ms, SERIAL, 0.5), percentile(ms, SERIAL, 0.99));
    db_close(db);

    db = allocation_db(path2, THREADS * PER_THREAD, THREADS * PER_THREAD);
    db_close(db);
    t0 = now_ms();
    for (int i = 0; i < THREADS; i++) {
        racers[i] = (struct racer){ .path = path2, .index = i, .per_thread = PER_THREAD,
                                    .ms = ms + i * PER_THREAD };
        threads[i] = g_thread_new("alloc", racer_thread, &racers[i]);
    }
    for (int i = 0; i < THREADS; i++)
        g_thread_join(threads[i]);
    elapsed = now_ms() - t0;
    printf("allocate (separate connections, for comparison): %d requesters, %d allocations in %.0f ms: %.0f allocations/s,"
           " latency p50 %.2f ms, p99 %.2f ms (SQLite's write lock is not fair)\n",
           THREADS, THREADS * PER_THREAD, elapsed, THREADS * PER_THREAD / (elapsed / 1000.0),
           percentile(ms, THREADS * PER_THREAD, 0.5), percentile(ms, THREADS * PER_THREAD, 0.99));

    db = allocation_db(path3, 32 * 16, 32 * 16);
    db_close(db);
    bench_broker_allocate(dir, path3);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- time aula's clones, pool fill and allocation");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    virConnectPtr conn;
    int r = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || opt_n < 1 || opt_fill < 0) {
        fprintf(stderr, "bench_pool: %s\n", err ? err->message : "bad counts");
        return 2;
    }
    dir = g_dir_make_tmp("aula-bench-XXXXXX", NULL);
    g_chmod(dir, 0755);
    vmm_event_init();
    bench_allocate(dir);
    conn = virConnectOpen(opt_uri);
    if (conn == NULL) {
        printf("clone+define, fill: SKIP: cannot connect to %s: %s\n", opt_uri, vmm_last_error());
    } else {
        r = bench_clones(conn, dir);
        if (r == 0 && opt_fill > 0)
            r = bench_fill(dir);
        {
            virStoragePoolPtr pool = virStoragePoolLookupByName(conn, STORAGE_POOL);
            if (pool) {
                virStoragePoolDestroy(pool);
                virStoragePoolUndefine(pool);
                virStoragePoolFree(pool);
            }
        }
        virConnectClose(conn);
    }
    rawdb_rm_rf(dir);
    return r;
}
