/* console.c: VM states, the backend table and the pool of console connections.
 *
 * The pool keeps one connection per console URL, because QEMU serves one
 * client per QMP socket. Entries sit in an array sorted by URL under a pool
 * mutex that is held only to find or add an entry, never during I/O. Each
 * entry has a lock of its own that serialises the exchanges on its
 * connection; it is taken with a deadline, so the callers of a hung VM wait
 * at most the pool's timeout and callers of other VMs not at all. One call
 * (waiting for the entry, connecting, exchanging) fits in one timeout.
 *
 * Calls come from request fibers (see fiber/fiber.h): the entry lock is a
 * fiber_mutex, held while the exchange parks on the VM's socket, and a
 * backend whose library blocks its thread (driver->blocking) is called
 * through fiber_run_blocking, so that no event loop ever waits on a VM. */
#include "console/console.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console/backends.h"
#include "fiber/fiber.h"
#include "util/log.h"
#include "util/timeutil.h"

/* ---- states -------------------------------------------------------------- */

const char *vm_state_name(vm_state s)
{
    switch (s) {
    case VM_RUNNING:
        return "running";
    case VM_PAUSED:
        return "paused";
    case VM_SUSPENDED:
        return "suspended";
    case VM_SHUTDOWN:
        return "shutdown";
    case VM_PRELAUNCH:
        return "prelaunch";
    case VM_INMIGRATE:
        return "inmigrate";
    case VM_INTERNAL_ERROR:
        return "internal-error";
    case VM_OTHER:
        break;
    }
    return "other";
}

const char *vm_state_ecs_status(vm_state s)
{
    switch (s) {
    case VM_RUNNING:
    case VM_PAUSED:
    case VM_SUSPENDED:
        return "Running";
    case VM_PRELAUNCH:
    case VM_INMIGRATE:
        return "Starting";
    default:
        return "Stopped";
    }
}

/* ---- backends ------------------------------------------------------------ */

typedef struct backend {
    const char *scheme;
    const console_driver *driver; /* linked in; NULL: in module */
    const char *module;
    const char *symbol;
    int (*target_valid)(const char *target);
} backend;

/* One line per backend. */
static const backend backends[] = {
    {"qmp:", &qmp_driver, NULL, NULL, qmp_target_valid},
    {"libvirt:", NULL, LIBVIRT_MODULE, LIBVIRT_DRIVER_SYMBOL, libvirt_target_valid},
};

/* The backend's driver, from its module the first time; NULL when the
 * module cannot be loaded (logged). */
static const console_driver *backend_driver(const backend *b)
{
    return b->driver ? b->driver : console_module_symbol(b->module, b->symbol);
}

/* The backend for url and, through *target, the part after its scheme. */
static const backend *backend_for(const char *url, const char **target)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const char *scheme = backends[i].scheme;
        size_t n = strlen(scheme);
        if (strncmp(url, scheme, n) == 0 && backends[i].target_valid(url + n)) {
            *target = url + n;
            return &backends[i];
        }
    }
    return NULL;
}

int console_url_valid(const char *url)
{
    const char *target;
    return url && backend_for(url, &target) != NULL;
}

/* ---- pool ---------------------------------------------------------------- */

typedef struct pool_entry {
    char *url;
    const console_driver *driver;
    const char *target;      /* inside url */
    fiber_mutex lock;        /* serialises exchanges on conn */
    console_conn *conn;      /* NULL while not connected */
} pool_entry;

struct console_pool {
    int timeout_ms;
    pthread_mutex_t lock;    /* guards entries, n and cap */
    pool_entry **entries;    /* sorted by url; an entry never moves or goes */
    size_t n;
    size_t cap;
};

console_pool *console_pool_new(int timeout_ms)
{
    console_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    return p;
}

static void entry_free(pool_entry *e)
{
    if (e->conn)
        e->driver->disconnect(e->conn);
    fiber_mutex_destroy(&e->lock);
    free(e->url);
    free(e);
}

void console_pool_free(console_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        entry_free(p->entries[i]);
    free(p->entries);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Index of url in the sorted array, or where it would go (*found = 0). */
static size_t entry_index(const console_pool *p, const char *url, int *found)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(p->entries[mid]->url, url);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static pool_entry *entry_new(const char *url)
{
    const char *target;
    const backend *b = backend_for(url, &target);
    if (!b) {
        log_error("console: no backend accepts %s", url);
        return NULL;
    }
    const console_driver *driver = backend_driver(b);
    if (!driver)
        return NULL;
    pool_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->url = strdup(url);
    if (!e->url || fiber_mutex_init(&e->lock) != 0) {
        free(e->url);
        free(e);
        return NULL;
    }
    e->driver = driver;
    e->target = e->url + (target - url);
    return e;
}

/* The entry for url, added on first use; NULL for an unusable URL or when
 * memory ran out. */
static pool_entry *entry_get(console_pool *p, const char *url)
{
    pthread_mutex_lock(&p->lock);
    int found;
    size_t at = entry_index(p, url, &found);
    pool_entry *e = found ? p->entries[at] : NULL;
    if (!found && p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        pool_entry **grown = realloc(p->entries, cap * sizeof *grown);
        if (grown) {
            p->entries = grown;
            p->cap = cap;
        }
    }
    if (!found && p->n < p->cap && (e = entry_new(url)) != NULL) {
        memmove(p->entries + at + 1, p->entries + at, (p->n - at) * sizeof *p->entries);
        p->entries[at] = e;
        p->n++;
    }
    pthread_mutex_unlock(&p->lock);
    return e;
}

/* Milliseconds left before deadline (monotonic), 0 when it has passed. */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - clock_monotonic_ms();
    return left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Takes the entry's lock, waiting until the deadline at most. */
static int entry_lock(pool_entry *e, int64_t deadline)
{
    return fiber_mutex_lock_until(&e->lock, deadline) == 0 ? CONSOLE_OK : CONSOLE_TIMEOUT;
}

/* One request to a connected console. */
typedef int (*exchange_fn)(const console_driver *d, console_conn *c, int timeout_ms, void *arg);

static int entry_connect(pool_entry *e, int64_t deadline)
{
    int left = ms_left(deadline);
    if (left == 0)
        return CONSOLE_TIMEOUT;
    return e->driver->connect(e->target, left, &e->conn);
}

static void entry_drop(pool_entry *e)
{
    e->driver->disconnect(e->conn);
    e->conn = NULL;
}

/* Runs fn on the entry's connection, connecting first if needed. A failed
 * exchange drops the connection so the next call starts afresh. When a
 * connection kept from an earlier call turns out to lead nowhere (its QEMU
 * exited; a new one may listen on the same path now) the exchange gets one
 * more try on a new connection before the VM is declared gone. */
static int entry_exchange(pool_entry *e, int64_t deadline, exchange_fn fn, void *arg)
{
    int reused = e->conn != NULL;
    int r = reused ? CONSOLE_OK : entry_connect(e, deadline);
    if (r != CONSOLE_OK)
        return r;
    int left = ms_left(deadline);
    r = left ? fn(e->driver, e->conn, left, arg) : CONSOLE_TIMEOUT;
    if (r == CONSOLE_OK)
        return r;
    entry_drop(e);
    if (r != CONSOLE_GONE || !reused)
        return r;

    log_debug("console %s: connection was stale, reconnecting", e->url);
    r = entry_connect(e, deadline);
    if (r != CONSOLE_OK)
        return r;
    left = ms_left(deadline);
    r = left ? fn(e->driver, e->conn, left, arg) : CONSOLE_TIMEOUT;
    if (r != CONSOLE_OK)
        entry_drop(e);
    return r;
}

/* One call on one entry: wait for it, exchange, let it go. */
typedef struct pool_call {
    pool_entry *entry;
    int64_t deadline;
    exchange_fn fn;
    void *arg;
    int result;
} pool_call;

static void run_call(void *arg)
{
    pool_call *call = arg;
    call->result = entry_lock(call->entry, call->deadline);
    if (call->result != CONSOLE_OK)
        return;
    call->result = entry_exchange(call->entry, call->deadline, call->fn, call->arg);
    fiber_mutex_unlock(&call->entry->lock);
}

static int pool_run(console_pool *p, const char *url, exchange_fn fn, void *arg)
{
    if (!p || !url)
        return CONSOLE_ERROR;
    pool_call call = {entry_get(p, url), clock_monotonic_ms() + p->timeout_ms, fn, arg,
                      CONSOLE_ERROR};
    if (!call.entry)
        return CONSOLE_ERROR;
    if (call.entry->driver->blocking)
        fiber_run_blocking(run_call, &call);
    else
        run_call(&call);
    return call.result;
}

static int do_query_state(const console_driver *d, console_conn *c, int timeout_ms, void *arg)
{
    return d->query_state(c, timeout_ms, arg);
}

static int do_wake(const console_driver *d, console_conn *c, int timeout_ms, void *arg)
{
    (void)arg;
    return d->wake(c, timeout_ms);
}

static int do_capture(const console_driver *d, console_conn *c, int timeout_ms, void *arg)
{
    return d->capture(c, timeout_ms, arg);
}

int console_query_state(console_pool *p, const char *url, vm_state *out)
{
    return pool_run(p, url, do_query_state, out);
}

int console_wake(console_pool *p, const char *url)
{
    return pool_run(p, url, do_wake, NULL);
}

int console_capture(console_pool *p, const char *url, frame *out)
{
    memset(out, 0, sizeof *out); /* releasing a failed capture is harmless */
    return pool_run(p, url, do_capture, out);
}
