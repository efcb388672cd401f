/* session: client connections, their aula-session processes, and the
 * session rows' lifecycle (see session.h). */
#include "config.h"

#include "broker/session.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/auth.h"
#include "broker/conf.h"
#include "broker/pool.h"
#include "broker/ratelimit.h"
#include "broker/ticket.h"
#include "db/db.h"
#include "display/proto.h"

#define SESSION_ERROR (g_quark_from_static_string("aula-session-error"))
#define SWEEP_INTERVAL_S 2
/* A session process gets this long to go after it is told to. */
#define KILL_GRACE_S 5
/* Bounds a write to a session that stopped reading. */
#define SEND_TIMEOUT_S 2

enum conn_state { C_NEW, C_AUTHED, C_ALLOCATING, C_READY, C_CONNECTED, C_OVER };

static const char *const conn_state_names[] = { "new", "authenticated", "allocating", "ready",
                                                "connected", "over" };

struct listener {
    char *protocol;
    char *address;      /* "ADDR port N" */
    GSocketService *service;
    char *error;        /* why it is not listening, or NULL */
};

struct conn {
    struct session_mgr *mgr;
    unsigned serial;
    enum conn_state state;
    char *protocol;
    char *client_addr;   /* IP address */
    char *client_desc;   /* "IP port N" */
    GSubprocess *proc;
    GCancellable *cancel;  /* for the wait on proc */
    int sock;            /* our end of the socketpair, -1 once closed */
    guint watch;
    guint kill_timer;
    GByteArray *in;
    char *user;
    char **pools;        /* what ALLOCATE may ask for */
    char *pool;
    char *vm;
    int64_t session_id;  /* the session row, 0 before ALLOCATE */
    uint32_t idle;       /* seconds without input, from STATS */
    gboolean exited;
};

struct session_mgr {
    struct session_deps d;
    GPtrArray *listeners;   /* struct listener * */
    GHashTable *conns;      /* serial -> struct conn * (until its process is gone) */
    unsigned next_serial;
    guint sweep_timer;
    uid_t uid;
    gid_t gid;
    gboolean drop_privileges;
    gboolean stopping;
};

static void conn_end(struct conn *c, const char *why);

/* ---- small helpers ---- */

static int64_t now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static void audit(struct session_mgr *mgr, const char *actor, const char *action, const char *target,
                  const char *user, const char *pool, const char *outcome, const char *detail)
{
    g_autoptr(GError) err = NULL;

    if (db_audit_add(mgr->d.db, actor, action, target, user, pool, outcome, detail, &err) < 0)
        g_warning("cannot write an audit row: %s", err->message);
}

static struct conn *conn_by_session(struct session_mgr *mgr, int64_t id)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, mgr->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct conn *c = value;
        if (c->session_id == id && c->state != C_OVER)
            return c;
    }
    return NULL;
}

static void send_msg(struct conn *c, struct proto_msg *m, int fd)
{
    g_autoptr(GError) err = NULL;

    if (c->sock >= 0 && proto_send(c->sock, m, fd, &err) < 0)
        g_info("session %u: cannot send %s: %s", c->serial, proto_type_name(m->type), err->message);
    proto_msg_free(m);
}

static void send_error(struct conn *c, int code, const char *text)
{
    struct proto_msg *m = proto_msg_new(PROTO_ERROR);

    m->code = (uint32_t)code;
    g_free(m->text);
    m->text = g_strdup(text);
    send_msg(c, m, -1);
}

/* Move session row id to `to`; log (once) when it cannot be moved. */
static int row_move(struct session_mgr *mgr, const char *actor, int64_t id, const char *const *from,
                    const char *to, const char *reason)
{
    g_autoptr(GError) err = NULL;
    int r = db_session_transition(mgr->d.db, actor, id, from, to, reason, &err);

    if (r < 0)
        g_info("session %" G_GINT64_FORMAT ": not moved to %s: %s", id, to, err->message);
    else
        g_message("session %" G_GINT64_FORMAT ": %s (%s)", id, to, reason ? reason : "");
    return r;
}

/* End session row id for good and release its VM. */
static void row_logoff(struct session_mgr *mgr, const char *actor, int64_t id, const char *reason,
                       gboolean release)
{
    struct db_session *s = NULL;
    g_autoptr(GError) err = NULL;

    if (db_session_get(mgr->d.db, id, &s, NULL) < 0)
        return;
    if (strcmp(s->state, "logged_off") != 0 &&
        row_move(mgr, actor, id, NULL, "logged_off", reason) == 0 && release && s->vm &&
        pool_mgr_release(mgr->d.pools, actor, s->vm, &err) < 0)
        g_info("session %" G_GINT64_FORMAT ": VM %s not released: %s", id, s->vm, err->message);
    db_session_free(s);
}

/* The client is no longer looking at its desktop; the VM stays the user's. */
static void row_disconnect(struct session_mgr *mgr, const char *actor, int64_t id, const char *reason)
{
    static const char *const live[] = { "waiting_for_vm", "connected", NULL };
    struct db_session *s = NULL;

    if (db_session_get(mgr->d.db, id, &s, NULL) < 0)
        return;
    if (row_move(mgr, actor, id, live, "disconnected", reason) == 0 && s->vm)
        pool_mgr_vm_in_use(mgr->d.pools, s->vm, FALSE);
    db_session_free(s);
}

/* ---- allocation ---- */

struct alloc_ctx {
    struct session_mgr *mgr;
    unsigned serial;
    int64_t session_id;
    char *user;
    char *protocol;
    char *client;
};

static void on_allocated(int r, const GError *aerr, const char *vm, gpointer data)
{
    struct alloc_ctx *a = data;
    struct session_mgr *mgr = a->mgr;
    struct conn *c = g_hash_table_lookup(mgr->conns, GUINT_TO_POINTER(a->serial));
    g_autoptr(GError) err = NULL;
    int fd = -1;

    if (c && c->state != C_ALLOCATING)
        c = NULL;
    if (r < 0) {
        const char *why = aerr ? aerr->message : g_strerror(-r);
        g_message("session %" G_GINT64_FORMAT ": no desktop for %s: %s", a->session_id, a->user, why);
        row_logoff(mgr, a->user, a->session_id, why, FALSE);
        if (c) {
            send_error(c, -r, why);
            conn_end(c, why);
        }
        goto out;
    }
    if (db_session_attach(mgr->d.db, a->session_id, vm, a->protocol, a->client, &err) < 0)
        g_warning("session %" G_GINT64_FORMAT ": %s", a->session_id, err->message);
    g_clear_error(&err);
    if (c == NULL) {
        /* The client left while its desktop was prepared: the VM is the
         * user's now, kept for the disconnect timeout like any other. */
        row_disconnect(mgr, a->user, a->session_id, "the client left while its desktop was prepared");
        goto out;
    }
    c->vm = g_strdup(vm);
    if (pool_mgr_open_display(mgr->d.pools, vm, &fd, &err) < 0) {
        g_warning("session %" G_GINT64_FORMAT ": %s", a->session_id, err->message);
        send_error(c, EIO, "the desktop's display cannot be reached");
        row_disconnect(mgr, a->user, a->session_id, err->message);
        conn_end(c, err->message);
        goto out;
    }
    {
        struct proto_msg *m = proto_msg_new(PROTO_VM_READY);
        g_free(m->vm);
        m->vm = g_strdup(vm);
        send_msg(c, m, fd);
        close(fd);
    }
    c->state = C_READY;
    g_info("session %" G_GINT64_FORMAT ": %s gets VM %s", a->session_id, a->user, vm);
out:
    g_free(a->user);
    g_free(a->protocol);
    g_free(a->client);
    g_free(a);
}

static void start_allocation(struct conn *c, const char *pool)
{
    struct session_mgr *mgr = c->mgr;
    g_autoptr(GError) err = NULL;
    GHashTableIter it;
    gpointer value;
    struct alloc_ctx *a;
    int64_t id = 0;

    /* One client per desktop: a second connection of the same user to the
     * same pool takes the desktop over, as a reconnect does. */
    g_hash_table_iter_init(&it, mgr->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct conn *o = value;
        if (o != c && o->state >= C_ALLOCATING && o->state < C_OVER && g_strcmp0(o->user, c->user) == 0 &&
            g_strcmp0(o->pool, pool) == 0) {
            send_error(o, ECONNABORTED, "the desktop was opened from another place");
            if (o->session_id)
                row_disconnect(mgr, o->user, o->session_id, "taken over by a new connection");
            conn_end(o, "taken over by a new connection");
        }
    }
    c->pool = g_strdup(pool);
    if (db_session_find_resumable(mgr->d.db, c->user, pool, &id, NULL) == 0) {
        static const char *const disconnected[] = { "disconnected", NULL };
        if (row_move(mgr, c->user, id, disconnected, "waiting_for_vm", "reconnecting") < 0)
            id = 0;
    }
    if (id == 0 &&
        db_session_create(mgr->d.db, c->user, c->user, pool, c->protocol, c->client_desc, &id, &err) < 0) {
        g_warning("session for %s: %s", c->user, err->message);
        send_error(c, EIO, "the broker cannot record the session");
        conn_end(c, err->message);
        return;
    }
    c->session_id = id;
    c->state = C_ALLOCATING;
    {
        struct proto_msg *m = proto_msg_new(PROTO_PROGRESS);
        m->percent = 10;
        g_free(m->text);
        m->text = g_strdup("Preparing your desktop");
        send_msg(c, m, -1);
    }
    a = g_new0(struct alloc_ctx, 1);
    a->mgr = mgr;
    a->serial = c->serial;
    a->session_id = id;
    a->user = g_strdup(c->user);
    a->protocol = g_strdup(c->protocol);
    a->client = g_strdup(c->client_desc);
    pool_mgr_allocate(mgr->d.pools, c->user, c->user, pool, on_allocated, a);
}

/* ---- messages from a session ---- */

static gboolean parse_hex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return FALSE;
    for (size_t i = 0; i < n; i++) {
        int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FALSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return TRUE;
}

static void on_redeem(struct conn *c, const struct proto_msg *m)
{
    struct session_mgr *mgr = c->mgr;
    g_autoptr(GError) err = NULL;
    g_autofree char *user = NULL, *pool = NULL;
    int64_t retry = 0;
    int r;

    g_autofree char *addr_key = ratelimit_addr_key(c->client_addr);

    if (!ratelimit_allowed(mgr->d.login_by_addr, addr_key, now_s(), &retry)) {
        g_autofree char *why = g_strdup_printf("too many failed attempts from %s: try again in %" G_GINT64_FORMAT " s",
                                               c->client_addr, retry);
        audit(mgr, c->client_addr, "ticket.redeem", c->protocol, NULL, NULL, "refused", why);
        send_error(c, EAGAIN, why);
        conn_end(c, why);
        return;
    }
    if (strcmp(c->protocol, "vnc") == 0) {
        uint8_t both[2 * TICKET_VNC_CHALLENGE_SIZE];
        if (!parse_hex(m->ticket, both, sizeof(both))) {
            send_error(c, EPROTO, "malformed VNC answer");
            conn_end(c, "malformed REDEEM_TICKET");
            return;
        }
        r = ticket_redeem_vnc(mgr->d.tickets, both, both + TICKET_VNC_CHALLENGE_SIZE, c->client_desc, &user,
                              &pool, &err);
    } else {
        r = ticket_redeem(mgr->d.tickets, m->ticket, c->protocol, c->client_desc, &user, &pool, &err);
    }
    if (r < 0) {
        struct proto_msg *a = proto_msg_new(PROTO_AUTH_RESULT);
        ratelimit_fail(mgr->d.login_by_addr, addr_key, now_s());
        g_message("session %u from %s: ticket refused: %s", c->serial, c->client_desc, err->message);
        a->ok = FALSE;
        g_free(a->text);
        a->text = g_strdup("the ticket is not valid");
        send_msg(c, a, -1);
        conn_end(c, "ticket refused");
        return;
    }
    ratelimit_clear(mgr->d.login_by_addr, addr_key);
    c->user = g_strdup(user);
    c->pools = g_new0(char *, 2);
    c->pools[0] = g_strdup(pool);
    c->state = C_AUTHED;
    {
        struct proto_msg *a = proto_msg_new(PROTO_AUTH_RESULT);
        a->ok = TRUE;
        g_free(a->user);
        a->user = g_strdup(user);
        g_strfreev(a->pools);
        a->pools = g_strdupv(c->pools);
        send_msg(c, a, -1);
    }
}

/* The pools user may use over protocol (caller frees), or NULL. */
static char **usable_pools(struct session_mgr *mgr, const char *user, const char *protocol)
{
    struct db_user *u = NULL;
    GPtrArray *out = g_ptr_array_new();

    if (db_user_get(mgr->d.db, user, &u, NULL) == 0 && !u->disabled) {
        for (char **p = u->pools; p && *p; p++) {
            struct db_pool *pool = NULL;
            if (db_pool_get(mgr->d.db, *p, &pool, NULL) == 0) {
                g_auto(GStrv) protos = g_strsplit(pool->protocols, ",", -1);
                if (g_strv_contains((const char *const *)protos, protocol))
                    g_ptr_array_add(out, g_strdup(*p));
                db_pool_free(pool);
            }
        }
    }
    db_user_free(u);
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
}

static void auth_refuse(struct conn *c, const char *text)
{
    struct proto_msg *a = proto_msg_new(PROTO_AUTH_RESULT);

    a->ok = FALSE;
    g_free(a->text);
    a->text = g_strdup(text);
    send_msg(c, a, -1);
}

/* A user name and password (or a ticket as the password) from an RDP client
 * or the session's login screen. A refusal leaves the session in C_NEW, so
 * the login screen can ask again; the rate limits bound how often. */
static void on_authenticate(struct conn *c, const struct proto_msg *m)
{
    struct session_mgr *mgr = c->mgr;
    g_autoptr(GError) err = NULL;
    g_autofree char *addr_key = ratelimit_addr_key(c->client_addr);
    g_autofree char *t_user = NULL, *t_pool = NULL;
    g_auto(GStrv) pools = NULL;
    int64_t retry = 0, now = now_s();
    gboolean by_ticket = FALSE;

    if (m->user[0] == '\0' && m->password[0] == '\0') {
        auth_refuse(c, "");
        return;
    }
    if (!ratelimit_allowed(mgr->d.login_by_addr, addr_key, now, &retry) ||
        (m->user[0] && !ratelimit_allowed(mgr->d.login_by_user, m->user, now, &retry))) {
        g_autofree char *why = g_strdup_printf("too many failed logins: try again in %" G_GINT64_FORMAT " s",
                                               retry);
        audit(mgr, m->user[0] ? m->user : c->client_addr, "login", c->protocol, m->user[0] ? m->user : NULL,
              NULL, "refused", c->client_desc);
        auth_refuse(c, why);
        return;
    }
    /* A one-time ticket from the client API works as the password (for
     * aula-client and .rdp files). */
    if (strlen(m->password) == TICKET_SECRET_LEN_RDP &&
        ticket_redeem(mgr->d.tickets, m->password, c->protocol, c->client_desc, &t_user, &t_pool, NULL) == 0) {
        if (m->user[0] == '\0' || strcmp(m->user, t_user) == 0) {
            by_ticket = TRUE;
        } else {
            g_message("session %u: a ticket of %s was presented as %s's password", c->serial, t_user, m->user);
        }
    }
    if (!by_ticket && (m->user[0] == '\0' || auth_verify(mgr->d.auth, m->user, m->password, &err) < 0)) {
        ratelimit_fail(mgr->d.login_by_addr, addr_key, now);
        if (m->user[0])
            ratelimit_fail(mgr->d.login_by_user, m->user, now);
        audit(mgr, m->user[0] ? m->user : c->client_addr, "login", c->protocol, m->user[0] ? m->user : NULL,
              NULL, "denied", c->client_desc);
        g_message("session %u from %s: login of '%s' refused", c->serial, c->client_desc, m->user);
        auth_refuse(c, "Wrong user name or password");
        return;
    }
    ratelimit_clear(mgr->d.login_by_addr, addr_key);
    c->user = g_strdup(by_ticket ? t_user : m->user);
    ratelimit_clear(mgr->d.login_by_user, c->user);
    if (by_ticket) {
        pools = g_new0(char *, 2);
        pools[0] = g_strdup(t_pool);
    } else {
        pools = usable_pools(mgr, c->user, c->protocol);
    }
    if (m->pool[0] && !g_strv_contains((const char *const *)pools, m->pool)) {
        g_autofree char *why = g_strdup_printf("%s may not use pool '%s' over %s", c->user, m->pool, c->protocol);
        audit(mgr, c->user, "login", c->protocol, c->user, m->pool, "denied", why);
        g_clear_pointer(&c->user, g_free);
        auth_refuse(c, why);
        return;
    }
    if (pools[0] == NULL) {
        g_autofree char *why = g_strdup_printf("%s has no desktop to use over %s", c->user, c->protocol);
        audit(mgr, c->user, "login", c->protocol, c->user, NULL, "denied", why);
        g_clear_pointer(&c->user, g_free);
        auth_refuse(c, why);
        return;
    }
    audit(mgr, c->user, "login", c->protocol, c->user, m->pool[0] ? m->pool : NULL, "ok", c->client_desc);
    g_message("session %u from %s: %s logged in%s", c->serial, c->client_desc, c->user,
              by_ticket ? " with a ticket" : "");
    g_strfreev(c->pools);
    if (m->pool[0]) {
        c->pools = g_new0(char *, 2);
        c->pools[0] = g_strdup(m->pool);
    } else {
        c->pools = g_steal_pointer(&pools);
    }
    c->state = C_AUTHED;
    {
        struct proto_msg *a = proto_msg_new(PROTO_AUTH_RESULT);
        a->ok = TRUE;
        g_free(a->user);
        a->user = g_strdup(c->user);
        g_strfreev(a->pools);
        a->pools = g_strdupv(c->pools);
        send_msg(c, a, -1);
    }
}

/* TRUE when m is one the session may send in its state. */
static gboolean expected(const struct conn *c, enum proto_type type)
{
    switch (c->state) {
    case C_NEW:
        return type == PROTO_REDEEM_TICKET || type == PROTO_DISCONNECTED ||
               (type == PROTO_AUTHENTICATE && strcmp(c->protocol, "rdp") == 0);
    case C_AUTHED:
        return type == PROTO_ALLOCATE || type == PROTO_DISCONNECTED;
    case C_ALLOCATING:
        return type == PROTO_DISCONNECTED;
    case C_READY:
        return type == PROTO_CONNECTED || type == PROTO_DISCONNECTED || type == PROTO_LOGOFF;
    case C_CONNECTED:
        return type == PROTO_STATS || type == PROTO_DISCONNECTED || type == PROTO_LOGOFF;
    case C_OVER:
        return FALSE;
    }
    return FALSE;
}

static void handle(struct conn *c, const struct proto_msg *m)
{
    struct session_mgr *mgr = c->mgr;

    if (!expected(c, m->type) ||
        (m->type == PROTO_REDEEM_TICKET && strcmp(m->protocol, c->protocol) != 0)) {
        g_autofree char *why = g_strdup_printf("unexpected %s while %s", proto_type_name(m->type),
                                               conn_state_names[c->state]);
        g_warning("session %u from %s: %s: ending it", c->serial, c->client_desc, why);
        audit(mgr, c->user ? c->user : c->client_addr, "session.protocol", c->protocol, c->user, c->pool,
              "failed", why);
        if (c->session_id)
            row_disconnect(mgr, "aulad", c->session_id, why);
        conn_end(c, why);
        return;
    }
    switch (m->type) {
    case PROTO_REDEEM_TICKET:
        on_redeem(c, m);
        break;
    case PROTO_AUTHENTICATE:
        on_authenticate(c, m);
        break;
    case PROTO_ALLOCATE:
        if (!g_strv_contains((const char *const *)c->pools, m->pool)) {
            g_autofree char *why = g_strdup_printf("%s may not use pool '%s' on this connection", c->user,
                                                   m->pool);
            audit(mgr, c->user, "session.allocate", m->pool, c->user, m->pool, "denied", why);
            send_error(c, EACCES, why);
            conn_end(c, why);
            return;
        }
        start_allocation(c, m->pool);
        break;
    case PROTO_CONNECTED:
        c->state = C_CONNECTED;
        row_move(mgr, c->user, c->session_id, NULL, "connected", c->client_desc);
        pool_mgr_vm_in_use(mgr->d.pools, c->vm, TRUE);
        db_session_stats(mgr->d.db, c->session_id, m->encoding, 0, 0, NULL);
        break;
    case PROTO_STATS:
        c->idle = m->idle;
        db_session_stats(mgr->d.db, c->session_id, m->encoding, (int64_t)m->bytes, m->fps, NULL);
        break;
    case PROTO_DISCONNECTED:
        if (c->session_id) {
            row_disconnect(mgr, c->user, c->session_id, m->text);
        } else {
            /* It never logged in: a viewer that gave up, a port scan, or
             * bytes that are not the protocol at all. */
            audit(mgr, c->client_addr, "connect", c->protocol, c->user, NULL, "refused", m->text);
        }
        conn_end(c, m->text);
        break;
    case PROTO_LOGOFF:
        row_logoff(mgr, c->user, c->session_id, m->text, TRUE);
        conn_end(c, m->text);
        break;
    default:
        break;
    }
}

static gboolean on_conn_io(gint fd, GIOCondition cond, gpointer data)
{
    struct conn *c = data;
    uint8_t buf[16384];
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { buf, sizeof(buf) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf) };
    gboolean fds = FALSE;
    ssize_t n;

    n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int *p = (int *)CMSG_DATA(cm);
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++)
                close(p[i]);
            fds = TRUE;
        }
    }
    c->watch = n <= 0 || fds ? 0 : c->watch;
    if (fds) {
        g_warning("session %u sent a file descriptor: ending it", c->serial);
        if (c->session_id)
            row_disconnect(c->mgr, "aulad", c->session_id, "protocol violation");
        conn_end(c, "protocol violation");
        return G_SOURCE_REMOVE;
    }
    if (n <= 0) {
        const char *why = n == 0 ? "the session process ended" : g_strerror(errno);
        if (c->state >= C_ALLOCATING && c->state < C_OVER && c->session_id)
            row_disconnect(c->mgr, "aulad", c->session_id, why);
        else if (c->state == C_NEW)
            audit(c->mgr, c->client_addr, "connect", c->protocol, NULL, NULL, "failed", why);
        conn_end(c, why);
        return G_SOURCE_REMOVE;
    }
    g_byte_array_append(c->in, buf, (guint)n);
    while (c->state != C_OVER && c->in->len > 0) {
        g_autoptr(GError) err = NULL;
        struct proto_msg *m = NULL;
        gssize used = proto_decode(c->in->data, c->in->len, &m, &err);
        if (used == 0)
            break;
        if (used < 0) {
            g_warning("session %u from %s: %s: ending it", c->serial, c->client_desc, err->message);
            audit(c->mgr, c->user ? c->user : c->client_addr, "session.protocol", c->protocol, c->user,
                  c->pool, "failed", err->message);
            if (c->session_id)
                row_disconnect(c->mgr, "aulad", c->session_id, "protocol violation");
            conn_end(c, err->message);
            break;
        }
        g_byte_array_remove_range(c->in, 0, (guint)used);
        handle(c, m);
        proto_msg_free(m);
    }
    if (c->state == C_OVER) {
        c->watch = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* ---- session processes ---- */

static gboolean on_kill_timer(gpointer data)
{
    struct conn *c = data;

    c->kill_timer = 0;
    if (!c->exited) {
        g_warning("session %u did not stop: killing it", c->serial);
        g_subprocess_force_exit(c->proc);
    }
    return G_SOURCE_REMOVE;
}

/* This connection is over: stop listening to it and let its process go. The
 * struct lives until the process has exited. */
static void conn_end(struct conn *c, const char *why)
{
    if (c->state == C_OVER)
        return;
    g_info("session %u from %s ends: %s", c->serial, c->client_desc, why);
    c->state = C_OVER;
    if (c->watch) {
        g_source_remove(c->watch);
        c->watch = 0;
    }
    if (c->sock >= 0) {
        /* The session ends when its socket to us closes. */
        close(c->sock);
        c->sock = -1;
    }
    if (!c->exited && c->kill_timer == 0)
        c->kill_timer = g_timeout_add_seconds(KILL_GRACE_S, on_kill_timer, c);
}

static void conn_free(struct conn *c)
{
    if (c->watch)
        g_source_remove(c->watch);
    if (c->kill_timer)
        g_source_remove(c->kill_timer);
    if (c->sock >= 0)
        close(c->sock);
    if (c->cancel)
        g_cancellable_cancel(c->cancel);
    g_clear_object(&c->cancel);
    g_clear_object(&c->proc);
    g_byte_array_unref(c->in);
    g_free(c->protocol);
    g_free(c->client_addr);
    g_free(c->client_desc);
    g_free(c->user);
    g_strfreev(c->pools);
    g_free(c->pool);
    g_free(c->vm);
    g_free(c);
}

static void on_exited(GObject *source, GAsyncResult *res, gpointer data)
{
    GSubprocess *proc = G_SUBPROCESS(source);
    g_autoptr(GError) err = NULL;
    struct session_mgr *mgr;
    struct conn *c;

    /* Cancelled: the manager is gone, and c with it. */
    if (!g_subprocess_wait_finish(proc, res, &err) && g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    c = data;
    mgr = c->mgr;
    c->exited = TRUE;
    if (g_subprocess_get_if_signaled(proc))
        g_message("session %u: process ended by signal %d", c->serial, g_subprocess_get_term_sig(proc));
    else if (g_subprocess_get_exit_status(proc) != 0)
        g_message("session %u: process exited with status %d", c->serial,
                  g_subprocess_get_exit_status(proc));
    if (c->state != C_OVER) {
        if (c->state >= C_ALLOCATING && c->session_id)
            row_disconnect(mgr, "aulad", c->session_id, "the session process ended");
        conn_end(c, "the session process ended");
    }
    g_hash_table_remove(mgr->conns, GUINT_TO_POINTER(c->serial));
}

struct log_reader {
    unsigned serial;
    GDataInputStream *in;
};

/* A session's stderr, line by line, into aulad's log. */
static void on_log_line(GObject *source, GAsyncResult *res, gpointer data)
{
    struct log_reader *lr = data;
    g_autofree char *line = g_data_input_stream_read_line_finish_utf8(lr->in, res, NULL, NULL);

    if (line == NULL) {
        g_object_unref(lr->in);
        g_free(lr);
        return;
    }
    if (g_str_has_prefix(line, "warning: ") || g_str_has_prefix(line, "error: "))
        g_warning("session %u: %s", lr->serial, line);
    else if (g_str_has_prefix(line, "debug: "))
        g_debug("session %u: %s", lr->serial, line + 7);
    else if (g_str_has_prefix(line, "info: "))
        g_info("session %u: %s", lr->serial, line + 6);
    else
        g_message("session %u: %s", lr->serial, g_str_has_prefix(line, "message: ") ? line + 9 : line);
    g_data_input_stream_read_line_async(lr->in, G_PRIORITY_DEFAULT, NULL, on_log_line, lr);
}

static void on_incoming_conn(struct session_mgr *mgr, const char *protocol, GSocketConnection *sc)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(sc, NULL);
    struct timeval tv = { SEND_TIMEOUT_S, 0 };
    struct conn *c;
    int pair[2], client_fd;
    g_autofree char *uid = g_strdup_printf("%u", (unsigned)mgr->uid);
    g_autofree char *gid = g_strdup_printf("%u", (unsigned)mgr->gid);
    const char *argv[16];
    int k = 0;

    if (mgr->stopping)
        return;
    c = g_new0(struct conn, 1);
    c->mgr = mgr;
    c->serial = ++mgr->next_serial;
    c->protocol = g_strdup(protocol);
    c->sock = -1;
    c->in = g_byte_array_new();
    if (G_IS_INET_SOCKET_ADDRESS(remote)) {
        GInetSocketAddress *ia = G_INET_SOCKET_ADDRESS(remote);
        c->client_addr = g_inet_address_to_string(g_inet_socket_address_get_address(ia));
        c->client_desc = g_strdup_printf("%s port %u", c->client_addr, g_inet_socket_address_get_port(ia));
    } else {
        c->client_addr = g_strdup("unknown");
        c->client_desc = g_strdup("unknown");
    }
    if ((int)g_hash_table_size(mgr->conns) >= mgr->d.cfg->max_sessions) {
        g_warning("%s connection from %s refused: %d sessions already (max_sessions)", protocol,
                  c->client_desc, mgr->d.cfg->max_sessions);
        audit(mgr, c->client_addr, "connect", protocol, NULL, NULL, "refused", "max_sessions reached");
        conn_free(c);
        return;
    }
    client_fd = dup(g_socket_get_fd(g_socket_connection_get_socket(sc)));
    if (client_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        g_warning("%s connection from %s refused: %s", protocol, c->client_desc, g_strerror(errno));
        if (client_fd >= 0)
            close(client_fd);
        conn_free(c);
        return;
    }
    setsockopt(pair[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->sock = pair[0];
    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT | G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                  G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_take_fd(l, client_fd, 3);
    g_subprocess_launcher_take_fd(l, pair[1], 4);
    {
        /* A clean environment; sanitizer settings pass through, so that a
         * sanitized build's sessions report like aulad does. */
        static const char *const pass[] = { "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", NULL };
        g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(env, g_strdup("PATH=/usr/bin:/bin"));
        if (g_strcmp0(mgr->d.cfg->log_level, "debug") == 0)
            g_ptr_array_add(env, g_strdup("AULA_SESSION_DEBUG=1"));
        for (const char *const *p = pass; *p; p++)
            if (g_getenv(*p))
                g_ptr_array_add(env, g_strdup_printf("%s=%s", *p, g_getenv(*p)));
        g_ptr_array_add(env, NULL);
        g_subprocess_launcher_set_environ(l, (char **)env->pdata);
    }
    argv[k++] = mgr->d.cfg->session_program;
    argv[k++] = "--protocol";
    argv[k++] = protocol;
    argv[k++] = "--client";
    argv[k++] = c->client_desc;
    if (strcmp(protocol, "rdp") == 0) {
        argv[k++] = "--cert";
        argv[k++] = mgr->d.tls_cert;
        argv[k++] = "--key";
        argv[k++] = mgr->d.tls_key;
    }
    if (mgr->drop_privileges) {
        /* The session reads what it needs as root, then becomes this user
         * before it reads a byte from the client. */
        argv[k++] = "--uid";
        argv[k++] = uid;
        argv[k++] = "--gid";
        argv[k++] = gid;
    }
    argv[k] = NULL;
    c->proc = g_subprocess_launcher_spawnv(l, argv, &err);
    if (c->proc == NULL) {
        g_warning("cannot start %s for %s: %s", mgr->d.cfg->session_program, c->client_desc, err->message);
        audit(mgr, c->client_addr, "connect", protocol, NULL, NULL, "failed", err->message);
        conn_free(c);
        return;
    }
    g_hash_table_insert(mgr->conns, GUINT_TO_POINTER(c->serial), c);
    g_info("session %u: %s connection from %s, process %s", c->serial, protocol, c->client_desc,
           g_subprocess_get_identifier(c->proc));
    c->watch = g_unix_fd_add(c->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, on_conn_io, c);
    {
        struct log_reader *lr = g_new0(struct log_reader, 1);
        lr->serial = c->serial;
        lr->in = g_data_input_stream_new(g_subprocess_get_stderr_pipe(c->proc));
        g_data_input_stream_read_line_async(lr->in, G_PRIORITY_DEFAULT, NULL, on_log_line, lr);
    }
    c->cancel = g_cancellable_new();
    g_subprocess_wait_async(c->proc, c->cancel, on_exited, c);
}

static gboolean on_incoming(GSocketService *service, GSocketConnection *sc, GObject *source, gpointer data)
{
    struct listener *li = g_object_get_data(G_OBJECT(service), "aula-listener");

    on_incoming_conn(data, li->protocol, sc);
    return TRUE;
}

static struct listener *listen_on(struct session_mgr *mgr, const char *protocol, const char *addresses,
                                  int port, GError **error)
{
    struct listener *li = g_new0(struct listener, 1);
    g_auto(GStrv) parts = g_strsplit(addresses, ",", -1);

    li->protocol = g_strdup(protocol);
    li->address = g_strdup_printf("%s port %d", addresses, port);
    li->service = g_socket_service_new();
    g_object_set_data(G_OBJECT(li->service), "aula-listener", li);
    for (char **p = parts; *p; p++) {
        g_autoptr(GInetAddress) a = g_inet_address_new_from_string(g_strstrip(*p));
        g_autoptr(GSocketAddress) sa = NULL;
        if (a == NULL)
            continue;
        sa = g_inet_socket_address_new(a, (guint16)port);
        if (!g_socket_listener_add_address(G_SOCKET_LISTENER(li->service), sa, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, NULL, NULL, error)) {
            g_prefix_error(error, "cannot listen for %s on %s port %d: ", protocol, *p, port);
            g_object_unref(li->service);
            g_free(li->protocol);
            g_free(li->address);
            g_free(li);
            return NULL;
        }
    }
    g_signal_connect(li->service, "incoming", G_CALLBACK(on_incoming), mgr);
    g_socket_service_start(li->service);
    return li;
}

static void listener_free(struct listener *li)
{
    if (li->service) {
        g_socket_service_stop(li->service);
        g_socket_listener_close(G_SOCKET_LISTENER(li->service));
        g_object_unref(li->service);
    }
    g_free(li->protocol);
    g_free(li->address);
    g_free(li->error);
    g_free(li);
}

/* ---- timeouts ---- */

static gboolean on_sweep(gpointer data)
{
    struct session_mgr *mgr = data;
    g_autoptr(GPtrArray) rows = NULL;
    int64_t now = now_s();

    if (db_session_list(mgr->d.db, TRUE, &rows, NULL) < 0)
        return G_SOURCE_CONTINUE;
    for (guint i = 0; i < rows->len; i++) {
        struct db_session *s = g_ptr_array_index(rows, i);
        struct conn *c = conn_by_session(mgr, s->id);
        struct db_pool *p = NULL;

        if (db_pool_get(mgr->d.db, s->pool, &p, NULL) < 0) {
            /* The pool is gone: nothing to come back to. */
            if (c == NULL)
                row_logoff(mgr, "aulad", s->id, "the pool was removed", FALSE);
            continue;
        }
        if (strcmp(s->state, "disconnected") == 0 && c == NULL &&
            now - s->state_since >= p->disconnect_timeout) {
            g_autofree char *why = g_strdup_printf("disconnected for more than %" G_GINT64_FORMAT " s",
                                                   p->disconnect_timeout);
            row_logoff(mgr, "aulad", s->id, why, TRUE);
        } else if (strcmp(s->state, "disconnected") != 0 && c == NULL) {
            /* Its process is gone (aulad restarted, or it was lost). */
            row_disconnect(mgr, "aulad", s->id, "the session process is gone");
        } else if (strcmp(s->state, "connected") == 0 && c && p->idle_timeout > 0 &&
                   c->idle >= p->idle_timeout) {
            g_autofree char *why = g_strdup_printf("logged off after %" G_GINT64_FORMAT " s without input",
                                                   p->idle_timeout);
            send_error(c, ETIMEDOUT, why);
            conn_end(c, why);
            row_logoff(mgr, "aulad", s->id, why, TRUE);
        }
        db_pool_free(p);
    }
    return G_SOURCE_CONTINUE;
}

/* A user's VM stopped: its session is over (the pool manager released it). */
static void on_vm_down(const char *vm, const char *why, gpointer data)
{
    struct session_mgr *mgr = data;
    g_autoptr(GPtrArray) rows = NULL;

    if (db_session_list(mgr->d.db, TRUE, &rows, NULL) < 0)
        return;
    for (guint i = 0; i < rows->len; i++) {
        struct db_session *s = g_ptr_array_index(rows, i);
        struct conn *c;
        if (g_strcmp0(s->vm, vm) != 0)
            continue;
        c = conn_by_session(mgr, s->id);
        if (c) {
            send_error(c, ESHUTDOWN, why);
            conn_end(c, why);
        }
        row_logoff(mgr, "aulad", s->id, why, FALSE);
    }
}

/* ---- public ---- */

int session_mgr_start(const struct session_deps *deps, struct session_mgr **mgrp, GError **error)
{
    struct session_mgr *mgr = g_new0(struct session_mgr, 1);
    struct listener *li;

    mgr->d = *deps;
    mgr->listeners = g_ptr_array_new_with_free_func((GDestroyNotify)listener_free);
    mgr->conns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)conn_free);
    if (getuid() == 0) {
        struct passwd *pw = getpwnam(deps->cfg->session_user);
        if (pw == NULL) {
            g_set_error(error, SESSION_ERROR, ENOENT,
                        "session_user '%s' does not exist: create it (useradd --system --no-create-home "
                        "--shell /usr/sbin/nologin %s) or set session_user in aulad.conf",
                        deps->cfg->session_user, deps->cfg->session_user);
            session_mgr_free(mgr);
            return -ENOENT;
        }
        if (pw->pw_uid == 0) {
            g_set_error(error, SESSION_ERROR, EINVAL, "session_user '%s' is root: sessions never run as root",
                        deps->cfg->session_user);
            session_mgr_free(mgr);
            return -EINVAL;
        }
        mgr->uid = pw->pw_uid;
        mgr->gid = pw->pw_gid;
        mgr->drop_privileges = TRUE;
    } else {
        g_message("aulad is not root: session processes run as aulad's own user");
    }
    if (access(deps->cfg->session_program, X_OK) < 0) {
        int e = errno;
        g_set_error(error, SESSION_ERROR, e, "session_program %s cannot be run: %s",
                    deps->cfg->session_program, g_strerror(e));
        session_mgr_free(mgr);
        return -e;
    }
    li = listen_on(mgr, "vnc", deps->cfg->vnc_address, deps->cfg->vnc_port, error);
    if (li == NULL) {
        session_mgr_free(mgr);
        return -EADDRINUSE;
    }
    g_ptr_array_add(mgr->listeners, li);
    li = listen_on(mgr, "rdp", deps->cfg->rdp_address, deps->cfg->rdp_port, error);
    if (li == NULL) {
        session_mgr_free(mgr);
        return -EADDRINUSE;
    }
    g_ptr_array_add(mgr->listeners, li);
    pool_mgr_set_vm_down_fn(deps->pools, on_vm_down, mgr);
    mgr->sweep_timer = g_timeout_add_seconds(SWEEP_INTERVAL_S, on_sweep, mgr);
    *mgrp = mgr;
    return 0;
}

void session_mgr_free(struct session_mgr *mgr)
{
    GHashTableIter it;
    gpointer value;

    if (mgr == NULL)
        return;
    mgr->stopping = TRUE;
    if (mgr->sweep_timer)
        g_source_remove(mgr->sweep_timer);
    if (mgr->d.pools)
        pool_mgr_set_vm_down_fn(mgr->d.pools, NULL, NULL);
    g_ptr_array_free(mgr->listeners, TRUE);
    /* Every session becomes disconnected: its VM waits for the user. */
    g_hash_table_iter_init(&it, mgr->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        struct conn *c = value;
        if (c->state != C_OVER && c->state >= C_ALLOCATING && c->session_id)
            row_disconnect(mgr, "aulad", c->session_id, "aulad stopped");
        conn_end(c, "aulad stopped");
        if (!c->exited)
            g_subprocess_send_signal(c->proc, SIGTERM);
    }
    g_hash_table_destroy(mgr->conns);
    g_free(mgr);
}

int session_mgr_disconnect(struct session_mgr *mgr, const char *actor, int64_t id, GError **error)
{
    static const char *const live[] = { "waiting_for_vm", "connected", NULL };
    struct db_session *s = NULL;
    struct conn *c;
    g_autofree char *why = g_strdup_printf("disconnected by %s", actor);
    int r;

    r = db_session_get(mgr->d.db, id, &s, error);
    if (r < 0)
        return r;
    if (!g_strv_contains(live, s->state)) {
        g_set_error(error, SESSION_ERROR, EALREADY, "session %" G_GINT64_FORMAT " is %s, not connected", id,
                    s->state);
        db_session_free(s);
        return -EALREADY;
    }
    db_session_free(s);
    c = conn_by_session(mgr, id);
    if (c) {
        send_error(c, ECONNABORTED, why);
        conn_end(c, why);
    }
    row_disconnect(mgr, actor, id, why);
    return 0;
}

int session_mgr_logoff(struct session_mgr *mgr, const char *actor, int64_t id, GError **error)
{
    struct db_session *s = NULL;
    struct conn *c;
    g_autofree char *why = g_strdup_printf("logged off by %s", actor);
    int r;

    r = db_session_get(mgr->d.db, id, &s, error);
    if (r < 0)
        return r;
    if (strcmp(s->state, "logged_off") == 0) {
        g_set_error(error, SESSION_ERROR, EALREADY, "session %" G_GINT64_FORMAT " is already logged off", id);
        db_session_free(s);
        return -EALREADY;
    }
    db_session_free(s);
    c = conn_by_session(mgr, id);
    if (c) {
        send_error(c, ECONNABORTED, why);
        conn_end(c, why);
    }
    row_logoff(mgr, actor, id, why, TRUE);
    return 0;
}

void session_mgr_listeners(struct session_mgr *mgr, JsonBuilder *b)
{
    for (guint i = 0; mgr && i < mgr->listeners->len; i++) {
        struct listener *li = g_ptr_array_index(mgr->listeners, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, li->protocol);
        json_builder_set_member_name(b, "address");
        json_builder_add_string_value(b, li->address);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, "listening");
        json_builder_end_object(b);
    }
}

int session_mgr_count(struct session_mgr *mgr)
{
    return mgr ? (int)g_hash_table_size(mgr->conns) : 0;
}
