/* db/ticket: rows of the tickets table (one-time connection tickets). Same
 * error contract as db.h; broker/ticket.c is the only caller.
 *
 * Only the SHA-256 of a ticket's secret is stored: a copy of the database
 * does not let anyone in. A ticket names a user, a pool and a protocol, and
 * works once, before expires_at. */
#ifndef AULA_DB_TICKET_H
#define AULA_DB_TICKET_H

#include <glib.h>
#include <stdint.h>

struct db;

/* Record a ticket of user for pool over protocol ("rdp" or "vnc"), in one
 * transaction with its audit row ("ticket.issue", by user). Errors: ENOENT
 * unknown user or pool, EINVAL a bad protocol or hash, EEXIST the hash is
 * taken (the caller draws another secret), EIO. */
int db_ticket_add(struct db *db, const char *user, const char *pool, const char *protocol,
                  const char *secret_hash, int64_t expires_at, GError **error);

/* Use the ticket whose secret hashes to secret_hash, for protocol, at now: in
 * one BEGIN IMMEDIATE transaction, so that a ticket works only once even for
 * callers racing on it. On success sets used_at and returns its user and pool
 * (caller frees). Errors, each leaving the ticket as it was: ENOENT unknown,
 * EALREADY used already, ETIMEDOUT expired, EPROTO made for the other
 * protocol, EACCES its user is disabled, EIO. Not audited: the caller writes
 * the audit row, with what it knows of the client. */
int db_ticket_use(struct db *db, const char *secret_hash, const char *protocol, int64_t now,
                  char **userp, char **poolp, GError **error);

/* Forget the tickets that expired before older_than, used or not. */
int db_ticket_prune(struct db *db, int64_t older_than, GError **error);

#endif
