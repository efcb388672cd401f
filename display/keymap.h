/* display/keymap: X11 keysyms (what RDP unicode events and VNC clients send)
 * to QEMU "qnum" key codes (what QEMU's VNC extended key event and the QMP
 * send-key command take), as a US keyboard would type them. See keymap.c for
 * the qnum convention. */
#ifndef AULA_DISPLAY_KEYMAP_H
#define AULA_DISPLAY_KEYMAP_H

#include <glib.h>
#include <stdint.h>

/* Map a keysym as a US keyboard would produce it. Returns the qnum code (>0),
 * or -ENOENT for a keysym with no key on a US keyboard (and for Pause, which
 * has no single scancode). On success *shift is set TRUE when the character
 * needs Shift (e.g. 'A', '!', '{', ISO_Left_Tab) and FALSE otherwise; shift
 * may be NULL, and is untouched on failure. */
int keymap_us_keysym_to_qnum(uint32_t keysym, gboolean *shift);

/* The other way: the keysym a US keyboard gives for QEMU key qnum with or
 * without Shift (for keys Shift does not change, the same one either way);
 * -ENOENT for a key with no keysym in the table (modifiers, Pause). */
int keymap_us_qnum_to_keysym(uint32_t qnum, gboolean shift);

#endif
