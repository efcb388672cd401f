/* vmm/storage: aula's libvirt storage pool, template images and VM disks.
 *
 * Templates are imported into a directory pool that aula owns (state_dir/images)
 * and are read-only from then on. A VM's disk is a qcow2 overlay whose backing
 * file is its template (a linked clone: creating one copies no data), or an
 * independent copy (a full clone). All of it through libvirt's storage API. */
#ifndef AULA_VMM_STORAGE_H
#define AULA_VMM_STORAGE_H

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdint.h>

struct vmm_vol_info {
    char *path;
    char *format;        /* as libvirt reports it: qcow2, raw, ... */
    uint64_t capacity;   /* virtual size, bytes */
    uint64_t allocation; /* bytes used on the host */
    char *backing;       /* backing file path, or NULL */
};
void vmm_vol_info_clear(struct vmm_vol_info *info);

/* Define, build, start and autostart the dir pool name at dir if it is not
 * there yet; start it if it is inactive; refresh it. */
int vmm_storage_pool_ensure(virConnectPtr conn, const char *pool, const char *dir, GError **error);

/* A transient dir pool over dir (name prefix + random suffix), to reach a
 * file outside aula's pool as a volume. NULL (and libvirt's error) on failure;
 * release it with vmm_storage_dir_pool_drop. */
virStoragePoolPtr vmm_storage_dir_pool(virConnectPtr conn, const char *prefix, const char *dir);
void vmm_storage_dir_pool_drop(virStoragePoolPtr pool);

/* Facts about a volume of pool. -ENOENT if there is no such volume. */
int vmm_storage_vol_info(virConnectPtr conn, const char *pool, const char *vol,
                         struct vmm_vol_info *info, GError **error);

/* Read a disk image file's facts through libvirt (a transient pool over its
 * directory, or the pool that already holds it). -ENOENT missing, -EINVAL not a
 * disk image libvirt recognises. */
int vmm_storage_file_info(virConnectPtr conn, const char *path, struct vmm_vol_info *info,
                          GError **error);

/* Copy the file at src into pool as a read-only volume vol. format "qcow2":
 * refuses a source that is missing, not qcow2, or has a backing file of its
 * own; "raw": any regular file (a kernel or an initrd), copied as it is. */
int vmm_storage_import(virConnectPtr conn, const char *pool, const char *src, const char *vol,
                       const char *format, GError **error);

/* Create vol in pool as a qcow2 overlay of the volume base (linked clone).
 * Sets *pathp (caller frees). */
int vmm_storage_overlay(virConnectPtr conn, const char *pool, const char *vol, const char *base,
                        char **pathp, GError **error);

/* Create vol in pool as an independent qcow2 copy of base (full clone). */
int vmm_storage_copy(virConnectPtr conn, const char *pool, const char *vol, const char *base,
                     char **pathp, GError **error);

/* Delete vol from pool; a volume that is not there is not an error. */
int vmm_storage_delete(virConnectPtr conn, const char *pool, const char *vol, GError **error);

#endif
