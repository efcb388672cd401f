/* thinclient/tc_api: aula-client's side of the broker's client API
 * (docs/client-api.md): log in, list the user's pools, get a one-time
 * ticket for a desktop, log out; over HTTPS, with the broker's certificate
 * checked as the settings say.
 *
 * The certificate is checked by aula-client itself, for every new TLS
 * connection, whatever the system's CAs say:
 *   - fingerprint set: the certificate's SHA-256 must be that one;
 *   - ca_file set: the certificate must chain to a CA in that file and be
 *     made for the broker's host name (both must hold when both are set);
 *   - neither, tofu on: the fingerprint stored in known_brokers for
 *     HOST:PORT must match; the first time, it is stored;
 *   - none of these: every certificate is refused, and the message shows its
 *     fingerprint, so that the user can pin it.
 *
 * Errors: the functions return 0 or -TC_ERR_*, with a message for the user in
 * *error (domain TC_API_ERROR, code the TC_ERR_* value). For answers of the
 * broker the message is the broker's own ("wrong user name or password").
 *
 * Threads and main loops: a tc_api belongs to the thread that made it. Each
 * call blocks that thread until the answer comes or the timeout passes,
 * running the thread-default GMainContext of tc_api_new's time meanwhile (so
 * its other sources run; they must not call the same tc_api). A UI that must
 * not block runs the calls in a worker thread with its own context.
 *
 * IPv6: GLib's TLS client sends the server name it is given as the TLS SNI,
 * even an IP address, and a GnuTLS server refuses an IPv6 literal there. For
 * a broker given as an address (IPv4 or IPv6), the connection is therefore
 * made to the address itself, which GLib sends no SNI for (RFC 6066 3 forbids
 * addresses in SNI anyway); the Host header still names the address. */
#ifndef AULA_THINCLIENT_TC_API_H
#define AULA_THINCLIENT_TC_API_H

#include <glib.h>
#include <stdint.h>

struct tc_conf;

#define TC_API_ERROR (tc_api_error_quark())
GQuark tc_api_error_quark(void);

enum tc_err {
    TC_ERR_WRONG_PASSWORD = 1, /* 401 at login: wrong user name or password */
    TC_ERR_NOT_LOGGED_IN,      /* 401 elsewhere: no login, or the token expired or was revoked */
    TC_ERR_RATE_LIMITED,       /* 429: too many failed logins or tickets; tc_api_retry_after() */
    TC_ERR_NOT_ENTITLED,       /* 403: the user may not use that pool */
    TC_ERR_UNKNOWN_POOL,       /* 404: no such pool */
    TC_ERR_POOL_EXHAUSTED,     /* 503 for a ticket: the broker cannot give a desktop now */
    TC_ERR_REFUSED,            /* 400 and other 4xx: e.g. a protocol the pool does not offer */
    TC_ERR_BROKER_FAILED,      /* 5xx (but a ticket's 503): the broker failed */
    TC_ERR_UNREACHABLE,        /* DNS, connection refused, no route, timeout, connection lost */
    TC_ERR_CERT_CHANGED,       /* not the certificate pinned, or stored on first use */
    TC_ERR_CERT_UNTRUSTED,     /* not from ca_file's CAs, or no trust configured */
    TC_ERR_PROTOCOL,           /* not TLS, not JSON, or not the shape the API promises */
    TC_ERR_CONFIG,             /* the client's settings: no broker, bad ca_file or known_brokers */
};

/* A short title for code (a TC_ERR_* value), for the UI: "Wrong user name or
 * password", "The broker's certificate has changed", ... Static. */
const char *tc_api_strerror(int code);

struct tc_api;

/* A client of the broker named in cfg, checked as cfg's ca_file,
 * fingerprint and tofu say, with cfg's timeout. Reads ca_file now
 * (TC_ERR_CONFIG when it cannot); connects at the first call. cfg is
 * borrowed for this call only. Caller frees *apip with tc_api_free(). */
int tc_api_new(const struct tc_conf *cfg, struct tc_api **apip, GError **error);

/* Forgets the token (wiped) without logging out; see tc_api_logout(). */
void tc_api_free(struct tc_api *api);

/* Log in as user; the token is kept inside api (and wiped when done) for
 * the calls that follow. *expiresp (may be NULL): when the login ends, unix
 * seconds. */
int tc_api_login(struct tc_api *api, const char *user, const char *password, int64_t *expiresp,
                 GError **error);

/* Whether api holds a token (from a login not logged out since; it may have
 * expired at the broker). */
gboolean tc_api_logged_in(const struct tc_api *api);

/* Seconds the broker asked to wait (Retry-After) with the last
 * TC_ERR_RATE_LIMITED; 0 after any other outcome. */
int tc_api_retry_after(const struct tc_api *api);

/* The broker's certificate as seen by the last call that reached it:
 * "sha256:AA:BB:..." (borrowed, valid until the next call), or NULL. */
const char *tc_api_peer_fingerprint(const struct tc_api *api);

struct tc_pool {
    char *name;
    char **protocols;      /* NULL-terminated, in the pool's order: "rdp", "vnc" */
    gboolean persistent;   /* the desktop stays the user's after logoff */
    gboolean available;    /* a desktop can be had now or soon */
    int ready_spares;      /* running VMs without an owner */
    char *own_vm;          /* the user's own VM in the pool, or NULL */
};

void tc_pool_free(struct tc_pool *pool);

/* The pools the user may use, by name. *poolsp: a GPtrArray of struct
 * tc_pool (it frees them); caller unrefs. */
int tc_api_pools(struct tc_api *api, GPtrArray **poolsp, GError **error);

struct tc_ticket {
    char *protocol;        /* "rdp" or "vnc" */
    char *host;            /* where the viewer connects (no brackets) */
    int port;
    char *ticket;          /* the one-time secret: the viewer's password */
    int64_t expires;       /* use it before this (unix seconds) */
};

/* Wipes the secret. */
void tc_ticket_free(struct tc_ticket *ticket);

/* A one-time ticket for a desktop of pool over protocol ("rdp", "vnc", or
 * NULL: the pool's first). Caller frees *ticketp with tc_ticket_free(). */
int tc_api_connect(struct tc_api *api, const char *pool, const char *protocol,
                   struct tc_ticket **ticketp, GError **error);

/* End the login at the broker. The token is forgotten whatever the outcome;
 * a token the broker no longer knows counts as logged out. A no-op when not
 * logged in. */
int tc_api_logout(struct tc_api *api, GError **error);

#endif
