/* audit.c: the audit log's file and its lines (see audit.h).
 *
 * The descriptor number never changes while the log is open: a reopen opens
 * the path anew and dup3()s the new file over the old number, which the
 * kernel does atomically, so a thread writing at that moment writes whole
 * to one file or the other and no lock is needed. Lines are ASCII
 * (JSON_ENSURE_ASCII): a caller-supplied value cannot smuggle a terminal
 * control sequence or a Unicode line separator into an operator's view. */
#include "audit/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

struct audit_log {
    char *path;           /* NULL for stderr */
    int fd;
    atomic_int failing;   /* the last write failed: its error was logged */
};

static int open_path(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        log_error("audit: cannot open %s: %s", path, strerror(errno));
    return fd;
}

audit_log *audit_open(const char *path)
{
    audit_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    if (strcmp(path, "-") == 0) {
        log->fd = STDERR_FILENO;
        return log;
    }
    log->path = strdup(path);
    log->fd = log->path ? open_path(path) : -1;
    if (log->fd < 0) {
        free(log->path);
        free(log);
        return NULL;
    }
    return log;
}

static int switch_to(audit_log *log, int fd)
{
    int rc = dup3(fd, log->fd, O_CLOEXEC);
    if (rc < 0)
        log_error("audit: cannot switch to the reopened %s: %s", log->path, strerror(errno));
    close(fd);
    return rc < 0 ? -1 : 0;
}

/* The directory part of path ("." when it has none), into out. */
static int directory_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;
    if (slash == path)
        n = 1; /* "/file": the root */
    if (n >= size)
        return -1;
    memcpy(out, slash ? path : ".", n);
    out[n] = '\0';
    return 0;
}

/* A renamed log is replaced by a new file that appears at the path only
 * once every line goes to it: it is made unnamed (O_TMPFILE), switched to,
 * and then linked in. Whoever sees the new file (logrotate's postrotate,
 * a test) can count on the lines that follow being in it. Where O_TMPFILE
 * is not supported the file is simply created first. */
int audit_reopen(audit_log *log)
{
    if (!log || !log->path)
        return 0;
    int fd = open(log->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0)
        return switch_to(log, fd); /* still there (not rotated): carry on in it */
    char dir[4096], proc[64];
    if (errno != ENOENT || directory_of(log->path, dir, sizeof dir) < 0)
        return (fd = open_path(log->path)) < 0 ? -1 : switch_to(log, fd);
    fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return (fd = open_path(log->path)) < 0 ? -1 : switch_to(log, fd);
    if (switch_to(log, fd) < 0)
        return -1;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", log->fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, log->path, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    /* Someone made the file meanwhile, or no /proc: use what is at the path. */
    int err = errno;
    fd = open_path(log->path);
    if (fd < 0 || switch_to(log, fd) < 0) {
        log_error("audit: cannot link the reopened %s: %s", log->path, strerror(err));
        return -1;
    }
    return 0;
}

void audit_close(audit_log *log)
{
    if (!log)
        return;
    if (log->path)
        close(log->fd);
    free(log->path);
    free(log);
}

/* A caller-supplied text as a JSON string: at most AUDIT_FIELD_MAX bytes
 * (cut at a character boundary), bytes that are not UTF-8 as '?'; NULL as
 * null. */
static json_t *text(const char *s)
{
    if (!s)
        return json_null();
    size_t n = strnlen(s, AUDIT_FIELD_MAX + 1);
    if (n > AUDIT_FIELD_MAX) {
        n = AUDIT_FIELD_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues a character: cut before that character */
    }
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char copy[AUDIT_FIELD_MAX];
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    return json_stringn(copy, n);
}

static json_t *iso_time(int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char out[64];
    if (ms < 0 || !gmtime_r(&sec, &tm))
        return json_null();
    snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(out);
}

/* "ACCOUNT" for the account's own key, "ACCOUNT/USER" for a RAM user. */
static json_t *principal_name(const audit_entry *e)
{
    if (!e->account_id || !e->account_id[0])
        return json_null();
    if (!e->user || !e->user[0])
        return text(e->account_id);
    char both[2 * AUDIT_FIELD_MAX + 2];
    snprintf(both, sizeof both, "%.*s/%.*s", AUDIT_FIELD_MAX, e->account_id, AUDIT_FIELD_MAX,
             e->user);
    json_t *j = json_string(both);
    return j ? j : text(both);
}

char *audit_format(const audit_entry *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    /* Insertion order is the order in the line. */
    int bad = json_object_set_new(o, "time", iso_time(e->time_ms));
    bad |= json_object_set_new(o, "requestId", text(e->request_id));
    bad |= json_object_set_new(o, "accessKeyId", text(e->access_key_id));
    bad |= json_object_set_new(o, "principal", principal_name(e));
    bad |= json_object_set_new(
        o, "account", e->account_id && e->account_id[0] ? text(e->account_id) : json_null());
    bad |= json_object_set_new(o, "sourceIp", text(e->source_ip));
    bad |= json_object_set_new(o, "action", text(e->action));
    bad |= json_object_set_new(o, "instanceId", text(e->instance_id));
    bad |= json_object_set_new(o, "code", text(e->code));
    bad |= json_object_set_new(o, "status", json_integer(e->status));
    bad |= json_object_set_new(o, "latencyMs", json_integer(e->latency_ms));
    char *line = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    return line;
}

/* Writes all of data: one write(2) unless the kernel takes less. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int audit_record(audit_log *log, const audit_entry *e)
{
    if (!log)
        return 0;
    char *line = audit_format(e);
    int rc = -1;
    int err = ENOMEM;
    if (line) {
        size_t len = strlen(line);
        line[len] = '\n'; /* over the NUL: the line is written without one */
        rc = write_all(log->fd, line, len + 1);
        err = errno;
        free(line);
    }
    if (rc < 0) {
        if (!atomic_exchange(&log->failing, 1))
            log_error("audit: cannot write %s: %s", log->path ? log->path : "to stderr",
                      strerror(err));
    } else if (atomic_load(&log->failing)) {
        atomic_store(&log->failing, 0);
        log_warn("audit: writing %s again", log->path ? log->path : "to stderr");
    }
    return rc;
}
