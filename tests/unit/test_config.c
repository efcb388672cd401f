/* Unit tests for broker/conf: the settings table, the aulad.conf parser and
 * its error messages, the dump, the man page fragment and reloading. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "broker/conf.h"

/* Number of settings in the table (struct conf's members). */
#define N_SETTINGS 26

struct fx {
    char *dir;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    GError *error = NULL;

    f->dir = g_dir_make_tmp("aula-test-conf-XXXXXX", &error);
    if (f->dir == NULL) {
        print_error("g_dir_make_tmp: %s\n", error->message);
        g_error_free(error);
        g_free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    GDir *d = g_dir_open(f->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d)) != NULL) {
        g_autofree char *p = g_build_filename(f->dir, name, NULL);
        g_remove(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f);
    return 0;
}

/* Write len bytes of text (-1: up to the NUL) to name in the test's directory.
 * Returns the path; caller frees. */
static char *write_file(struct fx *f, const char *name, const char *text, gssize len)
{
    char *path = g_build_filename(f->dir, name, NULL);
    GError *error = NULL;

    if (!g_file_set_contents(path, text, len, &error))
        fail_msg("writing %s: %s", path, error->message);
    return path;
}

/* Load text; it must load. Caller frees the result. */
static struct conf *load_ok(struct fx *f, const char *text)
{
    g_autofree char *path = write_file(f, "good.conf", text, -1);
    struct conf *cfg = NULL;
    GError *error = NULL;
    int r = conf_load(path, &cfg, &error);

    if (r != 0)
        fail_msg("conf_load returned %d: %s", r, error ? error->message : "no error");
    assert_null(error);
    assert_non_null(cfg);
    return cfg;
}

/* Load text; it must be refused with -EINVAL and a message that starts with
 * "path:line: " and contains fragment. */
static void check_refused(struct fx *f, const char *text, int line, const char *fragment)
{
    g_autofree char *path = write_file(f, "bad.conf", text, -1);
    g_autofree char *prefix = g_strdup_printf("%s:%d: ", path, line);
    struct conf *cfg = NULL;
    GError *error = NULL;
    int r = conf_load(path, &cfg, &error);

    if (r != -EINVAL)
        fail_msg("conf_load returned %d for:\n%s", r, text);
    assert_null(cfg);
    assert_non_null(error);
    assert_int_equal(error->code, EINVAL);
    if (!g_str_has_prefix(error->message, prefix) || strstr(error->message, fragment) == NULL)
        fail_msg("message '%s'\nexpected prefix '%s' and '%s', for:\n%s", error->message, prefix,
                 fragment, text);
    g_error_free(error);
}

static void assert_conf_equal(const struct conf *a, const struct conf *b)
{
    assert_string_equal(a->state_dir, b->state_dir);
    assert_string_equal(a->admin_socket, b->admin_socket);
    assert_string_equal(a->admin_group, b->admin_group);
    assert_string_equal(a->libvirt_uri, b->libvirt_uri);
    assert_string_equal(a->hypervisor, b->hypervisor);
    assert_string_equal(a->rdp_address, b->rdp_address);
    assert_int_equal(a->rdp_port, b->rdp_port);
    assert_string_equal(a->vnc_address, b->vnc_address);
    assert_int_equal(a->vnc_port, b->vnc_port);
    assert_string_equal(a->api_address, b->api_address);
    assert_int_equal(a->api_port, b->api_port);
    assert_string_equal(a->log_level, b->log_level);
}

static void test_defaults(void **state)
{
    struct conf *cfg = conf_new_defaults();
    g_autofree char *db_path = conf_db_path(cfg);

    assert_true(g_path_is_absolute(cfg->state_dir));
    assert_true(g_str_has_suffix(cfg->state_dir, "/lib/aula"));
    assert_true(g_path_is_absolute(cfg->admin_socket));
    assert_true(g_str_has_suffix(cfg->admin_socket, "/aula/admin.sock"));
    assert_string_equal(cfg->admin_group, "aula-admin");
    assert_string_equal(cfg->libvirt_uri, "qemu:///system");
    assert_string_equal(cfg->hypervisor, "auto");
    assert_string_equal(cfg->rdp_address, "::");
    assert_int_equal(cfg->rdp_port, 3389);
    assert_string_equal(cfg->vnc_address, "::");
    assert_int_equal(cfg->vnc_port, 5900);
    assert_string_equal(cfg->api_address, "::");
    assert_int_equal(cfg->api_port, 8443);
    assert_string_equal(cfg->log_level, "info");
    assert_true(g_str_has_suffix(db_path, "/lib/aula/aula.db"));
    assert_true(g_str_has_prefix(db_path, cfg->state_dir));
    conf_free(cfg);
    conf_free(NULL);
}

static void test_load_good(void **state)
{
    struct fx *f = *state;
    struct conf *cfg = load_ok(f,
        "# aulad.conf written by hand\n"
        "\n"
        "[aulad]\n"
        "state_dir = /srv/aula\n"
        "admin_socket=/run/aula-test/admin.sock\n"
        "   admin_group   =   wheel   \n"
        "# a comment between settings\n"
        "libvirt_uri = qemu+ssh://host/system\n"
        "hypervisor = kvm\n"
        "rdp_address = 127.0.0.1, ::1\n"
        "rdp_port = 13389\n"
        "vnc_address = 0.0.0.0\n"
        "vnc_port = 1\n"
        "api_address = fe80::1\n"
        "api_port = 65535\n"
        "log_level = debug\n");

    assert_string_equal(cfg->state_dir, "/srv/aula");
    assert_string_equal(cfg->admin_socket, "/run/aula-test/admin.sock");
    assert_string_equal(cfg->admin_group, "wheel");
    assert_string_equal(cfg->libvirt_uri, "qemu+ssh://host/system");
    assert_string_equal(cfg->hypervisor, "kvm");
    assert_string_equal(cfg->rdp_address, "127.0.0.1, ::1");
    assert_int_equal(cfg->rdp_port, 13389);
    assert_string_equal(cfg->vnc_address, "0.0.0.0");
    assert_int_equal(cfg->vnc_port, 1);
    assert_string_equal(cfg->api_address, "fe80::1");
    assert_int_equal(cfg->api_port, 65535);
    assert_string_equal(cfg->log_level, "debug");
    conf_free(cfg);
}

/* Settings a file leaves out keep their defaults. */
static void test_load_partial(void **state)
{
    struct fx *f = *state;
    struct conf *defaults = conf_new_defaults();
    struct conf *cfg;

    cfg = load_ok(f, "");
    assert_conf_equal(cfg, defaults);
    conf_free(cfg);

    cfg = load_ok(f, "# nothing but a comment\n[aulad]\n\n");
    assert_conf_equal(cfg, defaults);
    conf_free(cfg);

    cfg = load_ok(f, "[aulad]\r\nrdp_port = 3390\r\nadmin_group =\r\n");
    assert_int_equal(cfg->rdp_port, 3390);
    assert_string_equal(cfg->admin_group, ""); /* empty: root only */
    assert_string_equal(cfg->state_dir, defaults->state_dir);
    assert_int_equal(cfg->vnc_port, 5900);
    assert_string_equal(cfg->log_level, "info");
    conf_free(cfg);
    conf_free(defaults);
}

static void test_unknown_key(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\nrdp_port = 3389\n\n# comment\nrdp_prot = 3389\n", 5,
                  "unknown setting 'rdp_prot'");
    check_refused(f, "[aulad]\nRDP_PORT = 3389\n", 2, "unknown setting 'RDP_PORT'");
    check_refused(f, "[aulad]\nrdp_port[de] = 3389\n", 2, "unknown setting");
    check_refused(f, "[aulad]\n= 3389\n", 2, "unknown setting ''");
}

static void test_unknown_section(void **state)
{
    struct fx *f = *state;

    check_refused(f, "# comment\n[daemon]\nrdp_port = 3389\n", 2, "unknown section [daemon]");
    check_refused(f, "[aulad]\nrdp_port = 3389\n[Aulad]\n", 3, "unknown section [Aulad]");
    check_refused(f, "[aulad]\n[aulad\n", 2, "malformed group header '[aulad'");
    check_refused(f, "[]\n", 1, "malformed group header");
}

static void test_no_equals(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\n\nrdp_port 3389\n", 3, "expected 'name = value', got 'rdp_port 3389'");
    check_refused(f, "[aulad]\nrdp_port = 1\nrdp_port\n", 3, "expected 'name = value'");
}

/* Only '#' starts a comment (as in GKeyFile); anything else is refused with
 * its line number, never with a message that has none. */
static void test_semicolon_is_not_a_comment(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\n; rdp_port is fine\nrdp_port = 1\n", 2, "expected 'name = value'");
    check_refused(f, "[aulad]\n;rdp_port = 1\n", 2, "unknown setting ';rdp_port'");
}

static void test_outside_section(void **state)
{
    struct fx *f = *state;

    check_refused(f, "rdp_port = 3389\n[aulad]\n", 1, "setting outside a section");
    check_refused(f, "# comment\n\nlog_level = debug\n", 3, "setting outside a section");
}

static void test_duplicate_key(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\nrdp_port = 3389\nvnc_port = 5900\n# again\nrdp_port = 3390\n", 5,
                  "'rdp_port' is already set on line 2");
    /* A repeated section header does not make a repeated key legal. */
    check_refused(f, "[aulad]\nlog_level = info\n[aulad]\nlog_level = debug\n", 4,
                  "'log_level' is already set on line 2");
}

static void test_bad_enum(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\nrdp_port = 3389\nhypervisor = xen\n", 3,
                  "hypervisor = 'xen' is not one of auto, kvm, qemu");
    check_refused(f, "[aulad]\nhypervisor = KVM\n", 2, "is not one of");
    check_refused(f, "[aulad]\nhypervisor =\n", 2, "hypervisor = '' is not one of");
    check_refused(f, "[aulad]\n\n\n\nlog_level = verbose\n", 5,
                  "log_level = 'verbose' is not one of error, warning, message, info, debug");
}

static void test_bad_port(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = { "0", "65536", "12x", "-1", "", "0x10", "3389.0", "1e3",
                                       "99999999999999999999" };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *text = g_strdup_printf("[aulad]\n# ports\nvnc_port = %s\n", bad[i]);
        g_autofree char *reason = g_strdup_printf("vnc_port = '%s' must be a whole number from 1 to 65535", bad[i]);
        check_refused(f, text, 3, reason);
    }
    check_refused(f, "[aulad]\nrdp_port = 65536\n", 2, "rdp_port = '65536'");
    check_refused(f, "[aulad]\napi_port = 0\n", 2, "api_port = '0'");
}

static void test_relative_path(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\nstate_dir = var/lib/aula\n", 2,
                  "state_dir must be an absolute path, not 'var/lib/aula'");
    check_refused(f, "[aulad]\nlog_level = info\nadmin_socket = ./admin.sock\n", 3,
                  "admin_socket must be an absolute path");
    check_refused(f, "[aulad]\nstate_dir =\n", 2, "state_dir must be an absolute path");
}

static void test_bad_address(void **state)
{
    struct fx *f = *state;

    check_refused(f, "[aulad]\nrdp_address = ::1, 10.0.0.300\n", 2,
                  "rdp_address: '10.0.0.300' is not an IP address");
    check_refused(f, "[aulad]\n\nvnc_address = 127.0.0.1,localhost\n", 3,
                  "vnc_address: 'localhost' is not an IP address");
    check_refused(f, "[aulad]\napi_address = ::1,,127.0.0.1\n", 2,
                  "api_address: '' is not an IP address");
    check_refused(f, "[aulad]\napi_address =\n", 2, "api_address needs at least one IP address");
}

static void test_bool_and_empty(void **state)
{
    struct fx *f = *state;
    struct conf *cfg = NULL;
    g_autofree char *path = g_build_filename(f->dir, "bool.conf", NULL);

    check_refused(f, "[aulad]\nremove_unknown_domains = yes\n", 2,
                  "remove_unknown_domains = 'yes' must be true or false");
    check_refused(f, "[aulad]\nlibvirt_uri =\n", 2, "libvirt_uri must not be empty");
    check_refused(f, "[aulad]\nparallel_provisioning = 0\n", 2,
                  "parallel_provisioning = '0' must be a whole number from 1 to 64");
    g_assert_true(g_file_set_contents(path, "[aulad]\nremove_unknown_domains = true\nadmin_group =\n", -1, NULL));
    assert_int_equal(conf_load(path, &cfg, NULL), 0);
    assert_int_equal(cfg->remove_unknown_domains, 1);
    assert_string_equal(cfg->admin_group, "");
    conf_free(cfg);
    g_unlink(path);
}

static void test_missing_file(void **state)
{
    struct fx *f = *state;
    g_autofree char *path = g_build_filename(f->dir, "missing.conf", NULL);
    struct conf *cfg = NULL;
    GError *error = NULL;

    assert_int_equal(conf_load(path, &cfg, &error), -ENOENT);
    assert_null(cfg);
    assert_non_null(error);
    assert_int_equal(error->code, ENOENT);
    assert_non_null(strstr(error->message, path));
    g_clear_error(&error);

    /* A directory is not a config file either. */
    assert_true(conf_load(f->dir, &cfg, &error) < 0);
    assert_null(cfg);
    assert_non_null(error);
    g_error_free(error);
}

static void test_not_utf8(void **state)
{
    struct fx *f = *state;
    static const char latin1[] = "[aulad]\nadmin_group = gr\xfcn\n";
    static const char nul[] = "[aulad]\nadmin_group = a\0b\n";
    const struct { const char *text; gssize len; } cases[] = {
        { latin1, sizeof(latin1) - 1 },
        { nul, sizeof(nul) - 1 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = write_file(f, "binary.conf", cases[i].text, cases[i].len);
        g_autofree char *expected = g_strdup_printf("%s: not a UTF-8 text file", path);
        struct conf *cfg = NULL;
        GError *error = NULL;

        assert_int_equal(conf_load(path, &cfg, &error), -EINVAL);
        assert_null(cfg);
        assert_string_equal(error->message, expected);
        g_error_free(error);
    }
    /* UTF-8 beyond ASCII is fine where a string is free-form. */
    {
        struct conf *cfg = load_ok(f, "[aulad]\nadmin_group = gr\xc3\xbcn\n");
        assert_string_equal(cfg->admin_group, "gr\xc3\xbcn");
        conf_free(cfg);
    }
}

/* Dump cfg to a file and load it back. Caller frees. */
static struct conf *round_trip(struct fx *f, const struct conf *cfg)
{
    g_autofree char *path = g_build_filename(f->dir, "dump.conf", NULL);
    struct conf *back = NULL;
    GError *error = NULL;
    FILE *out = fopen(path, "w");

    assert_non_null(out);
    conf_dump(cfg, out);
    assert_int_equal(fclose(out), 0);
    if (conf_load(path, &back, &error) != 0)
        fail_msg("the dump does not load: %s", error->message);
    return back;
}

static void test_dump_round_trip(void **state)
{
    struct fx *f = *state;
    struct conf *cfg = conf_new_defaults();
    struct conf *back = round_trip(f, cfg);
    char *text = NULL;
    size_t len = 0;
    FILE *mem;

    assert_conf_equal(back, cfg);
    conf_free(back);
    conf_free(cfg);

    cfg = load_ok(f, "[aulad]\n"
                     "state_dir = /srv/aula state\n"
                     "admin_socket = /run/a/b.sock\n"
                     "admin_group =\n"
                     "libvirt_uri = qemu:///session\n"
                     "hypervisor = qemu\n"
                     "rdp_address = 127.0.0.1,::1\n"
                     "rdp_port = 1\n"
                     "vnc_address = 192.168.1.2\n"
                     "vnc_port = 65535\n"
                     "api_address = ::\n"
                     "api_port = 443\n"
                     "log_level = error\n");
    back = round_trip(f, cfg);
    assert_conf_equal(back, cfg);
    assert_string_equal(back->admin_group, "");
    assert_string_equal(back->state_dir, "/srv/aula state");
    conf_free(back);

    /* Every setting is written, each after its help and default. */
    mem = open_memstream(&text, &len);
    conf_dump(cfg, mem);
    fclose(mem);
    assert_true(g_str_has_prefix(text, "# aulad.conf"));
    assert_non_null(strstr(text, "\n[aulad]\n"));
    assert_non_null(strstr(text, "\nrdp_port = 1\n"));
    assert_non_null(strstr(text, "\nadmin_group = \n"));
    assert_non_null(strstr(text, "\n# default: 3389\nrdp_port = 1\n"));
    assert_non_null(strstr(text, "\n# default: info (SIGHUP reloads it)\nlog_level = error\n"));
    {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        int settings = 0;
        for (char **l = lines; *l; l++) {
            if (**l != '\0' && **l != '#' && **l != '[')
                settings++;
            assert_true(strlen(*l) <= 80); /* comments are wrapped */
        }
        assert_int_equal(settings, N_SETTINGS);
    }
    free(text);
    conf_free(cfg);
}

static void test_dump_man(void **state)
{
    static const char *const names[] = { "state_dir", "admin_socket", "admin_group",
                                         "libvirt_uri", "hypervisor", "rdp_address", "rdp_port",
                                         "vnc_address", "vnc_port", "api_address", "api_port",
                                         "log_level" };
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    g_auto(GStrv) lines = NULL;
    int tp = 0, reload = 0, restart = 0;

    conf_dump_man(mem);
    fclose(mem);
    assert_true(g_str_has_prefix(text, ".TP\n"));
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (strcmp(*l, ".TP") == 0) {
            /* A .TP, then the tag line, then the paragraph. */
            assert_non_null(l[1]);
            assert_true(g_str_has_prefix(l[1], ".BR "));
            assert_non_null(l[2]);
            assert_true(l[2][0] != '.' && l[2][0] != '\0');
            tp++;
        }
        if (g_str_has_suffix(*l, " Reloaded on SIGHUP."))
            reload++;
        if (g_str_has_suffix(*l, " Changing it needs a restart."))
            restart++;
        /* roff: a '-' is written \- so that it is not a hyphen. */
        for (const char *p = strchr(*l, '-'); p; p = strchr(p + 1, '-'))
            assert_true(p > *l && p[-1] == '\\');
    }
    assert_int_equal(tp, N_SETTINGS);
    assert_int_equal(reload, 11);
    assert_int_equal(restart, N_SETTINGS - 11);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *tag = g_strdup_printf("\n.BR %s \" = \" \"", names[i]);
        assert_non_null(strstr(text, tag));
    }
    assert_non_null(strstr(text, ".BR admin_group \" = \" \"aula\\-admin\"\n"));
    assert_non_null(strstr(text, ".BR rdp_port \" = \" \"3389\"\nTCP port for RDP. Range 1 to 65535."));
    free(text);
}

static void test_reload(void **state)
{
    struct conf *dst = conf_new_defaults();
    struct conf *src = conf_new_defaults();
    char **restart;

    /* Nothing changed, nothing to do. */
    restart = conf_reload(dst, src);
    assert_non_null(restart);
    assert_null(restart[0]);
    g_strfreev(restart);

    g_free(src->log_level);
    src->log_level = g_strdup("debug");
    g_free(src->admin_group);
    src->admin_group = g_strdup("wheel");
    g_free(src->state_dir);
    src->state_dir = g_strdup("/srv/aula");
    src->rdp_port = 3390;

    restart = conf_reload(dst, src);
    assert_int_equal(g_strv_length(restart), 2);
    assert_string_equal(restart[0], "state_dir");
    assert_string_equal(restart[1], "rdp_port");
    g_strfreev(restart);
    /* Applied... */
    assert_string_equal(dst->log_level, "debug");
    assert_string_equal(dst->admin_group, "wheel");
    /* ...and left for a restart. */
    assert_true(g_str_has_suffix(dst->state_dir, "/lib/aula"));
    assert_int_equal(dst->rdp_port, 3389);
    /* src is not touched. */
    assert_string_equal(src->state_dir, "/srv/aula");
    assert_int_equal(src->rdp_port, 3390);

    /* An empty admin_group (root only) is applied too. */
    g_free(src->admin_group);
    src->admin_group = g_strdup("");
    restart = conf_reload(dst, src);
    assert_string_equal(dst->admin_group, "");
    assert_int_equal(g_strv_length(restart), 2);
    g_strfreev(restart);

    conf_free(dst);
    conf_free(src);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        T(test_load_good),
        T(test_load_partial),
        T(test_unknown_key),
        T(test_unknown_section),
        T(test_no_equals),
        T(test_semicolon_is_not_a_comment),
        T(test_outside_section),
        T(test_duplicate_key),
        T(test_bad_enum),
        T(test_bad_port),
        T(test_relative_path),
        T(test_bad_address),
        T(test_bool_and_empty),
        T(test_missing_file),
        T(test_not_utf8),
        T(test_dump_round_trip),
        cmocka_unit_test(test_dump_man),
        cmocka_unit_test(test_reload),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
