/* Unit tests for libcommon/runtime/text.c: percent-encoding. */
#include <config.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include <vcha/text.h>

static void
test_hex_digit_both_cases(void **state)
{
    (void) state;
    assert_int_equal(vcha_hex_digit('0'), 0);
    assert_int_equal(vcha_hex_digit('9'), 9);
    assert_int_equal(vcha_hex_digit('a'), 10);
    assert_int_equal(vcha_hex_digit('F'), 15);
    assert_int_equal(vcha_hex_digit('g'), -1);
    assert_int_equal(vcha_hex_digit('/'), -1);
    assert_int_equal(vcha_hex_digit('\0'), -1);
}

static void
expect_encoding(const char *in, unsigned flags, const char *want)
{
    char *e = vcha_pct_encode(in, flags);

    assert_non_null(e);
    assert_string_equal(e, want);
    free(e);
}

static void
test_encode_always_escapes_percent_and_controls(void **state)
{
    (void) state;
    expect_encoding("a%b\nc\x01\x7f d=e caf\xc3\xa9", 0,
                    "a%25b%0Ac%01%7F d=e caf\xc3\xa9");
    expect_encoding("", 0, "");
}

static void
test_encode_space_makes_one_ascii_word(void **state)
{
    (void) state;
    expect_encoding("a b\tcaf\xc3\xa9=", VCHA_PCT_SPACE, "a%20b%09caf%C3%A9=");
}

static void
test_encode_equals_for_key_value(void **state)
{
    (void) state;
    expect_encoding("k=v w", VCHA_PCT_EQUALS, "k%3Dv w");
    expect_encoding("k=v w", VCHA_PCT_EQUALS | VCHA_PCT_SPACE, "k%3Dv%20w");
}

/* what could end a URI query value, add a parameter or break the URI */
static void
test_encode_uri_keeps_only_unreserved_and_slash(void **state)
{
    (void) state;
    expect_encoding("/k dir/a&b;c#d%e+f=g?h", VCHA_PCT_URI,
                    "/k%20dir/a%26b%3Bc%23d%25e%2Bf%3Dg%3Fh");
    expect_encoding("Az09-._~/caf\xc3\xa9", VCHA_PCT_URI, "Az09-._~/caf%C3%A9");
}

static void
test_write_goes_to_the_stream(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void) state;
    assert_non_null(out);
    assert_int_equal(vcha_pct_write(out, "x y%", VCHA_PCT_SPACE), 0);
    assert_int_equal(fclose(out), 0);
    assert_string_equal(text, "x%20y%25");
    free(text);
}

static void
test_decode_inverts_encode_for_every_byte(void **state)
{
    char all[256];
    unsigned flags[] = {0, VCHA_PCT_SPACE, VCHA_PCT_EQUALS,
                        VCHA_PCT_SPACE | VCHA_PCT_EQUALS, VCHA_PCT_URI};

    (void) state;
    for (int i = 1; i < 256; i++) {
        all[i - 1] = (char) i;
    }
    all[255] = '\0';
    for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
        char *e = vcha_pct_encode(all, flags[f]);

        assert_non_null(e);
        assert_int_equal(vcha_pct_decode(e), 0);
        assert_memory_equal(e, all, 256);
        free(e);
    }
}

static void
test_decode_rejects_malformed_text(void **state)
{
    static const char *const bad[] = {"%",   "%4",  "%G1",  "a%zz",
                                      "%00", "a\n", "\x7f", "b\tc"};

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *s = strdup(bad[i]);

        assert_int_equal(vcha_pct_decode(s), -EBADMSG);
        free(s);
    }
}

static void
test_decode_takes_either_case_and_plain_text(void **state)
{
    char s[] = "%3d=%3D%41b c";

    (void) state;
    assert_int_equal(vcha_pct_decode(s), 0);
    assert_string_equal(s, "===Ab c");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_digit_both_cases),
        cmocka_unit_test(test_encode_always_escapes_percent_and_controls),
        cmocka_unit_test(test_encode_space_makes_one_ascii_word),
        cmocka_unit_test(test_encode_equals_for_key_value),
        cmocka_unit_test(test_encode_uri_keeps_only_unreserved_and_slash),
        cmocka_unit_test(test_write_goes_to_the_stream),
        cmocka_unit_test(test_decode_inverts_encode_for_every_byte),
        cmocka_unit_test(test_decode_rejects_malformed_text),
        cmocka_unit_test(test_decode_takes_either_case_and_plain_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
