/* fb_source: where a session's desktop picture comes from, and where its
 * input goes.
 *
 * A source keeps a shadow framebuffer of the VM's screen (struct fb: 32 bits
 * per pixel, red in the lowest byte, as libvncserver's default format) and
 * tells its owner, on the session's main loop, which rectangles changed when a
 * frame is complete, when the guest changed its mode, and when the display
 * went away. Keyboard input is by QEMU key number (qnum, layout-independent);
 * the pointer is absolute.
 *
 * Backends sit behind struct fb_source_impl (as neatvnc's encoders do): the
 * QEMU VNC backend (fb_qemu.c) reads the socket libvirt's
 * virDomainOpenGraphicsFD gives; a D-Bus display backend can be added
 * beside it. */
#ifndef AULA_FB_SOURCE_H
#define AULA_FB_SOURCE_H

#include <glib.h>
#include <stdint.h>

#define FB_BPP 4
#define FB_MAX_DIM 8192

struct fb {
    int width, height;
    int stride;       /* bytes per row */
    uint8_t *data;    /* width*height pixels, owned by the source */
};

struct fb_rect {
    int x, y, w, h;
};

/* A pointer shape: width*height pixels R, G, B, A (A is 0 or 255). */
struct fb_cursor {
    int width, height;
    int hot_x, hot_y;
    uint8_t *rgba;
};

struct fb_source_events {
    /* The rects of fb that changed since the last frame (borrowed). */
    void (*frame)(const struct fb_rect *rects, int n, void *data);
    /* The guest changed mode: fb (borrowed) has a new size and new memory;
     * all of it is new. The old memory is freed after this returns. */
    void (*resize)(const struct fb *fb, void *data);
    /* The guest's pointer has a new shape (borrowed; only for guests whose
     * display has a hardware cursor: others draw the pointer into the
     * picture). May be NULL. */
    void (*cursor)(const struct fb_cursor *cursor, void *data);
    /* The display is gone (the VM stopped, libvirt closed the socket, or the
     * server broke the protocol): why says which. No more events follow. */
    void (*closed)(const char *why, void *data);
};

/* Pointer buttons, as RFB's button mask. */
enum {
    FB_BUTTON_LEFT = 1 << 0,
    FB_BUTTON_MIDDLE = 1 << 1,
    FB_BUTTON_RIGHT = 1 << 2,
    FB_BUTTON_WHEEL_UP = 1 << 3,
    FB_BUTTON_WHEEL_DOWN = 1 << 4,
};

struct fb_source;

/* The guest keyboard's lock LEDs (the bits RDP's synchronize event and
 * QEMU's LED state both use). */
enum {
    FB_LED_SCROLL = 1 << 0,
    FB_LED_NUM = 1 << 1,
    FB_LED_CAPS = 1 << 2,
    FB_LED_ALL = 7,
};

struct fb_source_impl {
    const char *name;
    /* Take ownership of fd and do the display protocol's handshake (blocking,
     * bounded). On success *ctxp is the backend's state. */
    int (*open)(struct fb_source *src, int fd, void **ctxp, GError **error);
    /* The fd to poll for input from the display, or -1. */
    int (*poll_fd)(void *ctx);
    /* Read what is waiting (no blocking); events are emitted from here.
     * Returns FALSE once the source is closed. */
    gboolean (*dispatch)(void *ctx);
    void (*key)(void *ctx, uint32_t qnum, uint32_t keysym, gboolean down);
    void (*pointer)(void *ctx, int x, int y, uint32_t buttons);
    /* Ask for the whole screen again (a new client needs a full frame). */
    void (*refresh)(void *ctx);
    /* Ask the guest's display for a mode of width x height; it answers, if
     * it can, with a mode change. FALSE: the request could not be sent. */
    gboolean (*request_size)(void *ctx, int width, int height);
    void (*close)(void *ctx);
};

extern const struct fb_source_impl fb_qemu_vnc_impl;

struct fb_source {
    const struct fb_source_impl *impl;
    void *ctx;
    struct fb fb;                  /* the shadow framebuffer; data owned by the backend */
    const struct fb_source_events *events;
    void *data;
    gboolean closed;
    uint64_t frames;               /* frames completed */
    int leds;                      /* FB_LED_* of the guest's keyboard; -1: unknown */
};

/* Open impl on fd (taking ownership of fd, even on failure). events and data
 * are borrowed. Caller frees with fb_source_free. */
int fb_source_open(const struct fb_source_impl *impl, int fd, const struct fb_source_events *events,
                   void *data, struct fb_source **srcp, GError **error);
void fb_source_free(struct fb_source *src);

/* Borrowed; valid until the next resize event. */
const struct fb *fb_source_fb(const struct fb_source *src);
int fb_source_poll_fd(const struct fb_source *src);
gboolean fb_source_dispatch(struct fb_source *src);
/* Block until the next frame is complete (the first one, right after open),
 * at most timeout_ms: 0, -ETIMEDOUT, or -EPIPE when the source closed. */
int fb_source_wait_frame(struct fb_source *src, int timeout_ms);
void fb_source_key(struct fb_source *src, uint32_t qnum, uint32_t keysym, gboolean down);
void fb_source_pointer(struct fb_source *src, int x, int y, uint32_t buttons);
void fb_source_refresh(struct fb_source *src);
/* Ask the guest for a screen of width x height (1..FB_MAX_DIM each). Its
 * display follows only if it can (QEMU passes the request on to display
 * devices that take it, such as virtio-gpu; the guest then sets the mode);
 * a resize event says when it did. FALSE if the request was not sent. */
gboolean fb_source_request_size(struct fb_source *src, int width, int height);
/* Bring the guest's lock keys to leds (FB_LED_*) by pressing and releasing
 * each one that differs. Nothing while the guest's state is unknown (leds
 * -1: the backend has not reported it). Returns the FB_LED_* bits pressed. */
int fb_source_sync_locks(struct fb_source *src, int leds);

/* The smallest rect covering rects[0..n) (n > 0). */
struct fb_rect fb_rect_bounds(const struct fb_rect *rects, int n);

/* For backends: report to the owner. */
void fb_source_emit_frame(struct fb_source *src, const struct fb_rect *rects, int n);
void fb_source_emit_resize(struct fb_source *src);
void fb_source_emit_closed(struct fb_source *src, const char *why);
void fb_source_emit_cursor(struct fb_source *src, const struct fb_cursor *cursor);

#endif
