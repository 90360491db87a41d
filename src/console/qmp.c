/* qmp.c: the "qmp:" console backend, QEMU's QMP on a unix socket.
 *
 * A QMP connection is a stream of newline-terminated JSON objects: a
 * greeting, then one reply per command, interleaved with asynchronous
 * events. Every command carries an "id" and a reply is taken only when it
 * echoes ours, so an event or a late reply is never mistaken for the answer.
 * The socket is non-blocking and every wait is a fiber_poll() bounded by
 * the deadline of the operation (in a request's fiber it parks the fiber,
 * not the thread); everything QEMU sends is bounded too (a reply
 * line, a frame), since a misbehaving VM must not cost ecshot its memory.
 *
 * Screenshots travel without touching the filesystem: a write-only fd of a
 * memfd is handed to QEMU with add-fd, screendump writes a PPM to
 * /dev/fdset/N, and ecshot reads the pixels from the memfd, in place when
 * the VM runs (see the capture section for why a stopped VM differs). */
#include "console/backends.h"
#include "console/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "image/image.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

/* Longest reply line accepted. QEMU's replies to the commands ecshot sends
 * are a few hundred bytes; a line this long means something is wrong. */
#define QMP_MAX_LINE ((size_t)1 << 20)
/* Largest screendump accepted: the biggest raster plus room for a header. */
#define QMP_MAX_FRAME_BYTES ((size_t)FRAME_MAX_DIM * FRAME_MAX_DIM * 3 + 4096)
#define QMP_READ_CHUNK 4096

struct console_conn {
    int fd;
    char *path;          /* the socket, for log lines */
    char *in;            /* bytes received and not yet consumed */
    size_t in_len;
    size_t in_cap;
    json_int_t next_id;  /* "id" of the next command */
    unsigned wakeups;    /* WAKEUP events seen so far */
    /* The fd set held for captures of a VM that does not run (see capture). */
    json_int_t held_set; /* -1 when none */
    int held_memfd;
    int held_wfd;        /* write-only, shared with QEMU's copy */
};

static void close_held(console_conn *c);

/* ---- time ---------------------------------------------------------------- */

static int64_t deadline_after(int timeout_ms)
{
    return clock_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
}

/* Milliseconds left before deadline, 0 when it has passed. */
static int ms_left(int64_t deadline)
{
    int64_t left = deadline - clock_monotonic_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits until the socket is ready for events or the deadline passes. */
static int wait_ready(console_conn *c, short events, int64_t deadline)
{
    for (;;) {
        int left = ms_left(deadline);
        if (left == 0)
            return CONSOLE_TIMEOUT;
        struct pollfd pfd = {c->fd, events, 0};
        int n = fiber_poll(&pfd, left); /* in a fiber: parks, the thread serves others */
        if (n > 0)
            return CONSOLE_OK; /* hang-ups and errors show in the next read or send */
        if (n == 0)
            return CONSOLE_TIMEOUT;
        if (errno != EINTR) {
            log_error("qmp %s: poll: %s", c->path, strerror(errno));
            return CONSOLE_ERROR;
        }
    }
}

/* ---- bytes --------------------------------------------------------------- */

/* Sends all of text; pass_fd (unless -1) rides along on the first bytes
 * sent, which is how QMP receives a file descriptor for the command. */
static int send_all(console_conn *c, const char *text, size_t len, int pass_fd, int64_t deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n;
        if (off == 0 && pass_fd >= 0) {
            struct iovec iov = {(void *)text, len};
            union {
                char space[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } control;
            memset(&control, 0, sizeof control);
            struct msghdr msg = {0};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.space;
            msg.msg_controllen = sizeof control.space;
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
            n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        } else {
            n = send(c->fd, text + off, len - off, MSG_NOSIGNAL);
        }
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_ready(c, POLLOUT, deadline);
            if (r != CONSOLE_OK)
                return r;
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN))
            return CONSOLE_GONE; /* the VM's QEMU went away */
        log_error("qmp %s: send: %s", c->path, n < 0 ? strerror(errno) : "no progress");
        return CONSOLE_ERROR;
    }
    return CONSOLE_OK;
}

/* Makes room for at least one more byte, never beyond QMP_MAX_LINE. */
static int grow_input(console_conn *c)
{
    if (c->in_len < c->in_cap)
        return CONSOLE_OK;
    if (c->in_cap >= QMP_MAX_LINE) {
        log_error("qmp %s: a reply line exceeds %zu bytes", c->path, QMP_MAX_LINE);
        return CONSOLE_ERROR;
    }
    size_t cap = c->in_cap ? c->in_cap * 2 : QMP_READ_CHUNK;
    if (cap > QMP_MAX_LINE)
        cap = QMP_MAX_LINE;
    char *p = realloc(c->in, cap);
    if (!p) {
        log_error("qmp %s: out of memory", c->path);
        return CONSOLE_ERROR;
    }
    c->in = p;
    c->in_cap = cap;
    return CONSOLE_OK;
}

/* Waits for a complete line; on success it is c->in[0 .. *line_len) and
 * the newline follows it. consume_line drops it afterwards. */
static int read_line(console_conn *c, int64_t deadline, size_t *line_len)
{
    size_t scanned = 0;
    for (;;) {
        char *nl = c->in_len > scanned ? memchr(c->in + scanned, '\n', c->in_len - scanned) : NULL;
        if (nl) {
            *line_len = (size_t)(nl - c->in);
            return CONSOLE_OK;
        }
        scanned = c->in_len;
        int r = grow_input(c);
        if (r != CONSOLE_OK)
            return r;
        ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n == 0)
            return CONSOLE_GONE; /* EOF: QEMU closed the socket or died */
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            r = wait_ready(c, POLLIN, deadline);
            if (r != CONSOLE_OK)
                return r;
            continue;
        }
        if (errno == ECONNRESET)
            return CONSOLE_GONE;
        log_error("qmp %s: read: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
}

static void consume_line(console_conn *c, size_t line_len)
{
    size_t used = line_len + 1;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
}

/* ---- messages ------------------------------------------------------------ */

/* Reads the next JSON object QEMU sends. Blank lines are skipped. */
static int next_message(console_conn *c, int64_t deadline, json_t **msg)
{
    for (;;) {
        size_t len;
        int r = read_line(c, deadline, &len);
        if (r != CONSOLE_OK)
            return r;
        size_t blank = 0;
        while (blank < len && (c->in[blank] == ' ' || c->in[blank] == '\r' || c->in[blank] == '\t'))
            blank++;
        if (blank == len) {
            consume_line(c, len);
            continue;
        }
        json_error_t err;
        json_t *m = json_loadb(c->in, len, 0, &err);
        consume_line(c, len);
        if (!m || !json_is_object(m)) {
            log_error("qmp %s: not a JSON object: %s", c->path, m ? "wrong type" : err.text);
            json_decref(m);
            return CONSOLE_ERROR;
        }
        *msg = m;
        return CONSOLE_OK;
    }
}

/* Whether m is an asynchronous event; notes the ones ecshot waits for. */
static int note_event(console_conn *c, const json_t *m)
{
    const json_t *ev = json_object_get(m, "event");
    if (!ev)
        return 0;
    const char *name = json_string_value(ev);
    if (name && strcmp(name, "WAKEUP") == 0)
        c->wakeups++;
    return 1;
}

/* Reads until the reply that carries id; events and stray replies (to a
 * command whose caller gave up) are passed over. */
static int await_reply(console_conn *c, json_int_t id, int64_t deadline, json_t **reply)
{
    for (;;) {
        json_t *m;
        int r = next_message(c, deadline, &m);
        if (r != CONSOLE_OK)
            return r;
        const json_t *mid = json_object_get(m, "id");
        if (!note_event(c, m) && json_is_integer(mid) && json_integer_value(mid) == id) {
            *reply = m;
            return CONSOLE_OK;
        }
        json_decref(m);
    }
}

/* Waits for the next asynchronous event, whatever it is. */
static int await_event(console_conn *c, int64_t deadline)
{
    for (;;) {
        json_t *m;
        int r = next_message(c, deadline, &m);
        if (r != CONSOLE_OK)
            return r;
        int is_event = note_event(c, m);
        json_decref(m);
        if (is_event)
            return CONSOLE_OK;
    }
}

/* Logs a QMP error reply. Its text stays in the operator's log: clients
 * only ever see ecshot's own fixed error messages. */
static void log_qmp_error(console_conn *c, const char *command, const json_t *error)
{
    const char *cls = json_string_value(json_object_get(error, "class"));
    const char *desc = json_string_value(json_object_get(error, "desc"));
    log_warn("qmp %s: %s failed: %s: %s", c->path, command, cls ? cls : "?", desc ? desc : "?");
}

/* Sends one command without waiting for its reply (pass_fd, unless -1,
 * rides along) and tells its id. QEMU runs a connection's commands one at a
 * time in the order sent, so a caller may send several and then collect
 * their replies, one round trip for all. arguments (may be NULL) is
 * consumed. */
static int submit(console_conn *c, const char *command, json_t *arguments, int pass_fd,
                  int64_t deadline, json_int_t *id)
{
    *id = c->next_id++;
    json_t *cmd = json_pack("{s:s, s:I}", "execute", command, "id", *id);
    if (cmd && arguments && json_object_set(cmd, "arguments", arguments) < 0) {
        json_decref(cmd);
        cmd = NULL;
    }
    json_decref(arguments);
    char *text = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
    json_decref(cmd);
    buf line = BUF_INIT;
    if (text) {
        buf_puts(&line, text);
        buf_putc(&line, '\n');
    }
    free(text);
    if (!text || line.failed) {
        buf_free(&line);
        log_error("qmp %s: out of memory", c->path);
        return CONSOLE_ERROR;
    }
    int r = send_all(c, line.data, line.len, pass_fd, deadline);
    buf_free(&line);
    return r;
}

/* Waits for the reply to command id and hands its "return" value to *ret
 * when ret is not NULL. An error reply is logged and is CONSOLE_ERROR. */
static int collect(console_conn *c, const char *command, json_int_t id, int64_t deadline,
                   json_t **ret)
{
    json_t *reply = NULL;
    int r = await_reply(c, id, deadline, &reply);
    if (r != CONSOLE_OK)
        return r;
    const json_t *error = json_object_get(reply, "error");
    json_t *value = json_object_get(reply, "return");
    if (error) {
        log_qmp_error(c, command, error);
        r = CONSOLE_ERROR;
    } else if (!value) {
        log_error("qmp %s: %s: reply has neither return nor error", c->path, command);
        r = CONSOLE_ERROR;
    } else if (ret) {
        *ret = json_incref(value);
    }
    json_decref(reply);
    return r;
}

/* Runs one command and waits for its reply (see submit and collect). */
static int execute(console_conn *c, const char *command, json_t *arguments, int pass_fd,
                   int64_t deadline, json_t **ret)
{
    json_int_t id;
    int r = submit(c, command, arguments, pass_fd, deadline, &id);
    return r == CONSOLE_OK ? collect(c, command, id, deadline, ret) : r;
}

/* ---- connection ---------------------------------------------------------- */

int qmp_target_valid(const char *target)
{
    struct sockaddr_un sa;
    size_t len = strlen(target);
    return len > 0 && len < sizeof sa.sun_path;
}

/* Opens the unix socket. A blocking connect bounded by SO_SNDTIMEO: on a
 * unix socket a full listen queue makes connect wait, and a non-blocking
 * one would just say EAGAIN with nothing to poll for. */
static int open_socket(const char *path, int64_t deadline, int *out)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (!qmp_target_valid(path)) {
        log_error("qmp %s: not a usable socket path", path);
        return CONSOLE_ERROR;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);

    int left = ms_left(deadline);
    if (left == 0)
        return CONSOLE_TIMEOUT;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("qmp %s: socket: %s", path, strerror(errno));
        return CONSOLE_ERROR;
    }
    struct timeval tv = {left / 1000, (left % 1000) * 1000};
    int rc = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rc == 0)
        rc = connect(fd, (const struct sockaddr *)&sa, sizeof sa);
    if (rc == 0)
        rc = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    int err = errno;
    if (rc == 0) {
        *out = fd;
        return CONSOLE_OK;
    }
    close(fd);
    switch (err) {
    case ENOENT:
    case ECONNREFUSED:
    case ENOTDIR:
        return CONSOLE_GONE; /* no QEMU listens there */
    case EAGAIN:
    case EINTR:
    case EINPROGRESS:
    case ETIMEDOUT:
        return CONSOLE_TIMEOUT;
    default:
        log_error("qmp %s: connect: %s", path, strerror(err));
        return CONSOLE_ERROR;
    }
}

static void qmp_disconnect(console_conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    close_held(c);
    free(c->in);
    free(c->path);
    free(c);
}

/* Takes over fd, a connected non-blocking socket (closed on failure), and
 * starts the session: greeting, then capabilities negotiation. */
static int start_session(int fd, const char *target, int64_t deadline, console_conn **out)
{
    int r;
    console_conn *c = calloc(1, sizeof *c);
    char *path = strdup(target);
    if (!c || !path) {
        close(fd);
        free(c);
        free(path);
        log_error("qmp %s: out of memory", target);
        return CONSOLE_ERROR;
    }
    c->fd = fd;
    c->path = path;
    c->next_id = 1;
    c->held_set = -1;
    c->held_memfd = c->held_wfd = -1;

    json_t *greeting = NULL;
    r = next_message(c, deadline, &greeting);
    if (r == CONSOLE_OK && !json_object_get(greeting, "QMP")) {
        log_error("qmp %s: no QMP greeting", c->path);
        r = CONSOLE_ERROR;
    }
    json_decref(greeting);
    if (r == CONSOLE_OK)
        r = execute(c, "qmp_capabilities", NULL, -1, deadline, NULL);
    if (r != CONSOLE_OK) {
        qmp_disconnect(c);
        return r;
    }
    *out = c;
    return CONSOLE_OK;
}

static int qmp_connect(const char *target, int timeout_ms, console_conn **out)
{
    int64_t deadline = deadline_after(timeout_ms);
    int fd;
    int r = open_socket(target, deadline, &fd);
    return r == CONSOLE_OK ? start_session(fd, target, deadline, out) : r;
}

int qmp_open_fd(int fd, const char *name, int timeout_ms, console_conn **out)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        log_error("qmp %s: fcntl: %s", name, strerror(errno));
        close(fd);
        return CONSOLE_ERROR;
    }
    return start_session(fd, name, deadline_after(timeout_ms), out);
}

/* ---- state and wake-up ----------------------------------------------------- */

static vm_state state_from_name(const char *name)
{
    for (vm_state s = VM_RUNNING; s < VM_OTHER; s++)
        if (strcmp(vm_state_name(s), name) == 0)
            return s;
    return VM_OTHER;
}

/* The state in query-status's reply (collected as cmd id). */
static int collect_status(console_conn *c, json_int_t id, int64_t deadline, vm_state *out)
{
    json_t *ret = NULL;
    int r = collect(c, "query-status", id, deadline, &ret);
    if (r != CONSOLE_OK)
        return r;
    const char *status = json_string_value(json_object_get(ret, "status"));
    if (status)
        *out = state_from_name(status);
    else
        log_error("qmp %s: query-status without a status", c->path);
    json_decref(ret);
    return status ? CONSOLE_OK : CONSOLE_ERROR;
}

static int query_status(console_conn *c, int64_t deadline, vm_state *out)
{
    json_int_t id;
    int r = submit(c, "query-status", NULL, -1, deadline, &id);
    return r == CONSOLE_OK ? collect_status(c, id, deadline, out) : r;
}

static int qmp_query_state(console_conn *c, int timeout_ms, vm_state *out)
{
    return query_status(c, deadline_after(timeout_ms), out);
}

/* Brings a suspended guest back and waits, within the deadline, until QEMU
 * reports it running. QEMU 7.2 already says "running" once system_wakeup
 * returns; the WAKEUP event covers versions where that happens later. */
static int resume_from_s3(console_conn *c, int64_t deadline, vm_state *s)
{
    unsigned seen = c->wakeups;
    int r = execute(c, "system_wakeup", NULL, -1, deadline, NULL);
    while (r == CONSOLE_OK) {
        r = query_status(c, deadline, s);
        if (r != CONSOLE_OK || *s != VM_SUSPENDED)
            break; /* running, or something else (paused) that waiting won't change */
        if (c->wakeups == seen)
            r = await_event(c, deadline);
        seen = c->wakeups;
    }
    return r;
}

/* A press and release of Shift. It counts as user activity for whatever
 * blanked the screen (the Linux console's blanking, a screensaver, DPMS)
 * while typing nothing: a modifier alone enters no character, runs no
 * shortcut and moves no pointer, so the guest's state is left as it was. */
static json_t *shift_tap(void)
{
    return json_pack("{s:[{s:s, s:{s:b, s:{s:s, s:s}}}, {s:s, s:{s:b, s:{s:s, s:s}}}]}",
                     "events",
                     "type", "key", "data", "down", 1, "key", "type", "qcode", "data", "shift",
                     "type", "key", "data", "down", 0, "key", "type", "qcode", "data", "shift");
}

/* A VM that is not running after that (paused, prelaunch, shut down) gets
 * no key: QEMU refuses input then ("VM not running"), and its screen cannot
 * change anyway. */
static int qmp_wake(console_conn *c, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    vm_state s;
    int r = query_status(c, deadline, &s);
    if (r == CONSOLE_OK && s == VM_SUSPENDED)
        r = resume_from_s3(c, deadline, &s);
    if (r == CONSOLE_OK && s == VM_RUNNING) {
        json_t *events = shift_tap();
        if (!events) {
            log_error("qmp %s: out of memory", c->path);
            return CONSOLE_ERROR;
        }
        r = execute(c, "input-send-event", events, -1, deadline, NULL);
    }
    return r;
}

/* ---- capture ------------------------------------------------------------- */

/* QEMU 7.2 closes an fd given back with remove-fd (or left over when the
 * last monitor disconnects) only while the VM runs: monitor_fdset_cleanup()
 * checks runstate_is_running(). On a paused, prelaunch or suspended VM a
 * fresh set per screenshot would leave one open fd behind in QEMU each
 * time, until it runs out. So a capture takes one of two ways:
 *
 *  - VM running: a fresh memfd in a fresh set, removed at once; the frame is
 *    mapped and read in place. Commands go in pairs to spare round trips:
 *    query-status with add-fd, then screendump with remove-fd.
 *  - VM not running: the set just added stays with the connection and
 *    serves every capture until the VM runs again. Its fd shares our open
 *    file description, so rewinding our write fd rewinds QEMU's (QEMU
 *    truncates but does not rewind). The next capture reuses the file, so
 *    the frame is copied out. The set is given back at the first capture
 *    that finds the VM running. One still held when the connection drops
 *    stays in QEMU until its last monitor disconnects while the VM runs. */

/* A new memfd and a write-only fd of it for QEMU. Opening it again through
 * /proc gives a new open file description with its own access mode, which
 * QEMU's fdset code matches against the O_WRONLY it opens with. */
static int new_frame_file(console_conn *c, int *memfd, int *wfd)
{
    *memfd = memfd_create("ecshot-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (*memfd < 0) {
        log_error("qmp %s: memfd_create: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", *memfd);
    *wfd = open(proc, O_WRONLY | O_CLOEXEC);
    if (*wfd < 0) {
        log_error("qmp %s: open %s: %s", c->path, proc, strerror(errno));
        close(*memfd);
        return CONSOLE_ERROR;
    }
    return CONSOLE_OK;
}

/* add-fd: hands wfd to QEMU as a new fd set. QEMU picks the id (the lowest
 * free one) rather than ecshot: a set left behind (see above) could
 * otherwise receive our fd next to an old one, and screendump might write
 * to either. */
static int submit_add_fd(console_conn *c, int wfd, int64_t deadline, json_int_t *id)
{
    json_t *args = json_pack("{s:s}", "opaque", "ecshot");
    return args ? submit(c, "add-fd", args, wfd, deadline, id) : CONSOLE_ERROR;
}

static int collect_add_fd(console_conn *c, json_int_t id, int64_t deadline, json_int_t *set)
{
    json_t *ret = NULL;
    int r = collect(c, "add-fd", id, deadline, &ret);
    if (r != CONSOLE_OK)
        return r;
    const json_t *fdset = json_object_get(ret, "fdset-id");
    if (json_is_integer(fdset) && json_integer_value(fdset) >= 0) {
        *set = json_integer_value(fdset);
    } else {
        log_error("qmp %s: add-fd reply without an fdset-id", c->path);
        r = CONSOLE_ERROR;
    }
    json_decref(ret);
    return r;
}

static int submit_screendump(console_conn *c, json_int_t set, int64_t deadline, json_int_t *id)
{
    char name[64];
    snprintf(name, sizeof name, "/dev/fdset/%lld", (long long)set);
    json_t *args = json_pack("{s:s, s:s}", "filename", name, "format", "ppm");
    return args ? submit(c, "screendump", args, -1, deadline, id) : CONSOLE_ERROR;
}

static int submit_remove_fd(console_conn *c, json_int_t set, int64_t deadline, json_int_t *id)
{
    json_t *args = json_pack("{s:I}", "fdset-id", set);
    return args ? submit(c, "remove-fd", args, -1, deadline, id) : CONSOLE_ERROR;
}

/* Size of what QEMU wrote, checked against what a frame can be. */
static int frame_file_size(console_conn *c, int memfd, size_t *size)
{
    struct stat st;
    if (fstat(memfd, &st) < 0) {
        log_error("qmp %s: fstat: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    if (st.st_size <= 0 || (uintmax_t)st.st_size > QMP_MAX_FRAME_BYTES) {
        log_error("qmp %s: screendump wrote %lld bytes", c->path, (long long)st.st_size);
        return CONSOLE_ERROR;
    }
    *size = (size_t)st.st_size;
    return CONSOLE_OK;
}

/* -- stopped VM: the held set, copied out -- */

static void close_held(console_conn *c)
{
    if (c->held_wfd >= 0)
        close(c->held_wfd);
    if (c->held_memfd >= 0)
        close(c->held_memfd);
    c->held_wfd = c->held_memfd = -1;
    c->held_set = -1;
}

static void release_copy(frame *f)
{
    free(f->owner_data);
    f->owner_data = NULL;
    f->owner_size = 0;
}

/* Reads the whole file into the heap. pread rather than a mapping: QEMU
 * keeps a writable fd of this file, and a read never faults. */
static int copy_frame(console_conn *c, int memfd, frame *out)
{
    size_t size;
    int r = frame_file_size(c, memfd, &size);
    if (r != CONSOLE_OK)
        return r;
    uint8_t *copy = malloc(size);
    if (!copy) {
        log_error("qmp %s: out of memory for a %zu-byte frame", c->path, size);
        return CONSOLE_ERROR;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(memfd, copy + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < size || ppm_parse(copy, size, out) < 0) {
        log_error("qmp %s: screendump is not a usable P6 image (%zu bytes)", c->path, got);
        free(copy);
        return CONSOLE_ERROR;
    }
    out->release = release_copy;
    out->owner_data = copy;
    out->owner_size = size;
    return CONSOLE_OK;
}

static int capture_held(console_conn *c, int64_t deadline, frame *out)
{
    if (lseek(c->held_wfd, 0, SEEK_SET) < 0) {
        log_error("qmp %s: lseek: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    json_int_t id;
    int r = submit_screendump(c, c->held_set, deadline, &id);
    if (r == CONSOLE_OK)
        r = collect(c, "screendump", id, deadline, NULL);
    if (r == CONSOLE_OK)
        r = copy_frame(c, c->held_memfd, out);
    /* The pixels are copied: free the file's pages now rather than keep a
     * frame's worth of memory per stopped VM. */
    if (ftruncate(c->held_wfd, 0) < 0)
        log_warn("qmp %s: ftruncate: %s", c->path, strerror(errno));
    return r;
}

/* Gives the held set back (the VM runs, so QEMU closes its fd now). */
static int return_held(console_conn *c, int64_t deadline)
{
    json_int_t id;
    int r = submit_remove_fd(c, c->held_set, deadline, &id);
    if (r == CONSOLE_OK)
        r = collect(c, "remove-fd", id, deadline, NULL);
    close_held(c);
    return r == CONSOLE_ERROR ? CONSOLE_OK : r; /* refused: logged, nothing else to do */
}

/* -- running VM: a fresh set, read in place -- */

/* screendump into set, then remove-fd, sent together. The set is given
 * back also when screendump fails; when the connection itself fails there
 * is no one to ask, and QEMU closes the fds of unused sets once its last
 * monitor is gone. */
static int dump_and_remove(console_conn *c, json_int_t set, int64_t deadline)
{
    json_int_t dump_id, remove_id;
    int r = submit_screendump(c, set, deadline, &dump_id);
    if (r != CONSOLE_OK)
        return r;
    r = submit_remove_fd(c, set, deadline, &remove_id);
    if (r != CONSOLE_OK)
        return r;
    r = collect(c, "screendump", dump_id, deadline, NULL);
    if (r != CONSOLE_OK && r != CONSOLE_ERROR)
        return r;
    int rr = collect(c, "remove-fd", remove_id, deadline, NULL);
    if (r == CONSOLE_OK && rr != CONSOLE_ERROR)
        r = rr; /* a refused remove-fd is logged; the frame is fine */
    return r;
}

static void release_mapping(frame *f)
{
    if (f->owner_data)
        munmap(f->owner_data, f->owner_size);
    f->owner_data = NULL;
    f->owner_size = 0;
}

/* Seals memfd, maps it and parses the PPM in place. Sealing first means
 * nobody (a misbehaving QEMU may have kept a writable copy) can shrink the
 * file under the mapping, which would fault, or change pixels being read. */
static int map_frame(console_conn *c, int memfd, frame *out)
{
    if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        log_error("qmp %s: sealing the frame: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    size_t size;
    int r = frame_file_size(c, memfd, &size);
    if (r != CONSOLE_OK)
        return r;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, memfd, 0);
    if (map == MAP_FAILED) {
        log_error("qmp %s: mmap: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    if (ppm_parse(map, size, out) < 0) {
        log_error("qmp %s: screendump is not a usable P6 image (%zu bytes)", c->path, size);
        munmap(map, size);
        return CONSOLE_ERROR;
    }
    out->release = release_mapping;
    out->owner_data = map;
    out->owner_size = size;
    return CONSOLE_OK;
}

static int capture_fresh(console_conn *c, int64_t deadline, frame *out)
{
    int memfd, wfd;
    int r = new_frame_file(c, &memfd, &wfd);
    if (r != CONSOLE_OK)
        return r;
    json_int_t status_id, add_id, set = -1;
    vm_state s = VM_OTHER;
    r = submit(c, "query-status", NULL, -1, deadline, &status_id);
    if (r == CONSOLE_OK)
        r = submit_add_fd(c, wfd, deadline, &add_id);
    if (r == CONSOLE_OK)
        r = collect_status(c, status_id, deadline, &s);
    if (r == CONSOLE_OK)
        r = collect_add_fd(c, add_id, deadline, &set);
    if (r == CONSOLE_OK && s != VM_RUNNING) {
        c->held_memfd = memfd; /* this set stays (see above) */
        c->held_wfd = wfd;
        c->held_set = set;
        return capture_held(c, deadline, out);
    }
    if (r == CONSOLE_OK)
        r = dump_and_remove(c, set, deadline);
    close(wfd);
    if (r == CONSOLE_OK)
        r = map_frame(c, memfd, out);
    close(memfd); /* the mapping keeps the memory until release_mapping */
    return r;
}

static int qmp_capture(console_conn *c, int timeout_ms, frame *out)
{
    int64_t deadline = deadline_after(timeout_ms);
    if (c->held_set >= 0) {
        vm_state s;
        int r = query_status(c, deadline, &s);
        if (r != CONSOLE_OK)
            return r;
        if (s != VM_RUNNING)
            return capture_held(c, deadline, out);
        r = return_held(c, deadline);
        if (r != CONSOLE_OK)
            return r;
    }
    return capture_fresh(c, deadline, out);
}

const console_driver qmp_driver = {
    "qmp:", qmp_connect, qmp_disconnect, qmp_query_state, qmp_wake, qmp_capture,
    0, /* waits with fiber_poll */
};
