/* auth: who is this user? Password checks behind a small backend vtable
 * (local users in the database now, PAM later), and password hashing. */
#ifndef AULA_AUTH_H
#define AULA_AUTH_H

#include <glib.h>

struct db;

struct auth_impl {
    const char *name;
    /* 0 when password is right for user. A wrong password, an unknown user and a
     * disabled user all give the same -EACCES, so callers cannot tell them apart
     * to an attacker; -EIO when the backend itself failed. */
    int (*verify)(void *ctx, const char *user, const char *password, GError **error);
};

struct auth {
    const struct auth_impl *impl;
    void *ctx; /* borrowed: the backend's state */
};

/* Local users: ctx is a struct db *. */
extern const struct auth_impl auth_local_impl;

int auth_verify(const struct auth *auth, const char *user, const char *password, GError **error);

/* Refuse passwords that cannot be stored or typed: empty, over 511 bytes
 * (what libxcrypt can hash), containing control characters or not UTF-8
 * (-EINVAL with a reason). */
int auth_password_acceptable(const char *password, GError **error);

/* Hash password with yescrypt and a fresh random salt. Caller frees *hashp. */
int auth_hash_password(const char *password, char **hashp, GError **error);

/* 0 when password matches hash (a crypt(5) string), else -EACCES. */
int auth_check_hash(const char *password, const char *hash);

#endif
