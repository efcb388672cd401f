/* h264_enc: H.264 encoding of the framebuffer with openh264 (see h264_enc.h). */
#include "config.h"

#include "display/h264_enc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wels/codec_api.h>

/* H.264 Table A-1, level 5.2: MaxFS (macroblocks per frame) and MaxBR for
 * Baseline (in 1000 bit/s). Larger frames would need a level that does not
 * exist, and decoders may refuse them. */
#define MAX_MBS 36864
#define MAX_KBPS 240000
#define MAX_FPS 60          /* openh264's MAX_FRAME_RATE */
#define DEFAULT_QP 22

/* The rate control's QP range. openh264 narrows it to 26..35 for screen
 * content unless told: 26 blurs small text even when bits are to spare, so
 * allow finer steps; 42 bounds how bad a frame can get under a low bitrate. */
#define RC_MIN_QP 16
#define RC_MAX_QP 42

/* Motion (h264_enc_params.motion_kbps) starts after this many costly frames
 * in a row, and ends after this many with less than half the frame changed. */
#define COSTLY_FRAMES 3
#define QUIET_FRAMES 2

/* Pixels converted per step. The loops' counts are then multiples of 32
 * luma and 16 chroma samples, which GCC's -O2 vectoriser needs: it does not
 * vectorise a loop that would need a scalar remainder. */
#define BLOCK 32
#define ROUND_UP(x, m) (((x) + (m) - 1) / (m) * (m))

/* Colour conversion, RGB to Y'CbCr with the BT.709 matrix (Kr = 0.2126,
 * Kb = 0.0722, Kg = 1 - Kr - Kb = 0.7152):
 *
 *   Y  = s * (Kr R + Kg G + Kb B) + o
 *   Cb = 128 + c * (B - Y') / (2 (1 - Kb))      Y' = Kr R + Kg G + Kb B
 *   Cr = 128 + c * (R - Y') / (2 (1 - Kr))
 *
 * Full range: s = c = 1, o = 0 (Y 0..255). This is what RDP clients expect:
 * FreeRDP converts decoded AVC420 pictures back with R = Y + 1.5748 (Cr - 128)
 * and no offset or scaling of Y (libfreerdp/primitives/prim_internal.h,
 * YUV2R), and its own and xrdp's encoders convert this way. Limited range
 * (studio swing, what the H.264 VUI calls video_full_range_flag 0):
 * s = 219/255, c = 224/255, o = 16.
 *
 * Fixed point, so that every step fits 16-bit lanes and the row loops
 * vectorise (SSE2, NEON) without widening to 32 bits:
 * - Luma: each coefficient k is K = round(k * 65536) (Q16). With v << 8 as
 *   the 16-bit operand, (v << 8) * K >> 16 = floor(v * k * 256): the sum of
 *   the three is Y * 256 (Q8), at most 65280, and Y = (sum + 128 + 256 o) >> 8.
 * - Chroma: per pixel, (v << 6) * K >> 16 = floor(v * k * 64) (Q6), the
 *   positive term minus the two negative ones, kept modulo 2^16. Four pixels'
 *   sum is then 256 times the 2x2 average (Q8), |sum| <= 32640, and
 *   C = (sum + 128 * 256 + 127) >> 8 computed modulo 2^16 is exact because
 *   the true value lies in 0..65535 (127 rather than 128 keeps pure blue, Cb
 *   255.5, from wrapping to 0).
 * The floors lose at most 3/256 of a step in Y and 3/64 in Cb and Cr, so the
 * results are the exact values rounded, give or take 0.05. The chroma
 * coefficients of a row sum to zero, so greys get exactly 128.
 *
 *   full range   Y  13933 46871  4732 (sum 65536)
 *                Cb -7509 -25259 32768    Cr 32768 -29763 -3005
 *   limited      Y  11966 40254  4064 (sum 56284 = 65536 * 219/255)
 *                Cb -6596 -22189 28785    Cr 28784 -26145 -2639
 * (Cb's 28785 in limited range is 28784.44 rounded up, to sum to zero.) */
struct yuv_coeffs {
    uint16_t yr, yg, yb, y_add;     /* Y = (yr R + yg G + yb B + y_add) >> 8 */
    uint16_t ur, ug, ub;            /* Cb per pixel: ub B - ur R - ug G */
    uint16_t vr, vg, vb;            /* Cr per pixel: vr R - vg G - vb B */
};

static const struct yuv_coeffs bt709_full = {
    13933, 46871, 4732, 128,
    7509, 25259, 32768,
    32768, 29763, 3005,
};

static const struct yuv_coeffs bt709_limited = {
    11966, 40254, 4064, 128 + (16 << 8),
    6596, 22189, 28785,
    28784, 26145, 2639,
};

struct h264_enc {
    ISVCEncoder *codec;
    SEncParamExt settings;          /* what codec was made with, to make it again */
    const struct yuv_coeffs *coeffs;
    int width, height;              /* of the frame */
    int cw, ch;                     /* coded: rounded up to 16 */
    int stride;                     /* of Y, rounded up to BLOCK; U and V have half */
    gboolean quality_mode;          /* constant qp: bitrate changes do not apply */
    int qp;                         /* of constant quality */
    int motion_kbps;                /* see h264_enc_params */
    gboolean motion;                /* under rate control for motion */
    gboolean refresh;               /* motion ended: the next frame is whole */
    int costly_run;                 /* frames in a row over motion's budget */
    int quiet_run;                  /* frames in a row, in motion, with little change */
    gboolean started;               /* the whole picture has been converted once */

    uint8_t *yuv;                   /* Y (stride x ch), then U and V (stride/2 x ch/2) */
    uint8_t *plane[3];
    uint16_t *chroma_rows;          /* per-pixel Cb/Cr of two rows, stride each */

    uint8_t *out;                   /* the last frame's bitstream */
    size_t out_cap;

    struct h264_enc_frame_info last;
};

static GQuark display_error(void)
{
    return g_quark_from_static_string("aula-display-error");
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The high half of a 16 x 16 bit product: one instruction on SSE2 (pmulhuw)
 * and NEON, and the pattern the vectoriser looks for. */
static inline uint16_t mulhi(uint16_t a, uint16_t b)
{
    return (uint16_t)(((uint32_t)a * b) >> 16);
}

/* Two bytes as one 16-bit value, first byte low, whatever the host's byte
 * order: loading 16 bits at a time (rather than R, G, B bytes and skipping
 * X) leaves no gaps in the access pattern, which GCC's vectoriser wants at
 * -O2 (no scalar epilogue). */
static inline uint16_t load_le16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return GUINT16_FROM_LE(v);
}

/* Convert nblk * BLOCK pixels of one row: Y out, and each pixel's Cb and Cr
 * contributions (Q6, modulo 2^16) for subsample_rows.
 * The row functions are kept out of line so that the vectoriser sees their
 * counts as multiples of the block (inlined, GCC 12 lost track of that). */
static G_GNUC_NO_INLINE void convert_row(const struct yuv_coeffs *k, const uint8_t *restrict src,
                                         uint8_t *restrict y, uint16_t *restrict cb,
                                         uint16_t *restrict cr, int nblk)
{
    const uint16_t yr = k->yr, yg = k->yg, yb = k->yb, y_add = k->y_add;
    const uint16_t ur = k->ur, ug = k->ug, ub = k->ub, vr = k->vr, vg = k->vg, vb = k->vb;
    const int n = nblk * BLOCK;

    for (int i = 0; i < n; i++) {
        uint16_t rg = load_le16(src + FB_BPP * i), bx = load_le16(src + FB_BPP * i + 2);
        uint16_t r = rg & 0xff, g = rg >> 8, b = bx & 0xff;
        uint16_t r6 = (uint16_t)(r << 6), g6 = (uint16_t)(g << 6), b6 = (uint16_t)(b << 6);
        uint16_t luma = (uint16_t)(mulhi((uint16_t)(r << 8), yr) + mulhi((uint16_t)(g << 8), yg) +
                                   mulhi((uint16_t)(b << 8), yb));

        y[i] = (uint8_t)((uint16_t)(luma + y_add) >> 8);
        cb[i] = (uint16_t)(mulhi(b6, ub) - mulhi(r6, ur) - mulhi(g6, ug));
        cr[i] = (uint16_t)(mulhi(r6, vr) - mulhi(g6, vg) - mulhi(b6, vb));
    }
}

/* Average 2x2 pixels' contributions into nblk * BLOCK / 2 Cb and Cr samples. */
static G_GNUC_NO_INLINE void subsample_rows(const uint16_t *restrict cb0,
                                            const uint16_t *restrict cb1,
                                            const uint16_t *restrict cr0,
                                            const uint16_t *restrict cr1,
                                            uint8_t *restrict u, uint8_t *restrict v, int nblk)
{
    const int n = nblk * (BLOCK / 2);

    for (int i = 0; i < n; i++) {
        u[i] = (uint8_t)((uint16_t)(cb0[2 * i] + cb0[2 * i + 1] + cb1[2 * i] + cb1[2 * i + 1] +
                                    (128 << 8) + 127) >> 8);
        v[i] = (uint8_t)((uint16_t)(cr0[2 * i] + cr0[2 * i + 1] + cr1[2 * i] + cr1[2 * i + 1] +
                                    (128 << 8) + 127) >> 8);
    }
}

/* Convert the area [x0, x1) x [y0, y1) from rgbx (x multiples of BLOCK, up
 * to the stride; y even, up to the coded height). Rows and columns past the
 * frame repeat its last row and column: rows by reading the last source row
 * again, columns through a copy of the row's last partial block padded with
 * its last pixel. */
static void convert_area(struct h264_enc *enc, const uint8_t *rgbx, int stride, int x0, int y0,
                         int x1, int y1)
{
    const int whole_end = enc->width / BLOCK * BLOCK;          /* blocks that are all inside */
    const int nfull = MAX(0, MIN(x1, whole_end) - x0) / BLOCK;
    const gboolean tail = x1 > whole_end;
    const int ys = enc->stride;
    uint16_t *cb[2] = { enc->chroma_rows, enc->chroma_rows + ys };
    uint16_t *cr[2] = { enc->chroma_rows + 2 * ys, enc->chroma_rows + 3 * ys };
    uint8_t pad[BLOCK * FB_BPP];

    for (int row = y0; row < y1; row += 2) {
        for (int i = 0; i < 2; i++) {
            const uint8_t *src = rgbx + (size_t)MIN(row + i, enc->height - 1) * (size_t)stride;
            uint8_t *y = enc->plane[0] + (size_t)(row + i) * ys;

            if (nfull > 0)
                convert_row(enc->coeffs, src + (size_t)x0 * FB_BPP, y + x0, cb[i] + x0, cr[i] + x0,
                            nfull);
            if (tail) {
                int have = enc->width - whole_end;

                memcpy(pad, src + (size_t)whole_end * FB_BPP, (size_t)have * FB_BPP);
                for (int x = have; x < BLOCK; x++)
                    memcpy(pad + x * FB_BPP, pad + (have - 1) * FB_BPP, FB_BPP);
                convert_row(enc->coeffs, pad, y + whole_end, cb[i] + whole_end, cr[i] + whole_end,
                            1);
            }
        }
        subsample_rows(cb[0] + x0, cb[1] + x0, cr[0] + x0, cr[1] + x0,
                       enc->plane[1] + (size_t)(row / 2) * (ys / 2) + x0 / 2,
                       enc->plane[2] + (size_t)(row / 2) * (ys / 2) + x0 / 2, (x1 - x0) / BLOCK);
    }
}

/* Convert a damaged rect (already clipped, not empty), widened to whole
 * blocks and pixel pairs; a rect that reaches the frame's last row also
 * refreshes the padding rows below it. */
static void convert_rect(struct h264_enc *enc, const uint8_t *rgbx, int stride,
                         const struct fb_rect *r)
{
    int x0 = r->x / BLOCK * BLOCK, x1 = MIN(ROUND_UP(r->x + r->w, BLOCK), enc->stride);
    int y0 = r->y / 2 * 2, y1 = r->y + r->h >= enc->height ? enc->ch : ROUND_UP(r->y + r->h, 2);

    convert_area(enc, rgbx, stride, x0, y0, x1, y1);
}

/* openh264's log, into ours: its errors are worth a warning, the rest (it
 * warns about settings made on purpose, such as no frame skipping) is debug. */
static void trace_cb(void *ctx, int level, const char *msg)
{
    g_autofree char *line = g_strchomp(g_strdup(msg));

    if (level <= WELS_LOG_ERROR)
        g_warning("openh264: %s", line);
    else
        g_debug("openh264: %s", line);
}

static int fail(GError **error, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static int fail(GError **error, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL)
        *error = g_error_new_valist(display_error(), code, fmt, ap);
    va_end(ap);
    return -code;
}

static int check_params(const struct h264_enc_params *p, GError **error)
{
    if (p->width < 1 || p->height < 1 || p->width > FB_MAX_DIM || p->height > FB_MAX_DIM)
        return fail(error, EINVAL, "cannot encode %dx%d frames: each side must be 1..%d pixels",
                    p->width, p->height, FB_MAX_DIM);
    if ((int64_t)ROUND_UP(p->width, 16) / 16 * (ROUND_UP(p->height, 16) / 16) > MAX_MBS)
        return fail(error, EINVAL, "cannot encode %dx%d frames: H.264 allows at most %d "
                    "macroblocks (e.g. 4096x2304); lower the guest's resolution",
                    p->width, p->height, MAX_MBS);
    if (p->max_fps < 1 || p->max_fps > MAX_FPS)
        return fail(error, EINVAL, "frame rate %d is out of range 1..%d", p->max_fps, MAX_FPS);
    if (p->bitrate_kbps < 0 || p->bitrate_kbps > MAX_KBPS)
        return fail(error, EINVAL, "bitrate %d kbit/s is out of range 0..%d", p->bitrate_kbps,
                    MAX_KBPS);
    if (p->motion_kbps < 0 || p->motion_kbps > MAX_KBPS)
        return fail(error, EINVAL, "motion bitrate %d kbit/s is out of range 0..%d",
                    p->motion_kbps, MAX_KBPS);
    if (p->qp < 0 || p->qp > 51)
        return fail(error, EINVAL, "qp %d is out of range 0..51", p->qp);
    return 0;
}

/* openh264's settings: see the block comments for the choices that matter. */
static void fill_settings(const struct h264_enc_params *p, int cw, int ch, SEncParamExt *s)
{
    SSpatialLayerConfig *layer = &s->sSpatialLayers[0];

    s->iUsageType = SCREEN_CONTENT_REAL_TIME;
    s->iPicWidth = cw;
    s->iPicHeight = ch;
    s->fMaxFrameRate = (float)p->max_fps;
    if (p->bitrate_kbps > 0) {
        s->iRCMode = RC_BITRATE_MODE;
        s->iTargetBitrate = p->bitrate_kbps * 1000;
        s->iMinQp = RC_MIN_QP;
        s->iMaxQp = RC_MAX_QP;
    } else {
        /* No rate control: every frame at the given qp. */
        s->iRCMode = RC_OFF_MODE;
        s->iTargetBitrate = 0;
    }
    s->iMaxBitrate = UNSPECIFIED_BIT_RATE;
    /* A frame is sent for every change; skipping one would leave the client
     * showing stale pixels until the next change. */
    s->bEnableFrameSkip = false;
    s->iSpatialLayerNum = 1;
    s->iTemporalLayerNum = 1;
    s->uiIntraPeriod = 0;                   /* IDR only first and when forced */
    s->iMultipleThreadIdc = 1;              /* one core per session */
    /* The slowest and best of openh264's searches: at 1080p it costs under
     * a millisecond a frame and saves 1-2 % of the bytes at motion's rate. */
    s->iComplexityMode = HIGH_COMPLEXITY;
    s->eSpsPpsIdStrategy = CONSTANT_ID;     /* Microsoft's macOS client needs them constant */
    s->bPrefixNalAddingCtrl = false;        /* SVC prefix NALs are not AVC */
    s->bEnableSSEI = false;
    /* CAVLC keeps the stream Constrained Baseline, which every AVC420 client
     * decodes: FreeRDP through openh264 or FFmpeg, Windows through Media
     * Foundation. The level follows from size, rate and bitrate. */
    s->iEntropyCodingModeFlag = 0;
    /* Deblocking at its weakest. At full strength it smears one-pixel text
     * strokes that lie within three pixels of a block edge (the strong intra
     * filter reads p3/q3): measured on a page of 8x16 glyphs at qp 22, text
     * luma PSNR was 30.1 dB with the filter, 45.7 dB without. Offsets of -6
     * switch it off below qp ~28, where text is sharp, and keep it above,
     * where blocking shows: on moving natural content at qp 38 it gave
     * 38.9 dB against 37.3 dB with no filter. */
    s->iLoopFilterDisableIdc = 0;
    s->iLoopFilterAlphaC0Offset = -6;
    s->iLoopFilterBetaOffset = -6;
    /* openh264 turns these off for screen content itself, with a warning. */
    s->bEnableAdaptiveQuant = false;
    s->bEnableBackgroundDetection = false;
    s->bEnableDenoise = false;
    s->bEnableLongTermReference = false;
    /* The coded size is already a multiple of 16: nothing to crop
     * (MS-RDPEGFX 2.2.4.4: the client crops with the region rects). */
    s->bEnableFrameCroppingFlag = false;

    layer->iVideoWidth = cw;
    layer->iVideoHeight = ch;
    layer->fFrameRate = (float)p->max_fps;
    layer->iSpatialBitrate = s->iTargetBitrate;
    layer->iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE;
    layer->iDLayerQp = p->qp > 0 ? p->qp : DEFAULT_QP;
    layer->uiProfileIdc = PRO_BASELINE;
    layer->sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
    /* Say what the samples are, for decoders that read the VUI (FreeRDP
     * does not: it converts with its own full-range BT.709 matrix). */
    layer->bVideoSignalTypePresent = true;
    layer->uiVideoFormat = VF_UNDEF;
    layer->bFullRange = !p->limited_range;
    layer->bColorDescriptionPresent = true;
    layer->uiColorPrimaries = CP_BT709;
    layer->uiTransferCharacteristics = TRC_IEC61966_2_1;     /* sRGB, a desktop */
    layer->uiColorMatrix = CM_BT709;
}

static void codec_close(struct h264_enc *enc)
{
    if (enc->codec == NULL)
        return;
    (*enc->codec)->Uninitialize(enc->codec);
    WelsDestroySVCEncoder(enc->codec);
    enc->codec = NULL;
}

/* Make the openh264 encoder from enc->settings, with its log in ours. */
static int codec_open(struct h264_enc *enc, GError **error)
{
    WelsTraceCallback trace = trace_cb;
    int level = WELS_LOG_WARNING;
    int rc;

    if (WelsCreateSVCEncoder(&enc->codec) != 0 || enc->codec == NULL) {
        enc->codec = NULL;
        return fail(error, EIO, "openh264 could not make an encoder");
    }
    (*enc->codec)->SetOption(enc->codec, ENCODER_OPTION_TRACE_CALLBACK, &trace);
    (*enc->codec)->SetOption(enc->codec, ENCODER_OPTION_TRACE_LEVEL, &level);
    rc = (*enc->codec)->InitializeExt(enc->codec, &enc->settings);
    if (rc != cmResultSuccess) {
        codec_close(enc);
        return fail(error, EIO, "openh264 refused the settings for %dx%d at %.0f fps (error %d)",
                    enc->width, enc->height, enc->settings.fMaxFrameRate, rc);
    }
    return 0;
}

int h264_enc_new(const struct h264_enc_params *params, struct h264_enc **encp, GError **error)
{
    struct h264_enc *enc = NULL;
    int r;

    r = check_params(params, error);
    if (r < 0)
        goto out;

    enc = g_new0(struct h264_enc, 1);
    enc->width = params->width;
    enc->height = params->height;
    enc->cw = ROUND_UP(params->width, 16);
    enc->ch = ROUND_UP(params->height, 16);
    enc->coeffs = params->limited_range ? &bt709_limited : &bt709_full;
    enc->quality_mode = params->bitrate_kbps == 0;
    enc->qp = params->qp > 0 ? params->qp : DEFAULT_QP;
    enc->motion_kbps = enc->quality_mode ? MIN(params->motion_kbps, MAX_KBPS) : 0;
    enc->stride = ROUND_UP(params->width, BLOCK);
    enc->yuv = g_malloc((size_t)enc->stride * enc->ch * 3 / 2);
    enc->plane[0] = enc->yuv;
    enc->plane[1] = enc->plane[0] + (size_t)enc->stride * enc->ch;
    enc->plane[2] = enc->plane[1] + (size_t)enc->stride / 2 * (enc->ch / 2);
    enc->chroma_rows = g_new(uint16_t, (size_t)enc->stride * 4);

    /* The defaults come from an encoder instance; the one that asks is the
     * one that is then set up. */
    if (WelsCreateSVCEncoder(&enc->codec) != 0 || enc->codec == NULL ||
        (*enc->codec)->GetDefaultParams(enc->codec, &enc->settings) != cmResultSuccess) {
        r = fail(error, EIO, "openh264 could not make an encoder");
        goto out;
    }
    codec_close(enc);
    fill_settings(params, enc->cw, enc->ch, &enc->settings);
    r = codec_open(enc, error);
    if (r < 0)
        goto out;

    *encp = enc;
    enc = NULL;
    r = 0;
out:
    h264_enc_free(enc);
    return r;
}

void h264_enc_free(struct h264_enc *enc)
{
    if (enc == NULL)
        return;
    codec_close(enc);
    g_free(enc->yuv);
    g_free(enc->chroma_rows);
    g_free(enc->out);
    g_free(enc);
}

/* Copy the frame's NAL units (each with its start code) into enc->out. */
static size_t collect_output(struct h264_enc *enc, const SFrameBSInfo *info)
{
    size_t total = 0, at = 0;

    for (int l = 0; l < info->iLayerNum; l++)
        for (int i = 0; i < info->sLayerInfo[l].iNalCount; i++)
            total += (size_t)info->sLayerInfo[l].pNalLengthInByte[i];
    if (total > enc->out_cap) {
        enc->out_cap = MAX(total, enc->out_cap * 2);
        g_free(enc->out);
        enc->out = g_malloc(enc->out_cap);
    }
    for (int l = 0; l < info->iLayerNum; l++) {
        const SLayerBSInfo *layer = &info->sLayerInfo[l];
        size_t len = 0;

        for (int i = 0; i < layer->iNalCount; i++)
            len += (size_t)layer->pNalLengthInByte[i];
        memcpy(enc->out + at, layer->pBsBuf, len);
        at += len;
    }
    return total;
}

/* Pixels of the frame that damage covers (overlaps counted twice). */
static int64_t damage_area(const struct h264_enc *enc, const struct fb_rect *damage, int n)
{
    int64_t area = 0;

    if (n == 0 && damage == NULL)
        return (int64_t)enc->width * enc->height;
    for (int i = 0; i < n; i++)
        area += (int64_t)MAX(damage[i].w, 0) * MAX(damage[i].h, 0);
    return area;
}

int h264_enc_encode(struct h264_enc *enc, const uint8_t *rgbx, int stride,
                    const struct fb_rect *damage, int n, gboolean force_idr,
                    const uint8_t **datap, size_t *lenp, GError **error)
{
    SSourcePicture pic = { 0 };
    SFrameBSInfo info;
    int64_t t0, t1, t2;
    size_t len = 0;
    int64_t area;
    gboolean whole;
    int r, rc;

    if (enc->codec == NULL)
        return fail(error, EIO, "the H.264 encoder is gone: openh264 could not be set up again");
    if (rgbx == NULL || stride < enc->width * FB_BPP || n < 0 || (n > 0 && damage == NULL))
        return fail(error, EINVAL, "bad frame for the H.264 encoder (stride %d for width %d, "
                    "%d rects)", stride, enc->width, n);

    area = damage_area(enc, damage, n);
    if (enc->motion) {
        enc->quiet_run = area * 2 < (int64_t)enc->width * enc->height ? enc->quiet_run + 1 : 0;
        if (enc->quiet_run >= QUIET_FRAMES)
            h264_enc_end_motion(enc);
    }
    whole = enc->refresh;
    enc->refresh = FALSE;

    t0 = now_ns();
    if (!enc->started || (n == 0 && damage == NULL)) {
        convert_area(enc, rgbx, stride, 0, 0, enc->stride, enc->ch);
        enc->started = TRUE;
    } else {
        for (int i = 0; i < n; i++) {
            struct fb_rect c = damage[i];
            int x1 = MIN(c.x + c.w, enc->width), y1 = MIN(c.y + c.h, enc->height);

            c.x = MAX(c.x, 0);
            c.y = MAX(c.y, 0);
            c.w = x1 - c.x;
            c.h = y1 - c.y;
            if (c.w > 0 && c.h > 0)
                convert_rect(enc, rgbx, stride, &c);
        }
    }
    t1 = now_ns();

    pic.iColorFormat = videoFormatI420;
    pic.iPicWidth = enc->cw;
    pic.iPicHeight = enc->ch;
    pic.iStride[0] = enc->stride;
    pic.iStride[1] = pic.iStride[2] = enc->stride / 2;
    pic.pData[0] = enc->plane[0];
    pic.pData[1] = enc->plane[1];
    pic.pData[2] = enc->plane[2];
    pic.uiTimeStamp = t0 / 1000000;
    memset(&info, 0, sizeof(info));
    /* The C binding leaves out the C++ method's layer argument; with one
     * layer and no simulcast, openh264 does not read it. */
    if (force_idr)
        (*enc->codec)->ForceIntraFrame(enc->codec, true);
    rc = (*enc->codec)->EncodeFrame(enc->codec, &pic, &info);
    if (rc != cmResultSuccess) {
        /* openh264 frees its state when a frame overflows its output buffer
         * (1.5 bytes per pixel: noise at a low qp does it), and then refuses
         * every frame. Make it again: its next frame is an IDR, and the
         * YUV copy still holds this frame's changes. */
        codec_close(enc);
        r = codec_open(enc, NULL);
        return fail(error, EIO, "openh264 could not encode a %dx%d frame (error %d)%s", enc->width,
                    enc->height, rc, r == 0 ? "; the next frame is a key frame" : "");
    }
    if (info.eFrameType != videoFrameTypeSkip)
        len = collect_output(enc, &info);
    t2 = now_ns();

    enc->last.idr = info.eFrameType == videoFrameTypeIDR;
    enc->last.convert_ns = t1 - t0;
    enc->last.encode_ns = t2 - t1;
    enc->last.motion = enc->motion;
    enc->last.whole = whole;
    if (enc->motion_kbps > 0 && !enc->motion) {
        /* Motion: most of the frame changed and it cost more than the
         * motion bitrate allows, several frames in a row. */
        size_t budget = (size_t)enc->motion_kbps * 1000 / 8 / (size_t)enc->settings.fMaxFrameRate;
        gboolean costly = len > budget && area * 2 >= (int64_t)enc->width * enc->height;

        enc->costly_run = costly ? enc->costly_run + 1 : 0;
        if (enc->costly_run >= COSTLY_FRAMES && h264_enc_set_mode(enc, enc->motion_kbps) == 0) {
            enc->motion = TRUE;
            enc->quiet_run = 0;
        }
    }
    *datap = enc->out;
    *lenp = len;
    return 0;
}

void h264_enc_set_bitrate(struct h264_enc *enc, int bitrate_kbps)
{
    SBitrateInfo rate = { .iLayer = SPATIAL_LAYER_ALL };
    int rc;

    if (bitrate_kbps <= 0 || enc->quality_mode)
        return;
    rate.iBitrate = MIN(bitrate_kbps, MAX_KBPS) * 1000;
    /* Kept in the settings too, for when the encoder is made again. */
    enc->settings.iTargetBitrate = rate.iBitrate;
    enc->settings.sSpatialLayers[0].iSpatialBitrate = rate.iBitrate;
    if (enc->codec == NULL)
        return;
    rc = (*enc->codec)->SetOption(enc->codec, ENCODER_OPTION_BITRATE, &rate);
    if (rc != cmResultSuccess)
        g_warning("%s: openh264 refused %d kbit/s (error %d)", __func__, bitrate_kbps, rc);
}

int h264_enc_set_mode(struct h264_enc *enc, int bitrate_kbps)
{
    SEncParamExt s = enc->settings, old = enc->settings;
    g_autoptr(GError) err = NULL;

    if ((bitrate_kbps <= 0) == enc->quality_mode)
        return 0;
    if (bitrate_kbps > 0) {
        s.iRCMode = RC_BITRATE_MODE;
        s.iTargetBitrate = MIN(bitrate_kbps, MAX_KBPS) * 1000;
        s.iMinQp = RC_MIN_QP;
        s.iMaxQp = RC_MAX_QP;
        /* Camera mode: its rate control holds quality over a long run of
         * motion, where screen content mode's drifts down (bench_encode,
         * 1080p at 10 Mbit/s, 240 frames: 32.0 against 28.5 dB). */
        s.iUsageType = CAMERA_VIDEO_REAL_TIME;
    } else {
        s.iRCMode = RC_OFF_MODE;
        s.iTargetBitrate = 0;
        s.iUsageType = SCREEN_CONTENT_REAL_TIME;
    }
    s.sSpatialLayers[0].iSpatialBitrate = s.iTargetBitrate;
    s.sSpatialLayers[0].iDLayerQp = enc->qp;
    /* openh264 takes a new rate control mode through SetOption but goes on
     * with the old one: make the encoder again (its next frame is a key
     * frame, which a switch wants anyway: all of the picture changes). */
    codec_close(enc);
    enc->settings = s;
    if (codec_open(enc, &err) < 0) {
        g_warning("%s: openh264 refused to switch to %s: %s", __func__,
                  bitrate_kbps > 0 ? "rate control" : "constant quality", err->message);
        enc->settings = old;
        codec_close(enc);
        if (codec_open(enc, NULL) < 0)
            g_warning("%s: and the old settings too: the encoder is gone", __func__);
        return -1;
    }
    enc->settings = s;
    enc->quality_mode = bitrate_kbps <= 0;
    return 0;
}

gboolean h264_enc_end_motion(struct h264_enc *enc)
{
    if (!enc->motion)
        return FALSE;
    if (h264_enc_set_mode(enc, 0) < 0)
        return FALSE;
    enc->motion = FALSE;
    enc->refresh = TRUE;
    enc->costly_run = 0;
    return TRUE;
}

void h264_enc_last_frame(const struct h264_enc *enc, struct h264_enc_frame_info *info)
{
    *info = enc->last;
}
