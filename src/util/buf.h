/* buf.h: a growable byte buffer, always NUL-terminated.
 *
 * Used wherever ecshot builds text of unknown length: canonical requests,
 * response bodies, error messages. Allocation failure is reported, never
 * ignored: every append returns 0 on success and -1 when memory ran out, and
 * a buffer that failed once stays failed (b->failed) so that a caller may do
 * a run of appends and check once at the end.
 *
 * A buffer may start on storage of the caller's (buf_init_on), typically an
 * array on the stack: on the hot path of a request (signatures) the usual
 * sizes then cost no heap allocation at all, and a larger text moves to the
 * heap like any other. */
#ifndef ECSHOT_UTIL_BUF_H
#define ECSHOT_UTIL_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data;   /* NUL-terminated when len > 0 or after buf_reserve */
    size_t len;
    size_t cap;
    int failed;
    int borrowed; /* data is the caller's storage (buf_init_on), not the heap's */
} buf;

#define BUF_INIT {NULL, 0, 0, 0, 0}

/* Starts b, empty, on size bytes of the caller's storage (size >= 1),
 * which must outlive b's use of it; buf_free never frees it. */
void buf_init_on(buf *b, char *storage, size_t size);

int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(buf *b);          /* len = 0, keeps memory */
void buf_free(buf *b);
/* Hands the heap string over to the caller (never NULL unless failed);
 * the buffer is left empty. */
char *buf_steal(buf *b);  /* a heap copy when the text is on borrowed storage */
/* data as a C string: "" for an empty buffer. */
const char *buf_cstr(const buf *b);

#endif
