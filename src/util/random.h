/* random.h: random text for ids and secrets (AccessKeys, STS credentials). */
#ifndef ECSHOT_UTIL_RANDOM_H
#define ECSHOT_UTIL_RANDOM_H

#include <stddef.h>

/* n characters of [A-Za-z0-9] from OpenSSL's RAND_bytes, each equally
 * likely, then a NUL (out holds n + 1 bytes). 0, or -1 when the generator
 * failed. */
int random_alnum(char *out, size_t n);

#endif
