/* ticket: issuing and redeeming one-time tickets (see ticket.h). */
#include "config.h"

#include "broker/ticket.h"

#include <errno.h>
#include <nettle/des.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>

#include "db/db.h"
#include "db/ticket.h"

#define TICKET_ERROR (g_quark_from_static_string("aula-ticket-error"))

/* Used and expired tickets stay in the database a day, then go. */
#define PRUNE_AFTER (24 * 3600)
#define PRUNE_EVERY 3600
/* Draws of a secret before giving up on a hash collision (2^-48 each for VNC). */
#define ISSUE_ATTEMPTS 3

/* 64 characters, so that one random byte masked to 6 bits picks one without
 * bias; none needs escaping in a URL or a password field. */
static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A live VNC ticket's secret, kept to answer challenges until it expires. */
struct vnc_secret {
    char secret[TICKET_SECRET_LEN_VNC + 1];
    int64_t expires;
};

struct ticket_store {
    struct db *db;          /* borrowed */
    const int *lifetime;    /* borrowed */
    GPtrArray *vnc;         /* struct vnc_secret */
    int64_t pruned_at;
};

static void vnc_secret_free(struct vnc_secret *v)
{
    explicit_bzero(v, sizeof(*v));
    g_free(v);
}

struct ticket_store *ticket_store_new(struct db *db, const int *lifetime)
{
    struct ticket_store *store = g_new0(struct ticket_store, 1);

    store->db = db;
    store->lifetime = lifetime;
    store->vnc = g_ptr_array_new_with_free_func((GDestroyNotify)vnc_secret_free);
    return store;
}

void ticket_store_free(struct ticket_store *store)
{
    if (store == NULL)
        return;
    g_ptr_array_unref(store->vnc);
    g_free(store);
}

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static int fail(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(GError **error, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(TICKET_ERROR, err, fmt, ap);
    va_end(ap);
    return -err;
}

/* len characters from the kernel's CSPRNG. Caller frees (and wipes). */
static int random_secret(size_t len, char **secretp, GError **error)
{
    uint8_t buf[TICKET_SECRET_LEN_RDP];
    char *secret = NULL;
    size_t got = 0;
    int r = -EIO;

    g_assert(len <= sizeof(buf));
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            g_warning("%s: getrandom: %s", __func__, g_strerror(e));
            r = fail(error, EIO, "cannot draw a random ticket: %s", g_strerror(e));
            goto out;
        }
        got += (size_t)n;
    }
    secret = g_malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        secret[i] = alphabet[buf[i] & 63];
    secret[len] = '\0';
    *secretp = secret;
    r = 0;
out:
    explicit_bzero(buf, sizeof(buf));
    return r;
}

/* What the database keeps of a secret. Caller frees. */
static char *secret_hash(const char *secret)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, secret, -1);
}

static uint8_t reverse_bits(uint8_t b)
{
    b = (uint8_t)((b & 0xf0) >> 4 | (b & 0x0f) << 4);
    b = (uint8_t)((b & 0xcc) >> 2 | (b & 0x33) << 2);
    b = (uint8_t)((b & 0xaa) >> 1 | (b & 0x55) << 1);
    return b;
}

/* VNC authentication (RFC 6143 7.2.2): the challenge's two 8-byte blocks
 * encrypted with DES (ECB), keyed by the password's first 8 bytes, zero-padded.
 * The original VNC's DES code took each key byte with its bits in reverse
 * order, and every VNC viewer and server since does the same. */
static void vnc_response(const char *password, const uint8_t challenge[TICKET_VNC_CHALLENGE_SIZE],
                         uint8_t response[TICKET_VNC_CHALLENGE_SIZE])
{
    uint8_t key[DES_KEY_SIZE] = { 0 };
    struct des_ctx ctx;

    for (size_t i = 0; i < DES_KEY_SIZE && password[i]; i++)
        key[i] = reverse_bits((uint8_t)password[i]);
    /* des_set_key reports DES's weak keys (0); they still encrypt, and a
     * viewer uses them just the same, so the answer is taken either way. */
    (void)des_set_key(&ctx, key);
    des_encrypt(&ctx, TICKET_VNC_CHALLENGE_SIZE, response, challenge);
    explicit_bzero(key, sizeof(key));
    explicit_bzero(&ctx, sizeof(ctx));
}

/* Compare in time that does not depend on where a and b differ. */
static gboolean equal_const_time(const uint8_t *a, const uint8_t *b, size_t len)
{
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

/* Drop the VNC secrets that expired by now. */
static void drop_expired(struct ticket_store *store, int64_t now)
{
    for (guint i = store->vnc->len; i > 0; i--) {
        struct vnc_secret *v = g_ptr_array_index(store->vnc, i - 1);
        if (v->expires <= now)
            g_ptr_array_remove_index_fast(store->vnc, i - 1);
    }
}

/* Forget secret as a live VNC secret (used, or refused for good). */
static void drop_secret(struct ticket_store *store, const char *secret)
{
    for (guint i = 0; i < store->vnc->len; i++) {
        struct vnc_secret *v = g_ptr_array_index(store->vnc, i);
        if (strcmp(v->secret, secret) == 0) {
            g_ptr_array_remove_index_fast(store->vnc, i);
            return;
        }
    }
}

/* Now and then, forget old tickets in the database. */
static void prune(struct ticket_store *store, int64_t now)
{
    g_autoptr(GError) err = NULL;

    if (now - store->pruned_at < PRUNE_EVERY)
        return;
    store->pruned_at = now;
    /* db/ has logged a failure; the next round tries again. */
    if (db_ticket_prune(store->db, now - PRUNE_AFTER, &err) < 0)
        g_info("tickets: old tickets stay for now: %s", err->message);
}

int ticket_issue(struct ticket_store *store, const char *user, const char *pool,
                 const char *protocol, const char *client, char **secretp, int64_t *expiresp,
                 GError **error)
{
    g_autoptr(GError) err = NULL;
    gboolean vnc = g_strcmp0(protocol, "vnc") == 0;
    char *secret = NULL;
    int64_t now = now_s(), expires = now + *store->lifetime;
    int r = -EEXIST;

    if (!vnc && g_strcmp0(protocol, "rdp") != 0)
        return fail(error, EINVAL, "unknown protocol '%s': use rdp or vnc", protocol ? protocol : "");
    /* A clash of hashes means a clash of secrets: draw again. */
    for (int attempt = 0; attempt < ISSUE_ATTEMPTS && r == -EEXIST; attempt++) {
        g_autofree char *hash = NULL;

        if (secret)
            explicit_bzero(secret, strlen(secret));
        g_clear_pointer(&secret, g_free);
        g_clear_error(&err);
        r = random_secret(vnc ? TICKET_SECRET_LEN_VNC : TICKET_SECRET_LEN_RDP, &secret, &err);
        if (r < 0)
            goto out;
        hash = secret_hash(secret);
        r = db_ticket_add(store->db, user, pool, protocol, hash, expires, &err);
    }
    if (r < 0)
        goto out;
    if (vnc) {
        struct vnc_secret *v = g_new0(struct vnc_secret, 1);
        memcpy(v->secret, secret, sizeof(v->secret));
        v->expires = expires;
        g_ptr_array_add(store->vnc, v);
    }
    drop_expired(store, now);
    prune(store, now);
    g_info("tickets: %s ticket of %s for pool %s issued to %s, valid %d s", protocol, user, pool,
           client ? client : "?", *store->lifetime);
    *secretp = secret;
    secret = NULL;
    *expiresp = expires;
    r = 0;
out:
    if (secret)
        explicit_bzero(secret, strlen(secret));
    g_free(secret);
    if (err)
        g_propagate_error(error, g_steal_pointer(&err));
    return r;
}

/* Redeem the ticket of secret and write the audit row, either way. */
static int redeem(struct ticket_store *store, const char *secret, const char *protocol,
                  const char *client, char **userp, char **poolp, GError **error)
{
    g_autofree char *hash = secret_hash(secret), *user = NULL, *pool = NULL, *detail = NULL;
    g_autoptr(GError) err = NULL;
    const char *from = client ? client : "?";
    int r;

    r = db_ticket_use(store->db, hash, protocol, now_s(), &user, &pool, &err);
    if (r == 0 || r == -ENOENT || r == -EALREADY || r == -ETIMEDOUT)
        drop_secret(store, secret);
    if (r < 0) {
        detail = g_strdup_printf("%s from %s: %s", protocol, from, err->message);
        g_info("tickets: refused a ticket over %s from %s: %s", protocol, from, err->message);
        if (r != -EIO)
            db_audit_add(store->db, "anonymous", "ticket.redeem", "", NULL, NULL, "refused", detail,
                         NULL);
        g_propagate_error(error, g_steal_pointer(&err));
        return r;
    }
    detail = g_strdup_printf("%s from %s", protocol, from);
    /* The ticket is spent; if its audit row cannot be written, db/ has
     * logged why, and the user still gets in. */
    db_audit_add(store->db, user, "ticket.redeem", pool, user, pool, "ok", detail, NULL);
    g_info("tickets: %s redeemed a ticket for pool %s over %s from %s", user, pool, protocol, from);
    *userp = g_steal_pointer(&user);
    *poolp = g_steal_pointer(&pool);
    return 0;
}

int ticket_redeem(struct ticket_store *store, const char *secret, const char *protocol,
                  const char *client, char **userp, char **poolp, GError **error)
{
    if (g_strcmp0(protocol, "rdp") != 0 && g_strcmp0(protocol, "vnc") != 0)
        return fail(error, EINVAL, "unknown protocol '%s': use rdp or vnc", protocol ? protocol : "");
    if (secret == NULL)
        secret = "";
    return redeem(store, secret, protocol, client, userp, poolp, error);
}

int ticket_redeem_vnc(struct ticket_store *store, const uint8_t challenge[TICKET_VNC_CHALLENGE_SIZE],
                      const uint8_t response[TICKET_VNC_CHALLENGE_SIZE], const char *client,
                      char **userp, char **poolp, GError **error)
{
    char secret[TICKET_SECRET_LEN_VNC + 1] = "";
    gboolean found = FALSE;
    int r;

    drop_expired(store, now_s());
    /* Every live secret is tried, so the time taken tells nothing of which
     * one (if any) answered. */
    for (guint i = 0; i < store->vnc->len; i++) {
        struct vnc_secret *v = g_ptr_array_index(store->vnc, i);
        uint8_t expect[TICKET_VNC_CHALLENGE_SIZE];

        vnc_response(v->secret, challenge, expect);
        if (equal_const_time(expect, response, sizeof(expect)) && !found) {
            memcpy(secret, v->secret, sizeof(secret));
            found = TRUE;
        }
        explicit_bzero(expect, sizeof(expect));
    }
    if (!found) {
        g_autofree char *detail = g_strdup_printf("vnc from %s: no ticket answers the challenge",
                                                  client ? client : "?");
        g_info("tickets: refused a VNC ticket from %s: no ticket answers the challenge",
               client ? client : "?");
        db_audit_add(store->db, "anonymous", "ticket.redeem", "", NULL, NULL, "refused", detail,
                     NULL);
        return fail(error, ENOENT, "unknown ticket");
    }
    r = redeem(store, secret, "vnc", client, userp, poolp, error);
    explicit_bzero(secret, sizeof(secret));
    return r;
}
