/* libFuzzer target: bytes from an aula-session into the broker's message
 * decoder. Whatever decodes must encode back to the same bytes. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "display/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        struct proto_msg *m = NULL;
        GError *err = NULL;
        gssize n = proto_decode(data + off, size - off, &m, &err);

        if (n <= 0) {
            if (n < 0 && (err == NULL || err->message[0] == '\0'))
                __builtin_trap();
            g_clear_error(&err);
            break;
        }
        {
            GByteArray *out = g_byte_array_new();
            if (proto_encode(m, out, NULL) < 0 || out->len != (guint)n ||
                memcmp(out->data, data + off, (size_t)n) != 0)
                __builtin_trap();
            g_byte_array_unref(out);
        }
        proto_msg_free(m);
        off += (size_t)n;
    }
    return 0;
}
