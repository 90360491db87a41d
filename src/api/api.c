/* api.c: the request handler: parse → authenticate → route → operation → render.
 *
 * Everything a request can get wrong before the operation runs is decided
 * here, in this order: transport limits, path, method, parameter encoding,
 * duplicate parameters, signature (auth/), action. The response format is
 * chosen as soon as the parameters are readable, so that even an
 * authentication error comes back as XML to a client that asked for XML.
 * Every call, answered or refused, leaves one line in the audit log. */
#include "api/api.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log.h"

#define ACTION_GET_INSTANCE_SCREENSHOT "GetInstanceScreenshot"

/* RequestIds are random UUIDs (version 4), as Alibaba's are. OpenSSL's
 * generator costs the same for 16 bytes as for a kilobyte (a lock, a fork
 * check, a DRBG call): once per request it was 5% of a cheap answer, so each
 * thread draws 64 ids' worth at a time. The block is not secret (ids are
 * sent to clients) but must never be used twice: a forked child (the
 * thread that forks is the only one it has) starts with an empty block. */
#define REQUEST_ID_BLOCK 64

static _Thread_local unsigned char id_block[REQUEST_ID_BLOCK][16];
static _Thread_local unsigned id_next = REQUEST_ID_BLOCK;
static pthread_once_t id_fork_once = PTHREAD_ONCE_INIT;

static void id_block_forget(void)
{
    id_next = REQUEST_ID_BLOCK;
}

static void id_fork_register(void)
{
    pthread_atfork(NULL, NULL, id_block_forget);
}

static void random_16(unsigned char b[16])
{
    pthread_once(&id_fork_once, id_fork_register);
    if (id_next == REQUEST_ID_BLOCK) {
        if (RAND_bytes(&id_block[0][0], sizeof id_block) != 1) {
            /* OpenSSL's generator failed: ids must stay unique, so use the kernel's. */
            FILE *f = fopen("/dev/urandom", "rb");
            if (!f || fread(id_block, 1, sizeof id_block, f) != sizeof id_block)
                memset(id_block, 0, sizeof id_block);
            if (f)
                fclose(f);
        }
        id_next = 0;
    }
    memcpy(b, id_block[id_next], 16);
    id_next++;
}

void api_request_id(char out[37])
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char b[16];
    random_16(b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
}

/* Format=JSON|XML (any case) wins; else XML when Accept names XML and not
 * JSON, and JSON otherwise: a client that names neither (curl's any-type
 * Accept, or no Accept at all) takes JSON, and the SDKs ask for it. params
 * may be NULL before the parameters are decoded. */
static api_format pick_format(const http_request *req, const param_list *params)
{
    const char *f = params ? params_get(params, "Format") : NULL;
    if (f && strcasecmp(f, "xml") == 0)
        return API_FORMAT_XML;
    if (f && strcasecmp(f, "json") == 0)
        return API_FORMAT_JSON;
    const char *accept = http_request_header(req, "accept");
    if (accept && strcasestr(accept, "json"))
        return API_FORMAT_JSON;
    return accept && strcasestr(accept, "xml") ? API_FORMAT_XML : API_FORMAT_JSON;
}

static int is_form(const http_request *req)
{
    const char *ct = http_request_header(req, "content-type");
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

/* The action the request names: x-acs-action (V3) or Action (V1); NULL
 * for an Action holding a decoded %00, whose C string would stop short of
 * what was signed ("GetInstanceScreenshot%00Describe" is no such action). */
static const char *request_action(const http_request *req, const principal *who,
                                  const param_list *params)
{
    if (who->style == SIG_STYLE_V3)
        return http_request_header(req, "x-acs-action");
    const param *p = params_find(params, "Action");
    return p && strlen(p->value) == p->value_len ? p->value : NULL;
}

/* Runs every stage up to and including the operation; returns 0 with
 * image filled (the JPEG in this thread's encoder), or -1 with err filled. *who is filled once the
 * signature is verified (and stays zeroed when it is not), for the audit. */
static int handle_stages(api_service *svc, const http_request *req, param_list *params,
                         api_format *fmt, ops_image *image, const char **instance_id,
                         principal *who_out, api_error *err)
{
    *fmt = pick_format(req, NULL);
    if (req->target_too_long)
        return api_error_set(err, API_ERR_URI_TOO_LONG, NULL);
    if (req->too_many_headers)
        return api_error_set(err, API_ERR_HEADERS_TOO_LARGE, NULL);
    if (req->bad_framing)
        return api_error_set(err, API_ERR_BAD_REQUEST, NULL);
    if (req->body_too_large)
        return api_error_set(err, API_ERR_REQUEST_TOO_LARGE, NULL);
    if (req->overloaded)
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    if (strcmp(req->path, "/") != 0)
        return api_error_set(err, API_ERR_NOT_FOUND_PATH, NULL);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
        return api_error_set(err, API_ERR_UNSUPPORTED_METHOD, NULL);

    if (params_decode(params, req->query, strlen(req->query), 0) < 0)
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "QueryString");
    if (req->body_len > 0 && is_form(req) &&
        params_decode(params, req->body, req->body_len, 1) < 0)
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "Body");
    *fmt = pick_format(req, params);
    const char *dup = params_duplicate(params);
    if (dup)
        return api_error_set(err, API_ERR_INVALID_PARAMETER, dup);

    /* The request reads the store as it is now: nothing cached from before
     * a change made since answers it. */
    store_sync(svc->auth.store);
    principal who;
    if (auth_verify(&svc->auth, req, params, &who, err) < 0)
        return -1;
    *who_out = who;

    const char *action = request_action(req, &who, params);
    if (!action || strcmp(action, ACTION_GET_INSTANCE_SCREENSHOT) != 0)
        return api_error_set(err, API_ERR_INVALID_ACTION, NULL);

    ops_caller caller = {
        .who = &who,
        .source_ip = req->client,
        .user_agent = http_request_header(req, "user-agent"),
        .secure_transport = req->secure,
    };
    if (ops_get_instance_screenshot(&svc->ops, &caller, params, image, err) < 0)
        return -1;
    *instance_id = params_get(params, "InstanceId");
    return 0;
}

static int64_t clock_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The AccessKeyId a request names, verified or not: V3's Credential, else
 * V1's parameter. Attempts with a key are worth auditing before (and
 * especially when) their signature fails. */
static const char *named_access_key(const http_request *req, const param_list *params,
                                    sig_v3_authorization *auth)
{
    const char *authorization = http_request_header(req, "authorization");
    if (authorization && strncmp(authorization, SIG_V3_ALGORITHM, sizeof SIG_V3_ALGORITHM - 1) == 0)
        return sig_v3_parse_authorization(authorization, auth) == 0 ? auth->credential : NULL;
    return params_get(params, "AccessKeyId");
}

/* One audit line for the call just answered. */
static void audit_call(api_service *svc, const http_request *req, const param_list *params,
                       const principal *who, const char *request_id, const char *code,
                       int status, int64_t received_us, int64_t wall_at_receipt_us)
{
    sig_v3_authorization auth;
    int verified = who->account_id[0] != '\0';
    /* An STS session is recorded as RAM names it: assumed-role/ROLE/SESSION. */
    char session_user[sizeof who->role + sizeof who->session + 16];
    const char *user = who->user;
    if (who->role[0] != '\0') {
        snprintf(session_user, sizeof session_user, "assumed-role/%s/%s", who->role, who->session);
        user = session_user;
    }
    audit_entry e = {
        .time_ms = wall_at_receipt_us / 1000,
        .request_id = request_id,
        .access_key_id = verified ? who->access_key_id : named_access_key(req, params, &auth),
        .account_id = verified ? who->account_id : NULL,
        .user = verified ? user : NULL,
        .source_ip = req->client,
        .action = verified ? request_action(req, who, params) : NULL,
        .instance_id = params_get(params, "InstanceId"),
        .code = code,
        .status = status,
        .latency_ms = (clock_us(CLOCK_MONOTONIC) - received_us) / 1000,
    };
    if (!e.action) {
        e.action = http_request_header(req, "x-acs-action");
        if (!e.action)
            e.action = params_get(params, "Action");
    }
    audit_record(svc->audit, &e);
}

void api_handle(void *service, const http_request *req, http_response *resp)
{
    api_service *svc = service;
    char request_id[37];
    param_list params = PARAM_LIST_INIT;
    api_error err = API_ERROR_INIT;
    ops_image image = {NULL, 0};
    api_format fmt = API_FORMAT_JSON;
    const char *instance_id = NULL;
    principal who;
    memset(&who, 0, sizeof who);
    /* The call began when its request was complete (it may have waited for
     * a worker since): its latency and its time count from there. */
    int64_t now_us = clock_us(CLOCK_MONOTONIC);
    int64_t received_us = req->received_us > 0 && req->received_us <= now_us ? req->received_us
                                                                              : now_us;
    int64_t wall_us = clock_us(CLOCK_REALTIME) - (now_us - received_us);

    api_request_id(request_id);
    int rc = handle_stages(svc, req, &params, &fmt, &image, &instance_id, &who, &err);
    if (rc == 0)
        rc = api_render_screenshot(resp, fmt, request_id, instance_id, image.jpeg, image.len);
    else
        rc = api_render_error(resp, fmt, request_id, http_request_header(req, "host"), &err);
    const char *code = err.code == API_OK ? "OK" : api_error_name(err.code);
    if (rc < 0) {
        /* Rendering failed only for want of memory: a minimal fixed answer. */
        buf_reset(&resp->body);
        buf_puts(&resp->body, "{\"Code\":\"InternalError\"}");
        resp->status = 500;
        resp->content_type = "application/json;charset=utf-8";
        code = "InternalError";
    }
    http_response_add_header(resp, "x-acs-request-id", request_id);
    if (svc->audit)
        audit_call(svc, req, &params, &who, request_id, code, resp->status, received_us, wall_us);
    params_free(&params);
    api_error_free(&err);
}
