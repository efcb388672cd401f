/* peer: credentials of admin API clients. */
#include "config.h"

#include "broker/peer.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_ERROR (g_quark_from_static_string("aula-peer-error"))

char *peer_user_name(uid_t uid)
{
    g_autofree char *buf = NULL;
    struct passwd pw, *res = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);

    if (size <= 0)
        size = 16384;
    buf = g_malloc((gsize)size);
    if (getpwuid_r(uid, &pw, buf, (size_t)size, &res) == 0 && res != NULL)
        return g_strdup(pw.pw_name);
    return g_strdup_printf("uid %u", (unsigned)uid);
}

int peer_from_socket(GSocket *sock, struct peer *p, GError **error)
{
    g_autoptr(GCredentials) creds = NULL;
    g_autoptr(GError) err = NULL;
    uid_t uid;

    creds = g_socket_get_credentials(sock, &err);
    if (creds == NULL) {
        g_set_error(error, PEER_ERROR, EACCES, "cannot read the peer's credentials: %s",
                    err->message);
        return -EACCES;
    }
    uid = g_credentials_get_unix_user(creds, &err);
    if (uid == (uid_t)-1) {
        g_set_error(error, PEER_ERROR, EACCES, "cannot read the peer's user: %s", err->message);
        return -EACCES;
    }
    p->uid = uid;
    p->pid = g_credentials_get_unix_pid(creds, NULL);
#ifdef __linux__
    {
        const struct ucred *uc = g_credentials_get_native(creds, G_CREDENTIALS_TYPE_LINUX_UCRED);
        p->gid = uc ? uc->gid : (gid_t)-1;
    }
#else
    p->gid = (gid_t)-1;
#endif
    p->name = peer_user_name(uid);
    return 0;
}

void peer_clear(struct peer *p)
{
    g_clear_pointer(&p->name, g_free);
}

/* The gid of the group called name; FALSE if there is none. */
static gboolean group_gid(const char *name, gid_t *gidp)
{
    g_autofree char *buf = NULL;
    struct group gr, *res = NULL;
    long size = sysconf(_SC_GETGR_R_SIZE_MAX);

    if (size <= 0)
        size = 16384;
    buf = g_malloc((gsize)size);
    if (getgrnam_r(name, &gr, buf, (size_t)size, &res) != 0 || res == NULL)
        return FALSE;
    *gidp = gr.gr_gid;
    return TRUE;
}

/* Is the user uid a member of group gid in the group database? */
static gboolean user_in_group(uid_t uid, gid_t gid)
{
    g_autofree char *buf = NULL;
    g_autofree gid_t *groups = NULL;
    struct passwd pw, *res = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    int n = 64;

    if (size <= 0)
        size = 16384;
    buf = g_malloc((gsize)size);
    if (getpwuid_r(uid, &pw, buf, (size_t)size, &res) != 0 || res == NULL)
        return FALSE;
    if (pw.pw_gid == gid)
        return TRUE;
    groups = g_new(gid_t, n);
    if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0) {
        groups = g_renew(gid_t, groups, n);
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
            return FALSE;
    }
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return TRUE;
    return FALSE;
}

gboolean peer_is_admin(uid_t uid, gid_t gid, const char *admin_group)
{
    gid_t admin_gid;

    if (uid == 0)
        return TRUE;
    if (admin_group == NULL || admin_group[0] == '\0' || !group_gid(admin_group, &admin_gid))
        return FALSE;
    return gid == admin_gid || user_in_group(uid, admin_gid);
}
