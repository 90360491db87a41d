/* percent.c: the percent-encoding both signatures are computed over.
 *
 * PROTOCOL.md §1.1: RFC 3986 on the raw bytes. Clients encode differently
 * on the wire, so the server always decodes first and re-encodes with this
 * one rule; the ecshot client signs with it too. The test is written out
 * byte by byte rather than with isalnum(), whose answer depends on the
 * locale and on the signedness of char. The sorted parameter list that
 * both signature styles sign is built here too (sig_internal.h). */
#include "auth/auth.h"

#include <stdlib.h>
#include <string.h>

#include "auth/sig_internal.h"

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

int percent_encode(buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    /* Worst case three bytes out per byte in; one reservation up front. */
    if (len > ((size_t)-1) / 4 || buf_reserve(out, len * 3) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            buf_putc(out, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
            buf_append(out, esc, sizeof esc);
        }
    }
    return out->failed ? -1 : 0;
}

/* Byte order of two counted strings; a proper prefix sorts first. */
static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

static int compare_params(const void *pa, const void *pb)
{
    const param *a = *(const param *const *)pa;
    const param *b = *(const param *const *)pb;
    int c = compare_bytes(a->name, a->name_len, b->name, b->name_len);
    return c ? c : compare_bytes(a->value, a->value_len, b->value, b->value_len);
}

static int is_named(const param *p, const char *name)
{
    size_t n = strlen(name);
    return p->name_len == n && memcmp(p->name, name, n) == 0;
}

int sig_append_sorted_params(buf *out, const param_list *pl, const char *skip_name,
                             int query_only)
{
    if (pl->count == 0)
        return out->failed ? -1 : 0;
    /* Sort pointers, not the caller's list: signing must not reorder the
     * parameters that later stages read in arrival order. */
    const param *on_stack[SIG_STACK_ITEMS];
    const param **sorted =
        pl->count <= SIG_STACK_ITEMS ? on_stack : malloc(pl->count * sizeof *sorted);
    if (!sorted)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < pl->count; i++) {
        const param *p = &pl->items[i];
        if ((query_only && p->from_body) || (skip_name && is_named(p, skip_name)))
            continue;
        sorted[n++] = p;
    }
    qsort(sorted, n, sizeof *sorted, compare_params);

    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0)
            buf_putc(out, '&');
        if (percent_encode(out, sorted[i]->name, sorted[i]->name_len) != 0 ||
            buf_putc(out, '=') != 0 ||
            percent_encode(out, sorted[i]->value, sorted[i]->value_len) != 0)
            rc = -1;
    }
    if (sorted != on_stack)
        free(sorted);
    return rc == 0 && !out->failed ? 0 : -1;
}
