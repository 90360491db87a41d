/* audit.h: the audit log: one JSON line per API call, for the operator.
 *
 * Each line says who called (the AccessKeyId the request named; the
 * principal and account once its signature was verified), from where, what
 * they asked (action, instance), what they got (code, HTTP status) and how
 * long it took. Nothing a caller could use to sign a request ever enters a
 * line: no secret, no signature, no SecurityToken, no query string; the
 * fields are picked one by one, never copied from the request wholesale.
 *
 *   {"time":"2024-05-01T12:34:56.789Z","requestId":"…","accessKeyId":"LTAI…",
 *    "principal":"1234567890123456/alice","account":"1234567890123456",
 *    "sourceIp":"203.0.113.7","action":"GetInstanceScreenshot",
 *    "instanceId":"i-…","code":"OK","status":200,"latencyMs":12}
 *
 * Unknown fields are null. Lines are built with jansson (every value
 * escaped; bytes that are not UTF-8 become '?') and written with one
 * write(2) each, so lines of concurrent calls never interleave. */
#ifndef ECSHOT_AUDIT_AUDIT_H
#define ECSHOT_AUDIT_AUDIT_H

#include <stdint.h>

/* Longest text kept of each request-supplied field; longer is cut. */
#define AUDIT_FIELD_MAX 128

typedef struct audit_log audit_log;

typedef struct audit_entry {
    int64_t time_ms;            /* wall clock, milliseconds since the epoch */
    const char *request_id;
    const char *access_key_id;  /* as the request named it; NULL if none */
    const char *account_id;     /* verified; NULL when authentication failed */
    const char *user;           /* RAM user; NULL or "" for the account's own key */
    const char *source_ip;
    const char *action;         /* as the request named it */
    const char *instance_id;    /* as the request named it */
    const char *code;           /* "OK" or the error code, e.g. "Forbidden.RAM" */
    int status;                 /* HTTP status */
    int64_t latency_ms;
} audit_entry;

/* Opens path for appending (created 0600, close-on-exec); "-" is stderr.
 * Returns NULL and logs on failure. */
audit_log *audit_open(const char *path);
/* Opens the path again (after logrotate renamed it) and writes there from
 * now on; safe while other threads record. Returns 0, or -1 (logged) and
 * keeps writing to the old file. A no-op for stderr. */
int audit_reopen(audit_log *log);
/* Appends one line; returns 0, or -1 when it could not be written (logged
 * once per burst, so a full disk does not flood the log). */
int audit_record(audit_log *log, const audit_entry *e);
/* The line audit_record would write, without its newline (for tests);
 * malloc'd, NULL when memory ran out. */
char *audit_format(const audit_entry *e);
void audit_close(audit_log *log);

#endif
