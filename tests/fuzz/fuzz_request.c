/* fuzz_request.c: cuts a fuzz input into an http_request (see fuzz_request.h). */
#include "fuzz_request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The next line of text[*pos .. end), NUL-terminated in place (its "\r\n"
 * or "\n" removed); NULL when no byte is left. */
static char *next_line(char *text, size_t end, size_t *pos)
{
    if (*pos >= end)
        return NULL;
    char *line = text + *pos;
    char *nl = memchr(line, '\n', end - *pos);
    size_t len = nl ? (size_t)(nl - line) : end - *pos;
    *pos += len + (nl ? 1 : 0);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    return line;
}

static void lower_in_place(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

static int is_form(const http_request *req)
{
    const char *ct = http_request_header(req, "content-type");
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

int fuzz_request_parse(fuzz_request *fr, const uint8_t *data, size_t size)
{
    memset(fr, 0, sizeof *fr);
    fr->text = malloc(size + 1);
    if (!fr->text)
        return -1;
    memcpy(fr->text, data, size);
    fr->text[size] = '\0';

    size_t pos = 0;
    char *first = next_line(fr->text, size, &pos);
    char *space = first ? strchr(first, ' ') : NULL;
    if (!space) {
        free(fr->text);
        fr->text = NULL;
        return -1;
    }
    *space = '\0';
    fr->req.method = first;
    fr->req.target = space + 1;
    char *q = strchr(fr->req.target, '?');
    size_t path_len = q ? (size_t)(q - fr->req.target) : strlen(fr->req.target);
    fr->path_copy = strndup(fr->req.target, path_len);
    fr->req.path = fr->path_copy ? fr->path_copy : "/";
    fr->req.query = q ? q + 1 : "";

    char *line;
    while ((line = next_line(fr->text, size, &pos)) != NULL && *line != '\0') {
        char *colon = strchr(line, ':');
        if (!colon || fr->req.header_count == FUZZ_HEADERS_MAX)
            continue;
        *colon = '\0';
        char *value = colon + 1;
        while (*value == ' ')
            value++;
        lower_in_place(line);
        fr->headers[fr->req.header_count].name = line;
        fr->headers[fr->req.header_count].value = value;
        fr->req.header_count++;
    }
    fr->req.headers = fr->headers;
    fr->req.body = fr->text + pos;
    fr->req.body_len = pos < size ? size - pos : 0;
    memcpy(fr->req.peer, "192.0.2.1", sizeof "192.0.2.1");

    fr->params_ok = params_decode(&fr->params, fr->req.query, strlen(fr->req.query), 0) == 0 &&
                    (fr->req.body_len == 0 || !is_form(&fr->req) ||
                     params_decode(&fr->params, fr->req.body, fr->req.body_len, 1) == 0);
    return 0;
}

void fuzz_request_free(fuzz_request *fr)
{
    params_free(&fr->params);
    free(fr->path_copy);
    free(fr->text);
    memset(fr, 0, sizeof *fr);
}
