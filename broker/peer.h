/* peer: who is on the other end of a UNIX socket (SO_PEERCRED), and may they
 * administer aula? */
#ifndef AULA_PEER_H
#define AULA_PEER_H

#include <gio/gio.h>
#include <sys/types.h>

struct peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char *name; /* "root", "alice", or "uid 1234" when the uid has no passwd entry */
};

/* Read the peer credentials of a connected UNIX socket into *p (clear with peer_clear). */
int peer_from_socket(GSocket *sock, struct peer *p, GError **error);
void peer_clear(struct peer *p);

/* Root, or a member of admin_group (primary or supplementary, as the system's
 * group database says). An empty or unknown group admits root only. */
gboolean peer_is_admin(uid_t uid, gid_t gid, const char *admin_group);

/* The user name of uid, or "uid N". Caller frees. */
char *peer_user_name(uid_t uid);

#endif
