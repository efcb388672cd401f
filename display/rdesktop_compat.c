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
 * goes to OpenSSL, and only a read that is exactly rdesktop's 12-byte Erect
 * Domain Request gets the two fields re-encoded as PER (0 and 0, as other
 * clients send: FreeRDP ignores their values). Nothing else is touched, and
 * only until the first such PDU or the first MCS_CHECK_READS reads, whichever
 * comes first; an Erect Domain Request only ever comes once, early. */
#include "config.h"

#include <dlfcn.h>
#include <glib.h>
#include <string.h>

#define MCS_CHECK_READS 16

typedef int (*ssl_read_fn)(void *ssl, void *buf, int num);

static int reads;

int SSL_read(void *ssl, void *buf, int num);

int SSL_read(void *ssl, void *buf, int num)
{
    /* TPKT (length 12), X.224 Data, MCS Erect Domain Request, rdesktop's
     * fields; then what PER makes of subHeight 0, subInterval 0. */
    static const unsigned char rdesktop_edrq[12] = { 0x03, 0x00, 0x00, 0x0c, 0x02, 0xf0, 0x80, 0x04,
                                                     0x00, 0x01, 0x00, 0x01 };
    static const unsigned char per_fields[4] = { 0x01, 0x00, 0x01, 0x00 };
    static ssl_read_fn real;
    int n;

    if (real == NULL) {
        real = (ssl_read_fn)dlsym(RTLD_NEXT, "SSL_read");
        if (real == NULL) {
            g_warning("rdp: no SSL_read in the libraries: %s", dlerror());
            return -1;
        }
    }
    n = real(ssl, buf, num);
    if (reads < MCS_CHECK_READS && n > 0) {
        reads++;
        if (n == (int)sizeof(rdesktop_edrq) && memcmp(buf, rdesktop_edrq, sizeof(rdesktop_edrq)) == 0) {
            memcpy((unsigned char *)buf + 8, per_fields, sizeof(per_fields));
            reads = MCS_CHECK_READS;
            g_info("rdp: the client is rdesktop (its MCS Erect Domain Request is not PER): re-encoded");
        }
    }
    return n;
}
