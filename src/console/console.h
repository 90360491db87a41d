/* console.h: reaching a VM's screen and state through its hypervisor.
 *
 * A console URL names the backend and the VM: "qmp:/path/to/qmp.sock" talks
 * QMP to QEMU directly. Each backend is a console_driver in a file of its
 * own; console.c keeps one open connection per console URL (QEMU allows one
 * client per QMP socket), serialises exchanges on it, and drops and
 * reopens it when it fails. Every exchange has a deadline: a hung VM costs
 * its caller a CONSOLE_TIMEOUT within that time and no other VM waits. */
#ifndef ECSHOT_CONSOLE_CONSOLE_H
#define ECSHOT_CONSOLE_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "image/frame.h"

enum console_result {
    CONSOLE_OK = 0,
    CONSOLE_GONE = 1,      /* nothing answers at that address: the VM is not there */
    CONSOLE_TIMEOUT = 2,   /* the hypervisor did not answer within the deadline */
    CONSOLE_ERROR = -1     /* protocol or local failure (logged) */
};

/* The hypervisor's run state, as QMP's query-status names it. */
typedef enum vm_state {
    VM_RUNNING,
    VM_PAUSED,
    VM_SUSPENDED,       /* guest in ACPI S3 */
    VM_SHUTDOWN,
    VM_PRELAUNCH,       /* started with -S, never run: shows a placeholder */
    VM_INMIGRATE,
    VM_INTERNAL_ERROR,
    VM_OTHER
} vm_state;

/* Name QEMU uses for the state ("running", "suspended", ...). */
const char *vm_state_name(vm_state s);
/* The ECS status word that state shows to a client: running and suspended
 * and paused are "Running" (the instance is up), shutdown is "Stopped",
 * prelaunch and inmigrate are "Starting", anything else "Stopped". */
const char *vm_state_ecs_status(vm_state s);

typedef struct console_conn console_conn; /* backend-private */

typedef struct console_driver {
    const char *scheme;   /* "qmp:" */
    /* Opens a connection to target (the URL without its scheme). */
    int (*connect)(const char *target, int timeout_ms, console_conn **out);
    void (*disconnect)(console_conn *c);
    int (*query_state)(console_conn *c, int timeout_ms, vm_state *out);
    /* Brings a suspended guest back and sends an input event that wakes a
     * blanked screen. Leaves the VM running. */
    int (*wake)(console_conn *c, int timeout_ms);
    /* Captures the framebuffer into *out (see frame.h); frame_release frees it. */
    int (*capture)(console_conn *c, int timeout_ms, frame *out);
    /* 1 when the calls above block their thread (the backend's library
     * has no other way): console.c runs them with fiber_run_blocking, so
     * that a request's fiber parks instead. 0: they wait with fiber_poll. */
    int blocking;
} console_driver;

typedef struct console_pool console_pool;

console_pool *console_pool_new(int timeout_ms);
void console_pool_free(console_pool *p);

/* Whether some driver accepts this URL (used when an instance is added). */
int console_url_valid(const char *url);

/* The three things a request asks of a VM. Each takes the pool's lock for
 * that console only, reconnects once when the connection was dropped, and
 * returns a console_result. */
int console_query_state(console_pool *p, const char *url, vm_state *out);
int console_wake(console_pool *p, const char *url);
int console_capture(console_pool *p, const char *url, frame *out);

#endif
