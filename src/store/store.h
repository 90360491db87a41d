/* store.h: the inventory: accounts, RAM users and roles, AccessKeys, policies, instances.
 *
 * One interface, several backends chosen by URL when the store is opened,
 * as SQLite chooses a VFS: "sqlite:PATH" (embedded default) or
 * "postgresql://..." (shared by many ecshotd). A backend is a
 * store_driver (a table of functions) in a file of its own, listed in
 * store.c. Every function returns STORE_OK, STORE_NOT_FOUND, STORE_EXISTS,
 * STORE_INVALID, STORE_CONFLICT or STORE_ERROR; on STORE_ERROR the backend
 * has logged why. A store may be used from many threads at once.
 *
 * AccessKey secrets are sealed (secret/secret.h) here, in the wrappers,
 * under the master keyring given with store_set_keyring: a driver stores
 * and returns sealed text and never sees a secret. */
#ifndef ECSHOT_STORE_STORE_H
#define ECSHOT_STORE_STORE_H

#include <stddef.h>

#include "secret/secret.h"
#include "util/buf.h"

enum store_result {
    STORE_OK = 0,
    STORE_NOT_FOUND = 1,
    STORE_EXISTS = 2,     /* create of something that is already there */
    STORE_INVALID = 3,    /* refused input, e.g. a user of an unknown account */
    STORE_CONFLICT = 4,   /* delete of something still in use (an attached policy) */
    STORE_ERROR = -1      /* the backend failed (I/O, busy past its deadline) */
};

#define STORE_ID_MAX 128      /* account ids, user names, AccessKey ids, instance ids, regions */
#define STORE_SECRET_MAX 128
/* The stored (sealed) form of a secret of up to STORE_SECRET_MAX - 1
 * bytes is 230 bytes; this leaves room for its NUL (store.c checks). */
#define STORE_SEALED_MAX 256
#define STORE_URL_MAX 1024
#define STORE_TAGS_MAX 20     /* ECS allows 20 tags per resource */
#define STORE_TAG_KEY_MAX 128
#define STORE_TAG_VALUE_MAX 256

typedef struct access_key {
    char id[STORE_ID_MAX];
    char secret[STORE_SECRET_MAX];
    char account_id[STORE_ID_MAX];
    char user[STORE_ID_MAX];      /* "" for the account's own (root) key */
    int active;
} access_key;

typedef struct instance_tag {
    char key[STORE_TAG_KEY_MAX];
    char value[STORE_TAG_VALUE_MAX];
} instance_tag;

typedef struct instance {
    char id[STORE_ID_MAX];
    char region[STORE_ID_MAX];
    char account_id[STORE_ID_MAX];
    char type[STORE_ID_MAX];
    char status[32];              /* Pending, Starting, Running, Stopping, Stopped */
    char console_url[STORE_URL_MAX];
    size_t tag_count;
    instance_tag tags[STORE_TAGS_MAX];
} instance;

/* A policy document, as JSON text (heap). */
typedef struct policy_doc {
    char name[STORE_ID_MAX];
    char *document;
} policy_doc;

/* Policies are objects of an account (RAM's custom policies): created once
 * by name, then attached to any of the account's users and roles. */
typedef enum principal_kind {
    PRINCIPAL_USER = 1,
    PRINCIPAL_ROLE = 2
} principal_kind;

typedef struct policy_attachment {
    principal_kind kind;
    char name[STORE_ID_MAX];      /* the user's or the role's */
} policy_attachment;

/* RAM's bounds on a role's MaxSessionDuration, in seconds. */
#define STORE_ROLE_SESSION_MIN 3600
#define STORE_ROLE_SESSION_MAX 43200

/* A RAM role: a set of rights that STS lends, for a while, to whoever the
 * operator issues a token to (ecshot sts assume-role). */
typedef struct role_info {
    char account_id[STORE_ID_MAX];
    char name[STORE_ID_MAX];
    long max_session_s;           /* STORE_ROLE_SESSION_MIN..MAX */
} role_info;

typedef struct store store;

/* Called by a driver's key_reseal_all for each AccessKey, with its stored
 * secret text: returns 1 after appending the text to store instead to out
 * (empty on entry), 0 to leave the row as it is, or -1 to give up (having
 * logged why), which rolls the whole change back. */
typedef int (*store_reseal_fn)(void *ctx, const char *key_id, const char *stored, buf *out);

typedef struct store_driver {
    const char *scheme;   /* URL prefix this driver answers, e.g. "sqlite:" */
    int (*open)(const char *url, store **out);
    void (*close)(store *s);

    /* Read path of a request. Fills every field of out but the secret,
     * whose stored text (at most STORE_SEALED_MAX - 1 bytes, else
     * STORE_ERROR) goes to stored_secret. */
    int (*key_get)(store *s, const char *access_key_id, access_key *out,
                   char stored_secret[STORE_SEALED_MAX]);
    /* Policies attached to the user or role NAME of the account, in policy
     * name order; *out is a heap array the caller frees with
     * store_policies_free. A principal with none, or that does not exist,
     * gets STORE_OK, *out NULL, *count 0. */
    int (*principal_policies)(store *s, const char *account_id, principal_kind kind,
                              const char *name, policy_doc **out, size_t *count);
    /* STORE_NOT_FOUND when the account has no such role. */
    int (*role_get)(store *s, const char *account_id, const char *name, role_info *out);
    int (*instance_get)(store *s, const char *instance_id, instance *out);
    /* store_sync's half: calls store_cache_drop when anything may have
     * been committed, by this or any process, since the last call, and
     * before any later call can answer (else one could find no change and
     * serve the old entries before the drop). STORE_OK, or STORE_ERROR
     * when it cannot tell. Must cost less than the reads it spares. NULL
     * in a driver that cannot tell cheaply; the read cache is then off. */
    int (*sync_cache)(store *s);

    /* Operator commands (ecshot CLI). */
    int (*account_create)(store *s, const char *account_id);
    int (*user_create)(store *s, const char *account_id, const char *user);
    /* user NULL for the account's own key; the secret comes sealed. */
    int (*key_create)(store *s, const char *account_id, const char *user, const char *id,
                      const char *sealed_secret);
    /* Offers every AccessKey's stored secret to reseal and writes back the
     * ones it replaces, in one transaction that keeps other writers of keys
     * out: all or none. *count gets the number replaced. */
    int (*key_reseal_all)(store *s, store_reseal_fn reseal, void *ctx, size_t *count);
    int (*key_set_active)(store *s, const char *access_key_id, int active);
    /* Creates policy NAME with this document and attaches it to the user
     * (already attached: fine): the one-step form of ecshot 0.2. When the
     * account has a policy NAME already, its document is replaced if it is
     * attached to nobody but this user; if others have it, the same
     * document just attaches, and another is STORE_CONFLICT: one user's
     * command never changes another's rights. */
    int (*policy_attach)(store *s, const char *account_id, const char *user, const char *name,
                         const char *document);
    /* Policies as objects. create: STORE_EXISTS when the account has one of
     * that name, STORE_INVALID for an unknown account. get: the document
     * (heap, free out->document). list: fn for each policy of the account in
     * name order, with how many principals it is attached to. */
    int (*policy_create)(store *s, const char *account_id, const char *name, const char *document);
    int (*policy_get)(store *s, const char *account_id, const char *name, policy_doc *out);
    int (*policy_list)(store *s, const char *account_id,
                       int (*fn)(void *ctx, const char *name, size_t attachments), void *ctx);
    /* fn for each principal the policy is attached to, users first, then
     * roles, each in name order; STORE_NOT_FOUND when there is no policy. */
    int (*policy_attachments)(store *s, const char *account_id, const char *name,
                              int (*fn)(void *ctx, const policy_attachment *a), void *ctx);
    /* attach_to: STORE_NOT_FOUND when there is no such policy, STORE_INVALID
     * when the account has no such user or role, STORE_EXISTS when it is
     * attached already. detach: STORE_NOT_FOUND when it was not attached. */
    int (*policy_attach_to)(store *s, const char *account_id, const char *name,
                            principal_kind kind, const char *principal);
    int (*policy_detach)(store *s, const char *account_id, const char *name, principal_kind kind,
                         const char *principal);
    /* STORE_CONFLICT while it is attached to anyone (RAM's rule: detach
     * first), STORE_NOT_FOUND when there is none. */
    int (*policy_delete)(store *s, const char *account_id, const char *name);
    /* Roles. create: STORE_EXISTS, or STORE_INVALID for an unknown account;
     * delete: STORE_CONFLICT while policies are attached, STORE_NOT_FOUND;
     * list: fn for each role of the account in name order. */
    int (*role_create)(store *s, const role_info *role);
    int (*role_delete)(store *s, const char *account_id, const char *name);
    int (*role_list)(store *s, const char *account_id, int (*fn)(void *ctx, const role_info *r),
                     void *ctx);
    int (*instance_add)(store *s, const instance *inst);
    int (*instance_set_status)(store *s, const char *instance_id, const char *status);
    int (*instance_remove)(store *s, const char *instance_id);
    /* Calls fn for each instance in id order; stops early when fn returns non-zero. */
    int (*instance_list)(store *s, int (*fn)(void *ctx, const instance *inst), void *ctx);
    /* Bulk load: adds the count instances, or replaces those that exist
     * (every field and the whole set of tags), in one transaction: all or
     * none. STORE_INVALID when an item is invalid or names an unknown
     * account. NULL in a driver that cannot (store_instance_import then
     * answers STORE_ERROR). */
    int (*instance_import)(store *s, const instance *items, size_t count);
} store_driver;

struct store_cache; /* cache.h, private to store/ */

/* What every backend's store struct starts with (zeroed by its open). */
struct store {
    const store_driver *driver;
    const secret_keyring *keyring;  /* store_set_keyring; not owned */
    struct store_cache *cache;      /* store_cache_enable; NULL: off */
};

/* Opens the backend the URL names; NULL (and a logged reason) when the URL
 * names no backend or the backend cannot open it. */
store *store_open(const char *url);
void store_close(store *s);
void store_policies_free(policy_doc *docs, size_t count);
/* The master keyring that seals and opens AccessKey secrets; the caller
 * keeps it alive (and may reload it, secret_keyring_reload) until the store
 * is closed. Set it before the store is shared between threads. Without
 * one, every call that needs a secret answers STORE_ERROR. Returns STORE_OK
 * (STORE_INVALID for a NULL ring). */
int store_set_keyring(store *s, const secret_keyring *ring);

/* The read cache (store/cache.c): AccessKeys with their secrets opened,
 * principals' policies and instances kept in memory, up to slots of each.
 * Exact: a lookup answers as the backend would have at the last
 * store_sync, or later. Turn it on before the store is shared between
 * threads. STORE_OK; STORE_INVALID when the backend cannot tell cheaply
 * whether it changed (a driver without sync_cache), and the store keeps
 * asking the backend; STORE_ERROR when out of memory. */
int store_cache_enable(store *s, size_t slots);
/* Brings the cache up to the backend: after it returns, no lookup answers
 * with what was true before it was called. A request calls it once, before
 * its first lookup; writes through this store need not (they drop the
 * cache themselves). Without a cache it does nothing. */
void store_sync(store *s);
/* Drops every cached entry: after the keyring is reloaded, since entries
 * hold secrets opened with the old one. */
void store_cache_drop(store *s);

/* Thin wrappers, so callers read store_key_get(s, ...) and not s->driver->... */
/* Opens the secret with the keyring (STORE_ERROR, logged, when it cannot:
 * no keyring, sealed under a key the ring lacks, tampered with or copied
 * from another AccessKey, or still in the clear from an older ecshot). */
int store_key_get(store *s, const char *access_key_id, access_key *out);
/* The policies of a user: principal_policies(PRINCIPAL_USER); the root
 * (user NULL or "") has none. */
int store_user_policies(store *s, const char *account_id, const char *user, policy_doc **out,
                        size_t *count);
int store_principal_policies(store *s, const char *account_id, principal_kind kind,
                             const char *name, policy_doc **out, size_t *count);
int store_role_get(store *s, const char *account_id, const char *name, role_info *out);
int store_instance_get(store *s, const char *instance_id, instance *out);
int store_account_create(store *s, const char *account_id);
int store_user_create(store *s, const char *account_id, const char *user);
/* user NULL or "" for the account's own key. Seals the secret first. */
int store_key_create(store *s, const char *account_id, const char *user, const char *id,
                     const char *secret);
/* Re-seals under the ring's first key every AccessKey secret not sealed by
 * it yet (secrets stored in the clear by an older ecshot included), in one
 * transaction: all or none. *resealed gets how many changed. A secret that
 * does not open (a key the ring lacks, tampering) fails it all, logged. */
int store_key_rotate_master(store *s, size_t *resealed);
int store_key_set_active(store *s, const char *access_key_id, int active);
int store_policy_attach(store *s, const char *account_id, const char *user, const char *name,
                        const char *document);
int store_policy_create(store *s, const char *account_id, const char *name, const char *document);
int store_policy_get(store *s, const char *account_id, const char *name, policy_doc *out);
int store_policy_list(store *s, const char *account_id,
                      int (*fn)(void *ctx, const char *name, size_t attachments), void *ctx);
int store_policy_attachments(store *s, const char *account_id, const char *name,
                             int (*fn)(void *ctx, const policy_attachment *a), void *ctx);
int store_policy_attach_to(store *s, const char *account_id, const char *name, principal_kind kind,
                           const char *principal);
int store_policy_detach(store *s, const char *account_id, const char *name, principal_kind kind,
                        const char *principal);
int store_policy_delete(store *s, const char *account_id, const char *name);
int store_role_create(store *s, const role_info *role);
int store_role_delete(store *s, const char *account_id, const char *name);
int store_role_list(store *s, const char *account_id, int (*fn)(void *ctx, const role_info *r),
                    void *ctx);
int store_instance_add(store *s, const instance *inst);
int store_instance_set_status(store *s, const char *instance_id, const char *status);
int store_instance_remove(store *s, const char *instance_id);
int store_instance_list(store *s, int (*fn)(void *ctx, const instance *inst), void *ctx);
/* Checks every item (store_valid_instance) and that no id comes twice
 * (STORE_INVALID otherwise, before the backend is asked), then imports
 * them as the driver's instance_import does. */
int store_instance_import(store *s, const instance *items, size_t count);

/* What a store keeps, the same for every backend (each backend checks with
 * these and answers STORE_INVALID otherwise); public so that the CLI can
 * say precisely what is wrong. Each returns 1 when acceptable, else 0, and
 * reads no further than the field's size: a string that does not fit is
 * refused, never cut. */
/* 1..STORE_ID_MAX-1 bytes of printable ASCII without space: AccessKey ids,
 * instance ids, regions, instance types, policy names. */
int store_valid_id(const char *s);
/* An account id or user name: an id without '/' (which joins them on the
 * command line) or ':' (which separates the fields of a resource name). */
int store_valid_owner(const char *s);
/* 1..STORE_SECRET_MAX-1 bytes of printable ASCII without space. */
int store_valid_secret(const char *s);
/* Pending, Starting, Running, Stopping or Stopped. */
int store_valid_status(const char *s);
/* Tag key 1..STORE_TAG_KEY_MAX-1 bytes, value 0..STORE_TAG_VALUE_MAX-1
 * bytes, both UTF-8 without control characters. */
int store_valid_tag(const char *key, const char *value);
/* Every field of an instance, its console URL (1..STORE_URL_MAX-1 bytes of
 * UTF-8 without control characters) and its tags (at most STORE_TAGS_MAX,
 * keys distinct). Whether a console driver accepts the URL is console's
 * business, not the store's. */
int store_valid_instance(const instance *inst);

#endif
