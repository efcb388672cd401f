/* ticket: one-time tickets that open a desktop without the user's password.
 *
 * A client that has logged in to the client API asks for a ticket for one
 * pool and one protocol, and gives the ticket to its RDP or VNC viewer in
 * place of a password; the session process hands it to aulad to redeem. A
 * ticket works once, within ticket_lifetime seconds.
 *
 * Secrets come from the kernel's CSPRNG, in an alphabet of 64 characters
 * that need no escaping in a URL or a viewer's password field
 * (A-Z a-z 0-9 - _). Only their SHA-256 is stored (db/ticket.c). VNC's
 * authentication (RFC 6143 7.2.2) uses at most 8 password characters, so a
 * VNC secret has 8 (48 bits: enough for one use within a minute behind the
 * login rate limit); an RDP secret has 32. VNC never shows the broker the
 * password, only a challenge and the viewer's DES response to it, so the
 * store keeps the secrets of live VNC tickets in memory (and only until they
 * expire) to find which one answers.
 *
 * Errors (-errno, with a message for the user in *error, whose code is the
 * positive errno):
 *   ENOENT     no such ticket (or none answers a VNC challenge)
 *   EALREADY   used already
 *   ETIMEDOUT  expired
 *   EPROTO     made for the other protocol
 *   EACCES     its user is disabled
 *   EINVAL     a bad argument (protocol, sizes)
 *   EIO        the database or the random source failed
 * Every redemption, accepted or refused, leaves an audit row
 * ("ticket.redeem", ok or refused, with the reason and the client's address);
 * callers should count refusals in the client address's rate limit. */
#ifndef AULA_TICKET_H
#define AULA_TICKET_H

#include <glib.h>
#include <stdint.h>

#define TICKET_SECRET_LEN_RDP 32
#define TICKET_SECRET_LEN_VNC 8
/* RFC 6143 7.2.2: a 16-byte challenge and a 16-byte response. */
#define TICKET_VNC_CHALLENGE_SIZE 16

struct db;
struct ticket_store;

/* db is borrowed; *lifetime (seconds, ticket_lifetime) is read at each issue,
 * so a reloaded setting applies at once (borrowed). Caller frees. */
struct ticket_store *ticket_store_new(struct db *db, const int *lifetime);
void ticket_store_free(struct ticket_store *store);

/* A new ticket of user for pool over protocol ("rdp" or "vnc"), audited as
 * "ticket.issue". The caller has checked that user may use pool. client is
 * the requester's address, for the log. *secretp is the secret to hand to
 * the client (caller frees, and should wipe it); *expiresp its expiry (unix
 * time). ENOENT for an unknown user or pool. */
int ticket_issue(struct ticket_store *store, const char *user, const char *pool,
                 const char *protocol, const char *client, char **secretp, int64_t *expiresp,
                 GError **error);

/* Redeem the ticket with this secret, presented over protocol by client (an
 * address, for the audit log). On success *userp and *poolp are the ticket's
 * (caller frees). */
int ticket_redeem(struct ticket_store *store, const char *secret, const char *protocol,
                  const char *client, char **userp, char **poolp, GError **error);

/* Redeem the live VNC ticket whose secret, as a VNC password, turns challenge
 * into response (VNC authentication, RFC 6143 7.2.2; compared in constant
 * time). As ticket_redeem otherwise; ENOENT when no ticket answers. */
int ticket_redeem_vnc(struct ticket_store *store, const uint8_t challenge[TICKET_VNC_CHALLENGE_SIZE],
                      const uint8_t response[TICKET_VNC_CHALLENGE_SIZE], const char *client,
                      char **userp, char **poolp, GError **error);

#endif
