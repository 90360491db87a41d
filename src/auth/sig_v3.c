/* sig_v3.c: signature V3, ACS3-HMAC-SHA256 over a canonical request.
 *
 * PROTOCOL.md §1.3. The canonical request and string to sign are built
 * here for both sides (server and ecshot client); the Authorization header
 * parser is the server's first look at a V3 request, so it is strict: one
 * fixed shape, bounded fields, anything else is refused. */
#include "auth/auth.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/sig_internal.h"

static const char hex_digits[] = "0123456789abcdef";

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Header names compared as their lower-case forms, so that a caller's
 * stray capital cannot change the order the client signed in. */
static int compare_names(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)lower(*a), cb = (unsigned char)lower(*b);
        if (ca != cb || ca == '\0')
            return (ca > cb) - (ca < cb);
    }
}

static int compare_headers(const void *pa, const void *pb)
{
    const sig_header *a = *(const sig_header *const *)pa;
    const sig_header *b = *(const sig_header *const *)pb;
    int c = compare_names(a->name, b->name);
    return c ? c : strcmp(a->value ? a->value : "", b->value ? b->value : "");
}

static int is_trimmed_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* lower(name) ":" trim(value) "\n" */
static void append_header(buf *out, const sig_header *h)
{
    const char *v = h->value ? h->value : "";
    size_t len = strlen(v);
    while (len > 0 && is_trimmed_space(*v)) {
        v++;
        len--;
    }
    while (len > 0 && is_trimmed_space(v[len - 1]))
        len--;
    for (const char *n = h->name; *n; n++)
        buf_putc(out, lower(*n));
    buf_putc(out, ':');
    buf_append(out, v, len);
    buf_putc(out, '\n');
}

int sig_v3_canonical_request(buf *out, const char *method, const param_list *query,
                             const sig_header *headers, size_t header_count,
                             const char *signed_headers, const char *body_sha256_hex)
{
    const sig_header *on_stack[SIG_STACK_ITEMS];
    const sig_header **sorted = on_stack;

    if (header_count > SIG_STACK_ITEMS)
        sorted = malloc(header_count * sizeof *sorted);
    if (!sorted)
        return -1;
    if (header_count > 0) {
        for (size_t i = 0; i < header_count; i++)
            sorted[i] = &headers[i];
        qsort(sorted, header_count, sizeof *sorted, compare_headers);
    }

    buf_puts(out, method);
    buf_puts(out, "\n/\n");
    /* Only the query string is signed here; a form body counts through
     * its hash. Body parameters in the list are skipped, so the server may
     * pass the merged list it decoded. */
    int rc = sig_append_sorted_params(out, query, NULL, 1);
    buf_putc(out, '\n');
    for (size_t i = 0; i < header_count; i++)
        append_header(out, sorted[i]);
    buf_putc(out, '\n');
    buf_puts(out, signed_headers);
    buf_putc(out, '\n');
    buf_puts(out, body_sha256_hex);
    if (sorted != on_stack)
        free(sorted);
    return rc == 0 && !out->failed ? 0 : -1;
}

void sha256_hex(const void *data, size_t len, char out[SIG_V3_HEX_LEN + 1])
{
    unsigned char md[32];

    if (sig_sha256(data, len, md) != 0) {
        /* Only an OpenSSL without SHA-256 gets here; an empty string
         * matches no hash a client sends. */
        out[0] = '\0';
        return;
    }
    hex_encode(md, sizeof md, out);
}

int sig_v3_string_to_sign(buf *out, const char *canonical, size_t len)
{
    char hash[SIG_V3_HEX_LEN + 1];

    sha256_hex(canonical, len, hash);
    if (hash[0] == '\0')
        return -1;
    buf_puts(out, SIG_V3_ALGORITHM "\n");
    buf_puts(out, hash);
    return out->failed ? -1 : 0;
}

int sig_v3_sign(const char *secret, const char *string_to_sign, size_t len,
                char out[SIG_V3_HEX_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;

    out[0] = '\0';
    if (sig_hmac(1, secret, strlen(secret), string_to_sign, len, mac, sizeof mac, &mac_len) != 0 ||
        mac_len != 32)
        return -1;
    hex_encode(mac, mac_len, out);
    return 0;
}

/* ---- Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=.. ---- */

/* If *p starts with word, steps past it. */
static int skip_word(const char **p, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(*p, word, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/* Copies the field up to the next ',' (or the end) into out[cap]. Every
 * byte must satisfy ok(); an empty or overlong field is refused. */
static int take_field(const char **p, char *out, size_t cap, int (*ok)(unsigned char))
{
    size_t n = 0;
    const char *s = *p;
    while (s[n] != '\0' && s[n] != ',') {
        if (!ok((unsigned char)s[n]) || n + 1 >= cap)
            return -1;
        out[n] = s[n];
        n++;
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    *p = s + n;
    return 0;
}

/* A ',' and any spaces after it: some clients write ", " between parts. */
static int skip_separator(const char **p)
{
    if (**p != ',')
        return -1;
    (*p)++;
    while (**p == ' ')
        (*p)++;
    return 0;
}

/* AccessKey ids: visible ASCII (no space, no ',' which ends the field). */
static int credential_byte(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ',';
}

/* Header names (RFC 9110 token characters) separated by ';'. */
static int signed_headers_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~;", c) != NULL);
}

static int lower_hex_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int sig_v3_parse_authorization(const char *value, sig_v3_authorization *out)
{
    const char *p = value;

    memset(out, 0, sizeof *out);
    if (!p || skip_word(&p, SIG_V3_ALGORITHM " Credential=") != 0 ||
        take_field(&p, out->credential, sizeof out->credential, credential_byte) != 0 ||
        skip_separator(&p) != 0 || skip_word(&p, "SignedHeaders=") != 0 ||
        take_field(&p, out->signed_headers, sizeof out->signed_headers, signed_headers_byte) !=
            0 ||
        skip_separator(&p) != 0 || skip_word(&p, "Signature=") != 0 ||
        take_field(&p, out->signature, sizeof out->signature, lower_hex_byte) != 0 ||
        *p != '\0' || strlen(out->signature) != SIG_V3_HEX_LEN) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int sig_equal(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    /* The lengths are public (a signature's length is fixed by its
     * style); only the bytes must be compared without an early exit. */
    size_t n = strlen(a);
    if (n != strlen(b))
        return 0;
    return CRYPTO_memcmp(a, b, n) == 0;
}
