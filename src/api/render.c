/* render.c: response bodies exactly as Alibaba's clients parse them (PROTOCOL.md §2).
 *
 * Success bodies are assembled directly: every field in them (RequestId,
 * a validated InstanceId, base64) is from a known safe alphabet, and the
 * screenshot is large enough that a JSON library's copy would show in the
 * latency. Error bodies carry text that may echo the client, so JSON ones are
 * built with jansson and XML ones escaped here. */
#include "api/api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define CONTENT_TYPE_JSON "application/json;charset=utf-8"
#define CONTENT_TYPE_XML "text/xml;charset=utf-8"
#define RECOMMEND_FMT "https://api.aliyun.com/troubleshoot?q=%s&product=Ecs&requestId=%s"

/* Keeps printable ASCII and newlines only: error texts are ASCII by
 * construction (a V3 string to sign holds a newline), and anything else
 * came from a client and is not worth a byte-exact echo. */
static void sanitize_ascii(char *s, int keep_newlines)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && !(keep_newlines && *s == '\n')) ||
            (unsigned char)*s > 0x7e)
            *s = '?';
}

static void xml_escape(buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, "&gt;"); break;
        case '&': buf_puts(out, "&amp;"); break;
        case '"': buf_puts(out, "&quot;"); break;
        case '\'': buf_puts(out, "&apos;"); break;
        default: buf_putc(out, *s);
        }
    }
}

int api_render_screenshot(http_response *resp, api_format fmt, const char *request_id,
                          const char *instance_id, const uint8_t *jpeg, size_t jpeg_len)
{
    buf *b = &resp->body;
    buf_reset(b);
    /* One allocation for the whole body, which libmicrohttpd then sends
     * as it is (MHD_RESPMEM_MUST_FREE): the picture is encoded once, into
     * its place, and copied no more. */
    buf_reserve(b, base64_encoded_len(jpeg_len) + 256);
    if (fmt == API_FORMAT_XML) {
        resp->content_type = CONTENT_TYPE_XML;
        buf_printf(b,
                   "<?xml version=\"1.0\" encoding=\"UTF-8\"?><GetInstanceScreenshotResponse>"
                   "<RequestId>%s</RequestId><InstanceId>%s</InstanceId><Screenshot>",
                   request_id, instance_id);
        base64_append(b, jpeg, jpeg_len);
        buf_puts(b, "</Screenshot></GetInstanceScreenshotResponse>");
    } else {
        resp->content_type = CONTENT_TYPE_JSON;
        buf_printf(b, "{\"RequestId\":\"%s\",\"InstanceId\":\"%s\",\"Screenshot\":\"", request_id,
                   instance_id);
        base64_append(b, jpeg, jpeg_len);
        buf_puts(b, "\"}");
    }
    resp->status = 200;
    return b->failed ? -1 : 0;
}

#define POLICY_TYPE "AccountLevelIdentityBasedPolicy"

static const char *policy_type(const access_denied_detail *d)
{
    return d->policy_type[0] ? d->policy_type : POLICY_TYPE;
}

static const char *no_permission_type(const access_denied_detail *d)
{
    return d->explicit_deny ? "ExplicitDeny" : "ImplicitDeny";
}

static json_t *denied_detail_json(const access_denied_detail *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "AuthAction", json_string(d->auth_action));
    json_object_set_new(o, "AuthPrincipalType", json_string(d->principal_type));
    json_object_set_new(o, "AuthPrincipalOwnerId", json_string(d->principal_owner_id));
    json_object_set_new(o, "AuthPrincipalDisplayName", json_string(d->principal_name));
    json_object_set_new(o, "PolicyType", json_string(policy_type(d)));
    json_object_set_new(o, "NoPermissionType", json_string(no_permission_type(d)));
    return o;
}

static void denied_detail_xml(buf *b, const access_denied_detail *d)
{
    buf_puts(b, "<AccessDeniedDetail><AuthAction>");
    xml_escape(b, d->auth_action);
    buf_puts(b, "</AuthAction><AuthPrincipalType>");
    xml_escape(b, d->principal_type);
    buf_puts(b, "</AuthPrincipalType><AuthPrincipalOwnerId>");
    xml_escape(b, d->principal_owner_id);
    buf_puts(b, "</AuthPrincipalOwnerId><AuthPrincipalDisplayName>");
    xml_escape(b, d->principal_name);
    buf_puts(b, "</AuthPrincipalDisplayName><PolicyType>");
    buf_puts(b, policy_type(d));
    buf_puts(b, "</PolicyType><NoPermissionType>");
    buf_puts(b, no_permission_type(d));
    buf_puts(b, "</NoPermissionType></AccessDeniedDetail>");
}

static int append_to_buf(const char *text, size_t size, void *data)
{
    buf *b = data;
    return buf_append(b, text, size) < 0 || b->failed ? -1 : 0;
}

static int render_error_json(buf *b, const char *request_id, const char *host_id,
                             const char *code, const char *message, const char *recommend,
                             const api_error *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "RequestId", json_string(request_id));
    json_object_set_new(o, "HostId", json_string(host_id));
    json_object_set_new(o, "Code", json_string(code));
    json_object_set_new(o, "Message", json_string(message));
    json_object_set_new(o, "Recommend", json_string(recommend));
    if (err->code == API_ERR_FORBIDDEN_RAM)
        json_object_set_new(o, "AccessDeniedDetail", denied_detail_json(&err->denied));
    /* Straight into the body: json_dumps would grow a string of its own
     * from 16 bytes by doubling, and the body would copy it again. */
    int rc = json_dump_callback(o, append_to_buf, b, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return rc;
}

int api_render_error(http_response *resp, api_format fmt, const char *request_id,
                     const char *host_id, const api_error *err)
{
    buf message = BUF_INIT;
    char host[256];
    char recommend[512];
    const char *code = api_error_name(err->code);

    api_error_message(err, &message);
    if (message.failed) {
        buf_free(&message);
        return -1;
    }
    if (message.data)
        sanitize_ascii(message.data, 1);
    snprintf(host, sizeof host, "%s", host_id ? host_id : "");
    sanitize_ascii(host, 0);
    snprintf(recommend, sizeof recommend, RECOMMEND_FMT, code, request_id);

    buf *b = &resp->body;
    buf_reset(b);
    int rc = 0;
    if (fmt == API_FORMAT_XML) {
        resp->content_type = CONTENT_TYPE_XML;
        buf_puts(b, "<?xml version='1.0' encoding='UTF-8'?><Error><RequestId>");
        xml_escape(b, request_id);
        buf_puts(b, "</RequestId><HostId>");
        xml_escape(b, host);
        buf_puts(b, "</HostId><Code>");
        xml_escape(b, code);
        buf_puts(b, "</Code><Message>");
        xml_escape(b, buf_cstr(&message));
        buf_puts(b, "</Message><Recommend><![CDATA[");
        buf_puts(b, recommend);
        buf_puts(b, "]]></Recommend>");
        if (err->code == API_ERR_FORBIDDEN_RAM)
            denied_detail_xml(b, &err->denied);
        buf_puts(b, "</Error>");
    } else {
        resp->content_type = CONTENT_TYPE_JSON;
        rc = render_error_json(b, request_id, host, code, buf_cstr(&message), recommend, err);
    }
    buf_free(&message);
    resp->status = api_error_http_status(err->code);
    if (err->code == API_ERR_THROTTLING) {
        char ms[32];
        snprintf(ms, sizeof ms, "%ld", err->retry_after_ms > 0 ? err->retry_after_ms : 1);
        http_response_add_header(resp, "x-acs-retry-after", ms);
    }
    return rc < 0 || b->failed ? -1 : 0;
}
