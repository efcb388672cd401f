/* The QEMU display source (display/fb_qemu.c) against a VNC server made with
 * libvncserver in this process, standing in for QEMU: the handshake and the
 * first frame, the size request (SetDesktopSize) as the server reads it, and
 * requests refused before they are sent. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/fb_source.h"

struct fake {
    rfbScreenInfoPtr screen;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    int asked_w, asked_h, asked_screens, asks;
};

static struct fake *current;

static int on_set_desktop_size(int width, int height, int n, struct rfbExtDesktopScreen *screens,
                               rfbClientPtr cl)
{
    (void)screens;
    (void)cl;
    pthread_mutex_lock(&current->lock);
    current->asked_w = width;
    current->asked_h = height;
    current->asked_screens = n;
    current->asks++;
    pthread_mutex_unlock(&current->lock);
    /* As QEMU does for a display device that takes no size hints. */
    return rfbExtDesktopSize_ResizeProhibited;
}

static void *serve(void *data)
{
    struct fake *fk = data;

    while (!fk->stop)
        rfbProcessEvents(fk->screen, 10000);
    return NULL;
}

static void quiet_log(const char *format, ...)
{
    (void)format;
}

/* A server on one end of a socket pair; the other end is returned. */
static int fake_start(struct fake *fk, int width, int height)
{
    int sv[2];

    memset(fk, 0, sizeof(*fk));
    current = fk;
    pthread_mutex_init(&fk->lock, NULL);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rfbLog = quiet_log;
    rfbErr = quiet_log;
    fk->screen = rfbGetScreen(NULL, NULL, width, height, 8, 3, 4);
    assert_non_null(fk->screen);
    fk->screen->frameBuffer = calloc((size_t)width * height, 4);
    for (int i = 0; i < width * height; i++)
        fk->screen->frameBuffer[i * 4 + 1] = (char)(i & 0xff);     /* some green */
    fk->screen->autoPort = FALSE;
    fk->screen->port = -1;
    fk->screen->ipv6port = -1;
    fk->screen->httpPort = -1;
    fk->screen->setDesktopSizeHook = on_set_desktop_size;
    rfbInitServer(fk->screen);
    assert_non_null(rfbNewClient(fk->screen, sv[0]));
    assert_int_equal(pthread_create(&fk->thread, NULL, serve, fk), 0);
    return sv[1];
}

static void fake_stop(struct fake *fk)
{
    fk->stop = 1;
    pthread_join(fk->thread, NULL);
    rfbShutdownServer(fk->screen, TRUE);
    free(fk->screen->frameBuffer);
    rfbScreenCleanup(fk->screen);
    pthread_mutex_destroy(&fk->lock);
    current = NULL;
}

static const struct fb_source_events no_events = { 0 };

/* Read what the server sent within ms, as the session's main loop would:
 * only when the socket is readable. FALSE once the source closed. */
static gboolean pump(struct fb_source *src, int ms)
{
    struct pollfd p = { .fd = fb_source_poll_fd(src), .events = POLLIN };

    if (p.fd < 0)
        return FALSE;
    if (poll(&p, 1, ms) <= 0)
        return TRUE;
    return fb_source_dispatch(src);
}

static struct fb_source *open_source(int fd)
{
    struct fb_source *src = NULL;
    GError *err = NULL;

    if (fb_source_open(&fb_qemu_vnc_impl, fd, &no_events, NULL, &src, &err) < 0)
        fail_msg("fb_source_open: %s", err->message);
    return src;
}

/* The source's size request reaches the server as one SetDesktopSize with
 * one screen, and the server's refusal (an ExtendedDesktopSize rect) is read
 * without trouble: the source goes on. */
static void test_request_size(void **state)
{
    struct fake fk;
    struct fb_source *src = open_source(fake_start(&fk, 320, 240));
    int asks = 0;

    (void)state;
    assert_int_equal(fb_source_fb(src)->width, 320);
    assert_int_equal(fb_source_fb(src)->height, 240);
    assert_int_equal(fb_source_wait_frame(src, 5000), 0);
    assert_true(fb_source_request_size(src, 1280, 800));
    for (int i = 0; i < 200 && asks == 0; i++) {
        assert_true(pump(src, 10));
        pthread_mutex_lock(&fk.lock);
        asks = fk.asks;
        pthread_mutex_unlock(&fk.lock);
    }
    assert_int_equal(asks, 1);
    assert_int_equal(fk.asked_w, 1280);
    assert_int_equal(fk.asked_h, 800);
    assert_int_equal(fk.asked_screens, 1);
    /* The answer and what follows are read; the mode stays. */
    for (int i = 0; i < 20; i++)
        assert_true(pump(src, 10));
    assert_int_equal(fb_source_fb(src)->width, 320);
    assert_false(src->closed);
    fb_source_free(src);
    fake_stop(&fk);
}

/* Sizes no display can have are not sent. */
static void test_request_size_bad(void **state)
{
    struct fake fk;
    struct fb_source *src = open_source(fake_start(&fk, 64, 48));

    (void)state;
    assert_false(fb_source_request_size(src, 0, 600));
    assert_false(fb_source_request_size(src, 800, -1));
    assert_false(fb_source_request_size(src, FB_MAX_DIM + 1, 600));
    usleep(100000);
    pthread_mutex_lock(&fk.lock);
    assert_int_equal(fk.asks, 0);
    pthread_mutex_unlock(&fk.lock);
    fb_source_free(src);
    fake_stop(&fk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_size),
        cmocka_unit_test(test_request_size_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
