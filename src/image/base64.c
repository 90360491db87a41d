/* base64.c: standard base64 (RFC 4648, padded) with OpenSSL's block coder.
 *
 * EVP_EncodeBlock writes straight into the output buffer. EVP_DecodeBlock
 * is lenient where ecshot must be strict: it trims whitespace, counts the
 * padding as decoded bytes and takes an int length. So decoding checks the
 * alphabet, the padding and the unused bits first, and feeds OpenSSL only
 * text it cannot misread. */
#include "image/image.h"

#include <limits.h>
#include <stdint.h>
#include <openssl/evp.h>

/* Largest block handed to OpenSSL at once: a multiple of 3 (whole groups
 * in) whose encoding (a multiple of 4) still fits an int. */
#define ENCODE_CHUNK ((size_t)3 * (1u << 28))
#define DECODE_CHUNK ((size_t)4 * (1u << 28))

size_t base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4)
        return SIZE_MAX; /* no buffer can hold it; buf_reserve will refuse */
    return groups * 4;
}

int base64_append(buf *out, const uint8_t *data, size_t n)
{
    size_t enc = base64_encoded_len(n);
    if (enc == SIZE_MAX || buf_reserve(out, enc) < 0)
        return -1;
    while (n > 0) {
        size_t take = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
        int wrote = EVP_EncodeBlock((unsigned char *)out->data + out->len, data, (int)take);
        out->len += (size_t)wrote; /* it also wrote the NUL buf keeps */
        data += take;
        n -= take;
    }
    return 0;
}

/* Value of a base64 digit, or -1. */
static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Number of '=' at the end of a well-formed text, or -1. Padding may only
 * close the last group, and the bits it leaves unused must be zero (the
 * canonical form, RFC 4648 section 3.5), so each value has one spelling. */
static int check_text(const unsigned char *in, size_t len)
{
    int pad = 0;
    if (in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (b64_value(in[i]) < 0)
            return -1;
    int last = b64_value(in[len - 1 - (size_t)pad]);
    if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0f)))
        return -1;
    return pad;
}

long base64_decode(const char *in, size_t len, uint8_t *out)
{
    if (len % 4 != 0 || len / 4 * 3 > LONG_MAX)
        return -1;
    if (len == 0)
        return 0;
    const unsigned char *src = (const unsigned char *)in;
    int pad = check_text(src, len);
    if (pad < 0)
        return -1;

    size_t done = 0;
    for (size_t at = 0; at < len;) {
        size_t take = len - at < DECODE_CHUNK ? len - at : DECODE_CHUNK;
        int got = EVP_DecodeBlock(out + done, src + at, (int)take);
        if (got < 0 || (size_t)got != take / 4 * 3)
            return -1;
        done += (size_t)got;
        at += take;
    }
    return (long)(done - (size_t)pad); /* OpenSSL counted the padding as bytes */
}
