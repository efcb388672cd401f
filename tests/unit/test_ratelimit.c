/* Unit tests for broker/ratelimit: counting, lockout and its end, clearing,
 * settings read at each call, bounded memory, and the address keys. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "broker/ratelimit.h"

#define T0 1700000000

static void test_lockout_and_window(void **state)
{
    int max = 3, window = 300;
    struct ratelimit *rl = ratelimit_new(&max, &window);
    int64_t retry = -1;

    assert_true(ratelimit_allowed(rl, "alice", T0, &retry));
    assert_int_equal(retry, -1); /* untouched when allowed */
    ratelimit_fail(rl, "alice", T0);
    ratelimit_fail(rl, "alice", T0 + 10);
    assert_true(ratelimit_allowed(rl, "alice", T0 + 10, &retry));
    /* The third failure locks alice out for the whole window from now. */
    ratelimit_fail(rl, "alice", T0 + 20);
    assert_false(ratelimit_allowed(rl, "alice", T0 + 20, &retry));
    assert_int_equal(retry, 300);
    assert_false(ratelimit_allowed(rl, "alice", T0 + 319, &retry));
    assert_int_equal(retry, 1);
    /* Knocking while locked out does not lengthen the lockout. */
    ratelimit_fail(rl, "alice", T0 + 100);
    assert_false(ratelimit_allowed(rl, "alice", T0 + 100, NULL));
    assert_true(ratelimit_allowed(rl, "alice", T0 + 320, &retry));
    /* Others are not affected. */
    assert_true(ratelimit_allowed(rl, "bob", T0 + 20, NULL));
    /* After the lockout, alice starts afresh. */
    ratelimit_fail(rl, "alice", T0 + 330);
    ratelimit_fail(rl, "alice", T0 + 331);
    assert_true(ratelimit_allowed(rl, "alice", T0 + 331, NULL));
    ratelimit_free(rl);
}

static void test_window_passes_without_lockout(void **state)
{
    int max = 3, window = 60;
    struct ratelimit *rl = ratelimit_new(&max, &window);

    ratelimit_fail(rl, "k", T0);
    ratelimit_fail(rl, "k", T0 + 30);
    /* The window that started at T0 is over: the count starts again. */
    ratelimit_fail(rl, "k", T0 + 60);
    assert_true(ratelimit_allowed(rl, "k", T0 + 60, NULL));
    ratelimit_fail(rl, "k", T0 + 61);
    assert_true(ratelimit_allowed(rl, "k", T0 + 61, NULL));
    ratelimit_fail(rl, "k", T0 + 62);
    assert_false(ratelimit_allowed(rl, "k", T0 + 62, NULL));
    ratelimit_free(rl);
}

static void test_clear(void **state)
{
    int max = 2, window = 60;
    struct ratelimit *rl = ratelimit_new(&max, &window);

    ratelimit_fail(rl, "k", T0);
    ratelimit_fail(rl, "k", T0);
    assert_false(ratelimit_allowed(rl, "k", T0 + 1, NULL));
    ratelimit_clear(rl, "k");
    assert_true(ratelimit_allowed(rl, "k", T0 + 1, NULL));
    ratelimit_clear(rl, "never seen");
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

static void test_settings_read_each_time(void **state)
{
    int max = 5, window = 60;
    struct ratelimit *rl = ratelimit_new(&max, &window);
    int64_t retry = 0;

    ratelimit_fail(rl, "k", T0);
    ratelimit_fail(rl, "k", T0);
    assert_true(ratelimit_allowed(rl, "k", T0, NULL));
    max = 2; /* a reload lowers the limit: k is over it at once */
    assert_false(ratelimit_allowed(rl, "k", T0 + 5, &retry));
    assert_int_equal(retry, 55);
    window = 10; /* and shortens the window */
    assert_true(ratelimit_allowed(rl, "k", T0 + 10, NULL));
    ratelimit_free(rl);
}

/* Many keys that fail once and go away must not pile up; locked-out keys
 * stay locked out however many others come. */
static void test_memory_bounded(void **state)
{
    int max = 2, window = 60;
    struct ratelimit *rl = ratelimit_new(&max, &window);

    ratelimit_fail(rl, "victim", T0);
    ratelimit_fail(rl, "victim", T0);
    for (int i = 0; i < 200000; i++) {
        char key[32];
        g_snprintf(key, sizeof(key), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        ratelimit_fail(rl, key, T0 + 1 + i / 10000);
    }
    assert_false(ratelimit_allowed(rl, "victim", T0 + 30, NULL));
    /* Counting still works after the sweeps. */
    ratelimit_fail(rl, "late", T0 + 30);
    assert_true(ratelimit_allowed(rl, "late", T0 + 30, NULL));
    ratelimit_fail(rl, "late", T0 + 31);
    assert_false(ratelimit_allowed(rl, "late", T0 + 31, NULL));
    ratelimit_free(rl);
}

static void test_addr_key(void **state)
{
    struct {
        const char *in, *out;
    } cases[] = {
        { "192.0.2.7", "192.0.2.7" },
        { "::ffff:192.0.2.7", "192.0.2.7" },
        { "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
        { "2001:db8:1:2::9", "2001:db8:1:2::/64" },
        { "::1", "::/64" },
        { "not an address", "not an address" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *key = ratelimit_addr_key(cases[i].in);
        assert_string_equal(key, cases[i].out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockout_and_window),
        cmocka_unit_test(test_window_passes_without_lockout),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_settings_read_each_time),
        cmocka_unit_test(test_memory_bounded),
        cmocka_unit_test(test_addr_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
