/* test_render.c: response bodies, byte for byte (api/render.c, api/error.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/api.h"

#define RID "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E"

static const char *header(const http_response *r, const char *name)
{
    for (int i = 0; i < r->header_count; i++)
        if (strcmp(r->header_names[i], name) == 0)
            return r->header_values[i];
    return NULL;
}

static void success_json(void **state)
{
    (void)state;
    http_response r = {0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10}; /* "/9j/4AAQ" */
    assert_int_equal(api_render_screenshot(&r, API_FORMAT_JSON, RID, "i-bp1gbz20g229bvu5abcd",
                                           jpeg, sizeof jpeg),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json;charset=utf-8");
    assert_string_equal(buf_cstr(&r.body),
        "{\"RequestId\":\"" RID "\",\"InstanceId\":\"i-bp1gbz20g229bvu5abcd\",\"Screenshot\":\"/9j/4AAQ\"}");
    buf_free(&r.body);
}

static void success_xml(void **state)
{
    (void)state;
    http_response r = {0};
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff}; /* "/9j/" */
    assert_int_equal(api_render_screenshot(&r, API_FORMAT_XML, RID, "i-bp1gbz20g229bvu5abcd",
                                           jpeg, sizeof jpeg),
                     0);
    assert_string_equal(r.content_type, "text/xml;charset=utf-8");
    assert_string_equal(buf_cstr(&r.body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GetInstanceScreenshotResponse><RequestId>" RID
        "</RequestId><InstanceId>i-bp1gbz20g229bvu5abcd</InstanceId><Screenshot>/9j/</Screenshot>"
        "</GetInstanceScreenshotResponse>");
    buf_free(&r.body);
}

static void error_json_with_detail(void **state)
{
    (void)state;
    http_response r = {0};
    api_error err = API_ERROR_INIT;
    api_error_set(&err, API_ERR_MISSING_PARAMETER, "InstanceId");
    assert_int_equal(api_render_error(&r, API_FORMAT_JSON, RID, "127.0.0.1:8080", &err), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(buf_cstr(&r.body),
        "{\"RequestId\":\"" RID "\",\"HostId\":\"127.0.0.1:8080\",\"Code\":\"MissingParameter\","
        "\"Message\":\"The input parameter \\\"InstanceId\\\" that is mandatory for processing "
        "this request is not supplied.\",\"Recommend\":\"https://api.aliyun.com/troubleshoot?"
        "q=MissingParameter&product=Ecs&requestId=" RID "\"}");
    assert_null(header(&r, "x-acs-retry-after"));
    buf_free(&r.body);
    api_error_free(&err);
}

static void error_xml_escapes_client_text(void **state)
{
    (void)state;
    http_response r = {0};
    api_error err = API_ERROR_INIT;
    api_error_set(&err, API_ERR_INVALID_PARAMETER, "Region<Id>&\x01");
    assert_int_equal(api_render_error(&r, API_FORMAT_XML, RID, "h\"ost", &err), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "text/xml;charset=utf-8");
    assert_string_equal(buf_cstr(&r.body),
        "<?xml version='1.0' encoding='UTF-8'?><Error><RequestId>" RID "</RequestId>"
        "<HostId>h&quot;ost</HostId><Code>InvalidParameter</Code><Message>The specified "
        "parameter &quot;Region&lt;Id&gt;&amp;?&quot; is not valid.</Message><Recommend>"
        "<![CDATA[https://api.aliyun.com/troubleshoot?q=InvalidParameter&product=Ecs&requestId="
        RID "]]></Recommend></Error>");
    buf_free(&r.body);
    api_error_free(&err);
}

static void throttling_sets_retry_after(void **state)
{
    (void)state;
    http_response r = {0};
    api_error err = API_ERROR_INIT;
    api_error_set(&err, API_ERR_THROTTLING, NULL);
    err.retry_after_ms = 9250;
    assert_int_equal(api_render_error(&r, API_FORMAT_JSON, RID, NULL, &err), 0);
    assert_int_equal(r.status, 429);
    assert_string_equal(header(&r, "x-acs-retry-after"), "9250");
    assert_non_null(strstr(buf_cstr(&r.body), "\"Code\":\"Throttling\""));
    assert_non_null(strstr(buf_cstr(&r.body), "\"HostId\":\"\""));
    buf_free(&r.body);
    api_error_free(&err);
}

static void forbidden_ram_carries_access_denied_detail(void **state)
{
    (void)state;
    http_response r = {0};
    api_error err = API_ERROR_INIT;
    api_error_set(&err, API_ERR_FORBIDDEN_RAM, NULL);
    snprintf(err.denied.auth_action, sizeof err.denied.auth_action, "ecs:GetInstanceScreenshot");
    snprintf(err.denied.principal_type, sizeof err.denied.principal_type, "SubUser");
    snprintf(err.denied.principal_owner_id, sizeof err.denied.principal_owner_id, "1001");
    snprintf(err.denied.principal_name, sizeof err.denied.principal_name, "alice");
    err.denied.explicit_deny = 1;
    assert_int_equal(api_render_error(&r, API_FORMAT_JSON, RID, "h", &err), 0);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(buf_cstr(&r.body),
        "\"AccessDeniedDetail\":{\"AuthAction\":\"ecs:GetInstanceScreenshot\","
        "\"AuthPrincipalType\":\"SubUser\",\"AuthPrincipalOwnerId\":\"1001\","
        "\"AuthPrincipalDisplayName\":\"alice\",\"PolicyType\":\"AccountLevelIdentityBasedPolicy\","
        "\"NoPermissionType\":\"ExplicitDeny\"}}"));
    buf_free(&r.body);

    http_response x = {0};
    err.denied.explicit_deny = 0;
    assert_int_equal(api_render_error(&x, API_FORMAT_XML, RID, "h", &err), 0);
    assert_non_null(strstr(buf_cstr(&x.body),
        "]]></Recommend><AccessDeniedDetail><AuthAction>ecs:GetInstanceScreenshot</AuthAction>"
        "<AuthPrincipalType>SubUser</AuthPrincipalType><AuthPrincipalOwnerId>1001"
        "</AuthPrincipalOwnerId><AuthPrincipalDisplayName>alice</AuthPrincipalDisplayName>"
        "<PolicyType>AccountLevelIdentityBasedPolicy</PolicyType><NoPermissionType>ImplicitDeny"
        "</NoPermissionType></AccessDeniedDetail></Error>"));
    buf_free(&x.body);
    api_error_free(&err);
}

/* The JSON of one field's value in a Forbidden.RAM body. */
static char *display_name_json(const char *name)
{
    http_response r = {0};
    api_error err = API_ERROR_INIT;
    api_error_set(&err, API_ERR_FORBIDDEN_RAM, NULL);
    snprintf(err.denied.principal_name, sizeof err.denied.principal_name, "%s", name);
    assert_int_equal(api_render_error(&r, API_FORMAT_JSON, RID, "h", &err), 0);
    const char *body = buf_cstr(&r.body);
    /* The whole body is JSON that jansson reads. */
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    assert_non_null(doc);
    json_decref(doc);
    const char *key = "\"AuthPrincipalDisplayName\":";
    const char *start = strstr(body, key);
    assert_non_null(start);
    start += strlen(key);
    const char *end = strstr(start, ",\"PolicyType\"");
    assert_non_null(end);
    char *value = strndup(start, (size_t)(end - start));
    buf_free(&r.body);
    api_error_free(&err);
    return value;
}

/* Error JSON is escaped by render.c, not by jansson: for any UTF-8 text it
 * must write what jansson's json_dumps writes, byte for byte. */
static void error_json_escapes_as_jansson_does(void **state)
{
    (void)state;
    static const char *names[] = {
        "alice",
        "q\"uote\\back/slash",
        "ctl\x01\x08\x09\x0a\x0c\x0d\x1f\x7f end",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf",
        "",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *s = json_string(names[i]);
        assert_non_null(s);
        char *want = json_dumps(s, JSON_ENCODE_ANY);
        char *got = display_name_json(names[i]);
        assert_string_equal(got, want);
        free(got);
        free(want);
        json_decref(s);
    }
}

/* Bytes that are not UTF-8 (a lone continuation, an overlong form, a
 * surrogate, a cut sequence, beyond U+10FFFF) become '?', one per byte
 * that starts no character, and the body stays valid JSON. */
static void error_json_replaces_bytes_that_are_not_utf8(void **state)
{
    (void)state;
    char *got = display_name_json("a" "\x80" "b" "\xc0\xaf" "c" "\xed\xa0\x80" "d" "\xe2\x82" "e"
                                  "\xf4\x90\x80\x80" "f" "\xff");
    assert_string_equal(got, "\"a?b??c???d??e????f?\"");
    free(got);
}

static void status_and_names_of_every_code(void **state)
{
    (void)state;
    static const struct { api_error_code code; int status; const char *name; } want[] = {
        {API_ERR_MISSING_PARAMETER, 400, "MissingParameter"},
        {API_ERR_INVALID_PARAMETER, 404, "InvalidParameter"},
        {API_ERR_INCORRECT_INSTANCE_STATUS, 405, "IncorrectInstanceStatus"},
        {API_ERR_NOT_SUPPORTED, 405, "NotSupported"},
        {API_ERR_THROTTLING, 429, "Throttling"},
        {API_ERR_INCOMPLETE_SIGNATURE, 400, "IncompleteSignature"},
        {API_ERR_SIGNATURE_DOES_NOT_MATCH, 400, "SignatureDoesNotMatch"},
        {API_ERR_ACCESS_KEY_NOT_FOUND, 404, "InvalidAccessKeyId.NotFound"},
        {API_ERR_ACCESS_KEY_INACTIVE, 400, "InvalidAccessKeyId.Inactive"},
        {API_ERR_SIGNATURE_NONCE_USED, 400, "SignatureNonceUsed"},
        {API_ERR_TIMESTAMP_EXPIRED, 400, "InvalidTimeStamp.Expired"},
        {API_ERR_TIMESTAMP_FORMAT, 400, "InvalidTimeStamp.Format"},
        {API_ERR_INVALID_VERSION, 400, "InvalidVersion"},
        {API_ERR_INVALID_ACTION, 404, "InvalidAction.NotFound"},
        {API_ERR_UNSUPPORTED_METHOD, 403, "UnsupportedHTTPMethod"},
        {API_ERR_MISSING_SECURITY_TOKEN, 400, "MissingSecurityToken"},
        {API_ERR_FORBIDDEN_RAM, 403, "Forbidden.RAM"},
        {API_ERR_INTERNAL, 500, "InternalError"},
        {API_ERR_SERVICE_UNAVAILABLE, 503, "ServiceUnavailable"},
        {API_ERR_REQUEST_TOO_LARGE, 413, "RequestEntityTooLarge"},
        {API_ERR_URI_TOO_LONG, 414, "RequestURITooLong"},
        {API_ERR_HEADERS_TOO_LARGE, 431, "RequestHeaderFieldsTooLarge"},
        {API_ERR_BAD_REQUEST, 400, "BadRequest"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(api_error_http_status(want[i].code), want[i].status);
        assert_string_equal(api_error_name(want[i].code), want[i].name);
    }
}

static void messages(void **state)
{
    (void)state;
    api_error err = API_ERROR_INIT;
    buf m = BUF_INIT;
    api_error_set(&err, API_ERR_INCORRECT_INSTANCE_STATUS, "Stopped");
    api_error_message(&err, &m);
    assert_string_equal(buf_cstr(&m), "The instance status \"Stopped\" is not applicable.");
    buf_reset(&m);
    api_error_set(&err, API_ERR_NOT_SUPPORTED, "i-bp1gbz20g229bvu5abcd");
    api_error_message(&err, &m);
    assert_string_equal(buf_cstr(&m), "The operation is not supported for \"i-bp1gbz20g229bvu5abcd\".");
    buf_reset(&m);
    api_error_set(&err, API_ERR_SIGNATURE_DOES_NOT_MATCH, "GET&%2F&a");
    api_error_message(&err, &m);
    assert_string_equal(buf_cstr(&m),
        "Specified signature is not matched with our calculation. server string to sign is:GET&%2F&a");
    buf_free(&m);
    api_error_free(&err);
}

static void request_ids_are_upper_case_uuids(void **state)
{
    (void)state;
    char a[37], b[37];
    api_request_id(a);
    api_request_id(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'A' && a[i] <= 'F'));
    }
    assert_int_equal(a[14], '4');
}

static int id_order(const void *x, const void *y)
{
    return strcmp(x, y);
}

/* Ids come from per-thread blocks of random bytes: across several blocks,
 * and in a forked child, none repeats and all keep the UUID v4 shape. */
static void request_ids_never_repeat(void **state)
{
    (void)state;
    enum { N = 300 };
    static char ids[N + 1][37];
    for (int i = 0; i < N; i++) {
        api_request_id(ids[i]);
        assert_int_equal(ids[i][14], '4');
        assert_true(strchr("89AB", ids[i][19]) != NULL);
    }
    /* A child forked mid-block must not hand out the parent's next id. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[37];
        api_request_id(id);
        _exit(write(fds[1], id, sizeof id) == (ssize_t)sizeof id ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], ids[N], sizeof ids[N]), (ssize_t)sizeof ids[N]);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char parent_next[37];
    api_request_id(parent_next);
    assert_string_not_equal(parent_next, ids[N]);

    qsort(ids, N + 1, sizeof ids[0], id_order);
    for (int i = 1; i <= N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(success_json),
        cmocka_unit_test(success_xml),
        cmocka_unit_test(error_json_escapes_as_jansson_does),
        cmocka_unit_test(error_json_replaces_bytes_that_are_not_utf8),
        cmocka_unit_test(error_json_with_detail),
        cmocka_unit_test(error_xml_escapes_client_text),
        cmocka_unit_test(throttling_sets_retry_after),
        cmocka_unit_test(forbidden_ram_carries_access_denied_detail),
        cmocka_unit_test(status_and_names_of_every_code),
        cmocka_unit_test(messages),
        cmocka_unit_test(request_ids_are_upper_case_uuids),
        cmocka_unit_test(request_ids_never_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
