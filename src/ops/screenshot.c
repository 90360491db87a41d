/* screenshot.c: GetInstanceScreenshot, from validated parameters to base64 JPEG.
 *
 * The stages run in the order of DESIGN.md and never reach back:
 *   validate     RegionId, InstanceId, WakeUp
 *   look up      fetch the record; no verdict yet
 *   authorize    RAM, on the resource name built from the request; the
 *                instance's tags join the context (acs:ResourceTag/...)
 *                only when the record is the caller's own, in the region
 *                asked for, so a caller without the right learns nothing
 *                about which instances exist beyond what its policy grants
 *   visibility   an instance of another account or region is "not found",
 *                the same answer as one that does not exist
 *   check        retired type; status in the inventory
 *   throttled?   a look at the throttle, claiming nothing: an instance shot
 *                within the window is refused before its VM is asked
 *                anything, so a flood of calls costs the hypervisor nothing
 *   check        live hypervisor state
 *   throttle     claimed only by a call that passed every check
 *   wake         WakeUp=true: resume an S3 guest, an input event for the screen
 *   capture      framebuffer from the console backend
 *   encode       TurboJPEG into this thread's buffer, handed over as it is
 *                (the renderer writes its base64 straight into the response) */
#include "ops/ops.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fiber/fiber.h"
#include "ram/ram.h"
#include "util/log.h"

#define ACTION_NAME "ecs:GetInstanceScreenshot"

/* ---- one JPEG encoder per thread (TurboJPEG handles are not shareable) ---- */

static pthread_key_t encoder_key;
static pthread_once_t encoder_once = PTHREAD_ONCE_INIT;

static void encoder_destroy(void *e)
{
    jpeg_encoder_free(e);
}

static void encoder_key_create(void)
{
    pthread_key_create(&encoder_key, encoder_destroy);
}

static jpeg_encoder *thread_encoder(const jpeg_options *opt)
{
    pthread_once(&encoder_once, encoder_key_create);
    jpeg_encoder *e = pthread_getspecific(encoder_key);
    if (!e) {
        e = jpeg_encoder_new(opt);
        if (e)
            pthread_setspecific(encoder_key, e);
    }
    return e;
}

/* ---- stages ---- */

typedef struct screenshot_args {
    const param *region;
    const param *instance_id;
    int wakeup;
} screenshot_args;

static int stage_validate(const param_list *params, screenshot_args *a, api_error *err)
{
    a->region = params_find(params, "RegionId");
    a->instance_id = params_find(params, "InstanceId");
    if (!a->region)
        return api_error_set(err, API_ERR_MISSING_PARAMETER, "RegionId");
    if (!a->instance_id)
        return api_error_set(err, API_ERR_MISSING_PARAMETER, "InstanceId");
    if (!ops_valid_region_id(a->region->value, a->region->value_len))
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "RegionId");
    if (!ops_valid_instance_id(a->instance_id->value, a->instance_id->value_len))
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "InstanceId");
    a->wakeup = 0;
    const param *wake = params_find(params, "WakeUp");
    if (wake && (a->wakeup = ops_parse_bool(wake->value, wake->value_len)) < 0)
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "WakeUp");
    return 0;
}

/* The record, if the caller may know of it: its own account, the region
 * the request names. Anything else is treated as absent. */
static int stage_look_up(const ops_context *ctx, const principal *who, const screenshot_args *a,
                         instance *inst, int *visible, api_error *err)
{
    int rc = store_instance_get(ctx->store, a->instance_id->value, inst);
    if (rc == STORE_ERROR)
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    *visible = rc == STORE_OK && strcmp(inst->account_id, who->account_id) == 0 &&
               strcmp(inst->region, a->region->value) == 0;
    return 0;
}

/* The documents of a policy list, as the evaluator takes them. */
static const char **policy_texts(const policy_doc *docs, size_t count)
{
    const char **texts = calloc(count ? count : 1, sizeof *texts);
    for (size_t i = 0; texts && i < count; i++)
        texts[i] = docs[i].document;
    return texts;
}

/* RAM for a RAM user (its policies) or an STS session (its role's
 * policies, narrowed by the session policy). The root never gets here. */
static int evaluate_caller(const ops_context *ctx, const principal *who, const char *resource,
                           const ram_request_context *rc, ram_verdict *v, int *by_session,
                           api_error *err)
{
    int role = who->role[0] != '\0';
    policy_doc *docs = NULL;
    size_t count = 0;
    if (store_principal_policies(ctx->store, who->account_id, role ? PRINCIPAL_ROLE : PRINCIPAL_USER,
                                 role ? who->role : who->user, &docs, &count) == STORE_ERROR)
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    const char **texts = policy_texts(docs, count);
    if (!texts) {
        store_policies_free(docs, count);
        return api_error_set(err, API_ERR_INTERNAL, NULL);
    }
    *v = ram_policies_explain(texts, count, ACTION_NAME, resource, rc);
    *by_session = 0;
    if (role && who->session_policy[0] != '\0') {
        const char *session[] = {who->session_policy};
        ram_verdict sv = ram_policies_explain(session, 1, ACTION_NAME, resource, rc);
        ram_verdict narrowed = ram_session_narrow(*v, sv);
        *by_session = narrowed.decision != v->decision;
        *v = narrowed;
    }
    free(texts);
    store_policies_free(docs, count);
    return 0;
}

static int stage_authorize(const ops_context *ctx, const ops_caller *caller,
                           const screenshot_args *a, const instance *inst, int visible,
                           api_error *err)
{
    const principal *who = caller->who;
    if (who->user[0] == '\0' && who->role[0] == '\0')
        return 0; /* the account's own key may do anything in its account */

    char resource[STORE_ID_MAX * 3 + 64];
    snprintf(resource, sizeof resource, "acs:ecs:%s:%s:instance/%s", a->region->value,
             who->account_id, a->instance_id->value);

    const char *tag_keys[STORE_TAGS_MAX], *tag_values[STORE_TAGS_MAX];
    size_t tag_count = visible ? inst->tag_count : 0;
    for (size_t i = 0; i < tag_count; i++) {
        tag_keys[i] = inst->tags[i].key;
        tag_values[i] = inst->tags[i].value;
    }
    ram_request_context rc = {
        .source_ip = caller->source_ip,
        .secure_transport = caller->secure_transport,
        .current_time = (long long)time(NULL),
        .mfa_present = 0,
        .user_agent = caller->user_agent,
        .tag_keys = tag_keys,
        .tag_values = tag_values,
        .tag_count = tag_count,
    };
    ram_verdict v;
    int by_session = 0;
    if (evaluate_caller(ctx, who, resource, &rc, &v, &by_session, err) != 0)
        return -1;
    if (v.decision == RAM_ALLOW)
        return 0;
    api_error_set(err, API_ERR_FORBIDDEN_RAM, NULL);
    access_denied_detail *dd = &err->denied;
    snprintf(dd->auth_action, sizeof dd->auth_action, "%s", ACTION_NAME);
    snprintf(dd->principal_owner_id, sizeof dd->principal_owner_id, "%s", who->account_id);
    if (who->role[0] != '\0') {
        /* RAM names an assumed role's caller ROLE:SESSION. */
        snprintf(dd->principal_type, sizeof dd->principal_type, "AssumedRoleUser");
        snprintf(dd->principal_name, sizeof dd->principal_name, "%s:%s", who->role, who->session);
    } else {
        snprintf(dd->principal_type, sizeof dd->principal_type, "SubUser");
        snprintf(dd->principal_name, sizeof dd->principal_name, "%s", who->user);
    }
    if (by_session)
        snprintf(dd->policy_type, sizeof dd->policy_type, "SessionPolicy");
    dd->explicit_deny = v.decision == RAM_EXPLICIT_DENY;
    return -1;
}

/* Maps a console failure to what the client is told; the cause is logged. */
static int console_failure(int rc, const instance *inst, const char *what, api_error *err)
{
    switch (rc) {
    case CONSOLE_GONE:
        log_info("%s: %s: the VM is gone", inst->id, what);
        return api_error_set(err, API_ERR_INCORRECT_INSTANCE_STATUS, "Stopped");
    case CONSOLE_TIMEOUT:
        log_warn("%s: %s: the hypervisor did not answer in time", inst->id, what);
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    default:
        log_warn("%s: %s failed", inst->id, what);
        return api_error_set(err, API_ERR_INTERNAL, NULL);
    }
}

static int stage_check_inventory(const ops_context *ctx, const instance *inst, api_error *err)
{
    if (retired_types_contains(ctx->retired, inst->type))
        return api_error_set(err, API_ERR_NOT_SUPPORTED, inst->id);
    if (strcmp(inst->status, "Running") != 0)
        return api_error_set(err, API_ERR_INCORRECT_INSTANCE_STATUS, inst->status);
    return 0;
}

static int throttling(api_error *err, int64_t remaining_ms)
{
    api_error_set(err, API_ERR_THROTTLING, NULL);
    err->retry_after_ms = (long)remaining_ms;
    return -1;
}

static int stage_throttled(const ops_context *ctx, const instance *inst, api_error *err)
{
    int64_t remaining = 0;
    int rc = limits_peek(ctx->limits, "throttle", inst->id, &remaining);
    if (rc == LIMITS_HELD)
        return throttling(err, remaining);
    if (rc == LIMITS_ERROR)
        return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
    return 0;
}

static int stage_check_state(const ops_context *ctx, const instance *inst, api_error *err)
{
    vm_state state;
    int rc = console_query_state(ctx->consoles, inst->console_url, &state);
    if (rc != CONSOLE_OK)
        return console_failure(rc, inst, "query-status", err);
    const char *status = vm_state_ecs_status(state);
    if (strcmp(status, "Running") != 0)
        return api_error_set(err, API_ERR_INCORRECT_INSTANCE_STATUS, status);
    return 0;
}

static int stage_throttle(const ops_context *ctx, const instance *inst, api_error *err)
{
    int64_t remaining = 0;
    int rc = limits_claim(ctx->limits, "throttle", inst->id, ctx->throttle_ms, &remaining);
    if (rc == LIMITS_CLAIMED)
        return 0;
    if (rc == LIMITS_HELD)
        return throttling(err, remaining);
    return api_error_set(err, API_ERR_SERVICE_UNAVAILABLE, NULL);
}

static int stage_wake(const ops_context *ctx, const instance *inst, api_error *err)
{
    int rc = console_wake(ctx->consoles, inst->console_url);
    if (rc != CONSOLE_OK)
        return console_failure(rc, inst, "wake-up", err);
    if (ctx->wake_settle_ms > 0) {
        /* A woken guest needs a moment to redraw; a capture at once would
         * show the screen it is leaving. */
        fiber_sleep_ms(ctx->wake_settle_ms); /* parks this request only */
    }
    return 0;
}

static int stage_capture_encode(const ops_context *ctx, const instance *inst, ops_image *image,
                                api_error *err)
{
    frame f = {0};
    int rc = console_capture(ctx->consoles, inst->console_url, &f);
    if (rc != CONSOLE_OK)
        return console_failure(rc, inst, "screendump", err);

    jpeg_encoder *enc = thread_encoder(&ctx->jpeg);
    const uint8_t *jpeg = NULL;
    size_t jpeg_len = 0;
    rc = enc ? jpeg_encode(enc, &f, &jpeg, &jpeg_len) : -1;
    frame_release(&f);
    if (rc < 0) {
        log_error("%s: JPEG encoding failed", inst->id);
        return api_error_set(err, API_ERR_INTERNAL, NULL);
    }
    image->jpeg = jpeg;
    image->len = jpeg_len;
    return 0;
}

int ops_get_instance_screenshot(const ops_context *ctx, const ops_caller *caller,
                                const param_list *params, ops_image *image, api_error *err)
{
    screenshot_args args = {0};
    instance inst;
    int visible = 0;

    if (stage_validate(params, &args, err) < 0 ||
        stage_look_up(ctx, caller->who, &args, &inst, &visible, err) < 0 ||
        stage_authorize(ctx, caller, &args, &inst, visible, err) < 0)
        return -1;
    if (!visible)
        return api_error_set(err, API_ERR_INVALID_PARAMETER, "InstanceId");
    if (stage_check_inventory(ctx, &inst, err) < 0 || stage_throttled(ctx, &inst, err) < 0 ||
        stage_check_state(ctx, &inst, err) < 0 || stage_throttle(ctx, &inst, err) < 0)
        return -1;
    if (args.wakeup && stage_wake(ctx, &inst, err) < 0)
        return -1;
    return stage_capture_encode(ctx, &inst, image, err);
}
