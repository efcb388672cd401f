/* bench_encode: how fast and how well display/h264_enc.c encodes a desktop.
 * Prints numbers.
 *
 * Three synthetic workloads at 1920x1080, fed through h264_enc_encode with
 * their damage:
 *   typing       one 16x32 glyph cell changes per frame
 *   scrolling    the whole screen moves up 16 pixels per frame, a new line
 *                of text at the bottom (damage: all of it)
 *   full motion  every pixel changes every frame (a moving gradient under a
 *                moving checkerboard; damage: all of it)
 * Each runs on one core (the process is pinned) until its frames have taken
 * --seconds of encoding time. Per frame: the time h264_enc_encode took (mean
 * and 95th percentile), split into colour conversion and openh264, and the
 * bytes. Afterwards the frames are decoded with openh264's decoder and each
 * decoded Y plane is compared with the luma of the source picture (BT.709
 * full range, in floating point): PSNR of Y only, over the frame's area.
 *
 * Usage: bench_encode [--seconds S] [--qp QP | --bitrate KBPS] [--fps N]
 *                     [--width W --height H] */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wels/codec_api.h>

#include "display/h264_enc.h"

static double opt_seconds = 5;
static int opt_qp = 22;
static int opt_bitrate = 0;
static int opt_fps = 30;
static int opt_width = 1920;
static int opt_height = 1080;

static const GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
      "Encoding time per workload (default 5)", "S" },
    { "qp", 'q', 0, G_OPTION_ARG_INT, &opt_qp, "Constant quality at this qp (default 22)", "QP" },
    { "bitrate", 'b', 0, G_OPTION_ARG_INT, &opt_bitrate,
      "Target bitrate instead of constant quality", "KBPS" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &opt_fps,
      "Frame rate the encoder is told (default 30)", "N" },
    { "width", 0, 0, G_OPTION_ARG_INT, &opt_width, "Frame width (default 1920)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &opt_height, "Frame height (default 1080)", "H" },
    { NULL },
};

#define MAX_FRAMES 3000         /* bounds memory when frames are fast */
#define PSNR_FRAMES 60          /* frames decoded frames are compared on, at most */

/* ---- the synthetic desktop ---- */

struct scene {
    int width, height, stride;
    uint8_t *rgbx;
    uint32_t rng;
    int cursor_x, cursor_y;     /* typing */
    int lines;                  /* scrolling: lines drawn so far */
};

static uint32_t next_rng(struct scene *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 17;
    s->rng ^= s->rng << 5;
    return s->rng;
}

static void put(struct scene *s, int x, int y, uint8_t r, uint8_t g, uint8_t b)
{
    uint8_t *px = s->rgbx + (size_t)y * s->stride + (size_t)x * FB_BPP;

    px[0] = r;
    px[1] = g;
    px[2] = b;
    px[3] = 0;
}

static void fill(struct scene *s, int x0, int y0, int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    for (int y = MAX(0, y0); y < MIN(s->height, y0 + h); y++)
        for (int x = MAX(0, x0); x < MIN(s->width, x0 + w); x++)
            put(s, x, y, r, g, b);
}

/* A glyph of scale x (8x16) pixels: white, with strokes made from code. */
static void glyph(struct scene *s, int x0, int y0, int scale, uint32_t code)
{
    uint32_t h = code * 2654435761u + 12345;

    fill(s, x0, y0, 8 * scale, 16 * scale, 255, 255, 255);
    if (code % 7 == 0)
        return;                 /* a space */
    for (int k = 0; k < 3; k++) {
        int x = 1 + (int)(h % 6), y = 3 + (int)((h >> 3) % 8), len = 3 + (int)((h >> 6) % 7);

        if ((h >> 9) & 1)
            fill(s, x0 + x * scale, y0 + y * scale, scale, MIN(len, 14 - y) * scale, 20, 20, 30);
        else
            fill(s, x0 + x * scale, y0 + y * scale, MIN(len, 7 - x) * scale, scale, 20, 20, 30);
        h = h * 1103515245u + 12345;
    }
}

static void text_line(struct scene *s, int y, int x0, int x1)
{
    for (int x = x0; x + 8 <= x1; x += 8)
        glyph(s, x, y, 1, next_rng(s) % 96);
}

/* A desktop: a blue background with a gradient, a window with a title bar
 * and a page of text, and a few coloured icons. */
static void desktop(struct scene *s)
{
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++)
            put(s, x, y, 30, (uint8_t)(60 + y * 60 / s->height),
                (uint8_t)(120 + x * 100 / s->width));
    for (int i = 0; i < 6; i++)
        fill(s, 24, 24 + i * 96, 64, 64, (uint8_t)(i * 40), (uint8_t)(200 - i * 30),
             (uint8_t)(90 + i * 25));
    fill(s, 120, 40, s->width - 200, 30, 60, 90, 160);
    text_line(s, 47, 130, 400);
    fill(s, 120, 70, s->width - 200, s->height - 120, 255, 255, 255);
    for (int y = 80; y + 16 <= s->height - 60; y += 18)
        text_line(s, y, 130, s->width - 100);
}

static void scene_init(struct scene *s, int width, int height)
{
    s->width = width;
    s->height = height;
    s->stride = width * FB_BPP;
    g_free(s->rgbx);
    s->rgbx = g_malloc0((size_t)s->stride * height);
    s->rng = 2463534242u;
    s->cursor_x = 130;
    s->cursor_y = 120;
    s->lines = 0;
}

struct workload {
    const char *name;
    void (*init)(struct scene *s);
    /* Make frame i; returns the damage (0 rects: all of it). */
    int (*step)(struct scene *s, int i, struct fb_rect *damage);
};

static void typing_init(struct scene *s)
{
    desktop(s);
}

static int typing_step(struct scene *s, int i, struct fb_rect *damage)
{
    *damage = (struct fb_rect){ s->cursor_x, s->cursor_y, 16, 32 };
    glyph(s, s->cursor_x, s->cursor_y, 2, next_rng(s) % 96);
    s->cursor_x += 16;
    if (s->cursor_x + 16 > s->width - 100) {
        s->cursor_x = 130;
        s->cursor_y += 32;
        if (s->cursor_y + 32 > s->height - 60)
            s->cursor_y = 120;
    }
    return 1;
}

static void scrolling_init(struct scene *s)
{
    desktop(s);
}

static int scrolling_step(struct scene *s, int i, struct fb_rect *damage)
{
    memmove(s->rgbx, s->rgbx + (size_t)16 * s->stride, (size_t)(s->height - 16) * s->stride);
    fill(s, 0, s->height - 16, s->width, 16, 255, 255, 255);
    text_line(s, s->height - 16, 130, s->width - 100);
    s->lines++;
    *damage = (struct fb_rect){ 0, 0, s->width, s->height };
    return 1;
}

static int motion_step(struct scene *s, int i, struct fb_rect *damage);

static void motion_init(struct scene *s)
{
    struct fb_rect all;

    motion_step(s, 0, &all);
}

static int motion_step(struct scene *s, int i, struct fb_rect *damage)
{
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++) {
            int on = (((x + 6 * i) >> 5) ^ ((y + 3 * i) >> 5)) & 1;
            int r = (x + 3 * i) & 255, g = (y + 2 * i) & 255, b = ((x + y) / 2 + 5 * i) & 255;
            put(s, x, y, (uint8_t)(on ? r : 255 - r), (uint8_t)g, (uint8_t)(on ? b : b / 2));
        }
    *damage = (struct fb_rect){ 0, 0, s->width, s->height };
    return 1;
}

static const struct workload workloads[] = {
    { "typing", typing_init, typing_step },
    { "scrolling", scrolling_init, scrolling_step },
    { "full motion", motion_init, motion_step },
};

/* ---- measuring ---- */

struct frame {
    GBytes *stream;
    double ms, cpu_ms, convert_ms, encode_ms;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double clock_ms(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* PSNR of a decoded Y plane against the scene's luma (BT.709 full range). */
static double luma_psnr(const struct scene *s, const uint8_t *y, int ystride)
{
    double err = 0;

    for (int row = 0; row < s->height; row++) {
        const uint8_t *px = s->rgbx + (size_t)row * s->stride;
        for (int x = 0; x < s->width; x++, px += FB_BPP) {
            double d = 0.2126 * px[0] + 0.7152 * px[1] + 0.0722 * px[2] -
                       y[(size_t)row * ystride + x];
            err += d * d;
        }
    }
    err /= (double)s->width * s->height;
    return err < 1e-9 ? 99 : 10 * log10(255.0 * 255.0 / err);
}

struct result {
    int frames;
    double encode_s;
    double mean_ms, p95_ms, cpu_ms, convert_ms, openh264_ms;
    double bytes;
    double first_ms, first_convert_ms;
    size_t first_bytes;
    double psnr_mean, psnr_min;
    int psnr_frames;
};

static int run(const struct workload *w, const struct h264_enc_params *params, struct result *res)
{
    struct scene s = { 0 };
    struct h264_enc *enc = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) frames = g_array_new(FALSE, TRUE, sizeof(struct frame));
    g_autofree double *ms = NULL;
    ISVCDecoder *dec = NULL;
    SDecodingParam dp = { 0 };
    double total = 0;
    int every, rc = 1;

    memset(res, 0, sizeof(*res));
    if (h264_enc_new(params, &enc, &err) < 0) {
        fprintf(stderr, "bench_encode: %s\n", err->message);
        return 1;
    }
    scene_init(&s, params->width, params->height);
    w->init(&s);

    /* Frame 0 is the whole picture (an IDR); then the workload's frames
     * until their encoding time adds up to opt_seconds. */
    for (int i = 0; i <= MAX_FRAMES && (i == 0 || total < opt_seconds * 1000); i++) {
        struct fb_rect damage;
        struct h264_enc_frame_info info;
        struct frame f;
        const uint8_t *data;
        size_t len;
        int n = 0;
        double t0, t1, c0, c1;

        if (i > 0)
            n = w->step(&s, i, &damage);
        t0 = clock_ms(CLOCK_MONOTONIC);
        c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        if (h264_enc_encode(enc, s.rgbx, s.stride, i > 0 ? &damage : NULL, n, FALSE, &data, &len,
                            &err) < 0) {
            fprintf(stderr, "bench_encode: %s: frame %d: %s\n", w->name, i, err->message);
            goto out;
        }
        c1 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        t1 = clock_ms(CLOCK_MONOTONIC);
        h264_enc_last_frame(enc, &info);
        f.stream = g_bytes_new(data, len);
        f.ms = t1 - t0;
        f.cpu_ms = c1 - c0;
        f.convert_ms = (double)info.convert_ns / 1e6;
        f.encode_ms = (double)info.encode_ns / 1e6;
        g_array_append_val(frames, f);
        if (i > 0)
            total += f.ms;
    }

    res->frames = (int)frames->len - 1;
    res->encode_s = total / 1000;
    ms = g_new(double, res->frames);
    for (int i = 1; i <= res->frames; i++) {
        const struct frame *f = &g_array_index(frames, struct frame, i);
        ms[i - 1] = f->ms;
        res->cpu_ms += f->cpu_ms;
        res->convert_ms += f->convert_ms;
        res->openh264_ms += f->encode_ms;
        res->bytes += (double)g_bytes_get_size(f->stream);
    }
    res->mean_ms = total / res->frames;
    res->cpu_ms /= res->frames;
    res->convert_ms /= res->frames;
    res->openh264_ms /= res->frames;
    res->bytes /= res->frames;
    qsort(ms, (size_t)res->frames, sizeof(double), cmp_double);
    res->p95_ms = ms[MIN(res->frames - 1, (int)(0.95 * res->frames))];
    res->first_ms = g_array_index(frames, struct frame, 0).ms;
    res->first_convert_ms = g_array_index(frames, struct frame, 0).convert_ms;
    res->first_bytes = g_bytes_get_size(g_array_index(frames, struct frame, 0).stream);

    /* Quality: make the same frames again, decode every one, and compare
     * some of them (evenly spread, the first included). */
    if (WelsCreateDecoder(&dec) != 0 || dec == NULL) {
        fprintf(stderr, "bench_encode: openh264 could not make a decoder\n");
        goto out;
    }
    dp.eEcActiveIdc = ERROR_CON_DISABLE;
    dp.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
    (*dec)->Initialize(dec, &dp);
    scene_init(&s, params->width, params->height);
    w->init(&s);
    every = MAX(1, (int)frames->len / PSNR_FRAMES);
    res->psnr_min = 99;
    for (guint i = 0; i < frames->len; i++) {
        const struct frame *f = &g_array_index(frames, struct frame, i);
        unsigned char *planes[3] = { NULL };
        SBufferInfo bi = { 0 };
        struct fb_rect damage;
        gsize len;
        const uint8_t *data = g_bytes_get_data(f->stream, &len);
        DECODING_STATE st;

        if (i > 0)
            w->step(&s, (int)i, &damage);
        st = (*dec)->DecodeFrameNoDelay(dec, data, (int)len, planes, &bi);
        if (st != dsErrorFree || bi.iBufferStatus != 1) {
            fprintf(stderr, "bench_encode: %s: frame %u does not decode (state %d)\n", w->name, i,
                    st);
            goto out;
        }
        if (i % (guint)every == 0) {
            double db = luma_psnr(&s, planes[0], bi.UsrData.sSystemBuffer.iStride[0]);
            res->psnr_mean += db;
            res->psnr_min = MIN(res->psnr_min, db);
            res->psnr_frames++;
        }
    }
    res->psnr_mean /= res->psnr_frames;
    rc = 0;
out:
    if (dec != NULL) {
        (*dec)->Uninitialize(dec);
        WelsDestroyDecoder(dec);
    }
    for (guint i = 0; i < frames->len; i++)
        g_bytes_unref(g_array_index(frames, struct frame, i).stream);
    h264_enc_free(enc);
    g_free(s.rgbx);
    return rc;
}

/* Run on the CPU we are on, and only there. */
static int pin_one_core(void)
{
    cpu_set_t set;
    int cpu = sched_getcpu();

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        fprintf(stderr, "bench_encode: cannot pin to cpu %d: %s\n", cpu, g_strerror(errno));
    return cpu;
}

static char *cpu_model(void)
{
    g_autofree char *info = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/cpuinfo", &info, NULL, NULL))
        return g_strdup("unknown CPU");
    lines = g_strsplit(info, "\n", -1);
    for (char **l = lines; *l != NULL; l++)
        if (g_str_has_prefix(*l, "model name") && strchr(*l, ':') != NULL)
            return g_strdup(g_strstrip(strchr(*l, ':') + 1));
    return g_strdup("unknown CPU");
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- time H.264 encoding of three desktop workloads");
    g_autoptr(GError) err = NULL;
    g_autofree char *model = NULL, *mode = NULL;
    struct h264_enc_params params;
    struct result res[G_N_ELEMENTS(workloads)];
    int cpu;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "bench_encode: %s\n", err->message);
        return 2;
    }
    params = (struct h264_enc_params){
        .width = opt_width, .height = opt_height, .max_fps = opt_fps,
        .bitrate_kbps = opt_bitrate, .qp = opt_bitrate > 0 ? 0 : opt_qp,
    };
    cpu = pin_one_core();
    model = cpu_model();
    mode = opt_bitrate > 0 ? g_strdup_printf("target %d kbit/s", opt_bitrate)
                           : g_strdup_printf("constant qp %d", opt_qp);
    printf("bench_encode: %dx%d, %s, told %d fps; %.0f s of encoding per workload on one core "
           "(cpu %d, %s)\n", params.width, params.height, mode, opt_fps, opt_seconds, cpu, model);

    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
        if (run(&workloads[i], &params, &res[i]) != 0)
            return 1;

    printf("\n%-11s %6s %8s %6s %6s %10s %11s %11s %15s\n", "workload", "frames", "ms/frame",
           "p95 ms", "cpu ms", "convert ms", "openh264 ms", "bytes/frame", "Y PSNR dB (min)");
    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
        printf("%-11s %6d %8.2f %6.2f %6.2f %10.3f %11.2f %11.0f %8.1f (%4.1f)\n",
               workloads[i].name, res[i].frames, res[i].mean_ms, res[i].p95_ms, res[i].cpu_ms,
               res[i].convert_ms, res[i].openh264_ms, res[i].bytes, res[i].psnr_mean,
               res[i].psnr_min);
    printf("\nms/frame and p95: wall time in h264_enc_encode; cpu ms: the thread's CPU time\n"
           "in it; convert and openh264: its two parts (wall). The first frame (an IDR, the\n"
           "whole picture converted) is not counted:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
        printf("  %s: %.1f ms (convert %.2f ms), %zu bytes\n", workloads[i].name, res[i].first_ms,
               res[i].first_convert_ms, res[i].first_bytes);
    printf("PSNR: of the Y plane only, decoded with openh264, against the BT.709 full-range luma\n"
           "of the source, on up to %d frames per workload.\n", PSNR_FRAMES);
    printf("targets: small change <= 1 ms: typing %.2f ms per frame (%s);\n"
           "         %dx%d full motion >= 30 fps on one core: %.1f fps (%s)\n",
           res[0].mean_ms, res[0].mean_ms <= 1 ? "met" : "NOT met", params.width, params.height,
           1000 / res[2].mean_ms, 1000 / res[2].mean_ms >= 30 ? "met" : "NOT met");
    return 0;
}
