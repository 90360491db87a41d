/* test_seccomp.c: ecshotd's sandbox: the seccomp filter and the drop of root.
 *
 * Each case runs in a forked child, which installs ecshot's own filter
 * (sandbox_apply) and then makes one system call: a forbidden call must kill
 * the child with SIGSYS before it runs (the child would otherwise exit with
 * a code saying what happened), an allowed one must work, and the calls
 * refused with an error code must return that code. Calls allowed only with
 * some arguments are tried with others: an ioctl request off the list, on
 * a descriptor where it would work unfiltered, kills. Children report by
 * exit status only (no cmocka in a child) and leave with _exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* Exit codes of a child that survived its call. */
#define RAN 42          /* the forbidden call ran: the filter let it through */
#define NO_FILTER 43    /* sandbox_apply failed */
#define WRONG 44        /* an allowed call did not do what it should */

typedef int (*child_fn)(void);

/* Runs fn in a child under the filter; returns its wait status. */
static int run_sandboxed(child_fn fn)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sandbox_apply() != 0)
            _exit(NO_FILTER);
        _exit(fn());
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_killed_by_sigsys(child_fn fn)
{
    int status = run_sandboxed(fn);
    if (WIFEXITED(status))
        fail_msg("the child exited with %d instead of dying of SIGSYS", WEXITSTATUS(status));
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void assert_exits_zero(child_fn fn)
{
    int status = run_sandboxed(fn);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- forbidden: the process dies before the call runs ---- */

static int do_execve(void)
{
    char *const argv[] = {"/bin/true", NULL};
    char *const envp[] = {NULL};
    execve("/bin/true", argv, envp);
    return RAN;
}

static int do_mount(void)
{
    mount("none", "/tmp", "tmpfs", 0, NULL);
    return RAN;
}

static int do_unshare(void)
{
    unshare(CLONE_NEWUSER);
    return RAN;
}

static int do_setuid(void)
{
    setuid(0); /* even to the id it has: the call itself is gone */
    return RAN;
}

/* Writable and executable at once: EPERM, as systemd's
 * MemoryDenyWriteExecute answers (libffi then maps twice instead). */
static int do_wx(void)
{
    errno = 0;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p != MAP_FAILED || errno != EPERM)
        return WRONG;
    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return WRONG;
    errno = 0;
    if (mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != -1 || errno != EPERM)
        return WRONG;
    /* Executable alone, or writable alone, is fine. */
    if (mprotect(p, 4096, PROT_READ | PROT_EXEC) != 0 || mprotect(p, 4096, PROT_READ) != 0)
        return WRONG;
    return 0;
}

static int do_bpf(void)
{
    syscall(SYS_bpf, 0, NULL, 0);
    return RAN;
}

static int do_ptrace(void)
{
    syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, NULL, NULL);
    return RAN;
}

static int do_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    return RAN;
}

static int do_kill_other(void)
{
    kill(1, 0); /* only a probe, but of another process */
    return RAN;
}

static void forbidden_calls_kill_the_process(void **state)
{
    (void)state;
    assert_killed_by_sigsys(do_execve);
    assert_killed_by_sigsys(do_mount);
    assert_killed_by_sigsys(do_unshare);
    assert_killed_by_sigsys(do_setuid);
    assert_killed_by_sigsys(do_bpf);
    if (!SANITIZER_BUILD) {
        /* The sanitizer runtime needs these for its own leak check at
         * exit, so sanitizer builds allow them (sandbox.c). */
        assert_killed_by_sigsys(do_ptrace);
        assert_killed_by_sigsys(do_fork);
        assert_killed_by_sigsys(do_kill_other);
    }
}

/* ---- the filter covers threads that existed before it ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;

static void *exec_when_told(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    do_execve();
    _exit(RAN);
}

/* The thread starts before the filter is installed, execs after. */
static void earlier_threads_are_filtered_too(void **state)
{
    (void)state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exec_when_told, NULL) != 0)
            _exit(WRONG);
        if (sandbox_apply() != 0)
            _exit(NO_FILTER);
        pthread_mutex_lock(&gate_lock);
        gate_open = 1;
        pthread_cond_signal(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
        pthread_join(t, NULL);
        _exit(WRONG);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

/* ---- allowed: what ecshotd does while it serves ---- */

static void *thread_body(void *arg)
{
    *(int *)arg = 7;
    return NULL;
}

static int do_daily_work(void)
{
    /* threads */
    int value = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_body, &value) != 0 || pthread_join(t, NULL) != 0 ||
        value != 7)
        return WRONG;
    /* files: create, write, read back, remove */
    char path[] = "/tmp/ecshot-test-seccomp-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, "abc", 3) != 3 || fsync(fd) != 0 || lseek(fd, 0, SEEK_SET) != 0)
        return WRONG;
    char back[4] = {0};
    if (read(fd, back, 3) != 3 || strcmp(back, "abc") != 0 || close(fd) != 0 ||
        unlink(path) != 0)
        return WRONG;
    /* memory file (screendumps) and mappings */
    int mfd = memfd_create("ecshot", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, 8192) != 0)
        return WRONG;
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) != 0 || munmap(p, 8192) != 0)
        return WRONG;
    close(mfd);
    /* sockets of the families ecshotd uses */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || write(sv[0], "x", 1) != 1 ||
        read(sv[1], back, 1) != 1)
        return WRONG;
    close(sv[0]);
    close(sv[1]);
    int s4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int s6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s4 < 0 || s6 < 0)
        return WRONG;
    close(s4);
    close(s6);
    /* time, randomness, identity */
    struct timespec ts;
    unsigned char rnd[16];
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 || getrandom(rnd, sizeof rnd, 0) != 16 ||
        getpid() <= 0)
        return WRONG;
    /* signals to itself */
    signal(SIGUSR1, SIG_IGN);
    if (raise(SIGUSR1) != 0)
        return WRONG;
    return 0;
}

static void allowed_calls_work(void **state)
{
    (void)state;
    assert_exits_zero(do_daily_work);
}

/* ---- refused with an error, not killed ---- */

static int pty_master = -1; /* opened before the fork, so before the filter */

static int do_refused_with_errors(void)
{
    /* A netlink socket (glibc's resolver tries one): EAFNOSUPPORT. */
    errno = 0;
    if (socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0) != -1 || errno != EAFNOSUPPORT)
        return WRONG;
    /* An ioctl request on the list works. */
    int n = -1;
    if (ioctl(pty_master, FIONREAD, &n) != 0 || n != 0)
        return WRONG;
    /* clone3: ENOSYS, so that glibc falls back to clone, whose flags the
     * filter can read. */
    errno = 0;
    if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
        return WRONG;
    return 0;
}

/* A terminal request off the list, though the descriptor is a terminal. */
static int do_ioctl_off_the_list(void)
{
    int n = 0;
    ioctl(pty_master, TIOCGPTN, &n);
    return RAN;
}

static int do_prctl_off_the_list(void)
{
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return RAN;
}

static void calls_allowed_with_some_arguments_only(void **state)
{
    (void)state;
    pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(pty_master >= 0);
    int n = -1;
    assert_int_equal(ioctl(pty_master, TIOCGPTN, &n), 0); /* works without the filter */
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    close(s);
    assert_exits_zero(do_refused_with_errors);
    assert_exits_zero(do_wx);
    assert_killed_by_sigsys(do_ioctl_off_the_list);
    if (!SANITIZER_BUILD)
        assert_killed_by_sigsys(do_prctl_off_the_list); /* any prctl, under a sanitizer */
    close(pty_master);
}

/* ---- dropping root ---- */

static void drop_to_nobody(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can drop root */
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        skip();
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sandbox_drop_privileges("nobody") != 0)
            _exit(1);
        if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid)
            _exit(2);
        if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
            _exit(3);
        /* Root's groups are gone too. */
        gid_t groups[64];
        int n = getgroups(64, groups);
        for (int i = 0; i < n; i++)
            if (groups[i] == 0)
                _exit(4);
        /* And becoming itself again is fine. */
        if (sandbox_drop_privileges("nobody") != 0)
            _exit(5);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void bad_users_are_refused(void **state)
{
    (void)state;
    assert_int_equal(sandbox_drop_privileges("no-such-user-ecshot"), -1);
    assert_int_equal(sandbox_drop_privileges("root"), -1); /* not a drop */
    assert_int_equal(sandbox_drop_privileges("0"), -1);
    assert_int_equal(sandbox_drop_privileges(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forbidden_calls_kill_the_process),
        cmocka_unit_test(earlier_threads_are_filtered_too),
        cmocka_unit_test(allowed_calls_work),
        cmocka_unit_test(calls_allowed_with_some_arguments_only),
        cmocka_unit_test(drop_to_nobody),
        cmocka_unit_test(bad_users_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
