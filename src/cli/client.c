/* client.c: `ecshot screenshot`: sign a GetInstanceScreenshot call, send it,
 * save the JPEG.
 *
 * It signs exactly as Alibaba's current SDK does by default (V3,
 * ACS3-HMAC-SHA256, POST with the parameters in the query string), or V1 with
 * --signature v1, using the same canonicalization code the server verifies
 * with. HTTP goes through libcurl. On an API error it prints the code and
 * message the server sent and exits 1; on a local or transport failure, 2. */
#include "cli/client.h"
#include "cli/request.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "auth/auth.h"
#include "image/image.h"
#include "ops/ops.h"
#include "util/buf.h"

#define EXIT_API_ERROR 1
#define EXIT_LOCAL_ERROR 2
#define RESPONSE_MAX (64u << 20)

typedef struct client_options {
    const char *endpoint;
    const char *region;
    const char *instance;
    const char *output;
    int wakeup;
    int v1;
} client_options;

static size_t collect_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > RESPONSE_MAX || buf_append(b, data, n) < 0)
        return 0; /* makes curl fail the transfer */
    return n;
}

/* Writes data to path through a temporary file in the same directory and a
 * rename, so that a reader never sees half a JPEG. */
static int write_file_atomically(const char *path, const uint8_t *data, size_t len)
{
    char *dir_copy = strdup(path);
    if (!dir_copy)
        return -1;
    buf tmp = BUF_INIT;
    buf_printf(&tmp, "%s/.ecshot-XXXXXX", dirname(dir_copy));
    free(dir_copy);
    if (tmp.failed)
        return -1;
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        buf_free(&tmp);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    int ok = off == len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp.data, path) < 0) {
        unlink(tmp.data);
        buf_free(&tmp);
        return -1;
    }
    buf_free(&tmp);
    return 0;
}

/* Reads the answer; returns the exit status. */
static int handle_response(const client_options *o, long status, const buf *body)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf_cstr(body), body->len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "ecshot: HTTP %ld with a body that is not JSON\n", status);
        json_decref(root);
        return EXIT_API_ERROR;
    }
    const char *code = json_string_value(json_object_get(root, "Code"));
    const char *shot = json_string_value(json_object_get(root, "Screenshot"));
    if (code || status != 200 || !shot) {
        const char *msg = json_string_value(json_object_get(root, "Message"));
        const char *rid = json_string_value(json_object_get(root, "RequestId"));
        fprintf(stderr, "ecshot: %s: %s (HTTP %ld, RequestId %s)\n", code ? code : "Error",
                msg ? msg : "", status, rid ? rid : "-");
        json_decref(root);
        return EXIT_API_ERROR;
    }
    size_t len = strlen(shot);
    uint8_t *jpeg = malloc(len / 4 * 3 + 3);
    long n = jpeg ? base64_decode(shot, len, jpeg) : -1;
    int rc = EXIT_LOCAL_ERROR;
    int width = 0, height = 0, subsamp = 0, colorspace = 0;
    tjhandle tj = tjInitDecompress();
    if (n <= 0 || !tj ||
        tjDecompressHeader3(tj, jpeg, (unsigned long)n, &width, &height, &subsamp, &colorspace) < 0) {
        fprintf(stderr, "ecshot: the Screenshot field is not a base64 JPEG\n");
    } else if (write_file_atomically(o->output, jpeg, (size_t)n) < 0) {
        fprintf(stderr, "ecshot: cannot write %s: %s\n", o->output, strerror(errno));
    } else {
        printf("%s: %dx%d JPEG, %ld bytes\n", o->output, width, height, n);
        rc = 0;
    }
    if (tj)
        tjDestroy(tj);
    free(jpeg);
    json_decref(root);
    return rc;
}

static int parse_options(int argc, char **argv, client_options *o)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"region", required_argument, NULL, 'r'},
        {"instance", required_argument, NULL, 'i'},
        {"wakeup", no_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"signature", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': o->endpoint = optarg; break;
        case 'r': o->region = optarg; break;
        case 'i': o->instance = optarg; break;
        case 'w': o->wakeup = 1; break;
        case 'o': o->output = optarg; break;
        case 's':
            if (strcmp(optarg, "v1") != 0 && strcmp(optarg, "v3") != 0) {
                fprintf(stderr, "ecshot: --signature takes v3 or v1\n");
                return -1;
            }
            o->v1 = strcmp(optarg, "v1") == 0;
            break;
        default: return -1;
        }
    }
    if (optind != argc || !o->endpoint || !o->region || !o->instance) {
        fprintf(stderr, "ecshot: screenshot needs --endpoint, --region and --instance\n");
        return -1;
    }
    return 0;
}

int client_screenshot_main(int argc, char **argv)
{
    client_options o = {0};
    if (parse_options(argc, argv, &o) < 0)
        return EXIT_LOCAL_ERROR;
    char default_output[STORE_ID_MAX + 8];
    if (!o.output) {
        snprintf(default_output, sizeof default_output, "%s.jpg", o.instance);
        o.output = default_output;
    }
    screenshot_call call = {
        .endpoint = o.endpoint,
        .region = o.region,
        .instance = o.instance,
        .wakeup = o.wakeup,
        .v1 = o.v1,
        .access_key_id = getenv("ALIBABA_CLOUD_ACCESS_KEY_ID"),
        .access_key_secret = getenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        .security_token = getenv("ALIBABA_CLOUD_SECURITY_TOKEN"),
    };
    if (!call.access_key_id || !call.access_key_secret || !*call.access_key_id ||
        !*call.access_key_secret) {
        fprintf(stderr, "ecshot: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET\n");
        return EXIT_LOCAL_ERROR;
    }

    buf url = BUF_INIT, body = BUF_INIT;
    struct curl_slist *headers = NULL;
    int rc = EXIT_LOCAL_ERROR;
    if (screenshot_call_sign(&call, &url, &headers) < 0) {
        fprintf(stderr, "ecshot: cannot sign a request for endpoint '%s'\n", o.endpoint);
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    if (!curl)
        goto out;
    screenshot_call_setopt(curl, &url, headers, collect_body, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    if (cc != CURLE_OK) {
        fprintf(stderr, "ecshot: %s: %s\n", o.endpoint, curl_easy_strerror(cc));
        goto out;
    }
    rc = handle_response(&o, status, &body);
out:
    curl_slist_free_all(headers);
    buf_free(&url);
    buf_free(&body);
    return rc;
}
