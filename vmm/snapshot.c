/* vmm/snapshot: snapshots and backups. */
#include "config.h"

#include "vmm/snapshot.h"

#include <errno.h>
#include <string.h>

#include "vmm/conn.h"
#include "vmm/host.h"
#include "vmm/storage.h"

#define BACKUP_POLL_US (100 * 1000)

void vmm_snapshot_free(struct vmm_snapshot *s)
{
    if (s == NULL)
        return;
    g_free(s->name);
    g_free(s->state);
    g_free(s);
}

static int fail(GError **error, int err, const char *what, const char *name)
{
    g_set_error(error, VMM_ERROR, err, "%s %s: %s", what, name, vmm_last_error());
    return -err;
}

static int lookup(virConnectPtr conn, const char *domain, virDomainPtr *domp, GError **error)
{
    *domp = virDomainLookupByName(conn, domain);
    if (*domp == NULL)
        return fail(error, ENOENT, "no domain", domain);
    return 0;
}

/* Snapshot names become XML and file-system-free labels: keep them plain. */
static gboolean name_ok(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
    return TRUE;
}

int vmm_snapshot_create(virConnectPtr conn, const char *domain, const char *name, GError **error)
{
    g_autofree char *xml = NULL;
    virDomainSnapshotPtr snap;
    virDomainPtr dom = NULL;
    int r;

    if (!name_ok(name)) {
        g_set_error(error, VMM_ERROR, EINVAL,
                    "invalid snapshot name '%s': 1 to 64 letters, digits, '-', '_' or '.'", name ? name : "");
        return -EINVAL;
    }
    r = lookup(conn, domain, &dom, error);
    if (r < 0)
        return r;
    snap = virDomainSnapshotLookupByName(dom, name, 0);
    if (snap) {
        virDomainSnapshotFree(snap);
        virDomainFree(dom);
        g_set_error(error, VMM_ERROR, EEXIST, "VM %s already has a snapshot '%s'", domain, name);
        return -EEXIST;
    }
    xml = g_markup_printf_escaped("<domainsnapshot><name>%s</name></domainsnapshot>", name);
    snap = virDomainSnapshotCreateXML(dom, xml, 0);
    if (snap == NULL)
        r = fail(error, EIO, "cannot snapshot", domain);
    else
        virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return r;
}

/* A number or a text element of a snapshot's XML (no parser needed for two fields). */
static char *xml_element(const char *xml, const char *tag)
{
    g_autofree char *open = g_strdup_printf("<%s>", tag), *close = g_strdup_printf("</%s>", tag);
    const char *a = strstr(xml, open), *b;

    if (a == NULL)
        return NULL;
    a += strlen(open);
    b = strstr(a, close);
    return b ? g_strndup(a, (gsize)(b - a)) : NULL;
}

int vmm_snapshot_list(virConnectPtr conn, const char *domain, GPtrArray **snapsp, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_snapshot_free);
    virDomainSnapshotPtr *snaps = NULL;
    virDomainPtr dom = NULL;
    int n, r;

    r = lookup(conn, domain, &dom, error);
    if (r < 0)
        return r;
    n = virDomainListAllSnapshots(dom, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL);
    if (n < 0)
        r = fail(error, EIO, "cannot list the snapshots of", domain);
    for (int i = 0; i < n; i++) {
        char *xml = virDomainSnapshotGetXMLDesc(snaps[i], 0);
        struct vmm_snapshot *s = g_new0(struct vmm_snapshot, 1);
        g_autofree char *created = xml ? xml_element(xml, "creationTime") : NULL;

        s->name = g_strdup(virDomainSnapshotGetName(snaps[i]));
        s->created = created ? g_ascii_strtoll(created, NULL, 10) : 0;
        s->state = xml ? xml_element(xml, "state") : NULL;
        s->current = virDomainSnapshotIsCurrent(snaps[i], 0) == 1;
        free(xml);
        g_ptr_array_add(out, s);
        virDomainSnapshotFree(snaps[i]);
    }
    free(snaps);
    virDomainFree(dom);
    if (r == 0)
        *snapsp = g_steal_pointer(&out);
    return r;
}

/* Find a snapshot; ENOENT with a clear message if there is none. */
static int find_snapshot(virConnectPtr conn, const char *domain, const char *name, virDomainPtr *domp,
                         virDomainSnapshotPtr *snapp, GError **error)
{
    int r = lookup(conn, domain, domp, error);

    if (r < 0)
        return r;
    *snapp = name_ok(name) ? virDomainSnapshotLookupByName(*domp, name, 0) : NULL;
    if (*snapp == NULL) {
        virDomainFree(*domp);
        g_set_error(error, VMM_ERROR, ENOENT, "VM %s has no snapshot '%s'", domain, name ? name : "");
        return -ENOENT;
    }
    return 0;
}

int vmm_snapshot_revert(virConnectPtr conn, const char *domain, const char *name, GError **error)
{
    virDomainSnapshotPtr snap = NULL;
    virDomainPtr dom = NULL;
    int r = find_snapshot(conn, domain, name, &dom, &snap, error);

    if (r < 0)
        return r;
    if (virDomainRevertToSnapshot(snap, 0) < 0)
        r = fail(error, EIO, "cannot revert", domain);
    virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return r;
}

int vmm_snapshot_delete(virConnectPtr conn, const char *domain, const char *name, GError **error)
{
    virDomainSnapshotPtr snap = NULL;
    virDomainPtr dom = NULL;
    int r = find_snapshot(conn, domain, name, &dom, &snap, error);

    if (r < 0)
        return r;
    if (virDomainSnapshotDelete(snap, 0) < 0)
        r = fail(error, EIO, "cannot delete a snapshot of", domain);
    virDomainSnapshotFree(snap);
    virDomainFree(dom);
    return r;
}

/* Run a push-mode backup job of vda to dest and wait for its end. */
static int backup_running(virDomainPtr dom, const char *domain, const char *dest, GError **error)
{
    g_autofree char *xml = g_markup_printf_escaped(
        "<domainbackup mode='push'><disks><disk name='vda' backup='yes' type='file'>"
        "<target file='%s'/><driver type='qcow2'/></disk></disks></domainbackup>", dest);
    virDomainJobInfo info;

    if (virDomainBackupBegin(dom, xml, NULL, 0) < 0)
        return fail(error, EIO, "cannot start a backup of", domain);
    for (;;) {
        if (virDomainGetJobInfo(dom, &info) < 0)
            return fail(error, EIO, "cannot follow the backup of", domain);
        if (info.type == VIR_DOMAIN_JOB_NONE)
            break;
        g_usleep(BACKUP_POLL_US);
    }
    /* The job is over: did it complete, or fail? */
    {
        virTypedParameterPtr params = NULL;
        int nparams = 0, type = 0;
        int ok = virDomainGetJobStats(dom, &type, &params, &nparams, VIR_DOMAIN_JOB_STATS_COMPLETED) == 0 &&
                 type == VIR_DOMAIN_JOB_COMPLETED;
        virTypedParamsFree(params, nparams);
        if (!ok) {
            g_set_error(error, VMM_ERROR, EIO, "the backup of %s did not complete", domain);
            return -EIO;
        }
    }
    return 0;
}

int vmm_backup(virConnectPtr conn, const char *domain, const char *pool, const char *vol,
               const char *dest, GError **error)
{
    g_autofree char *dir = NULL, *base = NULL, *vol_xml = NULL;
    virStoragePoolPtr p = NULL, tmp = NULL;
    virStorageVolPtr from = NULL, made = NULL;
    virDomainPtr dom = NULL;
    virStorageVolInfo vi;
    int r;

    if (!g_path_is_absolute(dest)) {
        g_set_error(error, VMM_ERROR, EINVAL, "%s: the backup needs an absolute path", dest);
        return -EINVAL;
    }
    if (g_file_test(dest, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VMM_ERROR, EEXIST, "%s exists already: a backup never overwrites", dest);
        return -EEXIST;
    }
    dir = g_path_get_dirname(dest);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, VMM_ERROR, ENOENT, "%s: no such directory", dir);
        return -ENOENT;
    }
    r = lookup(conn, domain, &dom, error);
    if (r < 0)
        return r;
    if (virDomainIsActive(dom) == 1) {
        r = backup_running(dom, domain, dest, error);
        goto out;
    }
    /* Off: copy the volume; libvirt writes a standalone image (no backing file). */
    p = virStoragePoolLookupByName(conn, pool);
    from = p ? virStorageVolLookupByName(p, vol) : NULL;
    if (from == NULL || virStorageVolGetInfo(from, &vi) < 0) {
        r = fail(error, ENOENT, "cannot find the disk of", domain);
        goto out;
    }
    base = g_path_get_basename(dest);
    tmp = vmm_storage_dir_pool(conn, "aula-backup", dir);
    if (tmp == NULL) {
        r = fail(error, EIO, "cannot write to", dir);
        goto out;
    }
    vol_xml = g_markup_printf_escaped("<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
                                      "<target><format type='qcow2'/><permissions><mode>0600</mode></permissions>"
                                      "</target></volume>", base, vi.capacity);
    made = virStorageVolCreateXMLFrom(tmp, vol_xml, from, 0);
    if (made == NULL)
        r = fail(error, EIO, "cannot copy the disk of", domain);
out:
    if (made)
        virStorageVolFree(made);
    if (from)
        virStorageVolFree(from);
    vmm_storage_dir_pool_drop(tmp);
    if (p)
        virStoragePoolFree(p);
    if (dom)
        virDomainFree(dom);
    return r;
}
