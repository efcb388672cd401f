/* display/keymap: US-layout keysym -> QEMU qnum table. */
#include "config.h"

#include "display/keymap.h"

#include <errno.h>
#include <stdlib.h>

/* The qnum convention.
 *
 * QEMU's keyboard input (the VNC "QEMU extended key event", the QMP send-key
 * "number" form, and its own keymaps/ files) numbers keys by their XT
 * scancode set 1 make code, folded into one byte:
 *   - a plain key sends its set-1 make code:   'a' = 0x1e, Escape = 0x01;
 *   - an 0xE0-prefixed key E0 XX is sent as 0x80 | XX: Right Ctrl (E0 1D) =
 *     0x9d, Left arrow (E0 4B) = 0xcb, KP Enter (E0 1C) = 0x9c.
 * Bit 7 cannot mean "break" here as it does on the wire: press and release
 * travel as a separate flag of the event. Codes are therefore 0x01..0xff and
 * never 0, so a positive return is always a key.
 *
 * Keysyms are X11's (X11/keysymdef.h): Latin-1 characters are their own
 * code points, function keys live at 0xff00..0xffff. The constants are
 * written out in hex with the X name beside them so that this file needs no
 * X11 headers.
 *
 * "US" means the ANSI 104-key layout as X's "us" layout types it: the
 * character keysyms are what the key gives unshifted or with Shift, and the
 * keypad keysyms are the NumLock-on (KP_7) and NumLock-off (KP_Home) faces of
 * the same key, neither of which needs Shift. Keys that a US board lacks
 * (the ISO key between Left Shift and Z, AltGr symbols, dead keys) have no
 * entry and give -ENOENT.
 *
 * Pause is left out on purpose (-ENOENT): it has no make code of its own. The
 * key sends E1 1D 45 E1 9D C5 on press and nothing on release, which no
 * one-byte "E0 XX -> 0x80|XX" number can describe. (QEMU does accept the
 * stand-in number 0xc6 for it and replays that sequence itself; add it here
 * if a session ever needs Pause.)
 */

struct keymap_entry {
    uint32_t keysym;
    uint8_t qnum;
    uint8_t shift;
};

#define K(sym, code) { (sym), (code), 0 }
#define S(sym, code) { (sym), (code), 1 }

/* Sorted by keysym: bsearch() relies on it. */
static const struct keymap_entry us_keys[] = {
    K(0x0020, 0x39), /* space */
    S(0x0021, 0x02), /* exclam */
    S(0x0022, 0x28), /* quotedbl */
    S(0x0023, 0x04), /* numbersign */
    S(0x0024, 0x05), /* dollar */
    S(0x0025, 0x06), /* percent */
    S(0x0026, 0x08), /* ampersand */
    K(0x0027, 0x28), /* apostrophe */
    S(0x0028, 0x0a), /* parenleft */
    S(0x0029, 0x0b), /* parenright */
    S(0x002a, 0x09), /* asterisk */
    S(0x002b, 0x0d), /* plus */
    K(0x002c, 0x33), /* comma */
    K(0x002d, 0x0c), /* minus */
    K(0x002e, 0x34), /* period */
    K(0x002f, 0x35), /* slash */
    K(0x0030, 0x0b), /* 0 */
    K(0x0031, 0x02), /* 1 */
    K(0x0032, 0x03), /* 2 */
    K(0x0033, 0x04), /* 3 */
    K(0x0034, 0x05), /* 4 */
    K(0x0035, 0x06), /* 5 */
    K(0x0036, 0x07), /* 6 */
    K(0x0037, 0x08), /* 7 */
    K(0x0038, 0x09), /* 8 */
    K(0x0039, 0x0a), /* 9 */
    S(0x003a, 0x27), /* colon */
    K(0x003b, 0x27), /* semicolon */
    S(0x003c, 0x33), /* less */
    K(0x003d, 0x0d), /* equal */
    S(0x003e, 0x34), /* greater */
    S(0x003f, 0x35), /* question */
    S(0x0040, 0x03), /* at */
    S(0x0041, 0x1e), /* A */
    S(0x0042, 0x30), /* B */
    S(0x0043, 0x2e), /* C */
    S(0x0044, 0x20), /* D */
    S(0x0045, 0x12), /* E */
    S(0x0046, 0x21), /* F */
    S(0x0047, 0x22), /* G */
    S(0x0048, 0x23), /* H */
    S(0x0049, 0x17), /* I */
    S(0x004a, 0x24), /* J */
    S(0x004b, 0x25), /* K */
    S(0x004c, 0x26), /* L */
    S(0x004d, 0x32), /* M */
    S(0x004e, 0x31), /* N */
    S(0x004f, 0x18), /* O */
    S(0x0050, 0x19), /* P */
    S(0x0051, 0x10), /* Q */
    S(0x0052, 0x13), /* R */
    S(0x0053, 0x1f), /* S */
    S(0x0054, 0x14), /* T */
    S(0x0055, 0x16), /* U */
    S(0x0056, 0x2f), /* V */
    S(0x0057, 0x11), /* W */
    S(0x0058, 0x2d), /* X */
    S(0x0059, 0x15), /* Y */
    S(0x005a, 0x2c), /* Z */
    K(0x005b, 0x1a), /* bracketleft */
    K(0x005c, 0x2b), /* backslash */
    K(0x005d, 0x1b), /* bracketright */
    S(0x005e, 0x07), /* asciicircum */
    S(0x005f, 0x0c), /* underscore */
    K(0x0060, 0x29), /* grave */
    K(0x0061, 0x1e), /* a */
    K(0x0062, 0x30), /* b */
    K(0x0063, 0x2e), /* c */
    K(0x0064, 0x20), /* d */
    K(0x0065, 0x12), /* e */
    K(0x0066, 0x21), /* f */
    K(0x0067, 0x22), /* g */
    K(0x0068, 0x23), /* h */
    K(0x0069, 0x17), /* i */
    K(0x006a, 0x24), /* j */
    K(0x006b, 0x25), /* k */
    K(0x006c, 0x26), /* l */
    K(0x006d, 0x32), /* m */
    K(0x006e, 0x31), /* n */
    K(0x006f, 0x18), /* o */
    K(0x0070, 0x19), /* p */
    K(0x0071, 0x10), /* q */
    K(0x0072, 0x13), /* r */
    K(0x0073, 0x1f), /* s */
    K(0x0074, 0x14), /* t */
    K(0x0075, 0x16), /* u */
    K(0x0076, 0x2f), /* v */
    K(0x0077, 0x11), /* w */
    K(0x0078, 0x2d), /* x */
    K(0x0079, 0x15), /* y */
    K(0x007a, 0x2c), /* z */
    S(0x007b, 0x1a), /* braceleft */
    S(0x007c, 0x2b), /* bar */
    S(0x007d, 0x1b), /* braceright */
    S(0x007e, 0x29), /* asciitilde */
    S(0xfe20, 0x0f), /* ISO_Left_Tab: what Shift+Tab gives */
    K(0xff08, 0x0e), /* BackSpace */
    K(0xff09, 0x0f), /* Tab */
    K(0xff0d, 0x1c), /* Return */
    /* 0xff13 Pause: no single scancode, see the block comment above */
    K(0xff14, 0x46), /* Scroll_Lock */
    K(0xff15, 0x54), /* Sys_Req: Alt+Print, which a PC keyboard sends as 0x54 */
    K(0xff1b, 0x01), /* Escape */
    K(0xff50, 0xc7), /* Home */
    K(0xff51, 0xcb), /* Left */
    K(0xff52, 0xc8), /* Up */
    K(0xff53, 0xcd), /* Right */
    K(0xff54, 0xd0), /* Down */
    K(0xff55, 0xc9), /* Prior (Page_Up) */
    K(0xff56, 0xd1), /* Next (Page_Down) */
    K(0xff57, 0xcf), /* End */
    K(0xff61, 0xb7), /* Print: E0 37 */
    K(0xff63, 0xd2), /* Insert */
    K(0xff67, 0xdd), /* Menu */
    K(0xff7f, 0x45), /* Num_Lock */
    K(0xff8d, 0x9c), /* KP_Enter: E0 1C */
    K(0xff95, 0x47), /* KP_Home */
    K(0xff96, 0x4b), /* KP_Left */
    K(0xff97, 0x48), /* KP_Up */
    K(0xff98, 0x4d), /* KP_Right */
    K(0xff99, 0x50), /* KP_Down */
    K(0xff9a, 0x49), /* KP_Prior (KP_Page_Up) */
    K(0xff9b, 0x51), /* KP_Next (KP_Page_Down) */
    K(0xff9c, 0x4f), /* KP_End */
    K(0xff9d, 0x4c), /* KP_Begin: keypad 5 with NumLock off */
    K(0xff9e, 0x52), /* KP_Insert */
    K(0xff9f, 0x53), /* KP_Delete */
    K(0xffaa, 0x37), /* KP_Multiply */
    K(0xffab, 0x4e), /* KP_Add */
    K(0xffad, 0x4a), /* KP_Subtract */
    K(0xffae, 0x53), /* KP_Decimal */
    K(0xffaf, 0xb5), /* KP_Divide: E0 35 */
    K(0xffb0, 0x52), /* KP_0 */
    K(0xffb1, 0x4f), /* KP_1 */
    K(0xffb2, 0x50), /* KP_2 */
    K(0xffb3, 0x51), /* KP_3 */
    K(0xffb4, 0x4b), /* KP_4 */
    K(0xffb5, 0x4c), /* KP_5 */
    K(0xffb6, 0x4d), /* KP_6 */
    K(0xffb7, 0x47), /* KP_7 */
    K(0xffb8, 0x48), /* KP_8 */
    K(0xffb9, 0x49), /* KP_9 */
    K(0xffbe, 0x3b), /* F1 */
    K(0xffbf, 0x3c), /* F2 */
    K(0xffc0, 0x3d), /* F3 */
    K(0xffc1, 0x3e), /* F4 */
    K(0xffc2, 0x3f), /* F5 */
    K(0xffc3, 0x40), /* F6 */
    K(0xffc4, 0x41), /* F7 */
    K(0xffc5, 0x42), /* F8 */
    K(0xffc6, 0x43), /* F9 */
    K(0xffc7, 0x44), /* F10 */
    K(0xffc8, 0x57), /* F11 */
    K(0xffc9, 0x58), /* F12 */
    K(0xffe1, 0x2a), /* Shift_L */
    K(0xffe2, 0x36), /* Shift_R */
    K(0xffe3, 0x1d), /* Control_L */
    K(0xffe4, 0x9d), /* Control_R: E0 1D */
    K(0xffe5, 0x3a), /* Caps_Lock */
    K(0xffe9, 0x38), /* Alt_L */
    K(0xffea, 0xb8), /* Alt_R: E0 38 */
    K(0xffeb, 0xdb), /* Super_L: E0 5B */
    K(0xffec, 0xdc), /* Super_R: E0 5C */
    K(0xffff, 0xd3), /* Delete: E0 53 */
};

#undef K
#undef S

/* bsearch() comparator: a uint32_t keysym against a table entry. */
static int entry_cmp(const void *key, const void *elem)
{
    uint32_t sym = *(const uint32_t *)key;
    const struct keymap_entry *e = elem;

    return sym < e->keysym ? -1 : sym > e->keysym ? 1 : 0;
}

/* Look the keysym up in us_keys; see keymap.h for the contract. */
int keymap_us_keysym_to_qnum(uint32_t keysym, gboolean *shift)
{
    const struct keymap_entry *e;

    e = bsearch(&keysym, us_keys, G_N_ELEMENTS(us_keys), sizeof(us_keys[0]), entry_cmp);
    if (e == NULL)
        return -ENOENT;
    if (shift != NULL)
        *shift = e->shift ? TRUE : FALSE;
    return e->qnum;
}

int keymap_us_qnum_to_keysym(uint32_t qnum, gboolean shift)
{
    int fallback = -ENOENT;

    /* A key has one keysym per Shift state on a US board, except the keypad
     * (NumLock on and off faces, both unshifted): the first in keysym order
     * wins, which is the NumLock-on digit. */
    for (size_t i = 0; i < G_N_ELEMENTS(us_keys); i++) {
        if (us_keys[i].qnum != qnum)
            continue;
        if ((us_keys[i].shift != 0) == (shift != FALSE))
            return (int)us_keys[i].keysym;
        if (fallback < 0)
            fallback = (int)us_keys[i].keysym;
    }
    return fallback;
}
