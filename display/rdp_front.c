/* rdp_front: one RDP client served with FreeRDP 2's server library. */
#include "config.h"

#include "display/rdp_front.h"

#include "display/h264_enc.h"
#include "display/rdesktop_compat.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <freerdp/channels/channels.h>
#include <freerdp/channels/wtsvc.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/interleaved.h>
#include <freerdp/codec/planar.h>
#include <freerdp/freerdp.h>
#include <freerdp/input.h>
#include <freerdp/peer.h>
#include <freerdp/server/disp.h>
#include <freerdp/server/rdpgfx.h>
#include <freerdp/settings.h>
#include <freerdp/update.h>
#include <winpr/synch.h>

#define RDP_ERROR (g_quark_from_static_string("aula-rdp-error"))
/* Bitmap updates go in tiles of this size (MS-RDPBCGR 2.2.9.1.1.3.1.2.2
 * allows more, but 64x64 is what every client and the planar codec handle). */
#define TILE 64
#define TILE_BUF (TILE * TILE * 4 + 1024)
/* Our framebuffer: bytes R, G, B, X. */
#define SRC_FORMAT PIXEL_FORMAT_RGBX32
/* Graphics pipeline frames sent but not acknowledged: more wait, merged
 * into the next frame, so a slow client gets fewer frames, never a queue. */
#define MAX_IN_FLIGHT 3
/* More damage rectangles than this in one frame: their bounding box. */
#define MAX_REGION_RECTS 64
#define SURFACE_ID 1
/* Damage of at most this many pixels goes as planar tiles through the
 * pipeline even when the client takes AVC420: openh264 re-encodes the whole
 * frame whatever changed (about 12 ms at 1080p, bench_encode), while a few
 * lossless tiles cost microseconds and fewer bytes. */
#define SMALL_DAMAGE_PIXELS (64 * 1024)
/* A client that announced the pipeline gets its first picture at once as
 * bitmap updates: the pipeline opens some 130 ms later (the client answers
 * the dynamic channels' capabilities late), and then the picture goes again
 * onto its surface. Until then no more bitmaps, unless it takes longer than
 * this to open. */
#define GFX_WAIT_MS 1500

/* Full-screen motion under rate control (h264_enc_params.motion_kbps) ends
 * when no large change has come for this long. */
#define MOTION_QUIET_MS 300

enum gfx_state {
    GFX_OFF,        /* bitmap updates */
    GFX_OPENING,    /* the channel is open, capabilities not agreed yet */
    GFX_CONFIRMED,  /* agreed (set by the channel's thread) */
    GFX_ON,         /* surface made: pictures go through the pipeline */
};

struct rdp_front {
    freerdp_peer *peer;
    HANDLE vcm;
    const struct rdp_front_hooks *hooks;
    void *data;
    const struct fb *fb;          /* what is shown (borrowed) */
    int width, height;            /* the client's desktop now */
    int asked_width, asked_height; /* what it asked for when it connected */
    gboolean activated;           /* the client takes pictures */
    gboolean suppressed;          /* the client asked for no pictures (minimised) */
    gboolean logged_on;           /* the logon hook ran */
    gboolean gone;
    gboolean full;                /* the whole screen is due */
    GArray *damage;               /* struct fb_rect, due */
    uint32_t buttons;             /* RFB mask of the buttons held */
    BITMAP_PLANAR_CONTEXT *planar;
    BITMAP_INTERLEAVED_CONTEXT *interleaved;
    uint8_t *tiles;               /* TILE_BUF bytes per tile of one update */
    size_t tiles_len;
    uint64_t bytes, frames;
    char encoding[32];
    /* graphics pipeline */
    RdpgfxServerContext *gfx;
    gint gfx_state;               /* enum gfx_state; the channel thread sets CONFIRMED */
    gint gfx_avc;                 /* the client decodes AVC420 */
    gint in_flight;               /* frames not acknowledged (both threads) */
    gint acks_off;                /* the client suspended acknowledgements */
    uint32_t frame_id;
    struct h264_enc *enc;
    gboolean force_idr;
    BITMAP_PLANAR_CONTEXT *gfx_planar;
    struct fb_cursor cursor;      /* the pointer's shape; rgba NULL: the system pointer */
    GArray *enc_pending;          /* struct fb_rect sent as planar since the last AVC frame */
    gboolean gfx_tried;           /* the pipeline was opened (or failed to) */
    gboolean interim_sent;        /* the picture went as bitmaps while it opens */
    gboolean planar_alpha;        /* bitmaps: planar with the alpha plane (rdesktop) */

    /* display control (MS-RDPEDISP): the client asks for a desktop size */
    DispServerContext *disp;
    gboolean disp_tried;
    gint disp_w, disp_h;          /* atomics: the size asked, from its thread */
    uint64_t frames_on_surface;   /* frames since the surface was made */
    guint gfx_wait;               /* timer: stop waiting for the pipeline */
    guint motion_quiet;           /* timer: motion ended (see h264_enc_end_motion) */
    int64_t logon_at;             /* monotonic µs when the credentials were in */
    char *timed;                  /* what the next frame shows, to time it */
};

struct rdp_ctx {
    rdpContext base;
    struct rdp_front *front;
};

static struct rdp_front *front_of(rdpContext *context)
{
    return ((struct rdp_ctx *)context)->front;
}

static void mark_gone(struct rdp_front *f)
{
    if (!f->gone) {
        f->gone = TRUE;
        f->activated = FALSE;
    }
}

/* ---- pictures ---- */

static void add_damage(struct rdp_front *f, const struct fb_rect *r)
{
    struct fb_rect c = *r;

    if (f->fb == NULL)
        return;
    /* Clip to the picture and to the client's desktop. */
    if (c.x < 0) {
        c.w += c.x;
        c.x = 0;
    }
    if (c.y < 0) {
        c.h += c.y;
        c.y = 0;
    }
    c.w = MIN(c.w, MIN(f->fb->width, f->width) - c.x);
    c.h = MIN(c.h, MIN(f->fb->height, f->height) - c.y);
    if (c.w > 0 && c.h > 0)
        g_array_append_val(f->damage, c);
}

/* Planar-compress a w x h tile at src. The compressor writes the rows bottom
 * to top, as bitmap updates want them; the graphics pipeline wants them top
 * to bottom (MS-RDPEGFX 2.2.4.1), so flip hands them over reversed. */
static gboolean planar_tile(BITMAP_PLANAR_CONTEXT *planar, const uint8_t *src, int stride, int w, int h,
                            gboolean flip, uint8_t *buf, UINT32 *sizep)
{
    uint8_t tmp[TILE * TILE * FB_BPP];

    if (flip) {
        for (int y = 0; y < h; y++)
            memcpy(tmp + (size_t)y * w * FB_BPP, src + (size_t)(h - 1 - y) * stride, (size_t)w * FB_BPP);
        src = tmp;
        stride = w * FB_BPP;
    }
    return freerdp_bitmap_compress_planar(planar, src, SRC_FORMAT, w, h, stride, buf, sizep) != NULL;
}

/* Compress one tile; returns its BITMAP_DATA filled in, FALSE to skip it. */
static gboolean encode_tile(struct rdp_front *f, int x, int y, int w, int h, uint8_t *buf,
                            BITMAP_DATA *b)
{
    const struct fb *fb = f->fb;
    rdpSettings *settings = f->peer->settings;
    const uint8_t *src = fb->data + (size_t)y * fb->stride + (size_t)x * FB_BPP;

    memset(b, 0, sizeof(*b));
    b->destLeft = x;
    b->destTop = y;
    b->destRight = x + w - 1;
    b->destBottom = y + h - 1;
    b->width = w;
    b->height = h;
    b->compressed = TRUE;
    if (settings->ColorDepth == 32) {
        UINT32 size = TILE_BUF;
        /* Bitmap updates are bottom-up (MS-RDPBCGR 2.2.9.1.1.3.1.2.2), as
         * the compressor writes them. */
        if (!planar_tile(f->planar, src, fb->stride, w, h, FALSE, buf, &size))
            return FALSE;
        if (f->planar_alpha && buf[0] != PLANAR_FORMAT_HEADER_RLE) {
            /* rdesktop decodes run-length planar only: the compressor
             * found raw planes smaller, so the tile goes uncompressed
             * (bottom-up, blue first). */
            uint8_t *out = buf;
            for (int row = h - 1; row >= 0; row--) {
                const uint8_t *px = src + (size_t)row * fb->stride;
                for (int col = 0; col < w; col++, px += FB_BPP, out += 4) {
                    out[0] = px[2];
                    out[1] = px[1];
                    out[2] = px[0];
                    out[3] = 0xff;
                }
            }
            size = (UINT32)(w * h * 4);
            b->compressed = FALSE;
        }
        b->bitmapDataStream = buf;
        b->bitmapLength = size;
        b->bitsPerPixel = 32;
        b->cbScanWidth = w * 4;
        b->cbUncompressedSize = w * h * 4;
    } else {
        int bpp = settings->ColorDepth, Bpp = (bpp + 7) / 8;
        UINT32 size = TILE_BUF;
        if (!interleaved_compress(f->interleaved, buf, &size, w, h, fb->data, SRC_FORMAT, fb->stride, x, y,
                                  NULL, bpp))
            return FALSE;
        b->bitmapDataStream = buf;
        b->bitmapLength = size;
        b->bitsPerPixel = bpp;
        b->cbScanWidth = w * Bpp;
        b->cbUncompressedSize = w * h * Bpp;
    }
    b->cbCompFirstRowSize = 0;
    b->cbCompMainBodySize = b->bitmapLength;
    return TRUE;
}

/* Send the rect as bitmap updates, split to the client's fragment limit. */
static gboolean send_bitmaps(struct rdp_front *f, const struct fb_rect *r)
{
    rdpContext *context = f->peer->context;
    rdpSettings *settings = f->peer->settings;
    int x0 = r->x - r->x % 4, y0 = r->y - r->y % 4;
    int x1 = MIN(r->x + r->w, f->fb->width), y1 = MIN(r->y + r->h, f->fb->height);
    int cols, rows, n = 0;
    BITMAP_DATA *tiles;
    BITMAP_UPDATE up = { 0 };
    UINT32 limit = settings->MultifragMaxRequestSize ? settings->MultifragMaxRequestSize : 0x3F0000;
    UINT32 size = 1024;
    int first = 0;
    gboolean ok = TRUE;

    /* Planar and interleaved want sizes that are multiples of 4. */
    x1 = MIN(x1 + (4 - (x1 - x0) % 4) % 4, f->fb->width);
    y1 = MIN(y1 + (4 - (y1 - y0) % 4) % 4, f->fb->height);
    cols = (x1 - x0 + TILE - 1) / TILE;
    rows = (y1 - y0 + TILE - 1) / TILE;
    if (cols <= 0 || rows <= 0)
        return TRUE;
    if (f->tiles_len < (size_t)cols * rows * TILE_BUF) {
        g_free(f->tiles);
        f->tiles_len = (size_t)cols * rows * TILE_BUF;
        f->tiles = g_malloc(f->tiles_len);
    }
    tiles = g_new0(BITMAP_DATA, (size_t)cols * rows);
    for (int ty = 0; ty < rows; ty++) {
        for (int tx = 0; tx < cols; tx++) {
            int x = x0 + tx * TILE, y = y0 + ty * TILE;
            int w = MIN(TILE, x1 - x), h = MIN(TILE, y1 - y);
            if (w < 4 || h < 4)
                continue;
            if (encode_tile(f, x, y, w, h, f->tiles + (size_t)n * TILE_BUF, &tiles[n]))
                n++;
        }
    }
    /* One update PDU per batch of tiles that fits the client's limit. */
    for (int i = 0; i < n && ok; i++) {
        UINT32 next = size + tiles[i].bitmapLength + 26;
        if (next >= limit && i > first) {
            up.number = up.count = (UINT32)(i - first);
            up.rectangles = &tiles[first];
            ok = context->update->BitmapUpdate(context, &up);
            first = i;
            size = 1024;
            next = size + tiles[i].bitmapLength + 26;
        }
        size = next;
        f->bytes += tiles[i].bitmapLength;
    }
    if (ok && n > first) {
        up.number = up.count = (UINT32)(n - first);
        up.rectangles = &tiles[first];
        ok = context->update->BitmapUpdate(context, &up);
    }
    g_free(tiles);
    return ok;
}

/* ---- the graphics pipeline (MS-RDPEGFX) ---- */

/* One frame of planar tiles through the pipeline (clients without AVC). */
static gboolean gfx_send_planar(struct rdp_front *f, const struct fb_rect *rects, int n)
{
    RdpgfxServerContext *g = f->gfx;
    RDPGFX_START_FRAME_PDU start = { .frameId = f->frame_id };
    RDPGFX_END_FRAME_PDU end = { .frameId = f->frame_id };
    uint8_t *buf = g_malloc(TILE_BUF);
    gboolean ok = g->StartFrame(g, &start) == CHANNEL_RC_OK;

    for (int i = 0; i < n && ok; i++) {
        const struct fb_rect *r = &rects[i];
        for (int y = r->y; y < r->y + r->h && ok; y += TILE) {
            for (int x = r->x; x < r->x + r->w && ok; x += TILE) {
                int w = MIN(TILE, r->x + r->w - x), h = MIN(TILE, r->y + r->h - y);
                UINT32 size = TILE_BUF;
                const uint8_t *src = f->fb->data + (size_t)y * f->fb->stride + (size_t)x * FB_BPP;
                RDPGFX_SURFACE_COMMAND cmd = { 0 };
                if (!planar_tile(f->gfx_planar, src, f->fb->stride, w, h, TRUE, buf, &size))
                    continue;
                cmd.surfaceId = SURFACE_ID;
                cmd.codecId = RDPGFX_CODECID_PLANAR;
                cmd.format = PIXEL_FORMAT_BGRX32;
                cmd.left = x;
                cmd.top = y;
                cmd.right = x + w;
                cmd.bottom = y + h;
                cmd.width = w;
                cmd.height = h;
                cmd.data = buf;
                cmd.length = size;
                ok = g->SurfaceCommand(g, &cmd) == CHANNEL_RC_OK;
                f->bytes += size;
            }
        }
    }
    ok = ok && g->EndFrame(g, &end) == CHANNEL_RC_OK;
    g_free(buf);
    return ok;
}

static void flush(struct rdp_front *f);

/* Motion stopped: the encoder goes back to constant quality, and the whole
 * picture goes again. */
static gboolean on_motion_quiet(gpointer data)
{
    struct rdp_front *f = data;

    f->motion_quiet = 0;
    if (f->enc && !f->gone && h264_enc_end_motion(f->enc)) {
        g_debug("rdp: motion ended: the whole picture again at full quality");
        f->full = TRUE;
        flush(f);
    }
    return G_SOURCE_REMOVE;
}

/* One AVC420 frame: the whole surface encoded, the damage as its regions.
 * The encoder's copy of the picture is brought up to date with the damage
 * sent as planar since its last frame, too. */
static gboolean gfx_send_avc(struct rdp_front *f, const struct fb_rect *rects, int n)
{
    RdpgfxServerContext *g = f->gfx;
    g_autoptr(GError) err = NULL;
    RDPGFX_START_FRAME_PDU start = { .frameId = f->frame_id };
    RDPGFX_END_FRAME_PDU end = { .frameId = f->frame_id };
    RDPGFX_SURFACE_COMMAND cmd = { 0 };
    RDPGFX_AVC420_BITMAP_STREAM avc = { 0 };
    RECTANGLE_16 regions[MAX_REGION_RECTS];
    RDPGFX_H264_QUANT_QUALITY quality[MAX_REGION_RECTS];
    struct h264_enc_frame_info info;
    const uint8_t *data = NULL;
    size_t len = 0;
    int k = 0;

    g_array_append_vals(f->enc_pending, rects, (guint)n);
    if (h264_enc_encode(f->enc, f->fb->data, f->fb->stride, (struct fb_rect *)f->enc_pending->data,
                        (int)f->enc_pending->len, f->force_idr, &data, &len, &err) < 0) {
        /* The encoder starts again with a key frame; the client must get
         * all of the picture with it. */
        g_warning("rdp: H.264 encoding failed: %s", err->message);
        f->force_idr = TRUE;
        f->full = TRUE;
        g_atomic_int_add(&f->in_flight, -1); /* nothing went out */
        return TRUE;
    }
    g_array_set_size(f->enc_pending, 0);
    f->force_idr = FALSE;
    h264_enc_last_frame(f->enc, &info);
    if (info.motion) {
        /* Motion ends when nothing large has changed for a while: then the
         * picture goes again at full quality. */
        if (f->motion_quiet)
            g_source_remove(f->motion_quiet);
        f->motion_quiet = g_timeout_add(MOTION_QUIET_MS, on_motion_quiet, f);
    }
    if (info.whole) {
        regions[k++] = (RECTANGLE_16){ 0, 0, (UINT16)f->fb->width, (UINT16)f->fb->height };
    } else if (n > MAX_REGION_RECTS) {
        struct fb_rect b = fb_rect_bounds(rects, n);
        regions[k++] = (RECTANGLE_16){ (UINT16)b.x, (UINT16)b.y, (UINT16)(b.x + b.w), (UINT16)(b.y + b.h) };
    } else {
        for (int i = 0; i < n; i++)
            regions[k++] = (RECTANGLE_16){ (UINT16)rects[i].x, (UINT16)rects[i].y,
                                           (UINT16)(rects[i].x + rects[i].w),
                                           (UINT16)(rects[i].y + rects[i].h) };
    }
    for (int i = 0; i < k; i++)
        quality[i] = (RDPGFX_H264_QUANT_QUALITY){ .qpVal = 22, .qualityVal = 100, .qp = 22, .r = 0, .p = 0 };
    avc.data = (BYTE *)data;
    avc.length = (UINT32)len;
    avc.meta.numRegionRects = (UINT32)k;
    avc.meta.regionRects = regions;
    avc.meta.quantQualityVals = quality;
    cmd.surfaceId = SURFACE_ID;
    cmd.codecId = RDPGFX_CODECID_AVC420;
    cmd.format = PIXEL_FORMAT_BGRX32;
    cmd.left = 0;
    cmd.top = 0;
    cmd.right = (UINT32)f->fb->width;
    cmd.bottom = (UINT32)f->fb->height;
    cmd.width = (UINT32)f->fb->width;
    cmd.height = (UINT32)f->fb->height;
    cmd.extra = &avc;
    f->bytes += len;
    return g->SurfaceFrameCommand(g, &cmd, &start, &end) == CHANNEL_RC_OK;
}

/* Make the surface for the shown picture: reset, create, map, encoder. */
static gboolean gfx_make_surface(struct rdp_front *f, gboolean delete_old)
{
    RdpgfxServerContext *g = f->gfx;
    rdpSettings *settings = f->peer->settings;
    RDPGFX_RESET_GRAPHICS_PDU reset = { 0 };
    RDPGFX_CREATE_SURFACE_PDU create = { 0 };
    RDPGFX_MAP_SURFACE_TO_OUTPUT_PDU map = { 0 };
    MONITOR_DEF monitor = { 0 };
    int w = f->fb ? f->fb->width : f->width, h = f->fb ? f->fb->height : f->height;

    if (delete_old) {
        RDPGFX_DELETE_SURFACE_PDU del = { .surfaceId = SURFACE_ID };
        g->DeleteSurface(g, &del);
    }
    settings->DesktopWidth = (UINT32)w;
    settings->DesktopHeight = (UINT32)h;
    f->width = w;
    f->height = h;
    monitor.right = w - 1;
    monitor.bottom = h - 1;
    monitor.flags = MONITOR_PRIMARY;
    reset.width = (UINT32)w;
    reset.height = (UINT32)h;
    reset.monitorCount = 1;
    reset.monitorDefArray = &monitor;
    create.surfaceId = SURFACE_ID;
    create.width = (UINT16)w;
    create.height = (UINT16)h;
    create.pixelFormat = GFX_PIXEL_FORMAT_XRGB_8888;
    map.surfaceId = SURFACE_ID;
    if (g->ResetGraphics(g, &reset) != CHANNEL_RC_OK || g->CreateSurface(g, &create) != CHANNEL_RC_OK ||
        g->MapSurfaceToOutput(g, &map) != CHANNEL_RC_OK)
        return FALSE;
    /* The encoder is made when the first large change needs it: the first
     * picture goes as lossless tiles, which is quicker than starting
     * openh264 and encoding a key frame (about 100 ms at 1024x768). */
    h264_enc_free(f->enc);
    f->enc = NULL;
    f->force_idr = TRUE;
    f->full = TRUE;
    f->frames_on_surface = 0;
    g_array_set_size(f->enc_pending, 0);
    g_atomic_int_set(&f->in_flight, 0);
    g_info("rdp: graphics pipeline surface %dx%d (%s)", w, h,
           g_atomic_int_get(&f->gfx_avc) ? "AVC420" : "planar");
    return TRUE;
}


/* Milliseconds since the client's credentials arrived, for debug logs. */
static double since_logon(const struct rdp_front *f)
{
    return f->logon_at ? (g_get_monotonic_time() - f->logon_at) / 1000.0 : 0.0;
}

/* A frame went out: if it was the first of something being timed, log it. */
static void frame_sent(struct rdp_front *f)
{
    f->frames++;
    if (f->timed) {
        g_message("rdp: first frame of %s sent %.0f ms after the client's credentials arrived", f->timed,
                  (g_get_monotonic_time() - f->logon_at) / 1000.0);
        g_clear_pointer(&f->timed, g_free);
    }
}

/* On the main loop, after the channel thread agreed the capabilities or had
 * a frame acknowledged. */
static gboolean on_gfx_wake(gpointer data)
{
    struct rdp_front *f = data;

    if (g_atomic_int_get(&f->gfx_state) == GFX_CONFIRMED && f->activated) {
        g_debug("rdp: +%.0f ms: graphics capabilities agreed", since_logon(f));
        if (gfx_make_surface(f, FALSE)) {
            g_atomic_int_set(&f->gfx_state, GFX_ON);
        } else {
            g_warning("rdp: cannot make the graphics surface: bitmap updates instead");
            g_atomic_int_set(&f->gfx_state, GFX_OFF);
        }
    }
    flush(f);
    return G_SOURCE_REMOVE;
}

static void wake_main(struct rdp_front *f)
{
    /* g_idle_add is safe from any thread. */
    g_idle_add(on_gfx_wake, f);
}

/* The channel's thread: agree on the newest version we know, AVC420 when
 * the client can decode it. */
static UINT on_caps_advertise(RdpgfxServerContext *g, const RDPGFX_CAPS_ADVERTISE_PDU *adv)
{
    static const UINT32 order[] = { RDPGFX_CAPVERSION_107, RDPGFX_CAPVERSION_106, RDPGFX_CAPVERSION_105,
                                    RDPGFX_CAPVERSION_104, RDPGFX_CAPVERSION_103, RDPGFX_CAPVERSION_102,
                                    RDPGFX_CAPVERSION_101, RDPGFX_CAPVERSION_10,  RDPGFX_CAPVERSION_81,
                                    RDPGFX_CAPVERSION_8 };
    struct rdp_front *f = g->custom;

    for (size_t o = 0; o < G_N_ELEMENTS(order); o++) {
        for (UINT16 i = 0; i < adv->capsSetCount; i++) {
            RDPGFX_CAPSET caps = adv->capsSets[i];
            RDPGFX_CAPS_CONFIRM_PDU confirm = { .capsSet = &caps };
            gboolean avc;
            UINT rc;
            if (caps.version != order[o])
                continue;
            if (caps.version >= RDPGFX_CAPVERSION_10)
                avc = !(caps.flags & RDPGFX_CAPS_FLAG_AVC_DISABLED);
            else if (caps.version == RDPGFX_CAPVERSION_81)
                avc = (caps.flags & RDPGFX_CAPS_FLAG_AVC420_ENABLED) != 0;
            else
                avc = FALSE;
            rc = g->CapsConfirm(g, &confirm);
            g_atomic_int_set(&f->gfx_avc, avc);
            g_atomic_int_set(&f->gfx_state, GFX_CONFIRMED);
            wake_main(f);
            return rc;
        }
    }
    g_atomic_int_set(&f->gfx_state, GFX_OFF);
    wake_main(f);
    return CHANNEL_RC_UNSUPPORTED_VERSION;
}

static UINT on_frame_ack(RdpgfxServerContext *g, const RDPGFX_FRAME_ACKNOWLEDGE_PDU *ack)
{
    struct rdp_front *f = g->custom;

    if (ack->queueDepth == SUSPEND_FRAME_ACKNOWLEDGEMENT)
        g_atomic_int_set(&f->acks_off, 1);
    if (g_atomic_int_get(&f->in_flight) > 0)
        g_atomic_int_add(&f->in_flight, -1);
    wake_main(f);
    return CHANNEL_RC_OK;
}

/* ---- display control (MS-RDPEDISP) ---- */

/* On the main loop: the client asked for a desktop size. */
static gboolean on_disp_layout(gpointer data)
{
    struct rdp_front *f = data;
    int w = g_atomic_int_get(&f->disp_w), h = g_atomic_int_get(&f->disp_h);

    if (!f->gone && w > 0 && h > 0)
        f->hooks->resize_request(w, h, f->data);
    return G_SOURCE_REMOVE;
}

/* In the channel's thread: the union of the client's monitors is the size
 * it asks for (one monitor: its window or screen). */
static UINT on_monitor_layout(DispServerContext *d, const DISPLAY_CONTROL_MONITOR_LAYOUT_PDU *pdu)
{
    struct rdp_front *f = d->custom;
    int64_t x0 = INT32_MAX, y0 = INT32_MAX, x1 = INT32_MIN, y1 = INT32_MIN;

    if (pdu->NumMonitors == 0)
        return CHANNEL_RC_OK;
    for (UINT32 i = 0; i < pdu->NumMonitors; i++) {
        const DISPLAY_CONTROL_MONITOR_LAYOUT *m = &pdu->Monitors[i];
        x0 = MIN(x0, m->Left);
        y0 = MIN(y0, m->Top);
        x1 = MAX(x1, (int64_t)m->Left + m->Width);
        y1 = MAX(y1, (int64_t)m->Top + m->Height);
    }
    if (x1 - x0 < 1 || y1 - y0 < 1 || x1 - x0 > FB_MAX_DIM || y1 - y0 > FB_MAX_DIM)
        return CHANNEL_RC_OK;       /* FreeRDP checked each monitor's size */
    g_atomic_int_set(&f->disp_w, (gint)(x1 - x0));
    g_atomic_int_set(&f->disp_h, (gint)(y1 - y0));
    g_idle_add(on_disp_layout, f);
    return CHANNEL_RC_OK;
}

static void disp_open(struct rdp_front *f)
{
    f->disp = disp_server_context_new(f->vcm);
    if (f->disp == NULL)
        return;
    f->disp->rdpcontext = f->peer->context;
    f->disp->custom = f;
    f->disp->MaxNumMonitors = 16;
    f->disp->MaxMonitorAreaFactorA = FB_MAX_DIM;
    f->disp->MaxMonitorAreaFactorB = FB_MAX_DIM;
    f->disp->DispMonitorLayout = on_monitor_layout;
    if (f->disp->Open(f->disp) != CHANNEL_RC_OK || f->disp->DisplayControlCaps(f->disp) != CHANNEL_RC_OK) {
        g_info("rdp: the client's display control channel did not open");
        disp_server_context_free(f->disp);
        f->disp = NULL;
        return;
    }
    g_debug("rdp: display control channel open");
}

/* Open the pipeline once the dynamic channels are up, if the client wants it. */
static void gfx_maybe_open(struct rdp_front *f)
{
    rdpSettings *settings = f->peer->settings;

    if (!f->vcm || !WTSVirtualChannelManagerIsChannelJoined(f->vcm, "drdynvc") ||
        WTSVirtualChannelManagerGetDrdynvcState(f->vcm) != DRDYNVC_STATE_READY)
        return;
    if (f->disp == NULL && !f->disp_tried) {
        f->disp_tried = TRUE;
        disp_open(f);
    }
    if (f->gfx || !settings->SupportGraphicsPipeline)
        return;
    f->gfx = rdpgfx_server_context_new(f->vcm);
    if (f->gfx == NULL)
        return;
    f->gfx->rdpcontext = f->peer->context;
    f->gfx->custom = f;
    f->gfx->CapsAdvertise = on_caps_advertise;
    f->gfx->FrameAcknowledge = on_frame_ack;
    g_atomic_int_set(&f->gfx_state, GFX_OPENING);
    g_debug("rdp: +%.0f ms: dynamic channels ready, opening the graphics pipeline", since_logon(f));
    f->gfx_tried = TRUE;
    if (!f->gfx->Open(f->gfx)) {
        g_info("rdp: the client's graphics pipeline did not open: bitmap updates");
        settings->SupportGraphicsPipeline = FALSE;
        g_atomic_int_set(&f->gfx_state, GFX_OFF);
        flush(f);
    }
}

/* Send what is due, if the client takes pictures now. */
static void flush(struct rdp_front *f)
{
    rdpSettings *settings;

    if (!f->activated || f->suppressed || f->gone || f->fb == NULL ||
        (!f->full && f->damage->len == 0))
        return;
    settings = f->peer->settings;
    if (g_atomic_int_get(&f->gfx_state) == GFX_OPENING || g_atomic_int_get(&f->gfx_state) == GFX_CONFIRMED)
        return; /* the pipeline is about to take over */
    if (settings->SupportGraphicsPipeline && !f->gfx_tried && f->gfx_wait) {
        if (f->interim_sent)
            return; /* the pipeline is coming: its first frame brings the rest */
        f->interim_sent = TRUE;
        f->full = TRUE;
        g_debug("rdp: +%.0f ms: the first picture as bitmaps while the pipeline opens",
                since_logon(f));
    }
    if (g_atomic_int_get(&f->gfx_state) == GFX_ON) {
        gboolean ok;
        if (!g_atomic_int_get(&f->acks_off) && g_atomic_int_get(&f->in_flight) >= MAX_IN_FLIGHT)
            return; /* the next acknowledgement sends what piled up */
        if (f->full) {
            struct fb_rect all = { 0, 0, f->fb->width, f->fb->height };
            g_array_set_size(f->damage, 0);
            g_array_append_val(f->damage, all);
            f->full = FALSE;
        }
        f->frame_id++;
        g_atomic_int_add(&f->in_flight, 1);
        g_strlcpy(f->encoding, g_atomic_int_get(&f->gfx_avc) ? "avc420" : "gfx-planar", sizeof(f->encoding));
        {
            const struct fb_rect *r = (const struct fb_rect *)f->damage->data;
            int n = (int)f->damage->len;
            int64_t area = 0;
            for (int i = 0; i < n; i++)
                area += (int64_t)r[i].w * r[i].h;
            gboolean avc = g_atomic_int_get(&f->gfx_avc);
            if (avc && f->enc == NULL && area > SMALL_DAMAGE_PIXELS && f->frames_on_surface > 0) {
                struct h264_enc_params p = { .width = f->fb->width, .height = f->fb->height, .max_fps = 30,
                                             .bitrate_kbps = 0, .qp = 22,
                                             .motion_kbps = H264_MOTION_KBPS };
                g_autoptr(GError) err = NULL;
                if (h264_enc_new(&p, &f->enc, &err) < 0) {
                    g_warning("rdp: no H.264 encoder (%s): planar through the pipeline", err->message);
                    g_atomic_int_set(&f->gfx_avc, 0);
                    avc = FALSE;
                } else {
                    g_info("rdp: H.264 encoder started at %dx%d for a large change", f->fb->width,
                           f->fb->height);
                    /* Its copy of the picture starts from all of it. */
                    struct fb_rect all = { 0, 0, f->fb->width, f->fb->height };
                    g_array_set_size(f->enc_pending, 0);
                    g_array_append_val(f->enc_pending, all);
                    f->force_idr = TRUE;
                }
            }
            if (f->enc && area > SMALL_DAMAGE_PIXELS) {
                ok = gfx_send_avc(f, r, n);
            } else {
                ok = gfx_send_planar(f, r, n);
                if (f->enc)
                    g_array_append_vals(f->enc_pending, r, (guint)n);
            }
            f->frames_on_surface++;
        }
        g_array_set_size(f->damage, 0);
        frame_sent(f);
        if (!ok) {
            g_info("rdp: sending a frame failed: the client is gone");
            mark_gone(f);
        }
        return;
    }
    g_strlcpy(f->encoding, settings->ColorDepth == 32 ? "planar" : "interleaved", sizeof(f->encoding));
    if (f->full) {
        struct fb_rect all = { 0, 0, MIN(f->fb->width, f->width), MIN(f->fb->height, f->height) };
        g_array_set_size(f->damage, 0);
        g_array_append_val(f->damage, all);
        f->full = FALSE;
    }
    for (guint i = 0; i < f->damage->len; i++) {
        if (!send_bitmaps(f, &g_array_index(f->damage, struct fb_rect, i))) {
            g_info("rdp: sending a picture failed: the client is gone");
            mark_gone(f);
            break;
        }
    }
    g_array_set_size(f->damage, 0);
    frame_sent(f);
}

/* The client's desktop must be fb's size: resize it (it reactivates). */
static void resize_client(struct rdp_front *f)
{
    rdpSettings *settings = f->peer->settings;

    if (f->fb->width == f->width && f->fb->height == f->height)
        return;
    if (g_atomic_int_get(&f->gfx_state) == GFX_ON) {
        g_info("rdp: resizing the graphics surface to %dx%d", f->fb->width, f->fb->height);
        if (!gfx_make_surface(f, TRUE))
            mark_gone(f);
        flush(f);
        return;
    }
    if (!settings->DesktopResize) {
        g_info("rdp: the client cannot resize its desktop (%dx%d); the picture is %dx%d", f->width,
               f->height, f->fb->width, f->fb->height);
        return;
    }
    g_info("rdp: resizing the client from %dx%d to %dx%d", f->width, f->height, f->fb->width,
           f->fb->height);
    settings->DesktopWidth = (UINT32)f->fb->width;
    settings->DesktopHeight = (UINT32)f->fb->height;
    f->width = f->fb->width;
    f->height = f->fb->height;
    f->activated = FALSE;
    if (!f->peer->update->DesktopResize(f->peer->context))
        mark_gone(f);
}

/* ---- the pointer ---- */

/* Pointer shapes larger than this are cut (MS-RDPBCGR 2.2.9.1.1.4.4 allows
 * 96x96 without the large pointer capability). */
#define MAX_POINTER 96

/* Send the pointer's shape as a 32 bpp new-pointer update: colour rows
 * (B, G, R, A) and the 1 bpp AND mask, both bottom-up, mask rows padded to
 * two bytes; a transparent pixel has AND 1 and colour 0. */
static void send_cursor(struct rdp_front *f)
{
    rdpContext *context = f->peer->context;
    const struct fb_cursor *c = &f->cursor;
    POINTER_NEW_UPDATE up = { 0 };
    int w, h, and_row;
    uint8_t *xor_mask, *and_mask;

    if (c->rgba == NULL || context->update->pointer->PointerNew == NULL)
        return;
    w = MIN(c->width, MAX_POINTER);
    h = MIN(c->height, MAX_POINTER);
    and_row = ((w + 15) / 16) * 2;
    xor_mask = g_malloc0((size_t)w * h * 4);
    and_mask = g_malloc0((size_t)and_row * h);
    for (int y = 0; y < h; y++) {
        const uint8_t *src = c->rgba + (size_t)y * c->width * 4;
        uint8_t *dst = xor_mask + (size_t)(h - 1 - y) * w * 4;
        uint8_t *and = and_mask + (size_t)(h - 1 - y) * and_row;
        for (int x = 0; x < w; x++) {
            if (src[x * 4 + 3]) {
                dst[x * 4 + 0] = src[x * 4 + 2];
                dst[x * 4 + 1] = src[x * 4 + 1];
                dst[x * 4 + 2] = src[x * 4 + 0];
                dst[x * 4 + 3] = 0xff;
            } else {
                and[x / 8] |= (uint8_t)(0x80 >> (x % 8));
            }
        }
    }
    up.xorBpp = 32;
    up.colorPtrAttr.cacheIndex = 0;
    up.colorPtrAttr.xPos = (UINT32)MIN(c->hot_x, w - 1);
    up.colorPtrAttr.yPos = (UINT32)MIN(c->hot_y, h - 1);
    up.colorPtrAttr.width = (UINT32)w;
    up.colorPtrAttr.height = (UINT32)h;
    up.colorPtrAttr.lengthXorMask = (UINT32)(w * h * 4);
    up.colorPtrAttr.lengthAndMask = (UINT32)(and_row * h);
    up.colorPtrAttr.xorMaskData = xor_mask;
    up.colorPtrAttr.andMaskData = and_mask;
    if (!context->update->pointer->PointerNew(context, &up))
        g_info("rdp: the pointer shape was not sent");
    g_free(xor_mask);
    g_free(and_mask);
}

void rdp_front_set_cursor(struct rdp_front *f, const struct fb_cursor *c)
{
    g_free(f->cursor.rgba);
    f->cursor = *c;
    f->cursor.rgba = g_memdup2(c->rgba, (gsize)c->width * c->height * 4);
    if (f->activated && !f->gone)
        send_cursor(f);
}

/* ---- callbacks from FreeRDP ---- */

static BOOL on_capabilities(freerdp_peer *peer)
{
    struct rdp_front *f = front_of(peer->context);
    rdpSettings *settings = peer->settings;

    /* The Client Info PDU is in: its credentials can be checked before the
     * client is told the desktop's size, so that a desktop that is ready at
     * once needs no resize. */
    if (!f->logged_on) {
        f->logged_on = TRUE;
        f->logon_at = g_get_monotonic_time();
        f->width = f->asked_width = (int)settings->DesktopWidth;
        f->height = f->asked_height = (int)settings->DesktopHeight;
        g_info("rdp: client %s, %dx%d at %u bpp, build %u", settings->ClientHostname ? settings->ClientHostname : "",
               f->width, f->height, settings->ColorDepth, settings->ClientBuild);
        f->hooks->logon(settings->Username ? settings->Username : "", settings->Domain ? settings->Domain : "",
                        settings->Password ? settings->Password : "", f->data);
        if (f->fb && (f->fb->width != f->width || f->fb->height != f->height)) {
            settings->DesktopWidth = (UINT32)f->fb->width;
            settings->DesktopHeight = (UINT32)f->fb->height;
            f->width = f->fb->width;
            f->height = f->fb->height;
        }
    }
    return TRUE;
}

static BOOL on_post_connect(freerdp_peer *peer)
{
    struct rdp_front *f = front_of(peer->context);
    rdpSettings *settings = peer->settings;

    /* 24 bpp has no compressor worth using; 16 bpp interleaved is the
     * fallback below 32. */
    if (settings->ColorDepth == 24)
        settings->ColorDepth = 16;
    if (rdesktop_compat_seen() && !f->planar_alpha) {
        /* rdesktop's planar decoder wants the alpha plane, run-length
         * encoded (other clients take planar without it). */
        BITMAP_PLANAR_CONTEXT *planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_RLE, TILE, TILE);
        if (planar != NULL) {
            freerdp_bitmap_planar_context_free(f->planar);
            f->planar = planar;
            f->planar_alpha = TRUE;
            g_info("rdp: planar bitmaps with their alpha plane, for rdesktop");
        }
    }
    return TRUE;
}

static gboolean kick_channels(gpointer data)
{
    struct rdp_front *f = data;

    if (f->vcm && !f->gone && WTSVirtualChannelManagerCheckFileDescriptor(f->vcm))
        gfx_maybe_open(f);
    return G_SOURCE_REMOVE;
}

static gboolean on_gfx_wait_over(gpointer data)
{
    struct rdp_front *f = data;

    f->gfx_wait = 0;
    if (!f->gfx_tried)
        g_info("rdp: the graphics pipeline did not open within %d ms: bitmap updates until it does",
               GFX_WAIT_MS);
    flush(f);
    return G_SOURCE_REMOVE;
}

static BOOL on_activate(freerdp_peer *peer)
{
    struct rdp_front *f = front_of(peer->context);
    rdpSettings *settings = peer->settings;

    f->width = (int)settings->DesktopWidth;
    f->height = (int)settings->DesktopHeight;
    f->activated = TRUE;
    f->full = TRUE;
    if (settings->SupportGraphicsPipeline && !f->gfx_tried && f->gfx_wait == 0) {
        f->gfx_wait = g_timeout_add(GFX_WAIT_MS, on_gfx_wait_over, f);
        /* Start the dynamic channels as soon as this activation is done,
         * not at the client's next packet: the pipeline opens on them. */
        g_idle_add(kick_channels, f);
    }
    if (f->cursor.rgba)
        send_cursor(f);
    g_info("rdp: activated at %dx%d, %u bpp", f->width, f->height, settings->ColorDepth);
    g_debug("rdp: +%.0f ms: activated", since_logon(f));
    f->hooks->activated(f->width, f->height, f->data);
    if (g_atomic_int_get(&f->gfx_state) == GFX_CONFIRMED) {
        on_gfx_wake(f);
        return TRUE;
    }
    if (f->fb && (f->fb->width != f->width || f->fb->height != f->height))
        resize_client(f);
    else
        flush(f);
    return TRUE;
}

static BOOL on_refresh_rect(rdpContext *context, BYTE count, const RECTANGLE_16 *areas)
{
    struct rdp_front *f = front_of(context);

    if (count == 0)
        f->full = TRUE;
    for (BYTE i = 0; i < count; i++) {
        struct fb_rect r = { areas[i].left, areas[i].top, areas[i].right - areas[i].left,
                             areas[i].bottom - areas[i].top };
        add_damage(f, &r);
    }
    flush(f);
    return TRUE;
}

static BOOL on_suppress_output(rdpContext *context, BYTE allow, const RECTANGLE_16 *area)
{
    struct rdp_front *f = front_of(context);

    f->suppressed = !allow;
    if (allow) {
        f->full = TRUE;
        flush(f);
    }
    return TRUE;
}

static BOOL on_sync(rdpInput *input, UINT32 flags)
{
    struct rdp_front *f = front_of(input->context);
    int leds = ((flags & KBD_SYNC_CAPS_LOCK) ? FB_LED_CAPS : 0) |
               ((flags & KBD_SYNC_NUM_LOCK) ? FB_LED_NUM : 0) |
               ((flags & KBD_SYNC_SCROLL_LOCK) ? FB_LED_SCROLL : 0);

    f->hooks->sync_locks(leds, f->data);
    return TRUE;
}

static BOOL on_key(rdpInput *input, UINT16 flags, UINT16 code)
{
    struct rdp_front *f = front_of(input->context);
    uint32_t qnum = (code & 0x7f) | ((flags & KBD_FLAGS_EXTENDED) ? 0x80 : 0);

    if (flags & KBD_FLAGS_EXTENDED1) {
        /* Pause/Break: E1 1D 45; QEMU calls it 0xc6. */
        qnum = 0xc6;
    }
    f->hooks->key(qnum, !(flags & KBD_FLAGS_RELEASE), f->data);
    return TRUE;
}

static BOOL on_unicode(rdpInput *input, UINT16 flags, UINT16 code)
{
    struct rdp_front *f = front_of(input->context);

    f->hooks->unicode(code, !(flags & KBD_FLAGS_RELEASE), f->data);
    return TRUE;
}

static BOOL on_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
    struct rdp_front *f = front_of(input->context);
    uint32_t bit = 0;

    if (flags & PTR_FLAGS_WHEEL) {
        /* One notch each: press and release button 4 (up) or 5 (down). */
        uint32_t b = (flags & PTR_FLAGS_WHEEL_NEGATIVE) ? FB_BUTTON_WHEEL_DOWN : FB_BUTTON_WHEEL_UP;
        f->hooks->pointer(x, y, f->buttons | b, f->data);
        f->hooks->pointer(x, y, f->buttons, f->data);
        return TRUE;
    }
    if (flags & PTR_FLAGS_BUTTON1)
        bit = FB_BUTTON_LEFT;
    else if (flags & PTR_FLAGS_BUTTON2)
        bit = FB_BUTTON_RIGHT;
    else if (flags & PTR_FLAGS_BUTTON3)
        bit = FB_BUTTON_MIDDLE;
    if (bit) {
        if (flags & PTR_FLAGS_DOWN)
            f->buttons |= bit;
        else
            f->buttons &= ~bit;
    }
    f->hooks->pointer(x, y, f->buttons, f->data);
    return TRUE;
}

static BOOL on_extended_mouse(rdpInput *input, UINT16 flags, UINT16 x, UINT16 y)
{
    struct rdp_front *f = front_of(input->context);

    /* Back/forward buttons have no RFB equivalent: the position counts. */
    f->hooks->pointer(x, y, f->buttons, f->data);
    return TRUE;
}

static BOOL ctx_new(freerdp_peer *peer, rdpContext *context)
{
    ((struct rdp_ctx *)context)->front = peer->ContextExtra;
    return TRUE;
}

static void ctx_free(freerdp_peer *peer, rdpContext *context)
{
}

/* ---- public ---- */

int rdp_front_new(int fd, const char *cert_pem, const char *key_pem, const struct rdp_front_hooks *hooks,
                  void *data, struct rdp_front **frontp, GError **error)
{
    struct rdp_front *f = g_new0(struct rdp_front, 1);
    rdpSettings *settings;
    freerdp_peer *peer;

    /* winpr's WTS functions (virtual channels) are FreeRDP's server ones. */
    WTSRegisterWtsApiFunctionTable(FreeRDP_InitWtsApi());
    f->hooks = hooks;
    f->data = data;
    f->damage = g_array_new(FALSE, FALSE, sizeof(struct fb_rect));
    f->enc_pending = g_array_new(FALSE, FALSE, sizeof(struct fb_rect));
    peer = freerdp_peer_new(fd);
    if (peer == NULL) {
        close(fd);
        g_array_free(f->enc_pending, TRUE);
        g_array_free(f->damage, TRUE);
        g_free(f);
        g_set_error(error, RDP_ERROR, ENOMEM, "cannot set up the RDP server");
        return -ENOMEM;
    }
    f->peer = peer;
    peer->ContextSize = sizeof(struct rdp_ctx);
    peer->ContextNew = ctx_new;
    peer->ContextFree = ctx_free;
    peer->ContextExtra = f;
    if (!freerdp_peer_context_new(peer)) {
        freerdp_peer_free(peer);
        g_array_free(f->enc_pending, TRUE);
        g_array_free(f->damage, TRUE);
        g_free(f);
        g_set_error(error, RDP_ERROR, ENOMEM, "cannot set up the RDP connection");
        return -ENOMEM;
    }
    settings = peer->settings;
    if (!freerdp_settings_set_string(settings, FreeRDP_CertificateContent, cert_pem) ||
        !freerdp_settings_set_string(settings, FreeRDP_PrivateKeyContent, key_pem) ||
        !freerdp_settings_set_string(settings, FreeRDP_RdpKeyContent, key_pem)) {
        rdp_front_free(f);
        g_set_error(error, RDP_ERROR, EINVAL, "cannot use the TLS certificate");
        return -EINVAL;
    }
    /* TLS only: standard RDP security is weak, and NLA would need the
     * user's password here before the broker has seen it. */
    settings->RdpSecurity = FALSE;
    settings->TlsSecurity = TRUE;
    settings->NlaSecurity = FALSE;
    settings->ExtSecurity = FALSE;
    settings->ColorDepth = 32;
    settings->RemoteFxCodec = FALSE;
    settings->NSCodec = FALSE;
    settings->SupportGraphicsPipeline = TRUE;
    settings->FrameMarkerCommandEnabled = TRUE;
    settings->SurfaceFrameMarkerEnabled = TRUE;
    settings->RefreshRect = TRUE;
    settings->SuppressOutput = TRUE;
    settings->DrawAllowSkipAlpha = TRUE;
    settings->CompressionEnabled = TRUE;
    settings->CompressionLevel = PACKET_COMPR_TYPE_RDP6;
    peer->Capabilities = on_capabilities;
    peer->PostConnect = on_post_connect;
    peer->Activate = on_activate;
    peer->input->SynchronizeEvent = on_sync;
    peer->input->KeyboardEvent = on_key;
    peer->input->UnicodeKeyboardEvent = on_unicode;
    peer->input->MouseEvent = on_mouse;
    peer->input->ExtendedMouseEvent = on_extended_mouse;
    peer->update->RefreshRect = on_refresh_rect;
    peer->update->SuppressOutput = on_suppress_output;
    f->planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE, TILE, TILE);
    f->interleaved = bitmap_interleaved_context_new(TRUE);
    f->gfx_planar = freerdp_bitmap_planar_context_new(PLANAR_FORMAT_HEADER_NA | PLANAR_FORMAT_HEADER_RLE, TILE, TILE);
    if (!peer->Initialize(peer) || f->planar == NULL || f->interleaved == NULL) {
        rdp_front_free(f);
        g_set_error(error, RDP_ERROR, EIO, "cannot start RDP on the connection");
        return -EIO;
    }
    f->vcm = WTSOpenServerA((LPSTR)peer->context);
    if (f->vcm == NULL || f->vcm == INVALID_HANDLE_VALUE) {
        f->vcm = NULL;
        rdp_front_free(f);
        g_set_error(error, RDP_ERROR, EIO, "cannot open the virtual channel manager");
        return -EIO;
    }
    *frontp = f;
    return 0;
}

void rdp_front_asked_size(const struct rdp_front *f, int *width, int *height)
{
    *width = f->asked_width;
    *height = f->asked_height;
}

void rdp_front_free(struct rdp_front *f)
{
    if (f == NULL)
        return;
    if (f->gfx) {
        /* Stops the channel's thread: no callback runs after this. */
        f->gfx->Close(f->gfx);
        rdpgfx_server_context_free(f->gfx);
    }
    if (f->disp) {
        /* Stops the channel's thread too. */
        f->disp->Close(f->disp);
        disp_server_context_free(f->disp);
    }
    while (g_idle_remove_by_data(f))
        ;
    if (f->gfx_wait)
        g_source_remove(f->gfx_wait);
    if (f->motion_quiet)
        g_source_remove(f->motion_quiet);
    h264_enc_free(f->enc);
    if (f->gfx_planar)
        freerdp_bitmap_planar_context_free(f->gfx_planar);
    if (f->vcm)
        WTSCloseServer(f->vcm);
    if (f->peer) {
        f->peer->Disconnect(f->peer);
        freerdp_peer_context_free(f->peer);
        freerdp_peer_free(f->peer);
    }
    if (f->planar)
        freerdp_bitmap_planar_context_free(f->planar);
    if (f->interleaved)
        bitmap_interleaved_context_free(f->interleaved);
    g_free(f->tiles);
    g_free(f->timed);
    g_free(f->cursor.rgba);
    g_array_free(f->enc_pending, TRUE);
    g_array_free(f->damage, TRUE);
    g_free(f);
}

void rdp_front_show(struct rdp_front *f, const struct fb *fb)
{
    f->fb = fb;
    g_array_set_size(f->damage, 0);
    f->full = TRUE;
    if (!f->logged_on || !f->activated)
        return;
    if (fb->width != f->width || fb->height != f->height)
        resize_client(f);
    else
        flush(f);
}

void rdp_front_time_next_frame(struct rdp_front *f, const char *what)
{
    g_free(f->timed);
    f->timed = g_strdup(what);
}

void rdp_front_damage(struct rdp_front *f, const struct fb_rect *rects, int n)
{
    for (int i = 0; i < n; i++)
        add_damage(f, &rects[i]);
    flush(f);
}

gboolean rdp_front_process(struct rdp_front *f)
{
    if (f->gone)
        return FALSE;
    if (!f->peer->CheckFileDescriptor(f->peer)) {
        g_info("rdp: the client closed the connection");
        mark_gone(f);
        return FALSE;
    }
    if (f->vcm && !WTSVirtualChannelManagerCheckFileDescriptor(f->vcm)) {
        g_info("rdp: the virtual channels failed");
        mark_gone(f);
        return FALSE;
    }
    gfx_maybe_open(f);
    return !f->gone;
}

int rdp_front_poll_fds(struct rdp_front *f, int *fds, int max)
{
    HANDLE handles[32];
    DWORD n = f->peer->GetEventHandles(f->peer, handles, 32);
    int k = 0;

    for (DWORD i = 0; i < n && k < max; i++) {
        int fd = GetEventFileDescriptor(handles[i]);
        if (fd >= 0)
            fds[k++] = fd;
    }
    if (f->vcm && k < max) {
        int fd = GetEventFileDescriptor(WTSVirtualChannelManagerGetEventHandle(f->vcm));
        if (fd >= 0)
            fds[k++] = fd;
    }
    return k;
}

void rdp_front_stats(const struct rdp_front *f, struct rdp_front_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->bytes_sent = f->bytes;
    st->frames_sent = f->frames;
    g_strlcpy(st->encoding, f->encoding, sizeof(st->encoding));
}
