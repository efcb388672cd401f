/* Unit tests for display/ui: the login form's input, what it draws, damage,
 * resizing, and the progress and message screens. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "display/ui.h"

/* X keysyms used here (X11/keysymdef.h). */
enum {
    XK_BackSpace = 0xff08,
    XK_Tab = 0xff09,
    XK_Return = 0xff0d,
    XK_Left = 0xff51,
    XK_Up = 0xff52,
    XK_Right = 0xff53,
    XK_Down = 0xff54,
    XK_KP_Enter = 0xff8d,
    XK_KP_1 = 0xffb1,
    XK_ISO_Left_Tab = 0xfe20,
    XK_Shift_L = 0xffe1,
    XK_eacute = 0x00e9,
};

#define ERROR_RED 0xc62828

static const char *const three_pools[] = { "lab", "office", "design", NULL };

/* Press and release each character of text (ASCII or Latin-1 bytes). */
static void type(struct ui *ui, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        assert_int_equal(ui_key(ui, *p, TRUE), UI_NONE);
        assert_int_equal(ui_key(ui, *p, FALSE), UI_NONE);
    }
}

static enum ui_action key(struct ui *ui, uint32_t keysym)
{
    enum ui_action a = ui_key(ui, keysym, TRUE);

    assert_int_equal(ui_key(ui, keysym, FALSE), UI_NONE);
    return a;
}

/* A left click at x, y: what the press and the release return. */
static enum ui_action click(struct ui *ui, int x, int y)
{
    assert_int_equal(ui_pointer(ui, x, y, FB_BUTTON_LEFT), UI_NONE);
    return ui_pointer(ui, x, y, 0);
}

static struct fb_rect field_rect(const struct ui *ui, enum ui_field f)
{
    struct fb_rect r = { 0 };

    assert_int_equal(ui_field_rect(ui, f, &r), 0);
    assert_true(r.w > 0 && r.h > 0);
    return r;
}

static enum ui_action click_field(struct ui *ui, enum ui_field f)
{
    struct fb_rect r = field_rect(ui, f);

    return click(ui, r.x + r.w / 2, r.y + r.h / 2);
}

static gboolean same_pixels(const struct ui *a, const struct ui *b)
{
    const struct fb *fa = ui_fb(a), *fb = ui_fb(b);

    assert_int_equal(fa->width, fb->width);
    assert_int_equal(fa->height, fb->height);
    for (int y = 0; y < fa->height; y++)
        if (memcmp(fa->data + y * fa->stride, fb->data + y * fb->stride, (size_t)fa->width * FB_BPP))
            return FALSE;
    return TRUE;
}

/* Whether r of the two screens holds the same pixels. */
static gboolean same_in(const struct ui *a, const struct ui *b, struct fb_rect r)
{
    const struct fb *fa = ui_fb(a), *fb = ui_fb(b);

    for (int y = r.y; y < r.y + r.h; y++)
        if (memcmp(fa->data + y * fa->stride + r.x * FB_BPP, fb->data + y * fb->stride + r.x * FB_BPP,
                   (size_t)r.w * FB_BPP))
            return FALSE;
    return TRUE;
}

static int count_colour(const struct ui *ui, uint32_t rgb)
{
    const struct fb *fb = ui_fb(ui);
    int n = 0;

    for (int y = 0; y < fb->height; y++) {
        for (int x = 0; x < fb->width; x++) {
            const uint8_t *p = fb->data + y * fb->stride + x * FB_BPP;

            n += p[0] == (rgb >> 16 & 0xff) && p[1] == (rgb >> 8 & 0xff) && p[2] == (rgb & 0xff);
        }
    }
    return n;
}

static gboolean contains(struct fb_rect outer, struct fb_rect inner)
{
    return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
           inner.y + inner.h <= outer.y + outer.h;
}

static gboolean overlap(struct fb_rect a, struct fb_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/* All damage since the last call, as one bounding box (w == 0: none). */
static struct fb_rect damage_box(struct ui *ui)
{
    struct fb_rect d[64], box = { 0 };
    int n = ui_take_damage(ui, d, G_N_ELEMENTS(d));

    for (int i = 0; i < n; i++) {
        int x1, y1;

        if (box.w == 0) {
            box = d[i];
            continue;
        }
        x1 = MAX(box.x + box.w, d[i].x + d[i].w);
        y1 = MAX(box.y + box.h, d[i].y + d[i].h);
        box.x = MIN(box.x, d[i].x);
        box.y = MIN(box.y, d[i].y);
        box.w = x1 - box.x;
        box.h = y1 - box.y;
    }
    return box;
}

static void test_typing(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, NULL, NULL);
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    assert_string_equal(ui_user(ui), "");
    assert_string_equal(ui_password(ui), "");
    assert_null(ui_pool(ui));

    type(ui, "Jos\xe9");    /* Latin-1 keysym 0xe9 is é, kept as UTF-8 */
    assert_string_equal(ui_user(ui), "Jos\xc3\xa9");
    assert_int_equal(key(ui, XK_Tab), UI_NONE);
    type(ui, "p4ss w\xf6rd!");
    assert_string_equal(ui_password(ui), "p4ss w\xc3\xb6rd!");
    assert_string_equal(ui_user(ui), "Jos\xc3\xa9");

    /* Keypad digits, and a Unicode keysym (0x01000000 + U+20AC, the euro sign). */
    key(ui, XK_KP_1);
    key(ui, 0x010020ac);
    assert_string_equal(ui_password(ui), "p4ss w\xc3\xb6rd!1\xe2\x82\xac");

    /* Keys that type nothing: modifiers, controls, C1 codes. */
    key(ui, XK_Shift_L);
    key(ui, 0x7f);
    key(ui, 0x85);
    key(ui, 0x01000007);
    assert_string_equal(ui_password(ui), "p4ss w\xc3\xb6rd!1\xe2\x82\xac");
    ui_free(ui);
}

static void test_releases_ignored(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, NULL, NULL);
    assert_int_equal(ui_key(ui, 'a', FALSE), UI_NONE);
    assert_int_equal(ui_key(ui, XK_Tab, FALSE), UI_NONE);
    assert_int_equal(ui_key(ui, XK_Return, FALSE), UI_NONE);
    assert_string_equal(ui_user(ui), "");
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    ui_free(ui);
}

static void test_tab_order(void **state)
{
    static const enum ui_field two[] = { UI_FIELD_USER, UI_FIELD_PASSWORD, UI_FIELD_BUTTON };
    static const enum ui_field three[] = { UI_FIELD_USER, UI_FIELD_PASSWORD, UI_FIELD_POOL,
                                           UI_FIELD_BUTTON };
    struct ui *ui = ui_new(800, 600);

    ui_show_login(ui, NULL, NULL, NULL);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(ui_focus(ui), two[i % 3]);
        key(ui, XK_Tab);
    }
    ui_show_login(ui, NULL, NULL, NULL);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(ui_focus(ui), two[(3 - i % 3) % 3]);
        key(ui, XK_ISO_Left_Tab);
    }

    ui_show_login(ui, NULL, three_pools, NULL);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(ui_focus(ui), three[i % 4]);
        key(ui, XK_Tab);
    }
    /* Down and Up move between the text fields too. */
    ui_show_login(ui, NULL, three_pools, NULL);
    key(ui, XK_Down);
    assert_int_equal(ui_focus(ui), UI_FIELD_PASSWORD);
    key(ui, XK_Up);
    key(ui, XK_Up);
    assert_int_equal(ui_focus(ui), UI_FIELD_BUTTON);
    ui_free(ui);
}

static void test_enter_submits(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, three_pools, NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(key(ui, XK_Return), UI_SUBMIT);
        assert_int_equal(key(ui, XK_KP_Enter), UI_SUBMIT);
        key(ui, XK_Tab);
    }
    /* Space submits on the button, and is typed elsewhere. */
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    assert_int_equal(key(ui, ' '), UI_NONE);
    assert_string_equal(ui_user(ui), " ");
    key(ui, XK_ISO_Left_Tab);
    assert_int_equal(ui_focus(ui), UI_FIELD_BUTTON);
    assert_int_equal(key(ui, ' '), UI_SUBMIT);
    assert_int_equal(key(ui, 'x'), UI_NONE);
    assert_string_equal(ui_user(ui), " ");
    ui_free(ui);
}

static void test_backspace(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, NULL, NULL);
    key(ui, XK_BackSpace);
    assert_string_equal(ui_user(ui), "");
    type(ui, "ab\xe9");
    key(ui, XK_BackSpace);
    assert_string_equal(ui_user(ui), "ab");
    key(ui, XK_BackSpace);
    assert_string_equal(ui_user(ui), "a");
    key(ui, XK_Tab);
    type(ui, "xy");
    key(ui, XK_BackSpace);
    assert_string_equal(ui_password(ui), "x");
    assert_string_equal(ui_user(ui), "a");
    ui_free(ui);
}

static void test_limits(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, NULL, NULL);
    for (int i = 0; i < UI_USER_MAX + 10; i++)
        key(ui, XK_eacute);
    assert_int_equal(g_utf8_strlen(ui_user(ui), -1), UI_USER_MAX);
    assert_int_equal(strlen(ui_user(ui)), 2 * UI_USER_MAX);
    key(ui, XK_BackSpace);
    key(ui, 'z');
    assert_int_equal(g_utf8_strlen(ui_user(ui), -1), UI_USER_MAX);
    assert_true(g_str_has_suffix(ui_user(ui), "\xc3\xa9z"));

    key(ui, XK_Tab);
    for (int i = 0; i < UI_PASSWORD_MAX + 10; i++)
        key(ui, 0x01010348);    /* U+10348, four bytes in UTF-8 */
    assert_int_equal(g_utf8_strlen(ui_password(ui), -1), UI_PASSWORD_MAX);
    assert_int_equal(strlen(ui_password(ui)), 4 * UI_PASSWORD_MAX);

    /* A prefilled user name is cut to the limit too. */
    {
        g_autofree char *longname = g_strnfill(100, 'n');

        ui_show_login(ui, longname, NULL, NULL);
        assert_int_equal(strlen(ui_user(ui)), UI_USER_MAX);
        assert_string_equal(ui_password(ui), "");
    }
    ui_free(ui);
}

static void test_password_hidden(void **state)
{
    struct ui *a = ui_new(1024, 768), *b = ui_new(1024, 768);

    ui_show_login(a, "alice", NULL, NULL);
    ui_show_login(b, "alice", NULL, NULL);
    type(a, "abc");
    type(b, "xyz");
    assert_string_equal(ui_password(a), "abc");
    assert_string_equal(ui_password(b), "xyz");
    assert_true(same_pixels(a, b));

    /* ... but the length shows, so something is drawn. */
    type(b, "w");
    assert_false(same_pixels(a, b));

    /* The user name is shown as typed. */
    ui_show_login(a, "abc", NULL, NULL);
    ui_show_login(b, "xyz", NULL, NULL);
    assert_false(same_in(a, b, field_rect(a, UI_FIELD_USER)));
    assert_true(same_in(a, b, field_rect(a, UI_FIELD_PASSWORD)));
    ui_free(a);
    ui_free(b);
}

static void test_prefill(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, "alice", NULL, NULL);
    assert_int_equal(ui_focus(ui), UI_FIELD_PASSWORD);
    assert_string_equal(ui_user(ui), "alice");
    type(ui, "secret");
    assert_string_equal(ui_password(ui), "secret");

    /* A new form forgets the password, not the user name it is given. */
    ui_show_login(ui, "bob", NULL, "Wrong user name or password");
    assert_string_equal(ui_user(ui), "bob");
    assert_string_equal(ui_password(ui), "");

    /* Bad UTF-8 from a client is made valid. */
    ui_show_login(ui, "a\xff" "b", NULL, "");
    assert_true(g_utf8_validate(ui_user(ui), -1, NULL));
    assert_int_equal(ui_focus(ui), UI_FIELD_PASSWORD);
    ui_show_login(ui, "", NULL, NULL);
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    ui_free(ui);
}

static void test_error_line(void **state)
{
    struct ui *ui = ui_new(1024, 768);

    ui_show_login(ui, NULL, NULL, NULL);
    assert_int_equal(count_colour(ui, ERROR_RED), 0);
    ui_show_login(ui, NULL, NULL, "Wrong user name or password");
    assert_true(count_colour(ui, ERROR_RED) > 100);
    ui_show_login(ui, NULL, NULL, "");
    assert_int_equal(count_colour(ui, ERROR_RED), 0);
    ui_free(ui);
}

static void test_pools(void **state)
{
    static const char *const one[] = { "solo", NULL };
    struct ui *ui = ui_new(1024, 768);
    struct fb_rect r;

    ui_show_login(ui, NULL, three_pools, NULL);
    assert_string_equal(ui_pool(ui), "lab");
    /* Up and Down on another field do not change the pool. */
    key(ui, XK_Down);
    assert_string_equal(ui_pool(ui), "lab");
    key(ui, XK_Tab);
    assert_int_equal(ui_focus(ui), UI_FIELD_POOL);
    key(ui, XK_Down);
    assert_string_equal(ui_pool(ui), "office");
    key(ui, XK_Down);
    assert_string_equal(ui_pool(ui), "design");
    key(ui, XK_Down);
    assert_string_equal(ui_pool(ui), "lab");
    key(ui, XK_Up);
    assert_string_equal(ui_pool(ui), "design");
    key(ui, XK_Left);
    assert_string_equal(ui_pool(ui), "office");
    key(ui, XK_Right);
    assert_string_equal(ui_pool(ui), "design");
    /* Typing on the choice types nothing anywhere. */
    type(ui, "q");
    assert_string_equal(ui_user(ui), "");
    assert_string_equal(ui_password(ui), "");
    assert_int_equal(ui_focus(ui), UI_FIELD_POOL);
    /* The choice stays while another screen is shown. */
    ui_show_progress(ui, 10, "Starting");
    assert_string_equal(ui_pool(ui), "design");

    /* No choice with one pool or none. */
    ui_show_login(ui, NULL, one, NULL);
    assert_null(ui_pool(ui));
    assert_int_equal(ui_field_rect(ui, UI_FIELD_POOL, &r), -ENOENT);
    ui_show_login(ui, NULL, NULL, NULL);
    assert_null(ui_pool(ui));
    assert_int_equal(ui_field_rect(ui, UI_FIELD_POOL, &r), -ENOENT);
    ui_free(ui);
}

static void test_clicks(void **state)
{
    struct ui *ui = ui_new(1024, 768);
    struct fb_rect user, pw, pool, button;

    ui_show_login(ui, NULL, three_pools, NULL);
    user = field_rect(ui, UI_FIELD_USER);
    pw = field_rect(ui, UI_FIELD_PASSWORD);
    pool = field_rect(ui, UI_FIELD_POOL);
    button = field_rect(ui, UI_FIELD_BUTTON);
    /* In Tab order, top to bottom, apart. */
    assert_true(user.y + user.h <= pw.y && pw.y + pw.h <= pool.y && pool.y + pool.h <= button.y);

    assert_int_equal(click_field(ui, UI_FIELD_PASSWORD), UI_NONE);
    assert_int_equal(ui_focus(ui), UI_FIELD_PASSWORD);
    type(ui, "pw");
    assert_string_equal(ui_password(ui), "pw");
    /* The label focuses its field too; empty space does not. */
    assert_int_equal(click(ui, user.x - 20, user.y + user.h / 2), UI_NONE);
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    assert_int_equal(click(ui, 2, 2), UI_NONE);
    assert_int_equal(ui_focus(ui), UI_FIELD_USER);
    type(ui, "u");
    assert_string_equal(ui_user(ui), "u");

    /* The arrows of the pool choice, and the wheel over it. */
    assert_int_equal(click(ui, pool.x + pool.w - 4, pool.y + pool.h / 2), UI_NONE);
    assert_int_equal(ui_focus(ui), UI_FIELD_POOL);
    assert_string_equal(ui_pool(ui), "office");
    click(ui, pool.x + 4, pool.y + pool.h / 2);
    click(ui, pool.x + 4, pool.y + pool.h / 2);
    assert_string_equal(ui_pool(ui), "design");
    click_field(ui, UI_FIELD_POOL);
    assert_string_equal(ui_pool(ui), "design");
    ui_pointer(ui, pool.x + pool.w / 2, pool.y + 2, FB_BUTTON_WHEEL_DOWN);
    ui_pointer(ui, pool.x + pool.w / 2, pool.y + 2, 0);
    assert_string_equal(ui_pool(ui), "lab");

    /* The button submits on release over it ... */
    assert_int_equal(click_field(ui, UI_FIELD_BUTTON), UI_SUBMIT);
    /* ... not when the pointer left it, nor when moving with the button up. */
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, FB_BUTTON_LEFT), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x - 50, button.y - 50, FB_BUTTON_LEFT), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x - 50, button.y - 50, 0), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, 0), UI_NONE);
    /* A press that started elsewhere does not submit either. */
    assert_int_equal(ui_pointer(ui, 2, 2, FB_BUTTON_LEFT), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, FB_BUTTON_LEFT), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, 0), UI_NONE);
    /* The right button does nothing. */
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, FB_BUTTON_RIGHT), UI_NONE);
    assert_int_equal(ui_pointer(ui, button.x + 5, button.y + 5, 0), UI_NONE);
    ui_free(ui);
}

static void test_damage(void **state)
{
    struct ui *ui = ui_new(1920, 1080);
    struct fb_rect d[8], user, pw, box;
    int n, area = 1920 * 1080;

    n = ui_take_damage(ui, d, 8);
    assert_int_equal(n, 1);
    assert_true(d[0].x == 0 && d[0].y == 0 && d[0].w == 1920 && d[0].h == 1080);
    assert_int_equal(ui_take_damage(ui, d, 8), 0);

    ui_show_login(ui, NULL, NULL, NULL);
    n = ui_take_damage(ui, d, 8);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].w * d[0].h, area);
    user = field_rect(ui, UI_FIELD_USER);
    pw = field_rect(ui, UI_FIELD_PASSWORD);

    /* One character: the user field, no more than a little around it. */
    type(ui, "a");
    box = damage_box(ui);
    assert_true(contains(box, user));
    assert_false(overlap(box, pw));
    assert_true(box.w * box.h < area / 50);

    /* Tab: the two fields whose focus changed. */
    key(ui, XK_Tab);
    n = ui_take_damage(ui, d, 8);
    assert_int_equal(n, 2);
    box = damage_box(ui);
    assert_int_equal(box.w, 0);

    /* Many changes, few rects asked for: one that covers them all. */
    type(ui, "abc");
    key(ui, XK_ISO_Left_Tab);
    type(ui, "b");
    n = ui_take_damage(ui, d, 1);
    assert_int_equal(n, 1);
    assert_true(contains(d[0], user) && contains(d[0], pw));
    assert_true(d[0].w * d[0].h < area / 20);

    /* Asking for none leaves the damage for later. */
    type(ui, "c");
    assert_int_equal(ui_take_damage(ui, d, 0), 0);
    assert_int_equal(ui_take_damage(ui, d, 8), 1);
    ui_free(ui);
}

static void test_resize(void **state)
{
    struct ui *ui = ui_new(1024, 768), *fresh;
    struct fb_rect d[4];

    ui_show_login(ui, NULL, three_pools, "Wrong user name or password");
    type(ui, "carol");
    key(ui, XK_Tab);
    type(ui, "pw");
    key(ui, XK_Tab);
    key(ui, XK_Down);
    ui_take_damage(ui, d, 4);

    ui_resize(ui, 1920, 1080);
    assert_int_equal(ui_fb(ui)->width, 1920);
    assert_int_equal(ui_fb(ui)->height, 1080);
    assert_int_equal(ui_fb(ui)->stride, 1920 * FB_BPP);
    assert_string_equal(ui_user(ui), "carol");
    assert_string_equal(ui_password(ui), "pw");
    assert_string_equal(ui_pool(ui), "office");
    assert_int_equal(ui_focus(ui), UI_FIELD_POOL);
    assert_int_equal(ui_take_damage(ui, d, 4), 1);
    assert_true(d[0].w == 1920 && d[0].h == 1080);

    /* It looks the same as the same form drawn at that size. */
    fresh = ui_new(1920, 1080);
    ui_show_login(fresh, NULL, three_pools, "Wrong user name or password");
    type(fresh, "carol");
    key(fresh, XK_Tab);
    type(fresh, "pw");
    key(fresh, XK_Tab);
    key(fresh, XK_Down);
    assert_true(same_pixels(ui, fresh));
    ui_free(fresh);

    /* Other screens are redrawn too. */
    ui_show_progress(ui, 30, "Starting");
    ui_resize(ui, 800, 600);
    fresh = ui_new(800, 600);
    ui_show_progress(fresh, 30, "Starting");
    assert_true(same_pixels(ui, fresh));
    ui_free(fresh);
    ui_free(ui);
}

static void test_progress(void **state)
{
    struct ui *a = ui_new(1024, 768), *b = ui_new(1024, 768);
    struct fb_rect box;

    ui_show_progress(a, -5, "Starting the virtual machine");
    ui_show_progress(b, 0, "Starting the virtual machine");
    assert_true(same_pixels(a, b));
    ui_show_progress(a, 150, "Starting the virtual machine");
    ui_show_progress(b, 100, "Starting the virtual machine");
    assert_true(same_pixels(a, b));
    ui_show_progress(b, 50, "Starting the virtual machine");
    assert_false(same_pixels(a, b));

    /* No input on this screen. */
    assert_int_equal(ui_key(b, XK_Return, TRUE), UI_NONE);
    assert_int_equal(ui_pointer(b, 512, 384, FB_BUTTON_LEFT), UI_NONE);
    assert_int_equal(ui_pointer(b, 512, 384, 0), UI_NONE);
    assert_int_equal(ui_focus(b), UI_FIELD_NONE);
    assert_int_equal(ui_field_rect(b, UI_FIELD_BUTTON, &box), -ENOENT);

    /* An update redraws the bar and the text, not the screen; an update
     * from another screen redraws it all. */
    damage_box(b);
    ui_show_progress(b, 60, "Copying the disk");
    box = damage_box(b);
    assert_true(box.w > 0 && box.w * box.h < 1024 * 768 / 10);
    ui_show_message(b, "Done", NULL);
    damage_box(b);
    ui_show_progress(b, 60, "Copying the disk");
    box = damage_box(b);
    assert_true(box.w == 1024 && box.h == 768);

    /* The same picture as a fresh one: the partial redraw is complete. */
    ui_show_progress(a, 60, "Copying the disk");
    assert_true(same_pixels(a, b));
    ui_free(a);
    ui_free(b);
}

static void test_message(void **state)
{
    struct ui *a = ui_new(1024, 768), *b = ui_new(1024, 768);

    ui_show_message(a, "You have been logged off", "Your session has ended.");
    ui_show_message(b, "You have been logged off", "Your session has ended!");
    assert_false(same_pixels(a, b));
    ui_show_message(b, "You have been logged off", "Your session has ended.");
    assert_true(same_pixels(a, b));
    assert_int_equal(ui_key(a, 'x', TRUE), UI_NONE);
    assert_int_equal(ui_focus(a), UI_FIELD_NONE);
    ui_show_message(a, NULL, NULL);
    ui_free(a);
    ui_free(b);
}

/* Every screen at every size: the form fits and nothing overlaps. */
static void test_sizes(void **state)
{
    static const int sizes[][2] = {
        { 320, 240 }, { 321, 243 }, { 640, 480 }, { 800, 600 }, { 1024, 768 }, { 1366, 768 },
        { 1920, 1080 }, { 2560, 1440 }, { 3840, 2160 }, { 4096, 2160 },
    };
    static const char long_error[] =
        "Your desktop cannot be prepared now because every machine of the pool is in use. "
        "Try again later.";
    g_autofree char *long_user = g_strnfill(UI_USER_MAX, 'W');

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        int w = sizes[i][0], h = sizes[i][1];
        struct ui *ui = ui_new(w, h);
        struct fb_rect screen = { 0, 0, w, h }, r[UI_FIELD_BUTTON + 1];

        ui_show_login(ui, long_user, three_pools, long_error);
        type(ui, "password");
        for (int f = UI_FIELD_USER; f <= UI_FIELD_BUTTON; f++) {
            r[f] = field_rect(ui, f);
            assert_true(contains(screen, r[f]));
            assert_true(r[f].h >= 16);
            assert_true(r[f].w >= 100);
            for (int g = UI_FIELD_USER; g < f; g++)
                assert_false(overlap(r[f], r[g]));
        }
        /* Some of the error is shown, in red. */
        assert_true(count_colour(ui, ERROR_RED) > 0);
        ui_show_progress(ui, 42, long_error);
        ui_show_message(ui, long_error, long_error);
        ui_free(ui);
    }

    /* Smaller than meant: drawn clipped, without harm. */
    for (int w = 1; w < 330; w += 47) {
        struct ui *ui = ui_new(w, w / 2 + 1);

        ui_show_login(ui, "alice", three_pools, long_error);
        type(ui, "x");
        key(ui, XK_Tab);
        ui_show_progress(ui, 50, long_error);
        ui_show_message(ui, long_error, long_error);
        ui_free(ui);
    }
    ui_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typing),
        cmocka_unit_test(test_releases_ignored),
        cmocka_unit_test(test_tab_order),
        cmocka_unit_test(test_enter_submits),
        cmocka_unit_test(test_backspace),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_password_hidden),
        cmocka_unit_test(test_prefill),
        cmocka_unit_test(test_error_line),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_clicks),
        cmocka_unit_test(test_damage),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
