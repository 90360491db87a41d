/* ops.h: the API operations ecshot implements. Today: GetInstanceScreenshot.
 *
 * An operation receives an authenticated principal and the request's
 * parameters and runs the remaining stages in order: validate → authorize
 * → look up → check type and state → throttle → wake → capture → encode.
 * It never reaches back into authentication or rendering: it returns either
 * the response's fields or an api_error. */
#ifndef ECSHOT_OPS_OPS_H
#define ECSHOT_OPS_OPS_H

#include <stdint.h>

#include "api/error.h"
#include "api/params.h"
#include "auth/auth.h"
#include "console/console.h"
#include "image/image.h"
#include "limits/limits.h"
#include "store/store.h"

#define ECS_API_VERSION "2014-05-26"
#define SCREENSHOT_THROTTLE_MS 10000

/* Retired instance types, read from a data file an operator can extend:
 * one type per line, '#' starts a comment. */
typedef struct retired_types retired_types;

retired_types *retired_types_load(const char *path);
int retired_types_contains(const retired_types *rt, const char *type);
size_t retired_types_count(const retired_types *rt);
void retired_types_free(retired_types *rt);

typedef struct ops_context {
    store *store;
    limits *limits;
    console_pool *consoles;
    const retired_types *retired;
    jpeg_options jpeg;
    int64_t throttle_ms;        /* SCREENSHOT_THROTTLE_MS unless configured */
    int wake_settle_ms;         /* time a woken guest gets to redraw */
} ops_context;

/* What the caller's request looks like to RAM conditions. */
typedef struct ops_caller {
    const principal *who;
    const char *source_ip;
    const char *user_agent;
    int secure_transport;
} ops_caller;

/* Validation of the operation's parameters, exposed for unit tests. */
int ops_valid_instance_id(const char *s, size_t len);
int ops_valid_region_id(const char *s, size_t len);
/* "true"/"false" (any case) → 1/0; anything else -1. */
int ops_parse_bool(const char *s, size_t len);

/* A screenshot as the operation hands it over: the JPEG bytes in this
 * thread's encoder, valid until the thread's next encode. The caller
 * renders them (base64 straight into the response) before anything that
 * could park its fiber (fiber/fiber.h), so no other request on the thread
 * encodes meanwhile and the picture is never copied on its way out. */
typedef struct ops_image {
    const uint8_t *jpeg;
    size_t len;
} ops_image;

/* GetInstanceScreenshot. On success fills *image and returns 0; otherwise
 * fills err and returns -1. */
int ops_get_instance_screenshot(const ops_context *ctx, const ops_caller *caller,
                                const param_list *params, ops_image *image, api_error *err);

#endif
