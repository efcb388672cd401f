/* Unit tests for vmm/host against libvirt's built-in test driver. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/host.h"

#define TEST_URI "test:///default"

static void test_parse_good(void **state)
{
    enum vmm_hypervisor hv = VMM_HV_QEMU;

    assert_int_equal(vmm_hypervisor_parse("auto", &hv), 0);
    assert_int_equal(hv, VMM_HV_AUTO);
    assert_int_equal(vmm_hypervisor_parse("kvm", &hv), 0);
    assert_int_equal(hv, VMM_HV_KVM);
    assert_int_equal(vmm_hypervisor_parse("qemu", &hv), 0);
    assert_int_equal(hv, VMM_HV_QEMU);
}

static void test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "", "KVM", "Auto", "kvm ", " qemu", "tcg", "xen", "qemu\n", "kv", "kvmm",
    };
    enum vmm_hypervisor hv = VMM_HV_KVM;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(vmm_hypervisor_parse(bad[i], &hv), -EINVAL);
        assert_int_equal(hv, VMM_HV_KVM); /* untouched on failure */
    }
    assert_int_equal(vmm_hypervisor_parse(NULL, &hv), -EINVAL);
    assert_int_equal(hv, VMM_HV_KVM);
}

static void test_name_round_trip(void **state)
{
    static const enum vmm_hypervisor all[] = { VMM_HV_AUTO, VMM_HV_KVM, VMM_HV_QEMU };

    for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
        enum vmm_hypervisor back = (enum vmm_hypervisor)-1;
        const char *name = vmm_hypervisor_name(all[i]);

        assert_non_null(name);
        assert_int_equal(vmm_hypervisor_parse(name, &back), 0);
        assert_int_equal(back, all[i]);
    }
    assert_string_equal(vmm_hypervisor_name(VMM_HV_KVM), "kvm");
    assert_string_equal(vmm_hypervisor_name((enum vmm_hypervisor)42), "unknown");
}

/* The facts every successful probe of the test driver reports. */
static void assert_test_host(const struct vmm_host_info *info)
{
    unsigned maj = 0, min = 0, rel = 0;

    assert_non_null(info);
    assert_string_equal(info->uri, TEST_URI);
    assert_non_null(info->libvirt_version);
    assert_true(strlen(info->libvirt_version) > 0);
    assert_int_equal(sscanf(info->libvirt_version, "%u.%u.%u", &maj, &min, &rel), 3);
    assert_true(maj > 0);
    assert_true(info->memory_mib > 0);
    assert_true(info->cpus > 0);
}

static void test_probe_qemu(void **state)
{
    struct vmm_host_info *info = NULL;
    GError *error = NULL;

    assert_int_equal(vmm_host_probe(TEST_URI, VMM_HV_QEMU, &info, &error), 0);
    assert_null(error);
    assert_test_host(info);
    assert_int_equal(info->domain_type, VMM_HV_QEMU);
    assert_null(info->note); /* qemu was asked for: nothing to warn about */
    vmm_host_info_free(info);
}

/* libvirt's test driver (checked with libvirt 9.0) does not implement
 * virConnectGetDomainCapabilities, so it never offers kvm: auto must fall back
 * to qemu and say why, with libvirt's own reason in the note. */
static void test_probe_auto(void **state)
{
    struct vmm_host_info *info = NULL;
    GError *error = NULL;
    const char *reason;

    assert_int_equal(vmm_host_probe(TEST_URI, VMM_HV_AUTO, &info, &error), 0);
    assert_null(error);
    assert_test_host(info);
    assert_int_equal(info->domain_type, VMM_HV_QEMU);
    assert_non_null(info->note);
    assert_true(g_str_has_prefix(info->note, "kvm is not offered by " TEST_URI " ("));
    assert_non_null(strstr(info->note, "TCG"));
    /* libvirt's message sits between the parentheses and is not empty. */
    reason = info->note + strlen("kvm is not offered by " TEST_URI " (");
    assert_true(*reason != '\0' && *reason != ')');
    vmm_host_info_free(info);
}

/* kvm on the test driver (no domain capabilities, as above): refused with
 * EOPNOTSUPP and a message naming the URI, libvirt's reason and the way out;
 * *infop untouched. */
static void test_probe_kvm(void **state)
{
    struct vmm_host_info *info = (struct vmm_host_info *)&info; /* a sentinel */
    GError *error = NULL;
    const char *reason, *tail;

    assert_int_equal(vmm_host_probe(TEST_URI, VMM_HV_KVM, &info, &error), -EOPNOTSUPP);
    assert_true(info == (struct vmm_host_info *)&info);
    assert_non_null(error);
    assert_true(g_error_matches(error, VMM_ERROR, EOPNOTSUPP));
    assert_true(g_str_has_prefix(error->message,
                                 "hypervisor = kvm, but " TEST_URI " offers no kvm domains: "));
    tail = strstr(error->message, "; set hypervisor = qemu or auto");
    assert_non_null(tail);
    reason = error->message + strlen("hypervisor = kvm, but " TEST_URI " offers no kvm domains: ");
    assert_true(tail > reason); /* libvirt's message is in there */
    g_error_free(error);

    /* A NULL GError ** is allowed: the return value still says it failed. */
    assert_int_equal(vmm_host_probe(TEST_URI, VMM_HV_KVM, &info, NULL), -EOPNOTSUPP);
    assert_true(info == (struct vmm_host_info *)&info);
}

static void test_probe_bad_uri(void **state)
{
    struct vmm_host_info *info = (struct vmm_host_info *)&info;
    GError *error = NULL;
    int r;

    r = vmm_host_probe("bogus:///nothing", VMM_HV_AUTO, &info, &error);
    assert_true(r < 0);
    assert_int_equal(r, -ECONNREFUSED);
    assert_true(info == (struct vmm_host_info *)&info);
    assert_non_null(error);
    assert_true(error->domain == VMM_ERROR);
    assert_int_equal(error->code, ECONNREFUSED);
    assert_non_null(strstr(error->message, "cannot connect to libvirt at bogus:///nothing: "));
    g_error_free(error);

    /* A NULL GError ** is allowed: the return value still says it failed. */
    assert_int_equal(vmm_host_probe("bogus:///nothing", VMM_HV_QEMU, &info, NULL),
                     -ECONNREFUSED);
}

static void test_probe_bad_pref(void **state)
{
    struct vmm_host_info *info = NULL;
    GError *error = NULL;

    assert_int_equal(vmm_host_probe(TEST_URI, (enum vmm_hypervisor)7, &info, &error), -EINVAL);
    assert_null(info);
    assert_true(g_error_matches(error, VMM_ERROR, EINVAL));
    g_error_free(error);
}

static void test_free_null(void **state)
{
    vmm_host_info_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_name_round_trip),
        cmocka_unit_test(test_probe_qemu),
        cmocka_unit_test(test_probe_auto),
        cmocka_unit_test(test_probe_kvm),
        cmocka_unit_test(test_probe_bad_uri),
        cmocka_unit_test(test_probe_bad_pref),
        cmocka_unit_test(test_free_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
