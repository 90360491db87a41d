/* test_ram.c: RAM policy wildcards, validation and evaluation (ram/ram.h).
 *
 * Documents are written with single quotes for readability; doc() turns
 * them into JSON. Every validation failure is checked by its exact reason,
 * since operators read those reasons when a policy is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ram/ram.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#define ACTION "ecs:GetInstanceScreenshot"
#define RESOURCE "acs:ecs:cn-hangzhou:1234:instance/i-bp1abcdefghijklmnopq"
#define JUNE_2024 1717200000LL /* 2024-06-01T00:00:00Z */

/* ---- fixtures ---------------------------------------------------------- */

/* A small ring of buffers, so that a test may hold a few documents at once. */
static const char *doc(const char *single_quoted)
{
    static char ring[8][8192];
    static unsigned next;
    char *out = ring[next++ % 8];
    size_t n = strlen(single_quoted);
    assert_true(n < sizeof ring[0]);
    for (size_t i = 0; i <= n; i++)
        out[i] = single_quoted[i] == '\'' ? '"' : single_quoted[i];
    return out;
}

static const char *const tag_keys[] = {"env", "team", "size", "flag", "when"};
static const char *const tag_values[] = {"prod", "Blue", "42", "True", "2024-01-01T00:00:00Z"};

static ram_request_context base_context(void)
{
    ram_request_context c = {
        .source_ip = "10.1.2.3",
        .secure_transport = 1,
        .current_time = JUNE_2024,
        .mfa_present = 0,
        .user_agent = "AlibabaCloud (Linux; amd64) Java/1.8.0_152 Core/4.5.2",
        .tag_keys = tag_keys,
        .tag_values = tag_values,
        .tag_count = 5,
    };
    return c;
}

static ram_decision eval_ctx(const char *d, const ram_request_context *ctx)
{
    return ram_policy_evaluate(d, ACTION, RESOURCE, ctx);
}

static ram_decision eval(const char *d)
{
    ram_request_context c = base_context();
    return eval_ctx(d, &c);
}

/* An Allow-everything statement guarded by one Condition block. */
static const char *allow_if(const char *condition)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{'Version':'1','Statement':[{'Effect':'Allow','Action':'*','Resource':'*',"
             "'Condition':%s}]}",
             condition);
    return doc(text);
}

static int holds(const char *condition)
{
    ram_request_context c = base_context();
    return eval_ctx(allow_if(condition), &c) == RAM_ALLOW;
}

static int holds_ctx(const char *condition, const ram_request_context *ctx)
{
    return eval_ctx(allow_if(condition), ctx) == RAM_ALLOW;
}

static void assert_valid(const char *d)
{
    buf why = BUF_INIT;
    int rc = ram_policy_validate(d, &why);
    if (rc != 0)
        fail_msg("unexpectedly invalid: %s", buf_cstr(&why));
    assert_int_equal(why.len, 0);
    buf_free(&why);
}

static void assert_invalid(const char *d, const char *reason)
{
    buf why = BUF_INIT;
    assert_int_equal(ram_policy_validate(d, &why), -1);
    assert_string_equal(buf_cstr(&why), reason);
    buf_free(&why);
    /* What does not validate grants nothing and denies nothing. */
    assert_int_equal(eval(d), RAM_IMPLICIT_DENY);
}

static void assert_invalid_prefix(const char *d, const char *prefix)
{
    buf why = BUF_INIT;
    assert_int_equal(ram_policy_validate(d, &why), -1);
    if (strncmp(buf_cstr(&why), prefix, strlen(prefix)) != 0)
        fail_msg("reason \"%s\" does not start with \"%s\"", buf_cstr(&why), prefix);
    buf_free(&why);
    assert_int_equal(eval(d), RAM_IMPLICIT_DENY);
}

/* ---- wildcards --------------------------------------------------------- */

static void test_wildcard_basics(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *text;
        int ignore_case, want;
    } cases[] = {
        {"", "", 0, 1},
        {"", "a", 0, 0},
        {"*", "", 0, 1},
        {"*", "anything at all", 0, 1},
        {"**", "", 0, 1},
        {"?", "", 0, 0},
        {"?", "a", 0, 1},
        {"?", "ab", 0, 0},
        {"??", "ab", 0, 1},
        {"a*", "a", 0, 1},
        {"a*", "abc", 0, 1},
        {"a*", "ba", 0, 0},
        {"*c", "abc", 0, 1},
        {"*c", "abcd", 0, 0},
        {"a*c", "ac", 0, 1},
        {"a*c", "abbbc", 0, 1},
        {"a*c", "abbbcd", 0, 0},
        {"a*b*c", "axxbyyc", 0, 1},
        {"a*b*c", "axxcyyb", 0, 0},
        {"a?c", "abc", 0, 1},
        {"a?c", "ac", 0, 0},
        {"*?", "", 0, 0},
        {"*?", "x", 0, 1},
        {"?*?", "x", 0, 0},
        {"?*?", "xy", 0, 1},
        {"*a*", "bbb", 0, 0},
        {"*ab", "aab", 0, 1},
        {"*aab", "aaab", 0, 1},
        {"a*ba*b", "abababab", 0, 1},
        {"ecs:Get*", "ecs:GetInstanceScreenshot", 0, 1},
        {"ecs:get*", "ecs:GetInstanceScreenshot", 0, 0},
        {"ecs:get*", "ecs:GetInstanceScreenshot", 1, 1},
        {"ECS:GETINSTANCESCREENSHOT", "ecs:getinstancescreenshot", 1, 1},
        {"ecs:GetInstance?creenshot", "ecs:GetInstanceScreenshot", 0, 1},
        {"abc", "ABC", 0, 0},
        {"abc", "ABC", 1, 1},
        {"a*", "ABC", 1, 1},
        {"\xc3\xa9", "\xc3\xa9", 0, 1},
        {"?\xa9", "\xc3\xa9", 0, 1},
        /* Only ASCII letters fold: bytes of UTF-8 text stay as they are. */
        {"\xc3\xa9", "\xc3\x89", 1, 0},
        {"acs:ecs:*:*:instance/*", RESOURCE, 0, 1},
        {"acs:ecs:cn-hangzhou:1234:instance/i-*", RESOURCE, 0, 1},
        {"acs:ecs:cn-hangzhou:1234:instance/i-*", "acs:ecs:cn-hangzhou:12345:instance/i-x", 0, 0},
        {"acs:ecs:cn-hangzhou:*:instance/i-bp1abcdefghijklmnop?", RESOURCE, 0, 1},
        {"acs:ecs:cn-hangzhou:*:instance/i-bp1abcdefghijklmnop", RESOURCE, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = ram_wildcard_match(cases[i].pattern, cases[i].text, cases[i].ignore_case);
        if (got != cases[i].want)
            fail_msg("case %zu: match(\"%s\", \"%s\", %d) = %d", i, cases[i].pattern,
                     cases[i].text, cases[i].ignore_case, got);
    }
    assert_int_equal(ram_wildcard_match(NULL, "a", 0), 0);
    assert_int_equal(ram_wildcard_match("a", NULL, 0), 0);
}

/* Backtracking matchers take exponential time on these; ours must not. */
static void test_wildcard_pathological(void **state)
{
    (void)state;
    size_t n = 60000;
    char *text = malloc(n + 2);
    assert_non_null(text);
    memset(text, 'a', n);
    text[n] = '\0';

    int64_t start = clock_monotonic_ms();
    assert_int_equal(ram_wildcard_match("a*a*a*a*a*b", text, 0), 0);
    assert_int_equal(ram_wildcard_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text, 1), 0);
    assert_int_equal(ram_wildcard_match("*?*?*?*?*?*?*?*?*?*b", text, 0), 0);
    assert_int_equal(ram_wildcard_match("a*a*a*a*a*a", text, 0), 1);
    text[n] = 'b';
    text[n + 1] = '\0';
    assert_int_equal(ram_wildcard_match("a*a*a*a*a*b", text, 0), 1);
    assert_int_equal(ram_wildcard_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text, 1), 1);
    int64_t elapsed = clock_monotonic_ms() - start;
    /* Linear work per star is a few milliseconds; exponential never ends.
     * The bound is loose enough for a sanitized, loaded machine. */
    assert_true(elapsed < 5000);
    free(text);
}

/* ---- Allow, Deny and their combination --------------------------------- */

static void test_simple_allow(void **state)
{
    (void)state;
    const char *d = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                        "'Action':'ecs:GetInstanceScreenshot','Resource':'*'}]}");
    assert_valid(d);
    assert_int_equal(eval(d), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(d, "ecs:DescribeInstances", RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(d, "ecs:GetInstanceScreenshotX", RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(d, NULL, RESOURCE, NULL), RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(d, ACTION, NULL, NULL), RAM_IMPLICIT_DENY);
}

static void test_action_case_insensitive(void **state)
{
    (void)state;
    const char *d = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                        "'Action':'ecs:GetInstanceScreenshot','Resource':'*'}]}");
    assert_int_equal(ram_policy_evaluate(d, "ECS:getinstancescreenshot", RESOURCE, NULL),
                     RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(d, "ecs:GETINSTANCESCREENSHOT", RESOURCE, NULL),
                     RAM_ALLOW);
    const char *upper = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                            "'Action':'ECS:GET*','Resource':'*'}]}");
    assert_int_equal(eval(upper), RAM_ALLOW);
    const char *wild = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                           "'Action':'ecs:*Screenshot','Resource':'*'}]}");
    assert_int_equal(eval(wild), RAM_ALLOW);
    const char *other = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                            "'Action':'vpc:*','Resource':'*'}]}");
    assert_int_equal(eval(other), RAM_IMPLICIT_DENY);
}

static void test_resource_patterns(void **state)
{
    (void)state;
    const char *region = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:*',"
                             "'Resource':'acs:ecs:cn-hangzhou:1234:instance/i-*'}]}");
    assert_int_equal(eval(region), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(region, ACTION, "acs:ecs:cn-beijing:1234:instance/i-x",
                                         NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(region, ACTION, "acs:ecs:cn-hangzhou:9999:instance/i-x",
                                         NULL),
                     RAM_IMPLICIT_DENY);

    const char *any = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:*',"
                          "'Resource':'acs:ecs:*:*:instance/*'}]}");
    assert_int_equal(eval(any), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(any, ACTION, "acs:ecs:ap-southeast-1:5678:instance/i-y",
                                         NULL),
                     RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(any, ACTION, "acs:ecs:cn-hangzhou:1234:disk/d-1", NULL),
                     RAM_IMPLICIT_DENY);

    const char *exact = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:*',"
                            "'Resource':'" RESOURCE "'}]}");
    assert_int_equal(eval(exact), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(exact, ACTION, RESOURCE "x", NULL), RAM_IMPLICIT_DENY);
}

static void test_resource_case_sensitive(void **state)
{
    (void)state;
    const char *upper_id = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:*',"
                               "'Resource':'acs:ecs:cn-hangzhou:1234:instance/I-*'}]}");
    assert_int_equal(eval(upper_id), RAM_IMPLICIT_DENY);
    const char *upper_all = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:*',"
                                "'Resource':'ACS:ECS:*:*:INSTANCE/*'}]}");
    assert_int_equal(eval(upper_all), RAM_IMPLICIT_DENY);
    /* A Deny written in the wrong case does not deny either. */
    const char *deny_upper = doc("{'Version':'1','Statement':["
                                 "{'Effect':'Allow','Action':'*','Resource':'*'},"
                                 "{'Effect':'Deny','Action':'*','Resource':'ACS:*'}]}");
    assert_int_equal(eval(deny_upper), RAM_ALLOW);
}

static void test_explicit_deny_beats_allow(void **state)
{
    (void)state;
    const char *deny_last = doc("{'Version':'1','Statement':["
                                "{'Effect':'Allow','Action':'*','Resource':'*'},"
                                "{'Effect':'Deny','Action':'ecs:GetInstanceScreenshot',"
                                "'Resource':'acs:ecs:*:*:instance/*'}]}");
    assert_int_equal(eval(deny_last), RAM_EXPLICIT_DENY);
    const char *deny_first = doc("{'Version':'1','Statement':["
                                 "{'Effect':'Deny','Action':'ecs:Get*','Resource':'*'},"
                                 "{'Effect':'Allow','Action':'*','Resource':'*'}]}");
    assert_int_equal(eval(deny_first), RAM_EXPLICIT_DENY);
    /* A Deny that does not match leaves the Allow standing. */
    assert_int_equal(ram_policy_evaluate(deny_first, "ecs:StartInstance", RESOURCE, NULL),
                     RAM_ALLOW);
    const char *deny_only = doc("{'Version':'1','Statement':["
                                "{'Effect':'Deny','Action':'*','Resource':'*'}]}");
    assert_int_equal(eval(deny_only), RAM_EXPLICIT_DENY);
    const char *deny_other = doc("{'Version':'1','Statement':["
                                 "{'Effect':'Deny','Action':'ram:*','Resource':'*'}]}");
    assert_int_equal(eval(deny_other), RAM_IMPLICIT_DENY);
}

static void test_across_documents(void **state)
{
    (void)state;
    const char *allow = doc("{'Version':'1','Statement':["
                            "{'Effect':'Allow','Action':'ecs:*','Resource':'*'}]}");
    const char *deny = doc("{'Version':'1','Statement':["
                           "{'Effect':'Deny','Action':'ecs:GetInstanceScreenshot',"
                           "'Resource':'*'}]}");
    const char *unrelated = doc("{'Version':'1','Statement':["
                                "{'Effect':'Allow','Action':'oss:*','Resource':'*'}]}");
    const char *broken = "{\"Version\":";

    const char *allow_deny[] = {allow, deny};
    const char *deny_allow[] = {deny, allow};
    const char *allow_unrelated[] = {unrelated, allow};
    const char *broken_allow[] = {broken, allow};
    const char *unrelated_only[] = {unrelated};
    const char *with_null[] = {NULL, allow};

    assert_int_equal(ram_policies_evaluate(allow_deny, 2, ACTION, RESOURCE, NULL),
                     RAM_EXPLICIT_DENY);
    assert_int_equal(ram_policies_evaluate(deny_allow, 2, ACTION, RESOURCE, NULL),
                     RAM_EXPLICIT_DENY);
    assert_int_equal(ram_policies_evaluate(allow_unrelated, 2, ACTION, RESOURCE, NULL),
                     RAM_ALLOW);
    assert_int_equal(ram_policies_evaluate(broken_allow, 2, ACTION, RESOURCE, NULL), RAM_ALLOW);
    assert_int_equal(ram_policies_evaluate(unrelated_only, 1, ACTION, RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policies_evaluate(with_null, 2, ACTION, RESOURCE, NULL), RAM_ALLOW);
    assert_int_equal(ram_policies_evaluate(allow_deny, 0, ACTION, RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policies_evaluate(NULL, 3, ACTION, RESOURCE, NULL), RAM_IMPLICIT_DENY);
    /* Only the documents counted are read. */
    assert_int_equal(ram_policies_evaluate(allow_deny, 1, ACTION, RESOURCE, NULL), RAM_ALLOW);
}

static void test_not_action_not_resource(void **state)
{
    (void)state;
    const char *not_action = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                                 "'NotAction':'ecs:Delete*','Resource':'*'}]}");
    assert_valid(not_action);
    assert_int_equal(eval(not_action), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(not_action, "ecs:DeleteInstance", RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(not_action, "ECS:DELETEINSTANCE", RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);

    const char *not_resource = doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                                   "'NotResource':['acs:ecs:*:*:instance/i-secret*',"
                                   "'acs:ecs:cn-beijing:*']}]}");
    assert_int_equal(eval(not_resource), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(not_resource, ACTION,
                                         "acs:ecs:cn-hangzhou:1234:instance/i-secret1", NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(not_resource, ACTION,
                                         "acs:ecs:cn-beijing:1234:instance/i-x", NULL),
                     RAM_IMPLICIT_DENY);

    /* Deny everything except screenshots. */
    const char *deny_not = doc("{'Version':'1','Statement':["
                               "{'Effect':'Allow','Action':'*','Resource':'*'},"
                               "{'Effect':'Deny','NotAction':['ecs:GetInstanceScreenshot',"
                               "'ecs:Describe*'],'Resource':'*'}]}");
    assert_int_equal(eval(deny_not), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(deny_not, "ecs:DescribeInstances", RESOURCE, NULL),
                     RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(deny_not, "ecs:StopInstance", RESOURCE, NULL),
                     RAM_EXPLICIT_DENY);
}

static void test_string_and_array_forms(void **state)
{
    (void)state;
    const char *arrays = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                             "'Action':['ecs:DescribeInstances','ecs:GetInstanceScreenshot'],"
                             "'Resource':['acs:ecs:cn-beijing:*','acs:ecs:cn-hangzhou:*']}]}");
    assert_valid(arrays);
    assert_int_equal(eval(arrays), RAM_ALLOW);
    assert_int_equal(ram_policy_evaluate(arrays, "ecs:StopInstance", RESOURCE, NULL),
                     RAM_IMPLICIT_DENY);
    assert_int_equal(ram_policy_evaluate(arrays, ACTION, "acs:ecs:cn-shanghai:1:instance/i", NULL),
                     RAM_IMPLICIT_DENY);
    const char *single = doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                             "'Action':['ecs:GetInstanceScreenshot'],'Resource':'acs:ecs:*'}]}");
    assert_int_equal(eval(single), RAM_ALLOW);
    /* Element order in the JSON object does not matter. */
    const char *shuffled = doc("{'Statement':[{'Resource':'*','Action':'*','Effect':'Allow'}],"
                               "'Version':'1'}");
    assert_valid(shuffled);
    assert_int_equal(eval(shuffled), RAM_ALLOW);
}

/* ---- conditions -------------------------------------------------------- */

static void test_condition_string_operators(void **state)
{
    (void)state;
    assert_true(holds("{'StringEquals':{'acs:ResourceTag/env':'prod'}}"));
    assert_false(holds("{'StringEquals':{'acs:ResourceTag/env':'Prod'}}"));
    assert_true(holds("{'StringEquals':{'acs:ResourceTag/env':['dev','prod']}}"));
    assert_false(holds("{'StringEquals':{'acs:ResourceTag/env':['dev','test']}}"));
    assert_true(holds("{'StringNotEquals':{'acs:ResourceTag/env':'dev'}}"));
    assert_false(holds("{'StringNotEquals':{'acs:ResourceTag/env':'prod'}}"));
    /* Not: holds only when the value matches none of the listed ones. */
    assert_false(holds("{'StringNotEquals':{'acs:ResourceTag/env':['dev','prod']}}"));
    assert_true(holds("{'StringNotEquals':{'acs:ResourceTag/env':['dev','test']}}"));

    assert_true(holds("{'StringEqualsIgnoreCase':{'acs:ResourceTag/team':'BLUE'}}"));
    assert_true(holds("{'StringEqualsIgnoreCase':{'acs:ResourceTag/team':['red','blue']}}"));
    assert_false(holds("{'StringEqualsIgnoreCase':{'acs:ResourceTag/team':'blu'}}"));
    assert_false(holds("{'StringNotEqualsIgnoreCase':{'acs:ResourceTag/team':'bLuE'}}"));
    assert_true(holds("{'StringNotEqualsIgnoreCase':{'acs:ResourceTag/team':'green'}}"));

    assert_true(holds("{'StringLike':{'acs:UserAgent':'AlibabaCloud*'}}"));
    assert_true(holds("{'StringLike':{'acs:UserAgent':['curl/*','*Java/1.8*']}}"));
    assert_false(holds("{'StringLike':{'acs:UserAgent':'alibabacloud*'}}"));
    assert_false(holds("{'StringLike':{'acs:UserAgent':'curl/*'}}"));
    assert_true(holds("{'StringNotLike':{'acs:UserAgent':'curl/*'}}"));
    assert_false(holds("{'StringNotLike':{'acs:UserAgent':['curl/*','Alibaba*']}}"));

    /* Integers and booleans compare as their text. */
    assert_true(holds("{'StringEquals':{'acs:ResourceTag/size':42}}"));
    assert_true(holds("{'StringEqualsIgnoreCase':{'acs:ResourceTag/flag':true}}"));
    assert_false(holds("{'StringEquals':{'acs:ResourceTag/flag':true}}"));
    /* Booleans of the request compare as "true"/"false", time as ISO 8601. */
    assert_true(holds("{'StringEquals':{'acs:SecureTransport':'true'}}"));
    assert_true(holds("{'StringEquals':{'acs:MFAPresent':'false'}}"));
    assert_true(holds("{'StringLike':{'acs:CurrentTime':'2024-06-01T*'}}"));
    assert_true(holds("{'StringEquals':{'acs:SourceIp':'10.1.2.3'}}"));
}

static void test_condition_numeric_operators(void **state)
{
    (void)state;
    assert_true(holds("{'NumericEquals':{'acs:ResourceTag/size':42}}"));
    assert_true(holds("{'NumericEquals':{'acs:ResourceTag/size':'42'}}"));
    assert_true(holds("{'NumericEquals':{'acs:ResourceTag/size':42.0}}"));
    assert_true(holds("{'NumericEquals':{'acs:ResourceTag/size':'4.2e1'}}"));
    assert_false(holds("{'NumericEquals':{'acs:ResourceTag/size':41}}"));
    assert_true(holds("{'NumericEquals':{'acs:ResourceTag/size':[1,42]}}"));
    assert_true(holds("{'NumericNotEquals':{'acs:ResourceTag/size':[1,2]}}"));
    assert_false(holds("{'NumericNotEquals':{'acs:ResourceTag/size':[1,42]}}"));
    assert_true(holds("{'NumericLessThan':{'acs:ResourceTag/size':43}}"));
    assert_false(holds("{'NumericLessThan':{'acs:ResourceTag/size':42}}"));
    assert_true(holds("{'NumericLessThanEquals':{'acs:ResourceTag/size':42}}"));
    assert_false(holds("{'NumericLessThanEquals':{'acs:ResourceTag/size':41.5}}"));
    assert_true(holds("{'NumericGreaterThan':{'acs:ResourceTag/size':-1}}"));
    assert_false(holds("{'NumericGreaterThan':{'acs:ResourceTag/size':42}}"));
    assert_true(holds("{'NumericGreaterThanEquals':{'acs:ResourceTag/size':42}}"));
    assert_false(holds("{'NumericGreaterThanEquals':{'acs:ResourceTag/size':42.01}}"));
    assert_true(holds("{'NumericGreaterThan':{'acs:CurrentTime':1717199999}}"));
    assert_false(holds("{'NumericGreaterThan':{'acs:CurrentTime':1717200000}}"));
    /* A request value that is no number holds for no operator. */
    assert_false(holds("{'NumericEquals':{'acs:ResourceTag/env':1}}"));
    assert_false(holds("{'NumericNotEquals':{'acs:ResourceTag/env':1}}"));
    assert_false(holds("{'NumericNotEquals':{'acs:SecureTransport':1}}"));
}

static void test_condition_date_operators(void **state)
{
    (void)state;
    assert_true(holds("{'DateEquals':{'acs:CurrentTime':'2024-06-01T00:00:00Z'}}"));
    assert_true(holds("{'DateEquals':{'acs:CurrentTime':1717200000}}"));
    assert_true(holds("{'DateEquals':{'acs:CurrentTime':'1717200000'}}"));
    assert_false(holds("{'DateEquals':{'acs:CurrentTime':'2024-06-01T00:00:01Z'}}"));
    assert_true(holds("{'DateNotEquals':{'acs:CurrentTime':'2024-06-01T00:00:01Z'}}"));
    assert_false(holds("{'DateNotEquals':{'acs:CurrentTime':['2020-01-01T00:00:00Z',"
                       "'2024-06-01T00:00:00Z']}}"));
    assert_true(holds("{'DateLessThan':{'acs:CurrentTime':'2025-01-01T00:00:00Z'}}"));
    assert_false(holds("{'DateLessThan':{'acs:CurrentTime':'2024-06-01T00:00:00Z'}}"));
    assert_true(holds("{'DateLessThanEquals':{'acs:CurrentTime':'2024-06-01T00:00:00Z'}}"));
    assert_false(holds("{'DateLessThanEquals':{'acs:CurrentTime':'2024-05-31T23:59:59Z'}}"));
    assert_true(holds("{'DateGreaterThan':{'acs:CurrentTime':'2024-05-31T23:59:59Z'}}"));
    assert_false(holds("{'DateGreaterThan':{'acs:CurrentTime':1717200000}}"));
    assert_true(holds("{'DateGreaterThanEquals':{'acs:CurrentTime':1717200000}}"));
    assert_false(holds("{'DateGreaterThanEquals':{'acs:CurrentTime':1717200001}}"));
    /* A window: both operators must hold. */
    assert_true(holds("{'DateGreaterThan':{'acs:CurrentTime':'2024-01-01T00:00:00Z'},"
                      "'DateLessThan':{'acs:CurrentTime':'2024-12-31T00:00:00Z'}}"));
    assert_false(holds("{'DateGreaterThan':{'acs:CurrentTime':'2024-07-01T00:00:00Z'},"
                       "'DateLessThan':{'acs:CurrentTime':'2024-12-31T00:00:00Z'}}"));
    /* Tags holding dates compare as dates. */
    assert_true(holds("{'DateLessThan':{'acs:ResourceTag/when':'2024-01-01T00:00:01Z'}}"));
    assert_false(holds("{'DateLessThan':{'acs:ResourceTag/env':'2024-01-01T00:00:01Z'}}"));
    assert_false(holds("{'DateNotEquals':{'acs:ResourceTag/env':'2024-01-01T00:00:01Z'}}"));
}

static void test_condition_bool(void **state)
{
    (void)state;
    assert_true(holds("{'Bool':{'acs:SecureTransport':true}}"));
    assert_true(holds("{'Bool':{'acs:SecureTransport':'true'}}"));
    assert_true(holds("{'Bool':{'acs:SecureTransport':'TRUE'}}"));
    assert_false(holds("{'Bool':{'acs:SecureTransport':false}}"));
    assert_false(holds("{'Bool':{'acs:SecureTransport':'false'}}"));
    assert_true(holds("{'Bool':{'acs:MFAPresent':false}}"));
    assert_false(holds("{'Bool':{'acs:MFAPresent':'true'}}"));
    assert_true(holds("{'Bool':{'acs:MFAPresent':[true,false]}}"));
    assert_true(holds("{'Bool':{'acs:ResourceTag/flag':true}}"));
    assert_false(holds("{'Bool':{'acs:ResourceTag/env':true}}"));
    assert_false(holds("{'Bool':{'acs:ResourceTag/env':false}}"));

    ram_request_context c = base_context();
    c.secure_transport = 0;
    c.mfa_present = 7; /* any non-zero is true */
    assert_true(holds_ctx("{'Bool':{'acs:SecureTransport':false}}", &c));
    assert_true(holds_ctx("{'Bool':{'acs:MFAPresent':true}}", &c));

    /* The usual guard: deny whatever arrives over plain HTTP. */
    const char *https_only = doc("{'Version':'1','Statement':["
                                 "{'Effect':'Allow','Action':'*','Resource':'*'},"
                                 "{'Effect':'Deny','Action':'*','Resource':'*',"
                                 "'Condition':{'Bool':{'acs:SecureTransport':'false'}}}]}");
    assert_int_equal(eval(https_only), RAM_ALLOW);
    assert_int_equal(eval_ctx(https_only, &c), RAM_EXPLICIT_DENY);
}

static void test_condition_ipv4(void **state)
{
    (void)state;
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.3'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.3/32'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.0/23'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.1.3.0/23'}}"));
    assert_false(holds("{'IpAddress':{'acs:SourceIp':'10.1.4.0/23'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.0/29'}}"));
    assert_false(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.4/30'}}"));
    assert_false(holds("{'IpAddress':{'acs:SourceIp':'10.1.2.4'}}"));
    assert_false(holds("{'IpAddress':{'acs:SourceIp':'192.168.0.0/16'}}"));
    assert_true(holds("{'IpAddress':{'acs:SourceIp':['192.168.0.0/16','10.1.0.0/16']}}"));
    assert_false(holds("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}"));
    assert_true(holds("{'NotIpAddress':{'acs:SourceIp':'192.168.0.0/16'}}"));
    assert_false(holds("{'NotIpAddress':{'acs:SourceIp':['192.168.0.0/16','10.1.2.3']}}"));
    /* An IPv6 network never contains an IPv4 address. */
    assert_false(holds("{'IpAddress':{'acs:SourceIp':'::/0'}}"));

    /* A dual-stack socket's view of an IPv4 peer. */
    ram_request_context c = base_context();
    c.source_ip = "::ffff:10.1.2.3";
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'10.1.0.0/16'}}", &c));
    assert_false(holds_ctx("{'NotIpAddress':{'acs:SourceIp':'10.1.0.0/16'}}", &c));
    /* ...and a policy's view of an IPv4 network in mapped form. */
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'::ffff:10.1.0.0/112'}}", &c));
    c.source_ip = "10.1.2.3";
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'::ffff:10.1.0.0/112'}}", &c));
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'::ffff:10.2.0.0/112'}}", &c));
    /* A request address that is not one holds for neither operator. */
    c.source_ip = "not-an-ip";
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}", &c));
    assert_false(holds_ctx("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}", &c));
    c.source_ip = "10.1.2.3/8";
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}", &c));
}

static void test_condition_ipv6(void **state)
{
    (void)state;
    ram_request_context c = base_context();
    c.source_ip = "2001:db8:85a3::8a2e:370:7334";
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8::/32'}}", &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:DB8:85A3::/48'}}", &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8:85a3::8a2e:370:7334'}}", &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8:85a3::8a2e:370:7334/128'}}",
                          &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8:85a3::8a2e:370:7300/120'}}",
                          &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8:85a3::8a2e:370:7300/122'}}",
                          &c));
    /* 0x34 is 0b00110100: the third bit of the last byte tells them apart. */
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db8:85a3::8a2e:370:7300/123'}}",
                           &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db9::/31'}}", &c));
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'2001:db9::/32'}}", &c));
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'::/0'}}", &c));
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}", &c));
    assert_false(holds_ctx("{'NotIpAddress':{'acs:SourceIp':'2001:db8::/32'}}", &c));
    assert_true(holds_ctx("{'NotIpAddress':{'acs:SourceIp':['fe80::/10','10.0.0.0/8']}}", &c));
    c.source_ip = "::1";
    assert_true(holds_ctx("{'IpAddress':{'acs:SourceIp':'::1/128'}}", &c));
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'::2'}}", &c));
}

static void test_condition_resource_tags(void **state)
{
    (void)state;
    /* The key prefix folds case; the tag key itself does not. */
    assert_true(holds("{'StringEquals':{'ACS:resourcetag/env':'prod'}}"));
    assert_false(holds("{'StringEquals':{'acs:ResourceTag/ENV':'prod'}}"));
    assert_false(holds("{'StringNotEquals':{'acs:ResourceTag/ENV':'prod'}}"));
    assert_true(holds("{'StringEquals':{'acs:ResourceTag/env':'prod',"
                      "'acs:ResourceTag/team':'Blue'}}"));
    /* Keys within an operator AND. */
    assert_false(holds("{'StringEquals':{'acs:ResourceTag/env':'prod',"
                       "'acs:ResourceTag/team':'Red'}}"));

    const char *keys[] = {"env", "env", NULL, "odd"};
    const char *values[] = {"first", "second", "x", NULL};
    ram_request_context c = base_context();
    c.tag_keys = keys;
    c.tag_values = values;
    c.tag_count = 4;
    assert_true(holds_ctx("{'StringEquals':{'acs:ResourceTag/env':'first'}}", &c));
    assert_false(holds_ctx("{'StringNotEquals':{'acs:ResourceTag/odd':'x'}}", &c));
    c.tag_count = 0;
    assert_false(holds_ctx("{'StringEquals':{'acs:ResourceTag/env':'first'}}", &c));
    c.tag_count = 4;
    c.tag_values = NULL;
    assert_false(holds_ctx("{'StringNotEquals':{'acs:ResourceTag/env':'x'}}", &c));
}

static void test_condition_absent_keys(void **state)
{
    (void)state;
    ram_request_context c = base_context();
    c.source_ip = NULL;
    c.user_agent = NULL;
    c.current_time = 0;
    /* Absent: neither the positive nor the negated operator holds. */
    assert_false(holds_ctx("{'IpAddress':{'acs:SourceIp':'0.0.0.0/0'}}", &c));
    assert_false(holds_ctx("{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}", &c));
    assert_false(holds_ctx("{'StringLike':{'acs:UserAgent':'*'}}", &c));
    assert_false(holds_ctx("{'StringNotLike':{'acs:UserAgent':'curl*'}}", &c));
    assert_false(holds_ctx("{'StringNotEquals':{'acs:ResourceTag/missing':'x'}}", &c));
    assert_false(holds_ctx("{'StringEquals':{'acs:ResourceTag/missing':'x'}}", &c));
    assert_false(holds_ctx("{'DateLessThan':{'acs:CurrentTime':'2100-01-01T00:00:00Z'}}", &c));
    assert_false(holds_ctx("{'DateNotEquals':{'acs:CurrentTime':'2100-01-01T00:00:00Z'}}", &c));
    /* The booleans are always known. */
    assert_true(holds_ctx("{'Bool':{'acs:SecureTransport':true}}", &c));

    /* No context at all: only unconditional statements apply. */
    const char *cond = allow_if("{'Bool':{'acs:SecureTransport':true}}");
    assert_int_equal(ram_policy_evaluate(cond, ACTION, RESOURCE, NULL), RAM_IMPLICIT_DENY);
    const char *plain = doc("{'Version':'1','Statement':["
                            "{'Effect':'Allow','Action':'*','Resource':'*'}]}");
    assert_int_equal(ram_policy_evaluate(plain, ACTION, RESOURCE, NULL), RAM_ALLOW);

    /* A Deny whose key is absent does not deny. */
    const char *deny_outside = doc("{'Version':'1','Statement':["
                                   "{'Effect':'Allow','Action':'*','Resource':'*'},"
                                   "{'Effect':'Deny','Action':'*','Resource':'*',"
                                   "'Condition':{'NotIpAddress':{'acs:SourceIp':'10.0.0.0/8'}}}]}");
    assert_int_equal(eval_ctx(deny_outside, &c), RAM_ALLOW);
    ram_request_context outside = base_context();
    outside.source_ip = "203.0.113.9";
    assert_int_equal(eval_ctx(deny_outside, &outside), RAM_EXPLICIT_DENY);
}

static void test_condition_combinations(void **state)
{
    (void)state;
    /* Operators AND, keys AND, values OR. */
    const char *both = "{'IpAddress':{'acs:SourceIp':['192.0.2.0/24','10.0.0.0/8']},"
                       "'StringEquals':{'acs:ResourceTag/env':['prod','staging'],"
                       "'acs:ResourceTag/team':'Blue'},"
                       "'Bool':{'acs:SecureTransport':true}}";
    assert_true(holds(both));
    ram_request_context c = base_context();
    c.secure_transport = 0;
    assert_false(holds_ctx(both, &c));
    c = base_context();
    c.source_ip = "192.0.2.77";
    assert_true(holds_ctx(both, &c));
    c.source_ip = "198.51.100.1";
    assert_false(holds_ctx(both, &c));
    /* Key names fold case. */
    assert_true(holds("{'IpAddress':{'ACS:SOURCEIP':'10.0.0.0/8'}}"));
    assert_true(holds("{'Bool':{'acs:securetransport':true}}"));
    /* An empty block asks nothing. */
    assert_true(holds("{}"));
    assert_true(holds("{'StringEquals':{}}"));
}

/* ---- validation -------------------------------------------------------- */

static void test_validate_accepts(void **state)
{
    (void)state;
    assert_valid(doc("{'Version':'1','Statement':[{'Effect':'Deny','NotAction':['a','b'],"
                     "'NotResource':'x'}]}"));
    assert_valid(allow_if("{'StringEquals':{'acs:UserAgent':['a',1,true]},"
                          "'NumericLessThan':{'acs:ResourceTag/n':['1','2.5',3,4.5e3]},"
                          "'DateGreaterThan':{'acs:CurrentTime':['2024-01-01T00:00:00Z',"
                          "1700000000,'1700000000']},"
                          "'Bool':{'acs:MFAPresent':[true,'False']},"
                          "'IpAddress':{'acs:SourceIp':['10.0.0.0/8','1.2.3.4','::/0',"
                          "'2001:db8::1/128']},"
                          "'NotIpAddress':{'acs:SourceIp':'192.0.2.0/24'},"
                          "'StringNotLike':{'acs:ResourceTag/a b/c':'*'}}"));
    assert_int_equal(ram_policy_validate(doc("{'Version':'1','Statement':[{'Effect':'Allow',"
                                             "'Action':'*','Resource':'*'}]}"),
                                         NULL),
                     0);
    /* Failure without a reason buffer is still a failure. */
    assert_int_equal(ram_policy_validate("[]", NULL), -1);
    /* A reason is appended to what the caller already has. */
    buf why = BUF_INIT;
    buf_puts(&why, "policy.json: ");
    assert_int_equal(ram_policy_validate("[]", &why), -1);
    assert_string_equal(buf_cstr(&why), "policy.json: document is not a JSON object");
    buf_free(&why);
}

static void test_validate_document_level(void **state)
{
    (void)state;
    assert_invalid("[]", "document is not a JSON object");
    assert_invalid(doc("{'Statement':[{'Effect':'Allow','Action':'*','Resource':'*'}]}"),
                   "missing \"Version\"");
    assert_invalid(doc("{'Version':1,'Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':'*'}]}"),
                   "\"Version\" must be \"1\"");
    assert_invalid(doc("{'Version':'2','Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':'*'}]}"),
                   "\"Version\" must be \"1\"");
    assert_invalid(doc("{'Version':'1'}"), "missing \"Statement\"");
    assert_invalid(doc("{'Version':'1','Statement':[]}"),
                   "\"Statement\" must be a non-empty array");
    assert_invalid(doc("{'Version':'1','Statement':{'Effect':'Allow','Action':'*',"
                       "'Resource':'*'}}"),
                   "\"Statement\" must be a non-empty array");
    assert_invalid(doc("{'Version':'1','Id':'x','Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':'*'}]}"),
                   "unknown element \"Id\"");
    assert_int_equal(ram_policy_validate(NULL, NULL), -1);
    buf why = BUF_INIT;
    assert_int_equal(ram_policy_validate(NULL, &why), -1);
    assert_string_equal(buf_cstr(&why), "no document");
    buf_free(&why);
    assert_int_equal(ram_policy_evaluate(NULL, ACTION, RESOURCE, NULL), RAM_IMPLICIT_DENY);
}

static void test_validate_statement_level(void **state)
{
    (void)state;
    assert_invalid(doc("{'Version':'1','Statement':['Allow']}"), "Statement[0]: not an object");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':'*'},{'Effect':'Allow','Action':'*','Resource':'*',"
                       "'Principal':'*'}]}"),
                   "Statement[1]: unknown element \"Principal\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Action':'*','Resource':'*'}]}"),
                   "Statement[0]: missing \"Effect\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'allow','Action':'*',"
                       "'Resource':'*'}]}"),
                   "Statement[0].Effect: must be \"Allow\" or \"Deny\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':true,'Action':'*',"
                       "'Resource':'*'}]}"),
                   "Statement[0].Effect: must be \"Allow\" or \"Deny\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Resource':'*'}]}"),
                   "Statement[0]: missing \"Action\" or \"NotAction\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                       "'NotAction':'x','Resource':'*'}]}"),
                   "Statement[0]: both \"Action\" and \"NotAction\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*'}]}"),
                   "Statement[0]: missing \"Resource\" or \"NotResource\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':'*','NotResource':'*'}]}"),
                   "Statement[0]: both \"Resource\" and \"NotResource\"");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':5,"
                       "'Resource':'*'}]}"),
                   "Statement[0].Action: not a string or an array of strings");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':{},"
                       "'Resource':'*'}]}"),
                   "Statement[0].Action: not a string or an array of strings");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':[],"
                       "'Resource':'*'}]}"),
                   "Statement[0].Action: empty array");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'',"
                       "'Resource':'*'}]}"),
                   "Statement[0].Action: empty string");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':['a',null],"
                       "'Resource':'*'}]}"),
                   "Statement[0].Action[1]: not a string");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','NotAction':['a',''],"
                       "'Resource':'*'}]}"),
                   "Statement[0].NotAction[1]: empty string");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                       "'NotResource':[['x']]}]}"),
                   "Statement[0].NotResource[0]: not a string");
    assert_invalid(doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                       "'Resource':null}]}"),
                   "Statement[0].Resource: not a string or an array of strings");
}

static void test_validate_conditions(void **state)
{
    (void)state;
    static const char head1[] = "{'Version':'1','Statement':[{'Effect':'Allow','Action':'*',"
                                "'Resource':'*'},{'Effect':'Allow','Action':'*',"
                                "'Resource':'*','Condition':";
    static const struct {
        const char *condition, *reason;
    } cases[] = {
        {"[]", "Statement[1].Condition: not an object"},
        {"{'StringEqualz':{'acs:UserAgent':'x'}}",
         "Statement[1].Condition: unknown operator \"StringEqualz\""},
        {"{'stringequals':{'acs:UserAgent':'x'}}",
         "Statement[1].Condition: unknown operator \"stringequals\""},
        {"{'StringEquals':'x'}", "Statement[1].Condition.StringEquals: not an object"},
        {"{'StringEquals':{'acs:Foo':'x'}}",
         "Statement[1].Condition.StringEquals: unknown key \"acs:Foo\""},
        {"{'StringEquals':{'acs:ResourceTag/':'x'}}",
         "Statement[1].Condition.StringEquals: unknown key \"acs:ResourceTag/\""},
        {"{'StringEquals':{'ram:SourceIp':'x'}}",
         "Statement[1].Condition.StringEquals: unknown key \"ram:SourceIp\""},
        {"{'StringEquals':{'acs:UserAgent':[]}}",
         "Statement[1].Condition.StringEquals[\"acs:UserAgent\"]: empty array"},
        {"{'StringEquals':{'acs:UserAgent':null}}",
         "Statement[1].Condition.StringEquals[\"acs:UserAgent\"]: "
         "not a string, an integer or a boolean"},
        {"{'StringLike':{'acs:UserAgent':['a',{}]}}",
         "Statement[1].Condition.StringLike[\"acs:UserAgent\"][1]: "
         "not a string, an integer or a boolean"},
        {"{'StringEquals':{'acs:UserAgent':1.5}}",
         "Statement[1].Condition.StringEquals[\"acs:UserAgent\"]: "
         "not a string, an integer or a boolean"},
        {"{'StringEquals':{'acs:UserAgent':[['x']]}}",
         "Statement[1].Condition.StringEquals[\"acs:UserAgent\"][0]: "
         "not a string, an integer or a boolean"},
        {"{'NumericLessThan':{'acs:ResourceTag/n':'abc'}}",
         "Statement[1].Condition.NumericLessThan[\"acs:ResourceTag/n\"]: not a number"},
        {"{'NumericLessThan':{'acs:ResourceTag/n':'inf'}}",
         "Statement[1].Condition.NumericLessThan[\"acs:ResourceTag/n\"]: not a number"},
        {"{'NumericLessThan':{'acs:ResourceTag/n':' 1'}}",
         "Statement[1].Condition.NumericLessThan[\"acs:ResourceTag/n\"]: not a number"},
        {"{'NumericEquals':{'acs:ResourceTag/n':[1,true]}}",
         "Statement[1].Condition.NumericEquals[\"acs:ResourceTag/n\"][1]: not a number"},
        {"{'DateLessThan':{'acs:CurrentTime':'2024-01-01'}}",
         "Statement[1].Condition.DateLessThan[\"acs:CurrentTime\"]: "
         "not a date (yyyy-MM-ddTHH:mm:ssZ or epoch seconds)"},
        {"{'DateLessThan':{'acs:CurrentTime':'2024-02-30T00:00:00Z'}}",
         "Statement[1].Condition.DateLessThan[\"acs:CurrentTime\"]: "
         "not a date (yyyy-MM-ddTHH:mm:ssZ or epoch seconds)"},
        {"{'DateGreaterThan':{'acs:CurrentTime':-5}}",
         "Statement[1].Condition.DateGreaterThan[\"acs:CurrentTime\"]: "
         "not a date (yyyy-MM-ddTHH:mm:ssZ or epoch seconds)"},
        {"{'DateEquals':{'acs:CurrentTime':[1,1.5]}}",
         "Statement[1].Condition.DateEquals[\"acs:CurrentTime\"][1]: "
         "not a date (yyyy-MM-ddTHH:mm:ssZ or epoch seconds)"},
        {"{'Bool':{'acs:SecureTransport':'yes'}}",
         "Statement[1].Condition.Bool[\"acs:SecureTransport\"]: not true or false"},
        {"{'Bool':{'acs:SecureTransport':1}}",
         "Statement[1].Condition.Bool[\"acs:SecureTransport\"]: not true or false"},
        {"{'IpAddress':{'acs:SourceIp':'10.0.0.0/33'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':'10.0.0/8'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':'10.0.0.0/'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':'/8'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':'10.0.0.0/8/8'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':'10.0.0.0/-1'}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        {"{'NotIpAddress':{'acs:SourceIp':['::/0','2001:db8::/129']}}",
         "Statement[1].Condition.NotIpAddress[\"acs:SourceIp\"][1]: "
         "not an IP address or CIDR block"},
        {"{'IpAddress':{'acs:SourceIp':167772160}}",
         "Statement[1].Condition.IpAddress[\"acs:SourceIp\"]: not an IP address or CIDR block"},
        /* Names from the document are escaped in the reason. */
        {"{'String\\\"Equals\\n':{}}",
         "Statement[1].Condition: unknown operator \"String\\\"Equals\\x0a\""},
        {"{'StringEquals':{'acs:\\u00e9':'x'}}",
         "Statement[1].Condition.StringEquals: unknown key \"acs:\\xc3\\xa9\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text, "%s%s}]}", head1, cases[i].condition);
        const char *d = doc(text);
        buf why = BUF_INIT;
        if (ram_policy_validate(d, &why) != -1 || strcmp(buf_cstr(&why), cases[i].reason) != 0)
            fail_msg("case %zu: %s: got \"%s\", want \"%s\"", i, d, buf_cstr(&why),
                     cases[i].reason);
        buf_free(&why);
        assert_int_equal(eval(d), RAM_IMPLICIT_DENY);
    }
}

static void test_validate_long_names_truncated(void **state)
{
    (void)state;
    char key[400], text[1024];
    memset(key, 'k', 300);
    key[300] = '\0';
    snprintf(text, sizeof text,
             "{'Version':'1','%s':1,'Statement':[{'Effect':'Allow','Action':'*',"
             "'Resource':'*'}]}",
             key);
    /* The name is shown, but not all of it. */
    buf why = BUF_INIT;
    assert_int_equal(ram_policy_validate(doc(text), &why), -1);
    assert_true(why.len < 300);
    assert_true(strncmp(buf_cstr(&why), "unknown element \"kkkk", 21) == 0);
    assert_string_equal(buf_cstr(&why) + why.len - 4, "...\"");
    buf_free(&why);
}

static void test_malformed_json(void **state)
{
    (void)state;
    assert_invalid_prefix("", "document is not valid JSON: ");
    assert_invalid_prefix("{", "document is not valid JSON: ");
    assert_invalid_prefix("{\"Version\":\"1\",", "document is not valid JSON: ");
    assert_invalid_prefix("not json", "document is not valid JSON: ");
    assert_invalid_prefix("\"just a string\"", "document is not valid JSON: ");
    assert_invalid_prefix("{\"Version\":\"1\"} trailing", "document is not valid JSON: ");
    assert_invalid_prefix("{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":"
                          "\"*\",\"Resource\":\"*\",}]}",
                          "document is not valid JSON: ");
    /* Escaped NUL inside a string is refused by the parser. */
    assert_invalid_prefix("{\"Version\":\"1\\u0000\",\"Statement\":[]}",
                          "document is not valid JSON: ");
    /* Invalid UTF-8 too. */
    assert_invalid_prefix("{\"Version\":\"\xff\"}", "document is not valid JSON: ");
    /* Two "Effect"s: which one would count? Neither. */
    assert_invalid_prefix(doc("{'Version':'1','Statement':[{'Effect':'Deny','Effect':'Allow',"
                              "'Action':'*','Resource':'*'}]}"),
                          "document is not valid JSON: duplicate object key");
    /* Reasons stay on one line whatever the parser quotes. */
    buf why = BUF_INIT;
    assert_int_equal(ram_policy_validate("{\"a\"\n\x01}", &why), -1);
    assert_null(strchr(buf_cstr(&why), '\n'));
    assert_null(strchr(buf_cstr(&why), '\x01'));
    buf_reset(&why);
    assert_int_equal(ram_policy_validate("{\"Version\":\"1\",\n\"Statement\":x}", &why), -1);
    assert_true(strstr(buf_cstr(&why), "(line 2, column ") != NULL);
    buf_free(&why);
}

static void test_size_limits(void **state)
{
    (void)state;
    static const char stmt[] = "{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}";
    buf d = BUF_INIT;

    /* 100 statements are fine, 101 are not. */
    buf_puts(&d, "{\"Version\":\"1\",\"Statement\":[");
    for (int i = 0; i < 100; i++)
        buf_printf(&d, "%s%s", i ? "," : "", stmt);
    buf_puts(&d, "]}");
    assert_false(d.failed);
    assert_valid(buf_cstr(&d));
    assert_int_equal(eval(buf_cstr(&d)), RAM_ALLOW);
    buf_reset(&d);
    buf_puts(&d, "{\"Version\":\"1\",\"Statement\":[");
    for (int i = 0; i < 101; i++)
        buf_printf(&d, "%s%s", i ? "," : "", stmt);
    buf_puts(&d, "]}");
    assert_invalid(buf_cstr(&d), "\"Statement\" has more than 100 statements");

    /* Exactly 64 KiB is accepted, one byte more is not. */
    buf_reset(&d);
    buf_printf(&d, "{\"Version\":\"1\",\"Statement\":[%s]}", stmt);
    size_t pad = 65536 - d.len;
    buf_reset(&d);
    buf_puts(&d, "{\"Version\":\"1\",\"Statement\":[");
    buf_puts(&d, stmt);
    buf_puts(&d, "]}");
    for (size_t i = 0; i < pad; i++)
        buf_putc(&d, ' ');
    assert_false(d.failed);
    assert_int_equal(d.len, 65536);
    assert_valid(buf_cstr(&d));
    assert_int_equal(eval(buf_cstr(&d)), RAM_ALLOW);
    buf_putc(&d, ' ');
    assert_invalid(buf_cstr(&d), "document is larger than 65536 bytes");
    buf_free(&d);
}

/* Deeply nested JSON must neither crash the parser nor pass. */
static void test_deep_nesting(void **state)
{
    (void)state;
    buf d = BUF_INIT;
    buf_puts(&d, "{\"Version\":\"1\",\"Statement\":");
    for (int i = 0; i < 30000; i++)
        buf_putc(&d, '[');
    for (int i = 0; i < 30000; i++)
        buf_putc(&d, ']');
    buf_puts(&d, "}");
    assert_false(d.failed);
    assert_invalid_prefix(buf_cstr(&d), "document is not valid JSON: ");
    buf_free(&d);
}

/* Validation names every error of a document, one per line, in document
 * order, each with the path to where it is. */
static void test_validate_names_every_error(void **state)
{
    (void)state;
    buf why = BUF_INIT;
    const char *d = doc("{'Version':'2','Extra':1,'Statement':["
                        "{'Effect':'Maybe','Action':['ecs:*',7,''],'Resource':'*'},"
                        "{'Effect':'Allow','Action':'*','Resource':'*','Bogus':true,"
                        "'Condition':{'IpAddress':{'acs:SourceIp':['10.0.0.0/8','x']},"
                        "'NoSuchOp':{},'StringEquals':{'acs:Nope':'a'}}},"
                        "{'Effect':'Deny','Action':'*'}]}");
    assert_int_equal(ram_policy_validate(d, &why), -1);
    assert_string_equal(buf_cstr(&why),
                        "unknown element \"Extra\"\n"
                        "\"Version\" must be \"1\"\n"
                        "Statement[0].Effect: must be \"Allow\" or \"Deny\"\n"
                        "Statement[0].Action[1]: not a string\n"
                        "Statement[0].Action[2]: empty string\n"
                        "Statement[1]: unknown element \"Bogus\"\n"
                        "Statement[1].Condition.IpAddress[\"acs:SourceIp\"][1]: "
                        "not an IP address or CIDR block\n"
                        "Statement[1].Condition: unknown operator \"NoSuchOp\"\n"
                        "Statement[1].Condition.StringEquals: unknown key \"acs:Nope\"\n"
                        "Statement[2]: missing \"Resource\" or \"NotResource\"");
    buf_free(&why);
}

/* The verdict names the statement that decided: the first Allow that
 * applies, or the first Deny that applies, across documents in order. */
static void test_explain_names_the_statement(void **state)
{
    (void)state;
    const char *docs[] = {
        doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'ecs:Describe*',"
            "'Resource':'*'},{'Effect':'Allow','Action':'ecs:GetInstanceScreenshot',"
            "'Resource':'*'}]}"),
        doc("{'Version':'1','Statement':[{'Effect':'Allow','Action':'*','Resource':'*'},"
            "{'Effect':'Deny','Action':'*','Resource':'*:instance/i-secret*'},"
            "{'Effect':'Deny','Action':'*','Resource':'*:instance/i-secret2'}]}"),
    };
    ram_verdict v = ram_policies_explain(docs, 2, ACTION, RESOURCE, NULL);
    assert_int_equal(v.decision, RAM_ALLOW);
    assert_int_equal(v.policy, 0);
    assert_int_equal(v.statement, 1);
    v = ram_policies_explain(docs, 2, ACTION, "acs:ecs:cn-hangzhou:1:instance/i-secret2", NULL);
    assert_int_equal(v.decision, RAM_EXPLICIT_DENY);
    assert_int_equal(v.policy, 1);
    assert_int_equal(v.statement, 1);
    v = ram_policies_explain(docs, 1, "ecs:StopInstance", RESOURCE, NULL);
    assert_int_equal(v.decision, RAM_IMPLICIT_DENY);
    assert_int_equal(v.policy, 0);
    assert_int_equal(v.statement, 0);
    v = ram_policies_explain(docs + 1, 1, "ecs:StopInstance", RESOURCE, NULL);
    assert_int_equal(v.decision, RAM_ALLOW);
    assert_int_equal(v.statement, 0);
    assert_int_equal(ram_policies_explain(NULL, 2, ACTION, RESOURCE, NULL).decision,
                     RAM_IMPLICIT_DENY);
}

/* STS: the role's policies narrowed by the session policy. */
static void test_session_narrowing(void **state)
{
    (void)state;
    const ram_verdict allow = {RAM_ALLOW, 0, 3}, implicit = {RAM_IMPLICIT_DENY, 0, 0},
                      deny = {RAM_EXPLICIT_DENY, 0, 2};
    const ram_verdict s_allow = {RAM_ALLOW, 0, 7}, s_implicit = {RAM_IMPLICIT_DENY, 0, 0},
                      s_deny = {RAM_EXPLICIT_DENY, 0, 9};
    /* Both allow: the role's statement granted it. */
    assert_int_equal(ram_session_narrow(allow, s_allow).decision, RAM_ALLOW);
    assert_int_equal(ram_session_narrow(allow, s_allow).statement, 3);
    /* The session cannot widen. */
    assert_int_equal(ram_session_narrow(implicit, s_allow).decision, RAM_IMPLICIT_DENY);
    /* ... and narrows: an implicit or explicit deny of the session. */
    assert_int_equal(ram_session_narrow(allow, s_implicit).decision, RAM_IMPLICIT_DENY);
    assert_int_equal(ram_session_narrow(allow, s_deny).decision, RAM_EXPLICIT_DENY);
    assert_int_equal(ram_session_narrow(allow, s_deny).statement, 9);
    /* An explicit deny of the role is reported first. */
    assert_int_equal(ram_session_narrow(deny, s_deny).statement, 2);
    assert_int_equal(ram_session_narrow(deny, s_allow).decision, RAM_EXPLICIT_DENY);
    assert_int_equal(ram_session_narrow(implicit, s_deny).decision, RAM_EXPLICIT_DENY);
    assert_int_equal(ram_session_narrow(implicit, s_implicit).decision, RAM_IMPLICIT_DENY);
}

int main(void)
{
    /* Invalid documents are logged on evaluation; the test expects that. */
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcard_basics),
        cmocka_unit_test(test_wildcard_pathological),
        cmocka_unit_test(test_simple_allow),
        cmocka_unit_test(test_action_case_insensitive),
        cmocka_unit_test(test_resource_patterns),
        cmocka_unit_test(test_resource_case_sensitive),
        cmocka_unit_test(test_explicit_deny_beats_allow),
        cmocka_unit_test(test_across_documents),
        cmocka_unit_test(test_not_action_not_resource),
        cmocka_unit_test(test_string_and_array_forms),
        cmocka_unit_test(test_condition_string_operators),
        cmocka_unit_test(test_condition_numeric_operators),
        cmocka_unit_test(test_condition_date_operators),
        cmocka_unit_test(test_condition_bool),
        cmocka_unit_test(test_condition_ipv4),
        cmocka_unit_test(test_condition_ipv6),
        cmocka_unit_test(test_condition_resource_tags),
        cmocka_unit_test(test_condition_absent_keys),
        cmocka_unit_test(test_condition_combinations),
        cmocka_unit_test(test_validate_accepts),
        cmocka_unit_test(test_validate_document_level),
        cmocka_unit_test(test_validate_statement_level),
        cmocka_unit_test(test_validate_conditions),
        cmocka_unit_test(test_validate_long_names_truncated),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_validate_names_every_error),
        cmocka_unit_test(test_explain_names_the_statement),
        cmocka_unit_test(test_session_narrowing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
