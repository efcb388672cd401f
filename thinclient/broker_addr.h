/* thinclient/broker_addr: the thin client's `--broker HOST[:PORT]` argument. */
#ifndef AULA_THINCLIENT_BROKER_ADDR_H
#define AULA_THINCLIENT_BROKER_ADDR_H

#include <glib.h>

#define BROKER_ADDR_DEFAULT_PORT 8443
/* Longest DNS name in dotted text form: 255 octets on the wire (RFC 1035
 * 2.3.4) less the first label's length byte and the final root byte. */
#define BROKER_ADDR_HOST_MAX 253

/* Errors are in this domain (the quark of "aula-broker-addr"), code EINVAL. */
#define BROKER_ADDR_ERROR (broker_addr_error_quark())
GQuark broker_addr_error_quark(void);

/* Parse "host", "host:port", "[v6addr]", "[v6addr]:port" or a bare IPv6
 * address (more than one ':' and no brackets: all host, default port; so
 * "::1:9000" is an address, and "[::1]:9000" is how to give a port).
 * Returns 0 and sets *hostp (caller frees, without brackets) and *portp, or
 * -EINVAL with a message for the user in *error; the out-parameters are set
 * only on success. Refused: NULL or empty text, an empty host, a port that is
 * not all digits or not in 1..65535, whitespace or control characters
 * anywhere, invalid UTF-8, an unclosed '[', text after ']' that is not
 * ":port", a '[' or ']' elsewhere, a host in brackets or with several ':'
 * that is not an IPv6 address, a URL ("https://..."), and a host longer than
 * BROKER_ADDR_HOST_MAX bytes. A host name is not resolved or otherwise
 * checked here. */
int broker_addr_parse(const char *text, char **hostp, int *portp, GError **error);

#endif
