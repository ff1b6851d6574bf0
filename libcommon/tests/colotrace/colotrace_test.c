/*
 * Unit tests for libcommon/colo/colotrace.c: checkpoints read from QEMU's
 * log, in the line formats QEMU writes (QEMU 11's as seen on this
 * machine's lab image, and the older log backend's).
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/colotrace.h>

/* 2026-12-05T01:55:58Z */
#define T 1796435758LL

static void
test_checkpoints_from_qemu11_lines(void **state)
{
    struct vcha_colo_tracer t = {0};
    long long stop = 0, resume = 0;

    (void) state;
    assert_int_equal(
        vcha_colo_trace_feed(&t,
                             "2026-12-05T01:55:58.137440Z colo_vm_state_change "
                             "Change 'run' => 'stop'\n",
                             &stop, &resume),
        0);
    /* other lines between change nothing */
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.150000Z "
                                          "colo_send_message Send "
                                          "'checkpoint-request' message",
                                          &stop, &resume),
                     0);
    assert_int_equal(vcha_colo_trace_feed(&t, "qemu: some message", &stop,
                                          &resume),
                     0);
    assert_int_equal(
        vcha_colo_trace_feed(&t,
                             "2026-12-05T01:55:58.184940Z colo_vm_state_change "
                             "Change 'stop' => 'run'",
                             &stop, &resume),
        1);
    assert_int_equal(stop, T * 1000000 + 137440);
    assert_int_equal(resume - stop, 47500);
    /* a resume with no stop before it: nothing */
    assert_int_equal(
        vcha_colo_trace_feed(&t,
                             "2026-12-05T01:55:59.000000Z colo_vm_state_change "
                             "Change 'stop' => 'run'",
                             &stop, &resume),
        0);
}

static void
test_older_log_backend_lines(void **state)
{
    struct vcha_colo_tracer t = {0};
    long long stop = 0, resume = 0;

    (void) state;
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "4242@1796435758.000100:"
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     0);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "4242@1796435758.040100:"
                                          "colo_vm_state_change Change 'stop' "
                                          "=> 'run'",
                                          &stop, &resume),
                     1);
    assert_int_equal(stop, T * 1000000 + 100);
    assert_int_equal(resume, T * 1000000 + 40100);
}

/* Without -msg timestamp=on the times are missing: said, not guessed;
 * a resume earlier than its stop (the clock stepped back) is dropped. */
/* QEMU 11 writes a time at a whole second without its fraction. */
static void
test_a_checkpoint_at_a_whole_second(void **state)
{
    struct vcha_colo_tracer t = {0};
    long long stop = 0, resume = 0;

    (void) state;
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58Z "
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     0);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.046100Z "
                                          "colo_vm_state_change Change 'stop' "
                                          "=> 'run'",
                                          &stop, &resume),
                     1);
    assert_int_equal(stop, T * 1000000);
    assert_int_equal(resume, T * 1000000 + 46100);
    /* and the resume at one */
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.953000Z "
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     0);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:59Z "
                                          "colo_vm_state_change Change 'stop' "
                                          "=> 'run'",
                                          &stop, &resume),
                     1);
    assert_int_equal(resume - stop, 47000);
}

static void
test_bad_lines(void **state)
{
    struct vcha_colo_tracer t = {0};
    long long stop = 0, resume = 0;

    (void) state;
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     -EINVAL);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.9999999Z "
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     -EINVAL);
    /* a fraction of other than six digits, or no Z */
    const char *bad[] = {
        "2026-12-05T01:55:58.13744Z colo_vm_state_change Change 'run' => "
        "'stop'",
        "2026-12-05T01:55:58.Z colo_vm_state_change Change 'run' => 'stop'",
        "2026-12-05T01:55:58.137440 colo_vm_state_change Change 'run' => "
        "'stop'",
        "2026-12-05T01:55:58 colo_vm_state_change Change 'run' => 'stop'",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(vcha_colo_trace_feed(&t, bad[i], &stop, &resume),
                         -EINVAL);
    }
    /* a name that merely contains the event's */
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.000000Z "
                                          "xcolo_vm_state_change Change "
                                          "'run' => 'stop'",
                                          &stop, &resume),
                     0);
    assert_false(t.stopped);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.500000Z "
                                          "colo_vm_state_change Change 'run' "
                                          "=> 'stop'",
                                          &stop, &resume),
                     0);
    assert_int_equal(vcha_colo_trace_feed(&t,
                                          "2026-12-05T01:55:58.400000Z "
                                          "colo_vm_state_change Change 'stop' "
                                          "=> 'run'",
                                          &stop, &resume),
                     0);
    assert_false(t.stopped);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoints_from_qemu11_lines),
        cmocka_unit_test(test_older_log_backend_lines),
        cmocka_unit_test(test_a_checkpoint_at_a_whole_second),
        cmocka_unit_test(test_bad_lines),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
