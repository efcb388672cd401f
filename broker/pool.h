/* pool: keeps every desktop pool's VMs on libvirt.
 *
 * The reconciler runs on aulad's main loop: it compares each pool with its
 * settings (min, max, spare) and queues VM operations (create a disk and a
 * domain, start, reset to the template, remove) to a bounded set of worker
 * threads; the results come back to the main loop, which alone writes the
 * database. libvirt domain events (a guest shutting down, a crash) and
 * libvirtd restarts feed the same loop. On start (and after every reconnect)
 * the database is reconciled with what libvirt has before pools are filled.
 *
 * Allocation gives a user a VM in one database transaction (db_vm_allocate);
 * when no spare is ready it waits, bounded by allocate_timeout, for one. */
#ifndef AULA_POOL_H
#define AULA_POOL_H

#include <glib.h>
#include <json-glib/json-glib.h>

struct db;
struct conf;
struct db_vm;
struct vmm_host_info;
struct pool_mgr;

/* db and cfg are borrowed and outlive the manager. Connects to libvirt
 * (retrying in the background if it is not there). */
struct pool_mgr *pool_mgr_new(struct db *db, const struct conf *cfg);
void pool_mgr_free(struct pool_mgr *mgr);

/* Run the reconciler soon (after a change to pools or templates). */
void pool_mgr_kick(struct pool_mgr *mgr);

/* Completion of an asynchronous operation: r is 0 or -errno, err says why. */
typedef void (*pool_done_fn)(int r, const GError *err, gpointer data);

/* Import a template's disk (and kernel and initrd, for direct boot) into the
 * storage pool, then record it. tmpl->disk_path is the source; tmpl->kernel_volume
 * and initrd_volume, when set, are source paths too. done runs on the main loop. */
struct db_template;
void pool_mgr_template_add(struct pool_mgr *mgr, const char *actor, const struct db_template *tmpl,
                           pool_done_fn done, gpointer data);
/* Remove a template that no pool uses, with its volumes. */
int pool_mgr_template_remove(struct pool_mgr *mgr, const char *actor, const char *name,
                             GError **error);
/* Add what libvirt says of the template's volume (format, sizes) to b. */
void pool_mgr_template_facts(struct pool_mgr *mgr, const char *volume, JsonBuilder *b);

/* Give user a desktop of pool: at once if one is ready, else when one is
 * (bounded by allocate_timeout). done gets the VM name on success (borrowed). */
typedef void (*pool_alloc_fn)(int r, const GError *err, const char *vm, gpointer data);
void pool_mgr_allocate(struct pool_mgr *mgr, const char *actor, const char *user, const char *pool,
                       pool_alloc_fn done, gpointer data);
/* The user is done with vm: a non-persistent pool's VM is reset to its
 * template and becomes a spare again; a persistent one stays its owner's. */
int pool_mgr_release(struct pool_mgr *mgr, const char *actor, const char *vm, GError **error);

/* A user's VM stopped or crashed (the pool manager has already released it
 * or marked it stopped): fn tells the session that used it. why is for the
 * user. One listener; data is borrowed. */
typedef void (*pool_vm_down_fn)(const char *vm, const char *why, gpointer data);
void pool_mgr_set_vm_down_fn(struct pool_mgr *mgr, pool_vm_down_fn fn, gpointer data);

/* A socket connected to vm's display (QEMU's VNC server, through
 * virDomainOpenGraphicsFD). Caller closes *fdp. */
int pool_mgr_open_display(struct pool_mgr *mgr, const char *vm, int *fdp, GError **error);

/* A client is (in_use) or is no longer (assigned) looking at vm. */
void pool_mgr_vm_in_use(struct pool_mgr *mgr, const char *vm, gboolean in_use);

/* Admin actions on a VM: start, stop (ACPI shutdown), reboot, reset (back to
 * the template, keeping its owner), destroy (power off and remove; the
 * reconciler makes a replacement if the pool needs one). Queued; returns at once. */
int pool_mgr_vm_action(struct pool_mgr *mgr, const char *actor, const char *vm, const char *action,
                       GError **error);
/* Snapshots, for VMs of persistent pools: action is "create", "revert" or
 * "delete" of the snapshot name. done runs on the main loop. */
void pool_mgr_vm_snapshot(struct pool_mgr *mgr, const char *actor, const char *vm, const char *action,
                          const char *name, pool_done_fn done, gpointer data);
/* The VM's snapshots (struct vmm_snapshot *, oldest first). Caller frees. */
int pool_mgr_vm_snapshots(struct pool_mgr *mgr, const char *vm, GPtrArray **snapsp, GError **error);
/* Write a standalone qcow2 copy of the VM's disk to dest (running or not). */
void pool_mgr_vm_backup(struct pool_mgr *mgr, const char *actor, const char *vm, const char *dest,
                        pool_done_fn done, gpointer data);

/* Add live facts of a VM (domain state, disk size) to b. */
void pool_mgr_vm_facts(struct pool_mgr *mgr, const struct db_vm *vm, JsonBuilder *b);
/* Why the reconciler is holding a pool back (memory budget), or NULL. Borrowed. */
const char *pool_mgr_pool_note(struct pool_mgr *mgr, const char *pool);

/* libvirt health for `aulactl status`. */
void pool_mgr_status(struct pool_mgr *mgr, JsonBuilder *b);

/* Answer every waiting allocation with 503 "aulad is stopping" (call while
 * the main loop can still send the answers). */
void pool_mgr_cancel_waiters(struct pool_mgr *mgr);

/* Wait (running the main loop) until no VM operation is in flight. */
void pool_mgr_drain(struct pool_mgr *mgr);

#endif
