/* tls: aulad's certificate and key, made with GnuTLS on first start (see tls.h). */
#include "config.h"

#include "broker/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TLS_ERROR (g_quark_from_static_string("aula-tls-error"))

#define KEY_BITS 2048
#define VALID_DAYS 3653            /* ten years */
#define BACKDATE_SECONDS 3600      /* clients whose clock is a little behind */
#define SERIAL_BYTES 16            /* RFC 5280 4.1.2.2: at most 20 octets, positive */

static int fail(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(GError **error, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(TLS_ERROR, err, fmt, ap);
    va_end(ap);
    return -err;
}

void tls_identity_free(struct tls_identity *id)
{
    if (id == NULL)
        return;
    g_free(id->cert_path);
    g_free(id->key_path);
    g_free(id->fingerprint);
    g_clear_object(&id->cert);
    g_free(id);
}

/* "sha256:AB:CD:..." of cert's DER form. Caller frees. */
static char *fingerprint(GTlsCertificate *cert)
{
    g_autoptr(GByteArray) der = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    GString *out = g_string_new("sha256");
    guint8 digest[32];
    gsize len = sizeof(digest);

    g_object_get(cert, "certificate", &der, NULL);
    g_checksum_update(sum, der->data, der->len);
    g_checksum_get_digest(sum, digest, &len);
    for (gsize i = 0; i < len; i++)
        g_string_append_printf(out, ":%02X", digest[i]);
    return g_string_free(out, FALSE);
}

/* Does something (a file, a symlink, even a broken one) exist at path? */
static gboolean present(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* Write data to a new file beside path, 0600, flushed to disk; its name in
 * *tmpp (caller frees, and renames or removes it). */
static int write_temp(const char *path, const void *data, size_t len, char **tmpp, GError **error)
{
    g_autofree char *tmp = g_strconcat(path, ".XXXXXX", NULL);
    const char *p = data;
    int fd, r = 0;

    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        return fail(error, e, "cannot create a file beside %s: %s", path, g_strerror(e));
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            r = fail(error, e, "cannot write %s: %s", tmp, g_strerror(e));
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (r == 0 && fsync(fd) < 0) {
        int e = errno;
        r = fail(error, e, "cannot write %s: %s", tmp, g_strerror(e));
    }
    if (close(fd) < 0 && r == 0) {
        int e = errno;
        r = fail(error, e, "cannot write %s: %s", tmp, g_strerror(e));
    }
    if (r < 0) {
        g_unlink(tmp);
        return r;
    }
    *tmpp = g_steal_pointer(&tmp);
    return 0;
}

/* A GnuTLS failure while doing what: EIO with GnuTLS's reason. */
static int gnutls_fail(GError **error, int ret, const char *what)
{
    return fail(error, EIO, "cannot make the TLS certificate: %s: %s", what, gnutls_strerror(ret));
}

/* Make a self-signed certificate for host and its key, in PEM. */
static int make_pair(const char *host, gnutls_datum_t *cert_pem, gnutls_datum_t *key_pem,
                     GError **error)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    unsigned char serial[SERIAL_BYTES], key_id[64];
    size_t key_id_size = sizeof(key_id);
    time_t now = time(NULL);
    int ret, r = 0;

    ret = gnutls_x509_privkey_init(&key);
    if (ret == 0)
        ret = gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, KEY_BITS, 0);
    if (ret < 0) {
        r = gnutls_fail(error, ret, "generating an RSA key");
        goto out;
    }
    ret = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    if (ret < 0) {
        r = gnutls_fail(error, ret, "drawing a serial number");
        goto out;
    }
    /* Positive, and 16 bytes long whatever the draw. */
    serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
    ret = gnutls_x509_crt_init(&crt);
    if (ret == 0)
        ret = gnutls_x509_crt_set_version(crt, 3);
    if (ret == 0)
        ret = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
    if (ret == 0)
        ret = gnutls_x509_crt_set_activation_time(crt, now - BACKDATE_SECONDS);
    if (ret == 0)
        ret = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)VALID_DAYS * 24 * 3600);
    if (ret == 0)
        ret = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host, strlen(host));
    if (ret == 0)
        ret = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host, strlen(host),
                                                   GNUTLS_FSAN_SET);
    if (ret == 0)
        ret = gnutls_x509_crt_set_key(crt, key);
    if (ret == 0)
        ret = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
    if (ret == 0)
        ret = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                                     GNUTLS_KEY_KEY_ENCIPHERMENT);
    if (ret == 0)
        ret = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
    if (ret == 0)
        ret = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, key_id, &key_id_size);
    if (ret == 0)
        ret = gnutls_x509_crt_set_subject_key_id(crt, key_id, key_id_size);
    if (ret == 0)
        ret = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    if (ret < 0) {
        r = gnutls_fail(error, ret, "building the certificate");
        goto out;
    }
    ret = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, cert_pem);
    if (ret < 0) {
        r = gnutls_fail(error, ret, "writing the certificate as PEM");
        goto out;
    }
    /* PKCS #8, unencrypted: GLib, OpenSSL and FreeRDP all read it. */
    ret = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                            key_pem);
    if (ret < 0) {
        gnutls_free(cert_pem->data);
        cert_pem->data = NULL;
        r = gnutls_fail(error, ret, "writing the key as PEM");
        goto out;
    }
out:
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return r;
}

/* Make a new pair at cert_path and key_path (in dir, made 0700 if missing).
 * Both files appear by rename, so no reader ever sees a half-written one. */
static int create_pair(const char *dir, const char *cert_path, const char *key_path,
                       GError **error)
{
    g_autofree char *cert_tmp = NULL, *key_tmp = NULL;
    gnutls_datum_t cert_pem = { NULL, 0 }, key_pem = { NULL, 0 };
    const char *host = g_get_host_name();
    int r;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        return fail(error, e, "cannot create %s: %s", dir, g_strerror(e));
    }
    r = make_pair(host, &cert_pem, &key_pem, error);
    if (r == 0)
        r = write_temp(key_path, key_pem.data, key_pem.size, &key_tmp, error);
    if (r == 0)
        r = write_temp(cert_path, cert_pem.data, cert_pem.size, &cert_tmp, error);
    if (r == 0 && rename(key_tmp, key_path) < 0) {
        int e = errno;
        r = fail(error, e, "cannot rename %s to %s: %s", key_tmp, key_path, g_strerror(e));
    }
    if (r == 0 && rename(cert_tmp, cert_path) < 0) {
        int e = errno;
        r = fail(error, e, "cannot rename %s to %s: %s", cert_tmp, cert_path, g_strerror(e));
        g_unlink(key_path); /* never leave half a pair behind */
    }
    if (r < 0) {
        if (key_tmp)
            g_unlink(key_tmp);
        if (cert_tmp)
            g_unlink(cert_tmp);
    }
    if (key_pem.data) {
        explicit_bzero(key_pem.data, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(cert_pem.data);
    return r;
}

int tls_identity_ensure(const char *state_dir, struct tls_identity **idp, GError **error)
{
    g_autofree char *dir = g_build_filename(state_dir, "tls", NULL);
    g_autoptr(GError) err = NULL;
    struct tls_identity *id = g_new0(struct tls_identity, 1);
    gboolean have_cert, have_key, created = FALSE;
    int r = 0;

    id->cert_path = g_build_filename(dir, "cert.pem", NULL);
    id->key_path = g_build_filename(dir, "key.pem", NULL);
    have_cert = present(id->cert_path);
    have_key = present(id->key_path);
    if (have_cert != have_key) {
        r = fail(error, EEXIST,
                 "%s exists but %s does not: put the matching %s there, or remove %s so that "
                 "aulad makes a new self-signed pair",
                 have_cert ? id->cert_path : id->key_path, have_cert ? id->key_path : id->cert_path,
                 have_cert ? "key" : "certificate", have_cert ? id->cert_path : id->key_path);
        goto out;
    }
    if (!have_cert) {
        r = create_pair(dir, id->cert_path, id->key_path, error);
        if (r < 0)
            goto out;
        created = TRUE;
    }
    id->cert = g_tls_certificate_new_from_files(id->cert_path, id->key_path, &err);
    if (id->cert == NULL) {
        r = fail(error, EINVAL, "cannot load the TLS certificate %s with key %s: %s",
                 id->cert_path, id->key_path, err->message);
        goto out;
    }
    id->fingerprint = fingerprint(id->cert);
    if (created)
        g_message("made a self-signed TLS certificate for %s in %s, fingerprint %s",
                  g_get_host_name(), dir, id->fingerprint);
    else
        g_info("TLS certificate %s, fingerprint %s", id->cert_path, id->fingerprint);
    *idp = id;
    id = NULL;
out:
    tls_identity_free(id);
    return r;
}
