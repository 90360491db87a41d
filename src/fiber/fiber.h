/* fiber.h: requests as fibers on a few event-loop threads, so that a
 * request waiting on a VM costs a fiber (a stack of mostly untouched
 * memory), not a thread.
 *
 * A fiber_pool runs one event loop per thread (by default one thread per
 * core). Each task runs in a fiber of its own on one of the loops: handed
 * in from any thread (fiber_pool_submit), or started by the loop's own
 * event source, the HTTP server, in place (fiber_run_here). While the task computes it has its thread to itself; when it would
 * wait on a VM's socket (fiber_poll), on another task (fiber_mutex) or for
 * time (fiber_sleep_ms), its fiber parks and the loop runs other tasks, and
 * resumes it when the socket is ready or the deadline passes. A VM that
 * hangs therefore holds one fiber until its deadline, never a thread.
 *
 * Work that can only block a thread (libraries with synchronous APIs, such
 * as libvirt's) goes through fiber_run_blocking to a separate pool of
 * threads, started on first use, while the fiber parks.
 *
 * The waiting functions work outside a fiber too, as the plain blocking
 * calls they replace, so code under them (console drivers, the CLI, unit
 * tests) runs the same on any thread.
 *
 * What a task must not do: hold a pthread mutex, or anything else another
 * task on the same thread may wait for, across a call that parks. */
#ifndef ECSHOT_FIBER_FIBER_H
#define ECSHOT_FIBER_FIBER_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*fiber_fn)(void *arg);

/* A unit of work, in memory the submitter owns until fn has returned (a
 * request embeds one), so that submitting can never fail for memory. */
typedef struct fiber_task {
    fiber_fn fn;
    void *arg;
    struct fiber_task *next; /* the pool's */
} fiber_task;

typedef struct fiber_pool_config {
    unsigned threads;          /* event loops; 0: one per core */
    size_t max_tasks;          /* tasks reserved, queued or running at once */
    unsigned blocking_threads; /* most threads fiber_run_blocking uses; 0: 8 per core, >= 16 */
    size_t stack_size;         /* bytes per fiber; 0: FIBER_STACK_DEFAULT */
} fiber_pool_config;

/* Virtual size: pages are committed as the stack grows into them. Room for
 * the deepest path (SQLite, libpq's name lookups, OpenSSL) under ASan. */
#define FIBER_STACK_DEFAULT ((size_t)1 << 20)

typedef struct fiber_pool fiber_pool;

/* Starts the loops; NULL (logged) when a thread or descriptor is refused. */
fiber_pool *fiber_pool_start(const fiber_pool_config *cfg);
/* Room for one more task: 0, or -1 when max_tasks are in the pool or it is
 * stopping. A reservation is used by exactly one fiber_pool_submit. */
int fiber_pool_reserve(fiber_pool *p);
/* Runs t->fn(t->arg) in a fiber of its own on one of the loops. Needs a
 * reservation; never fails. */
void fiber_pool_submit(fiber_pool *p, fiber_task *t);
/* An event source a loop serves besides its fibers (the HTTP server's
 * libmicrohttpd daemon): run() is called on the loop's thread when fd is
 * readable or timeout_ms() (ms from now, -1: none) has passed. */
typedef struct fiber_source {
    int fd;
    void (*run)(void *ctx);
    int (*timeout_ms)(void *ctx);
    void *ctx;
} fiber_source;

unsigned fiber_pool_loops(const fiber_pool *p);
/* Gives loop number `loop` its source (one per loop), which must outlive the
 * pool. 0, or -1 (logged). */
int fiber_pool_attach(fiber_pool *p, unsigned loop, const fiber_source *src);
/* From a source's run(), on its loop's thread and with a reservation:
 * starts t in a fiber at once and runs it until it finishes (1) or first
 * parks (0; the loop resumes it later). Most requests never wait on a VM,
 * and are answered this way without leaving their thread. */
int fiber_run_here(fiber_task *t);

/* Tasks reserved, queued or running now (for tests and statistics). */
size_t fiber_pool_tasks(fiber_pool *p);
/* Refuses new reservations, lets every submitted task finish, then stops
 * the loops and the blocking threads. Reservations fail from then on. */
void fiber_pool_stop(fiber_pool *p);
/* Stops (if need be) and frees. */
void fiber_pool_free(fiber_pool *p);

/* 1 when the caller runs in a fiber. */
int fiber_in_fiber(void);

/* poll() on one descriptor: 1 with pfd->revents set, 0 when timeout_ms
 * passed first (negative: no timeout), -1 with errno. In a fiber, parks
 * instead of blocking the thread. */
int fiber_poll(struct pollfd *pfd, int timeout_ms);
/* Sleeps; in a fiber, parks. */
void fiber_sleep_ms(int ms);
/* Runs fn(arg) on a thread of the blocking pool and returns once it has
 * returned; in a fiber, the fiber parks meanwhile. Outside a fiber (or
 * when no thread can be had) it calls fn(arg) in place. */
void fiber_run_blocking(fiber_fn fn, void *arg);

/* A lock that fibers and threads can share: a fiber waiting for it parks.
 * Not recursive. The holder may park while holding it (that is its use:
 * one exchange at a time on a VM's connection). */
typedef struct fiber_waiter fiber_waiter;
typedef struct fiber_mutex {
    pthread_mutex_t guard;
    pthread_cond_t handed;   /* threads (not fibers) waiting for a handover */
    int locked;
    fiber_waiter *head, *tail;
} fiber_mutex;

int fiber_mutex_init(fiber_mutex *m);
void fiber_mutex_destroy(fiber_mutex *m);
/* Takes the lock, waiting until deadline_ms (CLOCK_MONOTONIC ms) at most:
 * 0 when taken, -1 when the deadline passed first. */
int fiber_mutex_lock_until(fiber_mutex *m, int64_t deadline_ms);
void fiber_mutex_unlock(fiber_mutex *m);

#endif
