/* buf.c: growable byte buffer (see buf.h). */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(buf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    /* Borrowed storage is outgrown: the text moves to the heap. */
    char *p = b->borrowed ? malloc(cap) : realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    if (b->borrowed)
        memcpy(p, b->data, b->len);
    b->borrowed = 0;
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append(buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n < sizeof small)
        return buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_init_on(buf *b, char *storage, size_t size)
{
    b->data = storage;
    b->data[0] = '\0';
    b->len = 0;
    b->cap = size;
    b->failed = 0;
    b->borrowed = 1;
}

void buf_free(buf *b)
{
    if (!b->borrowed)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
    b->borrowed = 0;
}

char *buf_steal(buf *b)
{
    if (b->failed)
        return NULL;
    if (!b->data && buf_reserve(b, 0) < 0)
        return NULL;
    char *p = b->data;
    if (b->borrowed && !(p = malloc(b->len + 1))) {
        b->failed = 1;
        return NULL;
    }
    if (b->borrowed)
        memcpy(p, b->data, b->len + 1);
    b->borrowed = 0;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *buf_cstr(const buf *b)
{
    return b->data ? b->data : "";
}
