/* fiber.c: event-loop threads running tasks as fibers (see fiber.h).
 *
 * Each loop owns an epoll instance, an eventfd other threads write to wake
 * it, an inbox of new tasks and a ready list of parked fibers that someone
 * unparked. A fiber is a ucontext on an mmap'd stack with a guard page
 * below it (an overflow faults instead of writing over a neighbour);
 * finished fibers' stacks are kept for the next task, up to a few per loop.
 * A loop may also serve one event source (the HTTP server's daemon) on the
 * same epoll: it runs when its descriptor is ready, when its own timeout
 * passes, and after fibers ran, since they may have given it work (a
 * resumed connection) without making its descriptor ready. What it starts
 * with fiber_run_here runs at once, inside its run().
 *
 * The price of a switch: glibc's swapcontext also saves and restores the
 * signal mask, a system call each way; a request that never parks pays
 * for two switches (in and out), which the profiles show as about 1 %.
 *
 * Parking, in one place (park/unpark) for every kind of wait:
 *  - a fiber parks with an optional deadline and swaps to its loop;
 *  - unpark may come from any thread: under the loop's lock it puts a
 *    parked fiber on the ready list (and writes the eventfd when it is
 *    another thread), or, when the fiber has not parked yet, leaves a wake
 *    that its next park consumes at once;
 *  - the loop puts a parked fiber whose deadline passed on the ready list
 *    too, marked as not woken;
 *  - a fiber runs only on its own loop's thread, so thread-local state
 *    (errno, OpenSSL's and TurboJPEG's per-thread objects) stays right.
 * Under AddressSanitizer every switch is announced to it, as its
 * documentation asks for swapcontext. */
#include "fiber/fiber.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/log.h"
#include "util/timeutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#define asan_start_switch(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define asan_finish_switch(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define asan_start_switch(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define asan_finish_switch(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

#define EVENTS_PER_WAIT 64
#define STACKS_KEPT 16 /* finished fibers' stacks a loop keeps for reuse */

typedef struct fiber_loop fiber_loop;

typedef struct fiber {
    ucontext_t ctx;
    fiber_loop *loop;
    fiber_task *task;
    void *map;              /* the mapping: guard page, then the stack */
    size_t map_size;
    /* Guarded by loop->lock. */
    int parked;
    int queued;             /* on the ready list */
    int wake_pending;       /* unparked before it parked */
    int woken;              /* 1: unparked; 0: its deadline passed */
    int64_t deadline_ms;    /* while parked; 0: none */
    /* The loop thread's own. */
    uint32_t revents;       /* what epoll reported (fiber_poll) */
    int done;
    size_t active_index;
    struct fiber *next_ready;
    void *asan_fake_stack;
} fiber;

struct fiber_loop {
    fiber_pool *pool;
    pthread_t thread;
    int epfd;
    int evfd;
    pthread_mutex_t lock;   /* inbox, ready list, fibers' park state, source */
    fiber_task *inbox_head, *inbox_tail;
    fiber *ready_head, *ready_tail;
    int stopping;
    const fiber_source *source;
    /* The loop thread's own. */
    int64_t source_due_ms;  /* when the source's timeout passes; 0: never */
    /* The loop thread's own. */
    ucontext_t main_ctx;
    const void *main_stack_bottom;
    size_t main_stack_size;
    void *asan_fake_stack;
    fiber **active;         /* every fiber started and not finished */
    size_t active_n, active_cap;
    void *kept[STACKS_KEPT];
    size_t kept_n;
};

/* The blocking pool: threads started as jobs need them, up to a bound. */
typedef struct blocking_job {
    fiber_fn fn;
    void *arg;
    fiber *waiter;
    int done;               /* guarded by the pool's blocking_lock */
    struct blocking_job *next;
} blocking_job;

struct fiber_pool {
    fiber_pool_config cfg;
    fiber_loop *loops;
    unsigned loop_count;
    pthread_mutex_t lock;   /* tasks, stopping, next_loop */
    size_t tasks;
    int stopping;
    unsigned next_loop;
    size_t page;

    pthread_mutex_t blocking_lock;
    pthread_cond_t blocking_wake;
    blocking_job *jobs_head, *jobs_tail;
    pthread_t *blocking;
    unsigned blocking_count, blocking_idle;
    int blocking_stopping;
};

static __thread fiber_loop *current_loop;
static __thread fiber *current_fiber;

int fiber_in_fiber(void)
{
    return current_fiber != NULL;
}

/* ---- stacks ---- */

static void *stack_get(fiber_loop *l, size_t *size)
{
    size_t stack = l->pool->cfg.stack_size;
    *size = stack + l->pool->page;
    if (l->kept_n > 0)
        return l->kept[--l->kept_n];
    void *map = mmap(NULL, *size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    if (mprotect(map, l->pool->page, PROT_NONE) < 0) {
        munmap(map, *size);
        return NULL;
    }
    return map;
}

static void stack_put(fiber_loop *l, void *map, size_t size)
{
    if (l->kept_n < STACKS_KEPT)
        l->kept[l->kept_n++] = map;
    else
        munmap(map, size);
}

/* ---- switching ---- */

/* From the loop into f, until f parks or finishes. */
static void switch_into(fiber_loop *l, fiber *f)
{
    current_fiber = f;
    size_t page = l->pool->page;
    asan_start_switch(&l->asan_fake_stack, (char *)f->map + page, f->map_size - page);
    swapcontext(&l->main_ctx, &f->ctx);
    asan_finish_switch(l->asan_fake_stack, NULL, NULL);
    current_fiber = NULL;
}

/* From f back to its loop; returns when the loop resumes f. */
static void switch_out(fiber *f)
{
    fiber_loop *l = f->loop;
    asan_start_switch(&f->asan_fake_stack, l->main_stack_bottom, l->main_stack_size);
    swapcontext(&f->ctx, &l->main_ctx);
    asan_finish_switch(f->asan_fake_stack, &l->main_stack_bottom, &l->main_stack_size);
}

static void fiber_entry(void)
{
    fiber *f = current_fiber;
    fiber_loop *l = f->loop;
    asan_finish_switch(NULL, &l->main_stack_bottom, &l->main_stack_size);
    f->task->fn(f->task->arg);
    f->done = 1;
    /* The fiber's fake stack goes with it (NULL: nothing to come back to). */
    asan_start_switch(NULL, l->main_stack_bottom, l->main_stack_size);
    setcontext(&l->main_ctx);
}

/* ---- parking ---- */

/* Parks the calling fiber until unparked (1) or deadline_ms passes (0;
 * deadline 0: none). */
static int park(fiber *f, int64_t deadline_ms)
{
    fiber_loop *l = f->loop;
    pthread_mutex_lock(&l->lock);
    if (f->wake_pending) {
        f->wake_pending = 0;
        pthread_mutex_unlock(&l->lock);
        return 1;
    }
    f->parked = 1;
    f->woken = 0;
    f->deadline_ms = deadline_ms;
    pthread_mutex_unlock(&l->lock);
    switch_out(f);
    return f->woken;
}

static void wake_loop(fiber_loop *l)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(l->evfd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, so the loop is due to wake anyway. */
}

/* Puts f on its loop's ready list (call with l->lock held). */
static int make_ready(fiber_loop *l, fiber *f, int woken)
{
    if (!f->parked || f->queued)
        return 0;
    f->queued = 1;
    f->woken = woken;
    f->next_ready = NULL;
    if (l->ready_tail)
        l->ready_tail->next_ready = f;
    else
        l->ready_head = f;
    l->ready_tail = f;
    return 1;
}

static void unpark(fiber *f)
{
    fiber_loop *l = f->loop;
    pthread_mutex_lock(&l->lock);
    int queued = make_ready(l, f, 1);
    if (!f->parked)
        f->wake_pending = 1;
    pthread_mutex_unlock(&l->lock);
    if (queued && current_loop != l)
        wake_loop(l);
}

/* Forgets a wake that arrived for a wait the fiber has already left. */
static void consume_wake(fiber *f)
{
    pthread_mutex_lock(&f->loop->lock);
    f->wake_pending = 0;
    pthread_mutex_unlock(&f->loop->lock);
}

/* ---- waiting ---- */

static int64_t deadline_after(int timeout_ms)
{
    return clock_monotonic_ms() + timeout_ms;
}

int fiber_poll(struct pollfd *pfd, int timeout_ms)
{
    fiber *f = current_fiber;
    if (!f || timeout_ms == 0)
        return poll(pfd, 1, timeout_ms);
    struct epoll_event ev = {0};
    if (pfd->events & POLLIN)
        ev.events |= EPOLLIN;
    if (pfd->events & POLLOUT)
        ev.events |= EPOLLOUT;
    ev.data.ptr = f;
    if (epoll_ctl(f->loop->epfd, EPOLL_CTL_ADD, pfd->fd, &ev) < 0)
        return -1;
    f->revents = 0;
    int woken = park(f, timeout_ms > 0 ? deadline_after(timeout_ms) : 0);
    epoll_ctl(f->loop->epfd, EPOLL_CTL_DEL, pfd->fd, NULL);
    if (!woken)
        return 0;
    pfd->revents = 0;
    if (f->revents & EPOLLIN)
        pfd->revents |= POLLIN;
    if (f->revents & EPOLLOUT)
        pfd->revents |= POLLOUT;
    if (f->revents & EPOLLERR)
        pfd->revents |= POLLERR;
    if (f->revents & EPOLLHUP)
        pfd->revents |= POLLHUP;
    return 1;
}

void fiber_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    fiber *f = current_fiber;
    if (!f) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return;
    }
    int64_t deadline = deadline_after(ms);
    while (clock_monotonic_ms() < deadline)
        park(f, deadline);
}

/* ---- the lock ---- */

struct fiber_waiter {
    fiber *f;               /* NULL: a thread, waiting on handed */
    int granted;
    fiber_waiter *prev, *next;
};

int fiber_mutex_init(fiber_mutex *m)
{
    memset(m, 0, sizeof *m);
    if (cond_init_monotonic(&m->handed) != 0)
        return -1;
    if (pthread_mutex_init(&m->guard, NULL) != 0) {
        pthread_cond_destroy(&m->handed);
        return -1;
    }
    return 0;
}

void fiber_mutex_destroy(fiber_mutex *m)
{
    pthread_mutex_destroy(&m->guard);
    pthread_cond_destroy(&m->handed);
}

static void waiter_remove(fiber_mutex *m, fiber_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        m->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        m->tail = w->prev;
}

/* Waits (guard held) until w is granted the lock or the deadline passes. */
static void wait_for_grant(fiber_mutex *m, fiber_waiter *w, int64_t deadline_ms)
{
    if (w->f) {
        while (!w->granted && clock_monotonic_ms() < deadline_ms) {
            pthread_mutex_unlock(&m->guard);
            park(w->f, deadline_ms);
            pthread_mutex_lock(&m->guard);
        }
        /* Every unpark for this wait came under the guard, before now. */
        consume_wake(w->f);
        return;
    }
    while (!w->granted && cond_wait_until(&m->handed, &m->guard, deadline_ms) != ETIMEDOUT)
        ;
}

int fiber_mutex_lock_until(fiber_mutex *m, int64_t deadline_ms)
{
    pthread_mutex_lock(&m->guard);
    if (!m->locked) {
        m->locked = 1;
        pthread_mutex_unlock(&m->guard);
        return 0;
    }
    fiber_waiter w = {current_fiber, 0, m->tail, NULL};
    if (m->tail)
        m->tail->next = &w;
    else
        m->head = &w;
    m->tail = &w;
    wait_for_grant(m, &w, deadline_ms);
    if (!w.granted)
        waiter_remove(m, &w);
    pthread_mutex_unlock(&m->guard);
    return w.granted ? 0 : -1;
}

/* Hands the lock straight to the first waiter, so that a stream of new
 * callers cannot starve those already waiting. */
void fiber_mutex_unlock(fiber_mutex *m)
{
    pthread_mutex_lock(&m->guard);
    fiber_waiter *w = m->head;
    if (!w) {
        m->locked = 0;
    } else {
        waiter_remove(m, w);
        w->granted = 1;
        if (w->f)
            unpark(w->f);
        else
            pthread_cond_broadcast(&m->handed);
    }
    pthread_mutex_unlock(&m->guard);
}

/* ---- the blocking pool ---- */

static void *blocking_main(void *arg)
{
    fiber_pool *p = arg;
    pthread_mutex_lock(&p->blocking_lock);
    for (;;) {
        while (!p->jobs_head && !p->blocking_stopping) {
            p->blocking_idle++;
            pthread_cond_wait(&p->blocking_wake, &p->blocking_lock);
            p->blocking_idle--;
        }
        blocking_job *j = p->jobs_head;
        if (!j)
            break;
        p->jobs_head = j->next;
        if (!p->jobs_head)
            p->jobs_tail = NULL;
        pthread_mutex_unlock(&p->blocking_lock);

        j->fn(j->arg);

        pthread_mutex_lock(&p->blocking_lock);
        j->done = 1;
        unpark(j->waiter); /* takes the loop's lock: never the other way round */
    }
    pthread_mutex_unlock(&p->blocking_lock);
    return NULL;
}

/* A thread for a new job when none is idle, up to the bound (lock held). */
static void blocking_grow(fiber_pool *p)
{
    if (p->blocking_idle > 0 || p->blocking_count >= p->cfg.blocking_threads)
        return;
    if (pthread_create(&p->blocking[p->blocking_count], NULL, blocking_main, p) == 0)
        p->blocking_count++;
    else if (p->blocking_count == 0)
        log_error("fiber: cannot start a blocking thread");
}

void fiber_run_blocking(fiber_fn fn, void *arg)
{
    fiber *f = current_fiber;
    fiber_pool *p = f ? f->loop->pool : NULL;
    if (!p) {
        fn(arg);
        return;
    }
    blocking_job j = {fn, arg, f, 0, NULL};
    pthread_mutex_lock(&p->blocking_lock);
    blocking_grow(p);
    if (p->blocking_count == 0 || p->blocking_stopping) {
        pthread_mutex_unlock(&p->blocking_lock);
        fn(arg);
        return;
    }
    if (p->jobs_tail)
        p->jobs_tail->next = &j;
    else
        p->jobs_head = &j;
    p->jobs_tail = &j;
    pthread_cond_signal(&p->blocking_wake);
    while (!j.done) {
        pthread_mutex_unlock(&p->blocking_lock);
        park(f, 0);
        pthread_mutex_lock(&p->blocking_lock);
    }
    pthread_mutex_unlock(&p->blocking_lock);
    consume_wake(f);
}

/* ---- the loops ---- */

static int active_add(fiber_loop *l, fiber *f)
{
    if (l->active_n == l->active_cap) {
        size_t cap = l->active_cap ? l->active_cap * 2 : 16;
        fiber **grown = realloc(l->active, cap * sizeof *grown);
        if (!grown)
            return -1;
        l->active = grown;
        l->active_cap = cap;
    }
    f->active_index = l->active_n;
    l->active[l->active_n++] = f;
    return 0;
}

static void active_remove(fiber_loop *l, fiber *f)
{
    fiber *last = l->active[--l->active_n];
    l->active[f->active_index] = last;
    last->active_index = f->active_index;
}

static void task_finished(fiber_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->tasks--;
    pthread_mutex_unlock(&p->lock);
}

/* Runs f until it parks (0) or finishes (1); a finished fiber is freed. */
static int run_fiber(fiber_loop *l, fiber *f)
{
    switch_into(l, f);
    if (!f->done)
        return 0;
    active_remove(l, f);
    stack_put(l, f->map, f->map_size);
    free(f);
    task_finished(l->pool);
    return 1;
}

/* A new fiber for t, run until it first parks. Without memory for a fiber
 * the task runs on the loop's own stack: slower for others, but done. */
static int start_task(fiber_loop *l, fiber_task *t)
{
    fiber *f = calloc(1, sizeof *f);
    if (f)
        f->map = stack_get(l, &f->map_size);
    if (!f || !f->map || active_add(l, f) < 0 || getcontext(&f->ctx) < 0) {
        if (f && f->map)
            stack_put(l, f->map, f->map_size);
        free(f);
        log_warn("fiber: no memory for a fiber; running a task in place");
        t->fn(t->arg);
        task_finished(l->pool);
        return 1;
    }
    f->loop = l;
    f->task = t;
    size_t page = l->pool->page;
    f->ctx.uc_stack.ss_sp = (char *)f->map + page;
    f->ctx.uc_stack.ss_size = f->map_size - page;
    f->ctx.uc_link = NULL;
    makecontext(&f->ctx, fiber_entry, 0);
    return run_fiber(l, f);
}

int fiber_run_here(fiber_task *t)
{
    fiber_loop *l = current_loop;
    if (!l || current_fiber) { /* not from a loop's source: misuse, but done */
        t->fn(t->arg);
        return 1;
    }
    return start_task(l, t);
}

/* epoll_wait's timeout: until the nearest deadline of a parked fiber, or
 * the source's own. */
static int next_timeout(fiber_loop *l, const fiber_source *src)
{
    int64_t nearest = 0;
    l->source_due_ms = 0;
    if (src) {
        int t = src->timeout_ms(src->ctx);
        if (t >= 0)
            nearest = l->source_due_ms = clock_monotonic_ms() + t;
    }
    pthread_mutex_lock(&l->lock);
    int busy = l->inbox_head || l->ready_head;
    for (size_t i = 0; i < l->active_n && !busy; i++) {
        fiber *f = l->active[i];
        if (f->parked && !f->queued && f->deadline_ms && (!nearest || f->deadline_ms < nearest))
            nearest = f->deadline_ms;
    }
    pthread_mutex_unlock(&l->lock);
    if (busy)
        return 0;
    if (!nearest)
        return -1;
    int64_t left = nearest - clock_monotonic_ms();
    return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void *loop_main(void *arg)
{
    fiber_loop *l = arg;
    current_loop = l;
    struct epoll_event events[EVENTS_PER_WAIT];
    pthread_mutex_lock(&l->lock);
    const fiber_source *src = l->source;
    pthread_mutex_unlock(&l->lock);
    for (;;) {
        int n = epoll_wait(l->epfd, events, EVENTS_PER_WAIT, next_timeout(l, src));
        if (n < 0 && errno != EINTR)
            log_error("fiber: epoll_wait: %s", strerror(errno));
        int source_ready = 0;

        pthread_mutex_lock(&l->lock);
        for (int i = 0; i < n; i++) {
            fiber *f = events[i].data.ptr;
            if (f == (void *)&l->source) {
                source_ready = 1;
                continue;
            }
            if (!f) {
                uint64_t count;
                if (read(l->evfd, &count, sizeof count) < 0 && errno != EAGAIN)
                    log_error("fiber: eventfd: %s", strerror(errno));
                continue;
            }
            f->revents = events[i].events;
            make_ready(l, f, 1);
        }
        int64_t now = clock_monotonic_ms();
        for (size_t i = 0; i < l->active_n; i++) {
            fiber *f = l->active[i];
            if (f->parked && f->deadline_ms && f->deadline_ms <= now)
                make_ready(l, f, 0);
        }
        fiber_task *inbox = l->inbox_head;
        l->inbox_head = l->inbox_tail = NULL;
        fiber *ready = l->ready_head;
        l->ready_head = l->ready_tail = NULL;
        for (fiber *f = ready; f; f = f->next_ready) {
            f->parked = 0;
            f->queued = 0;
        }
        int stopping = l->stopping;
        src = l->source;
        pthread_mutex_unlock(&l->lock);

        /* A fiber that ran may have given its source work (the server's
         * fibers resume connections), which the source learns of only
         * when it runs. */
        int fibers_ran = ready != NULL;
        while (ready) {
            fiber *f = ready;
            ready = f->next_ready;
            run_fiber(l, f);
        }
        while (inbox) {
            fiber_task *t = inbox;
            inbox = t->next;
            start_task(l, t);
        }
        if (src && (source_ready || fibers_ran || (l->source_due_ms && now >= l->source_due_ms)))
            src->run(src->ctx);
        if (stopping && l->active_n == 0) {
            pthread_mutex_lock(&l->lock);
            int idle = !l->inbox_head && !l->ready_head;
            pthread_mutex_unlock(&l->lock);
            if (idle) {
                if (src)
                    src->run(src->ctx); /* what the last fibers resumed */
                break;
            }
        }
    }
    while (l->kept_n > 0)
        munmap(l->kept[--l->kept_n], l->pool->cfg.stack_size + l->pool->page);
    free(l->active);
    current_loop = NULL;
    return NULL;
}

/* ---- the pool ---- */

static unsigned cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 2;
}

static int loop_init(fiber_pool *p, fiber_loop *l)
{
    l->pool = p;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->evfd < 0 || pthread_mutex_init(&l->lock, NULL) != 0) {
        log_error("fiber: cannot make an event loop: %s", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev) < 0) {
        log_error("fiber: epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void pool_free(fiber_pool *p)
{
    for (unsigned i = 0; i < p->cfg.threads; i++) {
        fiber_loop *l = &p->loops[i];
        if (l->epfd > 0)
            close(l->epfd);
        if (l->evfd > 0)
            close(l->evfd);
        pthread_mutex_destroy(&l->lock);
    }
    free(p->loops);
    free(p->blocking);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->blocking_lock);
    pthread_cond_destroy(&p->blocking_wake);
    free(p);
}

static void stop_loops(fiber_pool *p)
{
    for (unsigned i = 0; i < p->loop_count; i++) {
        fiber_loop *l = &p->loops[i];
        pthread_mutex_lock(&l->lock);
        l->stopping = 1;
        pthread_mutex_unlock(&l->lock);
        wake_loop(l);
    }
    for (unsigned i = 0; i < p->loop_count; i++)
        pthread_join(p->loops[i].thread, NULL);
    p->loop_count = 0;
}

fiber_pool *fiber_pool_start(const fiber_pool_config *cfg)
{
    fiber_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->cfg = *cfg;
    if (p->cfg.threads == 0)
        p->cfg.threads = cores();
    if (p->cfg.blocking_threads == 0)
        p->cfg.blocking_threads = cores() * 8 < 16 ? 16 : cores() * 8;
    if (p->cfg.stack_size == 0)
        p->cfg.stack_size = FIBER_STACK_DEFAULT;
    p->page = (size_t)sysconf(_SC_PAGESIZE);
    p->cfg.stack_size = (p->cfg.stack_size + p->page - 1) / p->page * p->page;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->blocking_lock, NULL);
    pthread_cond_init(&p->blocking_wake, NULL);
    p->loops = calloc(p->cfg.threads, sizeof *p->loops);
    p->blocking = calloc(p->cfg.blocking_threads, sizeof *p->blocking);
    if (!p->loops || !p->blocking) {
        pool_free(p);
        return NULL;
    }
    for (unsigned i = 0; i < p->cfg.threads; i++) {
        if (loop_init(p, &p->loops[i]) < 0 ||
            pthread_create(&p->loops[i].thread, NULL, loop_main, &p->loops[i]) != 0) {
            log_error("fiber: cannot start event loop %u", i);
            stop_loops(p);
            pool_free(p);
            return NULL;
        }
        p->loop_count++;
    }
    return p;
}

int fiber_pool_reserve(fiber_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int ok = !p->stopping && p->tasks < p->cfg.max_tasks;
    if (ok)
        p->tasks++;
    pthread_mutex_unlock(&p->lock);
    return ok ? 0 : -1;
}

void fiber_pool_submit(fiber_pool *p, fiber_task *t)
{
    pthread_mutex_lock(&p->lock);
    fiber_loop *l = &p->loops[p->next_loop++ % p->loop_count];
    pthread_mutex_unlock(&p->lock);
    t->next = NULL;
    pthread_mutex_lock(&l->lock);
    if (l->inbox_tail)
        l->inbox_tail->next = t;
    else
        l->inbox_head = t;
    l->inbox_tail = t;
    pthread_mutex_unlock(&l->lock);
    if (current_loop != l)
        wake_loop(l);
}

unsigned fiber_pool_loops(const fiber_pool *p)
{
    return p->loop_count;
}

int fiber_pool_attach(fiber_pool *p, unsigned loop, const fiber_source *src)
{
    if (loop >= p->loop_count)
        return -1;
    fiber_loop *l = &p->loops[loop];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)&l->source};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0) {
        log_error("fiber: cannot watch an event source: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&l->lock);
    l->source = src;
    pthread_mutex_unlock(&l->lock);
    wake_loop(l); /* its first timeout was computed without the source */
    return 0;
}

size_t fiber_pool_tasks(fiber_pool *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->tasks;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void fiber_pool_stop(fiber_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    int stopped = p->stopping;
    p->stopping = 1;
    pthread_mutex_unlock(&p->lock);
    if (stopped)
        return;
    stop_loops(p); /* each finishes its fibers first */
    pthread_mutex_lock(&p->blocking_lock);
    p->blocking_stopping = 1;
    pthread_cond_broadcast(&p->blocking_wake);
    pthread_mutex_unlock(&p->blocking_lock);
    for (unsigned i = 0; i < p->blocking_count; i++)
        pthread_join(p->blocking[i], NULL);
    p->blocking_count = 0;
}

void fiber_pool_free(fiber_pool *p)
{
    if (!p)
        return;
    fiber_pool_stop(p);
    pool_free(p);
}
