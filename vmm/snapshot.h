/* vmm/snapshot: snapshots and backups of a VM's disk, through libvirt.
 *
 * Snapshots are libvirt's internal qcow2 snapshots of the VM (with its memory
 * when it runs). A backup is a standalone qcow2 file (no backing file) of the
 * disk: taken with libvirt's backup job while the VM runs (consistent at the
 * moment it starts), or copied from the volume while it is off. All calls
 * block: run them in a worker thread. */
#ifndef AULA_VMM_SNAPSHOT_H
#define AULA_VMM_SNAPSHOT_H

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdint.h>

struct vmm_snapshot {
    char *name;
    int64_t created;   /* UNIX time */
    char *state;       /* the VM's state in the snapshot: running, shutoff, ... */
    gboolean current;
};
void vmm_snapshot_free(struct vmm_snapshot *s);

int vmm_snapshot_create(virConnectPtr conn, const char *domain, const char *name, GError **error);
/* Oldest first. Caller frees the array. */
int vmm_snapshot_list(virConnectPtr conn, const char *domain, GPtrArray **snapsp, GError **error);
int vmm_snapshot_revert(virConnectPtr conn, const char *domain, const char *name, GError **error);
int vmm_snapshot_delete(virConnectPtr conn, const char *domain, const char *name, GError **error);

/* Write a standalone qcow2 copy of the domain's disk vda (the volume vol of
 * pool when the domain is off) to dest, which must not exist. */
int vmm_backup(virConnectPtr conn, const char *domain, const char *pool, const char *vol,
               const char *dest, GError **error);

#endif
