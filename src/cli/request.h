/* request.h: building a signed GetInstanceScreenshot request for libcurl.
 *
 * Shared by the `ecshot screenshot` client and the benchmark's load
 * generator, so both sign exactly as Alibaba's SDKs do: V3 by default
 * (POST, parameters in the query, ACS3-HMAC-SHA256 headers) or V1. */
#ifndef ECSHOT_CLI_REQUEST_H
#define ECSHOT_CLI_REQUEST_H

#include <curl/curl.h>

#include "util/buf.h"

typedef struct screenshot_call {
    const char *endpoint;   /* http://HOST:PORT, with or without a trailing slash */
    const char *region;
    const char *instance;
    int wakeup;
    int v1;                 /* sign with V1 instead of V3 */
    const char *access_key_id;
    const char *access_key_secret;
    const char *security_token;   /* STS credentials' token, NULL or "" for none */
} screenshot_call;

/* Signs the call now (fresh date and nonce) and writes the URL and the
 * headers to send with POST and an empty body. Returns 0 or -1. The caller
 * frees *headers with curl_slist_free_all. */
int screenshot_call_sign(const screenshot_call *call, buf *url, struct curl_slist **headers);

/* Sets a curl handle up to send a signed call: POST to url, empty body,
 * the signed headers, the response body to write_fn(data). The url and the
 * headers must live until the transfer is done. */
void screenshot_call_setopt(CURL *curl, const buf *url, struct curl_slist *headers,
                            curl_write_callback write_fn, void *data);

#endif
