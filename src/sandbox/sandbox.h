/* sandbox.h: what ecshotd gives up once it is set up: root, and most of the
 * kernel.
 *
 * sandbox_drop_privileges switches the whole process to an unprivileged
 * user (after the listening socket is bound, before anything else is
 * opened), and proves it cannot switch back. sandbox_apply installs a
 * seccomp filter on every thread of the process (and so on every thread
 * started later): the system calls a running ecshotd makes are allowed,
 * a few are refused with an error code its libraries handle, and any other
 * call kills the whole process (SIGSYS) before it runs. A hijacked ecshotd
 * cannot execute a program, trace or signal another process, mount, load
 * a module or a BPF program, create a namespace, change its identity or
 * map memory both writable and executable. */
#ifndef ECSHOT_SANDBOX_SANDBOX_H
#define ECSHOT_SANDBOX_SANDBOX_H

/* Becomes user (name or numeric uid), with its primary group and its
 * supplementary groups. Returns 0, or -1 and logs why; on -1 the caller must
 * not go on running. A process that is not root may only "become" itself. */
int sandbox_drop_privileges(const char *user);

/* Installs the filter on all threads. Returns 0, or -1 and logs why (no
 * seccomp in this kernel, say); on -1 nothing was installed. */
int sandbox_apply(void);

#endif
