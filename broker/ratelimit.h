/* ratelimit: counts failures per key (a user name, a client address) over a
 * sliding window, so logins and ticket guesses can be refused after too many. */
#ifndef AULA_RATELIMIT_H
#define AULA_RATELIMIT_H

#include <glib.h>
#include <stdint.h>

struct ratelimit;

/* max failures within window seconds; both are read through the pointers at
 * each call so a reloaded setting applies at once (borrowed). */
struct ratelimit *ratelimit_new(const int *max, const int *window);
void ratelimit_free(struct ratelimit *rl);

/* TRUE when key may try now; otherwise *retry_afterp (when not NULL) says
 * in how many seconds it may. now is unix time (seconds). */
gboolean ratelimit_allowed(struct ratelimit *rl, const char *key, int64_t now, int64_t *retry_afterp);
/* Count a failure of key at now. */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now);
/* A success of key clears its failures. */
void ratelimit_clear(struct ratelimit *rl, const char *key);

/* The key to count a client address under, so every path that counts
 * addresses agrees: an IPv4 address as it is (also when it comes as
 * ::ffff:a.b.c.d from a dual-stack socket), an IPv6 address by its /64, since
 * one host usually holds a whole /64. Anything else is returned as it is.
 * Caller frees. */
char *ratelimit_addr_key(const char *address);

#endif
