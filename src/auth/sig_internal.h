/* sig_internal.h: pieces shared by the two signature styles, not part of auth.h.
 *
 * V1 and V3 both sign a list of parameters sorted by name and joined as
 * encode(name)=encode(value)&...; they differ only in which parameters
 * count. The helper lives in percent.c beside the encoding it relies on. */
#ifndef ECSHOT_AUTH_SIG_INTERNAL_H
#define ECSHOT_AUTH_SIG_INTERNAL_H

#include "api/params.h"
#include "util/buf.h"

/* What the signature code keeps on the stack: texts of this size and lists
 * of this many parameters or headers (the common case by far) cost no heap
 * allocation; larger ones move to the heap. */
#define SIG_STACK_TEXT 2048
#define SIG_STACK_ITEMS 64

/* Appends the sorted, encoded k=v&k=v form of pl. Parameters named
 * skip_name (NULL: none) are left out, and so are body parameters when
 * query_only is set. Names are sorted in byte order, equal names by value.
 * Returns 0, or -1 when memory ran out. */
int sig_append_sorted_params(buf *out, const param_list *pl, const char *skip_name,
                             int query_only);

/* HMAC-SHA1 (sha256 0) or HMAC-SHA256 of data under key into out
 * (out_size bytes, *out_len set), and SHA-256 of data, on contexts this
 * thread keeps (crypto.c). 0, or -1 when OpenSSL failed. */
int sig_hmac(int sha256, const void *key, size_t key_len, const void *data, size_t len,
             unsigned char *out, size_t out_size, size_t *out_len);
int sig_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
