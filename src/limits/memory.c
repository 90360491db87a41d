/* memory.c: the "memory:" limits backend: claims in this process's memory.
 *
 * Right for one ecshotd (the embedded default). An open-addressing hash table
 * of key → expiry (monotonic ms), striped by lock so that claims on
 * different instances rarely contend. An expired entry is renewed in place
 * and swept when a stripe fills up, so memory stays bounded by the number of
 * claims alive at once; past MEMORY_MAX_ENTRIES live claims the backend
 * refuses (LIMITS_ERROR), which callers turn into ServiceUnavailable: failing
 * closed is the only answer that never lets a replay or a second screenshot
 * through. "memory:?max=N" sets that bound. */
#include "limits/limits.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeutil.h"

#define STRIPES 64
#define MEMORY_MAX_ENTRIES (1u << 20)

typedef struct entry {
    char *key;         /* "ns\0key" flattened to "ns:key"; NULL when empty */
    uint64_t hash;     /* of key: rehashing moves entries without reading keys */
    int64_t expires;   /* monotonic ms */
} entry;

typedef struct stripe {
    pthread_mutex_t lock;
    entry *slots;
    size_t cap;        /* power of two */
    size_t used;       /* slots holding a key, expired or not */
} stripe;

typedef struct memory_limits {
    limits base;
    uint64_t seed;     /* random per backend: clients cannot aim at one slot */
    size_t max_per_stripe;
    stripe stripes[STRIPES];
} memory_limits;

/* FNV-1a from a random basis: keys are chosen by clients (nonces), and
 * each stripe is bounded, so even a collision flood would cost CPU, not
 * memory; the seed keeps them from computing one offline. */
static uint64_t hash_key(uint64_t seed, const char *s)
{
    uint64_t h = seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The low bits pick the stripe; the next ones the slot within it. */
static size_t slot_of(uint64_t h, size_t cap)
{
    return (size_t)(h / STRIPES) & (cap - 1);
}

/* Entries of st that have not expired. */
static size_t stripe_live(const stripe *st, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < st->cap; i++)
        live += st->slots[i].key && st->slots[i].expires > now;
    return live;
}

/* Moves the live entries into a table of new_cap slots, dropping expired ones. */
static int stripe_rehash(stripe *st, size_t new_cap, int64_t now)
{
    entry *slots = calloc(new_cap, sizeof *slots);
    if (!slots)
        return -1;
    size_t used = 0;
    for (size_t i = 0; i < st->cap; i++) {
        entry *e = &st->slots[i];
        if (!e->key)
            continue;
        if (e->expires <= now) {
            free(e->key);
            continue;
        }
        size_t j = slot_of(e->hash, new_cap);
        while (slots[j].key)
            j = (j + 1) & (new_cap - 1);
        slots[j] = *e;
        used++;
    }
    free(st->slots);
    st->slots = slots;
    st->cap = new_cap;
    st->used = used;
    return 0;
}

/* "ns:key", the table's key; NULL when memory ran out. */
static char *full_key(const char *ns, const char *key)
{
    size_t nlen = strlen(ns), klen = strlen(key);
    char *full = malloc(nlen + klen + 2);
    if (!full)
        return NULL;
    memcpy(full, ns, nlen);
    full[nlen] = ':';
    memcpy(full + nlen + 1, key, klen + 1);
    return full;
}

/* Where full's probe ends in a stripe with slots: its entry, or the empty
 * slot after the chain it would sit in. */
static size_t stripe_probe(const stripe *st, uint64_t h, const char *full)
{
    size_t mask = st->cap - 1;
    size_t i = slot_of(h, st->cap);
    while (st->slots[i].key &&
           (st->slots[i].hash != h || strcmp(st->slots[i].key, full) != 0))
        i = (i + 1) & mask;
    return i;
}

static int memory_peek(limits *l, const char *ns, const char *key, int64_t *remaining_ms)
{
    memory_limits *m = (memory_limits *)l;
    char *full = full_key(ns, key);
    if (!full)
        return LIMITS_ERROR;
    uint64_t h = hash_key(m->seed, full);
    stripe *st = &m->stripes[h % STRIPES];
    int64_t now = clock_monotonic_ms();
    int rc = LIMITS_FREE;
    pthread_mutex_lock(&st->lock);
    const entry *e = st->cap ? &st->slots[stripe_probe(st, h, full)] : NULL;
    if (e && e->key && e->expires > now) {
        if (remaining_ms)
            *remaining_ms = e->expires - now;
        rc = LIMITS_HELD;
    }
    pthread_mutex_unlock(&st->lock);
    free(full);
    return rc;
}

static int memory_claim(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                        int64_t *remaining_ms)
{
    memory_limits *m = (memory_limits *)l;
    char *full = full_key(ns, key);
    if (!full)
        return LIMITS_ERROR;

    uint64_t h = hash_key(m->seed, full);
    stripe *st = &m->stripes[h % STRIPES];
    int64_t now = clock_monotonic_ms();
    int rc = LIMITS_ERROR;

    pthread_mutex_lock(&st->lock);
    /* Keep the load under 1/2 so probes stay short, and the live claims
     * under the bound. When either is reached, one pass counts the live
     * entries and one moves them, expired ones dropped, into a table sized
     * for a load of 1/3 or less: it grows while claims pile up and shrinks
     * back when they expire. */
    if (st->used >= m->max_per_stripe || (st->used + 1) * 2 > st->cap) {
        size_t live = stripe_live(st, now);
        if (live >= m->max_per_stripe) {
            log_warn("limits: memory backend full (%zu live claims in one stripe)", live);
            goto out;
        }
        size_t cap = 64;
        while (cap < (live + 1) * 3)
            cap *= 2;
        if (stripe_rehash(st, cap, now) < 0)
            goto out;
    }
    entry *e = &st->slots[stripe_probe(st, h, full)];
    if (e->key && e->expires > now) {
        if (remaining_ms)
            *remaining_ms = e->expires - now;
        rc = LIMITS_HELD;
        goto out;
    }
    if (!e->key) {
        /* Absent: take the empty slot that ended the probe. Expired entries
         * on the way stay until the next sweep, so probe chains are never
         * broken. */
        e->key = full;
        e->hash = h;
        st->used++;
        full = NULL;
    }
    e->expires = now + ttl_ms;
    rc = LIMITS_CLAIMED;
out:
    pthread_mutex_unlock(&st->lock);
    free(full);
    return rc;
}

static void memory_close(limits *l)
{
    memory_limits *m = (memory_limits *)l;
    for (int s = 0; s < STRIPES; s++) {
        for (size_t i = 0; i < m->stripes[s].cap; i++)
            free(m->stripes[s].slots[i].key);
        free(m->stripes[s].slots);
        pthread_mutex_destroy(&m->stripes[s].lock);
    }
    free(m);
}

static int memory_open(const char *url, limits **out);

const limits_driver limits_memory_driver = {
    .scheme = "memory:",
    .open = memory_open,
    .close = memory_close,
    .claim = memory_claim,
    .peek = memory_peek,
};

static int memory_open(const char *url, limits **out)
{
    size_t max_entries = MEMORY_MAX_ENTRIES;
    const char *q = strstr(url, "?max=");
    if (q) {
        char *end;
        unsigned long v = strtoul(q + 5, &end, 10);
        if (*end || v == 0) {
            log_error("limits: bad max in '%s'", url);
            return -1;
        }
        max_entries = v;
    }
    memory_limits *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->base.driver = &limits_memory_driver;
    if (RAND_bytes((unsigned char *)&m->seed, sizeof m->seed) != 1)
        m->seed = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)m;
    m->max_per_stripe = max_entries / STRIPES ? max_entries / STRIPES : 1;
    for (int s = 0; s < STRIPES; s++)
        pthread_mutex_init(&m->stripes[s].lock, NULL);
    *out = &m->base;
    return 0;
}
