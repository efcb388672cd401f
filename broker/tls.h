/* tls: aulad's TLS certificate, made on first start.
 *
 * state_dir/tls/cert.pem and key.pem (0600, RSA 2048, self-signed, ten
 * years, the host's name as CN and subjectAltName) serve the client API and
 * the RDP front end. An administrator may replace both files with a real
 * certificate; aulad only creates them when they are missing. */
#ifndef AULA_TLS_H
#define AULA_TLS_H

#include <gio/gio.h>

struct tls_identity {
    char *cert_path;
    char *key_path;
    char *fingerprint;          /* "sha256:AB:CD:..." of the certificate (DER) */
    GTlsCertificate *cert;      /* with its private key, for GIO servers */
};

/* Load state_dir/tls/{cert,key}.pem, creating them when both are missing.
 * Caller frees *idp with tls_identity_free. */
int tls_identity_ensure(const char *state_dir, struct tls_identity **idp, GError **error);
void tls_identity_free(struct tls_identity *id);

#endif
