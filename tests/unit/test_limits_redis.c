/* test_limits_redis.c: the redis:// and redis+unix:// limits backends.
 *
 * Claims against the Redis named by ECSHOT_TEST_REDIS_URL (tests/services/
 * redis.sh starts one); without it the suite is skipped (exit 77), or fails
 * when CI is set, so CI can never pass by skipping. Each test uses its own
 * key prefix, so runs may share that Redis.
 *
 * Failures are tested on private redis-server processes this suite starts
 * on a free loopback port (ECSHOT_TEST_REDIS_SERVER names the binary,
 * default redis-server from PATH): killed, restarted, asleep (DEBUG SLEEP),
 * stopped (SIGSTOP), with a password and a database, over a unix socket, and
 * inspected key by key with a raw hiredis connection. Waits are polls for a
 * condition with a deadline, never sleeps standing in for a condition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "limits/limits.h"
#include "util/timeutil.h"

#define DEADLINE_MS 5000

static const char *shared_url;

/* A prefix no other test or run uses. */
static void fresh_prefix(char *out, size_t n)
{
    static int counter;
    snprintf(out, n, "ecshot-test:%d:%lld:%d:", (int)getpid(), (long long)clock_wall_ms(),
             counter++);
}

/* The shared Redis's URL with more query parameters. */
static limits *open_shared(const char *params)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s%s", shared_url, strchr(shared_url, '?') ? "&" : "?", params);
    return limits_open(url);
}

static limits *open_shared_fresh(const char *extra)
{
    char prefix[128], params[512];
    fresh_prefix(prefix, sizeof prefix);
    snprintf(params, sizeof params, "prefix=%s%s%s", prefix, extra ? "&" : "", extra ? extra : "");
    return open_shared(params);
}

static void nap_ms(long ms)
{
    /* A poll interval between checks of a condition, never the condition. */
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- private redis-server processes ---- */

typedef struct private_redis {
    pid_t pid;
    int port;
    char dir[64];
    char sock[96];
} private_redis;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The private directory: a socket and a log inside, made once. */
static void private_dir(private_redis *p)
{
    if (p->dir[0])
        return;
    snprintf(p->dir, sizeof p->dir, "/tmp/ecshot-redis-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    snprintf(p->sock, sizeof p->sock, "%s/redis.sock", p->dir);
}

static redisContext *raw_connect(const private_redis *p)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", p->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server on p->port (a fresh one when 0) with extra arguments
 * (NULL-terminated), and waits until it answers PING. Returns 0, or -1
 * when no redis-server could be run. */
static int private_start(private_redis *p, const char *const *extra)
{
    private_dir(p);
    if (!p->port)
        p->port = free_port();
    const char *server = getenv("ECSHOT_TEST_REDIS_SERVER");
    if (!server)
        server = "redis-server";
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(log, sizeof log, "%s/log", p->dir);
    const char *argv[32] = {server, "--port", port, "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", p->dir, "--logfile", log,
                            "--enable-debug-command", "yes"};
    int argc = 15;
    for (int i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        /* Dies with the test, and keeps off the test runner's pipes (which
         * would otherwise stay open, and the runner waiting, after a failure). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execvp(server, (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = clock_monotonic_ms() + 10000;
    while (clock_monotonic_ms() < deadline) {
        int status;
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            return -1;
        }
        redisContext *c = raw_connect(p);
        if (c) {
            redisReply *r = redisCommand(c, "PING"); /* PONG, or NOAUTH: up either way */
            int up = r != NULL;
            freeReplyObject(r);
            redisFree(c);
            if (up)
                return 0;
        }
        nap_ms(2);
    }
    fail_msg("redis-server on port %d did not answer within 10 s", p->port);
    return -1;
}

/* Starts one or skips the test (fails it under CI). */
static void private_start_or_skip(private_redis *p, const char *const *extra)
{
    if (private_start(p, extra) == 0)
        return;
    if (getenv("CI"))
        fail_msg("cannot run redis-server (set ECSHOT_TEST_REDIS_SERVER)");
    fprintf(stderr, "skipped: cannot run redis-server\n");
    skip();
}

static void private_kill(private_redis *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0); /* its sockets are closed once it is reaped */
        p->pid = 0;
    }
}

static void private_cleanup(private_redis *p)
{
    private_kill(p);
    if (!p->dir[0])
        return;
    DIR *d = opendir(p->dir);
    struct dirent *e;
    char path[384];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", p->dir, e->d_name);
            unlink(path);
        }
    }
    if (d)
        closedir(d);
    rmdir(p->dir);
}

/* Each private-server test gets a private_redis as its state; teardown
 * stops the server even when an assertion ended the test early. */
static int private_setup(void **state)
{
    *state = calloc(1, sizeof(private_redis));
    return *state ? 0 : -1;
}

static int private_teardown(void **state)
{
    private_cleanup(*state);
    free(*state);
    return 0;
}

/* Polls /proc until the process is in state want ('T': stopped). */
static void wait_for_state(pid_t pid, char want)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int64_t deadline = clock_monotonic_ms() + DEADLINE_MS;
    while (clock_monotonic_ms() < deadline) {
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *close_paren = strrchr(buf, ')');
        if (close_paren && close_paren[1] == ' ' && close_paren[2] == want)
            return;
        nap_ms(1);
    }
    fail_msg("process %d never reached state %c", (int)pid, want);
}

/* Claims fresh keys until one comes back CLAIMED, within the deadline:
 * the backend has reconnected by itself. */
static void wait_until_claims_work(limits *l)
{
    int64_t deadline = clock_monotonic_ms() + DEADLINE_MS;
    char key[64];
    for (int i = 0; clock_monotonic_ms() < deadline; i++) {
        snprintf(key, sizeof key, "i-recover-%d", i);
        int rc = limits_claim(l, "throttle", key, 60000, NULL);
        if (rc == LIMITS_CLAIMED)
            return;
        assert_int_equal(rc, LIMITS_ERROR);
        nap_ms(5);
    }
    fail_msg("claims did not work again within %d ms", DEADLINE_MS);
}

/* ---- behaviour, on the shared Redis ---- */

static void claim_then_held_with_remaining_time(void **state)
{
    (void)state;
    limits *l = open_shared_fresh(NULL);
    assert_non_null(l);
    int64_t remaining = -1;
    assert_int_equal(limits_peek(l, "throttle", "i-a", &remaining), LIMITS_FREE);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 10000, &remaining), LIMITS_CLAIMED);
    assert_int_equal(remaining, -1); /* untouched when claimed */
    /* A peek sees the claim and takes nothing. */
    int64_t peeked = -1;
    assert_int_equal(limits_peek(l, "throttle", "i-a", &peeked), LIMITS_HELD);
    assert_true(peeked > 0 && peeked <= 10000);
    assert_int_equal(limits_peek(l, "throttle", "i-z", NULL), LIMITS_FREE);
    assert_int_equal(limits_claim(l, "throttle", "i-z", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 10000, &remaining), LIMITS_HELD);
    assert_true(remaining > 0 && remaining <= 10000);
    int64_t later = -1;
    assert_int_equal(limits_claim(l, "throttle", "i-a", 10000, &later), LIMITS_HELD);
    assert_true(later > 0 && later <= remaining);
    /* A held claim is not renewed by a refused one. */
    assert_int_equal(limits_claim(l, "throttle", "i-a", 60000, &later), LIMITS_HELD);
    assert_true(later <= 10000);
    /* Namespaces and keys are separate; NULL remaining is allowed. */
    assert_int_equal(limits_claim(l, "nonce", "i-a", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-b", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "nonce", "i-a", 10000, NULL), LIMITS_HELD);
    limits_close(l);
}

static void tiny_ttls_expire_by_themselves(void **state)
{
    (void)state;
    limits *l = open_shared_fresh(NULL);
    assert_non_null(l);
    /* 1 ms, and 0 (taken as 1 ms: PX needs a positive count): the key is
     * free again after at most a few polls. */
    for (int64_t ttl = 0; ttl <= 1; ttl++) {
        const char *key = ttl ? "i-1ms" : "i-0ms";
        assert_int_equal(limits_claim(l, "throttle", key, ttl, NULL), LIMITS_CLAIMED);
        int64_t deadline = clock_monotonic_ms() + DEADLINE_MS;
        int rc, tries = 0;
        do {
            int64_t remaining = -1;
            rc = limits_claim(l, "throttle", key, ttl, &remaining);
            if (rc == LIMITS_HELD)
                assert_int_equal(remaining, 1);
            tries++;
        } while (rc == LIMITS_HELD && clock_monotonic_ms() < deadline);
        assert_int_equal(rc, LIMITS_CLAIMED);
        assert_true(tries < 100000);
    }
    /* 50 ms: held at first, free later. */
    int64_t remaining = -1;
    assert_int_equal(limits_claim(l, "throttle", "i-50", 50, NULL), LIMITS_CLAIMED);
    int64_t claimed_at = clock_monotonic_ms();
    int rc = limits_claim(l, "throttle", "i-50", 50, &remaining);
    if (rc == LIMITS_HELD)
        assert_true(remaining > 0 && remaining <= 50);
    while (rc == LIMITS_HELD && clock_monotonic_ms() < claimed_at + DEADLINE_MS) {
        nap_ms(1);
        rc = limits_claim(l, "throttle", "i-50", 50, &remaining);
    }
    assert_int_equal(rc, LIMITS_CLAIMED);
    limits_close(l);
}

typedef struct race {
    limits *l;
    int rc;
} race;

static void *racer(void *arg)
{
    race *r = arg;
    r->rc = limits_claim(r->l, "throttle", "i-contended", 10000, NULL);
    return NULL;
}

static void race_20(limits *l)
{
    pthread_t t[20];
    race r[20];
    for (int i = 0; i < 20; i++) {
        r[i] = (race){l, -2};
        assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
    }
    int wins = 0, held = 0;
    for (int i = 0; i < 20; i++) {
        pthread_join(t[i], NULL);
        wins += r[i].rc == LIMITS_CLAIMED;
        held += r[i].rc == LIMITS_HELD;
    }
    assert_int_equal(wins, 1);
    assert_int_equal(held, 19);
}

static void exactly_one_of_many_concurrent_claims_wins(void **state)
{
    (void)state;
    limits *l = open_shared_fresh(NULL); /* 16 connections for 20 threads */
    assert_non_null(l);
    race_20(l);
    limits_close(l);
    /* One connection: the others wait their turn for it. */
    l = open_shared_fresh("pool_size=1&timeout_ms=5000");
    assert_non_null(l);
    race_20(l);
    limits_close(l);
}

static void two_servers_see_each_others_claims(void **state)
{
    (void)state;
    char prefix[128], params[256];
    fresh_prefix(prefix, sizeof prefix);
    snprintf(params, sizeof params, "prefix=%s", prefix);
    limits *a = open_shared(params), *b = open_shared(params);
    assert_non_null(a);
    assert_non_null(b);
    int64_t remaining = -1;
    assert_int_equal(limits_claim(a, "throttle", "i-x", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(b, "throttle", "i-x", 10000, &remaining), LIMITS_HELD);
    assert_true(remaining > 0 && remaining <= 10000);
    assert_int_equal(limits_claim(b, "nonce", "AK/n-1", 900000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(a, "nonce", "AK/n-1", 900000, &remaining), LIMITS_HELD);
    assert_true(remaining > 890000 && remaining <= 900000);
    limits_close(a);
    limits_close(b);
}

static void prefixes_keep_deployments_apart(void **state)
{
    (void)state;
    limits *a = open_shared_fresh(NULL), *b = open_shared_fresh(NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(limits_claim(a, "throttle", "i-x", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(b, "throttle", "i-x", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(a, "throttle", "i-x", 10000, NULL), LIMITS_HELD);
    assert_int_equal(limits_claim(b, "throttle", "i-x", 10000, NULL), LIMITS_HELD);
    limits_close(a);
    limits_close(b);
}

static void bad_urls_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "redis://",
        "redis://:6379",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:-1",
        "redis://host:12ab",
        "redis://host:",
        "redis://ho st:6379",
        "redis://host:6379/x",
        "redis://host:6379/-1",
        "redis://host:6379/1/2",
        "redis://[::1:6379",
        "redis://[::1]x",
        "redis://user@host:6379",
        "redis://:@host:6379",
        "redis://:p%zzw@host:6379",
        "redis://:p%00w@host:6379",
        "redis://:p%4@host:6379",
        "redis://host:6379?",
        "redis://host:6379?prefix",
        "redis://host:6379?nosuch=1",
        "redis://host:6379?prefix=a&prefix=b",
        "redis://host:6379?timeout_ms=0",
        "redis://host:6379?timeout_ms=60001",
        "redis://host:6379?timeout_ms=5x",
        "redis://host:6379?timeout_ms=",
        "redis://host:6379?pool_size=0",
        "redis://host:6379?pool_size=1025",
        "redis://host:6379?db=1",
        "redis://host:6379?password=x",
        "redis://host:6379?prefix=a&",
        "redis://host:6379?prefix=a%",
        "redis://host:6379#frag",
        "redis+unix://",
        "redis+unix://relative.sock",
        "redis+unix:///tmp/r.sock?db=x",
        "redis+unix:///tmp/r.sock?pool_size=2&pool_size=3",
        "redis+unix:///tmp/r.sock?password=",
        "redis+unix:///tmp/r.sock?user=u",
        "redis+unix:///tmp/"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaa.sock",
        "redis:/host:6379",
        "rediss://host:6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        limits *l = limits_open(bad[i]);
        if (l)
            fail_msg("accepted bad URL '%s'", bad[i]);
    }
}

/* ---- on private servers ---- */

/* Sets the raw name of a claim key: <prefix><ns>:<key>. */
static size_t claim_key(char *out, size_t n, const char *prefix, const char *ns, const char *key,
                        size_t klen)
{
    int len = snprintf(out, n, "%s%s:", prefix, ns);
    assert_true(len > 0 && (size_t)len + klen < n);
    memcpy(out + len, key, klen);
    return (size_t)len + klen;
}

static void keys_are_named_valued_and_expire_on_their_own(void **state)
{
    private_redis *p = *state;
    private_start_or_skip(p, NULL);
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=dep1:", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    redisContext *raw = raw_connect(p);
    assert_non_null(raw);

    assert_int_equal(limits_claim(l, "throttle", "i-abc", 10000, NULL), LIMITS_CLAIMED);
    redisReply *r = redisCommand(raw, "GET %s", "dep1:throttle:i-abc");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    r = redisCommand(raw, "PTTL %s", "dep1:throttle:i-abc");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long pttl = r->integer;
    freeReplyObject(r);
    assert_true(pttl > 0 && pttl <= 10000);
    /* The remaining time reported is Redis's own, read after it. */
    int64_t remaining = -1;
    assert_int_equal(limits_claim(l, "throttle", "i-abc", 10000, &remaining), LIMITS_HELD);
    assert_true(remaining > 0 && remaining <= pttl);

    /* Keys from client text travel as one argument: CR LF and RESP text
     * cannot become commands of their own. */
    static const char hostile[] = "AK/x\r\n*1\r\n$8\r\nFLUSHALL\r\n \"'%s%b";
    assert_int_equal(limits_claim(l, "nonce", hostile, 900000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "nonce", hostile, 900000, NULL), LIMITS_HELD);
    char name[256];
    size_t nlen = claim_key(name, sizeof name, "dep1:", "nonce", hostile, strlen(hostile));
    r = redisCommand(raw, "EXISTS %b", name, nlen);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    r = redisCommand(raw, "DBSIZE");
    assert_int_equal(r->integer, 2); /* nothing was flushed, nothing else written */
    freeReplyObject(r);

    /* A key without expiry (not ecshot's) fails closed: held for a full ttl. */
    r = redisCommand(raw, "SET %s %s", "dep1:throttle:i-stray", "x");
    freeReplyObject(r);
    assert_int_equal(limits_claim(l, "throttle", "i-stray", 10000, &remaining), LIMITS_HELD);
    assert_int_equal(remaining, 10000);

    /* Expiry is Redis's: a 30 ms claim's key disappears by itself. */
    assert_int_equal(limits_claim(l, "throttle", "i-short", 30, NULL), LIMITS_CLAIMED);
    int64_t deadline = clock_monotonic_ms() + DEADLINE_MS;
    long long exists = 1;
    while (exists && clock_monotonic_ms() < deadline) {
        r = redisCommand(raw, "EXISTS %s", "dep1:throttle:i-short");
        exists = r->integer;
        freeReplyObject(r);
        if (exists)
            nap_ms(2);
    }
    assert_int_equal(exists, 0);
    assert_int_equal(limits_claim(l, "throttle", "i-short", 30, NULL), LIMITS_CLAIMED);

    redisFree(raw);
    limits_close(l);
}

static void password_database_and_unix_socket(void **state)
{
    private_redis *p = *state;
    private_dir(p);
    const char *const extra[] = {"--requirepass", "s3cr@t:&", "--unixsocket", p->sock,
                                 "--unixsocketperm", "700", NULL};
    private_start_or_skip(p, extra);
    char url[256];

    /* TCP, password percent-encoded, database 3. */
    snprintf(url, sizeof url, "redis://:s3cr%%40t%%3A%%26@127.0.0.1:%d/3?prefix=p:", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-db", 10000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-db", 10000, NULL), LIMITS_HELD);
    limits_close(l);

    /* The same claim over the unix socket, by the default user by name. */
    snprintf(url, sizeof url,
             "redis+unix://%s?db=3&user=default&password=s3cr%%40t%%3A%%26&prefix=p:", p->sock);
    l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-db", 10000, NULL), LIMITS_HELD);
    limits_close(l);

    /* Another database does not see it. */
    snprintf(url, sizeof url, "redis+unix://%s?db=4&password=s3cr%%40t%%3A%%26&prefix=p:", p->sock);
    l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-db", 10000, NULL), LIMITS_CLAIMED);
    limits_close(l);

    /* The key is where the URL said: database 3, "p:throttle:i-db". */
    redisContext *raw = raw_connect(p);
    assert_non_null(raw);
    freeReplyObject(redisCommand(raw, "AUTH %s", "s3cr@t:&"));
    freeReplyObject(redisCommand(raw, "SELECT 3"));
    redisReply *r = redisCommand(raw, "EXISTS %s", "p:throttle:i-db");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    redisFree(raw);

    /* A wrong password or no password: every claim fails closed. */
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d?prefix=p:", p->port);
    l = limits_open(url);
    assert_non_null(l); /* opening never needs Redis up */
    assert_int_equal(limits_claim(l, "throttle", "i-new", 10000, NULL), LIMITS_ERROR);
    limits_close(l);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=p:", p->port);
    l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-new", 10000, NULL), LIMITS_ERROR);
    limits_close(l);

}

static void killed_redis_fails_closed_then_recovers(void **state)
{
    private_redis *p = *state;
    private_start_or_skip(p, NULL);
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=k:&timeout_ms=300&pool_size=4", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-a", 60000, NULL), LIMITS_CLAIMED);

    private_kill(p);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = clock_monotonic_ms();
        assert_int_equal(limits_claim(l, "throttle", "i-b", 60000, NULL), LIMITS_ERROR);
        assert_true(clock_monotonic_ms() - t0 < 5000);
    }

    /* Back on the same port (empty: no persistence): the same handle works. */
    assert_int_equal(private_start(p, NULL), 0);
    wait_until_claims_work(l);
    assert_int_equal(limits_claim(l, "throttle", "i-b", 60000, NULL), LIMITS_CLAIMED);
    assert_int_equal(limits_claim(l, "throttle", "i-b", 60000, NULL), LIMITS_HELD);

    /* A clean restart (SIGTERM, idle connections closed by the server) costs
     * no failed claim: a closed idle connection is replaced before use. */
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
    assert_int_equal(private_start(p, NULL), 0);
    assert_int_equal(limits_claim(l, "throttle", "i-c", 60000, NULL), LIMITS_CLAIMED);

    limits_close(l);
}

static void redis_down_at_start_is_used_once_up(void **state)
{
    private_redis *p = *state;
    p->port = free_port(); /* nothing listens there yet */
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=d:&timeout_ms=200", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    int64_t t0 = clock_monotonic_ms();
    assert_int_equal(limits_claim(l, "throttle", "i-a", 60000, NULL), LIMITS_ERROR);
    assert_true(clock_monotonic_ms() - t0 < 5000);
    private_start_or_skip(p, NULL);
    wait_until_claims_work(l);
    limits_close(l);
}

typedef struct sleeper {
    const private_redis *p;
    int ok;
} sleeper;

static void *debug_sleep(void *arg)
{
    sleeper *s = arg;
    redisContext *c = raw_connect(s->p);
    if (!c)
        return NULL;
    struct timeval tv = {10, 0};
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "DEBUG SLEEP 2");
    s->ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redisFree(c);
    return NULL;
}

static void slow_redis_fails_closed_within_the_timeout(void **state)
{
    private_redis *p = *state;
    private_start_or_skip(p, NULL);
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=s:&timeout_ms=200", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-warm", 60000, NULL), LIMITS_CLAIMED);

    sleeper s = {p, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, debug_sleep, &s), 0);
    /* Claims succeed until Redis starts sleeping; the first one made while it
     * sleeps must give up after timeout_ms, long before the 2 s are over. */
    int64_t deadline = clock_monotonic_ms() + DEADLINE_MS, elapsed = -1;
    char key[64];
    for (int i = 0; clock_monotonic_ms() < deadline; i++) {
        snprintf(key, sizeof key, "i-%d", i);
        int64_t t0 = clock_monotonic_ms();
        int rc = limits_claim(l, "throttle", key, 60000, NULL);
        if (rc == LIMITS_ERROR) {
            elapsed = clock_monotonic_ms() - t0;
            break;
        }
        assert_int_equal(rc, LIMITS_CLAIMED);
    }
    assert_true(elapsed >= 0 && elapsed < 5000);
    fprintf(stderr, "slow redis: claim failed closed after %lld ms (timeout_ms=200)\n",
            (long long)elapsed);
    pthread_join(t, NULL);
    assert_true(s.ok);
    wait_until_claims_work(l);
    limits_close(l);
}

static void hung_redis_fails_closed_then_recovers(void **state)
{
    private_redis *p = *state;
    private_start_or_skip(p, NULL);
    char url[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d?prefix=h:&timeout_ms=200&pool_size=2", p->port);
    limits *l = limits_open(url);
    assert_non_null(l);
    assert_int_equal(limits_claim(l, "throttle", "i-warm", 60000, NULL), LIMITS_CLAIMED);

    /* Stopped: the kernel still accepts connections, nothing answers. */
    kill(p->pid, SIGSTOP);
    wait_for_state(p->pid, 'T');
    for (int i = 0; i < 3; i++) {
        int64_t t0 = clock_monotonic_ms();
        assert_int_equal(limits_claim(l, "throttle", "i-x", 60000, NULL), LIMITS_ERROR);
        assert_true(clock_monotonic_ms() - t0 < 5000);
    }
    kill(p->pid, SIGCONT);
    wait_until_claims_work(l);
    limits_close(l);
}

int main(void)
{
    /* The tests' own raw hiredis connections write with write(); ecshotd
     * ignores SIGPIPE as well, and the backend sends with MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);
    shared_url = getenv("ECSHOT_TEST_REDIS_URL");
    if (!shared_url || !*shared_url) {
        if (getenv("CI")) {
            fprintf(stderr, "FAIL: ECSHOT_TEST_REDIS_URL is not set; CI must run the Redis "
                            "tests (tests/services/redis.sh starts one)\n");
            return 1;
        }
        fprintf(stderr, "skipped: set ECSHOT_TEST_REDIS_URL=redis://HOST:PORT to run the "
                        "Redis tests\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_then_held_with_remaining_time),
        cmocka_unit_test(tiny_ttls_expire_by_themselves),
        cmocka_unit_test(exactly_one_of_many_concurrent_claims_wins),
        cmocka_unit_test(two_servers_see_each_others_claims),
        cmocka_unit_test(prefixes_keep_deployments_apart),
        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test_setup_teardown(keys_are_named_valued_and_expire_on_their_own,
                                        private_setup, private_teardown),
        cmocka_unit_test_setup_teardown(password_database_and_unix_socket,
                                        private_setup, private_teardown),
        cmocka_unit_test_setup_teardown(killed_redis_fails_closed_then_recovers,
                                        private_setup, private_teardown),
        cmocka_unit_test_setup_teardown(redis_down_at_start_is_used_once_up,
                                        private_setup, private_teardown),
        cmocka_unit_test_setup_teardown(slow_redis_fails_closed_within_the_timeout,
                                        private_setup, private_teardown),
        cmocka_unit_test_setup_teardown(hung_redis_fails_closed_then_recovers,
                                        private_setup, private_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
