/* sandbox.c: ecshotd's seccomp filter (see sandbox.h).
 *
 * The list below is what a running ecshotd was seen to call (strace -f over
 * every integration suite on each backend: SQLite and PostgreSQL stores,
 * memory: and Redis limits, QMP and libvirt consoles, HTTP and HTTPS): its
 * own code, glibc, libmicrohttpd, GnuTLS, OpenSSL, SQLite, libpq, hiredis,
 * libvirt's client (local, and remote with SASL) and event thread,
 * TurboJPEG, jansson; plus the few equivalents a library may pick instead
 * (stat for newfstatat, epoll_wait for poll...). Calls made only while
 * starting (bind, listen, set*id, execve) are not in it: the filter goes on
 * once start-up is over.
 *
 * Some calls are allowed only in part, on their arguments:
 *  - clone only for threads (CLONE_THREAD, no new namespace); clone3, whose
 *    flags sit in memory a filter cannot read, answers ENOSYS, on which
 *    glibc falls back to clone;
 *  - mmap and mprotect never both writable and executable: such a call
 *    fails with EPERM, as under systemd's MemoryDenyWriteExecute, on which
 *    libffi (under libvirt's GLib) falls back to a double mapping;
 *  - socket only for AF_UNIX, AF_INET and AF_INET6 (others: EAFNOSUPPORT,
 *    which glibc's resolver expects of a netlink socket it may not have);
 *  - kill and tgkill only to this process; prlimit64 only to read;
 *  - ioctl and prctl only for the requests named.
 * Everything else kills the process. (A filter cannot say "this call with
 * any other argument fails with an error": libseccomp lets a call's rule
 * without conditions override those with, and allows one comparison per
 * argument, so no ranges. Hence "other socket families" is spelled out
 * value by value, and other ioctl and prctl requests kill.)
 *
 * Sanitizer builds also allow what the sanitizer runtime calls itself:
 * LeakSanitizer stops the world at exit from a tracer that is a process of
 * its own (clone without CLONE_THREAD), which ptraces the threads. Should
 * the tracer ever be killed, the exiting daemon waits for it forever. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

/* Allowed whatever their arguments. Names missing on this architecture
 * (open, poll... on aarch64) are skipped. */
static const char *const allowed[] = {
    /* memory */
    "brk", "munmap", "mremap", "madvise", "membarrier", "memfd_create",
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "close", "close_range", "lseek", "stat", "fstat", "lstat",
    "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getdents", "getdents64", "fcntl", "flock", "fsync", "fdatasync", "ftruncate",
    "fallocate", "fadvise64", "unlink", "unlinkat", "linkat" /* audit_reopen */, "fchmod", "fchown", "getcwd", "dup", "dup2",
    "dup3", "pipe", "pipe2", "eventfd2",
    /* sockets (socket itself: see below) */
    "socketpair", "connect", "accept", "accept4", "getsockname", "getpeername", "setsockopt",
    "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
    /* waiting */
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "timerfd_create", "timerfd_settime",
    "timerfd_gettime",
    /* time */
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    /* threads */
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "gettid", "getpid", "getppid", "sched_yield", "sched_getaffinity", "sched_getparam",
    "sched_getscheduler", "getpriority", "exit", "exit_group", "restart_syscall",
    /* signals */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending",
    "sigaltstack",
    /* who and where am I */
    "getrandom", "uname", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
    "getresgid", "getrlimit", "getrusage", "sysinfo", "times",
    /* The constructors of libnuma and libcap-ng, which run when the libvirt
     * module loads (after the filter is on: src/console/module.c). */
    "get_mempolicy", "set_mempolicy", "capget",
};

/* The sanitizer runtime: LeakSanitizer stops the world at exit with a
 * tracer thread (clone without CLONE_THREAD, ptrace of its own threads,
 * waits); reports are written, and symbolized, from the dying process. */
static const char *const allowed_for_sanitizer[] = {
    "ptrace", "wait4", "waitid", "prctl", "process_vm_readv", "personality", "setrlimit",
    "prlimit64", "kill", "tgkill", "tkill", "clone", "sched_setaffinity",
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
                const struct scmp_arg_cmp *args)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a system call on this architecture */
    int rc = seccomp_rule_add_array(ctx, action, nr, n, args);
    if (rc < 0) {
        log_error("seccomp: rule for %s: %s", name, strerror(-rc));
        return -1;
    }
    return 0;
}

static int allow(scmp_filter_ctx ctx, const char *name)
{
    return rule(ctx, SCMP_ACT_ALLOW, name, 0, NULL);
}

/* mmap and mprotect: anything but writable and executable at once, which
 * fails with EPERM. */
static int allow_memory_protection(scmp_filter_ctx ctx)
{
    static const unsigned long prots[] = {0, PROT_WRITE, PROT_EXEC};
    const unsigned long wx = PROT_WRITE | PROT_EXEC;
    int rc = 0;
    for (size_t i = 0; i < sizeof prots / sizeof prots[0]; i++) {
        struct scmp_arg_cmp c = SCMP_A2(SCMP_CMP_MASKED_EQ, wx, prots[i]);
        rc |= rule(ctx, SCMP_ACT_ALLOW, "mmap", 1, &c);
        rc |= rule(ctx, SCMP_ACT_ALLOW, "mprotect", 1, &c);
    }
    struct scmp_arg_cmp both = SCMP_A2(SCMP_CMP_MASKED_EQ, wx, wx);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "mmap", 1, &both);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "mprotect", 1, &both);
    return rc;
}

/* Threads, never processes or namespaces. */
static int allow_threads(scmp_filter_ctx ctx)
{
    const unsigned long namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
    struct scmp_arg_cmp c =
        SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces | CLONE_THREAD, CLONE_THREAD);
    int rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &c);
    rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    return rc;
}

static int allow_socket_families(scmp_filter_ctx ctx)
{
    static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
    int rc = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i], 0);
        rc |= rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &c);
    }
    /* Every other family: a plain error. */
    for (int f = 0; f <= AF_MAX; f++) {
        if (f == AF_UNIX || f == AF_INET || f == AF_INET6)
            continue;
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f, 0);
        rc |= rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 1, &c);
    }
    return rc;
}

/* Signals to this process only (raise, abort, pthread_kill). */
static int allow_signals_to_self(scmp_filter_ctx ctx)
{
    struct scmp_arg_cmp self = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0);
    int rc = rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &self);
    rc |= rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
    return rc;
}

/* getrlimit is prlimit64(0, resource, NULL, old) in glibc: reading only. */
static int allow_limits_read(scmp_filter_ctx ctx)
{
    struct scmp_arg_cmp c[2] = {SCMP_A0(SCMP_CMP_EQ, 0, 0), SCMP_A2(SCMP_CMP_EQ, 0, 0)};
    return rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 2, c);
}

/* ioctl: non-blocking and close-on-exec switches, bytes pending, and the
 * terminal probes of isatty and of a terminal's size. */
static int allow_ioctls(scmp_filter_ctx ctx)
{
    static const unsigned long requests[] = {FIONBIO, FIONREAD, FIOCLEX, FIONCLEX, TCGETS,
                                             TIOCGWINSZ};
    int rc = 0;
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, requests[i]);
        rc |= rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &c);
    }
    return rc;
}

/* prctl: thread names (libraries name their threads), dumpability, and
' * reading the capability sets and secure bits (libcap-ng's constructor, when the
 * libvirt module loads). */
static int allow_prctls(scmp_filter_ctx ctx)
{
    static const int options[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_CAPBSET_READ,
                                  PR_GET_SECUREBITS, PR_GET_NO_NEW_PRIVS};
    int rc = 0;
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)options[i], 0);
        rc |= rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &c);
    }
    /* Ambient capabilities: asking only, never raising or clearing. */
    struct scmp_arg_cmp ambient[2] = {SCMP_A0(SCMP_CMP_EQ, PR_CAP_AMBIENT, 0),
                                      SCMP_A1(SCMP_CMP_EQ, PR_CAP_AMBIENT_IS_SET, 0)};
    rc |= rule(ctx, SCMP_ACT_ALLOW, "prctl", 2, ambient);
    return rc;
}

static int add_rules(scmp_filter_ctx ctx)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        rc |= allow(ctx, allowed[i]);
    if (SANITIZER_BUILD) {
        for (size_t i = 0; i < sizeof allowed_for_sanitizer / sizeof allowed_for_sanitizer[0]; i++)
            rc |= allow(ctx, allowed_for_sanitizer[i]);
        rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    } else {
        rc |= allow_threads(ctx);
        rc |= allow_signals_to_self(ctx);
        rc |= allow_limits_read(ctx);
        rc |= allow_prctls(ctx);
    }
    rc |= allow_memory_protection(ctx);
    rc |= allow_socket_families(ctx);
    rc |= allow_ioctls(ctx);
    return rc;
}

int sandbox_apply(void)
{
    if (seccomp_api_get() < 3) {
        log_error("seccomp: this kernel (or libseccomp) cannot kill a whole process on a "
                  "forbidden system call");
        return -1;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        log_error("seccomp: cannot create a filter");
        return -1;
    }
    int rc = add_rules(ctx) < 0 ? -1 : 0;
    if (rc == 0 && (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0 ||
                    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0)) {
        log_error("seccomp: cannot set the filter's attributes");
        rc = -1;
    }
    if (rc == 0) {
        int err = seccomp_load(ctx);
        if (err < 0) {
            log_error("seccomp: cannot install the filter: %s", strerror(-err));
            rc = -1;
        }
    }
    seccomp_release(ctx);
    return rc;
}
