/* thinclient/sdl_view: the window aula-client shows a remote desktop in.
 *
 * One SDL2 window with one streaming texture the size of the remote
 * framebuffer. The protocol side writes the framebuffer itself and tells the
 * view which rectangles changed; only those are copied to the texture, and
 * the window is redrawn once per batch (sdl_view_present()). The renderer's
 * logical size is the framebuffer's, so that in full screen the picture is
 * scaled and mouse coordinates still come in framebuffer pixels.
 *
 * Pixels are 32 bits, red in the lowest byte (libvncclient's default
 * 8-8-8 little-endian format: SDL_PIXELFORMAT_BGR888). */
#ifndef AULA_THINCLIENT_SDL_VIEW_H
#define AULA_THINCLIENT_SDL_VIEW_H

#include <SDL.h>
#include <glib.h>
#include <stdint.h>

struct sdl_view;

/* Initialise SDL's video and open a window titled title, w x h pixels (or
 * full screen). Caller frees *viewp with sdl_view_free(); on error *cause
 * says why (caller frees). */
int sdl_view_new(const char *title, int w, int h, gboolean fullscreen, struct sdl_view **viewp,
                 char **cause);

/* Close the window and quit SDL's video. NULL is a no-op. */
void sdl_view_free(struct sdl_view *view);

/* The framebuffer is now w x h: a new texture, and the window follows
 * (unless full screen). The picture is black until the next updates. */
int sdl_view_resize(struct sdl_view *view, int w, int h, char **cause);

/* Copy the rectangle x,y,w,h of fb (stride bytes a line, the whole
 * framebuffer; borrowed) to the texture. */
void sdl_view_update(struct sdl_view *view, const uint8_t *fb, int stride, int x, int y, int w,
                     int h);

/* Redraw the window if anything was updated since the last call. */
void sdl_view_present(struct sdl_view *view);

/* The X keysym (RFB 7.5.4) for an SDL key, or 0 when there is none:
 * printable ASCII, Return, BackSpace, Tab, Escape, the arrows and the
 * editing keys, F1-F12, and the modifiers. */
uint32_t sdl_view_keysym(SDL_Keycode key);

/* The RFB pointer button mask (RFB 7.5.5: bit 0 left, 1 middle, 2 right)
 * for SDL's mouse button state. */
uint8_t sdl_view_buttons(uint32_t sdl_state);

#endif
