/* Unit tests for thinclient/tc_conf: client.conf, the command line over it,
 * and the dump that parses back to the same settings. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "thinclient/tc_conf.h"

#define FP_UPPER "sha256:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:" \
    "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"
#define FP_PLAIN "SHA256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

/* A sentinel that a failed call must leave in its out-parameter. */
static struct tc_conf *const UNTOUCHED = (struct tc_conf *)&UNTOUCHED;

static struct tc_conf *parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    struct tc_conf *cfg = NULL;

    if (tc_conf_parse("client.conf", text, strlen(text), &cfg, &err) != 0)
        fail_msg("parse: %s", err->message);
    return cfg;
}

/* Parsing text fails with exactly message. */
static void parse_bad(const char *text, const char *message)
{
    g_autoptr(GError) err = NULL;
    struct tc_conf *cfg = UNTOUCHED;

    assert_int_equal(tc_conf_parse("client.conf", text, strlen(text), &cfg, &err), -EINVAL);
    assert_ptr_equal(cfg, UNTOUCHED);
    assert_non_null(err);
    assert_true(g_error_matches(err, TC_CONF_ERROR, EINVAL));
    if (strcmp(err->message, message) != 0)
        fail_msg("for %s\nexpected: %s\n     got: %s", text, message, err->message);
}

static void test_defaults(void **state)
{
    struct tc_conf *cfg;

    g_setenv("HOME", "/home/kim", TRUE);
    g_unsetenv("XDG_CONFIG_HOME");
    cfg = tc_conf_new_defaults();
    assert_null(cfg->broker);
    assert_null(cfg->broker_host);
    assert_int_equal(cfg->broker_port, 8443);
    assert_null(cfg->pool);
    assert_string_equal(cfg->protocol, "rdp");
    assert_false(cfg->fullscreen);
    assert_false(cfg->kiosk);
    assert_string_equal(cfg->keyboard_layout, "us");
    assert_null(cfg->ca_file);
    assert_null(cfg->fingerprint);
    assert_false(cfg->tofu);
    assert_string_equal(cfg->known_brokers, "/home/kim/.config/aula/known_brokers");
    assert_int_equal(cfg->timeout, 15);
    tc_conf_free(cfg);

    /* XDG_CONFIG_HOME first; without HOME, the system's state directory. */
    g_setenv("XDG_CONFIG_HOME", "/home/kim/conf", TRUE);
    cfg = tc_conf_new_defaults();
    assert_string_equal(cfg->known_brokers, "/home/kim/conf/aula/known_brokers");
    tc_conf_free(cfg);
    g_unsetenv("XDG_CONFIG_HOME");
    g_unsetenv("HOME");
    cfg = tc_conf_new_defaults();
    assert_string_equal(cfg->known_brokers, LOCALSTATEDIR "/lib/aula-client/known_brokers");
    tc_conf_free(cfg);
    /* A relative HOME is no home. */
    g_setenv("HOME", "relative", TRUE);
    cfg = tc_conf_new_defaults();
    assert_string_equal(cfg->known_brokers, LOCALSTATEDIR "/lib/aula-client/known_brokers");
    tc_conf_free(cfg);
    tc_conf_free(NULL);
}

static void test_good_file(void **state)
{
    struct tc_conf *cfg = parse_ok(
        "# aula-client\n"
        "\n"
        "[client]\n"
        "broker = vdi.example.org:9443\n"
        "  pool=lab-2  \n"
        "protocol = vnc\n"
        "fullscreen = true\n"
        "kiosk = true\n"
        "keyboard_layout = de-ch\n"
        "ca_file = /etc/aula/ca.pem\n"
        "fingerprint = " FP_PLAIN "\n"
        "tofu = true\n"
        "known_brokers = /var/lib/kiosk/known\n"
        "timeout = 300\n");

    assert_string_equal(cfg->broker, "vdi.example.org:9443");
    assert_string_equal(cfg->broker_host, "vdi.example.org");
    assert_int_equal(cfg->broker_port, 9443);
    assert_string_equal(cfg->pool, "lab-2");
    assert_string_equal(cfg->protocol, "vnc");
    assert_true(cfg->fullscreen);
    assert_true(cfg->kiosk);
    assert_string_equal(cfg->keyboard_layout, "de-ch");
    assert_string_equal(cfg->ca_file, "/etc/aula/ca.pem");
    /* Written the way aulad logs it, whatever way it was given. */
    assert_string_equal(cfg->fingerprint, FP_UPPER);
    assert_true(cfg->tofu);
    assert_string_equal(cfg->known_brokers, "/var/lib/kiosk/known");
    assert_int_equal(cfg->timeout, 300);
    tc_conf_free(cfg);

    /* IPv6 with brackets and a port; the default port; an empty file. */
    cfg = parse_ok("[client]\nbroker = [2001:db8::1]:8000\n");
    assert_string_equal(cfg->broker_host, "2001:db8::1");
    assert_int_equal(cfg->broker_port, 8000);
    tc_conf_free(cfg);
    cfg = parse_ok("[client]\nbroker = 192.0.2.4\nfullscreen = false\n");
    assert_string_equal(cfg->broker_host, "192.0.2.4");
    assert_int_equal(cfg->broker_port, 8443);
    assert_false(cfg->fullscreen);
    tc_conf_free(cfg);
    cfg = parse_ok("");
    assert_string_equal(cfg->protocol, "rdp");
    tc_conf_free(cfg);
    /* An empty value unsets a setting that may be unset. */
    cfg = parse_ok("[client]\nbroker =\npool = \nca_file =\nfingerprint =\n");
    assert_null(cfg->broker);
    assert_null(cfg->broker_host);
    assert_null(cfg->pool);
    assert_null(cfg->ca_file);
    assert_null(cfg->fingerprint);
    tc_conf_free(cfg);
}

struct bad_case {
    const char *text;
    const char *message;
};

static const struct bad_case bad[] = {
    { "[client]\nprotocol = spice\n", "client.conf:2: protocol: 'spice' is not rdp or vnc" },
    { "[client]\n\nprotocol = RDP\n", "client.conf:3: protocol: 'RDP' is not rdp or vnc" },
    { "[client]\nbroker = https://vdi.example.org\n",
      "client.conf:2: broker: broker address \"https://vdi.example.org\" is a URL; give "
      "HOST[:PORT], e.g. broker.example.org:8443" },
    { "[client]\nbroker = vdi:99999\n",
      "client.conf:2: broker: broker address \"vdi:99999\": port 99999 is out of range (1 to "
      "65535)" },
    { "[client]\nfullscreen = yes\n", "client.conf:2: fullscreen: 'yes' must be true or false" },
    { "[client]\nkiosk = 1\n", "client.conf:2: kiosk: '1' must be true or false" },
    { "[client]\ntofu =\n", "client.conf:2: tofu: must not be empty" },
    { "[client]\ntimeout = 0\n",
      "client.conf:2: timeout: '0' must be a whole number from 1 to 300" },
    { "[client]\ntimeout = 301\n",
      "client.conf:2: timeout: '301' must be a whole number from 1 to 300" },
    { "[client]\ntimeout = 10s\n",
      "client.conf:2: timeout: '10s' must be a whole number from 1 to 300" },
    { "[client]\npool = -lab\n",
      "client.conf:2: pool: '-lab' is not a pool name (1 to 32 characters: letters, digits, '.', "
      "'_' or '-', starting with a letter or digit)" },
    { "[client]\npool = lab one\n",
      "client.conf:2: pool: 'lab one' is not a pool name (1 to 32 characters: letters, digits, "
      "'.', '_' or '-', starting with a letter or digit)" },
    { "[client]\nkeyboard_layout =\n", "client.conf:2: keyboard_layout: must not be empty" },
    { "[client]\nkeyboard_layout = de;rm -rf\n",
      "client.conf:2: keyboard_layout: 'de;rm -rf' is not a keyboard layout name (letters, "
      "digits and -_.+(), at most 64)" },
    { "[client]\nca_file = ca.pem\n",
      "client.conf:2: ca_file: 'ca.pem' must be an absolute path" },
    { "[client]\nknown_brokers =\n", "client.conf:2: known_brokers: must not be empty" },
    { "[client]\nfingerprint = sha1:0A:1B\n",
      "client.conf:2: fingerprint: 'sha1:0A:1B' is not a SHA-256 fingerprint: write it as aulad "
      "logs it, sha256: and 32 pairs of hex digits separated by ':'" },
    { "[client]\nfingerprint = sha256:0A:1B:2C\n",
      "client.conf:2: fingerprint: 'sha256:0A:1B:2C' is not a SHA-256 fingerprint: write it as "
      "aulad logs it, sha256: and 32 pairs of hex digits separated by ':'" },
    /* Typos are refused, not ignored. */
    { "[client]\nbroker = vdi\nfulscreen = true\n", "client.conf:3: unknown setting 'fulscreen'" },
    { "[client]\nfingerprint[de] = x\n", "client.conf:2: unknown setting 'fingerprint[de]'" },
    { "[aulad]\nbroker = vdi\n",
      "client.conf:1: unknown section [aulad] (settings go under [client])" },
    { "broker = vdi\n",
      "client.conf:1: setting outside a section (start the file with [client])" },
    { "[client]\nprotocol = vnc\nprotocol = rdp\n",
      "client.conf:3: 'protocol' is already set on line 2" },
    { "[client]\nprotocol vnc\n", "client.conf:2: expected 'name = value', got 'protocol vnc'" },
    { "[client\n", "client.conf:1: malformed section header '[client'" },
    { "[client]\nbroker = v\xff\n", "client.conf: not a UTF-8 text file" },
};

static void test_bad_values(void **state)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        parse_bad(bad[i].text, bad[i].message);
}

static void test_fingerprint_normalize(void **state)
{
    g_autofree char *a = tc_conf_fingerprint_normalize(FP_UPPER);
    g_autofree char *b = tc_conf_fingerprint_normalize(FP_PLAIN);
    g_autofree char *lower = g_ascii_strdown(FP_UPPER, -1);
    g_autofree char *c = tc_conf_fingerprint_normalize(lower);

    assert_string_equal(a, FP_UPPER);
    assert_string_equal(b, FP_UPPER);
    assert_string_equal(c, FP_UPPER);
    assert_null(tc_conf_fingerprint_normalize(NULL));
    assert_null(tc_conf_fingerprint_normalize(""));
    assert_null(tc_conf_fingerprint_normalize("sha256:"));
    /* Without the prefix, one pair short, a stray character, a wrong separator. */
    assert_null(tc_conf_fingerprint_normalize(FP_UPPER + 7));
    assert_null(tc_conf_fingerprint_normalize("sha256:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:"
                                              "C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:"
                                              "A4:B5:C6:D7:E8"));
    assert_null(tc_conf_fingerprint_normalize("sha256:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:"
                                              "E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:"
                                              "FG"));
    assert_null(tc_conf_fingerprint_normalize("sha256:0A-1B-2C-3D-4E-5F-60-71-82-93-A4-B5-C6-D7-"
                                              "E8-F9-0A-1B-2C-3D-4E-5F-60-71-82-93-A4-B5-C6-D7-E8-"
                                              "F9"));
}

/* ---- files and the command line ---- */

struct fx {
    char *dir;
    char *file;       /* dir/client.conf */
    char *cwd;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);

    f->dir = g_dir_make_tmp("aula-test-tc-conf-XXXXXX", NULL);
    f->file = g_build_filename(f->dir, "client.conf", NULL);
    f->cwd = g_get_current_dir();
    g_setenv("HOME", f->dir, TRUE);
    g_unsetenv("XDG_CONFIG_HOME");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    assert_int_equal(chdir(f->cwd), 0);
    g_unlink(f->file);
    g_rmdir(f->dir);
    g_free(f->dir);
    g_free(f->file);
    g_free(f->cwd);
    g_free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* Parse argv (NULL-terminated, without the program's name) with the
 * settings' options; returns the command line, or NULL with *error set. */
static struct tc_conf_cmdline *parse_args(const char *const *args, GError **error)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    struct tc_conf_cmdline *cl = tc_conf_cmdline_new();
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    char **strv;
    gboolean ok;

    g_option_context_set_main_group(ctx, tc_conf_cmdline_group(cl));
    g_ptr_array_add(argv, g_strdup("aula-client"));
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, g_strdup(*a));
    g_ptr_array_add(argv, NULL);
    strv = (char **)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
    ok = g_option_context_parse_strv(ctx, &strv, error);
    if (ok)
        assert_int_equal(g_strv_length(strv), 1); /* every argument was an option */
    g_strfreev(strv);
    if (!ok) {
        g_clear_pointer(&ctx, g_option_context_free);
        tc_conf_cmdline_free(cl);
        return NULL;
    }
    return cl;
}

static void test_load(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    struct tc_conf *cfg = UNTOUCHED;

    assert_int_equal(tc_conf_load(f->file, &cfg, &err), -ENOENT);
    assert_true(g_error_matches(err, TC_CONF_ERROR, ENOENT));
    assert_ptr_equal(cfg, UNTOUCHED);
    g_clear_error(&err);

    write_file(f->file, "[client]\nbroker = vdi\nprotocol = vnc\n");
    assert_int_equal(tc_conf_load(f->file, &cfg, &err), 0);
    assert_string_equal(cfg->broker_host, "vdi");
    assert_string_equal(cfg->protocol, "vnc");
    tc_conf_free(cfg);

    /* The message names the file as given. */
    cfg = UNTOUCHED;
    write_file(f->file, "[client]\nbroker = vdi\nprotocol = vcn\n");
    assert_int_equal(tc_conf_load(f->file, &cfg, &err), -EINVAL);
    assert_ptr_equal(cfg, UNTOUCHED);
    assert_true(g_str_has_prefix(err->message, f->file));
    assert_non_null(strstr(err->message, ":3: protocol: 'vcn' is not rdp or vnc"));
}

/* The command line wins over the file, setting by setting. */
static void test_cmdline_overrides(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    struct tc_conf_cmdline *cl;
    struct tc_conf *cfg = NULL;
    g_autofree char *ca = NULL;

    write_file(f->file, "[client]\nbroker = file-broker\nprotocol = vnc\nfullscreen = true\n"
                        "pool = lab\nca_file = /etc/aula/ca.pem\nkeyboard_layout = fr\n");
    assert_int_equal(chdir(f->dir), 0);
    cl = parse_args((const char *const[]){ "--config", "client.conf", "--broker", "[::1]:9443",
                                           "--protocol=rdp", "--fullscreen=false", "--kiosk",
                                           "--ca-file=", "--fingerprint", FP_PLAIN,
                                           "--known-brokers", "kb/known", "--timeout", "3",
                                           NULL }, &err);
    if (cl == NULL)
        fail_msg("options: %s", err->message);
    assert_int_equal(tc_conf_from_cmdline_at(cl, "/nonexistent/client.conf", &cfg, &err), 0);
    assert_string_equal(cfg->broker, "[::1]:9443");
    assert_string_equal(cfg->broker_host, "::1");
    assert_int_equal(cfg->broker_port, 9443);
    assert_string_equal(cfg->protocol, "rdp");
    assert_false(cfg->fullscreen);
    assert_true(cfg->kiosk);
    assert_null(cfg->ca_file);  /* --ca-file= unsets the file's */
    assert_string_equal(cfg->fingerprint, FP_UPPER);
    /* Relative paths are taken from the current directory. */
    ca = g_build_filename(f->dir, "kb", "known", NULL);
    assert_string_equal(cfg->known_brokers, ca);
    assert_int_equal(cfg->timeout, 3);
    /* What the command line does not give comes from the file. */
    assert_string_equal(cfg->pool, "lab");
    assert_string_equal(cfg->keyboard_layout, "fr");
    tc_conf_free(cfg);
    tc_conf_cmdline_free(cl);

    /* Without --config: the default file, here f->file. */
    cl = parse_args((const char *const[]){ "--pool", "kiosk", NULL }, &err);
    assert_non_null(cl);
    assert_int_equal(tc_conf_from_cmdline_at(cl, f->file, &cfg, &err), 0);
    assert_string_equal(cfg->broker_host, "file-broker");
    assert_string_equal(cfg->pool, "kiosk");
    assert_true(cfg->fullscreen);
    tc_conf_free(cfg);
    /* A missing default file is no error: the defaults. */
    assert_int_equal(tc_conf_from_cmdline_at(cl, "/nonexistent/client.conf", &cfg, &err), 0);
    assert_null(cfg->broker);
    assert_string_equal(cfg->pool, "kiosk");
    tc_conf_free(cfg);
    tc_conf_cmdline_free(cl);
}

static void test_cmdline_errors(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *missing = g_build_filename(f->dir, "nope.conf", NULL);
    g_autofree char *arg = g_strdup_printf("--config=%s", missing);
    struct tc_conf_cmdline *cl;
    struct tc_conf *cfg = UNTOUCHED;

    /* Values are checked as they are parsed, with the option's name. */
    assert_null(parse_args((const char *const[]){ "--protocol", "spice", NULL }, &err));
    assert_true(g_error_matches(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE));
    assert_string_equal(err->message, "--protocol: 'spice' is not rdp or vnc");
    g_clear_error(&err);
    assert_null(parse_args((const char *const[]){ "--kiosk=yes", NULL }, &err));
    assert_string_equal(err->message, "--kiosk: 'yes' must be true or false");
    g_clear_error(&err);
    assert_null(parse_args((const char *const[]){ "--broker", "https://x", NULL }, &err));
    assert_true(g_str_has_prefix(err->message, "--broker: broker address \"https://x\" is a URL"));
    g_clear_error(&err);
    assert_null(parse_args((const char *const[]){ "--keyboard-layout=", NULL }, &err));
    assert_string_equal(err->message, "--keyboard-layout: must not be empty");
    g_clear_error(&err);
    assert_null(parse_args((const char *const[]){ "--fulscreen", NULL }, &err));
    assert_true(g_error_matches(err, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION));
    g_clear_error(&err);

    /* A file named with --config must exist, and a bad one is reported with its line. */
    cl = parse_args((const char *const[]){ arg, NULL }, &err);
    assert_non_null(cl);
    assert_int_equal(tc_conf_from_cmdline_at(cl, f->file, &cfg, &err), -ENOENT);
    assert_ptr_equal(cfg, UNTOUCHED);
    assert_true(g_error_matches(err, TC_CONF_ERROR, ENOENT));
    g_clear_error(&err);
    tc_conf_cmdline_free(cl);
    write_file(f->file, "[client]\ntofu = maybe\n");
    cl = parse_args((const char *const[]){ "--tofu", NULL }, &err);
    assert_int_equal(tc_conf_from_cmdline_at(cl, f->file, &cfg, &err), -EINVAL);
    assert_ptr_equal(cfg, UNTOUCHED);
    assert_true(g_str_has_suffix(err->message,
                                 "client.conf:2: tofu: 'maybe' must be true or false"));
    tc_conf_cmdline_free(cl);
}

/* --help comes from the same table. */
static void test_cmdline_help(void **state)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    struct tc_conf_cmdline *cl = tc_conf_cmdline_new();
    g_autofree char *help = NULL;

    g_option_context_set_main_group(ctx, tc_conf_cmdline_group(cl));
    help = g_option_context_get_help(ctx, TRUE, NULL);
    assert_non_null(strstr(help, "--broker=HOST[:PORT]"));
    assert_non_null(strstr(help, "The broker to log in to."));
    assert_non_null(strstr(help, "--keyboard-layout=LAYOUT"));
    assert_non_null(strstr(help, "--known-brokers=FILE"));
    assert_non_null(strstr(help, "--tofu"));
    assert_non_null(strstr(help, "--config=FILE"));
    g_clear_pointer(&ctx, g_option_context_free);
    tc_conf_cmdline_free(cl);
}

/* The dump is a complete file that parses back to the same settings. */
static void test_dump_round_trip(void **state)
{
    struct tc_conf *cfg = parse_ok("[client]\nbroker = [2001:db8::1]:8000\npool = lab\n"
                                   "protocol = vnc\nkiosk = true\nkeyboard_layout = us(intl)\n"
                                   "ca_file = /etc/ca.pem\nfingerprint = " FP_PLAIN "\n"
                                   "tofu = true\nknown_brokers = /k\ntimeout = 7\n");
    struct tc_conf *back = NULL, *defaults = tc_conf_new_defaults(), *defaults_back = NULL;
    g_autoptr(GError) err = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    tc_conf_dump(cfg, out);
    fclose(out);
    assert_non_null(strstr(text, "\n# default: rdp\nprotocol = vnc\n"));
    assert_non_null(strstr(text, "\n# default: not set\npool = lab\n"));
    if (tc_conf_parse("dump", text, len, &back, &err) != 0)
        fail_msg("%s\n%s", err->message, text);
    assert_string_equal(back->broker, cfg->broker);
    assert_string_equal(back->broker_host, "2001:db8::1");
    assert_int_equal(back->broker_port, 8000);
    assert_string_equal(back->pool, "lab");
    assert_string_equal(back->protocol, "vnc");
    assert_false(back->fullscreen);
    assert_true(back->kiosk);
    assert_string_equal(back->keyboard_layout, "us(intl)");
    assert_string_equal(back->ca_file, "/etc/ca.pem");
    assert_string_equal(back->fingerprint, FP_UPPER);
    assert_true(back->tofu);
    assert_string_equal(back->known_brokers, "/k");
    assert_int_equal(back->timeout, 7);
    free(text);

    /* The defaults, with the unset settings written empty, parse back too. */
    out = open_memstream(&text, &len);
    tc_conf_dump(defaults, out);
    fclose(out);
    assert_non_null(strstr(text, "\nbroker = \n"));
    assert_int_equal(tc_conf_parse("dump", text, len, &defaults_back, &err), 0);
    assert_null(defaults_back->broker);
    assert_null(defaults_back->fingerprint);
    assert_string_equal(defaults_back->known_brokers, defaults->known_brokers);
    free(text);
    tc_conf_free(cfg);
    tc_conf_free(back);
    tc_conf_free(defaults);
    tc_conf_free(defaults_back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_fingerprint_normalize),
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_overrides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_errors, setup, teardown),
        cmocka_unit_test(test_cmdline_help),
        cmocka_unit_test(test_dump_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
