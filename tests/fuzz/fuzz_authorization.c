/* fuzz_authorization.c: the V3 Authorization header parser
 * (sig_v3_parse_authorization in auth/sig_v3.c), the first code that reads
 * a V3 request.
 *
 * The input, up to its first NUL, is the header value. Checked on every
 * input: a refused value leaves the output zeroed; an accepted one has a
 * credential of visible ASCII, a SignedHeaders list of token bytes and ';',
 * a 64-digit lower-case hex signature, each NUL-terminated within its
 * field, and writing the three parts back in the canonical form parses to
 * the same parts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void check_fields(const sig_v3_authorization *a)
{
    FUZZ_CHECK(memchr(a->credential, '\0', sizeof a->credential) != NULL);
    FUZZ_CHECK(memchr(a->signed_headers, '\0', sizeof a->signed_headers) != NULL);
    FUZZ_CHECK(memchr(a->signature, '\0', sizeof a->signature) != NULL);
    FUZZ_CHECK(a->credential[0] != '\0' && a->signed_headers[0] != '\0');
    for (const char *c = a->credential; *c; c++)
        FUZZ_CHECK(*c > 0x20 && *c < 0x7f && *c != ',');
    for (const char *c = a->signed_headers; *c; c++)
        FUZZ_CHECK(*c > 0x20 && *c < 0x7f && *c != ',' && *c != ' ');
    FUZZ_CHECK(strlen(a->signature) == SIG_V3_HEX_LEN);
    FUZZ_CHECK(strspn(a->signature, "0123456789abcdef") == SIG_V3_HEX_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);
    if (!value)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';

    sig_v3_authorization a;
    memset(&a, 0xa5, sizeof a); /* the parser must clear what it does not fill */
    if (sig_v3_parse_authorization(value, &a) != 0) {
        FUZZ_CHECK(all_zero(&a, sizeof a));
    } else {
        check_fields(&a);
        char again[sizeof a + 64];
        snprintf(again, sizeof again, SIG_V3_ALGORITHM " Credential=%s,SignedHeaders=%s,Signature=%s",
                 a.credential, a.signed_headers, a.signature);
        sig_v3_authorization b;
        FUZZ_CHECK(sig_v3_parse_authorization(again, &b) == 0);
        FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    FUZZ_CHECK(sig_v3_parse_authorization(NULL, &a) != 0);
    free(value);
    return 0;
}
