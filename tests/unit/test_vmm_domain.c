/* Unit tests for vmm/domain_xml and vmm/storage against libvirt's test driver. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libvirt/libvirt.h>
#include <string.h>

#include "vmm/conn.h"
#include "vmm/domain_xml.h"
#include "vmm/storage.h"

static struct vmm_vm_spec base_spec(void)
{
    struct vmm_vm_spec s = {
        .name = "aula-lab-1",
        .uuid = "2b0a7c52-4c3e-4a35-9b4e-1f0c7f8d9a01",
        .mac = "52:54:00:12:34:56",
        .domain_type = VMM_HV_QEMU,
        .memory_mib = 2048,
        .vcpus = 2,
        .video = "virtio",
        .firmware = "bios",
        .os = "linux",
        .disk_path = "/var/lib/aula/images/aula-lab-1.qcow2",
    };
    return s;
}

static void assert_contains(const char *xml, const char *needle)
{
    if (strstr(xml, needle) == NULL)
        fail_msg("domain XML lacks %s:\n%s", needle, xml);
}

static void test_xml_devices(void **state)
{
    struct vmm_vm_spec s = base_spec();
    g_autofree char *xml = NULL;

    assert_int_equal(vmm_domain_xml(&s, &xml, NULL), 0);
    assert_contains(xml, "<domain type='qemu'>");
    assert_contains(xml, "<name>aula-lab-1</name>");
    assert_contains(xml, "<uuid>2b0a7c52-4c3e-4a35-9b4e-1f0c7f8d9a01</uuid>");
    assert_contains(xml, "<memory unit='MiB'>2048</memory>");
    assert_contains(xml, "<vcpu>2</vcpu>");
    assert_contains(xml, "<target dev='vda' bus='virtio'/>");
    assert_contains(xml, "<source file='/var/lib/aula/images/aula-lab-1.qcow2'/>");
    assert_contains(xml, "<source network='default'/>");
    assert_contains(xml, "<mac address='52:54:00:12:34:56'/>");
    assert_contains(xml, "<model type='virtio'/>");
    assert_contains(xml, "<input type='tablet' bus='usb'/>");
    assert_contains(xml, "<listen type='socket'/>");
    assert_contains(xml, "org.qemu.guest_agent.0");
    assert_contains(xml, "<boot dev='hd'/>");
    /* no TCP listener for the display */
    assert_null(strstr(xml, "<listen type='address'"));
    assert_null(strstr(xml, "autoport"));
}

static void test_xml_variants(void **state)
{
    struct vmm_vm_spec s = base_spec();
    g_autofree char *xml = NULL;

    s.domain_type = VMM_HV_KVM;
    s.video = "qxl";
    s.firmware = "uefi";
    s.os = "windows";
    s.network = "bridge:br0";
    s.vlan = 20;
    s.kernel = "/k/vmlinuz";
    s.initrd = "/k/initrd.img";
    s.cmdline = "console=ttyS0 a<b";
    s.serial_log = "/var/log/aula/serial.log";
    assert_int_equal(vmm_domain_xml(&s, &xml, NULL), 0);
    assert_contains(xml, "<domain type='kvm'>");
    assert_contains(xml, "<model type='qxl'/>");
    assert_contains(xml, "<os firmware='efi'>");
    assert_contains(xml, "<hyperv");
    assert_contains(xml, "<clock offset='localtime'/>");
    assert_contains(xml, "<source bridge='br0'/>");
    assert_contains(xml, "<tag id='20'/>");
    assert_contains(xml, "<kernel>/k/vmlinuz</kernel>");
    assert_contains(xml, "<cmdline>console=ttyS0 a&lt;b</cmdline>");
    assert_contains(xml, "<source path='/var/log/aula/serial.log' append='on'/>");
    assert_null(strstr(xml, "<boot dev='hd'/>"));
}

/* Build with one field spoiled; it must be refused with -EINVAL and a message. */
static void expect_refused(struct vmm_vm_spec *s, const char *needle)
{
    g_autoptr(GError) err = NULL;
    char *xml = NULL;

    assert_int_equal(vmm_domain_xml(s, &xml, &err), -EINVAL);
    assert_null(xml);
    assert_non_null(err);
    if (strstr(err->message, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err->message, needle);
}

static void test_xml_no_network(void **state)
{
    struct vmm_vm_spec s = base_spec();
    g_autofree char *xml = NULL;

    s.network = "none";
    assert_int_equal(vmm_domain_xml(&s, &xml, NULL), 0);
    assert_null(strstr(xml, "<interface"));
    assert_null(strstr(xml, "<mac "));
}

static void test_xml_refusals(void **state)
{
    struct vmm_vm_spec s;

    s = base_spec(); s.video = "cirrus"; expect_refused(&s, "video model");
    s = base_spec(); s.firmware = "coreboot"; expect_refused(&s, "firmware");
    s = base_spec(); s.os = "beos"; expect_refused(&s, "OS type");
    s = base_spec(); s.uuid = "not-a-uuid"; expect_refused(&s, "UUID");
    s = base_spec(); s.mac = "52:54"; expect_refused(&s, "MAC");
    s = base_spec(); s.disk_path = "relative.qcow2"; expect_refused(&s, "disk");
    s = base_spec(); s.network = "wifi:home"; expect_refused(&s, "network");
    s = base_spec(); s.network = "bridge:"; expect_refused(&s, "network");
    s = base_spec(); s.vlan = 20; expect_refused(&s, "VLAN tag without a bridge");
    s = base_spec(); s.network = "bridge:br0"; s.vlan = 5000; expect_refused(&s, "VLAN tag");
    s = base_spec(); s.initrd = "/k/initrd"; expect_refused(&s, "without a kernel");
    s = base_spec(); s.domain_type = VMM_HV_AUTO; expect_refused(&s, "domain type");
    s = base_spec(); s.name = ""; expect_refused(&s, "name");
    s = base_spec(); s.network = "none"; s.vlan = 3; expect_refused(&s, "VLAN tag without a bridge");
}

/* libvirt's own parser accepts what vmm_domain_xml builds, and keeps the devices. */
static void test_xml_defines(void **state)
{
    struct vmm_vm_spec s = base_spec();
    g_autofree char *xml = NULL;
    virConnectPtr conn;
    virDomainPtr dom;
    char *back;

    vmm_event_init();
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    s.video = "vga";
    s.serial_log = "/tmp/aula-serial.log";
    assert_int_equal(vmm_domain_xml(&s, &xml, NULL), 0);
    dom = virDomainDefineXML(conn, xml);
    if (dom == NULL)
        fail_msg("libvirt refused the XML: %s\n%s", vmm_last_error(), xml);
    back = virDomainGetXMLDesc(dom, 0);
    assert_non_null(back);
    assert_non_null(strstr(back, "<listen type='socket'"));
    assert_non_null(strstr(back, "<model type='vga'"));
    assert_non_null(strstr(back, "type='tablet' bus='usb'"));
    assert_non_null(strstr(back, "52:54:00:12:34:56"));
    free(back);
    assert_int_equal(virDomainUndefine(dom), 0);
    virDomainFree(dom);
    virConnectClose(conn);
}

static void test_random_mac(void **state)
{
    g_autofree char *a = vmm_random_mac();
    g_autofree char *b = vmm_random_mac();

    assert_int_equal(strlen(a), 17);
    assert_true(g_str_has_prefix(a, "52:54:00:"));
    for (int i = 0; i < 17; i++)
        assert_true(i % 3 == 2 ? a[i] == ':' : g_ascii_isxdigit(a[i]));
    (void)b;
}

/* Overlays and copies through the test driver's storage pool. */
static void test_storage_clones(void **state)
{
    struct vmm_vol_info info = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *overlay = NULL, *copy = NULL;
    virConnectPtr conn;
    virStoragePoolPtr pool;
    virStorageVolPtr base;

    vmm_event_init();
    conn = virConnectOpen("test:///default");
    assert_non_null(conn);
    assert_int_equal(vmm_storage_pool_ensure(conn, "aula-test", "/aula-test", &err), 0);
    assert_int_equal(vmm_storage_pool_ensure(conn, "aula-test", "/aula-test", &err), 0);
    pool = virStoragePoolLookupByName(conn, "aula-test");
    assert_non_null(pool);
    base = virStorageVolCreateXML(pool,
        "<volume><name>tmpl.qcow2</name><capacity unit='MiB'>64</capacity>"
        "<target><format type='qcow2'/></target></volume>", 0);
    assert_non_null(base);
    assert_int_equal(vmm_storage_vol_info(conn, "aula-test", "tmpl.qcow2", &info, &err), 0);
    assert_string_equal(info.format, "qcow2");
    assert_int_equal(info.capacity, 64 * 1024 * 1024);
    assert_null(info.backing);
    vmm_vol_info_clear(&info);

    assert_int_equal(vmm_storage_overlay(conn, "aula-test", "vm1.qcow2", "tmpl.qcow2", &overlay, &err), 0);
    assert_string_equal(overlay, "/aula-test/vm1.qcow2");
    assert_int_equal(vmm_storage_vol_info(conn, "aula-test", "vm1.qcow2", &info, &err), 0);
    assert_string_equal(info.backing, "/aula-test/tmpl.qcow2");
    assert_int_equal(info.capacity, 64 * 1024 * 1024);
    vmm_vol_info_clear(&info);

    assert_int_equal(vmm_storage_copy(conn, "aula-test", "vm2.qcow2", "tmpl.qcow2", &copy, &err), 0);
    assert_int_equal(vmm_storage_vol_info(conn, "aula-test", "vm2.qcow2", &info, &err), 0);
    assert_null(info.backing);
    vmm_vol_info_clear(&info);

    assert_int_equal(vmm_storage_vol_info(conn, "aula-test", "nope", &info, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(vmm_storage_overlay(conn, "aula-test", "vm3.qcow2", "nope", &overlay, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(vmm_storage_delete(conn, "aula-test", "vm1.qcow2", &err), 0);
    assert_int_equal(vmm_storage_delete(conn, "aula-test", "vm1.qcow2", &err), 0);
    assert_int_equal(vmm_storage_vol_info(conn, "aula-test", "vm1.qcow2", &info, &err), -ENOENT);
    g_clear_error(&err);

    assert_int_equal(vmm_storage_file_info(conn, "/definitely/not/here.qcow2", &info, &err), -ENOENT);
    assert_non_null(strstr(err->message, "no such file"));
    g_clear_error(&err);

    virStorageVolFree(base);
    virStoragePoolFree(pool);
    virConnectClose(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_devices),
        cmocka_unit_test(test_xml_variants),
        cmocka_unit_test(test_xml_no_network),
        cmocka_unit_test(test_xml_refusals),
        cmocka_unit_test(test_xml_defines),
        cmocka_unit_test(test_random_mac),
        cmocka_unit_test(test_storage_clones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
