/* postgresql.c: the "postgresql://" store backend, for many ecshotd sharing one inventory.
 *
 *   postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DBNAME][?PARAM=VALUE&...]
 *   postgres://...                                       (the same)
 *
 * The URL is libpq's connection URI. ecshot takes two query parameters for
 * itself and hands every other one to libpq unchanged (host, port, user,
 * password, sslmode, sslrootcert, target_session_attrs, options, ...):
 *
 *   pool_size=N     connections kept open at most (1..1024, default 16,
 *                   ecshotd's least number of worker threads, which make
 *                   the store calls). A call takes an idle one, or opens
 *                   one while there are fewer, or waits for one.
 *   timeout_ms=N    the most a call waits for PostgreSQL (100..600000,
 *                   default 5000): for a free connection, to connect, and
 *                   for its statements. The server is told the same
 *                   (statement_timeout), so it gives up too. A bulk import
 *                   or a listing gets it for each of its statements.
 *
 * ecshot also sets client_encoding=UTF8 and, unless the URL names one,
 * application_name=ecshot; a URL's options are kept, statement_timeout
 * added to them. Neither the URL nor the password is ever logged.
 *
 * Fail closed. Every exchange with the server is non-blocking and polled
 * against the call's deadline (a blocking PQexec waits as long as the
 * kernel lets it, and connect_timeout counts whole seconds and covers only
 * connecting): a server that is down, or that accepts but never answers,
 * makes a call return STORE_ERROR after timeout_ms at most, never hang. The
 * one wait outside it is resolving a host name, which libpq does blocking:
 * name the server by address or Unix socket where that matters. A connection that broke or timed out is
 * closed, and the next call opens a fresh one, so the pool heals by itself
 * when the server is back. An idle connection is checked before it is
 * handed out (a server restart leaves it readable at EOF), and a read whose
 * connection the server closed under it is tried once more on a fresh one
 * (within the same deadline), so the first call after a restart does not
 * fail on a dead connection. Writes are not retried: whether a lost one
 * took effect is unknown.
 *
 * Each connection prepares a statement the first time it runs it. Changes
 * of several rows (an instance and its tags, an import batch, a migration)
 * run in one transaction. The schema is an ordered list of migrations, the
 * version kept in the table ecshot_schema; opening a store applies the
 * missing ones in one transaction under an advisory lock, so two ecshotd
 * starting at once do not both migrate. Text columns are COLLATE "C": byte
 * order, as SQLite's, whatever the database's locale.
 *
 * ecshotd's read cache (store/cache.h) asks pg_sync_cache once per request
 * whether anything committed since the last look: one query of the current
 * snapshot, where an uncached request makes one per lookup. */
#include "store/store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define PG_DRIVER_PREFIX "postgres" /* what store.c matches; open checks the rest */
#define PG_SCHEME_LONG "postgresql://"
#define PG_SCHEME_SHORT "postgres://"

#define DEFAULT_POOL_SIZE 16
#define POOL_SIZE_MAX 1024
#define DEFAULT_TIMEOUT_MS 5000
#define TIMEOUT_MS_MIN 100
#define TIMEOUT_MS_MAX 600000
#define LIST_FETCH_ROWS 1000
#define ERRMSG_MAX 256
#define SCHEMA_LOCK_KEY 0x6563736868LL /* pg_advisory_xact_lock key: "ecshh" */
#define SNAPSHOT_TEXT_MAX 1024 /* a snapshot with more transactions in flight: "changed" */

/* migrations[i] takes the schema from version i to version i + 1. Append
 * only: a database out there may be at any version. */
static const char *const migrations[] = {
    /* 1: accounts, RAM users, AccessKeys, policies, instances, tags. */
    "CREATE TABLE ecshot_schema ("
    "  application text NOT NULL CHECK (application = 'ecshot'),"
    "  version integer NOT NULL);"
    "INSERT INTO ecshot_schema (application, version) VALUES ('ecshot', 0);"
    "CREATE TABLE accounts ("
    "  id text COLLATE \"C\" NOT NULL PRIMARY KEY);"
    "CREATE TABLE users ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  PRIMARY KEY (account_id, name));"
    /* user_name NULL: the account's own (root) key. */
    "CREATE TABLE access_keys ("
    "  id text COLLATE \"C\" NOT NULL PRIMARY KEY,"
    "  secret text NOT NULL,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  user_name text COLLATE \"C\","
    "  active boolean NOT NULL DEFAULT true,"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE INDEX access_keys_owner ON access_keys(account_id, user_name);"
    "CREATE TABLE policies ("
    "  account_id text COLLATE \"C\" NOT NULL,"
    "  user_name text COLLATE \"C\" NOT NULL,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  document text NOT NULL,"
    "  PRIMARY KEY (account_id, user_name, name),"
    "  FOREIGN KEY (account_id, user_name) REFERENCES users(account_id, name)"
    "    ON DELETE CASCADE);"
    "CREATE TABLE instances ("
    "  id text COLLATE \"C\" NOT NULL PRIMARY KEY,"
    "  region text COLLATE \"C\" NOT NULL,"
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id),"
    "  type text COLLATE \"C\" NOT NULL,"
    "  status text NOT NULL"
    "    CHECK (status IN ('Pending', 'Starting', 'Running', 'Stopping', 'Stopped')),"
    "  console_url text NOT NULL);"
    "CREATE INDEX instances_account ON instances(account_id);"
    "CREATE TABLE instance_tags ("
    "  instance_id text COLLATE \"C\" NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    "  key text COLLATE \"C\" NOT NULL,"
    "  value text NOT NULL,"
    "  PRIMARY KEY (instance_id, key));",
    /* 2: RAM roles; policies become objects of the account, created once
     * and attached to users and roles. The version 1 rows, (account, user,
     * name, document), become the account's policy NAME with the document
     * of its first holder by user name, attached to every user who held
     * that same document. Each other document gets a policy of its own,
     * attached to its user: NAME-USER, or when that is taken or too long
     * (past STORE_ID_MAX - 1 = 127 bytes), NAME-USER cut to leave room for
     * -2, -3, ... up to the first free name; rows go in (account, name,
     * user) order, so the same rows get the same names as in SQLite. Each
     * renaming is raised as a WARNING (the server's log). Nothing is lost. */
    "CREATE TABLE roles ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  max_session_s integer NOT NULL CHECK (max_session_s BETWEEN 3600 AND 43200),"
    "  PRIMARY KEY (account_id, name));"
    "CREATE TABLE policies_v1 AS SELECT account_id, user_name, name, document FROM policies;"
    "DROP TABLE policies;"
    "CREATE TABLE policies ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  name text COLLATE \"C\" NOT NULL,"
    "  document text NOT NULL,"
    "  PRIMARY KEY (account_id, name));"
    /* A principal is (kind, name). One foreign key cannot point at users
     * or roles by kind, so each kind gets a generated column, NULL for the
     * other kind (and a NULL column is not checked): the database itself
     * refuses an attachment to a principal that does not exist, and
     * deleting a user takes its attachments with it. A policy or a role
     * still attached cannot be deleted; the driver answers STORE_CONFLICT
     * for that refusal. NO ACTION rather than RESTRICT: the same refusal,
     * checked at the end of the statement, so that deleting an account
     * (which takes the attachments too) is not refused halfway. */
    "CREATE TABLE policy_attachments ("
    "  account_id text COLLATE \"C\" NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  policy_name text COLLATE \"C\" NOT NULL,"
    "  principal_kind text NOT NULL CHECK (principal_kind IN ('user', 'role')),"
    "  principal_name text COLLATE \"C\" NOT NULL,"
    "  user_name text COLLATE \"C\" GENERATED ALWAYS AS"
    "    (CASE principal_kind WHEN 'user' THEN principal_name END) STORED,"
    "  role_name text COLLATE \"C\" GENERATED ALWAYS AS"
    "    (CASE principal_kind WHEN 'role' THEN principal_name END) STORED,"
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
    "  WHERE p.document = o.document;"
    "DO $$"
    "DECLARE"
    "  o record;"
    "  fresh text;"
    "  k integer;"
    "BEGIN"
    "  FOR o IN SELECT v.account_id, v.user_name, v.name, v.document FROM policies_v1 v"
    "           JOIN policies p ON p.account_id = v.account_id AND p.name = v.name"
    "           WHERE p.document <> v.document"
    "           ORDER BY v.account_id, v.name, v.user_name LOOP"
    "    k := 1;"
    "    LOOP"
    "      fresh := o.name || '-' || o.user_name;"
    "      IF k > 1 THEN"
    "        fresh := left(fresh, 127 - length('-' || k)) || '-' || k;"
    "      END IF;"
    "      IF octet_length(fresh) <= 127 THEN"
    "        INSERT INTO policies (account_id, name, document)"
    "          VALUES (o.account_id, fresh, o.document) ON CONFLICT DO NOTHING;"
    "        EXIT WHEN FOUND;"
    "      END IF;"
    "      k := k + 1;"
    "    END LOOP;"
    "    INSERT INTO policy_attachments (account_id, policy_name, principal_kind, principal_name)"
    "      VALUES (o.account_id, fresh, 'user', o.user_name);"
    "    RAISE WARNING 'ecshot: account %: user %''s policy % differed from the one of that name"
    " the account keeps; it is now the policy %', o.account_id, o.user_name, o.name, fresh;"
    "  END LOOP;"
    "END $$;"
    "DROP TABLE policies_v1;",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The statements a connection prepares (as "ecshot_N") on first use. */
enum stmt_id {
    STMT_KEY_GET,
    STMT_PRINCIPAL_POLICIES,
    STMT_ROLE_GET,
    STMT_INSTANCE_GET,
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
    STMT_TAGS_ADD,
    STMT_INSTANCE_SET_STATUS,
    STMT_INSTANCE_REMOVE,
    STMT_IMPORT_INSTANCES,
    STMT_IMPORT_CLEAR_TAGS,
    STMT_KEY_SECRETS,
    STMT_KEY_SET_SECRETS,
    STMT_SNAPSHOT,
    STMT_COUNT
};

/* An instance and its tags come from one statement (one snapshot): rows of
 * the instance's columns, each with one tag (or NULLs when none). */
#define INSTANCE_COLUMNS                                                                     \
    "SELECT i.id, i.region, i.account_id, i.type, i.status, i.console_url, t.key, t.value" \
    " FROM instances i LEFT JOIN instance_tags t ON t.instance_id = i.id"

/* Tags go in as three parallel arrays (instance ids, keys, values). */
#define TAGS_FROM_ARRAYS                                                  \
    "INSERT INTO instance_tags (instance_id, key, value)"                 \
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_KEY_GET] = "SELECT id, secret, account_id, user_name, active FROM access_keys"
                     " WHERE id = $1",
    [STMT_PRINCIPAL_POLICIES] = "SELECT p.name, p.document FROM policy_attachments a"
                                " JOIN policies p"
                                "   ON p.account_id = a.account_id AND p.name = a.policy_name"
                                " WHERE a.account_id = $1 AND a.principal_kind = $2"
                                "   AND a.principal_name = $3 ORDER BY p.name",
    [STMT_ROLE_GET] = "SELECT account_id, name, max_session_s FROM roles"
                      " WHERE account_id = $1 AND name = $2",
    [STMT_INSTANCE_GET] = INSTANCE_COLUMNS " WHERE i.id = $1 ORDER BY t.key",
    [STMT_ACCOUNT_CREATE] = "INSERT INTO accounts (id) VALUES ($1)",
    [STMT_USER_CREATE] = "INSERT INTO users (account_id, name) VALUES ($1, $2)",
    [STMT_KEY_CREATE] = "INSERT INTO access_keys (id, secret, account_id, user_name, active)"
                        " VALUES ($1, $2, $3, $4, true)",
    [STMT_KEY_SET_ACTIVE] = "UPDATE access_keys SET active = $2::boolean WHERE id = $1",
    /* Changes no row (so policy_attach answers STORE_CONFLICT) when the
     * document is another and someone besides user $4 has the policy. */
    [STMT_POLICY_UPSERT] = "INSERT INTO policies (account_id, name, document) VALUES ($1, $2, $3)"
                           " ON CONFLICT (account_id, name)"
                           " DO UPDATE SET document = excluded.document"
                           " WHERE policies.document = excluded.document OR NOT EXISTS ("
                           "  SELECT 1 FROM policy_attachments a WHERE a.account_id = $1"
                           "   AND a.policy_name = $2"
                           "   AND NOT (a.principal_kind = 'user' AND a.principal_name = $4))",
    [STMT_POLICY_ATTACH_USER] = "INSERT INTO policy_attachments"
                                " (account_id, policy_name, principal_kind, principal_name)"
                                " VALUES ($1, $2, 'user', $3) ON CONFLICT DO NOTHING",
    [STMT_POLICY_CREATE] = "INSERT INTO policies (account_id, name, document) VALUES ($1, $2, $3)",
    [STMT_POLICY_GET] = "SELECT name, document FROM policies WHERE account_id = $1 AND name = $2",
    [STMT_POLICY_LIST] = "SELECT p.name, count(a.policy_name) FROM policies p"
                         " LEFT JOIN policy_attachments a"
                         "   ON a.account_id = p.account_id AND a.policy_name = p.name"
                         " WHERE p.account_id = $1 GROUP BY p.name ORDER BY p.name",
    /* One row of NULLs for a policy attached to no one; none for no policy. */
    [STMT_POLICY_ATTACHMENTS] = "SELECT a.principal_kind, a.principal_name FROM policies p"
                                " LEFT JOIN policy_attachments a"
                                "   ON a.account_id = p.account_id AND a.policy_name = p.name"
                                " WHERE p.account_id = $1 AND p.name = $2"
                                " ORDER BY CASE a.principal_kind WHEN 'user' THEN 0 ELSE 1 END,"
                                "   a.principal_name",
    /* No row inserted: no such policy. */
    [STMT_POLICY_ATTACH_TO] = "INSERT INTO policy_attachments"
                              " (account_id, policy_name, principal_kind, principal_name)"
                              " SELECT account_id, name, $3::text, $4::text FROM policies"
                              " WHERE account_id = $1 AND name = $2",
    [STMT_POLICY_DETACH] = "DELETE FROM policy_attachments WHERE account_id = $1"
                           " AND policy_name = $2 AND principal_kind = $3 AND principal_name = $4",
    [STMT_POLICY_DELETE] = "DELETE FROM policies WHERE account_id = $1 AND name = $2",
    [STMT_ROLE_CREATE] = "INSERT INTO roles (account_id, name, max_session_s)"
                         " VALUES ($1, $2, $3::integer)",
    [STMT_ROLE_DELETE] = "DELETE FROM roles WHERE account_id = $1 AND name = $2",
    [STMT_ROLE_LIST] = "SELECT account_id, name, max_session_s FROM roles WHERE account_id = $1"
                       " ORDER BY name",
    [STMT_INSTANCE_ADD] = "INSERT INTO instances (id, region, account_id, type, status, console_url)"
                          " VALUES ($1, $2, $3, $4, $5, $6)",
    [STMT_TAGS_ADD] = TAGS_FROM_ARRAYS,
    [STMT_INSTANCE_SET_STATUS] = "UPDATE instances SET status = $2 WHERE id = $1",
    [STMT_INSTANCE_REMOVE] = "DELETE FROM instances WHERE id = $1",
    [STMT_IMPORT_INSTANCES] =
        "INSERT INTO instances (id, region, account_id, type, status, console_url)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        "                      $6::text[])"
        " ON CONFLICT (id) DO UPDATE SET region = excluded.region,"
        "   account_id = excluded.account_id, type = excluded.type,"
        "   status = excluded.status, console_url = excluded.console_url",
    [STMT_IMPORT_CLEAR_TAGS] = "DELETE FROM instance_tags WHERE instance_id = ANY ($1::text[])",
    [STMT_KEY_SECRETS] = "SELECT id, secret FROM access_keys ORDER BY id",
    /* New secrets as two parallel arrays (AccessKey ids, stored secrets). */
    [STMT_KEY_SET_SECRETS] = "UPDATE access_keys a SET secret = n.secret"
                             " FROM unnest($1::text[], $2::text[]) AS n(id, secret)"
                             " WHERE a.id = n.id",
    /* What pg_sync_cache compares: xmin:xmax:xip, cluster-wide. */
    [STMT_SNAPSHOT] = "SELECT txid_current_snapshot()::text",
};

_Static_assert(STMT_COUNT <= sizeof(unsigned) * CHAR_BIT, "conn.prepared: a bit per statement");

extern const store_driver store_postgresql_driver; /* defined at the end */

typedef struct conn {
    PGconn *pg;
    unsigned prepared;          /* bit i: stmt i is prepared on this connection */
    int broken;                 /* timed out or lost: close it, never reuse */
    int lost;                   /* the server closed it (not merely slow) */
    struct conn *next;          /* in the idle list */
} conn;

typedef struct pg_store {
    store base;
    /* libpq's keywords and values, NULL-terminated, for PQconnectStartParams. */
    char **keys;
    char **values;
    int pool_size;
    int timeout_ms;
    pthread_mutex_t lock;       /* guards idle and opened */
    pthread_cond_t returned;    /* signalled when a connection goes back or a slot frees */
    conn *idle;
    int opened;                 /* connections that exist, idle or checked out */
    /* pg_sync_cache's last look: the snapshot it saw ("" for none yet, or
     * one too long to keep). Compared, replaced and acted on under its own
     * lock, so that a request that finds the snapshot already seen knows
     * that the cache was dropped for it. */
    pthread_mutex_t seen_lock;
    char seen_snapshot[SNAPSHOT_TEXT_MAX];
} pg_store;

/* ---- time ---- */

static int64_t deadline_after(const pg_store *ps)
{
    return clock_monotonic_ms() + ps->timeout_ms;
}

/* Waits until fd is ready for events (or in error), at most until the
 * deadline: 1 ready, 0 deadline passed, -1 poll failed. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    if (fd < 0)
        return -1;
    for (;;) {
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- messages ---- */

/* libpq's message as one line (its messages end with, and may hold, newlines). */
static const char *one_line(const char *msg, char out[ERRMSG_MAX])
{
    snprintf(out, ERRMSG_MAX, "%s", msg && *msg ? msg : "unknown error");
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ')
        out[--n] = '\0';
    return out;
}

static void log_conn_error(const conn *c, const char *what)
{
    char line[ERRMSG_MAX];
    log_error("postgresql: %s: %s", what, one_line(PQerrorMessage(c->pg), line));
}

/* ---- connections ---- */
/* Server notices (warnings sent outside any result) as one log line each,
 * instead of libpq's default of raw text on stderr. */
static void log_notice(void *arg, const char *message)
{
    (void)arg;
    char line[ERRMSG_MAX];
    log_debug("postgresql: server says: %s", one_line(message, line));
}


static void conn_close(conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

/* Connects, polling libpq's state machine against the deadline. */
static conn *conn_open(pg_store *ps, int64_t deadline)
{
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        log_error("postgresql: out of memory");
        return NULL;
    }
    c->pg = PQconnectStartParams((const char *const *)ps->keys, (const char *const *)ps->values,
                                 0);
    if (!c->pg) {
        log_error("postgresql: out of memory");
        free(c);
        return NULL;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c->pg) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int ready = wait_fd(PQsocket(c->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                            deadline);
        if (ready <= 0) {
            log_error("postgresql: cannot connect: %s within %d ms",
                      ready == 0 ? "no answer" : "poll failed", ps->timeout_ms);
            conn_close(c);
            return NULL;
        }
        st = PQconnectPoll(c->pg);
    }
    if (st == PGRES_POLLING_FAILED) {
        log_conn_error(c, "cannot connect");
        conn_close(c);
        return NULL;
    }
    PQsetNoticeProcessor(c->pg, log_notice, NULL);
    if (PQsetnonblocking(c->pg, 1) != 0) {
        log_conn_error(c, "cannot switch to non-blocking mode");
        conn_close(c);
        return NULL;
    }
    return c;
}

/* Still usable after sitting idle? ecshot neither LISTENs nor SETs, so an
 * idle session is silent unless the server is ending it: a restart or an
 * administrator leaves a message and then EOF. Anything to read means the
 * connection is not to be trusted. */
static int conn_alive(conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return 0;
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 0;
}


/* Sends what libpq has buffered, then waits for every result of the
 * command in flight. Returns the first error result, or else the last
 * result; NULL when the connection failed or the deadline passed (then the
 * connection is marked broken: its state is unknown). */
static PGresult *conn_wait(conn *c, int64_t deadline, const char *what)
{
    int sock = PQsocket(c->pg);
    for (;;) {
        int f = PQflush(c->pg);
        if (f == 0)
            break;
        if (f < 0)
            goto lost;
        int ready = wait_fd(sock, POLLIN | POLLOUT, deadline);
        if (ready <= 0)
            goto late;
        if (!PQconsumeInput(c->pg))
            goto lost;
    }
    PGresult *kept = NULL;
    for (;;) {
        while (PQisBusy(c->pg)) {
            int ready = wait_fd(sock, POLLIN, deadline);
            if (ready <= 0) {
                PQclear(kept);
                goto late;
            }
            if (!PQconsumeInput(c->pg)) {
                PQclear(kept);
                goto lost;
            }
        }
        PGresult *r = PQgetResult(c->pg);
        if (!r)
            break;
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
            /* ecshot sends no COPY; a result like this means confusion. */
            PQclear(r);
            PQclear(kept);
            c->broken = 1;
            log_error("postgresql: %s: unexpected COPY state", what);
            return NULL;
        }
        int kept_failed = kept && PQresultStatus(kept) == PGRES_FATAL_ERROR;
        if (kept_failed) {
            PQclear(r);
        } else {
            PQclear(kept);
            kept = r;
        }
    }
    if (!kept) {
        c->broken = 1;
        log_error("postgresql: %s: no result", what);
    }
    return kept;
late:
    c->broken = 1;
    log_error("postgresql: %s: no answer within the deadline", what);
    return NULL;
lost:
    c->broken = c->lost = 1;
    log_conn_error(c, what);
    return NULL;
}

/* A failed result as a store result: constraint violations are the
 * caller's doing and are not logged; anything else is, with PostgreSQL's
 * primary message only (its DETAIL may quote the values sent). */
static int result_of(const PGresult *r, const char *what)
{
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        return STORE_OK;
    default:
        break;
    }
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state) {
        if (strcmp(state, "23505") == 0) /* unique_violation */
            return STORE_EXISTS;
        if (strcmp(state, "23503") == 0 || /* foreign_key_violation */
            strcmp(state, "23514") == 0 || /* check_violation */
            strcmp(state, "23502") == 0)   /* not_null_violation */
            return STORE_INVALID;
    }
    char line[ERRMSG_MAX];
    log_error("postgresql: %s: %s (SQLSTATE %s)", what,
              one_line(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), line),
              state ? state : "?");
    return STORE_ERROR;
}

/* Runs SQL text without parameters (several statements allowed) and
 * returns its store result. */
static int conn_exec(conn *c, int64_t deadline, const char *sql, const char *what)
{
    if (!PQsendQuery(c->pg, sql)) {
        c->broken = c->lost = 1;
        log_conn_error(c, what);
        return STORE_ERROR;
    }
    PGresult *r = conn_wait(c, deadline, what);
    if (!r)
        return STORE_ERROR;
    int result = result_of(r, what);
    PQclear(r);
    return result;
}

static int conn_prepare(conn *c, enum stmt_id id, int64_t deadline)
{
    if (c->prepared & (1u << id))
        return STORE_OK;
    char name[32];
    snprintf(name, sizeof name, "ecshot_%d", (int)id);
    if (!PQsendPrepare(c->pg, name, stmt_sql[id], 0, NULL)) {
        c->broken = c->lost = 1;
        log_conn_error(c, "prepare");
        return STORE_ERROR;
    }
    PGresult *r = conn_wait(c, deadline, "prepare");
    if (!r)
        return STORE_ERROR;
    int result = result_of(r, "prepare");
    PQclear(r);
    if (result == STORE_OK)
        c->prepared |= 1u << id;
    else
        result = STORE_ERROR; /* a statement that does not prepare is our bug or a bad schema */
    return result;
}

/* Runs prepared statement id with n text parameters (NULL for SQL NULL);
 * *out gets the result on STORE_OK (the caller PQclears it), else NULL. */
static int conn_run(conn *c, int64_t deadline, enum stmt_id id, int n,
                    const char *const *params, const char *what, PGresult **out)
{
    *out = NULL;
    int result = conn_prepare(c, id, deadline);
    if (result != STORE_OK)
        return result;
    char name[32];
    snprintf(name, sizeof name, "ecshot_%d", (int)id);
    if (!PQsendQueryPrepared(c->pg, name, n, params, NULL, NULL, 0)) {
        c->broken = c->lost = 1;
        log_conn_error(c, what);
        return STORE_ERROR;
    }
    PGresult *r = conn_wait(c, deadline, what);
    if (!r)
        return STORE_ERROR;
    result = result_of(r, what);
    if (result == STORE_OK)
        *out = r;
    else
        PQclear(r);
    return result;
}

/* conn_run for a statement that returns no rows; *changed (if asked) gets
 * the number of rows it changed. */
static int conn_write(conn *c, int64_t deadline, enum stmt_id id, int n,
                      const char *const *params, const char *what, long *changed)
{
    PGresult *r;
    int result = conn_run(c, deadline, id, n, params, what, &r);
    if (result == STORE_OK) {
        if (changed)
            *changed = strtol(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    return result;
}

/* Ends a transaction that did not commit. On a broken connection there is
 * nothing to roll back: closing it does. */
static void conn_rollback(conn *c, int64_t deadline)
{
    if (c->broken || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    conn_exec(c, deadline, "ROLLBACK", "rollback");
}

/* ---- the pool ---- */

/* A connection for one call, by its deadline: an idle one that is still
 * alive, or a new one when the pool has room; else it waits for one to come
 * back. NULL (logged) when none could be had in time. */
static conn *checkout(pg_store *ps, int64_t deadline)
{
    pthread_mutex_lock(&ps->lock);
    for (;;) {
        while (ps->idle) {
            conn *c = ps->idle;
            ps->idle = c->next;
            if (conn_alive(c)) {
                pthread_mutex_unlock(&ps->lock);
                return c;
            }
            /* Dead: close it and use its slot for a new one. */
            ps->opened--;
            conn_close(c);
        }
        if (ps->opened < ps->pool_size)
            break;
        if (deadline - clock_monotonic_ms() <= 0) {
            pthread_mutex_unlock(&ps->lock);
            log_error("postgresql: no connection free within %d ms (pool_size=%d)",
                      ps->timeout_ms, ps->pool_size);
            return NULL;
        }
        cond_wait_until(&ps->returned, &ps->lock, deadline);
    }
    ps->opened++; /* reserve the slot; connect outside the lock */
    pthread_mutex_unlock(&ps->lock);
    conn *c = conn_open(ps, deadline);
    if (!c) {
        pthread_mutex_lock(&ps->lock);
        ps->opened--;
        pthread_cond_signal(&ps->returned);
        pthread_mutex_unlock(&ps->lock);
    }
    return c;
}

/* Gives a connection back; one that broke, or that a failure left inside a
 * transaction, is closed instead (the next caller opens a fresh one). */
static void checkin(pg_store *ps, conn *c)
{
    int keep = !c->broken && PQstatus(c->pg) == CONNECTION_OK &&
               PQtransactionStatus(c->pg) == PQTRANS_IDLE;
    pthread_mutex_lock(&ps->lock);
    if (keep) {
        c->next = ps->idle;
        ps->idle = c;
    } else {
        ps->opened--;
    }
    pthread_cond_signal(&ps->returned);
    pthread_mutex_unlock(&ps->lock);
    if (!keep)
        conn_close(c);
}

/* ---- opening: URL, schema ---- */

/* A decimal in [min, max] and nothing else, into an int. */
static int parse_int_param(const char *s, size_t len, long min, long max, int *out)
{
    long v;
    if (parse_decimal(s, len, min, max, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* Takes ecshot's own parameters out of the URI's query and writes the rest
 * to *rest (libpq's URI, to parse with PQconninfoParse). */
static int split_url(pg_store *ps, const char *url, buf *rest)
{
    const char *q = strchr(url, '?');
    if (!q)
        return buf_puts(rest, url);
    buf_append(rest, url, (size_t)(q - url));
    const char *p = q + 1;
    int first = 1;
    while (*p) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        const char *v = eq ? eq + 1 : p + len;
        size_t vlen = (size_t)(p + len - v);
        if (klen == 9 && strncmp(p, "pool_size", 9) == 0) {
            if (parse_int_param(v, vlen, 1, POOL_SIZE_MAX, &ps->pool_size) != 0) {
                log_error("postgresql: pool_size wants a number from 1 to %d", POOL_SIZE_MAX);
                return -1;
            }
        } else if (klen == 10 && strncmp(p, "timeout_ms", 10) == 0) {
            if (parse_int_param(v, vlen, TIMEOUT_MS_MIN, TIMEOUT_MS_MAX, &ps->timeout_ms) != 0) {
                log_error("postgresql: timeout_ms wants a number from %d to %d", TIMEOUT_MS_MIN,
                          TIMEOUT_MS_MAX);
                return -1;
            }
        } else if (len > 0) {
            buf_putc(rest, first ? '?' : '&');
            buf_append(rest, p, len);
            first = 0;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return rest->failed ? -1 : 0;
}

static void free_params(char **keys, char **values)
{
    for (size_t i = 0; keys && keys[i]; i++) {
        free(keys[i]);
        free(values[i]);
    }
    free(keys);
    free(values);
}

/* Appends keyword = value to the NULL-terminated arrays (room was made). */
static int add_param(char **keys, char **values, size_t *n, const char *k, const char *v)
{
    keys[*n] = strdup(k);
    values[*n] = strdup(v);
    if (!keys[*n] || !values[*n]) {
        free(keys[*n]);
        free(values[*n]);
        keys[*n] = values[*n] = NULL;
        return -1;
    }
    (*n)++;
    keys[*n] = values[*n] = NULL;
    return 0;
}

/* Builds libpq's parameters from the URL: the caller's, plus ecshot's
 * client_encoding, application_name (unless given) and statement_timeout
 * (added to any options given). */
static int build_params(pg_store *ps, const char *url)
{
    buf rest = BUF_INIT;
    if (split_url(ps, url, &rest) != 0) {
        buf_free(&rest);
        return -1;
    }
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(buf_cstr(&rest), &err);
    buf_free(&rest);
    if (!opts) {
        char line[ERRMSG_MAX];
        /* libpq names the bad part (a parameter or the syntax), not the password. */
        log_error("postgresql: the store URL is not a valid connection URI: %s",
                  one_line(err ? err : "out of memory", line));
        PQfreemem(err);
        return -1;
    }
    size_t count = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        count++;
    ps->keys = calloc(count + 4, sizeof *ps->keys);
    ps->values = calloc(count + 4, sizeof *ps->values);
    int rc = ps->keys && ps->values ? 0 : -1;
    int oom = rc != 0;
    size_t n = 0;
    const char *user_options = NULL;
    int has_app_name = 0;
    for (PQconninfoOption *o = opts; rc == 0 && o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "client_encoding") == 0)
            continue;
        if (strcmp(o->keyword, "options") == 0) {
            user_options = o->val;
            continue;
        }
        if (strcmp(o->keyword, "application_name") == 0)
            has_app_name = 1;
        rc = oom = add_param(ps->keys, ps->values, &n, o->keyword, o->val);
    }
    char options[512];
    snprintf(options, sizeof options, "%s%s-c statement_timeout=%d",
             user_options ? user_options : "", user_options ? " " : "", ps->timeout_ms);
    if (rc == 0 && user_options && strlen(user_options) + 40 >= sizeof options) {
        log_error("postgresql: the URL's options parameter is too long");
        rc = -1;
    }
    if (rc == 0)
        rc = oom = add_param(ps->keys, ps->values, &n, "options", options);
    if (rc == 0)
        rc = oom = add_param(ps->keys, ps->values, &n, "client_encoding", "UTF8");
    if (rc == 0 && !has_app_name)
        rc = oom = add_param(ps->keys, ps->values, &n, "application_name", "ecshot");
    PQconninfoFree(opts);
    if (oom)
        log_error("postgresql: out of memory");
    return rc;
}

/* The one value of a one-row query, copied into out; STORE_NOT_FOUND when
 * there is no row. */
static int conn_query_value(conn *c, int64_t deadline, const char *sql, char *out, size_t cap)
{
    if (!PQsendQuery(c->pg, sql)) {
        c->broken = c->lost = 1;
        log_conn_error(c, sql);
        return STORE_ERROR;
    }
    PGresult *r = conn_wait(c, deadline, sql);
    if (!r)
        return STORE_ERROR;
    int result = result_of(r, sql);
    if (result == STORE_OK) {
        if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
            result = STORE_NOT_FOUND;
        else
            snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return result;
}

/* Applies the migrations the database lacks, in one transaction that holds
 * an advisory lock: another ecshot migrating at the same moment waits, then
 * finds nothing left to do. */
static int migrate(pg_store *ps, conn *c)
{
    int64_t deadline = deadline_after(ps);
    char value[64], sql[128];
    if (conn_exec(c, deadline, "BEGIN", "begin") != STORE_OK)
        return -1;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", SCHEMA_LOCK_KEY);
    if (conn_exec(c, deadline, sql, "schema lock") != STORE_OK)
        goto fail;
    int rc = conn_query_value(c, deadline, "SELECT to_regclass('ecshot_schema')::text", value,
                              sizeof value);
    long version = 0;
    if (rc == STORE_OK) {
        rc = conn_query_value(c, deadline,
                              "SELECT version FROM ecshot_schema WHERE application = 'ecshot'",
                              value, sizeof value);
        if (rc != STORE_OK) {
            if (rc == STORE_NOT_FOUND)
                log_error("postgresql: the table ecshot_schema holds no ecshot schema version");
            goto fail;
        }
        version = strtol(value, NULL, 10);
    } else if (rc != STORE_NOT_FOUND) {
        goto fail;
    }
    if (version > SCHEMA_VERSION) {
        log_error("postgresql: the database has schema version %ld; this ecshot knows up to %d",
                  version, SCHEMA_VERSION);
        goto fail;
    }
    for (long v = version; v < SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migration to schema version %ld", v + 1);
        if (conn_exec(c, deadline, migrations[v], what) != STORE_OK)
            goto fail;
    }
    if (version < SCHEMA_VERSION) {
        snprintf(sql, sizeof sql, "UPDATE ecshot_schema SET version = %d", SCHEMA_VERSION);
        if (conn_exec(c, deadline, sql, "schema version") != STORE_OK)
            goto fail;
    }
    if (conn_exec(c, deadline, "COMMIT", "commit") != STORE_OK)
        goto fail;
    if (version > 0 && version < SCHEMA_VERSION)
        log_info("postgresql: migrated from schema version %ld to %d", version, SCHEMA_VERSION);
    return 0;
fail:
    conn_rollback(c, deadline);
    return -1;
}

static void pg_close(store *s);

static int pg_open(const char *url, store **out)
{
    *out = NULL;
    if (strncmp(url, PG_SCHEME_LONG, strlen(PG_SCHEME_LONG)) != 0 &&
        strncmp(url, PG_SCHEME_SHORT, strlen(PG_SCHEME_SHORT)) != 0) {
        log_error("postgresql: a store URL starts postgresql:// or postgres://");
        return STORE_INVALID;
    }
    if (!PQisthreadsafe()) {
        log_error("postgresql: this libpq was built without thread support");
        return STORE_ERROR;
    }
    pg_store *ps = calloc(1, sizeof *ps);
    if (!ps) {
        log_error("postgresql: out of memory");
        return STORE_ERROR;
    }
    ps->base.driver = &store_postgresql_driver;
    ps->pool_size = DEFAULT_POOL_SIZE;
    ps->timeout_ms = DEFAULT_TIMEOUT_MS;
    pthread_mutex_init(&ps->lock, NULL);
    pthread_mutex_init(&ps->seen_lock, NULL);
    cond_init_monotonic(&ps->returned);
    if (build_params(ps, url) != 0) {
        pg_close(&ps->base);
        return STORE_INVALID;
    }
    conn *c = checkout(ps, deadline_after(ps));
    if (!c) {
        pg_close(&ps->base);
        return STORE_ERROR;
    }
    int ok = migrate(ps, c) == 0;
    checkin(ps, c);
    if (!ok) {
        pg_close(&ps->base);
        return STORE_ERROR;
    }
    *out = &ps->base;
    return STORE_OK;
}

/* Every connection must have been returned: a store is closed when its
 * users are done with it. */
static void pg_close(store *s)
{
    pg_store *ps = (pg_store *)s;
    while (ps->idle) {
        conn *next = ps->idle->next;
        conn_close(ps->idle);
        ps->idle = next;
    }
    free_params(ps->keys, ps->values);
    pthread_cond_destroy(&ps->returned);
    pthread_mutex_destroy(&ps->lock);
    pthread_mutex_destroy(&ps->seen_lock);
    free(ps);
}

/* ---- reading rows ---- */

/* Copies a text value into a field of cap bytes; NULL reads as "". A value
 * too long for the field (written by something other than ecshot) is an
 * error, never cut. */
static int copy_value(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    if (PQgetisnull(r, row, col)) {
        dst[0] = '\0';
        return 0;
    }
    size_t n = (size_t)PQgetlength(r, row, col);
    if (n >= cap)
        return -1;
    memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
    return 0;
}

static int read_instance(const PGresult *r, int row, instance *inst)
{
    inst->tag_count = 0;
    return copy_value(r, row, 0, inst->id, sizeof inst->id) ||
                   copy_value(r, row, 1, inst->region, sizeof inst->region) ||
                   copy_value(r, row, 2, inst->account_id, sizeof inst->account_id) ||
                   copy_value(r, row, 3, inst->type, sizeof inst->type) ||
                   copy_value(r, row, 4, inst->status, sizeof inst->status) ||
                   copy_value(r, row, 5, inst->console_url, sizeof inst->console_url)
               ? -1
               : 0;
}

/* Adds the row's tag, if it has one. */
static int read_tag(const PGresult *r, int row, instance *inst)
{
    if (PQgetisnull(r, row, 6))
        return 0;
    if (inst->tag_count == STORE_TAGS_MAX)
        return -1;
    instance_tag *t = &inst->tags[inst->tag_count];
    if (copy_value(r, row, 6, t->key, sizeof t->key) ||
        copy_value(r, row, 7, t->value, sizeof t->value))
        return -1;
    inst->tag_count++;
    return 0;
}

/* ---- arrays: many rows in one parameter ---- */

/* Appends s to a text[] literal being built: "{" ... "}" with every element
 * quoted and its '"' and '\' escaped, so that no value is read as NULL or
 * split. */
static void array_add(buf *a, const char *s)
{
    buf_putc(a, a->len == 0 ? '{' : ',');
    buf_putc(a, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_putc(a, '\\');
        buf_putc(a, *p);
    }
    buf_putc(a, '"');
}

static const char *array_end(buf *a)
{
    if (a->len == 0)
        buf_putc(a, '{');
    buf_putc(a, '}');
    return buf_cstr(a);
}

/* The tags of count instances as three arrays, for STMT_TAGS_ADD. */
static int tags_arrays(const instance *items, size_t count, buf arr[3], size_t *tag_total)
{
    *tag_total = 0;
    for (size_t i = 0; i < count; i++) {
        for (size_t t = 0; t < items[i].tag_count; t++) {
            array_add(&arr[0], items[i].id);
            array_add(&arr[1], items[i].tags[t].key);
            array_add(&arr[2], items[i].tags[t].value);
            (*tag_total)++;
        }
    }
    for (int k = 0; k < 3; k++)
        array_end(&arr[k]);
    return arr[0].failed || arr[1].failed || arr[2].failed ? -1 : 0;
}

/* Inserts the tags of count instances in one statement. */
static int conn_add_tags(conn *c, int64_t deadline, const instance *items, size_t count,
                         const char *what)
{
    buf arr[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    size_t total;
    int result = STORE_OK;
    if (tags_arrays(items, count, arr, &total) != 0) {
        log_error("postgresql: %s: out of memory", what);
        result = STORE_ERROR;
    } else if (total > 0) {
        const char *params[3] = {buf_cstr(&arr[0]), buf_cstr(&arr[1]), buf_cstr(&arr[2])};
        result = conn_write(c, deadline, STMT_TAGS_ADD, 3, params, what, NULL);
    }
    for (int k = 0; k < 3; k++)
        buf_free(&arr[k]);
    return result;
}

/* ---- the driver's functions ---- */

/* Runs a read on a pooled connection: *out as in conn_run. A read that
 * finds its connection closed by the server (a restart between the check
 * in checkout and the query) is run once more on a fresh one, within the
 * same deadline: reads change nothing, so trying again is safe. */
static int pooled_read(pg_store *ps, enum stmt_id id, int n, const char *const *params,
                       const char *what, PGresult **out)
{
    int64_t deadline = deadline_after(ps);
    int result = STORE_ERROR;
    for (int attempt = 0; attempt < 2; attempt++) {
        conn *c = checkout(ps, deadline);
        if (!c)
            return STORE_ERROR;
        result = conn_run(c, deadline, id, n, params, what, out);
        int again = result == STORE_ERROR && c->lost;
        checkin(ps, c);
        if (!again)
            break;
    }
    return result;
}

static int pg_key_get(store *s, const char *access_key_id, access_key *out,
                      char stored_secret[STORE_SEALED_MAX])
{
    PGresult *r;
    const char *params[1] = {access_key_id};
    int result = pooled_read((pg_store *)s, STMT_KEY_GET, 1, params, "key_get", &r);
    if (result != STORE_OK)
        return result;
    if (PQntuples(r) == 0) {
        result = STORE_NOT_FOUND;
    } else if (copy_value(r, 0, 0, out->id, sizeof out->id) ||
               copy_value(r, 0, 1, stored_secret, STORE_SEALED_MAX) ||
               copy_value(r, 0, 2, out->account_id, sizeof out->account_id) ||
               copy_value(r, 0, 3, out->user, sizeof out->user)) {
        log_error("postgresql: access key %s: a stored field does not fit", access_key_id);
        result = STORE_ERROR;
    } else {
        out->active = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
    }
    PQclear(r);
    return result;
}

/* How a principal's kind is stored. */
static const char *kind_text(principal_kind kind)
{
    return kind == PRINCIPAL_ROLE ? "role" : "user";
}

/* Fills d from row i (name, document), the document on the heap. */
static int read_policy(const PGresult *r, int i, policy_doc *d)
{
    size_t len = (size_t)PQgetlength(r, i, 1);
    if (copy_value(r, i, 0, d->name, sizeof d->name) || !(d->document = malloc(len + 1)))
        return -1;
    memcpy(d->document, PQgetvalue(r, i, 1), len + 1);
    return 0;
}

static int pg_principal_policies(store *s, const char *account_id, principal_kind kind,
                                 const char *name, policy_doc **out, size_t *count)
{
    PGresult *r;
    const char *params[3] = {account_id, kind_text(kind), name};
    int result =
        pooled_read((pg_store *)s, STMT_PRINCIPAL_POLICIES, 3, params, "principal_policies", &r);
    if (result != STORE_OK)
        return result;
    int rows = PQntuples(r);
    policy_doc *docs = rows ? calloc((size_t)rows, sizeof *docs) : NULL;
    size_t n = 0;
    if (rows && !docs)
        result = STORE_ERROR;
    for (int i = 0; i < rows && result == STORE_OK; i++) {
        if (read_policy(r, i, &docs[i]) != 0) {
            result = STORE_ERROR;
            break;
        }
        n++;
    }
    PQclear(r);
    if (result != STORE_OK) {
        log_error("postgresql: policies of %s %s/%s: out of memory or a name that does not fit",
                  kind_text(kind), account_id, name);
        store_policies_free(docs, n);
        return result;
    }
    *out = docs;
    *count = n;
    return STORE_OK;
}

/* Runs read id and hands each row to row(r, i, arg), which returns 0 to go
 * on, 1 to stop (the caller's fn asked to) or -1 when a stored value does
 * not fit or memory ran out. *rows (if asked) gets the number of rows. The
 * rows are all read first and the connection is back in the pool when row
 * runs: a caller's fn may use the store. */
static int each_row(store *s, enum stmt_id id, int n, const char *const *params,
                    const char *what, int (*row)(const PGresult *r, int i, void *arg), void *arg,
                    int *rows)
{
    PGresult *r;
    int result = pooled_read((pg_store *)s, id, n, params, what, &r);
    if (result != STORE_OK)
        return result;
    int count = PQntuples(r);
    for (int i = 0; i < count; i++) {
        int stop = row(r, i, arg);
        if (stop < 0) {
            log_error("postgresql: %s: out of memory or a stored value that does not fit", what);
            result = STORE_ERROR;
        }
        if (stop)
            break;
    }
    PQclear(r);
    if (rows)
        *rows = count;
    return result;
}

/* Fills role from row i (account_id, name, max_session_s). */
static int read_role(const PGresult *r, int i, role_info *role)
{
    if (copy_value(r, i, 0, role->account_id, sizeof role->account_id) ||
        copy_value(r, i, 1, role->name, sizeof role->name))
        return -1;
    role->max_session_s = strtol(PQgetvalue(r, i, 2), NULL, 10);
    return 0;
}

static int role_row(const PGresult *r, int i, void *arg)
{
    return read_role(r, i, arg) != 0 ? -1 : 0;
}

static int pg_role_get(store *s, const char *account_id, const char *name, role_info *out)
{
    const char *params[2] = {account_id, name};
    int rows;
    int result = each_row(s, STMT_ROLE_GET, 2, params, "role_get", role_row, out, &rows);
    return result == STORE_OK && rows == 0 ? STORE_NOT_FOUND : result;
}

static int pg_instance_get(store *s, const char *instance_id, instance *out)
{
    PGresult *r;
    const char *params[1] = {instance_id};
    int result = pooled_read((pg_store *)s, STMT_INSTANCE_GET, 1, params, "instance_get", &r);
    if (result != STORE_OK)
        return result;
    int rows = PQntuples(r);
    if (rows == 0)
        result = STORE_NOT_FOUND;
    for (int i = 0; i < rows; i++) {
        if ((i == 0 && read_instance(r, 0, out) != 0) || read_tag(r, i, out) != 0) {
            log_error("postgresql: instance %s: a stored field or its tags do not fit",
                      instance_id);
            result = STORE_ERROR;
            break;
        }
    }
    PQclear(r);
    return result;
}

/* Whether anything may have committed since the last look, anywhere in
 * the cluster, from the current snapshot: xmin:xmax and the ids of the
 * transactions in flight. A transaction that commits was either in flight
 * at the last look (so it leaves the list) or got its id after it (so xmax
 * moves past it): any commit changes the text, and an unchanged text means
 * that none happened. One round trip instead of one per lookup, with no
 * trigger, table or lock on the writers' side. Exact, and a cluster busy
 * with other databases' writes only makes it drop the cache more often. */
static int pg_sync_cache(store *s)
{
    pg_store *ps = (pg_store *)s;
    PGresult *r;
    int result = pooled_read(ps, STMT_SNAPSHOT, 0, NULL, "snapshot", &r);
    if (result != STORE_OK)
        return result;
    const char *now = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    int keep = now[0] && strlen(now) < sizeof ps->seen_snapshot;
    pthread_mutex_lock(&ps->seen_lock);
    if (!keep || strcmp(now, ps->seen_snapshot) != 0) {
        store_cache_drop(s);
        snprintf(ps->seen_snapshot, sizeof ps->seen_snapshot, "%s", keep ? now : "");
    }
    pthread_mutex_unlock(&ps->seen_lock);
    PQclear(r);
    return STORE_OK;
}

/* Lists through a cursor in a read-only snapshot, LIST_FETCH_ROWS rows at
 * a time, each fetch with its own deadline: a million instances stream in
 * constant memory. fn runs with the cursor open; it may use the store,
 * which hands it another connection. */
static int pg_instance_list(store *s, int (*fn)(void *ctx, const instance *inst), void *ctx)
{
    pg_store *ps = (pg_store *)s;
    conn *c = checkout(ps, deadline_after(ps));
    if (!c)
        return STORE_ERROR;
    instance *inst = malloc(sizeof *inst);
    int result = inst ? STORE_OK : STORE_ERROR;
    if (!inst)
        log_error("postgresql: instance_list: out of memory");
    if (result == STORE_OK)
        result = conn_exec(c, deadline_after(ps),
                           "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
                           "DECLARE ecshot_list NO SCROLL CURSOR FOR " INSTANCE_COLUMNS
                           " ORDER BY i.id, t.key",
                           "instance_list");
    int have = 0, stop = 0;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH FORWARD %d FROM ecshot_list", LIST_FETCH_ROWS);
    while (result == STORE_OK && !stop) {
        if (!PQsendQuery(c->pg, fetch)) {
            c->broken = c->lost = 1;
            log_conn_error(c, "instance_list");
            result = STORE_ERROR;
            break;
        }
        PGresult *r = conn_wait(c, deadline_after(ps), "instance_list");
        if (!r || (result = result_of(r, "instance_list")) != STORE_OK) {
            result = STORE_ERROR;
            PQclear(r);
            break;
        }
        int rows = PQntuples(r);
        for (int i = 0; i < rows && !stop; i++) {
            const char *id = PQgetvalue(r, i, 0);
            if (have && strcmp(id, inst->id) != 0) {
                have = 0;
                if ((stop = fn(ctx, inst) != 0))
                    break;
            }
            if ((!have && read_instance(r, i, inst) != 0) || read_tag(r, i, inst) != 0) {
                log_error("postgresql: instance_list: a stored field or its tags do not fit");
                result = STORE_ERROR;
                break;
            }
            have = 1;
        }
        PQclear(r);
        if (rows == 0)
            break;
    }
    if (result == STORE_OK && !stop && have)
        fn(ctx, inst); /* the last one; nothing follows to stop */
    /* Read only: ending it either way is the same. */
    conn_rollback(c, deadline_after(ps));
    free(inst);
    checkin(ps, c);
    return result;
}

/* Runs one write statement on a pooled connection; *changed as in conn_write. */
static int pooled_write(store *s, enum stmt_id id, int n, const char *const *params,
                        const char *what, long *changed)
{
    pg_store *ps = (pg_store *)s;
    int64_t deadline = deadline_after(ps);
    conn *c = checkout(ps, deadline);
    if (!c)
        return STORE_ERROR;
    int result = conn_write(c, deadline, id, n, params, what, changed);
    checkin(ps, c);
    return result;
}

static int pg_account_create(store *s, const char *account_id)
{
    const char *params[1] = {account_id};
    return pooled_write(s, STMT_ACCOUNT_CREATE, 1, params, "account_create", NULL);
}

static int pg_user_create(store *s, const char *account_id, const char *user)
{
    const char *params[2] = {account_id, user};
    return pooled_write(s, STMT_USER_CREATE, 2, params, "user_create", NULL);
}

static int pg_key_create(store *s, const char *account_id, const char *user, const char *id,
                         const char *sealed_secret)
{
    const char *params[4] = {id, sealed_secret, account_id, user};
    return pooled_write(s, STMT_KEY_CREATE, 4, params, "key_create", NULL);
}

/* Inside the open transaction: offers each row of r (id, stored secret)
 * to reseal and writes back the replaced ones in one statement. */
static int reseal_rows(conn *c, pg_store *ps, const PGresult *r, store_reseal_fn reseal,
                       void *ctx, size_t *count)
{
    buf ids = BUF_INIT, secrets = BUF_INIT, out = BUF_INIT;
    size_t changed = 0;
    int result = STORE_OK;
    for (int i = 0; i < PQntuples(r) && result == STORE_OK; i++) {
        buf_reset(&out);
        int rc = reseal(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), &out);
        if (rc < 0) {
            result = STORE_ERROR;
        } else if (rc > 0) {
            array_add(&ids, PQgetvalue(r, i, 0));
            array_add(&secrets, buf_cstr(&out));
            changed++;
        }
    }
    if (result == STORE_OK && changed > 0) {
        const char *params[2] = {array_end(&ids), array_end(&secrets)};
        if (ids.failed || secrets.failed) {
            log_error("postgresql: key_reseal_all: out of memory");
            result = STORE_ERROR;
        } else {
            result = conn_write(c, deadline_after(ps), STMT_KEY_SET_SECRETS, 2, params,
                                "key_reseal_all", NULL);
        }
    }
    buf_free(&ids);
    buf_free(&secrets);
    buf_free(&out);
    if (result == STORE_OK)
        *count = changed;
    return result;
}

/* One transaction. EXCLUSIVE mode keeps other writers of access_keys out
 * (a key created meanwhile would otherwise escape the change) while
 * readers, the servers checking signatures, go on reading the committed
 * rows. Each statement has the whole timeout, as an import's have. */
static int pg_key_reseal_all(store *s, store_reseal_fn reseal, void *ctx, size_t *count)
{
    pg_store *ps = (pg_store *)s;
    conn *c = checkout(ps, deadline_after(ps));
    if (!c)
        return STORE_ERROR;
    PGresult *r = NULL;
    int result = conn_exec(c, deadline_after(ps),
                           "BEGIN; LOCK TABLE access_keys IN EXCLUSIVE MODE", "key_reseal_all");
    if (result == STORE_OK)
        result = conn_run(c, deadline_after(ps), STMT_KEY_SECRETS, 0, NULL, "key_reseal_all", &r);
    if (result == STORE_OK)
        result = reseal_rows(c, ps, r, reseal, ctx, count);
    if (result == STORE_OK)
        result = conn_exec(c, deadline_after(ps), "COMMIT", "commit");
    if (result != STORE_OK)
        conn_rollback(c, deadline_after(ps));
    PQclear(r);
    checkin(ps, c);
    return result;
}

static int changed_or_not_found(int result, long changed)
{
    return result == STORE_OK && changed == 0 ? STORE_NOT_FOUND : result;
}

static int pg_key_set_active(store *s, const char *access_key_id, int active)
{
    const char *params[2] = {access_key_id, active ? "true" : "false"};
    long changed = 0;
    int result = pooled_write(s, STMT_KEY_SET_ACTIVE, 2, params, "key_set_active", &changed);
    return changed_or_not_found(result, changed);
}

/* The policy, created or given the new document, and attached to the
 * user: both or neither. */
static int pg_policy_attach(store *s, const char *account_id, const char *user, const char *name,
                            const char *document)
{
    pg_store *ps = (pg_store *)s;
    int64_t deadline = deadline_after(ps);
    conn *c = checkout(ps, deadline);
    if (!c)
        return STORE_ERROR;
    int result = conn_exec(c, deadline, "BEGIN", "begin");
    if (result == STORE_OK) {
        const char *policy[4] = {account_id, name, document, user};
        const char *attachment[3] = {account_id, name, user};
        long changed = 0;
        result = conn_write(c, deadline, STMT_POLICY_UPSERT, 4, policy, "policy_attach", &changed);
        if (result == STORE_OK && changed == 0)
            result = STORE_CONFLICT; /* it would change what others may do */
        if (result == STORE_OK)
            result = conn_write(c, deadline, STMT_POLICY_ATTACH_USER, 3, attachment,
                                "policy_attach", NULL);
        if (result == STORE_OK)
            result = conn_exec(c, deadline, "COMMIT", "commit");
        if (result != STORE_OK)
            conn_rollback(c, deadline);
    }
    checkin(ps, c);
    return result;
}

static int pg_policy_create(store *s, const char *account_id, const char *name,
                            const char *document)
{
    const char *params[3] = {account_id, name, document};
    return pooled_write(s, STMT_POLICY_CREATE, 3, params, "policy_create", NULL);
}

static int policy_doc_row(const PGresult *r, int i, void *arg)
{
    return read_policy(r, i, arg) != 0 ? -1 : 0;
}

static int pg_policy_get(store *s, const char *account_id, const char *name, policy_doc *out)
{
    const char *params[2] = {account_id, name};
    int rows;
    out->document = NULL;
    int result = each_row(s, STMT_POLICY_GET, 2, params, "policy_get", policy_doc_row, out, &rows);
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

static int policy_list_row(const PGresult *r, int i, void *arg)
{
    const policy_each *e = arg;
    char name[STORE_ID_MAX];
    if (copy_value(r, i, 0, name, sizeof name) != 0)
        return -1;
    return e->fn(e->ctx, name, (size_t)strtoull(PQgetvalue(r, i, 1), NULL, 10)) != 0;
}

static int pg_policy_list(store *s, const char *account_id,
                          int (*fn)(void *ctx, const char *name, size_t attachments), void *ctx)
{
    const char *params[1] = {account_id};
    policy_each e = {fn, ctx};
    return each_row(s, STMT_POLICY_LIST, 1, params, "policy_list", policy_list_row, &e, NULL);
}

typedef struct attachment_each {
    int (*fn)(void *ctx, const policy_attachment *a);
    void *ctx;
} attachment_each;

/* A row of NULLs stands for a policy attached to no one. */
static int attachment_row(const PGresult *r, int i, void *arg)
{
    const attachment_each *e = arg;
    if (PQgetisnull(r, i, 0))
        return 0;
    const char *kind = PQgetvalue(r, i, 0);
    policy_attachment a;
    if (strcmp(kind, "user") == 0)
        a.kind = PRINCIPAL_USER;
    else if (strcmp(kind, "role") == 0)
        a.kind = PRINCIPAL_ROLE;
    else
        return -1;
    if (copy_value(r, i, 1, a.name, sizeof a.name) != 0)
        return -1;
    return e->fn(e->ctx, &a) != 0;
}

static int pg_policy_attachments(store *s, const char *account_id, const char *name,
                                 int (*fn)(void *ctx, const policy_attachment *a), void *ctx)
{
    const char *params[2] = {account_id, name};
    attachment_each e = {fn, ctx};
    int rows;
    int result = each_row(s, STMT_POLICY_ATTACHMENTS, 2, params, "policy_attachments",
                          attachment_row, &e, &rows);
    return result == STORE_OK && rows == 0 ? STORE_NOT_FOUND : result;
}

/* No row inserted: no such policy. The principal's foreign key refuses one
 * that does not exist (STORE_INVALID); the primary key, a second time. */
static int pg_policy_attach_to(store *s, const char *account_id, const char *name,
                               principal_kind kind, const char *principal)
{
    const char *params[4] = {account_id, name, kind_text(kind), principal};
    long changed = 0;
    int result = pooled_write(s, STMT_POLICY_ATTACH_TO, 4, params, "policy_attach_to", &changed);
    return changed_or_not_found(result, changed);
}

static int pg_policy_detach(store *s, const char *account_id, const char *name,
                            principal_kind kind, const char *principal)
{
    const char *params[4] = {account_id, name, kind_text(kind), principal};
    long changed = 0;
    int result = pooled_write(s, STMT_POLICY_DETACH, 4, params, "policy_detach", &changed);
    return changed_or_not_found(result, changed);
}

/* Deletes a policy or a role. The attachments' foreign key refuses while
 * anything is attached, within the statement (PostgreSQL's check sees
 * attachments committed meanwhile), so that nothing can be attached
 * between a check and the delete; that refusal (the only one a delete of
 * these can meet) is STORE_CONFLICT. */
static int delete_unless_attached(store *s, enum stmt_id id, const char *what,
                                  const char *account_id, const char *name)
{
    const char *params[2] = {account_id, name};
    long changed = 0;
    int result = pooled_write(s, id, 2, params, what, &changed);
    if (result == STORE_INVALID)
        return STORE_CONFLICT;
    return changed_or_not_found(result, changed);
}

static int pg_policy_delete(store *s, const char *account_id, const char *name)
{
    return delete_unless_attached(s, STMT_POLICY_DELETE, "policy_delete", account_id, name);
}

static int pg_role_create(store *s, const role_info *role)
{
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%ld", role->max_session_s);
    const char *params[3] = {role->account_id, role->name, seconds};
    return pooled_write(s, STMT_ROLE_CREATE, 3, params, "role_create", NULL);
}

static int pg_role_delete(store *s, const char *account_id, const char *name)
{
    return delete_unless_attached(s, STMT_ROLE_DELETE, "role_delete", account_id, name);
}

typedef struct role_each {
    int (*fn)(void *ctx, const role_info *r);
    void *ctx;
} role_each;

static int role_list_row(const PGresult *r, int i, void *arg)
{
    const role_each *e = arg;
    role_info role;
    if (read_role(r, i, &role) != 0)
        return -1;
    return e->fn(e->ctx, &role) != 0;
}

static int pg_role_list(store *s, const char *account_id, int (*fn)(void *ctx, const role_info *r),
                        void *ctx)
{
    const char *params[1] = {account_id};
    role_each e = {fn, ctx};
    return each_row(s, STMT_ROLE_LIST, 1, params, "role_list", role_list_row, &e, NULL);
}

static int pg_instance_add(store *s, const instance *inst)
{
    pg_store *ps = (pg_store *)s;
    int64_t deadline = deadline_after(ps);
    conn *c = checkout(ps, deadline);
    if (!c)
        return STORE_ERROR;
    int result = conn_exec(c, deadline, "BEGIN", "begin");
    if (result == STORE_OK) {
        const char *params[6] = {inst->id,     inst->region, inst->account_id,
                                 inst->type,   inst->status, inst->console_url};
        result = conn_write(c, deadline, STMT_INSTANCE_ADD, 6, params, "instance_add", NULL);
        if (result == STORE_OK)
            result = conn_add_tags(c, deadline, inst, 1, "instance_add (tags)");
        if (result == STORE_OK)
            result = conn_exec(c, deadline, "COMMIT", "commit");
        if (result != STORE_OK)
            conn_rollback(c, deadline);
    }
    checkin(ps, c);
    return result;
}

static int pg_instance_set_status(store *s, const char *instance_id, const char *status)
{
    const char *params[2] = {instance_id, status};
    long changed = 0;
    int result =
        pooled_write(s, STMT_INSTANCE_SET_STATUS, 2, params, "instance_set_status", &changed);
    return changed_or_not_found(result, changed);
}

static int pg_instance_remove(store *s, const char *instance_id)
{
    /* Tags go with it (ON DELETE CASCADE); the count is of instances. */
    const char *params[1] = {instance_id};
    long changed = 0;
    int result = pooled_write(s, STMT_INSTANCE_REMOVE, 1, params, "instance_remove", &changed);
    return changed_or_not_found(result, changed);
}

/* One transaction: upsert the instances from six arrays, drop their old
 * tags, insert the new ones. Three statements whatever the count. */
static int import_in(conn *c, pg_store *ps, const instance *items, size_t count)
{
    buf arr[6] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
    for (size_t i = 0; i < count; i++) {
        array_add(&arr[0], items[i].id);
        array_add(&arr[1], items[i].region);
        array_add(&arr[2], items[i].account_id);
        array_add(&arr[3], items[i].type);
        array_add(&arr[4], items[i].status);
        array_add(&arr[5], items[i].console_url);
    }
    const char *params[6];
    int failed = 0;
    for (int k = 0; k < 6; k++) {
        params[k] = array_end(&arr[k]);
        failed |= arr[k].failed;
    }
    int result = STORE_ERROR;
    if (failed) {
        log_error("postgresql: instance_import: out of memory");
    } else {
        /* A batch is big: each statement has the whole timeout. */
        result = conn_exec(c, deadline_after(ps), "BEGIN", "begin");
        if (result == STORE_OK)
            result = conn_write(c, deadline_after(ps), STMT_IMPORT_INSTANCES, 6, params,
                                "instance_import", NULL);
        if (result == STORE_OK)
            result = conn_write(c, deadline_after(ps), STMT_IMPORT_CLEAR_TAGS, 1, params,
                                "instance_import (old tags)", NULL);
        if (result == STORE_OK)
            result = conn_add_tags(c, deadline_after(ps), items, count,
                                   "instance_import (tags)");
        if (result == STORE_OK)
            result = conn_exec(c, deadline_after(ps), "COMMIT", "commit");
        if (result != STORE_OK)
            conn_rollback(c, deadline_after(ps));
    }
    for (int k = 0; k < 6; k++)
        buf_free(&arr[k]);
    return result;
}

static int pg_instance_import(store *s, const instance *items, size_t count)
{
    if (count == 0)
        return STORE_OK;
    pg_store *ps = (pg_store *)s;
    conn *c = checkout(ps, deadline_after(ps));
    if (!c)
        return STORE_ERROR;
    int result = import_in(c, ps, items, count);
    checkin(ps, c);
    return result;
}

const store_driver store_postgresql_driver = {
    .scheme = PG_DRIVER_PREFIX,
    .open = pg_open,
    .close = pg_close,
    .key_get = pg_key_get,
    .principal_policies = pg_principal_policies,
    .role_get = pg_role_get,
    .instance_get = pg_instance_get,
    .account_create = pg_account_create,
    .user_create = pg_user_create,
    .key_create = pg_key_create,
    .key_reseal_all = pg_key_reseal_all,
    .key_set_active = pg_key_set_active,
    .policy_attach = pg_policy_attach,
    .policy_create = pg_policy_create,
    .policy_get = pg_policy_get,
    .policy_list = pg_policy_list,
    .policy_attachments = pg_policy_attachments,
    .policy_attach_to = pg_policy_attach_to,
    .policy_detach = pg_policy_detach,
    .policy_delete = pg_policy_delete,
    .role_create = pg_role_create,
    .role_delete = pg_role_delete,
    .role_list = pg_role_list,
    .instance_add = pg_instance_add,
    .instance_set_status = pg_instance_set_status,
    .instance_remove = pg_instance_remove,
    .instance_list = pg_instance_list,
    .instance_import = pg_instance_import,
    .sync_cache = pg_sync_cache,
};
