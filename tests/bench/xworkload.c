/* xworkload: the testguest's benchmark workloads drawn on an X display.
 *
 * bench_rdp.sh serves this picture with FreeRDP's shadow server, next to
 * aula serving the testguest's own, so both servers face the same amount
 * of change. The definitions are the testguest's
 * (packaging/images/testguest/README.md, "Workloads"), at the size of the
 * X screen:
 *
 *   typing  a title bar above a black page; every 50 ms one more character
 *           of the guest's sample text appears at a grey block cursor (cells
 *           of 12x16 px, lines 20 px apart), so each step changes two cells
 *   scroll  a title bar above numbered text lines on alternating dark
 *           backgrounds, 16 px each; every 50 ms the whole area moves up
 *           16 px and a new line comes in at the bottom
 *   motion  every pixel, every frame, at most 30 frames a second: a
 *           checkerboard of 64 px squares over a hue gradient, each band of
 *           squares sliding sideways 8 px a frame (alternately left and
 *           right) while the bands move up 4 px a frame
 *   idle    the typing page, drawn once
 *
 * Text uses aula's 8x16 font (display/font.c) inside the guest's 12x16
 * cells instead of the guest's 5x7 font at 2x: the same cells change, with
 * a similar amount of ink. A step that falls behind is drawn at once,
 * without catching up on missed ones, as in the guest. Each step goes to
 * the X server as one image put (MIT-SHM when the server has it) followed
 * by XSync, as the guest fsyncs its framebuffer after each step.
 *
 * Once a second it prints "fps N" (steps drawn in that second) on stdout.
 *
 * Usage: xworkload [--seconds S] typing|scroll|motion|idle
 * (the display is $DISPLAY). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>

#include <glib.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>

#include "display/font.h"

#define XW_ERROR       (g_quark_from_static_string("xworkload-error"))
#define STEP_S         0.05     /* typing and scroll: one step every 50 ms */
#define MOTION_S       (1.0 / 30)
#define SCROLL_PX      16
#define CELL_W         12       /* the guest's 6x8 cell at 2x */
#define CELL_H         16
#define GLYPH_W        10       /* the guest's 5x7 glyph at 2x: the cursor block */
#define GLYPH_H        14
#define MARGIN         16
#define TITLE_H        72
#define MOTION_PERIOD  1536     /* the hue wheel, one step per pixel */
#define MOTION_SQUARE  64

/* The testguest's colours (0xRRGGBB). */
#define C_BACKGROUND   0x181818
#define C_TITLE_BG     0x12306a
#define C_TEXT         0xe8e8e8
#define C_DIM          0x909090
#define C_KEY          0xffe070
#define C_POINTER_TXT  0x80e0ff
#define C_PAGE         0x000000
#define C_CURSOR       0xb0b0b0
#define C_ZEBRA_A      0x10161e
#define C_ZEBRA_B      0x24303c

/* The testguest's sample text (guest.c), so that lines wrap alike. */
static const char sample_text[] =
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen "
    "liquor jugs. Sphinx of black quartz, judge my vow!\n"
    "Minutes of the Tuesday meeting, 14:30: the nightly build went green at 02:12 "
    "after the cache fix; 3 of the 4 runners were idle most of the night. Next "
    "steps: move the backup job to 01:00, check the hit rate (87% today, 64% last "
    "week) and ask the network team about the 120 ms spikes.\n"
    "Dear Ms Novak, thank you for your letter of 9 May. The invoice (no. 2024-0419, "
    "EUR 1,280.00) was paid on the 14th; a copy of the transfer is attached. "
    "Kind regards, J. Berger\n"
    "for (i = 0; i < n; i++) { sum += a[i] * b[i]; } return n ? sum / n : 0;\n"
    "Rain again this morning. The tram was eleven minutes late, and the coffee "
    "machine on the third floor still says \"descale me\" - maybe on Friday?\n";

enum workload { WL_IDLE, WL_TYPING, WL_SCROLL, WL_MOTION };
static const char *const workload_names[] = { "idle", "typing", "scroll", "motion" };

/* The X side: a window over the whole screen and the image it shows. */
static struct {
    Display *dpy;
    Window win;
    GC gc;
    XImage *img;
    XShmSegmentInfo shm;
    gboolean use_shm;
    int w, h;
    uint32_t *px;               /* img's pixels, 0x00RRGGBB, w per row */
} X;

/* The damage of the current step: its bounding box. */
static struct {
    int x0, y0, x1, y1;
} D;

/* Typing: the page and where the next character goes. */
static struct {
    int x0, y0, pitch, cols, rows, row, col;
    size_t pos;
} T;

/* Scroll: the top of the moving area and the number of the next line. */
static struct {
    int y0;
    unsigned next;
} S;

static uint32_t *motion_band[2];
static unsigned motion_t;        /* motion frames drawn */
static volatile sig_atomic_t stop;

/* SIGTERM and SIGINT end the loop; the X connection is closed cleanly. */
static void on_signal(int sig)
{
    stop = 1;
}

/* Adds a rectangle to the step's damage. */
static void damage(int x, int y, int w, int h)
{
    if (w <= 0 || h <= 0)
        return;
    if (D.x1 <= D.x0) {
        D.x0 = x;
        D.y0 = y;
        D.x1 = x + w;
        D.y1 = y + h;
        return;
    }
    D.x0 = MIN(D.x0, x);
    D.y0 = MIN(D.y0, y);
    D.x1 = MAX(D.x1, x + w);
    D.y1 = MAX(D.y1, y + h);
}

/* Paints a rectangle, clipped to the screen, without recording damage. */
static void paint(int x, int y, int w, int h, uint32_t c)
{
    for (int yy = MAX(y, 0); yy < y + h && yy < X.h; yy++)
        for (int xx = MAX(x, 0); xx < x + w && xx < X.w; xx++)
            X.px[(size_t)yy * X.w + xx] = c;
}

/* Fills a rectangle and records it as damage. */
static void fill(int x, int y, int w, int h, uint32_t c)
{
    paint(x, y, w, h, c);
    damage(x, y, w, h);
}

/* Text at x,y, each font pixel scale x scale, one CELL_W * scale cell a
 * character with its background filled. */
static void text(int x, int y, int scale, uint32_t fg, uint32_t bg, const char *s)
{
    int n = (int)strlen(s);

    for (int i = 0; i < n; i++) {
        const uint8_t *g = font_glyph((unsigned char)s[i]);
        int cx = x + i * CELL_W * scale;
        paint(cx, y, CELL_W * scale, CELL_H * scale, bg);
        for (int row = 0; row < FONT_HEIGHT; row++)
            for (int col = 0; col < FONT_WIDTH; col++)
                if (g[row] & (0x80 >> col))
                    paint(cx + (2 + col) * scale, y + row * scale, scale, scale, fg);
    }
    damage(x, y, n * CELL_W * scale, CELL_H * scale);
}

/* The title bar, as the guest's: a name on the left, mode and workload on the right. */
static void draw_title(enum workload wl)
{
    char info[64];

    fill(0, 0, X.w, TITLE_H, C_TITLE_BG);
    text(MARGIN, 12, 3, 0xffffff, C_TITLE_BG, "aula xworkload");
    snprintf(info, sizeof info, "%dx%d X11", X.w, X.h);
    text(X.w - MARGIN - (int)strlen(info) * CELL_W, 12, 1, C_TEXT, C_TITLE_BG, info);
    snprintf(info, sizeof info, "workload %s", workload_names[wl]);
    text(X.w - MARGIN - (int)strlen(info) * CELL_W, 44, 1, C_KEY, C_TITLE_BG, info);
}

/* ---- typing ---- */

/* Draws the block cursor, or erases it with the page's colour. */
static void typing_cursor(uint32_t c)
{
    fill(T.x0 + T.col * CELL_W, T.y0 + T.row * T.pitch, GLYPH_W, GLYPH_H, c);
}

/* The next line; after the last one the page is cleared once. */
static void typing_newline(void)
{
    T.col = 0;
    if (++T.row >= T.rows) {
        T.row = 0;
        fill(0, TITLE_H, X.w, X.h - TITLE_H, C_PAGE);
    }
}

/* The title bar above an empty page, the cursor at its top left. */
static void typing_start(enum workload wl)
{
    T.pitch = CELL_H + 4;
    T.x0 = MARGIN;
    T.y0 = TITLE_H + 16;
    T.cols = MAX((X.w - 2 * MARGIN) / CELL_W, 1);
    T.rows = MAX((X.h - T.y0 - 8) / T.pitch, 1);
    T.row = T.col = 0;
    T.pos = 0;
    fill(0, 0, X.w, X.h, C_PAGE);
    draw_title(wl);
    typing_cursor(C_CURSOR);
}

/* One keystroke, wrapped at word boundaries as the guest does. */
static void typing_step(void)
{
    char c, one[2] = { 0, 0 };

    for (;;) {
        c = sample_text[T.pos];
        if (c == '\0')
            T.pos = 0;
        else if (c == ' ' && T.col == 0)
            T.pos++;
        else
            break;
    }
    typing_cursor(C_PAGE);
    if (c == '\n') {
        T.pos++;
        typing_newline();
        typing_cursor(C_CURSOR);
        return;
    }
    if (c != ' ' && T.col > 0 && (T.pos == 0 || sample_text[T.pos - 1] == ' ')) {
        int len = (int)strcspn(sample_text + T.pos, " \n");
        if (T.col + len > T.cols)
            typing_newline();
    }
    T.pos++;
    one[0] = c;
    text(T.x0 + T.col * CELL_W, T.y0 + T.row * T.pitch, 1, C_TEXT, C_PAGE, one);
    if (++T.col >= T.cols)
        typing_newline();
    typing_cursor(C_CURSOR);
}

/* ---- scroll ---- */

/* Line n of the page: its number and a piece of the sample text whose
 * start and length vary from line to line (the guest's rule). */
static void scroll_line(int y, unsigned n)
{
    static const uint32_t colours[] = { C_TEXT, C_POINTER_TXT, C_KEY, 0xa0f0a0, 0xffa0a0 };
    const size_t text_len = sizeof sample_text - 1;
    uint32_t bg = n % 2 ? C_ZEBRA_B : C_ZEBRA_A;
    int cols = MIN((X.w - 2 * MARGIN) / CELL_W - 8, 119);
    char num[16], line[120];
    size_t start = (size_t)n * 97 % text_len;
    int len = 0;

    if (cols > 24)
        len = 24 + (int)(n * 53 % (unsigned)(cols - 24 + 1));
    for (size_t i = 0; i < text_len && !g_ascii_isspace(sample_text[start]); i++)
        start = (start + 1) % text_len;
    start = (start + 1) % text_len;
    for (int i = 0; i < len; i++) {
        char c = sample_text[(start + (size_t)i) % text_len];
        line[i] = c == '\n' ? ' ' : c;
    }
    if (!g_ascii_isspace(sample_text[(start + (size_t)len) % text_len]))
        for (int i = len - 1; i > len / 2; i--)
            if (line[i] == ' ') {
                len = i;
                break;
            }
    line[len] = '\0';
    snprintf(num, sizeof num, "%6u", n);
    paint(0, y, X.w, SCROLL_PX, bg);
    text(MARGIN, y, 1, C_DIM, bg, num);
    text(MARGIN + 8 * CELL_W, y, 1, colours[n % 5], bg, line);
}

/* The title bar above a full page of lines. */
static void scroll_start(void)
{
    int lines = MAX((X.h - TITLE_H) / SCROLL_PX, 1);

    S.y0 = X.h - lines * SCROLL_PX;
    fill(0, 0, X.w, X.h, C_BACKGROUND);
    draw_title(WL_SCROLL);
    for (int i = 0; i < lines; i++)
        scroll_line(S.y0 + i * SCROLL_PX, (unsigned)i + 1);
    S.next = (unsigned)lines + 1;
}

/* One step: the area moves up one line, a new line comes in at the bottom. */
static void scroll_step(void)
{
    size_t row = (size_t)X.w;

    damage(0, S.y0, X.w, X.h - S.y0);
    memmove(X.px + (size_t)S.y0 * row, X.px + (size_t)(S.y0 + SCROLL_PX) * row,
            (size_t)(X.h - S.y0 - SCROLL_PX) * row * sizeof *X.px);
    scroll_line(X.h - SCROLL_PX, S.next++);
}

/* ---- motion ---- */

/* A fully saturated colour, i along the hue wheel (0 <= i < MOTION_PERIOD). */
static uint32_t hue(unsigned i)
{
    uint32_t f = i % 256;

    switch (i / 256) {
    case 0:  return 0xff0000 | f << 8;
    case 1:  return (255 - f) << 16 | 0x00ff00;
    case 2:  return 0x00ff00 | f;
    case 3:  return (255 - f) << 8 | 0x0000ff;
    case 4:  return f << 16 | 0x0000ff;
    default: return 0xff0000 | (255 - f);
    }
}

/* The two pattern rows every screen row is a window into (the guest's). */
static void motion_start(void)
{
    int n = MOTION_PERIOD + X.w;

    for (unsigned k = 0; k < 2; k++) {
        motion_band[k] = g_new(uint32_t, n);
        for (int x = 0; x < n; x++) {
            unsigned hx = (unsigned)x % MOTION_PERIOD;
            uint32_t c = hue(hx);
            if ((hx / MOTION_SQUARE) % 2 != k)
                c = (c >> 2) & 0x3f3f3f;
            motion_band[k][x] = c;
        }
    }
}

/* The next motion frame, all of the screen. */
static void motion_frame(void)
{
    unsigned t = motion_t++, d = 8 * t % MOTION_PERIOD;

    for (int y = 0; y < X.h; y++) {
        unsigned band = ((unsigned)y + 4 * t) / MOTION_SQUARE;
        unsigned k = band % 2;
        unsigned off = (band * 160 + (k ? d : MOTION_PERIOD - d)) % MOTION_PERIOD;
        memcpy(X.px + (size_t)y * X.w, motion_band[k] + off, (size_t)X.w * sizeof *X.px);
    }
    damage(0, 0, X.w, X.h);
}

/* ---- X ---- */

/* Opens $DISPLAY, maps an override-redirect window over the whole screen and
 * makes the image it shows (shared memory when the server offers it). */
static int x_open(GError **error)
{
    XSetWindowAttributes attr = { .override_redirect = True, .background_pixel = 0 };
    int screen, major, minor;
    Bool pixmaps;
    Visual *visual;
    XEvent ev;

    X.dpy = XOpenDisplay(NULL);
    if (X.dpy == NULL) {
        g_set_error(error, XW_ERROR, ENOENT, "cannot open the X display '%s'",
                    g_getenv("DISPLAY") ? g_getenv("DISPLAY") : "");
        return -ENOENT;
    }
    screen = DefaultScreen(X.dpy);
    visual = DefaultVisual(X.dpy, screen);
    X.w = DisplayWidth(X.dpy, screen);
    X.h = DisplayHeight(X.dpy, screen);
    if (DefaultDepth(X.dpy, screen) != 24 || visual->red_mask != 0xff0000 || visual->green_mask != 0xff00 ||
        visual->blue_mask != 0xff) {
        g_set_error(error, XW_ERROR, ENOTSUP,
                    "the X screen is not 24-bit RGB (start Xvfb with -screen 0 WxHx24)");
        return -ENOTSUP;
    }
    /* An override-redirect window: no window manager needed, nothing on top. */
    X.win = XCreateWindow(X.dpy, RootWindow(X.dpy, screen), 0, 0, (unsigned)X.w, (unsigned)X.h, 0,
                          CopyFromParent, InputOutput, CopyFromParent, CWOverrideRedirect | CWBackPixel,
                          &attr);
    XSelectInput(X.dpy, X.win, StructureNotifyMask);
    XMapRaised(X.dpy, X.win);
    do
        XNextEvent(X.dpy, &ev);
    while (ev.type != MapNotify);
    X.gc = XCreateGC(X.dpy, X.win, 0, NULL);
    /* A local X server shares the image's memory: each put costs no copy
     * over the socket, as the guest's framebuffer costs QEMU none. */
    if (XShmQueryVersion(X.dpy, &major, &minor, &pixmaps)) {
        X.img = XShmCreateImage(X.dpy, visual, 24, ZPixmap, NULL, &X.shm, (unsigned)X.w, (unsigned)X.h);
        if (X.img) {
            X.shm.shmid = shmget(IPC_PRIVATE, (size_t)X.img->bytes_per_line * X.h, IPC_CREAT | 0600);
            X.shm.shmaddr = X.img->data = X.shm.shmid >= 0 ? shmat(X.shm.shmid, NULL, 0) : (char *)-1;
            X.shm.readOnly = False;
            if (X.shm.shmaddr != (char *)-1 && XShmAttach(X.dpy, &X.shm)) {
                XSync(X.dpy, False);
                shmctl(X.shm.shmid, IPC_RMID, NULL); /* freed when both sides detach */
                X.use_shm = TRUE;
            } else {
                if (X.shm.shmid >= 0)
                    shmctl(X.shm.shmid, IPC_RMID, NULL);
                X.img->data = NULL;
                XDestroyImage(X.img);
                X.img = NULL;
            }
        }
    }
    if (X.img == NULL) {
        char *data = g_malloc0((size_t)X.w * X.h * 4);
        X.img = XCreateImage(X.dpy, visual, 24, ZPixmap, 0, data, (unsigned)X.w, (unsigned)X.h, 32,
                             X.w * 4);
    }
    if (X.img->bits_per_pixel != 32 || X.img->bytes_per_line != X.w * 4) {
        g_set_error(error, XW_ERROR, ENOTSUP, "unexpected image layout: %d bpp, %d bytes a row",
                    X.img->bits_per_pixel, X.img->bytes_per_line);
        return -ENOTSUP;
    }
    X.px = (uint32_t *)X.img->data;
    return 0;
}

/* Send the step's damage to the X server and wait until it has it. */
static void x_present(void)
{
    int w = D.x1 - D.x0, h = D.y1 - D.y0;

    if (w > 0 && h > 0) {
        if (X.use_shm)
            XShmPutImage(X.dpy, X.win, X.gc, X.img, D.x0, D.y0, D.x0, D.y0, (unsigned)w, (unsigned)h, False);
        else
            XPutImage(X.dpy, X.win, X.gc, X.img, D.x0, D.y0, D.x0, D.y0, (unsigned)w, (unsigned)h);
    }
    XSync(X.dpy, False);
    D.x0 = D.y0 = D.x1 = D.y1 = 0;
}

/* Monotonic seconds. */
static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps until monotonic time t, or until a signal asks to stop. */
static void sleep_until(double t)
{
    struct timespec ts = { .tv_sec = (time_t)t, .tv_nsec = (long)((t - (double)(time_t)t) * 1e9) };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
        ;
}

int main(int argc, char **argv)
{
    double seconds = 0, period = 0, next, end, second_at;
    unsigned second_steps = 0;
    enum workload wl = WL_IDLE;
    g_autoptr(GOptionContext) ctx = g_option_context_new("typing|scroll|motion|idle");
    g_autoptr(GError) err = NULL;
    const GOptionEntry entries[] = {
        { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "Stop after S seconds (default: at SIGTERM)", "S" },
        { NULL },
    };
    struct sigaction sa = { .sa_handler = on_signal };
    gboolean found = FALSE;

    g_option_context_set_summary(ctx, "Draws one of the testguest's benchmark workloads over the whole X screen.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
        fprintf(stderr, "xworkload: %s\n", err ? err->message : "name one workload: typing, scroll, motion or idle");
        return 2;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(workload_names); i++)
        if (strcmp(argv[1], workload_names[i]) == 0) {
            wl = (enum workload)i;
            found = TRUE;
        }
    if (!found) {
        fprintf(stderr, "xworkload: unknown workload '%s' (typing, scroll, motion or idle)\n", argv[1]);
        return 2;
    }
    if (x_open(&err) < 0) {
        fprintf(stderr, "xworkload: %s\n", err->message);
        return 1;
    }
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    switch (wl) {
    case WL_IDLE:
    case WL_TYPING:
        typing_start(wl);
        period = wl == WL_TYPING ? STEP_S : 0;
        break;
    case WL_SCROLL:
        scroll_start();
        period = STEP_S;
        break;
    case WL_MOTION:
        motion_start();
        motion_frame();
        period = MOTION_S;
        break;
    }
    x_present();
    next = second_at = now_s();
    end = seconds > 0 ? next + seconds : 0;
    while (!stop && (end == 0 || now_s() < end)) {
        double t;
        if (period == 0) {
            sleep_until(end > 0 ? end : now_s() + 3600);
            continue;
        }
        next += period;
        t = now_s();
        if (next < t)
            next = t; /* behind: the next step at once, no catching up */
        sleep_until(next);
        if (stop)
            break;
        switch (wl) {
        case WL_TYPING:
            typing_step();
            break;
        case WL_SCROLL:
            scroll_step();
            break;
        case WL_MOTION:
            motion_frame();
            break;
        case WL_IDLE:
            break;
        }
        x_present();
        second_steps++;
        t = now_s();
        if (t - second_at >= 1.0) {
            printf("fps %u\n", second_steps);
            fflush(stdout);
            second_steps = 0;
            second_at = t;
        }
    }
    if (X.use_shm)
        XShmDetach(X.dpy, &X.shm);
    XCloseDisplay(X.dpy);
    return 0;
}
