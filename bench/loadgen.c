/* loadgen.c: requests per second that ecshotd answers from its inventory.
 *
 *   ecshot-loadgen ENDPOINT REGION INSTANCE N CONNECTIONS [v1|v3]
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
 * Keys come from ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
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

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: ecshot-loadgen ENDPOINT REGION INSTANCE N CONNECTIONS [v1|v3]\n");
        return 2;
    }
    long n = atol(argv[4]), conns = atol(argv[5]);
    if (n < 1 || n > 10000000 || conns < 1 || conns > CONNECTIONS_MAX) {
        fprintf(stderr, "ecshot-loadgen: N from 1, CONNECTIONS from 1 to %d\n", CONNECTIONS_MAX);
        return 2;
    }
    screenshot_call call = {
        .endpoint = argv[1],
        .region = argv[2],
        .instance = argv[3],
        .v1 = argc == 7 && strcmp(argv[6], "v1") == 0,
        .access_key_id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        .access_key_secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    };
    if (!call.access_key_id || !call.access_key_secret) {
        fprintf(stderr, "ecshot-loadgen: set ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET\n");
        return 2;
    }
    size_t warm = (size_t)(n / 10 > 1000 ? 1000 : n / 10 + (size_t)conns);
    size_t total = (size_t)n + warm;
    signed_call *calls = calloc(total, sizeof *calls);
    if (!calls) {
        fprintf(stderr, "ecshot-loadgen: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < total; i++) {
        if (screenshot_call_sign(&call, &calls[i].url, &calls[i].headers) != 0) {
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
