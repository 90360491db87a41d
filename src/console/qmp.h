/* qmp.h: the "qmp:" backend's session on a socket ecshot did not open itself.
 *
 * console.c reaches the backend through qmp_driver (backends.h), which
 * connects by path. This entry point starts the same session on a stream
 * socket that is already connected, so that the code reading QEMU's replies
 * can be driven by a peer in the same process: the fuzzing harness writes
 * its input into the other end of a socketpair. The returned connection is
 * used through qmp_driver's functions like any other. */
#ifndef ECSHOT_CONSOLE_QMP_H
#define ECSHOT_CONSOLE_QMP_H

#include "console/console.h"

/* Takes over fd (it is closed on failure, and by qmp_driver.disconnect),
 * makes it non-blocking, reads QEMU's greeting and negotiates capabilities
 * within timeout_ms. name stands for the socket in log lines. Returns a
 * console_result. */
int qmp_open_fd(int fd, const char *name, int timeout_ms, console_conn **out);

#endif
