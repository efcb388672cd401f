/* thinclient/broker_addr: parse `--broker HOST[:PORT]`. */
#include "config.h"

#include "thinclient/broker_addr.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

G_DEFINE_QUARK(aula-broker-addr, broker_addr_error)

#define PORT_MAX 65535

/* Set *error (code EINVAL) and return -EINVAL. */
G_GNUC_PRINTF(2, 3)
static int fail(GError **error, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(BROKER_ADDR_ERROR, EINVAL, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Refuse text a host name can never contain. This runs before anything else,
 * so every later message may quote the text without printing a control
 * character to the user's terminal. Invisible format characters (U+200B,
 * the bidi overrides) go too: they make one name look like another. */
static int check_chars(const char *text, GError **error)
{
    if (!g_utf8_validate(text, -1, NULL))
        return fail(error, "the broker address is not valid UTF-8");
    for (const char *p = text; *p != '\0'; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        long pos = g_utf8_pointer_to_offset(text, p) + 1;

        if (g_unichar_isspace(c))
            return fail(error, "the broker address contains white space (character %ld); "
                        "give HOST[:PORT] with no spaces", pos);
        if (g_unichar_iscntrl(c) || g_unichar_type(c) == G_UNICODE_FORMAT)
            return fail(error, "the broker address contains an invisible or control character "
                        "(U+%04X, character %ld)", (unsigned)c, pos);
    }
    return 0;
}

/* The port after ':'. All digits, 1..65535; leading zeros are harmless. */
static int parse_port(const char *text, const char *s, int *portp, GError **error)
{
    long v = 0;

    if (*s == '\0')
        return fail(error, "broker address \"%s\": no port after ':'", text);
    for (const char *p = s; *p != '\0'; p++) {
        if (!g_ascii_isdigit(*p))
            return fail(error, "broker address \"%s\": port \"%s\" is not a number from 1 to %d",
                        text, s, PORT_MAX);
        if (v <= PORT_MAX) /* stop growing once out of range: no overflow */
            v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > PORT_MAX)
        return fail(error, "broker address \"%s\": port %s is out of range (1 to %d)", text, s,
                    PORT_MAX);
    *portp = (int)v;
    return 0;
}

/* Split HOST[:PORT] (brackets for IPv6) and check both halves; see broker_addr.h. */
int broker_addr_parse(const char *text, char **hostp, int *portp, GError **error)
{
    char *host = NULL;
    const char *port_text = NULL;  /* the digits after ':', or NULL for the default */
    gboolean ipv6 = FALSE;         /* the host must be an IPv6 address */
    int port = BROKER_ADDR_DEFAULT_PORT;
    int r = -EINVAL;

    if (text == NULL || *text == '\0') {
        r = fail(error, "the broker address is empty; give HOST[:PORT]");
        goto out;
    }
    r = check_chars(text, error);
    if (r < 0)
        goto out;
    if (strstr(text, "://") != NULL) {
        r = fail(error, "broker address \"%s\" is a URL; give HOST[:PORT], "
                 "e.g. broker.example.org:%d", text, BROKER_ADDR_DEFAULT_PORT);
        goto out;
    }

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL) {
            r = fail(error, "broker address \"%s\": '[' is not closed by ']'", text);
            goto out;
        }
        if (close[1] == ':') {
            port_text = close + 2;
        } else if (close[1] != '\0') {
            r = fail(error, "broker address \"%s\": unexpected \"%s\" after ']'; "
                     "only :PORT may follow", text, close + 1);
            goto out;
        }
        host = g_strndup(text + 1, (gsize)(close - text - 1));
        ipv6 = TRUE;
    } else {
        const char *colon = strchr(text, ':');

        if (colon == NULL) {
            host = g_strdup(text);
        } else if (strchr(colon + 1, ':') != NULL) {
            /* More than one ':' and no brackets: a bare IPv6 address, which
             * cannot carry a port without them. */
            host = g_strdup(text);
            ipv6 = TRUE;
        } else {
            host = g_strndup(text, (gsize)(colon - text));
            port_text = colon + 1;
        }
    }

    if (*host == '\0') {
        r = fail(error, "broker address \"%s\" has no host name", text);
        goto out;
    }
    if (strpbrk(host, "[]") != NULL) {
        r = fail(error, "broker address \"%s\": '[' and ']' may only enclose an IPv6 address, "
                 "as in [::1]:%d", text, BROKER_ADDR_DEFAULT_PORT);
        goto out;
    }
    if (strlen(host) > BROKER_ADDR_HOST_MAX) {
        r = fail(error, "the broker host name is %zu bytes long; at most %d are allowed",
                 strlen(host), BROKER_ADDR_HOST_MAX);
        goto out;
    }
    if (ipv6 && (strchr(host, ':') == NULL || !g_hostname_is_ip_address(host))) {
        r = fail(error, "broker address \"%s\": \"%s\" is not an IPv6 address%s", text, host,
                 text[0] == '[' ? " (brackets are only for IPv6 addresses)"
                                : "; give HOST:PORT with one ':', or [IPv6]:PORT");
        goto out;
    }
    if (port_text != NULL) {
        r = parse_port(text, port_text, &port, error);
        if (r < 0)
            goto out;
    }

    *hostp = host;
    host = NULL;
    *portp = port;
    r = 0;
out:
    g_free(host);
    return r;
}
