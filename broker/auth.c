/* auth: password hashing with libxcrypt and the local user backend. */
#include "config.h"

#include "broker/auth.h"

#include <crypt.h>
#include <errno.h>
#include <string.h>

#include "db/db.h"

#define AUTH_ERROR (g_quark_from_static_string("aula-auth-error"))
/* The longest password crypt_r() takes: CRYPT_MAX_PASSPHRASE_SIZE counts the NUL.
 * A longer one would pass the rules and then fail to hash. */
#define PASSWORD_MAX (CRYPT_MAX_PASSPHRASE_SIZE - 1)

/* yescrypt at libxcrypt's default cost. */
#define HASH_PREFIX "$y$"

int auth_password_acceptable(const char *password, GError **error)
{
    size_t len = password ? strlen(password) : 0;

    if (len == 0) {
        g_set_error(error, AUTH_ERROR, EINVAL, "the password is empty");
        return -EINVAL;
    }
    if (len > PASSWORD_MAX) {
        g_set_error(error, AUTH_ERROR, EINVAL, "the password is longer than %d bytes", PASSWORD_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)password[i] < 0x20 || password[i] == 0x7f) {
            g_set_error(error, AUTH_ERROR, EINVAL, "the password contains a control character");
            return -EINVAL;
        }
    }
    if (!g_utf8_validate(password, -1, NULL)) {
        g_set_error(error, AUTH_ERROR, EINVAL, "the password is not valid UTF-8");
        return -EINVAL;
    }
    return 0;
}

int auth_hash_password(const char *password, char **hashp, GError **error)
{
    struct crypt_data *cd = NULL;
    char *salt = NULL;
    int r;

    r = auth_password_acceptable(password, error);
    if (r < 0)
        return r;
    /* NULL random bytes: libxcrypt reads the salt from the kernel's CSPRNG. */
    salt = crypt_gensalt_ra(HASH_PREFIX, 0, NULL, 0);
    if (salt == NULL) {
        r = -EIO;
        g_set_error(error, AUTH_ERROR, EIO, "cannot make a password salt: %s", g_strerror(errno));
        goto out;
    }
    cd = g_new0(struct crypt_data, 1);
    if (crypt_r(password, salt, cd) == NULL || cd->output[0] != '$') {
        r = -EIO;
        g_set_error(error, AUTH_ERROR, EIO, "cannot hash the password: %s", g_strerror(errno));
        goto out;
    }
    *hashp = g_strdup(cd->output);
    r = 0;
out:
    if (cd)
        explicit_bzero(cd, sizeof(*cd));
    g_free(cd);
    free(salt);
    return r;
}

/* Compare in time that depends only on the lengths. */
static gboolean equal_const_time(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int auth_check_hash(const char *password, const char *hash)
{
    struct crypt_data *cd = g_new0(struct crypt_data, 1);
    int r = -EACCES;

    if (password && hash && hash[0] == '$' && crypt_r(password, hash, cd) != NULL &&
        cd->output[0] == '$' && equal_const_time(cd->output, hash))
        r = 0;
    explicit_bzero(cd, sizeof(*cd));
    g_free(cd);
    return r;
}

/* A hash of nothing in particular, checked for unknown users so that a
 * refusal takes as long whether or not the user exists. */
static const char *dummy_hash(void)
{
    static gsize hash;

    if (g_once_init_enter(&hash)) {
        char *h = NULL;
        if (auth_hash_password("aula-dummy-password", &h, NULL) < 0)
            h = g_strdup("$y$j9T$aaaaaaaaaaaaaaaaaaaaaa$");
        g_once_init_leave(&hash, (gsize)h);
    }
    return (const char *)hash;
}

static int local_verify(void *ctx, const char *user, const char *password, GError **error)
{
    struct db *db = ctx;
    g_autoptr(GError) err = NULL;
    struct db_user *u = NULL;
    int r;

    r = db_user_get(db, user, &u, &err);
    if (r == -ENOENT) {
        auth_check_hash(password ? password : "", dummy_hash());
        r = -EACCES;
    } else if (r < 0) {
        g_set_error(error, AUTH_ERROR, EIO, "%s", err->message);
        return -EIO;
    } else if (auth_check_hash(password, u->password_hash) < 0 || u->disabled) {
        r = -EACCES;
    }
    db_user_free(u);
    if (r == -EACCES)
        g_set_error(error, AUTH_ERROR, EACCES, "wrong user name or password");
    return r;
}

const struct auth_impl auth_local_impl = {
    .name = "local",
    .verify = local_verify,
};

int auth_verify(const struct auth *auth, const char *user, const char *password, GError **error)
{
    return auth->impl->verify(auth->ctx, user, password, error);
}
