/* test_store_pg.c: the store interface and its PostgreSQL backend, on a real server.
 *
 * ECSHOT_TEST_PG is a libpq connection string or URL for an admin
 * connection (tests/services/postgres.sh sets it). The suite creates a
 * database ecshot_unit_<random> for the run, empties it before each test
 * and drops it at the end. Without ECSHOT_TEST_PG the suite is skipped
 * (exit 77), or fails when CI is set, so that CI can never pass by skipping.
 *
 * Failing closed is tested two ways. A TCP proxy in this file stands
 * between the store and the shared server and plays a server that hangs
 * (accepts, never answers) or is down; and a private cluster (initdb in a
 * temporary directory, on a socket of its own, so that no other suite's
 * server is touched) is stopped with pg_ctl stop -m immediate and started
 * again under an open store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "secret/secret.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/timeutil.h"

#include "store_cache_race.h"

#define EXPECTED_SCHEMA_VERSION 2 /* raise with each migration added */
#define FAIL_TIMEOUT_MS 500       /* timeout_ms of the fail-closed stores */
#define SLACK_MS 1500             /* scheduling, ASan: an answer is late past this */

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define KEY_C "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"

/* The run's master key files, and the keyring (KEY_A) stores get. */
static char key_dir[64];
static secret_keyring *ring;

/* The run's database. */
static char admin_conninfo[1024];
static char db_name[64];
static char store_url[2048];     /* postgresql://...dbname=db_name */
static PGconn *db;               /* a direct connection to db_name, for checks */

/* ---- URLs ---- */

static void url_encode(buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            buf_putc(b, (char)c);
        else
            buf_printf(b, "%%%02X", c);
    }
}

/* A postgresql:// URL with the admin connection's parameters, dbname
 * replaced, host/port replaced when given, and extra ("k=v&...") added. */
static void make_url(char *out, size_t cap, const char *dbname, const char *host,
                     const char *port, const char *extra)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(admin_conninfo, &err);
    assert_non_null(opts);
    buf b = BUF_INIT;
    buf_puts(&b, "postgresql://?dbname=");
    url_encode(&b, dbname);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || strcmp(o->keyword, "dbname") == 0)
            continue;
        if ((host && strcmp(o->keyword, "host") == 0) ||
            (host && strcmp(o->keyword, "hostaddr") == 0) ||
            (port && strcmp(o->keyword, "port") == 0))
            continue;
        buf_printf(&b, "&%s=", o->keyword);
        url_encode(&b, o->val);
    }
    if (host) {
        buf_puts(&b, "&host=");
        url_encode(&b, host);
    }
    if (port)
        buf_printf(&b, "&port=%s", port);
    if (extra && *extra)
        buf_printf(&b, "&%s", extra);
    PQconninfoFree(opts);
    assert_false(b.failed);
    assert_true(b.len < cap);
    strcpy(out, buf_cstr(&b));
    buf_free(&b);
}

/* ---- direct SQL ---- */

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static long long query_int(const char *sql)
{
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(db));
    long long v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

static void drop_everything(void)
{
    exec_ok(db, "SET client_min_messages = warning");
    exec_ok(db, "DROP TABLE IF EXISTS ecshot_schema, instance_tags, instances, policy_attachments,"
                " policies, policies_v1, roles, access_keys, users, accounts, foreign_stuff"
                " CASCADE");
}

/* ---- master keys ---- */

/* A keyring from a key file of that text, written in key_dir. */
static secret_keyring *ring_of(const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", key_dir, name);
    unlink(path);
    FILE *fp = fopen(path, "w");
    if (!fp || fchmod(fileno(fp), 0600) != 0)
        return NULL;
    fputs(text, fp);
    fclose(fp);
    buf why = BUF_INIT;
    secret_keyring *r = secret_keyring_load(path, &why);
    if (!r)
        fprintf(stderr, "test_store_pg: %s\n", buf_cstr(&why));
    buf_free(&why);
    return r;
}

/* store_open, with the run's keyring. */
static store *open_keyed(const char *url)
{
    store *s = store_open(url);
    if (s)
        store_set_keyring(s, ring);
    return s;
}

/* ---- the run's database ---- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(key_dir, sizeof key_dir, "/tmp/ecshot-test-store-pg-XXXXXX");
    if (!mkdtemp(key_dir) || !(ring = ring_of("master.key", KEY_A "\n")))
        return -1;
    PGconn *admin = PQconnectdb(admin_conninfo);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "test_store_pg: cannot connect with ECSHOT_TEST_PG: %s",
                PQerrorMessage(admin));
        PQfinish(admin);
        return -1;
    }
    unsigned r;
    FILE *fp = fopen("/dev/urandom", "rb");
    if (!fp || fread(&r, sizeof r, 1, fp) != 1)
        r = (unsigned)getpid();
    if (fp)
        fclose(fp);
    snprintf(db_name, sizeof db_name, "ecshot_unit_%08x", r);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0", db_name);
    PGresult *res = PQexec(admin, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "test_store_pg: %s: %s", sql, PQerrorMessage(admin));
    PQclear(res);
    PQfinish(admin);
    if (!ok)
        return -1;
    make_url(store_url, sizeof store_url, db_name, NULL, NULL, NULL);
    char conninfo[2048];
    make_url(conninfo, sizeof conninfo, db_name, NULL, NULL, NULL);
    db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "test_store_pg: %s", PQerrorMessage(db));
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    secret_keyring_free(ring);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", key_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_store_pg: could not remove %s\n", key_dir);
    PQfinish(db);
    PGconn *admin = PQconnectdb(admin_conninfo);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    PGresult *r = PQexec(admin, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "test_store_pg: %s: %s", sql, PQerrorMessage(admin));
    PQclear(r);
    PQfinish(admin);
    return ok ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    drop_everything();
    return 0;
}

/* ---- helpers as in test_store.c ---- */

/* An opened store with one account "1001", a user "alice", a root key and
 * a user key. */
static store *open_populated(void)
{
    store *s = open_keyed(store_url);
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

/* ---- opening, migrations ---- */

static void test_open_creates_schema(void **state)
{
    (void)state;
    store *s = open_keyed(store_url);
    assert_non_null(s);
    assert_int_equal(query_int("SELECT version FROM ecshot_schema"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int("SELECT count(*) FROM ecshot_schema"), 1);
    assert_int_equal(query_int("SELECT count(*) FROM pg_tables WHERE tablename IN"
                               " ('accounts', 'users', 'access_keys', 'policies', 'instances',"
                               " 'instance_tags', 'ecshot_schema', 'roles', 'policy_attachments')"),
                     9);
    assert_int_equal(query_int("SELECT count(*) FROM pg_tables WHERE tablename = 'policies_v1'"),
                     0);
    /* Byte order whatever the database's locale. */
    assert_int_equal(query_int("SELECT count(*) FROM information_schema.columns"
                               " WHERE table_name = 'instance_tags' AND column_name = 'key'"
                               " AND collation_name = 'C'"),
                     1);
    store_close(s);
}

static void test_reopen_keeps_data(void **state)
{
    (void)state;
    store *s = open_populated();
    store_close(s);
    s = open_keyed(store_url);
    assert_non_null(s);
    assert_int_equal(query_int("SELECT version FROM ecshot_schema"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int("SELECT count(*) FROM ecshot_schema"), 1);
    assert_int_equal(store_account_create(s, "1001"), STORE_EXISTS);
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.secret, "alicesecret");
    store_close(s);
}

typedef struct opener {
    pthread_barrier_t *start;
    store *s;
} opener;

static void *open_at_once(void *p)
{
    opener *o = p;
    pthread_barrier_wait(o->start);
    o->s = open_keyed(store_url);
    return NULL;
}

/* Two ecshotd starting on an empty database at the same moment: one
 * migrates, the other waits for it and finds nothing left to do. */
static void test_concurrent_first_open(void **state)
{
    (void)state;
    enum { OPENERS = 4 };
    pthread_barrier_t start;
    assert_int_equal(pthread_barrier_init(&start, NULL, OPENERS), 0);
    pthread_t t[OPENERS];
    opener o[OPENERS];
    for (int i = 0; i < OPENERS; i++) {
        o[i] = (opener){&start, NULL};
        assert_int_equal(pthread_create(&t[i], NULL, open_at_once, &o[i]), 0);
    }
    for (int i = 0; i < OPENERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_non_null(o[i].s);
        store_close(o[i].s);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(query_int("SELECT version FROM ecshot_schema"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int("SELECT count(*) FROM ecshot_schema"), 1);
}

static void test_open_refuses(void **state)
{
    (void)state;
    char url[2300];
    assert_null(store_open("postgresqlx://whatever"));
    assert_null(store_open("postgres:/nothing"));
    snprintf(url, sizeof url, "%s&pool_size=0", store_url);
    assert_null(store_open(url));
    snprintf(url, sizeof url, "%s&pool_size=1025", store_url);
    assert_null(store_open(url));
    snprintf(url, sizeof url, "%s&timeout_ms=abc", store_url);
    assert_null(store_open(url));
    snprintf(url, sizeof url, "%s&timeout_ms=99", store_url);
    assert_null(store_open(url));
    snprintf(url, sizeof url, "%s&no_such_libpq_parameter=1", store_url);
    assert_null(store_open(url));
    /* A database that does not exist. */
    make_url(url, sizeof url, "ecshot_unit_no_such_db", NULL, NULL, NULL);
    assert_null(store_open(url));
    /* Nothing was created by the refused ones. */
    assert_int_equal(query_int("SELECT count(*) FROM pg_tables WHERE tablename = 'ecshot_schema'"),
                     0);

    /* The short scheme and ecshot's own parameters are accepted. */
    snprintf(url, sizeof url, "postgres://%s&pool_size=2&timeout_ms=3000",
             store_url + strlen("postgresql://"));
    store *s = open_keyed(url);
    assert_non_null(s);
    store_close(s);

    /* A database from a newer ecshot is left alone. */
    exec_ok(db, "UPDATE ecshot_schema SET version = 99");
    assert_null(store_open(store_url));
    assert_int_equal(query_int("SELECT version FROM ecshot_schema"), 99);
}

/* A database holding someone else's tables of the same names is not taken over. */
static void test_open_refuses_foreign_database(void **state)
{
    (void)state;
    exec_ok(db, "CREATE TABLE accounts (x integer); CREATE TABLE foreign_stuff (y text)");
    assert_null(store_open(store_url));
    assert_int_equal(query_int("SELECT count(*) FROM pg_tables WHERE tablename = 'ecshot_schema'"),
                     0);
    assert_int_equal(query_int("SELECT count(*) FROM information_schema.columns"
                               " WHERE table_name = 'accounts' AND column_name = 'x'"),
                     1);
}

/* ---- accounts, users, keys, policies ---- */

static void test_accounts_and_users(void **state)
{
    (void)state;
    store *s = open_keyed(store_url);
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
    assert_int_equal(store_user_create(s, longest, "alice"), STORE_OK);
    assert_int_equal(store_user_create(s, "2002", "alice"), STORE_INVALID);
    assert_int_equal(store_user_create(s, "1001", ""), STORE_INVALID);
    assert_int_equal(store_user_create(s, "1001", NULL), STORE_INVALID);
    assert_int_equal(store_user_create(s, "1001", too_long), STORE_INVALID);
    store_close(s);
}

static void test_keys(void **state)
{
    (void)state;
    store *s = open_populated();
    access_key k;

    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_string_equal(k.id, "AKROOT");
    assert_string_equal(k.secret, "rootsecret");
    assert_string_equal(k.account_id, "1001");
    assert_string_equal(k.user, "");
    assert_int_equal(k.active, 1);

    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_string_equal(k.secret, "alicesecret");
    assert_string_equal(k.user, "alice");
    assert_int_equal(k.active, 1);

    assert_int_equal(store_key_create(s, "1001", "", "AKROOT2", "s2"), STORE_OK);
    assert_int_equal(store_key_get(s, "AKROOT2", &k), STORE_OK);
    assert_string_equal(k.user, "");

    assert_int_equal(store_key_get(s, "AKNONE", &k), STORE_NOT_FOUND);
    assert_int_equal(store_key_get(s, "akroot", &k), STORE_NOT_FOUND);
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
    secret[STORE_SECRET_MAX - 1] = '\0';
    assert_int_equal(store_key_create(s, "1001", NULL, "AKX5", secret), STORE_OK);
    assert_int_equal(store_key_get(s, "AKX5", &k), STORE_OK);
    assert_string_equal(k.secret, secret);
    assert_int_equal(store_key_get(s, "AKX1", &k), STORE_NOT_FOUND);
    /* Characters that mean something to SQL or to array literals stay text. */
    assert_int_equal(store_key_create(s, "1001", NULL, "AK'\"\\{},", "s'\"\\{}"), STORE_OK);
    assert_int_equal(store_key_get(s, "AK'\"\\{},", &k), STORE_OK);
    assert_string_equal(k.secret, "s'\"\\{}");

    assert_int_equal(store_key_set_active(s, "AKALICE", 0), STORE_OK);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_int_equal(k.active, 0);
    assert_int_equal(store_key_set_active(s, "AKALICE", 0), STORE_OK);
    assert_int_equal(store_key_set_active(s, "AKALICE", 1), STORE_OK);
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_int_equal(k.active, 1);
    assert_int_equal(store_key_set_active(s, "AKNONE", 0), STORE_NOT_FOUND);
    assert_int_equal(store_key_set_active(s, NULL, 0), STORE_INVALID);
    store_close(s);
}

/* ---- secrets at rest ---- */

/* The stored secret of an AccessKey, as the database holds it. */
static void stored_secret(const char *id, char out[STORE_SEALED_MAX])
{
    const char *params[1] = {id};
    PGresult *r = PQexecParams(db, "SELECT secret FROM access_keys WHERE id = $1", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("secret of %s: %s", id, PQerrorMessage(db));
    snprintf(out, STORE_SEALED_MAX, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void test_secrets_sealed_at_rest(void **state)
{
    (void)state;
    store *s = open_populated();
    char stored[STORE_SEALED_MAX];
    stored_secret("AKROOT", stored);
    assert_memory_equal(stored, "ecs1:", 5);
    assert_true(secret_sealed_by_current(ring, stored));
    assert_int_equal(query_int("SELECT count(*) FROM access_keys WHERE secret LIKE '%secret%'"), 0);
    assert_int_equal(query_int("SELECT count(*) FROM access_keys WHERE secret LIKE 'ecs1:%'"), 2);

    /* A row copied onto another key does not open there. */
    exec_ok(db, "UPDATE access_keys SET secret = (SELECT secret FROM access_keys"
                " WHERE id = 'AKROOT') WHERE id = 'AKALICE'");
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_ERROR);
    assert_string_equal(k.secret, "");
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    assert_string_equal(k.secret, "rootsecret");

    /* Without a keyring: refused, not answered in the clear. */
    store *bare = store_open(store_url);
    assert_non_null(bare);
    assert_int_equal(store_key_get(bare, "AKROOT", &k), STORE_ERROR);
    assert_int_equal(store_key_create(bare, "1001", NULL, "AKNEW", "newsecret"), STORE_ERROR);
    store_close(bare);
    store_close(s);
}

static void test_rotate_master(void **state)
{
    (void)state;
    store *s = open_populated(); /* sealed under A */
    exec_ok(db, "INSERT INTO access_keys (id, secret, account_id, active)"
                " VALUES ('AKOLD', 'oldplainsecret', '1001', true)"); /* an older ecshot's */
    access_key k;
    assert_int_equal(store_key_get(s, "AKOLD", &k), STORE_ERROR);

    secret_keyring *ba = ring_of("ba.key", KEY_B "\n" KEY_A "\n");
    secret_keyring *b = ring_of("b.key", KEY_B "\n");
    secret_keyring *c = ring_of("c.key", KEY_C "\n");
    secret_keyring *bac = ring_of("bac.key", KEY_B "\n" KEY_A "\n" KEY_C "\n");
    assert_non_null(ba);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(bac);

    /* A key sealed under C, which the ring B, A lacks: the rotation fails
     * and changes nothing. */
    store_set_keyring(s, c);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKZZZ", "zsecret"), STORE_OK);
    store_set_keyring(s, ba);
    char root[STORE_SEALED_MAX], now[STORE_SEALED_MAX];
    stored_secret("AKROOT", root);
    size_t n = 99;
    assert_int_equal(store_key_rotate_master(s, &n), STORE_ERROR);
    assert_int_equal(n, 0);
    stored_secret("AKROOT", now);
    assert_string_equal(now, root);
    assert_int_equal(query_int("SELECT count(*) FROM access_keys WHERE secret = 'oldplainsecret'"),
                     1);

    /* With every key: A's two, C's one and the clear one are sealed by B. */
    store_set_keyring(s, bac);
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 4);
    assert_int_equal(store_key_rotate_master(s, &n), STORE_OK);
    assert_int_equal(n, 0);
    char like[96];
    snprintf(like, sizeof like, "SELECT count(*) FROM access_keys WHERE secret LIKE 'ecs1:%s:%%'",
             secret_keyring_fingerprint(b));
    assert_int_equal(query_int(like), 4);

    /* B alone opens them all. */
    store_set_keyring(s, b);
    static const char *const ids[] = {"AKROOT", "AKALICE", "AKZZZ", "AKOLD"};
    static const char *const secrets[] = {"rootsecret", "alicesecret", "zsecret",
                                          "oldplainsecret"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_key_get(s, ids[i], &k), STORE_OK);
        assert_string_equal(k.secret, secrets[i]);
    }
    store_close(s);
    secret_keyring_free(ba);
    secret_keyring_free(b);
    secret_keyring_free(c);
    secret_keyring_free(bac);
}

static void test_policies(void **state)
{
    (void)state;
    store *s = open_populated();
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
    assert_int_equal(store_policy_attach(s, "1001", "alice", "Zulu", allow), STORE_OK);
    assert_int_equal(store_policy_attach(s, "1001", "bob", "bobs", allow), STORE_OK);

    /* Byte order: "Zulu" before "alpha", as in SQLite. */
    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(docs[0].name, "Zulu");
    assert_string_equal(docs[1].name, "alpha");
    assert_string_equal(docs[1].document, allow);
    assert_string_equal(docs[2].name, "zeta");
    assert_string_equal(docs[2].document, deny);
    store_policies_free(docs, n);

    assert_int_equal(store_policy_attach(s, "1001", "alice", "zeta", allow), STORE_OK);
    assert_int_equal(store_user_policies(s, "1001", "alice", &docs, &n), STORE_OK);
    assert_int_equal(n, 3);
    assert_string_equal(docs[2].name, "zeta");
    assert_string_equal(docs[2].document, allow);
    store_policies_free(docs, n);

    assert_int_equal(store_user_policies(s, "1001", "bob", &docs, &n), STORE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(docs[0].name, "bobs");
    store_policies_free(docs, n);

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
    assert_int_equal(n, 3);
    assert_string_equal(docs[2].name, "zeta");
    assert_string_equal(docs[2].document, allow);
    store_policies_free(docs, n);
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "bob", "bobs,zeta");
    listing l = {0};
    assert_int_equal(store_policy_list(s, "1001", list_policy, &l), STORE_OK);
    assert_string_equal(l.text, "Zulu:1,alpha:1,bobs:1,zeta:2");
    /* Attaching again what is attached already is fine. */
    assert_int_equal(store_policy_attach(s, "1001", "bob", "zeta", allow), STORE_OK);
    store_close(s);
}

static void test_policy_objects(void **state)
{
    (void)state;
    store *s = open_populated();
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
    (void)state;
    store *s = open_populated();
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

static void exec_fails(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_FATAL_ERROR)
        fail_msg("%s: succeeded", sql);
    PQclear(r);
}

/* The database refuses, by itself, what the driver never sends: an
 * attachment to a principal that does not exist, or of an unknown kind;
 * and a user's attachments go with the user, an account's everything. */
static void test_schema_keeps_attachments_whole(void **state)
{
    (void)state;
    store *s = open_populated();
    role_info r = {"1001", "reader", 3600};
    assert_int_equal(store_role_create(s, &r), STORE_OK);
    assert_int_equal(store_policy_create(s, "1001", "p", allow_doc), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_USER, "alice"), STORE_OK);
    assert_int_equal(store_policy_attach_to(s, "1001", "p", PRINCIPAL_ROLE, "reader"), STORE_OK);
    store_close(s);

    exec_ok(db, "SET client_min_messages = error");
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
        exec_fails(db, refused[i]);
    exec_ok(db, "DELETE FROM users WHERE name = 'alice'");
    assert_int_equal(query_int("SELECT count(*) FROM policy_attachments"), 1);
    exec_ok(db, "DELETE FROM accounts");
    assert_int_equal(query_int("SELECT (SELECT count(*) FROM policy_attachments)"
                               " + (SELECT count(*) FROM policies)"
                               " + (SELECT count(*) FROM roles)"),
                     0);
}

/* ---- migration from schema version 1 (ecshot 0.2) ---- */

/* The schema as version 1 created it, policies per user. */
static const char schema_v1[] =
    "CREATE TABLE ecshot_schema ("
    "  application text NOT NULL CHECK (application = 'ecshot'),"
    "  version integer NOT NULL);"
    "INSERT INTO ecshot_schema (application, version) VALUES ('ecshot', 1);"
    "CREATE TABLE accounts (id text COLLATE \"C\" NOT NULL PRIMARY KEY);"
    "CREATE TABLE users ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL, PRIMARY KEY (account_id, name));"
    "CREATE TABLE access_keys ("
    "  id text COLLATE \"C\" NOT NULL PRIMARY KEY, secret text NOT NULL,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  user_name text COLLATE \"C\", active boolean NOT NULL DEFAULT true,"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE INDEX access_keys_owner ON access_keys(account_id, user_name);"
    "CREATE TABLE policies ("
    "  account_id text COLLATE \"C\" NOT NULL, user_name text COLLATE \"C\" NOT NULL,"
    "  name text COLLATE \"C\" NOT NULL, document text NOT NULL,"
    "  PRIMARY KEY (account_id, user_name, name),"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE TABLE instances ("
    "  id text COLLATE \"C\" NOT NULL PRIMARY KEY, region text COLLATE \"C\" NOT NULL,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  type text COLLATE \"C\" NOT NULL,"
    "  status text NOT NULL"
    "    CHECK (status IN ('Pending', 'Starting', 'Running', 'Stopping', 'Stopped')),"
    "  console_url text NOT NULL);"
    "CREATE INDEX instances_account ON instances(account_id);"
    "CREATE TABLE instance_tags ("
    "  instance_id text COLLATE \"C\" NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  key text COLLATE \"C\" NOT NULL, value text NOT NULL, PRIMARY KEY (instance_id, key));";

/* As in test_store.c: alice, carol (same document) and bob, dave (each
 * another) hold "p"; alice and bob hold "q" alike; alice holds "p-bob", the
 * name bob's "p" would take; a user whose name leaves no room holds "p"
 * too. In account 3003, "Zed" comes before "alice" (byte order). 2002 has
 * a "p" of its own. */
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
    (void)state;
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
    exec_ok(db, schema_v1);
    exec_ok(db, rows);
    free(rows);

    store *s = open_keyed(store_url);
    assert_non_null(s);
    assert_int_equal(query_int("SELECT version FROM ecshot_schema"), EXPECTED_SCHEMA_VERSION);
    assert_int_equal(query_int("SELECT count(*) FROM pg_tables WHERE tablename = 'policies_v1'"),
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
    (void)state;
    store *s = open_populated();
    instance in, out;
    fill_instance(&in, "i-bp1gbz20g229bvu5abcd", "1001");
    in.tag_count = 3;
    strcpy(in.tags[0].key, "team");
    strcpy(in.tags[0].value, "ops");
    strcpy(in.tags[1].key, "env");
    strcpy(in.tags[1].value, "");
    strcpy(in.tags[2].key, "Quote\"s\\{,}");
    strcpy(in.tags[2].value, "NULL");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);

    memset(&out, 0x5a, sizeof out);
    assert_int_equal(store_instance_get(s, "i-bp1gbz20g229bvu5abcd", &out), STORE_OK);
    assert_string_equal(out.id, "i-bp1gbz20g229bvu5abcd");
    assert_string_equal(out.region, "cn-hangzhou");
    assert_string_equal(out.account_id, "1001");
    assert_string_equal(out.type, "ecs.g6.large");
    assert_string_equal(out.status, "Running");
    assert_string_equal(out.console_url, "qmp:/run/ecshot/vm1.sock");
    assert_int_equal(out.tag_count, 3);
    /* In byte order of keys. */
    assert_string_equal(out.tags[0].key, "Quote\"s\\{,}");
    assert_string_equal(out.tags[0].value, "NULL");
    assert_string_equal(out.tags[1].key, "env");
    assert_string_equal(out.tags[1].value, "");
    assert_string_equal(out.tags[2].key, "team");
    assert_string_equal(out.tags[2].value, "ops");

    assert_int_equal(store_instance_add(s, &in), STORE_EXISTS);
    assert_int_equal(store_instance_get(s, "i-nosuch", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, "", &out), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, NULL, &out), STORE_INVALID);

    fill_instance(&in, "i-notags", "1001");
    strcpy(in.status, "Stopped");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-notags", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    assert_int_equal(out.tag_count, 0);

    fill_instance(&in, "i-manytags", "1001");
    in.tag_count = STORE_TAGS_MAX;
    for (size_t i = 0; i < STORE_TAGS_MAX; i++) {
        memset(in.tags[i].key, 'k', STORE_TAG_KEY_MAX - 1);
        in.tags[i].key[1] = (char)('0' + i / 10);
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

    fill_instance(&in, "i-utf8", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "\xe9\x83\xa8\xe9\x97\xa8");
    strcpy(in.tags[0].value, "\xe8\xbf\x90\xe7\xbb\xb4");
    strcpy(in.console_url, "qmp:/run/\xe8\xbf\x90.sock");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-utf8", &out), STORE_OK);
    assert_string_equal(out.tags[0].key, "\xe9\x83\xa8\xe9\x97\xa8");
    assert_string_equal(out.tags[0].value, "\xe8\xbf\x90\xe7\xbb\xb4");
    assert_string_equal(out.console_url, "qmp:/run/\xe8\xbf\x90.sock");
    store_close(s);
}

static void test_instance_add_refuses(void **state)
{
    (void)state;
    store *s = open_populated();
    instance in, out;

    fill_instance(&in, "i-x", "9999");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    /* The transaction rolled back: a tag of a refused instance stays out too. */
    fill_instance(&in, "i-x", "9999");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "k");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);

    fill_instance(&in, "i-x", "1001");
    strcpy(in.status, "running");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    memset(in.status, 'R', sizeof in.status);
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    memset(in.id, 'i', sizeof in.id);
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    memset(in.console_url, 'q', sizeof in.console_url);
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    in.console_url[0] = '\0';
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    in.tag_count = 2;
    strcpy(in.tags[0].key, "same");
    strcpy(in.tags[1].key, "same");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    in.tag_count = STORE_TAGS_MAX + 1;
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    fill_instance(&in, "i-x", "1001");
    in.tag_count = 1;
    strcpy(in.tags[0].key, "k\xc3");
    assert_int_equal(store_instance_add(s, &in), STORE_INVALID);
    assert_int_equal(store_instance_add(s, NULL), STORE_INVALID);

    assert_int_equal(store_instance_get(s, "i-x", &out), STORE_NOT_FOUND);
    assert_int_equal(query_int("SELECT count(*) FROM instance_tags"), 0);
    /* The connection that saw the errors is still good. */
    fill_instance(&in, "i-x", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    store_close(s);
}

static void test_instance_status_and_remove(void **state)
{
    (void)state;
    store *s = open_populated();
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
    assert_int_equal(query_int("SELECT count(*) FROM instance_tags"), 0);

    fill_instance(&in, "i-a", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-a", &out), STORE_OK);
    assert_int_equal(out.tag_count, 0);
    store_close(s);
}

typedef struct list_seen {
    size_t count;
    size_t stop_after; /* 0: never */
    size_t tag_total;
    char first[STORE_ID_MAX], last[STORE_ID_MAX];
    int out_of_order;
    int bad_tags;
} list_seen;

static int collect(void *ctx, const instance *inst)
{
    list_seen *seen = ctx;
    if (seen->count == 0)
        strcpy(seen->first, inst->id);
    else if (strcmp(seen->last, inst->id) >= 0)
        seen->out_of_order = 1;
    strcpy(seen->last, inst->id);
    /* Instances made by list_fill carry (number % 4) tags. */
    unsigned num = 0;
    if (sscanf(inst->id, "i-%u", &num) == 1 && inst->tag_count != num % 4)
        seen->bad_tags = 1;
    seen->tag_total += inst->tag_count;
    seen->count++;
    return seen->stop_after && seen->count == seen->stop_after;
}

static void test_instance_list(void **state)
{
    (void)state;
    store *s = open_populated();
    list_seen seen = {0};
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, 0);

    /* More rows than one fetch, so that an instance's tags straddle fetches. */
    enum { N = 1500 };
    instance *items = calloc(N, sizeof *items);
    assert_non_null(items);
    size_t tags = 0;
    for (unsigned i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "i-%05u", i);
        fill_instance(&items[i], id, "1001");
        items[i].tag_count = i % 4;
        for (size_t t = 0; t < items[i].tag_count; t++)
            snprintf(items[i].tags[t].key, sizeof items[i].tags[t].key, "key%zu", t);
        tags += i % 4;
    }
    assert_int_equal(store_instance_import(s, items, N), STORE_OK);
    free(items);

    memset(&seen, 0, sizeof seen);
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, N);
    assert_int_equal(seen.tag_total, tags);
    assert_string_equal(seen.first, "i-00000");
    assert_string_equal(seen.last, "i-01499");
    assert_false(seen.out_of_order);
    assert_false(seen.bad_tags);

    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(store_instance_list(s, collect, &seen), STORE_OK);
    assert_int_equal(seen.count, 2);
    assert_string_equal(seen.last, "i-00001");

    assert_int_equal(store_instance_list(s, NULL, NULL), STORE_INVALID);
    /* The connection the list used went back clean. */
    access_key k;
    assert_int_equal(store_key_get(s, "AKROOT", &k), STORE_OK);
    store_close(s);
}

static void test_oversized_stored_value(void **state)
{
    (void)state;
    store *s = open_populated();
    exec_ok(db, "INSERT INTO access_keys (id, secret, account_id, active)"
                " VALUES ('AKBIG', repeat('x', 300), '1001', true)");
    access_key k;
    assert_int_equal(store_key_get(s, "AKBIG", &k), STORE_ERROR);
    /* Rows of instances and tags too. */
    exec_ok(db, "INSERT INTO instances VALUES ('i-big', repeat('r', 200), '1001', 't',"
                " 'Running', 'qmp:/x')");
    instance out;
    assert_int_equal(store_instance_get(s, "i-big", &out), STORE_ERROR);
    store_close(s);
}

/* ---- import ---- */

static void test_import(void **state)
{
    (void)state;
    store *s = open_populated();
    instance items[3], out;
    fill_instance(&items[0], "i-imp1", "1001");
    items[0].tag_count = 2;
    strcpy(items[0].tags[0].key, "team");
    strcpy(items[0].tags[0].value, "ops");
    strcpy(items[0].tags[1].key, "q\"\\");
    strcpy(items[0].tags[1].value, "{a,b}");
    fill_instance(&items[1], "i-imp2", "1001");
    strcpy(items[1].status, "Stopped");
    fill_instance(&items[2], "i-imp3", "1001");
    assert_int_equal(store_instance_import(s, items, 3), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-imp1", &out), STORE_OK);
    assert_int_equal(out.tag_count, 2);
    assert_string_equal(out.tags[0].key, "q\"\\");
    assert_string_equal(out.tags[0].value, "{a,b}");
    assert_string_equal(out.tags[1].key, "team");
    assert_int_equal(store_instance_get(s, "i-imp2", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");

    /* Again: updates every field and replaces the tags. */
    strcpy(items[0].type, "ecs.g7.xlarge");
    strcpy(items[0].console_url, "qmp:/new.sock");
    items[0].tag_count = 1;
    strcpy(items[0].tags[0].key, "new");
    strcpy(items[0].tags[0].value, "v");
    strcpy(items[1].status, "Running");
    assert_int_equal(store_instance_import(s, items, 2), STORE_OK);
    assert_int_equal(store_instance_get(s, "i-imp1", &out), STORE_OK);
    assert_string_equal(out.type, "ecs.g7.xlarge");
    assert_string_equal(out.console_url, "qmp:/new.sock");
    assert_int_equal(out.tag_count, 1);
    assert_string_equal(out.tags[0].key, "new");
    assert_int_equal(store_instance_get(s, "i-imp2", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    assert_int_equal(query_int("SELECT count(*) FROM instances"), 3);

    /* All or none: an unknown account, an invalid item or an id twice
     * leaves everything as it was. */
    instance bad[2];
    fill_instance(&bad[0], "i-imp4", "1001");
    fill_instance(&bad[1], "i-imp5", "9999");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    fill_instance(&bad[1], "i-imp5", "1001");
    strcpy(bad[1].status, "Exploded");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    fill_instance(&bad[1], "i-imp4", "1001");
    assert_int_equal(store_instance_import(s, bad, 2), STORE_INVALID);
    assert_int_equal(store_instance_get(s, "i-imp4", &out), STORE_NOT_FOUND);
    assert_int_equal(query_int("SELECT count(*) FROM instances"), 3);

    assert_int_equal(store_instance_import(s, items, 0), STORE_OK);
    assert_int_equal(store_instance_import(s, NULL, 0), STORE_OK);
    assert_int_equal(store_instance_import(s, NULL, 1), STORE_INVALID);
    store_close(s);
}

/* 100 000 instances in batches of 10 000 (as `ecshot instance import`
 * sends them), half with two tags. The time is printed, not asserted. */
static void test_import_100k(void **state)
{
    (void)state;
    enum { TOTAL = 100000, BATCH = 10000 };
    store *s = open_populated();
    instance *batch = calloc(BATCH, sizeof *batch);
    assert_non_null(batch);
    int64_t t0 = clock_monotonic_us();
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
    double secs = (double)(clock_monotonic_us() - t0) / 1e6;
    printf("[ INFO     ] postgresql import: %d instances in %.2f s (%.0f instances/s)\n", TOTAL,
           secs, TOTAL / secs);
    free(batch);
    assert_int_equal(query_int("SELECT count(*) FROM instances"), TOTAL);
    assert_int_equal(query_int("SELECT count(*) FROM instance_tags"), TOTAL);
    instance out;
    assert_int_equal(store_instance_get(s, "i-00000000000000099999", &out), STORE_OK);
    assert_int_equal(out.tag_count, 2);
    store_close(s);
}

/* ---- threads ---- */

#define READERS 8
#define READS_EACH 500

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
    (void)state;
    store *s = open_populated();
    run_readers(s, READERS);
    store_close(s);
}

/* More threads than the pool has connections: some wait for one (and get
 * it well within the timeout, since each call is short). */
static void test_more_threads_than_connections(void **state)
{
    (void)state;
    store *s = open_populated();
    store_close(s);
    char url[2300];
    snprintf(url, sizeof url, "%s&pool_size=3", store_url);
    s = open_keyed(url);
    assert_non_null(s);
    run_readers(s, 24);
    assert_true(query_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                          "'ecshot' AND datname = current_database()") <= 3);
    store_close(s);
}

typedef struct mixed_arg {
    store *s;
    pthread_barrier_t *start;
    atomic_int *writer_done;
    long reads;
    int failures;
} mixed_arg;

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
    (void)state;
    store *reader = open_populated();
    store *writer = open_keyed(store_url);
    assert_non_null(writer);

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
        in.tag_count = 1;
        strcpy(in.tags[0].key, "k");
        assert_int_equal(store_instance_add(writer, &in), STORE_OK);
        assert_int_equal(store_instance_set_status(writer, id, "Stopped"), STORE_OK);
    }
    atomic_store(&writer_done, 1);
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(args[i].failures, 0);
    }
    pthread_barrier_destroy(&start);

    instance out;
    assert_int_equal(store_instance_get(reader, "i-w199", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    assert_int_equal(out.tag_count, 1);
    store_close(writer);
    store_close(reader);
}

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
    (void)state;
    store *reader = open_populated();
    store *writer = open_keyed(store_url);
    assert_non_null(writer);
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
    /* The same store may be used from inside the callback: another connection. */
    w = (write_inside){reader, 0, -99};
    assert_int_equal(store_instance_remove(reader, "i-during"), STORE_OK);
    assert_int_equal(store_instance_list(reader, write_during_list, &w), STORE_OK);
    assert_int_equal(w.write_result, STORE_OK);
    store_close(writer);
    store_close(reader);
}

/* ---- failing closed: a proxy that hangs or is down ---- */

enum proxy_mode { PROXY_FORWARD, PROXY_HANG, PROXY_DOWN };

#define PROXY_PAIRS 64

typedef struct proxy {
    int listen_fd;
    int port;
    struct sockaddr_storage target;
    socklen_t target_len;
    int wake[2];                 /* a byte here: mode changed or stop */
    atomic_int mode;
    atomic_int stop;
    int client[PROXY_PAIRS], server[PROXY_PAIRS]; /* -1: unused */
    pthread_t thread;
} proxy;

static void proxy_close_pair(proxy *p, int i)
{
    if (p->client[i] >= 0)
        close(p->client[i]);
    if (p->server[i] >= 0)
        close(p->server[i]);
    p->client[i] = p->server[i] = -1;
}

static void proxy_accept(proxy *p)
{
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0)
        return;
    int mode = atomic_load(&p->mode);
    if (mode == PROXY_DOWN) {
        close(fd);
        return;
    }
    int slot = -1;
    for (int i = 0; i < PROXY_PAIRS && slot < 0; i++)
        if (p->client[i] < 0)
            slot = i;
    if (slot < 0) {
        close(fd);
        return;
    }
    p->client[slot] = fd;
    if (mode == PROXY_HANG)
        return; /* accepted, never answered */
    int up = socket(p->target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (up < 0 || connect(up, (struct sockaddr *)&p->target, p->target_len) != 0) {
        if (up >= 0)
            close(up);
        proxy_close_pair(p, slot);
        return;
    }
    p->server[slot] = up;
}

/* Copies what is readable on from to to; -1 when the pair is done. */
static int proxy_copy(int from, int to)
{
    char chunk[16384];
    ssize_t n = read(from, chunk, sizeof chunk);
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, chunk + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

static void *proxy_run(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        struct pollfd fds[2 + 2 * PROXY_PAIRS];
        int idx[2 + 2 * PROXY_PAIRS];
        int n = 0;
        int mode = atomic_load(&p->mode);
        fds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        if (mode == PROXY_DOWN)
            for (int i = 0; i < PROXY_PAIRS; i++)
                proxy_close_pair(p, i);
        for (int i = 0; mode == PROXY_FORWARD && i < PROXY_PAIRS; i++) {
            if (p->client[i] < 0 || p->server[i] < 0)
                continue;
            idx[n] = i;
            fds[n++] = (struct pollfd){.fd = p->client[i], .events = POLLIN};
            idx[n] = i;
            fds[n++] = (struct pollfd){.fd = p->server[i], .events = POLLIN};
        }
        if (poll(fds, (nfds_t)n, -1) < 0)
            continue;
        if (fds[0].revents) {
            char c;
            if (read(p->wake[0], &c, 1) < 0)
                continue;
            continue; /* the mode may have changed: poll again with it */
        }
        if (fds[1].revents)
            proxy_accept(p);
        for (int k = 2; k < n; k++) {
            if (!fds[k].revents)
                continue;
            int i = idx[k];
            if (p->client[i] < 0)
                continue;
            int from = fds[k].fd, to = from == p->client[i] ? p->server[i] : p->client[i];
            if (proxy_copy(from, to) != 0)
                proxy_close_pair(p, i);
        }
    }
    for (int i = 0; i < PROXY_PAIRS; i++)
        proxy_close_pair(p, i);
    return NULL;
}

static void proxy_set(proxy *p, enum proxy_mode mode)
{
    atomic_store(&p->mode, (int)mode);
    assert_int_equal(write(p->wake[1], "m", 1), 1);
}

/* Where the admin connection goes: a Unix socket (host is a directory or
 * absent) or a TCP address. */
static void proxy_target(proxy *p)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(admin_conninfo, &err);
    assert_non_null(opts);
    const char *host = NULL, *port = "5432";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val && strcmp(o->keyword, "host") == 0)
            host = o->val;
        if (o->val && strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    if (!host)
        host = getenv("PGHOST") ? getenv("PGHOST") : "/var/run/postgresql";
    if (host[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)&p->target;
        un->sun_family = AF_UNIX;
        int len = snprintf(un->sun_path, sizeof un->sun_path, "%s/.s.PGSQL.%s", host, port);
        assert_true(len > 0 && (size_t)len < sizeof un->sun_path);
        p->target_len = sizeof *un;
    } else {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        assert_int_equal(getaddrinfo(host, port, &hints, &ai), 0);
        memcpy(&p->target, ai->ai_addr, ai->ai_addrlen);
        p->target_len = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    PQconninfoFree(opts);
}

static void proxy_start(proxy *p)
{
    memset(p, 0, sizeof *p);
    for (int i = 0; i < PROXY_PAIRS; i++)
        p->client[i] = p->server[i] = -1;
    proxy_target(p);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(p->listen_fd, 64), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(p->listen_fd, (struct sockaddr *)&a, &len), 0);
    p->port = ntohs(a.sin_port);
    assert_int_equal(pipe2(p->wake, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&p->thread, NULL, proxy_run, p), 0);
}

static void proxy_stop(proxy *p)
{
    atomic_store(&p->stop, 1);
    assert_int_equal(write(p->wake[1], "s", 1), 1);
    assert_int_equal(pthread_join(p->thread, NULL), 0);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
}

/* A call and how long it took. */
static int timed_key_get(store *s, int64_t *ms)
{
    access_key k;
    int64_t t0 = clock_monotonic_ms();
    int rc = store_key_get(s, "AKROOT", &k);
    *ms = clock_monotonic_ms() - t0;
    return rc;
}

typedef struct hung_caller {
    store *s;
    int result;
    int64_t ms;
} hung_caller;

static void *call_hung(void *p)
{
    hung_caller *h = p;
    h->result = timed_key_get(h->s, &h->ms);
    return NULL;
}

/* ---- the read cache ---- */

/* A cached store serves what it read until store_sync, which sees a commit
 * by another handle (another process, say the CLI) in the snapshot and
 * drops it all. */
static void test_cache_follows_other_writers(void **state)
{
    (void)state;
    store *s = open_populated();
    store *cli = open_keyed(store_url);
    assert_non_null(cli);
    assert_int_equal(store_cache_enable(s, 64), STORE_OK);
    instance in, out;
    fill_instance(&in, "i-cached", "1001");
    assert_int_equal(store_instance_add(cli, &in), STORE_OK);
    assert_int_equal(store_policy_attach(cli, "1001", "alice", "all", allow_doc), STORE_OK);

    store_sync(s);
    access_key k;
    assert_int_equal(store_key_get(s, "AKALICE", &k), STORE_OK);
    assert_true(k.active);
    assert_int_equal(store_key_get(s, "AKNEW", &k), STORE_NOT_FOUND);
    assert_int_equal(store_instance_get(s, "i-cached", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    assert_principal_policies(s, "1001", PRINCIPAL_USER, "alice", "all");

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
    store_close(cli);
    store_close(s);
}

/* A write whose transaction is open across a sync (its id is taken, it is
 * in flight) and commits after it: the next sync still sees the commit. */
static void test_cache_sees_a_commit_in_flight_at_sync(void **state)
{
    (void)state;
    store *s = open_populated();
    assert_int_equal(store_cache_enable(s, 64), STORE_OK);
    instance in, out;
    fill_instance(&in, "i-flight", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);

    exec_ok(db, "BEGIN");
    exec_ok(db, "UPDATE instances SET status = 'Stopped' WHERE id = 'i-flight'");
    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-flight", &out), STORE_OK);
    assert_string_equal(out.status, "Running"); /* not committed yet: cached as Running */
    exec_ok(db, "COMMIT");
    assert_int_equal(store_instance_get(s, "i-flight", &out), STORE_OK);
    assert_string_equal(out.status, "Running"); /* no sync yet */
    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-flight", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    store_close(s);
}

/* The same when the commit moves neither xmin nor xmax, only the list of
 * transactions in flight: an older transaction stays open (xmin stays), a
 * newer one has committed (xmax is past the writer's id). */
static void test_cache_sees_a_commit_that_only_leaves_the_list(void **state)
{
    (void)state;
    store *s = open_populated();
    store *cli = open_keyed(store_url);
    assert_non_null(cli);
    assert_int_equal(store_cache_enable(s, 64), STORE_OK);
    instance in, out;
    fill_instance(&in, "i-listed", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_OK);

    char conninfo[2048];
    make_url(conninfo, sizeof conninfo, db_name, NULL, NULL, NULL);
    PGconn *older = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(older), CONNECTION_OK);
    exec_ok(older, "BEGIN");
    exec_ok(older, "SELECT txid_current()"); /* holds xmin */
    exec_ok(db, "BEGIN");
    exec_ok(db, "UPDATE instances SET status = 'Stopped' WHERE id = 'i-listed'");
    fill_instance(&in, "i-newer", "1001");
    assert_int_equal(store_instance_add(cli, &in), STORE_OK); /* moves xmax past db's */

    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-listed", &out), STORE_OK);
    assert_string_equal(out.status, "Running");
    exec_ok(db, "COMMIT");
    store_sync(s);
    assert_int_equal(store_instance_get(s, "i-listed", &out), STORE_OK);
    assert_string_equal(out.status, "Stopped");
    exec_ok(older, "COMMIT");
    PQfinish(older);
    store_close(cli);
    store_close(s);
}

#define CACHE_WRITES 200

/* No reader ever gets "not found" for an instance committed before its
 * sync (store_cache_race.h). */
static void test_cache_exact_under_writes(void **state)
{
    (void)state;
    store *s = open_populated();
    store *cli = open_keyed(store_url);
    assert_non_null(cli);
    assert_int_equal(store_cache_enable(s, 16), STORE_OK);
    cache_race_run(s, cli, CACHE_WRITES, fill_instance);
    store_close(cli);
    store_close(s);
}

static void test_fail_closed_proxy(void **state)
{
    (void)state;
    store *s = open_populated();
    store_close(s);
    proxy p;
    proxy_start(&p);
    char port[16], extra[64], url[2300];
    snprintf(port, sizeof port, "%d", p.port);
    snprintf(extra, sizeof extra, "timeout_ms=%d&pool_size=4&sslmode=disable", FAIL_TIMEOUT_MS);
    make_url(url, sizeof url, db_name, "127.0.0.1", port, extra);
    s = open_keyed(url);
    assert_non_null(s);
    int64_t ms;
    assert_int_equal(timed_key_get(s, &ms), STORE_OK);

    /* A server that hangs: the open connections and new ones get no answer.
     * Several callers at once, each bounded by the timeout. */
    proxy_set(&p, PROXY_HANG);
    enum { CALLERS = 6 };
    pthread_t t[CALLERS];
    hung_caller h[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        h[i] = (hung_caller){s, -99, 0};
        assert_int_equal(pthread_create(&t[i], NULL, call_hung, &h[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(h[i].result, STORE_ERROR);
        assert_true(h[i].ms >= FAIL_TIMEOUT_MS - 50);
        assert_true(h[i].ms <= FAIL_TIMEOUT_MS + SLACK_MS);
    }
    instance in;
    fill_instance(&in, "i-hang", "1001");
    int64_t t0 = clock_monotonic_ms();
    assert_int_equal(store_instance_add(s, &in), STORE_ERROR);
    assert_true(clock_monotonic_ms() - t0 <= FAIL_TIMEOUT_MS + SLACK_MS);

    /* A server that is down: refused at once. */
    proxy_set(&p, PROXY_DOWN);
    assert_int_equal(timed_key_get(s, &ms), STORE_ERROR);
    assert_true(ms <= FAIL_TIMEOUT_MS + SLACK_MS);

    /* Back: the same store works again, through fresh connections. */
    proxy_set(&p, PROXY_FORWARD);
    assert_int_equal(timed_key_get(s, &ms), STORE_OK);
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    run_readers(s, 4);
    store_close(s);
    proxy_stop(&p);
}

/* ---- failing closed: a private server stopped and started ---- */

typedef struct private_pg {
    char dir[64];
    char bin[256];       /* the directory of initdb and pg_ctl */
    char as_owner[64];   /* "runuser -u postgres -- " when root, else "" */
    char url[512];
} private_pg;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    return system(cmd);
}

static int private_pg_start(const private_pg *pp)
{
    return sh("cd /tmp && %s%s/pg_ctl -D %s/data -o \"-k %s -p 5432 -c listen_addresses='' -c fsync=off\" "
              "-l %s/log -w -t 60 start >/dev/null",
              pp->as_owner, pp->bin, pp->dir, pp->dir, pp->dir);
}

static int private_pg_stop(const private_pg *pp, const char *how)
{
    return sh("cd /tmp && %s%s/pg_ctl -D %s/data -m %s -w stop >/dev/null", pp->as_owner,
              pp->bin, pp->dir, how);
}

/* initdb and start a server of our own, or return -1 (no PostgreSQL binaries). */
static int private_pg_create(private_pg *pp)
{
    memset(pp, 0, sizeof *pp);
    const char *bindir = getenv("ECSHOT_PG_BINDIR");
    if (bindir) {
        snprintf(pp->bin, sizeof pp->bin, "%s", bindir);
    } else {
        glob_t g;
        if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0)
            return -1;
        snprintf(pp->bin, sizeof pp->bin, "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        *strrchr(pp->bin, '/') = '\0';
    }
    strcpy(pp->dir, "/tmp/ecshot-test-pg-XXXXXX");
    assert_non_null(mkdtemp(pp->dir));
    if (geteuid() == 0) {
        /* PostgreSQL will not run as root. */
        struct passwd *pw = getpwnam("postgres");
        assert_non_null(pw);
        assert_int_equal(chown(pp->dir, pw->pw_uid, pw->pw_gid), 0);
        strcpy(pp->as_owner, "runuser -u postgres -- ");
    }
    assert_int_equal(sh("cd /tmp && %s%s/initdb -D %s/data -U postgres --auth=trust -N "
                        ">/dev/null 2>&1",
                        pp->as_owner, pp->bin, pp->dir),
                     0);
    assert_int_equal(private_pg_start(pp), 0);
    snprintf(pp->url, sizeof pp->url,
             "postgresql:///postgres?host=%s&port=5432&user=postgres&timeout_ms=%d&pool_size=4",
             pp->dir, FAIL_TIMEOUT_MS);
    return 0;
}

static void private_pg_destroy(private_pg *pp)
{
    private_pg_stop(pp, "immediate");
    sh("rm -rf %s", pp->dir);
}

static private_pg *running_pg; /* for the teardown, should the test fail */

static int teardown_private(void **state)
{
    (void)state;
    if (running_pg)
        private_pg_destroy(running_pg);
    running_pg = NULL;
    return 0;
}

static void test_fail_closed_server_stop(void **state)
{
    (void)state;
    static private_pg pp;
    running_pg = NULL;
    if (private_pg_create(&pp) != 0) {
        if (getenv("CI"))
            fail_msg("no PostgreSQL server binaries (initdb) to run a private server");
        fprintf(stderr, "skipped: no PostgreSQL server binaries (initdb)\n");
        skip();
    }
    running_pg = &pp;
    store *s = open_keyed(pp.url);
    assert_non_null(s);
    assert_int_equal(store_account_create(s, "1001"), STORE_OK);
    assert_int_equal(store_user_create(s, "1001", "alice"), STORE_OK);
    assert_int_equal(store_key_create(s, "1001", NULL, "AKROOT", "rootsecret"), STORE_OK);
    assert_int_equal(store_key_create(s, "1001", "alice", "AKALICE", "alicesecret"), STORE_OK);
    run_readers(s, 4); /* several pooled connections, all idle after */

    assert_int_equal(private_pg_stop(&pp, "immediate"), 0);
    int64_t ms;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(timed_key_get(s, &ms), STORE_ERROR);
        assert_true(ms <= FAIL_TIMEOUT_MS + SLACK_MS);
    }
    instance in;
    fill_instance(&in, "i-down", "1001");
    assert_int_equal(store_instance_add(s, &in), STORE_ERROR);

    assert_int_equal(private_pg_start(&pp), 0);
    /* The very first call after the restart succeeds: no dead connection
     * is handed out. */
    assert_int_equal(timed_key_get(s, &ms), STORE_OK);
    assert_int_equal(store_instance_add(s, &in), STORE_OK);
    run_readers(s, 4);

    /* And once more with connections that were idle in the pool. */
    assert_int_equal(private_pg_stop(&pp, "fast"), 0);
    assert_int_equal(private_pg_start(&pp), 0);
    assert_int_equal(timed_key_get(s, &ms), STORE_OK);
    store_close(s);
}

int main(void)
{
    const char *conninfo = getenv("ECSHOT_TEST_PG");
    if (!conninfo || !*conninfo) {
        if (getenv("CI")) {
            fprintf(stderr, "test_store_pg: FAILED: ECSHOT_TEST_PG is not set in CI "
                            "(tests/services/postgres.sh sets it)\n");
            return 1;
        }
        fprintf(stderr, "test_store_pg: skipped: set ECSHOT_TEST_PG to a PostgreSQL admin "
                        "connection, e.g. postgresql:///postgres?host=/tmp/pg&port=5432\n");
        return 77;
    }
    if (strlen(conninfo) >= sizeof admin_conninfo) {
        fprintf(stderr, "test_store_pg: ECSHOT_TEST_PG is too long\n");
        return 1;
    }
    strcpy(admin_conninfo, conninfo);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_open_creates_schema, setup),
        cmocka_unit_test_setup(test_reopen_keeps_data, setup),
        cmocka_unit_test_setup(test_concurrent_first_open, setup),
        cmocka_unit_test_setup(test_open_refuses, setup),
        cmocka_unit_test_setup(test_open_refuses_foreign_database, setup),
        cmocka_unit_test_setup(test_accounts_and_users, setup),
        cmocka_unit_test_setup(test_keys, setup),
        cmocka_unit_test_setup(test_secrets_sealed_at_rest, setup),
        cmocka_unit_test_setup(test_rotate_master, setup),
        cmocka_unit_test_setup(test_policies, setup),
        cmocka_unit_test_setup(test_policy_objects, setup),
        cmocka_unit_test_setup(test_roles, setup),
        cmocka_unit_test_setup(test_schema_keeps_attachments_whole, setup),
        cmocka_unit_test_setup(test_migration_from_v1, setup),
        cmocka_unit_test_setup(test_instance_add_get, setup),
        cmocka_unit_test_setup(test_instance_add_refuses, setup),
        cmocka_unit_test_setup(test_instance_status_and_remove, setup),
        cmocka_unit_test_setup(test_instance_list, setup),
        cmocka_unit_test_setup(test_oversized_stored_value, setup),
        cmocka_unit_test_setup(test_import, setup),
        cmocka_unit_test_setup(test_import_100k, setup),
        cmocka_unit_test_setup(test_concurrent_reads, setup),
        cmocka_unit_test_setup(test_more_threads_than_connections, setup),
        cmocka_unit_test_setup(test_second_handle_writes_while_first_reads, setup),
        cmocka_unit_test_setup(test_write_during_open_read, setup),
        cmocka_unit_test_setup(test_cache_follows_other_writers, setup),
        cmocka_unit_test_setup(test_cache_sees_a_commit_in_flight_at_sync, setup),
        cmocka_unit_test_setup(test_cache_sees_a_commit_that_only_leaves_the_list, setup),
        cmocka_unit_test_setup(test_cache_exact_under_writes, setup),
        cmocka_unit_test_setup(test_fail_closed_proxy, setup),
        cmocka_unit_test_teardown(test_fail_closed_server_stop, teardown_private),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
