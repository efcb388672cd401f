/* thinclient/vnc_view: a remote desktop over VNC (libvncclient), shown in an
 * sdl_view, with the keyboard and the mouse sent back.
 *
 * One thread: vnc_view_run() waits at most 10 ms for the server, handles
 * what came, then handles SDL's events, until the server closes the
 * connection or the user closes the window. */
#ifndef AULA_THINCLIENT_VNC_VIEW_H
#define AULA_THINCLIENT_VNC_VIEW_H

#include <glib.h>

struct vnc_view;

/* How vnc_view_run() ended. */
enum vnc_view_end {
    VNC_VIEW_CLOSED_BY_SERVER, /* the connection closed (logoff, disconnect, network) */
    VNC_VIEW_CLOSED_BY_USER,   /* the window was closed */
};

/* Connect to host:port with password (the VNC password: a ticket), and open
 * a window titled title the size of the desktop (or full screen). All
 * strings are borrowed for this call only. Caller frees *vvp with
 * vnc_view_free(); on error *cause says why (caller frees). */
int vnc_view_new(const char *host, int port, const char *password, const char *title,
                 gboolean fullscreen, struct vnc_view **vvp, char **cause);

/* Close the connection and the window. NULL is a no-op. */
void vnc_view_free(struct vnc_view *vv);

/* Show the desktop until the connection or the window closes. */
enum vnc_view_end vnc_view_run(struct vnc_view *vv);

#endif
