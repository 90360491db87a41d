/* qmp.c: the "qmp:" console backend, QEMU's QMP on a unix socket.
 *
 * A QMP connection is a stream of newline-terminated JSON objects: a
 * greeting, then one reply per command, interleaved with asynchronous
 * events. Every command carries an "id" and a reply is taken only when it
 * echoes ours, so an event or a late reply is never mistaken for the answer.
 * The socket is non-blocking and every wait is a poll() bounded by the
 * deadline of the operation; everything QEMU sends is bounded too (a reply
 * line, a frame), since a misbehaving VM must not cost ecshot its memory.
 *
 * Screenshots travel without touching the filesystem: a write-only fd of a
 * fresh memfd is handed to QEMU with add-fd, screendump writes a PPM to
 * /dev/fdset/N, and ecshot maps the memfd and reads the pixels in place. */
#include "console/backends.h"

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
};

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
        int n = poll(&pfd, 1, left);
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
        char *nl = memchr(c->in + scanned, '\n', c->in_len - scanned);
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

/* Runs one command: sends it (with pass_fd attached unless -1), waits for
 * its reply and hands the "return" value to *ret when ret is not NULL.
 * arguments (may be NULL) is consumed. */
static int execute(console_conn *c, const char *command, json_t *arguments, int pass_fd,
                   int64_t deadline, json_t **ret)
{
    json_int_t id = c->next_id++;
    json_t *cmd = json_pack("{s:s, s:I}", "execute", command, "id", id);
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
    json_t *reply = NULL;
    if (r == CONSOLE_OK)
        r = await_reply(c, id, deadline, &reply);
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
    free(c->in);
    free(c->path);
    free(c);
}

static int qmp_connect(const char *target, int timeout_ms, console_conn **out)
{
    int64_t deadline = deadline_after(timeout_ms);
    int fd;
    int r = open_socket(target, deadline, &fd);
    if (r != CONSOLE_OK)
        return r;
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

/* ---- state and wake-up ----------------------------------------------------- */

static vm_state state_from_name(const char *name)
{
    for (vm_state s = VM_RUNNING; s < VM_OTHER; s++)
        if (strcmp(vm_state_name(s), name) == 0)
            return s;
    return VM_OTHER;
}

static int query_status(console_conn *c, int64_t deadline, vm_state *out)
{
    json_t *ret = NULL;
    int r = execute(c, "query-status", NULL, -1, deadline, &ret);
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

static int qmp_query_state(console_conn *c, int timeout_ms, vm_state *out)
{
    return query_status(c, deadline_after(timeout_ms), out);
}

/* Brings a suspended guest back and waits, within the deadline, until QEMU
 * reports it running. QEMU 7.2 already says "running" once system_wakeup
 * returns; the WAKEUP event covers versions where that happens later. */
static int resume_from_s3(console_conn *c, int64_t deadline)
{
    unsigned seen = c->wakeups;
    int r = execute(c, "system_wakeup", NULL, -1, deadline, NULL);
    while (r == CONSOLE_OK) {
        vm_state s;
        r = query_status(c, deadline, &s);
        if (r != CONSOLE_OK || s != VM_SUSPENDED)
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

static int qmp_wake(console_conn *c, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    vm_state s;
    int r = query_status(c, deadline, &s);
    if (r == CONSOLE_OK && s == VM_SUSPENDED)
        r = resume_from_s3(c, deadline);
    if (r == CONSOLE_OK) {
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

/* Registers wfd with QEMU as a new fd set and returns its id. QEMU picks
 * the id (the lowest free one) rather than ecshot: a set left behind by an
 * earlier failure could otherwise hold another fd that screendump might
 * choose instead of ours. */
static int add_fd(console_conn *c, int wfd, int64_t deadline, json_int_t *set)
{
    json_t *args = json_pack("{s:s}", "opaque", "ecshot");
    json_t *ret = NULL;
    int r = args ? execute(c, "add-fd", args, wfd, deadline, &ret) : CONSOLE_ERROR;
    if (r != CONSOLE_OK)
        return r;
    const json_t *id = json_object_get(ret, "fdset-id");
    if (json_is_integer(id) && json_integer_value(id) >= 0) {
        *set = json_integer_value(id);
    } else {
        log_error("qmp %s: add-fd reply without an fdset-id", c->path);
        r = CONSOLE_ERROR;
    }
    json_decref(ret);
    return r;
}

static int screendump(console_conn *c, json_int_t set, int64_t deadline)
{
    char name[64];
    snprintf(name, sizeof name, "/dev/fdset/%lld", (long long)set);
    json_t *args = json_pack("{s:s, s:s}", "filename", name, "format", "ppm");
    return args ? execute(c, "screendump", args, -1, deadline, NULL) : CONSOLE_ERROR;
}

static int remove_fd(console_conn *c, json_int_t set, int64_t deadline)
{
    json_t *args = json_pack("{s:I}", "fdset-id", set);
    return args ? execute(c, "remove-fd", args, -1, deadline, NULL) : CONSOLE_ERROR;
}

/* Has QEMU write a PPM into memfd through a write-only fd of its own. */
static int dump_into(console_conn *c, int memfd, int64_t deadline)
{
    /* A fresh open file description each time: QEMU truncates the file it
     * opens but does not rewind, so a reused fd would write past the end. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", memfd);
    int wfd = open(proc, O_WRONLY | O_CLOEXEC);
    if (wfd < 0) {
        log_error("qmp %s: open %s: %s", c->path, proc, strerror(errno));
        return CONSOLE_ERROR;
    }
    json_int_t set;
    int r = add_fd(c, wfd, deadline, &set);
    close(wfd); /* QEMU holds its own copy now */
    if (r != CONSOLE_OK)
        return r;

    r = screendump(c, set, deadline);
    /* Always give the set back, or QEMU keeps one more fd per screenshot.
     * When the connection itself failed there is no one to ask; dropping
     * the connection makes QEMU close the unused fds of its sets. */
    if (r == CONSOLE_OK || r == CONSOLE_ERROR) {
        int rr = remove_fd(c, set, deadline);
        if (rr != CONSOLE_OK && r == CONSOLE_OK)
            r = rr == CONSOLE_ERROR ? CONSOLE_OK : rr; /* the frame is fine; the link may not be */
    }
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
 * nobody (QEMU may still hold a writable copy) can shrink the file under
 * the mapping, which would fault, or change the pixels while they are read. */
static int map_frame(console_conn *c, int memfd, frame *out)
{
    if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
        log_error("qmp %s: sealing the frame: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    struct stat st;
    if (fstat(memfd, &st) < 0) {
        log_error("qmp %s: fstat: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    if (st.st_size <= 0 || (uintmax_t)st.st_size > QMP_MAX_FRAME_BYTES) {
        log_error("qmp %s: screendump wrote %lld bytes", c->path, (long long)st.st_size);
        return CONSOLE_ERROR;
    }
    size_t size = (size_t)st.st_size;
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

static int qmp_capture(console_conn *c, int timeout_ms, frame *out)
{
    int64_t deadline = deadline_after(timeout_ms);
    int memfd = memfd_create("ecshot-frame", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (memfd < 0) {
        log_error("qmp %s: memfd_create: %s", c->path, strerror(errno));
        return CONSOLE_ERROR;
    }
    int r = dump_into(c, memfd, deadline);
    if (r == CONSOLE_OK)
        r = map_frame(c, memfd, out);
    close(memfd); /* the mapping keeps the memory until release_mapping */
    return r;
}

const console_driver qmp_driver = {
    "qmp:", qmp_connect, qmp_disconnect, qmp_query_state, qmp_wake, qmp_capture,
};
