/* apibench.c: latency of whole GetInstanceScreenshot calls through the API.
 *
 *   ecshot-apibench ENDPOINT REGION INSTANCE [N]
 *
 * Sends N signed calls one after another on one keep-alive connection, as
 * a client that polls a console would, and prints one line:
 *   api n=N ok=N median_ms=M p95_ms=P bytes=B
 * Every call must succeed (the daemon under test runs with --throttle-ms 0);
 * a failed call is counted and makes the exit status 1. Keys come from
 * ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/request.h"
#include "util/timeutil.h"

#include "stats.h"

static size_t count_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    (void)data;
    *(size_t *)userdata += size * nmemb;
    return size * nmemb;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: ecshot-apibench ENDPOINT REGION INSTANCE [N]\n");
        return 2;
    }
    int n = argc == 5 ? atoi(argv[4]) : 200;
    if (n < 1)
        n = 1;
    screenshot_call call = {
        .endpoint = argv[1],
        .region = argv[2],
        .instance = argv[3],
        .access_key_id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        .access_key_secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    };
    if (!call.access_key_id || !call.access_key_secret) {
        fprintf(stderr, "ecshot-apibench: set ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET\n");
        return 2;
    }
    double *ms = calloc((size_t)n, sizeof *ms);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    if (!ms || !curl)
        return 2;
    size_t bytes = 0;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        buf url = BUF_INIT;
        struct curl_slist *headers = NULL;
        size_t body = 0;
        long status = 0;
        int64_t t0 = clock_monotonic_us();
        if (screenshot_call_sign(&call, &url, &headers) == 0) {
            screenshot_call_setopt(curl, &url, headers, count_body, &body);
            if (curl_easy_perform(curl) == CURLE_OK)
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        }
        ms[i] = (double)(clock_monotonic_us() - t0) / 1000.0;
        if (status == 200) {
            ok++;
            bytes = body;
        }
        curl_slist_free_all(headers);
        buf_free(&url);
    }
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    printf("api n=%d ok=%d median_ms=%.3f p95_ms=%.3f bytes=%zu\n", n, ok, percentile(ms, n, 50),
           percentile(ms, n, 95), bytes);
    free(ms);
    return ok == n ? 0 : 1;
}
