/* idleconns.c: hold many idle keep-alive connections to a server, for memory figures.
 *
 *   ecshot-idleconns URL N
 *
 * Opens N HTTP/1.1 connections at once (libcurl's multi interface, one
 * transfer each), sends one GET of URL on each and reads the answer, and
 * then keeps every connection open and idle in libcurl's connection cache:
 * what a fleet of polling clients between two polls looks like to the
 * server. Prints one line once they are all idle:
 *   idle open=O answered=A
 * (O: connections opened, A: transfers that got an HTTP status), then
 * waits until its standard input closes, and exits (closing them all).
 * Exit status 1 when fewer than N connections were opened. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#define IDLE_MAX 100000
#define IDLE_TIMEOUT_S 60L

static size_t drop_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    (void)data;
    (void)userdata;
    return size * nmemb;
}

/* Runs every transfer of m to its end. */
static int run_all(CURLM *m)
{
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            return -1;
        if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc == 3 ? atol(argv[2]) : 0;
    if (n < 1 || n > IDLE_MAX) {
        fprintf(stderr, "usage: ecshot-idleconns URL N (N from 1 to %d)\n", IDLE_MAX);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    CURL **easy = calloc((size_t)n, sizeof *easy);
    if (!m || !easy)
        return 2;
    /* Room in the cache for every connection, and no cap on how many open. */
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, n);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    for (long i = 0; i < n; i++) {
        easy[i] = curl_easy_init();
        if (!easy[i])
            return 2;
        curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, drop_body);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, IDLE_TIMEOUT_S);
        curl_multi_add_handle(m, easy[i]);
    }
    int r = run_all(m);
    long opened = 0, answered = 0;
    for (long i = 0; i < n; i++) {
        long status = 0, connects = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(easy[i], CURLINFO_NUM_CONNECTS, &connects);
        answered += status > 0;
        opened += connects;
        /* The connection stays in the multi handle's cache. */
        curl_multi_remove_handle(m, easy[i]);
    }
    printf("idle open=%ld answered=%ld\n", opened, answered);
    fflush(stdout);
    int c;
    while ((c = getchar()) != EOF)
        ;
    for (long i = 0; i < n; i++)
        curl_easy_cleanup(easy[i]);
    free(easy);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return r == 0 && opened >= n ? 0 : 1;
}
