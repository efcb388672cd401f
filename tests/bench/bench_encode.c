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
 * --seconds of encoding time, frames coming at --fps at most (as from a
 * display: rate control budgets by time), through two encoders, the second
 * encoding the same frames as the first:
 *   aula    h264_enc as the RDP front end sets it up: constant qp, and rate
 *           control at --motion kbit/s while full-screen motion lasts
 *   shadow  FreeRDP's avc420_compress as freerdp-shadow-cli sets it up (its
 *           defaults: variable bitrate at 10 Mbit/s for 30 fps, the whole
 *           surface every frame), the peer aula is measured against
 * Per frame: the time the encoder took (mean and 95th percentile), for aula
 * split into colour conversion and openh264, and the bytes. Afterwards the
 * frames are decoded with FreeRDP's decoder (the one xfreerdp uses) and
 * each picture is compared with the source: PSNR over R, G and B.
 *
 * Usage: bench_encode [--seconds S] [--qp QP [--motion KBPS] | --bitrate KBPS]
 *                     [--fps N] [--width W --height H] [--no-shadow] */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <freerdp/codec/color.h>
#include <freerdp/codec/h264.h>

#include "display/h264_enc.h"

static double opt_seconds = 5;
static int opt_qp = 22;
static int opt_bitrate = 0;
static int opt_fps = 30;
static int opt_width = 1920;
static int opt_height = 1080;
static gboolean opt_no_shadow = FALSE;
static int opt_motion = H264_MOTION_KBPS;

static const GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds,
      "Encoding time per workload (default 5)", "S" },
    { "qp", 'q', 0, G_OPTION_ARG_INT, &opt_qp, "Constant quality at this qp (default 22)", "QP" },
    { "bitrate", 'b', 0, G_OPTION_ARG_INT, &opt_bitrate,
      "Target bitrate instead of constant quality", "KBPS" },
    { "motion", 'm', 0, G_OPTION_ARG_INT, &opt_motion,
      "With constant quality: rate control at this bitrate during full-screen motion, as "
      "the RDP front end does (default 10000; 0: never)", "KBPS" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &opt_fps,
      "Frame rate the encoder is told (default 30)", "N" },
    { "width", 0, 0, G_OPTION_ARG_INT, &opt_width, "Frame width (default 1920)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &opt_height, "Frame height (default 1080)", "H" },
    { "no-shadow", 0, 0, G_OPTION_ARG_NONE, &opt_no_shadow,
      "Leave out the peer: FreeRDP's encoder as its shadow server uses it", NULL },
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

/* ---- the encoders ---- */

/* One encoder under test: aula's (display/h264_enc.c, as the RDP front end
 * sets it up) or the one FreeRDP's shadow server uses (FreeRDP's
 * avc420_compress with the shadow server's defaults: variable bitrate at
 * 10 Mbit/s for 30 fps, the whole surface every frame). */
struct encoder {
    const char *name;
    struct h264_enc *aula;
    H264_CONTEXT *freerdp;
    double convert_ms, encode_ms;       /* of the last frame, when known */
};

static int encoder_open(struct encoder *e, gboolean shadow, const struct h264_enc_params *params)
{
    g_autoptr(GError) err = NULL;

    memset(e, 0, sizeof(*e));
    if (!shadow) {
        e->name = "aula";
        if (h264_enc_new(params, &e->aula, &err) < 0) {
            fprintf(stderr, "bench_encode: %s\n", err->message);
            return -1;
        }
        return 0;
    }
    e->name = "shadow";
    e->freerdp = h264_context_new(TRUE);
    if (e->freerdp == NULL || !h264_context_reset(e->freerdp, (UINT32)params->width,
                                                  (UINT32)params->height)) {
        fprintf(stderr, "bench_encode: FreeRDP has no H.264 encoder here\n");
        h264_context_free(e->freerdp);
        return -1;
    }
    e->freerdp->RateControlMode = H264_RATECONTROL_VBR;
    e->freerdp->BitRate = 10000000;
    e->freerdp->FrameRate = 30;
    e->freerdp->QP = 0;
    {
        /* FreeRDP (which sets its own level when made) encodes through FFmpeg here, whose libx264 prints its
         * statistics: errors only, please (FFmpeg's AV_LOG_ERROR is 16). */
        void (*set_level)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "av_log_set_level");
        if (set_level != NULL)
            set_level(16);
    }
    return 0;
}

static int encoder_encode(struct encoder *e, const struct scene *s, const struct fb_rect *damage,
                          int n, GBytes **out)
{
    if (e->aula != NULL) {
        g_autoptr(GError) err = NULL;
        struct h264_enc_frame_info info;
        const uint8_t *data;
        size_t len;

        if (h264_enc_encode(e->aula, s->rgbx, s->stride, damage, n, FALSE, &data, &len,
                            &err) < 0) {
            fprintf(stderr, "bench_encode: %s\n", err->message);
            return -1;
        }
        h264_enc_last_frame(e->aula, &info);
        e->convert_ms = (double)info.convert_ns / 1e6;
        e->encode_ms = (double)info.encode_ns / 1e6;
        *out = g_bytes_new(data, len);
        return 0;
    }
    {
        BYTE *data = NULL;
        UINT32 len = 0;

        /* The shadow server hands its encoder the whole surface. */
        if (avc420_compress(e->freerdp, s->rgbx, PIXEL_FORMAT_RGBX32, (UINT32)s->stride,
                            (UINT32)s->width, (UINT32)s->height, &data, &len) < 0) {
            fprintf(stderr, "bench_encode: FreeRDP's avc420_compress failed\n");
            return -1;
        }
        *out = g_bytes_new(data, len);
        return 0;
    }
}

static void encoder_close(struct encoder *e)
{
    h264_enc_free(e->aula);
    h264_context_free(e->freerdp);
}

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

/* PSNR of a decoded picture (same layout as the scene's) against the
 * scene, over R, G and B. */
static double rgb_psnr(const struct scene *s, const uint8_t *decoded)
{
    double err = 0;

    for (int row = 0; row < s->height; row++) {
        const uint8_t *px = s->rgbx + (size_t)row * s->stride;
        const uint8_t *dx = decoded + (size_t)row * s->stride;
        for (int x = 0; x < s->width; x++, px += FB_BPP, dx += FB_BPP)
            for (int c = 0; c < 3; c++) {
                double d = (double)px[c] - dx[c];
                err += d * d;
            }
    }
    err /= 3.0 * s->width * s->height;
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

/* Encode the workload's frames: as many as take --seconds of encoding, or
 * exactly frames_wanted (> 0), so that two encoders see the same frames. */
static int run(const struct workload *w, gboolean shadow, const struct h264_enc_params *params,
               int frames_wanted, struct result *res)
{
    struct scene s = { 0 };
    struct encoder enc;
    g_autoptr(GArray) frames = g_array_new(FALSE, TRUE, sizeof(struct frame));
    g_autofree double *ms = NULL;
    g_autofree uint8_t *decoded = NULL;
    H264_CONTEXT *dec = NULL;
    double total = 0, start;
    int every, rc = 1;

    memset(res, 0, sizeof(*res));
    if (encoder_open(&enc, shadow, params) < 0)
        return 1;
    scene_init(&s, params->width, params->height);
    w->init(&s);
    start = clock_ms(CLOCK_MONOTONIC);

    /* Frame 0 is the whole picture (an IDR); then the workload's frames
     * until their encoding time adds up to opt_seconds. */
    for (int i = 0; i <= MAX_FRAMES && (frames_wanted > 0 ? i <= frames_wanted
                                                         : (i == 0 || total < opt_seconds * 1000));
         i++) {
        struct fb_rect damage;
        struct frame f;
        int n = 0;
        double t0, t1, c0, c1;

        if (i > 0)
            n = w->step(&s, i, &damage);
        /* Frames come at --fps, as from a display: the rate control
         * budgets by time. Waiting is not counted. */
        while (clock_ms(CLOCK_MONOTONIC) < start + i * 1000.0 / opt_fps)
            g_usleep(1000);
        t0 = clock_ms(CLOCK_MONOTONIC);
        c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        if (encoder_encode(&enc, &s, i > 0 ? &damage : NULL, n, &f.stream) < 0) {
            fprintf(stderr, "bench_encode: %s: %s: frame %d does not encode\n", enc.name,
                    w->name, i);
            goto out;
        }
        c1 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
        t1 = clock_ms(CLOCK_MONOTONIC);
        f.ms = t1 - t0;
        f.cpu_ms = c1 - c0;
        f.convert_ms = enc.convert_ms;
        f.encode_ms = enc.encode_ms;
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

    /* Quality: make the same frames again, decode every one with FreeRDP's
     * decoder (the one xfreerdp uses), and compare some of them (evenly
     * spread, the first included). */
    dec = h264_context_new(FALSE);
    if (dec == NULL || !h264_context_reset(dec, (UINT32)s.width, (UINT32)s.height)) {
        fprintf(stderr, "bench_encode: FreeRDP could not make an H.264 decoder\n");
        goto out;
    }
    decoded = g_malloc0((size_t)s.stride * s.height);
    scene_init(&s, params->width, params->height);
    w->init(&s);
    every = MAX(1, (int)frames->len / PSNR_FRAMES);
    res->psnr_min = 99;
    for (guint i = 0; i < frames->len; i++) {
        const struct frame *f = &g_array_index(frames, struct frame, i);
        RECTANGLE_16 all = { 0, 0, (UINT16)s.width, (UINT16)s.height };
        struct fb_rect damage;
        gsize len;
        const uint8_t *data = g_bytes_get_data(f->stream, &len);
        INT32 st;

        if (i > 0)
            w->step(&s, (int)i, &damage);
        if (len == 0)
            continue;           /* the encoder skipped the frame: the last one stays */
        st = avc420_decompress(dec, data, (UINT32)len, decoded, PIXEL_FORMAT_RGBX32,
                               (UINT32)s.stride, (UINT32)s.width, (UINT32)s.height, &all, 1);
        if (st < 0) {
            fprintf(stderr, "bench_encode: %s: %s: frame %u does not decode (%d)\n", enc.name,
                    w->name, i, st);
            goto out;
        }
        if (i % (guint)every == 0) {
            double db = rgb_psnr(&s, decoded);
            res->psnr_mean += db;
            res->psnr_min = MIN(res->psnr_min, db);
            res->psnr_frames++;
        }
    }
    res->psnr_mean /= MAX(1, res->psnr_frames);
    rc = 0;
out:
    h264_context_free(dec);
    for (guint i = 0; i < frames->len; i++)
        g_bytes_unref(g_array_index(frames, struct frame, i).stream);
    encoder_close(&enc);
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
    struct result res[G_N_ELEMENTS(workloads)], peer[G_N_ELEMENTS(workloads)];
    int cpu;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "bench_encode: %s\n", err->message);
        return 2;
    }
    params = (struct h264_enc_params){
        .width = opt_width, .height = opt_height, .max_fps = opt_fps,
        .bitrate_kbps = opt_bitrate, .qp = opt_bitrate > 0 ? 0 : opt_qp,
        .motion_kbps = opt_bitrate > 0 ? 0 : opt_motion,
    };
    cpu = pin_one_core();
    model = cpu_model();
    mode = opt_bitrate > 0 ? g_strdup_printf("target %d kbit/s", opt_bitrate)
           : opt_motion > 0 ? g_strdup_printf("constant qp %d, %d kbit/s in motion", opt_qp,
                                              opt_motion)
                            : g_strdup_printf("constant qp %d", opt_qp);
    printf("bench_encode: %dx%d, %s, told %d fps; %.0f s of encoding per workload on one core "
           "(cpu %d, %s)\n", params.width, params.height, mode, opt_fps, opt_seconds, cpu, model);

    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++) {
        if (run(&workloads[i], FALSE, &params, 0, &res[i]) != 0)
            return 1;
        if (!opt_no_shadow && run(&workloads[i], TRUE, &params, res[i].frames, &peer[i]) != 0)
            return 1;
    }

    printf("\n%-11s %-6s %6s %8s %6s %6s %10s %11s %11s %16s\n", "workload", "coder", "frames",
           "ms/frame", "p95 ms", "cpu ms", "convert ms", "openh264 ms", "bytes/frame",
           "RGB PSNR dB (min)");
    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
        for (int k = 0; k < (opt_no_shadow ? 1 : 2); k++) {
            const struct result *r = k == 0 ? &res[i] : &peer[i];
            printf("%-11s %-6s %6d %8.2f %6.2f %6.2f %10.3f %11.2f %11.0f %8.1f (%4.1f)\n",
                   workloads[i].name, k == 0 ? "aula" : "shadow", r->frames, r->mean_ms,
                   r->p95_ms, r->cpu_ms, r->convert_ms, r->openh264_ms, r->bytes, r->psnr_mean,
                   r->psnr_min);
        }
    printf("\nms/frame and p95: wall time in the encoder; cpu ms: the thread's CPU time in\n"
           "it; convert and openh264: aula's two parts (wall). shadow: FreeRDP's\n"
           "avc420_compress as freerdp-shadow-cli sets it up (VBR 10 Mbit/s, 30 fps, the\n"
           "whole surface each frame). The first frame (an IDR) is not counted:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
        printf("  %s: aula %.1f ms, %zu bytes%s", workloads[i].name, res[i].first_ms,
               res[i].first_bytes, opt_no_shadow ? "\n" : "; ");
    if (!opt_no_shadow)
        for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++)
            printf("%sshadow %s %.1f ms, %zu bytes\n", i ? "  " : "", workloads[i].name,
                   peer[i].first_ms, peer[i].first_bytes);
    printf("PSNR: R, G and B of the picture FreeRDP's decoder (xfreerdp's) makes of the\n"
           "stream, against the source, on up to %d frames per workload.\n", PSNR_FRAMES);
    printf("targets: %dx%d full motion >= 30 fps on one core: %.1f fps (%s)\n",
           params.width, params.height, 1000 / res[2].mean_ms,
           1000 / res[2].mean_ms >= 30 ? "met" : "NOT met");
    printf("         typing through H.264: %.2f ms per frame (the RDP front end sends changes\n"
           "         this small as planar tiles instead: see bench-rdp)\n", res[0].mean_ms);
    if (!opt_no_shadow)
        for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++) {
            gboolean met = res[i].bytes <= peer[i].bytes && res[i].psnr_mean >= peer[i].psnr_mean;
            printf("         %s: bytes/frame %.0f vs shadow's %.0f at PSNR %.1f vs %.1f dB (%s)\n",
                   workloads[i].name, res[i].bytes, peer[i].bytes, res[i].psnr_mean,
                   peer[i].psnr_mean, met ? "met" : "NOT met");
        }
    return 0;
}
