/* api.h: the endpoint: from an HTTP request to an Alibaba-shaped answer.
 *
 * api_handle is the http layer's handler. It decodes the parameters (query
 * and form body), picks the response format, runs authentication, routes
 * the action to ops/, and renders success or error as JSON or XML exactly as
 * PROTOCOL.md §2 shows, with a RequestId in the body and as a header. */
#ifndef ECSHOT_API_API_H
#define ECSHOT_API_API_H

#include "api/error.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "http/http.h"
#include "ops/ops.h"

typedef enum api_format { API_FORMAT_JSON, API_FORMAT_XML } api_format;

typedef struct api_service {
    auth_context auth;
    ops_context ops;
    audit_log *audit;   /* one line per call; NULL: no audit log */
} api_service;

void api_handle(void *service, const http_request *req, http_response *resp);

/* Rendering, exposed for unit tests. host_id is the endpoint host the
 * client addressed (Host header), echoed as HostId in errors. */
/* The success body, with the JPEG's base64 written straight into it. */
int api_render_screenshot(http_response *resp, api_format fmt, const char *request_id,
                          const char *instance_id, const uint8_t *jpeg, size_t jpeg_len);
int api_render_error(http_response *resp, api_format fmt, const char *request_id,
                     const char *host_id, const api_error *err);
/* A fresh upper-case UUID v4 (random bits from OpenSSL's generator). */
void api_request_id(char out[37]);

#endif
