/* admin_api: the admin API's routes and handlers, free of any transport.
 * admin_server.c feeds it requests from the UNIX socket; the unit tests call
 * it directly. Every response body is JSON; errors are
 *   {"error": {"status": 409, "reason": "Conflict", "message": "..."}}
 * and a refused request changes nothing. */
#ifndef AULA_ADMIN_API_H
#define AULA_ADMIN_API_H

#include <glib.h>
#include <json-glib/json-glib.h>

struct db;
struct conf;

/* A deferred answer: status and JSON body (taken). */
typedef void (*admin_reply_fn)(guint status, char *body, gpointer data);

/* Request bodies are small JSON objects; anything bigger is refused (413). */
#define ADMIN_API_BODY_MAX (64 * 1024)

struct admin_request {
    const char *method;
    const char *path;
    GHashTable *query;     /* may be NULL */
    const char *body;      /* may be NULL */
    gsize body_len;
    const char *actor;     /* who asks, for the audit log ("root", "alice") */
    gboolean authorized;   /* root or a member of admin_group */
    /* How a handler that must wait (a template import, an allocation) answers
     * later; such a handler leaves resp->status 0. May be called before
     * admin_api_handle returns. */
    admin_reply_fn reply;
    gpointer reply_data;
};

struct admin_response {
    guint status;
    char *body;        /* JSON text; caller frees */
    const char *allow; /* for 405: the methods the resource takes (static) */
};

/* The JSON error body for status and message. Caller frees. */
char *admin_api_error_body(guint status, const char *message);

/* Adds daemon facts (libvirt, listeners) to the status object being built. */
typedef void (*admin_status_fn)(JsonBuilder *b, void *data);

struct admin_api;

struct pool_mgr;

/* db and cfg are borrowed and must outlive the api. */
struct admin_api *admin_api_new(struct db *db, const struct conf *cfg);
/* The pool manager (borrowed) that VM operations go to; without one they
 * answer 503. */
void admin_api_set_pool_mgr(struct admin_api *api, struct pool_mgr *mgr);
/* The session manager for session disconnect and logoff (borrowed). */
struct session_mgr;
void admin_api_set_session_mgr(struct admin_api *api, struct session_mgr *sessions);
void admin_api_free(struct admin_api *api);
void admin_api_set_status_fn(struct admin_api *api, admin_status_fn fn, void *data);

/* Handle one request; fills *resp (caller frees resp->body), or leaves
 * resp->status 0 and answers through req->reply. */
void admin_api_handle(struct admin_api *api, const struct admin_request *req,
                      struct admin_response *resp);

#endif
