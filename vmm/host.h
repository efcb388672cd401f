/* vmm/host: what a libvirt host offers (aulad reads it each time it connects).
 *
 * Everything goes through the libvirt API; nothing here runs a command.
 * Functions return 0 or a negative errno and, on failure, set a GError in
 * VMM_ERROR whose code is the positive errno:
 *   EINVAL        a bad argument (an unknown hypervisor name)
 *   ECONNREFUSED  libvirt could not be reached at the URI
 *   EOPNOTSUPP    hypervisor = kvm, but the host offers no kvm domains
 *   EIO           libvirt failed while answering
 * Nothing is logged here at warning level: the caller reports *error once.
 */
#ifndef AULA_VMM_HOST_H
#define AULA_VMM_HOST_H

#include <glib.h>
#include <libvirt/libvirt.h>
#include <stdint.h>

#define VMM_ERROR (vmm_error_quark())
GQuark vmm_error_quark(void);

/* The `hypervisor` setting: which libvirt domain type VMs are created with. */
enum vmm_hypervisor {
    VMM_HV_AUTO,  /* kvm when the host offers it, else qemu (TCG) */
    VMM_HV_KVM,   /* kvm or nothing */
    VMM_HV_QEMU,  /* always qemu (TCG emulation) */
};

/* "auto" | "kvm" | "qemu" -> 0 and *out; anything else (or NULL) -> -EINVAL,
 * *out untouched. */
int vmm_hypervisor_parse(const char *s, enum vmm_hypervisor *out);
/* The setting's spelling ("auto", "kvm", "qemu"); "unknown" for a value out of
 * range. Static storage, never NULL. */
const char *vmm_hypervisor_name(enum vmm_hypervisor hv);

struct vmm_host_info {
    char *uri;              /* the URI libvirt reports (virConnectGetURI) */
    char *libvirt_version;  /* "9.0.0" from virConnectGetLibVersion */
    enum vmm_hypervisor domain_type; /* VMM_HV_KVM or VMM_HV_QEMU: what VMs will use */
    char *note;             /* NULL, or why auto fell back to qemu (TCG), for a logged warning */
    int64_t memory_mib;     /* virNodeGetInfo */
    int cpus;
};
/* Frees info and its strings; NULL is a no-op. */
void vmm_host_info_free(struct vmm_host_info *info);

/* Connect to uri (NULL: libvirt's default URI), read the host facts, choose
 * the domain type for pref, disconnect. On success *infop is set and the
 * caller frees it with vmm_host_info_free(); on failure *infop is untouched. */
int vmm_host_probe(const char *uri, enum vmm_hypervisor pref, struct vmm_host_info **infop,
                   GError **error);

/* The same facts from a connection the caller holds (borrowed). */
int vmm_host_read(virConnectPtr conn, enum vmm_hypervisor pref, struct vmm_host_info **infop,
                  GError **error);

#endif
