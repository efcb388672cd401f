/* vmm/storage: storage pool and volumes through the libvirt API. */
#include "config.h"

#include "vmm/storage.h"

#include <errno.h>
#include <string.h>

#include "vmm/conn.h"
#include "vmm/host.h"

static int fail(GError **error, int err, const char *what, const char *name)
{
    g_set_error(error, VMM_ERROR, err, "%s %s: %s", what, name, vmm_last_error());
    return -err;
}

void vmm_vol_info_clear(struct vmm_vol_info *info)
{
    g_clear_pointer(&info->path, g_free);
    g_clear_pointer(&info->format, g_free);
    g_clear_pointer(&info->backing, g_free);
}

/* ---- reading volume XML ---- */

struct vol_xml {
    GPtrArray *stack; /* element names from the root */
    char *format;
    char *backing;
};

static gboolean path_is(struct vol_xml *v, const char *const *path)
{
    guint n = g_strv_length((char **)path);

    if (v->stack->len != n)
        return FALSE;
    for (guint i = 0; i < n; i++)
        if (strcmp(g_ptr_array_index(v->stack, i), path[i]) != 0)
            return FALSE;
    return TRUE;
}

static void xml_start(GMarkupParseContext *ctx, const char *name, const char **attr_names,
                      const char **attr_values, gpointer data, GError **error)
{
    static const char *const target_format[] = { "volume", "target", "format", NULL };
    struct vol_xml *v = data;

    g_ptr_array_add(v->stack, g_strdup(name));
    if (path_is(v, target_format)) {
        for (int i = 0; attr_names[i]; i++)
            if (strcmp(attr_names[i], "type") == 0 && v->format == NULL)
                v->format = g_strdup(attr_values[i]);
    }
}

static void xml_end(GMarkupParseContext *ctx, const char *name, gpointer data, GError **error)
{
    struct vol_xml *v = data;

    g_ptr_array_remove_index(v->stack, v->stack->len - 1);
}

static void xml_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
                     GError **error)
{
    static const char *const backing_path[] = { "volume", "backingStore", "path", NULL };
    struct vol_xml *v = data;

    if (path_is(v, backing_path) && v->backing == NULL) {
        v->backing = g_strndup(text, len);
        g_strstrip(v->backing);
    }
}

/* Fill info from a volume object. */
static int read_vol(virStorageVolPtr vol, struct vmm_vol_info *info, GError **error)
{
    static const GMarkupParser parser = { xml_start, xml_end, xml_text, NULL, NULL };
    struct vol_xml v = { 0 };
    virStorageVolInfo vi;
    GMarkupParseContext *ctx;
    char *xml = NULL;
    int r = 0;

    if (virStorageVolGetInfo(vol, &vi) < 0 || (xml = virStorageVolGetXMLDesc(vol, 0)) == NULL)
        return fail(error, EIO, "cannot read volume", virStorageVolGetName(vol));
    v.stack = g_ptr_array_new_with_free_func(g_free);
    ctx = g_markup_parse_context_new(&parser, 0, &v, NULL);
    if (!g_markup_parse_context_parse(ctx, xml, -1, error) ||
        !g_markup_parse_context_end_parse(ctx, error))
        r = -EIO;
    g_markup_parse_context_free(ctx);
    g_ptr_array_unref(v.stack);
    free(xml);
    if (r < 0) {
        g_free(v.format);
        g_free(v.backing);
        return r;
    }
    {
        char *path = virStorageVolGetPath(vol);
        if (path == NULL) {
            g_free(v.format);
            g_free(v.backing);
            return fail(error, EIO, "cannot read the path of volume", virStorageVolGetName(vol));
        }
        info->path = g_strdup(path);
        free(path);
    }
    info->format = v.format ? v.format : g_strdup("unknown");
    info->backing = v.backing && *v.backing ? v.backing : (g_free(v.backing), NULL);
    info->capacity = vi.capacity;
    info->allocation = vi.allocation;
    return 0;
}

/* ---- the pool ---- */

int vmm_storage_pool_ensure(virConnectPtr conn, const char *name, const char *dir, GError **error)
{
    virStoragePoolPtr pool = virStoragePoolLookupByName(conn, name);
    int active, r = 0;

    if (pool == NULL) {
        g_autofree char *xml = g_markup_printf_escaped(
            "<pool type='dir'><name>%s</name><target><path>%s</path>"
            "<permissions><mode>0711</mode></permissions></target></pool>",
            name, dir);
        pool = virStoragePoolDefineXML(conn, xml, 0);
        if (pool == NULL)
            return fail(error, EIO, "cannot define storage pool", name);
        if (virStoragePoolBuild(pool, 0) < 0) {
            r = fail(error, EIO, "cannot build storage pool", name);
            goto out;
        }
        g_message("storage pool %s defined at %s", name, dir);
    }
    active = virStoragePoolIsActive(pool);
    if (active == 0 && virStoragePoolCreate(pool, 0) < 0) {
        r = fail(error, EIO, "cannot start storage pool", name);
        goto out;
    }
    virStoragePoolSetAutostart(pool, 1);
    if (virStoragePoolRefresh(pool, 0) < 0)
        r = fail(error, EIO, "cannot refresh storage pool", name);
out:
    virStoragePoolFree(pool);
    return r;
}

/* Look up vol in pool; -ENOENT with a clear message if either is missing. */
static int lookup_vol(virConnectPtr conn, const char *pool, const char *vol,
                      virStorageVolPtr *volp, GError **error)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(conn, pool);
    virStorageVolPtr v;

    if (p == NULL)
        return fail(error, ENOENT, "no storage pool", pool);
    v = virStorageVolLookupByName(p, vol);
    virStoragePoolFree(p);
    if (v == NULL) {
        g_set_error(error, VMM_ERROR, ENOENT, "no volume %s in storage pool %s", vol, pool);
        return -ENOENT;
    }
    *volp = v;
    return 0;
}

int vmm_storage_vol_info(virConnectPtr conn, const char *pool, const char *vol,
                         struct vmm_vol_info *info, GError **error)
{
    virStorageVolPtr v = NULL;
    int r = lookup_vol(conn, pool, vol, &v, error);

    if (r < 0)
        return r;
    r = read_vol(v, info, error);
    virStorageVolFree(v);
    return r;
}

/* The volume for a file: from the pool that holds it, or from a transient
 * pool over its directory (*tmp_poolp, to be destroyed by the caller). */
static int vol_for_file(virConnectPtr conn, const char *path, virStorageVolPtr *volp,
                        virStoragePoolPtr *tmp_poolp, GError **error)
{
    g_autofree char *dir = NULL, *base = NULL;
    virStoragePoolPtr pool;
    virStorageVolPtr vol;

    *tmp_poolp = NULL;
    if (!g_path_is_absolute(path)) {
        g_set_error(error, VMM_ERROR, EINVAL, "%s: not an absolute path", path);
        return -EINVAL;
    }
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VMM_ERROR, ENOENT, "%s: no such file", path);
        return -ENOENT;
    }
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, VMM_ERROR, EINVAL, "%s: not a regular file", path);
        return -EINVAL;
    }
    vol = virStorageVolLookupByPath(conn, path);
    if (vol) {
        *volp = vol;
        return 0;
    }
    dir = g_path_get_dirname(path);
    base = g_path_get_basename(path);
    pool = vmm_storage_dir_pool(conn, "aula-import", dir);
    if (pool == NULL)
        return fail(error, EIO, "cannot read the directory of", path);
    vol = virStorageVolLookupByName(pool, base);
    if (vol == NULL) {
        vmm_storage_dir_pool_drop(pool);
        g_set_error(error, VMM_ERROR, EINVAL, "%s: libvirt does not see it as a disk image", path);
        return -EINVAL;
    }
    *volp = vol;
    *tmp_poolp = pool;
    return 0;
}

virStoragePoolPtr vmm_storage_dir_pool(virConnectPtr conn, const char *prefix, const char *dir)
{
    g_autofree char *name = g_strdup_printf("%s-%08x", prefix, g_random_int());
    g_autofree char *xml = g_markup_printf_escaped(
        "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>", name, dir);

    return virStoragePoolCreateXML(conn, xml, 0);
}

void vmm_storage_dir_pool_drop(virStoragePoolPtr pool)
{
    if (pool) {
        virStoragePoolDestroy(pool);
        virStoragePoolFree(pool);
    }
}

int vmm_storage_file_info(virConnectPtr conn, const char *path, struct vmm_vol_info *info,
                          GError **error)
{
    virStoragePoolPtr tmp = NULL;
    virStorageVolPtr vol = NULL;
    int r;

    r = vol_for_file(conn, path, &vol, &tmp, error);
    if (r == 0)
        r = read_vol(vol, info, error);
    if (vol)
        virStorageVolFree(vol);
    vmm_storage_dir_pool_drop(tmp);
    return r;
}

int vmm_storage_import(virConnectPtr conn, const char *pool, const char *src, const char *vol,
                       const char *format, GError **error)
{
    struct vmm_vol_info info = { 0 };
    virStoragePoolPtr p = NULL, tmp = NULL;
    virStorageVolPtr from = NULL, made = NULL;
    g_autofree char *xml = NULL;
    int r;

    r = vol_for_file(conn, src, &from, &tmp, error);
    if (r < 0)
        goto out;
    r = read_vol(from, &info, error);
    if (r < 0)
        goto out;
    if (strcmp(format, "qcow2") == 0 && strcmp(info.format, "qcow2") != 0) {
        g_set_error(error, VMM_ERROR, EINVAL, "%s is a %s image, not qcow2", src, info.format);
        r = -EINVAL;
        goto out;
    }
    /* A template must stand alone: a backing file would be read with the
     * broker's privileges and could be any file on the host. */
    if (strcmp(format, "qcow2") == 0 && info.backing) {
        g_set_error(error, VMM_ERROR, EINVAL, "%s has a backing file (%s): import a standalone image",
                    src, info.backing);
        r = -EINVAL;
        goto out;
    }
    p = virStoragePoolLookupByName(conn, pool);
    if (p == NULL) {
        r = fail(error, ENOENT, "no storage pool", pool);
        goto out;
    }
    xml = g_markup_printf_escaped(
        "<volume><name>%s</name><capacity unit='bytes'>%" G_GUINT64_FORMAT "</capacity>"
        "<target><format type='%s'/><permissions><mode>0444</mode></permissions></target></volume>",
        vol, info.capacity, format);
    made = virStorageVolCreateXMLFrom(p, xml, from, 0);
    if (made == NULL)
        r = fail(error, EIO, "cannot import", src);
out:
    vmm_vol_info_clear(&info);
    if (made)
        virStorageVolFree(made);
    if (from)
        virStorageVolFree(from);
    if (p)
        virStoragePoolFree(p);
    vmm_storage_dir_pool_drop(tmp);
    return r;
}

/* Create vol in pool from xml, optionally cloning from base; set *pathp. */
static int create_vol(virConnectPtr conn, const char *pool, const char *xml, virStorageVolPtr from,
                      const char *vol, char **pathp, GError **error)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(conn, pool);
    virStorageVolPtr made;

    if (p == NULL)
        return fail(error, ENOENT, "no storage pool", pool);
    made = from ? virStorageVolCreateXMLFrom(p, xml, from, 0) : virStorageVolCreateXML(p, xml, 0);
    virStoragePoolFree(p);
    if (made == NULL)
        return fail(error, EIO, "cannot create volume", vol);
    {
        char *path = virStorageVolGetPath(made);
        if (path == NULL) {
            int r = fail(error, EIO, "cannot read the path of volume", vol);
            virStorageVolFree(made);
            return r;
        }
        *pathp = g_strdup(path);
        free(path);
    }
    virStorageVolFree(made);
    return 0;
}

int vmm_storage_overlay(virConnectPtr conn, const char *pool, const char *vol, const char *base,
                        char **pathp, GError **error)
{
    struct vmm_vol_info info = { 0 };
    g_autofree char *xml = NULL;
    int r;

    r = vmm_storage_vol_info(conn, pool, base, &info, error);
    if (r < 0)
        return r;
    xml = g_markup_printf_escaped(
        "<volume><name>%s</name><capacity unit='bytes'>%" G_GUINT64_FORMAT "</capacity>"
        "<target><format type='qcow2'/><permissions><mode>0600</mode></permissions></target>"
        "<backingStore><path>%s</path><format type='%s'/></backingStore></volume>",
        vol, info.capacity, info.path, info.format);
    r = create_vol(conn, pool, xml, NULL, vol, pathp, error);
    vmm_vol_info_clear(&info);
    return r;
}

int vmm_storage_copy(virConnectPtr conn, const char *pool, const char *vol, const char *base,
                     char **pathp, GError **error)
{
    struct vmm_vol_info info = { 0 };
    virStorageVolPtr from = NULL;
    g_autofree char *xml = NULL;
    int r;

    r = lookup_vol(conn, pool, base, &from, error);
    if (r == 0)
        r = read_vol(from, &info, error);
    if (r == 0) {
        xml = g_markup_printf_escaped(
            "<volume><name>%s</name><capacity unit='bytes'>%" G_GUINT64_FORMAT "</capacity>"
            "<target><format type='qcow2'/><permissions><mode>0600</mode></permissions></target></volume>",
            vol, info.capacity);
        r = create_vol(conn, pool, xml, from, vol, pathp, error);
    }
    vmm_vol_info_clear(&info);
    if (from)
        virStorageVolFree(from);
    return r;
}

int vmm_storage_delete(virConnectPtr conn, const char *pool, const char *vol, GError **error)
{
    virStorageVolPtr v = NULL;
    int r = lookup_vol(conn, pool, vol, &v, NULL);

    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return fail(error, EIO, "cannot find volume", vol);
    if (virStorageVolDelete(v, 0) < 0)
        r = fail(error, EIO, "cannot delete volume", vol);
    virStorageVolFree(v);
    return r;
}
