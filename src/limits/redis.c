/* redis.c: the "redis://" and "redis+unix://" limits backend: claims kept in a
 * Redis that every ecshotd of a deployment shares.
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&timeout_ms=N&pool_size=N]
 *   redis+unix:///path/to/redis.sock[?db=N&user=U&password=PW&prefix=P&timeout_ms=N&pool_size=N]
 *
 * HOST is a name, an IPv4 address or a bracketed IPv6 one. Defaults: PORT
 * 6379, DB 0, no AUTH, prefix "ecshot:", timeout_ms 500, pool_size 16. USER,
 * PASSWORD, the socket path and every query value are percent-decoded, so a
 * password may hold '@', ':' or '&'. Anything else in the URL is refused.
 *
 * A claim is the key <prefix><ns>:<key> (value "1"), written with
 * "SET key 1 NX PX ttl" and pipelined with "PTTL key": one round trip. SET NX
 * is atomic in Redis, so of any number of servers racing for a key exactly
 * one wins; Redis expires keys by itself, so nothing here sweeps. When SET is
 * refused, PTTL gives the holder's remaining time. Two cases keep the answer
 * consistent with "held": a key that expired between the two commands (PTTL
 * -2) or expires this very millisecond (0) reports 1 ms (a retry then wins),
 * and a key without expiry (never written by ecshot: a prefix shared by
 * mistake) is held for a full ttl and logged, so a stray key fails closed.
 * The prefix lets several deployments or test runs share one Redis. Keys are
 * built from client text (nonces, instance ids), so they travel as one
 * binary-safe argument (%b), never spliced into a command.
 *
 * Failure, the part that matters: Redis down, slow, full or refusing us makes
 * a claim return LIMITS_ERROR, which callers answer with ServiceUnavailable:
 * a dead Redis never lets a second screenshot or a replay through. Every wait
 * is bounded by timeout_ms (connect, each send, each reply, and waiting for a
 * free connection), so a claim takes at most a few timeout_ms; only the name
 * lookup of HOST is not (give an address where DNS may hang). A claim that
 * timed out may still reach Redis later and hold its key: the safe way round
 * (the caller already answered 503; a retry is throttled or refused as a
 * replay, never let through twice). A connection that failed is dropped and
 * made again by the next claim that needs it, at most once per
 * RECONNECT_INTERVAL_MS per pooled connection, so a Redis that comes back is
 * used again without anyone's help, and one that stays down is not hammered.
 * An idle connection the server closed (a Redis restart) is noticed before
 * use and replaced, so a restart costs no failed claim.
 *
 * Connections: a pool of pool_size hiredis contexts made lazily; a claim
 * takes one, uses it alone, gives it back. Commands go out with
 * send(MSG_NOSIGNAL), so a dead peer never raises SIGPIPE, whatever the
 * process's signal disposition. Logs name the Redis, never the password, and
 * only on a change of state (failing, answering again), so a Redis outage
 * under load does not flood the journal. */
#include "limits/limits.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define DEFAULT_PORT 6379
#define DEFAULT_PREFIX "ecshot:"
#define DEFAULT_TIMEOUT_MS 500
#define DEFAULT_POOL_SIZE 16
#define MAX_TIMEOUT_MS 60000
#define MAX_POOL_SIZE 1024
#define MAX_DB 1000000
#define MAX_PREFIX 256
#define MAX_HOST 255
#define RECONNECT_INTERVAL_MS 100

typedef struct redis_config {
    char *host;       /* TCP; NULL when path is set */
    int port;
    char *path;       /* unix socket */
    char *user;       /* NULL: AUTH with the password alone (requirepass) */
    char *password;   /* NULL: no AUTH */
    long db;
    char *prefix;
    int timeout_ms;
    int pool_size;
    char where[MAX_HOST + 16]; /* "host:port" or the socket path, for logs */
} redis_config;

/* One pooled connection. Only the caller that took it from the free list
 * touches it, so its fields need no lock. */
typedef struct conn_slot {
    redisContext *c;        /* NULL until connected, and after a failure */
    int64_t retry_at;       /* monotonic ms: no new connection before this */
} conn_slot;

typedef struct redis_limits {
    limits base;
    redis_config cfg;
    pthread_mutex_t lock;   /* guards free_list and nfree */
    pthread_cond_t freed;
    conn_slot *slots;
    conn_slot **free_list;
    int nfree;
    atomic_int failing;     /* 1 between a logged failure and the next success */
} redis_limits;

/* ---- URL ---- */

static void config_free(redis_config *cfg)
{
    free(cfg->host);
    free(cfg->path);
    free(cfg->user);
    free(cfg->password);
    free(cfg->prefix);
}


/* Percent-decodes s[0..n) into a new string. Refuses a malformed escape, a
 * decoded NUL (it would cut the C string short) and control characters. */
static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hex_digit_value((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hex_digit_value((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                goto bad;
            ch = (unsigned char)(hi * 16 + lo);
            i += 2;
            if (ch == 0)
                goto bad;
        } else if (ch < 0x21 || ch == 0x7f) {
            goto bad;
        }
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

enum { Q_PREFIX, Q_TIMEOUT, Q_POOL, Q_DB, Q_USER, Q_PASSWORD, Q_COUNT };
static const char *const query_names[Q_COUNT] = {
    "prefix", "timeout_ms", "pool_size", "db", "user", "password",
};

static int apply_param(redis_config *cfg, int which, const char *v, size_t n)
{
    long num;
    switch (which) {
    case Q_PREFIX:
        if (n > MAX_PREFIX * 3)
            return -1;
        free(cfg->prefix);
        cfg->prefix = n ? decode(v, n) : strdup("");
        return cfg->prefix && strlen(cfg->prefix) <= MAX_PREFIX ? 0 : -1;
    case Q_TIMEOUT:
        if (parse_decimal(v, n, 1, MAX_TIMEOUT_MS, &num) < 0)
            return -1;
        cfg->timeout_ms = (int)num;
        return 0;
    case Q_POOL:
        if (parse_decimal(v, n, 1, MAX_POOL_SIZE, &num) < 0)
            return -1;
        cfg->pool_size = (int)num;
        return 0;
    case Q_DB:
        return parse_decimal(v, n, 0, MAX_DB, &cfg->db);
    case Q_USER:
        cfg->user = decode(v, n);
        return cfg->user && *cfg->user ? 0 : -1;
    case Q_PASSWORD:
        cfg->password = decode(v, n);
        return cfg->password && *cfg->password ? 0 : -1;
    }
    return -1;
}

/* "name=value&name=value": each name known, allowed for this scheme, given
 * once. db and credentials are in the authority of a TCP URL, so the query
 * may name them only for a unix socket. */
static int parse_query(const char *q, redis_config *cfg, int unix_socket)
{
    unsigned seen = 0;
    for (;;) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        if (!eq)
            return -1;
        size_t nlen = (size_t)(eq - q);
        int which = -1;
        for (int i = 0; i < Q_COUNT; i++)
            if (strlen(query_names[i]) == nlen && memcmp(q, query_names[i], nlen) == 0)
                which = i;
        if (which < 0 || (seen & (1u << which)))
            return -1;
        if (!unix_socket && (which == Q_DB || which == Q_USER || which == Q_PASSWORD))
            return -1;
        seen |= 1u << which;
        if (apply_param(cfg, which, eq + 1, len - nlen - 1) < 0)
            return -1;
        if (!amp)
            return 0;
        q = amp + 1;
    }
}

static int host_char(char c, int bracketed)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
        c == '.')
        return 1;
    if (bracketed)
        return c == ':';
    return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' || c == '_';
}

/* "[[USER]:PASSWORD@]HOST[:PORT]" of s[0..n). */
static int parse_authority(const char *s, size_t n, redis_config *cfg)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@')
            at = s + i;
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon || colon + 1 == at)
            return -1; /* "user@" alone or an empty password */
        if (colon > s && !(cfg->user = decode(s, (size_t)(colon - s))))
            return -1;
        if (!(cfg->password = decode(colon + 1, (size_t)(at - colon - 1))))
            return -1;
        n -= (size_t)(at + 1 - s);
        s = at + 1;
    }
    const char *host = s, *end = s + n, *port = NULL;
    size_t hlen;
    int bracketed = n > 0 && s[0] == '[';
    if (bracketed) {
        const char *close = memchr(s, ']', n);
        if (!close)
            return -1;
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close + 1 < end) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        if (colon)
            port = colon + 1;
    }
    if (hlen == 0 || hlen > MAX_HOST)
        return -1;
    for (size_t i = 0; i < hlen; i++)
        if (!host_char(host[i], bracketed))
            return -1;
    if (!(cfg->host = strndup(host, hlen)))
        return -1;
    if (port) {
        long p;
        if (parse_decimal(port, (size_t)(end - port), 1, 65535, &p) < 0)
            return -1;
        cfg->port = (int)p;
    }
    return 0;
}

static int parse_tcp_url(const char *rest, redis_config *cfg)
{
    size_t alen = strcspn(rest, "/?");
    if (parse_authority(rest, alen, cfg) < 0)
        return -1;
    const char *p = rest + alen;
    if (*p == '/') {
        p++;
        size_t dlen = strcspn(p, "?");
        if (dlen && parse_decimal(p, dlen, 0, MAX_DB, &cfg->db) < 0)
            return -1;
        p += dlen;
    }
    if (*p == '?')
        return parse_query(p + 1, cfg, 0);
    return *p ? -1 : 0;
}

static int parse_unix_url(const char *rest, redis_config *cfg)
{
    size_t plen = strcspn(rest, "?");
    if (plen == 0 || rest[0] != '/')
        return -1;
    if (!(cfg->path = decode(rest, plen)) ||
        strlen(cfg->path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
        return -1;
    if (rest[plen] == '?')
        return parse_query(rest + plen + 1, cfg, 1);
    return 0;
}

static int parse_url(const char *url, redis_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = DEFAULT_PORT;
    cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->pool_size = DEFAULT_POOL_SIZE;
    int rc;
    if (strncmp(url, "redis+unix://", 13) == 0)
        rc = parse_unix_url(url + 13, cfg);
    else if (strncmp(url, "redis://", 8) == 0)
        rc = parse_tcp_url(url + 8, cfg);
    else
        rc = -1;
    if (rc == 0 && cfg->user && !cfg->password)
        rc = -1; /* a user name alone would be silently ignored */
    if (rc == 0 && !cfg->prefix && !(cfg->prefix = strdup(DEFAULT_PREFIX)))
        rc = -1;
    if (rc < 0) {
        config_free(cfg);
        return -1;
    }
    if (cfg->path)
        snprintf(cfg->where, sizeof cfg->where, "%s", cfg->path);
    else
        snprintf(cfg->where, sizeof cfg->where, strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d",
                 cfg->host, cfg->port);
    return 0;
}

/* ---- health, logged on change only ---- */

static void report_failure(redis_limits *r, const char *what, const char *detail)
{
    if (atomic_exchange(&r->failing, 1) == 0)
        log_error("limits: redis %s: %s: %.200s (claims fail closed until it answers)",
                  r->cfg.where, what, detail);
}

static void report_success(redis_limits *r)
{
    if (atomic_load_explicit(&r->failing, memory_order_relaxed) &&
        atomic_exchange(&r->failing, 0) == 1)
        log_info("limits: redis %s answers again", r->cfg.where);
}

/* ---- one connection ---- */

static struct timeval ms_to_timeval(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Writes all of buf; SO_SNDTIMEO (set by redisSetTimeout) bounds each wait. */
static int conn_send(redisContext *c, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends one command and reads its reply; NULL when the connection failed. */
static redisReply *conn_command(redisContext *c, const char *fmt, ...)
{
    char *cmd;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    int sent = conn_send(c, cmd, (size_t)len);
    redisFreeCommand(cmd);
    void *reply = NULL;
    if (sent < 0 || redisGetReply(c, &reply) != REDIS_OK)
        return NULL;
    return reply;
}

/* Runs AUTH or SELECT at connect time; anything but +OK fails the connection. */
static int conn_expect_ok(redis_limits *r, redisReply *reply, const char *what)
{
    if (reply && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        freeReplyObject(reply);
        return 0;
    }
    report_failure(r, what,
                   !reply ? "no answer"
                   : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    if (reply)
        freeReplyObject(reply);
    return -1;
}

static redisContext *conn_open(redis_limits *r)
{
    const redis_config *cfg = &r->cfg;
    struct timeval tv = ms_to_timeval(cfg->timeout_ms);
    redisContext *c = cfg->path ? redisConnectUnixWithTimeout(cfg->path, tv)
                                : redisConnectWithTimeout(cfg->host, cfg->port, tv);
    if (!c) {
        report_failure(r, "connect", "out of memory");
        return NULL;
    }
    if (c->err) {
        report_failure(r, "connect", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        report_failure(r, "set timeout", c->errstr);
        goto fail;
    }
    if (!cfg->path)
        redisEnableKeepAlive(c); /* notices a vanished host on an idle connection */
    if (cfg->password) {
        redisReply *reply = cfg->user
            ? conn_command(c, "AUTH %b %b", cfg->user, strlen(cfg->user), cfg->password,
                           strlen(cfg->password))
            : conn_command(c, "AUTH %b", cfg->password, strlen(cfg->password));
        if (conn_expect_ok(r, reply, "AUTH") < 0)
            goto fail;
    }
    if (cfg->db && conn_expect_ok(r, conn_command(c, "SELECT %ld", cfg->db), "SELECT") < 0)
        goto fail;
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* An idle connection has nothing to read: Redis sends nothing unasked. If
 * it is readable, the server closed it (a restart, an idle timeout), and a
 * command sent on it now would fail a claim for nothing. */
static int conn_idle_is_sound(redisContext *c)
{
    if (c->err)
        return 0;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

/* ---- the pool ---- */

static conn_slot *pool_take(redis_limits *r)
{
    pthread_mutex_lock(&r->lock);
    if (r->nfree == 0) {
        int64_t deadline = clock_monotonic_ms() + r->cfg.timeout_ms;
        while (r->nfree == 0)
            if (cond_wait_until(&r->freed, &r->lock, deadline) != 0)
                break; /* ETIMEDOUT */
    }
    conn_slot *s = r->nfree ? r->free_list[--r->nfree] : NULL;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static void pool_give(redis_limits *r, conn_slot *s)
{
    pthread_mutex_lock(&r->lock);
    r->free_list[r->nfree++] = s;
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->lock);
}

static void slot_drop(conn_slot *s)
{
    if (s->c) {
        redisFree(s->c);
        s->c = NULL;
    }
}

/* Drops a connection that failed; the slot makes no new one for
 * RECONNECT_INTERVAL_MS, so a Redis that is down is not hammered. */
static void slot_failed(conn_slot *s)
{
    slot_drop(s);
    s->retry_at = clock_monotonic_ms() + RECONNECT_INTERVAL_MS;
}

/* Gives the slot a working connection, making one if it has none and it
 * has not failed just now; 0 when ready. */
static int slot_ready(redis_limits *r, conn_slot *s)
{
    if (s->c && !conn_idle_is_sound(s->c))
        slot_drop(s); /* closed by the server while idle: not a failure */
    if (s->c)
        return 0;
    if (clock_monotonic_ms() < s->retry_at)
        return -1;
    s->c = conn_open(r);
    if (!s->c) {
        slot_failed(s);
        return -1;
    }
    return 0;
}

/* ---- claims ---- */

/* Reads what Redis said to "SET NX PX" and "PTTL". */
static int claim_verdict(redis_limits *r, const redisReply *set, const redisReply *pttl,
                         int64_t ttl_ms, int64_t *remaining_ms)
{
    if (set->type == REDIS_REPLY_STATUS && strcmp(set->str, "OK") == 0)
        return LIMITS_CLAIMED;
    if (set->type == REDIS_REPLY_ERROR) {
        report_failure(r, "SET", set->str); /* OOM, READONLY, NOAUTH, LOADING... */
        return LIMITS_ERROR;
    }
    if (set->type != REDIS_REPLY_NIL || pttl->type != REDIS_REPLY_INTEGER) {
        report_failure(r, "SET", pttl->type == REDIS_REPLY_ERROR ? pttl->str : "unexpected reply");
        return LIMITS_ERROR;
    }
    int64_t remaining = pttl->integer;
    if (remaining == -2 || remaining == 0) {
        remaining = 1; /* expired since SET saw it, or expires now: free in a moment */
    } else if (remaining < 0) {
        log_warn("limits: redis %s holds a claim key without expiry under prefix '%s'; "
                 "is the prefix shared with something else?", r->cfg.where, r->cfg.prefix);
        remaining = ttl_ms;
    }
    if (remaining_ms)
        *remaining_ms = remaining;
    return LIMITS_HELD;
}

/* One round trip on a ready connection. A failure of the connection itself
 * drops it: it may still owe us replies, so it is never used again. */
static int claim_on(redis_limits *r, conn_slot *s, const char *cmd, size_t len, int64_t ttl_ms,
                    int64_t *remaining_ms)
{
    redisReply *set = NULL, *pttl = NULL;
    if (conn_send(s->c, cmd, len) < 0) {
        report_failure(r, "send", strerror(errno));
        slot_failed(s);
        return LIMITS_ERROR;
    }
    if (redisGetReply(s->c, (void **)&set) != REDIS_OK ||
        redisGetReply(s->c, (void **)&pttl) != REDIS_OK) {
        int timed_out = s->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        report_failure(r, "reply", timed_out ? "no answer within timeout_ms"
                                   : s->c->errstr[0] ? s->c->errstr : "connection lost");
        if (set)
            freeReplyObject(set);
        slot_failed(s);
        return LIMITS_ERROR;
    }
    int rc = claim_verdict(r, set, pttl, ttl_ms, remaining_ms);
    freeReplyObject(set);
    freeReplyObject(pttl);
    if (rc != LIMITS_ERROR)
        report_success(r);
    return rc;
}

/* Formats "SET key 1 NX PX ttl" and "PTTL key" into one buffer, sent at once. */
static char *format_claim(const char *key, size_t klen, int64_t ttl_ms, size_t *len)
{
    char *set, *pttl;
    int slen = redisFormatCommand(&set, "SET %b 1 NX PX %lld", key, klen, (long long)ttl_ms);
    if (slen < 0)
        return NULL;
    int plen = redisFormatCommand(&pttl, "PTTL %b", key, klen);
    if (plen < 0) {
        redisFreeCommand(set);
        return NULL;
    }
    char *both = malloc((size_t)slen + (size_t)plen);
    if (both) {
        memcpy(both, set, (size_t)slen);
        memcpy(both + slen, pttl, (size_t)plen);
        *len = (size_t)slen + (size_t)plen;
    }
    redisFreeCommand(set);
    redisFreeCommand(pttl);
    return both;
}

/* "prefix" "ns:key", Redis's key; NULL when memory ran out. */
static char *full_key(const redis_limits *r, const char *ns, const char *key, size_t *len)
{
    size_t plen = strlen(r->cfg.prefix), nlen = strlen(ns), klen = strlen(key);
    *len = plen + nlen + 1 + klen;
    char *full = malloc(*len);
    if (!full)
        return NULL;
    memcpy(full, r->cfg.prefix, plen);
    memcpy(full + plen, ns, nlen);
    full[plen + nlen] = ':';
    memcpy(full + plen + nlen + 1, key, klen);
    return full;
}

/* "PTTL key" on a ready connection: -2 (no key) is free. */
static int peek_on(redis_limits *r, conn_slot *s, const char *key, size_t klen,
                   int64_t *remaining_ms)
{
    redisReply *pttl = redisCommand(s->c, "PTTL %b", key, klen);
    if (!pttl) {
        int timed_out = s->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
        report_failure(r, "PTTL", timed_out ? "no answer within timeout_ms"
                                  : s->c->errstr[0] ? s->c->errstr : "connection lost");
        slot_failed(s);
        return LIMITS_ERROR;
    }
    int rc = LIMITS_ERROR;
    if (pttl->type == REDIS_REPLY_INTEGER) {
        rc = pttl->integer > 0 ? LIMITS_HELD : LIMITS_FREE;
        if (rc == LIMITS_HELD && remaining_ms)
            *remaining_ms = pttl->integer;
        report_success(r);
    } else {
        report_failure(r, "PTTL", pttl->type == REDIS_REPLY_ERROR ? pttl->str : "unexpected reply");
    }
    freeReplyObject(pttl);
    return rc;
}

/* A pooled connection ready for a command; NULL (failure reported, slot
 * given back) when none is free within timeout_ms or it cannot connect. */
static conn_slot *slot_acquire(redis_limits *r)
{
    conn_slot *s = pool_take(r);
    if (!s) {
        report_failure(r, "pool", "every connection busy for timeout_ms");
        return NULL;
    }
    if (slot_ready(r, s) != 0) {
        pool_give(r, s);
        return NULL;
    }
    return s;
}

static int redis_peek(limits *l, const char *ns, const char *key, int64_t *remaining_ms)
{
    redis_limits *r = (redis_limits *)l;
    size_t fulllen;
    char *full = full_key(r, ns, key, &fulllen);
    if (!full)
        return LIMITS_ERROR;
    int rc = LIMITS_ERROR;
    conn_slot *s = slot_acquire(r);
    if (s) {
        rc = peek_on(r, s, full, fulllen, remaining_ms);
        pool_give(r, s);
    }
    free(full);
    return rc;
}

static int redis_claim(limits *l, const char *ns, const char *key, int64_t ttl_ms,
                       int64_t *remaining_ms)
{
    redis_limits *r = (redis_limits *)l;
    /* PX takes a positive count; 1 ms is Redis's "expires at once". */
    if (ttl_ms < 1)
        ttl_ms = 1;
    size_t fulllen;
    char *full = full_key(r, ns, key, &fulllen);
    if (!full)
        return LIMITS_ERROR;
    size_t cmdlen = 0;
    char *cmd = format_claim(full, fulllen, ttl_ms, &cmdlen);
    free(full);
    if (!cmd)
        return LIMITS_ERROR;

    int rc = LIMITS_ERROR;
    conn_slot *s = slot_acquire(r);
    if (s) {
        rc = claim_on(r, s, cmd, cmdlen, ttl_ms, remaining_ms);
        pool_give(r, s);
    }
    free(cmd);
    return rc;
}

static void redis_close(limits *l)
{
    redis_limits *r = (redis_limits *)l;
    for (int i = 0; r->slots && i < r->cfg.pool_size; i++)
        slot_drop(&r->slots[i]);
    free(r->slots);
    free(r->free_list);
    pthread_cond_destroy(&r->freed);
    pthread_mutex_destroy(&r->lock);
    config_free(&r->cfg);
    free(r);
}

static int redis_open(const char *url, limits **out);

const limits_driver limits_redis_driver = {
    .scheme = "redis://",
    .open = redis_open,
    .close = redis_close,
    .claim = redis_claim,
    .peek = redis_peek,
};

const limits_driver limits_redis_unix_driver = {
    .scheme = "redis+unix://",
    .open = redis_open,
    .close = redis_close,
    .claim = redis_claim,
    .peek = redis_peek,
};

static int redis_open(const char *url, limits **out)
{
    redis_limits *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    if (parse_url(url, &r->cfg) < 0) {
        /* The URL may hold a password: name the shape, not the text. */
        log_error("limits: bad redis URL (want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"
                  "[?prefix=P&timeout_ms=N&pool_size=N] or redis+unix:///PATH"
                  "[?db=N&user=U&password=PW&prefix=P&timeout_ms=N&pool_size=N])");
        free(r);
        return -1;
    }
    r->base.driver = strncmp(url, "redis+unix://", 13) == 0 ? &limits_redis_unix_driver
                                                            : &limits_redis_driver;
    r->slots = calloc((size_t)r->cfg.pool_size, sizeof *r->slots);
    r->free_list = calloc((size_t)r->cfg.pool_size, sizeof *r->free_list);
    cond_init_monotonic(&r->freed);
    pthread_mutex_init(&r->lock, NULL);
    if (!r->slots || !r->free_list) {
        redis_close(&r->base);
        return -1;
    }
    /* Slot 0 on top of the stack: a lone caller reuses one connection. */
    for (int i = r->cfg.pool_size - 1; i >= 0; i--)
        r->free_list[r->nfree++] = &r->slots[i];
    /* Connect once now so that a wrong address or password shows in the log
     * at start; a Redis that is down is not fatal: claims fail closed and
     * the backend connects when it answers. */
    if (slot_ready(r, &r->slots[0]) == 0)
        log_info("limits: redis %s, prefix '%s', timeout %d ms, %d connections", r->cfg.where,
                 r->cfg.prefix, r->cfg.timeout_ms, r->cfg.pool_size);
    *out = &r->base;
    return 0;
}
