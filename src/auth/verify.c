/* verify.c: the authentication stage: signed request in, principal or api_error out.
 *
 * PROTOCOL.md §1, §1.4, §2.1. The checks run cheapest first: the form of
 * the request (style, common parameters, timestamp) before the store is
 * asked for the key, the key before the HMAC, and the nonce is claimed
 * only by a request whose signature is good, so that nobody can burn
 * another caller's nonces with unsigned requests. Every failure maps to one
 * of Alibaba's gateway codes; a backend failure fails closed.
 *
 * STS credentials (an "STS." AccessKeyId) are not in the store: their
 * secret comes out of the SecurityToken the request carries, which only the
 * master key opens (sts.h). The token is read where the stored key would
 * be, after the cheap checks and before the signature, and it is signed
 * like every other parameter or x-acs-* header. */
#include "auth/auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/sig_internal.h"
#include "util/log.h"
#include "util/timeutil.h"

#define API_VERSION "2014-05-26"
#define NONCE_MAX 128
/* Bounds the work on a client's SignedHeaders list. */
#define SIGNED_HEADERS_MAX 64

/* The value of a parameter when it is present, non-empty and a plain C
 * string (a decoded %00 would make the C string differ from the signed
 * bytes); NULL otherwise. *present tells an absent one from a bad one. */
static const char *param_text(const param_list *params, const char *name, int *present)
{
    const param *p = params_find(params, name);
    *present = p != NULL && p->value_len > 0;
    if (!*present || strlen(p->value) != p->value_len)
        return NULL;
    return p->value;
}

/* A nonce becomes part of a limits key: 1..128 visible ASCII bytes. */
static int nonce_ok(const char *nonce)
{
    size_t n = nonce ? strlen(nonce) : 0;
    if (n == 0 || n > NONCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)nonce[i] <= 0x20 || (unsigned char)nonce[i] >= 0x7f)
            return 0;
    return 1;
}

/* Timestamp / x-acs-date: well formed and within AUTH_MAX_SKEW_S of now. */
static int check_time(const auth_context *ctx, const char *text, time_t *ts, api_error *err)
{
    if (!text || iso8601_parse(text, ts) != 0)
        return api_error_set(err, API_ERR_TIMESTAMP_FORMAT, NULL);
    int64_t skew = (int64_t)ctx->now() - (int64_t)*ts;
    if (skew > AUTH_MAX_SKEW_S || skew < -AUTH_MAX_SKEW_S)
        return api_error_set(err, API_ERR_TIMESTAMP_EXPIRED, NULL);
    return 0;
}

static int lookup_key(const auth_context *ctx, const char *id, access_key *key, api_error *err)
{
    api_error_code code = API_OK;

    memset(key, 0, sizeof *key);
    if (!id || strlen(id) >= STORE_ID_MAX)
        return api_error_set(err, API_ERR_ACCESS_KEY_NOT_FOUND, NULL);
    switch (store_key_get(ctx->store, id, key)) {
    case STORE_OK:
        if (!key->active)
            code = API_ERR_ACCESS_KEY_INACTIVE;
        break;
    case STORE_NOT_FOUND:
        code = API_ERR_ACCESS_KEY_NOT_FOUND;
        break;
    default:
        code = API_ERR_SERVICE_UNAVAILABLE;
        break;
    }
    if (code == API_OK)
        return 0;
    /* A refused key's secret must not linger on the stack. */
    OPENSSL_cleanse(key->secret, sizeof key->secret);
    return api_error_set(err, code, NULL);
}

/* Claims AccessKeyId/nonce until the timestamp's window has closed (plus
 * a second, so a request at the window's edge cannot slip back in); after
 * that the timestamp check refuses a replay by itself. */
static int claim_nonce(const auth_context *ctx, const char *key_id, const char *nonce,
                       time_t ts, api_error *err)
{
    char claim_key[STORE_ID_MAX + NONCE_MAX + 2];
    int64_t ttl_s = (int64_t)ts + AUTH_MAX_SKEW_S - (int64_t)ctx->now() + 1;
    if (ttl_s < 1)
        ttl_s = 1;
    snprintf(claim_key, sizeof claim_key, "%s/%s", key_id, nonce);
    switch (limits_claim(ctx->limits, "nonce", claim_key, ttl_s * 1000, NULL)) {
    case LIMITS_CLAIMED:
        return 0;
    case LIMITS_HELD:
        return api_error_set(err, API_ERR_SIGNATURE_NONCE_USED, NULL);
    default:
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    }
}

/* The credentials a request names: a stored AccessKey, or the temporary
 * ones its SecurityToken carries. */
typedef struct credentials {
    access_key key;          /* for STS: id, secret and account from the token */
    sts_credentials sts;     /* filled when temporary */
    int temporary;
} credentials;

static void credentials_clear(credentials *c)
{
    OPENSSL_cleanse(c->key.secret, sizeof c->key.secret);
    sts_credentials_clear(&c->sts);
}

static int token_failure(int sts_result, api_error *err)
{
    switch (sts_result) {
    case STS_MALFORMED: return api_error_set(err, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    case STS_MISMATCH: return api_error_set(err, API_ERR_SECURITY_TOKEN_MISMATCH, NULL);
    case STS_EXPIRED: return api_error_set(err, API_ERR_SECURITY_TOKEN_EXPIRED, NULL);
    default: return api_error_set(err, API_ERR_INTERNAL, NULL);
    }
}

/* token: the request's SecurityToken (NULL when it has none). A token sent
 * with a long-term key is refused as the gateway refuses it: the request
 * is an STS one whose key is not the token's. */
static int resolve_credentials(const auth_context *ctx, const char *key_id, const char *token,
                               credentials *c, api_error *err)
{
    memset(c, 0, sizeof *c);
    if (!sts_is_temporary_key(key_id)) {
        if (!token)
            return lookup_key(ctx, key_id, &c->key, err);
        int rc = sts_token_open(ctx->keyring, token, key_id, ctx->now(), &c->sts);
        credentials_clear(c);
        return token_failure(rc == STS_OK ? STS_MISMATCH : rc, err);
    }
    if (!token)
        return api_error_set(err, API_ERR_MISSING_SECURITY_TOKEN, NULL);
    if (!ctx->keyring) {
        log_error("auth: an STS request, but this server holds no master key to open tokens");
        return api_error_set(err, API_ERR_INTERNAL, NULL);
    }
    int rc = sts_token_open(ctx->keyring, token, key_id, ctx->now(), &c->sts);
    if (rc != STS_OK)
        return token_failure(rc, err);
    c->temporary = 1;
    c->key.active = 1;
    memcpy(c->key.id, c->sts.access_key_id, sizeof c->key.id);
    memcpy(c->key.secret, c->sts.secret, sizeof c->key.secret);
    memcpy(c->key.account_id, c->sts.account_id, sizeof c->key.account_id);
    return 0;
}

static void fill_principal(principal *who, const credentials *c, sig_style style)
{
    memset(who, 0, sizeof *who);
    snprintf(who->access_key_id, sizeof who->access_key_id, "%s", c->key.id);
    snprintf(who->account_id, sizeof who->account_id, "%s", c->key.account_id);
    snprintf(who->user, sizeof who->user, "%s", c->key.user);
    if (c->temporary) {
        snprintf(who->role, sizeof who->role, "%s", c->sts.role);
        snprintf(who->session, sizeof who->session, "%s", c->sts.session);
        snprintf(who->session_policy, sizeof who->session_policy, "%s", c->sts.policy);
    }
    who->style = style;
}

/* ---- V1 ---- */

/* Recomputes the signature with the key's secret and compares it with
 * the Signature parameter, byte for byte (a decoded %00 never matches). */
static int v1_check_signature(const http_request *req, const param_list *params,
                              const char *secret, api_error *err)
{
    char sts_space[SIG_STACK_TEXT];
    buf sts;
    buf_init_on(&sts, sts_space, sizeof sts_space);
    char expected[SIG_V1_B64_LEN + 1];
    int rc = 0;

    if (sig_v1_string_to_sign(&sts, req->method, params) != 0 ||
        sig_v1_sign(secret, buf_cstr(&sts), sts.len, expected) != 0) {
        rc = api_error_set(err, API_ERR_INTERNAL, NULL);
    } else {
        const param *given = params_find(params, "Signature");
        int match = given && given->value && strlen(given->value) == given->value_len &&
                    sig_equal(expected, given->value);
        if (!match)
            rc = api_error_set(err, API_ERR_SIGNATURE_DOES_NOT_MATCH, buf_cstr(&sts));
    }
    buf_free(&sts);
    return rc;
}

static int verify_v1(const auth_context *ctx, const http_request *req, const param_list *params,
                     principal *who, api_error *err)
{
    static const char *const required[] = {"AccessKeyId",    "SignatureMethod", "SignatureVersion",
                                           "SignatureNonce", "Timestamp",       "Version",
                                           "Action"};
    const char *v[sizeof required / sizeof required[0]];
    int present;

    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        v[i] = param_text(params, required[i], &present);
        if (!present)
            return api_error_set(err, API_ERR_MISSING_PARAMETER, required[i]);
    }
    const char *key_id = v[0], *method = v[1], *sig_version = v[2], *nonce = v[3],
               *timestamp = v[4], *version = v[5];

    if (!method || strcmp(method, "HMAC-SHA1") != 0 || !sig_version ||
        strcmp(sig_version, "1.0") != 0)
        return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    if (!version || strcmp(version, API_VERSION) != 0)
        return api_error_set(err, API_ERR_INVALID_VERSION, NULL);
    if (!nonce_ok(nonce))
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "SignatureNonce");
    time_t ts;
    if (check_time(ctx, timestamp, &ts, err) != 0)
        return -1;

    credentials c;
    const char *token = param_text(params, "SecurityToken", &present);
    if (present && !token)
        return api_error_set(err, API_ERR_SECURITY_TOKEN_MALFORMED, NULL);
    if (resolve_credentials(ctx, key_id, token, &c, err) != 0)
        return -1;

    int rc = v1_check_signature(req, params, c.key.secret, err);
    if (rc == 0)
        rc = claim_nonce(ctx, c.key.id, nonce, ts, err);
    if (rc == 0)
        fill_principal(who, &c, SIG_STYLE_V1);
    credentials_clear(&c);
    return rc;
}

/* ---- V3 ---- */

/* The headers every V3 request carries, and those of them it must sign:
 * PROTOCOL.md's five, plus the nonce, because a nonce outside the
 * signature could be changed by whoever replays the request, and the
 * replay check would mean nothing. Every SDK signs all its x-acs-* headers. */
static const char *const v3_required[] = {"x-acs-action",         "x-acs-version",
                                          "x-acs-date",           "x-acs-signature-nonce",
                                          "x-acs-content-sha256", "host"};
static const char *const v3_must_sign[] = {"host",       "x-acs-action",         "x-acs-version",
                                           "x-acs-date", "x-acs-content-sha256",
                                           "x-acs-signature-nonce"};

static int compare_str_ptrs(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Splits SignedHeaders (in place) into lower-case, sorted, distinct names
 * and rebuilds the ';'-joined line from them. */
static int split_signed_headers(char *list, const char **names, size_t *count, buf *line)
{
    size_t n = 0;
    for (char *p = list; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (char *name = list;;) {
        char *end = strchr(name, ';');
        if (end)
            *end = '\0';
        if (*name == '\0' || n == SIGNED_HEADERS_MAX)
            return -1;
        names[n++] = name;
        if (!end)
            break;
        name = end + 1;
    }
    qsort(names, n, sizeof *names, compare_str_ptrs);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i - 1], names[i]) == 0)
            return -1;
        if (i > 0)
            buf_putc(line, ';');
        buf_puts(line, names[i]);
    }
    *count = n;
    return line->failed ? -1 : 0;
}

static int is_listed(const char *const *names, size_t count, const char *name)
{
    return bsearch(&name, names, count, sizeof *names, compare_str_ptrs) != NULL;
}

/* What a V3 request signs, gathered from its Authorization and headers. */
typedef struct v3_request {
    sig_v3_authorization auth;
    const char *names[SIGNED_HEADERS_MAX];   /* point into auth.signed_headers */
    sig_header headers[SIGNED_HEADERS_MAX];
    size_t header_count;
    buf signed_line;                         /* the sorted names, ';'-joined */
    char signed_line_space[SIG_STACK_TEXT / 2];
} v3_request;

/* The form checks of a V3 request: Authorization, required headers, and
 * a SignedHeaders list that covers what must be signed and names only
 * headers that are there. */
static int v3_gather(const http_request *req, const char *authorization, v3_request *v3,
                     api_error *err)
{
    if (sig_v3_parse_authorization(authorization, &v3->auth) != 0)
        return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    for (size_t i = 0; i < sizeof v3_required / sizeof v3_required[0]; i++) {
        const char *h = http_request_header(req, v3_required[i]);
        if (!h || *h == '\0')
            return api_error_set(err, API_ERR_MISSING_PARAMETER, v3_required[i]);
    }
    if (split_signed_headers(v3->auth.signed_headers, v3->names, &v3->header_count,
                             &v3->signed_line) != 0)
        return api_error_set(err, v3->signed_line.failed ? API_ERR_INTERNAL
                                                         : API_ERR_INCOMPLETE_SIGNATURE,
                             NULL);
    for (size_t i = 0; i < sizeof v3_must_sign / sizeof v3_must_sign[0]; i++)
        if (!is_listed(v3->names, v3->header_count, v3_must_sign[i]))
            return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    for (size_t i = 0; i < v3->header_count; i++) {
        v3->headers[i].name = v3->names[i];
        v3->headers[i].value = http_request_header(req, v3->names[i]);
        if (!v3->headers[i].value)
            return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    }
    return 0;
}

/* Recomputes the signature with the key's secret and compares. The
 * canonical request carries the hash of the body as received, not the
 * client's claim: a body changed on the way then fails like any other
 * change, and the detail shows what the server signed. */
static int v3_check_signature(const http_request *req, const param_list *params,
                              const v3_request *v3, const char *secret, api_error *err)
{
    char body_hash[SIG_V3_HEX_LEN + 1], expected[SIG_V3_HEX_LEN + 1];
    char canonical_space[SIG_STACK_TEXT], sts_space[128];
    buf canonical, sts;
    buf_init_on(&canonical, canonical_space, sizeof canonical_space);
    buf_init_on(&sts, sts_space, sizeof sts_space);
    int rc = 0;

    sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, body_hash);
    if (sig_v3_canonical_request(&canonical, req->method, params, v3->headers,
                                 v3->header_count, buf_cstr(&v3->signed_line), body_hash) != 0 ||
        sig_v3_string_to_sign(&sts, buf_cstr(&canonical), canonical.len) != 0 ||
        sig_v3_sign(secret, buf_cstr(&sts), sts.len, expected) != 0) {
        rc = api_error_set(err, API_ERR_INTERNAL, NULL);
    } else {
        /* Both comparisons run, so timing does not tell which one failed. */
        int hash_ok = sig_equal(body_hash, http_request_header(req, "x-acs-content-sha256"));
        int sig_ok = sig_equal(expected, v3->auth.signature);
        if (!(hash_ok & sig_ok))
            rc = api_error_set(err, API_ERR_SIGNATURE_DOES_NOT_MATCH, buf_cstr(&sts));
    }
    buf_free(&canonical);
    buf_free(&sts);
    return rc;
}

static int v3_verify_gathered(const auth_context *ctx, const http_request *req,
                              const param_list *params, const v3_request *v3, principal *who,
                              api_error *err)
{
    const char *nonce = http_request_header(req, "x-acs-signature-nonce");
    const char *token = http_request_header(req, "x-acs-security-token");
    time_t ts;
    credentials c;

    if (strcmp(http_request_header(req, "x-acs-version"), API_VERSION) != 0)
        return api_error_set(err, API_ERR_INVALID_VERSION, NULL);
    if (!nonce_ok(nonce))
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "x-acs-signature-nonce");
    if (check_time(ctx, http_request_header(req, "x-acs-date"), &ts, err) != 0)
        return -1;
    if (token && *token == '\0')
        token = NULL;
    /* An unsigned token could be swapped by whoever replays the request. */
    if (token && !is_listed(v3->names, v3->header_count, "x-acs-security-token"))
        return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
    if (resolve_credentials(ctx, v3->auth.credential, token, &c, err) != 0)
        return -1;
    int rc = v3_check_signature(req, params, v3, c.key.secret, err);
    if (rc == 0)
        rc = claim_nonce(ctx, c.key.id, nonce, ts, err);
    if (rc == 0)
        fill_principal(who, &c, SIG_STYLE_V3);
    credentials_clear(&c);
    return rc;
}

static int verify_v3(const auth_context *ctx, const http_request *req, const char *authorization,
                     const param_list *params, principal *who, api_error *err)
{
    v3_request v3;
    memset(&v3, 0, sizeof v3);
    buf_init_on(&v3.signed_line, v3.signed_line_space, sizeof v3.signed_line_space);
    int rc = v3_gather(req, authorization, &v3, err);
    if (rc == 0)
        rc = v3_verify_gathered(ctx, req, params, &v3, who, err);
    buf_free(&v3.signed_line);
    return rc;
}

int auth_verify(const auth_context *ctx, const http_request *req, const param_list *params,
                principal *who, api_error *err)
{
    const char *authorization = http_request_header(req, "authorization");
    if (authorization &&
        strncmp(authorization, SIG_V3_ALGORITHM, sizeof SIG_V3_ALGORITHM - 1) == 0)
        return verify_v3(ctx, req, authorization, params, who, err);
    if (params_find(params, "Signature"))
        return verify_v1(ctx, req, params, who, err);
    return api_error_set(err, API_ERR_INCOMPLETE_SIGNATURE, NULL);
}
