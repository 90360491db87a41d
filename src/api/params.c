/* params.c: decoding of query strings and form bodies (see params.h). */
#include "api/params.h"

#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

/* Decodes one application/x-www-form-urlencoded piece into a fresh heap
 * string; *out_len gets its length (it may contain NUL bytes). */
static char *form_unescape(const char *s, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            out[o++] = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (len - i < 3 || (hi = hex_digit_value((unsigned char)s[i + 1])) < 0 ||
                (lo = hex_digit_value((unsigned char)s[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static int params_push(param_list *pl, param p)
{
    if (pl->count >= PARAMS_MAX)
        return -1;
    if (pl->count == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 16;
        param *items = realloc(pl->items, cap * sizeof *items);
        if (!items)
            return -1;
        pl->items = items;
        pl->cap = cap;
    }
    pl->items[pl->count++] = p;
    return 0;
}

int params_decode(param_list *pl, const char *s, size_t len, int from_body)
{
    size_t start = 0;
    while (start < len) {
        const char *piece = s + start;
        const char *amp = memchr(piece, '&', len - start);
        size_t piece_len = amp ? (size_t)(amp - piece) : len - start;
        start += piece_len + 1;
        if (piece_len == 0)
            continue;

        const char *eq = memchr(piece, '=', piece_len);
        size_t name_raw = eq ? (size_t)(eq - piece) : piece_len;
        param p = {0};
        p.from_body = from_body;
        p.name = form_unescape(piece, name_raw, &p.name_len);
        p.value = eq ? form_unescape(eq + 1, piece_len - name_raw - 1, &p.value_len)
                     : form_unescape("", 0, &p.value_len);
        if (!p.name || !p.value || params_push(pl, p) < 0) {
            free(p.name);
            free(p.value);
            return -1;
        }
    }
    return 0;
}

const param *params_find(const param_list *pl, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < pl->count; i++) {
        const param *p = &pl->items[i];
        if (p->name_len == n && memcmp(p->name, name, n) == 0)
            return p;
    }
    return NULL;
}

const char *params_get(const param_list *pl, const char *name)
{
    const param *p = params_find(pl, name);
    return p ? p->value : NULL;
}

const char *params_duplicate(const param_list *pl)
{
    /* PARAMS_MAX bounds the list, so the quadratic scan is bounded too. */
    for (size_t i = 1; i < pl->count; i++)
        for (size_t j = 0; j < i; j++)
            if (pl->items[i].name_len == pl->items[j].name_len &&
                memcmp(pl->items[i].name, pl->items[j].name, pl->items[i].name_len) == 0)
                return pl->items[i].name;
    return NULL;
}

void params_free(param_list *pl)
{
    for (size_t i = 0; i < pl->count; i++) {
        free(pl->items[i].name);
        free(pl->items[i].value);
    }
    free(pl->items);
    pl->items = NULL;
    pl->count = pl->cap = 0;
}
