/* test_fiber.c: the fiber pool that keeps waits on VMs off threads.
 *
 * Each case runs its tasks on a pool of ONE event-loop thread, so that a
 * task that blocked the thread instead of parking would stall the others
 * and the case would fail (on a bounded wait, never a hang): waits on a
 * descriptor, waits for a lock and work handed to the blocking pool all
 * leave the thread to the other fibers, and an event source starts fibers
 * in place (the HTTP server's way). Tasks record what they saw; the
 * test thread asserts (cmocka's assertions belong to its thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "util/timeutil.h"

#define BOUND_MS 20000 /* how long a case waits for its tasks before failing */

/* Counters the tasks bump and the test thread waits on. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void bump(int *counter)
{
    pthread_mutex_lock(&lock);
    (*counter)++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

/* Waits until *counter reaches want; 0, or -1 after BOUND_MS. */
static int wait_for(const int *counter, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BOUND_MS / 1000;
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (*counter < want && rc == 0)
        rc = pthread_cond_timedwait(&changed, &lock, &until);
    int reached = *counter >= want;
    pthread_mutex_unlock(&lock);
    return reached ? 0 : -1;
}

static fiber_pool *one_loop(size_t max_tasks)
{
    fiber_pool_config cfg = {.threads = 1, .max_tasks = max_tasks, .blocking_threads = 2};
    fiber_pool *p = fiber_pool_start(&cfg);
    assert_non_null(p);
    return p;
}

static void submit(fiber_pool *p, fiber_task *t, fiber_fn fn, void *arg)
{
    assert_int_equal(fiber_pool_reserve(p), 0);
    t->fn = fn;
    t->arg = arg;
    fiber_pool_submit(p, t);
}

/* ---- many waits on descriptors, one thread ---- */

#define WAITERS 64

typedef struct pipe_waiter {
    int fds[2];
    int in_fiber;
    int rc;
    short revents;
} pipe_waiter;

static int started, finished;

static void wait_on_pipe(void *arg)
{
    pipe_waiter *w = arg;
    w->in_fiber = fiber_in_fiber();
    bump(&started);
    struct pollfd pfd = {w->fds[0], POLLIN, 0};
    w->rc = fiber_poll(&pfd, BOUND_MS);
    w->revents = pfd.revents;
    bump(&finished);
}

static void test_waits_outnumber_threads(void **state)
{
    (void)state;
    started = finished = 0;
    fiber_pool *p = one_loop(WAITERS);
    static pipe_waiter w[WAITERS];
    fiber_task t[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(pipe(w[i].fds), 0);
        submit(p, &t[i], wait_on_pipe, &w[i]);
    }
    /* All of them wait at once on one thread. */
    assert_int_equal(wait_for(&started, WAITERS), 0);
    assert_int_equal(finished, 0);
    for (int i = WAITERS - 1; i >= 0; i--)
        assert_int_equal(write(w[i].fds[1], "x", 1), 1);
    assert_int_equal(wait_for(&finished, WAITERS), 0);
    for (int i = 0; i < WAITERS; i++) {
        assert_int_equal(w[i].in_fiber, 1);
        assert_int_equal(w[i].rc, 1);
        assert_true(w[i].revents & POLLIN);
        close(w[i].fds[0]);
        close(w[i].fds[1]);
    }
    fiber_pool_free(p);
}

/* ---- a deadline passes for one, another goes on ---- */

static int short_rc = -2, quick_done;

static void wait_briefly(void *arg)
{
    int *fds = arg;
    struct pollfd pfd = {fds[0], POLLIN, 0};
    short_rc = fiber_poll(&pfd, 50);
    bump(&finished);
}

static void quick(void *arg)
{
    (void)arg;
    bump(&quick_done);
}

static void test_deadline(void **state)
{
    (void)state;
    finished = quick_done = 0;
    fiber_pool *p = one_loop(4);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fiber_task a, b;
    int64_t t0 = clock_monotonic_ms();
    submit(p, &a, wait_briefly, fds);
    submit(p, &b, quick, NULL);
    assert_int_equal(wait_for(&quick_done, 1), 0);
    assert_int_equal(wait_for(&finished, 1), 0);
    assert_int_equal(short_rc, 0); /* timed out: nothing was written */
    assert_true(clock_monotonic_ms() - t0 >= 50);
    fiber_pool_free(p);
    close(fds[0]);
    close(fds[1]);
}

/* ---- the lock: its holder parks, its waiters park, order kept ---- */

static fiber_mutex mutex;
static int holder_fds[2];
static int order[3], order_n, late_rc = -2, holder_rc = -2, waiter_rc = -2;

static void note(int who)
{
    pthread_mutex_lock(&lock);
    order[order_n++] = who;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

static void holder(void *arg)
{
    (void)arg;
    holder_rc = fiber_mutex_lock_until(&mutex, clock_monotonic_ms() + BOUND_MS);
    bump(&started);
    struct pollfd pfd = {holder_fds[0], POLLIN, 0};
    fiber_poll(&pfd, BOUND_MS); /* parks holding the lock */
    note(1);
    fiber_mutex_unlock(&mutex);
}

static void waiter(void *arg)
{
    (void)arg;
    bump(&started);
    waiter_rc = fiber_mutex_lock_until(&mutex, clock_monotonic_ms() + BOUND_MS);
    note(2);
    fiber_mutex_unlock(&mutex);
    bump(&finished);
}

static void impatient(void *arg)
{
    (void)arg;
    late_rc = fiber_mutex_lock_until(&mutex, clock_monotonic_ms() + 30);
    note(3);
    /* Frees the holder: it proves that two fibers waiting for the lock
     * left the thread to this one. */
    if (write(holder_fds[1], "x", 1) != 1)
        late_rc = -3;
}

static void test_mutex(void **state)
{
    (void)state;
    started = finished = order_n = 0;
    assert_int_equal(fiber_mutex_init(&mutex), 0);
    assert_int_equal(pipe(holder_fds), 0);
    fiber_pool *p = one_loop(8);
    fiber_task a, b, c;
    submit(p, &a, holder, NULL);
    assert_int_equal(wait_for(&started, 1), 0);
    submit(p, &b, waiter, NULL);
    assert_int_equal(wait_for(&started, 2), 0);
    submit(p, &c, impatient, NULL);
    assert_int_equal(wait_for(&finished, 1), 0);
    assert_int_equal(holder_rc, 0);
    assert_int_equal(waiter_rc, 0);
    assert_int_equal(order_n, 3);
    assert_int_equal(order[0], 3); /* gave up after its 30 ms */
    assert_int_equal(late_rc, -1);
    assert_int_equal(order[1], 1); /* then the holder let go */
    assert_int_equal(order[2], 2); /* straight to the fiber waiting */
    /* A thread shares the lock too. */
    assert_int_equal(fiber_mutex_lock_until(&mutex, clock_monotonic_ms() + 10), 0);
    assert_int_equal(fiber_mutex_lock_until(&mutex, clock_monotonic_ms() + 10), -1);
    fiber_mutex_unlock(&mutex);
    fiber_pool_free(p);
    fiber_mutex_destroy(&mutex);
    close(holder_fds[0]);
    close(holder_fds[1]);
}

/* ---- blocking work leaves the loop free ---- */

static int blocker_fds[2], blocked_read = -2, blocking_in_fiber = -1;

static void read_blocking(void *arg)
{
    (void)arg;
    blocking_in_fiber = fiber_in_fiber();
    char c;
    blocked_read = (int)read(blocker_fds[0], &c, 1); /* blocks its thread */
}

static void offloads(void *arg)
{
    (void)arg;
    fiber_run_blocking(read_blocking, NULL);
    bump(&finished);
}

static void unblocks(void *arg)
{
    (void)arg;
    if (write(blocker_fds[1], "x", 1) != 1)
        blocked_read = -3;
    bump(&quick_done);
}

static void test_run_blocking(void **state)
{
    (void)state;
    finished = quick_done = 0;
    assert_int_equal(pipe(blocker_fds), 0);
    fiber_pool *p = one_loop(4);
    fiber_task a, b;
    submit(p, &a, offloads, NULL);
    submit(p, &b, unblocks, NULL); /* runs on the same loop meanwhile */
    assert_int_equal(wait_for(&quick_done, 1), 0);
    assert_int_equal(wait_for(&finished, 1), 0);
    assert_int_equal(blocked_read, 1);
    assert_int_equal(blocking_in_fiber, 0); /* ran on a thread of its own */
    fiber_pool_free(p);
    close(blocker_fds[0]);
    close(blocker_fds[1]);
}

/* ---- the bound on tasks ---- */

static void test_reserve_bound(void **state)
{
    (void)state;
    quick_done = 0;
    fiber_pool *p = one_loop(2);
    assert_int_equal(fiber_pool_reserve(p), 0);
    assert_int_equal(fiber_pool_reserve(p), 0);
    assert_int_equal(fiber_pool_reserve(p), -1);
    fiber_task a = {quick, NULL, NULL}, b = {quick, NULL, NULL};
    fiber_pool_submit(p, &a);
    fiber_pool_submit(p, &b);
    assert_int_equal(wait_for(&quick_done, 2), 0);
    fiber_pool_stop(p); /* waits for both to be done */
    assert_int_equal(fiber_pool_tasks(p), 0);
    assert_int_equal(fiber_pool_reserve(p), -1); /* stopped */
    fiber_pool_free(p);
}

/* ---- an event source starting fibers in place ---- */

typedef struct source_state {
    fiber_pool *pool;
    int trigger[2];   /* a byte here: run() starts the next task */
    int later[2];     /* what the parking task waits for */
    fiber_task tasks[2];
    int started;
    int here[2];      /* what fiber_run_here returned for each */
    int timeouts;     /* calls of timeout_ms */
} source_state;

static void finishes_at_once(void *arg)
{
    (void)arg;
    bump(&quick_done);
}

static void parks_first(void *arg)
{
    source_state *s = arg;
    struct pollfd pfd = {s->later[0], POLLIN, 0};
    fiber_poll(&pfd, BOUND_MS);
    bump(&finished);
}

static void source_run(void *ctx)
{
    source_state *s = ctx;
    char c;
    while (read(s->trigger[0], &c, 1) == 1 && s->started < 2) {
        int i = s->started++;
        if (fiber_pool_reserve(s->pool) != 0) {
            s->here[i] = -1;
            continue;
        }
        s->tasks[i].fn = i == 0 ? parks_first : finishes_at_once;
        s->tasks[i].arg = s;
        s->here[i] = fiber_run_here(&s->tasks[i]);
        bump(&started);
    }
}

static int source_timeout(void *ctx)
{
    source_state *s = ctx;
    s->timeouts++;
    return -1;
}

static void test_source_runs_fibers_in_place(void **state)
{
    (void)state;
    started = finished = quick_done = 0;
    static source_state s;
    memset(&s, 0, sizeof s);
    assert_int_equal(pipe2(s.trigger, O_NONBLOCK), 0);
    assert_int_equal(pipe(s.later), 0);
    s.pool = one_loop(4);
    fiber_source src = {s.trigger[0], source_run, source_timeout, &s};
    assert_int_equal(fiber_pool_attach(s.pool, 0, &src), 0);
    assert_int_equal(fiber_pool_attach(s.pool, 1, &src), -1); /* one loop only */

    assert_int_equal(write(s.trigger[1], "a", 1), 1);
    assert_int_equal(wait_for(&started, 1), 0);
    assert_int_equal(s.here[0], 0); /* parked: the loop goes on */
    assert_int_equal(write(s.trigger[1], "b", 1), 1);
    assert_int_equal(wait_for(&started, 2), 0);
    assert_int_equal(s.here[1], 1); /* finished in place */
    assert_int_equal(quick_done, 1);
    assert_int_equal(finished, 0);
    assert_int_equal(write(s.later[1], "c", 1), 1);
    assert_int_equal(wait_for(&finished, 1), 0);
    fiber_pool_free(s.pool);
    assert_true(s.timeouts > 0);
    for (int i = 0; i < 2; i++) {
        close(s.trigger[i]);
        close(s.later[i]);
    }
}

/* ---- outside a fiber: the plain calls ---- */

static void test_outside_fiber(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(fiber_in_fiber(), 0);
    struct pollfd pfd = {fds[0], POLLIN, 0};
    assert_int_equal(fiber_poll(&pfd, 10), 0);
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(fiber_poll(&pfd, 10), 1);
    assert_true(pfd.revents & POLLIN);
    blocked_read = -2;
    blocker_fds[0] = fds[0];
    fiber_run_blocking(read_blocking, NULL); /* in place */
    assert_int_equal(blocked_read, 1);
    assert_int_equal(blocking_in_fiber, 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_waits_outnumber_threads),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_mutex),
        cmocka_unit_test(test_run_blocking),
        cmocka_unit_test(test_reserve_bound),
        cmocka_unit_test(test_source_runs_fibers_in_place),
        cmocka_unit_test(test_outside_fiber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
