/* test_timeutil.c: the strict timestamp form of Timestamp and x-acs-date.
 *
 * iso8601_parse decides InvalidTimeStamp.Format, so it must accept exactly
 * "yyyy-MM-ddTHH:mm:ssZ" naming a real UTC second and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "util/timeutil.h"

static void assert_parses(const char *s, long long expected)
{
    time_t t = 12345;
    assert_int_equal(iso8601_parse(s, &t), 0);
    assert_int_equal((long long)t, expected);
}

static void assert_refused(const char *s)
{
    time_t t = 12345;
    assert_int_equal(iso8601_parse(s, &t), -1);
    assert_int_equal((long long)t, 12345); /* untouched on failure */
}

static void test_valid(void **state)
{
    (void)state;
    assert_parses("1970-01-01T00:00:00Z", 0);
    assert_parses("2024-01-01T00:00:00Z", 1704067200);
    assert_parses("2016-02-23T12:46:24Z", 1456231584);
    assert_parses("2023-10-26T10:22:32Z", 1698315752);
    assert_parses("2024-02-29T23:59:59Z", 1709251199); /* leap year */
    assert_parses("2000-02-29T12:00:00Z", 951825600);  /* divisible by 400 */
    assert_parses("2099-12-31T23:59:59Z", 4102444799LL);
}

static void test_wrong_lengths(void **state)
{
    (void)state;
    assert_refused(NULL);
    assert_refused("");
    assert_refused("2024-01-01T00:00:00");      /* 19: no Z */
    assert_refused("2024-01-01T00:00:00ZZ");    /* 21 */
    assert_refused("2024-01-01T00:00:00.000Z"); /* fractions */
    assert_refused("2024-01-01T00:00:00+00:00");
    assert_refused("2024-1-01T00:00:00Z");
    assert_refused("24-01-01T00:00:00Z");
    assert_refused("20240101T000000Z");
    assert_refused("2024-01-01");
}

static void test_not_real_dates(void **state)
{
    (void)state;
    assert_refused("2023-02-29T00:00:00Z"); /* 2023 is no leap year */
    assert_refused("1900-02-29T00:00:00Z"); /* nor 1900 (and before 1970) */
    assert_refused("2024-04-31T00:00:00Z");
    assert_refused("2024-13-01T00:00:00Z");
    assert_refused("2024-00-01T00:00:00Z");
    assert_refused("2024-01-00T00:00:00Z");
    assert_refused("2024-01-32T00:00:00Z");
    assert_refused("2024-01-01T24:00:00Z");
    assert_refused("2024-01-01T23:60:00Z");
    assert_refused("2024-01-01T23:59:60Z"); /* leap seconds are not a form clients send */
    assert_refused("1969-12-31T23:59:59Z");
}

static void test_wrong_separators(void **state)
{
    (void)state;
    assert_refused("2024-01-01t00:00:00Z");
    assert_refused("2024-01-01T00:00:00z");
    assert_refused("2024-01-01 00:00:00Z");
    assert_refused("2024/01/01T00:00:00Z");
    assert_refused("2024-01-01T00.00.00Z");
    assert_refused("2024-01-01T00:00:0 Z");
    assert_refused("2024-01-01T00:00:+1Z");
    assert_refused("2024-0a-01T00:00:00Z");
    assert_refused("-024-01-01T00:00:00Z");
    assert_refused(" 024-01-01T00:00:00Z");
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char out[ISO8601_LEN + 1];
    iso8601_format(1704067200, out);
    assert_string_equal(out, "2024-01-01T00:00:00Z");
    iso8601_format(1709251199, out);
    assert_string_equal(out, "2024-02-29T23:59:59Z");
    time_t t;
    assert_int_equal(iso8601_parse(out, &t), 0);
    assert_int_equal((long long)t, 1709251199);
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t a = clock_monotonic_ms(), b = clock_monotonic_ms();
    assert_true(b >= a);
    /* The wall clock is after 2024 on any machine that runs these tests. */
    assert_true(clock_wall_ms() > 1704067200LL * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_wrong_lengths),
        cmocka_unit_test(test_not_real_dates),
        cmocka_unit_test(test_wrong_separators),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
