/* sqlite.c: the "sqlite:PATH" store backend, the embedded default.
 *
 * One database file in WAL mode: readers never wait for the writer, so the
 * daemon keeps answering while an operator's ecshot command writes to the
 * same file, and a busy timeout makes two writers queue instead of fail.
 *
 * A store holds a pool of connections. A call checks one out (under a mutex;
 * it waits on a condition variable when all POOL_MAX are in use), runs the
 * statements prepared on that connection, and returns it. Reads on
 * different connections run in parallel; a connection is only ever used by
 * one thread at a time, which is why it is opened SQLITE_OPEN_NOMUTEX.
 *
 * The schema is an ordered list of migrations; PRAGMA user_version records
 * how many have been applied. Opening a store applies the missing ones in
 * one transaction, so a later ecshot adds a migration and never edits one. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "util/log.h"

#define SQLITE_SCHEME "sqlite:"
#define BUSY_TIMEOUT_MS 5000
#define POOL_MAX 32
#define ECSHOT_APPLICATION_ID 0x65637368 /* "ecsh": marks the file as ours */

typedef struct conn conn;
static int split_policies(conn *c);

/* migrations[i] takes the schema from version i to version i + 1: its SQL,
 * then (when SQL alone cannot say it) a function, in the same transaction.
 * Append only: a database out there may be at any version. */
static const struct migration {
    const char *sql;
    int (*then)(conn *c);
} migrations[] = {
    /* 1: accounts, RAM users, AccessKeys, policies, instances, tags. */
    {"CREATE TABLE accounts ("
     "  id TEXT NOT NULL PRIMARY KEY);"
     "CREATE TABLE users ("
     "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  PRIMARY KEY (account_id, name));"
     /* user_name NULL: the account's own (root) key. */
     "CREATE TABLE access_keys ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  secret TEXT NOT NULL,"
     "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
     "  user_name TEXT,"
     "  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),"
     "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
     "    ON DELETE CASCADE);"
     "CREATE INDEX access_keys_owner ON access_keys(account_id, user_name);"
     "CREATE TABLE policies ("
     "  account_id TEXT NOT NULL,"
     "  user_name TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  document TEXT NOT NULL,"
     "  PRIMARY KEY (account_id, user_name, name),"
     "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
     "    ON DELETE CASCADE);"
     "CREATE TABLE instances ("
     "  id TEXT NOT NULL PRIMARY KEY,"
     "  region TEXT NOT NULL,"
     "  account_id TEXT NOT NULL REFERENCES accounts(id),"
     "  type TEXT NOT NULL,"
     "  status TEXT NOT NULL"
     "    CHECK (status IN ('Pending', 'Starting', 'Running', 'Stopping', 'Stopped')),"
     "  console_url TEXT NOT NULL);"
     "CREATE INDEX instances_account ON instances(account_id);"
     "CREATE TABLE instance_tags ("
     "  instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
     "  key TEXT NOT NULL,"
     "  value TEXT NOT NULL,"
     "  PRIMARY KEY (instance_id, key));",
     NULL},
    /* 2: RAM roles; policies become objects of the account, created once
     * and attached to users and roles. The version 1 rows, (account, user,
     * name, document), become the account's policy NAME with the document
     * of its first holder by user name, attached to every user who held
     * that same document; split_policies gives each other document a
     * policy of its own. Nothing is lost. */
    {"CREATE TABLE roles ("
     "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  max_session_s INTEGER NOT NULL CHECK (max_session_s BETWEEN 3600 AND 43200),"
     "  PRIMARY KEY (account_id, name));"
     "CREATE TABLE policies_v1 AS SELECT account_id, user_name, name, document FROM policies;"
     "DROP TABLE policies;"
     "CREATE TABLE policies ("
     "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  document TEXT NOT NULL,"
     "  PRIMARY KEY (account_id, name));"
     /* A principal is (kind, name). One foreign key cannot point at users
      * or roles by kind, so each kind gets a generated column, NULL for the
      * other kind (and a NULL column is not checked): the database itself
      * refuses an attachment to a principal that does not exist, and
      * deleting a user takes its attachments with it. A policy or a role
      * still attached cannot be deleted; the driver answers STORE_CONFLICT
      * for that refusal. It is NO ACTION, not RESTRICT: the same refusal,
      * but at the end of the statement, so that deleting an account (which
      * takes the attachments too) is not refused halfway, and SQLite
      * reports it as a foreign key failure, not a trigger's. */
     "CREATE TABLE policy_attachments ("
     "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
     "  policy_name TEXT NOT NULL,"
     "  principal_kind TEXT NOT NULL CHECK (principal_kind IN ('user', 'role')),"
     "  principal_name TEXT NOT NULL,"
     "  user_name TEXT GENERATED ALWAYS AS"
     "    (CASE principal_kind WHEN 'user' THEN principal_name END) VIRTUAL,"
     "  role_name TEXT GENERATED ALWAYS AS"
     "    (CASE principal_kind WHEN 'role' THEN principal_name END) VIRTUAL,"
     "  PRIMARY KEY (account_id, policy_name, principal_kind, principal_name),"
     "  FOREIGN KEY (account_id, policy_name) REFERENCES policies(account_id, name)"
     "    ON DELETE NO ACTION,"
     "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
     "    ON DELETE CASCADE,"
     "  FOREIGN KEY (account_id, role_name) REFERENCES roles(account_id, name)"
     "    ON DELETE NO ACTION);"
     "CREATE INDEX policy_attachments_principal"
     "  ON policy_attachments(account_id, principal_kind, principal_name);"
     "INSERT INTO policies (account_id, name, document)"
     "  SELECT account_id, name, document FROM policies_v1 o"
     "  WHERE user_name = (SELECT min(user_name) FROM policies_v1 f"
     "                     WHERE f.account_id = o.account_id AND f.name = o.name);"
     "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
     "  SELECT o.account_id, o.name, 'user', o.user_name FROM policies_v1 o"
     "  JOIN policies p ON p.account_id = o.account_id AND p.name = o.name"
     "  WHERE p.document = o.document;",
     split_policies},
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* Every statement a connection runs, prepared the first time it is needed
 * and reused (reset) after. */
enum stmt_id {
    STMT_BEGIN_IMMEDIATE,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_KEY_GET,
    STMT_DATA_VERSION,
    STMT_PRINCIPAL_POLICIES,
    STMT_ROLE_GET,
    STMT_INSTANCE_GET,
    STMT_INSTANCE_LIST,
    STMT_ACCOUNT_CREATE,
    STMT_USER_CREATE,
    STMT_KEY_CREATE,
    STMT_KEY_SET_ACTIVE,
    STMT_POLICY_UPSERT,
    STMT_POLICY_ATTACH_USER,
    STMT_POLICY_CREATE,
    STMT_POLICY_GET,
    STMT_POLICY_LIST,
    STMT_POLICY_ATTACHMENTS,
    STMT_POLICY_ATTACH_TO,
    STMT_POLICY_DETACH,
    STMT_POLICY_DELETE,
    STMT_ROLE_CREATE,
    STMT_ROLE_DELETE,
    STMT_ROLE_LIST,
    STMT_INSTANCE_ADD,
    STMT_TAG_ADD,
    STMT_INSTANCE_SET_STATUS,
    STMT_INSTANCE_REMOVE,
    STMT_INSTANCE_UPSERT,
    STMT_TAGS_CLEAR,
    STMT_KEY_SECRETS,
    STMT_KEY_SET_SECRET,
    STMT_COUNT
};

/* An instance and its tags come from one statement (one read snapshot):
 * rows of the instance's columns, each with one tag (or NULLs when none). */
#define INSTANCE_COLUMNS                                                              \
    "SELECT i.id, i.region, i.account_id, i.type, i.status, i.console_url, t.key, t.value" \
    " FROM instances i LEFT JOIN instance_tags t ON t.instance_id = i.id"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_DATA_VERSION] = "PRAGMA data_version",
    [STMT_KEY_GET] = "SELECT id, secret, account_id, user_name, active FROM access_keys"
                     " WHERE id = ?1",
    [STMT_PRINCIPAL_POLICIES] = "SELECT p.name, p.document FROM policy_attachments a"
                                " JOIN policies p"
                                "   ON p.account_id = a.account_id AND p.name = a.policy_name"
                                " WHERE a.account_id = ?1 AND a.principal_kind = ?2"
                                "   AND a.principal_name = ?3 ORDER BY p.name",
    [STMT_ROLE_GET] = "SELECT account_id, name, max_session_s FROM roles"
                      " WHERE account_id = ?1 AND name = ?2",
    [STMT_INSTANCE_GET] = INSTANCE_COLUMNS " WHERE i.id = ?1 ORDER BY t.key",
    [STMT_INSTANCE_LIST] = INSTANCE_COLUMNS " ORDER BY i.id, t.key",
    [STMT_ACCOUNT_CREATE] = "INSERT INTO accounts (id) VALUES (?1)",
    [STMT_USER_CREATE] = "INSERT INTO users (account_id, name) VALUES (?1, ?2)",
    [STMT_KEY_CREATE] = "INSERT INTO access_keys (id, secret, account_id, user_name, active)"
                        " VALUES (?1, ?2, ?3, ?4, 1)",
    [STMT_KEY_SET_ACTIVE] = "UPDATE access_keys SET active = ?2 WHERE id = ?1",
    /* Changes no row (so policy_attach answers STORE_CONFLICT) when the
     * document is another and someone besides user ?4 has the policy. */
    [STMT_POLICY_UPSERT] = "INSERT INTO policies (account_id, name, document) VALUES (?1, ?2, ?3)"
                           " ON CONFLICT (account_id, name)"
                           " DO UPDATE SET document = excluded.document"
                           " WHERE policies.document = excluded.document OR NOT EXISTS ("
                           "  SELECT 1 FROM policy_attachments a WHERE a.account_id = ?1"
                           "   AND a.policy_name = ?2"
                           "   AND NOT (a.principal_kind = 'user' AND a.principal_name = ?4))",
    [STMT_POLICY_ATTACH_USER] = "INSERT INTO policy_attachments"
                                " (account_id, policy_name, principal_kind, principal_name)"
                                " VALUES (?1, ?2, 'user', ?3) ON CONFLICT DO NOTHING",
    [STMT_POLICY_CREATE] = "INSERT INTO policies (account_id, name, document) VALUES (?1, ?2, ?3)",
    [STMT_POLICY_GET] = "SELECT name, document FROM policies WHERE account_id = ?1 AND name = ?2",
    [STMT_POLICY_LIST] = "SELECT p.name, count(a.policy_name) FROM policies p"
                         " LEFT JOIN policy_attachments a"
                         "   ON a.account_id = p.account_id AND a.policy_name = p.name"
                         " WHERE p.account_id = ?1 GROUP BY p.name ORDER BY p.name",
    /* One row of NULLs for a policy attached to no one; none for no policy. */
    [STMT_POLICY_ATTACHMENTS] = "SELECT a.principal_kind, a.principal_name FROM policies p"
                                " LEFT JOIN policy_attachments a"
                                "   ON a.account_id = p.account_id AND a.policy_name = p.name"
                                " WHERE p.account_id = ?1 AND p.name = ?2"
                                " ORDER BY CASE a.principal_kind WHEN 'user' THEN 0 ELSE 1 END,"
                                "   a.principal_name",
    /* No row inserted: no such policy. */
    [STMT_POLICY_ATTACH_TO] = "INSERT INTO policy_attachments"
                              " (account_id, policy_name, principal_kind, principal_name)"
                              " SELECT account_id, name, ?3, ?4 FROM policies"
                              " WHERE account_id = ?1 AND name = ?2",
    [STMT_POLICY_DETACH] = "DELETE FROM policy_attachments WHERE account_id = ?1"
                           " AND policy_name = ?2 AND principal_kind = ?3 AND principal_name = ?4",
    [STMT_POLICY_DELETE] = "DELETE FROM policies WHERE account_id = ?1 AND name = ?2",
    [STMT_ROLE_CREATE] = "INSERT INTO roles (account_id, name, max_session_s) VALUES (?1, ?2, ?3)",
    [STMT_ROLE_DELETE] = "DELETE FROM roles WHERE account_id = ?1 AND name = ?2",
    [STMT_ROLE_LIST] = "SELECT account_id, name, max_session_s FROM roles WHERE account_id = ?1"
                       " ORDER BY name",
    [STMT_INSTANCE_ADD] = "INSERT INTO instances (id, region, account_id, type, status, console_url)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_TAG_ADD] = "INSERT INTO instance_tags (instance_id, key, value) VALUES (?1, ?2, ?3)",
    [STMT_INSTANCE_SET_STATUS] = "UPDATE instances SET status = ?2 WHERE id = ?1",
    [STMT_INSTANCE_REMOVE] = "DELETE FROM instances WHERE id = ?1",
    [STMT_INSTANCE_UPSERT] = "INSERT INTO instances (id, region, account_id, type, status,"
                             " console_url) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                             " ON CONFLICT (id) DO UPDATE SET region = excluded.region,"
                             " account_id = excluded.account_id, type = excluded.type,"
                             " status = excluded.status, console_url = excluded.console_url",
    [STMT_TAGS_CLEAR] = "DELETE FROM instance_tags WHERE instance_id = ?1",
    [STMT_KEY_SECRETS] = "SELECT id, secret FROM access_keys ORDER BY id",
    [STMT_KEY_SET_SECRET] = "UPDATE access_keys SET secret = ?2 WHERE id = ?1",
};

extern const store_driver store_sqlite_driver; /* defined at the end */

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    struct conn *next;          /* in the idle list */
    int version_seen;           /* data_version holds what sqlite_sync_cache last read */
    long long data_version;
} conn;

typedef struct sqlite_store {
    store base;
    char *path;
    pthread_mutex_t lock;       /* guards idle and opened */
    pthread_cond_t returned;    /* signalled when a connection goes back */
    conn *idle;
    int opened;                 /* connections that exist, idle or checked out */
} sqlite_store;

/* ---- connections ---- */

static void conn_close(conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

static int conn_exec(conn *c, const char *sql, const char *what)
{
    char *err = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        log_error("sqlite: %s: %s", what, err ? err : sqlite3_errmsg(c->db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

/* The one integer a PRAGMA query returns, or -1. */
static long long conn_pragma_int(conn *c, const char *sql)
{
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        log_error("sqlite: %s: %s", sql, sqlite3_errmsg(c->db));
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        log_error("sqlite: %s: %s", sql, sqlite3_errmsg(c->db));
    sqlite3_finalize(st);
    return v;
}

static conn *conn_open(const char *path)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("sqlite: out of memory");
        return NULL;
    }
    /* No SQLITE_OPEN_CREATE: sqlite_open made the file, with our mode. */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        log_error("sqlite: %s: %s", path, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return NULL;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    /* secure_delete: what a write replaces or deletes is overwritten, not
     * left in free space, so that a secret an older ecshot stored in the
     * clear does not outlive its sealing in the file. */
    if (conn_exec(c, "PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON", path) != 0) {
        conn_close(c);
        return NULL;
    }
    return c;
}

/* The statement, prepared on first use. */
static sqlite3_stmt *conn_stmt(conn *c, enum stmt_id id)
{
    if (!c->stmt[id] && sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                           &c->stmt[id], NULL) != SQLITE_OK) {
        log_error("sqlite: preparing \"%s\": %s", stmt_sql[id], sqlite3_errmsg(c->db));
        c->stmt[id] = NULL;
    }
    return c->stmt[id];
}

/* Ready for the next use: ends the statement's read of the database (so
 * WAL checkpoints are not held back) and drops bound strings. */
static void stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Binds n strings (const char *, NULL for SQL NULL) to ?1..?n. The strings
 * must live until stmt_done. */
static int bind_vstrings(sqlite3_stmt *st, int n, va_list ap)
{
    int rc = SQLITE_OK;
    for (int i = 1; i <= n && rc == SQLITE_OK; i++) {
        const char *s = va_arg(ap, const char *);
        rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
    }
    return rc;
}

static int bind_strings(sqlite3_stmt *st, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    int rc = bind_vstrings(st, n, ap);
    va_end(ap);
    return rc;
}

/* A failed step (or bind) as a store result: constraint violations are the
 * caller's doing and are not logged; anything else is. */
static int result_of(conn *c, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return STORE_EXISTS;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return STORE_INVALID;
    default:
        log_error("sqlite: %s: %s", what, sqlite3_errmsg(c->db));
        return STORE_ERROR;
    }
}

/* Runs a statement that returns no rows with n string parameters. */
static int conn_write(conn *c, enum stmt_id id, const char *what, int n, ...)
{
    sqlite3_stmt *st = conn_stmt(c, id);
    if (!st)
        return STORE_ERROR;
    va_list ap;
    va_start(ap, n);
    int rc = bind_vstrings(st, n, ap);
    va_end(ap);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int result = rc == SQLITE_DONE ? STORE_OK : result_of(c, rc, what);
    stmt_done(st);
    return result;
}

static int conn_begin(conn *c)
{
    return conn_write(c, STMT_BEGIN_IMMEDIATE, "begin", 0);
}

static int conn_commit(conn *c)
{
    return conn_write(c, STMT_COMMIT, "commit", 0);
}

/* Rolls back what is still open: some errors (I/O, busy) already ended the
 * transaction, and ROLLBACK outside one is itself an error. */
static void conn_rollback(conn *c)
{
    if (!sqlite3_get_autocommit(c->db))
        conn_write(c, STMT_ROLLBACK, "rollback", 0);
}

/* ---- the pool ---- */

static conn *checkout(sqlite_store *ss)
{
    pthread_mutex_lock(&ss->lock);
    while (!ss->idle && ss->opened >= POOL_MAX)
        pthread_cond_wait(&ss->returned, &ss->lock);
    conn *c = ss->idle;
    if (c) {
        ss->idle = c->next;
        pthread_mutex_unlock(&ss->lock);
        return c;
    }
    ss->opened++; /* reserve the slot; open outside the lock */
    pthread_mutex_unlock(&ss->lock);
    c = conn_open(ss->path);
    if (!c) {
        pthread_mutex_lock(&ss->lock);
        ss->opened--;
        pthread_cond_signal(&ss->returned);
        pthread_mutex_unlock(&ss->lock);
    }
    return c;
}

static void checkin(sqlite_store *ss, conn *c)
{
    pthread_mutex_lock(&ss->lock);
    c->next = ss->idle;
    ss->idle = c;
    pthread_cond_signal(&ss->returned);
    pthread_mutex_unlock(&ss->lock);
}

/* ---- opening: file, mode, journal, schema ---- */

/* Creates the file 0600 when missing: it holds the inventory and the
 * (sealed) AccessKey secrets, and SQLite gives its -wal and -shm files the
 * mode of the database file. */
static int create_private_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("sqlite: %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        log_warn("sqlite: %s is open to other users (mode %03o); it holds secrets", path,
                 (unsigned)(st.st_mode & 0777));
    close(fd);
    return 0;
}

/* ---- migration 2: a policy of its own for each differing document ---- */

/* The k-th name tried (k = 1, 2, ...) for the policy NAME as USER held it:
 * NAME-USER, then NAME-USER cut to leave room for "-k". 0 when the first
 * does not fit in a name (then the next k is tried). */
static int split_name(char out[STORE_ID_MAX], const char *name, const char *user, int k)
{
    int n = snprintf(out, STORE_ID_MAX, "%s-%s", name, user);
    if (k == 1)
        return n >= 0 && n < STORE_ID_MAX;
    char suffix[16];
    int sn = snprintf(suffix, sizeof suffix, "-%d", k);
    size_t len = strlen(out), room = STORE_ID_MAX - 1 - (size_t)sn;
    memcpy(out + (len < room ? len : room), suffix, (size_t)sn + 1);
    return 1;
}

/* Gives each version 1 row whose document differs from the one its name
 * now has a policy of its own, under the first free split_name, attached
 * to its user; and drops the version 1 table. Rows go in (account, name,
 * user) order, so the same rows get the same names on any database. Every
 * version 1 name is a policy already, so the policies added here never
 * change the rows the loop reads. */
static int split_policies(conn *c)
{
    static const char *const sql[3] = {
        "SELECT o.account_id, o.user_name, o.name, o.document FROM policies_v1 o"
        " JOIN policies p ON p.account_id = o.account_id AND p.name = o.name"
        " WHERE p.document <> o.document ORDER BY o.account_id, o.name, o.user_name",
        "INSERT INTO policies (account_id, name, document) VALUES (?1, ?2, ?3)"
        " ON CONFLICT DO NOTHING",
        "INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
        " VALUES (?1, ?2, 'user', ?3)",
    };
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    int rc = SQLITE_OK;
    for (int i = 0; i < 3 && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v2(c->db, sql[i], -1, &st[i], NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st[0])) == SQLITE_ROW) {
        rc = SQLITE_OK;
        const char *account = (const char *)sqlite3_column_text(st[0], 0);
        const char *user = (const char *)sqlite3_column_text(st[0], 1);
        const char *name = (const char *)sqlite3_column_text(st[0], 2);
        const char *document = (const char *)sqlite3_column_text(st[0], 3);
        if (!account || !user || !name || !document) {
            rc = SQLITE_NOMEM; /* the columns are NOT NULL in version 1 */
            break;
        }
        char fresh[STORE_ID_MAX];
        int added = 0;
        for (int k = 1; !added && rc == SQLITE_OK; k++) {
            if (!split_name(fresh, name, user, k))
                continue;
            rc = bind_strings(st[1], 3, account, fresh, document);
            if (rc == SQLITE_OK && (rc = sqlite3_step(st[1])) == SQLITE_DONE) {
                rc = SQLITE_OK;
                added = sqlite3_changes(c->db) > 0; /* else the name is taken */
            }
            sqlite3_reset(st[1]);
        }
        if (rc == SQLITE_OK)
            rc = bind_strings(st[2], 3, account, fresh, user);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st[2])) == SQLITE_DONE)
            rc = SQLITE_OK;
        sqlite3_reset(st[2]);
        if (rc == SQLITE_OK)
            log_warn("sqlite: account %s: user %s's policy %s differed from the one of that name"
                     " the account keeps; it is now the policy %s", account, user, name, fresh);
    }
    if (rc != SQLITE_DONE)
        log_error("sqlite: migration to schema version 2 (policies): %s", sqlite3_errmsg(c->db));
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(st[i]);
    if (rc != SQLITE_DONE)
        return -1;
    return conn_exec(c, "DROP TABLE policies_v1", "migration to schema version 2");
}

/* Applies the migrations the database lacks. Checked again inside the
 * write transaction: another process may have migrated in between. */
static int migrate(conn *c, const char *path)
{
    long long version = conn_pragma_int(c, "PRAGMA user_version");
    if (version == SCHEMA_VERSION)
        return 0;
    if (conn_begin(c) != STORE_OK)
        return -1;
    version = conn_pragma_int(c, "PRAGMA user_version");
    long long app = conn_pragma_int(c, "PRAGMA application_id");
    if (version < 0 || app < 0)
        goto fail;
    if (version > SCHEMA_VERSION) {
        log_error("sqlite: %s has schema version %lld; this ecshot knows up to %d", path, version,
                  SCHEMA_VERSION);
        goto fail;
    }
    if (app != 0 && app != ECSHOT_APPLICATION_ID) {
        log_error("sqlite: %s belongs to another application (application_id %lld)", path, app);
        goto fail;
    }
    for (long long v = version; v < SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migration to schema version %lld", v + 1);
        if (conn_exec(c, migrations[v].sql, what) != 0 ||
            (migrations[v].then && migrations[v].then(c) != 0))
            goto fail;
    }
    char set_version[96];
    snprintf(set_version, sizeof set_version,
             "PRAGMA application_id = %d; PRAGMA user_version = %d", ECSHOT_APPLICATION_ID,
             SCHEMA_VERSION);
    if (conn_exec(c, set_version, path) != 0 || conn_commit(c) != STORE_OK)
        goto fail;
    if (version > 0)
        log_info("sqlite: %s migrated from schema version %lld to %d", path, version,
                 SCHEMA_VERSION);
    return 0;
fail:
    conn_rollback(c);
    return -1;
}

/* Switches the file to WAL (a lasting property of the file, so this is a
 * no-op after the first time). */
static int use_wal(conn *c, const char *path)
{
    sqlite3_stmt *st;
    int ok = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *mode = sqlite3_column_text(st, 0);
            ok = mode && strcmp((const char *)mode, "wal") == 0;
        }
        sqlite3_finalize(st);
    }
    if (!ok)
        log_error("sqlite: %s: cannot use WAL mode: %s", path, sqlite3_errmsg(c->db));
    return ok ? 0 : -1;
}

static void sqlite_close(store *s);

static int sqlite_open(const char *url, store **out)
{
    const char *path = url + strlen(SQLITE_SCHEME);
    *out = NULL;
    if (*path == '\0') {
        log_error("sqlite: the store URL names no file (sqlite:PATH)");
        return STORE_INVALID;
    }
    /* Each pooled connection of ":memory:" would be a database of its own. */
    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
        log_error("sqlite: %s: give the path of a database file", path);
        return STORE_INVALID;
    }
    if (!sqlite3_threadsafe()) {
        log_error("sqlite: this SQLite library was built without thread support");
        return STORE_ERROR;
    }
    sqlite_store *ss = calloc(1, sizeof *ss);
    if (!ss || !(ss->path = strdup(path))) {
        free(ss);
        log_error("sqlite: out of memory");
        return STORE_ERROR;
    }
    ss->base.driver = &store_sqlite_driver;
    pthread_mutex_init(&ss->lock, NULL);
    pthread_cond_init(&ss->returned, NULL);

    if (create_private_file(path) != 0)
        goto fail;
    conn *c = checkout(ss);
    if (!c)
        goto fail;
    int ok = use_wal(c, path) == 0 && migrate(c, path) == 0;
    checkin(ss, c);
    if (!ok)
        goto fail;
    *out = &ss->base;
    return STORE_OK;
fail:
    sqlite_close(&ss->base);
    return STORE_ERROR;
}

/* Every connection must have been returned: a store is closed when its
 * users are done with it. */
static void sqlite_close(store *s)
{
    sqlite_store *ss = (sqlite_store *)s;
    while (ss->idle) {
        conn *next = ss->idle->next;
        conn_close(ss->idle);
        ss->idle = next;
    }
    pthread_cond_destroy(&ss->returned);
    pthread_mutex_destroy(&ss->lock);
    free(ss->path);
    free(ss);
}

/* ---- reading rows ---- */

/* Copies a text column into a field of cap bytes; NULL reads as "". A value
 * too long for the field (written by something other than ecshot) is an
 * error, never cut. */
static int copy_column(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (!t) {
        dst[0] = '\0';
        return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : -1; /* else out of memory */
    }
    if (n >= cap)
        return -1;
    memcpy(dst, t, n);
    dst[n] = '\0';
    return 0;
}

/* Fills inst's own columns from the current row. */
static int read_instance(sqlite3_stmt *st, instance *inst)
{
    inst->tag_count = 0;
    return copy_column(st, 0, inst->id, sizeof inst->id) ||
           copy_column(st, 1, inst->region, sizeof inst->region) ||
           copy_column(st, 2, inst->account_id, sizeof inst->account_id) ||
           copy_column(st, 3, inst->type, sizeof inst->type) ||
           copy_column(st, 4, inst->status, sizeof inst->status) ||
           copy_column(st, 5, inst->console_url, sizeof inst->console_url)
               ? -1
               : 0;
}

/* Adds the current row's tag, if it has one. */
static int read_tag(sqlite3_stmt *st, instance *inst)
{
    if (sqlite3_column_type(st, 6) == SQLITE_NULL)
        return 0;
    if (inst->tag_count == STORE_TAGS_MAX)
        return -1;
    instance_tag *t = &inst->tags[inst->tag_count];
    if (copy_column(st, 6, t->key, sizeof t->key) ||
        copy_column(st, 7, t->value, sizeof t->value))
        return -1;
    inst->tag_count++;
    return 0;
}

/* ---- the driver's functions ---- */

static int sqlite_key_get(store *s, const char *access_key_id, access_key *out,
                          char stored_secret[STORE_SEALED_MAX])
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_KEY_GET);
    int result = STORE_ERROR;
    if (st) {
        int rc = bind_strings(st, 1, access_key_id);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (copy_column(st, 0, out->id, sizeof out->id) ||
                copy_column(st, 1, stored_secret, STORE_SEALED_MAX) ||
                copy_column(st, 2, out->account_id, sizeof out->account_id) ||
                copy_column(st, 3, out->user, sizeof out->user)) {
                log_error("sqlite: access key %s: a stored field does not fit", access_key_id);
            } else {
                out->active = sqlite3_column_int(st, 4) != 0;
                result = STORE_OK;
            }
        } else if (rc == SQLITE_DONE) {
            result = STORE_NOT_FOUND;
        } else {
            result = result_of(c, rc, "key_get");
        }
        stmt_done(st);
    }
    checkin(ss, c);
    return result;
}

/* Fills d from the current row (name, document), the document on the heap. */
static int read_policy(sqlite3_stmt *st, policy_doc *d)
{
    const unsigned char *text = sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    if (!text || copy_column(st, 0, d->name, sizeof d->name))
        return -1;
    if (!(d->document = malloc(len + 1)))
        return -1;
    memcpy(d->document, text, len);
    d->document[len] = '\0';
    return 0;
}

/* Appends the current row to *docs. */
static int append_policy(sqlite3_stmt *st, policy_doc **docs, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        size_t n = *cap ? *cap * 2 : 4;
        policy_doc *p = realloc(*docs, n * sizeof *p);
        if (!p)
            return -1;
        *docs = p;
        *cap = n;
    }
    if (read_policy(st, &(*docs)[*count]) != 0)
        return -1;
    (*count)++;
    return 0;
}

/* How a principal's kind is stored. */
static const char *kind_text(principal_kind kind)
{
    return kind == PRINCIPAL_ROLE ? "role" : "user";
}

static int sqlite_principal_policies(store *s, const char *account_id, principal_kind kind,
                                     const char *name, policy_doc **out, size_t *count)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_PRINCIPAL_POLICIES);
    int result = STORE_ERROR;
    policy_doc *docs = NULL;
    size_t n = 0, cap = 0;
    if (st) {
        int rc = bind_strings(st, 3, account_id, kind_text(kind), name);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
            if (append_policy(st, &docs, &n, &cap) != 0) {
                log_error("sqlite: policies of %s %s/%s: out of memory or a name that does not"
                          " fit", kind_text(kind), account_id, name);
                rc = SQLITE_NOMEM;
                break;
            }
        }
        if (rc == SQLITE_DONE)
            result = STORE_OK;
        else if (rc != SQLITE_NOMEM)
            result = result_of(c, rc, "principal_policies");
        stmt_done(st);
    }
    checkin(ss, c);
    if (result != STORE_OK) {
        store_policies_free(docs, n);
        return result;
    }
    *out = docs;
    *count = n;
    return STORE_OK;
}

/* Runs query id with n string parameters and hands each row to
 * row(st, arg), which returns 0 to go on, 1 to stop (the caller's fn asked
 * to) or -1 when a stored value does not fit or memory ran out. *rows (if
 * asked) gets the number of rows read. row runs with the statement open (a
 * read snapshot): a caller's fn may use the store, which hands it another
 * connection. */
static int each_row(store *s, enum stmt_id id, const char *what,
                    int (*row)(sqlite3_stmt *st, void *arg), void *arg, size_t *rows, int n, ...)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, id);
    int result = STORE_ERROR;
    size_t count = 0;
    if (st) {
        va_list ap;
        va_start(ap, n);
        int rc = bind_vstrings(st, n, ap);
        va_end(ap);
        int stop = 0;
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
            count++;
            if ((stop = row(st, arg)) != 0)
                break;
        }
        if (stop < 0)
            log_error("sqlite: %s: out of memory or a stored value that does not fit", what);
        else if (stop > 0 || rc == SQLITE_DONE)
            result = STORE_OK;
        else
            result = result_of(c, rc, what);
        stmt_done(st);
    }
    checkin(ss, c);
    if (rows)
        *rows = count;
    return result;
}

/* Fills r from the current row (account_id, name, max_session_s). */
static int read_role(sqlite3_stmt *st, role_info *r)
{
    if (copy_column(st, 0, r->account_id, sizeof r->account_id) ||
        copy_column(st, 1, r->name, sizeof r->name))
        return -1;
    r->max_session_s = (long)sqlite3_column_int64(st, 2);
    return 0;
}

static int role_row(sqlite3_stmt *st, void *arg)
{
    return read_role(st, arg) != 0 ? -1 : 0;
}

static int sqlite_role_get(store *s, const char *account_id, const char *name, role_info *out)
{
    size_t rows;
    int result = each_row(s, STMT_ROLE_GET, "role_get", role_row, out, &rows, 2, account_id, name);
    return result == STORE_OK && rows == 0 ? STORE_NOT_FOUND : result;
}

/* PRAGMA data_version moves when another connection, of this process or
 * another, commits: one read of a page the WAL index already has, where a
 * lookup would be a query. A connection's own commits do not move it, but
 * store.c drops the cache on every write made through the store. Each
 * connection counts for itself, so each remembers what it read last; the
 * first check on any connection after a commit drops the cache, and does
 * so before the connection goes back to the pool. */
static int sqlite_sync_cache(store *s)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_DATA_VERSION);
    int result = STORE_ERROR;
    if (st) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            long long version = sqlite3_column_int64(st, 0);
            if (!c->version_seen || version != c->data_version)
                store_cache_drop(s);
            c->data_version = version;
            c->version_seen = 1;
            result = STORE_OK;
        } else {
            result = result_of(c, rc, "data_version");
        }
        stmt_done(st);
    }
    checkin(ss, c);
    return result;
}

static int sqlite_instance_get(store *s, const char *instance_id, instance *out)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_INSTANCE_GET);
    int result = STORE_ERROR;
    if (st) {
        int rc = bind_strings(st, 1, instance_id);
        int rows = 0, bad = 0;
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
            if ((rows++ == 0 && read_instance(st, out) != 0) || read_tag(st, out) != 0) {
                bad = 1;
                break;
            }
        }
        if (bad)
            log_error("sqlite: instance %s: a stored field or its tags do not fit", instance_id);
        else if (rc == SQLITE_DONE)
            result = rows ? STORE_OK : STORE_NOT_FOUND;
        else
            result = result_of(c, rc, "instance_get");
        stmt_done(st);
    }
    checkin(ss, c);
    return result;
}

/* Streams the instances, one per run of rows with the same id. fn runs with
 * the statement open (a read snapshot): it may use the store, which hands
 * it another connection. */
static int sqlite_instance_list(store *s, int (*fn)(void *ctx, const instance *inst), void *ctx)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    instance *inst = malloc(sizeof *inst);
    sqlite3_stmt *st = conn_stmt(c, STMT_INSTANCE_LIST);
    int result = STORE_ERROR;
    if (inst && st) {
        int rc = SQLITE_OK, have = 0, stop = 0, bad = 0;
        while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const unsigned char *id = sqlite3_column_text(st, 0);
            if (have && id && strcmp((const char *)id, inst->id) != 0) {
                stop = fn(ctx, inst) != 0;
                have = 0;
                if (stop)
                    break;
            }
            if ((!have && read_instance(st, inst) != 0) || read_tag(st, inst) != 0) {
                bad = 1;
                break;
            }
            have = 1;
        }
        if (bad) {
            log_error("sqlite: instance_list: a stored field or its tags do not fit");
        } else if (stop) {
            result = STORE_OK;
        } else if (rc == SQLITE_DONE) {
            if (have)
                fn(ctx, inst); /* the last one; nothing follows to stop */
            result = STORE_OK;
        } else {
            result = result_of(c, rc, "instance_list");
        }
        stmt_done(st);
    } else if (!inst) {
        log_error("sqlite: instance_list: out of memory");
    }
    free(inst);
    checkin(ss, c);
    return result;
}

/* Runs one write statement with n string parameters on a pooled connection. */
static int pooled_write(store *s, enum stmt_id id, const char *what, int n, const char *a,
                        const char *b, const char *c3, const char *d)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = conn_write(c, id, what, n, a, b, c3, d);
    checkin(ss, c);
    return result;
}

static int sqlite_account_create(store *s, const char *account_id)
{
    return pooled_write(s, STMT_ACCOUNT_CREATE, "account_create", 1, account_id, NULL, NULL, NULL);
}

static int sqlite_user_create(store *s, const char *account_id, const char *user)
{
    return pooled_write(s, STMT_USER_CREATE, "user_create", 2, account_id, user, NULL, NULL);
}

static int sqlite_key_create(store *s, const char *account_id, const char *user, const char *id,
                             const char *sealed_secret)
{
    return pooled_write(s, STMT_KEY_CREATE, "key_create", 4, id, sealed_secret, account_id, user);
}

/* An AccessKey's id and stored secret, read before any is rewritten. */
typedef struct key_row {
    char *id;
    char *stored;
} key_row;

static void key_rows_free(key_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].id);
        if (rows[i].stored) /* an older ecshot's may be in the clear */
            OPENSSL_cleanse(rows[i].stored, strlen(rows[i].stored));
        free(rows[i].stored);
    }
    free(rows);
}

/* Every AccessKey's id and stored secret, in id order, into *out. */
static int read_key_rows(conn *c, key_row **out, size_t *count)
{
    sqlite3_stmt *st = conn_stmt(c, STMT_KEY_SECRETS);
    if (!st)
        return STORE_ERROR;
    key_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc, oom = 0;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *stored = (const char *)sqlite3_column_text(st, 1);
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 64;
            key_row *p = realloc(rows, grown * sizeof *p);
            if (!p) {
                oom = 1;
                break;
            }
            rows = p;
            cap = grown;
        }
        rows[n].id = id ? strdup(id) : NULL;
        rows[n].stored = stored ? strdup(stored) : NULL;
        n++;
        oom = !rows[n - 1].id || !rows[n - 1].stored;
    }
    int result = STORE_OK;
    if (oom) {
        log_error("sqlite: key_reseal_all: out of memory");
        result = STORE_ERROR;
    } else if (rc != SQLITE_DONE) {
        result = result_of(c, rc, "key_reseal_all");
    }
    stmt_done(st);
    if (result != STORE_OK) {
        key_rows_free(rows, n);
        return result;
    }
    *out = rows;
    *count = n;
    return STORE_OK;
}

/* Copies the WAL into the database and empties it: its frames hold the
 * pages as they were before a re-sealing (a secret in the clear, or sealed
 * under a retired key). Readers in the middle of a read hold it back until
 * they finish (the busy timeout); failing that, the next checkpoint does it. */
static void drop_old_versions(conn *c, const char *path)
{
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK)
        log_warn("sqlite: %s: the write-ahead log keeps the secrets as they were before "
                 "re-sealing until its next checkpoint (%s)", path, sqlite3_errmsg(c->db));
}

/* One write transaction (BEGIN IMMEDIATE: no other writer until it ends;
 * readers go on reading the committed rows, WAL): read every row, then
 * write back what reseal replaced. */
static int sqlite_key_reseal_all(store *s, store_reseal_fn reseal, void *ctx, size_t *count)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    key_row *rows = NULL;
    size_t n = 0, changed = 0;
    int result = conn_begin(c);
    if (result == STORE_OK)
        result = read_key_rows(c, &rows, &n);
    buf out = BUF_INIT;
    for (size_t i = 0; i < n && result == STORE_OK; i++) {
        buf_reset(&out);
        int r = reseal(ctx, rows[i].id, rows[i].stored, &out);
        if (r < 0) {
            result = STORE_ERROR;
        } else if (r > 0) {
            result = conn_write(c, STMT_KEY_SET_SECRET, "key_reseal_all", 2, rows[i].id,
                                buf_cstr(&out));
            changed++;
        }
    }
    if (result == STORE_OK)
        result = conn_commit(c);
    if (result != STORE_OK)
        conn_rollback(c);
    else
        *count = changed;
    if (result == STORE_OK && changed > 0)
        drop_old_versions(c, ss->path);
    buf_free(&out);
    key_rows_free(rows, n);
    checkin(ss, c);
    return result;
}

/* The number of rows the last statement on c changed, as a result. */
static int changed_or_not_found(conn *c, int result)
{
    if (result == STORE_OK && sqlite3_changes(c->db) == 0)
        return STORE_NOT_FOUND;
    return result;
}

static int sqlite_key_set_active(store *s, const char *access_key_id, int active)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_KEY_SET_ACTIVE);
    int result = STORE_ERROR;
    if (st) {
        int rc = bind_strings(st, 1, access_key_id);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int(st, 2, active != 0);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        result = changed_or_not_found(c, rc == SQLITE_DONE ? STORE_OK
                                                           : result_of(c, rc, "key_set_active"));
        stmt_done(st);
    }
    checkin(ss, c);
    return result;
}

/* A write on a pooled connection that must change a row: STORE_NOT_FOUND
 * when it changed none. */
static int pooled_change(store *s, enum stmt_id id, const char *what, int n, const char *a,
                         const char *b, const char *c3, const char *d)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = changed_or_not_found(c, conn_write(c, id, what, n, a, b, c3, d));
    checkin(ss, c);
    return result;
}

/* The policy, created or given the new document, and attached to the
 * user: both or neither; STORE_CONFLICT when the new document would change
 * what others attached to it may do. */
static int sqlite_policy_attach(store *s, const char *account_id, const char *user,
                                const char *name, const char *document)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = conn_begin(c);
    if (result == STORE_OK) {
        result = conn_write(c, STMT_POLICY_UPSERT, "policy_attach", 4, account_id, name, document,
                            user);
        if (changed_or_not_found(c, result) == STORE_NOT_FOUND)
            result = STORE_CONFLICT;
        if (result == STORE_OK)
            result = conn_write(c, STMT_POLICY_ATTACH_USER, "policy_attach", 3, account_id, name,
                                user);
        if (result == STORE_OK)
            result = conn_commit(c);
        if (result != STORE_OK)
            conn_rollback(c);
    }
    checkin(ss, c);
    return result;
}

static int sqlite_policy_create(store *s, const char *account_id, const char *name,
                                const char *document)
{
    return pooled_write(s, STMT_POLICY_CREATE, "policy_create", 3, account_id, name, document,
                        NULL);
}

static int policy_doc_row(sqlite3_stmt *st, void *arg)
{
    return read_policy(st, arg) != 0 ? -1 : 0;
}

static int sqlite_policy_get(store *s, const char *account_id, const char *name, policy_doc *out)
{
    size_t rows;
    out->document = NULL;
    int result =
        each_row(s, STMT_POLICY_GET, "policy_get", policy_doc_row, out, &rows, 2, account_id, name);
    if (result != STORE_OK) {
        free(out->document);
        out->document = NULL;
    }
    return result == STORE_OK && rows == 0 ? STORE_NOT_FOUND : result;
}

typedef struct policy_each {
    int (*fn)(void *ctx, const char *name, size_t attachments);
    void *ctx;
} policy_each;

static int policy_list_row(sqlite3_stmt *st, void *arg)
{
    const policy_each *e = arg;
    char name[STORE_ID_MAX];
    if (copy_column(st, 0, name, sizeof name) != 0)
        return -1;
    return e->fn(e->ctx, name, (size_t)sqlite3_column_int64(st, 1)) != 0;
}

static int sqlite_policy_list(store *s, const char *account_id,
                              int (*fn)(void *ctx, const char *name, size_t attachments),
                              void *ctx)
{
    policy_each e = {fn, ctx};
    return each_row(s, STMT_POLICY_LIST, "policy_list", policy_list_row, &e, NULL, 1, account_id);
}

typedef struct attachment_each {
    int (*fn)(void *ctx, const policy_attachment *a);
    void *ctx;
} attachment_each;

/* A row of NULLs stands for a policy attached to no one. */
static int attachment_row(sqlite3_stmt *st, void *arg)
{
    const attachment_each *e = arg;
    const unsigned char *kind = sqlite3_column_text(st, 0);
    if (!kind)
        return sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : -1;
    policy_attachment a;
    if (strcmp((const char *)kind, "user") == 0)
        a.kind = PRINCIPAL_USER;
    else if (strcmp((const char *)kind, "role") == 0)
        a.kind = PRINCIPAL_ROLE;
    else
        return -1;
    if (copy_column(st, 1, a.name, sizeof a.name) != 0)
        return -1;
    return e->fn(e->ctx, &a) != 0;
}

static int sqlite_policy_attachments(store *s, const char *account_id, const char *name,
                                     int (*fn)(void *ctx, const policy_attachment *a), void *ctx)
{
    attachment_each e = {fn, ctx};
    size_t rows;
    int result = each_row(s, STMT_POLICY_ATTACHMENTS, "policy_attachments", attachment_row, &e,
                          &rows, 2, account_id, name);
    return result == STORE_OK && rows == 0 ? STORE_NOT_FOUND : result;
}

/* No row inserted: no such policy. The principal's foreign key refuses one
 * that does not exist (STORE_INVALID); the primary key, a second time. */
static int sqlite_policy_attach_to(store *s, const char *account_id, const char *name,
                                   principal_kind kind, const char *principal)
{
    return pooled_change(s, STMT_POLICY_ATTACH_TO, "policy_attach_to", 4, account_id, name,
                         kind_text(kind), principal);
}

static int sqlite_policy_detach(store *s, const char *account_id, const char *name,
                                principal_kind kind, const char *principal)
{
    return pooled_change(s, STMT_POLICY_DETACH, "policy_detach", 4, account_id, name,
                         kind_text(kind), principal);
}

/* Deletes a policy or a role. The attachments' foreign key refuses while
 * anything is attached, within the statement, so that nothing can be
 * attached between a check and the delete; that refusal (the only one a
 * delete of these can meet) is STORE_CONFLICT. */
static int delete_unless_attached(store *s, enum stmt_id id, const char *what,
                                  const char *account_id, const char *name)
{
    int result = pooled_change(s, id, what, 2, account_id, name, NULL, NULL);
    return result == STORE_INVALID ? STORE_CONFLICT : result;
}

static int sqlite_policy_delete(store *s, const char *account_id, const char *name)
{
    return delete_unless_attached(s, STMT_POLICY_DELETE, "policy_delete", account_id, name);
}

static int sqlite_role_create(store *s, const role_info *role)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    sqlite3_stmt *st = conn_stmt(c, STMT_ROLE_CREATE);
    int result = STORE_ERROR;
    if (st) {
        int rc = bind_strings(st, 2, role->account_id, role->name);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 3, role->max_session_s);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        result = rc == SQLITE_DONE ? STORE_OK : result_of(c, rc, "role_create");
        stmt_done(st);
    }
    checkin(ss, c);
    return result;
}

static int sqlite_role_delete(store *s, const char *account_id, const char *name)
{
    return delete_unless_attached(s, STMT_ROLE_DELETE, "role_delete", account_id, name);
}

typedef struct role_each {
    int (*fn)(void *ctx, const role_info *r);
    void *ctx;
} role_each;

static int role_list_row(sqlite3_stmt *st, void *arg)
{
    const role_each *e = arg;
    role_info r;
    if (read_role(st, &r) != 0)
        return -1;
    return e->fn(e->ctx, &r) != 0;
}

static int sqlite_role_list(store *s, const char *account_id,
                            int (*fn)(void *ctx, const role_info *r), void *ctx)
{
    role_each e = {fn, ctx};
    return each_row(s, STMT_ROLE_LIST, "role_list", role_list_row, &e, NULL, 1, account_id);
}

static int sqlite_instance_add(store *s, const instance *inst)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = conn_begin(c);
    if (result == STORE_OK) {
        sqlite3_stmt *st = conn_stmt(c, STMT_INSTANCE_ADD);
        result = STORE_ERROR;
        if (st) {
            int rc = bind_strings(st, 6, inst->id, inst->region, inst->account_id, inst->type,
                                  inst->status, inst->console_url);
            if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
            result = rc == SQLITE_DONE ? STORE_OK : result_of(c, rc, "instance_add");
            stmt_done(st);
        }
        for (size_t i = 0; i < inst->tag_count && result == STORE_OK; i++)
            result = conn_write(c, STMT_TAG_ADD, "instance_add (tag)", 3, inst->id,
                                inst->tags[i].key, inst->tags[i].value);
        if (result == STORE_OK)
            result = conn_commit(c);
        if (result != STORE_OK)
            conn_rollback(c);
    }
    checkin(ss, c);
    return result;
}

static int sqlite_instance_set_status(store *s, const char *instance_id, const char *status)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = changed_or_not_found(
        c, conn_write(c, STMT_INSTANCE_SET_STATUS, "instance_set_status", 2, instance_id, status));
    checkin(ss, c);
    return result;
}

static int sqlite_instance_remove(store *s, const char *instance_id)
{
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    /* Tags go with it (ON DELETE CASCADE); changes() counts only instances. */
    int result = changed_or_not_found(
        c, conn_write(c, STMT_INSTANCE_REMOVE, "instance_remove", 1, instance_id));
    checkin(ss, c);
    return result;
}

/* Writes one imported instance inside the open transaction: its row (new
 * or updated), then its tags in place of any it had. */
static int import_one(conn *c, const instance *inst)
{
    int result = conn_write(c, STMT_INSTANCE_UPSERT, "instance_import", 6, inst->id, inst->region,
                            inst->account_id, inst->type, inst->status, inst->console_url);
    if (result == STORE_OK)
        result = conn_write(c, STMT_TAGS_CLEAR, "instance_import (old tags)", 1, inst->id);
    for (size_t t = 0; t < inst->tag_count && result == STORE_OK; t++)
        result = conn_write(c, STMT_TAG_ADD, "instance_import (tag)", 3, inst->id,
                            inst->tags[t].key, inst->tags[t].value);
    return result;
}

/* All in one write transaction: one commit (one sync) for the batch. */
static int sqlite_instance_import(store *s, const instance *items, size_t count)
{
    if (count == 0)
        return STORE_OK;
    sqlite_store *ss = (sqlite_store *)s;
    conn *c = checkout(ss);
    if (!c)
        return STORE_ERROR;
    int result = conn_begin(c);
    if (result == STORE_OK) {
        for (size_t i = 0; i < count && result == STORE_OK; i++)
            result = import_one(c, &items[i]);
        if (result == STORE_OK)
            result = conn_commit(c);
        if (result != STORE_OK)
            conn_rollback(c);
    }
    checkin(ss, c);
    return result;
}

const store_driver store_sqlite_driver = {
    .scheme = SQLITE_SCHEME,
    .open = sqlite_open,
    .close = sqlite_close,
    .key_get = sqlite_key_get,
    .principal_policies = sqlite_principal_policies,
    .role_get = sqlite_role_get,
    .instance_get = sqlite_instance_get,
    .sync_cache = sqlite_sync_cache,
    .account_create = sqlite_account_create,
    .user_create = sqlite_user_create,
    .key_create = sqlite_key_create,
    .key_reseal_all = sqlite_key_reseal_all,
    .key_set_active = sqlite_key_set_active,
    .policy_attach = sqlite_policy_attach,
    .policy_create = sqlite_policy_create,
    .policy_get = sqlite_policy_get,
    .policy_list = sqlite_policy_list,
    .policy_attachments = sqlite_policy_attachments,
    .policy_attach_to = sqlite_policy_attach_to,
    .policy_detach = sqlite_policy_detach,
    .policy_delete = sqlite_policy_delete,
    .role_create = sqlite_role_create,
    .role_delete = sqlite_role_delete,
    .role_list = sqlite_role_list,
    .instance_add = sqlite_instance_add,
    .instance_set_status = sqlite_instance_set_status,
    .instance_remove = sqlite_instance_remove,
    .instance_list = sqlite_instance_list,
    .instance_import = sqlite_instance_import,
};
