/* Unit tests for broker/ticket and db/ticket with a real temporary database:
 * issuing, redeeming once, refusals (used, expired, other protocol, unknown,
 * disabled user) and their audit rows, VNC challenge-response checked against
 * libvncserver's own DES (what VNC servers run), and racing redemptions. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <rfb/rfbproto.h>
#include <string.h>

#include "broker/ticket.h"
#include "db/db.h"
#include "db/ticket.h"
#include "tests/unit/rawdb.h"

#define CLIENT "192.0.2.10"
#define ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

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

struct fx {
    char *dir;
    char *path;
    struct db *db;
    int lifetime;
    struct ticket_store *store;
};

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    struct db_template t = { .name = "tmpl", .disk_path = "/srv/t.qcow2", .memory_mib = 512,
                             .vcpus = 1, .video = "vga", .firmware = "bios", .os = "linux",
                             .volume = "tmpl.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .min_size = 0, .max_size = 4,
                         .spare = 0, .clone = "linked", .protocols = "rdp,vnc" };

    log_warnings = 0;
    f->dir = g_dir_make_tmp("aula-test-ticket-XXXXXX", NULL);
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    assert_int_equal(db_open(f->path, &f->db, NULL), 0);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    p.name = "office";
    assert_int_equal(db_pool_add(f->db, "test", &p, NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "alice", NULL, "$y$dummy", NULL), 0);
    assert_int_equal(db_user_add(f->db, "test", "bob", NULL, "$y$dummy", NULL), 0);
    f->lifetime = 60;
    f->store = ticket_store_new(f->db, &f->lifetime);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;

    ticket_store_free(f->store);
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

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static char *issue(struct fx *f, const char *user, const char *pool, const char *protocol)
{
    g_autoptr(GError) err = NULL;
    char *secret = NULL;
    int64_t expires = 0;

    if (ticket_issue(f->store, user, pool, protocol, CLIENT, &secret, &expires, &err) < 0)
        fail_msg("ticket_issue: %s", err->message);
    return secret;
}

/* The newest audit row of action as "outcome|user|pool|detail". Caller frees. */
static char *last_audit(struct fx *f, const char *action)
{
    g_autofree char *sql = g_strdup_printf(
        "SELECT outcome || '|' || coalesce(user_name, '') || '|' || coalesce(pool_name, '') || '|'"
        " || detail FROM audit_log WHERE action = '%s' ORDER BY id DESC LIMIT 1",
        action);

    return rawdb_text(f->path, sql);
}

static int64_t count(struct fx *f, const char *sql)
{
    return rawdb_int(f->path, sql);
}

/* ---- tests ---- */

static void test_issue_and_redeem(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = NULL, *user = NULL, *pool = NULL, *hash = NULL, *stored = NULL;
    g_autofree char *dump = NULL, *audit = NULL;
    int64_t expires = 0, before = now_s();

    assert_int_equal(ticket_issue(f->store, "alice", "lab", "rdp", CLIENT, &secret, &expires, &err), 0);
    assert_int_equal(strlen(secret), TICKET_SECRET_LEN_RDP);
    assert_int_equal(strspn(secret, ALPHABET), strlen(secret));
    assert_true(expires >= before + 60 && expires <= now_s() + 60);
    /* Only the hash is stored: the secret appears nowhere in the database. */
    hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
    stored = rawdb_text(f->path, "SELECT secret_hash FROM tickets");
    assert_string_equal(stored, hash);
    dump = rawdb_dump(f->path);
    assert_null(strstr(dump, secret));
    audit = last_audit(f, "ticket.issue");
    assert_true(g_str_has_prefix(audit, "ok|alice|lab|rdp"));
    assert_int_equal(count(f, "SELECT count(*) FROM tickets WHERE used_at IS NULL"), 1);

    assert_int_equal(ticket_redeem(f->store, secret, "rdp", CLIENT, &user, &pool, &err), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(pool, "lab");
    assert_int_equal(count(f, "SELECT count(*) FROM tickets WHERE used_at IS NOT NULL"), 1);
    g_free(audit);
    audit = last_audit(f, "ticket.redeem");
    assert_string_equal(audit, "ok|alice|lab|rdp from " CLIENT);
}

/* A second use is refused, audited with the reason, and leaves the outputs. */
static void test_reuse_refused(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = issue(f, "alice", "lab", "rdp"), *audit = NULL;
    char *user = NULL, *pool = NULL;

    assert_int_equal(ticket_redeem(f->store, secret, "rdp", CLIENT, &user, &pool, NULL), 0);
    g_free(user);
    g_free(pool);
    user = pool = NULL;
    assert_int_equal(ticket_redeem(f->store, secret, "rdp", "198.51.100.1", &user, &pool, &err),
                     -EALREADY);
    assert_int_equal(err->code, EALREADY);
    assert_non_null(strstr(err->message, "used already"));
    assert_null(user);
    assert_null(pool);
    audit = last_audit(f, "ticket.redeem");
    assert_non_null(strstr(audit, "refused|"));
    assert_non_null(strstr(audit, "198.51.100.1"));
    assert_non_null(strstr(audit, "used already"));
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action = 'ticket.redeem'"), 2);
}

static void test_expired_refused(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = issue(f, "alice", "lab", "rdp"), *audit = NULL;
    char *user = NULL, *pool = NULL;

    rawdb_exec(f->path, "UPDATE tickets SET expires_at = strftime('%s', 'now') - 5");
    assert_int_equal(ticket_redeem(f->store, secret, "rdp", CLIENT, &user, &pool, &err), -ETIMEDOUT);
    assert_non_null(strstr(err->message, "expired"));
    assert_null(user);
    assert_int_equal(count(f, "SELECT count(*) FROM tickets WHERE used_at IS NULL"), 1);
    audit = last_audit(f, "ticket.redeem");
    assert_true(g_str_has_prefix(audit, "refused|"));
    assert_non_null(strstr(audit, "expired"));
    assert_non_null(strstr(audit, CLIENT));
}

/* An RDP ticket does not open VNC, and is not spent by trying. */
static void test_wrong_protocol(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = issue(f, "bob", "office", "rdp"), *user = NULL, *pool = NULL;

    assert_int_equal(ticket_redeem(f->store, secret, "vnc", CLIENT, &user, &pool, &err), -EPROTO);
    assert_non_null(strstr(err->message, "for rdp, not vnc"));
    g_clear_error(&err);
    assert_int_equal(ticket_redeem(f->store, secret, "bogus", CLIENT, &user, &pool, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(ticket_redeem(f->store, secret, "rdp", CLIENT, &user, &pool, &err), 0);
    assert_string_equal(user, "bob");
    assert_string_equal(pool, "office");
}

static void test_unknown_and_disabled(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = issue(f, "bob", "lab", "rdp");
    char *user = NULL, *pool = NULL;

    assert_int_equal(ticket_redeem(f->store, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "rdp", CLIENT, &user,
                                   &pool, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(ticket_redeem(f->store, "", "rdp", CLIENT, &user, &pool, &err), -ENOENT);
    g_clear_error(&err);
    assert_int_equal(ticket_redeem(f->store, NULL, "rdp", CLIENT, &user, &pool, &err), -ENOENT);
    g_clear_error(&err);
    rawdb_exec(f->path, "UPDATE users SET disabled = 1 WHERE name = 'bob'");
    assert_int_equal(ticket_redeem(f->store, secret, "rdp", CLIENT, &user, &pool, &err), -EACCES);
    assert_non_null(strstr(err->message, "disabled"));
    assert_null(user);
    assert_null(pool);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action = 'ticket.redeem'"
                              " AND outcome = 'refused'"), 4);
}

/* What a VNC viewer sends for password, computed by libvncserver. */
static void viewer_response(const char *password, const uint8_t challenge[16], uint8_t out[16])
{
    char pw[9] = "";

    g_strlcpy(pw, password, sizeof(pw));
    memcpy(out, challenge, 16);
    rfbEncryptBytes(out, pw);
}

static void test_vnc_challenge(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *a = issue(f, "alice", "lab", "vnc"), *b = issue(f, "bob", "office", "vnc");
    g_autofree char *c = issue(f, "alice", "office", "vnc"), *audit = NULL;
    char *user = NULL, *pool = NULL;
    uint8_t challenge[16], response[16];

    assert_int_equal(strlen(b), TICKET_SECRET_LEN_VNC);
    assert_int_equal(strspn(b, ALPHABET), strlen(b));
    for (size_t i = 0; i < sizeof(challenge); i++)
        challenge[i] = (uint8_t)g_random_int_range(0, 256);

    /* A wrong answer: refused, audited, nothing spent. */
    viewer_response("wrong", challenge, response);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err),
                     -ENOENT);
    assert_null(user);
    g_clear_error(&err);
    audit = last_audit(f, "ticket.redeem");
    assert_non_null(strstr(audit, "refused||"));
    assert_non_null(strstr(audit, CLIENT));
    assert_int_equal(count(f, "SELECT count(*) FROM tickets WHERE used_at IS NOT NULL"), 0);

    /* bob's answer finds bob's ticket among the live ones. */
    viewer_response(b, challenge, response);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err), 0);
    assert_string_equal(user, "bob");
    assert_string_equal(pool, "office");
    g_free(user);
    g_free(pool);
    user = pool = NULL;
    g_free(audit);
    audit = last_audit(f, "ticket.redeem");
    assert_string_equal(audit, "ok|bob|office|vnc from " CLIENT);
    /* Once only. */
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err),
                     -ENOENT);
    g_clear_error(&err);

    /* The others still work, with another challenge. */
    challenge[0] ^= 0x5a;
    viewer_response(c, challenge, response);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err), 0);
    assert_string_equal(user, "alice");
    assert_string_equal(pool, "office");
    g_free(user);
    g_free(pool);
    user = pool = NULL;
    /* A VNC ticket may also be redeemed by its secret. */
    assert_int_equal(ticket_redeem(f->store, a, "vnc", CLIENT, &user, &pool, &err), 0);
    assert_string_equal(pool, "lab");
    g_free(user);
    g_free(pool);
}

/* A known answer for the reference the other tests compare with, so that
 * the DES and the key's bit order are pinned down even if libvncserver
 * changed: password "password", challenge 0..15 (also
 * what `openssl enc -des-ecb -K 0e86ceceeef64e26 -nopad` gives, the key
 * being "password" with each byte's bits reversed). */
static void test_vnc_known_answer(void **state)
{
    static const uint8_t expect[16] = { 0xb8, 0x66, 0x92, 0x41, 0x25, 0xc8, 0xee, 0xbb,
                                        0x9d, 0xeb, 0xc1, 0xdb, 0x61, 0xc5, 0x38, 0xe2 };
    uint8_t challenge[16], response[16];

    for (int i = 0; i < 16; i++)
        challenge[i] = (uint8_t)i;
    viewer_response("password", challenge, response);
    assert_memory_equal(response, expect, sizeof(expect));
}

static void test_vnc_expired(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    g_autofree char *secret = issue(f, "alice", "lab", "vnc");
    char *user = NULL, *pool = NULL;
    uint8_t challenge[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    uint8_t response[16];

    rawdb_exec(f->path, "UPDATE tickets SET expires_at = strftime('%s', 'now') - 1");
    viewer_response(secret, challenge, response);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err),
                     -ETIMEDOUT);
    assert_null(user);
    /* An expired secret is dropped from memory: the next try finds nothing. */
    g_clear_error(&err);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err),
                     -ENOENT);
    /* Secrets whose lifetime ran out in memory are dropped without asking the db. */
    f->lifetime = 1;
    g_free(secret);
    secret = issue(f, "alice", "lab", "vnc");
    assert_int_equal(count(f, "SELECT max(expires_at) - max(created_at) FROM tickets"), 1);
    g_usleep(1100 * 1000);
    viewer_response(secret, challenge, response);
    g_clear_error(&err);
    assert_int_equal(ticket_redeem_vnc(f->store, challenge, response, CLIENT, &user, &pool, &err),
                     -ENOENT);
}

static void test_issue_errors(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    char *secret = NULL;
    int64_t expires = 0, audits = count(f, "SELECT count(*) FROM audit_log");

    assert_int_equal(ticket_issue(f->store, "nobody", "lab", "rdp", CLIENT, &secret, &expires, &err),
                     -ENOENT);
    assert_non_null(strstr(err->message, "unknown user 'nobody'"));
    g_clear_error(&err);
    assert_int_equal(ticket_issue(f->store, "alice", "nope", "rdp", CLIENT, &secret, &expires, &err),
                     -ENOENT);
    g_clear_error(&err);
    assert_int_equal(ticket_issue(f->store, "alice", "lab", "spice", CLIENT, &secret, &expires, &err),
                     -EINVAL);
    assert_null(secret);
    assert_int_equal(expires, 0);
    /* Refused issues leave nothing behind. */
    assert_int_equal(count(f, "SELECT count(*) FROM tickets"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log"), audits);
}

static void test_db_ticket_rules(void **state)
{
    struct fx *f = *state;
    g_autoptr(GError) err = NULL;
    const char *h1 = "0000000000000000000000000000000000000000000000000000000000000001";
    const char *h2 = "0000000000000000000000000000000000000000000000000000000000000002";
    int64_t now = now_s();

    assert_int_equal(db_ticket_add(f->db, "alice", "lab", "rdp", h1, now + 60, NULL), 0);
    assert_int_equal(db_ticket_add(f->db, "alice", "lab", "rdp", h1, now + 60, &err), -EEXIST);
    g_clear_error(&err);
    assert_int_equal(db_ticket_add(f->db, "alice", "lab", "rdp", "ABC", now + 60, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(db_ticket_add(f->db, "alice", "lab", "rdp", h2, now - 1, &err), -EINVAL);
    g_clear_error(&err);
    assert_int_equal(count(f, "SELECT count(*) FROM tickets"), 1);
    assert_int_equal(count(f, "SELECT count(*) FROM audit_log WHERE action = 'ticket.issue'"), 1);

    /* Pruning forgets tickets that expired before the given time only. */
    assert_int_equal(db_ticket_add(f->db, "bob", "lab", "vnc", h2, now + 600, NULL), 0);
    assert_int_equal(db_ticket_prune(f->db, now + 61, NULL), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM tickets"), 1);
    assert_int_equal(count(f, "SELECT count(*) FROM tickets WHERE protocol = 'vnc'"), 1);
    /* A user's removal takes the user's tickets with it. */
    assert_int_equal(db_user_remove(f->db, "test", "bob", NULL), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM tickets"), 0);
}

/* Many connections racing to use one ticket: exactly one wins. */
struct racer {
    const char *path;
    const char *hash;
    GThread *thread;
    int result;
};

static gpointer race(gpointer data)
{
    struct racer *r = data;
    struct db *db = NULL;
    char *user = NULL, *pool = NULL;

    if (db_open(r->path, &db, NULL) < 0) {
        r->result = -999;
        return NULL;
    }
    r->result = db_ticket_use(db, r->hash, "rdp", g_get_real_time() / G_USEC_PER_SEC, &user, &pool,
                              NULL);
    g_free(user);
    g_free(pool);
    db_close(db);
    return NULL;
}

static void test_race(void **state)
{
    struct fx *f = *state;
    const char *hash = "00000000000000000000000000000000000000000000000000000000000000ff";
    struct racer racers[8];
    int won = 0, used = 0;

    assert_int_equal(db_ticket_add(f->db, "alice", "lab", "rdp", hash, now_s() + 60, NULL), 0);
    for (size_t i = 0; i < G_N_ELEMENTS(racers); i++) {
        racers[i] = (struct racer){ .path = f->path, .hash = hash };
        racers[i].thread = g_thread_new("racer", race, &racers[i]);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(racers); i++) {
        g_thread_join(racers[i].thread);
        won += racers[i].result == 0;
        used += racers[i].result == -EALREADY;
    }
    assert_int_equal(won, 1);
    assert_int_equal(used, (int)G_N_ELEMENTS(racers) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_and_redeem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vnc_challenge, setup, teardown),
        cmocka_unit_test(test_vnc_known_answer),
        cmocka_unit_test_setup_teardown(test_vnc_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_ticket_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race, setup, teardown),
    };

    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
