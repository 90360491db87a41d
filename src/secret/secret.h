/* secret.h: secrets at rest: the operator's master keyring and AEAD sealing.
 *
 * The store never holds a secret in the clear. AccessKey secrets (and the
 * contents of STS security tokens) are sealed with AES-256-GCM under a
 * master key that lives in a file the operator holds, not in the store: a
 * copy of the database alone reveals nothing.
 *
 * A key file is text: one key per line, 64 hex digits (256 bits); blank
 * lines and lines starting with '#' are skipped. The first key seals; every
 * key in the file opens. That makes rotation a procedure without downtime:
 * put a new key first, reload the servers, `ecshot key rotate-master`
 * re-seals every secret under it, then drop the old line.
 *
 * Sealed text is "ecs1:" FINGERPRINT ":" BASE64(nonce[12] || ciphertext || tag[16]),
 * where FINGERPRINT is 16 hex digits naming the master key (the first 8
 * bytes of SHA-256 over "ecshot master key fingerprint" and the key). The
 * associated data binds a sealed value to what it belongs to (an AccessKey
 * id), so a row copied onto another key does not open. */
#ifndef ECSHOT_SECRET_SECRET_H
#define ECSHOT_SECRET_SECRET_H

#include <stddef.h>

#include "util/buf.h"

#define SECRET_KEY_BYTES 32
#define SECRET_FINGERPRINT_HEX 16
#define SECRET_PREFIX "ecs1:"

enum secret_result {
    SECRET_OK = 0,
    SECRET_MALFORMED = -1,    /* not sealed text of this format */
    SECRET_UNKNOWN_KEY = -2,  /* sealed under a master key the ring lacks */
    SECRET_FORGED = -3,       /* authentication failed: wrong aad, tampered */
    SECRET_FAILED = -4        /* out of memory, or OpenSSL failed */
};

typedef struct secret_keyring secret_keyring;

/* Reads a key file. Refuses (NULL, and a one-line reason appended to why)
 * a file that is missing, holds no key, holds a line that is not a key, or
 * can be read or written by group or others. Here and below, why may be
 * NULL when the reason is not wanted. */
secret_keyring *secret_keyring_load(const char *path, buf *why);
/* Reads the key file again and, when it is acceptable, puts its keys in
 * place of the ring's: at once for every thread that seals or opens with
 * the ring (a seal or open in progress finishes with the old keys, which
 * are wiped after it). A refused file leaves the ring as it was: 0, or -1
 * and a one-line reason appended to why. This is how ecshotd's SIGHUP takes
 * a rotated key file without a restart, and why holders of the ring keep
 * their pointer. */
int secret_keyring_reload(secret_keyring *ring, const char *path, buf *why);
/* Wipes the keys from memory and frees the ring. NULL is fine. */
void secret_keyring_free(secret_keyring *ring);

/* Writes a new key file with one fresh random key (RAND_bytes), created
 * with O_EXCL at mode 0600: never replaces a file. 0, or -1 and a reason. */
int secret_keyfile_create(const char *path, buf *why);

/* The fingerprint of the ring's sealing (first) key, NUL-terminated. The
 * text lives as long as the ring; a reload rewrites it, so read it on the
 * thread that reloads. */
const char *secret_keyring_fingerprint(const secret_keyring *ring);

/* Seals len bytes under the ring's first key, bound to aad (NUL-terminated,
 * may be ""), and appends the sealed text to out. SECRET_OK or SECRET_FAILED. */
int secret_seal(const secret_keyring *ring, const char *aad, const void *plain, size_t len,
                buf *out);

/* Opens sealed text (len bytes, need not be NUL-terminated) with whichever
 * key of the ring its fingerprint names, checking aad, and appends the
 * plaintext to out (which then also holds a NUL after it). Returns a
 * secret_result; on failure out is left as it was. */
int secret_open(const secret_keyring *ring, const char *aad, const char *sealed, size_t len,
                buf *out);

/* 1 when text starts like sealed text (SECRET_PREFIX), else 0. */
int secret_is_sealed(const char *text);
/* 1 when sealed text was sealed under the ring's first key, else 0. */
int secret_sealed_by_current(const secret_keyring *ring, const char *sealed);

#endif
