/* Unit tests for display/keymap: US keysym -> QEMU qnum. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>

#include "display/keymap.h"

struct mapping {
    uint32_t keysym;
    const char *name;
    int qnum;
    gboolean shift;
};

/* Expected codes are XT set 1 make codes, E0 XX written as 0x80 | XX. */
static const struct mapping expected[] = {
    /* letters */
    { 0x0061, "a", 0x1e, FALSE },
    { 0x0071, "q", 0x10, FALSE },
    { 0x006d, "m", 0x32, FALSE },
    { 0x007a, "z", 0x2c, FALSE },
    { 0x0041, "A", 0x1e, TRUE },
    { 0x0051, "Q", 0x10, TRUE },
    { 0x004d, "M", 0x32, TRUE },
    { 0x005a, "Z", 0x2c, TRUE },
    /* digits */
    { 0x0031, "1", 0x02, FALSE },
    { 0x0035, "5", 0x06, FALSE },
    { 0x0039, "9", 0x0a, FALSE },
    { 0x0030, "0", 0x0b, FALSE },
    /* punctuation, unshifted */
    { 0x0020, "space", 0x39, FALSE },
    { 0x0060, "grave", 0x29, FALSE },
    { 0x002d, "minus", 0x0c, FALSE },
    { 0x003d, "equal", 0x0d, FALSE },
    { 0x005b, "bracketleft", 0x1a, FALSE },
    { 0x005d, "bracketright", 0x1b, FALSE },
    { 0x005c, "backslash", 0x2b, FALSE },
    { 0x003b, "semicolon", 0x27, FALSE },
    { 0x0027, "apostrophe", 0x28, FALSE },
    { 0x002c, "comma", 0x33, FALSE },
    { 0x002e, "period", 0x34, FALSE },
    { 0x002f, "slash", 0x35, FALSE },
    /* punctuation, shifted */
    { 0x007e, "asciitilde", 0x29, TRUE },
    { 0x0021, "exclam", 0x02, TRUE },
    { 0x0040, "at", 0x03, TRUE },
    { 0x0023, "numbersign", 0x04, TRUE },
    { 0x0024, "dollar", 0x05, TRUE },
    { 0x0025, "percent", 0x06, TRUE },
    { 0x005e, "asciicircum", 0x07, TRUE },
    { 0x0026, "ampersand", 0x08, TRUE },
    { 0x002a, "asterisk", 0x09, TRUE },
    { 0x0028, "parenleft", 0x0a, TRUE },
    { 0x0029, "parenright", 0x0b, TRUE },
    { 0x005f, "underscore", 0x0c, TRUE },
    { 0x002b, "plus", 0x0d, TRUE },
    { 0x007b, "braceleft", 0x1a, TRUE },
    { 0x007d, "braceright", 0x1b, TRUE },
    { 0x007c, "bar", 0x2b, TRUE },
    { 0x003a, "colon", 0x27, TRUE },
    { 0x0022, "quotedbl", 0x28, TRUE },
    { 0x003c, "less", 0x33, TRUE },
    { 0x003e, "greater", 0x34, TRUE },
    { 0x003f, "question", 0x35, TRUE },
    /* editing and control keys */
    { 0xff0d, "Return", 0x1c, FALSE },
    { 0xff1b, "Escape", 0x01, FALSE },
    { 0xff08, "BackSpace", 0x0e, FALSE },
    { 0xff09, "Tab", 0x0f, FALSE },
    { 0xfe20, "ISO_Left_Tab", 0x0f, TRUE },
    /* function keys: F11/F12 are not next to F10 in set 1 */
    { 0xffbe, "F1", 0x3b, FALSE },
    { 0xffc7, "F10", 0x44, FALSE },
    { 0xffc8, "F11", 0x57, FALSE },
    { 0xffc9, "F12", 0x58, FALSE },
    /* modifiers and locks */
    { 0xffe1, "Shift_L", 0x2a, FALSE },
    { 0xffe2, "Shift_R", 0x36, FALSE },
    { 0xffe3, "Control_L", 0x1d, FALSE },
    { 0xffe4, "Control_R", 0x9d, FALSE },
    { 0xffe9, "Alt_L", 0x38, FALSE },
    { 0xffea, "Alt_R", 0xb8, FALSE },
    { 0xffeb, "Super_L", 0xdb, FALSE },
    { 0xffec, "Super_R", 0xdc, FALSE },
    { 0xff67, "Menu", 0xdd, FALSE },
    { 0xffe5, "Caps_Lock", 0x3a, FALSE },
    { 0xff7f, "Num_Lock", 0x45, FALSE },
    { 0xff14, "Scroll_Lock", 0x46, FALSE },
    { 0xff61, "Print", 0xb7, FALSE },
    /* navigation */
    { 0xff63, "Insert", 0xd2, FALSE },
    { 0xffff, "Delete", 0xd3, FALSE },
    { 0xff50, "Home", 0xc7, FALSE },
    { 0xff57, "End", 0xcf, FALSE },
    { 0xff55, "Page_Up", 0xc9, FALSE },
    { 0xff56, "Page_Down", 0xd1, FALSE },
    { 0xff51, "Left", 0xcb, FALSE },
    { 0xff52, "Up", 0xc8, FALSE },
    { 0xff53, "Right", 0xcd, FALSE },
    { 0xff54, "Down", 0xd0, FALSE },
    /* keypad, NumLock on */
    { 0xffb0, "KP_0", 0x52, FALSE },
    { 0xffb1, "KP_1", 0x4f, FALSE },
    { 0xffb5, "KP_5", 0x4c, FALSE },
    { 0xffb9, "KP_9", 0x49, FALSE },
    { 0xffae, "KP_Decimal", 0x53, FALSE },
    { 0xffab, "KP_Add", 0x4e, FALSE },
    { 0xffad, "KP_Subtract", 0x4a, FALSE },
    { 0xffaa, "KP_Multiply", 0x37, FALSE },
    { 0xffaf, "KP_Divide", 0xb5, FALSE },
    { 0xff8d, "KP_Enter", 0x9c, FALSE },
    /* keypad, NumLock off: the same keys */
    { 0xff95, "KP_Home", 0x47, FALSE },
    { 0xff97, "KP_Up", 0x48, FALSE },
    { 0xff9a, "KP_Prior", 0x49, FALSE },
    { 0xff96, "KP_Left", 0x4b, FALSE },
    { 0xff9d, "KP_Begin", 0x4c, FALSE },
    { 0xff98, "KP_Right", 0x4d, FALSE },
    { 0xff9c, "KP_End", 0x4f, FALSE },
    { 0xff99, "KP_Down", 0x50, FALSE },
    { 0xff9b, "KP_Next", 0x51, FALSE },
    { 0xff9e, "KP_Insert", 0x52, FALSE },
    { 0xff9f, "KP_Delete", 0x53, FALSE },
};

static void test_table(void **state)
{
    for (size_t i = 0; i < G_N_ELEMENTS(expected); i++) {
        const struct mapping *m = &expected[i];
        gboolean shift = !m->shift; /* the opposite, so a missing write shows */
        int code = keymap_us_keysym_to_qnum(m->keysym, &shift);

        if (code != m->qnum || shift != m->shift)
            print_error("%s (0x%04x): got 0x%02x shift=%d, want 0x%02x shift=%d\n", m->name,
                        m->keysym, code, shift, m->qnum, m->shift);
        assert_int_equal(code, m->qnum);
        assert_int_equal(shift, m->shift);
    }
}

/* Every letter, both cases: the same key, Shift only for upper case. */
static void test_all_letters(void **state)
{
    for (uint32_t c = 'a'; c <= 'z'; c++) {
        gboolean lo_shift = TRUE, up_shift = FALSE;
        int lo = keymap_us_keysym_to_qnum(c, &lo_shift);
        int up = keymap_us_keysym_to_qnum(c - 'a' + 'A', &up_shift);

        assert_true(lo > 0);
        assert_int_equal(lo, up);
        assert_false(lo_shift);
        assert_true(up_shift);
    }
}

/* Every shifted character sits on the key of its unshifted partner. */
static void test_shift_pairs(void **state)
{
    static const char pairs[][2] = {
        { '`', '~' }, { '1', '!' }, { '2', '@' }, { '3', '#' }, { '4', '$' }, { '5', '%' },
        { '6', '^' }, { '7', '&' }, { '8', '*' }, { '9', '(' }, { '0', ')' }, { '-', '_' },
        { '=', '+' }, { '[', '{' }, { ']', '}' }, { '\\', '|' }, { ';', ':' }, { '\'', '"' },
        { ',', '<' }, { '.', '>' }, { '/', '?' },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
        gboolean s0 = TRUE, s1 = FALSE;
        int base = keymap_us_keysym_to_qnum((uint32_t)pairs[i][0], &s0);
        int shifted = keymap_us_keysym_to_qnum((uint32_t)pairs[i][1], &s1);

        assert_true(base > 0);
        assert_int_equal(base, shifted);
        assert_false(s0);
        assert_true(s1);
    }
    /* Shift+Tab is Tab with Shift. */
    assert_int_equal(keymap_us_keysym_to_qnum(0xfe20 /* ISO_Left_Tab */, NULL),
                     keymap_us_keysym_to_qnum(0xff09 /* Tab */, NULL));
}

/* Every printable ASCII character is typeable on a US keyboard. */
static void test_all_printable_ascii(void **state)
{
    for (uint32_t c = 0x20; c <= 0x7e; c++) {
        int code = keymap_us_keysym_to_qnum(c, NULL);

        if (code <= 0)
            print_error("'%c' (0x%02x) has no key\n", (int)c, c);
        assert_true(code > 0 && code <= 0xff);
    }
}

static void test_unknown(void **state)
{
    static const uint32_t unknown[] = {
        0x0000,     /* NoSymbol */
        0x12345678, /* not a keysym */
        0xff13,     /* Pause: no single scancode */
        0xff6b,     /* Break */
        0x001f,     /* a control character */
        0x007f,     /* DEL as a Latin-1 code point, not the Delete key (0xffff) */
        0x00e9,     /* eacute: no key of its own on a US keyboard */
        0x00a7,     /* section */
        0xfe03,     /* ISO_Level3_Shift (AltGr) */
        0xffbd,     /* KP_Equal: not on a PC keypad */
        0xffca,     /* F13 */
        0x10000,    /* just past the Latin/function range */
        0x01000041, /* Unicode keysym U+0041: clients send 0x41 for 'A' */
        0xffffffff,
    };

    for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
        gboolean shift = TRUE;

        assert_int_equal(keymap_us_keysym_to_qnum(unknown[i], &shift), -ENOENT);
        assert_true(shift); /* untouched on failure */
        assert_int_equal(keymap_us_keysym_to_qnum(unknown[i], NULL), -ENOENT);
    }
}

/* One keysym per physical key of a US 104-key keyboard (Pause left out):
 * no two may share a code. The keypad's NumLock-off keysyms (KP_Home...) are
 * not in the list because they share their key with KP_7..., as they should;
 * test_keypad_faces checks that. */
static void test_distinct_keys(void **state)
{
    static const uint32_t keys[] = {
        0xff1b, 0xffbe, 0xffbf, 0xffc0, 0xffc1, 0xffc2, 0xffc3, 0xffc4, 0xffc5, 0xffc6,
        0xffc7, 0xffc8, 0xffc9, 0xff61, 0xff14,
        '`', '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', 0xff08,
        0xff09, 'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\\',
        0xffe5, 'a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', 0xff0d,
        0xffe1, 'z', 'x', 'c', 'v', 'b', 'n', 'm', ',', '.', '/', 0xffe2,
        0xffe3, 0xffeb, 0xffe9, ' ', 0xffea, 0xffec, 0xff67, 0xffe4,
        0xff63, 0xff50, 0xff55, 0xffff, 0xff57, 0xff56,
        0xff52, 0xff51, 0xff54, 0xff53,
        0xff7f, 0xffaf, 0xffaa, 0xffad, 0xffb7, 0xffb8, 0xffb9, 0xffab, 0xffb4, 0xffb5,
        0xffb6, 0xffb1, 0xffb2, 0xffb3, 0xff8d, 0xffb0, 0xffae,
    };
    int owner[256];

    assert_int_equal(G_N_ELEMENTS(keys), 103); /* 104 keys minus Pause */
    for (size_t i = 0; i < G_N_ELEMENTS(owner); i++)
        owner[i] = -1;
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        gboolean shift = TRUE;
        int code = keymap_us_keysym_to_qnum(keys[i], &shift);

        assert_true(code > 0 && code <= 0xff);
        assert_false(shift);
        if (owner[code] >= 0)
            print_error("0x%04x and 0x%04x both map to 0x%02x\n", keys[owner[code]], keys[i],
                        code);
        assert_int_equal(owner[code], -1);
        owner[code] = (int)i;
    }
}

/* KP_7 and KP_Home (and so on) are the two faces of one key. */
/* The way back, for the session's login screen: every printable ASCII
 * character is found again from its key and Shift state. */
static void test_reverse(void **state)
{
    (void)state;
    for (uint32_t c = 0x20; c <= 0x7e; c++) {
        gboolean shift = FALSE;
        int q = keymap_us_keysym_to_qnum(c, &shift);
        assert_true(q > 0);
        assert_int_equal(keymap_us_qnum_to_keysym((uint32_t)q, shift), (int)c);
    }
    assert_int_equal(keymap_us_qnum_to_keysym(0x1e, FALSE), 'a');
    assert_int_equal(keymap_us_qnum_to_keysym(0x1e, TRUE), 'A');
    assert_int_equal(keymap_us_qnum_to_keysym(0x0f, TRUE), 0xfe20);   /* ISO_Left_Tab */
    assert_int_equal(keymap_us_qnum_to_keysym(0x1c, FALSE), 0xff0d);  /* Return */
    assert_int_equal(keymap_us_qnum_to_keysym(0x0e, TRUE), 0xff08);   /* BackSpace either way */
    assert_int_equal(keymap_us_qnum_to_keysym(0x7f, FALSE), -ENOENT);
}

static void test_keypad_faces(void **state)
{
    static const uint32_t faces[][2] = {
        { 0xffb7, 0xff95 }, { 0xffb8, 0xff97 }, { 0xffb9, 0xff9a }, { 0xffb4, 0xff96 },
        { 0xffb5, 0xff9d }, { 0xffb6, 0xff98 }, { 0xffb1, 0xff9c }, { 0xffb2, 0xff99 },
        { 0xffb3, 0xff9b }, { 0xffb0, 0xff9e }, { 0xffae, 0xff9f },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(faces); i++) {
        int on = keymap_us_keysym_to_qnum(faces[i][0], NULL);
        int off = keymap_us_keysym_to_qnum(faces[i][1], NULL);

        assert_true(on > 0);
        assert_int_equal(on, off);
        /* ... and not the grey navigation key of the same name (E0 prefix). */
        assert_int_equal(on & 0x80, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_reverse),
        cmocka_unit_test(test_all_letters),
        cmocka_unit_test(test_shift_pairs),
        cmocka_unit_test(test_all_printable_ascii),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_distinct_keys),
        cmocka_unit_test(test_keypad_faces),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
