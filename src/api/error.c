/* error.c: the table of error codes, statuses and messages (PROTOCOL.md §2.1). */
#include "api/error.h"

#include <string.h>

struct error_entry {
    int status;
    const char *name;
    const char *message; /* may hold one %s, replaced by the detail */
};

static const struct error_entry error_table[API_ERR_COUNT] = {
    [API_OK] = {200, "OK", ""},
    [API_ERR_MISSING_PARAMETER] = {400, "MissingParameter",
        "The input parameter \"%s\" that is mandatory for processing this request is not supplied."},
    [API_ERR_INVALID_PARAMETER] = {404, "InvalidParameter",
        "The specified parameter \"%s\" is not valid."},
    [API_ERR_INCORRECT_INSTANCE_STATUS] = {405, "IncorrectInstanceStatus",
        "The instance status \"%s\" is not applicable."},
    [API_ERR_NOT_SUPPORTED] = {405, "NotSupported",
        "The operation is not supported for \"%s\"."},
    [API_ERR_THROTTLING] = {429, "Throttling", "Request was denied due to request throttling."},
    [API_ERR_INCOMPLETE_SIGNATURE] = {400, "IncompleteSignature",
        "The request signature does not conform to Aliyun standards."},
    [API_ERR_SIGNATURE_DOES_NOT_MATCH] = {400, "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation. server string to sign is:%s"},
    [API_ERR_ACCESS_KEY_NOT_FOUND] = {404, "InvalidAccessKeyId.NotFound",
        "Specified access key is not found."},
    [API_ERR_ACCESS_KEY_INACTIVE] = {400, "InvalidAccessKeyId.Inactive",
        "Specified access key is disabled."},
    [API_ERR_SIGNATURE_NONCE_USED] = {400, "SignatureNonceUsed",
        "Specified signature nonce was used already."},
    [API_ERR_TIMESTAMP_EXPIRED] = {400, "InvalidTimeStamp.Expired",
        "Specified time stamp or date value is expired."},
    [API_ERR_TIMESTAMP_FORMAT] = {400, "InvalidTimeStamp.Format",
        "Specified time stamp or date value is not well formatted."},
    [API_ERR_INVALID_VERSION] = {400, "InvalidVersion", "Specified parameter Version is not valid."},
    [API_ERR_INVALID_ACTION] = {404, "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method."},
    [API_ERR_UNSUPPORTED_METHOD] = {403, "UnsupportedHTTPMethod", "This http method is not supported."},
    [API_ERR_MISSING_SECURITY_TOKEN] = {400, "MissingSecurityToken",
        "The SecurityToken is mandatory for this AccessKeyId."},
    [API_ERR_SECURITY_TOKEN_EXPIRED] = {400, "InvalidSecurityToken.Expired",
        "Specified SecurityToken is expired."},
    [API_ERR_SECURITY_TOKEN_MALFORMED] = {400, "InvalidSecurityToken.Malformed",
        "Specified SecurityToken is malformed."},
    [API_ERR_SECURITY_TOKEN_MISMATCH] = {400, "InvalidSecurityToken.MismatchWithAccessKey",
        "Specified SecurityToken mismatch with the AccessKey."},
    [API_ERR_FORBIDDEN_RAM] = {403, "Forbidden.RAM",
        "User not authorized to operate on the specified resource, or this API doesn't support RAM."},
    [API_ERR_INTERNAL] = {500, "InternalError",
        "The request processing has failed due to some unknown error, exception or failure."},
    [API_ERR_SERVICE_UNAVAILABLE] = {503, "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server."},
    [API_ERR_REQUEST_TOO_LARGE] = {413, "RequestEntityTooLarge",
        "The request body is larger than this endpoint accepts."},
    [API_ERR_URI_TOO_LONG] = {414, "RequestURITooLong",
        "The request URI is longer than this endpoint accepts."},
    [API_ERR_HEADERS_TOO_LARGE] = {431, "RequestHeaderFieldsTooLarge",
        "The request has more header fields than this endpoint accepts."},
    [API_ERR_BAD_REQUEST] = {400, "BadRequest",
        "The request is not well-formed HTTP/1.1: its framing or a header field is malformed."},
    [API_ERR_NOT_FOUND_PATH] = {404, "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method."},
};

static const struct error_entry *entry(api_error_code code)
{
    if ((unsigned)code >= API_ERR_COUNT)
        code = API_ERR_INTERNAL;
    return &error_table[code];
}

int api_error_set(api_error *err, api_error_code code, const char *detail)
{
    err->code = code;
    buf_reset(&err->detail);
    if (detail)
        buf_puts(&err->detail, detail);
    return -1;
}

void api_error_free(api_error *err)
{
    buf_free(&err->detail);
}

int api_error_http_status(api_error_code code)
{
    return entry(code)->status;
}

const char *api_error_name(api_error_code code)
{
    return entry(code)->name;
}

int api_error_message(const api_error *err, buf *out)
{
    const char *msg = entry(err->code)->message;
    const char *hole = strstr(msg, "%s");
    if (!hole)
        return buf_puts(out, msg);
    buf_append(out, msg, (size_t)(hole - msg));
    buf_append(out, buf_cstr(&err->detail), err->detail.len);
    return buf_puts(out, hole + 2);
}
