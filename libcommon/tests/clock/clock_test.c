/* Unit tests for libcommon/runtime/clock.c: the millisecond clocks. */
#include <config.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/clock.h>

static long long
clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
monotonic_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
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

static void
on_alarm(int sig)
{
    (void) sig;
}

static void
test_sleep_ms_sleeps_the_whole_time(void **state)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    struct itimerval it = {.it_value = {0, 20000}};
    long long t0;

    (void) state;
    /* a signal 20 ms in does not cut the 80 ms short */
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = monotonic_ms();
    vcha_sleep_ms(80);
    assert_between(monotonic_ms() - t0, 80, 5000);
    signal(SIGALRM, SIG_DFL);
    t0 = monotonic_ms();
    vcha_sleep_ms(0);
    vcha_sleep_ms(-5);
    assert_between(monotonic_ms() - t0, 0, 20);
}

static void
test_realtime_ms_is_the_real_clock(void **state)
{
    long long before, t, after;

    (void) state;
    before = clock_ms(CLOCK_REALTIME);
    t = vcha_realtime_ms();
    after = clock_ms(CLOCK_REALTIME);
    assert_between(t, before, after);
    /* not the monotonic clock: that one starts at boot, not in 1970 */
    assert_true(t > 1600000000000LL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ms_is_the_monotonic_clock),
        cmocka_unit_test(test_now_ms_never_goes_back),
        cmocka_unit_test(test_now_ms_counts_milliseconds),
        cmocka_unit_test(test_sleep_ms_sleeps_the_whole_time),
        cmocka_unit_test(test_realtime_ms_is_the_real_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
