/* vnc_front: one VNC viewer served with libvncserver. */
#include "config.h"

#include "display/vnc_front.h"

#include <errno.h>
#include <rfb/rfb.h>
#include <string.h>
#include <unistd.h>

/* The picture before the desktop is there (the viewer sees it only if it
 * connects before authenticating, which RFB does not allow: it is a
 * placeholder for ServerInit's fields). */
#define PLACEHOLDER_W 640
#define PLACEHOLDER_H 480

struct vnc_front {
    rfbScreenInfoPtr screen;
    rfbClientPtr client;
    int fd;
    const struct vnc_front_hooks *hooks;
    void *data;
    uint8_t *placeholder;
    gboolean gone;
    /* libvncserver counts bytes in 32 bits: the total is kept here. */
    uint32_t last_raw_bytes;
    uint64_t bytes;
};

static void server_log(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void server_log(const char *format, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_debug("vnc: %s", g_strchomp(text));
}

/* libvncserver's last complaint (one process serves one viewer). */
static char last_error[256];

static void server_err(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void server_err(const char *format, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_strchomp(text);
    g_strlcpy(last_error, text, sizeof(last_error));
    g_info("vnc: %s", text);
}

const char *vnc_front_last_error(void)
{
    return last_error[0] ? last_error : NULL;
}

static struct vnc_front *from_client(rfbClientPtr cl)
{
    return cl->screen->screenData;
}

static rfbBool on_password(rfbClientPtr cl, const char *response, int len)
{
    struct vnc_front *f = from_client(cl);

    if (len != VNC_CHALLENGE_LEN)
        return FALSE;
    return f->hooks->authenticate(cl->authChallenge, (const uint8_t *)response, f->data);
}

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    struct vnc_front *f = from_client(cl);

    if (cl->state == RFB_NORMAL)
        f->hooks->key((uint32_t)keysym, down, f->data);
}

static void on_pointer(int buttons, int x, int y, rfbClientPtr cl)
{
    struct vnc_front *f = from_client(cl);

    if (cl->state == RFB_NORMAL)
        f->hooks->pointer(x, y, (uint32_t)buttons, f->data);
}

static void on_client_gone(rfbClientPtr cl)
{
    struct vnc_front *f = from_client(cl);

    f->gone = TRUE;
    f->client = NULL;
}

static enum rfbNewClientAction on_new_client(rfbClientPtr cl)
{
    cl->clientGoneHook = on_client_gone;
    return RFB_CLIENT_ACCEPT;
}

int vnc_front_new(int fd, const struct vnc_front_hooks *hooks, void *data, struct vnc_front **frontp,
                  GError **error)
{
    struct vnc_front *f = g_new0(struct vnc_front, 1);
    rfbScreenInfoPtr s;

    rfbLog = server_log;
    rfbErr = server_err;
    f->hooks = hooks;
    f->data = data;
    f->fd = fd;
    f->placeholder = g_malloc0(PLACEHOLDER_W * PLACEHOLDER_H * FB_BPP);
    s = rfbGetScreen(NULL, NULL, PLACEHOLDER_W, PLACEHOLDER_H, 8, 3, FB_BPP);
    if (s == NULL) {
        close(fd);
        g_free(f->placeholder);
        g_free(f);
        g_set_error(error, g_quark_from_static_string("aula-display-error"), ENOMEM, "cannot set up the VNC server");
        return -ENOMEM;
    }
    f->screen = s;
    s->screenData = f;
    s->frameBuffer = (char *)f->placeholder;
    s->desktopName = "aula";
    /* No listening socket: aulad accepted the one connection this process
     * serves. */
    s->autoPort = FALSE;
    s->port = 0;
    s->ipv6port = 0;
    s->httpPort = 0;
    s->httpDir = NULL;
    s->alwaysShared = TRUE;
    /* Send as soon as something changed: the session's loop calls in after
     * every frame, so a deferred update would wait for the next one. */
    s->deferUpdateTime = 0;
    /* No server-drawn cursor: the guest draws its own pointer. */
    s->cursor = NULL;
    /* Any non-NULL authPasswdData turns on VNC authentication; the check
     * itself is on_password. */
    s->authPasswdData = (void *)hooks;
    s->passwordCheck = on_password;
    s->kbdAddEvent = on_key;
    s->ptrAddEvent = on_pointer;
    s->newClientHook = on_new_client;
    rfbInitServer(s);
    f->client = rfbNewClient(s, fd);
    if (f->client == NULL) {
        /* rfbNewClient closes fd when it fails. */
        vnc_front_free(f);
        g_set_error(error, g_quark_from_static_string("aula-display-error"), EIO, "cannot start VNC on the connection");
        return -EIO;
    }
    *frontp = f;
    return 0;
}

void vnc_front_free(struct vnc_front *f)
{
    if (f == NULL)
        return;
    if (f->screen) {
        f->screen->newClientHook = NULL;
        rfbShutdownServer(f->screen, TRUE);
        rfbScreenCleanup(f->screen);
    }
    g_free(f->placeholder);
    g_free(f);
}

void vnc_front_set_fb(struct vnc_front *f, const struct fb *fb)
{
    if (fb->width == f->screen->width && fb->height == f->screen->height) {
        f->screen->frameBuffer = (char *)fb->data;
        rfbMarkRectAsModified(f->screen, 0, 0, fb->width, fb->height);
    } else {
        rfbNewFramebuffer(f->screen, (char *)fb->data, fb->width, fb->height, 8, 3, FB_BPP);
    }
}

void vnc_front_set_cursor(struct vnc_front *f, const struct fb_cursor *c)
{
    rfbCursorPtr cur = calloc(1, sizeof(*cur));
    rfbCursorPtr old = f->screen->cursor;
    int mask_row = (c->width + 7) / 8;

    if (cur == NULL)
        return;
    cur->width = (unsigned short)c->width;
    cur->height = (unsigned short)c->height;
    cur->xhot = (unsigned short)c->hot_x;
    cur->yhot = (unsigned short)c->hot_y;
    /* The screen's format is ours: R, G, B, X. */
    cur->richSource = calloc((size_t)c->width * c->height, FB_BPP);
    cur->mask = calloc((size_t)mask_row * c->height, 1);
    if (cur->richSource == NULL || cur->mask == NULL) {
        free(cur->richSource);
        free(cur->mask);
        free(cur);
        return;
    }
    for (int y = 0; y < c->height; y++) {
        for (int x = 0; x < c->width; x++) {
            const uint8_t *p = c->rgba + ((size_t)y * c->width + x) * 4;
            memcpy(cur->richSource + ((size_t)y * c->width + x) * FB_BPP, p, 3);
            if (p[3])
                cur->mask[y * mask_row + x / 8] |= (unsigned char)(0x80 >> (x % 8));
        }
    }
    cur->cleanup = TRUE;
    cur->cleanupRichSource = TRUE;
    cur->cleanupMask = TRUE;
    cur->cleanupSource = TRUE;
    rfbSetCursor(f->screen, cur);
    if (old)
        rfbFreeCursor(old);
}

void vnc_front_damage(struct vnc_front *f, const struct fb_rect *rects, int n)
{
    for (int i = 0; i < n; i++)
        rfbMarkRectAsModified(f->screen, rects[i].x, rects[i].y, rects[i].x + rects[i].w,
                              rects[i].y + rects[i].h);
}

gboolean vnc_front_process(struct vnc_front *f)
{
    if (!f->gone)
        rfbProcessEvents(f->screen, 0);
    return !f->gone;
}

int vnc_front_fd(const struct vnc_front *f)
{
    return f->fd;
}

void vnc_front_stats(struct vnc_front *f, struct vnc_front_stats *st)
{
    uint32_t raw;

    memset(st, 0, sizeof(*st));
    st->bytes_sent = f->bytes;
    if (f->client == NULL)
        return;
    /* Unsigned subtraction carries the count across a wrap at 4 GiB (the
     * stats are read every few seconds, far less than 4 GiB apart). */
    raw = (uint32_t)rfbStatGetSentBytes(f->client);
    f->bytes += (uint32_t)(raw - f->last_raw_bytes);
    f->last_raw_bytes = raw;
    st->bytes_sent = f->bytes;
    st->updates_sent = (uint32_t)rfbStatGetMessageCountSent(f->client, rfbFramebufferUpdate);
    encodingName((uint32_t)f->client->preferredEncoding, st->encoding, sizeof(st->encoding));
    g_strstrip(st->encoding);
}
