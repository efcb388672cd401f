/* fb_qemu: the QEMU VNC framebuffer source.
 *
 * libvirt's virDomainOpenGraphicsFD hands aulad a socket already connected to
 * the domain's VNC server (a UNIX socket inside QEMU, no password); aulad
 * passes it to the session, and this backend speaks RFB on it with
 * libvncclient. It asks for raw encoding only: the socket is local, so
 * compressing would cost CPU on both ends for nothing. The pixel format is the
 * shadow framebuffer's own (struct fb), so libvncclient writes rectangles
 * straight into it and nothing is copied twice.
 *
 * Keys go to QEMU as extended key events (QEMU's RFB extension, pseudo-encoding
 * -258): a QEMU key number, so the guest's own keyboard layout applies.
 * QEMU reports the guest keyboard's lock LEDs (pseudo-encoding -261, one
 * byte), so that a client's lock keys can be brought in line with them. */
#include "config.h"

#include "display/fb_source.h"

#include <errno.h>
#include <rfb/rfbclient.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Above this many damaged rects in one frame, report their bounding box. */
#define MAX_RECTS 128

struct qemu_src {
    struct fb_source *src;
    rfbClient *client;
    GArray *damage;   /* struct fb_rect, this frame */
    gboolean ext_keys; /* QEMU acknowledged extended key events */
    gboolean pseudo;  /* the rect libvncclient reports next is a pseudo one */
};

static int tag;

/* QEMU's LED state pseudo-encoding: the rect carries one byte, bit 0 Scroll
 * Lock, bit 1 Num Lock, bit 2 Caps Lock (the same bits as FB_LED_*). */
#define QEMU_ENCODING_LED_STATE (-261)
static int led_encodings[] = { QEMU_ENCODING_LED_STATE, 0 };
static gboolean led_registered;     /* libvncclient's extensions are global */

static struct qemu_src *from_client(rfbClient *client)
{
    return rfbClientGetClientData(client, &tag);
}

static void client_log(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void client_log(const char *format, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_debug("display: %s", g_strchomp(text));
}

static void client_err(const char *format, ...) G_GNUC_PRINTF(1, 2);
static void client_err(const char *format, ...)
{
    va_list ap;
    g_autofree char *text = NULL;

    va_start(ap, format);
    text = g_strdup_vprintf(format, ap);
    va_end(ap);
    g_info("display: %s", g_strchomp(text));
}

/* libvncclient calls this for the first mode and for every mode change. */
static rfbBool on_malloc_fb(rfbClient *client)
{
    struct qemu_src *q = from_client(client);
    struct fb *fb = &q->src->fb;
    uint8_t *old = fb->data;

    if (client->width <= 0 || client->height <= 0 || client->width > FB_MAX_DIM ||
        client->height > FB_MAX_DIM) {
        g_warning("display: the guest asked for a %dx%d mode, refused", client->width, client->height);
        return FALSE;
    }
    fb->width = client->width;
    fb->height = client->height;
    fb->stride = client->width * FB_BPP;
    fb->data = g_malloc0((size_t)fb->stride * fb->height);
    client->frameBuffer = fb->data;
    g_array_set_size(q->damage, 0);
    if (old) {
        g_info("display: the guest changed mode to %dx%d", fb->width, fb->height);
        fb_source_emit_resize(q->src);
        g_free(old);
    }
    return TRUE;
}

static rfbBool on_pseudo_rect(rfbClient *client, rfbFramebufferUpdateRectHeader *rect)
{
    struct qemu_src *q = from_client(client);
    uint8_t leds;

    if ((int32_t)rect->encoding != QEMU_ENCODING_LED_STATE || q == NULL)
        return FALSE;
    if (!ReadFromRFBServer(client, (char *)&leds, 1))
        return FALSE;
    q->pseudo = TRUE;
    if (q->src->leds != (leds & FB_LED_ALL)) {
        g_debug("display: the guest's lock keys: caps %s, num %s, scroll %s",
                leds & FB_LED_CAPS ? "on" : "off", leds & FB_LED_NUM ? "on" : "off",
                leds & FB_LED_SCROLL ? "on" : "off");
        q->src->leds = leds & FB_LED_ALL;
    }
    return TRUE;
}

static rfbClientProtocolExtension led_extension = {
    .encodings = led_encodings,
    .handleEncoding = on_pseudo_rect,
};

static void on_update(rfbClient *client, int x, int y, int w, int h)
{
    struct qemu_src *q = from_client(client);
    struct fb_rect r = { x, y, w, h };

    if (q->pseudo) {
        q->pseudo = FALSE;
        return;
    }

    /* QEMU acknowledges the extended key event pseudo-encoding with a
     * rectangle the size of the screen and no pixels, and libvncclient
     * reports it like any other: it is not damage. */
    if (!q->ext_keys && SupportsClient2Server(client, rfbQemuEvent)) {
        q->ext_keys = TRUE;
        g_debug("display: QEMU takes extended key events");
        return;
    }
    if (w > 0 && h > 0)
        g_array_append_val(q->damage, r);
}

static void on_finished(rfbClient *client)
{
    struct qemu_src *q = from_client(client);
    struct fb_rect *rects = (struct fb_rect *)q->damage->data;
    int n = (int)q->damage->len;

    if (n > MAX_RECTS) {
        rects[0] = fb_rect_bounds(rects, n);
        n = 1;
    }
    fb_source_emit_frame(q->src, rects, n);
    g_array_set_size(q->damage, 0);
}

/* QEMU sends the pointer's shape (rich cursor) when the guest uses a
 * hardware cursor: pixels in our format and a 0/1 mask per pixel. */
static void on_cursor_shape(rfbClient *client, int xhot, int yhot, int width, int height, int bpp)
{
    struct qemu_src *q = from_client(client);
    struct fb_cursor c = { width, height, xhot, yhot, NULL };

    if (bpp != FB_BPP || width <= 0 || height <= 0 || width > 256 || height > 256 ||
        client->rcSource == NULL || client->rcMask == NULL)
        return;
    c.rgba = g_malloc((size_t)width * height * 4);
    for (int i = 0; i < width * height; i++) {
        memcpy(c.rgba + i * 4, client->rcSource + i * FB_BPP, 3);
        c.rgba[i * 4 + 3] = client->rcMask[i] ? 255 : 0;
    }
    fb_source_emit_cursor(q->src, &c);
    g_free(c.rgba);
}

static int qemu_open(struct fb_source *src, int fd, void **ctxp, GError **error)
{
    struct qemu_src *q = g_new0(struct qemu_src, 1);
    rfbClient *client;

    rfbClientLog = client_log;
    rfbClientErr = client_err;
    if (!led_registered) {
        rfbClientRegisterExtension(&led_extension);
        led_registered = TRUE;
    }
    q->src = src;
    q->damage = g_array_new(FALSE, FALSE, sizeof(struct fb_rect));
    client = rfbGetClient(8, 3, 4);
    /* The shadow framebuffer's format: red in the lowest byte. */
    client->format.bitsPerPixel = 32;
    client->format.depth = 24;
    client->format.trueColour = TRUE;
    client->format.bigEndian = G_BYTE_ORDER == G_BIG_ENDIAN;
    client->format.redMax = client->format.greenMax = client->format.blueMax = 255;
    client->format.redShift = 0;
    client->format.greenShift = 8;
    client->format.blueShift = 16;
    client->appData.encodingsString = "raw";
    client->appData.useRemoteCursor = TRUE;
    client->GotCursorShape = on_cursor_shape;
    client->appData.shareDesktop = TRUE;
    client->canHandleNewFBSize = TRUE;
    client->MallocFrameBuffer = on_malloc_fb;
    client->GotFrameBufferUpdate = on_update;
    client->FinishedFrameBufferUpdate = on_finished;
    /* The socket is already connected: skip libvncclient's own connect. */
    client->listenSpecified = TRUE;
    client->sock = fd;
    client->connectTimeout = 10;
    client->readTimeout = 10;
    rfbClientSetClientData(client, &tag, q);
    client->programName = "aula-session";
    if (!rfbInitClient(client, NULL, NULL)) {
        /* rfbInitClient has freed the client and closed fd. */
        g_set_error(error, g_quark_from_static_string("aula-display-error"), EPROTO,
                    "the VM's display did not answer the VNC handshake");
        g_free(src->fb.data);
        src->fb.data = NULL;
        g_array_free(q->damage, TRUE);
        g_free(q);
        return -EPROTO;
    }
    q->client = client;
    g_info("display: attached to %s, %dx%d", client->desktopName ? client->desktopName : "the VM",
           src->fb.width, src->fb.height);
    *ctxp = q;
    return 0;
}

static int qemu_poll_fd(void *ctx)
{
    struct qemu_src *q = ctx;

    return q->client ? q->client->sock : -1;
}

static gboolean qemu_dispatch(void *ctx)
{
    struct qemu_src *q = ctx;

    /* libvncclient buffers what it reads: handle every message it holds, or
     * the rest would wait for the next poll. */
    do {
        if (!HandleRFBServerMessage(q->client)) {
            fb_source_emit_closed(q->src, "the VM's display closed (the VM stopped or was reset)");
            return FALSE;
        }
    } while (q->client->buffered > 0);
    return TRUE;
}

static void qemu_key(void *ctx, uint32_t qnum, uint32_t keysym, gboolean down)
{
    struct qemu_src *q = ctx;

    if (qnum > 0)
        SendExtendedKeyEvent(q->client, keysym, qnum, down);
    else
        SendKeyEvent(q->client, keysym, down);
}

static void qemu_pointer(void *ctx, int x, int y, uint32_t buttons)
{
    struct qemu_src *q = ctx;

    SendPointerEvent(q->client, x, y, (int)buttons);
}

static void qemu_refresh(void *ctx)
{
    struct qemu_src *q = ctx;

    SendFramebufferUpdateRequest(q->client, 0, 0, q->client->width, q->client->height, FALSE);
}

/* RFB's SetDesktopSize (ExtendedDesktopSize extension): one screen. QEMU
 * hands it to the display device when it takes size hints, and answers
 * with an ExtendedDesktopSize rect, which libvncclient reads. (libvncclient's
 * own SendExtDesktopSize waits for a screen id QEMU never gives.) */
static gboolean qemu_request_size(void *ctx, int width, int height)
{
    struct qemu_src *q = ctx;
    uint8_t msg[8 + 16] = { 0 };

    msg[0] = rfbSetDesktopSize;
    msg[2] = (uint8_t)(width >> 8);
    msg[3] = (uint8_t)width;
    msg[4] = (uint8_t)(height >> 8);
    msg[5] = (uint8_t)height;
    msg[6] = 1;                         /* screens */
    /* the screen: id 0, at 0,0, width x height, flags 0 */
    msg[8 + 8] = msg[2];
    msg[8 + 9] = msg[3];
    msg[8 + 10] = msg[4];
    msg[8 + 11] = msg[5];
    return WriteToRFBServer(q->client, (char *)msg, sizeof(msg));
}

static void qemu_close(void *ctx)
{
    struct qemu_src *q = ctx;

    if (q == NULL)
        return;
    if (q->client) {
        /* libvncclient keeps the last pointer shape until exit. */
        free(q->client->rcSource);
        free(q->client->rcMask);
        q->client->rcSource = NULL;
        q->client->rcMask = NULL;
        rfbClientCleanup(q->client);
    }
    g_free(q->src->fb.data);
    q->src->fb.data = NULL;
    g_array_free(q->damage, TRUE);
    g_free(q);
}

const struct fb_source_impl fb_qemu_vnc_impl = {
    .name = "qemu-vnc",
    .open = qemu_open,
    .poll_fd = qemu_poll_fd,
    .dispatch = qemu_dispatch,
    .key = qemu_key,
    .pointer = qemu_pointer,
    .refresh = qemu_refresh,
    .request_size = qemu_request_size,
    .close = qemu_close,
};
