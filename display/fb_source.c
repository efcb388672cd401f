/* fb_source: the backend-independent part of a framebuffer source. */
#include "config.h"

#include "display/fb_source.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

int fb_source_open(const struct fb_source_impl *impl, int fd, const struct fb_source_events *events,
                   void *data, struct fb_source **srcp, GError **error)
{
    struct fb_source *src = g_new0(struct fb_source, 1);
    int r;

    src->impl = impl;
    src->events = events;
    src->data = data;
    src->leds = -1;
    r = impl->open(src, fd, &src->ctx, error);
    if (r < 0) {
        g_free(src);
        return r;
    }
    *srcp = src;
    return 0;
}

void fb_source_free(struct fb_source *src)
{
    if (src == NULL)
        return;
    src->impl->close(src->ctx);
    g_free(src);
}

const struct fb *fb_source_fb(const struct fb_source *src)
{
    return &src->fb;
}

int fb_source_poll_fd(const struct fb_source *src)
{
    return src->closed ? -1 : src->impl->poll_fd(src->ctx);
}

gboolean fb_source_dispatch(struct fb_source *src)
{
    if (src->closed)
        return FALSE;
    return src->impl->dispatch(src->ctx) && !src->closed;
}

int fb_source_wait_frame(struct fb_source *src, int timeout_ms)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
    uint64_t start = src->frames;

    while (src->frames == start) {
        int64_t left = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd p = { .fd = fb_source_poll_fd(src), .events = POLLIN };
        int n;

        if (src->closed || p.fd < 0)
            return -EPIPE;
        if (left <= 0)
            return -ETIMEDOUT;
        n = poll(&p, 1, (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0 && !fb_source_dispatch(src))
            return -EPIPE;
    }
    return 0;
}

void fb_source_key(struct fb_source *src, uint32_t qnum, uint32_t keysym, gboolean down)
{
    if (!src->closed)
        src->impl->key(src->ctx, qnum, keysym, down);
}

void fb_source_pointer(struct fb_source *src, int x, int y, uint32_t buttons)
{
    if (src->closed)
        return;
    x = CLAMP(x, 0, MAX(src->fb.width - 1, 0));
    y = CLAMP(y, 0, MAX(src->fb.height - 1, 0));
    src->impl->pointer(src->ctx, x, y, buttons);
}

void fb_source_refresh(struct fb_source *src)
{
    if (!src->closed)
        src->impl->refresh(src->ctx);
}

gboolean fb_source_request_size(struct fb_source *src, int width, int height)
{
    if (src->closed || src->impl->request_size == NULL || width < 1 || height < 1 ||
        width > FB_MAX_DIM || height > FB_MAX_DIM)
        return FALSE;
    return src->impl->request_size(src->ctx, width, height);
}

int fb_source_sync_locks(struct fb_source *src, int leds)
{
    static const struct {
        int bit;
        uint32_t qnum, keysym;
    } locks[] = {
        { FB_LED_CAPS, 0x3a, 0xffe5 },      /* Caps_Lock */
        { FB_LED_NUM, 0x45, 0xff7f },       /* Num_Lock */
        { FB_LED_SCROLL, 0x46, 0xff14 },    /* Scroll_Lock */
    };
    int toggled = 0;

    if (src->closed || src->leds < 0 || leds < 0)
        return 0;
    for (size_t i = 0; i < G_N_ELEMENTS(locks); i++) {
        if (!((src->leds ^ leds) & locks[i].bit))
            continue;
        src->impl->key(src->ctx, locks[i].qnum, locks[i].keysym, TRUE);
        src->impl->key(src->ctx, locks[i].qnum, locks[i].keysym, FALSE);
        toggled |= locks[i].bit;
    }
    /* What the guest will report once it has taken the keys: a second
     * request before then must not press them again. */
    src->leds = leds & FB_LED_ALL;
    return toggled;
}

void fb_source_emit_frame(struct fb_source *src, const struct fb_rect *rects, int n)
{
    /* An update with only pseudo-rectangles (QEMU acknowledges extensions
     * that way) changes no pixel: it is not a frame. */
    if (n <= 0)
        return;
    src->frames++;
    if (src->events->frame)
        src->events->frame(rects, n, src->data);
}

void fb_source_emit_resize(struct fb_source *src)
{
    if (src->events->resize)
        src->events->resize(&src->fb, src->data);
}

void fb_source_emit_closed(struct fb_source *src, const char *why)
{
    if (src->closed)
        return;
    src->closed = TRUE;
    if (src->events->closed)
        src->events->closed(why, src->data);
}

void fb_source_emit_cursor(struct fb_source *src, const struct fb_cursor *cursor)
{
    if (src->events->cursor)
        src->events->cursor(cursor, src->data);
}

struct fb_rect fb_rect_bounds(const struct fb_rect *rects, int n)
{
    int x0 = rects[0].x, y0 = rects[0].y, x1 = x0 + rects[0].w, y1 = y0 + rects[0].h;

    for (int i = 1; i < n; i++) {
        x0 = MIN(x0, rects[i].x);
        y0 = MIN(y0, rects[i].y);
        x1 = MAX(x1, rects[i].x + rects[i].w);
        y1 = MAX(y1, rects[i].y + rects[i].h);
    }
    return (struct fb_rect){ x0, y0, x1 - x0, y1 - y0 };
}
