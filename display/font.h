/* font: the bitmap font of the screens aula-session draws itself (ui.c).
 *
 * One face, 8x16 pixels a cell, for ASCII and Latin-1, in the style of the
 * VGA text font: vertical strokes two pixels wide, horizontal ones one, so
 * that it stays readable at 1x on a 1080p screen and scales to 2x and 4x
 * cleanly. Rows of a cell, top first:
 *
 *   0..1    accents on capitals
 *   3..12   capitals, digits and ascenders (3 is the cap line)
 *   6..12   lowercase letters (12 is the last row on the baseline)
 *   13..15  descenders, and cedillas
 *
 * Glyphs use columns 0..6; column 7 is the space between letters. */
#ifndef AULA_DISPLAY_FONT_H
#define AULA_DISPLAY_FONT_H

#include <stdint.h>

#define FONT_WIDTH 8
#define FONT_HEIGHT 16

/* The glyph of Unicode code point cp: FONT_HEIGHT bytes, one a row, top row
 * first, the most significant bit the leftmost pixel. Borrowed (static data).
 * Code points the font lacks give a box, except a few common typographic
 * ones (curly quotes, dashes) that give their ASCII look-alike. */
const uint8_t *font_glyph(uint32_t cp);

#endif
