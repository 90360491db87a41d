/* error.h: the error codes ecshot answers with, as Alibaba's clients parse them.
 *
 * Every stage reports failure as an api_error: a code from the table below
 * (HTTP status, Alibaba code and fixed message live in error.c) and an
 * optional detail that replaces the message's %s part. Messages are fixed
 * texts or echo what the client sent; internal paths and library errors
 * are logged, never put here. */
#ifndef ECSHOT_API_ERROR_H
#define ECSHOT_API_ERROR_H

#include "util/buf.h"

typedef enum api_error_code {
    API_OK = 0,
    /* The operation's own codes. */
    API_ERR_MISSING_PARAMETER,        /* 400, detail: parameter name */
    API_ERR_INVALID_PARAMETER,        /* 404, detail: parameter name */
    API_ERR_INCORRECT_INSTANCE_STATUS,/* 405, detail: status name */
    API_ERR_NOT_SUPPORTED,            /* 405, detail: instance id */
    API_ERR_THROTTLING,               /* 429, retry_after_ms set */
    /* Gateway codes. */
    API_ERR_INCOMPLETE_SIGNATURE,     /* 400 */
    API_ERR_SIGNATURE_DOES_NOT_MATCH, /* 400, detail: server string to sign */
    API_ERR_ACCESS_KEY_NOT_FOUND,     /* 404 */
    API_ERR_ACCESS_KEY_INACTIVE,      /* 400 */
    API_ERR_SIGNATURE_NONCE_USED,     /* 400 */
    API_ERR_TIMESTAMP_EXPIRED,        /* 400 */
    API_ERR_TIMESTAMP_FORMAT,         /* 400 */
    API_ERR_INVALID_VERSION,          /* 400 */
    API_ERR_INVALID_ACTION,           /* 404 */
    API_ERR_UNSUPPORTED_METHOD,       /* 403 */
    API_ERR_MISSING_SECURITY_TOKEN,   /* 400 */
    API_ERR_SECURITY_TOKEN_EXPIRED,   /* 400 */
    API_ERR_SECURITY_TOKEN_MALFORMED, /* 400 */
    API_ERR_SECURITY_TOKEN_MISMATCH,  /* 400 */
    API_ERR_FORBIDDEN_RAM,            /* 403 */
    API_ERR_INTERNAL,                 /* 500 */
    API_ERR_SERVICE_UNAVAILABLE,      /* 503 */
    /* Transport limits (not in Alibaba's table: the gateway answers these
     * before any API logic; ecshot names them plainly). */
    API_ERR_REQUEST_TOO_LARGE,        /* 413 */
    API_ERR_URI_TOO_LONG,             /* 414 */
    API_ERR_HEADERS_TOO_LARGE,        /* 431 */
    API_ERR_BAD_REQUEST,              /* 400: malformed or ambiguous framing */
    API_ERR_NOT_FOUND_PATH,           /* 404 */
    API_ERR_COUNT
} api_error_code;

/* Forbidden.RAM's AccessDeniedDetail: who was denied what, and whether a
 * Deny statement matched (ExplicitDeny) or nothing allowed it (ImplicitDeny).
 * The V3 SDK hands it to callers as err.accessDeniedDetail. */
typedef struct access_denied_detail {
    char auth_action[64];          /* "ecs:GetInstanceScreenshot" */
    char principal_type[32];       /* "SubUser" for a RAM user, "AssumedRoleUser" for STS */
    char principal_owner_id[128];  /* the account */
    char principal_name[256];      /* the RAM user's name, or ROLE:SESSION */
    char policy_type[48];          /* "" reads as AccountLevelIdentityBasedPolicy */
    int explicit_deny;
} access_denied_detail;

typedef struct api_error {
    api_error_code code;
    buf detail;            /* substituted into the message; may be empty */
    long retry_after_ms;   /* Throttling only */
    access_denied_detail denied; /* Forbidden.RAM only */
} api_error;

#define API_ERROR_INIT {API_OK, BUF_INIT, 0, {{0}, {0}, {0}, {0}, {0}, 0}}

/* Sets the code and a detail string (NULL for none); returns -1 so that a
 * stage can write `return api_error_set(err, ..., ...);`. */
int api_error_set(api_error *err, api_error_code code, const char *detail);
void api_error_free(api_error *err);

int api_error_http_status(api_error_code code);
const char *api_error_name(api_error_code code);       /* e.g. "Forbidden.RAM" */
/* The full message, with the detail in place of %s where the text has one. */
int api_error_message(const api_error *err, buf *out);

#endif
