/* vmm/domain_xml: domain XML for pool VMs. */
#include "config.h"

#include "vmm/domain_xml.h"

#include <errno.h>
#include <string.h>

static gboolean one_of(const char *v, const char *const *choices)
{
    return v && g_strv_contains(choices, v);
}

static int invalid(GError **error, const char *what, const char *value)
{
    g_set_error(error, VMM_ERROR, EINVAL, "cannot build the domain: %s '%s'", what,
                value ? value : "(none)");
    return -EINVAL;
}

/* Append markup-escaped printf output. */
G_GNUC_PRINTF(2, 3)
static void add(GString *s, const char *fmt, ...)
{
    va_list ap;
    char *text;

    va_start(ap, fmt);
    text = g_markup_vprintf_escaped(fmt, ap);
    va_end(ap);
    g_string_append(s, text);
    g_free(text);
}

static int check_spec(const struct vmm_vm_spec *s, GError **error)
{
    static const char *const videos[] = { "virtio", "qxl", "vga", NULL };
    static const char *const firmwares[] = { "bios", "uefi", NULL };
    static const char *const oses[] = { "linux", "windows", NULL };
    static const char *const formats[] = { "qcow2", "raw", NULL };

    if (s->name == NULL || *s->name == '\0')
        return invalid(error, "name", s->name);
    if (s->uuid == NULL || !g_uuid_string_is_valid(s->uuid))
        return invalid(error, "UUID", s->uuid);
    if (s->mac == NULL || strlen(s->mac) != 17)
        return invalid(error, "MAC", s->mac);
    if (s->domain_type != VMM_HV_KVM && s->domain_type != VMM_HV_QEMU)
        return invalid(error, "domain type", vmm_hypervisor_name(s->domain_type));
    if (s->memory_mib < 16 || s->vcpus < 1)
        return invalid(error, "size", "memory or vcpus");
    if (!one_of(s->video, videos))
        return invalid(error, "video model", s->video);
    if (!one_of(s->firmware, firmwares))
        return invalid(error, "firmware", s->firmware);
    if (!one_of(s->os, oses))
        return invalid(error, "OS type", s->os);
    if (s->disk_path == NULL || !g_path_is_absolute(s->disk_path))
        return invalid(error, "disk", s->disk_path);
    if (s->disk_format && !one_of(s->disk_format, formats))
        return invalid(error, "disk format", s->disk_format);
    if (s->network && strcmp(s->network, "none") == 0)
        return s->vlan ? invalid(error, "VLAN tag without a bridge", s->network) : 0;
    if (s->network && !g_str_has_prefix(s->network, "network:") &&
        !g_str_has_prefix(s->network, "bridge:"))
        return invalid(error, "network (use network:NAME or bridge:DEV)", s->network);
    if (s->network && strchr(s->network, ':')[1] == '\0')
        return invalid(error, "network", s->network);
    if (s->vlan < 0 || s->vlan > 4094)
        return invalid(error, "VLAN tag", "out of 0..4094");
    if (s->vlan && (s->network == NULL || !g_str_has_prefix(s->network, "bridge:")))
        return invalid(error, "VLAN tag without a bridge", s->network);
    if ((s->initrd || s->cmdline) && s->kernel == NULL)
        return invalid(error, "initrd or cmdline without a kernel", s->initrd ? s->initrd : s->cmdline);
    return 0;
}

int vmm_domain_xml(const struct vmm_vm_spec *s, char **xmlp, GError **error)
{
    const char *net = s->network ? s->network : "network:default";
    const char *net_name = strchr(net, ':') ? strchr(net, ':') + 1 : "";
    gboolean windows;
    GString *x;
    int r;

    r = check_spec(s, error);
    if (r < 0)
        return r;
    windows = strcmp(s->os, "windows") == 0;
    x = g_string_new(NULL);
    add(x, "<domain type='%s'>\n", s->domain_type == VMM_HV_KVM ? "kvm" : "qemu");
    add(x, "  <name>%s</name>\n  <uuid>%s</uuid>\n", s->name, s->uuid);
    add(x, "  <metadata><aula:vm xmlns:aula='https://aula.invalid/xmlns/vm/1'/></metadata>\n");
    g_string_append_printf(x, "  <memory unit='MiB'>%" G_GINT64_FORMAT "</memory>\n", s->memory_mib);
    g_string_append_printf(x, "  <vcpu>%" G_GINT64_FORMAT "</vcpu>\n", s->vcpus);
    if (strcmp(s->firmware, "uefi") == 0)
        g_string_append(x, "  <os firmware='efi'>\n");
    else
        g_string_append(x, "  <os>\n");
    g_string_append(x, "    <type arch='x86_64' machine='pc'>hvm</type>\n");
    if (s->kernel) {
        add(x, "    <kernel>%s</kernel>\n", s->kernel);
        if (s->initrd)
            add(x, "    <initrd>%s</initrd>\n", s->initrd);
        if (s->cmdline)
            add(x, "    <cmdline>%s</cmdline>\n", s->cmdline);
    } else {
        g_string_append(x, "    <boot dev='hd'/>\n");
    }
    g_string_append(x, "  </os>\n  <features><acpi/><apic/>");
    if (windows && s->domain_type == VMM_HV_KVM)
        g_string_append(x, "<hyperv mode='custom'><relaxed state='on'/><vapic state='on'/>"
                           "<spinlocks state='on' retries='8191'/></hyperv>");
    g_string_append(x, "</features>\n");
    g_string_append(x, s->domain_type == VMM_HV_KVM ? "  <cpu mode='host-passthrough'/>\n" : "");
    add(x, "  <clock offset='%s'/>\n", windows ? "localtime" : "utc");
    g_string_append(x, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
                       "  <on_crash>destroy</on_crash>\n  <devices>\n");
    add(x, "    <disk type='file' device='disk'>\n"
           "      <driver name='qemu' type='%s' cache='none' discard='unmap'/>\n"
           "      <source file='%s'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n",
        s->disk_format ? s->disk_format : "qcow2", s->disk_path);
    if (g_str_has_prefix(net, "bridge:")) {
        add(x, "    <interface type='bridge'>\n      <source bridge='%s'/>\n", net_name);
        if (s->vlan)
            g_string_append_printf(x, "      <vlan><tag id='%d'/></vlan>\n", s->vlan);
    } else if (strcmp(net, "none") != 0) {
        add(x, "    <interface type='network'>\n      <source network='%s'/>\n", net_name);
    }
    if (strcmp(net, "none") != 0)
        add(x, "      <mac address='%s'/>\n      <model type='virtio'/>\n    </interface>\n", s->mac);
    g_string_append(x, "    <controller type='usb' model='qemu-xhci'/>\n"
                       "    <input type='tablet' bus='usb'/>\n"
                       "    <input type='keyboard' bus='ps2'/>\n");
    /* VNC on a UNIX socket libvirt creates and owns: no TCP port, and
     * virDomainOpenGraphicsFD hands aula a connected fd. */
    g_string_append(x, "    <graphics type='vnc'>\n      <listen type='socket'/>\n    </graphics>\n");
    add(x, "    <video>\n      <model type='%s'/>\n    </video>\n", s->video);
    g_string_append(x, "    <channel type='unix'>\n      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
                       "    </channel>\n");
    if (s->serial_log)
        add(x, "    <serial type='file'>\n      <source path='%s' append='on'/>\n      <target port='0'/>\n    </serial>\n",
            s->serial_log);
    else
        g_string_append(x, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
    g_string_append(x, "    <memballoon model='virtio'/>\n    <rng model='virtio'>\n"
                       "      <backend model='random'>/dev/urandom</backend>\n    </rng>\n");
    g_string_append(x, "  </devices>\n</domain>\n");
    *xmlp = g_string_free(x, FALSE);
    return 0;
}

char *vmm_random_mac(void)
{
    return g_strdup_printf("52:54:00:%02x:%02x:%02x", g_random_int_range(0, 256),
                           g_random_int_range(0, 256), g_random_int_range(0, 256));
}
