/* vmm/host: libvirt host probing. See host.h for the error contract. */
#include "config.h"

#include "vmm/host.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK(aula-vmm-error-quark, vmm_error)

static const char *const hv_names[] = {
    [VMM_HV_AUTO] = "auto",
    [VMM_HV_KVM] = "kvm",
    [VMM_HV_QEMU] = "qemu",
};

/* Set *error (code = err) and return -err. */
G_GNUC_PRINTF(3, 4)
static int fail(GError **error, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(VMM_ERROR, err, fmt, ap);
    va_end(ap);
    return -err;
}

/* The setting's text to its enum; *out only on a match. */
int vmm_hypervisor_parse(const char *s, enum vmm_hypervisor *out)
{
    if (s == NULL)
        return -EINVAL;
    for (size_t i = 0; i < G_N_ELEMENTS(hv_names); i++) {
        if (strcmp(s, hv_names[i]) == 0) {
            *out = (enum vmm_hypervisor)i;
            return 0;
        }
    }
    return -EINVAL;
}

const char *vmm_hypervisor_name(enum vmm_hypervisor hv)
{
    if ((unsigned)hv >= G_N_ELEMENTS(hv_names))
        return "unknown";
    return hv_names[hv];
}

void vmm_host_info_free(struct vmm_host_info *info)
{
    if (info == NULL)
        return;
    g_free(info->uri);
    g_free(info->libvirt_version);
    g_free(info->note);
    g_free(info);
}

static void ignore_libvirt_error(void *opaque, virErrorPtr err)
{
}

/* libvirt prints every error to stderr unless a handler is set. The handler
 * is process-wide, so it is installed once; errors still reach us through
 * virGetLastErrorMessage() (thread-local) and go up in a GError. */
static void silence_libvirt_errors(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        virSetErrorFunc(NULL, ignore_libvirt_error);
        g_once_init_leave(&done, 1);
    }
}

/* "9.0.0" from libvirt's packed major * 1,000,000 + minor * 1,000 + release. */
static char *version_string(unsigned long v)
{
    return g_strdup_printf("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

/* Whether the host can run kvm domains. Asking for the domain capabilities of
 * virttype "kvm" is the API's own answer: the QEMU driver refuses it when
 * /dev/kvm is missing or the emulator lacks KVM support, and drivers without
 * domain capabilities (the test driver, say) refuse it too. On refusal *whyp
 * gets libvirt's message (caller frees). */
static gboolean kvm_offered(virConnectPtr conn, char **whyp)
{
    char *caps = virConnectGetDomainCapabilities(conn, NULL, NULL, NULL, "kvm", 0);

    if (caps == NULL) {
        *whyp = g_strdup(virGetLastErrorMessage());
        return FALSE;
    }
    free(caps);
    return TRUE;
}

/* Fill info->domain_type (and info->note) for pref. */
static int choose_domain_type(virConnectPtr conn, enum vmm_hypervisor pref,
                              struct vmm_host_info *info, GError **error)
{
    char *why = NULL;
    int r = -EINVAL;

    switch (pref) {
    case VMM_HV_QEMU:
        info->domain_type = VMM_HV_QEMU;
        r = 0;
        break;
    case VMM_HV_KVM:
        if (!kvm_offered(conn, &why)) {
            r = fail(error, EOPNOTSUPP,
                     "hypervisor = kvm, but %s offers no kvm domains: %s; "
                     "set hypervisor = qemu or auto", info->uri, why);
            goto out;
        }
        info->domain_type = VMM_HV_KVM;
        r = 0;
        break;
    case VMM_HV_AUTO:
        if (kvm_offered(conn, &why)) {
            info->domain_type = VMM_HV_KVM;
        } else {
            info->domain_type = VMM_HV_QEMU;
            info->note = g_strdup_printf("kvm is not offered by %s (%s): "
                                         "VMs run under TCG emulation, much slower",
                                         info->uri, why);
        }
        r = 0;
        break;
    default:
        r = fail(error, EINVAL, "unknown hypervisor preference %d", (int)pref);
        break;
    }
out:
    g_free(why);
    return r;
}

/* Read node facts and pick the domain type on an open connection; see host.h. */
int vmm_host_read(virConnectPtr conn, enum vmm_hypervisor pref, struct vmm_host_info **infop,
                  GError **error)
{
    struct vmm_host_info *info = NULL;
    virNodeInfo node;
    unsigned long libver = 0;
    char *s;
    int r = -EINVAL;

    silence_libvirt_errors();
    if ((unsigned)pref >= G_N_ELEMENTS(hv_names)) {
        r = fail(error, EINVAL, "unknown hypervisor preference %d", (int)pref);
        goto out;
    }
    info = g_new0(struct vmm_host_info, 1);

    /* libvirt allocates with malloc(); copy so the struct is g_free()d throughout. */
    s = virConnectGetURI(conn);
    if (s == NULL) {
        r = fail(error, EIO, "cannot read the URI of a libvirt connection: %s",
                 virGetLastErrorMessage());
        goto out;
    }
    info->uri = g_strdup(s);
    free(s);

    if (virConnectGetLibVersion(conn, &libver) < 0) {
        r = fail(error, EIO, "cannot read the libvirt version of %s: %s", info->uri,
                 virGetLastErrorMessage());
        goto out;
    }
    info->libvirt_version = version_string(libver);

    memset(&node, 0, sizeof(node));
    if (virNodeGetInfo(conn, &node) < 0) {
        r = fail(error, EIO, "cannot read the node information of %s: %s", info->uri,
                 virGetLastErrorMessage());
        goto out;
    }
    info->memory_mib = (int64_t)(node.memory / 1024); /* virNodeInfo.memory is in KiB */
    info->cpus = (int)node.cpus;

    r = choose_domain_type(conn, pref, info, error);
    if (r < 0)
        goto out;

    *infop = info;
    info = NULL;
    r = 0;
out:
    vmm_host_info_free(info);
    return r;
}

/* Open, read, close; see host.h. */
int vmm_host_probe(const char *uri, enum vmm_hypervisor pref, struct vmm_host_info **infop,
                   GError **error)
{
    virConnectPtr conn;
    int r;

    silence_libvirt_errors();
    if ((unsigned)pref >= G_N_ELEMENTS(hv_names))
        return fail(error, EINVAL, "unknown hypervisor preference %d", (int)pref);
    conn = virConnectOpen(uri);
    if (conn == NULL)
        return fail(error, ECONNREFUSED, "cannot connect to libvirt at %s: %s; is libvirtd running?",
                    uri ? uri : "the default URI", virGetLastErrorMessage());
    r = vmm_host_read(conn, pref, infop, error);
    virConnectClose(conn);
    return r;
}
