/* cache.c: the store's read cache: direct-mapped tables of generation-stamped entries.
 *
 * See cache.h for what it promises. Here: one table per kind of item, each
 * a power-of-two array of slots guarded by a few striped mutexes (a lookup
 * holds one for a compare and a copy). An entry is one heap block: the key
 * it answers for, the answer, and for instances only the tags they have,
 * so a slot costs what its item needs. Replaced entries are freed outside
 * the lock; AccessKey entries are wiped first, since they hold a secret. */
#include "store/cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define CACHE_LOCKS 16 /* per table; slot i takes lock i % CACHE_LOCKS */

typedef struct slot {
    uint64_t gen;  /* generation the entry was read in; 0: empty */
    uint64_t hash;
    void *entry;
} slot;

typedef struct table {
    slot *slots;
    size_t mask;
    void (*free_entry)(void *entry);
    pthread_mutex_t locks[CACHE_LOCKS];
} table;

struct store_cache {
    _Atomic uint64_t gen;
    uint64_t seed;  /* hashes differ per process: no one can aim at a slot */
    table keys, instances, policies;
};

typedef struct key_entry {
    char id[STORE_ID_MAX];
    int result;
    access_key key;
} key_entry;

typedef struct instance_entry {
    char id[STORE_ID_MAX];
    int result;
    instance inst; /* cut after its tag_count tags */
} instance_entry;

typedef struct policies_entry {
    char account_id[STORE_ID_MAX];
    principal_kind kind;
    char name[STORE_ID_MAX];
    size_t count;
    policy_doc docs[]; /* documents on the heap */
} policies_entry;

/* FNV-1a over the NUL-terminated parts, each followed by its NUL. */
static uint64_t hash_parts(uint64_t seed, const char *const *parts, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)parts[i];
        do {
            h ^= *p;
            h *= 0x100000001b3ull;
        } while (*p++);
    }
    return h ^ (h >> 29);
}

static void free_key_entry(void *entry)
{
    OPENSSL_cleanse(entry, sizeof(key_entry));
    free(entry);
}

static void free_policies_entry(void *entry)
{
    policies_entry *e = entry;
    for (size_t i = 0; i < e->count; i++)
        free(e->docs[i].document);
    free(e);
}

static int table_init(table *t, size_t slots, void (*free_entry)(void *))
{
    t->slots = calloc(slots, sizeof *t->slots);
    t->mask = slots - 1;
    t->free_entry = free_entry;
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_init(&t->locks[i], NULL);
    return t->slots ? 0 : -1;
}

static void table_destroy(table *t)
{
    if (!t->slots)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].entry)
            t->free_entry(t->slots[i].entry);
    free(t->slots);
    for (int i = 0; i < CACHE_LOCKS; i++)
        pthread_mutex_destroy(&t->locks[i]);
}

/* Locks and returns the slot for hash. */
static slot *table_lock(table *t, uint64_t hash)
{
    size_t i = (size_t)hash & t->mask;
    pthread_mutex_lock(&t->locks[i % CACHE_LOCKS]);
    return &t->slots[i];
}

static void table_unlock(table *t, const slot *s)
{
    pthread_mutex_unlock(&t->locks[(size_t)(s - t->slots) % CACHE_LOCKS]);
}

/* Puts entry (read in generation gen) in its slot, unless the generation
 * has moved on; frees whichever entry lost. */
static void table_put(store_cache *c, table *t, uint64_t gen, uint64_t hash, void *entry)
{
    slot *s = table_lock(t, hash);
    void *loser = entry;
    if (atomic_load(&c->gen) == gen) {
        loser = s->entry;
        s->entry = entry;
        s->gen = gen;
        s->hash = hash;
    }
    table_unlock(t, s);
    if (loser)
        t->free_entry(loser);
}

store_cache *store_cache_new(size_t slots)
{
    size_t n = 1;
    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    store_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->gen, 1);
    if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
        c->seed = (uint64_t)(uintptr_t)c;
    if (table_init(&c->keys, n, free_key_entry) != 0 ||
        table_init(&c->instances, n, free) != 0 ||
        table_init(&c->policies, n, free_policies_entry) != 0) {
        store_cache_free(c);
        return NULL;
    }
    return c;
}

void store_cache_free(store_cache *c)
{
    if (!c)
        return;
    table_destroy(&c->keys);
    table_destroy(&c->instances);
    table_destroy(&c->policies);
    free(c);
}

uint64_t store_cache_generation(store_cache *c)
{
    return atomic_load(&c->gen);
}

void store_cache_invalidate(store_cache *c)
{
    atomic_fetch_add(&c->gen, 1);
}

/* ---- AccessKeys ---- */

int store_cache_key_find(store_cache *c, const char *id, access_key *out, int *result)
{
    uint64_t gen = atomic_load(&c->gen);
    uint64_t hash = hash_parts(c->seed, &id, 1);
    slot *s = table_lock(&c->keys, hash);
    const key_entry *e = s->entry;
    int hit = e && s->gen == gen && s->hash == hash && strcmp(e->id, id) == 0;
    if (hit) {
        *result = e->result;
        if (e->result == STORE_OK)
            *out = e->key;
    }
    table_unlock(&c->keys, s);
    return hit;
}

void store_cache_key_put(store_cache *c, uint64_t gen, const char *id, int result,
                         const access_key *key)
{
    if ((result != STORE_OK && result != STORE_NOT_FOUND) || strlen(id) >= STORE_ID_MAX)
        return;
    key_entry *e = calloc(1, sizeof *e);
    if (!e)
        return;
    strcpy(e->id, id);
    e->result = result;
    if (result == STORE_OK)
        e->key = *key;
    table_put(c, &c->keys, gen, hash_parts(c->seed, &id, 1), e);
}

/* ---- instances ---- */

/* The bytes of an instance up to and including its last tag. */
static size_t instance_size(const instance *inst)
{
    return offsetof(instance, tags) + inst->tag_count * sizeof inst->tags[0];
}

int store_cache_instance_find(store_cache *c, const char *id, instance *out, int *result)
{
    uint64_t gen = atomic_load(&c->gen);
    uint64_t hash = hash_parts(c->seed, &id, 1);
    slot *s = table_lock(&c->instances, hash);
    const instance_entry *e = s->entry;
    int hit = e && s->gen == gen && s->hash == hash && strcmp(e->id, id) == 0;
    if (hit) {
        *result = e->result;
        if (e->result == STORE_OK)
            memcpy(out, &e->inst, instance_size(&e->inst));
    }
    table_unlock(&c->instances, s);
    return hit;
}

void store_cache_instance_put(store_cache *c, uint64_t gen, const char *id, int result,
                              const instance *inst)
{
    if ((result != STORE_OK && result != STORE_NOT_FOUND) || strlen(id) >= STORE_ID_MAX ||
        (result == STORE_OK && inst->tag_count > STORE_TAGS_MAX))
        return;
    size_t size = result == STORE_OK ? instance_size(inst) : offsetof(instance, tags);
    instance_entry *e = calloc(1, offsetof(instance_entry, inst) + size);
    if (!e)
        return;
    strcpy(e->id, id);
    e->result = result;
    if (result == STORE_OK)
        memcpy(&e->inst, inst, size);
    table_put(c, &c->instances, gen, hash_parts(c->seed, &id, 1), e);
}

/* ---- policies of a principal ---- */

static uint64_t principal_hash(const store_cache *c, const char *account_id, principal_kind kind,
                               const char *name)
{
    const char *parts[] = {account_id, kind == PRINCIPAL_ROLE ? "r" : "u", name};
    return hash_parts(c->seed, parts, 3);
}

/* A heap copy of count documents, or NULL (count 0 gives NULL too). */
static policy_doc *copy_docs(const policy_doc *docs, size_t count)
{
    if (count == 0)
        return NULL;
    policy_doc *out = calloc(count, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        memcpy(out[i].name, docs[i].name, sizeof out[i].name);
        if (!(out[i].document = strdup(docs[i].document))) {
            store_policies_free(out, i);
            return NULL;
        }
    }
    return out;
}

int store_cache_policies_find(store_cache *c, const char *account_id, principal_kind kind,
                              const char *name, policy_doc **out, size_t *count)
{
    uint64_t gen = atomic_load(&c->gen);
    uint64_t hash = principal_hash(c, account_id, kind, name);
    slot *s = table_lock(&c->policies, hash);
    const policies_entry *e = s->entry;
    int hit = e && s->gen == gen && s->hash == hash && e->kind == kind &&
              strcmp(e->account_id, account_id) == 0 && strcmp(e->name, name) == 0;
    if (hit) {
        *out = copy_docs(e->docs, e->count);
        *count = e->count;
        if (e->count > 0 && !*out) {
            hit = 0; /* out of memory: let the backend answer */
            *count = 0;
        }
    }
    table_unlock(&c->policies, s);
    return hit;
}

void store_cache_policies_put(store_cache *c, uint64_t gen, const char *account_id,
                              principal_kind kind, const char *name, const policy_doc *docs,
                              size_t count)
{
    if (strlen(account_id) >= STORE_ID_MAX || strlen(name) >= STORE_ID_MAX)
        return;
    policies_entry *e = calloc(1, sizeof *e + count * sizeof e->docs[0]);
    if (!e)
        return;
    strcpy(e->account_id, account_id);
    e->kind = kind;
    strcpy(e->name, name);
    for (; e->count < count; e->count++) {
        memcpy(e->docs[e->count].name, docs[e->count].name, sizeof e->docs[0].name);
        if (!(e->docs[e->count].document = strdup(docs[e->count].document))) {
            free_policies_entry(e);
            return;
        }
    }
    table_put(c, &c->policies, gen, principal_hash(c, account_id, kind, name), e);
}
