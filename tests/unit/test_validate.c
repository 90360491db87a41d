/* test_validate.c: the operation's parameter shapes (ops/validate.c) and the
 * retired-type list (ops/retired.c) as shipped in data/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops.h"

#define S(x) x, strlen(x)

static void instance_ids(void **state)
{
    (void)state;
    assert_true(ops_valid_instance_id(S("i-bp1gbz20g229bvu5abcd")));
    assert_true(ops_valid_instance_id(S("i-00000000000000000000")));
    assert_false(ops_valid_instance_id(S("i-bp1gbz20g229bvu5****")));
    assert_false(ops_valid_instance_id(S("i-BP1GBZ20G229BVU5ABCD")));
    assert_false(ops_valid_instance_id(S("i-bp1gbz20g229bvu5abc")));
    assert_false(ops_valid_instance_id(S("i-bp1gbz20g229bvu5abcde")));
    assert_false(ops_valid_instance_id(S("x-bp1gbz20g229bvu5abcd")));
    assert_false(ops_valid_instance_id(S("i-../../../etc/passwd0")));
    assert_false(ops_valid_instance_id(S("")));
    assert_false(ops_valid_instance_id("i-bp1gbz20g229bvu5a\0cd", 22));
}

static void region_ids(void **state)
{
    (void)state;
    assert_true(ops_valid_region_id(S("cn-hangzhou")));
    assert_true(ops_valid_region_id(S("ap-southeast-1")));
    assert_true(ops_valid_region_id(S("cn-shanghai-finance-1")));
    assert_false(ops_valid_region_id(S("cn--hangzhou")));
    assert_false(ops_valid_region_id(S("-cn")));
    assert_false(ops_valid_region_id(S("cn-")));
    assert_false(ops_valid_region_id(S("CN-hangzhou")));
    assert_false(ops_valid_region_id(S("cn_hangzhou")));
    assert_false(ops_valid_region_id(S("c")));
    assert_false(ops_valid_region_id("cn-hang\0zhou", 12));
    char longest[66];
    memset(longest, 'a', 65);
    longest[65] = '\0';
    assert_false(ops_valid_region_id(S(longest)));
    assert_true(ops_valid_region_id(longest, 64));
}

static void booleans(void **state)
{
    (void)state;
    assert_int_equal(ops_parse_bool(S("true")), 1);
    assert_int_equal(ops_parse_bool(S("True")), 1);
    assert_int_equal(ops_parse_bool(S("FALSE")), 0);
    assert_int_equal(ops_parse_bool(S("false")), 0);
    assert_int_equal(ops_parse_bool(S("1")), -1);
    assert_int_equal(ops_parse_bool(S("yes")), -1);
    assert_int_equal(ops_parse_bool(S("")), -1);
    assert_int_equal(ops_parse_bool("true\0", 5), -1);
}

static void shipped_retired_types(void **state)
{
    (void)state;
    const char *root = getenv("ECSHOT_SOURCE_ROOT");
    assert_non_null(root);
    char path[4096];
    snprintf(path, sizeof path, "%s/data/retired-instance-types.txt", root);
    retired_types *rt = retired_types_load(path);
    assert_non_null(rt);
    assert_int_equal(retired_types_count(rt), 70);
    assert_true(retired_types_contains(rt, "ecs.t1.small"));
    assert_true(retired_types_contains(rt, "ecs.sn2.13xlarge"));
    assert_true(retired_types_contains(rt, "ecs.gn4-c8g1.4xlarge"));
    assert_true(retired_types_contains(rt, "ecs.c2.xlarge"));
    assert_false(retired_types_contains(rt, "ecs.g7.large"));
    assert_false(retired_types_contains(rt, "ecs.t1"));
    assert_false(retired_types_contains(rt, ""));
    retired_types_free(rt);
}

static void retired_file_format(void **state)
{
    (void)state;
    char path[] = "/tmp/ecshot-retired-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n\n  ecs.x.large  # trailing comment\r\necs.a.small\n", f);
    fclose(f);
    retired_types *rt = retired_types_load(path);
    assert_non_null(rt);
    assert_int_equal(retired_types_count(rt), 2);
    assert_true(retired_types_contains(rt, "ecs.x.large"));
    assert_true(retired_types_contains(rt, "ecs.a.small"));
    retired_types_free(rt);

    f = fopen(path, "w");
    fputs("ecs.x.large ecs.y.large\n", f);
    fclose(f);
    assert_null(retired_types_load(path));
    unlink(path);
    assert_null(retired_types_load(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(instance_ids),
        cmocka_unit_test(region_ids),
        cmocka_unit_test(booleans),
        cmocka_unit_test(shipped_retired_types),
        cmocka_unit_test(retired_file_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
