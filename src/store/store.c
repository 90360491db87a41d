/* store.c: picks a store backend by URL, and the rules every backend keeps.
 *
 * The drivers table below is the one place a backend is listed: adding one
 * (say "postgresql://") is a file of its own plus a line here. The input
 * rules live here too, so that every backend refuses the same things and
 * the CLI can check them before it asks. So does sealing: AccessKey
 * secrets are sealed before a driver is called and opened after it
 * answers, so no backend ever holds or sees one in the clear. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store/cache.h"
#include "util/log.h"

/* "ecs1:" + 16 + ":" + base64 of nonce, the longest secret and the tag. */
_Static_assert(5 + 16 + 1 + 4 * ((12 + (STORE_SECRET_MAX - 1) + 16 + 2) / 3) < STORE_SEALED_MAX,
               "STORE_SEALED_MAX must hold a sealed secret and its NUL");

extern const store_driver store_sqlite_driver; /* sqlite.c */
extern const store_driver store_postgresql_driver; /* postgresql.c */

static const store_driver *const drivers[] = {
    &store_sqlite_driver,
    &store_postgresql_driver, /* postgresql:// and postgres:// */
};

#define DRIVER_COUNT (sizeof drivers / sizeof drivers[0])

store *store_open(const char *url)
{
    if (!url) {
        log_error("store: no store URL given");
        return NULL;
    }
    for (size_t i = 0; i < DRIVER_COUNT; i++) {
        const char *scheme = drivers[i]->scheme;
        if (strncmp(url, scheme, strlen(scheme)) != 0)
            continue;
        store *s = NULL;
        if (drivers[i]->open(url, &s) != STORE_OK)
            return NULL; /* the driver said why */
        return s;
    }
    /* The URL is not logged: a database URL may carry a password. */
    log_error("store: the store URL names no known backend (known: sqlite:PATH, postgresql://...)");
    return NULL;
}

void store_close(store *s)
{
    if (!s)
        return;
    store_cache *cache = s->cache;
    s->driver->close(s);
    store_cache_free(cache);
}

int store_cache_enable(store *s, size_t slots)
{
    if (!s->driver->sync_cache || slots == 0)
        return STORE_INVALID;
    if (s->cache)
        return STORE_OK;
    if (!(s->cache = store_cache_new(slots))) {
        log_error("store: out of memory for the read cache");
        return STORE_ERROR;
    }
    return STORE_OK;
}

void store_sync(store *s)
{
    if (s->cache && s->driver->sync_cache(s) != STORE_OK)
        store_cache_drop(s); /* cannot tell: the lookups will ask the backend */
}

void store_cache_drop(store *s)
{
    if (s->cache)
        store_cache_invalidate(s->cache);
}

/* A write through this store: the cache may hold what it replaced. */
static int wrote(store *s, int result)
{
    store_cache_drop(s);
    return result;
}

void store_policies_free(policy_doc *docs, size_t count)
{
    if (!docs)
        return;
    for (size_t i = 0; i < count; i++)
        free(docs[i].document);
    free(docs);
}

int store_set_keyring(store *s, const secret_keyring *ring)
{
    if (!ring)
        return STORE_INVALID;
    s->keyring = ring;
    return STORE_OK;
}

/* ---- sealing ---- */

/* Wipes what a buffer held (a secret in the clear) and frees it. */
static void buf_wipe(buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    buf_free(b);
}

static int have_keyring(const store *s)
{
    if (s->keyring)
        return 1;
    log_error("store: no master key to seal or open AccessKey secrets with "
              "(give --master-key FILE; for ecshot, ECSHOT_MASTER_KEY=FILE works too)");
    return 0;
}

/* One line on why a stored secret did not open. */
static void log_open_failure(const char *access_key_id, const char *stored, int rc)
{
    switch (rc) {
    case SECRET_UNKNOWN_KEY:
        log_error("store: access key %s is sealed under master key %.16s, which the master key "
                  "file lacks", access_key_id, stored + sizeof SECRET_PREFIX - 1);
        break;
    case SECRET_FORGED:
        log_error("store: access key %s: its sealed secret does not authenticate (tampered "
                  "with, or copied from another AccessKey)", access_key_id);
        break;
    case SECRET_MALFORMED:
        log_error("store: access key %s: its stored secret is not well-formed sealed text",
                  access_key_id);
        break;
    default:
        log_error("store: access key %s: opening its secret failed (out of memory, or OpenSSL)",
                  access_key_id);
        break;
    }
}

/* Opens a stored secret into out->secret, or says why it cannot. */
static int open_stored_secret(const store *s, const char *access_key_id, const char *stored,
                              access_key *out)
{
    if (!have_keyring(s))
        return STORE_ERROR;
    if (!secret_is_sealed(stored)) {
        log_error("store: access key %s has its secret stored in the clear by an older ecshot: "
                  "run 'ecshot key rotate-master' to seal it", access_key_id);
        return STORE_ERROR;
    }
    buf plain = BUF_INIT;
    int rc = secret_open(s->keyring, access_key_id, stored, strlen(stored), &plain);
    int result = STORE_ERROR;
    if (rc != SECRET_OK) {
        log_open_failure(access_key_id, stored, rc);
    } else if (plain.len >= sizeof out->secret || !store_valid_secret(buf_cstr(&plain))) {
        log_error("store: access key %s: its secret opened, but is not a valid secret",
                  access_key_id);
    } else {
        memcpy(out->secret, plain.data, plain.len + 1);
        result = STORE_OK;
    }
    buf_wipe(&plain);
    return result;
}

/* store_reseal_fn of store_key_rotate_master: ctx is the keyring. */
static int reseal_one(void *ctx, const char *key_id, const char *stored, buf *out)
{
    const secret_keyring *ring = ctx;
    if (secret_sealed_by_current(ring, stored))
        return 0;
    buf plain = BUF_INIT;
    if (secret_is_sealed(stored)) {
        int rc = secret_open(ring, key_id, stored, strlen(stored), &plain);
        if (rc != SECRET_OK) {
            log_open_failure(key_id, stored, rc);
            buf_wipe(&plain);
            return -1;
        }
    } else if (!store_valid_secret(stored)) {
        log_error("store: access key %s: its stored secret is neither sealed nor a valid "
                  "secret", key_id);
        return -1;
    } else if (buf_puts(&plain, stored) != 0) {
        log_error("store: out of memory");
        buf_wipe(&plain);
        return -1;
    }
    int result = 1;
    if (secret_seal(ring, key_id, plain.data, plain.len, out) != SECRET_OK) {
        log_error("store: access key %s: sealing failed (out of memory, or OpenSSL)", key_id);
        result = -1;
    }
    buf_wipe(&plain);
    return result;
}

/* ---- wrappers: the input rules, then the driver ----
 *
 * Every caller goes through these, so the checks on arguments live here
 * once and the drivers see only well-formed input. An id that could never
 * have been stored is "not found" on the read and update paths. */

int store_key_get(store *s, const char *access_key_id, access_key *out)
{
    if (!access_key_id || !out)
        return STORE_INVALID;
    if (!store_valid_id(access_key_id))
        return STORE_NOT_FOUND; /* no such key can have been stored */
    int result;
    if (s->cache && store_cache_key_find(s->cache, access_key_id, out, &result))
        return result;
    uint64_t gen = s->cache ? store_cache_generation(s->cache) : 0;
    char stored[STORE_SEALED_MAX];
    result = s->driver->key_get(s, access_key_id, out, stored);
    if (result == STORE_OK)
        result = open_stored_secret(s, access_key_id, stored, out);
    OPENSSL_cleanse(stored, sizeof stored); /* in the clear, if an older ecshot stored it */
    if (result != STORE_OK)
        OPENSSL_cleanse(out->secret, sizeof out->secret);
    if (s->cache)
        store_cache_key_put(s->cache, gen, access_key_id, result, out);
    return result;
}

int store_user_policies(store *s, const char *account_id, const char *user, policy_doc **out,
                        size_t *count)
{
    if (!account_id || !out || !count)
        return STORE_INVALID;
    if (!user || *user == '\0') {
        *out = NULL;
        *count = 0;
        return STORE_OK; /* the root's rights are not policies */
    }
    return store_principal_policies(s, account_id, PRINCIPAL_USER, user, out, count);
}

static int valid_kind(principal_kind kind)
{
    return kind == PRINCIPAL_USER || kind == PRINCIPAL_ROLE;
}

int store_principal_policies(store *s, const char *account_id, principal_kind kind,
                             const char *name, policy_doc **out, size_t *count)
{
    if (!account_id || !name || !valid_kind(kind) || !out || !count)
        return STORE_INVALID;
    *out = NULL;
    *count = 0;
    /* Principals that cannot have been stored have none. */
    if (!store_valid_owner(account_id) || !store_valid_owner(name))
        return STORE_OK;
    if (!s->cache)
        return s->driver->principal_policies(s, account_id, kind, name, out, count);
    if (store_cache_policies_find(s->cache, account_id, kind, name, out, count))
        return STORE_OK;
    uint64_t gen = store_cache_generation(s->cache);
    int result = s->driver->principal_policies(s, account_id, kind, name, out, count);
    if (result == STORE_OK)
        store_cache_policies_put(s->cache, gen, account_id, kind, name, *out, *count);
    return result;
}

int store_role_get(store *s, const char *account_id, const char *name, role_info *out)
{
    if (!account_id || !name || !out)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_owner(name))
        return STORE_NOT_FOUND;
    return s->driver->role_get(s, account_id, name, out);
}

int store_instance_get(store *s, const char *instance_id, instance *out)
{
    if (!instance_id || !out)
        return STORE_INVALID;
    if (!store_valid_id(instance_id))
        return STORE_NOT_FOUND;
    if (!s->cache)
        return s->driver->instance_get(s, instance_id, out);
    int result;
    if (store_cache_instance_find(s->cache, instance_id, out, &result))
        return result;
    uint64_t gen = store_cache_generation(s->cache);
    result = s->driver->instance_get(s, instance_id, out);
    store_cache_instance_put(s->cache, gen, instance_id, result, out);
    return result;
}

int store_account_create(store *s, const char *account_id)
{
    if (!store_valid_owner(account_id))
        return STORE_INVALID;
    return wrote(s, s->driver->account_create(s, account_id));
}

int store_user_create(store *s, const char *account_id, const char *user)
{
    if (!store_valid_owner(account_id) || !store_valid_owner(user))
        return STORE_INVALID;
    return wrote(s, s->driver->user_create(s, account_id, user));
}

int store_key_create(store *s, const char *account_id, const char *user, const char *id,
                     const char *secret)
{
    if (user && *user == '\0')
        user = NULL; /* the account's own key */
    if (!store_valid_owner(account_id) || (user && !store_valid_owner(user)) ||
        !store_valid_id(id) || !store_valid_secret(secret))
        return STORE_INVALID;
    if (!have_keyring(s))
        return STORE_ERROR;
    buf sealed = BUF_INIT;
    if (secret_seal(s->keyring, id, secret, strlen(secret), &sealed) != SECRET_OK) {
        log_error("store: access key %s: sealing its secret failed (out of memory, or OpenSSL)",
                  id);
        buf_free(&sealed);
        return STORE_ERROR;
    }
    int result = s->driver->key_create(s, account_id, user, id, buf_cstr(&sealed));
    buf_free(&sealed);
    return wrote(s, result);
}

int store_key_rotate_master(store *s, size_t *resealed)
{
    size_t count = 0;
    if (!have_keyring(s))
        return STORE_ERROR;
    int result = wrote(s, s->driver->key_reseal_all(s, reseal_one, (void *)s->keyring, &count));
    if (resealed)
        *resealed = result == STORE_OK ? count : 0;
    return result;
}

int store_key_set_active(store *s, const char *access_key_id, int active)
{
    if (!access_key_id)
        return STORE_INVALID;
    if (!store_valid_id(access_key_id))
        return STORE_NOT_FOUND;
    return wrote(s, s->driver->key_set_active(s, access_key_id, active));
}

int store_policy_attach(store *s, const char *account_id, const char *user, const char *name,
                        const char *document)
{
    if (!store_valid_owner(account_id) || !store_valid_owner(user) || !store_valid_id(name) ||
        !document || *document == '\0')
        return STORE_INVALID;
    return wrote(s, s->driver->policy_attach(s, account_id, user, name, document));
}

int store_policy_create(store *s, const char *account_id, const char *name, const char *document)
{
    if (!store_valid_owner(account_id) || !store_valid_id(name) || !document ||
        *document == '\0')
        return STORE_INVALID;
    return wrote(s, s->driver->policy_create(s, account_id, name, document));
}

int store_policy_get(store *s, const char *account_id, const char *name, policy_doc *out)
{
    if (!account_id || !name || !out)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_id(name))
        return STORE_NOT_FOUND;
    return s->driver->policy_get(s, account_id, name, out);
}

int store_policy_list(store *s, const char *account_id,
                      int (*fn)(void *ctx, const char *name, size_t attachments), void *ctx)
{
    if (!account_id || !fn)
        return STORE_INVALID;
    if (!store_valid_owner(account_id))
        return STORE_OK; /* an account that cannot exist has no policies */
    return s->driver->policy_list(s, account_id, fn, ctx);
}

int store_policy_attachments(store *s, const char *account_id, const char *name,
                             int (*fn)(void *ctx, const policy_attachment *a), void *ctx)
{
    if (!account_id || !name || !fn)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_id(name))
        return STORE_NOT_FOUND;
    return s->driver->policy_attachments(s, account_id, name, fn, ctx);
}

int store_policy_attach_to(store *s, const char *account_id, const char *name, principal_kind kind,
                           const char *principal)
{
    if (!store_valid_owner(account_id) || !store_valid_id(name) || !valid_kind(kind) ||
        !store_valid_owner(principal))
        return STORE_INVALID;
    return wrote(s, s->driver->policy_attach_to(s, account_id, name, kind, principal));
}

int store_policy_detach(store *s, const char *account_id, const char *name, principal_kind kind,
                        const char *principal)
{
    if (!account_id || !name || !valid_kind(kind) || !principal)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_id(name) || !store_valid_owner(principal))
        return STORE_NOT_FOUND; /* cannot have been attached */
    return wrote(s, s->driver->policy_detach(s, account_id, name, kind, principal));
}

int store_policy_delete(store *s, const char *account_id, const char *name)
{
    if (!account_id || !name)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_id(name))
        return STORE_NOT_FOUND;
    return wrote(s, s->driver->policy_delete(s, account_id, name));
}

int store_role_create(store *s, const role_info *role)
{
    if (!role || !store_valid_owner(role->account_id) || !store_valid_owner(role->name) ||
        role->max_session_s < STORE_ROLE_SESSION_MIN ||
        role->max_session_s > STORE_ROLE_SESSION_MAX)
        return STORE_INVALID;
    return wrote(s, s->driver->role_create(s, role));
}

int store_role_delete(store *s, const char *account_id, const char *name)
{
    if (!account_id || !name)
        return STORE_INVALID;
    if (!store_valid_owner(account_id) || !store_valid_owner(name))
        return STORE_NOT_FOUND;
    return wrote(s, s->driver->role_delete(s, account_id, name));
}

int store_role_list(store *s, const char *account_id, int (*fn)(void *ctx, const role_info *r),
                    void *ctx)
{
    if (!account_id || !fn)
        return STORE_INVALID;
    if (!store_valid_owner(account_id))
        return STORE_OK; /* an account that cannot exist has no roles */
    return s->driver->role_list(s, account_id, fn, ctx);
}

int store_instance_add(store *s, const instance *inst)
{
    if (!store_valid_instance(inst))
        return STORE_INVALID;
    return wrote(s, s->driver->instance_add(s, inst));
}

int store_instance_set_status(store *s, const char *instance_id, const char *status)
{
    if (!instance_id || !store_valid_status(status))
        return STORE_INVALID;
    if (!store_valid_id(instance_id))
        return STORE_NOT_FOUND;
    return wrote(s, s->driver->instance_set_status(s, instance_id, status));
}

int store_instance_remove(store *s, const char *instance_id)
{
    if (!instance_id)
        return STORE_INVALID;
    if (!store_valid_id(instance_id))
        return STORE_NOT_FOUND;
    return wrote(s, s->driver->instance_remove(s, instance_id));
}

int store_instance_list(store *s, int (*fn)(void *ctx, const instance *inst), void *ctx)
{
    if (!fn)
        return STORE_INVALID;
    return s->driver->instance_list(s, fn, ctx);
}

static int compare_ids(const void *a, const void *b)
{
    const instance *x = *(const instance *const *)a, *y = *(const instance *const *)b;
    return strcmp(x->id, y->id);
}

/* 1 when two items share an id (items are valid, so ids are terminated). */
static int has_duplicate_id(const instance *items, size_t count)
{
    if (count < 2)
        return 0;
    const instance **sorted = malloc(count * sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < count; i++)
        sorted[i] = &items[i];
    qsort(sorted, count, sizeof *sorted, compare_ids);
    int dup = 0;
    for (size_t i = 1; i < count && !dup; i++)
        dup = strcmp(sorted[i - 1]->id, sorted[i]->id) == 0;
    free(sorted);
    return dup;
}

int store_instance_import(store *s, const instance *items, size_t count)
{
    if (!items && count > 0)
        return STORE_INVALID;
    for (size_t i = 0; i < count; i++)
        if (!store_valid_instance(&items[i]))
            return STORE_INVALID;
    int dup = has_duplicate_id(items, count);
    if (dup < 0) {
        log_error("store: instance_import: out of memory");
        return STORE_ERROR;
    }
    if (dup)
        return STORE_INVALID;
    if (!s->driver->instance_import) {
        log_error("store: this backend cannot import instances");
        return STORE_ERROR;
    }
    return wrote(s, s->driver->instance_import(s, items, count));
}

/* ---- input rules ---- */

/* Length of s when it ends within cap bytes (so fits a field of that size
 * with its NUL), else cap. Never reads past cap. */
static size_t bounded_len(const char *s, size_t cap)
{
    return strnlen(s, cap);
}

/* 1..cap-1 bytes in '!'..'~'. */
static int graphic_ascii(const char *s, size_t cap)
{
    if (!s)
        return 0;
    size_t n = bounded_len(s, cap);
    if (n == 0 || n == cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* Well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without C0 controls or DEL: text that renders safely in a JSON
 * or XML response and on an operator's terminal. */
static int clean_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t extra;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* min_len..cap-1 bytes of clean UTF-8. */
static int clean_text(const char *s, size_t min_len, size_t cap)
{
    if (!s)
        return 0;
    size_t n = bounded_len(s, cap);
    if (n < min_len || n == cap)
        return 0;
    return clean_utf8((const unsigned char *)s, n);
}

int store_valid_id(const char *s)
{
    return graphic_ascii(s, STORE_ID_MAX);
}

int store_valid_owner(const char *s)
{
    return store_valid_id(s) && !strchr(s, '/') && !strchr(s, ':');
}

int store_valid_secret(const char *s)
{
    return graphic_ascii(s, STORE_SECRET_MAX);
}

int store_valid_status(const char *s)
{
    static const char *const statuses[] = {"Pending", "Starting", "Running", "Stopping", "Stopped"};
    if (!s)
        return 0;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (strcmp(s, statuses[i]) == 0)
            return 1;
    return 0;
}

int store_valid_tag(const char *key, const char *value)
{
    return clean_text(key, 1, STORE_TAG_KEY_MAX) && clean_text(value, 0, STORE_TAG_VALUE_MAX);
}

int store_valid_instance(const instance *inst)
{
    if (!inst)
        return 0;
    /* status is checked for termination first: store_valid_status uses strcmp. */
    if (!store_valid_id(inst->id) || !store_valid_id(inst->region) ||
        !store_valid_owner(inst->account_id) || !store_valid_id(inst->type) ||
        bounded_len(inst->status, sizeof inst->status) == sizeof inst->status ||
        !store_valid_status(inst->status) || !clean_text(inst->console_url, 1, STORE_URL_MAX))
        return 0;
    if (inst->tag_count > STORE_TAGS_MAX)
        return 0;
    for (size_t i = 0; i < inst->tag_count; i++) {
        if (!store_valid_tag(inst->tags[i].key, inst->tags[i].value))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(inst->tags[i].key, inst->tags[j].key) == 0)
                return 0;
    }
    return 1;
}
