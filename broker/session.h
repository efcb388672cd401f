/* session: aulad's side of client connections.
 *
 * aulad listens on the desktop protocols' ports and, for each connection it
 * accepts, starts one aula-session process (privilege separation, as sshd
 * does): the process gets the client's socket and one end of a socketpair,
 * and runs as the unprivileged session_user. aulad parses nothing of the
 * client's protocol; it answers the session's messages (display/proto.h),
 * checking each against the session's state and dropping the session on
 * anything unexpected:
 *
 *   new ──REDEEM_TICKET/AUTHENTICATE──> authenticated ──ALLOCATE──> allocating
 *   allocating ──(VM_READY + display fd sent)──> ready ──CONNECTED──> connected
 *   connected ──STATS──> connected;  ──DISCONNECTED/LOGOFF──> over
 *
 * The database keeps each desktop's session row (db.h): waiting_for_vm,
 * connected, disconnected (the VM stays the user's for the pool's
 * disconnect_timeout; the same user's next connection resumes it), and
 * logged_off (the VM is released: reset to its template unless the pool is
 * persistent). A sweep every few seconds applies disconnect and idle
 * timeouts, from the database, so they survive a restart of aulad. */
#ifndef AULA_SESSION_H
#define AULA_SESSION_H

#include <glib.h>
#include <json-glib/json-glib.h>

struct db;
struct conf;
struct auth;
struct pool_mgr;
struct ticket_store;
struct ratelimit;
struct session_mgr;

struct session_deps {
    struct db *db;
    const struct conf *cfg;
    const struct auth *auth;
    struct pool_mgr *pools;
    struct ticket_store *tickets;
    struct ratelimit *login_by_user;
    struct ratelimit *login_by_addr;
    const char *tls_cert;   /* PEM files the RDP sessions read before dropping privileges */
    const char *tls_key;
};

/* Start listening for VNC and RDP. deps and what
 * it points to are borrowed and outlive the manager. Sessions left from a
 * previous run are marked disconnected (their processes did not survive). */
int session_mgr_start(const struct session_deps *deps, struct session_mgr **mgrp, GError **error);
/* Stop listening and end every session process (their VMs stay assigned:
 * the sessions become disconnected). */
void session_mgr_free(struct session_mgr *mgr);

/* Admin actions on a session (the id of its row). disconnect: the client is
 * cut off and the VM stays the user's; logoff: the session ends and the VM is
 * released. */
int session_mgr_disconnect(struct session_mgr *mgr, const char *actor, int64_t id, GError **error);
int session_mgr_logoff(struct session_mgr *mgr, const char *actor, int64_t id, GError **error);

/* Listener facts for `aulactl status` (appends objects to an open array). */
void session_mgr_listeners(struct session_mgr *mgr, JsonBuilder *b);
/* Session processes running now. */
int session_mgr_count(struct session_mgr *mgr);

#endif
