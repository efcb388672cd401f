/* display/ui: the login, progress and message screens of aula-session. */
#include "config.h"

#include "display/ui.h"

#include <errno.h>
#include <string.h>

#include "display/font.h"

/* X keysyms (X11/keysymdef.h), written out so that no X11 header is needed. */
enum {
    XK_BackSpace = 0xff08,
    XK_Tab = 0xff09,
    XK_Return = 0xff0d,
    XK_Left = 0xff51,
    XK_Up = 0xff52,
    XK_Right = 0xff53,
    XK_Down = 0xff54,
    XK_KP_Enter = 0xff8d,
    XK_KP_Multiply = 0xffaa,
    XK_KP_9 = 0xffb9,
    XK_ISO_Left_Tab = 0xfe20,
    /* Keysyms 0x01000100..0x0110ffff are Unicode code points + 0x01000000. */
    XK_UNICODE_BASE = 0x01000000,
};

/* Colours, 0xRRGGBB. A dark blue-grey background, a light panel on it, one
 * blue for focus, the button and progress, and a red for errors. */
enum {
    C_BG_TOP = 0x2e3b4a,
    C_BG_BOTTOM = 0x171e27,
    C_SHADOW = 0x000000,
    C_CARD = 0xf5f7fa,
    C_TITLE = 0x1d2732,
    C_TEXT = 0x1f2933,
    C_LABEL = 0x3b4756,
    C_DIM = 0x677385,
    C_FIELD = 0xffffff,
    C_FIELD_BORDER = 0xb9c3cf,
    C_ACCENT = 0x2f6bd8,
    C_ACCENT_PRESSED = 0x2254b0,
    C_ON_ACCENT = 0xffffff,
    C_ERROR = 0xc62828,
    C_TRACK = 0xdce2e9,
};

enum screen {
    SCREEN_NONE,
    SCREEN_LOGIN,
    SCREEN_PROGRESS,
    SCREEN_MESSAGE,
};

#define N_FIELDS (UI_FIELD_BUTTON + 1)
#define MAX_DAMAGE 16

static const char *const labels[N_FIELDS] = {
    [UI_FIELD_USER] = "User name",
    [UI_FIELD_PASSWORD] = "Password",
    [UI_FIELD_POOL] = "Desktop",
};

/* Where everything of the current screen goes; made by layout(). Lengths are
 * in pixels and already multiplied by s. */
struct layout {
    int s;                          /* 1, or 2 on large screens */
    struct fb_rect card;            /* the panel */
    int title_scale;                /* 2s, or s when the title needs it to fit */
    char **title;                   /* lines, centred in the card */
    int title_y;
    int subtitle_y;                 /* login: -1 when there is no room */
    struct fb_rect field[N_FIELDS]; /* login: the boxes (w == 0: absent) */
    int label_x;
    struct fb_rect bar;             /* progress: the bar */
    struct fb_rect status;          /* progress: bar, percent and text; redrawn on update */
    char **lines;                   /* login: the error; progress: the text; message: the text */
    int lines_x, lines_y;
    int lines_w;                    /* > 0: each line centred in lines_x .. lines_x + lines_w */
    uint32_t lines_colour;
};

struct ui {
    struct fb fb;
    struct fb_rect clip;            /* drawing stays inside it */
    enum screen screen;
    struct layout lay;

    /* The login form. The buffers are fixed so that a password is never
     * copied around by a realloc; they are wiped by ui_show_login and ui_free. */
    char user[UI_USER_MAX * 4 + 1];
    char password[UI_PASSWORD_MAX * 4 + 1];
    char **pools;                   /* NULL when fewer than 2 */
    int n_pools, pool;
    char *error;
    enum ui_field focus;
    enum ui_field pressed;          /* the button while the left button is down on it */
    uint32_t buttons;               /* the last pointer button mask */

    /* The progress and message screens. */
    int percent;
    char *title;
    char *text;

    struct fb_rect damage[MAX_DAMAGE];
    int n_damage;
};

/* ---- pixels ---- */

static int imin(int a, int b)
{
    return a < b ? a : b;
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static struct fb_rect rect_grow(struct fb_rect r, int by)
{
    return (struct fb_rect){ r.x - by, r.y - by, r.w + 2 * by, r.h + 2 * by };
}

static struct fb_rect rect_intersect(struct fb_rect a, struct fb_rect b)
{
    int x0 = imax(a.x, b.x), y0 = imax(a.y, b.y);
    int x1 = imin(a.x + a.w, b.x + b.w), y1 = imin(a.y + a.h, b.y + b.h);

    if (x1 <= x0 || y1 <= y0)
        return (struct fb_rect){ 0, 0, 0, 0 };
    return (struct fb_rect){ x0, y0, x1 - x0, y1 - y0 };
}

static gboolean rect_contains(struct fb_rect r, int x, int y)
{
    return r.w > 0 && x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

static gboolean rect_inside(struct fb_rect inner, struct fb_rect outer)
{
    return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
           inner.y + inner.h <= outer.y + outer.h;
}

static struct fb_rect screen_rect(const struct ui *ui)
{
    return (struct fb_rect){ 0, 0, ui->fb.width, ui->fb.height };
}

/* Draw only inside r (and the screen) from now on. */
static void set_clip(struct ui *ui, struct fb_rect r)
{
    ui->clip = rect_intersect(r, screen_rect(ui));
}

static uint8_t *pixel(struct ui *ui, int x, int y)
{
    return ui->fb.data + (size_t)y * (size_t)ui->fb.stride + (size_t)x * FB_BPP;
}

/* Mix colour into the pixel at p; alpha 0..255. */
static void blend(uint8_t *p, uint32_t colour, int alpha)
{
    int c[3] = { (colour >> 16) & 0xff, (colour >> 8) & 0xff, colour & 0xff };

    for (int i = 0; i < 3; i++)
        p[i] = (uint8_t)((p[i] * (255 - alpha) + c[i] * alpha + 127) / 255);
    p[3] = 0;
}

static void put(uint8_t *p, uint32_t colour)
{
    p[0] = (uint8_t)(colour >> 16);
    p[1] = (uint8_t)(colour >> 8);
    p[2] = (uint8_t)colour;
    p[3] = 0;
}

static uint32_t mix(uint32_t a, uint32_t b, int alpha)
{
    uint8_t p[4];

    put(p, a);
    blend(p, b, alpha);
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* How much of pixel (px, py) the rectangle with corners of radius r covers,
 * in 16ths: 4x4 samples in the corners, whole elsewhere. */
static int coverage(struct fb_rect b, int r, int px, int py)
{
    int cx, cy, n = 0;

    if (px < b.x + r)
        cx = b.x + r;
    else if (px >= b.x + b.w - r)
        cx = b.x + b.w - r;
    else
        return 16;
    if (py < b.y + r)
        cy = b.y + r;
    else if (py >= b.y + b.h - r)
        cy = b.y + b.h - r;
    else
        return 16;
    /* In eighths of a pixel: samples at 1/8, 3/8, 5/8 and 7/8. */
    for (int j = 0; j < 4; j++) {
        for (int i = 0; i < 4; i++) {
            long dx = 8L * (px - cx) + 2 * i + 1, dy = 8L * (py - cy) + 2 * j + 1;

            if (dx * dx + dy * dy <= 64L * r * r)
                n++;
        }
    }
    return n;
}

/* Fill b, with corners of radius r (edges smoothed), at opacity alpha. */
static void fill_round(struct ui *ui, struct fb_rect b, int r, uint32_t colour, int alpha)
{
    struct fb_rect c = rect_intersect(b, ui->clip);

    r = imin(r, imin(b.w, b.h) / 2);
    for (int y = c.y; y < c.y + c.h; y++) {
        for (int x = c.x; x < c.x + c.w; x++) {
            int a = alpha * coverage(b, r, x, y) / 16;

            if (a >= 255)
                put(pixel(ui, x, y), colour);
            else if (a > 0)
                blend(pixel(ui, x, y), colour, a);
        }
    }
}

static void fill(struct ui *ui, struct fb_rect b, uint32_t colour)
{
    fill_round(ui, b, 0, colour, 255);
}

/* The background: a vertical gradient, one colour a row (which encoders like). */
static void draw_background(struct ui *ui)
{
    struct fb_rect c = ui->clip;
    int h = imax(ui->fb.height - 1, 1);

    for (int y = c.y; y < c.y + c.h; y++) {
        uint32_t colour = mix(C_BG_TOP, C_BG_BOTTOM, 255 * y / h);

        for (int x = c.x; x < c.x + c.w; x++)
            put(pixel(ui, x, y), colour);
    }
}

/* A soft shadow under the card: layers of faint black, each one pixel wider,
 * so that it darkens most near the card's edge. */
static void draw_shadow(struct ui *ui, struct fb_rect card, int r, int s)
{
    int size = 12 * s, alpha = (90 + size / 2) / size;

    for (int i = 1; i <= size; i++) {
        struct fb_rect b = rect_grow(card, i);

        b.y += 3 * s;
        fill_round(ui, b, r + i, C_SHADOW, alpha);
    }
}

/* ---- text ---- */

/* EPX / Scale2x: double a 1-bit mask, rounding its diagonal steps. */
static void scale2x(const uint8_t *src, int w, int h, uint8_t *dst)
{
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t p = src[y * w + x];
            uint8_t a = y > 0 ? src[(y - 1) * w + x] : 0;
            uint8_t b = x < w - 1 ? src[y * w + x + 1] : 0;
            uint8_t c = x > 0 ? src[y * w + x - 1] : 0;
            uint8_t d = y < h - 1 ? src[(y + 1) * w + x] : 0;
            uint8_t *o = dst + 2 * y * 2 * w + 2 * x;

            o[0] = c == a && c != d && a != b ? a : p;
            o[1] = a == b && a != c && b != d ? b : p;
            o[2 * w] = d == c && d != b && c != a ? c : p;
            o[2 * w + 1] = b == d && b != a && d != c ? d : p;
        }
    }
}

#define MAX_TEXT_SCALE 4
#define MASK_SIZE (FONT_WIDTH * MAX_TEXT_SCALE * FONT_HEIGHT * MAX_TEXT_SCALE)

/* The pixels of cp at scale 1, 2 or 4 (FONT_WIDTH*scale wide), 1 where inked. */
static void glyph_mask(uint32_t cp, int scale, uint8_t *mask)
{
    const uint8_t *rows = font_glyph(cp);
    uint8_t tmp[MASK_SIZE];
    int w = FONT_WIDTH, h = FONT_HEIGHT;

    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            mask[y * w + x] = (rows[y] >> (7 - x)) & 1;
    while (w < FONT_WIDTH * scale) {
        scale2x(mask, w, h, tmp);
        w *= 2;
        h *= 2;
        memcpy(mask, tmp, (size_t)(w * h));
    }
}

static int text_len(const char *text)
{
    return (int)g_utf8_strlen(text, -1);
}

static int text_width(const char *text, int scale)
{
    return text_len(text) * FONT_WIDTH * scale;
}

/* Draw text (valid UTF-8) with its cell's top left corner at x, y. */
static void draw_text(struct ui *ui, int x, int y, const char *text, int scale, uint32_t colour)
{
    uint8_t mask[MASK_SIZE];
    int cw = FONT_WIDTH * scale, ch = FONT_HEIGHT * scale;

    g_assert(scale == 1 || scale == 2 || scale == 4);
    for (const char *p = text; *p; p = g_utf8_next_char(p), x += cw) {
        struct fb_rect c = rect_intersect((struct fb_rect){ x, y, cw, ch }, ui->clip);

        if (c.w == 0)
            continue;
        glyph_mask(g_utf8_get_char(p), scale, mask);
        for (int yy = c.y; yy < c.y + c.h; yy++)
            for (int xx = c.x; xx < c.x + c.w; xx++)
                if (mask[(yy - y) * cw + (xx - x)])
                    put(pixel(ui, xx, yy), colour);
    }
}

#define ELLIPSIS "\u2026"
#define BULLET "\u2022"

/* The first max_chars - 1 characters of text and an ellipsis. Caller frees. */
static char *cut_with_ellipsis(const char *text, int max_chars)
{
    const char *end;

    if (max_chars < 1)
        return g_strdup("");
    end = g_utf8_offset_to_pointer(text, imin(text_len(text), max_chars - 1));
    return g_strdup_printf("%.*s" ELLIPSIS, (int)(end - text), text);
}

/* text, or its start and an ellipsis when it has more than max_chars
 * characters. Caller frees. */
static char *ellipsize(const char *text, int max_chars)
{
    if (text_len(text) <= max_chars)
        return g_strdup(text);
    return cut_with_ellipsis(text, max_chars);
}

/* Break text into lines of at most max_chars characters, at spaces and
 * newlines; a word longer than a line is cut. At most max_lines lines: the
 * last one ends in an ellipsis when there was more. *fits (may be NULL) says
 * whether it all went in without cutting a word or dropping text. Caller
 * frees (g_strfreev); no lines for an empty text. */
static char **wrap_text(const char *text, int max_chars, int max_lines, gboolean *fits)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) paras = g_strsplit(text ? text : "", "\n", -1);
    gboolean ok = TRUE;

    max_chars = imax(max_chars, 1);
    max_lines = imax(max_lines, 1);
    for (int i = 0; paras[i]; i++) {
        g_auto(GStrv) words = g_strsplit(paras[i], " ", -1);
        g_autoptr(GString) line = g_string_new(NULL);
        int len = 0;

        for (int j = 0; words[j]; j++) {
            const char *w = words[j];
            int wl = text_len(w);

            if (wl == 0)
                continue;
            if (len > 0 && len + 1 + wl <= max_chars) {
                g_string_append_printf(line, " %s", w);
                len += 1 + wl;
                continue;
            }
            if (len > 0) {
                g_ptr_array_add(lines, g_strdup(line->str));
                g_string_truncate(line, 0);
            }
            for (; wl > max_chars; wl -= max_chars, ok = FALSE) {
                const char *cut = g_utf8_offset_to_pointer(w, max_chars);

                g_ptr_array_add(lines, g_strndup(w, (gsize)(cut - w)));
                w = cut;
            }
            g_string_assign(line, w);
            len = wl;
        }
        if (len > 0)
            g_ptr_array_add(lines, g_strdup(line->str));
    }
    if ((int)lines->len > max_lines) {
        char *last = g_ptr_array_index(lines, max_lines - 1);

        lines->pdata[max_lines - 1] = text_len(last) < max_chars
            ? g_strconcat(last, ELLIPSIS, NULL) : cut_with_ellipsis(last, max_chars);
        g_free(last);
        g_ptr_array_set_size(lines, max_lines);
        ok = FALSE;
    }
    if (fits)
        *fits = ok;
    g_ptr_array_add(lines, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&lines), FALSE);
}

static int n_lines(char **lines)
{
    return lines ? (int)g_strv_length(lines) : 0;
}

/* wrap_text for centred text: as many lines, but as narrow as they can be,
 * so that the last line is not a lone word. */
static char **wrap_balanced(const char *text, int max_chars, int max_lines, gboolean *fits)
{
    gboolean ok;
    char **best = wrap_text(text, max_chars, max_lines, &ok);
    int n = n_lines(best);

    for (int c = max_chars - 1; ok && n >= 2 && c > 0; c--) {
        gboolean still;
        char **narrower = wrap_text(text, c, max_lines, &still);

        if (!still || n_lines(narrower) != n) {
            g_strfreev(narrower);
            break;
        }
        g_strfreev(best);
        best = narrower;
    }
    if (fits)
        *fits = ok;
    return best;
}

/* ---- damage ---- */

static struct fb_rect rect_union(struct fb_rect a, struct fb_rect b)
{
    int x0 = imin(a.x, b.x), y0 = imin(a.y, b.y);
    int x1 = imax(a.x + a.w, b.x + b.w), y1 = imax(a.y + a.h, b.y + b.h);

    return (struct fb_rect){ x0, y0, x1 - x0, y1 - y0 };
}

static void add_damage(struct ui *ui, struct fb_rect r)
{
    r = rect_intersect(r, screen_rect(ui));
    if (r.w == 0)
        return;
    for (int i = 0; i < ui->n_damage; i++)
        if (rect_inside(r, ui->damage[i]))
            return;
    /* Full: one rectangle around them all. */
    if (ui->n_damage == MAX_DAMAGE) {
        for (int i = 0; i < ui->n_damage; i++)
            r = rect_union(r, ui->damage[i]);
        ui->n_damage = 0;
    }
    ui->damage[ui->n_damage++] = r;
}

/* ---- layout ---- */

/* Lengths at s = 1; large screens get everything twice as large. */
enum {
    TEXT_LINE = 20,     /* from one line of body text to the next */
    TITLE_GAP = 4,      /* between two lines of a title */
    CARD_RADIUS = 10,
    BOX_RADIUS = 4,
    RING = 3,           /* the focus ring around a field or the button */
    BOX_PAD = 8,        /* from a field's edge to its text */
};

static int scale_for(int width, int height)
{
    return width >= 2400 && height >= 1500 ? 2 : 1;
}

static void layout_clear(struct layout *lay)
{
    g_strfreev(lay->title);
    g_strfreev(lay->lines);
    memset(lay, 0, sizeof(*lay));
}

static int title_height(const struct layout *lay)
{
    int n = n_lines(lay->title);

    return n * FONT_HEIGHT * lay->title_scale + imax(n - 1, 0) * TITLE_GAP * lay->s;
}

/* Wrap title in inner_w pixels: large (2s) when it fits in two lines
 * without cutting a word, else at body size. */
static void layout_title(struct layout *lay, const char *title, int inner_w)
{
    gboolean fits;
    int s = lay->s;

    lay->title_scale = 2 * s;
    lay->title = wrap_balanced(title, inner_w / (FONT_WIDTH * 2 * s), 2, &fits);
    if (!fits) {
        g_strfreev(lay->title);
        lay->title_scale = s;
        lay->title = wrap_balanced(title, inner_w / (FONT_WIDTH * s), 2, NULL);
    }
}

/* The login form's spacing (at s = 1): roomy, and tight for small screens. */
struct login_metrics {
    int margin;         /* the least space between the card and the screen's edge */
    int pad_x, pad_y;   /* inside the card */
    gboolean subtitle;
    int title_gap;      /* under the title (and subtitle) */
    int row_h;          /* the height of a field and of the button */
    int row_gap;        /* between fields */
    int label_gap;      /* between the labels and the fields */
    int button_gap;     /* above the button */
    int error_gap;      /* above the error */
    int field_w;        /* the widest a field gets */
};

static const struct login_metrics login_metrics[] = {
    { 16, 32, 28, TRUE, 22, 32, 12, 16, 22, 14, 256 },
    { 4, 14, 12, FALSE, 10, 26, 6, 10, 10, 8, 256 },
};

/* The error goes under the button, in its column, unless it says more there
 * than the card's whole width would (*wide). Caller frees. */
static char **wrap_error(const char *error, int column, int whole, int max_lines, gboolean *wide)
{
    gboolean fits_column, fits_whole;
    char **narrow = wrap_balanced(error, column, max_lines, &fits_column);
    char **broad = wrap_balanced(error, whole, max_lines, &fits_whole);

    *wide = (fits_whole && !fits_column) || n_lines(broad) < n_lines(narrow);
    if (*wide) {
        g_strfreev(narrow);
        return broad;
    }
    g_strfreev(broad);
    return narrow;
}

static const char login_title[] = "aula";
static const char login_subtitle[] = "Log in to your desktop";
static const char button_label[] = "Log in";

static void layout_login(struct ui *ui)
{
    struct layout *lay = &ui->lay;
    int s = lay->s, W = ui->fb.width, H = ui->fb.height;
    int n_rows = ui->n_pools ? 3 : 2, label_w = 0, field_w = 0, inner_w = 0, h = 0;
    int max_err = 3, n_err = 0, x, y;
    gboolean err_wide = FALSE;
    const struct login_metrics *m = NULL;

    for (int f = UI_FIELD_USER; f <= (ui->n_pools ? UI_FIELD_POOL : UI_FIELD_PASSWORD); f++)
        label_w = imax(label_w, text_width(labels[f], s));

    /* The first spacing that fits the screen; on a tiny one, the last with
     * fewer error lines, and what still does not fit is clipped. */
    for (size_t i = 0; i < G_N_ELEMENTS(login_metrics); i++) {
        gboolean last = i + 1 == G_N_ELEMENTS(login_metrics);

        m = &login_metrics[i];
        field_w = W - 2 * (m->margin + m->pad_x) * s - label_w - m->label_gap * s;
        field_w = imin(m->field_w * s, field_w);
        if (field_w < 160 * s && !last)
            continue;
        field_w = imax(field_w, 8 * FONT_WIDTH * s);
        inner_w = label_w + m->label_gap * s + field_w;
        for (int lines = max_err; lines >= 1; lines--) {
            g_strfreev(lay->lines);
            lay->lines = wrap_error(ui->error, field_w / (FONT_WIDTH * s),
                                    inner_w / (FONT_WIDTH * s), lines, &err_wide);
            n_err = n_lines(lay->lines);
            h = 2 * m->pad_y + FONT_HEIGHT * 2 + (m->subtitle ? 4 + FONT_HEIGHT : 0) +
                m->title_gap + n_rows * m->row_h + (n_rows - 1) * m->row_gap + m->button_gap +
                m->row_h;
            h = h * s + (n_err ? (m->error_gap + n_err * TEXT_LINE - 4) * s : 0);
            if (h <= H - 2 * m->margin * s || !last)
                break;
        }
        if (h <= H - 2 * m->margin * s || last)
            break;
    }
    g_assert(m != NULL);

    lay->card = (struct fb_rect){ (W - inner_w) / 2 - m->pad_x * s, (H - h) / 2,
                                  inner_w + 2 * m->pad_x * s, h };
    lay->title_scale = 2 * s;
    lay->title = g_strsplit(login_title, "\n", -1);
    y = lay->card.y + m->pad_y * s;
    lay->title_y = y;
    y += title_height(lay);
    lay->subtitle_y = -1;
    if (m->subtitle) {
        lay->subtitle_y = y + 4 * s;
        y = lay->subtitle_y + FONT_HEIGHT * s;
    }
    y += m->title_gap * s;
    lay->label_x = lay->card.x + m->pad_x * s;
    x = lay->label_x + label_w + m->label_gap * s;
    for (int f = UI_FIELD_USER; f <= UI_FIELD_POOL; f++) {
        if (f == UI_FIELD_POOL && ui->n_pools == 0)
            continue;
        lay->field[f] = (struct fb_rect){ x, y, field_w, m->row_h * s };
        y += (m->row_h + m->row_gap) * s;
    }
    y += (m->button_gap - m->row_gap) * s;
    lay->field[UI_FIELD_BUTTON] = (struct fb_rect){ x, y, field_w, m->row_h * s };
    y += m->row_h * s;
    lay->lines_y = y + m->error_gap * s;
    lay->lines_x = err_wide ? lay->label_x : x;
    lay->lines_w = err_wide ? inner_w : field_w;
    lay->lines_colour = C_ERROR;
}

/* The card of the progress and message screens: width and padding. */
static void layout_card(struct ui *ui, int width, int *pad_x, int *pad_y)
{
    struct layout *lay = &ui->lay;
    int s = lay->s, roomy = ui->fb.width >= (width + 32) * s;

    lay->card.w = roomy ? width * s : imax(ui->fb.width - 8 * s, 0);
    *pad_x = (roomy ? 32 : 14) * s;
    *pad_y = (roomy ? 28 : 14) * s;
}

static const char progress_title[] = "Preparing your desktop" ELLIPSIS;

static void layout_progress(struct ui *ui)
{
    struct layout *lay = &ui->lay;
    int s = lay->s, pad_x, pad_y, inner_w, pct_w = 4 * FONT_WIDTH * s, y;

    layout_card(ui, 448, &pad_x, &pad_y);
    inner_w = lay->card.w - 2 * pad_x;
    layout_title(lay, progress_title, inner_w);
    lay->lines = wrap_text(ui->text, (inner_w - pct_w - 12 * s) / (FONT_WIDTH * s), 2, NULL);
    lay->lines_colour = C_LABEL;

    y = pad_y;
    lay->title_y = y;
    y += title_height(lay) + 24 * s;
    lay->bar = (struct fb_rect){ pad_x, y, inner_w, 8 * s };
    y += lay->bar.h + 12 * s;
    lay->lines_y = y;
    y += imax(n_lines(lay->lines), 1) * TEXT_LINE * s - 4 * s;
    lay->status = (struct fb_rect){ pad_x, lay->bar.y, inner_w, y - lay->bar.y };
    lay->card.h = y + pad_y;

    /* Centre the card, and everything in it with it. */
    lay->card.x = (ui->fb.width - lay->card.w) / 2;
    lay->card.y = (ui->fb.height - lay->card.h) / 2;
    lay->title_y += lay->card.y;
    lay->bar.x += lay->card.x;
    lay->bar.y += lay->card.y;
    lay->status.x += lay->card.x;
    lay->status.y += lay->card.y;
    lay->lines_y += lay->card.y;
    lay->lines_x = lay->card.x + pad_x;
}

static void layout_message(struct ui *ui)
{
    struct layout *lay = &ui->lay;
    int s = lay->s, pad_x, pad_y, inner_w, max_lines, y;

    layout_card(ui, 480, &pad_x, &pad_y);
    inner_w = lay->card.w - 2 * pad_x;
    layout_title(lay, ui->title, inner_w);
    y = pad_y + title_height(lay) + 16 * s;
    max_lines = imax((ui->fb.height - y - pad_y) / (TEXT_LINE * s), 1);
    lay->lines = wrap_balanced(ui->text, inner_w / (FONT_WIDTH * s), imin(max_lines, 8), NULL);
    if (n_lines(lay->lines) == 0)
        y -= 16 * s;
    lay->lines_colour = C_LABEL;
    lay->card.h = y + imax(n_lines(lay->lines) * TEXT_LINE * s - 4 * s, 0) + pad_y;
    lay->card.x = (ui->fb.width - lay->card.w) / 2;
    lay->card.y = (ui->fb.height - lay->card.h) / 2;
    lay->title_y = lay->card.y + pad_y;
    lay->lines_y = lay->card.y + y;
    lay->lines_x = lay->card.x + pad_x;
    lay->lines_w = inner_w;
}

static void layout(struct ui *ui)
{
    layout_clear(&ui->lay);
    ui->lay.s = scale_for(ui->fb.width, ui->fb.height);
    switch (ui->screen) {
    case SCREEN_LOGIN:
        layout_login(ui);
        break;
    case SCREEN_PROGRESS:
        layout_progress(ui);
        break;
    case SCREEN_MESSAGE:
        layout_message(ui);
        break;
    case SCREEN_NONE:
        break;
    }
}

/* ---- drawing ---- */

static int centred(const struct layout *lay, const char *text, int scale)
{
    return lay->card.x + (lay->card.w - text_width(text, scale)) / 2;
}

static void draw_title(struct ui *ui)
{
    const struct layout *lay = &ui->lay;
    int step = FONT_HEIGHT * lay->title_scale + TITLE_GAP * lay->s;

    for (int i = 0; lay->title && lay->title[i]; i++)
        draw_text(ui, centred(lay, lay->title[i], lay->title_scale), lay->title_y + i * step,
                  lay->title[i], lay->title_scale, C_TITLE);
}

static void draw_lines(struct ui *ui)
{
    const struct layout *lay = &ui->lay;

    for (int i = 0; lay->lines && lay->lines[i]; i++) {
        int x = lay->lines_x;

        if (lay->lines_w > 0)
            x += (lay->lines_w - text_width(lay->lines[i], lay->s)) / 2;

        draw_text(ui, x, lay->lines_y + i * TEXT_LINE * lay->s, lay->lines[i], lay->s,
                  lay->lines_colour);
    }
}

/* The area a field's drawing takes: its box and its focus ring. */
static struct fb_rect field_area(const struct ui *ui, enum ui_field f)
{
    return rect_grow(ui->lay.field[f], RING * ui->lay.s);
}

/* A string of n bullets, one for each character of the password. Caller frees. */
static char *bullets(int n)
{
    GString *str = g_string_sized_new((gsize)n * 3);

    for (int i = 0; i < n; i++)
        g_string_append(str, BULLET);
    return g_string_free(str, FALSE);
}

/* Redraw field f of the login form (and record it as damage). */
static void draw_field(struct ui *ui, enum ui_field f)
{
    const struct layout *lay = &ui->lay;
    struct fb_rect b = lay->field[f], area = field_area(ui, f);
    int s = lay->s, r = BOX_RADIUS * s, ty = b.y + (b.h - FONT_HEIGHT * s) / 2;
    struct fb_rect clip = ui->clip;
    gboolean focused = ui->focus == f;

    if (f == UI_FIELD_NONE || b.w == 0)
        return;
    set_clip(ui, rect_intersect(area, lay->card));
    fill(ui, area, C_CARD);
    if (focused)
        fill_round(ui, area, r + RING * s, C_ACCENT, 64);
    if (f == UI_FIELD_BUTTON) {
        fill_round(ui, b, r, ui->pressed == f ? C_ACCENT_PRESSED : C_ACCENT, 255);
        draw_text(ui, b.x + (b.w - text_width(button_label, s)) / 2, ty, button_label, s,
                  C_ON_ACCENT);
    } else {
        int room = imax((b.w - 2 * BOX_PAD * s) / (FONT_WIDTH * s), 1);

        fill_round(ui, b, r, focused ? C_ACCENT : C_FIELD_BORDER, 255);
        fill_round(ui, rect_grow(b, -s), r - s, C_FIELD, 255);
        set_clip(ui, rect_intersect(rect_grow(b, -s), lay->card));
        if (f == UI_FIELD_POOL) {
            g_autofree char *name = ellipsize(ui->pools[ui->pool], room - 4);
            uint32_t arrows = focused ? C_ACCENT : C_DIM;

            draw_text(ui, b.x + BOX_PAD * s, ty, "\u25c0", s, arrows);
            draw_text(ui, b.x + b.w - (BOX_PAD + FONT_WIDTH) * s, ty, "\u25b6", s, arrows);
            draw_text(ui, b.x + (b.w - text_width(name, s)) / 2, ty, name, s, C_TEXT);
        } else {
            /* The caret is always at the end: show the end of a long text. */
            g_autofree char *dots = NULL;
            const char *shown = ui->user;
            int len, tx = b.x + BOX_PAD * s;

            if (f == UI_FIELD_PASSWORD)
                shown = dots = bullets(text_len(ui->password));
            len = text_len(shown);

            if (len > room - 1) {
                shown = g_utf8_offset_to_pointer(shown, len - (room - 1));
                len = room - 1;
            }
            draw_text(ui, tx, ty, shown, s, C_TEXT);
            if (focused) {
                struct fb_rect caret = { tx + len * FONT_WIDTH * s, ty + 2 * s, 2 * s, 14 * s };

                fill(ui, caret, C_TEXT);
            }
        }
    }
    ui->clip = clip;
    add_damage(ui, area);
}

static void draw_login(struct ui *ui)
{
    const struct layout *lay = &ui->lay;
    int s = lay->s;

    draw_title(ui);
    if (lay->subtitle_y >= 0)
        draw_text(ui, centred(lay, login_subtitle, s), lay->subtitle_y, login_subtitle, s, C_DIM);
    for (int f = UI_FIELD_USER; f <= UI_FIELD_POOL; f++) {
        struct fb_rect b = lay->field[f];

        if (b.w > 0)
            draw_text(ui, lay->label_x, b.y + (b.h - FONT_HEIGHT * s) / 2, labels[f], s, C_LABEL);
    }
    for (int f = UI_FIELD_USER; f <= UI_FIELD_BUTTON; f++)
        draw_field(ui, f);
    draw_lines(ui);
}

/* The bar, the percent and the text of the progress screen (and their damage). */
static void draw_status(struct ui *ui)
{
    const struct layout *lay = &ui->lay;
    struct fb_rect bar = lay->bar, area = rect_grow(lay->status, lay->s);
    g_autofree char *pct = g_strdup_printf("%d%%", ui->percent);
    struct fb_rect clip = ui->clip;
    int done = bar.w * ui->percent / 100;

    set_clip(ui, rect_intersect(area, lay->card));
    fill(ui, area, C_CARD);
    fill_round(ui, bar, bar.h / 2, C_TRACK, 255);
    if (done > 0) {
        struct fb_rect part = { bar.x, bar.y, imax(done, bar.h), bar.h };

        fill_round(ui, part, bar.h / 2, C_ACCENT, 255);
    }
    draw_text(ui, bar.x + bar.w - text_width(pct, lay->s), lay->lines_y, pct, lay->s, C_DIM);
    draw_lines(ui);
    ui->clip = clip;
    add_damage(ui, area);
}

/* Draw the whole screen again; all of it is damaged. */
static void draw_all(struct ui *ui)
{
    const struct layout *lay = &ui->lay;

    set_clip(ui, screen_rect(ui));
    draw_background(ui);
    if (ui->screen != SCREEN_NONE) {
        draw_shadow(ui, lay->card, CARD_RADIUS * lay->s, lay->s);
        fill_round(ui, lay->card, CARD_RADIUS * lay->s, C_CARD, 255);
        set_clip(ui, lay->card);
    }
    switch (ui->screen) {
    case SCREEN_LOGIN:
        draw_login(ui);
        break;
    case SCREEN_PROGRESS:
        draw_title(ui);
        draw_status(ui);
        break;
    case SCREEN_MESSAGE:
        draw_title(ui);
        draw_lines(ui);
        break;
    case SCREEN_NONE:
        break;
    }
    set_clip(ui, screen_rect(ui));
    ui->n_damage = 0;
    add_damage(ui, screen_rect(ui));
}

/* ---- the screens ---- */

static void set_size(struct ui *ui, int width, int height)
{
    width = CLAMP(width, 1, FB_MAX_DIM);
    height = CLAMP(height, 1, FB_MAX_DIM);
    g_free(ui->fb.data);
    ui->fb.width = width;
    ui->fb.height = height;
    ui->fb.stride = width * FB_BPP;
    ui->fb.data = g_malloc0((size_t)ui->fb.stride * (size_t)height);
}

struct ui *ui_new(int width, int height)
{
    struct ui *ui = g_new0(struct ui, 1);

    set_size(ui, width, height);
    layout(ui);
    draw_all(ui);
    return ui;
}

void ui_free(struct ui *ui)
{
    if (ui == NULL)
        return;
    explicit_bzero(ui->password, sizeof(ui->password));
    layout_clear(&ui->lay);
    g_strfreev(ui->pools);
    g_free(ui->error);
    g_free(ui->title);
    g_free(ui->text);
    g_free(ui->fb.data);
    g_free(ui);
}

const struct fb *ui_fb(const struct ui *ui)
{
    return &ui->fb;
}

void ui_resize(struct ui *ui, int width, int height)
{
    set_size(ui, width, height);
    layout(ui);
    draw_all(ui);
}

/* A copy of text as valid UTF-8 ("" for NULL). Caller frees. */
static char *valid_dup(const char *text)
{
    return g_utf8_make_valid(text ? text : "", -1);
}

void ui_show_login(struct ui *ui, const char *user, const char *const *pools, const char *error)
{
    g_autofree char *valid = valid_dup(user);
    int n = 0;

    explicit_bzero(ui->password, sizeof(ui->password));
    memset(ui->user, 0, sizeof(ui->user));
    g_utf8_strncpy(ui->user, valid, UI_USER_MAX);

    g_strfreev(ui->pools);
    ui->pools = NULL;
    while (pools && pools[n])
        n++;
    ui->n_pools = n >= 2 ? n : 0;
    if (ui->n_pools) {
        ui->pools = g_new0(char *, n + 1);
        for (int i = 0; i < n; i++)
            ui->pools[i] = valid_dup(pools[i]);
    }
    ui->pool = 0;

    g_free(ui->error);
    ui->error = error && *error ? valid_dup(error) : NULL;
    ui->focus = ui->user[0] ? UI_FIELD_PASSWORD : UI_FIELD_USER;
    ui->pressed = UI_FIELD_NONE;
    ui->screen = SCREEN_LOGIN;
    layout(ui);
    draw_all(ui);
}

void ui_show_progress(struct ui *ui, int percent, const char *text)
{
    gboolean was_progress = ui->screen == SCREEN_PROGRESS;
    struct fb_rect old_card = ui->lay.card;

    ui->percent = CLAMP(percent, 0, 100);
    g_free(ui->text);
    ui->text = valid_dup(text);
    ui->screen = SCREEN_PROGRESS;
    layout(ui);
    /* The same card (the text takes as many lines): only the status changed. */
    if (was_progress && memcmp(&old_card, &ui->lay.card, sizeof(old_card)) == 0)
        draw_status(ui);
    else
        draw_all(ui);
}

void ui_show_message(struct ui *ui, const char *title, const char *text)
{
    g_free(ui->title);
    ui->title = valid_dup(title);
    g_free(ui->text);
    ui->text = valid_dup(text);
    ui->screen = SCREEN_MESSAGE;
    layout(ui);
    draw_all(ui);
}

/* ---- input ---- */

static void set_focus(struct ui *ui, enum ui_field f)
{
    enum ui_field old = ui->focus;

    if (f == old)
        return;
    ui->focus = f;
    draw_field(ui, old);
    draw_field(ui, f);
}

/* Tab order: the user name, the password, the pool (when there is a choice),
 * the button, and round again. */
static void move_focus(struct ui *ui, int delta)
{
    enum ui_field order[N_FIELDS];
    int n = 0, at = 0;

    for (int f = UI_FIELD_USER; f <= UI_FIELD_BUTTON; f++)
        if (ui->lay.field[f].w > 0)
            order[n++] = f;
    for (int i = 0; i < n; i++)
        if (order[i] == ui->focus)
            at = i;
    set_focus(ui, order[(at + delta + n) % n]);
}

static void cycle_pool(struct ui *ui, int delta)
{
    if (ui->n_pools == 0)
        return;
    ui->pool = (ui->pool + delta + ui->n_pools) % ui->n_pools;
    draw_field(ui, UI_FIELD_POOL);
}

/* The buffer of the focused text field and its limit, or NULL. */
static char *focused_text(struct ui *ui, int *max_chars)
{
    if (ui->focus == UI_FIELD_USER) {
        *max_chars = UI_USER_MAX;
        return ui->user;
    }
    if (ui->focus == UI_FIELD_PASSWORD) {
        *max_chars = UI_PASSWORD_MAX;
        return ui->password;
    }
    return NULL;
}

static void type_char(struct ui *ui, gunichar cp)
{
    int max_chars;
    char *buf = focused_text(ui, &max_chars);

    /* The buffers hold max_chars characters of up to 4 bytes each. */
    if (buf == NULL || text_len(buf) >= max_chars)
        return;
    g_unichar_to_utf8(cp, buf + strlen(buf));
    draw_field(ui, ui->focus);
}

static void backspace(struct ui *ui)
{
    int max_chars;
    char *buf = focused_text(ui, &max_chars);
    char *end, *last;

    if (buf == NULL || buf[0] == '\0')
        return;
    end = buf + strlen(buf);
    last = g_utf8_find_prev_char(buf, end);
    explicit_bzero(last, (size_t)(end - last));
    draw_field(ui, ui->focus);
}

/* The character a keysym types, or 0. */
static gunichar keysym_char(uint32_t keysym)
{
    /* XK_KP_Multiply .. XK_KP_9, in keysym order. */
    static const char keypad[] = "*+,-./0123456789";

    if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff))
        return keysym;
    if (keysym >= XK_KP_Multiply && keysym <= XK_KP_9)
        return (gunichar)keypad[keysym - XK_KP_Multiply];
    if (keysym > XK_UNICODE_BASE && keysym <= XK_UNICODE_BASE + 0x10ffff) {
        gunichar cp = keysym - XK_UNICODE_BASE;

        if (g_unichar_validate(cp) && (g_unichar_isprint(cp) || cp == ' '))
            return cp;
    }
    return 0;
}

enum ui_action ui_key(struct ui *ui, uint32_t keysym, gboolean down)
{
    gunichar cp;

    if (!down || ui->screen != SCREEN_LOGIN)
        return UI_NONE;
    switch (keysym) {
    case XK_Return:
    case XK_KP_Enter:
        return UI_SUBMIT;
    case XK_Tab:
        move_focus(ui, 1);
        break;
    case XK_ISO_Left_Tab:
        move_focus(ui, -1);
        break;
    case XK_Up:
    case XK_Down:
        if (ui->focus == UI_FIELD_POOL)
            cycle_pool(ui, keysym == XK_Up ? -1 : 1);
        else
            move_focus(ui, keysym == XK_Up ? -1 : 1);
        break;
    case XK_Left:
    case XK_Right:
        if (ui->focus == UI_FIELD_POOL)
            cycle_pool(ui, keysym == XK_Left ? -1 : 1);
        break;
    case XK_BackSpace:
        backspace(ui);
        break;
    default:
        cp = keysym_char(keysym);
        if (cp == ' ' && ui->focus == UI_FIELD_BUTTON)
            return UI_SUBMIT;
        if (cp != 0)
            type_char(ui, cp);
        break;
    }
    return UI_NONE;
}

/* What is at x, y: a field (with its label) or the button. */
static enum ui_field hit_test(const struct ui *ui, int x, int y)
{
    const struct layout *lay = &ui->lay;

    for (int f = UI_FIELD_USER; f <= UI_FIELD_BUTTON; f++) {
        struct fb_rect b = lay->field[f];

        if (b.w > 0 && f != UI_FIELD_BUTTON) {
            b.w += b.x - lay->label_x;
            b.x = lay->label_x;
        }
        if (rect_contains(b, x, y))
            return f;
    }
    return UI_FIELD_NONE;
}

enum ui_action ui_pointer(struct ui *ui, int x, int y, uint32_t buttons)
{
    uint32_t pressed = buttons & ~ui->buttons, released = ui->buttons & ~buttons;
    enum ui_field hit;

    ui->buttons = buttons;
    if (ui->screen != SCREEN_LOGIN)
        return UI_NONE;
    hit = hit_test(ui, x, y);
    if ((pressed & FB_BUTTON_LEFT) && hit != UI_FIELD_NONE) {
        struct fb_rect b = ui->lay.field[hit];

        set_focus(ui, hit);
        if (hit == UI_FIELD_BUTTON) {
            ui->pressed = hit;
            draw_field(ui, hit);
        } else if (hit == UI_FIELD_POOL && x < b.x + b.h) {
            cycle_pool(ui, -1);
        } else if (hit == UI_FIELD_POOL && x >= b.x + b.w - b.h) {
            cycle_pool(ui, 1);
        }
    }
    if (hit == UI_FIELD_POOL && (pressed & (FB_BUTTON_WHEEL_UP | FB_BUTTON_WHEEL_DOWN)))
        cycle_pool(ui, pressed & FB_BUTTON_WHEEL_UP ? -1 : 1);
    if ((released & FB_BUTTON_LEFT) && ui->pressed == UI_FIELD_BUTTON) {
        ui->pressed = UI_FIELD_NONE;
        draw_field(ui, UI_FIELD_BUTTON);
        if (hit == UI_FIELD_BUTTON)
            return UI_SUBMIT;
    }
    return UI_NONE;
}

/* ---- what the form holds ---- */

const char *ui_user(const struct ui *ui)
{
    return ui->user;
}

const char *ui_password(const struct ui *ui)
{
    return ui->password;
}

const char *ui_pool(const struct ui *ui)
{
    return ui->n_pools ? ui->pools[ui->pool] : NULL;
}

int ui_field_rect(const struct ui *ui, enum ui_field field, struct fb_rect *rect)
{
    if (ui->screen != SCREEN_LOGIN || field <= UI_FIELD_NONE || field > UI_FIELD_BUTTON ||
        ui->lay.field[field].w == 0)
        return -ENOENT;
    *rect = ui->lay.field[field];
    return 0;
}

enum ui_field ui_focus(const struct ui *ui)
{
    return ui->screen == SCREEN_LOGIN ? ui->focus : UI_FIELD_NONE;
}

int ui_take_damage(struct ui *ui, struct fb_rect *out, int max)
{
    int n = ui->n_damage;

    if (max <= 0 || n == 0)
        return 0;
    if (n <= max) {
        memcpy(out, ui->damage, (size_t)n * sizeof(*out));
    } else {
        out[0] = ui->damage[0];
        for (int i = 1; i < n; i++)
            out[0] = rect_union(out[0], ui->damage[i]);
        n = 1;
    }
    ui->n_damage = 0;
    return n;
}
