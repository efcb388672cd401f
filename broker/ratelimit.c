/* ratelimit: failure counts per key (see ratelimit.h).
 *
 * Each key has a count and the time its window started. The first failure
 * starts a window of *window seconds; failures inside it are counted. The
 * failure that brings the count to *max starts the window again, so a lockout
 * always lasts the full *window seconds from the last allowed failure, and
 * while it lasts the key is refused. When a window has passed without a
 * lockout, the key starts afresh. So a key gets at most *max - 1 failures per
 * window on average, and memory is one small entry per key that failed
 * recently. */
#include "config.h"

#include "broker/ratelimit.h"

#include <gio/gio.h>
#include <string.h>

/* Sweep expired keys when the table has grown by this much since the last sweep. */
#define SWEEP_MIN 256
/* At most this many keys; past it, the keys that are not locked out go first. */
#define KEYS_MAX 65536

struct entry {
    int count;
    int64_t since; /* start of the window */
};

struct ratelimit {
    const int *max;     /* borrowed */
    const int *window;  /* borrowed */
    GHashTable *keys;   /* char * -> struct entry * */
    guint sweep_at;     /* table size that triggers the next sweep */
    gboolean warned;
};

struct ratelimit *ratelimit_new(const int *max, const int *window)
{
    struct ratelimit *rl = g_new0(struct ratelimit, 1);

    rl->max = max;
    rl->window = window;
    rl->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    rl->sweep_at = SWEEP_MIN;
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    g_hash_table_unref(rl->keys);
    g_free(rl);
}

static gboolean expired(const struct ratelimit *rl, const struct entry *e, int64_t now)
{
    return now >= e->since + *rl->window;
}

static gboolean locked(const struct ratelimit *rl, const struct entry *e, int64_t now)
{
    return !expired(rl, e, now) && e->count >= *rl->max;
}

/* Drop the keys whose window has passed; when still full, also those that
 * are not locked out (they lose a few counted failures, not a lockout). */
static void sweep(struct ratelimit *rl, int64_t now)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, rl->keys);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        if (expired(rl, value, now))
            g_hash_table_iter_remove(&it);
    }
    if (g_hash_table_size(rl->keys) >= KEYS_MAX) {
        g_hash_table_iter_init(&it, rl->keys);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            if (!locked(rl, value, now))
                g_hash_table_iter_remove(&it);
        }
    }
    rl->sweep_at = MAX(SWEEP_MIN, 2 * g_hash_table_size(rl->keys));
}

gboolean ratelimit_allowed(struct ratelimit *rl, const char *key, int64_t now,
                           int64_t *retry_afterp)
{
    struct entry *e = g_hash_table_lookup(rl->keys, key);

    if (e == NULL)
        return TRUE;
    if (expired(rl, e, now)) {
        g_hash_table_remove(rl->keys, key);
        return TRUE;
    }
    if (e->count < *rl->max)
        return TRUE;
    if (retry_afterp)
        *retry_afterp = MAX(1, e->since + *rl->window - now);
    return FALSE;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now)
{
    struct entry *e = g_hash_table_lookup(rl->keys, key);

    if (e == NULL) {
        if (g_hash_table_size(rl->keys) >= rl->sweep_at)
            sweep(rl, now);
        if (g_hash_table_size(rl->keys) >= KEYS_MAX) {
            /* Every tracked key is locked out: this one goes uncounted rather
             * than let memory grow without bound. */
            if (!rl->warned)
                g_warning("%s: %d keys are locked out; further ones are not counted",
                          __func__, KEYS_MAX);
            rl->warned = TRUE;
            return;
        }
        e = g_new0(struct entry, 1);
        e->since = now;
        g_hash_table_insert(rl->keys, g_strdup(key), e);
    } else if (expired(rl, e, now)) {
        e->count = 0;
        e->since = now;
    }
    if (e->count < *rl->max) {
        e->count++;
        if (e->count == *rl->max)
            e->since = now;
    }
}

void ratelimit_clear(struct ratelimit *rl, const char *key)
{
    g_hash_table_remove(rl->keys, key);
}

char *ratelimit_addr_key(const char *address)
{
    g_autoptr(GInetAddress) a = address ? g_inet_address_new_from_string(address) : NULL;
    g_autoptr(GInetAddress) prefix = NULL;
    g_autofree char *text = NULL;
    const guint8 *b;
    guint8 net[16] = { 0 };
    static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (a == NULL || g_inet_address_get_family(a) != G_SOCKET_FAMILY_IPV6)
        return g_strdup(address ? address : "");
    b = g_inet_address_to_bytes(a);
    if (memcmp(b, mapped, sizeof(mapped)) == 0)
        return g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    memcpy(net, b, 8);
    prefix = g_inet_address_new_from_bytes(net, G_SOCKET_FAMILY_IPV6);
    text = g_inet_address_to_string(prefix);
    return g_strdup_printf("%s/64", text);
}
