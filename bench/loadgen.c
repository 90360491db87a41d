/* loadgen.c: requests per second that ecshotd answers, over many connections.
 *
 *   ecshot-loadgen ENDPOINT REGION INSTANCE[,INSTANCE...] N CONNECTIONS [v1|v3]
 *                  [stopped|screenshot]
 *   ecshot-loadgen --raw PREFIX FILES ENDPOINT REGION INSTANCE[,INSTANCE...] N
 *   ecshot-loadgen --probe ENDPOINT REGION INSTANCE BODY_FILE
 *
 * Signs N + a warm-up of distinct GetInstanceScreenshot calls before it
 * starts the clock (each with its own nonce, as a real client would send
 * them: a nonce is never accepted twice), call i for the i-th instance of
 * the list (round robin), then sends them over CONNECTIONS keep-alive
 * connections, one thread each: connection c sends calls c, c + CONNECTIONS,
 * c + 2 CONNECTIONS..., so with as many connections as instances (or a
 * multiple) each connection keeps to its own instance. Prints one line:
 *   loadgen n=N answered=A seconds=S rps=R median_ms=M p95_ms=P
 * where A counts the expected answers and M, P are per-call latencies:
 *   stopped     (default) IncorrectInstanceStatus: the benchmark points at
 *               an instance that exists but is Stopped, so every call runs
 *               the whole request path (signature, nonce, RAM, inventory
 *               lookup, status) and none reaches a hypervisor;
 *   screenshot  HTTP 200 with a Screenshot: every call captures (the daemon
 *               runs with --throttle-ms 0).
 * Any other answer is a failure (exit status 1).
 *
 * --raw signs N calls the same way (round robin over the instances) but
 * sends nothing: it writes each as the bytes of an HTTP/1.1 request (what
 * curl would send: POST, the signed headers, Content-Length: 0), dealt
 * round robin into PREFIX.0 .. PREFIX.<FILES-1>, one file per thread of a
 * load tool that replays them (bench/cheap.lua for wrk). Each request ends
 * with its blank line.
 * --probe sends one signed call and prints
 *   probe status=S content_type=T bytes=B
 * writing the answer's body to BODY_FILE: what a stand-in server must
 * answer to be compared byte for byte.
 * Keys come from ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/request.h"
#include "util/timeutil.h"

#include "stats.h"

#define CONNECTIONS_MAX 64
#define INSTANCES_MAX 4096
#define STOPPED_CODE "\"IncorrectInstanceStatus\""
#define SCREENSHOT_FIELD "\"Screenshot\""

/* The answer every call must get (see above). */
static int expect_screenshot;

typedef struct signed_call {
    buf url;
    struct curl_slist *headers;
} signed_call;

typedef struct worker {
    signed_call *calls;     /* this worker's first call; the next are stride apart */
    double *ms;             /* each call's latency, at the same index as the call */
    size_t stride;
    size_t count;
    size_t answered;        /* expected answers seen */
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

static int expected(long status, const body *b)
{
    if (expect_screenshot)
        return status == 200 && strstr(b->data, SCREENSHOT_FIELD) != NULL;
    return strstr(b->data, STOPPED_CODE) != NULL;
}

/* Sends the worker's calls one after another on one connection. */
static void *run_worker(void *p)
{
    worker *w = p;
    CURL *curl = curl_easy_init();
    if (!curl)
        return NULL;
    for (size_t i = 0; i < w->count; i++) {
        signed_call *call = &w->calls[i * w->stride];
        body b = {.len = 0};
        b.data[0] = '\0';
        screenshot_call_setopt(curl, &call->url, call->headers, keep_body, &b);
        long status = 0;
        int64_t t0 = clock_monotonic_us();
        if (curl_easy_perform(curl) == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        w->ms[i * w->stride] = (double)(clock_monotonic_us() - t0) / 1000.0;
        if (expected(status, &b))
            w->answered++;
        else if (i - w->answered < 3) /* say what went wrong, the first times */
            fprintf(stderr, "ecshot-loadgen: HTTP %ld: %.300s\n", status, b.data);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* Runs calls[0..n) over conns threads, connection i taking calls i,
 * i + conns, ...; fills ms[0..n) with their latencies; returns the
 * answered count and the seconds taken. */
static size_t run(signed_call *calls, size_t n, int conns, double *ms, double *seconds)
{
    worker w[CONNECTIONS_MAX];
    size_t per = n / (size_t)conns, extra = n % (size_t)conns;
    int64_t t0 = clock_monotonic_us();
    for (int i = 0; i < conns; i++) {
        w[i] = (worker){.calls = calls + i, .ms = ms + i, .stride = (size_t)conns,
                        .count = per + ((size_t)i < extra)};
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

/* The call's keys from the environment; -1 with a message without them. */
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
static int write_raw(const char *prefix, long files, screenshot_call *call, char **ids,
                     size_t instances, long n)
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
        call->instance = ids[(size_t)i % instances];
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

/* Splits the comma-separated list in text (modified) into ids[]. */
static size_t split_instances(char *text, char **ids)
{
    size_t k = 0;
    for (char *save = NULL, *id = strtok_r(text, ",", &save); id && k < INSTANCES_MAX;
         id = strtok_r(NULL, ",", &save))
        ids[k++] = id;
    return k;
}

/* The words after CONNECTIONS: v1 or v3, stopped or screenshot. */
static int parse_words(int argc, char **argv, screenshot_call *call)
{
    for (int i = 6; i < argc; i++) {
        if (strcmp(argv[i], "v1") == 0 || strcmp(argv[i], "v3") == 0)
            call->v1 = strcmp(argv[i], "v1") == 0;
        else if (strcmp(argv[i], "stopped") == 0 || strcmp(argv[i], "screenshot") == 0)
            expect_screenshot = strcmp(argv[i], "screenshot") == 0;
        else
            return -1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: ecshot-loadgen ENDPOINT REGION INSTANCE[,INSTANCE...] N CONNECTIONS "
                    "[v1|v3] [stopped|screenshot]\n"
                    "       ecshot-loadgen --raw PREFIX FILES ENDPOINT REGION "
                    "INSTANCE[,INSTANCE...] N\n"
                    "       ecshot-loadgen --probe ENDPOINT REGION INSTANCE BODY_FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    static char *ids[INSTANCES_MAX];
    screenshot_call call = {0};
    if (argc == 8 && strcmp(argv[1], "--raw") == 0) {
        long files = atol(argv[3]), n = atol(argv[7]);
        if (files < 1 || files > CONNECTIONS_MAX || n < 1 || n > 100000000) {
            fprintf(stderr, "ecshot-loadgen: FILES from 1 to %d, N from 1\n", CONNECTIONS_MAX);
            return 2;
        }
        call.endpoint = argv[4];
        call.region = argv[5];
        size_t instances = split_instances(argv[6], ids);
        if (instances == 0) {
            fprintf(stderr, "ecshot-loadgen: no instance\n");
            return 2;
        }
        return call_keys(&call) < 0 ? 2 : write_raw(argv[2], files, &call, ids, instances, n);
    }
    if (argc == 6 && strcmp(argv[1], "--probe") == 0) {
        call.endpoint = argv[2];
        call.region = argv[3];
        call.instance = argv[4];
        return call_keys(&call) < 0 ? 2 : probe(&call, argv[5]);
    }
    if (argc < 6 || argc > 8 || argv[1][0] == '-' || parse_words(argc, argv, &call) < 0)
        return usage();
    call.endpoint = argv[1];
    call.region = argv[2];
    long n = atol(argv[4]), conns = atol(argv[5]);
    if (n < 1 || n > 10000000 || conns < 1 || conns > CONNECTIONS_MAX) {
        fprintf(stderr, "ecshot-loadgen: N from 1, CONNECTIONS from 1 to %d\n", CONNECTIONS_MAX);
        return 2;
    }
    size_t instances = split_instances(argv[3], ids);
    if (call_keys(&call) < 0)
        return 2;
    if (instances == 0) {
        fprintf(stderr, "ecshot-loadgen: no instance\n");
        return 2;
    }
    size_t warm = (size_t)(n / 10 > 1000 ? 1000 : n / 10 + (size_t)conns);
    size_t total = (size_t)n + warm;
    signed_call *calls = calloc(total, sizeof *calls);
    double *ms = calloc(total, sizeof *ms);
    if (!calls || !ms) {
        fprintf(stderr, "ecshot-loadgen: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < total; i++) {
        /* Round robin within the warm-up and within the measured calls. */
        call.instance = ids[(i < warm ? i : i - warm) % instances];
        if (screenshot_call_sign(&call, &calls[i].url, &calls[i].headers) != 0) {
            fprintf(stderr, "ecshot-loadgen: cannot sign a call\n");
            return 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    double seconds;
    size_t warm_ok = run(calls, warm, (int)conns, ms, &seconds);
    size_t answered = run(calls + warm, (size_t)n, (int)conns, ms + warm, &seconds);
    printf("loadgen n=%ld answered=%zu seconds=%.3f rps=%.0f median_ms=%.3f p95_ms=%.3f\n", n,
           answered, seconds, (double)answered / seconds, percentile(ms + warm, (int)n, 50),
           percentile(ms + warm, (int)n, 95));
    for (size_t i = 0; i < total; i++) {
        buf_free(&calls[i].url);
        curl_slist_free_all(calls[i].headers);
    }
    free(calls);
    free(ms);
    curl_global_cleanup();
    return answered == (size_t)n && warm_ok == warm ? 0 : 1;
}
