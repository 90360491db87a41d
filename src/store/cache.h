/* cache.h: the store's read cache, private to store/ (store.h is the public face).
 *
 * What every request reads (its AccessKey with the secret opened, the
 * policies of its RAM user, its instance) kept in memory between requests,
 * so that a request whose store has not changed costs one check of the
 * database's version instead of a query per item and an AES-GCM open.
 *
 * Exact, not timed: every entry carries the generation it was read in, and
 * store_sync (store.c) moves the generation on as soon as the backend says
 * that anything may have changed; an entry of an older generation is never
 * served. A value read from the backend is stamped with the generation of
 * before the read, so a read that raced with a change is dead as soon as
 * the change is seen (and is not put in at all, evicting a live entry,
 * when the generation has already moved).
 *
 * Each kind of item has a direct-mapped table of a fixed number of slots
 * (a new item replaces whatever hashed to its slot), so the memory is
 * bounded whatever the clients name, and a lookup is one hash, one lock and
 * one compare. Any number of threads may use a cache at once. */
#ifndef ECSHOT_STORE_CACHE_H
#define ECSHOT_STORE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct store_cache store_cache;

/* A cache of slots entries per kind (rounded up to a power of two); NULL
 * when out of memory. */
store_cache *store_cache_new(size_t slots);
/* Wipes the opened secrets and frees everything. NULL is fine. */
void store_cache_free(store_cache *c);

/* The current generation: read it before asking the backend, and give it
 * to the _put that stores the answer. */
uint64_t store_cache_generation(store_cache *c);
/* Something may have changed: no entry read before now is served again. */
void store_cache_invalidate(store_cache *c);

/* Each _find returns 1 and fills the outputs (and *result, STORE_OK or
 * STORE_NOT_FOUND) on a hit of the current generation, else 0. Each _put
 * keeps a STORE_OK or STORE_NOT_FOUND answer read in generation gen, unless
 * the generation has moved on since. */
int store_cache_key_find(store_cache *c, const char *id, access_key *out, int *result);
void store_cache_key_put(store_cache *c, uint64_t gen, const char *id, int result,
                         const access_key *key);

int store_cache_instance_find(store_cache *c, const char *id, instance *out, int *result);
void store_cache_instance_put(store_cache *c, uint64_t gen, const char *id, int result,
                              const instance *inst);

/* Policies come out as a fresh heap array (store_policies_free); a hit that
 * cannot allocate it answers 0, and the caller asks the backend. */
int store_cache_policies_find(store_cache *c, const char *account_id, principal_kind kind,
                              const char *name, policy_doc **out, size_t *count);
void store_cache_policies_put(store_cache *c, uint64_t gen, const char *account_id,
                              principal_kind kind, const char *name, const policy_doc *docs,
                              size_t count);

#endif
