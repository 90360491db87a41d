/* ecshotd.c: the ecshot daemon: parse the configuration, open the backends,
 * serve the API until SIGINT or SIGTERM.
 *
 *   ecshotd --listen 127.0.0.1:8080 --store sqlite:var/ecshot.db
 *           --master-key FILE [--limits memory:] [--config FILE] [options]
 *
 * Every option may also be given in the --config file as "name value" (or
 * "name = value"; a switch such as no-seccomp alone), one per line, '#' for
 * comments; the command line wins. --trusted-proxy may be given any number
 * of times, here and there: every one counts.
 * Once listening it prints "ecshotd: listening on HOST:PORT" on stdout, so
 * that a supervisor or a test started with port 0 learns the port.
 *
 * Start-up runs in the order least privilege asks for: bind the listening
 * socket (a privileged port needs root), drop to --user, then open
 * everything else as that user (master key file, audit log, store, TLS
 * files: so that a reload or a reopen later finds them readable), start the
 * threads, and last install the seccomp filter on every thread. SIGHUP then
 * reloads the TLS certificate and the master key file (a rotated file: the
 * workers switch keys at once, see secret_keyring_reload; a refused file
 * keeps the keys there were) and, after both, reopens the audit log
 * (logrotate). The master key is required: without it no AccessKey secret
 * (nor STS token) opens, so ecshotd refuses to start rather than answer
 * every call with an error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "console/console.h"
#include "http/http.h"
#include "ops/ops.h"
#include "sandbox/sandbox.h"
#include "secret/secret.h"
#include "util/cidr.h"
#include "util/log.h"

typedef struct daemon_config {
    char *listen;
    char *store_url;
    char *master_key;
    char *limits_url;
    char *retired_path;
    long threads;
    long queue_max;
    long store_cache;
    long blocking_threads;
    long throttle_ms;
    long console_timeout_ms;
    long wake_settle_ms;
    long jpeg_quality;
    long jpeg_subsampling;
    long max_body;
    long max_connections;
    long connection_timeout_s;
    int log_level;
    char *tls_cert;
    char *tls_key;
    char *tls_priorities;
    char *audit_log;
    char *user;
    int seccomp;            /* SECCOMP_AUTO, _ON or _OFF */
    cidr_list trusted_proxies;
} daemon_config;

/* Default: the filter goes on when the kernel can take it; --seccomp
 * insists (no filter, no service), --no-seccomp leaves it off. */
enum { SECCOMP_AUTO = 0, SECCOMP_ON, SECCOMP_OFF };

enum opt_id {
    OPT_LISTEN = 1, OPT_STORE, OPT_LIMITS, OPT_CONFIG, OPT_RETIRED, OPT_THREADS, OPT_WORKERS,
    OPT_QUEUE_MAX, OPT_BLOCKING_THREADS, OPT_THROTTLE,
    OPT_CONSOLE_TIMEOUT, OPT_WAKE_SETTLE, OPT_JPEG_QUALITY, OPT_JPEG_SUBSAMPLING, OPT_MAX_BODY,
    OPT_MAX_CONNECTIONS, OPT_CONNECTION_TIMEOUT, OPT_LOG_LEVEL, OPT_CHECK, OPT_HELP, OPT_VERSION,
    OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_PRIORITIES, OPT_AUDIT_LOG, OPT_USER, OPT_SECCOMP,
    OPT_NO_SECCOMP, OPT_TRUSTED_PROXY, OPT_MASTER_KEY, OPT_STORE_CACHE
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"store", required_argument, NULL, OPT_STORE},
    {"master-key", required_argument, NULL, OPT_MASTER_KEY},
    {"store-cache", required_argument, NULL, OPT_STORE_CACHE},
    {"limits", required_argument, NULL, OPT_LIMITS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"retired-types", required_argument, NULL, OPT_RETIRED},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"queue-max", required_argument, NULL, OPT_QUEUE_MAX},
    {"blocking-threads", required_argument, NULL, OPT_BLOCKING_THREADS},
    {"throttle-ms", required_argument, NULL, OPT_THROTTLE},
    {"console-timeout-ms", required_argument, NULL, OPT_CONSOLE_TIMEOUT},
    {"wake-settle-ms", required_argument, NULL, OPT_WAKE_SETTLE},
    {"jpeg-quality", required_argument, NULL, OPT_JPEG_QUALITY},
    {"jpeg-subsampling", required_argument, NULL, OPT_JPEG_SUBSAMPLING},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"connection-timeout", required_argument, NULL, OPT_CONNECTION_TIMEOUT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-priorities", required_argument, NULL, OPT_TLS_PRIORITIES},
    {"audit-log", required_argument, NULL, OPT_AUDIT_LOG},
    {"user", required_argument, NULL, OPT_USER},
    {"seccomp", no_argument, NULL, OPT_SECCOMP},
    {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
    {"trusted-proxy", required_argument, NULL, OPT_TRUSTED_PROXY},
    {"check", no_argument, NULL, OPT_CHECK},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: ecshotd --listen HOST:PORT --store URL --master-key FILE [options]\n"
        "  --listen HOST:PORT          address to serve (port 0: any free port)\n"
        "  --store URL                 inventory: sqlite:PATH or postgresql://...\n"
        "  --store-cache N             AccessKeys, instances and policy sets kept in memory\n"
        "                              (up to N of each; 0: off; default 1024); exact, for\n"
        "                              backends that tell changes cheaply (SQLite)\n"
        "  --master-key FILE           the key file that seals AccessKey secrets and STS\n"
        "                              tokens (mode 0600; 'ecshot master-key create FILE');\n"
        "                              SIGHUP rereads it\n"
        "  --limits URL                throttle and nonce state: memory: (default) or\n"
        "                              redis://HOST:PORT[/DB], redis+unix:///PATH\n"
        "  --config FILE               options as 'name value' lines\n"
        "  --retired-types FILE        retired instance types (default: shipped list)\n"
        "  --threads N                 event-loop threads: each serves connections and runs\n"
        "                              their requests as fibers (default: number of cores)\n"
        "  --workers N                 the same as --threads (its name before 0.4)\n"
        "  --queue-max N               requests in progress before 503 (default 1024)\n"
        "  --blocking-threads N        threads for console backends whose library blocks\n"
        "                              (libvirt) (default: 8 per core, at least 16)\n"
        "  --throttle-ms MS            per-instance interval (default 10000)\n"
        "  --console-timeout-ms MS     deadline of each hypervisor exchange (default 3000)\n"
        "  --wake-settle-ms MS         time a woken guest gets to redraw (default 200)\n"
        "  --jpeg-quality Q            1..100 (default %d)\n"
        "  --jpeg-subsampling S        444, 422 or 420 (default %d)\n"
        "  --max-body BYTES            largest request body (default 65536)\n"
        "  --max-connections N         (default 1024)\n"
        "  --connection-timeout S      idle timeout, and the time a connection has to send\n"
        "                              a whole request (default 30)\n"
        "  --log-level L               error, warn, info or debug (default info)\n"
        "  --tls-cert FILE             serve HTTPS with this PEM chain (leaf first)...\n"
        "  --tls-key FILE              ...and this unencrypted PEM key; SIGHUP reloads both\n"
        "  --tls-priorities STRING     GnuTLS priorities (default: TLS 1.2+, AEAD, ECDHE)\n"
        "  --audit-log FILE            one JSON line per call, to FILE (mode 0600) or - for\n"
        "                              stderr; SIGHUP reopens FILE\n"
        "  --user NAME                 drop root for NAME once the port is bound\n"
        "  --seccomp / --no-seccomp    insist on / go without the system call filter\n"
        "                              (default: on when the kernel supports it)\n"
        "  --trusted-proxy CIDR        believe X-Forwarded-For from peers in CIDR (an\n"
        "                              address or network; repeatable): RAM's acs:SourceIp\n"
        "                              is then the client the proxies name\n"
        "  --check                     read the options, the config file and the master key\n"
        "                              file, then exit\n",
        JPEG_DEFAULT_QUALITY, JPEG_DEFAULT_SUBSAMPLING);
}

static int parse_long(const char *name, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        log_error("--%s: '%s' is not a number in %ld..%ld", name, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_level(const char *text, int *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return 0;
        }
    log_error("--log-level: '%s' is not error, warn, info or debug", text);
    return -1;
}

/* One more network of proxies whose X-Forwarded-For is believed. */
static int add_trusted_proxy(daemon_config *c, const char *text)
{
    cidr net;
    if (cidr_parse(text, &net) < 0) {
        log_error("--trusted-proxy: '%s' is not an IPv4 or IPv6 address or ADDRESS/BITS network",
                  text);
        return -1;
    }
    if (cidr_list_add(&c->trusted_proxies, &net) < 0) {
        log_error("--trusted-proxy: out of memory");
        return -1;
    }
    return 0;
}

static int replace_string(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static int apply_option(daemon_config *c, int id, const char *value);

/* Reads "name value" lines; returns 0 or -1 (logged). */
static int load_config_file(daemon_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("cannot open config %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        /* "name value" or "name = value"; the value runs to the end of the
         * line, since URLs hold '=' and '&'. */
        char *name = line + strspn(line, " \t");
        size_t name_len = strcspn(name, " \t\r\n=");
        if (name_len == 0)
            continue;
        char *value = name + name_len;
        value += strspn(value, " \t");
        if (*value == '=')
            value += 1 + strspn(value + 1, " \t");
        name[name_len] = '\0';
        size_t value_len = strlen(value);
        while (value_len && strchr(" \t\r\n", value[value_len - 1]))
            value[--value_len] = '\0';
        if (value_len == 0)
            value = NULL;
        const struct option *o = long_options;
        while (o->name && strcmp(o->name, name) != 0)
            o++;
        int is_switch = o->name && o->has_arg == no_argument && o->val != OPT_CHECK &&
                        o->val != OPT_HELP && o->val != OPT_VERSION;
        if (!o->name || o->val == OPT_CONFIG || (is_switch ? value != NULL : !value)) {
            log_error("%s:%u: unknown option or missing value '%s'", path, lineno, name);
            rc = -1;
        } else {
            rc = apply_option(c, o->val, value);
        }
    }
    fclose(f);
    return rc;
}

static int apply_option(daemon_config *c, int id, const char *v)
{
    switch (id) {
    case OPT_LISTEN: return replace_string(&c->listen, v);
    case OPT_STORE: return replace_string(&c->store_url, v);
    case OPT_MASTER_KEY: return replace_string(&c->master_key, v);
    case OPT_LIMITS: return replace_string(&c->limits_url, v);
    case OPT_RETIRED: return replace_string(&c->retired_path, v);
    case OPT_CONFIG: return load_config_file(c, v);
    case OPT_THREADS: return parse_long("threads", v, 0, 1024, &c->threads);
    case OPT_WORKERS: return parse_long("workers", v, 1, 4096, &c->threads);
    case OPT_QUEUE_MAX: return parse_long("queue-max", v, 1, 1000000, &c->queue_max);
    case OPT_STORE_CACHE: return parse_long("store-cache", v, 0, 1 << 20, &c->store_cache);
    case OPT_BLOCKING_THREADS:
        return parse_long("blocking-threads", v, 1, 4096, &c->blocking_threads);
    case OPT_THROTTLE: return parse_long("throttle-ms", v, 0, 86400000, &c->throttle_ms);
    case OPT_CONSOLE_TIMEOUT:
        return parse_long("console-timeout-ms", v, 10, 600000, &c->console_timeout_ms);
    case OPT_WAKE_SETTLE: return parse_long("wake-settle-ms", v, 0, 10000, &c->wake_settle_ms);
    case OPT_JPEG_QUALITY: return parse_long("jpeg-quality", v, 1, 100, &c->jpeg_quality);
    case OPT_JPEG_SUBSAMPLING:
        if (parse_long("jpeg-subsampling", v, 0, 444, &c->jpeg_subsampling) < 0)
            return -1;
        if (c->jpeg_subsampling != 444 && c->jpeg_subsampling != 422 &&
            c->jpeg_subsampling != 420) {
            log_error("--jpeg-subsampling: use 444, 422 or 420");
            return -1;
        }
        return 0;
    case OPT_MAX_BODY: return parse_long("max-body", v, 1024, 64L << 20, &c->max_body);
    case OPT_MAX_CONNECTIONS:
        return parse_long("max-connections", v, 1, 1000000, &c->max_connections);
    case OPT_CONNECTION_TIMEOUT:
        return parse_long("connection-timeout", v, 1, 3600, &c->connection_timeout_s);
    case OPT_LOG_LEVEL: return parse_level(v, &c->log_level);
    case OPT_TLS_CERT: return replace_string(&c->tls_cert, v);
    case OPT_TLS_KEY: return replace_string(&c->tls_key, v);
    case OPT_TLS_PRIORITIES: return replace_string(&c->tls_priorities, v);
    case OPT_AUDIT_LOG: return replace_string(&c->audit_log, v);
    case OPT_USER: return replace_string(&c->user, v);
    case OPT_SECCOMP: c->seccomp = SECCOMP_ON; return 0;
    case OPT_NO_SECCOMP: c->seccomp = SECCOMP_OFF; return 0;
    case OPT_TRUSTED_PROXY: return add_trusted_proxy(c, v);
    default: return -1;
    }
}

/* The shipped list: installed copy first, then the source tree's (for a
 * daemon run from its build directory). */
static const char *default_retired_path(void)
{
    static const char *const candidates[] = {
        ECSHOT_DATADIR "/retired-instance-types.txt",
        ECSHOT_SOURCE_DATADIR "/retired-instance-types.txt",
    };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return candidates[0];
}

static time_t wall_clock(void)
{
    return time(NULL);
}

static void config_free(daemon_config *c)
{
    free(c->listen);
    free(c->store_url);
    free(c->master_key);
    free(c->limits_url);
    free(c->retired_path);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->tls_priorities);
    free(c->audit_log);
    free(c->user);
    cidr_list_free(&c->trusted_proxies);
}

/* Whether the command line and the config file make sense together. */
static int config_consistent(const daemon_config *c)
{
    if (!c->listen || !c->store_url) {
        log_error("--listen and --store are required");
        return 0;
    }
    if (!c->master_key) {
        log_error("--master-key FILE is required: the key that seals AccessKey secrets "
                  "(make one with 'ecshot master-key create FILE')");
        return 0;
    }
    if (!c->tls_cert != !c->tls_key) {
        log_error("--tls-cert and --tls-key go together");
        return 0;
    }
    if (c->tls_priorities && !c->tls_cert) {
        log_error("--tls-priorities needs --tls-cert and --tls-key");
        return 0;
    }
    return 1;
}

/* Installs the seccomp filter as --seccomp / --no-seccomp say; 0 or -1. */
static int apply_seccomp(int mode)
{
    if (mode == SECCOMP_OFF) {
        log_info("seccomp: off (--no-seccomp)");
        return 0;
    }
    if (sandbox_apply() == 0) {
        log_info("seccomp: system call filter on");
        return 0;
    }
    if (mode == SECCOMP_ON)
        return -1;
    log_warn("seccomp: running without a system call filter (--seccomp makes this fatal)");
    return 0;
}

/* Says whose X-Forwarded-For is believed; a network holding every address
 * lets any client name its own acs:SourceIp, which deserves a warning. */
static void report_trusted_proxies(const cidr_list *proxies)
{
    char text[CIDR_ADDRESS_TEXT_MAX];
    for (size_t i = 0; i < proxies->count; i++) {
        const cidr *net = &proxies->items[i];
        cidr_address_text(net, text, sizeof text);
        log_info("X-Forwarded-For believed from %s/%u", text, net->bits);
        if (net->bits == 0)
            log_warn("--trusted-proxy %s/0 trusts every peer: any client can choose its "
                     "acs:SourceIp", text);
    }
}

/* The master key file, or NULL and one logged line on why not. */
static secret_keyring *load_master_key(const char *path)
{
    buf why = BUF_INIT;
    secret_keyring *ring = secret_keyring_load(path, &why);
    if (!ring)
        log_error("%s", buf_cstr(&why));
    buf_free(&why);
    return ring;
}

/* SIGHUP: the key file again. Workers use the ring throughout: the swap is
 * the ring's own (secret_keyring_reload), and a refused file changes nothing. */
static void reload_master_key(secret_keyring *ring, const char *path)
{
    buf why = BUF_INIT;
    if (secret_keyring_reload(ring, path, &why) == 0)
        log_info("master key: reloaded; new secrets are sealed under %s",
                 secret_keyring_fingerprint(ring));
    else
        log_error("%s; keeping the master keys loaded before", buf_cstr(&why));
    buf_free(&why);
}

/* Waits for signals: SIGHUP reloads, SIGINT and SIGTERM end the wait.
 * The certificate and the master key are reloaded before the audit log is
 * reopened, so that a reopened log tells whoever sent the SIGHUP that all
 * are done. */
static int serve_until_stopped(const sigset_t *signals, http_server *srv, audit_log *audit,
                               int tls, secret_keyring *ring, const char *master_key, store *store)
{
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        log_info("SIGHUP: reloading");
        if (tls && http_server_reload_tls(srv) == 0)
            log_info("tls: new connections get the reloaded certificate");
        reload_master_key(ring, master_key);
        /* Cached AccessKeys hold secrets opened with the keys before. */
        store_cache_drop(store);
        if (audit && audit_reopen(audit) == 0)
            log_info("audit: log reopened");
    }
}

int main(int argc, char **argv)
{
    daemon_config cfg = {
        .threads = 0,
        .queue_max = 1024,
        .store_cache = 1024,
        .throttle_ms = SCREENSHOT_THROTTLE_MS,
        .console_timeout_ms = 3000,
        .wake_settle_ms = 200,
        .jpeg_quality = JPEG_DEFAULT_QUALITY,
        .jpeg_subsampling = JPEG_DEFAULT_SUBSAMPLING,
        .max_body = 65536,
        .max_connections = 1024,
        .connection_timeout_s = 30,
        .log_level = LOG_INFO,
        .seccomp = SECCOMP_AUTO,
    };
    int opt, check_only = 0;
    while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        if (opt == OPT_CHECK) {
            check_only = 1;
            continue;
        }
        if (opt == OPT_HELP) {
            usage(stdout);
            config_free(&cfg);
            return 0;
        }
        if (opt == OPT_VERSION) {
            printf("ecshotd %s\n", ECSHOT_VERSION);
            config_free(&cfg);
            return 0;
        }
        if (opt == '?' || apply_option(&cfg, opt, optarg) < 0) {
            usage(stderr);
            config_free(&cfg);
            return 2;
        }
    }
    if (optind != argc || !config_consistent(&cfg)) {
        usage(stderr);
        config_free(&cfg);
        return 2;
    }
    log_set_level((enum log_level)cfg.log_level);
    if (check_only) {
        secret_keyring *ring = load_master_key(cfg.master_key);
        if (ring)
            printf("ecshotd: configuration OK (listen %s, store %.*s, master key %s)\n",
                   cfg.listen, (int)strcspn(cfg.store_url, ":"), cfg.store_url,
                   secret_keyring_fingerprint(ring));
        secret_keyring_free(ring);
        config_free(&cfg);
        return ring ? 0 : 1;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Block the signals before any thread starts, so that they all inherit
     * the mask and only sigwait below sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    int status = 1;
    api_service svc = {0};
    console_pool *consoles = NULL;
    retired_types *retired = NULL;
    secret_keyring *ring = NULL;
    http_server *srv = NULL;
    const char *retired_path = cfg.retired_path ? cfg.retired_path : default_retired_path();

    int listen_fd = http_listen(cfg.listen);
    if (listen_fd < 0)
        goto out;
    if (cfg.user) {
        if (sandbox_drop_privileges(cfg.user) < 0) {
            close(listen_fd);
            goto out;
        }
    } else if (geteuid() == 0) {
        log_warn("running as root: consider --user");
    }
    if (!(ring = load_master_key(cfg.master_key)) ||
        (cfg.audit_log && !(svc.audit = audit_open(cfg.audit_log)))) {
        close(listen_fd);
        goto out;
    }

    /* One ring for the store's AccessKey secrets and for STS tokens: a
     * reload (SIGHUP) changes both at once. */
    svc.auth.keyring = ring;
    svc.auth.store = store_open(cfg.store_url);
    if (svc.auth.store) {
        store_set_keyring(svc.auth.store, ring);
        if (cfg.store_cache > 0 &&
            store_cache_enable(svc.auth.store, (size_t)cfg.store_cache) == STORE_ERROR) {
            close(listen_fd);
            goto out;
        }
    }
    svc.auth.limits = limits_open(cfg.limits_url ? cfg.limits_url : "memory:");
    svc.auth.now = wall_clock;
    retired = retired_types_load(retired_path);
    consoles = console_pool_new((int)cfg.console_timeout_ms);
    if (!svc.auth.store || !svc.auth.limits || !retired || !consoles) {
        close(listen_fd);
        goto out;
    }
    svc.ops = (ops_context){
        .store = svc.auth.store,
        .limits = svc.auth.limits,
        .consoles = consoles,
        .retired = retired,
        .jpeg = {(int)cfg.jpeg_quality, (int)cfg.jpeg_subsampling},
        .throttle_ms = cfg.throttle_ms,
        .wake_settle_ms = (int)cfg.wake_settle_ms,
    };

    http_server_config hc = {
        .listen = cfg.listen,
        .listen_fd = listen_fd,
        .threads = (unsigned)cfg.threads,
        .queue_max = (size_t)cfg.queue_max,
        .blocking_threads = (unsigned)cfg.blocking_threads,
        .max_body = (size_t)cfg.max_body,
        .max_target = 16384,
        /* libmicrohttpd's pool per connection: the whole request head, its
         * index of headers and query arguments, and the answer's head. It
         * zeroes all of it after every request and an idle keep-alive
         * connection keeps it touched, so it is sized to what a 16 KiB
         * target needs (with about 470 query arguments), not larger. */
        .max_headers = 32768,
        .connection_timeout_s = (unsigned)cfg.connection_timeout_s,
        .max_connections = (unsigned)cfg.max_connections,
        .handler = api_handle,
        .handler_ctx = &svc,
        .tls_cert = cfg.tls_cert,
        .tls_key = cfg.tls_key,
        .tls_priorities = cfg.tls_priorities,
        .trusted_proxies = &cfg.trusted_proxies,
    };
    srv = http_server_start(&hc); /* owns listen_fd from here, started or not */
    if (!srv || apply_seccomp(cfg.seccomp) < 0)
        goto out;
    char host[128];
    const char *colon = strrchr(cfg.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - cfg.listen), cfg.listen);
    printf("ecshotd: listening on %s:%u\n", host, http_server_port(srv));
    fflush(stdout);
    /* A store URL may hold a password: only an SQLite path is shown whole. */
    int store_shown = strncmp(cfg.store_url, "sqlite:", 7) == 0
                          ? (int)strlen(cfg.store_url)
                          : (int)strcspn(cfg.store_url, ":");
    log_info("serving %s; store %.*s, master key %s, %zu retired instance types",
             cfg.tls_cert ? "HTTPS" : "HTTP", store_shown, cfg.store_url,
             secret_keyring_fingerprint(ring), retired_types_count(retired));
    report_trusted_proxies(&cfg.trusted_proxies);

    int sig = serve_until_stopped(&signals, srv, svc.audit, cfg.tls_cert != NULL, ring,
                                  cfg.master_key, svc.auth.store);
    log_info("signal %d: stopping", sig);
    status = 0;
out:
    http_server_stop(srv);
    console_pool_free(consoles);
    retired_types_free(retired);
    limits_close(svc.auth.limits);
    store_close(svc.auth.store);
    secret_keyring_free(ring); /* after the store, and the workers, are gone */
    audit_close(svc.audit);
    config_free(&cfg);
    return status;
}
