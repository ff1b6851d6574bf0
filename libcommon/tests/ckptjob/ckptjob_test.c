/*
 * Unit tests for runtime/jobdef.c and checkpoint/ckptjob.c: a job type's
 * one parameter table, and the checkpoint job's contract.
 */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after stdarg, stddef, setjmp, stdint */

#include <vcha/ckptjob.h>
#include <vcha/jobdef.h>

#include "../test-util.h"

/* The parameters criuct sends, each replaceable. */
static struct vcha_kv *
good_params(void)
{
    struct vcha_kv *kv = vcha_kv_new();

    assert_int_equal(vcha_kv_set(kv, "container", "web1"), 0);
    assert_int_equal(vcha_kv_set(kv, "lxcpath", "/var/lib/lxc"), 0);
    assert_int_equal(vcha_kv_set(kv, "store", "/srv/ckpt/web1"), 0);
    assert_int_equal(vcha_kv_set(kv, "keep", "3"), 0);
    assert_int_equal(vcha_kv_set(kv, "compress", "auto"), 0);
    return kv;
}

/* Parse @p kv with @p key set to @p value (NULL: removed); the result. */
static int
parse_with(const char *key, const char *value, char *why, size_t len)
{
    struct vcha_kv *kv = good_params(), *copy = vcha_kv_new();
    struct vcha_params *p = (struct vcha_params *) 1;
    int rc;

    for (size_t i = 0; i < vcha_kv_count(kv); i++) {
        if (strcmp(vcha_kv_key(kv, i), key) != 0) {
            vcha_kv_set(copy, vcha_kv_key(kv, i), vcha_kv_value(kv, i));
        }
    }
    if (value != NULL) {
        vcha_kv_set(copy, key, value);
    }
    why[0] = '\0';
    rc = vcha_job_params_parse(&vcha_ckpt_job, copy, &p, why, len);
    if (rc < 0) {
        assert_null(p);
    }
    vcha_params_free(p);
    vcha_kv_free(copy);
    vcha_kv_free(kv);
    return rc;
}

static void
test_good_parameters_parse(void **state)
{
    struct vcha_kv *kv = good_params();
    struct vcha_params *p = NULL;
    char why[256] = "";

    (void) state;
    /* the registry's keys, and one of a newer agent, are left alone */
    vcha_kv_set(kv, "interval_ms", "30000");
    vcha_kv_set(kv, "some_future_key", "x");
    assert_int_equal(
        vcha_job_params_parse(&vcha_ckpt_job, kv, &p, why, sizeof(why)), 0);
    assert_string_equal(vcha_param_str(p, VCHA_CKPT_CONTAINER), "web1");
    assert_string_equal(vcha_param_str(p, VCHA_CKPT_STORE), "/srv/ckpt/web1");
    assert_int_equal(vcha_param_num(p, VCHA_CKPT_KEEP), 3);
    assert_string_equal(vcha_param_str(p, VCHA_CKPT_COMPRESS), "auto");
    vcha_params_free(p);
    vcha_kv_free(kv);
}

/* What criuct's keep allows, the job allows: at least 2, at most 1000. */
static void
test_keep_bounds_are_the_agents(void **state)
{
    char why[256];

    (void) state;
    assert_int_equal(parse_with("keep", "1", why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "'keep'"));
    assert_int_equal(parse_with("keep", "2", why, sizeof(why)), 0);
    assert_int_equal(parse_with("keep", "1000", why, sizeof(why)), 0);
    assert_int_equal(parse_with("keep", "1001", why, sizeof(why)), -EINVAL);
    assert_int_equal(parse_with("keep", "three", why, sizeof(why)), -EINVAL);
}

static void
test_bad_parameters_name_themselves(void **state)
{
    static const struct {
        const char *key, *value;
    } bad[] = {
        {"container", NULL},  {"container", "../x"}, {"container", ".x"},
        {"lxcpath", "lxc"},   {"store", NULL},       {"store", "srv/ckpt"},
        {"compress", "gzip"}, {"keep", NULL},        {"compress", NULL},
    };
    char why[256];

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char quoted[64];

        assert_int_equal(parse_with(bad[i].key, bad[i].value, why, sizeof(why)),
                         -EINVAL);
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i].key);
        assert_non_null(strstr(why, quoted));
    }
}

static void
test_container_name_check(void **state)
{
    char why[256] = "";
    char long_name[80];

    (void) state;
    assert_int_equal(vcha_ct_name_check("web-1.example", why, sizeof(why)), 0);
    assert_int_equal(vcha_ct_name_check("a/b", why, sizeof(why)), -EINVAL);
    assert_int_equal(vcha_ct_name_check("", why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "container name"));
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    assert_int_equal(vcha_ct_name_check(long_name, why, sizeof(why)), -EINVAL);
    long_name[64] = '\0';
    assert_int_equal(vcha_ct_name_check(long_name, why, sizeof(why)), 0);
}

/* A check across parameters runs after the table, and its refusal frees. */
static int
refuse_web(const struct vcha_params *p, char *why, size_t whylen)
{
    if (strcmp(vcha_param_str(p, 0), "web") == 0) {
        snprintf(why, whylen, "name 'web' is taken");
        return -EEXIST;
    }
    return 0;
}

static void
test_check_across_parameters(void **state)
{
    static const struct vcha_param_def defs[] = {
        {.name = "name", .type = VCHA_PT_STRING, .required = true},
    };
    static const struct vcha_job_def def = {
        .type = "t", .params = defs, .n_params = 1, .check = refuse_web};
    struct vcha_kv *kv = vcha_kv_new();
    struct vcha_params *p = (struct vcha_params *) 1;
    char why[256] = "";

    (void) state;
    vcha_kv_set(kv, "name", "web");
    assert_int_equal(vcha_job_params_parse(&def, kv, &p, why, sizeof(why)),
                     -EEXIST);
    assert_null(p);
    assert_string_equal(why, "name 'web' is taken");
    vcha_kv_set(kv, "name", "db");
    assert_int_equal(vcha_job_params_parse(&def, kv, &p, why, sizeof(why)), 0);
    assert_string_equal(vcha_param_str(p, 0), "db");
    vcha_params_free(p);
    vcha_kv_free(kv);
}

/* zstd and none as they say; auto measures the store (empty: raw). */
static void
test_compress_choice_is_one_for_both_sides(void **state)
{
    char *dir = test_tmpdir_new();

    (void) state;
    assert_int_equal(vcha_ckpt_compress("zstd", dir), VCHA_CT_COMPRESS_ZSTD);
    assert_int_equal(vcha_ckpt_compress("none", dir), VCHA_CT_COMPRESS_NONE);
    assert_int_equal(vcha_ckpt_compress("auto", dir),
                     vcha_ct_compress_auto(dir));
    assert_int_equal(vcha_ckpt_compress("auto", dir), VCHA_CT_COMPRESS_NONE);
    test_tmpdir_remove(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_parameters_parse),
        cmocka_unit_test(test_keep_bounds_are_the_agents),
        cmocka_unit_test(test_bad_parameters_name_themselves),
        cmocka_unit_test(test_container_name_check),
        cmocka_unit_test(test_check_across_parameters),
        cmocka_unit_test(test_compress_choice_is_one_for_both_sides),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
