/* ui: the screens aula-session draws itself, before a desktop is there:
 * a login form (user name, password, pool choice, an error line), a
 * "Preparing your desktop" screen with progress, and a message screen. They
 * are drawn into a framebuffer like any desktop (struct fb: FB_BPP bytes per
 * pixel, red in the lowest byte), so the same encoders send them, and take
 * keyboard (X keysyms) and pointer input. Text uses the bitmap font of
 * display/font.h (ASCII and Latin-1; other characters show as a box).
 *
 * Any size from 320x240 to 4096x2160 works: the panel is centred, gets
 * tighter on small screens and twice as large on screens of 2400x1500 and
 * more. Every redraw is recorded as damage for ui_take_damage(); typing or
 * moving the focus redraws only the fields concerned. */
#ifndef AULA_UI_H
#define AULA_UI_H

#include <glib.h>
#include <stdint.h>

#include "display/fb_source.h"

/* The most characters the login fields take (Unicode characters, not bytes). */
#define UI_USER_MAX 64
#define UI_PASSWORD_MAX 128

struct ui;

enum ui_action {
    UI_NONE,      /* nothing for the caller to do (maybe redraw the damage) */
    UI_SUBMIT,    /* the user asked to log in: read ui_user/ui_password/ui_pool */
};

/* The parts of the login form that take the focus, in Tab order. */
enum ui_field {
    UI_FIELD_NONE,
    UI_FIELD_USER,
    UI_FIELD_PASSWORD,
    UI_FIELD_POOL,      /* only when the form offers 2 or more pools */
    UI_FIELD_BUTTON,    /* "Log in" */
};

/* A width x height screen (meant for 320x240 and more; smaller ones are drawn
 * clipped; sizes are clamped to 1..FB_MAX_DIM). It shows the background
 * until one of the ui_show_* functions is called. Caller frees with ui_free. */
struct ui *ui_new(int width, int height);
void ui_free(struct ui *ui);

/* The screen. Borrowed: the struct lives as long as ui, but its size and
 * data change on ui_resize. */
const struct fb *ui_fb(const struct ui *ui);
/* Give the screen a new size and draw what it showed again (the form keeps
 * what was typed and where the focus was). All of it is damaged. */
void ui_resize(struct ui *ui, int width, int height);

/* Show the login form. user prefills the user name (may be NULL or ""),
 * pools (NULL-terminated, may be NULL) offers a choice (none shown when
 * there is at most one), error is shown in red under the form (may be NULL).
 * Focus goes to the password when user is set, else to the user name. The
 * password typed before is wiped. All strings are copied. */
void ui_show_login(struct ui *ui, const char *user, const char *const *pools, const char *error);
/* Show "Preparing your desktop…" with a progress bar (percent is clamped to
 * 0..100) and a line of text (may be NULL). While the progress screen is up,
 * a new percent or text redraws only the bar and the text. */
void ui_show_progress(struct ui *ui, int percent, const char *text);
/* Show a message (e.g. "You have been logged off") with no input. */
void ui_show_message(struct ui *ui, const char *title, const char *text);

/* Keyboard input on the login form, by X keysym. Releases (down FALSE) are
 * ignored, and so is everything on the other screens.
 *   Tab, ISO_Left_Tab (Shift+Tab)  the next, the previous field
 *   Down, Up                       the same, except on the pool choice,
 *                                  where they (and Right, Left) choose the
 *                                  next, the previous pool
 *   Return, KP_Enter               UI_SUBMIT, from any field
 *   space on the button            UI_SUBMIT
 *   BackSpace                      deletes the last character
 *   characters                     are typed into the user name or the
 *                                  password, up to UI_USER_MAX or
 *                                  UI_PASSWORD_MAX: Latin-1 (0x20..0x7e,
 *                                  0xa0..0xff), keypad digits and operators,
 *                                  and Unicode keysyms (0x01000000 + code
 *                                  point). The caret is always at the end. */
enum ui_action ui_key(struct ui *ui, uint32_t keysym, gboolean down);
/* Pointer input: absolute position and the RFB button mask (FB_BUTTON_*).
 * Pressing the left button on a field or its label focuses it; on the arrows
 * of the pool choice it also moves to the previous or next pool, as the
 * wheel does anywhere on that choice. The button submits when the left
 * button is released on it after being pressed on it. */
enum ui_action ui_pointer(struct ui *ui, int x, int y, uint32_t buttons);

/* What the form holds: UTF-8, borrowed, valid until the next ui_show_login or
 * ui_free ("" when empty; the pool is NULL when no choice is offered). They
 * keep their values when another screen is shown. */
const char *ui_user(const struct ui *ui);
const char *ui_password(const struct ui *ui);
const char *ui_pool(const struct ui *ui);

/* Where field is drawn on the login form (its box, without the label), for
 * callers and tests that click it: 0, or -ENOENT when the login form is not
 * shown or does not have that field. */
int ui_field_rect(const struct ui *ui, enum ui_field field, struct fb_rect *rect);
/* The field that has the focus (UI_FIELD_NONE when the login form is not shown). */
enum ui_field ui_focus(const struct ui *ui);

/* Move the rectangles redrawn since the last call into out (at most max;
 * when more changed, one rectangle covering them). Returns how many. */
int ui_take_damage(struct ui *ui, struct fb_rect *out, int max);

#endif
