/* pool: the reconciler, VM operations, allocation and release. See pool.h. */
#include "config.h"

#include "broker/pool.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <string.h>

#include "broker/conf.h"
#include "db/db.h"
#include "vmm/conn.h"
#include "vmm/domain_xml.h"
#include "vmm/host.h"
#include "vmm/snapshot.h"
#include "vmm/storage.h"

#define POOL_ERROR (g_quark_from_static_string("aula-pool-error"))
#define HOST "local"
#define ACTOR "aulad"
#define RECONCILE_INTERVAL_S 5
/* Back-off after a failed VM operation: 10 s, 20 s, ... at most 5 min. */
#define RETRY_BASE_S 10
#define RETRY_MAX_S 300

enum op { OP_PROVISION, OP_RECYCLE, OP_START, OP_STOP, OP_REBOOT, OP_DELETE, OP_DELETE_UNKNOWN, OP_IMPORT,
          OP_SNAPSHOT, OP_BACKUP };
static const char *const op_names[] = { "provision", "reset", "start", "stop", "reboot", "remove",
                                        "remove unknown domain", "import", "snapshot", "backup" };

struct pool_mgr {
    struct db *db;
    const struct conf *cfg;
    struct vmm_conn *vconn;
    char *images_dir;
    char *logs_dir;
    GThreadPool *workers;
    GHashTable *busy;          /* VM name -> op name of the job in flight */
    GHashTable *notes;         /* pool -> why it is held back */
    GHashTable *importing;     /* template names being imported */
    GHashTable *delete_retry;  /* VM name -> when a failed removal may be tried again (µs) */
    GList *waiters;            /* struct waiter *, allocations waiting for a VM */
    guint reconcile_source;
    guint tick_source;
    int in_flight;
    gboolean synced;           /* the database was reconciled with libvirt since connecting */
    struct vmm_host_info *host; /* facts of the host at the last connect, or NULL */
    gboolean stopping;         /* aulad is stopping: no new work */
    char *host_error;          /* why the host cannot be used, or NULL */
    pool_vm_down_fn vm_down;   /* told when a user's VM stops */
    gpointer vm_down_data;
};

/* One VM operation, done in a worker thread. */
struct job {
    struct pool_mgr *mgr;
    enum op op;
    virConnectPtr conn;      /* a reference for the worker */
    char *vm;                /* the VM's (or unknown domain's) name */
    char *actor;
    char *xml;               /* OP_PROVISION: the domain */
    char *volume;            /* the VM's disk volume */
    char *base;              /* the template's volume */
    gboolean full_clone;
    gboolean start;          /* start the VM once its disk is made */
    char *serial_log;
    struct db_template *tmpl; /* OP_IMPORT: the template to record; sources in disk_path etc. */
    char *src_kernel, *src_initrd;
    char *snap_action, *snap_name; /* OP_SNAPSHOT */
    char *dest;                    /* OP_BACKUP */
    pool_done_fn done;
    gpointer done_data;
    /* results */
    int r;
    GError *error;
    char *path;
};

struct waiter {
    struct pool_mgr *mgr;
    char *actor, *user, *pool;
    gboolean start_tried; /* the user's own VM was started for this login */
    pool_alloc_fn done;
    gpointer data;
    guint timeout;
};

static void reconcile_soon(struct pool_mgr *mgr);

static void job_free(struct job *j)
{
    if (j->conn)
        virConnectClose(j->conn);
    g_free(j->vm);
    g_free(j->actor);
    g_free(j->xml);
    g_free(j->volume);
    g_free(j->base);
    g_free(j->serial_log);
    db_template_free(j->tmpl);
    g_free(j->src_kernel);
    g_free(j->src_initrd);
    g_free(j->snap_action);
    g_free(j->snap_name);
    g_free(j->dest);
    g_clear_error(&j->error);
    g_free(j->path);
    g_free(j);
}

static int job_fail(struct job *j, int err, const char *what)
{
    g_set_error(&j->error, POOL_ERROR, err, "%s %s: %s", what, j->vm, vmm_last_error());
    return -err;
}

/* ---- worker side: libvirt calls only, no database ---- */

static virDomainPtr find_domain(struct job *j)
{
    return virDomainLookupByName(j->conn, j->vm);
}

/* Power off the domain if it runs. */
static int power_off(struct job *j, virDomainPtr dom)
{
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
        return job_fail(j, EIO, "cannot power off");
    return 0;
}

static int make_disk(struct job *j)
{
    const char *pool = j->mgr->cfg->storage_pool;
    int r;

    r = vmm_storage_delete(j->conn, pool, j->volume, &j->error);
    if (r == 0)
        r = j->full_clone ? vmm_storage_copy(j->conn, pool, j->volume, j->base, &j->path, &j->error)
                          : vmm_storage_overlay(j->conn, pool, j->volume, j->base, &j->path, &j->error);
    return r;
}

static int start_domain(struct job *j, virDomainPtr dom)
{
    if (virDomainIsActive(dom) == 1)
        return 0;
    if (virDomainCreate(dom) < 0)
        return job_fail(j, EIO, "cannot start");
    return 0;
}

static int run_provision(struct job *j)
{
    virDomainPtr dom = NULL;
    int r = make_disk(j);

    if (r == 0) {
        dom = virDomainDefineXML(j->conn, j->xml);
        if (dom == NULL)
            r = job_fail(j, EIO, "cannot define");
    }
    if (r == 0 && j->start)
        r = start_domain(j, dom);
    if (dom)
        virDomainFree(dom);
    return r;
}

static int run_recycle(struct job *j)
{
    virDomainPtr dom = find_domain(j);
    int r = 0;

    if (dom == NULL)
        return job_fail(j, ENOENT, "no domain for");
    r = power_off(j, dom);
    if (r == 0)
        r = make_disk(j);
    if (r == 0 && j->start)
        r = start_domain(j, dom);
    virDomainFree(dom);
    return r;
}

static int run_simple(struct job *j)
{
    virDomainPtr dom = find_domain(j);
    int r = 0;

    if (dom == NULL)
        return job_fail(j, ENOENT, "no domain for");
    if (j->op == OP_START)
        r = start_domain(j, dom);
    else if (j->op == OP_STOP && virDomainShutdown(dom) < 0)
        r = job_fail(j, EIO, "cannot shut down");
    else if (j->op == OP_REBOOT && virDomainReboot(dom, 0) < 0)
        r = job_fail(j, EIO, "cannot reboot");
    virDomainFree(dom);
    return r;
}

/* Remove the domain (if any) and the disk (if named). */
static int run_delete(struct job *j)
{
    virDomainPtr dom = find_domain(j);
    int r = 0;

    if (dom) {
        r = power_off(j, dom);
        if (r == 0 && virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_NVRAM |
                                                      VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                                      VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0 &&
            virDomainUndefine(dom) < 0)
            r = job_fail(j, EIO, "cannot undefine");
        virDomainFree(dom);
    }
    if (r == 0 && j->volume)
        r = vmm_storage_delete(j->conn, j->mgr->cfg->storage_pool, j->volume, &j->error);
    if (r == 0 && j->serial_log)
        (void)g_remove(j->serial_log);
    return r;
}

static int run_import(struct job *j)
{
    const char *pool = j->mgr->cfg->storage_pool;
    struct db_template *t = j->tmpl;
    int r;

    r = vmm_storage_import(j->conn, pool, t->disk_path, t->volume, "qcow2", &j->error);
    if (r == 0 && j->src_kernel)
        r = vmm_storage_import(j->conn, pool, j->src_kernel, t->kernel_volume, "raw", &j->error);
    if (r == 0 && j->src_initrd)
        r = vmm_storage_import(j->conn, pool, j->src_initrd, t->initrd_volume, "raw", &j->error);
    if (r < 0) {
        /* Leave nothing half-imported behind. */
        vmm_storage_delete(j->conn, pool, t->volume, NULL);
        if (t->kernel_volume && *t->kernel_volume)
            vmm_storage_delete(j->conn, pool, t->kernel_volume, NULL);
        if (t->initrd_volume && *t->initrd_volume)
            vmm_storage_delete(j->conn, pool, t->initrd_volume, NULL);
    }
    return r;
}

static gboolean job_finish(gpointer data);

static void worker(gpointer data, gpointer user_data)
{
    struct job *j = data;

    switch (j->op) {
    case OP_PROVISION: j->r = run_provision(j); break;
    case OP_RECYCLE: j->r = run_recycle(j); break;
    case OP_START:
    case OP_STOP:
    case OP_REBOOT: j->r = run_simple(j); break;
    case OP_DELETE:
    case OP_DELETE_UNKNOWN: j->r = run_delete(j); break;
    case OP_IMPORT: j->r = run_import(j); break;
    case OP_SNAPSHOT:
        if (strcmp(j->snap_action, "create") == 0)
            j->r = vmm_snapshot_create(j->conn, j->vm, j->snap_name, &j->error);
        else if (strcmp(j->snap_action, "revert") == 0)
            j->r = vmm_snapshot_revert(j->conn, j->vm, j->snap_name, &j->error);
        else
            j->r = vmm_snapshot_delete(j->conn, j->vm, j->snap_name, &j->error);
        break;
    case OP_BACKUP:
        j->r = vmm_backup(j->conn, j->vm, j->mgr->cfg->storage_pool, j->volume, j->dest, &j->error);
        break;
    }
    /* Not g_main_context_invoke: from a thread with no context of its own it
     * may run job_finish right here, and the database is the main loop's. */
    g_idle_add(job_finish, j);
}

/* ---- main-loop side ---- */

static struct job *job_new(struct pool_mgr *mgr, enum op op, const char *vm, const char *actor)
{
    struct job *j = g_new0(struct job, 1);

    j->mgr = mgr;
    j->op = op;
    j->vm = g_strdup(vm);
    j->actor = g_strdup(actor ? actor : ACTOR);
    return j;
}

/* Hand a job to the workers; FALSE (and the job freed) without libvirt. */
static gboolean job_queue(struct pool_mgr *mgr, struct job *j)
{
    virConnectPtr conn = vmm_conn_get(mgr->vconn);

    if (conn == NULL) {
        job_free(j);
        return FALSE;
    }
    virConnectRef(conn);
    j->conn = conn;
    if (j->op != OP_IMPORT && j->vm)
        g_hash_table_insert(mgr->busy, g_strdup(j->vm), (gpointer)op_names[j->op]);
    mgr->in_flight++;
    g_debug("queued %s of %s", op_names[j->op], j->vm ? j->vm : j->tmpl->name);
    g_thread_pool_push(mgr->workers, j, NULL);
    return TRUE;
}

static gboolean is_busy(struct pool_mgr *mgr, const char *vm)
{
    return g_hash_table_contains(mgr->busy, vm);
}

static int64_t retry_after(int64_t attempts)
{
    int64_t s = RETRY_BASE_S;

    for (int64_t i = 0; i < attempts && s < RETRY_MAX_S; i++)
        s *= 2;
    return MIN(s, RETRY_MAX_S);
}

/* Record a failed operation on a VM: state error, with its reason and a retry time. */
static void vm_failed(struct pool_mgr *mgr, struct job *j)
{
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;
    int64_t attempts = 0;
    gboolean vm_owned = FALSE;

    /* Spares are retried by the reconciler; an owned VM waits for its owner or an admin. */
    if (db_vm_get(mgr->db, j->vm, &vm, NULL) == 0) {
        attempts = vm->attempts;
        vm_owned = vm->owner != NULL;
    }
    db_vm_free(vm);
    if (vm_owned)
        g_warning("VM %s: %s failed: %s", j->vm, op_names[j->op], j->error ? j->error->message : "unknown error");
    else
        g_warning("VM %s: %s failed: %s (retrying in %" G_GINT64_FORMAT " s)", j->vm, op_names[j->op],
                  j->error ? j->error->message : "unknown error", retry_after(attempts));
    if (db_vm_transition(mgr->db, j->actor, j->vm, NULL, "error",
                         j->error ? j->error->message : "unknown error", retry_after(attempts), &err) < 0)
        g_warning("VM %s: %s", j->vm, err->message);
}

/* Move a VM, logging (not failing) when it had moved on meanwhile. */
static void vm_move(struct pool_mgr *mgr, const char *actor, const char *vm, const char *const *from,
                    const char *to)
{
    g_autoptr(GError) err = NULL;

    if (db_vm_transition(mgr->db, actor, vm, from, to, NULL, 0, &err) < 0)
        g_info("VM %s: not moved to %s: %s", vm, to, err->message);
    else
        g_debug("VM %s: %s", vm, to);
}

static void import_finish(struct pool_mgr *mgr, struct job *j)
{
    g_autoptr(GError) err = NULL;
    int r = j->r;

    g_hash_table_remove(mgr->importing, j->tmpl->name);
    if (r == 0) {
        r = db_template_add(mgr->db, j->actor, j->tmpl, &err);
        if (r < 0) {
            virConnectPtr conn = vmm_conn_get(mgr->vconn);
            if (conn)
                vmm_storage_delete(conn, mgr->cfg->storage_pool, j->tmpl->volume, NULL);
        } else {
            g_message("%s added template %s (imported %s)", j->actor, j->tmpl->name, j->tmpl->disk_path);
        }
    }
    j->done(r, r == 0 ? NULL : err ? err : j->error, j->done_data);
}

static void service_waiters(struct pool_mgr *mgr);

/* Events for a busy VM are not acted on; after a long job (a backup, a
 * snapshot, a revert) see whether the domain still runs as recorded. */
static void recheck_domain(struct pool_mgr *mgr, const char *name)
{
    static const char *const running[] = { "ready", "assigned", "in_use", NULL };
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    virDomainPtr dom = conn ? virDomainLookupByName(conn, name) : NULL;
    struct db_vm *vm = NULL;

    if (dom && virDomainIsActive(dom) == 0 && db_vm_get(mgr->db, name, &vm, NULL) == 0 &&
        g_strv_contains(running, vm->state)) {
        g_message("VM %s is no longer running", name);
        vm_move(mgr, ACTOR, name, running, "stopped");
    }
    db_vm_free(vm);
    if (dom)
        virDomainFree(dom);
}

static gboolean job_finish(gpointer data)
{
    static const char *const any_prov[] = { "provisioning", NULL };
    static const char *const any_recycle[] = { "recycling", NULL };
    static const char *const startable[] = { "stopped", "starting", "error", "ready", NULL };
    struct job *j = data;
    struct pool_mgr *mgr = j->mgr;
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;

    mgr->in_flight--;
    if (j->op != OP_IMPORT && j->vm)
        g_hash_table_remove(mgr->busy, j->vm);
    if (j->op == OP_IMPORT) {
        import_finish(mgr, j);
    } else if (j->op == OP_SNAPSHOT || j->op == OP_BACKUP) {
        g_autofree char *what = j->op == OP_BACKUP ? g_strdup("vm.backup")
                                                  : g_strdup_printf("vm.snapshot.%s", j->snap_action);
        const char *detail = j->op == OP_BACKUP ? j->dest : j->snap_name;
        /* Done or failed is audited; a refusal (a bad or taken name, a
         * missing snapshot or path) changes nothing and is only logged. */
        if ((j->r == 0 || j->r == -EIO) && db_vm_get(mgr->db, j->vm, &vm, NULL) == 0)
            db_audit_add(mgr->db, j->actor, what, j->vm, vm->owner, vm->pool, j->r == 0 ? "ok" : "failed",
                         detail, NULL);
        if (j->r == 0)
            g_message("%s: %s of VM %s done (%s)", j->actor, what, j->vm, detail);
        else
            g_warning("%s: %s of VM %s failed: %s", j->actor, what, j->vm, j->error->message);
        j->done(j->r, j->error, j->done_data);
        recheck_domain(mgr, j->vm);
    } else if (j->op == OP_DELETE_UNKNOWN) {
        if (j->r < 0)
            g_warning("cannot remove unknown domain %s: %s", j->vm, j->error->message);
        else
            g_message("removed unknown domain %s", j->vm);
    } else if (j->r < 0 && j->op == OP_DELETE) {
        /* Still to be removed, not re-made: try again in a while. */
        gint64 *when = g_new(gint64, 1);
        *when = g_get_monotonic_time() + RETRY_BASE_S * G_USEC_PER_SEC;
        g_hash_table_insert(mgr->delete_retry, g_strdup(j->vm), when);
        g_warning("VM %s: removal failed: %s (retrying in %d s)", j->vm, j->error->message, RETRY_BASE_S);
    } else if (j->r < 0 && j->op != OP_STOP && j->op != OP_REBOOT) {
        vm_failed(mgr, j);
    } else if (j->r < 0) {
        g_warning("VM %s: %s failed: %s", j->vm, op_names[j->op], j->error->message);
    } else {
        switch (j->op) {
        case OP_PROVISION:
            if (db_vm_set_disk(mgr->db, j->vm, j->volume, j->path, &err) < 0)
                g_warning("VM %s: %s", j->vm, err->message);
            vm_move(mgr, j->actor, j->vm, any_prov, j->start ? "ready" : "stopped");
            break;
        case OP_RECYCLE:
            db_vm_set_disk(mgr->db, j->vm, j->volume, j->path, NULL);
            if (db_vm_get(mgr->db, j->vm, &vm, NULL) == 0)
                vm_move(mgr, j->actor, j->vm, any_recycle, vm->owner ? "assigned" : "ready");
            break;
        case OP_START:
            if (db_vm_get(mgr->db, j->vm, &vm, NULL) == 0)
                vm_move(mgr, j->actor, j->vm, startable, vm->owner ? "assigned" : "ready");
            break;
        case OP_DELETE:
            g_hash_table_remove(mgr->delete_retry, j->vm);
            if (db_vm_delete(mgr->db, j->actor, j->vm, &err) < 0)
                g_warning("VM %s: %s", j->vm, err->message);
            else
                g_message("VM %s removed", j->vm);
            break;
        default:
            break;
        }
    }
    db_vm_free(vm);
    job_free(j);
    service_waiters(mgr);
    reconcile_soon(mgr);
    return G_SOURCE_REMOVE;
}

/* ---- building VM operations ---- */

static char *images_path(struct pool_mgr *mgr, const char *volume)
{
    return g_build_filename(mgr->images_dir, volume, NULL);
}

static char *serial_log_path(struct pool_mgr *mgr, const char *vm)
{
    g_autofree char *file = g_strconcat(vm, ".serial.log", NULL);
    return g_build_filename(mgr->logs_dir, file, NULL);
}

/* A provision or reset job for vm (pool and template are read here). */
static struct job *disk_job(struct pool_mgr *mgr, enum op op, const struct db_vm *vm,
                            const char *actor, GError **error)
{
    struct db_pool *pool = NULL;
    struct db_template *t = NULL;
    struct job *j = NULL;
    int r;

    r = db_pool_get(mgr->db, vm->pool, &pool, error);
    if (r == 0)
        r = db_template_get(mgr->db, pool->template_name, &t, error);
    if (r == 0 && (t->volume == NULL || *t->volume == '\0')) {
        g_set_error(error, POOL_ERROR, ENOENT, "template %s has no imported disk", t->name);
        r = -ENOENT;
    }
    if (r == 0) {
        g_autofree char *kernel = *t->kernel_volume ? images_path(mgr, t->kernel_volume) : NULL;
        g_autofree char *initrd = *t->initrd_volume ? images_path(mgr, t->initrd_volume) : NULL;
        g_autofree char *volume = g_strconcat(vm->name, ".qcow2", NULL);
        g_autofree char *disk = images_path(mgr, volume);
        g_autofree char *serial = serial_log_path(mgr, vm->name);
        struct vmm_vm_spec spec = {
            .name = vm->name, .uuid = vm->uuid, .mac = vm->mac,
            .domain_type = mgr->host ? mgr->host->domain_type : VMM_HV_QEMU, .memory_mib = t->memory_mib, .vcpus = t->vcpus,
            .video = t->video, .firmware = t->firmware, .os = t->os,
            .disk_path = disk, .kernel = kernel, .initrd = initrd,
            .cmdline = *t->cmdline ? t->cmdline : NULL,
            .network = pool->network, .vlan = (int)pool->vlan, .serial_log = serial,
        };
        j = job_new(mgr, op, vm->name, actor);
        j->volume = g_strdup(volume);
        j->base = g_strdup(t->volume);
        j->full_clone = strcmp(pool->clone, "full") == 0;
        j->start = TRUE;
        j->serial_log = g_strdup(serial);
        if (op == OP_PROVISION && vmm_domain_xml(&spec, &j->xml, error) < 0) {
            job_free(j);
            j = NULL;
        }
    }
    db_pool_free(pool);
    db_template_free(t);
    return j;
}

/* Queue a provision or reset of vm; on failure to even build it, record the error. */
static void queue_disk_job(struct pool_mgr *mgr, enum op op, const struct db_vm *vm, const char *actor)
{
    g_autoptr(GError) err = NULL;
    struct job *j = disk_job(mgr, op, vm, actor, &err);

    if (j == NULL) {
        g_warning("VM %s: cannot %s: %s", vm->name, op_names[op], err->message);
        db_vm_transition(mgr->db, actor, vm->name, NULL, "error", err->message,
                         retry_after(vm->attempts), NULL);
        return;
    }
    job_queue(mgr, j);
}

static void queue_simple(struct pool_mgr *mgr, enum op op, const struct db_vm *vm, const char *actor)
{
    struct job *j = job_new(mgr, op, vm->name, actor);

    if (op == OP_DELETE) {
        j->volume = g_strdup(vm->volume && *vm->volume ? vm->volume : NULL);
        if (j->volume == NULL)
            j->volume = g_strconcat(vm->name, ".qcow2", NULL);
        j->serial_log = serial_log_path(mgr, vm->name);
    }
    job_queue(mgr, j);
}

/* ---- the reconciler ---- */

static int64_t memory_budget(struct pool_mgr *mgr)
{
    if (mgr->cfg->memory_budget_mib > 0)
        return mgr->cfg->memory_budget_mib;
    return MAX((mgr->host ? mgr->host->memory_mib : 0) - mgr->cfg->memory_reserve_mib, 0);
}

/* Memory of every VM that runs or is about to, on this host. */
static int64_t memory_in_use(struct pool_mgr *mgr)
{
    static const char *const live[] = { "provisioning", "starting", "ready", "assigned", "in_use",
                                        "recycling", NULL };
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GHashTable) mem = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) pools = NULL;
    int64_t total = 0;

    if (db_pool_list(mgr->db, &pools, NULL) < 0 || db_vm_list(mgr->db, NULL, NULL, &vms, NULL) < 0)
        return 0;
    for (guint i = 0; i < pools->len; i++) {
        struct db_pool *p = g_ptr_array_index(pools, i);
        struct db_template *t = NULL;
        if (db_template_get(mgr->db, p->template_name, &t, NULL) == 0)
            g_hash_table_insert(mem, g_strdup(p->name), GINT_TO_POINTER((int)t->memory_mib));
        db_template_free(t);
    }
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);
        if (g_strv_contains(live, vm->state))
            total += GPOINTER_TO_INT(g_hash_table_lookup(mem, vm->pool));
    }
    return total;
}

/* Whether starting vm keeps the host within its memory budget; EBUSY with
 * the numbers if not. */
static gboolean fits_budget(struct pool_mgr *mgr, const struct db_vm *vm, GError **error)
{
    struct db_template *t = NULL;
    struct db_pool *p = NULL;
    int64_t mib = 0, used, budget = memory_budget(mgr);

    if (db_pool_get(mgr->db, vm->pool, &p, NULL) == 0 && db_template_get(mgr->db, p->template_name, &t, NULL) == 0)
        mib = t->memory_mib;
    db_pool_free(p);
    db_template_free(t);
    used = memory_in_use(mgr);
    if (used + mib <= budget)
        return TRUE;
    g_set_error(error, POOL_ERROR, EBUSY,
                "starting VM %s (%" G_GINT64_FORMAT " MiB) would exceed the memory budget: %" G_GINT64_FORMAT
                " of %" G_GINT64_FORMAT " MiB in use", vm->name, mib, used, budget);
    return FALSE;
}

/* Allocations of pool waiting for a VM. */
static int64_t waiting_for(struct pool_mgr *mgr, const char *pool)
{
    int64_t n = 0;

    for (GList *l = mgr->waiters; l; l = l->next)
        n += strcmp(((struct waiter *)l->data)->pool, pool) == 0;
    return n;
}

static void set_note(struct pool_mgr *mgr, const char *pool, char *note)
{
    const char *old = g_hash_table_lookup(mgr->notes, pool);

    if (g_strcmp0(old, note) != 0 && note)
        g_warning("pool %s: %s", pool, note);
    if (note)
        g_hash_table_insert(mgr->notes, g_strdup(pool), note);
    else
        g_hash_table_remove(mgr->notes, pool);
}

/* Bring one pool towards its settings. */
static void reconcile_pool(struct pool_mgr *mgr, const struct db_pool *p, int64_t *mem_used)
{
    static const char *const from_error[] = { "error", NULL };
    static const char *const from_stopped[] = { "stopped", "error", NULL };
    g_autoptr(GPtrArray) vms = NULL;
    struct db_template *t = NULL;
    int64_t total = 0, spare_ready = 0, spare_coming = 0, spare_stopped = 0;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;
    int64_t budget = memory_budget(mgr), need;
    GPtrArray *surplus_candidates = g_ptr_array_new();

    if (db_template_get(mgr->db, p->template_name, &t, NULL) < 0 || db_vm_list(mgr->db, p->name, NULL, &vms, NULL) < 0)
        goto out;
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);
        gboolean busy = is_busy(mgr, vm->name);

        if (strcmp(vm->state, "deleted") == 0) {
            gint64 *when = g_hash_table_lookup(mgr->delete_retry, vm->name);
            if (!busy && when && *when <= g_get_monotonic_time())
                queue_simple(mgr, OP_DELETE, vm, ACTOR);
            continue;
        }
        total++;
        if (vm->owner)
            continue;
        if (strcmp(vm->state, "ready") == 0) {
            spare_ready++;
            if (!busy)
                g_ptr_array_add(surplus_candidates, vm);
        } else if (g_strv_contains((const char *const[]){ "provisioning", "starting", "recycling", NULL },
                                   vm->state)) {
            spare_coming++;
        } else if (!busy && strcmp(vm->state, "error") == 0 && vm->retry_at <= now &&
                   *mem_used + t->memory_mib <= budget) {
            /* Try again from scratch: a spare has nothing worth keeping. */
            g_message("VM %s: retrying after: %s", vm->name, vm->error ? vm->error : "an error");
            if (db_vm_transition(mgr->db, ACTOR, vm->name, from_error, "provisioning", NULL, 0, NULL) == 0) {
                queue_disk_job(mgr, OP_PROVISION, vm, ACTOR);
                *mem_used += t->memory_mib;
                spare_coming++;
            }
        } else if (!busy && strcmp(vm->state, "stopped") == 0 &&
                   spare_ready + spare_coming < p->spare) {
            if (*mem_used + t->memory_mib > budget)
                continue;
            if (db_vm_transition(mgr->db, ACTOR, vm->name, from_stopped, "starting", NULL, 0, NULL) == 0) {
                queue_simple(mgr, OP_START, vm, ACTOR);
                *mem_used += t->memory_mib;
                spare_coming++;
            }
        } else if (!busy && strcmp(vm->state, "stopped") == 0) {
            spare_stopped++;
            g_ptr_array_add(surplus_candidates, vm);
        }
    }
    /* Logins waiting for a desktop count as spares wanted, so a pool with
     * spare 0 still serves them (up to max). */
    need = MAX(p->min_size - total, p->spare + waiting_for(mgr, p->name) - (spare_ready + spare_coming));
    need = MIN(need, p->max_size - total);
    set_note(mgr, p->name, NULL);
    for (int64_t i = 0; i < need; i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *mac = vmm_random_mac();
        struct db_vm *vm = NULL;

        if (*mem_used + t->memory_mib > budget) {
            set_note(mgr, p->name, g_strdup_printf(
                "not creating %" G_GINT64_FORMAT " more VM(s): %" G_GINT64_FORMAT " MiB in use + %"
                G_GINT64_FORMAT " MiB would exceed the memory budget of %" G_GINT64_FORMAT " MiB",
                need - i, *mem_used, t->memory_mib, budget));
            break;
        }
        if (db_vm_create(mgr->db, ACTOR, p->name, HOST, mac, &vm, &err) < 0) {
            g_warning("pool %s: cannot add a VM: %s", p->name, err->message);
            break;
        }
        g_message("pool %s: creating %s (%" G_GINT64_FORMAT " of min %" G_GINT64_FORMAT
                  ", spare %" G_GINT64_FORMAT ", max %" G_GINT64_FORMAT ")",
                  p->name, vm->name, total + 1, p->min_size, p->spare, p->max_size);
        queue_disk_job(mgr, OP_PROVISION, vm, ACTOR);
        *mem_used += t->memory_mib;
        total++;
        db_vm_free(vm);
    }
    /* Too many: above max, or more spares than asked for above min. The
     * candidates are unowned and idle; the newest go first. */
    {
        int64_t idle = spare_ready + spare_stopped - waiting_for(mgr, p->name);
        int64_t surplus = MAX(total - p->max_size, MIN(idle - p->spare, total - p->min_size));
        for (guint i = surplus_candidates->len; i > 0 && surplus > 0; i--, surplus--) {
            struct db_vm *vm = g_ptr_array_index(surplus_candidates, i - 1);
            g_message("pool %s: removing surplus VM %s", p->name, vm->name);
            vm_move(mgr, ACTOR, vm->name, NULL, "deleted");
            queue_simple(mgr, OP_DELETE, vm, ACTOR);
        }
    }
out:
    g_ptr_array_unref(surplus_candidates);
    db_template_free(t);
}

static void reconcile(struct pool_mgr *mgr)
{
    g_autoptr(GPtrArray) pools = NULL;
    int64_t mem_used;

    if (mgr->stopping || !mgr->synced || vmm_conn_get(mgr->vconn) == NULL)
        return;
    if (db_pool_list(mgr->db, &pools, NULL) < 0)
        return;
    mem_used = memory_in_use(mgr);
    for (guint i = 0; i < pools->len; i++) {
        struct db_pool *p = g_ptr_array_index(pools, i);
        struct db_template *t = NULL;
        if (db_template_get(mgr->db, p->template_name, &t, NULL) == 0 && *t->volume)
            reconcile_pool(mgr, p, &mem_used);
        db_template_free(t);
    }
}

static gboolean on_reconcile(gpointer data)
{
    struct pool_mgr *mgr = data;

    mgr->reconcile_source = 0;
    reconcile(mgr);
    return G_SOURCE_REMOVE;
}

static void reconcile_soon(struct pool_mgr *mgr)
{
    if (mgr->reconcile_source == 0)
        mgr->reconcile_source = g_idle_add(on_reconcile, mgr);
}

void pool_mgr_kick(struct pool_mgr *mgr)
{
    reconcile_soon(mgr);
}

static void service_waiters(struct pool_mgr *mgr);

static void on_connected(void *data);

static gboolean on_tick(gpointer data)
{
    struct pool_mgr *mgr = data;

    if (mgr->stopping)
        return G_SOURCE_CONTINUE;
    /* Connected, but the host or the storage pool failed: try again. */
    if (!mgr->synced && vmm_conn_get(mgr->vconn) != NULL)
        on_connected(mgr);
    service_waiters(mgr);
    reconcile_soon(mgr);
    return G_SOURCE_CONTINUE;
}

/* ---- start-up reconciliation with libvirt ---- */

/* The volume names every template uses, and those of imports under way. */
static GHashTable *template_volumes(struct pool_mgr *mgr)
{
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) tmpls = NULL;
    GHashTableIter it;
    gpointer key;

    if (db_template_list(mgr->db, &tmpls, NULL) == 0) {
        for (guint i = 0; i < tmpls->len; i++) {
            struct db_template *t = g_ptr_array_index(tmpls, i);
            const char *vols[] = { t->volume, t->kernel_volume, t->initrd_volume };
            for (size_t v = 0; v < G_N_ELEMENTS(vols); v++)
                if (vols[v] && *vols[v])
                    g_hash_table_add(set, g_strdup(vols[v]));
        }
    }
    g_hash_table_iter_init(&it, mgr->importing);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_hash_table_add(set, g_strdup_printf("%s.template.qcow2", (char *)key));
        g_hash_table_add(set, g_strdup_printf("%s.template.kernel", (char *)key));
        g_hash_table_add(set, g_strdup_printf("%s.template.initrd", (char *)key));
    }
    return set;
}

/* Compare the database with libvirt's domains and aula's volumes: finish or
 * roll back what a crash interrupted, report (or remove) strangers. */
static void sync_with_libvirt(struct pool_mgr *mgr)
{
    static const char *const running[] = { "starting", "ready", "assigned", "in_use", NULL };
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    g_autoptr(GHashTable) domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GHashTable) known = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GPtrArray) vms = NULL;
    virDomainPtr *list = NULL;
    int n;

    n = virConnectListAllDomains(conn, &list, 0);
    if (n < 0) {
        /* Without the list every VM would look gone: try again later. */
        g_warning("cannot list libvirt's domains: %s (retrying)", vmm_last_error());
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = virDomainGetName(list[i]);
        if (g_str_has_prefix(name, "aula-"))
            g_hash_table_insert(domains, g_strdup(name), GINT_TO_POINTER(virDomainIsActive(list[i]) == 1 ? 2 : 1));
        virDomainFree(list[i]);
    }
    free(list);
    if (db_vm_list(mgr->db, NULL, NULL, &vms, NULL) < 0)
        return;
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);
        int dom = GPOINTER_TO_INT(g_hash_table_lookup(domains, vm->name));

        g_hash_table_add(known, vm->name);
        if (is_busy(mgr, vm->name))
            continue;
        if (strcmp(vm->state, "provisioning") == 0 || strcmp(vm->state, "deleted") == 0) {
            /* Half made or half removed when aulad stopped: roll back. */
            g_message("VM %s was %s when aulad stopped: removing it", vm->name, vm->state);
            vm_move(mgr, ACTOR, vm->name, NULL, "deleted");
            queue_simple(mgr, OP_DELETE, vm, ACTOR);
        } else if (strcmp(vm->state, "recycling") == 0) {
            g_message("VM %s was being reset when aulad stopped: resetting it again", vm->name);
            queue_disk_job(mgr, OP_RECYCLE, vm, ACTOR);
        } else if (dom == 0 && strcmp(vm->state, "error") != 0) {
            g_warning("VM %s is recorded as %s but libvirt has no such domain", vm->name, vm->state);
            db_vm_transition(mgr->db, ACTOR, vm->name, NULL, "error", "the domain disappeared", 0, NULL);
        } else if (dom == 1 && g_strv_contains(running, vm->state)) {
            g_message("VM %s is recorded as %s but is not running", vm->name, vm->state);
            vm_move(mgr, ACTOR, vm->name, NULL, "stopped");
        } else if (dom == 2 && strcmp(vm->state, "stopped") == 0) {
            vm_move(mgr, ACTOR, vm->name, NULL, vm->owner ? "assigned" : "ready");
        }
    }
    /* Domains named like ours that the database does not know. */
    {
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, domains);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            if (g_hash_table_contains(known, key))
                continue;
            if (mgr->cfg->remove_unknown_domains) {
                struct job *j = job_new(mgr, OP_DELETE_UNKNOWN, key, ACTOR);
                g_warning("domain %s is not in aula's database: removing it (remove_unknown_domains)", (char *)key);
                job_queue(mgr, j);
            } else {
                g_warning("domain %s is not in aula's database: left alone (set remove_unknown_domains = true to remove such domains)",
                          (char *)key);
            }
        }
    }
    /* Disks of VMs the database does not know: leftovers of an interrupted provisioning. */
    {
        virStoragePoolPtr pool = virStoragePoolLookupByName(conn, mgr->cfg->storage_pool);

        if (pool) {
            virStorageVolPtr *vols = NULL;
            int nv = virStoragePoolListAllVolumes(pool, &vols, 0);
            g_autoptr(GHashTable) tvols = template_volumes(mgr);
            for (int i = 0; i < nv; i++) {
                const char *vname = virStorageVolGetName(vols[i]);
                g_autofree char *vm = g_str_has_suffix(vname, ".qcow2") ? g_strndup(vname, strlen(vname) - 6) : NULL;
                gboolean is_tmpl = strstr(vname, ".template.") != NULL;
                /* Only what is neither a known VM's nor a template's disk is
                 * removed; template volumes outlive a template whose removal
                 * found libvirt away. */
                gboolean stray_vm = !is_tmpl && vm && g_str_has_prefix(vm, "aula-") &&
                                    !g_hash_table_contains(known, vm) && !g_hash_table_contains(domains, vm);
                gboolean stray_tmpl = is_tmpl && !g_hash_table_contains(tvols, vname);
                if (stray_vm || stray_tmpl) {
                    g_warning("removing leftover volume %s (no %s of that name)", vname, stray_vm ? "VM" : "template");
                    if (virStorageVolDelete(vols[i], 0) < 0)
                        g_warning("cannot remove %s: %s", vname, vmm_last_error());
                }
                virStorageVolFree(vols[i]);
            }
            free(vols);
        }
        if (pool)
            virStoragePoolFree(pool);
    }
    mgr->synced = TRUE;
}

/* ---- libvirt callbacks ---- */

static void on_connected(void *data)
{
    struct pool_mgr *mgr = data;
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    g_autoptr(GError) err = NULL;
    enum vmm_hypervisor pref = VMM_HV_AUTO;
    struct vmm_host_info *host = NULL;

    vmm_hypervisor_parse(mgr->cfg->hypervisor, &pref);
    if (vmm_host_read(conn, pref, &host, &err) < 0) {
        /* hypervisor = kvm on a host without it: nothing can start. Said
         * once; the check repeats every tick. */
        if (g_strcmp0(mgr->host_error, err->message) != 0)
            g_warning("%s", err->message);
        g_free(mgr->host_error);
        mgr->host_error = g_strdup(err->message);
        return;
    }
    g_clear_pointer(&mgr->host_error, g_free);
    vmm_host_info_free(mgr->host);
    mgr->host = host;
    g_message("libvirt %s (libvirt %s, %d CPUs, %" G_GINT64_FORMAT " MiB): VMs run as %s domains",
              host->uri, host->libvirt_version, host->cpus, host->memory_mib,
              vmm_hypervisor_name(host->domain_type));
    if (host->note)
        g_warning("%s", host->note);
    g_clear_error(&err);
    if (vmm_storage_pool_ensure(conn, mgr->cfg->storage_pool, mgr->images_dir, &err) < 0) {
        mgr->host_error = g_strdup_printf("cannot prepare storage pool %s: %s", mgr->cfg->storage_pool,
                                          err->message);
        g_warning("%s", mgr->host_error);
        return;
    }
    if (mgr->synced)
        return;
    sync_with_libvirt(mgr);
    reconcile_soon(mgr);
}

static void on_disconnected(const char *reason, void *data)
{
    struct pool_mgr *mgr = data;

    mgr->synced = FALSE;
}

static void on_domain_event(const char *name, int event, int detail, void *data)
{
    static const char *const up[] = { "stopped", "starting", NULL };
    static const char *const spare_states[] = { "ready", "starting", NULL };
    static const char *const user_states[] = { "assigned", "in_use", NULL };
    struct pool_mgr *mgr = data;
    struct db_vm *vm = NULL;

    if (!g_str_has_prefix(name, "aula-") || is_busy(mgr, name) || db_vm_get(mgr->db, name, &vm, NULL) < 0)
        return;
    if (event == VIR_DOMAIN_EVENT_STARTED) {
        vm_move(mgr, ACTOR, name, up, vm->owner ? "assigned" : "ready");
    } else if (event == VIR_DOMAIN_EVENT_STOPPED || event == VIR_DOMAIN_EVENT_CRASHED) {
        const char *why = event == VIR_DOMAIN_EVENT_CRASHED ? "crashed" : "stopped";
        if (g_strv_contains(spare_states, vm->state)) {
            g_message("VM %s %s", name, why);
            vm_move(mgr, ACTOR, name, spare_states, "stopped");
        } else if (g_strv_contains(user_states, vm->state)) {
            struct db_pool *p = NULL;
            g_message("VM %s of %s %s: logging the user off", name, vm->owner ? vm->owner : "nobody", why);
            if (mgr->vm_down)
                mgr->vm_down(name, event == VIR_DOMAIN_EVENT_CRASHED ? "the desktop crashed"
                                                                     : "the desktop was shut down",
                             mgr->vm_down_data);
            if (db_pool_get(mgr->db, vm->pool, &p, NULL) == 0 && !p->persistent)
                pool_mgr_release(mgr, ACTOR, name, NULL);
            else
                vm_move(mgr, ACTOR, name, user_states, "stopped");
            db_pool_free(p);
        }
    }
    db_vm_free(vm);
    service_waiters(mgr);
    reconcile_soon(mgr);
}

/* ---- public ---- */

void pool_mgr_set_vm_down_fn(struct pool_mgr *mgr, pool_vm_down_fn fn, gpointer data)
{
    mgr->vm_down = fn;
    mgr->vm_down_data = data;
}

int pool_mgr_open_display(struct pool_mgr *mgr, const char *vm, int *fdp, GError **error)
{
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    virDomainPtr dom = NULL;
    int fd, r = 0;

    if (conn == NULL || mgr->stopping) {
        g_set_error(error, POOL_ERROR, EAGAIN, "libvirt is not connected: try again later");
        return -EAGAIN;
    }
    dom = virDomainLookupByName(conn, vm);
    if (dom == NULL) {
        g_set_error(error, POOL_ERROR, ENOENT, "VM %s has no domain: %s", vm, vmm_last_error());
        return -ENOENT;
    }
    /* A socket already connected to QEMU's VNC server for this domain; the
     * display listens on a UNIX socket only, so nothing else can reach it,
     * and SKIPAUTH since there is no password to skip. */
    fd = virDomainOpenGraphicsFD(dom, 0, VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH);
    if (fd < 0) {
        g_set_error(error, POOL_ERROR, EIO, "cannot open the display of %s: %s", vm, vmm_last_error());
        r = -EIO;
    } else {
        *fdp = fd;
    }
    virDomainFree(dom);
    return r;
}

void pool_mgr_vm_in_use(struct pool_mgr *mgr, const char *vm, gboolean in_use)
{
    static const char *const assigned[] = { "assigned", NULL };
    static const char *const used[] = { "in_use", NULL };

    if (!is_busy(mgr, vm))
        vm_move(mgr, ACTOR, vm, in_use ? assigned : used, in_use ? "in_use" : "assigned");
}

struct pool_mgr *pool_mgr_new(struct db *db, const struct conf *cfg)
{
    static const struct vmm_conn_callbacks cb = {
        .domain_event = on_domain_event,
        .connected = on_connected,
        .disconnected = on_disconnected,
    };
    struct pool_mgr *mgr = g_new0(struct pool_mgr, 1);

    mgr->db = db;
    mgr->cfg = cfg;
    mgr->images_dir = g_build_filename(cfg->state_dir, "images", NULL);
    mgr->logs_dir = g_build_filename(cfg->state_dir, "logs", NULL);
    g_mkdir_with_parents(mgr->logs_dir, 0711);
    g_chmod(mgr->logs_dir, 0711);
    mgr->busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    mgr->notes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    mgr->importing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    mgr->delete_retry = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    mgr->workers = g_thread_pool_new(worker, mgr, cfg->parallel_provisioning, FALSE, NULL);
    mgr->vconn = vmm_conn_new(cfg->libvirt_uri, &cb, mgr);
    mgr->tick_source = g_timeout_add_seconds(RECONCILE_INTERVAL_S, on_tick, mgr);
    return mgr;
}

void pool_mgr_drain(struct pool_mgr *mgr)
{
    while (mgr->in_flight > 0)
        g_main_context_iteration(NULL, TRUE);
}

static void waiter_free(struct waiter *w);

void pool_mgr_cancel_waiters(struct pool_mgr *mgr)
{
    mgr->stopping = TRUE;
    while (mgr->waiters) {
        struct waiter *w = mgr->waiters->data;
        GError *err = g_error_new(POOL_ERROR, ECANCELED, "aulad is stopping");
        mgr->waiters = g_list_delete_link(mgr->waiters, mgr->waiters);
        w->done(-ECANCELED, err, NULL, w->data);
        g_error_free(err);
        waiter_free(w);
    }
}

void pool_mgr_free(struct pool_mgr *mgr)
{
    if (mgr == NULL)
        return;
    pool_mgr_drain(mgr);
    pool_mgr_cancel_waiters(mgr);
    g_thread_pool_free(mgr->workers, FALSE, TRUE);
    if (mgr->reconcile_source)
        g_source_remove(mgr->reconcile_source);
    g_source_remove(mgr->tick_source);
    vmm_conn_free(mgr->vconn);
    g_hash_table_unref(mgr->busy);
    g_hash_table_unref(mgr->notes);
    g_hash_table_unref(mgr->importing);
    g_hash_table_unref(mgr->delete_retry);
    g_free(mgr->images_dir);
    g_free(mgr->logs_dir);
    vmm_host_info_free(mgr->host);
    g_free(mgr->host_error);
    g_free(mgr);
}

/* Answer done with an error at once. */
static void done_now(pool_done_fn done, gpointer data, int err, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
static void done_now(pool_done_fn done, gpointer data, int err, const char *fmt, ...)
{
    va_list ap;
    GError *e;

    va_start(ap, fmt);
    e = g_error_new_valist(POOL_ERROR, err, fmt, ap);
    va_end(ap);
    done(-err, e, data);
    g_error_free(e);
}

/* Volume names of a template: <name>.template.qcow2, .kernel, .initrd. */
static char *template_volume(const char *name, const char *kind)
{
    return g_strdup_printf("%s.template.%s", name, kind);
}

void pool_mgr_template_add(struct pool_mgr *mgr, const char *actor, const struct db_template *tmpl,
                           pool_done_fn done, gpointer data)
{
    struct job *j;
    struct db_template *t;

    if (mgr->stopping) {
        done_now(done, data, ECANCELED, "aulad is stopping");
        return;
    }
    /* A second import of the same name would share (and, failing, delete)
     * the first one's volume. */
    if (g_hash_table_contains(mgr->importing, tmpl->name)) {
        GError *err = g_error_new(POOL_ERROR, EEXIST, "template '%s' is being imported already", tmpl->name);
        done(-EEXIST, err, data);
        g_error_free(err);
        return;
    }
    j = job_new(mgr, OP_IMPORT, NULL, actor);
    t = g_new0(struct db_template, 1);
    t->name = g_strdup(tmpl->name);
    t->disk_path = g_strdup(tmpl->disk_path);
    t->memory_mib = tmpl->memory_mib;
    t->vcpus = tmpl->vcpus;
    t->video = g_strdup(tmpl->video);
    t->firmware = g_strdup(tmpl->firmware);
    t->os = g_strdup(tmpl->os);
    t->volume = template_volume(tmpl->name, "qcow2");
    t->cmdline = g_strdup(tmpl->cmdline ? tmpl->cmdline : "");
    if (tmpl->kernel_volume && *tmpl->kernel_volume) {
        j->src_kernel = g_strdup(tmpl->kernel_volume);
        t->kernel_volume = template_volume(tmpl->name, "kernel");
    } else {
        t->kernel_volume = g_strdup("");
    }
    if (tmpl->initrd_volume && *tmpl->initrd_volume) {
        j->src_initrd = g_strdup(tmpl->initrd_volume);
        t->initrd_volume = template_volume(tmpl->name, "initrd");
    } else {
        t->initrd_volume = g_strdup("");
    }
    j->tmpl = t;
    j->done = done;
    j->done_data = data;
    g_hash_table_add(mgr->importing, g_strdup(tmpl->name));
    if (!job_queue(mgr, j)) {
        GError *err = g_error_new(POOL_ERROR, EAGAIN, "libvirt is not connected (%s): try again later",
                                  vmm_conn_error(mgr->vconn) ? vmm_conn_error(mgr->vconn) : "connecting");
        g_hash_table_remove(mgr->importing, tmpl->name);
        done(-EAGAIN, err, data);
        g_error_free(err);
    }
}

int pool_mgr_template_remove(struct pool_mgr *mgr, const char *actor, const char *name, GError **error)
{
    struct db_template *t = NULL;
    virConnectPtr conn;
    int r;

    r = db_template_get(mgr->db, name, &t, error);
    if (r == 0)
        r = db_template_remove(mgr->db, actor, name, error);
    conn = vmm_conn_get(mgr->vconn);
    if (r == 0 && conn) {
        const char *vols[] = { t->volume, t->kernel_volume, t->initrd_volume };
        for (size_t i = 0; i < G_N_ELEMENTS(vols); i++) {
            g_autoptr(GError) err = NULL;
            if (vols[i] && *vols[i] && vmm_storage_delete(conn, mgr->cfg->storage_pool, vols[i], &err) < 0)
                g_warning("template %s removed, but not its volume %s: %s", name, vols[i], err->message);
        }
    }
    db_template_free(t);
    return r;
}

void pool_mgr_template_facts(struct pool_mgr *mgr, const char *volume, JsonBuilder *b)
{
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    struct vmm_vol_info info = { 0 };

    if (conn == NULL || volume == NULL || *volume == '\0' ||
        vmm_storage_vol_info(conn, mgr->cfg->storage_pool, volume, &info, NULL) < 0)
        return;
    json_builder_set_member_name(b, "image");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, info.path);
    json_builder_set_member_name(b, "format");
    json_builder_add_string_value(b, info.format);
    json_builder_set_member_name(b, "virtual_size");
    json_builder_add_int_value(b, (gint64)info.capacity);
    json_builder_set_member_name(b, "allocated_size");
    json_builder_add_int_value(b, (gint64)info.allocation);
    json_builder_end_object(b);
    vmm_vol_info_clear(&info);
}

/* ---- allocation ---- */

static void waiter_free(struct waiter *w)
{
    if (w->timeout)
        g_source_remove(w->timeout);
    g_free(w->actor);
    g_free(w->user);
    g_free(w->pool);
    g_free(w);
}

/* Try to give w a VM. TRUE when w is answered (either way). */
static gboolean waiter_try(struct pool_mgr *mgr, struct waiter *w)
{
    static const char *const startable[] = { "stopped", "error", NULL };
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;
    int r = db_vm_allocate(mgr->db, w->actor, w->user, w->pool, &vm, &err);

    if (r == -EAGAIN)
        return FALSE;
    if (r < 0) {
        w->done(r, err, NULL, w->data);
        return TRUE;
    }
    /* It was started for this login and failed: say why rather than loop. */
    if (w->start_tried && strcmp(vm->state, "error") == 0 && !is_busy(mgr, vm->name)) {
        g_autoptr(GError) why = g_error_new(POOL_ERROR, EIO, "your desktop %s cannot start: %s", vm->name,
                                            vm->error ? vm->error : "unknown error");
        w->done(-EIO, why, NULL, w->data);
        db_vm_free(vm);
        return TRUE;
    }
    /* The user's own VM may be off (a persistent desktop): start it and wait. */
    if (g_strv_contains(startable, vm->state) || is_busy(mgr, vm->name) ||
        strcmp(vm->state, "starting") == 0 || strcmp(vm->state, "recycling") == 0) {
        if (g_strv_contains(startable, vm->state) && !is_busy(mgr, vm->name)) {
            if (!fits_budget(mgr, vm, &err)) {
                /* The user's own desktop cannot start now: say why. */
                w->done(-EBUSY, err, NULL, w->data);
                db_vm_free(vm);
                return TRUE;
            }
            if (db_vm_transition(mgr->db, w->actor, vm->name, startable, "starting", NULL, 0, NULL) == 0) {
                queue_simple(mgr, OP_START, vm, w->actor);
                w->start_tried = TRUE;
            }
        }
        db_vm_free(vm);
        return FALSE;
    }
    g_message("allocated %s to %s (pool %s)", vm->name, w->user, w->pool);
    w->done(0, NULL, vm->name, w->data);
    db_vm_free(vm);
    return TRUE;
}

static void service_waiters(struct pool_mgr *mgr)
{
    GList *l = mgr->waiters;

    while (l) {
        GList *next = l->next;
        struct waiter *w = l->data;
        if (waiter_try(mgr, w)) {
            mgr->waiters = g_list_delete_link(mgr->waiters, l);
            waiter_free(w);
        }
        l = next;
    }
}

static gboolean on_waiter_timeout(gpointer data)
{
    struct waiter *w = data;
    struct pool_mgr *mgr = w->mgr;
    GError *err = g_error_new(POOL_ERROR, ETIMEDOUT, "no desktop of pool '%s' became ready within %d s",
                              w->pool, mgr->cfg->allocate_timeout);

    w->timeout = 0;
    mgr->waiters = g_list_remove(mgr->waiters, w);
    g_warning("allocation for %s in pool %s: %s", w->user, w->pool, err->message);
    w->done(-ETIMEDOUT, err, NULL, w->data);
    g_error_free(err);
    waiter_free(w);
    return G_SOURCE_REMOVE;
}

void pool_mgr_allocate(struct pool_mgr *mgr, const char *actor, const char *user, const char *pool,
                       pool_alloc_fn done, gpointer data)
{
    struct waiter *w;

    if (mgr->stopping) {
        g_autoptr(GError) err = g_error_new(POOL_ERROR, ECANCELED, "aulad is stopping");
        done(-ECANCELED, err, NULL, data);
        return;
    }
    w = g_new0(struct waiter, 1);
    w->mgr = mgr;
    w->actor = g_strdup(actor);
    w->user = g_strdup(user);
    w->pool = g_strdup(pool);
    w->done = done;
    w->data = data;
    if (waiter_try(mgr, w)) {
        waiter_free(w);
        return;
    }
    g_message("allocation for %s in pool %s: waiting for a desktop", user, pool);
    w->timeout = g_timeout_add_seconds(mgr->cfg->allocate_timeout, on_waiter_timeout, w);
    mgr->waiters = g_list_append(mgr->waiters, w);
    reconcile_soon(mgr);
}

int pool_mgr_release(struct pool_mgr *mgr, const char *actor, const char *name, GError **error)
{
    static const char *const held[] = { "assigned", "in_use", "ready", "stopped", "error", NULL };
    struct db_pool *p = NULL;
    struct db_vm *vm = NULL;
    int r;

    r = db_vm_get(mgr->db, name, &vm, error);
    if (r == 0)
        r = db_pool_get(mgr->db, vm->pool, &p, error);
    if (r == 0 && !p->persistent && (mgr->stopping || vmm_conn_get(mgr->vconn) == NULL)) {
        g_set_error(error, POOL_ERROR, EAGAIN, "libvirt is not connected: try again later");
        r = -EAGAIN;
    }
    if (r == 0 && vm->owner == NULL) {
        g_set_error(error, POOL_ERROR, EINVAL, "VM %s is not assigned to anyone", name);
        r = -EINVAL;
    }
    if (r == 0 && is_busy(mgr, name)) {
        g_set_error(error, POOL_ERROR, EBUSY, "VM %s is busy (%s): try again later", name,
                    (const char *)g_hash_table_lookup(mgr->busy, name));
        r = -EBUSY;
    }
    if (r == 0 && p->persistent) {
        /* A persistent desktop stays its owner's, as it is. */
        g_message("%s released persistent VM %s of %s", actor, name, vm->owner);
        if (strcmp(vm->state, "in_use") == 0)
            vm_move(mgr, actor, name, NULL, "assigned");
    } else if (r == 0) {
        r = db_vm_transition(mgr->db, actor, name, held, "recycling", NULL, 0, error);
        /* Recycling now: the reset is queued even if disowning fails (the
         * VM then comes back as its owner's, assigned, not lost). */
        if (r == 0 && db_vm_set_owner(mgr->db, actor, name, NULL, error) < 0) {
            g_warning("VM %s: %s", name, (*error)->message);
            g_clear_error(error);
        }
        if (r == 0) {
            g_message("%s released VM %s of %s: resetting it to its template", actor, name, vm->owner);
            vm->owner = (g_free(vm->owner), NULL);
            queue_disk_job(mgr, OP_RECYCLE, vm, actor);
        }
    }
    db_vm_free(vm);
    db_pool_free(p);
    return r;
}

int pool_mgr_vm_action(struct pool_mgr *mgr, const char *actor, const char *name, const char *action,
                       GError **error)
{
    static const char *const startable[] = { "stopped", "error", NULL };
    static const char *const resettable[] = { "stopped", "ready", "assigned", "in_use", "error", NULL };
    struct db_vm *vm = NULL;
    int r;

    r = db_vm_get(mgr->db, name, &vm, error);
    if (r == 0 && (mgr->stopping || vmm_conn_get(mgr->vconn) == NULL)) {
        g_set_error(error, POOL_ERROR, EAGAIN, mgr->stopping ? "aulad is stopping"
                                                             : "libvirt is not connected: try again later");
        r = -EAGAIN;
    }
    if (r == 0 && is_busy(mgr, name)) {
        g_set_error(error, POOL_ERROR, EBUSY, "VM %s is busy (%s): try again later", name,
                    (const char *)g_hash_table_lookup(mgr->busy, name));
        r = -EBUSY;
    }
    if (r < 0)
        goto out;
    if ((strcmp(action, "start") == 0 || strcmp(action, "reset") == 0) &&
        !g_strv_contains((const char *const[]){ "ready", "assigned", "in_use", NULL }, vm->state) &&
        !fits_budget(mgr, vm, error)) {
        r = -EBUSY;
    } else if (strcmp(action, "start") == 0) {
        r = db_vm_transition(mgr->db, actor, name, startable, "starting", NULL, 0, error);
        if (r == 0)
            queue_simple(mgr, OP_START, vm, actor);
    } else if (strcmp(action, "stop") == 0 || strcmp(action, "reboot") == 0) {
        queue_simple(mgr, action[0] == 's' ? OP_STOP : OP_REBOOT, vm, actor);
    } else if (strcmp(action, "reset") == 0) {
        r = db_vm_transition(mgr->db, actor, name, resettable, "recycling", NULL, 0, error);
        if (r == 0)
            queue_disk_job(mgr, OP_RECYCLE, vm, actor);
    } else if (strcmp(action, "destroy") == 0) {
        r = db_vm_transition(mgr->db, actor, name, NULL, "deleted", NULL, 0, error);
        if (r == 0)
            queue_simple(mgr, OP_DELETE, vm, actor);
    } else {
        g_set_error(error, POOL_ERROR, EINVAL, "unknown action '%s': use start, stop, reboot, reset or destroy", action);
        r = -EINVAL;
    }
    if (r == 0)
        g_message("%s: %s of VM %s queued", actor, action, name);
out:
    db_vm_free(vm);
    return r;
}

/* Checks shared by snapshot and backup: the VM exists, libvirt is there, it is idle. */
static struct db_vm *vm_for_disk_op(struct pool_mgr *mgr, const char *name, pool_done_fn done,
                                    gpointer data)
{
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;

    if (db_vm_get(mgr->db, name, &vm, &err) < 0) {
        done(-err->code, err, data);
        return NULL;
    }
    if (mgr->stopping)
        done_now(done, data, ECANCELED, "aulad is stopping");
    else if (vmm_conn_get(mgr->vconn) == NULL)
        done_now(done, data, EAGAIN, "libvirt is not connected: try again later");
    else if (is_busy(mgr, name))
        done_now(done, data, EBUSY, "VM %s is busy (%s): try again later", name,
                 (const char *)g_hash_table_lookup(mgr->busy, name));
    else
        return vm;
    db_vm_free(vm);
    return NULL;
}

void pool_mgr_vm_snapshot(struct pool_mgr *mgr, const char *actor, const char *name, const char *action,
                          const char *snap, pool_done_fn done, gpointer data)
{
    struct db_pool *p = NULL;
    struct db_vm *vm = vm_for_disk_op(mgr, name, done, data);
    struct job *j;

    if (vm == NULL)
        return;
    if (db_pool_get(mgr->db, vm->pool, &p, NULL) == 0 && !p->persistent) {
        done_now(done, data, EBUSY,
                 "snapshots are for VMs of persistent pools: the VMs of pool '%s' go back to their "
                 "template when their user is done", vm->pool);
    } else {
        j = job_new(mgr, OP_SNAPSHOT, name, actor);
        j->snap_action = g_strdup(action);
        j->snap_name = g_strdup(snap);
        j->done = done;
        j->done_data = data;
        if (!job_queue(mgr, j))
            done_now(done, data, EAGAIN, "libvirt is not connected: try again later");
    }
    db_pool_free(p);
    db_vm_free(vm);
}

int pool_mgr_vm_snapshots(struct pool_mgr *mgr, const char *name, GPtrArray **snapsp, GError **error)
{
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    struct db_vm *vm = NULL;
    int r = db_vm_get(mgr->db, name, &vm, error);

    db_vm_free(vm);
    if (r < 0)
        return r;
    if (conn == NULL) {
        g_set_error(error, POOL_ERROR, EAGAIN, "libvirt is not connected: try again later");
        return -EAGAIN;
    }
    return vmm_snapshot_list(conn, name, snapsp, error);
}

void pool_mgr_vm_backup(struct pool_mgr *mgr, const char *actor, const char *name, const char *dest,
                        pool_done_fn done, gpointer data)
{
    struct db_vm *vm = vm_for_disk_op(mgr, name, done, data);
    struct job *j;

    if (vm == NULL)
        return;
    j = job_new(mgr, OP_BACKUP, name, actor);
    j->volume = g_strdup(vm->volume && *vm->volume ? vm->volume : NULL);
    if (j->volume == NULL)
        j->volume = g_strconcat(vm->name, ".qcow2", NULL);
    j->dest = g_strdup(dest);
    j->done = done;
    j->done_data = data;
    if (!job_queue(mgr, j))
        done_now(done, data, EAGAIN, "libvirt is not connected: try again later");
    db_vm_free(vm);
}

void pool_mgr_vm_facts(struct pool_mgr *mgr, const struct db_vm *vm, JsonBuilder *b)
{
    virConnectPtr conn = vmm_conn_get(mgr->vconn);
    struct vmm_vol_info info = { 0 };
    virDomainPtr dom;
    int state = 0, reason = 0;
    static const char *const names[] = { "nostate", "running", "blocked", "paused", "shutdown",
                                         "shutoff", "crashed", "pmsuspended" };

    if (conn == NULL)
        return;
    dom = virDomainLookupByName(conn, vm->name);
    json_builder_set_member_name(b, "domain");
    if (dom && virDomainGetState(dom, &state, &reason, 0) == 0 && state >= 0 &&
        state < (int)G_N_ELEMENTS(names))
        json_builder_add_string_value(b, names[state]);
    else
        json_builder_add_string_value(b, dom ? "unknown" : "missing");
    if (dom)
        virDomainFree(dom);
    if (vm->volume && *vm->volume &&
        vmm_storage_vol_info(conn, mgr->cfg->storage_pool, vm->volume, &info, NULL) == 0) {
        json_builder_set_member_name(b, "disk_allocated");
        json_builder_add_int_value(b, (gint64)info.allocation);
        json_builder_set_member_name(b, "disk_virtual_size");
        json_builder_add_int_value(b, (gint64)info.capacity);
        json_builder_set_member_name(b, "disk_backing");
        json_builder_add_string_value(b, info.backing ? info.backing : "");
        vmm_vol_info_clear(&info);
    }
    json_builder_set_member_name(b, "busy");
    json_builder_add_string_value(b, g_hash_table_lookup(mgr->busy, vm->name));
}

const char *pool_mgr_pool_note(struct pool_mgr *mgr, const char *pool)
{
    return g_hash_table_lookup(mgr->notes, pool);
}

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

static void add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

void pool_mgr_status(struct pool_mgr *mgr, JsonBuilder *b)
{
    gboolean up = vmm_conn_get(mgr->vconn) != NULL;

    json_builder_set_member_name(b, "libvirt");
    json_builder_begin_object(b);
    add_str(b, "uri", vmm_conn_uri(mgr->vconn));
    add_str(b, "state", !up ? "unreachable" : mgr->host_error ? "error" : mgr->synced ? "connected" : "syncing");
    if (mgr->host) {
        add_str(b, "version", mgr->host->libvirt_version);
        add_str(b, "domain_type", vmm_hypervisor_name(mgr->host->domain_type));
        add_int(b, "memory_mib", mgr->host->memory_mib);
        add_int(b, "cpus", mgr->host->cpus);
        if (mgr->host->note)
            add_str(b, "note", mgr->host->note);
    }
    if (!up || mgr->host_error)
        add_str(b, "error", !up ? vmm_conn_error(mgr->vconn) : mgr->host_error);
    add_str(b, "storage_pool", mgr->cfg->storage_pool);
    add_int(b, "memory_budget_mib", memory_budget(mgr));
    add_int(b, "memory_in_use_mib", memory_in_use(mgr));
    add_int(b, "operations_in_flight", mgr->in_flight);
    json_builder_end_object(b);
}
