/* Unit tests for thinclient/tc_api against the real client API: the broker's
 * client_api runs in this process on 127.0.0.1 (and [::1], where there is
 * IPv6), with a real temporary database, the local password backend and a
 * certificate made by broker/tls. tc_api's calls run the default main
 * context while they wait, so the API answers them. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/auth.h"
#include "broker/client_api.h"
#include "broker/conf.h"
#include "broker/ratelimit.h"
#include "broker/ticket.h"
#include "broker/tls.h"
#include "db/db.h"
#include "tests/unit/rawdb.h"
#include "thinclient/tc_api.h"
#include "thinclient/tc_conf.h"

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

/* The test logged exactly n warnings so far; forget them. */
static void expect_warnings(int n)
{
    assert_int_equal(log_warnings, n);
    log_warnings = 0;
}

/* ---- fixture ---- */

/* Two certificates for the whole run, each in its own directory: the
 * broker's, and another one that plays a replaced (or an impostor's). */
static char *tls_dir, *other_dir;
static struct tls_identity *tls, *other;
static char *password_hash;

/* A client API on its own address and port, with its own certificate. */
struct broker {
    struct conf *cfg;
    struct client_api *api;
};

struct fx {
    char *dir;
    char *path;
    char *known;        /* dir/home/.config/aula/known_brokers: not there yet */
    struct db *db;
    struct auth auth;
    int user_max, addr_max, lockout, ticket_lifetime;
    struct ratelimit *by_user, *by_addr;
    struct ticket_store *tickets;
    struct broker main;      /* 127.0.0.1, the broker's certificate */
    struct broker extra;     /* started by some tests */
    struct tc_api *client;
};

/* A TCP port on the loopback of family that nothing listens on right now. */
static int free_port(GSocketFamily family)
{
    g_autoptr(GSocket) sock = g_socket_new(family, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(family);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;

    assert_non_null(sock);
    assert_true(g_socket_bind(sock, any, TRUE, NULL));
    bound = g_socket_get_local_address(sock, NULL);
    assert_non_null(bound);
    return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static gboolean have_ipv6(void)
{
    g_autoptr(GSocket) sock = g_socket_new(G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_DEFAULT, NULL);
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV6);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);

    return sock != NULL && g_socket_bind(sock, any, TRUE, NULL);
}

static int group_setup(void **state)
{
    g_autoptr(GError) err = NULL;

    tls_dir = g_dir_make_tmp("aula-test-tc-api-tls-XXXXXX", NULL);
    other_dir = g_dir_make_tmp("aula-test-tc-api-tls2-XXXXXX", NULL);
    if (tls_identity_ensure(tls_dir, &tls, &err) < 0 ||
        tls_identity_ensure(other_dir, &other, &err) < 0) {
        print_error("tls_identity_ensure: %s\n", err->message);
        return -1;
    }
    if (strcmp(tls->fingerprint, other->fingerprint) == 0) {
        print_error("two certificates with one fingerprint\n");
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
    tls_identity_free(other);
    rawdb_rm_rf(tls_dir);
    rawdb_rm_rf(other_dir);
    g_free(tls_dir);
    g_free(other_dir);
    g_free(password_hash);
    return 0;
}

/* Make a VM of pool ready, owned by owner (or a spare when NULL). */
static void add_vm(struct fx *f, const char *pool, const char *owner)
{
    static const char *const from[] = { "provisioning", NULL };
    struct db_vm *vm = NULL;

    assert_int_equal(db_vm_create(f->db, "test", pool, "local", "52:54:00:00:00:01", &vm, NULL),
                     0);
    assert_int_equal(db_vm_transition(f->db, "test", vm->name, from, "ready", NULL, 0, NULL), 0);
    if (owner)
        assert_int_equal(db_vm_set_owner(f->db, "test", vm->name, owner, NULL), 0);
    db_vm_free(vm);
}

/* Start a client API on address (a free port of its family) with id's
 * certificate. */
static void start_broker(struct fx *f, struct broker *b, const char *address,
                         const struct tls_identity *id)
{
    struct client_api_deps deps = {
        .db = f->db, .auth = &f->auth, .tickets = f->tickets,
        .login_by_user = f->by_user, .login_by_addr = f->by_addr, .tls = id,
    };
    g_autoptr(GError) err = NULL;

    b->cfg = conf_new_defaults();
    g_free(b->cfg->api_address);
    b->cfg->api_address = g_strdup(address);
    b->cfg->api_port = free_port(strchr(address, ':') ? G_SOCKET_FAMILY_IPV6
                                                      : G_SOCKET_FAMILY_IPV4);
    deps.cfg = b->cfg;
    if (client_api_start(&deps, &b->api, &err) < 0)
        fail_msg("client_api_start on %s: %s", address, err->message);
}

static void stop_broker(struct broker *b)
{
    client_api_free(b->api);
    conf_free(b->cfg);
    b->api = NULL;
    b->cfg = NULL;
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
    f->dir = g_dir_make_tmp("aula-test-tc-api-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    f->known = g_build_filename(f->dir, "home", ".config", "aula", "known_brokers", NULL);
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
    for (const char *const *u = (const char *const[]){ "alice", "bob", NULL }; *u; u++)
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

    f->auth.impl = &auth_local_impl;
    f->auth.ctx = f->db;
    f->user_max = f->addr_max = 3;
    f->lockout = 300;
    f->by_user = ratelimit_new(&f->user_max, &f->lockout);
    f->by_addr = ratelimit_new(&f->addr_max, &f->lockout);
    f->ticket_lifetime = 60;
    f->tickets = ticket_store_new(f->db, &f->ticket_lifetime);
    start_broker(f, &f->main, "127.0.0.1", tls);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;

    tc_api_free(f->client);
    stop_broker(&f->main);
    stop_broker(&f->extra);
    ticket_store_free(f->tickets);
    ratelimit_free(f->by_user);
    ratelimit_free(f->by_addr);
    db_close(f->db);
    rawdb_rm_rf(f->dir);
    g_free(f->path);
    g_free(f->known);
    g_free(f->dir);
    g_free(f);
    if (warnings > 0) {
        print_error("%d unexpected warning(s) were logged\n", warnings);
        return -1;
    }
    return 0;
}

/* ---- the client ---- */

/* Settings made from client.conf text: broker HOST:PORT, then more lines;
 * known_brokers is f->known unless the lines say otherwise. Caller frees. */
G_GNUC_PRINTF(3, 4)
static struct tc_conf *client_conf(struct fx *f, const char *broker, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *more = NULL, *text = NULL;
    struct tc_conf *cfg = NULL;
    va_list ap;

    va_start(ap, fmt);
    more = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    text = g_strdup_printf("[client]\nbroker = %s\ntimeout = 5\n%s", broker, more);
    if (tc_conf_parse("client.conf", text, strlen(text), &cfg, &err) != 0)
        fail_msg("%s\n%s", err->message, text);
    if (strstr(more, "known_brokers") == NULL) {
        g_free(cfg->known_brokers);
        cfg->known_brokers = g_strdup(f->known);
    }
    return cfg;
}

/* "127.0.0.1:PORT" of b. Caller frees. */
static char *addr_of(const struct broker *b)
{
    if (strchr(b->cfg->api_address, ':'))
        return g_strdup_printf("[%s]:%d", b->cfg->api_address, b->cfg->api_port);
    return g_strdup_printf("%s:%d", b->cfg->api_address, b->cfg->api_port);
}

/* A new client (f->client) for cfg, which is freed. */
static void new_client(struct fx *f, struct tc_conf *cfg)
{
    g_autoptr(GError) err = NULL;

    tc_api_free(f->client);
    f->client = NULL;
    if (tc_api_new(cfg, &f->client, &err) != 0)
        fail_msg("tc_api_new: %s", err->message);
    tc_conf_free(cfg);
}

static void login_ok(struct fx *f, const char *user)
{
    g_autoptr(GError) err = NULL;
    int64_t expires = 0;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;

    if (tc_api_login(f->client, user, PASSWORD, &expires, &err) != 0)
        fail_msg("login of %s: %s (%s)", user, err->message, tc_api_strerror(err->code));
    assert_true(tc_api_logged_in(f->client));
    /* token_lifetime's default: 8 hours. */
    assert_true(expires >= now + 28800 - 5 && expires <= now + 28800 + 5);
}

/* A login that fails with code; returns the message (caller frees). */
static char *login_fails(struct fx *f, const char *user, const char *password, int code)
{
    g_autoptr(GError) err = NULL;
    int64_t expires = -7;
    int r = tc_api_login(f->client, user, password, &expires, &err);

    if (r != -code)
        fail_msg("login of %s: %d (%s), expected -%d (%s)", user, r,
                 err ? err->message : "no error", code, tc_api_strerror(code));
    assert_true(g_error_matches(err, TC_API_ERROR, code));
    assert_int_equal(expires, -7);
    assert_false(tc_api_logged_in(f->client));
    return g_strdup(err->message);
}

static int64_t audit_count(struct fx *f, const char *action, const char *outcome)
{
    g_autofree char *sql = g_strdup_printf(
        "SELECT count(*) FROM audit_log WHERE action = '%s' AND outcome = '%s'", action, outcome);

    return rawdb_int(f->path, sql);
}

static char *read_text(const char *path)
{
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return NULL;
    return text;
}

static int mode_of(const char *path)
{
    GStatBuf st;

    assert_int_equal(g_stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ---- trust on first use ---- */

static void test_tofu_first_use(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *expect = NULL, *text = NULL, *dir = NULL;

    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    login_ok(f, "alice");
    /* Stored: one line, the broker's fingerprint, 0600 in a directory 0700. */
    expect = g_strdup_printf("%s %s\n", addr, tls->fingerprint);
    text = read_text(f->known);
    assert_non_null(text);
    assert_string_equal(text, expect);
    assert_int_equal(mode_of(f->known), 0600);
    dir = g_path_get_dirname(f->known);
    assert_int_equal(mode_of(dir), 0700);
    assert_string_equal(tc_api_peer_fingerprint(f->client), tls->fingerprint);

    /* A second client, later: the stored fingerprint matches; nothing is added. */
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    login_ok(f, "alice");
    g_free(text);
    text = read_text(f->known);
    assert_string_equal(text, expect);
    assert_int_equal(audit_count(f, "login", "ok"), 2);

    /* Other brokers' lines and comments are kept; a new broker is added below them. */
    g_free(text);
    text = g_strdup_printf("# brokers\nvdi.example.org:8443 %s\n%s %s", other->fingerprint,
                           addr, tls->fingerprint);
    assert_true(g_file_set_contents(f->known, text, -1, NULL));
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    login_ok(f, "alice");
    start_broker(f, &f->extra, "127.0.0.1", tls);
    {
        g_autofree char *extra = addr_of(&f->extra), *now = NULL, *want = NULL;

        new_client(f, client_conf(f, extra, "tofu = true\n"));
        login_ok(f, "bob");
        now = read_text(f->known);
        want = g_strdup_printf("%s\n%s %s\n", text, extra, tls->fingerprint);
        assert_string_equal(now, want);
    }
}

/* The certificate differs from the one stored: refused loudly, the password
 * is never sent, and the stored fingerprint stays. */
static void test_tofu_changed(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = NULL, *text = NULL, *message = NULL, *after = NULL, *dir = NULL;
    g_autoptr(GError) err = NULL;

    /* A broker on another port with another certificate; known_brokers has
     * the first certificate for it. */
    start_broker(f, &f->extra, "127.0.0.1", other);
    addr = addr_of(&f->extra);
    dir = g_path_get_dirname(f->known);
    assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
    text = g_strdup_printf("%s %s\n", addr, tls->fingerprint);
    assert_true(g_file_set_contents(f->known, text, -1, NULL));

    new_client(f, client_conf(f, addr, "tofu = true\n"));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CERT_CHANGED);
    expect_warnings(1);
    assert_non_null(strstr(message, "CHANGED"));
    assert_non_null(strstr(message, tls->fingerprint));
    assert_non_null(strstr(message, other->fingerprint));
    assert_non_null(strstr(message, addr));
    assert_non_null(strstr(message, f->known));
    after = read_text(f->known);
    assert_string_equal(after, text);
    assert_int_equal(audit_count(f, "login", "ok") + audit_count(f, "login", "denied"), 0);
    assert_string_equal(tc_api_peer_fingerprint(f->client), other->fingerprint);
    assert_string_equal(tc_api_strerror(TC_ERR_CERT_CHANGED),
                        "The broker's certificate has changed");

    /* Again, on a new connection: the same. */
    g_free(login_fails(f, "alice", PASSWORD, TC_ERR_CERT_CHANGED));
    expect_warnings(1);
    /* The other calls refuse before sending anything: no login. */
    assert_int_equal(tc_api_pools(f->client, &(GPtrArray *){ NULL }, &err), -TC_ERR_NOT_LOGGED_IN);
}

/* A known_brokers that cannot be read, or has a bad line, is an error, never
 * an empty list (which would trust anything as new). */
static void test_tofu_bad_file(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *dir = g_path_get_dirname(f->known);
    g_autofree char *message = NULL, *expect = NULL;

    assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
    assert_true(g_file_set_contents(f->known, "# ok\n\nvdi:8443\n", -1, NULL));
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CONFIG);
    expect = g_strdup_printf("%s:3: expected 'HOST:PORT sha256:AA:BB:...', got 'vdi:8443'",
                             f->known);
    assert_string_equal(message, expect);

    /* A directory where the file should be. */
    assert_int_equal(g_unlink(f->known), 0);
    assert_int_equal(g_mkdir(f->known, 0700), 0);
    g_free(message);
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CONFIG);
    assert_non_null(strstr(message, "cannot read known_brokers"));
    assert_int_equal(audit_count(f, "login", "ok"), 0);
}

/* ---- pinned, CA, none ---- */

static void test_pinned(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *message = NULL;
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GError) err = NULL;

    new_client(f, client_conf(f, addr, "fingerprint = %s\n", tls->fingerprint));
    login_ok(f, "alice");
    assert_int_equal(tc_api_pools(f->client, &pools, &err), 0);
    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));

    /* Another pin for the same broker, right after: refused, although TLS
     * could resume the session that the first client made. */
    new_client(f, client_conf(f, addr, "fingerprint = %s\n", other->fingerprint));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CERT_CHANGED);
    expect_warnings(1);
    assert_non_null(strstr(message, "NOT THE PINNED ONE"));
    assert_non_null(strstr(message, tls->fingerprint));
    assert_non_null(strstr(message, other->fingerprint));
    assert_int_equal(audit_count(f, "login", "ok"), 1);
    assert_int_equal(audit_count(f, "login", "denied"), 0);

    /* A pin wins over tofu: nothing is stored. */
    new_client(f, client_conf(f, addr, "fingerprint = %s\ntofu = true\n", tls->fingerprint));
    login_ok(f, "alice");
    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));
}

/* Nothing to trust the broker by: refused, with the fingerprint to pin. */
static void test_untrusted(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *message = NULL;

    new_client(f, client_conf(f, addr, "%s", ""));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CERT_UNTRUSTED);
    assert_non_null(strstr(message, tls->fingerprint));
    assert_non_null(strstr(message, "fingerprint = sha256:"));
    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));
    assert_int_equal(audit_count(f, "login", "ok") + audit_count(f, "login", "denied"), 0);
}

/* This host's name, when it resolves to an IPv4 loopback address: the
 * address (caller frees), else NULL. */
static char *host_name_loopback(void)
{
    g_autoptr(GResolver) resolver = g_resolver_get_default();
    GList *addrs = g_resolver_lookup_by_name(resolver, g_get_host_name(), NULL, NULL);
    char *found = NULL;

    for (GList *l = addrs; l != NULL && found == NULL; l = l->next)
        if (g_inet_address_get_family(l->data) == G_SOCKET_FAMILY_IPV4 &&
            g_inet_address_get_is_loopback(l->data))
            found = g_inet_address_to_string(l->data);
    g_resolver_free_addresses(addrs);
    return found;
}

/* ca_file: the broker's self-signed certificate is its own CA. Its name is
 * this host's, so the client must use that name. */
static void test_ca_file(void **state)
{
    struct fx *f = *state;
    g_autofree char *loopback = host_name_loopback();
    g_autofree char *by_name = NULL, *by_addr = NULL, *message = NULL;
    g_autoptr(GError) err = NULL;
    struct tc_api *api = NULL;
    struct tc_conf *cfg;

    /* An unreadable ca_file is a settings error, at once. */
    cfg = client_conf(f, "127.0.0.1", "ca_file = %s/none.pem\n", f->dir);
    assert_int_equal(tc_api_new(cfg, &api, &err), -TC_ERR_CONFIG);
    assert_null(api);
    assert_non_null(strstr(err->message, "none.pem"));
    tc_conf_free(cfg);

    /* By address, the certificate is for another name. */
    by_addr = addr_of(&f->main);
    new_client(f, client_conf(f, by_addr, "ca_file = %s\n", tls->cert_path));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CERT_UNTRUSTED);
    assert_non_null(strstr(message, "not made for the host name 127.0.0.1"));
    assert_null(strstr(message, "not signed by a CA"));

    if (loopback == NULL) {
        print_message("%s does not resolve to an IPv4 loopback address: ca_file is checked "
                      "by address only\n", g_get_host_name());
        return;
    }
    start_broker(f, &f->extra, loopback, tls);
    by_name = g_strdup_printf("%s:%d", g_get_host_name(), f->extra.cfg->api_port);
    new_client(f, client_conf(f, by_name, "ca_file = %s\n", tls->cert_path));
    login_ok(f, "alice");
    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));

    /* Another CA: refused. */
    new_client(f, client_conf(f, by_name, "ca_file = %s\n", other->cert_path));
    g_free(message);
    message = login_fails(f, "alice", PASSWORD, TC_ERR_CERT_UNTRUSTED);
    assert_non_null(strstr(message, "not signed by a CA in"));
    assert_non_null(strstr(message, tls->fingerprint));

    /* With a pin as well, both must hold. */
    new_client(f, client_conf(f, by_name, "ca_file = %s\nfingerprint = %s\n", tls->cert_path,
                              tls->fingerprint));
    login_ok(f, "alice");
    new_client(f, client_conf(f, by_name, "ca_file = %s\nfingerprint = %s\n", tls->cert_path,
                              other->fingerprint));
    g_free(login_fails(f, "alice", PASSWORD, TC_ERR_CERT_CHANGED));
    expect_warnings(1);
}

/* An IPv6 address: its TLS connection carries no SNI, which the broker
 * would refuse; the ticket's host is the address. */
static void test_ipv6(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = NULL, *text = NULL, *expect = NULL;
    g_autoptr(GError) err = NULL;
    struct tc_ticket *t = NULL;

    if (!have_ipv6()) {
        print_message("no IPv6 loopback here: skipped\n");
        return;
    }
    start_broker(f, &f->extra, "::1", tls);
    addr = addr_of(&f->extra);
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    login_ok(f, "alice");
    text = read_text(f->known);
    expect = g_strdup_printf("[::1]:%d %s\n", f->extra.cfg->api_port, tls->fingerprint);
    assert_string_equal(text, expect);
    if (tc_api_connect(f->client, "lab", "vnc", &t, &err) != 0)
        fail_msg("connect: %s", err->message);
    assert_string_equal(t->host, "::1");
    tc_ticket_free(t);

    /* The same address written another way is the same broker. */
    g_free(addr);
    addr = g_strdup_printf("[0:0::1]:%d", f->extra.cfg->api_port);
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    login_ok(f, "alice");
    g_free(text);
    text = read_text(f->known);
    assert_string_equal(text, expect);
}

/* ---- the API's answers ---- */

static void test_wrong_password(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *message = NULL;

    new_client(f, client_conf(f, addr, "fingerprint = %s\n", tls->fingerprint));
    message = login_fails(f, "alice", "nope", TC_ERR_WRONG_PASSWORD);
    assert_string_equal(message, "wrong user name or password");
    g_free(login_fails(f, "mallory", "nope", TC_ERR_WRONG_PASSWORD));
    assert_int_equal(tc_api_retry_after(f->client), 0);
    assert_int_equal(audit_count(f, "login", "denied"), 2);
    /* The third failure from this address locks it out, for the right password too. */
    g_free(login_fails(f, "bob", "nope", TC_ERR_WRONG_PASSWORD));
    g_free(message);
    message = login_fails(f, "alice", PASSWORD, TC_ERR_RATE_LIMITED);
    assert_non_null(strstr(message, "too many failed logins"));
    assert_true(tc_api_retry_after(f->client) > 290 && tc_api_retry_after(f->client) <= 300);
    assert_string_equal(tc_api_strerror(-TC_ERR_RATE_LIMITED),
                        "Too many attempts: wait and try again");
}

static void test_pools(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main);
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GError) err = NULL;
    GPtrArray *untouched = (GPtrArray *)&untouched;
    struct tc_pool *kiosk, *lab;

    new_client(f, client_conf(f, addr, "fingerprint = %s\n", tls->fingerprint));
    pools = untouched;
    assert_int_equal(tc_api_pools(f->client, &pools, &err), -TC_ERR_NOT_LOGGED_IN);
    assert_ptr_equal(pools, untouched);
    pools = NULL;
    g_clear_error(&err);
    login_ok(f, "alice");
    if (tc_api_pools(f->client, &pools, &err) != 0)
        fail_msg("pools: %s", err->message);
    /* alice's, by name: kiosk directly, lab through staff; not secret. */
    assert_int_equal(pools->len, 2);
    kiosk = g_ptr_array_index(pools, 0);
    lab = g_ptr_array_index(pools, 1);
    assert_string_equal(kiosk->name, "kiosk");
    assert_int_equal(g_strv_length(kiosk->protocols), 1);
    assert_string_equal(kiosk->protocols[0], "vnc");
    assert_false(kiosk->available);
    assert_int_equal(kiosk->ready_spares, 0);
    assert_null(kiosk->own_vm);
    assert_false(kiosk->persistent);
    assert_string_equal(lab->name, "lab");
    assert_int_equal(g_strv_length(lab->protocols), 2);
    assert_string_equal(lab->protocols[0], "rdp");
    assert_string_equal(lab->protocols[1], "vnc");
    assert_true(lab->available);
    assert_int_equal(lab->ready_spares, 1);
    assert_string_equal(lab->own_vm, "aula-lab-2");
}

static void test_connect(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main), *user = NULL, *pool = NULL;
    g_autoptr(GError) err = NULL;
    struct tc_ticket *t = NULL, *untouched = (struct tc_ticket *)&untouched;
    int64_t now = g_get_real_time() / G_USEC_PER_SEC;

    new_client(f, client_conf(f, addr, "fingerprint = %s\n", tls->fingerprint));
    t = untouched;
    assert_int_equal(tc_api_connect(f->client, "lab", "vnc", &t, &err), -TC_ERR_NOT_LOGGED_IN);
    assert_ptr_equal(t, untouched);
    g_clear_error(&err);
    login_ok(f, "alice");

    if (tc_api_connect(f->client, "lab", "vnc", &t, &err) != 0)
        fail_msg("connect: %s", err->message);
    assert_string_equal(t->protocol, "vnc");
    assert_string_equal(t->host, "127.0.0.1");
    assert_int_equal(t->port, f->main.cfg->vnc_port);
    assert_int_equal(strlen(t->ticket), TICKET_SECRET_LEN_VNC);
    assert_true(t->expires >= now + 55 && t->expires <= now + 65);
    /* It is a ticket the broker redeems, once, for alice and lab. */
    assert_int_equal(ticket_redeem(f->tickets, t->ticket, "vnc", "127.0.0.1", &user, &pool, &err),
                     0);
    assert_string_equal(user, "alice");
    assert_string_equal(pool, "lab");
    assert_int_equal(ticket_redeem(f->tickets, t->ticket, "vnc", "127.0.0.1", &user, &pool, &err),
                     -EALREADY);
    g_clear_error(&err);
    tc_ticket_free(t);
    t = NULL;

    /* No protocol: the pool's first. */
    if (tc_api_connect(f->client, "lab", NULL, &t, &err) != 0)
        fail_msg("connect: %s", err->message);
    assert_string_equal(t->protocol, "rdp");
    assert_int_equal(t->port, f->main.cfg->rdp_port);
    assert_int_equal(strlen(t->ticket), TICKET_SECRET_LEN_RDP);
    tc_ticket_free(t);
    t = untouched;

    /* Refusals, each with the broker's message. */
    assert_int_equal(tc_api_connect(f->client, "nope", "vnc", &t, &err), -TC_ERR_UNKNOWN_POOL);
    assert_string_equal(err->message, "unknown pool 'nope'");
    g_clear_error(&err);
    assert_int_equal(tc_api_connect(f->client, "a/b c", "vnc", &t, &err), -TC_ERR_UNKNOWN_POOL);
    g_clear_error(&err);
    assert_int_equal(tc_api_connect(f->client, "..", "vnc", &t, &err), -TC_ERR_UNKNOWN_POOL);
    g_clear_error(&err);
    assert_int_equal(tc_api_connect(f->client, "secret", "vnc", &t, &err), -TC_ERR_NOT_ENTITLED);
    assert_string_equal(err->message, "you are not entitled to pool 'secret'");
    g_clear_error(&err);
    assert_int_equal(tc_api_connect(f->client, "kiosk", "rdp", &t, &err), -TC_ERR_REFUSED);
    assert_non_null(strstr(err->message, "does not offer rdp"));
    g_clear_error(&err);
    assert_ptr_equal(t, untouched);
    assert_int_equal(audit_count(f, "ticket.issue", "ok"), 2);

    /* The broker cannot issue tickets (its database fails): 503. */
    rawdb_exec(f->path, "DROP TABLE tickets");
    assert_int_equal(tc_api_connect(f->client, "lab", "vnc", &t, &err), -TC_ERR_POOL_EXHAUSTED);
    assert_ptr_equal(t, untouched);
    log_warnings = 0; /* the broker logged its database's failure */
}

static void test_logout(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = addr_of(&f->main);
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GError) err = NULL;
    struct tc_ticket *t = NULL;

    new_client(f, client_conf(f, addr, "fingerprint = %s\n", tls->fingerprint));
    assert_int_equal(tc_api_logout(f->client, &err), 0); /* not logged in: nothing to do */
    login_ok(f, "alice");
    assert_int_equal(tc_api_logout(f->client, &err), 0);
    assert_null(err);
    assert_false(tc_api_logged_in(f->client));
    assert_int_equal(tc_api_pools(f->client, &pools, &err), -TC_ERR_NOT_LOGGED_IN);
    g_clear_error(&err);

    /* A login that expired at the broker: 401, "not logged in". */
    f->main.cfg->token_lifetime = 1;
    assert_int_equal(tc_api_login(f->client, "alice", PASSWORD, NULL, &err), 0);
    g_usleep(1100 * 1000);
    assert_int_equal(tc_api_connect(f->client, "lab", "vnc", &t, &err), -TC_ERR_NOT_LOGGED_IN);
    assert_null(t);
    g_clear_error(&err);
    /* Logging out of it is no error, and forgets it. */
    assert_true(tc_api_logged_in(f->client));
    assert_int_equal(tc_api_logout(f->client, &err), 0);
    assert_false(tc_api_logged_in(f->client));
}

/* ---- no broker ---- */

static void test_unreachable(void **state)
{
    struct fx *f = *state;
    g_autofree char *addr = g_strdup_printf("127.0.0.1:%d", free_port(G_SOCKET_FAMILY_IPV4));
    g_autofree char *message = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocket) mute = NULL;
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    struct tc_api *api = NULL;
    struct tc_conf *cfg;
    gint64 start = g_get_monotonic_time();

    /* Nothing listens: refused at once. */
    new_client(f, client_conf(f, addr, "tofu = true\n"));
    message = login_fails(f, "alice", PASSWORD, TC_ERR_UNREACHABLE);
    assert_true(g_get_monotonic_time() - start < 2 * G_USEC_PER_SEC);
    assert_non_null(strstr(message, addr));
    assert_false(g_file_test(f->known, G_FILE_TEST_EXISTS));

    /* Something listens and never answers: given up after timeout. */
    mute = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                        NULL);
    assert_true(g_socket_bind(mute, any, TRUE, NULL));
    assert_true(g_socket_listen(mute, NULL));
    bound = g_socket_get_local_address(mute, NULL);
    g_free(addr);
    addr = g_strdup_printf("127.0.0.1:%d",
                           g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));
    cfg = client_conf(f, addr, "tofu = true\n");
    cfg->timeout = 1;
    new_client(f, cfg);
    start = g_get_monotonic_time();
    g_free(message);
    message = login_fails(f, "alice", PASSWORD, TC_ERR_UNREACHABLE);
    assert_true(g_get_monotonic_time() - start >= G_USEC_PER_SEC - 100 * 1000);
    assert_true(g_get_monotonic_time() - start < 3 * G_USEC_PER_SEC);
    assert_non_null(strstr(message, "did not answer within 1 seconds"));

    /* No broker in the settings. */
    cfg = tc_conf_new_defaults();
    assert_int_equal(tc_api_new(cfg, &api, &err), -TC_ERR_CONFIG);
    assert_null(api);
    assert_non_null(strstr(err->message, "no broker is set"));
    tc_conf_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tofu_first_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tofu_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tofu_bad_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
    };

    if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
        printf("SKIP: GLib has no TLS backend (install glib-networking)\n");
        return 77;
    }
    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
