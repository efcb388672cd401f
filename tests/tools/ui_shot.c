/* ui_shot: draw the screens of display/ui.h and write them to PNG files, to
 * look at them.
 *
 *   ui_shot DIR [WIDTHxHEIGHT ...]
 *
 * writes DIR/<screen>-<width>x<height>.png for the login form (empty, and
 * filled in with a pool choice and an error), the progress screen and a
 * message, at each size (by default 320x240, 1024x768, 1920x1080 and
 * 4096x2160). */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#include "display/ui.h"

/* PNG's CRC-32 (ISO 3309; PNG specification, annex D). */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];

    if (table[1] == 0) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;

            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

static void put_be32(GByteArray *out, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

    g_byte_array_append(out, b, 4);
}

/* A chunk: length, type, data, CRC of type and data. */
static void put_chunk(GByteArray *out, const char *type, const uint8_t *data, size_t n)
{
    uint32_t crc = crc32_update(0xffffffffu, (const uint8_t *)type, 4);

    crc = crc32_update(crc, data, n);
    put_be32(out, (uint32_t)n);
    g_byte_array_append(out, (const uint8_t *)type, 4);
    g_byte_array_append(out, data, (guint)n);
    put_be32(out, crc ^ 0xffffffffu);
}

/* Deflate data in zlib's format (RFC 1950), as IDAT wants it. Caller frees. */
static GBytes *zlib_compress(const uint8_t *data, size_t n, GError **error)
{
    g_autoptr(GZlibCompressor) z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_ZLIB, 6);
    g_autoptr(GOutputStream) mem = g_memory_output_stream_new_resizable();
    g_autoptr(GOutputStream) out = g_converter_output_stream_new(mem, G_CONVERTER(z));

    if (!g_output_stream_write_all(out, data, n, NULL, NULL, error) ||
        !g_output_stream_close(out, NULL, error))
        return NULL;
    return g_memory_output_stream_steal_as_bytes(G_MEMORY_OUTPUT_STREAM(mem));
}

/* Write fb as an 8-bit RGB PNG. */
static int write_png(const struct fb *fb, const char *path, GError **error)
{
    static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    g_autoptr(GByteArray) png = g_byte_array_new();
    g_autoptr(GByteArray) ihdr = g_byte_array_new();
    g_autoptr(GBytes) idat = NULL;
    g_autofree uint8_t *raw = NULL;
    size_t row = 1 + (size_t)fb->width * 3;
    const uint8_t ihdr_rest[5] = { 8, 2, 0, 0, 0 };  /* 8 bits, RGB, deflate, filters, no interlace */

    /* Each row: filter type 0 (none), then R, G, B of each pixel. */
    raw = g_malloc(row * (size_t)fb->height);
    for (int y = 0; y < fb->height; y++) {
        uint8_t *o = raw + row * (size_t)y;
        const uint8_t *p = fb->data + (size_t)y * (size_t)fb->stride;

        *o++ = 0;
        for (int x = 0; x < fb->width; x++, p += FB_BPP) {
            *o++ = p[0];
            *o++ = p[1];
            *o++ = p[2];
        }
    }
    idat = zlib_compress(raw, row * (size_t)fb->height, error);
    if (idat == NULL)
        return -EIO;

    put_be32(ihdr, (uint32_t)fb->width);
    put_be32(ihdr, (uint32_t)fb->height);
    g_byte_array_append(ihdr, ihdr_rest, sizeof(ihdr_rest));
    g_byte_array_append(png, signature, sizeof(signature));
    put_chunk(png, "IHDR", ihdr->data, ihdr->len);
    put_chunk(png, "IDAT", g_bytes_get_data(idat, NULL), g_bytes_get_size(idat));
    put_chunk(png, "IEND", NULL, 0);
    if (!g_file_set_contents(path, (const char *)png->data, png->len, error))
        return -EIO;
    return 0;
}

static const char *const pools[] = { "lab", "office-2024", "design", NULL };

/* Put ui in the state called name. */
static void show(struct ui *ui, const char *name)
{
    if (strcmp(name, "login") == 0) {
        ui_show_login(ui, NULL, NULL, NULL);
    } else if (strcmp(name, "login-error") == 0) {
        ui_show_login(ui, "alice", pools, "Wrong user name or password");
        for (const char *p = "secret"; *p; p++)
            ui_key(ui, (uint32_t)*p, TRUE);
    } else if (strcmp(name, "progress") == 0) {
        ui_show_progress(ui, 40, "Starting the virtual machine");
    } else {
        ui_show_message(ui, "You have been logged off",
                        "Your session has ended. Connect again to start a new one.");
    }
}

int main(int argc, char **argv)
{
    static const char *const screens[] = { "login", "login-error", "progress", "message" };
    static const char *const default_sizes[] = { "320x240", "1024x768", "1920x1080", "4096x2160" };
    const char *const *sizes = default_sizes;
    int n_sizes = G_N_ELEMENTS(default_sizes);

    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s DIR [WIDTHxHEIGHT ...]\n", argv[0]);
        return 2;
    }
    if (argc > 2) {
        sizes = (const char *const *)argv + 2;
        n_sizes = argc - 2;
    }
    for (int i = 0; i < n_sizes; i++) {
        int w, h;

        if (sscanf(sizes[i], "%dx%d", &w, &h) != 2 || w < 1 || h < 1 || w > FB_MAX_DIM ||
            h > FB_MAX_DIM) {
            fprintf(stderr, "%s: not a size (WIDTHxHEIGHT, at most %d each)\n", sizes[i],
                    FB_MAX_DIM);
            return 2;
        }
        for (size_t k = 0; k < G_N_ELEMENTS(screens); k++) {
            g_autoptr(GError) err = NULL;
            g_autofree char *path = g_strdup_printf("%s/%s-%dx%d.png", argv[1], screens[k], w, h);
            struct ui *ui = ui_new(w, h);
            int r;

            show(ui, screens[k]);
            r = write_png(ui_fb(ui), path, &err);
            ui_free(ui);
            if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, err->message);
                return 1;
            }
            printf("%s\n", path);
        }
    }
    return 0;
}
