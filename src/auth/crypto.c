/* crypto.c: HMAC and SHA-256 for the signatures, on contexts kept per thread.
 *
 * OpenSSL 3's one-shot HMAC() and EVP_Digest() fetch their algorithm and
 * build a context on every call: 29 heap allocations for one V1 and one V3
 * signature together. The algorithms are fetched once per process here and
 * each thread keeps its contexts, which leaves 11 (what OpenSSL 3.0 itself
 * still allocates when a context is initialised again). Every request
 * signs, so this is the hot path's share of the allocator. */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "auth/sig_internal.h"

typedef struct thread_crypto {
    EVP_MAC_CTX *hmac_sha1;
    EVP_MAC_CTX *hmac_sha256;
    EVP_MD_CTX *sha256;
} thread_crypto;

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static EVP_MAC *hmac_algorithm;
static EVP_MD *sha256_algorithm;

static void thread_crypto_free(void *p)
{
    thread_crypto *t = p;
    EVP_MAC_CTX_free(t->hmac_sha1);
    EVP_MAC_CTX_free(t->hmac_sha256);
    EVP_MD_CTX_free(t->sha256);
    OPENSSL_free(t);
}

static void fetch_algorithms(void)
{
    hmac_algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL);
    sha256_algorithm = EVP_MD_fetch(NULL, "SHA256", NULL);
    pthread_key_create(&thread_key, thread_crypto_free);
}

/* A MAC context whose digest is set once; later inits change only the key. */
static EVP_MAC_CTX *new_hmac(const char *digest)
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_algorithm);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                            (char *)digest, 0),
                           OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static thread_crypto *this_thread(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    if (!hmac_algorithm || !sha256_algorithm)
        return NULL;
    thread_crypto *t = pthread_getspecific(thread_key);
    if (t)
        return t;
    t = OPENSSL_zalloc(sizeof *t);
    if (!t)
        return NULL;
    t->hmac_sha1 = new_hmac("SHA1");
    t->hmac_sha256 = new_hmac("SHA256");
    t->sha256 = EVP_MD_CTX_new();
    if (!t->hmac_sha1 || !t->hmac_sha256 || !t->sha256 ||
        pthread_setspecific(thread_key, t) != 0) {
        thread_crypto_free(t);
        return NULL;
    }
    return t;
}

int sig_hmac(int sha256, const void *key, size_t key_len, const void *data, size_t len,
             unsigned char *out, size_t out_size, size_t *out_len)
{
    thread_crypto *t = this_thread();
    EVP_MAC_CTX *ctx = !t ? NULL : sha256 ? t->hmac_sha256 : t->hmac_sha1;
    return ctx && EVP_MAC_init(ctx, key, key_len, NULL) == 1 &&
                   EVP_MAC_update(ctx, data, len) == 1 &&
                   EVP_MAC_final(ctx, out, out_len, out_size) == 1
               ? 0
               : -1;
}

int sig_sha256(const void *data, size_t len, unsigned char out[32])
{
    thread_crypto *t = this_thread();
    unsigned int n = 0;
    return t && EVP_DigestInit_ex2(t->sha256, sha256_algorithm, NULL) == 1 &&
                   EVP_DigestUpdate(t->sha256, data, len) == 1 &&
                   EVP_DigestFinal_ex(t->sha256, out, &n) == 1 && n == 32
               ? 0
               : -1;
}
