/* proto: encoding and decoding of the session <-> broker messages. */
#include "config.h"

#include "display/proto.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROTO_DOMAIN (g_quark_from_static_string("aula-proto-error"))

enum field_kind { F_STRING, F_U32, F_U64, F_U8, F_BOOL, F_STRV };

struct field {
    enum field_kind kind;
    size_t offset; /* into struct proto_msg */
};

#define STR(f) { F_STRING, offsetof(struct proto_msg, f) }
#define U32(f) { F_U32, offsetof(struct proto_msg, f) }
#define U64(f) { F_U64, offsetof(struct proto_msg, f) }
#define U8(f) { F_U8, offsetof(struct proto_msg, f) }
#define BOOL(f) { F_BOOL, offsetof(struct proto_msg, f) }
#define STRV(f) { F_STRV, offsetof(struct proto_msg, f) }

/* The fields of each type, in wire order. */
static const struct {
    const char *name;
    struct field fields[6];
    int n;
} schema[PROTO_TYPE_MAX] = {
    [PROTO_AUTHENTICATE] = { "AUTHENTICATE", { STR(user), STR(password), STR(pool), STR(protocol), STR(client) }, 5 },
    [PROTO_REDEEM_TICKET] = { "REDEEM_TICKET", { STR(ticket), STR(protocol), STR(client) }, 3 },
    [PROTO_ALLOCATE] = { "ALLOCATE", { STR(pool) }, 1 },
    [PROTO_CONNECTED] = { "CONNECTED", { STR(encoding) }, 1 },
    [PROTO_DISCONNECTED] = { "DISCONNECTED", { STR(text) }, 1 },
    [PROTO_LOGOFF] = { "LOGOFF", { STR(text) }, 1 },
    [PROTO_STATS] = { "STATS", { STR(encoding), U64(bytes), U32(fps), U32(idle) }, 4 },
    [PROTO_AUTH_RESULT] = { "AUTH_RESULT", { BOOL(ok), STR(user), STRV(pools), STR(text) }, 4 },
    [PROTO_PROGRESS] = { "PROGRESS", { U8(percent), STR(text) }, 2 },
    [PROTO_VM_READY] = { "VM_READY", { STR(vm) }, 1 },
    [PROTO_ERROR] = { "ERROR", { U32(code), STR(text) }, 2 },
};

static gboolean type_known(unsigned type)
{
    return type > 0 && type < PROTO_TYPE_MAX && schema[type].name != NULL;
}

const char *proto_type_name(enum proto_type type)
{
    return type_known(type) ? schema[type].name : "UNKNOWN";
}

static char **str_field(struct proto_msg *m, const struct field *f)
{
    return (char **)((char *)m + f->offset);
}

struct proto_msg *proto_msg_new(enum proto_type type)
{
    struct proto_msg *m = g_new0(struct proto_msg, 1);

    m->type = type;
    if (type_known(type)) {
        for (int i = 0; i < schema[type].n; i++) {
            const struct field *f = &schema[type].fields[i];
            if (f->kind == F_STRING)
                *str_field(m, f) = g_strdup("");
            else if (f->kind == F_STRV)
                *(char ***)str_field(m, f) = g_new0(char *, 1);
        }
    }
    return m;
}

void proto_msg_free(struct proto_msg *m)
{
    if (m == NULL)
        return;
    g_free(m->user);
    if (m->password) {
        explicit_bzero(m->password, strlen(m->password));
        g_free(m->password);
    }
    g_free(m->pool);
    g_free(m->protocol);
    g_free(m->client);
    if (m->ticket) {
        explicit_bzero(m->ticket, strlen(m->ticket));
        g_free(m->ticket);
    }
    g_free(m->encoding);
    g_free(m->text);
    g_free(m->vm);
    g_strfreev(m->pools);
    g_free(m);
}

/* ---- encoding ---- */

static int bad(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int bad(GError **error, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error && *error == NULL)
        *error = g_error_new_valist(PROTO_DOMAIN, err, fmt, ap);
    va_end(ap);
    return -err;
}

static void put_u16(GByteArray *out, unsigned v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
    g_byte_array_append(out, b, 2);
}

static void put_u32(GByteArray *out, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    g_byte_array_append(out, b, 4);
}

static int check_string(const char *s, GError **error)
{
    size_t len = s ? strlen(s) : 0;

    if (len > PROTO_STRING_MAX)
        return bad(error, EINVAL, "a string of %zu bytes is over the limit of %d", len, PROTO_STRING_MAX);
    if (s && !g_utf8_validate(s, (gssize)len, NULL))
        return bad(error, EINVAL, "a string is not valid UTF-8");
    return 0;
}

static void put_string(GByteArray *out, const char *s)
{
    size_t len = s ? strlen(s) : 0;

    put_u16(out, (unsigned)len);
    if (len)
        g_byte_array_append(out, (const uint8_t *)s, (guint)len);
}

int proto_encode(const struct proto_msg *m, GByteArray *out, GError **error)
{
    guint start = out->len;
    int r = 0;

    if (!type_known(m->type))
        return bad(error, EINVAL, "unknown message type %d", (int)m->type);
    put_u32(out, 0); /* length, filled in below */
    put_u16(out, (unsigned)m->type);
    put_u16(out, PROTO_VERSION);
    for (int i = 0; i < schema[m->type].n && r == 0; i++) {
        const struct field *f = &schema[m->type].fields[i];
        const void *p = (const char *)m + f->offset;
        switch (f->kind) {
        case F_STRING:
            r = check_string(*(char *const *)p, error);
            if (r == 0)
                put_string(out, *(char *const *)p);
            break;
        case F_U32:
            put_u32(out, *(const uint32_t *)p);
            break;
        case F_U64:
            put_u32(out, (uint32_t)(*(const uint64_t *)p >> 32));
            put_u32(out, (uint32_t)*(const uint64_t *)p);
            break;
        case F_U8: {
            uint8_t v = *(const uint8_t *)p;
            if (m->type == PROTO_PROGRESS && v > 100)
                r = bad(error, EINVAL, "progress %u%% is over 100", v);
            else
                g_byte_array_append(out, &v, 1);
            break;
        }
        case F_BOOL: {
            uint8_t v = *(const gboolean *)p ? 1 : 0;
            g_byte_array_append(out, &v, 1);
            break;
        }
        case F_STRV: {
            char *const *v = *(char **const *)p;
            guint n = v ? g_strv_length((char **)v) : 0;
            if (n > PROTO_STRV_MAX) {
                r = bad(error, EINVAL, "a list of %u strings is over the limit of %d", n, PROTO_STRV_MAX);
                break;
            }
            put_u16(out, n);
            for (guint k = 0; k < n && r == 0; k++) {
                r = check_string(v[k], error);
                if (r == 0)
                    put_string(out, v[k]);
            }
            break;
        }
        }
    }
    if (r == 0 && out->len - start - PROTO_HEADER_SIZE > PROTO_PAYLOAD_MAX)
        r = bad(error, EINVAL, "the message is over %d bytes", PROTO_PAYLOAD_MAX);
    if (r < 0) {
        g_byte_array_set_size(out, start);
        return r;
    }
    {
        uint32_t len = out->len - start - PROTO_HEADER_SIZE;
        out->data[start] = (uint8_t)(len >> 24);
        out->data[start + 1] = (uint8_t)(len >> 16);
        out->data[start + 2] = (uint8_t)(len >> 8);
        out->data[start + 3] = (uint8_t)len;
    }
    return 0;
}

/* ---- decoding ---- */

struct reader {
    const uint8_t *p;
    size_t left;
};

static gboolean get_bytes(struct reader *rd, size_t n, const uint8_t **out)
{
    if (rd->left < n)
        return FALSE;
    *out = rd->p;
    rd->p += n;
    rd->left -= n;
    return TRUE;
}

static gboolean get_u16(struct reader *rd, unsigned *v)
{
    const uint8_t *b;

    if (!get_bytes(rd, 2, &b))
        return FALSE;
    *v = (unsigned)b[0] << 8 | b[1];
    return TRUE;
}

/* A string field; NULL on a malformed one. */
static char *get_string(struct reader *rd, const char **why)
{
    const uint8_t *b;
    unsigned len;

    if (!get_u16(rd, &len) || !get_bytes(rd, len, &b)) {
        *why = "a string runs past the end";
        return NULL;
    }
    if (len > PROTO_STRING_MAX) {
        *why = "a string is over the limit";
        return NULL;
    }
    if (memchr(b, '\0', len) != NULL || !g_utf8_validate((const char *)b, len, NULL)) {
        *why = "a string is not valid UTF-8 text";
        return NULL;
    }
    return g_strndup((const char *)b, len);
}

gssize proto_decode(const uint8_t *buf, size_t len, struct proto_msg **msgp, GError **error)
{
    struct reader rd;
    struct proto_msg *m;
    const char *why = NULL;
    uint32_t plen;
    unsigned type, version;

    if (len < PROTO_HEADER_SIZE)
        return 0;
    plen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    type = (unsigned)buf[4] << 8 | buf[5];
    version = (unsigned)buf[6] << 8 | buf[7];
    /* Judge the header before waiting for a payload that may never come. */
    if (plen > PROTO_PAYLOAD_MAX)
        return bad(error, EBADMSG, "a message of %u bytes is over the limit of %d", plen, PROTO_PAYLOAD_MAX);
    if (version != PROTO_VERSION)
        return bad(error, EBADMSG, "protocol version %u, expected %d", version, PROTO_VERSION);
    if (!type_known(type))
        return bad(error, EBADMSG, "unknown message type %u", type);
    if (len - PROTO_HEADER_SIZE < plen)
        return 0;
    rd.p = buf + PROTO_HEADER_SIZE;
    rd.left = plen;
    m = g_new0(struct proto_msg, 1);
    m->type = (enum proto_type)type;
    for (int i = 0; i < schema[type].n && why == NULL; i++) {
        const struct field *f = &schema[type].fields[i];
        void *p = (char *)m + f->offset;
        const uint8_t *b;

        switch (f->kind) {
        case F_STRING:
            *(char **)p = get_string(&rd, &why);
            break;
        case F_U32:
            if (get_bytes(&rd, 4, &b))
                *(uint32_t *)p = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
            else
                why = "a number runs past the end";
            break;
        case F_U64:
            if (get_bytes(&rd, 8, &b)) {
                uint64_t v = 0;
                for (int k = 0; k < 8; k++)
                    v = v << 8 | b[k];
                *(uint64_t *)p = v;
            } else {
                why = "a number runs past the end";
            }
            break;
        case F_U8:
            if (!get_bytes(&rd, 1, &b))
                why = "a number runs past the end";
            else if (type == PROTO_PROGRESS && b[0] > 100)
                why = "progress is over 100%";
            else
                *(uint8_t *)p = b[0];
            break;
        case F_BOOL:
            if (!get_bytes(&rd, 1, &b) || b[0] > 1)
                why = "a boolean is not 0 or 1";
            else
                *(gboolean *)p = b[0] == 1;
            break;
        case F_STRV: {
            unsigned n;
            char **v;
            if (!get_u16(&rd, &n) || n > PROTO_STRV_MAX) {
                why = "a list is too long or runs past the end";
                break;
            }
            v = g_new0(char *, n + 1);
            *(char ***)p = v;
            for (unsigned k = 0; k < n && why == NULL; k++)
                v[k] = get_string(&rd, &why);
            break;
        }
        }
    }
    if (why == NULL && rd.left != 0)
        why = "bytes follow the last field";
    if (why) {
        bad(error, EBADMSG, "malformed %s message: %s", schema[type].name, why);
        proto_msg_free(m);
        return -EBADMSG;
    }
    *msgp = m;
    return (gssize)(PROTO_HEADER_SIZE + plen);
}

/* ---- sockets ---- */

int proto_send(int sock, const struct proto_msg *msg, int fd, GError **error)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    size_t done = 0;
    int r;

    r = proto_encode(msg, out, error);
    if (r < 0)
        return r;
    while (done < out->len) {
        struct iovec iov = { out->data + done, out->len - done };
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        /* The fd goes with the first byte of the message. */
        if (fd >= 0 && done == 0) {
            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = sizeof(ctl.buf);
            CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
            CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
            CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), &fd, sizeof(int));
        }
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bad(error, errno, "cannot send a %s message: %s", proto_type_name(msg->type),
                       g_strerror(errno));
        done += (size_t)n;
    }
    return 0;
}

/* Read exactly n bytes; the first read may bring an fd. */
static int read_full(int sock, uint8_t *buf, size_t n, int *fdp, GError **error)
{
    size_t got = 0;

    while (got < n) {
        struct iovec iov = { buf + got, n - got };
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return bad(error, errno, "cannot receive: %s", g_strerror(errno));
        if (r == 0)
            return bad(error, ECONNRESET, "the peer closed the connection");
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                int fds[4];
                memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)MIN(nfds, 4));
                for (int i = 0; i < MIN(nfds, 4); i++) {
                    if (*fdp < 0)
                        *fdp = fds[i];
                    else
                        close(fds[i]); /* one fd per message, at most */
                }
            }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
            if (*fdp >= 0)
                close(*fdp);
            *fdp = -1;
            return bad(error, EBADMSG, "more file descriptors than one arrived");
        }
        got += (size_t)r;
    }
    return 0;
}

int proto_recv(int sock, struct proto_msg **msgp, int *fdp, GError **error)
{
    uint8_t head[PROTO_HEADER_SIZE];
    g_autofree uint8_t *buf = NULL;
    struct proto_msg *m = NULL;
    uint32_t plen;
    int fd = -1, r;
    gssize n;

    r = read_full(sock, head, sizeof(head), &fd, error);
    if (r == 0) {
        /* Let the decoder judge the header before a large read. */
        n = proto_decode(head, sizeof(head), &m, error);
        if (n < 0)
            r = (int)n;
    }
    if (r == 0 && m == NULL) {
        plen = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
        buf = g_malloc(PROTO_HEADER_SIZE + plen);
        memcpy(buf, head, PROTO_HEADER_SIZE);
        r = read_full(sock, buf + PROTO_HEADER_SIZE, plen, &fd, error);
        if (r == 0) {
            n = proto_decode(buf, PROTO_HEADER_SIZE + plen, &m, error);
            r = n < 0 ? (int)n : 0;
        }
    }
    if (r == 0 && fd >= 0 && m->type != PROTO_VM_READY) {
        r = bad(error, EBADMSG, "a %s message came with a file descriptor", proto_type_name(m->type));
        proto_msg_free(m);
        m = NULL;
    }
    if (r < 0) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    *msgp = m;
    *fdp = fd;
    return 0;
}
