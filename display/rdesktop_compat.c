/* rdesktop_compat: let rdesktop (1.8, 1.9) connect to aula-session.
 *
 * rdesktop writes the two fields of its MCS Erect Domain Request (T.125
 * subHeight and subInterval, PER-encoded integers) as plain 16-bit numbers:
 * the PDU's body is 04 00 01 00 01 where PER wants 04 01 00 01 00. FreeRDP's
 * server library (since 2.0) checks that a PDU is read to its end and drops
 * the connection over the byte left over ("invalid TPKT header length 12, 1
 * bytes too long"). Its maintainers leave it to rdesktop to fix; no released
 * rdesktop has.
 *
 * FreeRDP reads TLS through OpenSSL's SSL_read, and no setting or callback
 * runs before it parses this PDU. So aula-session puts its own SSL_read in
 * front of OpenSSL's (the executable exports it; see Makefile.am): each read
 * goes to OpenSSL, and only a read that ends rdesktop's 12-byte Erect Domain
 * Request gets the two fields re-encoded as PER (0 and 0, as other clients
 * send: FreeRDP ignores their values). Nothing else is touched, and only
 * until the first such PDU or the first MCS_CHECK_READS reads, whichever
 * comes first; an Erect Domain Request only ever comes once, early. */
#include "config.h"

#include "display/rdesktop_compat.h"

#include <dlfcn.h>
#include <glib.h>
#include <string.h>

#define MCS_CHECK_READS 16

typedef int (*ssl_read_fn)(void *ssl, void *buf, int num);

static int reads;
static unsigned char last4[4];      /* the stream's last 4 bytes so far */
static gboolean seen;               /* a request was re-encoded */

gboolean rdesktop_compat_seen(void)
{
    return seen;
}

int SSL_read(void *ssl, void *buf, int num);

int SSL_read(void *ssl, void *buf, int num)
{
    /* TPKT header (length 12); then X.224 Data, MCS Erect Domain Request
     * and rdesktop's fields; then what PER makes of subHeight 0 and
     * subInterval 0. FreeRDP reads a TPKT's header and its body apart, so
     * the body may come alone, the header having come with the read before. */
    static const unsigned char tpkt12[4] = { 0x03, 0x00, 0x00, 0x0c };
    static const unsigned char rdesktop_edrq[8] = { 0x02, 0xf0, 0x80, 0x04, 0x00, 0x01, 0x00, 0x01 };
    static const unsigned char per_fields[4] = { 0x01, 0x00, 0x01, 0x00 };
    static ssl_read_fn real;
    unsigned char *p = buf;
    int n;

    if (real == NULL) {
        real = (ssl_read_fn)dlsym(RTLD_NEXT, "SSL_read");
        if (real == NULL) {
            g_warning("rdp: no SSL_read in the libraries: %s", dlerror());
            return -1;
        }
    }
    n = real(ssl, buf, num);
    if (reads >= MCS_CHECK_READS || n <= 0)
        return n;
    reads++;
    if (n >= 8 && memcmp(p + n - 8, rdesktop_edrq, 8) == 0 &&
        ((n == 8 && memcmp(last4, tpkt12, 4) == 0) ||
         (n >= 12 && memcmp(p + n - 12, tpkt12, 4) == 0))) {
        memcpy(p + n - 4, per_fields, sizeof(per_fields));
        reads = MCS_CHECK_READS;
        seen = TRUE;
        g_info("rdp: the client is rdesktop (its MCS Erect Domain Request is not PER): re-encoded");
        return n;
    }
    if (n >= 4) {
        memcpy(last4, p + n - 4, 4);
    } else {
        memmove(last4, last4 + n, (size_t)(4 - n));
        memcpy(last4 + 4 - n, p, (size_t)n);
    }
    return n;
}
