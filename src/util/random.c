/* random.c: random text for ids and secrets (random.h). */
#include "util/random.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

int random_alnum(char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /* Bytes of 248 and above (62 * 4) are drawn again, so that "% 62"
     * favours no character. */
    unsigned char pool[64];
    size_t filled = 0;
    while (filled < n) {
        if (RAND_bytes(pool, sizeof pool) != 1)
            return -1;
        for (size_t i = 0; i < sizeof pool && filled < n; i++)
            if (pool[i] < 248)
                out[filled++] = alphabet[pool[i] % 62];
    }
    out[n] = '\0';
    OPENSSL_cleanse(pool, sizeof pool);
    return 0;
}
