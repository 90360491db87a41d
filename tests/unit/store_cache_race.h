/* store_cache_race.h: the read cache's race test, shared by test_store.c
 * (SQLite) and test_store_pg.c (PostgreSQL): readers that sync and look up
 * as requests do, against a writer committing instances through another
 * handle. Included by one test file each (static functions; needs cmocka,
 * pthread and stdatomic included before it). */
#ifndef ECSHOT_TESTS_STORE_CACHE_RACE_H
#define ECSHOT_TESTS_STORE_CACHE_RACE_H

#include "store/store.h"

#define CACHE_RACE_READERS 4

typedef struct cache_race {
    store *s;
    atomic_int written;  /* instances i-r0..i-r(written-1) are committed */
    atomic_int stop;
    atomic_int failures;
} cache_race;

/* As a request would: note what is committed, sync, look it up; and look
 * up the next one too, which is usually missing, so that "not found" gets
 * cached while the writer commits it. */
static void *cache_race_reader(void *arg)
{
    cache_race *r = arg;
    while (!atomic_load(&r->stop)) {
        int committed = atomic_load(&r->written);
        store_sync(r->s);
        char id[32];
        instance out;
        if (committed > 0) {
            snprintf(id, sizeof id, "i-r%d", committed - 1);
            if (store_instance_get(r->s, id, &out) != STORE_OK)
                atomic_fetch_add(&r->failures, 1);
        }
        snprintf(id, sizeof id, "i-r%d", committed);
        int rc = store_instance_get(r->s, id, &out);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND)
            atomic_fetch_add(&r->failures, 1);
    }
    return NULL;
}

/* Readers on s (its cache on) while writes instances i-r0.. of account
 * 1001 go in through writer, one commit each (fill: the file's
 * fill_instance). No reader may ever get "not found" for an instance
 * committed before its sync, however its lookups interleave with the
 * commits and the other readers' puts. */
static void cache_race_run(store *s, store *writer, int writes,
                           void (*fill)(instance *inst, const char *id, const char *account))
{
    cache_race race = {.s = s};
    pthread_t t[CACHE_RACE_READERS];
    for (int i = 0; i < CACHE_RACE_READERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, cache_race_reader, &race), 0);
    for (int i = 0; i < writes; i++) {
        char id[32];
        instance in;
        snprintf(id, sizeof id, "i-r%d", i);
        fill(&in, id, "1001");
        assert_int_equal(store_instance_add(writer, &in), STORE_OK);
        atomic_store(&race.written, i + 1);
    }
    atomic_store(&race.stop, 1);
    for (int i = 0; i < CACHE_RACE_READERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&race.failures), 0);
}

#endif
