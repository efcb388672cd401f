/* Unit tests for broker/tls: the certificate made on first start, its
 * contents, its files' modes, reloading it, and half a pair refused. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/tls.h"
#include "tests/unit/rawdb.h"

/* ---- log: count warnings, drop the chatter ---- */

static int log_warnings;

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        log_warnings++;
        return g_log_writer_default(level, fields, n, data);
    }
    return G_LOG_WRITER_HANDLED;
}

struct fx {
    char *dir;
    char *cert;
    char *key;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);

    log_warnings = 0;
    f->dir = g_dir_make_tmp("aula-test-tls-XXXXXX", NULL);
    assert_non_null(f->dir);
    f->cert = g_build_filename(f->dir, "tls", "cert.pem", NULL);
    f->key = g_build_filename(f->dir, "tls", "key.pem", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;

    rawdb_rm_rf(f->dir);
    g_free(f->dir);
    g_free(f->cert);
    g_free(f->key);
    g_free(f);
    if (warnings > 0) {
        print_error("%d unexpected warning(s) were logged\n", warnings);
        return -1;
    }
    return 0;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* The fingerprint of the certificate file, computed here from its DER form. */
static char *file_fingerprint(const char *path)
{
    g_autofree char *pem = NULL;
    gsize len = 0;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t in, der = { NULL, 0 };
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 digest[32];
    gsize dlen = sizeof(digest);
    GString *out = g_string_new("sha256");

    assert_true(g_file_get_contents(path, &pem, &len, NULL));
    in.data = (unsigned char *)pem;
    in.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    g_checksum_update(sum, der.data, der.size);
    g_checksum_get_digest(sum, digest, &dlen);
    for (gsize i = 0; i < dlen; i++)
        g_string_append_printf(out, ":%02X", digest[i]);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return g_string_free(out, FALSE);
}

static void test_create_and_reload(void **state)
{
    struct fx *f = *state;
    struct tls_identity *id = NULL, *again = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *expect = NULL, *tlsdir = g_build_filename(f->dir, "tls", NULL);
    g_autofree char *cert_before = NULL, *cert_after = NULL;
    g_autoptr(GDir) d = NULL;
    const char *name;
    int files = 0;

    assert_int_equal(tls_identity_ensure(f->dir, &id, &err), 0);
    assert_null(err);
    assert_string_equal(id->cert_path, f->cert);
    assert_string_equal(id->key_path, f->key);
    assert_non_null(id->cert);
    assert_true(G_IS_TLS_CERTIFICATE(id->cert));
    /* "sha256:" and 32 bytes as uppercase hex with colons. */
    assert_int_equal(strlen(id->fingerprint), strlen("sha256") + 32 * 3);
    assert_true(g_str_has_prefix(id->fingerprint, "sha256:"));
    for (const char *p = id->fingerprint + strlen("sha256"); *p; p += 3) {
        assert_int_equal(p[0], ':');
        assert_true(g_ascii_isxdigit(p[1]) && !g_ascii_islower(p[1]));
        assert_true(g_ascii_isxdigit(p[2]) && !g_ascii_islower(p[2]));
    }
    expect = file_fingerprint(f->cert);
    assert_string_equal(id->fingerprint, expect);
    assert_int_equal(mode_of(tlsdir), 0700);
    assert_int_equal(mode_of(f->cert), 0600);
    assert_int_equal(mode_of(f->key), 0600);
    /* Nothing but the two files: no temporary file left behind. */
    d = g_dir_open(tlsdir, 0, NULL);
    while ((name = g_dir_read_name(d)) != NULL) {
        assert_true(strcmp(name, "cert.pem") == 0 || strcmp(name, "key.pem") == 0);
        files++;
    }
    assert_int_equal(files, 2);

    /* A second start loads the same pair and leaves the files alone. */
    assert_true(g_file_get_contents(f->cert, &cert_before, NULL, NULL));
    assert_int_equal(tls_identity_ensure(f->dir, &again, &err), 0);
    assert_string_equal(again->fingerprint, id->fingerprint);
    assert_true(g_file_get_contents(f->cert, &cert_after, NULL, NULL));
    assert_string_equal(cert_before, cert_after);
    tls_identity_free(id);
    tls_identity_free(again);
    tls_identity_free(NULL);
}

/* What the certificate says: v3, self-signed, the host's name, ten years,
 * a server certificate with a key for RSA. */
static void test_contents(void **state)
{
    struct fx *f = *state;
    struct tls_identity *id = NULL;
    g_autofree char *pem = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t in;
    char buf[512], oid[128];
    size_t size = sizeof(buf);
    unsigned int usage = 0, critical = 0, bits = 0;
    unsigned char serial[64];
    size_t serial_size = sizeof(serial);
    time_t start, end;
    gsize len = 0;
    unsigned int san_type = 0;
    gboolean server_auth = FALSE;

    assert_int_equal(tls_identity_ensure(f->dir, &id, NULL), 0);
    assert_true(g_file_get_contents(f->cert, &pem, &len, NULL));
    in.data = (unsigned char *)pem;
    in.size = (unsigned)len;
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_get_version(crt), 3);
    assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size), 0);
    assert_string_equal(buf, g_get_host_name());
    size = sizeof(buf);
    assert_int_equal(gnutls_x509_crt_get_subject_alt_name2(crt, 0, buf, &size, &san_type, &critical),
                     GNUTLS_SAN_DNSNAME);
    assert_string_equal(buf, g_get_host_name());
    assert_int_equal(gnutls_x509_crt_check_issuer(crt, crt), 1);
    start = gnutls_x509_crt_get_activation_time(crt);
    end = gnutls_x509_crt_get_expiration_time(crt);
    assert_true(start <= time(NULL));
    assert_true(end - time(NULL) >= (time_t)3650 * 24 * 3600);
    assert_true(end - time(NULL) <= (time_t)3660 * 24 * 3600);
    assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &usage, &critical), 0);
    assert_true(usage & GNUTLS_KEY_DIGITAL_SIGNATURE);
    assert_true(usage & GNUTLS_KEY_KEY_ENCIPHERMENT);
    assert_false(usage & GNUTLS_KEY_KEY_CERT_SIGN);
    for (unsigned i = 0;; i++) {
        size_t oid_size = sizeof(oid);
        if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &oid_size, NULL) < 0)
            break;
        if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
            server_auth = TRUE;
    }
    assert_true(server_auth);
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_RSA);
    assert_int_equal(bits, 2048);
    assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &serial_size), 0);
    assert_true(serial_size >= 8);
    assert_int_equal(serial[0] & 0x80, 0);
    gnutls_x509_crt_deinit(crt);
    tls_identity_free(id);
}

/* Two state directories get different certificates (random serials and keys). */
static void test_unique(void **state)
{
    struct fx *f = *state;
    g_autofree char *other = g_build_filename(f->dir, "other", NULL);
    struct tls_identity *a = NULL, *b = NULL;

    assert_int_equal(g_mkdir(other, 0700), 0);
    assert_int_equal(tls_identity_ensure(f->dir, &a, NULL), 0);
    assert_int_equal(tls_identity_ensure(other, &b, NULL), 0);
    assert_string_not_equal(a->fingerprint, b->fingerprint);
    tls_identity_free(a);
    tls_identity_free(b);
}

/* Half a pair is refused, and neither file is touched. */
static void test_half_pair(void **state)
{
    struct fx *f = *state;
    struct tls_identity *id = NULL, *untouched = (struct tls_identity *)&id;
    g_autoptr(GError) err = NULL;
    g_autofree char *key = NULL, *key_after = NULL;

    assert_int_equal(tls_identity_ensure(f->dir, &id, NULL), 0);
    tls_identity_free(id);
    id = untouched;
    assert_true(g_file_get_contents(f->key, &key, NULL, NULL));
    assert_int_equal(g_unlink(f->cert), 0);
    assert_int_equal(tls_identity_ensure(f->dir, &id, &err), -EEXIST);
    assert_ptr_equal(id, untouched);
    assert_non_null(strstr(err->message, f->key));
    assert_non_null(strstr(err->message, "does not"));
    assert_false(g_file_test(f->cert, G_FILE_TEST_EXISTS));
    assert_true(g_file_get_contents(f->key, &key_after, NULL, NULL));
    assert_string_equal(key, key_after);
    g_clear_error(&err);

    /* The other half alone. */
    assert_int_equal(g_unlink(f->key), 0);
    assert_true(g_file_set_contents(f->cert, "not a certificate\n", -1, NULL));
    assert_int_equal(tls_identity_ensure(f->dir, &id, &err), -EEXIST);
    assert_non_null(strstr(err->message, f->cert));
    assert_false(g_file_test(f->key, G_FILE_TEST_EXISTS));
    g_clear_error(&err);

    /* Both present but not a certificate: a clear error, files kept. */
    assert_true(g_file_set_contents(f->key, "not a key\n", -1, NULL));
    assert_int_equal(tls_identity_ensure(f->dir, &id, &err), -EINVAL);
    assert_non_null(strstr(err->message, "cannot load the TLS certificate"));
    assert_ptr_equal(id, untouched);
}

/* A state directory that does not exist is an error, not a crash. */
static void test_no_state_dir(void **state)
{
    struct fx *f = *state;
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
    struct tls_identity *id = NULL;
    g_autoptr(GError) err = NULL;

    assert_int_equal(tls_identity_ensure(missing, &id, &err), -ENOENT);
    assert_null(id);
    assert_non_null(strstr(err->message, missing));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_state_dir, setup, teardown),
    };

    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        printf("SKIP: GLib has no TLS backend (install glib-networking)\n");
        return 77;
    }
    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
