/* fuzz_request.h: a request written as text, for the harnesses of auth/.
 *
 * The signature harnesses take their input in the shape of an HTTP/1.1
 * request, so that their seeds read like what clients send:
 *
 *     POST /?InstanceId=i-...&RegionId=cn-hangzhou
 *     host: 127.0.0.1:8080
 *     x-acs-action: GetInstanceScreenshot
 *
 *     body bytes
 *
 * The first line is the method and the target; then "name: value" header
 * lines (names lower-cased, as the server hands them over) up to an empty
 * line; the rest is the body. A line may end in "\r\n" or "\n". This only
 * cuts the fuzz input into the fields of an http_request: it is test input
 * structure, not an HTTP parser (libmicrohttpd parses real requests). The
 * parameters are decoded as api.c does: the query always, the body when
 * the content-type is a form. */
#ifndef ECSHOT_FUZZ_REQUEST_H
#define ECSHOT_FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "api/params.h"
#include "http/http.h"

#define FUZZ_HEADERS_MAX 64

typedef struct fuzz_request {
    http_request req;
    http_header headers[FUZZ_HEADERS_MAX];
    param_list params;
    int params_ok;     /* params_decode accepted the query (and form body) */
    char *text;        /* heap copy of the input, NUL-terminated; fields point into it */
    char *path_copy;
} fuzz_request;

/* Cuts data into req. Returns 0, or -1 when the input has no request line
 * (nothing was allocated then). */
int fuzz_request_parse(fuzz_request *fr, const uint8_t *data, size_t size);
void fuzz_request_free(fuzz_request *fr);

#endif
