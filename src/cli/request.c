/* request.c: signing a GetInstanceScreenshot call (see request.h). */
#include "cli/request.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "ops/ops.h"
#include "util/timeutil.h"

static void nonce_hex(char out[33])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        /* Should never happen; a clock-based nonce is still unique per call. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memset(b, 0, sizeof b);
        memcpy(b, &ts, sizeof ts < sizeof b ? sizeof ts : sizeof b);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* host[:port] of an http(s)://host[:port][/] endpoint. */
static int endpoint_host(const char *endpoint, char *host, size_t n)
{
    const char *p = strstr(endpoint, "://");
    p = p ? p + 3 : endpoint;
    size_t len = strcspn(p, "/?#");
    if (len == 0 || len >= n)
        return -1;
    memcpy(host, p, len);
    host[len] = '\0';
    return 0;
}

/* Adds "k=encode(v)" to a sorted query text. */
static void query_add(buf *q, const char *k, const char *v)
{
    if (q->len)
        buf_putc(q, '&');
    percent_encode(q, k, strlen(k));
    buf_putc(q, '=');
    percent_encode(q, v, strlen(v));
}

/* Builds the V3 request: query text and the headers curl sends. */
static int sign_v3(const screenshot_call *o, const char *ak, const char *sk, const char *host,
                   buf *query, struct curl_slist **headers)
{
    char date[ISO8601_LEN + 1], nonce[33], body_hash[SIG_V3_HEX_LEN + 1];
    char signature[SIG_V3_HEX_LEN + 1];
    /* The SDK's order: sorted, the token (when there is one) signed too. */
    int token = o->security_token && *o->security_token;
    const char *signed_names =
        token ? "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;"
                "x-acs-signature-nonce;x-acs-version"
              : "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;"
                "x-acs-version";

    query_add(query, "InstanceId", o->instance);
    query_add(query, "RegionId", o->region);
    query_add(query, "WakeUp", o->wakeup ? "true" : "false");
    iso8601_format(time(NULL), date);
    nonce_hex(nonce);
    sha256_hex("", 0, body_hash);

    sig_header hs[] = {
        {"host", host},
        {"x-acs-action", "GetInstanceScreenshot"},
        {"x-acs-content-sha256", body_hash},
        {"x-acs-date", date},
        {"x-acs-signature-nonce", nonce},
        {"x-acs-version", ECS_API_VERSION},
        {"x-acs-security-token", token ? o->security_token : ""},
    };
    size_t nh = sizeof hs / sizeof hs[0] - (token ? 0 : 1);
    param_list qp = PARAM_LIST_INIT;
    buf canonical = BUF_INIT, sts = BUF_INIT, line = BUF_INIT;
    int rc = -1;
    if (params_decode(&qp, buf_cstr(query), query->len, 0) < 0 ||
        sig_v3_canonical_request(&canonical, "POST", &qp, hs, nh, signed_names, body_hash) < 0 ||
        sig_v3_string_to_sign(&sts, buf_cstr(&canonical), canonical.len) < 0 ||
        sig_v3_sign(sk, buf_cstr(&sts), sts.len, signature) < 0)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        buf_reset(&line);
        buf_printf(&line, "%s: %s", hs[i].name, hs[i].value);
        *headers = curl_slist_append(*headers, buf_cstr(&line));
    }
    buf_reset(&line);
    buf_printf(&line, "Authorization: " SIG_V3_ALGORITHM " Credential=%s,SignedHeaders=%s,Signature=%s",
               ak, signed_names, signature);
    *headers = curl_slist_append(*headers, buf_cstr(&line));
    *headers = curl_slist_append(*headers, "Accept: application/json");
    *headers = curl_slist_append(*headers, "Content-Type: application/x-www-form-urlencoded");
    rc = line.failed ? -1 : 0;
out:
    params_free(&qp);
    buf_free(&canonical);
    buf_free(&sts);
    buf_free(&line);
    return rc;
}

/* Builds the V1 request: every parameter, Signature last, in the query. */
static int sign_v1(const screenshot_call *o, const char *ak, const char *sk, buf *query)
{
    char date[ISO8601_LEN + 1], nonce[33], signature[SIG_V1_B64_LEN + 1];
    iso8601_format(time(NULL), date);
    nonce_hex(nonce);
    /* Sorted by name, as the string to sign wants them anyway. */
    query_add(query, "AccessKeyId", ak);
    query_add(query, "Action", "GetInstanceScreenshot");
    query_add(query, "Format", "JSON");
    query_add(query, "InstanceId", o->instance);
    query_add(query, "RegionId", o->region);
    if (o->security_token && *o->security_token)
        query_add(query, "SecurityToken", o->security_token);
    query_add(query, "SignatureMethod", "HMAC-SHA1");
    query_add(query, "SignatureNonce", nonce);
    query_add(query, "SignatureVersion", "1.0");
    query_add(query, "Timestamp", date);
    query_add(query, "Version", ECS_API_VERSION);
    query_add(query, "WakeUp", o->wakeup ? "true" : "false");

    param_list qp = PARAM_LIST_INIT;
    buf sts = BUF_INIT;
    int rc = -1;
    if (params_decode(&qp, buf_cstr(query), query->len, 0) == 0 &&
        sig_v1_string_to_sign(&sts, "POST", &qp) == 0 &&
        sig_v1_sign(sk, buf_cstr(&sts), sts.len, signature) == 0) {
        query_add(query, "Signature", signature);
        rc = query->failed ? -1 : 0;
    }
    params_free(&qp);
    buf_free(&sts);
    return rc;
}

int screenshot_call_sign(const screenshot_call *call, buf *url, struct curl_slist **headers)
{
    char host[256], hostline[300];
    buf query = BUF_INIT;
    if (endpoint_host(call->endpoint, host, sizeof host) < 0)
        return -1;
    int rc = call->v1 ? sign_v1(call, call->access_key_id, call->access_key_secret, &query)
                      : sign_v3(call, call->access_key_id, call->access_key_secret, host, &query,
                                headers);
    if (rc == 0) {
        /* http://host:port, with or without a trailing slash. */
        size_t base_len = strlen(call->endpoint);
        while (base_len > 0 && call->endpoint[base_len - 1] == '/')
            base_len--;
        buf_reset(url);
        buf_printf(url, "%s%.*s/?%s", strstr(call->endpoint, "://") ? "" : "http://",
                   (int)base_len, call->endpoint, buf_cstr(&query));
        snprintf(hostline, sizeof hostline, "Host: %s", host);
        *headers = curl_slist_append(*headers, hostline);
        rc = url->failed || !*headers ? -1 : 0;
    }
    buf_free(&query);
    return rc;
}

void screenshot_call_setopt(CURL *curl, const buf *url, struct curl_slist *headers,
                            curl_write_callback write_fn, void *data)
{
    curl_easy_setopt(curl, CURLOPT_URL, buf_cstr(url));
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_fn);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, data);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ecshot/" ECSHOT_VERSION);
}
