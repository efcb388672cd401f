/* proto: the messages between aulad and an aula-session process.
 *
 * aulad accepts a client connection and starts one aula-session for it,
 * connected to aulad by a socketpair. Everything the session learns from its
 * untrusted client that needs the broker (credentials, a ticket, which pool)
 * crosses that socketpair as one of these messages, and so do the broker's
 * answers; the VM's display reaches the session as a file descriptor passed
 * with SCM_RIGHTS beside a VM_READY message.
 *
 * Wire format (all integers big-endian):
 *   u32 payload length | u16 type | u16 version (1) | payload
 * The payload is the type's fields in a fixed order (see proto.c):
 *   string  u16 length, then that many bytes of UTF-8, no NUL, at most
 *           PROTO_STRING_MAX bytes
 *   u64     8 bytes;  u32  4 bytes;  u8  1 byte (a boolean is 0 or 1)
 *   strv    u16 count (at most PROTO_STRV_MAX), then that many strings
 * A message is at most PROTO_PAYLOAD_MAX bytes of payload, and nothing may
 * follow its last field. Anything else is malformed: the receiver drops the
 * peer (the broker ends the session). */
#ifndef AULA_PROTO_H
#define AULA_PROTO_H

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTO_VERSION 1
#define PROTO_HEADER_SIZE 8
#define PROTO_PAYLOAD_MAX (64 * 1024)
#define PROTO_STRING_MAX 4096
#define PROTO_STRV_MAX 256

enum proto_type {
    /* session -> broker */
    PROTO_AUTHENTICATE = 1, /* user, password, pool (may be ""), protocol, client */
    PROTO_REDEEM_TICKET,    /* ticket, protocol, client */
    PROTO_ALLOCATE,         /* pool */
    PROTO_CONNECTED,        /* encoding: the client is looking at the desktop */
    PROTO_DISCONNECTED,     /* text: the client went away (the VM stays the user's) */
    PROTO_LOGOFF,           /* text: the user is done (the VM is released) */
    PROTO_STATS,            /* encoding, bytes, fps, idle: every few seconds while connected */
    /* broker -> session */
    PROTO_AUTH_RESULT,      /* ok, user, pools, text */
    PROTO_PROGRESS,         /* percent, text: while a VM is prepared */
    PROTO_VM_READY,         /* vm: the display's fd travels with it */
    PROTO_ERROR,            /* code (an errno), text; the broker then closes */
    PROTO_TYPE_MAX
};

struct proto_msg {
    enum proto_type type;
    char *user;
    char *password;
    char *pool;
    char *protocol;   /* "rdp" or "vnc" */
    char *client;     /* the client's address */
    char *ticket;
    char *encoding;
    char *text;
    char *vm;
    char **pools;     /* NULL-terminated */
    uint64_t bytes;   /* sent to the client so far */
    uint32_t fps;     /* frames sent in the last second */
    uint32_t idle;    /* seconds since the client's last input */
    uint32_t code;
    uint8_t percent;  /* 0..100 */
    gboolean ok;
};

/* The type's name ("AUTHENTICATE"), or "UNKNOWN". */
const char *proto_type_name(enum proto_type type);

/* A message of type with every field empty (strings "", pools empty).
 * Caller frees with proto_msg_free. */
struct proto_msg *proto_msg_new(enum proto_type type);
void proto_msg_free(struct proto_msg *msg);

/* Append msg's wire form to out. -EINVAL (and out unchanged) when a field
 * breaks a limit, so a sender finds its own mistakes. */
int proto_encode(const struct proto_msg *msg, GByteArray *out, GError **error);

/* Decode the message at the start of buf. Returns the bytes it took (> 0) and
 * sets *msgp; 0 when buf holds only part of one (read more); -EBADMSG (with
 * the reason) when it is malformed. */
gssize proto_decode(const uint8_t *buf, size_t len, struct proto_msg **msgp, GError **error);

/* Send msg on a connected UNIX socket, with fd attached when fd >= 0.
 * Blocks until all is written. */
int proto_send(int sock, const struct proto_msg *msg, int fd, GError **error);

/* Receive one message (and the fd sent with it, or -1) from a UNIX socket,
 * blocking. -ECONNRESET at end of stream, -EBADMSG when malformed. A message
 * that carries an fd it should not (any but VM_READY) is malformed, and the fd
 * is closed. Caller frees *msgp and closes *fdp. */
int proto_recv(int sock, struct proto_msg **msgp, int *fdp, GError **error);

#endif
