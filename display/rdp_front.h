/* rdp_front: the RDP front end of a session (FreeRDP 2 server library).
 *
 * Serves one RDP client on a socket aulad accepted: TLS with aulad's
 * certificate (standard RDP security and NLA are refused; a client sends its
 * typed credentials in the Client Info PDU, inside TLS), then pictures of
 * whatever framebuffer the session shows (its own login and progress screens,
 * then the VM's desktop):
 *   - through the graphics pipeline (MS-RDPEGFX) when the client offers it,
 *     paced by the client's frame acknowledgements: large changes as AVC420
 *     H.264 frames when the client decodes them, small ones (and the first
 *     picture) as lossless planar tiles;
 *   - else as bitmap updates (planar at 32 bpp, interleaved below) in 64x64
 *     tiles, split to the client's fragment limit.
 * A picture of another size than the client's desktop resizes the client
 * (a graphics reset, or a deactivation-reactivation sequence).
 * Input comes back as scancodes (QEMU key numbers), unicode characters and an
 * absolute pointer. */
#ifndef AULA_RDP_FRONT_H
#define AULA_RDP_FRONT_H

#include <glib.h>
#include <stdint.h>

#include "display/fb_source.h"

struct rdp_front;

struct rdp_front_hooks {
    /* The credentials from the Client Info PDU (each may be ""); once,
     * before the first activation. */
    void (*logon)(const char *user, const char *domain, const char *password, void *data);
    /* The client can take pictures now, at width x height (the first
     * activation, and again after each resize). */
    void (*activated)(int width, int height, void *data);
    /* A key: its QEMU key number (scancode, 0x80 set for extended keys). */
    void (*key)(uint32_t qnum, gboolean down, void *data);
    /* A character typed as unicode (clients do this for input methods). */
    void (*unicode)(uint32_t codepoint, gboolean down, void *data);
    /* The client asks for a desktop of width x height (display control:
     * its window was resized). */
    void (*resize_request)(int width, int height, void *data);
    /* The client's lock keys (FB_LED_*): on connecting and on focus. */
    void (*sync_locks)(int leds, void *data);
    /* Absolute pointer with the RFB button mask (wheel as buttons 4 and 5). */
    void (*pointer)(int x, int y, uint32_t buttons, void *data);
    /* The client went away or broke the protocol. */
    void (*gone)(void *data);
};

/* Serve the client on fd (takes ownership). cert_pem and key_pem are the TLS
 * certificate and private key (PEM text, copied). hooks and data are
 * borrowed. Caller frees with rdp_front_free. */
int rdp_front_new(int fd, const char *cert_pem, const char *key_pem, const struct rdp_front_hooks *hooks,
                  void *data, struct rdp_front **frontp, GError **error);
void rdp_front_free(struct rdp_front *front);
/* The desktop size the client asked for when it connected (0x0 before). */
void rdp_front_asked_size(const struct rdp_front *front, int *width, int *height);

/* Show fb (borrowed; call again after fb is reallocated), all of it new. A
 * size other than the client's resizes the client first. */
void rdp_front_show(struct rdp_front *front, const struct fb *fb);
/* The pointer's shape (copied; sent now or at the next activation). */
void rdp_front_set_cursor(struct rdp_front *front, const struct fb_cursor *cursor);
/* Log how long after the client's credentials the next frame goes out,
 * naming it what (e.g. "the desktop"). */
void rdp_front_time_next_frame(struct rdp_front *front, const char *what);
/* These rects of the shown framebuffer changed. */
void rdp_front_damage(struct rdp_front *front, const struct fb_rect *rects, int n);
/* Read what the client sent and send what is due; never blocks long.
 * Returns FALSE once the client is gone. */
gboolean rdp_front_process(struct rdp_front *front);
/* The descriptors to poll for input (at most max); returns how many. */
int rdp_front_poll_fds(struct rdp_front *front, int *fds, int max);

struct rdp_front_stats {
    uint64_t bytes_sent;
    uint64_t frames_sent;
    char encoding[32];   /* "avc420", "planar", "interleaved" */
};
void rdp_front_stats(const struct rdp_front *front, struct rdp_front_stats *stats);

#endif
