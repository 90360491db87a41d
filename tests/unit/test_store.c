/* test_store.c: the store interface and its SQLite backend, on real files.
 *
 * Each test gets a fresh mkdtemp directory holding the database (and its
 * -wal and -shm files) and master key files, removed afterwards; stores are
 * opened with the fixture's keyring unless a test says otherwise. Threads
 * check the pool and WAL: many readers at once, and a second store handle
 * (as the CLI would open) writing while the first one reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "secret/secret.h"
#include "store/store.h"

#include "store_cache_race.h"

#define EXPECTED_SCHEMA_VERSION 2 /* raise with each migration added */

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define KEY_C "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"

typedef struct fixture {
    char dir[64];
    char path[128];
    char url[160];
    secret_keyring *ring; /* KEY_A */
} fixture;

/* A keyring from a key file of that text, written in the fixture's directory. */
static secret_keyring *ring_of(const fixture *f, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fchmod(fileno(fp), 0600), 0);
    fputs(text, fp);
    fclose(fp);
    buf why = BUF_INIT;
    secret_keyring *ring = secret_keyring_load(path, &why);
    if (!ring)
        fail_msg("%s", buf_cstr(&why));
    buf_free(&why);
    return ring;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/ecshot-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/ecshot.db", f->dir);
    snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    f->ring = ring_of(f, "master.key", KEY_A "\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    assert_int_equal(rmdir(f->dir), 0);
    secret_keyring_free(f->ring);
    free(f);
    return 0;
}

/* The fixture's store, with the fixture's keyring. */
static store *open_keyed(const fixture *f)
{
    store *s = store_open(f->url);
    assert_non_null(s);
    assert_int_equal(store_set_keyring(s, f->ring), STORE_OK);
    return s;
}

/* An opened store with one account "1001", a user "alice", a root key and
 * a user key. */
static store *open_populated(const fixture *f)
{
    store *s = open_keyed(f);
    assert_non_null(s);
    assert_int_equal(store_account_create(s, "1001"), STORE_OK);
    assert_int_equal(store_user_create(s, "1001", "alice"), STORE_OK);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKROOT", "rootsecret"), STORE_OK);
    assert_int_equal(store_key_create(s, "1001", "alice", "AKALICE", "alicesecret"), STORE_OK);
    return s;
}

static void fill_instance(instance *inst, const char *id, const char *account)
{
    memset(inst, 0, sizeof *inst);
    strcpy(inst->id, id);
    strcpy(inst->region, "cn-hangzhou");
    strcpy(inst->account_id, account);
    strcpy(inst->type, "ecs.g6.large");
    strcpy(inst->status, "Running");
    strcpy(inst->console_url, "qmp:/run/ecshot/vm1.sock");
}

static long long query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static const char allow_doc[] = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                                "\"Action\":\"ecs:*\",\"Resource\":\"*\"}]}";
static const char deny_doc[] = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Deny\","
                               "\"Action\":\"ecs:*\",\"Resource\":\"*\"}]}";

/* What a listing handed its callback, as "a,b,c"; the callback asks to
 * stop after stop_after calls (0: never). */
typedef struct listing {
    char text[2048];
    int calls;
    int stop_after;
} listing;

static int listing_add(listing *l, const char *item)
{
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s%s", n ? "," : "", item);
    l->calls++;
    return l->stop_after && l->calls == l->stop_after;
}

/* "name:attachments" */
static int list_policy(void *ctx, const char *name, size_t attachments)
{
    char item[STORE_ID_MAX + 32];
    snprintf(item, sizeof item, "%s:%zu", name, attachments);
    return listing_add(ctx, item);
}

/* "user:NAME" or "role:NAME" */
static int list_attachment(void *ctx, const policy_attachment *a)
{
    char item[STORE_ID_MAX + 8];
    assert_true(a->kind == PRINCIPAL_USER || a->kind == PRINCIPAL_ROLE);
    snprintf(item, sizeof item, "%s:%s", a->kind == PRINCIPAL_USER ? "user" : "role", a->name);
    return listing_add(ctx, item);
}

/* "account/name:max_session_s" */
static int list_role(void *ctx, const role_info *r)
{
    char item[2 * STORE_ID_MAX + 32];
    snprintf(item, sizeof item, "%s/%s:%ld", r->account_id, r->name, r->max_session_s);
    return listing_add(ctx, item);
}

/* The names of a principal's policies, as "a,b". */
static void assert_principal_policies(store *s, const char *account, principal_kind kind,
                                      const char *name, const char *expected)
{
    policy_doc *docs = (policy_doc *)1;
    size_t n = 99;
    assert_int_equal(store_principal_policies(s, account, kind, name, &docs, &n), STORE_OK);
    listing l = {0};
    for (size_t i = 0; i < n; i++)
        listing_add(&l, docs[i].name);
    if (n == 0)
        assert_null(docs);
    store_policies_free(docs, n);
    assert_string_equal(l.text, expected);
}

static void assert_policy_document(store *s, const char *account, const char *name,
                                   const char *document)
{
    policy_doc d;
    assert_int_equal(store_policy_get(s, account, name, &d), STORE_OK);
    assert_string_equal(d.name, name);
    assert_string_equal(d.document, document);
    free(d.document);
}

/* ---- opening ---- */

static void test_open_creates_schema(void **state)
{
    fixture *f = *state;
    store *s = store_open(f->url);
    assert_non_null(s);

    assert_int_equal(query_int(f->path, "PRAGMA user_version"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int(f->path, "PRAGMA application_id"), 0x65637368);
    assert_int_equal(query_int(f->path,
                               "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
                               " ('accounts', 'users', 'access_keys', 'policies', 'instances',"
                               " 'instance_tags', 'roles', 'policy_attachments')"),
                     8);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                                        " AND name = 'policies_v1'"),
                     0);
    /* WAL is a property of the file, visible to any connection. */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* The file holds secrets; so do its WAL and shared-memory companions,
     * which exist while the store is open and which SQLite creates with the
     * database file's mode. */
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", f->path);
    assert_int_equal(stat(side, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    snprintf(side, sizeof side, "%s-shm", f->path);
    assert_int_equal(stat(side, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    store_close(s);
}

static void test_reopen_keeps_data(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    store_close(s);

    s = open_keyed(f);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(store_account_create(s, "1001"), STORE_EXISTS);
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.secret, "alicesecret");
    store_close(s);
}

static void test_open_refuses(void **state)
{
    fixture *f = *state;
    assert_null(store_open(NULL));
    assert_null(store_open("sqlite:"));
    assert_null(store_open("sqlite::memory:"));
    assert_null(store_open("nosuch:whatever"));
    assert_null(store_open(f->path)); /* a path is not a URL */

    char url[256];
    snprintf(url, sizeof url, "sqlite:%s/missing-dir/x.db", f->dir);
    assert_null(store_open(url));

    /* A database from a newer ecshot is left alone. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(f->url));
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), 99);
}

static void test_open_refuses_foreign_database(void **state)
{
    fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 42; CREATE TABLE t(x)", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(f->url));
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), 0);
}

static void test_open_refuses_non_database(void **state)
{
    fixture *f = *state;
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, just some text that is long enough\n", fp);
    fclose(fp);
    assert_null(store_open(f->url));
}

/* ---- accounts, users, keys ---- */

static void test_accounts_and_users(void **state)
{
    fixture *f = *state;
    store *s = store_open(f->url);
    assert_non_null(s);
    assert_int_equal(store_account_create(s, "1001"), STORE_OK);
    assert_int_equal(store_account_create(s, "1001"), STORE_EXISTS);
    assert_int_equal(store_account_create(s, ""), STORE_INVALID);
    assert_int_equal(store_account_create(s, NULL), STORE_INVALID);
    assert_int_equal(store_account_create(s, "10/01"), STORE_INVALID);
    assert_int_equal(store_account_create(s, "10:01"), STORE_INVALID);
    assert_int_equal(store_account_create(s, "10 01"), STORE_INVALID);

    char longest[STORE_ID_MAX], too_long[STORE_ID_MAX + 1];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'b', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(store_account_create(s, longest), STORE_OK);
    assert_int_equal(store_account_create(s, too_long), STORE_INVALID);

    assert_int_equal(store_user_create(s, "1001", "alice"), STORE_OK);
    assert_int_equal(store_user_create(s, "1001", "alice"), STORE_EXISTS);
    assert_int_equal(store_user_create(s, "1001", "bob"), STORE_OK);
    assert_int_equal(store_user_create(s, longest, "alice"), STORE_OK); /* another account */
    assert_int_equal(store_user_create(s, "2002", "alice"), STORE_INVALID); /* unknown account */
    assert_int_equal(store_user_create(s, "1001", ""), STORE_INVALID);
    assert_int_equal(store_user_create(s, "1001", NULL), STORE_INVALID);
    assert_int_equal(store_user_create(s, "1001", too_long), STORE_INVALID);
    store_close(s);
}

static void test_keys(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    access_key k;

    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_string_equal(k.id, "AKROOT");
    assert_string_equal(k.secret, "rootsecret");
    assert_string_equal(k.account_id, "1001");
    assert_string_equal(k.user, "");
    assert_int_equal(k.active, 1);

    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.secret, "alicesecret");
    assert_string_equal(k.account_id, "1001");
    assert_string_equal(k.user, "alice");
    assert_int_equal(k.active, 1);

    /* "" is the root too. */
    assert_int_equal(store_key_create(s, "1001", "", "AKROOT2", "s2"), STORE_OK);
    assert_int_equal(store_key_get(s, "AKROOT2", &k), STORE_OK);
    assert_string_equal(k.user, "");

    assert_int_equal(store_key_get(s, "AKNONE", &k), STORE_NOT_FOUND);
    assert_int_equal(store_key_get(s, "akroot", &k), STORE_NOT_FOUND); /* case matters */
    assert_int_equal(store_key_get(s, "", &k), STORE_NOT_FOUND);
    char huge[4096];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(store_key_get(s, huge, &k), STORE_NOT_FOUND);
    assert_int_equal(store_key_get(s, NULL, &k), STORE_INVALID);

    assert_int_equal(store_key_create(s, "1001", NULL, "AKROOT", "other"), STORE_EXISTS);
    assert_int_equal(store_key_create(s, "9999", NULL, "AKX1", "sx"), STORE_INVALID);
    assert_int_equal(store_key_create(s, "1001", "nobody", "AKX2", "sx"), STORE_INVALID);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKX3", ""), STORE_INVALID);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKX4", NULL), STORE_INVALID);
    assert_int_equal(store_key_create(s, "1001", NULL, "", "sx"), STORE_INVALID);
    assert_int_equal(store_key_create(s, "1001", NULL, "AK X", "sx"), STORE_INVALID);
    char secret[STORE_SECRET_MAX + 1];
    memset(secret, 's', sizeof secret - 1);
    secret[sizeof secret - 1] = '\0';
    assert_int_equal(store_key_create(s, "1001", NULL, "AKX5", secret), STORE_INVALID);
    secret[STORE_SECRET_MAX - 1] = '\0'; /* the longest that fits */
    assert_int_equal(store_key_create(s, "1001", NULL, "AKX5", secret), STORE_OK);
    assert_int_equal(store_key_get(s, "AKX5", &k), STORE_OK);
    assert_string_equal(k.secret, secret);
    assert_int_equal(store_key_get(s, "AKX1", &k), STORE_NOT_FOUND);

    assert_int_equal(store_key_set_active(s, "AKALICE", 0), STORE_OK);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_int_equal(k.active, 0);
    assert_int_equal(store_key_set_active(s, "AKALICE", 0), STORE_OK); /* already off */
    assert_int_equal(store_key_set_active(s, "AKALICE", 1), STORE_OK);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_int_equal(k.active, 1);
    assert_int_equal(store_key_set_active(s, "AKNONE", 0), STORE_NOT_FOUND);
    assert_int_equal(store_key_set_active(s, NULL, 0), STORE_INVALID);
    store_close(s);
}

/* ---- secrets at rest ---- */

/* The stored secret of an AccessKey, as the database holds it. */
static void stored_secret(const fixture *f, const char *id, char out[STORE_SEALED_MAX])
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT secret FROM access_keys WHERE id = ?1", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, STORE_SEALED_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Runs SQL on the database directly, as someone with only the file would. */
static void exec_sql(const fixture *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* 1 when the file's bytes (database and WAL) hold text anywhere. */
static int file_holds(const fixture *f, const char *text)
{
    static const char *const suffixes[] = {"", "-wal"};
    int found = 0;
    for (size_t i = 0; i < 2 && !found; i++) {
        char path[160];
        snprintf(path, sizeof path, "%s%s", f->path, suffixes[i]);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        static char data[1 << 22];
        size_t n = fread(data, 1, sizeof data, fp);
        fclose(fp);
        found = memmem(data, n, text, strlen(text)) != NULL;
    }
    return found;
}

static void test_secrets_sealed_at_rest(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    char stored[STORE_SEALED_MAX];
    stored_secret(f, "AKROOT", stored);
    /* Sealed under the fixture's key, bound to the id; the clear text is
     * nowhere in the files. */
    assert_memory_equal(stored, "ecs1:", 5);
    assert_memory_equal(stored + 5, secret_keyring_fingerprint(f->ring), 16);
    assert_true(secret_sealed_by_current(f->ring, stored));
    buf plain = BUF_INIT;
    assert_int_equal(secret_open(f->ring, "AKROOT", stored, strlen(stored), &plain), SECRET_OK);
    assert_string_equal(buf_cstr(&plain), "rootsecret");
    buf_free(&plain);
    assert_false(file_holds(f, "rootsecret"));
    assert_false(file_holds(f, "alicesecret"));
    assert_true(file_holds(f, "AKALICE")); /* the check can see what is there */

    /* The longest secret fits, sealed. */
    char longest[STORE_SECRET_MAX];
    memset(longest, '~', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_int_equal(store_key_create(s, "1001", NULL, "AKLONG", longest), STORE_OK);
    stored_secret(f, "AKLONG", stored);
    assert_int_equal(strlen(stored), 230);
    access_key k;
    assert_int_equal(store_key_get(s, "AKLONG", &k), STORE_OK);
    assert_string_equal(k.secret, longest);
    store_close(s);
}

/* Without a keyring nothing that needs a secret works; the rest does. */
static void test_no_keyring(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    store_close(s);
    s = store_open(f->url);
    assert_non_null(s);
    access_key k;
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_ERROR);
    assert_string_equal(k.secret, "");
    assert_int_equal(store_key_create(s, "1001", NULL, "AKNEW", "newsecret"), STORE_ERROR);
    assert_int_equal(store_key_get(s, "AKNEW", &k), STORE_NOT_FOUND); /* nothing was stored */
    size_t n = 99;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_ERROR);
    assert_int_equal(n, 99);
    /* Bad input is still bad input first; missing keys are still missing. */
    assert_int_equal(store_key_create(s, "1001", NULL, "AKNEW", ""), STORE_INVALID);
    assert_int_equal(store_key_get(s, "AKNONE", &k), STORE_NOT_FOUND);
    assert_int_equal(store_set_keyring(s, NULL), STORE_INVALID);
    assert_int_equal(store_account_create(s, "2002"), STORE_OK);
    assert_int_equal(store_key_set_active(s, "AKROOT", 0), STORE_OK);
    store_close(s);
}

/* A sealed secret copied onto another AccessKey does not open there. */
static void test_copied_secret_does_not_open(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    exec_sql(f, "UPDATE access_keys SET secret = (SELECT secret FROM access_keys"
                " WHERE id = 'AKROOT') WHERE id = 'AKALICE'");
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_ERROR);
    assert_string_equal(k.secret, "");
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    /* Nor does rotation launder it: sealed by the current key, it is left
     * as it is (and still does not open). */
    size_t n = 99;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_ERROR);
    /* Under an older key it fails the rotation instead. */
    secret_keyring *ba = ring_of(f, "ba.key", KEY_B "\n" KEY_A "\n");
    assert_int_equal(store_set_keyring(s, ba), STORE_OK);
    assert_int_equal(store_key_rotate_master(s, &n), STORE_ERROR);
    assert_int_equal(n, 0);
    store_close(s);
    secret_keyring_free(ba);
}

/* Rows an older ecshot stored in the clear are refused until rotate-master
 * seals them. */
static void test_legacy_plaintext(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    exec_sql(f, "INSERT INTO access_keys (id, secret, account_id, active)"
                " VALUES ('AKOLD', 'oldplainsecret', '1001', 1)");
    access_key k;
    assert_int_equal(store_key_get(s, "AKOLD", &k), STORE_ERROR);
    assert_string_equal(k.secret, "");
    size_t n = 0;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 1); /* the others are sealed by the current key already */
    assert_int_equal(store_key_get(s, "AKOLD", &k), STORE_OK);
    assert_string_equal(k.secret, "oldplainsecret");
    char stored[STORE_SEALED_MAX];
    stored_secret(f, "AKOLD", stored);
    assert_true(secret_sealed_by_current(f->ring, stored));
    store_close(s);
    /* Bound to its id like any other. */
    exec_sql(f, "UPDATE access_keys SET secret = (SELECT secret FROM access_keys"
                " WHERE id = 'AKOLD') WHERE id = 'AKROOT'");
    s = open_keyed(f);
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_ERROR);
    store_close(s);
}

static void test_rotate_master(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f); /* sealed under A */
    char before[STORE_SEALED_MAX], after[STORE_SEALED_MAX];
    stored_secret(f, "AKROOT", before);

    /* Step 1 of a rotation: B first, A kept. Everything still opens. */
    secret_keyring *ba = ring_of(f, "ba.key", "# new\n" KEY_B "\n# old\n" KEY_A "\n");
    assert_int_equal(store_set_keyring(s, ba), STORE_OK);
    access_key k;
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_string_equal(k.secret, "rootsecret");
    /* A key made now is sealed by B. */
    assert_int_equal(store_key_create(s, "1001", NULL, "AKNEW", "newsecret"), STORE_OK);

    /* Step 2: re-seal. Only the two A rows change; a second run changes none. */
    size_t n = 0;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_key_rotate_master(s, NULL), STORE_OK);
    stored_secret(f, "AKROOT", after);
    assert_string_not_equal(before, after);
    assert_memory_equal(after + 5, secret_keyring_fingerprint(ba), 16);

    /* Step 3: drop A. B alone opens every key; A alone opens none. */
    secret_keyring *b = ring_of(f, "b.key", KEY_B "\n");
    secret_keyring *a = ring_of(f, "a.key", KEY_A "\n");
    assert_int_equal(store_set_keyring(s, b), STORE_OK);
    static const char *const ids[] = {"AKROOT", "AKALICE", "AKNEW"};
    static const char *const secrets[] = {"rootsecret", "alicesecret", "newsecret"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_key_get(s, ids[i], &k), STORE_OK);
        assert_string_equal(k.secret, secrets[i]);
    }
    assert_int_equal(store_set_keyring(s, a), STORE_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_key_get(s, ids[i], &k), STORE_ERROR);
    store_close(s);
    secret_keyring_free(a);
    secret_keyring_free(b);
    secret_keyring_free(ba);
}

/* One secret that does not open (sealed under a key the ring lacks) fails
 * the rotation, and nothing is changed: all or none. */
static void test_rotate_master_all_or_none(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f); /* AKALICE, AKROOT under A */
    secret_keyring *c = ring_of(f, "c.key", KEY_C "\n");
    assert_int_equal(store_set_keyring(s, c), STORE_OK);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKZZZ", "zsecret"), STORE_OK); /* under C */

    secret_keyring *ba = ring_of(f, "ba.key", KEY_B "\n" KEY_A "\n");
    assert_int_equal(store_set_keyring(s, ba), STORE_OK);
    char alice[STORE_SEALED_MAX], root[STORE_SEALED_MAX], z[STORE_SEALED_MAX];
    char now[STORE_SEALED_MAX];
    stored_secret(f, "AKALICE", alice);
    stored_secret(f, "AKROOT", root);
    stored_secret(f, "AKZZZ", z);
    size_t n = 99;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_ERROR);
    assert_int_equal(n, 0);
    stored_secret(f, "AKALICE", now);
    assert_string_equal(now, alice); /* before AKZZZ in id order, yet not changed */
    stored_secret(f, "AKROOT", now);
    assert_string_equal(now, root);
    stored_secret(f, "AKZZZ", now);
    assert_string_equal(now, z);

    /* With C in the file too it goes through. */
    secret_keyring *bac = ring_of(f, "bac.key", KEY_B "\n" KEY_A "\n" KEY_C "\n");
    assert_int_equal(store_set_keyring(s, bac), STORE_OK);
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 3);
    store_close(s);
    secret_keyring_free(c);
    secret_keyring_free(ba);
    secret_keyring_free(bac);
}

/* ---- policies ---- */

static void test_policies(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    assert_int_equal(store_user_create(s, "1001", "bob"), STORE_OK);
    const char *allow = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Allow\","
                        "\"Action\":\"ecs:*\",\"Resource\":\"*\"}]}";
    const char *deny = "{\"Version\":\"1\",\"Statement\":[{\"Effect\":\"Deny\","
                       "\"Action\":\"ecs:*\",\"Resource\":\"*\"}]}";

    policy_doc *docs = (policy_doc *)1;
    size_t n = 99;
    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_null(docs);
    assert_int_equal(n, 0);

    assert_int_equal(store_policy_attach(s, "1001", "alice", "zeta", deny), STORE_OK);
    assert_int_equal(store_policy_attach(s, "1001", "alice", "alpha", allow), STORE_OK);
    assert_int_equal(store_policy_attach(s, "1001", "bob", "bobs", allow), STORE_OK);

    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(docs[0].name, "alpha");
    assert_string_equal(docs[0].document, allow);
    assert_string_equal(docs[1].name, "zeta");
    assert_string_equal(docs[1].document, deny);
    store_policies_free(docs, n);

    /* Attaching by an existing name replaces the document. */
    assert_int_equal(store_policy_attach(s, "1001", "alice", "zeta", allow), STORE_OK);
    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(docs[1].name, "zeta");
    assert_string_equal(docs[1].document, allow);
    store_policies_free(docs, n);

    assert_int_equal(store_user_policies(s, "1001", "bob", &docs, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(docs[0].name, "bobs");
    store_policies_free(docs, n);

    /* The root and unknown users have none. */
    assert_int_equal(store_user_policies(s, "1001", NULL, &docs, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_user_policies(s, "1001", "", &docs, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_user_policies(s, "1001", "carol", &docs, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_user_policies(s, "2002", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_user_policies(s, NULL, "alice", &docs, &n), STORE_INVALID);

    assert_int_equal(store_policy_attach(s, "1001", "carol", "p", allow), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "2002", "alice", "p", allow), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "1001", NULL, "p", allow), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "1001", "", "p", allow), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "1001", "alice", "", allow), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "1001", "alice", "p", ""), STORE_INVALID);
    assert_int_equal(store_policy_attach(s, "1001", "alice", "p", NULL), STORE_INVALID);
    store_policies_free(NULL, 0);
    /* A refused attach leaves no policy behind. */
    policy_doc d;
    assert_int_equal(store_policy_get(s, "1001", "p", &d), STORE_NOT_FOUND);

    /* A policy's name is the account's, and one user's attach never
     * changes another's rights: "zeta" with another document for bob is
     * refused, with alice's document it is shared; then neither may give
     * it another document, and alice keeps hers. */
    assert_int_equal(store_policy_attach(s, "1001", "bob", "zeta", deny), STORE_CONFLICT);
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "bobs");
    assert_int_equal(store_policy_attach(s, "1001", "bob", "zeta", allow), STORE_OK);
    assert_int_equal(store_policy_attach(s, "1001", "alice", "zeta", deny), STORE_CONFLICT);
    assert_int_equal(store_policy_attach(s, "1001", "bob", "zeta", deny), STORE_CONFLICT);
    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(docs[1].name, "zeta");
    assert_string_equal(docs[1].document, allow);
    store_policies_free(docs, n);
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "bobs,zeta");
    listing l = {0};
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "alpha:1,bobs:1,zeta:2");
    /* Attaching again what is attached already is fine. */
    assert_int_equal(store_policy_attach(s, "1001", "bob", "zeta", allow), STORE_OK);
    store_close(s);
}

static void test_policy_objects(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    assert_int_equal(store_user_create(s, "1001", "bob"), STORE_OK);
    assert_int_equal(store_account_create(s, "2002"), STORE_OK);
    assert_int_equal(store_user_create(s, "2002", "alice"), STORE_OK);
    role_info reader = {"1001", "reader", 3600}, admin = {"1001", "admin", 3600};
    assert_int_equal(store_role_create(s, &reader), STORE_OK);
    assert_int_equal(store_role_create(s, &admin), STORE_OK);
    listing l = {0};
    policy_doc d;

    /* create */
    assert_int_equal(store_policy_create(s, "1001", "p", allow_doc), STORE_OK);
    assert_int_equal(store_policy_create(s, "1001", "p", deny_doc), STORE_EXISTS);
    assert_int_equal(store_policy_create(s, "2002", "p", deny_doc), STORE_OK);
    assert_int_equal(store_policy_create(s, "9999", "p", allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, NULL, "x", allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "10/01", "x", allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", NULL, allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", "", allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", "a b", allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", "x", NULL), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", "x", ""), STORE_INVALID);
    char longest[STORE_ID_MAX], too_long[STORE_ID_MAX + 1];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    assert_int_equal(store_policy_create(s, "1001", too_long, allow_doc), STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", longest, allow_doc), STORE_OK);
    assert_policy_document(s, "1001", longest, allow_doc);
    assert_int_equal(store_policy_delete(s, "1001", longest), STORE_OK);

    /* get */
    assert_policy_document(s, "1001", "p", allow_doc);
    assert_policy_document(s, "2002", "p", deny_doc);
    assert_int_equal(store_policy_get(s, "1001", "nosuch", &d), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, "9999", "p", &d), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, "1001", "a b", &d), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, "10/01", "p", &d), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, "1001", too_long, &d), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, NULL, "p", &d), STORE_INVALID);
    assert_int_equal(store_policy_get(s, "1001", NULL, &d), STORE_INVALID);
    assert_int_equal(store_policy_get(s, "1001", "p", NULL), STORE_INVALID);

    /* attach_to */
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "alice"),
                     STORE_EXISTS);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "bob"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "reader"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "admin"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "nosuch", PRINCIPAL_USER, "alice"),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_attach_to(s, "9999", "p", PRINCIPAL_USER, "alice"),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "carol"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "alice"),
                     STORE_INVALID); /* a user, not a role */
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "reader"),
                     STORE_INVALID); /* a role, not a user */
    assert_int_equal(store_policy_attach_to(s, "2002", "p", PRINCIPAL_USER, "bob"),
                     STORE_INVALID); /* bob is 1001's */
    assert_int_equal(store_policy_attach_to(s, "1001", "p", (principal_kind)0, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", (principal_kind)3, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, NULL), STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, ""), STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "a/b"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", NULL, PRINCIPAL_USER, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, "1001", "a b", PRINCIPAL_USER, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_attach_to(s, NULL, "p", PRINCIPAL_USER, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_create(s, "1001", "q", deny_doc), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "q", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_create(s, "1001", "unused", allow_doc), STORE_OK);

    /* list */
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "p:4,q:1,unused:0");
    l = (listing){0};
    assert_int_equal(store_policy_list(s, "2002", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "p:0");
    l = (listing){.stop_after = 1};
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "p:4");
    l = (listing){0};
    assert_int_equal(store_policy_list(s, "9999", list_policy, &l), STORE_OK);
    assert_int_equal(store_policy_list(s, "10/01", list_policy, &l), STORE_OK);
    assert_int_equal(l.calls, 0);
    assert_int_equal(store_policy_list(s, NULL, list_policy, &l), STORE_INVALID);
    assert_int_equal(store_policy_list(s, "1001", NULL, &l), STORE_INVALID);

    /* attachments: users first, then roles, each by name */
    l = (listing){0};
    assert_int_equal(store_policy_attachments(s, "1001", "p", list_attachment, &l), STORE_OK);
    assert_string_equal(l.text, "user:alice,user:bob,role:admin,role:reader");
    l = (listing){.stop_after = 2};
    assert_int_equal(store_policy_attachments(s, "1001", "p", list_attachment, &l), STORE_OK);
    assert_string_equal(l.text, "user:alice,user:bob");
    l = (listing){0};
    assert_int_equal(store_policy_attachments(s, "1001", "unused", list_attachment, &l),
                     STORE_OK);
    assert_int_equal(l.calls, 0);
    assert_int_equal(store_policy_attachments(s, "1001", "nosuch", list_attachment, &l),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_attachments(s, "9999", "p", list_attachment, &l),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_attachments(s, "1001", "a b", list_attachment, &l),
                     STORE_NOT_FOUND);
    assert_int_equal(l.calls, 0);
    assert_int_equal(store_policy_attachments(s, NULL, "p", list_attachment, &l), STORE_INVALID);
    assert_int_equal(store_policy_attachments(s, "1001", NULL, list_attachment, &l),
                     STORE_INVALID);
    assert_int_equal(store_policy_attachments(s, "1001", "p", NULL, &l), STORE_INVALID);

    /* what a principal is given */
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "p,q");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "p");
    assert_principal_policies(s, "1001", PRINCIPAL_ROLE, "reader", "p");
    assert_principal_policies(s, "1001", PRINCIPAL_ROLE, "alice", ""); /* no such role */
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "reader", ""); /* no such user */
    assert_principal_policies(s, "2002", PRINCIPAL_USER, "alice", "");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "a/b", "");
    policy_doc *docs;
    size_t n;
    assert_int_equal(store_principal_policies(s, "1001", PRINCIPAL_USER, "alice", &docs, &n),
                     STORE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(docs[0].document, allow_doc);
    assert_string_equal(docs[1].document, deny_doc);
    store_policies_free(docs, n);
    assert_int_equal(store_principal_policies(s, "1001", (principal_kind)0, "alice", &docs, &n),
                     STORE_INVALID);
    assert_int_equal(store_principal_policies(s, "1001", PRINCIPAL_USER, NULL, &docs, &n),
                     STORE_INVALID);
    assert_int_equal(store_principal_policies(s, NULL, PRINCIPAL_USER, "alice", &docs, &n),
                     STORE_INVALID);
    assert_int_equal(store_principal_policies(s, "1001", PRINCIPAL_USER, "alice", NULL, &n),
                     STORE_INVALID);

    /* detach */
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_USER, "bob"), STORE_OK);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_USER, "bob"), STORE_NOT_FOUND);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_ROLE, "alice"),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_detach(s, "1001", "nosuch", PRINCIPAL_USER, "alice"),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_detach(s, "1001", "a b", PRINCIPAL_USER, "alice"),
                     STORE_NOT_FOUND);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_USER, "a/b"), STORE_NOT_FOUND);
    assert_int_equal(store_policy_detach(s, NULL, "p", PRINCIPAL_USER, "alice"), STORE_INVALID);
    assert_int_equal(store_policy_detach(s, "1001", NULL, PRINCIPAL_USER, "alice"),
                     STORE_INVALID);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_USER, NULL), STORE_INVALID);
    assert_int_equal(store_policy_detach(s, "1001", "p", (principal_kind)3, "alice"),
                     STORE_INVALID);
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "");

    /* delete: not while attached */
    assert_int_equal(store_policy_delete(s, "1001", "p"), STORE_CONFLICT);
    assert_policy_document(s, "1001", "p", allow_doc);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_ROLE, "admin"), STORE_OK);
    assert_int_equal(store_policy_delete(s, "1001", "p"), STORE_CONFLICT); /* still reader's */
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_ROLE, "reader"), STORE_OK);
    assert_int_equal(store_policy_delete(s, "1001", "p"), STORE_OK);
    assert_int_equal(store_policy_delete(s, "1001", "p"), STORE_NOT_FOUND);
    assert_int_equal(store_policy_get(s, "1001", "p", &d), STORE_NOT_FOUND);
    assert_policy_document(s, "2002", "p", deny_doc); /* another account's */
    assert_int_equal(store_policy_delete(s, "1001", "unused"), STORE_OK);
    assert_int_equal(store_policy_delete(s, "9999", "q"), STORE_NOT_FOUND);
    assert_int_equal(store_policy_delete(s, "1001", "a b"), STORE_NOT_FOUND);
    assert_int_equal(store_policy_delete(s, NULL, "q"), STORE_INVALID);
    assert_int_equal(store_policy_delete(s, "1001", NULL), STORE_INVALID);
    l = (listing){0};
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "q:1");
    store_close(s);
}

/* ---- roles ---- */

static void test_roles(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    assert_int_equal(store_account_create(s, "2002"), STORE_OK);
    role_info r = {"1001", "reader", STORE_ROLE_SESSION_MIN}, got;
    listing l = {0};

    assert_int_equal(store_role_create(s, &r), STORE_OK);
    assert_int_equal(store_role_create(s, &r), STORE_EXISTS);
    r.max_session_s = STORE_ROLE_SESSION_MAX;
    strcpy(r.name, "admin");
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    strcpy(r.name, "alice"); /* a role may share a user's name */
    r.max_session_s = 7200;
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    strcpy(r.account_id, "2002");
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    strcpy(r.account_id, "9999");
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    strcpy(r.account_id, "1001");
    strcpy(r.name, "other");
    r.max_session_s = STORE_ROLE_SESSION_MIN - 1;
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    r.max_session_s = STORE_ROLE_SESSION_MAX + 1;
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    r.max_session_s = 0;
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    r.max_session_s = 3600;
    strcpy(r.name, "a/b");
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    strcpy(r.name, "");
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    memset(r.name, 'r', sizeof r.name); /* no terminating NUL */
    assert_int_equal(store_role_create(s, &r), STORE_INVALID);
    assert_int_equal(store_role_create(s, NULL), STORE_INVALID);

    assert_int_equal(store_role_get(s, "1001", "reader", &got), STORE_OK);
    assert_string_equal(got.account_id, "1001");
    assert_string_equal(got.name, "reader");
    assert_int_equal(got.max_session_s, STORE_ROLE_SESSION_MIN);
    assert_int_equal(store_role_get(s, "1001", "admin", &got), STORE_OK);
    assert_int_equal(got.max_session_s, STORE_ROLE_SESSION_MAX);
    assert_int_equal(store_role_get(s, "1001", "bob", &got), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, "2002", "reader", &got), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, "9999", "reader", &got), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, "1001", "a/b", &got), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, NULL, "reader", &got), STORE_INVALID);
    assert_int_equal(store_role_get(s, "1001", NULL, &got), STORE_INVALID);
    assert_int_equal(store_role_get(s, "1001", "reader", NULL), STORE_INVALID);

    assert_int_equal(store_role_list(s, "1001", list_role, &l), STORE_OK);
    assert_string_equal(l.text, "1001/admin:43200,1001/alice:7200,1001/reader:3600");
    l = (listing){.stop_after = 1};
    assert_int_equal(store_role_list(s, "1001", list_role, &l), STORE_OK);
    assert_string_equal(l.text, "1001/admin:43200");
    l = (listing){0};
    assert_int_equal(store_role_list(s, "2002", list_role, &l), STORE_OK);
    assert_string_equal(l.text, "2002/alice:7200");
    l = (listing){0};
    assert_int_equal(store_role_list(s, "9999", list_role, &l), STORE_OK);
    assert_int_equal(store_role_list(s, "10/01", list_role, &l), STORE_OK);
    assert_int_equal(l.calls, 0);
    assert_int_equal(store_role_list(s, NULL, list_role, &l), STORE_INVALID);
    assert_int_equal(store_role_list(s, "1001", NULL, &l), STORE_INVALID);

    /* The user alice and the role alice are two principals. */
    assert_int_equal(store_policy_create(s, "1001", "p", allow_doc), STORE_OK);
    assert_int_equal(store_policy_create(s, "1001", "q", deny_doc), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "alice"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "q", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "q", PRINCIPAL_ROLE, "alice"), STORE_OK);
    assert_principal_policies(s, "1001", PRINCIPAL_ROLE, "alice", "p,q");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "q");
    l = (listing){0};
    assert_int_equal(store_policy_attachments(s, "1001", "q", list_attachment, &l), STORE_OK);
    assert_string_equal(l.text, "user:alice,role:alice");

    /* delete: not while policies are attached */
    assert_int_equal(store_role_delete(s, "1001", "alice"), STORE_CONFLICT);
    assert_int_equal(store_role_get(s, "1001", "alice", &got), STORE_OK);
    assert_int_equal(store_policy_detach(s, "1001", "p", PRINCIPAL_ROLE, "alice"), STORE_OK);
    assert_int_equal(store_role_delete(s, "1001", "alice"), STORE_CONFLICT);
    assert_int_equal(store_policy_detach(s, "1001", "q", PRINCIPAL_ROLE, "alice"), STORE_OK);
    assert_int_equal(store_role_delete(s, "1001", "alice"), STORE_OK);
    assert_int_equal(store_role_delete(s, "1001", "alice"), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, "1001", "alice", &got), STORE_NOT_FOUND);
    assert_int_equal(store_role_get(s, "2002", "alice", &got), STORE_OK); /* another account's */
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "q"); /* the user keeps hers */
    assert_int_equal(store_role_delete(s, "1001", "reader"), STORE_OK);
    assert_int_equal(store_role_delete(s, "9999", "admin"), STORE_NOT_FOUND);
    assert_int_equal(store_role_delete(s, "1001", "a/b"), STORE_NOT_FOUND);
    assert_int_equal(store_role_delete(s, NULL, "admin"), STORE_INVALID);
    assert_int_equal(store_role_delete(s, "1001", NULL), STORE_INVALID);
    l = (listing){0};
    assert_int_equal(store_role_list(s, "1001", list_role, &l), STORE_OK);
    assert_string_equal(l.text, "1001/admin:43200");
    store_close(s);
}

/* ---- the schema's own rules ---- */

/* The database refuses, by itself, what the driver never sends: an
 * attachment to a principal that does not exist, or of an unknown kind;
 * and a user's attachments go with the user, an account's everything. */
static void test_schema_keeps_attachments_whole(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    role_info r = {"1001", "reader", 3600};
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    assert_int_equal(store_policy_create(s, "1001", "p", allow_doc), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "reader"), STORE_OK);
    store_close(s);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    static const char *const refused[] = {
        "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
        " VALUES ('1001', 'p', 'role', 'alice')",
        "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
        " VALUES ('1001', 'p', 'user', 'reader')",
        "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
        " VALUES ('1001', 'p', 'group', 'alice')",
        "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
        " VALUES ('1001', 'nosuch', 'user', 'alice')",
        "DELETE FROM policies WHERE name = 'p'",
        "DELETE FROM roles WHERE name = 'reader'",
        "INSERT INTO roles (account_id, name, max_session_s) VALUES ('1001', 'r', 60)",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_int_not_equal(sqlite3_exec(db, refused[i], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM users WHERE name = 'alice'", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM policy_attachments"), 1);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM accounts", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(query_int(f->path, "SELECT (SELECT count(*) FROM policy_attachments)"
                                        " + (SELECT count(*) FROM policies)"
                                        " + (SELECT count(*) FROM roles)"),
                     0);
    sqlite3_close(db);
}

/* ---- migration from schema version 1 (ecshot 0.2) ---- */

/* The schema as version 1 created it, policies per user. */
static const char schema_v1[] =
    "PRAGMA application_id = 1701016424; PRAGMA user_version = 1;"
    "CREATE TABLE accounts (id TEXT NOT NULL PRIMARY KEY);"
    "CREATE TABLE users ("
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, PRIMARY KEY (account_id, name));"
    "CREATE TABLE access_keys ("
    "  id TEXT NOT NULL PRIMARY KEY, secret TEXT NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE, user_name TEXT,"
    "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE INDEX access_keys_owner ON access_keys(account_id, user_name);"
    "CREATE TABLE policies ("
    "  account_id TEXT NOT NULL, user_name TEXT NOT NULL, name TEXT NOT NULL,"
    "  document TEXT NOT NULL, PRIMARY KEY (account_id, user_name, name),"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE TABLE instances ("
    "  id TEXT NOT NULL PRIMARY KEY, region TEXT NOT NULL,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id), type TEXT NOT NULL,"
    "  status TEXT NOT NULL"
    "    CHECK (status IN ('Pending', 'Starting', 'Running', 'Stopping', 'Stopped')),"
    "  console_url TEXT NOT NULL);"
    "CREATE INDEX instances_account ON instances(account_id);"
    "CREATE TABLE instance_tags ("
    "  instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (instance_id, key));";

/* Version 1 rows: alice, carol (same document) and bob, dave (each another)
 * hold "p"; alice and bob hold "q" alike; alice holds "p-bob", the name
 * bob's "p" would take; a user whose name leaves no room holds "p" too.
 * In account 3003, "Zed" comes before "alice" (byte order). 2002 has a "p"
 * of its own. */
static const char rows_v1[] =
    "INSERT INTO accounts VALUES ('1001'), ('2002'), ('3003');"
    "INSERT INTO users VALUES ('1001', 'alice'), ('1001', 'bob'), ('1001', 'carol'),"
    "  ('1001', 'dave'), ('1001', 'erin'), ('1001', 'LONGUSER'), ('2002', 'alice'),"
    "  ('3003', 'Zed'), ('3003', 'alice');"
    "INSERT INTO access_keys (id, secret, account_id, user_name) VALUES"
    "  ('AKALICE', 's1', '1001', 'alice'), ('AKROOT', 's2', '1001', NULL);"
    "INSERT INTO policies VALUES"
    "  ('1001', 'alice', 'p', 'doc-A'), ('1001', 'carol', 'p', 'doc-A'),"
    "  ('1001', 'bob', 'p', 'doc-B'), ('1001', 'dave', 'p', 'doc-D'),"
    "  ('1001', 'alice', 'q', 'doc-Q'), ('1001', 'bob', 'q', 'doc-Q'),"
    "  ('1001', 'alice', 'p-bob', 'doc-X'), ('1001', 'LONGUSER', 'p', 'doc-L'),"
    "  ('2002', 'alice', 'p', 'doc-2'),"
    "  ('3003', 'alice', 'p', 'doc-a'), ('3003', 'Zed', 'p', 'doc-Z');";

static void test_migration_from_v1(void **state)
{
    fixture *f = *state;
    char long_user[STORE_ID_MAX];
    memset(long_user, 'u', sizeof long_user - 1); /* the longest user name */
    long_user[sizeof long_user - 1] = '\0';
    /* "p-" and 125 "u": NAME-USER cut to leave room for "-2". */
    char long_name[STORE_ID_MAX];
    snprintf(long_name, sizeof long_name, "p-%.123s-2", long_user);
    assert_int_equal(strlen(long_name), STORE_ID_MAX - 1);

    char *rows = malloc(sizeof rows_v1 + 2 * STORE_ID_MAX);
    assert_non_null(rows);
    strcpy(rows, rows_v1);
    for (char *p; (p = strstr(rows, "LONGUSER")) != NULL;) {
        memmove(p + strlen(long_user), p + 8, strlen(p + 8) + 1);
        memcpy(p, long_user, strlen(long_user));
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    free(rows);
    assert_int_equal(chmod(f->path, 0600), 0); /* as ecshot 0.2 made it */

    store *s = open_keyed(f);
    assert_int_equal(query_int(f->path, "PRAGMA user_version"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM sqlite_schema"
                                        " WHERE name = 'policies_v1'"),
                     0);

    char expected[1024];
    listing l = {0};
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    snprintf(expected, sizeof expected, "p:2,p-bob:1,p-bob-2:1,p-dave:1,%s:1,q:2", long_name);
    assert_string_equal(l.text, expected);
    assert_policy_document(s, "1001", "p", "doc-A");
    assert_policy_document(s, "1001", "p-bob", "doc-X");
    assert_policy_document(s, "1001", "p-bob-2", "doc-B");
    assert_policy_document(s, "1001", "p-dave", "doc-D");
    assert_policy_document(s, "1001", "q", "doc-Q");
    assert_policy_document(s, "1001", long_name, "doc-L");
    l = (listing){0};
    assert_int_equal(store_policy_attachments(s, "1001", "p", list_attachment, &l), STORE_OK);
    assert_string_equal(l.text, "user:alice,user:carol");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "p,p-bob,q");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "p-bob-2,q");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "carol", "p");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "dave", "p-dave");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "erin", "");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, long_user, long_name);

    l = (listing){0};
    assert_int_equal(store_policy_list(s, "2002", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "p:1");
    assert_policy_document(s, "2002", "p", "doc-2");
    assert_principal_policies(s, "2002", PRINCIPAL_USER, "alice", "p");

    assert_policy_document(s, "3003", "p", "doc-Z");
    assert_principal_policies(s, "3003", PRINCIPAL_USER, "Zed", "p");
    assert_principal_policies(s, "3003", PRINCIPAL_USER, "alice", "p-alice");
    assert_policy_document(s, "3003", "p-alice", "doc-a");

    /* The rest is as it was, and the new tables work. Secrets 0.2 stored
     * in the clear are refused until rotate-master seals them. */
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_ERROR);
    size_t sealed = 0;
    assert_int_equal(store_key_rotate_master(s, &sealed), STORE_OK);
    assert_int_equal(sealed, 2);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.user, "alice");
    assert_string_equal(k.secret, "s1");
    role_info r = {"1001", "reader", 3600};
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "q", PRINCIPAL_ROLE, "reader"), STORE_OK);
    store_close(s);
}

/* ---- instances ---- */

static void test_instance_add_get(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    instance in, out;
    fill_instance(&in, "i-bp1gbz20g229bvu5abcd", "1001");
    in.tag_count = 2;
    strcpy(in.tags[0].key, "team");
    strcpy(in.tags[0].value, "ops");
    strcpy(in.tags[1].key, "env");
    strcpy(in.tags[1].value, "");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);

    memset(&out, 0x5a, sizeof out);
    assert_int_equal(store_instance_get(s, "i-bp1gbz20g229bvu5abcd", &out), STORE_OK);
    assert_string_equal(out.id, "i-bp1gbz20g229bvu5abcd");
    assert_string_equal(out.region, "cn-hangzhou");
    assert_string_equal(out.account_id, "1001");
    assert_string_equal(out.type, "ecs.g6.large");
    assert_string_equal(out.status, "Running");
    assert_string_equal(out.console_url, "qmp:/run/ecshot/vm1.sock");
    assert_int_equal(out.tag_count, 2);
    /* In key order. */
    assert_string_equal(out.tags[0].key, "env");
    assert_string_equal(out.tags[0].value, "");
    assert_string_equal(out.tags[1].key, "team");
    assert_string_equal(out.tags[1].value, "ops");

    assert_int_equal(store_instance_add(s, &in), STORE_EXISTS);
    assert_int_equal(store_instance_get(s, "i-nosuch", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, "", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, NULL, &out), STORE_INVALID);

    /* An instance without tags. */
    fill_instance(&in, "i-notags", "1001");
    strcpy(in.status, "Stopped");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-notags", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    assert_int_equal(out.tag_count, 0);

    /* The most tags allowed, with the longest keys and values. */
    fill_instance(&in, "i-manytags", "1001");
    in.tag_count = STORE_TAGS_MAX;
    for (size_t i = 0; i < STORE_TAGS_MAX; i++) {
        memset(in.tags[i].key, 'k', STORE_TAG_KEY_MAX - 1);
        in.tags[i].key[1] = (char)('0' + i / 10); /* distinct, and in key order */
        in.tags[i].key[2] = (char)('0' + i % 10);
        in.tags[i].key[STORE_TAG_KEY_MAX - 1] = '\0';
        memset(in.tags[i].value, 'v', STORE_TAG_VALUE_MAX - 1);
        in.tags[i].value[STORE_TAG_VALUE_MAX - 1] = '\0';
    }
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-manytags", &out), STORE_OK);
    assert_int_equal(out.tag_count, STORE_TAGS_MAX);
    for (size_t i = 0; i < STORE_TAGS_MAX; i++) {
        assert_string_equal(out.tags[i].key, in.tags[i].key);
        assert_string_equal(out.tags[i].value, in.tags[i].value);
    }

    /* UTF-8 tags are kept as they are. */
    fill_instance(&in, "i-utf8", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "\xe9\x83\xa8\xe9\x97\xa8"); /* 部门 */
    strcpy(in.tags[0].value, "\xe8\xbf\x90\xe7\xbb\xb4"); /* 运维 */
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-utf8", &out), STORE_OK);
    assert_string_equal(out.tags[0].key, "\xe9\x83\xa8\xe9\x97\xa8");
    store_close(s);
}

static void test_instance_add_refuses(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    instance in, out;

    fill_instance(&in, "i-x", "9999"); /* unknown account */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    strcpy(in.status, "running");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    strcpy(in.status, "Deleted");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    memset(in.status, 'R', sizeof in.status); /* not terminated */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    memset(in.id, 'i', sizeof in.id); /* not terminated */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    memset(in.console_url, 'q', sizeof in.console_url);
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.console_url[0] = '\0';
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    strcpy(in.console_url, "qmp:/a\nb");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.region[0] = '\0';
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.tag_count = STORE_TAGS_MAX + 1;
    for (size_t i = 0; i < STORE_TAGS_MAX + 1 && i < STORE_TAGS_MAX; i++)
        snprintf(in.tags[i].key, sizeof in.tags[i].key, "k%zu", i);
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.tag_count = 2;
    strcpy(in.tags[0].key, "same");
    strcpy(in.tags[1].key, "same");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.tag_count = 1; /* empty key */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "k");
    memset(in.tags[0].value, 'v', sizeof in.tags[0].value); /* not terminated */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "k\xc3"); /* cut UTF-8 */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    strcpy(in.tags[0].key, "k\xc0\xaf"); /* overlong */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    strcpy(in.tags[0].key, "k\xed\xa0\x80"); /* surrogate */
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    strcpy(in.tags[0].key, "k\x7f");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    assert_int_equal(store_instance_add(s, NULL), STORE_INVALID);

    /* Nothing of the refused ones was kept. */
    assert_int_equal(store_instance_get(s, "i-x", &out), STORE_NOT_FOUND);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instance_tags"), 0);
    store_close(s);
}

static void test_instance_status_and_remove(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    instance in, out;
    fill_instance(&in, "i-a", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "old");
    strcpy(in.tags[0].value, "tag");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);

    static const char *const statuses[] = {"Pending", "Starting", "Running", "Stopping", "Stopped"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(store_instance_set_status(s, "i-a", statuses[i]), STORE_OK);
        assert_int_equal(store_instance_get(s, "i-a", &out), STORE_OK);
        assert_string_equal(out.status, statuses[i]);
    }
    assert_int_equal(store_instance_set_status(s, "i-a", "Exploded"), STORE_INVALID);
    assert_int_equal(store_instance_set_status(s, "i-a", ""), STORE_INVALID);
    assert_int_equal(store_instance_set_status(s, "i-a", NULL), STORE_INVALID);
    assert_int_equal(store_instance_get(s, "i-a", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    assert_int_equal(store_instance_set_status(s, "i-none", "Running"), STORE_NOT_FOUND);

    assert_int_equal(store_instance_remove(s, "i-a"), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-a", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_remove(s, "i-a"), STORE_NOT_FOUND);
    assert_int_equal(store_instance_remove(s, NULL), STORE_INVALID);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instance_tags"), 0);

    /* The id can be used again, and the old tags do not come back. */
    fill_instance(&in, "i-a", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-a", &out), STORE_OK);
    assert_int_equal(out.tag_count, 0);
    store_close(s);
}

typedef struct list_seen {
    char ids[8][STORE_ID_MAX];
    size_t tags[8];
    size_t count;
    size_t stop_after; /* 0: never */
} list_seen;

static int collect(void *ctx, const instance *inst)
{
    list_seen *seen = ctx;
    assert_true(seen->count < 8);
    strcpy(seen->ids[seen->count], inst->id);
    seen->tags[seen->count] = inst->tag_count;
    seen->count++;
    return seen->stop_after && seen->count == seen->stop_after;
}

static void test_instance_list(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    list_seen seen = {0};
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, 0);

    const char *ids[] = {"i-c", "i-a", "i-b"};
    const size_t tag_counts[] = {3, 0, 1};
    for (size_t i = 0; i < 3; i++) {
        instance in;
        fill_instance(&in, ids[i], "1001");
        in.tag_count = tag_counts[i];
        for (size_t t = 0; t < tag_counts[i]; t++)
            snprintf(in.tags[t].key, sizeof in.tags[t].key, "key%zu", t);
        assert_int_equal(store_instance_add(s, &in), STORE_OK);
    }

    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, 3);
    assert_string_equal(seen.ids[0], "i-a");
    assert_string_equal(seen.ids[1], "i-b");
    assert_string_equal(seen.ids[2], "i-c");
    assert_int_equal(seen.tags[0], 0);
    assert_int_equal(seen.tags[1], 1);
    assert_int_equal(seen.tags[2], 3);

    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, 2);
    assert_string_equal(seen.ids[1], "i-b");

    assert_int_equal(store_instance_list(s, NULL, NULL), STORE_INVALID);
    store_close(s);
}

/* A row written by something other than ecshot that does not fit a field
 * is an error, not a silently cut value. */
static void test_oversized_stored_value(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO access_keys (id, secret, account_id, active)"
                                  " VALUES ('AKBIG', hex(zeroblob(200)), '1001', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    access_key k;
    assert_int_equal(store_key_get(s, "AKBIG", &k), STORE_ERROR);
    store_close(s);
}

/* ---- bulk import ---- */

static void test_import(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    instance items[3], out;
    fill_instance(&items[0], "i-imp1", "1001");
    items[0].tag_count = 2;
    strcpy(items[0].tags[0].key, "team");
    strcpy(items[0].tags[0].value, "ops");
    strcpy(items[0].tags[1].key, "env");
    strcpy(items[0].tags[1].value, "");
    fill_instance(&items[1], "i-imp2", "1001");
    strcpy(items[1].status, "Stopped");
    fill_instance(&items[2], "i-imp3", "1001");
    assert_int_equal(store_instance_import(s, items, 3), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-imp1", &out), STORE_OK);
    assert_int_equal(out.tag_count, 2);
    assert_string_equal(out.tags[0].key, "env");
    assert_string_equal(out.tags[1].key, "team");
    assert_int_equal(store_instance_get(s, "i-imp2", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");

    /* Again: updates every field and replaces the tags. */
    strcpy(items[0].region, "cn-beijing");
    strcpy(items[0].type, "ecs.g7.xlarge");
    strcpy(items[0].console_url, "qmp:/new.sock");
    items[0].tag_count = 1;
    strcpy(items[0].tags[0].key, "new");
    strcpy(items[0].tags[0].value, "v");
    strcpy(items[1].status, "Running");
    assert_int_equal(store_instance_import(s, items, 2), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-imp1", &out), STORE_OK);
    assert_string_equal(out.region, "cn-beijing");
    assert_string_equal(out.type, "ecs.g7.xlarge");
    assert_string_equal(out.console_url, "qmp:/new.sock");
    assert_int_equal(out.tag_count, 1);
    assert_string_equal(out.tags[0].key, "new");
    assert_string_equal(out.tags[0].value, "v");
    assert_int_equal(store_instance_get(s, "i-imp2", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instances"), 3);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instance_tags"), 1);

    /* All or none: an unknown account, an invalid item or an id given
     * twice leaves everything as it was. */
    instance bad[2];
    fill_instance(&bad[0], "i-imp4", "1001");
    fill_instance(&bad[1], "i-imp5", "9999");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    fill_instance(&bad[1], "i-imp5", "1001");
    strcpy(bad[1].status, "Exploded");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    fill_instance(&bad[1], "i-imp5", "1001");
    memset(bad[1].id, 'i', sizeof bad[1].id); /* not terminated */
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    fill_instance(&bad[1], "i-imp4", "1001");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    assert_int_equal(store_instance_get(s, "i-imp4", &out), STORE_NOT_FOUND);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instances"), 3);

    assert_int_equal(store_instance_import(s, items, 0), STORE_OK);
    assert_int_equal(store_instance_import(s, NULL, 0), STORE_OK);
    assert_int_equal(store_instance_import(s, NULL, 1), STORE_INVALID);
    store_close(s);
}

/* 100 000 instances in batches of 10 000, as `ecshot instance import`
 * sends them, half with two tags. The time is printed, not asserted. */
static void test_import_100k(void **state)
{
    enum { TOTAL = 100000, BATCH = 10000 };
    fixture *f = *state;
    store *s = open_populated(f);
    instance *batch = calloc(BATCH, sizeof *batch);
    assert_non_null(batch);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned b = 0; b < TOTAL / BATCH; b++) {
        for (unsigned i = 0; i < BATCH; i++) {
            unsigned n = b * BATCH + i;
            char id[32];
            snprintf(id, sizeof id, "i-%020u", n);
            fill_instance(&batch[i], id, "1001");
            if (n % 2) {
                batch[i].tag_count = 2;
                strcpy(batch[i].tags[0].key, "team");
                strcpy(batch[i].tags[0].value, "ops");
                strcpy(batch[i].tags[1].key, "env");
                strcpy(batch[i].tags[1].value, "prod");
            }
        }
        assert_int_equal(store_instance_import(s, batch, BATCH), STORE_OK);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("[ INFO     ] sqlite import: %d instances in %.2f s (%.0f instances/s)\n", TOTAL, secs,
           TOTAL / secs);
    free(batch);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instances"), TOTAL);
    assert_int_equal(query_int(f->path, "SELECT count(*) FROM instance_tags"), TOTAL);
    instance out;
    assert_int_equal(store_instance_get(s, "i-00000000000000099999", &out), STORE_OK);
    assert_int_equal(out.tag_count, 2);
    store_close(s);
}

/* ---- the store's rules, as the CLI uses them ---- */

static void test_validators(void **state)
{
    (void)state;
    assert_true(store_valid_id("i-bp1gbz20g229bvu5****"));
    assert_false(store_valid_id(""));
    assert_false(store_valid_id(NULL));
    assert_false(store_valid_id("a b"));
    assert_false(store_valid_id("a\tb"));
    assert_false(store_valid_id("caf\xc3\xa9"));
    assert_true(store_valid_owner("1234567890123456"));
    assert_false(store_valid_owner("a/b"));
    assert_false(store_valid_owner("a:b"));
    assert_true(store_valid_secret("abc/+=def"));
    assert_true(store_valid_status("Running"));
    assert_false(store_valid_status("RUNNING"));
    assert_false(store_valid_status(NULL));
    assert_true(store_valid_tag("k", ""));
    assert_false(store_valid_tag("", "v"));
    assert_false(store_valid_tag("k", NULL));
    assert_true(store_valid_tag("\xf0\x9f\x98\x80", "\xe2\x82\xac")); /* 4- and 3-byte forms */
    assert_false(store_valid_tag("\xf4\x90\x80\x80", "v"));            /* past U+10FFFF */
    assert_false(store_valid_instance(NULL));
}

/* ---- threads ---- */

#define READERS 8
#define READS_EACH 1000

typedef struct reader_arg {
    store *s;
    int failures;
} reader_arg;

static void *read_keys(void *p)
{
    reader_arg *a = p;
    for (int i = 0; i < READS_EACH; i++) {
        access_key k;
        const char *id = i % 2 ? "AKROOT" : "AKALICE";
        if (store_key_get(a->s, id, &k) != STORE_OK ||
            strcmp(k.secret, i % 2 ? "rootsecret" : "alicesecret") != 0)
            a->failures++;
    }
    return NULL;
}

static void run_readers(store *s, int count)
{
    pthread_t *t = calloc((size_t)count, sizeof *t);
    reader_arg *args = calloc((size_t)count, sizeof *args);
    assert_non_null(t);
    assert_non_null(args);
    for (int i = 0; i < count; i++) {
        args[i].s = s;
        assert_int_equal(pthread_create(&t[i], NULL, read_keys, &args[i]), 0);
    }
    for (int i = 0; i < count; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    free(t);
    free(args);
}

static void test_concurrent_reads(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    run_readers(s, READERS);
    store_close(s);
}

/* More threads than the pool has connections: some wait for one. */
static void test_more_threads_than_connections(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    run_readers(s, 48);
    store_close(s);
}

typedef struct mixed_arg {
    store *s;
    pthread_barrier_t *start;
    atomic_int *writer_done;
    long reads;
    int failures;
} mixed_arg;

/* Reads until the writer has finished, and at least READS_EACH times. */
static void *read_while_writing(void *p)
{
    mixed_arg *a = p;
    pthread_barrier_wait(a->start);
    while (a->reads < READS_EACH || !atomic_load(a->writer_done)) {
        access_key k;
        instance inst;
        if (store_key_get(a->s, "AKROOT", &k) != STORE_OK)
            a->failures++;
        int rc = store_instance_get(a->s, "i-w0", &inst);
        if (rc != STORE_OK && rc != STORE_NOT_FOUND)
            a->failures++;
        a->reads++;
    }
    return NULL;
}

static void test_second_handle_writes_while_first_reads(void **state)
{
    fixture *f = *state;
    store *reader = open_populated(f);
    store *writer = open_keyed(f); /* as the CLI would */

    pthread_barrier_t start;
    atomic_int writer_done = 0;
    assert_int_equal(pthread_barrier_init(&start, NULL, READERS + 1), 0);
    pthread_t t[READERS];
    mixed_arg args[READERS];
    for (int i = 0; i < READERS; i++) {
        args[i] = (mixed_arg){reader, &start, &writer_done, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, read_while_writing, &args[i]), 0);
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < 200; i++) {
        char id[32];
        instance in;
        snprintf(id, sizeof id, "i-w%d", i);
        fill_instance(&in, id, "1001");
        assert_int_equal(store_instance_add(writer, &in), STORE_OK);
        assert_int_equal(store_instance_set_status(writer, id, "Stopped"), STORE_OK);
    }
    atomic_store(&writer_done, 1);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    pthread_barrier_destroy(&start);

    /* The reader sees what the writer wrote. */
    instance out;
    assert_int_equal(store_instance_get(reader, "i-w199", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    store_close(writer);
    store_close(reader);
}

/* Servers keep answering while an operator re-seals: their ring holds both
 * keys, and each row is either the old sealed text or the new one. Here
 * the writer rotates back and forth between A and B many times. */
static void test_rotate_while_reading(void **state)
{
    fixture *f = *state;
    store_close(open_populated(f)); /* sealed under A */
    secret_keyring *ab = ring_of(f, "ab.key", KEY_A "\n" KEY_B "\n");
    secret_keyring *ba = ring_of(f, "ba.key", KEY_B "\n" KEY_A "\n");
    store *reader = store_open(f->url), *writer = store_open(f->url);
    assert_non_null(reader);
    assert_non_null(writer);
    store_set_keyring(reader, ab);

    pthread_barrier_t start;
    atomic_int writer_done = 0;
    assert_int_equal(pthread_barrier_init(&start, NULL, READERS + 1), 0);
    pthread_t t[READERS];
    mixed_arg args[READERS];
    for (int i = 0; i < READERS; i++) {
        args[i] = (mixed_arg){reader, &start, &writer_done, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, read_while_writing, &args[i]), 0);
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < 50; i++) {
        size_t n = 0;
        store_set_keyring(writer, i % 2 ? ab : ba);
        assert_int_equal(store_key_rotate_master(writer, &n), STORE_OK);
        assert_int_equal(n, 2);
    }
    atomic_store(&writer_done, 1);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    pthread_barrier_destroy(&start);
    store_close(writer);
    store_close(reader);
    secret_keyring_free(ab);
    secret_keyring_free(ba);
}

/* A write through a second handle succeeds while the first holds a read
 * open (instance_list keeps its statement open while it calls back). */
typedef struct write_inside {
    store *writer;
    int calls;
    int write_result;
} write_inside;

static int write_during_list(void *ctx, const instance *inst)
{
    write_inside *w = ctx;
    (void)inst;
    if (w->calls++ == 0) {
        instance in;
        fill_instance(&in, "i-during", "1001");
        w->write_result = store_instance_add(w->writer, &in);
    }
    return 0;
}

static void test_write_during_open_read(void **state)
{
    fixture *f = *state;
    store *reader = open_populated(f);
    store *writer = open_keyed(f);
    instance in;
    fill_instance(&in, "i-a", "1001");
    assert_int_equal(store_instance_add(reader, &in), STORE_OK);
    fill_instance(&in, "i-b", "1001");
    assert_int_equal(store_instance_add(reader, &in), STORE_OK);

    write_inside w = {writer, 0, -99};
    assert_int_equal(store_instance_list(reader, write_during_list, &w), STORE_OK);
    assert_int_equal(w.write_result, STORE_OK);
    assert_int_equal(w.calls, 2); /* the list's snapshot predates the write */
    instance out;
    assert_int_equal(store_instance_get(reader, "i-during", &out), STORE_OK);
    store_close(writer);
    store_close(reader);
}

/* ---- the read cache ---- */

/* A cached store serves what it read until store_sync, which sees a write
 * by another handle (another process, say the CLI) and drops it all. */
static void test_cache_follows_other_writers(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    store *cli = open_keyed(f);
    assert_int_equal(store_cache_enable(s, 64), STORE_OK);
    instance in, out;
    fill_instance(&in, "i-cached", "1001");
    assert_int_equal(store_instance_add(cli, &in), STORE_OK);
    assert_int_equal(store_policy_attach(cli, "1001", "alice", "all", allow_doc), STORE_OK);

    store_sync(s);
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.secret, "alicesecret");
    assert_true(k.active);
    assert_int_equal(store_key_get(s, "AKNEW", &k), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "all");

    /* The CLI changes all four. */
    assert_int_equal(store_key_set_active(cli, "AKALICE", 0), STORE_OK);
    assert_int_equal(store_key_create(cli, "1001", NULL, "AKNEW", "newsecret"), STORE_OK);
    assert_int_equal(store_instance_set_status(cli, "i-cached", "Stopped"), STORE_OK);
    assert_int_equal(store_policy_create(cli, "1001", "deny", deny_doc), STORE_OK);
    assert_int_equal(store_policy_attach_to(cli, "1001", "deny", PRINCIPAL_USER, "alice"),
                     STORE_OK);

    /* Until the next sync, the cache answers (this is what it spares)... */
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_true(k.active);
    assert_int_equal(store_key_get(s, "AKNEW", &k), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "all");

    /* ...and after it, nothing from before the change. */
    store_sync(s);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_false(k.active);
    assert_int_equal(store_key_get(s, "AKNEW", &k), STORE_OK);
    assert_string_equal(k.secret, "newsecret");
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "all,deny");

    /* A sync with nothing changed keeps the entries. */
    assert_int_equal(store_instance_remove(cli, "i-cached"), STORE_OK);
    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_add(cli, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_NOT_FOUND);
    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_OK);
    store_close(cli);
    store_close(s);
}

/* Writes through the cached store itself need no sync; tags come back
 * whole; dropping the cache (a reloaded keyring) opens secrets again. */
static void test_cache_own_writes_and_drop(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    assert_int_equal(store_cache_enable(s, 64), STORE_OK);
    instance in, out;
    fill_instance(&in, "i-tagged", "1001");
    in.tag_count = 3;
    for (size_t i = 0; i < in.tag_count; i++) {
        snprintf(in.tags[i].key, sizeof in.tags[i].key, "k%zu", i);
        snprintf(in.tags[i].value, sizeof in.tags[i].value, "v%zu", i);
    }
    assert_int_equal(store_instance_get(s, "i-tagged", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    for (int round = 0; round < 2; round++) { /* from the backend, then the cache */
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(store_instance_get(s, "i-tagged", &out), STORE_OK);
        assert_string_equal(out.console_url, in.console_url);
        assert_int_equal(out.tag_count, 3);
        assert_string_equal(out.tags[2].key, "k2");
        assert_string_equal(out.tags[2].value, "v2");
    }
    assert_int_equal(store_instance_set_status(s, "i-tagged", "Stopping"), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-tagged", &out), STORE_OK);
    assert_string_equal(out.status, "Stopping");

    access_key k;
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    /* A ring without KEY_A cannot open the secret: after the drop, the key
     * fails as it would without a cache. */
    secret_keyring *other = ring_of(f, "other.key", KEY_B "\n");
    assert_int_equal(store_set_keyring(s, other), STORE_OK);
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    store_cache_drop(s);
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_ERROR);
    store_close(s);
    secret_keyring_free(other);
}

#define CACHE_WRITES 300

/* No reader ever gets "not found" for an instance committed before its
 * sync (store_cache_race.h). */
static void test_cache_exact_under_writes(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    store *cli = open_keyed(f);
    assert_int_equal(store_cache_enable(s, 16), STORE_OK);
    cache_race_run(s, cli, CACHE_WRITES, fill_instance);
    store_close(cli);
    store_close(s);
}

static void test_cache_off_for_zero(void **state)
{
    fixture *f = *state;
    store *s = open_populated(f);
    store *cli = open_keyed(f);
    assert_int_equal(store_cache_enable(s, 0), STORE_INVALID);
    access_key k;
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_int_equal(store_key_set_active(cli, "AKROOT", 0), STORE_OK);
    store_sync(s); /* does nothing */
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_false(k.active);
    store_close(cli);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_foreign_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_non_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts_and_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_sealed_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_keyring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copied_secret_does_not_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_master_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_keeps_attachments_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_add_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_add_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_status_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_stored_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_100k, setup, teardown),
        cmocka_unit_test(test_validators),
        cmocka_unit_test_setup_teardown(test_concurrent_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_threads_than_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_handle_writes_while_first_reads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_during_open_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_while_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_follows_other_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_own_writes_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_exact_under_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_off_for_zero, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
