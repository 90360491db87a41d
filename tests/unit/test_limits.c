/* test_limits.c: the memory: limits backend (throttle and nonce claims). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "limits/limits.h"

static void claim_then_held_with_remaining_time(void **state)
{
    (void)state;
    limits *l = limits_open("memory:");
    assert_non_null(l);
    int64_t remaining = -1;
    assert_int_equal(limits_peek(l, "throttle", "i-a", &remaining), LIMITS_FREE);
    assert_int_equal(remaining, -1);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 10000, &remaining), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 10000, &remaining), LIMITS_HELD);
    assert_true(remaining > 0 && remaining <= 10000);
    /* A peek sees the claim and takes nothing. */
    int64_t peeked = -1;
    assert_int_equal(limits_peek(l, "throttle", "i-a", &peeked), LIMITS_HELD);
    assert_true(peeked > 0 && peeked <= remaining);
    assert_int_equal(limits_peek(l, "throttle", "i-z", NULL), LIMITS_FREE);
    assert_int_equal(limits_claim(l, "throttle", "i-z", 10000, NULL), LIMITS_CLAIMED);
    /* Namespaces and keys are separate. */
    assert_int_equal(limits_claim(l, "nonce", "i-a", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-b", 10000, NULL), LIMITS_CLAIMED);
    limits_close(l);
}

static void expired_claims_are_free_again(void **state)
{
    (void)state;
    limits *l = limits_open("memory:");
    /* A zero TTL expires at once: the next claim succeeds. */
    assert_int_equal(limits_claim(l, "throttle", "i-a", 0, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_peek(l, "throttle", "i-a", NULL), LIMITS_FREE);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 0, NULL), LIMITS_CLAIMED);
    limits_close(l);
}

static void many_keys_grow_the_table(void **state)
{
    (void)state;
    limits *l = limits_open("memory:");
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(limits_claim(l, "nonce", key, 60000, NULL), LIMITS_CLAIMED);
    }
    for (int i = 0; i < 20000; i += 97) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(limits_claim(l, "nonce", key, 60000, NULL), LIMITS_HELD);
    }
    limits_close(l);
}

/* Claims that expire at once pile up between sweeps; every sweep drops
 * them and resizes the table to the live ones, which must all survive,
 * still held, however often that happens. */
static void sweeps_keep_every_live_claim(void **state)
{
    (void)state;
    limits *l = limits_open("memory:?max=131072");
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "live%d", i);
        assert_int_equal(limits_claim(l, "nonce", key, 600000, NULL), LIMITS_CLAIMED);
    }
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "gone%d", i);
        assert_int_equal(limits_claim(l, "nonce", key, 0, NULL), LIMITS_CLAIMED);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "live%d", i);
        assert_int_equal(limits_peek(l, "nonce", key, NULL), LIMITS_HELD);
        assert_int_equal(limits_claim(l, "nonce", key, 600000, NULL), LIMITS_HELD);
    }
    for (int i = 0; i < 200000; i += 997) {
        snprintf(key, sizeof key, "gone%d", i);
        assert_int_equal(limits_peek(l, "nonce", key, NULL), LIMITS_FREE);
    }
    limits_close(l);
}

static void full_backend_fails_closed(void **state)
{
    (void)state;
    limits *l = limits_open("memory:?max=64"); /* one live claim per stripe */
    assert_non_null(l);
    char key[32];
    int errors = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        int rc = limits_claim(l, "nonce", key, 60000, NULL);
        assert_true(rc == LIMITS_CLAIMED || rc == LIMITS_ERROR);
        errors += rc == LIMITS_ERROR;
    }
    assert_true(errors > 0);
    /* Expired claims make room again. */
    limits_close(l);
    l = limits_open("memory:?max=64");
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(limits_claim(l, "nonce", key, 0, NULL), LIMITS_CLAIMED);
    }
    limits_close(l);
    assert_null(limits_open("memory:?max=zero"));
    assert_null(limits_open("nosuch:"));
}

typedef struct race {
    limits *l;
    int claimed;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    r->claimed = limits_claim(r->l, "throttle", "i-contended", 10000, NULL) == LIMITS_CLAIMED;
    return NULL;
}

static void exactly_one_of_many_concurrent_claims_wins(void **state)
{
    (void)state;
    limits *l = limits_open("memory:");
    pthread_t t[20];
    race r[20];
    for (int i = 0; i < 20; i++) {
        r[i] = (race){l, 0};
        pthread_create(&t[i], NULL, racer, &r[i]);
    }
    int wins = 0;
    for (int i = 0; i < 20; i++) {
        pthread_join(t[i], NULL);
        wins += r[i].claimed;
    }
    assert_int_equal(wins, 1);
    limits_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_then_held_with_remaining_time),
        cmocka_unit_test(expired_claims_are_free_again),
        cmocka_unit_test(many_keys_grow_the_table),
        cmocka_unit_test(sweeps_keep_every_live_claim),
        cmocka_unit_test(full_backend_fails_closed),
        cmocka_unit_test(exactly_one_of_many_concurrent_claims_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
