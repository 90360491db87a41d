/* libvirt.c: the "libvirt:" console backend, a domain reached through libvirt.
 *
 * A console URL "libvirt:URI#DOMAIN" names a libvirt connection URI (any:
 * qemu:///system on this host, qemu+tcp://, qemu+tls:// or qemu+ssh://
 * to another one, test:///default) and a domain by name. The URI ends at
 * the first '#'; the rest is the domain's name.
 *
 * Connections. Every domain of one URI shares one virConnect (a "host"
 * here), which libvirt lets many threads use at once. Hosts are counted
 * references: each console_conn and each running call holds one, and the
 * last to let go closes the connection. A host whose connection died (the
 * daemon restarted, the peer stopped answering keep-alives) is reopened by
 * the next call that needs it; a console_conn made on the old connection
 * reports CONSOLE_GONE once, which makes console.c reconnect it.
 * Keep-alives need an event loop: the first use of the backend registers
 * libvirt's default implementation and runs it on a thread of its own.
 *
 * Deadlines. libvirt calls block, and a hung domain (or daemon) can hold
 * one for a long time. So every call that may go to the daemon runs on a
 * helper thread (a "job") while the caller waits for it until its
 * deadline. A caller that gives up gets CONSOLE_TIMEOUT at once; the job
 * finishes on its own later, sees that nobody waits any more and frees
 * what it produced. A job holds its own references to the host, the
 * connection and the domain, so nothing it uses can go away under it.
 * At most LV_JOBS_PER_HOST_MAX jobs may run per host: past that, calls time
 * out at once instead of piling up threads behind a host that hangs.
 * For remote URIs the keep-alive (LV_KEEPALIVE_*) is what eventually ends
 * the calls of a peer that is gone; libvirt's own job timeout (30 s in the
 * QEMU driver) ends those of a hung domain.
 *
 * Credentials. Nobody can be asked for a password: SASL user names and
 * passwords come from libvirt's auth.conf (LIBVIRT_AUTH_FILE,
 * $XDG_CONFIG_HOME/libvirt/auth.conf or /etc/libvirt/auth.conf), TLS
 * certificates from libvirt's usual places, SSH from keys.
 *
 * Errors. libvirt's messages go to the operator's log only. A domain that
 * is not there (or not running) and a daemon that cannot be reached are
 * CONSOLE_GONE, libvirt's own timeouts CONSOLE_TIMEOUT, the rest
 * CONSOLE_ERROR. */
#include "console/backends.h"

#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"
#include "util/log.h"
#include "util/timeutil.h"

/* A keep-alive every 3 s; a peer that missed 3 in a row is dropped. */
#define LV_KEEPALIVE_INTERVAL_S 3
#define LV_KEEPALIVE_COUNT 3
/* Helper threads allowed to run at once per host (see above). */
#define LV_JOBS_PER_HOST_MAX 64
/* Largest screenshot accepted: the biggest PPM a frame can be. */
#define LV_SCREENSHOT_MAX ((size_t)FRAME_MAX_DIM * FRAME_MAX_DIM * 3 + 4096)
#define LV_STREAM_CHUNK ((size_t)256 * 1024)
/* How often a woken domain's state is read again until it runs. */
#define LV_WAKE_POLL_MS 5
/* Linux input keycode of the left Shift key (linux/input-event-codes.h). */
#define LV_KEY_LEFTSHIFT 42
/* The longest domain name accepted in a console URL. */

/* ---- the library and its event loop ---------------------------------------- */

static pthread_once_t lv_once = PTHREAD_ONCE_INIT;
static int lv_ready;

/* libvirt prints every error to stderr unless told otherwise; ecshot logs
 * the ones it cares about itself, in one line, with the console it was for. */
static void lv_quiet(void *opaque, virErrorPtr err)
{
    (void)opaque;
    (void)err;
}

static void *lv_event_loop(void *arg)
{
    (void)arg;
    for (;;) {
        if (virEventRunDefaultImpl() < 0) {
            log_error("libvirt: event loop: %s", virGetLastErrorMessage());
            return NULL;
        }
    }
}

static void lv_init(void)
{
    if (virInitialize() < 0) {
        log_error("libvirt: cannot initialise the library");
        return;
    }
    virSetErrorFunc(NULL, lv_quiet);
    if (virEventRegisterDefaultImpl() < 0) {
        log_error("libvirt: event loop: %s", virGetLastErrorMessage());
        return;
    }
    pthread_attr_t attr;
    pthread_t t;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &attr, lv_event_loop, NULL);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        log_error("libvirt: event loop thread: %s", strerror(rc));
        return;
    }
    lv_ready = 1;
}

/* Nobody is there to type a password: credentials not found in auth.conf
 * make the authentication fail. */
static int lv_no_prompt(virConnectCredentialPtr cred, unsigned int ncred, void *cbdata)
{
    (void)cred;
    (void)ncred;
    (void)cbdata;
    return -1;
}

static int lv_credential_types[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE};

static virConnectAuth lv_auth = {
    lv_credential_types, sizeof lv_credential_types / sizeof lv_credential_types[0],
    lv_no_prompt, NULL,
};


/* ---- hosts ------------------------------------------------------------------- */

typedef struct lv_host {
    struct lv_host *next;
    char *uri;
    unsigned refs;           /* guarded by hosts_lock */
    pthread_mutex_t lock;    /* guards everything below */
    pthread_cond_t opened;   /* open_gen moved */
    virConnectPtr conn;      /* NULL when not open */
    int opening;             /* an open job runs */
    unsigned open_gen;       /* opens finished so far */
    int open_result;         /* the last one's console_result */
    unsigned jobs;           /* helper threads running */
} lv_host;

static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static lv_host *hosts;

static lv_host *host_new(const char *uri)
{
    lv_host *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->uri = strdup(uri);
    if (!h->uri || pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h->uri);
        free(h);
        return NULL;
    }
    if (cond_init_monotonic(&h->opened) < 0) {
        pthread_mutex_destroy(&h->lock);
        free(h->uri);
        free(h);
        return NULL;
    }
    return h;
}

/* The host of uri with a reference for the caller; NULL when out of memory. */
static lv_host *host_get(const char *uri)
{
    pthread_mutex_lock(&hosts_lock);
    lv_host *h = hosts;
    while (h && strcmp(h->uri, uri) != 0)
        h = h->next;
    if (!h && (h = host_new(uri)) != NULL) {
        h->next = hosts;
        hosts = h;
    }
    if (h)
        h->refs++;
    pthread_mutex_unlock(&hosts_lock);
    return h;
}

static void host_ref(lv_host *h)
{
    pthread_mutex_lock(&hosts_lock);
    h->refs++;
    pthread_mutex_unlock(&hosts_lock);
}

/* Drops a reference; the last one closes the connection. Closing a live
 * remote connection is one round trip to its daemon, which answers it
 * without waiting for any domain. */
static void host_put(lv_host *h)
{
    pthread_mutex_lock(&hosts_lock);
    int last = --h->refs == 0;
    if (last) {
        lv_host **link = &hosts;
        while (*link != h)
            link = &(*link)->next;
        *link = h->next;
    }
    pthread_mutex_unlock(&hosts_lock);
    if (!last)
        return;
    if (h->conn)
        virConnectClose(h->conn);
    pthread_cond_destroy(&h->opened);
    pthread_mutex_destroy(&h->lock);
    free(h->uri);
    free(h);
}

/* What a failed virConnectOpen means for the caller. */
static int open_failure(const lv_host *h)
{
    const virError *e = virGetLastError();
    int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
    if (code == VIR_ERR_SYSTEM_ERROR) {
        /* No daemon listens there, or the host cannot be reached. */
        log_info("libvirt %s: cannot connect: %s", h->uri, virGetLastErrorMessage());
        return CONSOLE_GONE;
    }
    log_error("libvirt %s: cannot connect: %s", h->uri, virGetLastErrorMessage());
    return code == VIR_ERR_OPERATION_TIMEOUT ? CONSOLE_TIMEOUT : CONSOLE_ERROR;
}

/* The open job: connects, then hands the connection to the host, whether
 * or not anyone still waits for it. */
static void *open_thread(void *arg)
{
    lv_host *h = arg;
    int r = CONSOLE_OK;
    virConnectPtr c = virConnectOpenAuth(h->uri, &lv_auth, 0);
    if (!c)
        r = open_failure(h);
    else if (virConnectSetKeepAlive(c, LV_KEEPALIVE_INTERVAL_S, LV_KEEPALIVE_COUNT) < 0)
        log_debug("libvirt %s: no keep-alive: %s", h->uri, virGetLastErrorMessage());
    virResetLastError();

    pthread_mutex_lock(&h->lock);
    h->conn = c; /* NULL before: only one open runs, and only it sets conn */
    h->open_result = r;
    h->opening = 0;
    h->open_gen++;
    pthread_cond_broadcast(&h->opened);
    pthread_mutex_unlock(&h->lock);
    host_put(h);
    return NULL;
}

/* Starts an open job (h->lock held). */
static int start_open(lv_host *h)
{
    host_ref(h);
    pthread_attr_t attr;
    pthread_t t;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &attr, open_thread, h);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        log_error("libvirt %s: helper thread: %s", h->uri, strerror(rc));
        host_put(h); /* not the last reference: the caller holds one */
        return CONSOLE_ERROR;
    }
    h->opening = 1;
    return CONSOLE_OK;
}

/* The host's live connection, with a reference for the caller
 * (virConnectClose drops it). Opens it, or waits for an open in progress,
 * until the deadline. A connection found dead is let go first. */
static int host_connection(lv_host *h, int64_t deadline, virConnectPtr *out)
{
    virConnectPtr dead = NULL;
    int r = CONSOLE_OK;
    pthread_mutex_lock(&h->lock);
    if (h->conn && virConnectIsAlive(h->conn) != 1) {
        log_info("libvirt %s: connection lost, reconnecting", h->uri);
        dead = h->conn;
        h->conn = NULL;
    }
    if (!h->conn) {
        unsigned gen = h->open_gen;
        if (!h->opening)
            r = start_open(h);
        while (r == CONSOLE_OK && h->open_gen == gen)
            if (cond_wait_until(&h->opened, &h->lock, deadline) == ETIMEDOUT && h->open_gen == gen)
                r = CONSOLE_TIMEOUT;
        if (r == CONSOLE_OK && !h->conn)
            r = h->open_result != CONSOLE_OK ? h->open_result : CONSOLE_ERROR;
    }
    if (r == CONSOLE_OK) {
        virConnectRef(h->conn);
        *out = h->conn;
    }
    pthread_mutex_unlock(&h->lock);
    if (dead)
        virConnectClose(dead);
    return r;
}

/* ---- jobs: one blocking call on a helper thread -------------------------------- */

typedef struct lv_job lv_job;

struct lv_job {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int done;                /* the job has finished; result and outputs are set */
    int abandoned;           /* its caller stopped waiting: the job frees itself */
    int result;              /* console_result */
    int (*run)(lv_job *j);
    int64_t deadline;        /* for waits inside run */
    lv_host *host;           /* references held by the job */
    virConnectPtr conn;
    virDomainPtr dom;        /* NULL for a lookup */
    char *name;              /* the domain's name */
    /* outputs */
    virDomainPtr found;      /* lookup */
    vm_state state;          /* query_state */
    frame shot;              /* capture */
};

static void job_free(lv_job *j)
{
    pthread_cond_destroy(&j->done_cv);
    pthread_mutex_destroy(&j->lock);
    free(j->name);
    free(j);
}

/* Frees what a job produced that nobody will take. */
static void job_discard_outputs(lv_job *j)
{
    if (j->found)
        virDomainFree(j->found);
    j->found = NULL;
    frame_release(&j->shot);
}

static lv_job *job_new(lv_host *h, virConnectPtr conn, virDomainPtr dom, const char *name,
                       int (*run)(lv_job *), int64_t deadline)
{
    lv_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->name = strdup(name);
    if (!j->name || pthread_mutex_init(&j->lock, NULL) != 0) {
        free(j->name);
        free(j);
        return NULL;
    }
    if (cond_init_monotonic(&j->done_cv) < 0) {
        pthread_mutex_destroy(&j->lock);
        free(j->name);
        free(j);
        return NULL;
    }
    j->run = run;
    j->deadline = deadline;
    j->host = h;
    j->conn = conn;
    j->dom = dom;
    j->state = VM_OTHER;
    return j;
}

static void *job_thread(void *arg)
{
    lv_job *j = arg;
    int r = j->run(j);
    virResetLastError();

    /* Let go of what the job held before anyone can see it finished. */
    if (j->dom)
        virDomainFree(j->dom);
    virConnectClose(j->conn);
    lv_host *h = j->host;
    pthread_mutex_lock(&h->lock);
    h->jobs--;
    pthread_mutex_unlock(&h->lock);
    host_put(h);

    pthread_mutex_lock(&j->lock);
    j->result = r;
    j->done = 1;
    int abandoned = j->abandoned;
    if (!abandoned)
        pthread_cond_signal(&j->done_cv);
    pthread_mutex_unlock(&j->lock); /* the caller may free j from here on */
    if (abandoned) {
        job_discard_outputs(j);
        job_free(j);
    }
    return NULL;
}

/* Runs a job made by job_new (taking new references to what it uses) and
 * waits for it until the deadline. Returns its result with *jp still
 * pointing to it (the caller takes the outputs and calls job_free), or
 * CONSOLE_TIMEOUT with *jp NULL: the job is the thread's to free now. */
static int job_run(lv_job **jp, int64_t deadline)
{
    lv_job *j = *jp;
    lv_host *h = j->host;
    pthread_mutex_lock(&h->lock);
    int full = h->jobs >= LV_JOBS_PER_HOST_MAX;
    if (!full)
        h->jobs++;
    pthread_mutex_unlock(&h->lock);
    if (full) {
        log_warn("libvirt %s: %d calls still wait for the host; not starting another",
                 h->uri, LV_JOBS_PER_HOST_MAX);
        job_free(j);
        *jp = NULL;
        return CONSOLE_TIMEOUT;
    }
    host_ref(h);
    virConnectRef(j->conn);
    if (j->dom)
        virDomainRef(j->dom);

    pthread_attr_t attr;
    pthread_t t;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&t, &attr, job_thread, j);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        log_error("libvirt %s: helper thread: %s", h->uri, strerror(rc));
        if (j->dom)
            virDomainFree(j->dom);
        virConnectClose(j->conn);
        pthread_mutex_lock(&h->lock);
        h->jobs--;
        pthread_mutex_unlock(&h->lock);
        host_put(h);
        job_free(j);
        *jp = NULL;
        return CONSOLE_ERROR;
    }

    pthread_mutex_lock(&j->lock);
    while (!j->done)
        if (cond_wait_until(&j->done_cv, &j->lock, deadline) == ETIMEDOUT && !j->done)
            break;
    int done = j->done;
    if (!done)
        j->abandoned = 1;
    pthread_mutex_unlock(&j->lock);
    if (!done) {
        log_warn("libvirt %s#%s: no answer within the deadline", h->uri, j->name);
        *jp = NULL; /* j may be gone already */
        return CONSOLE_TIMEOUT;
    }
    return j->result;
}

/* What a failed call means (on the job's thread, where libvirt keeps the
 * error); logs libvirt's message. */
static int call_failure(lv_job *j, const char *what)
{
    const virError *e = virGetLastError();
    int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
    const char *msg = virGetLastErrorMessage();
    int r;
    if (code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID)
        r = CONSOLE_GONE; /* no such domain, or it is not running */
    else if (virConnectIsAlive(j->conn) != 1)
        r = CONSOLE_GONE; /* the connection dropped: the caller reconnects */
    else if (code == VIR_ERR_OPERATION_TIMEOUT)
        r = CONSOLE_TIMEOUT;
    else
        r = CONSOLE_ERROR;
    if (r == CONSOLE_GONE)
        log_info("libvirt %s#%s: %s: %s", j->host->uri, j->name, what, msg);
    else
        log_warn("libvirt %s#%s: %s: %s", j->host->uri, j->name, what, msg);
    return r;
}

/* ---- what the jobs do ---------------------------------------------------------- */

static int run_lookup(lv_job *j)
{
    j->found = virDomainLookupByName(j->conn, j->name);
    return j->found ? CONSOLE_OK : call_failure(j, "lookup");
}

/* libvirt's state (and why) as QEMU's run state would name it. */
static vm_state state_from_libvirt(int state, int reason)
{
    switch (state) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
    case VIR_DOMAIN_SHUTDOWN: /* the guest is shutting down: QEMU still runs it */
        return VM_RUNNING;
    case VIR_DOMAIN_PMSUSPENDED:
        return VM_SUSPENDED;
    case VIR_DOMAIN_SHUTOFF:
        return VM_SHUTDOWN;
    case VIR_DOMAIN_CRASHED:
        return VM_INTERNAL_ERROR;
    case VIR_DOMAIN_PAUSED:
        switch (reason) {
        case VIR_DOMAIN_PAUSED_STARTING_UP:
            return VM_PRELAUNCH;
        case VIR_DOMAIN_PAUSED_MIGRATION:
        case VIR_DOMAIN_PAUSED_POSTCOPY:
            return VM_INMIGRATE;
        case VIR_DOMAIN_PAUSED_SHUTTING_DOWN:
            return VM_SHUTDOWN;
        case VIR_DOMAIN_PAUSED_CRASHED:
            return VM_INTERNAL_ERROR;
        case VIR_DOMAIN_PAUSED_IOERROR:
        case VIR_DOMAIN_PAUSED_WATCHDOG:
        case VIR_DOMAIN_PAUSED_POSTCOPY_FAILED:
            return VM_OTHER; /* QEMU's io-error, watchdog, postmigrate */
        default:
            return VM_PAUSED;
        }
    default:
        return VM_OTHER;
    }
}

static int read_state(lv_job *j, vm_state *out)
{
    int state, reason;
    if (virDomainGetState(j->dom, &state, &reason, 0) < 0)
        return call_failure(j, "state");
    *out = state_from_libvirt(state, reason);
    return CONSOLE_OK;
}

static int run_state(lv_job *j)
{
    return read_state(j, &j->state);
}

/* libvirt marks the domain running when QEMU's WAKEUP event arrives, a
 * moment after virDomainPMWakeup returns: the state is read again every
 * LV_WAKE_POLL_MS (a local lookup in the daemon) until then. */
static int resume_from_s3(lv_job *j, vm_state *s)
{
    if (virDomainPMWakeup(j->dom, 0) < 0)
        return call_failure(j, "wake-up");
    for (;;) {
        int r = read_state(j, s);
        if (r != CONSOLE_OK || *s != VM_SUSPENDED)
            return r;
        if (clock_monotonic_ms() >= j->deadline)
            return CONSOLE_TIMEOUT;
        struct timespec pause = {0, LV_WAKE_POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* As the QMP backend: a suspended guest is woken, then a running one gets
 * a Shift press and release, which wakes a blanked screen and types
 * nothing. A domain that does not run afterwards gets no key. */
static int run_wake(lv_job *j)
{
    vm_state s;
    int r = read_state(j, &s);
    if (r == CONSOLE_OK && s == VM_SUSPENDED)
        r = resume_from_s3(j, &s);
    if (r == CONSOLE_OK && s == VM_RUNNING) {
        unsigned int keys[] = {LV_KEY_LEFTSHIFT};
        if (virDomainSendKey(j->dom, VIR_KEYCODE_SET_LINUX, 0, keys, 1, 0) < 0)
            r = call_failure(j, "send-key");
    }
    return r;
}

/* Reads the whole stream into a heap buffer of at most LV_SCREENSHOT_MAX. */
static int read_stream(lv_job *j, virStreamPtr st, uint8_t **out, size_t *out_len)
{
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < LV_STREAM_CHUNK) {
            size_t grown = cap ? cap * 2 : 4 * LV_STREAM_CHUNK;
            if (grown > LV_SCREENSHOT_MAX + LV_STREAM_CHUNK)
                grown = LV_SCREENSHOT_MAX + LV_STREAM_CHUNK;
            uint8_t *p = grown > cap ? realloc(data, grown) : NULL;
            if (!p) {
                log_error("libvirt %s#%s: screenshot larger than %zu bytes or out of memory",
                          j->host->uri, j->name, len);
                free(data);
                return CONSOLE_ERROR;
            }
            data = p;
            cap = grown;
        }
        int n = virStreamRecv(st, (char *)data + len, LV_STREAM_CHUNK);
        if (n < 0) {
            free(data);
            return call_failure(j, "screenshot stream");
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > LV_SCREENSHOT_MAX) {
            log_error("libvirt %s#%s: screenshot larger than %zu bytes", j->host->uri, j->name,
                      LV_SCREENSHOT_MAX);
            free(data);
            return CONSOLE_ERROR;
        }
    }
    *out = data;
    *out_len = len;
    return CONSOLE_OK;
}

static void release_heap(frame *f)
{
    free(f->owner_data);
    f->owner_data = NULL;
    f->owner_size = 0;
}

/* The image, by its first bytes rather than the MIME type the driver
 * claims: a PNG is decoded into a frame of its own, a PPM read in place. */
static int decode_screenshot(lv_job *j, const char *mime, uint8_t *data, size_t len)
{
    static const uint8_t png_magic[] = {0x89, 'P', 'N', 'G'};
    if (len >= sizeof png_magic && memcmp(data, png_magic, sizeof png_magic) == 0) {
        int rc = png_decode(data, len, &j->shot);
        free(data);
        if (rc == 0)
            return CONSOLE_OK;
    } else if (ppm_parse(data, len, &j->shot) == 0) {
        j->shot.release = release_heap;
        j->shot.owner_data = data;
        j->shot.owner_size = len;
        return CONSOLE_OK;
    } else {
        free(data);
    }
    memset(&j->shot, 0, sizeof j->shot);
    log_error("libvirt %s#%s: screenshot (%s, %zu bytes) is not a usable PNG or PPM",
              j->host->uri, j->name, mime, len);
    return CONSOLE_ERROR;
}

static int run_capture(lv_job *j)
{
    virStreamPtr st = virStreamNew(j->conn, 0);
    if (!st)
        return call_failure(j, "stream");
    char *mime = virDomainScreenshot(j->dom, st, 0, 0);
    if (!mime) {
        int r = call_failure(j, "screenshot");
        virStreamFree(st);
        return r;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int r = read_stream(j, st, &data, &len);
    if (r == CONSOLE_OK && virStreamFinish(st) < 0) {
        r = call_failure(j, "screenshot stream");
        free(data);
    } else if (r != CONSOLE_OK) {
        virStreamAbort(st);
    }
    virStreamFree(st);
    if (r == CONSOLE_OK)
        r = decode_screenshot(j, mime, data, len);
    free(mime);
    return r;
}

/* ---- the driver ------------------------------------------------------------------ */

struct console_conn {
    lv_host *host;           /* one reference each */
    virConnectPtr conn;      /* the connection dom was found on */
    virDomainPtr dom;
    char *name;
};

static int64_t deadline_after(int timeout_ms)
{
    return clock_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

static void lv_disconnect(console_conn *c)
{
    if (!c)
        return;
    if (c->dom)
        virDomainFree(c->dom);
    if (c->conn)
        virConnectClose(c->conn);
    if (c->host)
        host_put(c->host);
    free(c->name);
    free(c);
}

static int lv_connect(const char *target, int timeout_ms, console_conn **out)
{
    int64_t deadline = deadline_after(timeout_ms);
    pthread_once(&lv_once, lv_init);
    if (!lv_ready || !libvirt_target_valid(target))
        return CONSOLE_ERROR;
    const char *hash = strchr(target, '#');
    char *uri = strndup(target, (size_t)(hash - target));
    console_conn *c = calloc(1, sizeof *c);
    if (c)
        c->name = strdup(hash + 1);
    if (c && c->name && uri)
        c->host = host_get(uri);
    free(uri);
    if (!c || !c->host) {
        log_error("libvirt %s: out of memory", target);
        lv_disconnect(c);
        return CONSOLE_ERROR;
    }
    int r = host_connection(c->host, deadline, &c->conn);
    lv_job *j = NULL;
    if (r == CONSOLE_OK) {
        j = job_new(c->host, c->conn, NULL, c->name, run_lookup, deadline);
        r = j ? job_run(&j, deadline) : CONSOLE_ERROR;
    }
    if (j) {
        c->dom = j->found;
        j->found = NULL;
        job_free(j);
    }
    if (r == CONSOLE_OK && !c->dom)
        r = CONSOLE_ERROR;
    if (r != CONSOLE_OK) {
        lv_disconnect(c);
        return r;
    }
    *out = c;
    return CONSOLE_OK;
}

/* Runs one call on c's domain. A connection that died since c was made
 * means CONSOLE_GONE without a call: console.c then connects again, on the
 * host's new connection. */
static int lv_call(console_conn *c, int timeout_ms, int (*run)(lv_job *), lv_job **done)
{
    int64_t deadline = deadline_after(timeout_ms);
    if (virConnectIsAlive(c->conn) != 1) {
        log_info("libvirt %s#%s: connection lost", c->host->uri, c->name);
        return CONSOLE_GONE;
    }
    lv_job *j = job_new(c->host, c->conn, c->dom, c->name, run, deadline);
    if (!j) {
        log_error("libvirt %s#%s: out of memory", c->host->uri, c->name);
        return CONSOLE_ERROR;
    }
    int r = job_run(&j, deadline);
    *done = j;
    return r;
}

static int lv_query_state(console_conn *c, int timeout_ms, vm_state *out)
{
    lv_job *j = NULL;
    int r = lv_call(c, timeout_ms, run_state, &j);
    if (j) {
        if (r == CONSOLE_OK)
            *out = j->state;
        job_free(j);
    }
    return r;
}

static int lv_wake(console_conn *c, int timeout_ms)
{
    lv_job *j = NULL;
    int r = lv_call(c, timeout_ms, run_wake, &j);
    if (j)
        job_free(j);
    return r;
}

static int lv_capture(console_conn *c, int timeout_ms, frame *out)
{
    lv_job *j = NULL;
    int r = lv_call(c, timeout_ms, run_capture, &j);
    if (j) {
        if (r == CONSOLE_OK)
            *out = j->shot;
        else
            frame_release(&j->shot);
        job_free(j);
    }
    return r;
}

const console_driver libvirt_driver = {
    "libvirt:", lv_connect, lv_disconnect, lv_query_state, lv_wake, lv_capture,
    1, /* libvirt's API is synchronous */
};
