/* fuzz_sig.c: the V1 and V3 canonicalizations and signing (auth/sig_v1.c,
 * auth/sig_v3.c, auth/percent.c) on requests written as text (see
 * fuzz_request.h).
 *
 * From each request: the V1 string to sign over every parameter, the V3
 * canonical request over the query parameters and every header given,
 * its string to sign, and both HMACs. Checked on every input:
 *  - V1: "METHOD&%2F&" followed only by unreserved bytes and %XY escapes;
 *  - V3: "METHOD\n/\n" first, the body hash last;
 *  - both are independent of the order parameters and headers arrive in
 *    (the lists are reversed and everything computed again, byte for byte);
 *  - signatures have their fixed lengths and alphabets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz_check.h"
#include "fuzz_request.h"

#define SECRET "testAccessKeySecret"

typedef struct outputs {
    buf v1;
    buf v3;
    buf v3_sts;
    char v1_sig[SIG_V1_B64_LEN + 1];
    char v3_sig[SIG_V3_HEX_LEN + 1];
} outputs;

static void compute(const fuzz_request *fr, const param_list *params, const sig_header *headers,
                    size_t header_count, const char *signed_headers, const char *body_hash,
                    outputs *o)
{
    memset(o, 0, sizeof *o);
    FUZZ_CHECK(sig_v1_string_to_sign(&o->v1, fr->req.method, params) == 0);
    FUZZ_CHECK(sig_v1_sign(SECRET, buf_cstr(&o->v1), o->v1.len, o->v1_sig) == 0);
    FUZZ_CHECK(sig_v3_canonical_request(&o->v3, fr->req.method, params, headers, header_count,
                                        signed_headers, body_hash) == 0);
    FUZZ_CHECK(sig_v3_string_to_sign(&o->v3_sts, buf_cstr(&o->v3), o->v3.len) == 0);
    FUZZ_CHECK(sig_v3_sign(SECRET, buf_cstr(&o->v3_sts), o->v3_sts.len, o->v3_sig) == 0);
}

static void outputs_free(outputs *o)
{
    buf_free(&o->v1);
    buf_free(&o->v3);
    buf_free(&o->v3_sts);
}

static int is_unreserved_or_pct(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~' || c == '%';
}

static void check_shapes(const fuzz_request *fr, const char *body_hash, const outputs *o)
{
    size_t mlen = strlen(fr->req.method);

    FUZZ_CHECK(o->v1.len >= mlen + 5 && memcmp(o->v1.data, fr->req.method, mlen) == 0 &&
               memcmp(o->v1.data + mlen, "&%2F&", 5) == 0);
    for (size_t i = mlen + 5; i < o->v1.len; i++)
        FUZZ_CHECK(is_unreserved_or_pct((unsigned char)o->v1.data[i]));

    size_t hlen = strlen(body_hash);
    FUZZ_CHECK(o->v3.len >= mlen + 3 + hlen && memcmp(o->v3.data, fr->req.method, mlen) == 0 &&
               memcmp(o->v3.data + mlen, "\n/\n", 3) == 0 &&
               memcmp(o->v3.data + o->v3.len - hlen, body_hash, hlen) == 0);
    FUZZ_CHECK(o->v3_sts.len == sizeof SIG_V3_ALGORITHM + SIG_V3_HEX_LEN);

    FUZZ_CHECK(strlen(o->v1_sig) == SIG_V1_B64_LEN && o->v1_sig[SIG_V1_B64_LEN - 1] == '=');
    FUZZ_CHECK(strlen(o->v3_sig) == SIG_V3_HEX_LEN);
    FUZZ_CHECK(strspn(o->v3_sig, "0123456789abcdef") == SIG_V3_HEX_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request fr;
    if (fuzz_request_parse(&fr, data, size) != 0)
        return 0;

    /* Every header is signed, in arrival order; the server passes the
     * names it split from SignedHeaders, but the canonical form must not
     * depend on that order. */
    size_t n = fr.req.header_count;
    sig_header headers[FUZZ_HEADERS_MAX], reversed[FUZZ_HEADERS_MAX];
    buf names = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        headers[i].name = fr.headers[i].name;
        headers[i].value = fr.headers[i].value;
        reversed[n - 1 - i] = headers[i];
        if (i > 0)
            buf_putc(&names, ';');
        buf_puts(&names, headers[i].name);
    }
    char body_hash[SIG_V3_HEX_LEN + 1];
    sha256_hex(fr.req.body, fr.req.body_len, body_hash);
    FUZZ_CHECK(strlen(body_hash) == SIG_V3_HEX_LEN);

    outputs a, b;
    compute(&fr, &fr.params, headers, n, buf_cstr(&names), body_hash, &a);
    check_shapes(&fr, body_hash, &a);

    param_list rev = PARAM_LIST_INIT;
    if (fr.params.count > 0) {
        rev.items = malloc(fr.params.count * sizeof *rev.items);
        FUZZ_CHECK(rev.items != NULL);
        for (size_t i = 0; i < fr.params.count; i++)
            rev.items[fr.params.count - 1 - i] = fr.params.items[i];
        rev.count = rev.cap = fr.params.count;
    }
    compute(&fr, &rev, reversed, n, buf_cstr(&names), body_hash, &b);
    FUZZ_CHECK(a.v1.len == b.v1.len && memcmp(buf_cstr(&a.v1), buf_cstr(&b.v1), a.v1.len) == 0);
    FUZZ_CHECK(a.v3.len == b.v3.len && memcmp(buf_cstr(&a.v3), buf_cstr(&b.v3), a.v3.len) == 0);
    FUZZ_CHECK(strcmp(a.v1_sig, b.v1_sig) == 0 && strcmp(a.v3_sig, b.v3_sig) == 0);
    FUZZ_CHECK(sig_equal(a.v3_sig, b.v3_sig) == 1);

    free(rev.items); /* the strings belong to fr.params */
    outputs_free(&a);
    outputs_free(&b);
    buf_free(&names);
    fuzz_request_free(&fr);
    return 0;
}
