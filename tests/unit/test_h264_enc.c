/* Unit tests for display/h264_enc.c: the bitstream's structure, the
 * parameter checks, and round trips through openh264's decoder that check the
 * colour conversion against BT.709 computed in floating point. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <wels/codec_api.h>

#include "display/h264_enc.h"

#define ROUND16(x) (((x) + 15) / 16 * 16)

/* NAL unit types (H.264 Table 7-1) as bits of a mask. */
#define NAL_SLICE (1u << 1)
#define NAL_IDR (1u << 5)
#define NAL_SPS (1u << 7)
#define NAL_PPS (1u << 8)

struct picture {
    int width, height, stride;
    uint8_t *rgbx;
};

static uint32_t rng_state;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static struct picture *picture_new(int width, int height)
{
    struct picture *p = g_new0(struct picture, 1);

    p->width = width;
    p->height = height;
    p->stride = width * FB_BPP + 12;        /* rows with slack, as a VNC framebuffer may have */
    p->rgbx = g_malloc0((size_t)p->stride * height);
    return p;
}

static void picture_free(struct picture *p)
{
    if (p == NULL)
        return;
    g_free(p->rgbx);
    g_free(p);
}

static void put(struct picture *p, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    uint8_t *px = p->rgbx + (size_t)y * p->stride + (size_t)x * FB_BPP;

    px[0] = r;
    px[1] = g;
    px[2] = b;
    px[3] = 0xee;                   /* X: must not matter */
}

static void fill(struct picture *p, int x0, int y0, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    for (int y = y0; y < y0 + h && y < p->height; y++)
        for (int x = x0; x < x0 + w && x < p->width; x++)
            put(p, x, y, r, g, b);
}

/* One text-like cell: white with a few black strokes, 1 or 2 pixels wide. */
static void glyph(struct picture *p, int x0, int y0, int w, int h)
{
    fill(p, x0, y0, w, h, 255, 255, 255);
    for (int s = 0; s < 3; s++) {
        int x = x0 + 1 + (int)(rng() % (uint32_t)MAX(1, w - 3));
        int y = y0 + 2 + (int)(rng() % (uint32_t)MAX(1, h - 5));
        int len = 3 + (int)(rng() % (uint32_t)MAX(1, h / 2)), thick = 1 + (int)(rng() % 2);

        if (rng() & 1)
            fill(p, x, y, thick, len, 0, 0, 0);
        else
            fill(p, x, y, MIN(len, x0 + w - x), thick, 0, 0, 0);
    }
}

/* A test picture: colour bars (pure colours, the extremes of the
 * conversion), a grey ramp and a colour gradient, and a page of text-like
 * glyphs. seed changes the glyphs. */
static void draw_pattern(struct picture *p, uint32_t seed)
{
    static const uint8_t bars[8][3] = {
        { 255, 255, 255 }, { 255, 255, 0 }, { 0, 255, 255 }, { 0, 255, 0 },
        { 255, 0, 255 }, { 255, 0, 0 }, { 0, 0, 255 }, { 0, 0, 0 },
    };
    int third = MAX(1, p->height / 3);

    rng_state = seed * 2 + 1;
    for (int i = 0; i < 8; i++) {
        int x0 = p->width * i / 8, x1 = p->width * (i + 1) / 8;
        fill(p, x0, 0, x1 - x0, third, bars[i][0], bars[i][1], bars[i][2]);
    }
    for (int y = third; y < MIN(p->height, 2 * third); y++)
        for (int x = 0; x < p->width; x++) {
            uint8_t v = (uint8_t)(x * 255 / MAX(1, p->width - 1));
            if (y < third + third / 2)
                put(p, x, y, v, v, v);
            else
                put(p, x, y, v, (uint8_t)(255 - v), (uint8_t)((y * 7) & 0xff));
        }
    for (int y = 2 * third; y < p->height; y += 16)
        for (int x = 0; x < p->width; x += 8)
            glyph(p, x, y, 8, 16);
}

/* The bit of each NAL unit type in an Annex B stream (which must start with
 * a start code). */
static unsigned nal_types(const uint8_t *data, size_t len)
{
    unsigned mask = 0;

    assert_true(len >= 4);
    assert_true((data[0] == 0 && data[1] == 0 && data[2] == 1) ||
                (data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1));
    for (size_t i = 0; i + 3 < len; i++)
        if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
            mask |= 1u << (data[i + 3] & 0x1f);
            i += 2;
        }
    return mask;
}

static struct h264_enc *enc_new(int width, int height, int bitrate_kbps, gboolean limited)
{
    struct h264_enc_params params = { .width = width, .height = height, .max_fps = 30,
                                       .bitrate_kbps = bitrate_kbps, .limited_range = limited };
    struct h264_enc *enc = NULL;
    g_autoptr(GError) err = NULL;

    if (h264_enc_new(&params, &enc, &err) < 0)
        fail_msg("h264_enc_new %dx%d: %s", width, height, err->message);
    return enc;
}

static size_t encode(struct h264_enc *enc, const struct picture *p, const struct fb_rect *damage,
                     int n, gboolean force_idr, const uint8_t **datap)
{
    g_autoptr(GError) err = NULL;
    size_t len = 0;

    if (h264_enc_encode(enc, p->rgbx, p->stride, damage, n, force_idr, datap, &len, &err) < 0)
        fail_msg("h264_enc_encode: %s", err->message);
    assert_true(len > 0);
    return len;
}

/* openh264's decoder, for checking what the encoder made. */
struct decoded {
    int width, height;
    int stride[2];
    uint8_t *plane[3];              /* borrowed from the decoder */
};

static ISVCDecoder *dec_new(void)
{
    SDecodingParam param = { 0 };
    ISVCDecoder *dec = NULL;

    assert_int_equal(WelsCreateDecoder(&dec), 0);
    assert_non_null(dec);
    param.eEcActiveIdc = ERROR_CON_DISABLE;         /* show errors, do not hide them */
    param.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    assert_int_equal((*dec)->Initialize(dec, &param), 0);
    return dec;
}

static void dec_free(ISVCDecoder *dec)
{
    (*dec)->Uninitialize(dec);
    WelsDestroyDecoder(dec);
}

static void dec_frame(ISVCDecoder *dec, const uint8_t *data, size_t len, struct decoded *out)
{
    SBufferInfo info = { 0 };
    unsigned char *planes[3] = { NULL };
    DECODING_STATE st = (*dec)->DecodeFrameNoDelay(dec, data, (int)len, planes, &info);

    assert_int_equal(st, dsErrorFree);
    assert_int_equal(info.iBufferStatus, 1);
    out->width = info.UsrData.sSystemBuffer.iWidth;
    out->height = info.UsrData.sSystemBuffer.iHeight;
    out->stride[0] = info.UsrData.sSystemBuffer.iStride[0];
    out->stride[1] = info.UsrData.sSystemBuffer.iStride[1];
    for (int i = 0; i < 3; i++)
        out->plane[i] = planes[i];
}

/* BT.709 in floating point, independent of the encoder's integer code. */
static void bt709(double r, double g, double b, gboolean limited, double *y, double *u, double *v)
{
    double luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    double s = limited ? 219.0 / 255 : 1, c = limited ? 224.0 / 255 : 1;

    *y = (limited ? 16 : 0) + s * luma;
    *u = CLAMP(128 + c * (b - luma) / 1.8556, 0, 255);
    *v = CLAMP(128 + c * (r - luma) / 1.5748, 0, 255);
}

static double psnr(double sq_err, long count)
{
    double mse = sq_err / (double)count;
    return mse <= 1e-12 ? 99 : 10 * log10(255.0 * 255.0 / mse);
}

static const uint8_t *pixel(const struct picture *p, int x, int y)
{
    return p->rgbx + (size_t)y * p->stride + (size_t)x * FB_BPP;
}

/* PSNR of the decoded Y, U and V planes against the picture's exact values,
 * over [x0, x1) x [y0, y1) (chroma over the 2x2 groups inside it). */
static void compare(const struct picture *p, const struct decoded *d, gboolean limited, int x0,
                    int y0, int x1, int y1, double db[3])
{
    double err[3] = { 0 };
    long count[3] = { 0 };

    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *px = pixel(p, x, y);
            double ey, eu, ev, diff;

            bt709(px[0], px[1], px[2], limited, &ey, &eu, &ev);
            diff = ey - d->plane[0][(size_t)y * d->stride[0] + x];
            err[0] += diff * diff;
            count[0]++;
        }
    for (int y = (y0 + 1) / 2 * 2; y + 1 < y1; y += 2)
        for (int x = (x0 + 1) / 2 * 2; x + 1 < x1; x += 2) {
            double r = 0, g = 0, b = 0, ey, eu, ev, du, dv;

            for (int j = 0; j < 4; j++) {
                const uint8_t *px = pixel(p, x + (j & 1), y + j / 2);
                r += px[0] / 4.0;
                g += px[1] / 4.0;
                b += px[2] / 4.0;
            }
            bt709(r, g, b, limited, &ey, &eu, &ev);
            du = eu - d->plane[1][(size_t)(y / 2) * d->stride[1] + x / 2];
            dv = ev - d->plane[2][(size_t)(y / 2) * d->stride[1] + x / 2];
            err[1] += du * du;
            err[2] += dv * dv;
            count[1]++;
        }
    db[0] = psnr(err[0], count[0]);
    db[1] = psnr(err[1], MAX(1, count[1]));
    db[2] = psnr(err[2], MAX(1, count[1]));
}

/* The first frame is an IDR with SPS and PPS, at every size, and the coded
 * picture is the frame rounded up to 16 (MS-RDPEGFX 2.2.4.4) with no cropping. */
static void test_first_frame_is_idr(void **state)
{
    static const int sizes[][2] = {
        { 1920, 1080 }, { 1023, 767 }, { 1366, 768 }, { 17, 9 }, { 1, 1 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        struct picture *p = picture_new(sizes[i][0], sizes[i][1]);
        struct h264_enc *enc = enc_new(p->width, p->height, 0, FALSE);
        ISVCDecoder *dec = dec_new();
        struct h264_enc_frame_info info;
        const uint8_t *data;
        struct decoded d;
        size_t len;
        unsigned types;

        draw_pattern(p, 1);
        len = encode(enc, p, NULL, 0, FALSE, &data);
        types = nal_types(data, len);
        assert_true(types & NAL_SPS);
        assert_true(types & NAL_PPS);
        assert_true(types & NAL_IDR);
        h264_enc_last_frame(enc, &info);
        assert_true(info.idr);
        assert_true(info.encode_ns > 0);
        dec_frame(dec, data, len, &d);
        assert_int_equal(d.width, ROUND16(p->width));
        assert_int_equal(d.height, ROUND16(p->height));
        dec_free(dec);
        h264_enc_free(enc);
        picture_free(p);
    }
}

/* A small change makes a small P frame; force_idr makes an IDR again (with
 * SPS and PPS), and the frame after it is a P frame. */
static void test_small_change_and_force_idr(void **state)
{
    struct picture *p = picture_new(1920, 1080);
    struct h264_enc *enc = enc_new(1920, 1080, 0, FALSE);
    struct fb_rect cell = { 808, 720, 16, 32 };
    struct h264_enc_frame_info info;
    const uint8_t *data;
    size_t first, len;
    unsigned types;

    draw_pattern(p, 7);
    first = encode(enc, p, NULL, 0, FALSE, &data);

    glyph(p, cell.x, cell.y, cell.w, cell.h);
    len = encode(enc, p, &cell, 1, FALSE, &data);
    types = nal_types(data, len);
    assert_true(types & NAL_SLICE);
    assert_false(types & (NAL_IDR | NAL_SPS | NAL_PPS));
    assert_true(len * 50 < first);
    h264_enc_last_frame(enc, &info);
    assert_false(info.idr);

    len = encode(enc, p, &cell, 0, TRUE, &data);
    types = nal_types(data, len);
    assert_true(types & NAL_IDR);
    assert_true(types & NAL_SPS);
    assert_true(types & NAL_PPS);
    h264_enc_last_frame(enc, &info);
    assert_true(info.idr);

    glyph(p, cell.x + 16, cell.y, cell.w, cell.h);
    cell.x += 16;
    len = encode(enc, p, &cell, 1, FALSE, &data);
    assert_false(nal_types(data, len) & NAL_IDR);

    h264_enc_free(enc);
    picture_free(p);
}

/* Out-of-range parameters are refused with EINVAL and a message that names
 * the value, and *encp is left alone. */
static void test_bad_params(void **state)
{
    static const struct {
        struct h264_enc_params params;
        const char *says;
    } bad[] = {
        { { .width = 0, .height = 0, .max_fps = 30 }, "0x0" },
        { { .width = 9000, .height = 9000, .max_fps = 30 }, "9000x9000" },
        { { .width = -16, .height = 100, .max_fps = 30 }, "-16x100" },
        { { .width = 8192, .height = 8192, .max_fps = 30 }, "macroblocks" },
        { { .width = 1920, .height = 1080, .max_fps = 0 }, "frame rate 0" },
        { { .width = 1920, .height = 1080, .max_fps = 61 }, "frame rate 61" },
        { { .width = 1920, .height = 1080, .max_fps = 30, .bitrate_kbps = -1 }, "bitrate -1" },
        { { .width = 1920, .height = 1080, .max_fps = 30, .bitrate_kbps = 240001 },
          "bitrate 240001" },
        { { .width = 1920, .height = 1080, .max_fps = 30, .qp = 52 }, "qp 52" },
        { { .width = 1920, .height = 1080, .max_fps = 30, .motion_kbps = -5 },
          "motion bitrate -5" },
    };
    struct h264_enc *sentinel = (struct h264_enc *)&bad;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        struct h264_enc *enc = sentinel;
        g_autoptr(GError) err = NULL;

        assert_int_equal(h264_enc_new(&bad[i].params, &enc, &err), -EINVAL);
        assert_ptr_equal(enc, sentinel);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        if (strstr(err->message, bad[i].says) == NULL)
            fail_msg("'%s' does not say '%s'", err->message, bad[i].says);
    }
}

/* A frame the encoder cannot read is refused, and the encoder still works. */
static void test_bad_frame(void **state)
{
    struct picture *p = picture_new(64, 48);
    struct h264_enc *enc = enc_new(64, 48, 0, FALSE);
    struct fb_rect r = { 0, 0, 8, 8 };
    const uint8_t *data = NULL;
    size_t len = 0;

    {
        g_autoptr(GError) err = NULL;
        assert_int_equal(h264_enc_encode(enc, p->rgbx, 63 * FB_BPP, NULL, 0, FALSE, &data, &len,
                                         &err), -EINVAL);
        assert_non_null(strstr(err->message, "stride"));
        assert_null(data);
    }
    {
        g_autoptr(GError) err = NULL;
        assert_int_equal(h264_enc_encode(enc, p->rgbx, p->stride, NULL, 1, FALSE, &data, &len,
                                         &err), -EINVAL);
        assert_int_equal(h264_enc_encode(enc, NULL, p->stride, &r, 1, FALSE, &data, &len, NULL),
                         -EINVAL);
    }
    draw_pattern(p, 3);
    assert_true(encode(enc, p, NULL, 0, FALSE, &data) > 0);
    h264_enc_free(enc);
    picture_free(p);
}

/* Encode, decode, and compare with BT.709 in floating point; then change
 * parts of the picture (at odd places, one reaching the right and bottom
 * edges) and check that the decoded picture follows, in the changed parts
 * too, and that the padding repeats the last column and row. */
static void round_trip(int width, int height, gboolean limited)
{
    struct picture *p = picture_new(width, height);
    struct h264_enc *enc = enc_new(width, height, 0, limited);
    ISVCDecoder *dec = dec_new();
    const uint8_t *data;
    struct decoded d;
    double db[3];
    size_t len;

    draw_pattern(p, 11);
    len = encode(enc, p, NULL, 0, FALSE, &data);
    dec_frame(dec, data, len, &d);
    compare(p, &d, limited, 0, 0, width, height, db);
    print_message("%dx%d %s range, IDR: %zu bytes, PSNR Y %.1f U %.1f V %.1f dB\n", width, height,
                  limited ? "limited" : "full", len, db[0], db[1], db[2]);
    assert_true(db[0] > 35);
    assert_true(db[1] > 35);
    assert_true(db[2] > 35);

    /* New content in three rects; only they are damaged. */
    {
        struct fb_rect damage[3] = {
            { 37, 5, 301, 77 },
            { width / 2 + 3, height / 2 + 1, 91, 45 },
            { width - 45, height - 33, 45, 33 },
        };

        for (int i = 0; i < 3; i++) {
            const struct fb_rect *r = &damage[i];
            for (int y = r->y; y < r->y + r->h; y += 16)
                for (int x = r->x; x < r->x + r->w; x += 8)
                    glyph(p, x, y, MIN(8, r->x + r->w - x), MIN(16, r->y + r->h - y));
            fill(p, r->x + r->w / 2, r->y, r->w - r->w / 2, r->h / 3, 30, 90, 200);
        }
        len = encode(enc, p, damage, 3, FALSE, &data);
        assert_false(nal_types(data, len) & NAL_IDR);
        dec_frame(dec, data, len, &d);
        compare(p, &d, limited, 0, 0, width, height, db);
        print_message("  P frame: %zu bytes, PSNR Y %.1f U %.1f V %.1f dB\n", len, db[0], db[1],
                      db[2]);
        assert_true(db[0] > 35);
        assert_true(db[1] > 35);
        assert_true(db[2] > 35);
        for (int i = 0; i < 3; i++) {
            const struct fb_rect *r = &damage[i];
            compare(p, &d, limited, r->x, r->y, r->x + r->w, r->y + r->h, db);
            if (db[0] <= 30 || db[1] <= 30 || db[2] <= 30)
                fail_msg("damage %d (%d,%d %dx%d): PSNR Y %.1f U %.1f V %.1f dB", i, r->x, r->y,
                         r->w, r->h, db[0], db[1], db[2]);
        }
    }

    /* The padding repeats the last column and row (within coding error). */
    if (d.width > width || d.height > height) {
        double diff = 0;
        long count = 0;

        for (int y = 0; y < d.height; y++)
            for (int x = width; x < d.width; x++, count++)
                diff += fabs((double)d.plane[0][(size_t)y * d.stride[0] + x] -
                             d.plane[0][(size_t)MIN(y, height - 1) * d.stride[0] + width - 1]);
        for (int y = height; y < d.height; y++)
            for (int x = 0; x < width; x++, count++)
                diff += fabs((double)d.plane[0][(size_t)y * d.stride[0] + x] -
                             d.plane[0][(size_t)(height - 1) * d.stride[0] + x]);
        assert_true(diff / (double)count < 3);
    }
    dec_free(dec);
    h264_enc_free(enc);
    picture_free(p);
}

static void test_round_trip_1080p(void **state)
{
    round_trip(1920, 1080, FALSE);
}

static void test_round_trip_odd(void **state)
{
    round_trip(1023, 767, FALSE);
}

static void test_round_trip_limited(void **state)
{
    round_trip(1023, 767, TRUE);
}

/* Flat colours come back as BT.709 says, in both ranges: this is what tells
 * full range from limited range (black is Y 0 or 16). */
static void test_flat_colours(void **state)
{
    static const uint8_t colours[][3] = {
        { 0, 0, 0 }, { 255, 255, 255 }, { 128, 128, 128 }, { 255, 0, 0 },
        { 0, 255, 0 }, { 0, 0, 255 }, { 200, 120, 40 },
    };

    for (int limited = 0; limited < 2; limited++)
        for (size_t i = 0; i < G_N_ELEMENTS(colours); i++) {
            const uint8_t *c = colours[i];
            struct picture *p = picture_new(64, 48);
            struct h264_enc *enc = enc_new(64, 48, 0, limited);
            ISVCDecoder *dec = dec_new();
            const uint8_t *data;
            struct decoded d;
            double ey, eu, ev;
            int got[3];
            size_t len;

            fill(p, 0, 0, 64, 48, c[0], c[1], c[2]);
            len = encode(enc, p, NULL, 0, FALSE, &data);
            dec_frame(dec, data, len, &d);
            bt709(c[0], c[1], c[2], limited, &ey, &eu, &ev);
            got[0] = d.plane[0][d.stride[0] * 20 + 30];
            got[1] = d.plane[1][d.stride[1] * 10 + 15];
            got[2] = d.plane[2][d.stride[1] * 10 + 15];
            if (fabs(got[0] - ey) > 1.01 || fabs(got[1] - eu) > 1.01 || fabs(got[2] - ev) > 1.01)
                fail_msg("%s range RGB %d,%d,%d: YUV %d,%d,%d, expected %.1f,%.1f,%.1f",
                         limited ? "limited" : "full", c[0], c[1], c[2], got[0], got[1], got[2],
                         ey, eu, ev);
            dec_free(dec);
            h264_enc_free(enc);
            picture_free(p);
        }
}

/* With a target bitrate, lowering it at run time makes frames smaller (the
 * rate control takes some 20 frames to get there). */
static void test_set_bitrate(void **state)
{
    struct picture *p = picture_new(640, 480);
    struct h264_enc *enc = enc_new(640, 480, 20000, FALSE);
    const uint8_t *data;
    size_t high = 0, low = 0;

    for (int i = 0; i < 60; i++) {
        size_t len;

        if (i == 20)
            h264_enc_set_bitrate(enc, 300);
        draw_pattern(p, 100 + (uint32_t)i);         /* new glyphs everywhere */
        len = encode(enc, p, NULL, 0, FALSE, &data);
        if (i >= 10 && i < 20)
            high += len;
        if (i >= 50)
            low += len;
    }
    print_message("mean frame at 20000 kbit/s: %zu bytes, at 300 kbit/s: %zu bytes\n", high / 10,
                  low / 10);
    assert_true(low * 2 < high);
    h264_enc_free(enc);
    picture_free(p);
}

/* Constant quality with a motion bitrate: small changes stay at the qp;
 * frames that change everything and cost more than the motion rate allows
 * switch to rate control after a few (a key frame, then frames near the
 * rate), and ending motion brings a whole picture back at the qp, which
 * decodes to the picture. */
static void test_motion(void **state)
{
    struct picture *p = picture_new(640, 480);
    struct h264_enc_params params = { .width = 640, .height = 480, .max_fps = 30, .qp = 22,
                                       .motion_kbps = 2000 };
    struct h264_enc *enc = NULL;
    g_autoptr(GError) err = NULL;
    ISVCDecoder *dec = dec_new();
    struct h264_enc_frame_info info;
    const uint8_t *data;
    struct decoded d;
    size_t len, costly = 0, in_motion = 0;
    double db[3];

    if (h264_enc_new(&params, &enc, &err) < 0)
        fail_msg("h264_enc_new: %s", err->message);
    draw_pattern(p, 1);
    len = encode(enc, p, NULL, 0, FALSE, &data);
    dec_frame(dec, data, len, &d);

    /* A small change: no motion. */
    {
        struct fb_rect r = { 100, 100, 40, 32 };
        for (int k = 0; k < 5; k++) {
            fill(p, r.x, r.y, r.w, r.h, (uint8_t)(k * 40), 60, 90);
            len = encode(enc, p, &r, 1, FALSE, &data);
            dec_frame(dec, data, len, &d);
            h264_enc_last_frame(enc, &info);
            assert_false(info.motion);
            assert_false(info.whole);
        }
    }
    /* Everything changes every frame. */
    for (int i = 0; i < 30; i++) {
        draw_pattern(p, 200 + (uint32_t)i);
        len = encode(enc, p, NULL, 0, FALSE, &data);
        dec_frame(dec, data, len, &d);
        h264_enc_last_frame(enc, &info);
        if (i < 3) {
            assert_false(info.motion);
            costly += len;
        } else {
            assert_true(info.motion);
            if (i == 3)
                assert_true(info.idr);
            if (i >= 20)
                in_motion += len;
        }
    }
    print_message("full changes: %zu bytes a frame at qp 22, %zu in motion at 2000 kbit/s "
                  "(%d a frame)\n", costly / 3, in_motion / 10, 2000 * 1000 / 8 / 30);
    assert_true(in_motion / 10 * 2 < costly / 3);

    /* Motion ends: the next frame is the whole picture at the qp again. */
    assert_true(h264_enc_end_motion(enc));
    assert_false(h264_enc_end_motion(enc));
    {
        struct fb_rect none = { 0, 0, 0, 0 };
        len = encode(enc, p, &none, 0, FALSE, &data);
    }
    h264_enc_last_frame(enc, &info);
    assert_true(info.whole);
    assert_false(info.motion);
    dec_frame(dec, data, len, &d);
    compare(p, &d, FALSE, 0, 0, 640, 480, db);
    print_message("after motion: %zu bytes, PSNR Y %.1f U %.1f V %.1f dB\n", len, db[0], db[1],
                  db[2]);
    assert_true(db[0] > 38);
    dec_free(dec);
    h264_enc_free(enc);
    picture_free(p);
}

/* A frame too big for openh264's output buffer (noise at qp 1) fails with
 * EIO, and the encoder goes on: the next frame is an IDR that decodes to the
 * picture. */
static void test_overflow_recovers(void **state)
{
    struct picture *p = picture_new(320, 240);
    struct h264_enc_params params = { .width = 320, .height = 240, .max_fps = 30, .qp = 1 };
    struct h264_enc *enc = NULL;
    ISVCDecoder *dec = dec_new();
    g_autoptr(GError) err = NULL;
    const uint8_t *data = NULL;
    struct decoded d;
    double db[3];
    size_t len = 0;
    int r;

    assert_int_equal(h264_enc_new(&params, &enc, NULL), 0);
    rng_state = 5;
    for (int y = 0; y < p->height; y++)
        for (int x = 0; x < p->width; x++) {
            uint32_t v = rng();
            put(p, x, y, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16));
        }
    r = h264_enc_encode(enc, p->rgbx, p->stride, NULL, 0, FALSE, &data, &len, &err);
    /* openh264 2.3 makes its buffer 1.5 bytes per pixel; noise at qp 1 needs more. */
    assert_int_equal(r, -EIO);
    assert_int_equal(err->code, EIO);
    assert_non_null(strstr(err->message, "the next frame is a key frame"));

    draw_pattern(p, 9);
    len = encode(enc, p, NULL, 0, FALSE, &data);
    assert_true(nal_types(data, len) & NAL_IDR);
    dec_frame(dec, data, len, &d);
    compare(p, &d, FALSE, 0, 0, p->width, p->height, db);
    assert_true(db[0] > 40);
    dec_free(dec);
    h264_enc_free(enc);
    picture_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_frame_is_idr),
        cmocka_unit_test(test_small_change_and_force_idr),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_bad_frame),
        cmocka_unit_test(test_round_trip_1080p),
        cmocka_unit_test(test_round_trip_odd),
        cmocka_unit_test(test_round_trip_limited),
        cmocka_unit_test(test_flat_colours),
        cmocka_unit_test(test_set_bitrate),
        cmocka_unit_test(test_overflow_recovers),
        cmocka_unit_test(test_motion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
