/* Unit tests for libcommon/clock.c: the monotonic millisecond clock. */
#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <vcha/clock.h>

static long long
monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
assert_between(long long v, long long lo, long long hi)
{
    if (v < lo || v > hi) {
        fail_msg("%lld is not within [%lld, %lld]", v, lo, hi);
    }
}

static void
test_now_ms_is_the_monotonic_clock(void **state)
{
    long long before = monotonic_ms();
    long long now = vcha_now_ms();
    long long after = monotonic_ms();

    (void) state;
    assert_between(now, before, after);
}

static void
test_now_ms_never_goes_back(void **state)
{
    long long last = vcha_now_ms();

    (void) state;
    for (int i = 0; i < 100000; i++) {
        long long now = vcha_now_ms();

        assert_true(now >= last);
        last = now;
    }
}

static void
test_now_ms_counts_milliseconds(void **state)
{
    long long t0 = vcha_now_ms();

    (void) state;
    usleep(50000);
    assert_between(vcha_now_ms() - t0, 50, 5000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ms_is_the_monotonic_clock),
        cmocka_unit_test(test_now_ms_never_goes_back),
        cmocka_unit_test(test_now_ms_counts_milliseconds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
