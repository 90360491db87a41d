/* secret.c: the master keyring and AES-256-GCM sealing (see secret.h).
 *
 * A ring holds the keys of one reading of the key file (a keyset) behind a
 * read-write lock: sealing and opening hold it for reading, a reload
 * (SIGHUP in ecshotd) builds the new keyset first and swaps it in under the
 * write lock, so a thread never sees half of a reload and the old keys are
 * wiped only once nobody uses them. Key material is wiped wherever it has
 * been: the file's text after parsing, a keyset before it is freed.
 *
 * Parsing is strict because a key file is a credential: a line that is not
 * exactly a key (after blanks at either end) refuses the whole file, and a
 * reason never quotes the line (it could be most of a key). */
#include "secret/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/strutil.h"

#define NONCE_BYTES 12
#define TAG_BYTES 16
#define KEY_HEX (2 * SECRET_KEY_BYTES)
#define KEYFILE_MAX (64 * 1024) /* a few lines of keys and comments; refuse more */
#define FINGERPRINT_LABEL "ecshot master key fingerprint"
#define PREFIX_LEN (sizeof SECRET_PREFIX - 1)
/* "ecs1:" FINGERPRINT ":" */
#define HEADER_LEN (PREFIX_LEN + SECRET_FINGERPRINT_HEX + 1)

typedef struct master_key {
    unsigned char key[SECRET_KEY_BYTES];
    char fingerprint[SECRET_FINGERPRINT_HEX + 1];
} master_key;

/* The keys of one reading of the key file, in file order: [0] seals. */
typedef struct keyset {
    size_t count;
    master_key keys[];
} keyset;

struct secret_keyring {
    pthread_rwlock_t lock;  /* read: seal, open; write: a reload's swap */
    keyset *set;
    char fingerprint[SECRET_FINGERPRINT_HEX + 1]; /* of set->keys[0]; lives as long as the ring */
};

/* Appends a reason to why, which may be NULL (the caller does not care). */
static void say(buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(buf *why, const char *fmt, ...)
{
    if (!why)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_puts(why, line);
}

static void keyset_free(keyset *set)
{
    if (!set)
        return;
    OPENSSL_cleanse(set->keys, set->count * sizeof set->keys[0]);
    free(set);
}

/* ---- fingerprints ---- */

/* The first 8 bytes of SHA-256(FINGERPRINT_LABEL || key), as lower-case hex. */
static int fingerprint_of(const unsigned char key[SECRET_KEY_BYTES],
                          char out[SECRET_FINGERPRINT_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, FINGERPRINT_LABEL, sizeof FINGERPRINT_LABEL - 1) == 1 &&
             EVP_DigestUpdate(ctx, key, SECRET_KEY_BYTES) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len >= SECRET_FINGERPRINT_HEX / 2;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    for (size_t i = 0; i < SECRET_FINGERPRINT_HEX / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[SECRET_FINGERPRINT_HEX] = '\0';
    return 0;
}

/* ---- the key file ---- */

/* Reads the whole file into a fresh heap buffer (*text, *len), after
 * checking that it is a regular file private to its owner. */
static int read_key_file(const char *path, char **text, size_t *len, buf *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        say(why, "master key file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    char *data = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        say(why, "master key file %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        say(why, "master key file %s: not a regular file", path);
        goto fail;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        say(why, "master key file %s is open to group or others (mode %04o): "
                        "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    if (!(data = malloc(KEYFILE_MAX + 1))) {
        say(why, "master key file %s: out of memory", path);
        goto fail;
    }
    for (;;) {
        ssize_t got = read(fd, data + n, KEYFILE_MAX + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            say(why, "master key file %s: %s", path, strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > KEYFILE_MAX) {
            say(why, "master key file %s: larger than %d bytes", path, KEYFILE_MAX);
            goto fail;
        }
    }
    close(fd);
    *text = data;
    *len = n;
    return 0;
fail:
    if (data) {
        OPENSSL_cleanse(data, n);
        free(data);
    }
    close(fd);
    return -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Goes through the lines of text: counts the keys, and when set is not
 * NULL decodes them into it. Returns 0, or the number of the first line
 * that is neither blank, a comment nor a key. */
static unsigned parse_keys(const char *text, size_t len, keyset *set, size_t *count)
{
    const char *p = text, *end = text + len;
    unsigned lineno = 0;
    *count = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        lineno++;
        while (p < line_end && is_blank(*p))
            p++;
        const char *q = line_end;
        while (q > p && is_blank(q[-1]))
            q--;
        if (p < q && *p != '#') {
            if (q - p != KEY_HEX)
                return lineno;
            for (size_t i = 0; i < KEY_HEX; i += 2) {
                int hi = hex_digit_value((unsigned char)p[i]);
                int lo = hex_digit_value((unsigned char)p[i + 1]);
                if (hi < 0 || lo < 0)
                    return lineno;
                if (set)
                    set->keys[*count].key[i / 2] = (unsigned char)(hi << 4 | lo);
            }
            (*count)++;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* The keys of the file at path, or NULL and a reason. */
static keyset *keyset_load(const char *path, buf *why)
{
    char *text;
    size_t len, count;
    if (read_key_file(path, &text, &len, why) != 0)
        return NULL;
    keyset *set = NULL;
    unsigned bad = parse_keys(text, len, NULL, &count);
    if (bad) {
        say(why, "master key file %s: line %u is not a key (%d hex digits)", path, bad,
                   KEY_HEX);
    } else if (count == 0) {
        say(why, "master key file %s holds no key (create one with "
                        "'ecshot master-key create FILE')", path);
    } else if (!(set = calloc(1, sizeof *set + count * sizeof set->keys[0]))) {
        say(why, "master key file %s: out of memory", path);
    } else {
        parse_keys(text, len, set, &set->count);
        for (size_t i = 0; i < set->count; i++) {
            if (fingerprint_of(set->keys[i].key, set->keys[i].fingerprint) != 0) {
                say(why, "master key file %s: SHA-256 failed", path);
                keyset_free(set);
                set = NULL;
                break;
            }
        }
    }
    OPENSSL_cleanse(text, len);
    free(text);
    return set;
}

secret_keyring *secret_keyring_load(const char *path, buf *why)
{
    if (!path) {
        say(why, "no master key file given");
        return NULL;
    }
    keyset *set = keyset_load(path, why);
    if (!set)
        return NULL;
    secret_keyring *ring = calloc(1, sizeof *ring);
    if (!ring || pthread_rwlock_init(&ring->lock, NULL) != 0) {
        say(why, "master key file %s: out of memory", path);
        free(ring);
        keyset_free(set);
        return NULL;
    }
    ring->set = set;
    memcpy(ring->fingerprint, set->keys[0].fingerprint, sizeof ring->fingerprint);
    return ring;
}

int secret_keyring_reload(secret_keyring *ring, const char *path, buf *why)
{
    keyset *fresh = keyset_load(path, why);
    if (!fresh)
        return -1;
    pthread_rwlock_wrlock(&ring->lock);
    keyset *old = ring->set;
    ring->set = fresh;
    memcpy(ring->fingerprint, fresh->keys[0].fingerprint, sizeof ring->fingerprint);
    pthread_rwlock_unlock(&ring->lock);
    keyset_free(old); /* nobody holds it: they all held the lock */
    return 0;
}

void secret_keyring_free(secret_keyring *ring)
{
    if (!ring)
        return;
    keyset_free(ring->set);
    pthread_rwlock_destroy(&ring->lock);
    free(ring);
}

const char *secret_keyring_fingerprint(const secret_keyring *ring)
{
    return ring->fingerprint;
}

int secret_keyfile_create(const char *path, buf *why)
{
    unsigned char key[SECRET_KEY_BYTES];
    char fp[SECRET_FINGERPRINT_HEX + 1];
    char text[256];
    if (RAND_bytes(key, sizeof key) != 1 || fingerprint_of(key, fp) != 0) {
        OPENSSL_cleanse(key, sizeof key);
        say(why, "the random number generator or SHA-256 failed");
        return -1;
    }
    int n = snprintf(text, sizeof text,
                     "# ecshot master key %s: the first key seals, every key opens.\n", fp);
    for (size_t i = 0; i < sizeof key; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%02x", key[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, "\n");
    OPENSSL_cleanse(key, sizeof key);

    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        say(why, "%s: %s", path,
                   errno == EEXIST ? "exists already (a key file is never replaced)"
                                   : strerror(errno));
        goto out;
    }
    /* The umask may have taken bits away, never added any: make it exact. */
    size_t done = 0;
    if (fchmod(fd, 0600) != 0) {
        say(why, "%s: %s", path, strerror(errno));
    } else {
        while (done < (size_t)n) {
            ssize_t w = write(fd, text + done, (size_t)n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        if (done < (size_t)n || fsync(fd) != 0)
            say(why, "%s: %s", path, strerror(errno ? errno : EIO));
        else
            rc = 0;
    }
    if (close(fd) != 0 && rc == 0) {
        say(why, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(path); /* ours (O_EXCL), and useless half written */
out:
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

/* ---- sealing ---- */

int secret_seal(const secret_keyring *ring, const char *aad, const void *plain, size_t len,
                buf *out)
{
    size_t aad_len = aad ? strlen(aad) : 0;
    if (len > INT_MAX / 2 || aad_len > INT_MAX)
        return SECRET_FAILED;
    size_t raw_len = NONCE_BYTES + len + TAG_BYTES;
    size_t b64_len = 4 * ((raw_len + 2) / 3);
    /* Room for all of it first, so that out gets the whole text or nothing. */
    if (buf_reserve(out, HEADER_LEN + b64_len) != 0)
        return SECRET_FAILED;
    unsigned char *raw = malloc(raw_len);
    char *b64 = malloc(b64_len + 1); /* EVP_EncodeBlock adds a NUL */
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int result = SECRET_FAILED, n = 0, fin = 0;
    if (!raw || !b64 || !ctx || RAND_bytes(raw, NONCE_BYTES) != 1)
        goto out;

    secret_keyring *rw = (secret_keyring *)ring; /* the lock is not part of its value */
    pthread_rwlock_rdlock(&rw->lock);
    const master_key *k = &ring->set->keys[0];
    int ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, raw) == 1 &&
             (aad_len == 0 ||
              EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)aad_len) == 1) &&
             (len == 0 || EVP_EncryptUpdate(ctx, raw + NONCE_BYTES, &n, plain, (int)len) == 1) &&
             EVP_EncryptFinal_ex(ctx, raw + NONCE_BYTES + (len ? n : 0), &fin) == 1 &&
             (size_t)((len ? n : 0) + fin) == len &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES,
                                 raw + NONCE_BYTES + len) == 1;
    char fp[SECRET_FINGERPRINT_HEX + 1];
    memcpy(fp, k->fingerprint, sizeof fp);
    pthread_rwlock_unlock(&rw->lock);
    if (!ok || EVP_EncodeBlock((unsigned char *)b64, raw, (int)raw_len) != (int)b64_len)
        goto out;
    /* Reserved above: these cannot fail. */
    buf_puts(out, SECRET_PREFIX);
    buf_puts(out, fp);
    buf_putc(out, ':');
    buf_append(out, b64, b64_len);
    result = SECRET_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw); /* ciphertext only: nothing to wipe */
    free(b64);
    return result;
}

/* ---- opening ---- */

static int is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* The decoded length of b64[0..n) when it is canonical padded base64 (no
 * blanks, '=' only as the last one or two characters), else -1. */
static long b64_decoded_len(const char *b64, size_t n)
{
    if (n == 0 || n % 4 != 0 || n > LONG_MAX / 3)
        return -1;
    size_t pad = b64[n - 1] == '=' ? (b64[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++)
        if (!is_b64_char((unsigned char)b64[i]))
            return -1;
    return (long)(n / 4 * 3 - pad);
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* The parts of sealed text: its fingerprint, and the base64 after it. */
static int parse_sealed(const char *sealed, size_t len, const char **fp, const char **b64,
                        size_t *b64_len, long *raw_len)
{
    if (!sealed || len < HEADER_LEN || memcmp(sealed, SECRET_PREFIX, PREFIX_LEN) != 0 ||
        !is_lower_hex(sealed + PREFIX_LEN, SECRET_FINGERPRINT_HEX) ||
        sealed[HEADER_LEN - 1] != ':')
        return -1;
    *fp = sealed + PREFIX_LEN;
    *b64 = sealed + HEADER_LEN;
    *b64_len = len - HEADER_LEN;
    *raw_len = b64_decoded_len(*b64, *b64_len);
    if (*raw_len < NONCE_BYTES + TAG_BYTES || *raw_len - NONCE_BYTES - TAG_BYTES > INT_MAX / 2)
        return -1;
    return 0;
}

/* AES-256-GCM decryption of raw (nonce || ciphertext || tag) into plain. */
static int decrypt(const unsigned char key[SECRET_KEY_BYTES], const char *aad,
                   const unsigned char *raw, size_t raw_len, unsigned char *plain)
{
    size_t aad_len = aad ? strlen(aad) : 0;
    size_t ct_len = raw_len - NONCE_BYTES - TAG_BYTES;
    if (aad_len > INT_MAX)
        return SECRET_FAILED;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return SECRET_FAILED;
    int n = 0, fin = 0, result = SECRET_FAILED;
    unsigned char tag[TAG_BYTES];
    memcpy(tag, raw + NONCE_BYTES + ct_len, TAG_BYTES); /* the ctrl wants a writable one */
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
        (aad_len == 0 ||
         EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)aad_len) == 1) &&
        EVP_DecryptUpdate(ctx, plain, &n, raw + NONCE_BYTES, (int)ct_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) == 1)
        result = EVP_DecryptFinal_ex(ctx, plain + n, &fin) == 1 ? SECRET_OK : SECRET_FORGED;
    EVP_CIPHER_CTX_free(ctx);
    return result;
}

int secret_open(const secret_keyring *ring, const char *aad, const char *sealed, size_t len,
                buf *out)
{
    const char *fp, *b64;
    size_t b64_len;
    long raw_len;
    if (parse_sealed(sealed, len, &fp, &b64, &b64_len, &raw_len) != 0)
        return SECRET_MALFORMED;
    size_t plain_len = (size_t)raw_len - NONCE_BYTES - TAG_BYTES;
    /* EVP_DecodeBlock writes whole groups of three, padding included. */
    unsigned char *raw = malloc(b64_len / 4 * 3);
    if (!raw)
        return SECRET_FAILED;
    if (EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len) < raw_len) {
        free(raw);
        return SECRET_MALFORMED;
    }
    if (buf_reserve(out, plain_len) != 0) {
        free(raw);
        return SECRET_FAILED;
    }
    unsigned char *plain = (unsigned char *)out->data + out->len;

    int result = SECRET_UNKNOWN_KEY;
    secret_keyring *rw = (secret_keyring *)ring;
    pthread_rwlock_rdlock(&rw->lock);
    for (size_t i = 0; i < ring->set->count; i++) {
        if (memcmp(ring->set->keys[i].fingerprint, fp, SECRET_FINGERPRINT_HEX) == 0) {
            result = decrypt(ring->set->keys[i].key, aad, raw, (size_t)raw_len, plain);
            break;
        }
    }
    pthread_rwlock_unlock(&rw->lock);
    free(raw);
    if (result != SECRET_OK) {
        OPENSSL_cleanse(plain, plain_len);
        out->data[out->len] = '\0';
        return result;
    }
    out->len += plain_len;
    out->data[out->len] = '\0';
    return SECRET_OK;
}

int secret_is_sealed(const char *text)
{
    return text && strncmp(text, SECRET_PREFIX, PREFIX_LEN) == 0;
}

int secret_sealed_by_current(const secret_keyring *ring, const char *sealed)
{
    if (!secret_is_sealed(sealed) || strnlen(sealed, HEADER_LEN) < HEADER_LEN ||
        sealed[HEADER_LEN - 1] != ':')
        return 0;
    secret_keyring *rw = (secret_keyring *)ring;
    pthread_rwlock_rdlock(&rw->lock);
    int current = memcmp(sealed + PREFIX_LEN, ring->set->keys[0].fingerprint,
                         SECRET_FINGERPRINT_HEX) == 0;
    pthread_rwlock_unlock(&rw->lock);
    return current;
}
