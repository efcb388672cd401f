/* Unit tests for broker/client_api over real HTTPS: the API listens on
 * 127.0.0.1 (a port the test found free) with a certificate made by
 * broker/tls, and a SoupSession that trusts exactly that certificate talks to
 * it while the test runs the main loop. A real temporary database and the
 * local password backend stand behind it. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "broker/auth.h"
#include "broker/client_api.h"
#include "broker/conf.h"
#include "broker/ratelimit.h"
#include "broker/ticket.h"
#include "broker/tls.h"
#include "db/db.h"
#include "tests/unit/rawdb.h"

#define PASSWORD "correct horse battery"

/* ---- log: count warnings, drop the chatter ---- */

static int log_warnings;

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        log_warnings++;
        return g_log_writer_default(level, fields, n, data);
    }
    return G_LOG_WRITER_HANDLED;
}

/* ---- fixture ---- */

/* One certificate for the whole run: made once, in its own directory. */
static char *tls_dir;
static struct tls_identity *tls;
static char *password_hash;

struct fx {
    char *dir;
    char *path;
    struct db *db;
    struct conf *cfg;
    struct auth auth;
    int user_max, addr_max, lockout;
    struct ratelimit *by_user, *by_addr;
    struct ticket_store *tickets;
    struct client_api *api;
    SoupSession *session;
    const char *host_header;  /* sent as Host instead of the URI's, when set */
    /* the last response */
    SoupMessage *msg;
    guint status;
    char *body;
    JsonNode *json;
};

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static int free_port(void)
{
    g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    assert_non_null(sock);
    assert_true(g_socket_bind(sock, any, TRUE, NULL));
    bound = g_socket_get_local_address(sock, NULL);
    assert_non_null(bound);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static int group_setup(void **state)
{
    g_autoptr(GError) err = NULL;

    tls_dir = g_dir_make_tmp("aula-test-capi-tls-XXXXXX", NULL);
    if (tls_identity_ensure(tls_dir, &tls, &err) < 0) {
        print_error("tls_identity_ensure: %s\n", err->message);
        return -1;
    }
    if (auth_hash_password(PASSWORD, &password_hash, &err) < 0) {
        print_error("auth_hash_password: %s\n", err->message);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    tls_identity_free(tls);
    rawdb_rm_rf(tls_dir);
    g_free(tls_dir);
    g_free(password_hash);
    return 0;
}

/* Make a VM of pool ready, owned by owner (or a spare when NULL). */
static void add_vm(struct fx *f, const char *pool, const char *owner)
{
    static const char *const from[] = { "provisioning", NULL };
    struct db_vm *vm = NULL;

    assert_int_equal(db_vm_create(f->db, "test", pool, "local", "52:54:00:00:00:01", &vm, NULL), 0);
    assert_int_equal(db_vm_transition(f->db, "test", vm->name, from, "ready", NULL, 0, NULL), 0);
    if (owner)
        assert_int_equal(db_vm_set_owner(f->db, "test", vm->name, owner, NULL), 0);
    db_vm_free(vm);
}

static int start_api(struct fx *f)
{
    struct client_api_deps deps = {
        .db = f->db, .cfg = f->cfg, .auth = &f->auth, .tickets = f->tickets,
        .login_by_user = f->by_user, .login_by_addr = f->by_addr, .tls = tls,
    };
    g_autoptr(GError) err = NULL;
    int r = client_api_start(&deps, &f->api, &err);

    if (r < 0)
        print_error("client_api_start: %s\n", err->message);
    return r;
}

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    struct db_template t = { .name = "tmpl", .disk_path = "/srv/t.qcow2", .memory_mib = 512,
                             .vcpus = 1, .video = "vga", .firmware = "bios", .os = "linux",
                             .volume = "tmpl.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .min_size = 0, .max_size = 4,
                         .spare = 0, .clone = "linked", .protocols = "rdp,vnc" };

    log_warnings = 0;
    *state = f;
    f->dir = g_dir_make_tmp("aula-test-capi-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    assert_int_equal(db_open(f->path, &f->db, NULL), 0);
    assert_int_equal(db_host_ensure(f->db, "test", "local", "test:///default", NULL), 0);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    p.name = "kiosk";
    p.protocols = "vnc";
    p.max_size = 1;
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    p.name = "secret";
    p.protocols = "rdp,vnc";
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    for (const char *const *u = (const char *const[]){ "alice", "bob", "carol", NULL }; *u; u++)
        assert_int_equal(db_user_add(f->db, "test", *u, NULL, password_hash, NULL), 0);
    assert_int_equal(db_group_add(f->db, "test", "staff", NULL), 0);
    assert_int_equal(db_group_add_user(f->db, "test", "staff", "alice", NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "lab", NULL, "staff", NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "kiosk", "alice", NULL, NULL), 0);
    assert_int_equal(db_entitle(f->db, "test", "secret", "bob", NULL, NULL), 0);
    /* lab: one spare and alice's own VM; kiosk: full, its one VM is bob's. */
    add_vm(f, "lab", NULL);
    add_vm(f, "lab", "alice");
    add_vm(f, "kiosk", "bob");

    f->cfg = conf_new_defaults();
    g_free(f->cfg->api_address);
    f->cfg->api_address = g_strdup("127.0.0.1");
    f->cfg->api_port = free_port();
    f->auth.impl = &auth_local_impl;
    f->auth.ctx = f->db;
    f->user_max = f->addr_max = 3;
    f->lockout = 300;
    f->by_user = ratelimit_new(&f->user_max, &f->lockout);
    f->by_addr = ratelimit_new(&f->addr_max, &f->lockout);
    f->tickets = ticket_store_new(f->db, &f->cfg->ticket_lifetime);
    f->session = soup_session_new();
    return start_api(f);
}

static void clear_response(struct fx *f)
{
    g_clear_object(&f->msg);
    g_clear_pointer(&f->body, g_free);
    g_clear_pointer(&f->json, json_node_unref);
    f->status = 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;

    clear_response(f);
    g_clear_object(&f->session);
    client_api_free(f->api);
    ticket_store_free(f->tickets);
    ratelimit_free(f->by_user);
    ratelimit_free(f->by_addr);
    conf_free(f->cfg);
    db_close(f->db);
    rawdb_rm_rf(f->dir);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    if (warnings > 0) {
        print_error("%d unexpected warning(s) were logged\n", warnings);
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

/* Trust the API's own certificate, and nothing else. */
static gboolean accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
                                   GTlsCertificateFlags errors, gpointer data)
{
    return g_tls_certificate_is_same(cert, tls->cert);
}

struct pending {
    GBytes *body;
    GError *error;
    gboolean done;
};

static void on_done(GObject *source, GAsyncResult *res, gpointer data)
{
    struct pending *p = data;

    p->body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &p->error);
    p->done = TRUE;
}

static const char *header(struct fx *f, const char *name)
{
    const char *v = soup_message_headers_get_one(soup_message_get_response_headers(f->msg), name);
    return v ? v : "";
}

/* Send method path with body (or NULL) and a bearer token (or NULL) and wait
 * for the answer; the response is in f->status, f->body, f->json (when it
 * is JSON) and f->msg. Returns the status. */
static guint request_full(struct fx *f, const char *method, const char *path, const char *body,
                          gssize body_len, const char *token)
{
    g_autofree char *uri = g_strdup_printf("https://127.0.0.1:%d%s", f->cfg->api_port, path);
    struct pending p = { 0 };
    gsize len = 0;
    const char *type;

    clear_response(f);
    f->msg = soup_message_new(method, uri);
    assert_non_null(f->msg);
    g_signal_connect(f->msg, "accept-certificate", G_CALLBACK(accept_certificate), NULL);
    if (body) {
        g_autoptr(GBytes) bytes = g_bytes_new(body, body_len < 0 ? strlen(body) : (gsize)body_len);
        soup_message_set_request_body_from_bytes(f->msg, "application/json", bytes);
    }
    if (f->host_header)
        soup_message_headers_replace(soup_message_get_request_headers(f->msg), "Host",
                                     f->host_header);
    if (token) {
        g_autofree char *value = g_strdup_printf("Bearer %s", token);
        soup_message_headers_replace(soup_message_get_request_headers(f->msg), "Authorization",
                                     value);
    }
    soup_session_send_and_read_async(f->session, f->msg, G_PRIORITY_DEFAULT, NULL, on_done, &p);
    while (!p.done)
        g_main_context_iteration(NULL, TRUE);
    if (p.error)
        fail_msg("%s %s: %s", method, path, p.error->message);
    f->status = soup_message_get_status(f->msg);
    len = g_bytes_get_size(p.body);
    f->body = len ? g_strndup(g_bytes_get_data(p.body, NULL), len) : g_strdup("");
    g_bytes_unref(p.body);
    type = soup_message_headers_get_content_type(soup_message_get_response_headers(f->msg), NULL);
    if (g_strcmp0(type, "application/json") == 0) {
        g_autoptr(JsonParser) parser = json_parser_new();
        if (!json_parser_load_from_data(parser, f->body, -1, NULL))
            fail_msg("%s %s: not JSON: %s", method, path, f->body);
        f->json = json_node_ref(json_parser_get_root(parser));
    }
    /* Every error is {"error": "text"}, and nothing may be cached. */
    if (f->status >= 400) {
        JsonObject *o;
        if (f->json == NULL || !JSON_NODE_HOLDS_OBJECT(f->json))
            fail_msg("%s %s: %u without a JSON object: %s", method, path, f->status, f->body);
        o = json_node_get_object(f->json);
        assert_int_equal(json_object_get_size(o), 1);
        assert_non_null(json_object_get_string_member_with_default(o, "error", NULL));
    }
    assert_string_equal(header(f, "Cache-Control"), "no-store");
    return f->status;
}

static guint request(struct fx *f, const char *method, const char *path, const char *body,
                     const char *token)
{
    return request_full(f, method, path, body, -1, token);
}

static const char *error_text(struct fx *f)
{
    return json_object_get_string_member(json_node_get_object(f->json), "error");
}

static JsonObject *obj(struct fx *f)
{
    assert_non_null(f->json);
    return json_node_get_object(f->json);
}

/* Log user in; returns the token (caller frees). */
static char *login(struct fx *f, const char *user)
{
    g_autofree char *body = g_strdup_printf("{\"username\": \"%s\", \"password\": \"%s\"}", user,
                                            PASSWORD);

    if (request(f, "POST", "/api/v1/login", body, NULL) != 200)
        fail_msg("login of %s: %u %s", user, f->status, f->body);
    return g_strdup(json_object_get_string_member(obj(f), "token"));
}

static guint wrong_login(struct fx *f, const char *user)
{
    g_autofree char *body = g_strdup_printf("{\"username\": \"%s\", \"password\": \"nope\"}", user);

    return request(f, "POST", "/api/v1/login", body, NULL);
}

static int64_t audit_count(struct fx *f, const char *action, const char *outcome)
{
    g_autofree char *sql = g_strdup_printf(
        "SELECT count(*) FROM audit_log WHERE action = '%s' AND outcome = '%s'", action, outcome);

    return rawdb_int(f->path, sql);
}

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- tests ---- */

static void test_login_ok(void **state)
{
    struct fx *f = *state;
    g_autofree char *detail = NULL;
    const char *token;
    int64_t before = now_s();

    assert_int_equal(request(f, "POST", "/api/v1/login",
                             "{\"username\": \"alice\", \"password\": \"" PASSWORD "\"}", NULL),
                     200);
    token = json_object_get_string_member(obj(f), "token");
    assert_int_equal(strlen(token), 64);
    for (const char *p = token; *p; p++)
        assert_true(g_ascii_isxdigit(*p));
    assert_string_equal(json_object_get_string_member(obj(f), "user"), "alice");
    assert_true(json_object_get_int_member(obj(f), "expires") >= before + f->cfg->token_lifetime);
    assert_true(json_object_get_int_member(obj(f), "expires") <= now_s() + f->cfg->token_lifetime);
    assert_int_equal(audit_count(f, "login", "ok"), 1);
    detail = rawdb_text(f->path, "SELECT detail FROM audit_log WHERE action = 'login'");
    assert_string_equal(detail, "client API from 127.0.0.1");
    /* Each login gets its own token. */
    {
        g_autofree char *first = g_strdup(token), *second = login(f, "alice");
        assert_string_not_equal(first, second);
    }
}

static void test_login_wrong(void **state)
{
    struct fx *f = *state;

    assert_int_equal(wrong_login(f, "alice"), 401);
    assert_string_equal(error_text(f), "wrong user name or password");
    assert_true(g_str_has_prefix(header(f, "WWW-Authenticate"), "Bearer"));
    /* An unknown user gets the very same answer. */
    assert_int_equal(wrong_login(f, "mallory"), 401);
    assert_string_equal(error_text(f), "wrong user name or password");
    assert_int_equal(audit_count(f, "login", "denied"), 2);
    assert_int_equal(audit_count(f, "login", "ok"), 0);
}

/* Too many failures for one user: locked out (even with the right password),
 * with Retry-After; other users from the same address are not. */
static void test_rate_limit_user(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = NULL;
    int64_t retry;

    f->addr_max = 100;
    for (int i = 0; i < 3; i++)
        assert_int_equal(wrong_login(f, "alice"), 401);
    assert_int_equal(request(f, "POST", "/api/v1/login",
                             "{\"username\": \"alice\", \"password\": \"" PASSWORD "\"}", NULL),
                     429);
    assert_non_null(strstr(error_text(f), "too many failed logins"));
    retry = g_ascii_strtoll(header(f, "Retry-After"), NULL, 10);
    assert_true(retry > 290 && retry <= 300);
    assert_int_equal(audit_count(f, "login", "refused"), 1);
    /* Knocking again: refused, but the lockout is audited once. */
    assert_int_equal(wrong_login(f, "alice"), 429);
    assert_int_equal(audit_count(f, "login", "refused"), 1);
    assert_int_equal(audit_count(f, "login", "denied"), 3);
    token = login(f, "bob");
    assert_non_null(token);
}

/* Too many failures from one address, whatever the user names. */
static void test_rate_limit_addr(void **state)
{
    struct fx *f = *state;

    f->user_max = 100;
    assert_int_equal(wrong_login(f, "alice"), 401);
    assert_int_equal(wrong_login(f, "bob"), 401);
    assert_int_equal(wrong_login(f, "nobody"), 401);
    assert_int_equal(request(f, "POST", "/api/v1/login",
                             "{\"username\": \"carol\", \"password\": \"" PASSWORD "\"}", NULL),
                     429);
    assert_true(g_ascii_strtoll(header(f, "Retry-After"), NULL, 10) > 0);
    assert_int_equal(audit_count(f, "login", "refused"), 1);
    assert_int_equal(audit_count(f, "login", "ok"), 0);
}

/* A success clears the user's failures (not the address's). */
static void test_success_clears(void **state)
{
    struct fx *f = *state;
    g_autofree char *t1 = NULL, *t2 = NULL;

    f->addr_max = 100;
    assert_int_equal(wrong_login(f, "alice"), 401);
    assert_int_equal(wrong_login(f, "alice"), 401);
    t1 = login(f, "alice");
    assert_int_equal(wrong_login(f, "alice"), 401);
    assert_int_equal(wrong_login(f, "alice"), 401);
    t2 = login(f, "alice");
    assert_non_null(t2);
}

static void test_pools(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice");
    JsonArray *pools, *protocols;
    JsonObject *lab, *kiosk;

    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 200);
    pools = json_object_get_array_member(obj(f), "pools");
    /* alice's pools only: lab through staff, kiosk directly; not secret. */
    assert_int_equal(json_array_get_length(pools), 2);
    kiosk = json_array_get_object_element(pools, 0);
    lab = json_array_get_object_element(pools, 1);
    assert_string_equal(json_object_get_string_member(lab, "name"), "lab");
    protocols = json_object_get_array_member(lab, "protocols");
    assert_int_equal(json_array_get_length(protocols), 2);
    assert_string_equal(json_array_get_string_element(protocols, 0), "rdp");
    assert_string_equal(json_array_get_string_element(protocols, 1), "vnc");
    assert_false(json_object_get_boolean_member(lab, "persistent"));
    assert_true(json_object_get_boolean_member(lab, "available"));
    assert_int_equal(json_object_get_int_member(lab, "ready_spares"), 1);
    assert_string_equal(json_object_get_string_member(lab, "own_vm"), "aula-lab-2");

    assert_string_equal(json_object_get_string_member(kiosk, "name"), "kiosk");
    protocols = json_object_get_array_member(kiosk, "protocols");
    assert_int_equal(json_array_get_length(protocols), 1);
    assert_string_equal(json_array_get_string_element(protocols, 0), "vnc");
    /* Full, and its one VM is someone else's. */
    assert_false(json_object_get_boolean_member(kiosk, "available"));
    assert_int_equal(json_object_get_int_member(kiosk, "ready_spares"), 0);
    assert_true(json_object_get_null_member(kiosk, "own_vm"));
}

static void test_connect(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice"), *user = NULL, *pool = NULL;
    g_autoptr(GError) err = NULL;
    const char *ticket;
    int64_t before = now_s();

    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", "{\"protocol\": \"vnc\"}", token),
                     200);
    assert_string_equal(json_object_get_string_member(obj(f), "protocol"), "vnc");
    assert_string_equal(json_object_get_string_member(obj(f), "host"), "127.0.0.1");
    assert_int_equal(json_object_get_int_member(obj(f), "port"), f->cfg->vnc_port);
    assert_true(json_object_get_int_member(obj(f), "expires") >= before + f->cfg->ticket_lifetime);
    ticket = json_object_get_string_member(obj(f), "ticket");
    assert_int_equal(strlen(ticket), TICKET_SECRET_LEN_VNC);
    /* The ticket is what the broker redeems, once. */
    assert_int_equal(ticket_redeem(f->tickets, ticket, "vnc", "127.0.0.1", &user, &pool, &err), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(pool, "lab");
    g_clear_pointer(&user, g_free);
    g_clear_pointer(&pool, g_free);
    assert_int_equal(ticket_redeem(f->tickets, ticket, "vnc", "127.0.0.1", &user, &pool, &err),
                     -EALREADY);
    g_clear_error(&err);
    assert_int_equal(audit_count(f, "ticket.issue", "ok"), 1);

    /* No body: the pool's first protocol. */
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, token), 200);
    assert_string_equal(json_object_get_string_member(obj(f), "protocol"), "rdp");
    assert_int_equal(json_object_get_int_member(obj(f), "port"), f->cfg->rdp_port);
    ticket = json_object_get_string_member(obj(f), "ticket");
    assert_int_equal(strlen(ticket), TICKET_SECRET_LEN_RDP);
    assert_int_equal(ticket_redeem(f->tickets, ticket, "rdp", "127.0.0.1", &user, &pool, &err), 0);
    g_clear_pointer(&user, g_free);
    g_clear_pointer(&pool, g_free);

    /* public_address wins over the Host header. */
    g_free(f->cfg->public_address);
    f->cfg->public_address = g_strdup("vdi.example.org");
    assert_int_equal(request(f, "POST", "/api/v1/pools/kiosk/connect", "{}", token), 200);
    assert_string_equal(json_object_get_string_member(obj(f), "host"), "vdi.example.org");
    assert_string_equal(json_object_get_string_member(obj(f), "protocol"), "vnc");

    /* A protocol the pool does not offer, or none at all. */
    assert_int_equal(request(f, "POST", "/api/v1/pools/kiosk/connect", "{\"protocol\": \"rdp\"}",
                             token), 400);
    assert_non_null(strstr(error_text(f), "does not offer rdp"));
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", "{\"protocol\": \"spice\"}",
                             token), 400);
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", "{\"protocol\": 3}", token), 400);
    assert_int_equal(audit_count(f, "ticket.issue", "ok"), 3);
}

static void test_connect_refused(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice");

    assert_int_equal(request(f, "POST", "/api/v1/pools/nope/connect", NULL, token), 404);
    assert_non_null(strstr(error_text(f), "unknown pool 'nope'"));
    assert_int_equal(request(f, "POST", "/api/v1/pools/a%20b/connect", NULL, token), 404);
    assert_int_equal(request(f, "POST", "/api/v1/pools/secret/connect", NULL, token), 403);
    assert_non_null(strstr(error_text(f), "not entitled to pool 'secret'"));
    assert_int_equal(audit_count(f, "connect", "denied"), 1);
    assert_int_equal(request(f, "GET", "/api/v1/pools/secret/rdp", NULL, token), 403);
    assert_int_equal(audit_count(f, "connect", "denied"), 2);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM tickets"), 0);
}

/* At most ten tickets a minute per user. */
static void test_connect_rate(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice");

    for (int i = 0; i < 10; i++)
        assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, token), 200);
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, token), 429);
    assert_true(g_ascii_strtoll(header(f, "Retry-After"), NULL, 10) > 0);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM tickets"), 10);
}

static void test_rdp_file(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice");

    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/rdp", NULL, token), 200);
    assert_string_equal(soup_message_headers_get_content_type(
                            soup_message_get_response_headers(f->msg), NULL),
                        "application/x-rdp");
    assert_string_equal(header(f, "Content-Disposition"), "attachment; filename=\"lab.rdp\"");
    assert_true(g_str_has_prefix(f->body, "full address:s:127.0.0.1:3389\r\n"));
    assert_non_null(strstr(f->body, "\r\nusername:s:alice@lab\r\n"));
    assert_non_null(strstr(f->body, "\r\nprompt for credentials:i:1\r\n"));
    assert_non_null(strstr(f->body, "\r\nauthentication level:i:0\r\n"));
    assert_true(g_str_has_suffix(f->body, "\r\n"));
    /* Every line is "key:type:value". */
    {
        g_auto(GStrv) lines = g_strsplit(f->body, "\r\n", -1);
        for (char **l = lines; *l && **l; l++)
            assert_non_null(g_regex_match_simple("^[a-z ]+:[is]:.+$", *l, 0, 0) ? *l : NULL);
    }
    /* An IPv6 public address gets its brackets. */
    g_free(f->cfg->public_address);
    f->cfg->public_address = g_strdup("2001:db8::5");
    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/rdp", NULL, token), 200);
    assert_true(g_str_has_prefix(f->body, "full address:s:[2001:db8::5]:3389\r\n"));
    /* Not for a VNC-only pool. */
    assert_int_equal(request(f, "GET", "/api/v1/pools/kiosk/rdp", NULL, token), 400);
}

static void test_logout(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = login(f, "alice"), *other = login(f, "alice");

    assert_int_equal(request(f, "POST", "/api/v1/logout", NULL, token), 204);
    assert_string_equal(f->body, "");
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 401);
    assert_non_null(strstr(header(f, "WWW-Authenticate"), "invalid_token"));
    assert_int_equal(request(f, "POST", "/api/v1/logout", NULL, token), 401);
    /* The user's other token lives on. */
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, other), 200);
}

/* Logging in again and again keeps at most 16 tokens of a user alive. */
static void test_token_cap(void **state)
{
    struct fx *f = *state;
    char *tokens[20];
    int alive = 0;

    for (int i = 0; i < 20; i++)
        tokens[i] = login(f, "alice");
    for (int i = 0; i < 20; i++) {
        guint status = request(f, "GET", "/api/v1/pools", NULL, tokens[i]);
        assert_true(status == 200 || status == 401);
        alive += status == 200;
        g_free(tokens[i]);
    }
    assert_int_equal(alive, 16);
    /* Another user's tokens are not counted against alice. */
    g_free(login(f, "bob"));
}

static void test_tokens_refused(void **state)
{
    struct fx *f = *state;
    g_autofree char *token = NULL;

    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, NULL), 401);
    assert_string_equal(header(f, "WWW-Authenticate"), "Bearer realm=\"aula\"");
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, "0123456789abcdef"), 401);
    assert_non_null(strstr(header(f, "WWW-Authenticate"), "invalid_token"));
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, NULL), 401);
    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/rdp", NULL, NULL), 401);
    assert_int_equal(request(f, "POST", "/api/v1/logout", NULL, NULL), 401);

    /* A disabled user's token stops working. */
    token = login(f, "alice");
    rawdb_exec(f->path, "UPDATE users SET disabled = 1 WHERE name = 'alice'");
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 401);
    rawdb_exec(f->path, "UPDATE users SET disabled = 0 WHERE name = 'alice'");
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 401);

    /* A token expires after token_lifetime. */
    g_free(token);
    f->cfg->token_lifetime = 1;
    token = login(f, "alice");
    g_usleep(1100 * 1000);
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 401);
}

static void test_bad_requests(void **state)
{
    struct fx *f = *state;
    g_autofree char *big = NULL;

    assert_int_equal(request(f, "POST", "/api/v1/login", "{\"username\": ", NULL), 400);
    assert_non_null(strstr(error_text(f), "malformed JSON"));
    assert_int_equal(request(f, "POST", "/api/v1/login", "[1, 2]", NULL), 400);
    assert_int_equal(request(f, "POST", "/api/v1/login", NULL, NULL), 400);
    assert_int_equal(request(f, "POST", "/api/v1/login", "{\"username\": \"alice\"}", NULL), 400);
    assert_non_null(strstr(error_text(f), "missing field 'password'"));
    assert_int_equal(request(f, "POST", "/api/v1/login",
                             "{\"username\": \"alice\", \"password\": \"x\", \"admin\": true}", NULL),
                     400);
    assert_non_null(strstr(error_text(f), "unknown field 'admin'"));
    assert_int_equal(request(f, "POST", "/api/v1/login",
                             "{\"username\": \"a\\u0001b\", \"password\": \"x\"}", NULL), 400);
    assert_int_equal(request(f, "POST", "/api/v1/login", "{\"username\": 1, \"password\": \"x\"}", NULL),
                     400);
    /* None of those counted as a failed login. */
    assert_int_equal(audit_count(f, "login", "denied"), 0);

    big = g_strnfill(17 * 1024, ' ');
    assert_int_equal(request(f, "POST", "/api/v1/login", big, NULL), 413);

    assert_int_equal(request(f, "GET", "/api/v1/nothing", NULL, NULL), 404);
    assert_int_equal(request(f, "GET", "/", NULL, NULL), 404);
    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/other", NULL, NULL), 404);
    assert_int_equal(request(f, "GET", "/api/v1/login", NULL, NULL), 405);
    assert_string_equal(header(f, "Allow"), "POST");
    assert_int_equal(request(f, "DELETE", "/api/v1/pools", NULL, NULL), 405);
    assert_string_equal(header(f, "Allow"), "GET");
    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/connect", NULL, NULL), 405);
    assert_string_equal(header(f, "Allow"), "POST");
}

/* A port in use is a clear error; "::" serves IPv4 too (where there is IPv6). */
static void test_listen(void **state)
{
    struct fx *f = *state;
    struct client_api_deps deps = {
        .db = f->db, .cfg = f->cfg, .auth = &f->auth, .tickets = f->tickets,
        .login_by_user = f->by_user, .login_by_addr = f->by_addr, .tls = tls,
    };
    g_autoptr(GError) err = NULL;
    struct client_api *api = NULL;
    g_autofree char *token = NULL;
    g_autoptr(GSocket) probe = g_socket_new(G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo6 = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV6);
    g_autoptr(GSocketAddress) lo6_any = g_inet_socket_address_new(lo6, 0);
    gboolean ipv6 = probe != NULL && g_socket_bind(probe, lo6_any, TRUE, NULL);

    assert_int_equal(client_api_start(&deps, &api, &err), -EADDRINUSE);
    assert_null(api);
    assert_non_null(strstr(err->message, "127.0.0.1"));
    assert_non_null(strstr(err->message, "client API"));
    g_clear_error(&err);

    /* "::" and an IPv4 address: the IPv4 one is served by the first. */
    client_api_free(f->api);
    f->api = NULL;
    g_free(f->cfg->api_address);
    f->cfg->api_address = g_strdup(" ::, 127.0.0.1 ");
    f->cfg->api_port = free_port();
    assert_int_equal(start_api(f), 0);
    token = login(f, "alice");
    assert_int_equal(request(f, "GET", "/api/v1/pools", NULL, token), 200);
    /* The host to connect to comes from the Host header, without a port
     * and without an IPv6 address's brackets. */
    f->host_header = "vdi.example.org:8443";
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, token), 200);
    assert_string_equal(json_object_get_string_member(obj(f), "host"), "vdi.example.org");
    f->host_header = "[2001:db8::7]:8443";
    assert_int_equal(request(f, "POST", "/api/v1/pools/lab/connect", NULL, token), 200);
    assert_string_equal(json_object_get_string_member(obj(f), "host"), "2001:db8::7");
    assert_int_equal(request(f, "GET", "/api/v1/pools/lab/rdp", NULL, token), 200);
    assert_true(g_str_has_prefix(f->body, "full address:s:[2001:db8::7]:3389\r\n"));
    if (!ipv6) {
        print_message("no IPv6 loopback here: only the IPv4 side was tried\n");
        return;
    }
    /* Dual stack: the same listener takes IPv6. (A TCP connection only:
     * GLib's TLS client sends an IPv6 literal as the TLS server name, which
     * GnuTLS servers refuse, so a SoupSession cannot be used for [::1].) */
    {
        g_autoptr(GSocketClient) client = g_socket_client_new();
        g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo6, (guint16)f->cfg->api_port);
        g_autoptr(GSocketConnection) conn = NULL;

        /* The kernel completes the connection from the listen backlog. */
        conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(to), NULL, &err);
        if (conn == NULL)
            fail_msg("connecting to [::1]: %s", err->message);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_login_wrong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_addr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rdp_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen, setup, teardown),
    };

    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        printf("SKIP: GLib has no TLS backend (install glib-networking)\n");
        return 77;
    }
    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
