/* Unit tests for runtime/result.c: outcomes and their OCF exit codes. */
#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/result.h>

/* OCF 1.1, "Return codes"; hard: do not retry on this node. */
static const struct {
    enum vcha_result r;
    int ocf;
    const char *name;
    int hard;
} expected[] = {
    {VCHA_OK, 0, "OCF_SUCCESS", 0},
    {VCHA_ERR_GENERIC, 1, "OCF_ERR_GENERIC", 0},
    {VCHA_ERR_ARGS, 2, "OCF_ERR_ARGS", 1},
    {VCHA_ERR_UNIMPLEMENTED, 3, "OCF_ERR_UNIMPLEMENTED", 1},
    {VCHA_ERR_PERM, 4, "OCF_ERR_PERM", 1},
    {VCHA_ERR_INSTALLED, 5, "OCF_ERR_INSTALLED", 1},
    {VCHA_ERR_CONFIGURED, 6, "OCF_ERR_CONFIGURED", 1},
    {VCHA_NOT_RUNNING, 7, "OCF_NOT_RUNNING", 0},
    {VCHA_RUNNING_PROMOTED, 8, "OCF_RUNNING_PROMOTED", 0},
    {VCHA_FAILED_PROMOTED, 9, "OCF_FAILED_PROMOTED", 0},
    {VCHA_DEGRADED, 190, "OCF_DEGRADED", 0},
    {VCHA_DEGRADED_PROMOTED, 191, "OCF_DEGRADED_PROMOTED", 0},
};

#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

/* Values no enumerator has: must not index past the table. */
static const int out_of_range[] = {-1, -1000, 12, 13, 255, 100000};

#define N_OUT_OF_RANGE (sizeof(out_of_range) / sizeof(out_of_range[0]))

static void
test_every_result_maps_to_its_ocf_code(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        assert_int_equal(vcha_result_to_ocf(expected[i].r), expected[i].ocf);
    }
}

static void
test_every_result_has_its_ocf_name(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        assert_string_equal(vcha_result_name(expected[i].r), expected[i].name);
    }
}

static void
test_enum_values_are_the_table_order(void **state)
{
    (void) state;
    /* the enum is dense from 0: the table above covers all of it */
    for (size_t i = 0; i < N_EXPECTED; i++) {
        assert_int_equal(expected[i].r, i);
    }
}

static void
test_out_of_range_maps_to_generic_error(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_OUT_OF_RANGE; i++) {
        enum vcha_result r = (enum vcha_result) out_of_range[i];

        assert_int_equal(vcha_result_to_ocf(r), 1);
        assert_string_equal(vcha_result_name(r), "OCF_ERR_GENERIC");
    }
}

static void
test_hard_errors_are_the_local_and_config_errors(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        assert_int_equal(vcha_result_is_hard(expected[i].r), expected[i].hard);
    }
}

static void
test_out_of_range_is_not_hard(void **state)
{
    (void) state;
    for (size_t i = 0; i < N_OUT_OF_RANGE; i++) {
        enum vcha_result r = (enum vcha_result) out_of_range[i];

        assert_int_equal(vcha_result_is_hard(r), 0);
    }
}

static void
test_promoted_outcomes(void **state)
{
    static const struct {
        enum vcha_result r, promoted;
    } cases[] = {
        {VCHA_OK, VCHA_RUNNING_PROMOTED},
        {VCHA_DEGRADED, VCHA_DEGRADED_PROMOTED},
        {VCHA_ERR_GENERIC, VCHA_FAILED_PROMOTED},
        {VCHA_NOT_RUNNING, VCHA_NOT_RUNNING},
        {VCHA_ERR_CONFIGURED, VCHA_ERR_CONFIGURED},
        {VCHA_ERR_INSTALLED, VCHA_ERR_INSTALLED},
        {VCHA_RUNNING_PROMOTED, VCHA_RUNNING_PROMOTED},
        {VCHA_FAILED_PROMOTED, VCHA_FAILED_PROMOTED},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(vcha_result_promoted(cases[i].r), cases[i].promoted);
    }
    assert_int_equal(vcha_result_to_ocf(vcha_result_promoted(VCHA_OK)), 8);
    assert_int_equal(vcha_result_to_ocf(vcha_result_promoted(VCHA_ERR_GENERIC)),
                     9);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_result_maps_to_its_ocf_code),
        cmocka_unit_test(test_every_result_has_its_ocf_name),
        cmocka_unit_test(test_enum_values_are_the_table_order),
        cmocka_unit_test(test_out_of_range_maps_to_generic_error),
        cmocka_unit_test(test_hard_errors_are_the_local_and_config_errors),
        cmocka_unit_test(test_out_of_range_is_not_hard),
        cmocka_unit_test(test_promoted_outcomes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
