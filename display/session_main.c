/* aula-session: serves one client connection.
 *
 * aulad accepts a connection and starts this program for it with two
 * descriptors:
 *   3  the client's socket
 *   4  a socket to aulad (display/proto.h messages)
 * and --uid/--gid of the session user, which it becomes before it reads a
 * byte from the client (an RDP session first reads aulad's TLS certificate
 * and key, named by --cert and --key). The session holds no database and no
 * libvirt connection. It speaks the client's protocol, asks aulad to check
 * the client's ticket or password and to allocate a desktop, receives the
 * VM's display socket, and relays pictures one way and input the other until
 * either side goes away.
 *
 * VNC can show nothing before it lets the viewer in, so a VNC session waits
 * (inside the authentication step) for the desktop. RDP shows the session's
 * own screens (display/ui.h) until the desktop is there: a login form when
 * the client sent no or wrong credentials, and a progress screen while the
 * VM is prepared.
 *
 * Logs go to stderr, one line each, starting with the level; aulad reads them
 * into its own log. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "display/fb_source.h"
#include "display/keymap.h"
#include "display/proto.h"
#include "display/rdp_front.h"
#include "display/ui.h"
#include "display/vnc_front.h"

#define CLIENT_FD 3
#define BROKER_FD 4
/* A client that has not logged in within this long is dropped (the broker's
 * allocate_timeout bounds the wait for a VM separately). */
#define LOGIN_TIMEOUT_S 120
#define STATS_INTERVAL_S 2
#define FIRST_FRAME_TIMEOUT_MS 5000
/* An RDP client is told its desktop size before activation: a desktop ready
 * within this long needs no resize afterwards. */
#define QUICK_DESKTOP_MS 3000
#define MAX_CLIENT_FDS 8
/* A message the user must read stays this long before the connection ends
 * (less than the grace aulad gives a session it has ended). */
#define MESSAGE_LINGER_S 4

enum phase {
    P_LOGIN,        /* waiting for credentials (or a pool choice) */
    P_ALLOCATING,   /* the broker prepares the desktop */
    P_DESKTOP,      /* the client sees the VM */
};

struct session {
    GMainLoop *loop;
    const char *protocol;
    const char *client_addr;
    struct vnc_front *vnc;
    struct rdp_front *rdp;
    struct fb_source *src;
    struct ui *ui;
    enum phase phase;
    guint client_watch[MAX_CLIENT_FDS];
    int n_client_watch;
    guint display_watch, broker_watch, stats_timer, login_timer;
    gboolean connected;       /* the client sees the desktop */
    gboolean ended;           /* told the broker how it ended */
    gboolean authed;          /* the broker accepted the user */
    char *user;
    char **pools;             /* the user's pools (after a login) */
    gboolean shift_l, shift_r;
    int client_locks;         /* FB_LED_* the RDP client last had; -1: not said */
    int64_t last_input;       /* monotonic µs */
    uint64_t last_frames;
    int64_t last_stats_at;
    uint32_t fps;
};

static char *opt_protocol;
static char *opt_client;
static char *opt_cert, *opt_key;
static gboolean opt_version;
static int opt_uid = -1, opt_gid = -1;

static const GOptionEntry options[] = {
    { "protocol", 0, 0, G_OPTION_ARG_STRING, &opt_protocol, "The client's protocol: vnc or rdp", "PROTO" },
    { "client", 0, 0, G_OPTION_ARG_STRING, &opt_client, "The client's address (for logs)", "ADDR" },
    { "cert", 0, 0, G_OPTION_ARG_FILENAME, &opt_cert, "TLS certificate (PEM) for RDP", "FILE" },
    { "key", 0, 0, G_OPTION_ARG_FILENAME, &opt_key, "TLS private key (PEM) for RDP", "FILE" },
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

/* ---- the broker ---- */

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

/* Wait for the broker's answer to a request, passing on progress, for at
 * most timeout_ms (-1: no limit). Returns the answer (caller frees), or NULL
 * when the broker refused or went away (*timed_out FALSE) or the time is up
 * (*timed_out TRUE; the answer will come to on_broker_io). */
static struct proto_msg *await(struct session *s, enum proto_type want, int *fdp, int timeout_ms,
                               gboolean *timed_out)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;

    if (timed_out)
        *timed_out = FALSE;
    for (;;) {
        g_autoptr(GError) err = NULL;
        struct proto_msg *m = NULL;
        int fd = -1;

        if (timeout_ms >= 0) {
            struct pollfd p = { .fd = BROKER_FD, .events = POLLIN };
            int left = (int)MAX((deadline - g_get_monotonic_time()) / 1000, 0);
            if (poll(&p, 1, left) == 0) {
                if (timed_out)
                    *timed_out = TRUE;
                return NULL;
            }
        }
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
            if (s->ui)
                ui_show_progress(s->ui, m->percent, m->text);
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

/* Logged in: from here the broker's allocate_timeout bounds the wait. */
static void stop_login_timer(struct session *s)
{
    if (s->login_timer) {
        g_source_remove(s->login_timer);
        s->login_timer = 0;
    }
}

static gboolean quit_loop(gpointer data);

/* ---- pictures to the client ---- */

static void show(struct session *s, const struct fb *fb)
{
    if (s->vnc)
        vnc_front_set_fb(s->vnc, fb);
    else if (s->rdp)
        rdp_front_show(s->rdp, fb);
}

static void damage(struct session *s, const struct fb_rect *rects, int n)
{
    if (s->vnc) {
        vnc_front_damage(s->vnc, rects, n);
        vnc_front_process(s->vnc);
    } else if (s->rdp) {
        rdp_front_damage(s->rdp, rects, n);
    }
}

/* Send what the session's own screen redrew. */
static void ui_flush(struct session *s)
{
    struct fb_rect rects[16];
    int n;

    if (s->ui == NULL || s->phase == P_DESKTOP)
        return;
    n = ui_take_damage(s->ui, rects, G_N_ELEMENTS(rects));
    if (n > 0)
        damage(s, rects, n);
}

/* ---- the desktop ---- */

static void on_frame(const struct fb_rect *rects, int n, void *data)
{
    struct session *s = data;

    if (s->phase == P_DESKTOP)
        damage(s, rects, n);
}

static void on_resize(const struct fb *fb, void *data)
{
    struct session *s = data;

    if (s->phase == P_DESKTOP)
        show(s, fb);
}

static void on_display_closed(const char *why, void *data)
{
    struct session *s = data;

    end(s, PROTO_LOGOFF, why);
}

static void on_cursor(const struct fb_cursor *cursor, void *data)
{
    struct session *s = data;

    if (s->vnc)
        vnc_front_set_cursor(s->vnc, cursor);
    else if (s->rdp)
        rdp_front_set_cursor(s->rdp, cursor);
}

static const struct fb_source_events source_events = {
    .frame = on_frame,
    .resize = on_resize,
    .cursor = on_cursor,
    .closed = on_display_closed,
};

/* The guest's lock keys as the client's, once both are known. */
static void sync_locks(struct session *s)
{
    int toggled;

    if (s->phase != P_DESKTOP || s->src == NULL || s->client_locks < 0)
        return;
    if (s->src->leds < 0) {
        g_debug("the guest's lock keys are not known yet");
        return;
    }
    toggled = fb_source_sync_locks(s->src, s->client_locks);
    if (toggled)
        g_info("lock keys: pressed%s%s%s to match the client's", toggled & FB_LED_CAPS ? " Caps Lock" : "",
               toggled & FB_LED_NUM ? " Num Lock" : "", toggled & FB_LED_SCROLL ? " Scroll Lock" : "");
    s->client_locks = -1;
}

/* The client wants a desktop of width x height: ask the guest's display.
 * The client is resized when (if) the guest changes its mode. */
static void ask_guest_size(struct session *s, int width, int height)
{
    const struct fb *fb;

    if (s->phase != P_DESKTOP || s->src == NULL || width <= 0 || height <= 0)
        return;
    fb = fb_source_fb(s->src);
    if (fb->width == width && fb->height == height)
        return;
    if (fb_source_request_size(s->src, width, height))
        g_info("asked the guest's display for %dx%d (it is %dx%d); the client keeps the guest's size "
               "unless the guest changes its mode", width, height, fb->width, fb->height);
}

static gboolean on_display_io(gint fd, GIOCondition cond, gpointer data)
{
    struct session *s = data;

    if (!fb_source_dispatch(s->src)) {
        s->display_watch = 0;
        if (!s->ended)
            end(s, PROTO_LOGOFF, "the VM's display closed");
        return G_SOURCE_REMOVE;
    }
    if (s->client_locks >= 0)
        sync_locks(s);      /* the guest's lock keys may have come */
    return G_SOURCE_CONTINUE;
}

/* The VM's display socket came: show the desktop. */
static gboolean attach_desktop(struct session *s, int fd, const char *vm)
{
    g_autoptr(GError) err = NULL;
    struct proto_msg *m;

    if (fb_source_open(&fb_qemu_vnc_impl, fd, &source_events, s, &s->src, &err) < 0) {
        g_warning("%s", err->message);
        return FALSE;
    }
    /* The client's first picture must be the desktop, not an empty buffer. */
    if (fb_source_wait_frame(s->src, FIRST_FRAME_TIMEOUT_MS) < 0)
        g_info("no picture from the VM's display within %d ms: going on", FIRST_FRAME_TIMEOUT_MS);
    g_info("desktop %s is ready (%dx%d)", vm, fb_source_fb(s->src)->width, fb_source_fb(s->src)->height);
    s->phase = P_DESKTOP;
    if (s->rdp)
        rdp_front_time_next_frame(s->rdp, "the desktop");
    show(s, fb_source_fb(s->src));
    s->display_watch = g_unix_fd_add(fb_source_poll_fd(s->src), G_IO_IN | G_IO_HUP | G_IO_ERR,
                                     on_display_io, s);
    s->connected = TRUE;
    s->last_input = g_get_monotonic_time();
    sync_locks(s);
    if (s->rdp) {
        int w, h;
        rdp_front_asked_size(s->rdp, &w, &h);
        ask_guest_size(s, w, h);
    }
    stop_login_timer(s);
    m = proto_msg_new(PROTO_CONNECTED);
    g_free(m->encoding);
    m->encoding = g_strdup(s->protocol);
    return tell(s, m);
}

/* Ask for a desktop of pool; wait at most wait_ms for it (the rest of the
 * wait happens in on_broker_io, with the progress screen showing). */
static void allocate(struct session *s, const char *pool, int wait_ms)
{
    struct proto_msg *m = proto_msg_new(PROTO_ALLOCATE), *answer;
    gboolean timed_out = FALSE;
    int fd = -1;

    g_free(m->pool);
    m->pool = g_strdup(pool);
    if (!tell(s, m))
        return;
    s->phase = P_ALLOCATING;
    if (s->ui)
        ui_show_progress(s->ui, 5, "Preparing your desktop");
    answer = await(s, PROTO_VM_READY, &fd, wait_ms, &timed_out);
    if (answer == NULL) {
        if (!timed_out) {
            g_info("no desktop");
            s->ended = TRUE; /* the broker has ended the session itself */
            if (s->ui && s->rdp && s->loop) {
                /* Leave the message on the screen a moment. */
                ui_show_message(s->ui, "No desktop", "Your desktop cannot be prepared now. Try again later.");
                ui_flush(s);
                g_timeout_add_seconds(MESSAGE_LINGER_S, quit_loop, s);
            } else if (s->loop) {
                g_main_loop_quit(s->loop);
            }
        }
        return;
    }
    if (fd < 0 || !attach_desktop(s, fd, answer->vm))
        end(s, PROTO_DISCONNECTED, "the desktop's display cannot be used");
    proto_msg_free(answer);
}

static gboolean quit_loop(gpointer data)
{
    struct session *s = data;

    g_main_loop_quit(s->loop);
    return G_SOURCE_REMOVE;
}

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
    /* While a desktop is prepared, its progress and the desktop itself. */
    if (s->phase == P_ALLOCATING && m->type == PROTO_PROGRESS) {
        if (s->ui) {
            ui_show_progress(s->ui, m->percent, m->text);
            ui_flush(s);
        }
        proto_msg_free(m);
        return G_SOURCE_CONTINUE;
    }
    if (s->phase == P_ALLOCATING && m->type == PROTO_VM_READY && mfd >= 0) {
        if (!attach_desktop(s, mfd, m->vm))
            end(s, PROTO_DISCONNECTED, "the desktop's display cannot be used");
        proto_msg_free(m);
        return G_SOURCE_CONTINUE;
    }
    if (mfd >= 0)
        close(mfd);
    /* No desktop after all (no VM within allocate_timeout, the pool is
     * full): say so on the screen before the connection ends. */
    if (s->phase == P_ALLOCATING && m->type == PROTO_ERROR && s->ui && s->rdp) {
        g_info("no desktop: %s", m->text);
        ui_show_message(s->ui, "No desktop", m->text);
        ui_flush(s);
        proto_msg_free(m);
        s->ended = TRUE;
        s->broker_watch = 0;
        g_timeout_add_seconds(MESSAGE_LINGER_S, quit_loop, s);
        return G_SOURCE_REMOVE;
    }
    /* Otherwise the broker only ever ends a session (an administrator's
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
    int64_t now = g_get_monotonic_time();
    uint64_t bytes = 0, frames = 0;
    const char *encoding = "";
    struct vnc_front_stats vst;
    struct rdp_front_stats rst;
    struct proto_msg *m;

    if (!s->connected)
        return G_SOURCE_CONTINUE;
    if (s->vnc) {
        vnc_front_stats(s->vnc, &vst);
        bytes = vst.bytes_sent;
        frames = vst.updates_sent;
        encoding = vst.encoding;
    } else {
        rdp_front_stats(s->rdp, &rst);
        bytes = rst.bytes_sent;
        frames = rst.frames_sent;
        encoding = rst.encoding;
    }
    if (s->last_stats_at > 0 && now > s->last_stats_at)
        s->fps = (uint32_t)((frames - s->last_frames) * G_USEC_PER_SEC / (uint64_t)(now - s->last_stats_at));
    s->last_frames = frames;
    s->last_stats_at = now;
    m = proto_msg_new(PROTO_STATS);
    g_free(m->encoding);
    m->encoding = g_strdup(encoding);
    m->bytes = bytes;
    m->fps = s->fps;
    m->idle = (uint32_t)((now - s->last_input) / G_USEC_PER_SEC);
    tell(s, m);
    return G_SOURCE_CONTINUE;
}

/* ---- VNC ---- */

static gboolean vnc_authenticate(const uint8_t *challenge, const uint8_t *response, void *data)
{
    struct session *s = data;
    struct proto_msg *m = proto_msg_new(PROTO_REDEEM_TICKET), *answer;
    GString *hex = g_string_new(NULL);
    g_autofree char *pool = NULL;

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
    answer = await(s, PROTO_AUTH_RESULT, NULL, -1, NULL);
    if (answer == NULL || !answer->ok || answer->pools[0] == NULL) {
        if (answer)
            g_info("the ticket was refused: %s", answer->text);
        proto_msg_free(answer);
        return FALSE;
    }
    g_info("ticket accepted for %s, pool %s", answer->user, answer->pools[0]);
    stop_login_timer(s);
    pool = g_strdup(answer->pools[0]);
    proto_msg_free(answer);
    /* The viewer waits for the answer to its password until the desktop is
     * there: VNC has no way to show anything before. */
    allocate(s, pool, -1);
    return s->phase == P_DESKTOP;
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

/* ---- RDP ---- */

/* Ask the broker whether user may log in; on success the user's pools are
 * in s->pools. *why (caller frees) says why not. */
static gboolean rdp_login(struct session *s, const char *user, const char *password, const char *pool,
                          char **why)
{
    struct proto_msg *m = proto_msg_new(PROTO_AUTHENTICATE), *answer;
    gboolean ok;

    g_free(m->user);
    m->user = g_strdup(user);
    g_free(m->password);
    m->password = g_strdup(password);
    g_free(m->pool);
    m->pool = g_strdup(pool ? pool : "");
    g_free(m->protocol);
    m->protocol = g_strdup("rdp");
    g_free(m->client);
    m->client = g_strdup(s->client_addr);
    if (!tell(s, m)) {
        *why = g_strdup("The broker cannot be reached");
        return FALSE;
    }
    answer = await(s, PROTO_AUTH_RESULT, NULL, -1, NULL);
    if (answer == NULL) {
        *why = g_strdup("The broker refused the connection");
        end(s, PROTO_DISCONNECTED, "the broker refused the login");
        return FALSE;
    }
    ok = answer->ok && answer->pools[0] != NULL;
    if (ok) {
        g_free(s->user);
        s->user = g_strdup(answer->user);
        g_strfreev(s->pools);
        s->pools = g_strdupv(answer->pools);
        s->authed = TRUE;
        stop_login_timer(s);
        g_info("%s logged in (%u pools)", s->user, g_strv_length(s->pools));
    } else {
        *why = g_strdup(answer->text[0] ? answer->text : "Please log in");
        g_info("login refused: %s", *why);
    }
    proto_msg_free(answer);
    return ok;
}

/* After a login: allocate the only (or the chosen) pool, or let the user
 * choose. */
static void rdp_after_login(struct session *s, const char *pool, int wait_ms)
{
    if (pool && *pool) {
        allocate(s, pool, wait_ms);
    } else if (g_strv_length(s->pools) == 1) {
        allocate(s, s->pools[0], wait_ms);
    } else if (s->ui) {
        ui_show_login(s->ui, s->user, (const char *const *)s->pools, NULL);
        s->phase = P_LOGIN;
    } else {
        s->phase = P_LOGIN;
    }
}

/* "alice@lab" is alice asking for pool lab. */
static void split_user(const char *text, char **userp, char **poolp)
{
    const char *at = strrchr(text, '@');

    if (at && at[1] != '\0') {
        *userp = g_strndup(text, (gsize)(at - text));
        *poolp = g_strdup(at + 1);
    } else {
        *userp = g_strdup(text);
        *poolp = NULL;
    }
}

static char *pending_error;  /* why the client's own credentials failed */

static void rdp_logon(const char *user_text, const char *domain, const char *password, void *data)
{
    struct session *s = data;
    g_autofree char *user = NULL, *pool = NULL, *why = NULL;

    if (user_text[0] == '\0' || password[0] == '\0') {
        g_info("the client sent no credentials: showing the login screen");
        s->phase = P_LOGIN;
        return;
    }
    split_user(user_text, &user, &pool);
    if (!rdp_login(s, user, password, pool, &why)) {
        pending_error = g_steal_pointer(&why);
        s->phase = P_LOGIN;
        return;
    }
    /* Credentials are good: a desktop that is ready at once is the client's
     * first picture, at its own size. */
    rdp_after_login(s, pool, QUICK_DESKTOP_MS);
}

static void rdp_activated(int width, int height, void *data)
{
    struct session *s = data;

    if (s->phase == P_DESKTOP)
        return;
    if (s->ui == NULL) {
        s->ui = ui_new(width, height);
        if (s->phase == P_LOGIN) {
            ui_show_login(s->ui, s->user ? s->user : "", (const char *const *)s->pools,
                          s->authed ? NULL : pending_error);
        } else {
            ui_show_progress(s->ui, 10, "Preparing your desktop");
        }
    } else {
        ui_resize(s->ui, width, height);
    }
    ui_take_damage(s->ui, (struct fb_rect[1]){ { 0 } }, 1);
    rdp_front_show(s->rdp, ui_fb(s->ui));
}

static void rdp_submit(struct session *s)
{
    g_autofree char *why = NULL;
    g_autofree char *user = NULL, *pool = NULL;

    if (s->authed) {
        /* Only the pool was to be chosen. */
        const char *chosen = ui_pool(s->ui);
        rdp_after_login(s, chosen ? chosen : s->pools[0], 0);
        ui_flush(s);
        return;
    }
    split_user(ui_user(s->ui), &user, &pool);
    if (ui_pool(s->ui) && pool == NULL)
        pool = g_strdup(ui_pool(s->ui));
    if (!rdp_login(s, user, ui_password(s->ui), pool, &why)) {
        if (!s->ended)
            ui_show_login(s->ui, user, NULL, why);
        ui_flush(s);
        return;
    }
    rdp_after_login(s, pool, 0);
    ui_flush(s);
}

static void rdp_key(uint32_t qnum, gboolean down, void *data)
{
    struct session *s = data;
    int keysym;

    s->last_input = g_get_monotonic_time();
    if (s->phase == P_DESKTOP) {
        keysym = keymap_us_qnum_to_keysym(qnum, s->shift_l || s->shift_r);
        fb_source_key(s->src, qnum, keysym > 0 ? (uint32_t)keysym : 0, down);
        return;
    }
    if (qnum == 0x2a)
        s->shift_l = down;
    else if (qnum == 0x36)
        s->shift_r = down;
    if (s->ui == NULL || s->phase != P_LOGIN)
        return;
    keysym = keymap_us_qnum_to_keysym(qnum, s->shift_l || s->shift_r);
    if (keysym > 0 && ui_key(s->ui, (uint32_t)keysym, down) == UI_SUBMIT)
        rdp_submit(s);
    ui_flush(s);
}

static void rdp_unicode(uint32_t codepoint, gboolean down, void *data)
{
    struct session *s = data;
    gboolean shift = FALSE;
    int qnum;

    s->last_input = g_get_monotonic_time();
    if (s->phase == P_DESKTOP) {
        /* Type the character as a US keyboard would. */
        qnum = keymap_us_keysym_to_qnum(codepoint, &shift);
        if (qnum <= 0)
            return;
        if (shift && down)
            fb_source_key(s->src, 0x2a, 0xffe1, TRUE);
        fb_source_key(s->src, (uint32_t)qnum, codepoint, down);
        if (shift && !down)
            fb_source_key(s->src, 0x2a, 0xffe1, FALSE);
        return;
    }
    if (s->ui && s->phase == P_LOGIN && codepoint >= 0x20 && codepoint <= 0xff &&
        ui_key(s->ui, codepoint, down) == UI_SUBMIT)
        rdp_submit(s);
    ui_flush(s);
}

static void rdp_pointer(int x, int y, uint32_t buttons, void *data)
{
    struct session *s = data;

    s->last_input = g_get_monotonic_time();
    if (s->phase == P_DESKTOP) {
        fb_source_pointer(s->src, x, y, buttons);
        return;
    }
    if (s->ui && s->phase == P_LOGIN && ui_pointer(s->ui, x, y, buttons) == UI_SUBMIT)
        rdp_submit(s);
    ui_flush(s);
}

static void rdp_resize_request(int width, int height, void *data)
{
    struct session *s = data;

    g_info("the client asks for a %dx%d desktop", width, height);
    ask_guest_size(s, width, height);
}

static void rdp_sync_locks(int leds, void *data)
{
    struct session *s = data;

    g_debug("the client's lock keys: caps %s, num %s, scroll %s", leds & FB_LED_CAPS ? "on" : "off",
            leds & FB_LED_NUM ? "on" : "off", leds & FB_LED_SCROLL ? "on" : "off");
    s->client_locks = leds;
    sync_locks(s);
}

static void rdp_gone(void *data)
{
    (void)data;
}

static const struct rdp_front_hooks rdp_hooks = {
    .logon = rdp_logon,
    .activated = rdp_activated,
    .key = rdp_key,
    .unicode = rdp_unicode,
    .pointer = rdp_pointer,
    .sync_locks = rdp_sync_locks,
    .resize_request = rdp_resize_request,
    .gone = rdp_gone,
};

/* ---- the client's socket ---- */

static gboolean on_client_io(gint fd, GIOCondition cond, gpointer data)
{
    struct session *s = data;
    gboolean alive = s->vnc ? vnc_front_process(s->vnc) : rdp_front_process(s->rdp);

    if (!alive && !s->ended) {
        if (s->connected) {
            end(s, PROTO_DISCONNECTED, "the client closed the connection");
        } else {
            const char *detail = s->vnc ? vnc_front_last_error() : NULL;
            g_autofree char *why = g_strdup_printf("the client left before it was let in%s%s",
                                                   detail ? ": " : "", detail ? detail : "");
            end(s, PROTO_DISCONNECTED, why);
        }
    }
    /* When the client is gone the loop is quitting; main removes the watch. */
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

/* The first bytes were no protocol at all: tell the broker, for its audit. */
static int refuse_client(const char *why)
{
    struct proto_msg *m = proto_msg_new(PROTO_DISCONNECTED);

    g_free(m->text);
    m->text = g_strdup(why);
    g_info("%s", why);
    proto_send(BROKER_FD, m, -1, NULL);
    proto_msg_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- serve one aula client connection");
    g_autoptr(GError) err = NULL;
    g_autofree char *cert = NULL, *key = NULL;
    struct session s = { 0 };
    gboolean rdp;

    g_log_set_writer_func(log_writer, NULL, NULL);
    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_description(ctx,
        "aulad(8) starts aula-session for each client connection, with the client's socket on\n"
        "descriptor 3 and a socket to aulad on descriptor 4; it is not meant to be run by hand.\n"
        "See aula-session(8).");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("aula-session: %s\n", err->message);
        return 2;
    }
    if (opt_version) {
        printf("aula-session %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (g_strcmp0(opt_protocol, "vnc") != 0 && g_strcmp0(opt_protocol, "rdp") != 0) {
        g_printerr("aula-session: --protocol must be vnc or rdp\n");
        return 2;
    }
    rdp = strcmp(opt_protocol, "rdp") == 0;
    if (fcntl(CLIENT_FD, F_GETFD) < 0 || fcntl(BROKER_FD, F_GETFD) < 0) {
        g_printerr("aula-session: descriptors 3 (client) and 4 (aulad) must be open; "
                   "aulad starts this program\n");
        return 2;
    }
    if (rdp && (opt_cert == NULL || opt_key == NULL || !g_file_get_contents(opt_cert, &cert, NULL, &err) ||
                !g_file_get_contents(opt_key, &key, NULL, &err))) {
        g_warning("RDP needs the TLS certificate and key: %s", err ? err->message : "--cert and --key are missing");
        refuse_client("the session cannot read the TLS certificate");
        return 1;
    }
    if (drop_privileges() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    fcntl(CLIENT_FD, F_SETFD, FD_CLOEXEC);
    fcntl(BROKER_FD, F_SETFD, FD_CLOEXEC);

    s.protocol = opt_protocol;
    s.client_addr = opt_client ? opt_client : "";
    s.phase = P_LOGIN;
    s.client_locks = -1;
    if (rdp) {
        int fds[MAX_CLIENT_FDS], n;
        int r = rdp_front_new(CLIENT_FD, cert, key, &rdp_hooks, &s, &s.rdp, &err);
        explicit_bzero(key, strlen(key));
        if (r < 0) {
            g_autofree char *why = g_strdup_printf("not an RDP client (%s)", err->message);
            return refuse_client(why);
        }
        n = rdp_front_poll_fds(s.rdp, fds, MAX_CLIENT_FDS);
        for (int i = 0; i < n; i++)
            s.client_watch[s.n_client_watch++] =
                g_unix_fd_add(fds[i], G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_io, &s);
    } else {
        if (vnc_front_new(CLIENT_FD, &vnc_hooks, &s, &s.vnc, &err) < 0) {
            g_autofree char *why = g_strdup_printf("not a VNC client (%s)", vnc_front_last_error()
                                                                                 ? vnc_front_last_error()
                                                                                 : err->message);
            return refuse_client(why);
        }
        s.client_watch[s.n_client_watch++] =
            g_unix_fd_add(CLIENT_FD, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_io, &s);
    }
    s.loop = g_main_loop_new(NULL, FALSE);
    if (s.vnc)
        vnc_front_process(s.vnc); /* send the protocol version at once */
    s.broker_watch = g_unix_fd_add(BROKER_FD, G_IO_IN | G_IO_HUP | G_IO_ERR, on_broker_io, &s);
    s.stats_timer = g_timeout_add_seconds(STATS_INTERVAL_S, on_stats, &s);
    s.login_timer = g_timeout_add_seconds(LOGIN_TIMEOUT_S, on_login_timeout, &s);
    g_main_loop_run(s.loop);

    for (int i = 0; i < s.n_client_watch; i++)
        g_source_remove(s.client_watch[i]);
    if (s.display_watch)
        g_source_remove(s.display_watch);
    if (s.broker_watch)
        g_source_remove(s.broker_watch);
    if (s.login_timer)
        g_source_remove(s.login_timer);
    g_source_remove(s.stats_timer);
    vnc_front_free(s.vnc);
    rdp_front_free(s.rdp);
    fb_source_free(s.src);
    if (s.ui)
        ui_free(s.ui);
    g_free(s.user);
    g_strfreev(s.pools);
    g_free(pending_error);
    g_main_loop_unref(s.loop);
    close(BROKER_FD);
    return 0;
}
