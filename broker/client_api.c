/* client_api: the HTTPS + JSON API for users' clients (see client_api.h).
 *
 * Routes (request and response bodies are JSON, requests at most 16 KiB;
 * errors are {"error": "text for the user"}; times are unix seconds):
 *   POST /api/v1/login               {"username", "password"}
 *        200 {"token", "expires", "user"}   401 wrong   429 locked out
 *   POST /api/v1/logout              204, the token is forgotten
 *   GET  /api/v1/pools               200 {"pools": [{"name", "protocols",
 *        "persistent", "available", "ready_spares", "own_vm"}]}: the pools
 *        the user is entitled to
 *   POST /api/v1/pools/NAME/connect  {"protocol": "rdp" | "vnc"} (optional:
 *        the pool's first protocol)
 *        200 {"protocol", "host", "port", "ticket", "expires"}
 *        400 protocol not offered   403 not entitled   404 no such pool
 *        429 more than ISSUE_MAX tickets in ISSUE_WINDOW seconds
 *   GET  /api/v1/pools/NAME/rdp      200 application/x-rdp: a .rdp file
 * All but login need "Authorization: Bearer TOKEN"; without a valid one the
 * answer is 401 with WWW-Authenticate. An unknown path is 404, a known one
 * with another method 405 with Allow. */
#include "config.h"

#include "broker/client_api.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>

#include "broker/auth.h"
#include "broker/conf.h"
#include "broker/ratelimit.h"
#include "broker/ticket.h"
#include "broker/tls.h"
#include "db/db.h"

#define CLIENT_API_ERROR (g_quark_from_static_string("aula-client-api-error"))

#define BODY_MAX (16 * 1024)
#define TOKEN_BYTES 32
#define USERNAME_MAX 256
/* Tickets a user may get per window: plenty for a client that reconnects,
 * few enough that a stolen token cannot mint VNC secrets to guess against. */
#define ISSUE_MAX 10
#define ISSUE_WINDOW 60
/* Live tokens per user; a further login ends the one closest to expiry, so
 * that logging in again and again cannot fill aulad's memory. */
#define TOKENS_PER_USER 16
/* Lockouts whose refusal has been audited; past this many, forget the old. */
#define REFUSALS_MAX 4096

struct token {
    char *user;
    int64_t expires;
};

struct client_api {
    struct client_api_deps deps;     /* the pointers inside are borrowed */
    SoupServer *soup;
    GHashTable *tokens;              /* SHA-256 of a token (hex) -> struct token */
    int issue_max, issue_window;     /* read by issue_by_user */
    struct ratelimit *issue_by_user;
    /* "user NAME" or "addr KEY" -> end of the lockout whose refusal is in the
     * audit log already: one row per lockout, not one per knock. */
    GHashTable *refusals;
};

/* One request while it is handled. */
struct request {
    struct client_api *api;
    SoupServerMessage *msg;
    const char *method;
    const char *path;
    char *client;            /* the peer's address */
    struct db_user *user;    /* once authenticate() said yes */
    char *token_key;         /* the bearer token's hash, once given */
    GBytes *body;
};

static void token_free(struct token *t)
{
    g_free(t->user);
    g_free(t);
}

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- responses ---- */

static char *builder_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* Answer with status and body (taken) of type. */
static void respond(struct request *rq, guint status, const char *type, char *body, gsize len)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(rq->msg);

    /* Tokens and tickets must not linger in a cache. */
    soup_message_headers_replace(h, "Cache-Control", "no-store");
    soup_server_message_set_status(rq->msg, status, status == 429 ? "Too Many Requests" : NULL);
    if (body)
        soup_server_message_set_response(rq->msg, type, SOUP_MEMORY_TAKE, body, len);
}

static void respond_builder(struct request *rq, guint status, JsonBuilder *b)
{
    char *text = builder_text(b);

    respond(rq, status, "application/json", text, strlen(text));
}

static void respond_error(struct request *rq, guint status, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static void respond_error(struct request *rq, guint status, const char *fmt, ...)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_info("client API: %s %s from %s%s%s refused (%u): %s", rq->method, rq->path, rq->client,
           rq->user ? " by " : "", rq->user ? rq->user->name : "", status, text);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, text);
    json_builder_end_object(b);
    respond_builder(rq, status, b);
}

/* 401, with the challenge RFC 6750 3 asks for; invalid: a token was given. */
static void unauthorized(struct request *rq, gboolean invalid, const char *text)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(rq->msg);

    soup_message_headers_replace(h, "WWW-Authenticate",
                                 invalid ? "Bearer realm=\"aula\", error=\"invalid_token\""
                                         : "Bearer realm=\"aula\"");
    respond_error(rq, SOUP_STATUS_UNAUTHORIZED, "%s", text);
}

static void too_many(struct request *rq, int64_t wait, const char *what)
{
    g_autofree char *secs = g_strdup_printf("%" G_GINT64_FORMAT, wait);

    soup_message_headers_replace(soup_server_message_get_response_headers(rq->msg), "Retry-After",
                                 secs);
    respond_error(rq, 429, "%s: try again in %" G_GINT64_FORMAT " seconds", what, wait);
}

/* ---- request bodies ---- */

/* The body as a JSON object, checked against the allowed member names; NULL
 * (and a 400 set) when it is not one. An empty body is an empty object when
 * !required. *parserp owns the object. */
static JsonObject *body_object(struct request *rq, gboolean required, const char *const *allowed,
                               JsonParser **parserp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GList) members = NULL;
    gsize len = 0;
    const char *data = g_bytes_get_data(rq->body, &len);
    JsonNode *root;
    JsonObject *obj;

    if (len == 0 && !required)
        data = "{}", len = 2;
    if (len == 0) {
        respond_error(rq, 400, "the request needs a JSON object body");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, data, (gssize)len, &err)) {
        respond_error(rq, 400, "malformed JSON: %s", err->message);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        respond_error(rq, 400, "the request body must be a JSON object");
        return NULL;
    }
    obj = json_node_get_object(root);
    members = json_object_get_members(obj);
    for (GList *m = members; m; m = m->next) {
        if (!g_strv_contains(allowed, m->data)) {
            respond_error(rq, 400, "unknown field '%s'", (const char *)m->data);
            return NULL;
        }
    }
    *parserp = g_steal_pointer(&parser);
    return obj;
}

/* A string member (borrowed from o); FALSE and a 400 when it is missing
 * (and required) or not a string. */
static gboolean get_string(struct request *rq, JsonObject *o, const char *name, gboolean required,
                           const char **out)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n == NULL && !required)
        return TRUE;
    if (n == NULL) {
        respond_error(rq, 400, "missing field '%s'", name);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        respond_error(rq, 400, "field '%s' must be a string", name);
        return FALSE;
    }
    *out = json_node_get_string(n);
    return TRUE;
}

/* ---- tokens ---- */

/* What the token table is keyed by: a hash, so that looking a token up
 * takes no time that depends on how much of it is right. Caller frees. */
static char *token_key(const char *token)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

/* A fresh token: TOKEN_BYTES from the kernel's CSPRNG, in hex. Caller frees. */
static int new_token(char **tokenp, GError **error)
{
    guint8 buf[TOKEN_BYTES];
    char hex[2 * TOKEN_BYTES + 1];
    size_t got = 0;
    int r = 0;

    while (got < sizeof(buf)) {
        ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            g_warning("%s: getrandom: %s", __func__, g_strerror(-r));
            g_set_error(error, CLIENT_API_ERROR, -r, "cannot draw a token: %s", g_strerror(-r));
            goto out;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(buf); i++)
        g_snprintf(hex + 2 * i, 3, "%02x", buf[i]);
    *tokenp = g_strdup(hex);
out:
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(hex, sizeof(hex));
    return r;
}

/* Make room for a new token of user: drop expired tokens, and user's oldest
 * when it has TOKENS_PER_USER. */
static void prune_tokens(struct client_api *api, const char *user, int64_t now)
{
    GHashTableIter it;
    gpointer key, value;
    const char *oldest = NULL;
    int64_t oldest_expires = 0;
    int mine = 0;

    g_hash_table_iter_init(&it, api->tokens);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        struct token *t = value;

        if (t->expires <= now) {
            g_hash_table_iter_remove(&it);
        } else if (strcmp(t->user, user) == 0) {
            mine++;
            if (oldest == NULL || t->expires < oldest_expires) {
                oldest = key;
                oldest_expires = t->expires;
            }
        }
    }
    if (mine >= TOKENS_PER_USER)
        g_hash_table_remove(api->tokens, oldest);
}

/* Who is asking? TRUE with rq->user set; else the answer (401, 503) is set. */
static gboolean authenticate(struct request *rq)
{
    struct client_api *api = rq->api;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(rq->msg);
    const char *auth = soup_message_headers_get_one(h, "Authorization");
    g_autoptr(GError) err = NULL;
    g_autofree char *given = NULL;
    struct db_user *user = NULL;
    struct token *t;
    int r;

    if (auth == NULL || g_ascii_strncasecmp(auth, "Bearer ", 7) != 0) {
        unauthorized(rq, FALSE, "log in first: this needs a token (Authorization: Bearer)");
        return FALSE;
    }
    given = g_strstrip(g_strdup(auth + strlen("Bearer ")));
    rq->token_key = token_key(given);
    explicit_bzero(given, strlen(given));
    t = g_hash_table_lookup(api->tokens, rq->token_key);
    if (t != NULL && t->expires <= now_s()) {
        g_hash_table_remove(api->tokens, rq->token_key);
        t = NULL;
    }
    if (t == NULL) {
        unauthorized(rq, TRUE, "the token is unknown or has expired: log in again");
        return FALSE;
    }
    r = db_user_get(api->deps.db, t->user, &user, &err);
    if (r == -ENOENT || (r == 0 && user->disabled)) {
        g_hash_table_remove(api->tokens, rq->token_key);
        db_user_free(user);
        unauthorized(rq, TRUE, "the account has been removed or disabled");
        return FALSE;
    }
    if (r < 0) {
        respond_error(rq, 503, "the broker cannot read its database right now: try again later");
        return FALSE;
    }
    rq->user = user;
    return TRUE;
}

/* ---- login ---- */

/* Audit a refusal for a locked-out key once per lockout (until is its end). */
static void audit_refusal(struct client_api *api, const char *key, int64_t until, const char *user,
                          const char *detail)
{
    gpointer seen = g_hash_table_lookup(api->refusals, key);
    int64_t now = now_s();

    if (seen != NULL && *(int64_t *)seen >= until)
        return;
    if (g_hash_table_size(api->refusals) >= REFUSALS_MAX) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, api->refusals);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            if (*(int64_t *)value <= now)
                g_hash_table_iter_remove(&it);
        }
        if (g_hash_table_size(api->refusals) >= REFUSALS_MAX)
            g_hash_table_remove_all(api->refusals);
    }
    g_hash_table_insert(api->refusals, g_strdup(key), g_memdup2(&until, sizeof(until)));
    db_audit_add(api->deps.db, user, "login", user, user, NULL, "refused", detail, NULL);
}

/* A user name worth looking up: 1 to USERNAME_MAX bytes of UTF-8, no controls. */
static gboolean username_acceptable(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > USERNAME_MAX || !g_utf8_validate(name, -1, NULL))
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return FALSE;
    }
    return TRUE;
}

static void handle_login(struct request *rq)
{
    static const char *const allowed[] = { "username", "password", NULL };
    struct client_api *api = rq->api;
    const struct client_api_deps *d = &api->deps;
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *addr_key = ratelimit_addr_key(rq->client), *detail = NULL, *token = NULL;
    const char *username = NULL, *password = NULL;
    int64_t now = now_s(), wait_user = 0, wait_addr = 0;
    gboolean user_ok, addr_ok;
    struct token *t;
    JsonObject *o;
    int r;

    o = body_object(rq, TRUE, allowed, &parser);
    if (o == NULL || !get_string(rq, o, "username", TRUE, &username) ||
        !get_string(rq, o, "password", TRUE, &password))
        return;
    if (!username_acceptable(username)) {
        respond_error(rq, 400, "the user name must be 1 to %d characters, without control characters",
                      USERNAME_MAX);
        return;
    }
    addr_ok = ratelimit_allowed(d->login_by_addr, addr_key, now, &wait_addr);
    user_ok = ratelimit_allowed(d->login_by_user, username, now, &wait_user);
    if (!addr_ok || !user_ok) {
        g_autofree char *key = g_strdup_printf("%s %s", user_ok ? "addr" : "user",
                                               user_ok ? addr_key : username);
        int64_t wait = MAX(addr_ok ? 0 : wait_addr, user_ok ? 0 : wait_user);

        detail = g_strdup_printf("client API from %s: too many failed logins %s", rq->client,
                                 user_ok ? "from this address" : "for this user");
        audit_refusal(api, key, now + wait, username, detail);
        too_many(rq, wait, "too many failed logins");
        return;
    }
    r = auth_verify(d->auth, username, password, &err);
    if (r == -EACCES) {
        ratelimit_fail(d->login_by_addr, addr_key, now);
        ratelimit_fail(d->login_by_user, username, now);
        detail = g_strdup_printf("client API from %s", rq->client);
        db_audit_add(d->db, username, "login", username, username, NULL, "denied", detail, NULL);
        soup_message_headers_replace(soup_server_message_get_response_headers(rq->msg),
                                     "WWW-Authenticate", "Bearer realm=\"aula\"");
        respond_error(rq, SOUP_STATUS_UNAUTHORIZED, "wrong user name or password");
        return;
    }
    if (r < 0) {
        /* The backend has logged its failure where it happened. */
        g_info("client API: cannot check the password of %s: %s", username, err->message);
        respond_error(rq, 503, "the broker cannot check passwords right now: try again later");
        return;
    }
    g_clear_error(&err);
    if (new_token(&token, &err) < 0) {
        respond_error(rq, 503, "%s", err->message);
        return;
    }
    ratelimit_clear(d->login_by_user, username);
    prune_tokens(api, username, now);
    t = g_new0(struct token, 1);
    t->user = g_strdup(username);
    t->expires = now + d->cfg->token_lifetime;
    g_hash_table_replace(api->tokens, token_key(token), t);
    detail = g_strdup_printf("client API from %s", rq->client);
    db_audit_add(d->db, username, "login", username, username, NULL, "ok", detail, NULL);
    g_info("client API: %s logged in from %s", username, rq->client);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "token");
    json_builder_add_string_value(b, token);
    json_builder_set_member_name(b, "expires");
    json_builder_add_int_value(b, t->expires);
    json_builder_set_member_name(b, "user");
    json_builder_add_string_value(b, username);
    json_builder_end_object(b);
    respond_builder(rq, 200, b);
    explicit_bzero(token, strlen(token));
}

static void handle_logout(struct request *rq)
{
    g_hash_table_remove(rq->api->tokens, rq->token_key);
    g_info("client API: %s logged out from %s", rq->user->name, rq->client);
    respond(rq, SOUP_STATUS_NO_CONTENT, NULL, NULL, 0);
}

/* ---- pools ---- */

/* Add pool's entry of the list for user. */
static int add_pool(struct request *rq, JsonBuilder *b, const char *name)
{
    g_autoptr(GPtrArray) vms = NULL;
    g_auto(GStrv) protocols = NULL;
    struct db_pool *pool = NULL;
    const char *own = NULL;
    int64_t ready = 0, live = 0;
    int r;

    r = db_pool_get(rq->api->deps.db, name, &pool, NULL);
    if (r == -ENOENT)
        return 0; /* removed meanwhile */
    if (r == 0)
        r = db_vm_list(rq->api->deps.db, name, NULL, &vms, NULL);
    if (r < 0)
        goto out;
    for (guint i = 0; i < vms->len; i++) {
        struct db_vm *vm = g_ptr_array_index(vms, i);

        if (strcmp(vm->state, "deleted") == 0)
            continue;
        live++;
        if (vm->owner == NULL && strcmp(vm->state, "ready") == 0)
            ready++;
        if (own == NULL && g_strcmp0(vm->owner, rq->user->name) == 0)
            own = vm->name;
    }
    protocols = g_strsplit(pool->protocols, ",", -1);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, pool->name);
    json_builder_set_member_name(b, "protocols");
    json_builder_begin_array(b);
    for (char **p = protocols; *p; p++)
        json_builder_add_string_value(b, *p);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "persistent");
    json_builder_add_boolean_value(b, pool->persistent);
    /* A desktop can be had now or soon: the user's own, a ready spare, or
     * one the pool still has room to make. */
    json_builder_set_member_name(b, "available");
    json_builder_add_boolean_value(b, own != NULL || ready > 0 || live < pool->max_size);
    json_builder_set_member_name(b, "ready_spares");
    json_builder_add_int_value(b, ready);
    json_builder_set_member_name(b, "own_vm");
    if (own)
        json_builder_add_string_value(b, own);
    else
        json_builder_add_null_value(b);
    json_builder_end_object(b);
out:
    db_pool_free(pool);
    return r;
}

static void handle_pools(struct request *rq)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "pools");
    json_builder_begin_array(b);
    for (char **p = rq->user->pools; p && *p; p++) {
        if (add_pool(rq, b, *p) < 0) {
            respond_error(rq, 503, "the broker cannot read its database right now: try again later");
            return;
        }
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    respond_builder(rq, 200, b);
}

/* The pool named in the path, which the user may use; NULL when not (and the
 * answer, 404 or 403, is set). Caller frees. */
static struct db_pool *entitled_pool(struct request *rq, const char *segment, const char *action)
{
    g_autofree char *name = g_uri_unescape_segment(segment, NULL, "/");
    struct db_pool *pool = NULL;
    int r;

    if (name == NULL || !db_name_valid(name)) {
        respond_error(rq, 404, "unknown pool '%s'", name && g_utf8_validate(name, -1, NULL) ? name : "");
        return NULL;
    }
    r = db_pool_get(rq->api->deps.db, name, &pool, NULL);
    if (r == -ENOENT) {
        respond_error(rq, 404, "unknown pool '%s'", name);
        return NULL;
    }
    if (r < 0) {
        respond_error(rq, 503, "the broker cannot read its database right now: try again later");
        return NULL;
    }
    if (rq->user->pools == NULL || !g_strv_contains((const char *const *)rq->user->pools, name)) {
        g_autofree char *detail = g_strdup_printf("%s: not entitled; client API from %s", action,
                                                  rq->client);
        db_audit_add(rq->api->deps.db, rq->user->name, "connect", name, rq->user->name, name,
                     "denied", detail, NULL);
        respond_error(rq, 403, "you are not entitled to pool '%s'", name);
        db_pool_free(pool);
        return NULL;
    }
    return pool;
}

static gboolean pool_offers(const struct db_pool *pool, const char *protocol)
{
    g_auto(GStrv) protocols = g_strsplit(pool->protocols, ",", -1);

    return g_strv_contains((const char *const *)protocols, protocol);
}

/* A host name or address that can go in a JSON answer and a .rdp file as it is. */
static gboolean host_acceptable(const char *host)
{
    size_t len = strlen(host);

    if (len == 0 || len > 253)
        return FALSE;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (!g_ascii_isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_' && c != '%')
            return FALSE;
    }
    return TRUE;
}

/* Where the client should connect for the desktop: public_address, else the
 * host it reached this API by (its Host header, as libsoup parsed it, without
 * port or IPv6 brackets). NULL (and a 400) when there is none. Caller frees. */
static char *connect_host(struct request *rq)
{
    const char *pub = rq->api->deps.cfg->public_address;
    const char *host;

    if (pub && *pub)
        return g_strdup(pub);
    host = g_uri_get_host(soup_server_message_get_uri(rq->msg));
    if (host == NULL || !host_acceptable(host)) {
        respond_error(rq, 400, "cannot tell which address to connect to from the Host header; "
                               "the administrator can set public_address");
        return NULL;
    }
    return g_strdup(host);
}

static void handle_connect(struct request *rq, const char *segment)
{
    static const char *const allowed[] = { "protocol", NULL };
    struct client_api *api = rq->api;
    const struct client_api_deps *d = &api->deps;
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(JsonBuilder) b = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) protocols = NULL;
    g_autofree char *host = NULL;
    struct db_pool *pool = NULL;
    const char *protocol = NULL;
    char *secret = NULL;
    int64_t now = now_s(), wait = 0, expires = 0;
    JsonObject *o;
    int r;

    o = body_object(rq, FALSE, allowed, &parser);
    if (o == NULL || !get_string(rq, o, "protocol", FALSE, &protocol))
        goto out;
    if (protocol && strcmp(protocol, "rdp") != 0 && strcmp(protocol, "vnc") != 0) {
        respond_error(rq, 400, "unknown protocol '%s': use rdp or vnc", protocol);
        goto out;
    }
    pool = entitled_pool(rq, segment, "ticket");
    if (pool == NULL)
        goto out;
    protocols = g_strsplit(pool->protocols, ",", -1);
    if (protocol == NULL)
        protocol = protocols[0];
    if (protocol == NULL || !pool_offers(pool, protocol)) {
        respond_error(rq, 400, "pool '%s' does not offer %s (it offers %s)", pool->name,
                      protocol ? protocol : "any protocol", pool->protocols);
        goto out;
    }
    if (!ratelimit_allowed(api->issue_by_user, rq->user->name, now, &wait)) {
        too_many(rq, wait, "too many tickets asked for");
        goto out;
    }
    host = connect_host(rq);
    if (host == NULL)
        goto out;
    r = ticket_issue(d->tickets, rq->user->name, pool->name, protocol, rq->client, &secret,
                     &expires, &err);
    if (r < 0) {
        respond_error(rq, r == -ENOENT ? 404 : 503, "%s", err->message);
        goto out;
    }
    ratelimit_fail(api->issue_by_user, rq->user->name, now);
    b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "protocol");
    json_builder_add_string_value(b, protocol);
    json_builder_set_member_name(b, "host");
    json_builder_add_string_value(b, host);
    json_builder_set_member_name(b, "port");
    json_builder_add_int_value(b, strcmp(protocol, "vnc") == 0 ? d->cfg->vnc_port : d->cfg->rdp_port);
    json_builder_set_member_name(b, "ticket");
    json_builder_add_string_value(b, secret);
    json_builder_set_member_name(b, "expires");
    json_builder_add_int_value(b, expires);
    json_builder_end_object(b);
    respond_builder(rq, 200, b);
out:
    if (secret)
        explicit_bzero(secret, strlen(secret));
    g_free(secret);
    db_pool_free(pool);
}

/* A .rdp file for the pool: the user logs in with the password, as
 * USER@POOL, to aulad's RDP front end. */
static void handle_rdp(struct request *rq, const char *segment)
{
    const struct conf *cfg = rq->api->deps.cfg;
    g_autofree char *host = NULL, *disposition = NULL;
    struct db_pool *pool = NULL;
    char *text;

    pool = entitled_pool(rq, segment, "rdp file");
    if (pool == NULL)
        return;
    if (!pool_offers(pool, "rdp")) {
        respond_error(rq, 400, "pool '%s' does not offer rdp (it offers %s)", pool->name,
                      pool->protocols);
        goto out;
    }
    host = connect_host(rq);
    if (host == NULL)
        goto out;
    /* An IPv6 address needs its brackets before the port. Authentication
     * level 0: connect even when the server's certificate cannot be checked,
     * which a self-signed one never can. */
    text = g_strdup_printf("full address:s:%s%s%s:%d\r\n"
                           "username:s:%s@%s\r\n"
                           "prompt for credentials:i:1\r\n"
                           "screen mode id:i:2\r\n"
                           "use multimon:i:0\r\n"
                           "authentication level:i:0\r\n",
                           strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                           cfg->rdp_port, rq->user->name, pool->name);
    disposition = g_strdup_printf("attachment; filename=\"%s.rdp\"", pool->name);
    soup_message_headers_replace(soup_server_message_get_response_headers(rq->msg),
                                 "Content-Disposition", disposition);
    respond(rq, 200, "application/x-rdp", text, strlen(text));
out:
    db_pool_free(pool);
}

/* ---- routing ---- */

static gboolean method_is(struct request *rq, const char *allow)
{
    if (strcmp(rq->method, allow) == 0)
        return TRUE;
    soup_message_headers_replace(soup_server_message_get_response_headers(rq->msg), "Allow", allow);
    respond_error(rq, 405, "%s %s is not allowed: use %s", rq->method, rq->path, allow);
    return FALSE;
}

static void route(struct request *rq)
{
    g_auto(GStrv) seg = NULL;
    guint n;

    if (!g_str_has_prefix(rq->path, "/api/v1/")) {
        respond_error(rq, 404, "no such resource: %s", rq->path);
        return;
    }
    seg = g_strsplit(rq->path + strlen("/api/v1/"), "/", -1);
    n = g_strv_length(seg);
    if (n == 1 && strcmp(seg[0], "login") == 0) {
        if (method_is(rq, "POST"))
            handle_login(rq);
    } else if (n == 1 && strcmp(seg[0], "logout") == 0) {
        if (method_is(rq, "POST") && authenticate(rq))
            handle_logout(rq);
    } else if (n == 1 && strcmp(seg[0], "pools") == 0) {
        if (method_is(rq, "GET") && authenticate(rq))
            handle_pools(rq);
    } else if (n == 3 && strcmp(seg[0], "pools") == 0 && *seg[1] && strcmp(seg[2], "connect") == 0) {
        if (method_is(rq, "POST") && authenticate(rq))
            handle_connect(rq, seg[1]);
    } else if (n == 3 && strcmp(seg[0], "pools") == 0 && *seg[1] && strcmp(seg[2], "rdp") == 0) {
        if (method_is(rq, "GET") && authenticate(rq))
            handle_rdp(rq, seg[1]);
    } else {
        respond_error(rq, 404, "no such resource: %s", rq->path);
    }
}

/* The peer's address as text, IPv4 without its ::ffff: wrapping. Caller frees. */
static char *peer_address(SoupServerMessage *msg)
{
    const char *host = soup_server_message_get_remote_host(msg);
    g_autoptr(GInetAddress) a = host ? g_inet_address_new_from_string(host) : NULL;
    static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (a && g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6) {
        const guint8 *b = g_inet_address_to_bytes(a);
        if (memcmp(b, mapped, sizeof(mapped)) == 0)
            return g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    }
    return g_strdup(host ? host : "unknown");
}

/* Before the body is read: refuse one that is too large by its length. */
static void on_headers(SoupServer *soup, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer data)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);

    if (soup_message_headers_get_content_length(h) > BODY_MAX) {
        struct request rq = { .api = data, .msg = msg, .method = soup_server_message_get_method(msg),
                              .path = path };
        rq.client = peer_address(msg);
        respond_error(&rq, 413, "the request body is larger than %d bytes", BODY_MAX);
        g_free(rq.client);
    }
}

static void on_request(SoupServer *soup, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer data)
{
    struct request rq = { .api = data, .msg = msg };

    if (soup_server_message_get_status(msg) != SOUP_STATUS_NONE)
        return; /* answered by on_headers */
    rq.method = soup_server_message_get_method(msg);
    rq.path = path;
    rq.client = peer_address(msg);
    rq.body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    if (g_bytes_get_size(rq.body) > BODY_MAX)
        respond_error(&rq, 413, "the request body is larger than %d bytes", BODY_MAX);
    else
        route(&rq);
    g_debug("client API: %s %s from %s -> %u", rq.method, rq.path, rq.client,
            soup_server_message_get_status(msg));
    g_bytes_unref(rq.body);
    db_user_free(rq.user);
    g_free(rq.token_key);
    g_free(rq.client);
}

/* ---- listening ---- */

/* Listen on address:port with TLS. "::" (any IPv6 address) also takes IPv4
 * (dual stack, IPV6_V6ONLY off) and sets *dual_stack; libsoup's own
 * soup_server_listen() would make it IPv6 only. */
static int listen_on(struct client_api *api, const char *address, int port, gboolean *dual_stack,
                     GError **error)
{
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(address);
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GError) err = NULL;
    GSocketFamily family;
    gboolean any;
    int r = -EIO;

    if (ia == NULL) {
        g_set_error(error, CLIENT_API_ERROR, EINVAL, "api_address: '%s' is not an IP address",
                    address);
        return -EINVAL;
    }
    family = g_inet_address_get_family(ia);
    any = g_inet_address_get_is_any(ia);
    sa = g_inet_socket_address_new(ia, (guint16)port);
    sock = g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &err);
    if (sock != NULL && family == G_SOCKET_FAMILY_IPV6 &&
        !g_socket_set_option(sock, IPPROTO_IPV6, IPV6_V6ONLY, !any, &err))
        g_clear_object(&sock);
    if (sock == NULL || !g_socket_bind(sock, sa, TRUE, &err) || !g_socket_listen(sock, &err) ||
        !soup_server_listen_socket(api->soup, sock, SOUP_SERVER_LISTEN_HTTPS, &err)) {
        if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
            r = -EADDRINUSE;
        else if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
            r = -EAFNOSUPPORT;
        g_set_error(error, CLIENT_API_ERROR, -r, "cannot listen on %s%s%s port %d for the client API: %s",
                    family == G_SOCKET_FAMILY_IPV6 ? "[" : "", address,
                    family == G_SOCKET_FAMILY_IPV6 ? "]" : "", port, err->message);
        return r;
    }
    if (family == G_SOCKET_FAMILY_IPV6 && any)
        *dual_stack = TRUE;
    g_info("client API: listening on %s%s%s port %d%s", family == G_SOCKET_FAMILY_IPV6 ? "[" : "",
           address, family == G_SOCKET_FAMILY_IPV6 ? "]" : "", port,
           family == G_SOCKET_FAMILY_IPV6 && any ? " (IPv6 and IPv4)" : "");
    return 0;
}

int client_api_start(const struct client_api_deps *deps, struct client_api **apip, GError **error)
{
    g_auto(GStrv) addresses = g_strsplit(deps->cfg->api_address, ",", -1);
    struct client_api *api = g_new0(struct client_api, 1);
    gboolean dual_stack = FALSE, v4_any = FALSE;
    int r = 0;

    api->deps = *deps;
    api->tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)token_free);
    api->refusals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    api->issue_max = ISSUE_MAX;
    api->issue_window = ISSUE_WINDOW;
    api->issue_by_user = ratelimit_new(&api->issue_max, &api->issue_window);
    api->soup = soup_server_new("server-header", "aulad/" PACKAGE_VERSION,
                                "tls-certificate", deps->tls->cert, NULL);
    soup_server_add_early_handler(api->soup, NULL, on_headers, api, NULL);
    soup_server_add_handler(api->soup, NULL, on_request, api, NULL);
    /* "::" first: once it serves IPv4 too, IPv4 addresses are served already
     * (and binding one would fail). Where the kernel has no IPv6, "::" falls
     * back to 0.0.0.0. */
    for (char **a = addresses; *a; a++)
        g_strstrip(*a);
    for (char **a = addresses; *a && r == 0; a++) {
        g_autoptr(GError) err = NULL;

        if (strcmp(*a, "::") != 0 || v4_any || dual_stack)
            continue;
        r = listen_on(api, *a, deps->cfg->api_port, &dual_stack, &err);
        if (r == -EAFNOSUPPORT) {
            g_message("client API: no IPv6 here (%s): listening on 0.0.0.0 instead", err->message);
            g_clear_error(&err);
            r = listen_on(api, "0.0.0.0", deps->cfg->api_port, &dual_stack, &err);
            v4_any = TRUE;
        }
        if (r < 0)
            g_propagate_error(error, g_steal_pointer(&err));
    }
    for (char **a = addresses; *a && r == 0; a++) {
        if (strcmp(*a, "::") == 0)
            continue;
        if (strchr(*a, ':') == NULL && (dual_stack || (v4_any && strcmp(*a, "0.0.0.0") == 0))) {
            g_info("client API: %s is served already by the listener on %s", *a,
                   dual_stack ? "::" : "0.0.0.0");
            continue;
        }
        r = listen_on(api, *a, deps->cfg->api_port, &dual_stack, error);
    }
    if (r < 0) {
        client_api_free(api);
        return r;
    }
    *apip = api;
    return 0;
}

void client_api_free(struct client_api *api)
{
    if (api == NULL)
        return;
    if (api->soup) {
        soup_server_disconnect(api->soup);
        g_object_unref(api->soup);
    }
    g_hash_table_unref(api->tokens);
    g_hash_table_unref(api->refusals);
    ratelimit_free(api->issue_by_user);
    g_free(api);
}
