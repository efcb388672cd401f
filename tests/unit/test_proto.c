/* Unit tests for display/proto.c: the session <-> broker messages. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "display/proto.h"

/* Encode, decode, and compare every field. */
static struct proto_msg *round_trip(const struct proto_msg *m)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct proto_msg *back = NULL;
    g_autoptr(GError) err = NULL;
    gssize n;

    assert_int_equal(proto_encode(m, out, &err), 0);
    n = proto_decode(out->data, out->len, &back, &err);
    if (n < 0)
        fail_msg("decode: %s", err->message);
    assert_int_equal(n, out->len);
    /* A prefix is incomplete, never an error. */
    for (guint cut = 0; cut < out->len; cut++) {
        struct proto_msg *part = NULL;
        assert_int_equal(proto_decode(out->data, cut, &part, NULL), 0);
        assert_null(part);
    }
    return back;
}

static void test_round_trips(void **state)
{
    struct proto_msg *m = proto_msg_new(PROTO_AUTHENTICATE), *b;
    struct proto_msg *r = proto_msg_new(PROTO_AUTH_RESULT);
    struct proto_msg *p = proto_msg_new(PROTO_PROGRESS);
    struct proto_msg *e = proto_msg_new(PROTO_ERROR);
    char *pools[] = { "lab", "büro", "", NULL };

    g_free(m->user), m->user = g_strdup("alice");
    g_free(m->password), m->password = g_strdup("pä ss");
    g_free(m->pool), m->pool = g_strdup("lab");
    g_free(m->protocol), m->protocol = g_strdup("rdp");
    g_free(m->client), m->client = g_strdup("[2001:db8::1]:50000");
    b = round_trip(m);
    assert_int_equal(b->type, PROTO_AUTHENTICATE);
    assert_string_equal(b->user, "alice");
    assert_string_equal(b->password, "pä ss");
    assert_string_equal(b->client, "[2001:db8::1]:50000");
    proto_msg_free(b);

    r->ok = TRUE;
    g_free(r->user), r->user = g_strdup("alice");
    g_strfreev(r->pools), r->pools = g_strdupv(pools);
    b = round_trip(r);
    assert_true(b->ok);
    assert_int_equal(g_strv_length(b->pools), 3);
    assert_string_equal(b->pools[1], "büro");
    assert_string_equal(b->pools[2], "");
    proto_msg_free(b);

    p->percent = 100;
    g_free(p->text), p->text = g_strdup("Preparing your desktop…");
    b = round_trip(p);
    assert_int_equal(b->percent, 100);
    assert_string_equal(b->text, "Preparing your desktop…");
    proto_msg_free(b);

    {
        /* 64-bit counters survive the trip whole. */
        struct proto_msg *st = proto_msg_new(PROTO_STATS);
        g_free(st->encoding), st->encoding = g_strdup("tight");
        st->bytes = G_GUINT64_CONSTANT(0x123456789abcdef0);
        st->fps = 30;
        st->idle = 4000000000u;
        b = round_trip(st);
        assert_string_equal(b->encoding, "tight");
        assert_true(b->bytes == G_GUINT64_CONSTANT(0x123456789abcdef0));
        assert_int_equal(b->fps, 30);
        assert_true(b->idle == 4000000000u);
        proto_msg_free(b);
        proto_msg_free(st);
    }

    e->code = EACCES;
    b = round_trip(e);
    assert_int_equal(b->code, EACCES);
    assert_string_equal(b->text, "");
    proto_msg_free(b);

    for (int t = PROTO_AUTHENTICATE; t < PROTO_TYPE_MAX; t++) {
        struct proto_msg *x = proto_msg_new((enum proto_type)t);
        b = round_trip(x);
        assert_int_equal(b->type, t);
        assert_string_not_equal(proto_type_name((enum proto_type)t), "UNKNOWN");
        proto_msg_free(b);
        proto_msg_free(x);
    }
    proto_msg_free(m);
    proto_msg_free(r);
    proto_msg_free(p);
    proto_msg_free(e);
}

/* Two messages back to back decode one at a time. */
static void test_stream(void **state)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    struct proto_msg *a = proto_msg_new(PROTO_ALLOCATE), *c = proto_msg_new(PROTO_CONNECTED), *x = NULL;
    gssize n1, n2;

    g_free(a->pool), a->pool = g_strdup("lab");
    g_free(c->encoding), c->encoding = g_strdup("avc420");
    assert_int_equal(proto_encode(a, out, NULL), 0);
    assert_int_equal(proto_encode(c, out, NULL), 0);
    n1 = proto_decode(out->data, out->len, &x, NULL);
    assert_true(n1 > 0);
    assert_string_equal(x->pool, "lab");
    proto_msg_free(x);
    n2 = proto_decode(out->data + n1, out->len - (size_t)n1, &x, NULL);
    assert_int_equal(n1 + n2, out->len);
    assert_string_equal(x->encoding, "avc420");
    proto_msg_free(x);
    proto_msg_free(a);
    proto_msg_free(c);
}

static void expect_bad(const uint8_t *buf, size_t len, const char *needle)
{
    g_autoptr(GError) err = NULL;
    struct proto_msg *m = NULL;

    assert_int_equal(proto_decode(buf, len, &m, &err), -EBADMSG);
    assert_null(m);
    if (strstr(err->message, needle) == NULL)
        fail_msg("'%s' lacks '%s'", err->message, needle);
}

static void test_malformed(void **state)
{
    /* header: len, type, version */
    static const uint8_t too_big[] = { 0, 1, 0, 1, 0, 3, 0, 1 };
    static const uint8_t bad_version[] = { 0, 0, 0, 2, 0, 3, 0, 9, 0, 0 };
    static const uint8_t bad_type[] = { 0, 0, 0, 2, 0, 99, 0, 1, 0, 0 };
    static const uint8_t zero_type[] = { 0, 0, 0, 2, 0, 0, 0, 1, 0, 0 };
    static const uint8_t overrun[] = { 0, 0, 0, 3, 0, 3, 0, 1, 0, 5, 'a' };
    static const uint8_t trailing[] = { 0, 0, 0, 3, 0, 3, 0, 1, 0, 0, 'x' };
    static const uint8_t nul[] = { 0, 0, 0, 4, 0, 3, 0, 1, 0, 2, 'a', 0 };
    static const uint8_t bad_utf8[] = { 0, 0, 0, 4, 0, 3, 0, 1, 0, 2, 0xc3, 0x28 };
    static const uint8_t bad_bool[] = { 0, 0, 0, 7, 0, 8, 0, 1, 2, 0, 0, 0, 0, 0, 0 };
    static const uint8_t bad_pct[] = { 0, 0, 0, 3, 0, 9, 0, 1, 101, 0, 0 };
    static const uint8_t long_list[] = { 0, 0, 0, 5, 0, 8, 0, 1, 1, 0, 0, 0xff, 0xff };

    expect_bad(too_big, sizeof(too_big), "over the limit");
    expect_bad(bad_version, sizeof(bad_version), "protocol version 9");
    expect_bad(bad_type, sizeof(bad_type), "unknown message type 99");
    expect_bad(zero_type, sizeof(zero_type), "unknown message type 0");
    expect_bad(overrun, sizeof(overrun), "runs past the end");
    expect_bad(trailing, sizeof(trailing), "bytes follow the last field");
    expect_bad(nul, sizeof(nul), "not valid UTF-8");
    expect_bad(bad_utf8, sizeof(bad_utf8), "not valid UTF-8");
    expect_bad(bad_bool, sizeof(bad_bool), "boolean");
    expect_bad(bad_pct, sizeof(bad_pct), "progress");
    expect_bad(long_list, sizeof(long_list), "list");
}

static void test_encode_limits(void **state)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    struct proto_msg *m = proto_msg_new(PROTO_DISCONNECTED);
    struct proto_msg *p = proto_msg_new(PROTO_PROGRESS);

    g_free(m->text);
    m->text = g_strnfill(PROTO_STRING_MAX + 1, 'x');
    assert_int_equal(proto_encode(m, out, &err), -EINVAL);
    assert_int_equal(out->len, 0); /* nothing half written */
    g_clear_error(&err);
    g_free(m->text);
    m->text = g_strdup("\xff");
    assert_int_equal(proto_encode(m, out, &err), -EINVAL);
    g_clear_error(&err);
    p->percent = 101;
    assert_int_equal(proto_encode(p, out, &err), -EINVAL);
    g_clear_error(&err);
    m->type = PROTO_TYPE_MAX;
    assert_int_equal(proto_encode(m, out, &err), -EINVAL);
    m->type = PROTO_DISCONNECTED;
    proto_msg_free(m);
    proto_msg_free(p);
}

/* Over a socketpair, with an fd beside VM_READY; an fd anywhere else is refused. */
static void test_socket_fd(void **state)
{
    struct proto_msg *ready = proto_msg_new(PROTO_VM_READY), *got = NULL;
    struct proto_msg *alloc = proto_msg_new(PROTO_ALLOCATE);
    g_autoptr(GError) err = NULL;
    int sv[2], pipefd[2], fd = -1;
    char c = 0;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(pipe(pipefd), 0);
    g_free(ready->vm), ready->vm = g_strdup("aula-lab-1");
    assert_int_equal(proto_send(sv[0], ready, pipefd[0], &err), 0);
    assert_int_equal(proto_recv(sv[1], &got, &fd, &err), 0);
    assert_int_equal(got->type, PROTO_VM_READY);
    assert_string_equal(got->vm, "aula-lab-1");
    assert_true(fd >= 0);
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    assert_int_equal(read(fd, &c, 1), 1); /* the same pipe */
    assert_int_equal(c, 'x');
    close(fd);
    proto_msg_free(got);
    got = NULL;

    assert_int_equal(proto_send(sv[0], alloc, pipefd[0], &err), 0);
    fd = -1;
    assert_int_equal(proto_recv(sv[1], &got, &fd, &err), -EBADMSG);
    assert_non_null(strstr(err->message, "came with a file descriptor"));
    assert_int_equal(fd, -1);
    g_clear_error(&err);

    close(sv[0]);
    assert_int_equal(proto_recv(sv[1], &got, &fd, &err), -ECONNRESET);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
    proto_msg_free(ready);
    proto_msg_free(alloc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_socket_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
