/* vnc_front: the VNC front end of a session (libvncserver).
 *
 * Serves one viewer, on a socket aulad accepted, with the encodings the viewer
 * prefers (Tight, ZRLE, Hextile, ...), desktop resize, and VNC authentication
 * whose password is a one-time ticket: the session cannot check it itself (it
 * never sees tickets), so the challenge and the viewer's answer go to the
 * authenticate hook, which asks the broker. */
#ifndef AULA_VNC_FRONT_H
#define AULA_VNC_FRONT_H

#include <glib.h>
#include <stdint.h>

#include "display/fb_source.h"

#define VNC_CHALLENGE_LEN 16

struct vnc_front;

struct vnc_front_hooks {
    /* The viewer answered challenge with response. TRUE lets it in; the hook
     * may block (it waits for the broker and for the VM) and must have called
     * vnc_front_set_fb with the desktop before it returns TRUE. */
    gboolean (*authenticate)(const uint8_t *challenge, const uint8_t *response, void *data);
    /* Input from the viewer (X keysyms; absolute pointer, RFB button mask). */
    void (*key)(uint32_t keysym, gboolean down, void *data);
    void (*pointer)(int x, int y, uint32_t buttons, void *data);
    /* The viewer went away or broke the protocol. */
    void (*gone)(void *data);
};

/* Serve the viewer on fd (takes ownership). hooks and data are borrowed.
 * Caller frees with vnc_front_free. */
int vnc_front_new(int fd, const struct vnc_front_hooks *hooks, void *data, struct vnc_front **frontp,
                  GError **error);
void vnc_front_free(struct vnc_front *front);

/* Show fb (borrowed; call again after every resize), all of it new. */
void vnc_front_set_fb(struct vnc_front *front, const struct fb *fb);
/* The pointer's shape (copied): viewers that take cursor updates draw it
 * themselves, for others libvncserver draws it into the picture. */
void vnc_front_set_cursor(struct vnc_front *front, const struct fb_cursor *cursor);
/* These rects of the framebuffer changed. */
void vnc_front_damage(struct vnc_front *front, const struct fb_rect *rects, int n);
/* Read what the viewer sent and send it what changed; never blocks long.
 * Returns FALSE once the viewer is gone. */
gboolean vnc_front_process(struct vnc_front *front);
/* The viewer's socket, to poll. */
int vnc_front_fd(const struct vnc_front *front);

/* What libvncserver last complained of (a viewer that broke the protocol),
 * or NULL. Borrowed. */
const char *vnc_front_last_error(void);

struct vnc_front_stats {
    uint64_t bytes_sent;
    uint64_t updates_sent;   /* FramebufferUpdate messages */
    char encoding[32];       /* the viewer's preferred encoding, e.g. "tight" */
};
void vnc_front_stats(struct vnc_front *front, struct vnc_front_stats *stats);

#endif
