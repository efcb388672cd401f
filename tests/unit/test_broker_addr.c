/* Unit tests for thinclient/broker_addr. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "thinclient/broker_addr.h"

struct good_case {
    const char *text;
    const char *host;
    int port;
};

static const struct good_case good[] = {
    { "broker", "broker", BROKER_ADDR_DEFAULT_PORT },
    { "broker.example.org", "broker.example.org", BROKER_ADDR_DEFAULT_PORT },
    { "broker.example.org:9443", "broker.example.org", 9443 },
    { "broker:1", "broker", 1 },
    { "broker:65535", "broker", 65535 },
    { "broker:08443", "broker", 8443 },
    { "192.0.2.7", "192.0.2.7", BROKER_ADDR_DEFAULT_PORT },
    { "192.0.2.7:8000", "192.0.2.7", 8000 },
    { "[::1]:9000", "::1", 9000 },
    { "[::1]", "::1", BROKER_ADDR_DEFAULT_PORT },
    { "[2001:db8::7]:443", "2001:db8::7", 443 },
    { "[fe80::1%eth0]:9000", "fe80::1%eth0", 9000 },
    { "::1", "::1", BROKER_ADDR_DEFAULT_PORT },
    { "fe80::1", "fe80::1", BROKER_ADDR_DEFAULT_PORT },
    { "2001:db8::1", "2001:db8::1", BROKER_ADDR_DEFAULT_PORT },
    /* Without brackets every ':' belongs to the address. */
    { "::1:9000", "::1:9000", BROKER_ADDR_DEFAULT_PORT },
    { "bröker.example", "bröker.example", BROKER_ADDR_DEFAULT_PORT },
};

static void test_good(void **state)
{
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        char *host = NULL;
        int port = -1;
        GError *error = NULL;
        int r = broker_addr_parse(good[i].text, &host, &port, &error);

        if (r != 0)
            print_error("\"%s\": %s\n", good[i].text, error ? error->message : "(no error)");
        assert_int_equal(r, 0);
        assert_null(error);
        assert_non_null(host);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
        g_free(host);
    }
}

/* The longest host allowed is 253 bytes; one more is refused. */
static void test_host_length(void **state)
{
    char *name = g_strnfill(BROKER_ADDR_HOST_MAX, 'a');
    char *text = g_strdup_printf("%s:9000", name);
    char *host = NULL;
    int port = 0;

    assert_int_equal(broker_addr_parse(text, &host, &port, NULL), 0);
    assert_string_equal(host, name);
    assert_int_equal(port, 9000);
    g_free(host);
    g_free(text);
    g_free(name);
}

struct bad_case {
    const char *text;
    const char *why;      /* what the case is about, for failure output */
    const char *message;  /* a substring the message must contain */
};

static const struct bad_case bad[] = {
    { "", "empty", "empty" },
    { ":9000", "empty host", "no host name" },
    { "[]", "empty host in brackets", "no host name" },
    { "[]:9000", "empty host in brackets with a port", "no host name" },
    { "broker:", "empty port", "no port" },
    { "broker:0", "port 0", "out of range" },
    { "broker:65536", "port too big", "out of range" },
    { "broker:99999999999999999999", "port that would overflow", "out of range" },
    { "broker:-1", "negative port", "not a number" },
    { "broker:+80", "signed port", "not a number" },
    { "broker:80a", "port with letters", "not a number" },
    { "broker:0x50", "hex port", "not a number" },
    { "[::1]:", "bracketed, empty port", "no port" },
    { "[::1]:70000", "bracketed, port too big", "out of range" },
    { "[::1]:http", "bracketed, named port", "not a number" },
    { " broker", "leading space", "white space" },
    { "broker ", "trailing space", "white space" },
    { "bro ker", "inner space", "white space" },
    { "broker:80 ", "space after the port", "white space" },
    { "broker\t", "tab", "white space" },
    { "broker\n", "newline", "white space" },
    { "bro\x01ker", "control character", "control character" },
    { "bro\x7fker", "DEL", "control character" },
    { "bro\xc2\xa0ker", "no-break space", "white space" },
    { "bro\xe2\x80\x8bker", "zero-width space", "control character" },
    { "bro\xffker", "invalid UTF-8", "UTF-8" },
    { "[::1", "unclosed '['", "not closed" },
    { "[::1:9000", "unclosed '[' with what looks like a port", "not closed" },
    { "[::1]9000", "text after ']' without ':'", "after ']'" },
    { "[::1]x", "garbage after ']'", "after ']'" },
    { "[::1]]", "a second ']'", "after ']'" },
    { "[[::1]:80", "nested brackets", "enclose an IPv6 address" },
    { "bro]ker:80", "stray ']'", "enclose an IPv6 address" },
    { "broker[1]", "stray '['", "enclose an IPv6 address" },
    { "[broker]:80", "a name in brackets", "not an IPv6 address" },
    { "[192.0.2.7]", "IPv4 in brackets", "not an IPv6 address" },
    { "a:b:c", "too many colons for host:port, and not IPv6", "not an IPv6 address" },
    { "https://broker:8443", "a URL", "URL" },
};

static void test_bad(void **state)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        char *host = (char *)"untouched";
        int port = -7;
        GError *error = NULL;
        int r = broker_addr_parse(bad[i].text, &host, &port, &error);

        if (r != -EINVAL || error == NULL || strstr(error->message, bad[i].message) == NULL)
            print_error("case %zu (%s): r=%d message=%s\n", i, bad[i].why, r,
                        error ? error->message : "(none)");
        assert_int_equal(r, -EINVAL);
        assert_non_null(error);
        assert_true(g_error_matches(error, BROKER_ADDR_ERROR, EINVAL));
        assert_true(error->domain == g_quark_from_static_string("aula-broker-addr"));
        assert_true(strlen(error->message) > 0);
        assert_non_null(strstr(error->message, bad[i].message));
        assert_string_equal(host, "untouched");
        assert_int_equal(port, -7);
        g_error_free(error);

        /* error may be NULL; the result is the same. */
        assert_int_equal(broker_addr_parse(bad[i].text, &host, &port, NULL), -EINVAL);
        assert_string_equal(host, "untouched");
        assert_int_equal(port, -7);
    }
}

static void test_null_and_too_long(void **state)
{
    char *host = (char *)"untouched";
    int port = -7;
    GError *error = NULL;
    char *name = g_strnfill(BROKER_ADDR_HOST_MAX + 1, 'a');
    char *text = g_strdup_printf("%s:9000", name);

    assert_int_equal(broker_addr_parse(NULL, &host, &port, &error), -EINVAL);
    assert_true(g_error_matches(error, BROKER_ADDR_ERROR, EINVAL));
    assert_true(strlen(error->message) > 0);
    g_clear_error(&error);

    assert_int_equal(broker_addr_parse(name, &host, &port, &error), -EINVAL);
    assert_non_null(strstr(error->message, "254 bytes"));
    g_clear_error(&error);

    assert_int_equal(broker_addr_parse(text, &host, &port, &error), -EINVAL);
    assert_non_null(strstr(error->message, "at most 253"));
    g_clear_error(&error);

    assert_string_equal(host, "untouched");
    assert_int_equal(port, -7);
    g_free(text);
    g_free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_host_length),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_null_and_too_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
