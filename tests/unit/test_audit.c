/* test_audit.c: the audit log: exact lines, escaping, no secrets, files.
 *
 * audit_format is checked byte for byte; audit_record and audit_reopen on
 * real files in a temporary directory (mode, appending, a logrotate-style
 * rename and reopen, threads writing at once while the file is reopened);
 * and api_handle end to end on a signed request that carries a secret, a
 * signature and a SecurityToken, none of which may reach the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "util/buf.h"

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ecshot-test-audit-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The whole file as a string (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        assert_int_equal(buf_append(&b, chunk, n), 0);
    fclose(f);
    buf_putc(&b, '\0');
    b.len--;
    return buf_steal(&b);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static audit_entry sample(void)
{
    audit_entry e = {
        .time_ms = 1714566896789, /* 2024-05-01T12:34:56.789Z */
        .request_id = "6A2D9F3E-1B7C-4E8A-9D0F-3C5B7A1E2F4D",
        .access_key_id = "LTAI5tExampleKey0000000",
        .account_id = "1234567890123456",
        .user = "alice",
        .source_ip = "203.0.113.7",
        .action = "GetInstanceScreenshot",
        .instance_id = "i-bp1gbz20g229bvu5abcd",
        .code = "OK",
        .status = 200,
        .latency_ms = 12,
    };
    return e;
}

/* ---- lines ---- */

static void full_line_exactly(void **state)
{
    (void)state;
    audit_entry e = sample();
    char *line = audit_format(&e);
    assert_string_equal(line,
        "{\"time\":\"2024-05-01T12:34:56.789Z\","
        "\"requestId\":\"6A2D9F3E-1B7C-4E8A-9D0F-3C5B7A1E2F4D\","
        "\"accessKeyId\":\"LTAI5tExampleKey0000000\","
        "\"principal\":\"1234567890123456/alice\",\"account\":\"1234567890123456\","
        "\"sourceIp\":\"203.0.113.7\",\"action\":\"GetInstanceScreenshot\","
        "\"instanceId\":\"i-bp1gbz20g229bvu5abcd\",\"code\":\"OK\",\"status\":200,"
        "\"latencyMs\":12}");
    free(line);
}

static void account_key_is_the_account_alone(void **state)
{
    (void)state;
    audit_entry e = sample();
    e.user = "";
    char *line = audit_format(&e);
    assert_non_null(strstr(line, "\"principal\":\"1234567890123456\",\"account\""));
    free(line);
    e.user = NULL;
    line = audit_format(&e);
    assert_non_null(strstr(line, "\"principal\":\"1234567890123456\",\"account\""));
    free(line);
}

/* A request refused before its signature was verified: nobody is named,
 * only the key the request claimed. */
static void unknown_fields_are_null(void **state)
{
    (void)state;
    audit_entry e = {
        .time_ms = 0,
        .request_id = "00000000-0000-4000-8000-000000000000",
        .source_ip = "::1",
        .code = "IncompleteSignature",
        .status = 400,
        .latency_ms = 0,
    };
    char *line = audit_format(&e);
    assert_string_equal(line,
        "{\"time\":\"1970-01-01T00:00:00.000Z\","
        "\"requestId\":\"00000000-0000-4000-8000-000000000000\",\"accessKeyId\":null,"
        "\"principal\":null,\"account\":null,\"sourceIp\":\"::1\",\"action\":null,"
        "\"instanceId\":null,\"code\":\"IncompleteSignature\",\"status\":400,\"latencyMs\":0}");
    free(line);
    e.account_id = ""; /* empty is not an account either */
    e.user = "bob";
    line = audit_format(&e);
    assert_non_null(strstr(line, "\"principal\":null,\"account\":null"));
    free(line);
}

static void values_are_escaped(void **state)
{
    (void)state;
    audit_entry e = sample();
    e.instance_id = "i-\"quoted\"\\back\nline\r\t\x01\x1f end";
    e.action = "Get</x>&";
    char *line = audit_format(&e);
    assert_non_null(strstr(line,
        "\"action\":\"Get</x>&\",\"instanceId\":\"i-\\\"quoted\\\"\\\\back\\nline\\r\\t"
        "\\u0001\\u001F end\","));
    assert_null(strchr(line, '\n'));
    free(line);
}

/* Non-ASCII text is \u-escaped (the line stays ASCII); bytes that are not
 * UTF-8 become '?'. */
static void non_ascii_and_non_utf8(void **state)
{
    (void)state;
    audit_entry e = sample();
    e.instance_id = "i-\xc3\xa9\xe2\x80\xa8\xe2\x80\xae"; /* é, LINE SEPARATOR, RLO */
    char *line = audit_format(&e);
    assert_non_null(strstr(line, "\"instanceId\":\"i-\\u00E9\\u2028\\u202E\""));
    for (const char *p = line; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    free(line);
    e.instance_id = "i-\xff\xfe-ok-\xc3";
    line = audit_format(&e);
    assert_non_null(strstr(line, "\"instanceId\":\"i-?" "?-ok-?\""));
    free(line);
}

/* Caller-supplied values are cut at AUDIT_FIELD_MAX bytes, never inside a
 * character. */
static void long_values_are_cut(void **state)
{
    (void)state;
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    audit_entry e = sample();
    e.instance_id = big;
    char *line = audit_format(&e);
    char want[AUDIT_FIELD_MAX + 32];
    snprintf(want, sizeof want, "\"instanceId\":\"%.*s\",", AUDIT_FIELD_MAX, big);
    assert_non_null(strstr(line, want));
    free(line);
    /* "é" (2 bytes) straddling byte 128: the cut falls before it. */
    memset(big, 'b', AUDIT_FIELD_MAX - 1);
    memcpy(big + AUDIT_FIELD_MAX - 1, "\xc3\xa9zzz", 6);
    e.instance_id = big;
    line = audit_format(&e);
    snprintf(want, sizeof want, "\"instanceId\":\"%.*s\",", AUDIT_FIELD_MAX - 1, big);
    assert_non_null(strstr(line, want));
    free(line);
}

/* ---- files ---- */

static void file_is_private_and_appended(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/append.log", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "earlier\n", 8), 8);
    close(fd);
    mode_t old = umask(0);
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s/fresh.log", dir);
    audit_log *created = audit_open(fresh);
    umask(old);
    assert_non_null(created);
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    audit_close(created);

    audit_log *log = audit_open(path);
    assert_non_null(log);
    audit_entry e = sample();
    assert_int_equal(audit_record(log, &e), 0);
    e.code = "Throttling";
    e.status = 429;
    assert_int_equal(audit_record(log, &e), 0);
    audit_close(log);
    char *text = slurp(path);
    e = sample();
    char *l1 = audit_format(&e);
    e.code = "Throttling";
    e.status = 429;
    char *l2 = audit_format(&e);
    char want[2048];
    snprintf(want, sizeof want, "earlier\n%s\n%s\n", l1, l2);
    assert_string_equal(text, want);
    free(l1);
    free(l2);
    free(text);
}

static void open_failure_is_null(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/dir/audit.log", dir);
    assert_null(audit_open(path));
}

/* logrotate: rename, SIGHUP (audit_reopen), and the next line is in a new
 * file at the old name; the renamed file keeps what it had. */
static void reopen_after_rename(void **state)
{
    (void)state;
    char path[128], rotated[128];
    snprintf(path, sizeof path, "%s/rotate.log", dir);
    snprintf(rotated, sizeof rotated, "%s/rotate.log.1", dir);
    audit_log *log = audit_open(path);
    assert_non_null(log);
    audit_entry e = sample();
    e.request_id = "before";
    assert_int_equal(audit_record(log, &e), 0);
    assert_int_equal(rename(path, rotated), 0);
    e.request_id = "renamed";
    assert_int_equal(audit_record(log, &e), 0); /* still the old file */
    assert_int_equal(audit_reopen(log), 0);
    e.request_id = "after";
    assert_int_equal(audit_record(log, &e), 0);
    audit_close(log);

    char *old_text = slurp(rotated), *new_text = slurp(path);
    assert_int_equal(count_lines(old_text), 2);
    assert_non_null(strstr(old_text, "\"requestId\":\"before\""));
    assert_non_null(strstr(old_text, "\"requestId\":\"renamed\""));
    assert_int_equal(count_lines(new_text), 1);
    assert_non_null(strstr(new_text, "\"requestId\":\"after\""));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(old_text);
    free(new_text);

    /* A reopen that fails (a directory now stands at the path) keeps
     * writing to the file it had. */
    log = audit_open(path);
    assert_non_null(log);
    char moved[128];
    snprintf(moved, sizeof moved, "%s/rotate.log.2", dir);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(audit_reopen(log), -1);
    e.request_id = "kept";
    assert_int_equal(audit_record(log, &e), 0);
    audit_close(log);
    char *kept = slurp(moved);
    assert_int_equal(count_lines(kept), 2); /* "after", then "kept" */
    assert_non_null(strstr(kept, "\"requestId\":\"kept\""));
    free(kept);
    assert_int_equal(rmdir(path), 0);
}

/* ---- threads ---- */

#define THREADS 8
#define PER_THREAD 2000

typedef struct writer {
    audit_log *log;
    int id;
} writer;

static void *write_many(void *arg)
{
    writer *w = arg;
    char rid[64];
    /* A long value makes each line several hundred bytes. */
    char inst[AUDIT_FIELD_MAX + 1];
    memset(inst, 'a' + w->id, AUDIT_FIELD_MAX);
    inst[AUDIT_FIELD_MAX] = '\0';
    for (int i = 0; i < PER_THREAD; i++) {
        audit_entry e = sample();
        snprintf(rid, sizeof rid, "t%d-%d", w->id, i);
        e.request_id = rid;
        e.instance_id = inst;
        if (audit_record(w->log, &e) != 0)
            return (void *)1;
    }
    return NULL;
}

/* Checks one file's lines: each a whole JSON object whose instance id is
 * one thread's letter repeated; returns how many. */
static size_t check_whole_lines(const char *text)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        json_error_t jerr;
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        assert_non_null(o);
        const char *inst = json_string_value(json_object_get(o, "instanceId"));
        assert_non_null(inst);
        assert_int_equal(strlen(inst), AUDIT_FIELD_MAX);
        assert_int_equal(strspn(inst, (char[]){inst[0], 0}), AUDIT_FIELD_MAX);
        json_decref(o);
        n++;
        p = nl + 1;
    }
    return n;
}

static void threads_never_interleave_even_across_reopen(void **state)
{
    (void)state;
    char path[128], rotated[128];
    snprintf(path, sizeof path, "%s/threads.log", dir);
    snprintf(rotated, sizeof rotated, "%s/threads.log.1", dir);
    audit_log *log = audit_open(path);
    assert_non_null(log);
    pthread_t t[THREADS];
    writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){log, i};
        assert_int_equal(pthread_create(&t[i], NULL, write_many, &w[i]), 0);
    }
    /* Rotate while they write. */
    assert_int_equal(rename(path, rotated), 0);
    assert_int_equal(audit_reopen(log), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        assert_null(rc);
    }
    audit_close(log);
    char *a = slurp(rotated), *b = slurp(path);
    assert_int_equal(check_whole_lines(a) + check_whole_lines(b), THREADS * PER_THREAD);
    free(a);
    free(b);
}

/* "-" writes to stderr, and a reopen of it changes nothing. */
static void dash_is_stderr(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", dir);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    audit_log *log = audit_open("-");
    audit_entry e = sample();
    int rc1 = audit_record(log, &e);
    int rc2 = audit_reopen(log);
    int rc3 = audit_record(log, &e);
    audit_close(log);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc1, 0);
    assert_int_equal(rc2, 0);
    assert_int_equal(rc3, 0);
    char *text = slurp(path);
    char *line = audit_format(&e);
    char want[2048];
    snprintf(want, sizeof want, "%s\n%s\n", line, line);
    assert_string_equal(text, want);
    free(line);
    free(text);
}

/* ---- end to end: api_handle ---- */

#define SECRET "auditTestSecretDoNotLog00000000"
#define TOKEN "STS.auditTokenDoNotLog"

typedef struct api_fixture {
    api_service svc;
    secret_keyring *ring;
    char db[128];
    char log_path[128];
} api_fixture;

static int api_setup(void **state)
{
    static api_fixture f;
    memset(&f, 0, sizeof f);
    char url[160];
    snprintf(f.db, sizeof f.db, "%s/api.db", dir);
    snprintf(url, sizeof url, "sqlite:%s", f.db);
    snprintf(f.log_path, sizeof f.log_path, "%s/api-audit.log", dir);
    char key_file[160];
    snprintf(key_file, sizeof key_file, "%s/master.key", dir);
    buf why = BUF_INIT;
    if (secret_keyfile_create(key_file, &why) != 0 ||
        !(f.ring = secret_keyring_load(key_file, &why))) {
        fprintf(stderr, "test_audit: %s\n", buf_cstr(&why));
        buf_free(&why);
        return -1;
    }
    f.svc.auth.store = store_open(url);
    if (f.svc.auth.store)
        store_set_keyring(f.svc.auth.store, f.ring);
    f.svc.auth.limits = limits_open("memory:");
    f.svc.auth.now = NULL;
    if (!f.svc.auth.store || !f.svc.auth.limits ||
        store_account_create(f.svc.auth.store, "1234567890123456") != STORE_OK ||
        store_key_create(f.svc.auth.store, "1234567890123456", NULL, "LTAIauditTestKey000000",
                         SECRET) != STORE_OK)
        return -1;
    f.svc.ops = (ops_context){
        .store = f.svc.auth.store,
        .limits = f.svc.auth.limits,
        .consoles = console_pool_new(1000),
        .retired = retired_types_load(ECSHOT_SOURCE_DATADIR "/retired-instance-types.txt"),
        .jpeg = {85, 444},
        .throttle_ms = SCREENSHOT_THROTTLE_MS,
    };
    f.svc.audit = audit_open(f.log_path);
    if (!f.svc.ops.consoles || !f.svc.ops.retired || !f.svc.audit)
        return -1;
    *state = &f;
    return 0;
}

static int api_teardown(void **state)
{
    api_fixture *f = *state;
    audit_close(f->svc.audit);
    console_pool_free(f->svc.ops.consoles);
    retired_types_free((retired_types *)f->svc.ops.retired);
    limits_close(f->svc.auth.limits);
    store_close(f->svc.auth.store);
    secret_keyring_free(f->ring);
    return 0;
}

static time_t real_now(void)
{
    return time(NULL);
}

/* A V1 GET signed with secret, carrying a SecurityToken; returns the
 * query string (malloc'd) and the Signature it carries. */
/* A V1 query signed with secret; with_token adds a SecurityToken, which
 * with this long-term key the gateway refuses (and the log must not keep). */
static char *signed_query(const char *secret, int with_token, char signature[SIG_V1_B64_LEN + 1])
{
    char ts[32], nonce[40], unsigned_q[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H%%3A%M%%3A%SZ", &tm);
    snprintf(nonce, sizeof nonce, "nonce-%ld-%d", (long)now, rand());
    snprintf(unsigned_q, sizeof unsigned_q,
             "AccessKeyId=LTAIauditTestKey000000&Action=GetInstanceScreenshot&Format=JSON"
             "&InstanceId=i-bp1gbz20g229bvu5abcd&RegionId=cn-hangzhou%s"
             "&SignatureMethod=HMAC-SHA1&SignatureNonce=%s&SignatureVersion=1.0&Timestamp=%s"
             "&Version=2014-05-26",
             with_token ? "&SecurityToken=" TOKEN : "", nonce, ts);
    param_list pl = PARAM_LIST_INIT;
    assert_int_equal(params_decode(&pl, unsigned_q, strlen(unsigned_q), 0), 0);
    buf sts = BUF_INIT, enc = BUF_INIT;
    assert_int_equal(sig_v1_string_to_sign(&sts, "GET", &pl), 0);
    assert_int_equal(sig_v1_sign(secret, sts.data, sts.len, signature), 0);
    assert_int_equal(percent_encode(&enc, signature, strlen(signature)), 0);
    char *q = malloc(strlen(unsigned_q) + enc.len + 16);
    assert_non_null(q);
    sprintf(q, "%s&Signature=%s", unsigned_q, buf_cstr(&enc));
    params_free(&pl);
    buf_free(&sts);
    buf_free(&enc);
    return q;
}

/* Runs one request through api_handle; returns its HTTP status. */
static int call(api_fixture *f, const char *query)
{
    http_header headers[] = {
        {"host", "ecs.example.test"},
        {"user-agent", "test_audit"},
    };
    char target[2048];
    snprintf(target, sizeof target, "/?%s", query);
    http_request req = {
        .method = "GET",
        .target = target,
        .path = "/",
        .query = query,
        .headers = headers,
        .header_count = 2,
        .body = "",
    };
    snprintf(req.peer, sizeof req.peer, "192.0.2.44");
    http_client_address(&req, NULL, req.client, sizeof req.client); /* as the server does */
    http_response resp = {0};
    resp.status = 500;
    api_handle(&f->svc, &req, &resp);
    buf_free(&resp.body);
    return resp.status;
}

static json_t *line_at(const char *text, size_t index)
{
    const char *p = text;
    for (size_t i = 0; i < index; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    json_error_t err;
    json_t *o = json_loadb(p, (size_t)(nl - p), 0, &err);
    assert_non_null(o);
    return o;
}

static void expect_field(json_t *o, const char *name, const char *value)
{
    json_t *v = json_object_get(o, name);
    assert_non_null(v);
    if (!value)
        assert_true(json_is_null(v));
    else
        assert_string_equal(json_string_value(v), value);
}

static void api_calls_leave_lines_without_secrets(void **state)
{
    api_fixture *f = *state;
    f->svc.auth.now = real_now;
    char good_sig[SIG_V1_B64_LEN + 1], bad_sig[SIG_V1_B64_LEN + 1], token_sig[SIG_V1_B64_LEN + 1];
    char *good = signed_query(SECRET, 0, good_sig);
    char *bad = signed_query("someOtherSecret000000000000000", 0, bad_sig);
    char *token = signed_query(SECRET, 1, token_sig);
    assert_int_equal(call(f, good), 404);  /* signed right; no such instance */
    assert_int_equal(call(f, bad), 400);   /* SignatureDoesNotMatch */
    assert_int_equal(call(f, ""), 400);    /* IncompleteSignature */
    assert_int_equal(call(f, token), 400); /* InvalidSecurityToken.Malformed */
    free(good);
    free(bad);
    free(token);

    char *text = slurp(f->log_path);
    assert_int_equal(count_lines(text), 4);
    /* Nothing that signs or could sign a request. */
    assert_null(strstr(text, SECRET));
    assert_null(strstr(text, TOKEN));
    assert_null(strstr(text, "\"SecurityToken\""));
    assert_null(strstr(text, "SignatureNonce"));
    assert_null(strstr(text, "nonce-"));
    assert_null(strstr(text, good_sig));
    assert_null(strstr(text, bad_sig));
    assert_null(strstr(text, token_sig));

    json_t *o = line_at(text, 0);
    assert_int_equal(json_object_size(o), 11);
    expect_field(o, "accessKeyId", "LTAIauditTestKey000000");
    expect_field(o, "principal", "1234567890123456");
    expect_field(o, "account", "1234567890123456");
    expect_field(o, "sourceIp", "192.0.2.44");
    expect_field(o, "action", "GetInstanceScreenshot");
    expect_field(o, "instanceId", "i-bp1gbz20g229bvu5abcd");
    expect_field(o, "code", "InvalidParameter");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
    assert_true(json_integer_value(json_object_get(o, "latencyMs")) >= 0);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "requestId"))), 36);
    assert_int_equal(strlen(json_string_value(json_object_get(o, "time"))), 24);
    json_decref(o);

    /* A bad signature: the key it claimed, nobody verified. */
    o = line_at(text, 1);
    expect_field(o, "accessKeyId", "LTAIauditTestKey000000");
    expect_field(o, "principal", NULL);
    expect_field(o, "account", NULL);
    expect_field(o, "action", "GetInstanceScreenshot");
    expect_field(o, "code", "SignatureDoesNotMatch");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 400);
    json_decref(o);

    o = line_at(text, 2);
    expect_field(o, "accessKeyId", NULL);
    expect_field(o, "action", NULL);
    expect_field(o, "instanceId", NULL);
    expect_field(o, "code", "IncompleteSignature");
    json_decref(o);

    o = line_at(text, 3);
    expect_field(o, "accessKeyId", "LTAIauditTestKey000000");
    expect_field(o, "principal", NULL);
    expect_field(o, "code", "InvalidSecurityToken.Malformed");
    json_decref(o);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_line_exactly),
        cmocka_unit_test(account_key_is_the_account_alone),
        cmocka_unit_test(unknown_fields_are_null),
        cmocka_unit_test(values_are_escaped),
        cmocka_unit_test(non_ascii_and_non_utf8),
        cmocka_unit_test(long_values_are_cut),
        cmocka_unit_test(file_is_private_and_appended),
        cmocka_unit_test(open_failure_is_null),
        cmocka_unit_test(reopen_after_rename),
        cmocka_unit_test(threads_never_interleave_even_across_reopen),
        cmocka_unit_test(dash_is_stderr),
        cmocka_unit_test_setup_teardown(api_calls_leave_lines_without_secrets, api_setup,
                                        api_teardown),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
