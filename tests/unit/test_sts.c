/* test_sts.c: STS credentials and their SecurityToken (sts/sts.h).
 *
 * Tokens are sealed under a master key written to a temporary file, as an
 * operator's would be; every way a presented token can be wrong maps to
 * exactly one result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret/secret.h"
#include "sts/sts.h"
#include "util/buf.h"

#define NOW 1780000000

typedef struct fixture {
    char dir[64];
    char path[128];
    char other_path[128];
    secret_keyring *ring;
    secret_keyring *other;   /* a different master key */
    role_info role;
} fixture;

static secret_keyring *new_ring(const char *path)
{
    buf why = BUF_INIT;
    assert_int_equal(secret_keyfile_create(path, &why), 0);
    secret_keyring *ring = secret_keyring_load(path, &why);
    assert_non_null(ring);
    buf_free(&why);
    return ring;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ecshot-test-sts.XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/master.key", f->dir);
    snprintf(f->other_path, sizeof f->other_path, "%s/other.key", f->dir);
    f->ring = new_ring(f->path);
    f->other = new_ring(f->other_path);
    snprintf(f->role.account_id, sizeof f->role.account_id, "1234567890123456");
    snprintf(f->role.name, sizeof f->role.name, "ops");
    f->role.max_session_s = 3600;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    secret_keyring_free(f->ring);
    secret_keyring_free(f->other);
    unlink(f->path);
    unlink(f->other_path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void issue(fixture *f, const char *policy, sts_credentials *c, buf *token)
{
    assert_int_equal(sts_issue(f->ring, &f->role, "alice@example.com", 900, policy, NOW, c, token),
                     STS_OK);
}

static void test_issue_and_open(void **state)
{
    fixture *f = *state;
    sts_credentials c, back;
    buf token = BUF_INIT;
    issue(f, "{\"Version\":\"1\"}", &c, &token);
    assert_int_equal(strncmp(c.access_key_id, "STS.", 4), 0);
    assert_int_equal(strlen(c.access_key_id), 28);
    assert_int_equal(strlen(c.secret), 40);
    assert_int_equal(c.issued, NOW);
    assert_int_equal(c.expires, NOW + 900);
    assert_true(sts_is_temporary_key(c.access_key_id));
    assert_true(secret_is_sealed(buf_cstr(&token)));
    /* The token holds no part of the secret in the clear. */
    assert_null(strstr(buf_cstr(&token), c.secret));

    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), c.access_key_id, NOW, &back), STS_OK);
    assert_string_equal(back.access_key_id, c.access_key_id);
    assert_string_equal(back.secret, c.secret);
    assert_string_equal(back.account_id, "1234567890123456");
    assert_string_equal(back.role, "ops");
    assert_string_equal(back.session, "alice@example.com");
    assert_string_equal(back.policy, "{\"Version\":\"1\"}");
    assert_int_equal(back.issued, NOW);
    assert_int_equal(back.expires, NOW + 900);
    /* Valid until the last second before its expiry. */
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), c.access_key_id, NOW + 899, &back),
                     STS_OK);
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), c.access_key_id, NOW + 900, &back),
                     STS_EXPIRED);
    /* Cleared on failure. */
    assert_string_equal(back.secret, "");

    /* Two issues never share an id, a secret or a token. */
    sts_credentials c2;
    buf token2 = BUF_INIT;
    issue(f, NULL, &c2, &token2);
    assert_string_not_equal(c.access_key_id, c2.access_key_id);
    assert_string_not_equal(c.secret, c2.secret);
    assert_string_not_equal(buf_cstr(&token), buf_cstr(&token2));
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token2), c2.access_key_id, NOW, &back), STS_OK);
    assert_string_equal(back.policy, "");
    /* One session's token with another's key. */
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), c2.access_key_id, NOW, &back),
                     STS_MISMATCH);
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), "LTAI0123456789abcdefghij", NOW,
                                    &back),
                     STS_MISMATCH);
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), NULL, NOW, &back), STS_MISMATCH);
    sts_credentials_clear(&c);
    sts_credentials_clear(&c2);
    buf_free(&token);
    buf_free(&token2);
}

static void test_malformed_tokens(void **state)
{
    fixture *f = *state;
    sts_credentials c, back;
    buf token = BUF_INIT, other = BUF_INIT;
    issue(f, NULL, &c, &token);
    const char *t = buf_cstr(&token);
    size_t n = strlen(t);

    assert_int_equal(sts_token_open(f->ring, NULL, c.access_key_id, NOW, &back), STS_MALFORMED);
    assert_int_equal(sts_token_open(f->ring, "", c.access_key_id, NOW, &back), STS_MALFORMED);
    assert_int_equal(sts_token_open(f->ring, "CAIS+token/abc==", c.access_key_id, NOW, &back),
                     STS_MALFORMED);
    assert_int_equal(sts_token_open(NULL, t, c.access_key_id, NOW, &back), STS_MALFORMED);
    /* Under another master key. */
    assert_int_equal(sts_token_open(f->other, t, c.access_key_id, NOW, &back), STS_MALFORMED);
    /* Every byte changed in turn, and every length cut short. */
    char *copy = strdup(t);
    for (size_t i = 0; i < n; i++) {
        char saved = copy[i];
        copy[i] = saved == 'A' ? 'B' : 'A';
        int rc = sts_token_open(f->ring, copy, c.access_key_id, NOW, &back);
        if (rc != STS_MALFORMED)
            fail_msg("changing byte %zu of %s gave %d", i, t, rc);
        copy[i] = saved;
    }
    for (size_t len = 0; len < n; len++) {
        copy[len] = '\0';
        if (sts_token_open(f->ring, copy, c.access_key_id, NOW, &back) != STS_MALFORMED)
            fail_msg("a token cut to %zu bytes opened", len);
        copy[len] = t[len];
    }
    free(copy);
    /* A sealed value of another use (an AccessKey secret) is not a token. */
    assert_int_equal(secret_seal(f->ring, c.access_key_id, "secret", 6, &other), SECRET_OK);
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&other), c.access_key_id, NOW, &back),
                     STS_MALFORMED);
    /* Too long to be one of ours. */
    char *huge = malloc(STS_TOKEN_MAX + 2);
    memset(huge, 'A', STS_TOKEN_MAX + 1);
    huge[STS_TOKEN_MAX + 1] = '\0';
    assert_int_equal(sts_token_open(f->ring, huge, c.access_key_id, NOW, &back), STS_MALFORMED);
    free(huge);
    sts_credentials_clear(&c);
    buf_free(&token);
    buf_free(&other);
}

/* Sealed by the master key, but not what ecshot issues: still malformed. */
static void test_sealed_payloads_are_checked(void **state)
{
    fixture *f = *state;
    static const char *const payloads[] = {
        "[]",
        "{}",
        "not json",
        "{\"v\":2,\"ak\":\"STS.a\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
        /* ak without the STS. prefix */
        "{\"v\":1,\"ak\":\"LTAIa\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
        /* a session name RAM would refuse */
        "{\"v\":1,\"ak\":\"STS.a\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"s\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
        /* an account id with '/' */
        "{\"v\":1,\"ak\":\"STS.a\",\"sk\":\"s\",\"account\":\"1/2\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
        /* exp not a number */
        "{\"v\":1,\"ak\":\"STS.a\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":\"2000000000\",\"policy\":\"\"}",
        /* a secret with a space */
        "{\"v\":1,\"ak\":\"STS.a\",\"sk\":\"s s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
        /* a key twice */
        "{\"v\":1,\"ak\":\"STS.a\",\"ak\":\"STS.b\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\","
        "\"session\":\"ss\",\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        buf token = BUF_INIT;
        sts_credentials back;
        assert_int_equal(secret_seal(f->ring, "ecshot sts token v1", payloads[i],
                                     strlen(payloads[i]), &token),
                         SECRET_OK);
        int rc = sts_token_open(f->ring, buf_cstr(&token), "STS.a", NOW, &back);
        if (rc != STS_MALFORMED)
            fail_msg("payload %zu gave %d", i, rc);
        buf_free(&token);
    }
    /* The same shape, well formed, opens: the cases above fail for their reason. */
    static const char good[] =
        "{\"v\":1,\"ak\":\"STS.a\",\"sk\":\"s\",\"account\":\"1\",\"role\":\"r\",\"session\":\"ss\","
        "\"iat\":1,\"exp\":2000000000,\"policy\":\"\"}";
    buf token = BUF_INIT;
    sts_credentials back;
    assert_int_equal(secret_seal(f->ring, "ecshot sts token v1", good, strlen(good), &token),
                     SECRET_OK);
    assert_int_equal(sts_token_open(f->ring, buf_cstr(&token), "STS.a", NOW, &back), STS_OK);
    buf_free(&token);
}

static void test_session_names(void **state)
{
    (void)state;
    assert_true(sts_valid_session_name("ab"));
    assert_true(sts_valid_session_name("alice@example.com"));
    assert_true(sts_valid_session_name("a-b_c.d@e"));
    char longest[STS_SESSION_NAME_MAX + 2];
    memset(longest, 'x', STS_SESSION_NAME_MAX);
    longest[STS_SESSION_NAME_MAX] = '\0';
    assert_true(sts_valid_session_name(longest));
    longest[STS_SESSION_NAME_MAX] = 'x';
    longest[STS_SESSION_NAME_MAX + 1] = '\0';
    assert_false(sts_valid_session_name(longest));
    assert_false(sts_valid_session_name(NULL));
    assert_false(sts_valid_session_name(""));
    assert_false(sts_valid_session_name("a"));
    assert_false(sts_valid_session_name("a b"));
    assert_false(sts_valid_session_name("a/b"));
    assert_false(sts_valid_session_name("a:b"));
    assert_false(sts_valid_session_name("\xc3\xa9t\xc3\xa9"));
    assert_false(sts_is_temporary_key("LTAI0123"));
    assert_false(sts_is_temporary_key("sts.abc"));
    assert_false(sts_is_temporary_key(NULL));
    assert_true(sts_is_temporary_key("STS.abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_issue_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_payloads_are_checked, setup, teardown),
        cmocka_unit_test(test_session_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
