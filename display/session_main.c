/* aula-session: serves one client connection.
 *
 * aulad accepts a connection and starts this program for it, already running
 * as the unprivileged session user, with two descriptors:
 *   3  the client's socket
 *   4  a socket to aulad (display/proto.h messages)
 * The session holds no database and no libvirt connection. It speaks the
 * client's protocol, asks aulad to check the client's ticket or password and
 * to allocate a desktop, receives the VM's display socket, and relays
 * pictures one way and input the other until either side goes away.
 *
 * Logs go to stderr, one line each, starting with the level; aulad reads them
 * into its own log. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "display/fb_source.h"
#include "display/keymap.h"
#include "display/proto.h"
#include "display/vnc_front.h"

#define CLIENT_FD 3
#define BROKER_FD 4
/* A client that has not authenticated within this long is dropped (the
 * broker's allocate_timeout bounds the wait for a VM separately). */
#define LOGIN_TIMEOUT_S 60
#define STATS_INTERVAL_S 2
#define FIRST_FRAME_TIMEOUT_MS 5000

struct session {
    GMainLoop *loop;
    char *protocol;
    char *client_addr;
    struct vnc_front *vnc;
    struct fb_source *src;
    guint client_watch, display_watch, broker_watch, stats_timer, login_timer;
    gboolean connected;       /* the client sees the desktop */
    gboolean ended;           /* told the broker how it ended */
    int64_t last_input;       /* monotonic µs */
    uint64_t last_updates;
    int64_t last_stats_at;
    uint32_t fps;
    int exit_code;
};

static char *opt_protocol;
static char *opt_client;
static gboolean opt_version;
static int opt_uid = -1, opt_gid = -1;

static const GOptionEntry options[] = {
    { "protocol", 0, 0, G_OPTION_ARG_STRING, &opt_protocol, "The client's protocol: vnc", "PROTO" },
    { "client", 0, 0, G_OPTION_ARG_STRING, &opt_client, "The client's address (for logs)", "ADDR" },
    { "uid", 0, 0, G_OPTION_ARG_INT, &opt_uid, "Run as this user id after setup", "UID" },
    { "gid", 0, 0, G_OPTION_ARG_INT, &opt_gid, "Run with this group id after setup", "GID" },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL },
};

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    const char *message = NULL, *word;

    if ((level & G_LOG_LEVEL_DEBUG) && g_getenv("AULA_SESSION_DEBUG") == NULL)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n; i++)
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        word = "error";
    else if (level & G_LOG_LEVEL_WARNING)
        word = "warning";
    else if (level & G_LOG_LEVEL_MESSAGE)
        word = "message";
    else if (level & G_LOG_LEVEL_INFO)
        word = "info";
    else
        word = "debug";
    fprintf(stderr, "%s: %s\n", word, message ? message : "");
    fflush(stderr);
    return G_LOG_WRITER_HANDLED;
}

/* Tell the broker something; a broker that is gone ends the session. */
static gboolean tell(struct session *s, struct proto_msg *m)
{
    g_autoptr(GError) err = NULL;
    int r = proto_send(BROKER_FD, m, -1, &err);

    proto_msg_free(m);
    if (r < 0) {
        g_info("cannot reach aulad: %s", err->message);
        s->ended = TRUE;
        g_main_loop_quit(s->loop);
        return FALSE;
    }
    return TRUE;
}

/* The session is over: say how (once), and stop. */
static void end(struct session *s, enum proto_type type, const char *why)
{
    if (!s->ended) {
        struct proto_msg *m = proto_msg_new(type);
        g_free(m->text);
        m->text = g_strdup(why);
        tell(s, m);
    }
    g_info("%s", why);
    s->ended = TRUE;
    g_main_loop_quit(s->loop);
}

/* ---- the desktop ---- */

static void on_frame(const struct fb_rect *rects, int n, void *data)
{
    struct session *s = data;

    if (s->vnc) {
        vnc_front_damage(s->vnc, rects, n);
        vnc_front_process(s->vnc);
    }
}

static void on_resize(const struct fb *fb, void *data)
{
    struct session *s = data;

    if (s->vnc)
        vnc_front_set_fb(s->vnc, fb);
}

static void on_display_closed(const char *why, void *data)
{
    struct session *s = data;

    end(s, PROTO_LOGOFF, why);
}

static const struct fb_source_events source_events = {
    .frame = on_frame,
    .resize = on_resize,
    .closed = on_display_closed,
};

static gboolean on_display_io(gint fd, GIOCondition cond, gpointer data)
{
    struct session *s = data;

    if (!fb_source_dispatch(s->src)) {
        s->display_watch = 0;
        if (!s->ended)
            end(s, PROTO_LOGOFF, "the VM's display closed");
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* ---- the broker ---- */

static gboolean on_broker_io(gint fd, GIOCondition cond, gpointer data)
{
    struct session *s = data;
    g_autoptr(GError) err = NULL;
    struct proto_msg *m = NULL;
    int mfd = -1;

    if (proto_recv(BROKER_FD, &m, &mfd, &err) < 0) {
        s->broker_watch = 0;
        s->ended = TRUE;
        g_info("aulad closed the session: %s", err->message);
        g_main_loop_quit(s->loop);
        return G_SOURCE_REMOVE;
    }
    if (mfd >= 0)
        close(mfd);
    /* While connected the broker only ever ends a session (an administrator's
     * disconnect or logoff, an idle timeout, the VM going away). */
    if (m->type == PROTO_ERROR)
        g_info("aulad ended the session: %s", m->text);
    else
        g_warning("unexpected %s from aulad: ending the session", proto_type_name(m->type));
    proto_msg_free(m);
    s->ended = TRUE;
    s->broker_watch = 0;
    g_main_loop_quit(s->loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_stats(gpointer data)
{
    struct session *s = data;
    struct vnc_front_stats st;
    int64_t now = g_get_monotonic_time();
    struct proto_msg *m;

    if (s->vnc == NULL || !s->connected)
        return G_SOURCE_CONTINUE;
    vnc_front_stats(s->vnc, &st);
    if (s->last_stats_at > 0 && now > s->last_stats_at)
        s->fps = (uint32_t)((st.updates_sent - s->last_updates) * G_USEC_PER_SEC /
                            (uint64_t)(now - s->last_stats_at));
    s->last_updates = st.updates_sent;
    s->last_stats_at = now;
    m = proto_msg_new(PROTO_STATS);
    g_free(m->encoding);
    m->encoding = g_strdup(st.encoding);
    m->bytes = st.bytes_sent;
    m->fps = s->fps;
    m->idle = (uint32_t)((now - s->last_input) / G_USEC_PER_SEC);
    tell(s, m);
    return G_SOURCE_CONTINUE;
}

/* Wait for the broker's answer to a request, passing on progress. Returns
 * the answer (caller frees) or NULL when the broker refused or went away. */
static struct proto_msg *await(struct session *s, enum proto_type want, int *fdp)
{
    for (;;) {
        g_autoptr(GError) err = NULL;
        struct proto_msg *m = NULL;
        int fd = -1;

        if (proto_recv(BROKER_FD, &m, &fd, &err) < 0) {
            g_info("aulad went away: %s", err->message);
            return NULL;
        }
        if (m->type == want) {
            if (fdp)
                *fdp = fd;
            else if (fd >= 0)
                close(fd);
            return m;
        }
        if (fd >= 0)
            close(fd);
        if (m->type == PROTO_PROGRESS) {
            g_debug("preparing the desktop: %u%% %s", m->percent, m->text);
            proto_msg_free(m);
            continue;
        }
        if (m->type == PROTO_ERROR)
            g_info("refused: %s", m->text);
        else
            g_warning("unexpected %s from aulad", proto_type_name(m->type));
        proto_msg_free(m);
        return NULL;
    }
}

/* ---- VNC ---- */

static gboolean vnc_authenticate(const uint8_t *challenge, const uint8_t *response, void *data)
{
    struct session *s = data;
    g_autoptr(GError) err = NULL;
    struct proto_msg *m = proto_msg_new(PROTO_REDEEM_TICKET), *answer;
    GString *hex = g_string_new(NULL);
    g_autofree char *pool = NULL;
    int fd = -1;

    for (int i = 0; i < VNC_CHALLENGE_LEN; i++)
        g_string_append_printf(hex, "%02x", challenge[i]);
    for (int i = 0; i < VNC_CHALLENGE_LEN; i++)
        g_string_append_printf(hex, "%02x", response[i]);
    g_free(m->ticket);
    m->ticket = g_string_free(hex, FALSE);
    g_free(m->protocol);
    m->protocol = g_strdup("vnc");
    g_free(m->client);
    m->client = g_strdup(s->client_addr);
    if (!tell(s, m))
        return FALSE;
    answer = await(s, PROTO_AUTH_RESULT, NULL);
    if (answer == NULL || !answer->ok || answer->pools[0] == NULL) {
        if (answer)
            g_info("the ticket was refused: %s", answer->text);
        proto_msg_free(answer);
        return FALSE;
    }
    g_info("ticket accepted for %s, pool %s", answer->user, answer->pools[0]);
    pool = g_strdup(answer->pools[0]);
    proto_msg_free(answer);

    m = proto_msg_new(PROTO_ALLOCATE);
    g_free(m->pool);
    m->pool = g_strdup(pool);
    if (!tell(s, m))
        return FALSE;
    answer = await(s, PROTO_VM_READY, &fd);
    if (answer == NULL)
        return FALSE;
    if (fd < 0) {
        g_warning("aulad sent no display with VM_READY");
        proto_msg_free(answer);
        return FALSE;
    }
    g_info("desktop %s is ready", answer->vm);
    proto_msg_free(answer);
    if (fb_source_open(&fb_qemu_vnc_impl, fd, &source_events, s, &s->src, &err) < 0) {
        g_warning("%s", err->message);
        return FALSE;
    }
    /* The viewer's first picture must be the desktop, not an empty buffer. */
    if (fb_source_wait_frame(s->src, FIRST_FRAME_TIMEOUT_MS) < 0)
        g_info("no picture from the VM's display within %d ms: going on", FIRST_FRAME_TIMEOUT_MS);
    vnc_front_set_fb(s->vnc, fb_source_fb(s->src));
    s->display_watch = g_unix_fd_add(fb_source_poll_fd(s->src), G_IO_IN | G_IO_HUP | G_IO_ERR,
                                     on_display_io, s);
    s->connected = TRUE;
    s->last_input = g_get_monotonic_time();
    if (s->login_timer) {
        g_source_remove(s->login_timer);
        s->login_timer = 0;
    }
    m = proto_msg_new(PROTO_CONNECTED);
    g_free(m->encoding);
    m->encoding = g_strdup("vnc");
    return tell(s, m);
}

static void vnc_key(uint32_t keysym, gboolean down, void *data)
{
    struct session *s = data;
    int qnum;

    if (s->src == NULL)
        return;
    s->last_input = g_get_monotonic_time();
    /* The viewer sends its own Shift presses, so the Shift a character
     * needs on a US keyboard is already down. */
    qnum = keymap_us_keysym_to_qnum(keysym, NULL);
    fb_source_key(s->src, qnum > 0 ? (uint32_t)qnum : 0, keysym, down);
}

static void vnc_pointer(int x, int y, uint32_t buttons, void *data)
{
    struct session *s = data;

    if (s->src == NULL)
        return;
    s->last_input = g_get_monotonic_time();
    fb_source_pointer(s->src, x, y, buttons);
}

static void vnc_gone(void *data)
{
    (void)data;
}

static const struct vnc_front_hooks vnc_hooks = {
    .authenticate = vnc_authenticate,
    .key = vnc_key,
    .pointer = vnc_pointer,
    .gone = vnc_gone,
};

static gboolean on_client_io(gint fd, GIOCondition cond, gpointer data)
{
    struct session *s = data;

    if (!vnc_front_process(s->vnc)) {
        s->client_watch = 0;
        if (s->connected) {
            end(s, PROTO_DISCONNECTED, "the viewer closed the connection");
        } else {
            g_autofree char *why = g_strdup_printf("the client left before it was let in%s%s",
                                                   vnc_front_last_error() ? ": " : "",
                                                   vnc_front_last_error() ? vnc_front_last_error() : "");
            end(s, PROTO_DISCONNECTED, why);
        }
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean on_login_timeout(gpointer data)
{
    struct session *s = data;

    s->login_timer = 0;
    end(s, PROTO_DISCONNECTED, "the client did not log in in time");
    return G_SOURCE_REMOVE;
}

/* Become the session user for good, before anything is read from the
 * client: a flaw in a protocol library then holds no privilege. */
static int drop_privileges(void)
{
    if (opt_uid < 0 && opt_gid < 0) {
        if (getuid() == 0 || geteuid() == 0) {
            g_warning("refusing to serve a client as root: aulad passes --uid and --gid");
            return -EPERM;
        }
        return 0;
    }
    if (opt_uid <= 0 || opt_gid < 0) {
        g_warning("--uid must be a user other than root, with --gid");
        return -EINVAL;
    }
    if (setgroups(0, NULL) < 0 || setresgid((gid_t)opt_gid, (gid_t)opt_gid, (gid_t)opt_gid) < 0 ||
        setresuid((uid_t)opt_uid, (uid_t)opt_uid, (uid_t)opt_uid) < 0) {
        g_warning("cannot switch to user %d: %s", opt_uid, g_strerror(errno));
        return -EPERM;
    }
    if (setuid(0) == 0) {
        g_warning("could switch back to root after dropping privileges: refusing to go on");
        return -EPERM;
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- serve one aula client connection");
    g_autoptr(GError) err = NULL;
    struct session s = { .exit_code = 0 };

    g_log_set_writer_func(log_writer, NULL, NULL);
    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_description(ctx,
        "aulad(8) starts aula-session for each client connection, with the client's socket on\n"
        "descriptor 3 and a socket to aulad on descriptor 4; it is not meant to be run by hand.");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("aula-session: %s\n", err->message);
        return 2;
    }
    if (opt_version) {
        printf("aula-session %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (g_strcmp0(opt_protocol, "vnc") != 0) {
        g_printerr("aula-session: --protocol must be vnc\n");
        return 2;
    }
    if (fcntl(CLIENT_FD, F_GETFD) < 0 || fcntl(BROKER_FD, F_GETFD) < 0) {
        g_printerr("aula-session: descriptors 3 (client) and 4 (aulad) must be open; "
                   "aulad starts this program\n");
        return 2;
    }
    if (drop_privileges() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    fcntl(CLIENT_FD, F_SETFD, FD_CLOEXEC);
    fcntl(BROKER_FD, F_SETFD, FD_CLOEXEC);

    s.loop = g_main_loop_new(NULL, FALSE);
    s.protocol = opt_protocol;
    s.client_addr = opt_client ? opt_client : g_strdup("");
    if (vnc_front_new(CLIENT_FD, &vnc_hooks, &s, &s.vnc, &err) < 0) {
        /* libvncserver refused the connection's first bytes. */
        struct proto_msg *m = proto_msg_new(PROTO_DISCONNECTED);
        g_free(m->text);
        m->text = g_strdup_printf("not a VNC client (%s)", vnc_front_last_error() ? vnc_front_last_error()
                                                                                  : err->message);
        g_info("%s", m->text);
        proto_send(BROKER_FD, m, -1, NULL);
        proto_msg_free(m);
        return 0;
    }
    s.client_watch = g_unix_fd_add(CLIENT_FD, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_io, &s);
    s.broker_watch = g_unix_fd_add(BROKER_FD, G_IO_IN | G_IO_HUP | G_IO_ERR, on_broker_io, &s);
    s.stats_timer = g_timeout_add_seconds(STATS_INTERVAL_S, on_stats, &s);
    s.login_timer = g_timeout_add_seconds(LOGIN_TIMEOUT_S, on_login_timeout, &s);
    /* Send the protocol version at once. */
    vnc_front_process(s.vnc);
    g_main_loop_run(s.loop);

    if (s.client_watch)
        g_source_remove(s.client_watch);
    if (s.display_watch)
        g_source_remove(s.display_watch);
    if (s.broker_watch)
        g_source_remove(s.broker_watch);
    if (s.login_timer)
        g_source_remove(s.login_timer);
    g_source_remove(s.stats_timer);
    vnc_front_free(s.vnc);
    fb_source_free(s.src);
    g_main_loop_unref(s.loop);
    close(BROKER_FD);
    return s.exit_code;
}
