/* client_api: the HTTPS + JSON API that users' clients (aula-client, scripts,
 * a portal) talk to: log in, list one's pools, get a one-time ticket for a
 * desktop, log out. See docs/client-api.md.
 *
 * Tokens live in aulad's memory only (a restart logs every client out); each
 * is 32 random bytes, hex, valid for token_lifetime seconds. */
#ifndef AULA_CLIENT_API_H
#define AULA_CLIENT_API_H

#include <glib.h>

struct db;
struct conf;
struct auth;
struct ticket_store;
struct ratelimit;
struct tls_identity;
struct client_api;

struct client_api_deps {
    struct db *db;
    const struct conf *cfg;
    const struct auth *auth;
    struct ticket_store *tickets;
    struct ratelimit *login_by_user;   /* shared with the RDP login path */
    struct ratelimit *login_by_addr;
    const struct tls_identity *tls;
};

/* Listen on cfg->api_address port cfg->api_port with TLS (deps->tls->cert).
 * "::" takes IPv4 as well (dual stack), so IPv4 addresses listed beside it
 * are served already; where the kernel has no IPv6 it falls back to 0.0.0.0.
 * deps and what it points to are borrowed and outlive the API; cfg's
 * public_address, token_lifetime and ticket ports are read per request.
 * Errors: EADDRINUSE (the port is taken), EINVAL, EIO, with the address in
 * the message. Caller frees *apip with client_api_free. */
int client_api_start(const struct client_api_deps *deps, struct client_api **apip, GError **error);
void client_api_free(struct client_api *api);

#endif
