/* loadgen.c: requests per second that ecshotd answers from its inventory.
 *
 *   ecshot-loadgen ENDPOINT REGION INSTANCE N CONNECTIONS [v1|v3]
 *   ecshot-loadgen --raw PREFIX FILES ENDPOINT REGION INSTANCE N
 *   ecshot-loadgen --probe ENDPOINT REGION INSTANCE BODY_FILE
 *
 * Signs N + a warm-up of distinct GetInstanceScreenshot calls before it
 * starts the clock (each with its own nonce, as a real client would send
 * them: a nonce is never accepted twice), then sends them over CONNECTIONS
 * keep-alive connections, one thread each, and prints one line:
 *   loadgen n=N answered=A seconds=S rps=R
 * where A counts the IncorrectInstanceStatus answers: the benchmark points
 * at an instance that exists but is Stopped, so every call runs the whole
 * request path (signature, nonce, RAM, inventory lookup, status) and none
 * reaches a hypervisor. Any other answer is a failure (exit status 1).
 *
 * --raw signs N calls the same way but sends nothing: it writes each as the
 * bytes of an HTTP/1.1 request (what curl would send: POST, the signed
 * headers, Content-Length: 0), dealt round robin into PREFIX.0 ..
 * PREFIX.<FILES-1>, one file per thread of a load tool that replays them
 * (bench/cheap.lua for wrk). Each request ends with its blank line.
 * --probe sends one signed call and prints
 *   probe status=S content_type=T bytes=B
 * writing the answer's body to BODY_FILE: what a stand-in server must
 * answer to be compared byte for byte.
 * Keys come from ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "cli/request.h"
#include "util/timeutil.h"

#define CONNECTIONS_MAX 64
#define EXPECTED_CODE "\"IncorrectInstanceStatus\""

typedef struct signed_call {
    buf url;
    struct curl_slist *headers;
} signed_call;

typedef struct worker {
    signed_call *calls;     /* this worker's share */
    size_t count;
    size_t answered;        /* IncorrectInstanceStatus seen */
    pthread_t thread;
} worker;

typedef struct body {
    char data[4096];
    size_t len;
} body;

static size_t keep_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    body *b = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof b->data - 1 - b->len;
    size_t take = n < room ? n : room;
    memcpy(b->data + b->len, data, take);
    b->len += take;
    b->data[b->len] = '\0';
    return n;
}

/* Sends the worker's calls one after another on one connection. */
static void *run_worker(void *p)
{
    worker *w = p;
    CURL *curl = curl_easy_init();
    if (!curl)
        return NULL;
    for (size_t i = 0; i < w->count; i++) {
        body b = {.len = 0};
        b.data[0] = '\0';
        screenshot_call_setopt(curl, &w->calls[i].url, w->calls[i].headers, keep_body, &b);
        long status = 0;
        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (strstr(b.data, EXPECTED_CODE))
            w->answered++;
        else if (i - w->answered < 3) /* say what went wrong, the first times */
            fprintf(stderr, "ecshot-loadgen: HTTP %ld: %.300s\n", status, b.data);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* Runs calls[0..n) over conns threads; returns the answered count and the
 * seconds taken. */
static size_t run(signed_call *calls, size_t n, int conns, double *seconds)
{
    worker w[CONNECTIONS_MAX];
    size_t per = n / (size_t)conns, extra = n % (size_t)conns, at = 0;
    int64_t t0 = clock_monotonic_us();
    for (int i = 0; i < conns; i++) {
        w[i] = (worker){.calls = calls + at, .count = per + ((size_t)i < extra)};
        at += w[i].count;
        if (pthread_create(&w[i].thread, NULL, run_worker, &w[i]) != 0) {
            fprintf(stderr, "ecshot-loadgen: cannot start a thread\n");
            exit(2);
        }
    }
    size_t answered = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        answered += w[i].answered;
    }
    *seconds = (double)(clock_monotonic_us() - t0) / 1e6;
    return answered;
}

/* The call's keys from the environment, or NULL with a message. */
static int call_keys(screenshot_call *call)
{
    call->access_key_id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID");
    call->access_key_secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    if (!call->access_key_id || !call->access_key_secret) {
        fprintf(stderr, "ecshot-loadgen: set ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET\n");
        return -1;
    }
    return 0;
}

/* Appends the HTTP/1.1 request curl would send for a signed call. The
 * signed list names the host twice ("host" is signed, "Host" is for curl);
 * a request carries it once. */
static int raw_request(buf *out, const buf *url, const struct curl_slist *headers)
{
    const char *target = strstr(buf_cstr(url), "://");
    target = target ? strchr(target + 3, '/') : NULL;
    if (!target)
        return -1;
    buf_printf(out, "POST %s HTTP/1.1\r\n", target);
    int host_seen = 0;
    for (const struct curl_slist *h = headers; h; h = h->next) {
        if (strncasecmp(h->data, "host:", 5) == 0 && host_seen++)
            continue;
        buf_printf(out, "%s\r\n", h->data);
    }
    buf_puts(out, "User-Agent: ecshot/" ECSHOT_VERSION "\r\nContent-Length: 0\r\n\r\n");
    return out->failed ? -1 : 0;
}

/* --raw: n signed calls as raw requests, dealt into files prefix.0.. */
static int write_raw(const char *prefix, long files, const screenshot_call *call, long n)
{
    FILE *out[CONNECTIONS_MAX];
    char path[4096];
    for (long f = 0; f < files; f++) {
        snprintf(path, sizeof path, "%s.%ld", prefix, f);
        if (!(out[f] = fopen(path, "w"))) {
            perror(path);
            return 2;
        }
    }
    buf url = BUF_INIT, text = BUF_INIT;
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        struct curl_slist *headers = NULL;
        buf_reset(&text);
        if (screenshot_call_sign(call, &url, &headers) != 0 || raw_request(&text, &url, headers) != 0) {
            fprintf(stderr, "ecshot-loadgen: cannot sign a call\n");
            rc = 2;
        } else if (fwrite(text.data, 1, text.len, out[i % files]) != text.len) {
            perror(prefix);
            rc = 2;
        }
        curl_slist_free_all(headers);
    }
    for (long f = 0; f < files; f++) {
        if (fclose(out[f]) != 0 && rc == 0) {
            perror(prefix);
            rc = 2;
        }
    }
    buf_free(&url);
    buf_free(&text);
    return rc;
}

/* --probe: one call; its status and content type printed, its body saved. */
static int probe(const screenshot_call *call, const char *body_path)
{
    buf url = BUF_INIT;
    struct curl_slist *headers = NULL;
    body b = {.len = 0};
    long status = 0;
    const char *type = NULL;
    int rc = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    if (curl && screenshot_call_sign(call, &url, &headers) == 0) {
        screenshot_call_setopt(curl, &url, headers, keep_body, &b);
        if (curl_easy_perform(curl) == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
            rc = 0;
        }
    }
    if (rc == 0 && b.len == sizeof b.data - 1) {
        fprintf(stderr, "ecshot-loadgen: the answer is longer than %zu bytes\n", b.len);
        rc = 1;
    }
    FILE *f = rc == 0 ? fopen(body_path, "w") : NULL;
    if (rc == 0 && (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0)) {
        perror(body_path);
        rc = 1;
    }
    if (rc == 0)
        printf("probe status=%ld content_type=%s bytes=%zu\n", status, type ? type : "-", b.len);
    else
        fprintf(stderr, "ecshot-loadgen: the probe call failed\n");
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    buf_free(&url);
    curl_global_cleanup();
    return rc;
}

/* The original mode: send n calls over conns connections, count answers. */
static int load(const screenshot_call *call, long n, long conns)
{
    size_t warm = (size_t)(n / 10 > 1000 ? 1000 : n / 10 + (size_t)conns);
    size_t total = (size_t)n + warm;
    signed_call *calls = calloc(total, sizeof *calls);
    if (!calls) {
        fprintf(stderr, "ecshot-loadgen: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < total; i++) {
        if (screenshot_call_sign(call, &calls[i].url, &calls[i].headers) != 0) {
            fprintf(stderr, "ecshot-loadgen: cannot sign a call\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double seconds;
    size_t warm_ok = run(calls, warm, (int)conns, &seconds);
    size_t answered = run(calls + warm, (size_t)n, (int)conns, &seconds);
    printf("loadgen n=%ld answered=%zu seconds=%.3f rps=%.0f\n", n, answered, seconds,
           (double)answered / seconds);
    for (size_t i = 0; i < total; i++) {
        buf_free(&calls[i].url);
        curl_slist_free_all(calls[i].headers);
    }
    free(calls);
    curl_global_cleanup();
    return answered == (size_t)n && warm_ok == warm ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: ecshot-loadgen ENDPOINT REGION INSTANCE N CONNECTIONS [v1|v3]\n"
                    "       ecshot-loadgen --raw PREFIX FILES ENDPOINT REGION INSTANCE N\n"
                    "       ecshot-loadgen --probe ENDPOINT REGION INSTANCE BODY_FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    screenshot_call call = {0};
    if (argc == 8 && strcmp(argv[1], "--raw") == 0) {
        long files = atol(argv[3]), n = atol(argv[7]);
        if (files < 1 || files > CONNECTIONS_MAX || n < 1 || n > 100000000) {
            fprintf(stderr, "ecshot-loadgen: FILES from 1 to %d, N from 1\n", CONNECTIONS_MAX);
            return 2;
        }
        call.endpoint = argv[4];
        call.region = argv[5];
        call.instance = argv[6];
        return call_keys(&call) < 0 ? 2 : write_raw(argv[2], files, &call, n);
    }
    if (argc == 6 && strcmp(argv[1], "--probe") == 0) {
        call.endpoint = argv[2];
        call.region = argv[3];
        call.instance = argv[4];
        return call_keys(&call) < 0 ? 2 : probe(&call, argv[5]);
    }
    if (argc < 6 || argc > 7 || argv[1][0] == '-')
        return usage();
    long n = atol(argv[4]), conns = atol(argv[5]);
    if (n < 1 || n > 10000000 || conns < 1 || conns > CONNECTIONS_MAX) {
        fprintf(stderr, "ecshot-loadgen: N from 1, CONNECTIONS from 1 to %d\n", CONNECTIONS_MAX);
        return 2;
    }
    call.endpoint = argv[1];
    call.region = argv[2];
    call.instance = argv[3];
    call.v1 = argc == 7 && strcmp(argv[6], "v1") == 0;
    return call_keys(&call) < 0 ? 2 : load(&call, n, conns);
}
