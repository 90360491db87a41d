/* sig_v1.c: signature V1, HMAC-SHA1 over the sorted parameters ("RPC" style).
 *
 * PROTOCOL.md §1.2. Pure functions: the server recomputes the signature to
 * compare it, the ecshot client computes it to send it. */
#include "auth/auth.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/sig_internal.h"

int sig_v1_string_to_sign(buf *out, const char *method, const param_list *params)
{
    char space[SIG_STACK_TEXT];
    buf joined;
    buf_init_on(&joined, space, sizeof space);

    /* The joined pairs are encoded a second time as one value, which is
     * why '=' and '&' reach the string to sign as %3D and %26. */
    int rc = sig_append_sorted_params(&joined, params, "Signature", 0);
    if (rc == 0) {
        buf_puts(out, method);
        buf_puts(out, "&%2F&");
        rc = percent_encode(out, joined.data ? joined.data : "", joined.len);
    }
    buf_free(&joined);
    return rc == 0 && !out->failed ? 0 : -1;
}

int sig_v1_sign(const char *secret, const char *string_to_sign, size_t len,
                char out[SIG_V1_B64_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    char space[SIG_STACK_TEXT];
    buf key;
    buf_init_on(&key, space, sizeof space);

    out[0] = '\0';
    /* The key is the secret followed by '&': the "&" is where an STS
     * token secret would go in Alibaba's scheme; AccessKeys leave it empty. */
    if (buf_puts(&key, secret) != 0 || buf_putc(&key, '&') != 0) {
        buf_free(&key);
        return -1;
    }
    size_t mac_len = 0;
    int rc = sig_hmac(0, key.data, key.len, string_to_sign, len, mac, sizeof mac, &mac_len);
    OPENSSL_cleanse(key.data, key.len);
    buf_free(&key);
    if (rc != 0 || mac_len != 20)
        return -1;
    /* 20 bytes are 28 base64 characters; EVP_EncodeBlock adds the NUL. */
    if (EVP_EncodeBlock((unsigned char *)out, mac, (int)mac_len) != SIG_V1_B64_LEN) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
