/* test_params.c: query-string and form decoding (api/params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/params.h"

static void decodes_pairs_in_order(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    const char *q = "RegionId=cn-hangzhou&InstanceId=i-abc&WakeUp=false";
    assert_int_equal(params_decode(&pl, q, strlen(q), 0), 0);
    assert_int_equal(pl.count, 3);
    assert_string_equal(pl.items[0].name, "RegionId");
    assert_string_equal(pl.items[0].value, "cn-hangzhou");
    assert_string_equal(params_get(&pl, "WakeUp"), "false");
    assert_null(params_get(&pl, "Format"));
    assert_int_equal(pl.items[2].from_body, 0);
    params_free(&pl);
}

static void plus_is_space_and_escapes_decode(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    const char *q = "a=x+y%20z&b%3D=%2A%7e&c=%e4%b8%ad";
    assert_int_equal(params_decode(&pl, q, strlen(q), 1), 0);
    assert_string_equal(params_get(&pl, "a"), "x y z");
    assert_string_equal(params_get(&pl, "b="), "*~");
    assert_string_equal(params_get(&pl, "c"), "\xe4\xb8\xad");
    assert_int_equal(pl.items[0].from_body, 1);
    params_free(&pl);
}

static void empty_values_and_pieces(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    const char *q = "SignatureType=&&flag&x=1&";
    assert_int_equal(params_decode(&pl, q, strlen(q), 0), 0);
    assert_int_equal(pl.count, 3);
    assert_string_equal(params_get(&pl, "SignatureType"), "");
    assert_string_equal(params_get(&pl, "flag"), "");
    assert_string_equal(params_get(&pl, "x"), "1");
    assert_int_equal(params_decode(&pl, "", 0, 0), 0);
    assert_int_equal(pl.count, 3);
    params_free(&pl);
}

static void nul_byte_is_kept_with_its_length(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    const char *q = "InstanceId=i-%00abc";
    assert_int_equal(params_decode(&pl, q, strlen(q), 0), 0);
    const param *p = params_find(&pl, "InstanceId");
    assert_non_null(p);
    assert_int_equal(p->value_len, 6);
    assert_int_equal(p->value[2], '\0');
    params_free(&pl);
}

static void malformed_escapes_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"a=%", "a=%4", "a=%zz", "%g1=x", "a=1&b=%2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        param_list pl = PARAM_LIST_INIT;
        assert_int_equal(params_decode(&pl, bad[i], strlen(bad[i]), 0), -1);
        params_free(&pl);
    }
}

static void too_many_parameters_are_refused(void **state)
{
    (void)state;
    char q[PARAMS_MAX * 8 + 16];
    size_t n = 0;
    for (int i = 0; i <= PARAMS_MAX; i++)
        n += (size_t)snprintf(q + n, sizeof q - n, "p%d=1&", i);
    param_list pl = PARAM_LIST_INIT;
    assert_int_equal(params_decode(&pl, q, n, 0), -1);
    params_free(&pl);
}

static void duplicates_are_found(void **state)
{
    (void)state;
    param_list pl = PARAM_LIST_INIT;
    const char *q = "a=1&b=2";
    const char *body = "c=3&a=4";
    assert_int_equal(params_decode(&pl, q, strlen(q), 0), 0);
    assert_null(params_duplicate(&pl));
    assert_int_equal(params_decode(&pl, body, strlen(body), 1), 0);
    assert_string_equal(params_duplicate(&pl), "a");
    assert_string_equal(params_get(&pl, "a"), "1");
    params_free(&pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decodes_pairs_in_order),
        cmocka_unit_test(plus_is_space_and_escapes_decode),
        cmocka_unit_test(empty_values_and_pieces),
        cmocka_unit_test(nul_byte_is_kept_with_its_length),
        cmocka_unit_test(malformed_escapes_are_refused),
        cmocka_unit_test(too_many_parameters_are_refused),
        cmocka_unit_test(duplicates_are_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
