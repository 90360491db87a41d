/* fuzz_qmp.c: the "qmp:" console backend reading what QEMU sends
 * (console/qmp.c: line reader, JSON messages, reply matching by id,
 * events, error replies, the status, wake-up and capture exchanges).
 *
 * The harness plays QEMU over a socketpair: the input is written into one
 * end and that end is shut for writing, and the backend runs on the other
 * through qmp_open_fd (console/qmp.h). Everything QEMU says is thus there
 * from the start and the stream then ends, so the backend never waits:
 * every exchange ends in a reply, an error or CONSOLE_GONE, and a
 * CONSOLE_TIMEOUT would mean the backend waited with the data in hand.
 *
 * Input: a first line of operations run in order on the connection after
 * the greeting and capabilities exchange, stopping at the first that fails
 * (console.c drops such a connection):
 *     S  query_state        W  wake        C  capture
 * and letters that set what the next captures find in their frame file,
 * in place of the PPM QEMU's screendump writes:
 *     v  a valid 2x1 PPM (the default)    e  nothing
 *     t  a truncated PPM                  b  a header claiming 8192x8192
 * Everything after that line is what QEMU sends. QEMU writes the frame
 * through the fd it was passed; here nobody reads those fds, so the frame
 * file is filled when ecshot creates it: this harness defines
 * memfd_create, which the backend calls, over the C library's.
 *
 * Checked on every input: no exchange times out; a captured frame is sane
 * and readable (fuzz_frame_check.h) and released; and the process holds
 * exactly the file descriptors it held before (no fd of a memfd, of a
 * mapping or of the socket is left behind). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "console/backends.h"
#include "console/qmp.h"
#include "fuzz_check.h"
#include "fuzz_frame_check.h"
#include "util/log.h"

/* Deadline of every exchange; never reached (see above). */
#define TIMEOUT_MS 5000
/* The backend's commands go into the socket nobody reads: a bounded input
 * keeps them (a few dozen bytes per reply consumed) within its buffer. */
#define INPUT_MAX 32768
#define OPS_MAX 16

static const char *frame_bytes;
static size_t frame_len;

static const char valid_ppm[] = "P6\n2 1\n255\nabcdef";
static const char truncated_ppm[] = "P6\n2 2\n255\nabcdef";
static const char big_ppm[] = "P6\n8192 8192\n255\n";

/* The backend's memfd, filled with what the current mode says QEMU wrote. */
int memfd_create(const char *name, unsigned int flags)
{
    int fd = (int)syscall(SYS_memfd_create, name, flags);
    if (fd >= 0 && frame_len > 0)
        FUZZ_CHECK(write(fd, frame_bytes, frame_len) == (ssize_t)frame_len);
    return fd;
}

static void set_frame(const char *bytes, size_t len)
{
    frame_bytes = bytes;
    frame_len = len;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    FUZZ_CHECK(d != NULL);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    return 0;
}

/* Runs one operation; returns its console_result. */
static int run_op(console_conn *c, char op)
{
    vm_state s;
    frame f;
    int r;

    switch (op) {
    case 'S':
        r = qmp_driver.query_state(c, TIMEOUT_MS, &s);
        if (r == CONSOLE_OK)
            FUZZ_CHECK(vm_state_name(s) != NULL && vm_state_ecs_status(s) != NULL);
        return r;
    case 'W':
        return qmp_driver.wake(c, TIMEOUT_MS);
    case 'C':
        memset(&f, 0, sizeof f);
        r = qmp_driver.capture(c, TIMEOUT_MS, &f);
        if (r == CONSOLE_OK) {
            fuzz_check_frame(&f);
            frame_release(&f);
        }
        return r;
    }
    return CONSOLE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ops_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *stream = nl ? nl + 1 : data + size;
    size_t stream_len = size - (size_t)(stream - data);
    if (ops_len > OPS_MAX)
        return 0;

    int fds_before = count_fds();
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    /* Non-blocking, so a stream larger than the buffer shows as a failed
     * write here, not a hang. */
    FUZZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
    size_t off = 0;
    while (off < stream_len) {
        ssize_t n = write(sv[1], stream + off, stream_len - off);
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
    FUZZ_CHECK(shutdown(sv[1], SHUT_WR) == 0);

    set_frame(valid_ppm, sizeof valid_ppm - 1);
    console_conn *c = NULL;
    int r = qmp_open_fd(sv[0], "fuzz", TIMEOUT_MS, &c);
    FUZZ_CHECK(r != CONSOLE_TIMEOUT);
    for (size_t i = 0; r == CONSOLE_OK && i < ops_len; i++) {
        switch (data[i]) {
        case 'v': set_frame(valid_ppm, sizeof valid_ppm - 1); break;
        case 'e': set_frame(NULL, 0); break;
        case 't': set_frame(truncated_ppm, sizeof truncated_ppm - 1); break;
        case 'b': set_frame(big_ppm, sizeof big_ppm - 1); break;
        default: r = run_op(c, (char)data[i]); break;
        }
        FUZZ_CHECK(r != CONSOLE_TIMEOUT);
    }
    if (c)
        qmp_driver.disconnect(c);
    close(sv[1]); /* with it go the fds the backend passed and nobody took */
    FUZZ_CHECK(count_fds() == fds_before);
    return 0;
}
