/* render.c: response bodies exactly as Alibaba's clients parse them (PROTOCOL.md §2).
 *
 * Success bodies are assembled directly: every field in them (RequestId,
 * a validated InstanceId, base64) is from a known safe alphabet, and the
 * screenshot is large enough that a JSON library's copy would show in the
 * latency. Error bodies carry text that may echo the client (a parameter's
 * name, a session name), which json_string_append and xml_escape escape.
 * They used to be built with jansson, whose json_dump_callback alone took
 * 7 to 12 % of a cheap answer's CPU (perf, bench/cheap.sh): a hashtable for
 * its loop check keyed by an snprintf'd pointer, a json_t and a copy per
 * field, and a UTF-8 decode per character. The escaping here writes
 * byte for byte what jansson wrote (test_render checks it against jansson),
 * except that a byte that is not UTF-8 becomes '?' where jansson dropped
 * the whole field. */
#include "api/api.h"

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

/* The length of the well-formed UTF-8 sequence at s (2 to 4 bytes: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is
 * none. The first byte is >= 0x80. */
static size_t utf8_sequence_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4
                                                                                          : 0;
    }
    return 0;
}

/* s as a JSON string, quotes included, as jansson's json_dumps writes it
 * without flags: '"' and '\\' escaped, control characters as \b \f \n \r
 * \t or \u00XX, UTF-8 as it is. Runs of plain bytes go in one append. */
static void json_string_append(buf *out, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    buf_putc(out, '"');
    while (*s) {
        const unsigned char *run = s;
        while (*s >= 0x20 && *s < 0x80 && *s != '"' && *s != '\\')
            s++;
        buf_append(out, run, (size_t)(s - run));
        if (!*s)
            break;
        if (*s >= 0x80) {
            size_t n = utf8_sequence_len(s);
            if (n) {
                buf_append(out, s, n);
                s += n;
            } else {
                buf_putc(out, '?');
                s++;
            }
            continue;
        }
        switch (*s) {
        case '"': buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\b': buf_puts(out, "\\b"); break;
        case '\f': buf_puts(out, "\\f"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        default: buf_printf(out, "\\u%04X", *s);
        }
        s++;
    }
    buf_putc(out, '"');
}

/* ,"name":"value" */
static void json_field(buf *out, const char *name, const char *value)
{
    buf_putc(out, ',');
    json_string_append(out, name);
    buf_putc(out, ':');
    json_string_append(out, value);
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

static void render_error_json(buf *b, const char *request_id, const char *host_id,
                              const char *code, const char *message, const char *recommend,
                              const api_error *err)
{
    buf_puts(b, "{\"RequestId\":");
    json_string_append(b, request_id);
    json_field(b, "HostId", host_id);
    json_field(b, "Code", code);
    json_field(b, "Message", message);
    json_field(b, "Recommend", recommend);
    if (err->code == API_ERR_FORBIDDEN_RAM) {
        const access_denied_detail *d = &err->denied;
        buf_puts(b, ",\"AccessDeniedDetail\":{\"AuthAction\":");
        json_string_append(b, d->auth_action);
        json_field(b, "AuthPrincipalType", d->principal_type);
        json_field(b, "AuthPrincipalOwnerId", d->principal_owner_id);
        json_field(b, "AuthPrincipalDisplayName", d->principal_name);
        json_field(b, "PolicyType", policy_type(d));
        json_field(b, "NoPermissionType", no_permission_type(d));
        buf_putc(b, '}');
    }
    buf_putc(b, '}');
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
        render_error_json(b, request_id, host, code, buf_cstr(&message), recommend, err);
    }
    buf_free(&message);
    resp->status = api_error_http_status(err->code);
    if (err->code == API_ERR_THROTTLING) {
        char ms[32];
        snprintf(ms, sizeof ms, "%ld", err->retry_after_ms > 0 ? err->retry_after_ms : 1);
        http_response_add_header(resp, "x-acs-retry-after", ms);
    }
    return b->failed ? -1 : 0;
}
