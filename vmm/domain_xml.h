/* vmm/domain_xml: libvirt domain XML for a pool VM, from its template's settings.
 *
 * What every VM gets, and why:
 * - a virtio disk (the VM's qcow2 overlay) and a virtio NIC on the pool's network;
 * - a USB tablet, so the pointer is absolute and matches the client's;
 * - the template's video model;
 * - a qemu-guest-agent channel, for guests that run the agent;
 * - VNC graphics listening on a UNIX socket that libvirt manages: aula reads the
 *   screen through virDomainOpenGraphicsFD and no TCP port is ever opened;
 * - optionally a serial console logged to a file, and direct kernel boot. */
#ifndef AULA_VMM_DOMAIN_XML_H
#define AULA_VMM_DOMAIN_XML_H

#include <glib.h>
#include <stdint.h>

#include "vmm/host.h"

struct vmm_vm_spec {
    const char *name;         /* aula-<pool>-<n> */
    const char *uuid;         /* canonical UUID string */
    const char *mac;          /* 52:54:00:xx:xx:xx */
    enum vmm_hypervisor domain_type; /* VMM_HV_KVM or VMM_HV_QEMU */
    int64_t memory_mib;
    int64_t vcpus;
    const char *video;        /* virtio | qxl | vga */
    const char *firmware;     /* bios | uefi */
    const char *os;           /* linux | windows */
    const char *disk_path;    /* the VM's disk */
    const char *disk_format;  /* qcow2 (default) or raw */
    const char *kernel;       /* direct kernel boot, or NULL */
    const char *initrd;       /* or NULL */
    const char *cmdline;      /* or NULL */
    const char *network;      /* "network:NAME", "bridge:DEV" or "none"; NULL: network:default */
    int vlan;                 /* 802.1Q tag on a bridge, 0: none */
    const char *serial_log;   /* file for the serial console, or NULL */
};

/* Build the domain XML for spec. Caller frees *xmlp. -EINVAL for a spec that
 * cannot be expressed (unknown video model, bad network, missing fields). */
int vmm_domain_xml(const struct vmm_vm_spec *spec, char **xmlp, GError **error);

/* A random locally administered MAC in QEMU's 52:54:00 range. Caller frees. */
char *vmm_random_mac(void);

#endif
