/* tls.c: the HTTPS certificate and its reload (see tls.h).
 *
 * A "pair" is what one pair of files held: the chain as DER blobs and the
 * parsed private key. Handshakes copy the current pair under a read lock
 * (GnuTLS frees the copy with the session: GNUTLS_CERT_RETR_DEINIT_ALL);
 * a reload parses and checks the new files first, outside any lock, and only
 * a good pair is swapped in under the write lock. The copy costs a few
 * microseconds of parsing against the handshake's public-key operations,
 * and buys the property that matters: a reload never frees memory that a
 * handshake or an open session still uses. */
#include "http/tls.h"

#include <gnutls/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

#define CHAIN_MAX 16

typedef struct tls_pair {
    gnutls_datum_t chain[CHAIN_MAX]; /* DER, leaf first */
    unsigned chain_len;
    gnutls_x509_privkey_t key;
} tls_pair;

struct tls_identity {
    char *cert_path;
    char *key_path;
    pthread_rwlock_t lock; /* guards current */
    tls_pair *current;
};

/* The identity handshakes are served from (see tls_identity_activate). */
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static tls_identity *active;

static void pair_free(tls_pair *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < p->chain_len; i++)
        gnutls_free(p->chain[i].data);
    if (p->key)
        gnutls_x509_privkey_deinit(p->key);
    free(p);
}

/* "AB:CD:..." as node:tls and openssl print SHA-256 fingerprints. */
static void fingerprint_text(gnutls_x509_crt_t crt, char out[96 + 1])
{
    unsigned char fp[32];
    size_t len = sizeof fp;
    out[0] = '\0';
    if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &len) < 0 || len != 32)
        return;
    for (size_t i = 0; i < len; i++)
        snprintf(out + 3 * i, 4, i + 1 < len ? "%02X:" : "%02X", fp[i]);
}

/* Logs what is now served, and warns about a leaf that is not valid today. */
static void describe_leaf(gnutls_x509_crt_t leaf, const char *cert_path)
{
    gnutls_datum_t dn = {NULL, 0};
    char fp[97];
    char until[32] = "?";
    fingerprint_text(leaf, fp);
    time_t not_after = gnutls_x509_crt_get_expiration_time(leaf);
    time_t not_before = gnutls_x509_crt_get_activation_time(leaf);
    struct tm tm;
    if (not_after != (time_t)-1 && gmtime_r(&not_after, &tm))
        strftime(until, sizeof until, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (gnutls_x509_crt_get_dn3(leaf, &dn, 0) < 0)
        dn.data = NULL;
    log_info("tls: certificate %s: %s, SHA-256 %s, valid until %s", cert_path,
             dn.data ? (const char *)dn.data : "?", fp, until);
    gnutls_free(dn.data);
    time_t now = time(NULL);
    if (not_after != (time_t)-1 && now > not_after)
        log_warn("tls: certificate %s expired at %s", cert_path, until);
    if (not_before != (time_t)-1 && now < not_before)
        log_warn("tls: certificate %s is not valid yet", cert_path);
}

/* 1 when the key is the leaf's (same public key id), else 0. */
static int key_matches(gnutls_x509_crt_t leaf, gnutls_x509_privkey_t key)
{
    unsigned char a[64], b[64];
    size_t alen = sizeof a, blen = sizeof b;
    if (gnutls_x509_crt_get_key_id(leaf, GNUTLS_KEYID_USE_SHA256, a, &alen) < 0 ||
        gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &blen) < 0)
        return 0;
    return alen == blen && memcmp(a, b, alen) == 0;
}

static int load_chain(tls_pair *p, const char *path, gnutls_x509_crt_t *leaf_out)
{
    gnutls_datum_t pem = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int rc = gnutls_load_file(path, &pem);
    if (rc < 0) {
        log_error("tls: cannot read certificate %s: %s", path, gnutls_strerror(rc));
        return -1;
    }
    rc = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM,
                                      GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    gnutls_free(pem.data);
    if (rc < 0 || n == 0) {
        log_error("tls: %s: not a PEM certificate chain, leaf first: %s", path,
                  rc < 0 ? gnutls_strerror(rc) : "no certificate");
        return -1;
    }
    rc = 0;
    if (n > CHAIN_MAX) {
        log_error("tls: %s: more than %d certificates", path, CHAIN_MAX);
        rc = -1;
    }
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        if (gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &p->chain[i]) < 0) {
            log_error("tls: %s: cannot encode certificate %u", path, i);
            rc = -1;
        } else {
            p->chain_len++;
        }
    }
    if (rc == 0)
        *leaf_out = crts[0];
    for (unsigned i = rc == 0 ? 1 : 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    return rc;
}

static int load_key(tls_pair *p, const char *path)
{
    gnutls_datum_t pem = {NULL, 0};
    int rc = gnutls_load_file(path, &pem);
    if (rc < 0) {
        log_error("tls: cannot read private key %s: %s", path, gnutls_strerror(rc));
        return -1;
    }
    rc = gnutls_x509_privkey_init(&p->key);
    if (rc == 0)
        rc = gnutls_x509_privkey_import2(p->key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_memset(pem.data, 0, pem.size);
    gnutls_free(pem.data);
    if (rc < 0) {
        log_error("tls: %s: not an unencrypted PEM private key: %s", path, gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

/* Reads and checks both files; NULL (logged) when anything is wrong. */
static tls_pair *pair_load(const char *cert_path, const char *key_path)
{
    tls_pair *p = calloc(1, sizeof *p);
    gnutls_x509_crt_t leaf = NULL;
    if (!p)
        return NULL;
    if (load_chain(p, cert_path, &leaf) < 0 || load_key(p, key_path) < 0) {
        if (leaf)
            gnutls_x509_crt_deinit(leaf);
        pair_free(p);
        return NULL;
    }
    if (!key_matches(leaf, p->key)) {
        log_error("tls: private key %s does not belong to certificate %s", key_path, cert_path);
        gnutls_x509_crt_deinit(leaf);
        pair_free(p);
        return NULL;
    }
    describe_leaf(leaf, cert_path);
    gnutls_x509_crt_deinit(leaf);
    return p;
}

tls_identity *tls_identity_load(const char *cert_path, const char *key_path)
{
    tls_identity *id = calloc(1, sizeof *id);
    if (!id)
        return NULL;
    id->cert_path = strdup(cert_path);
    id->key_path = strdup(key_path);
    if (!id->cert_path || !id->key_path || pthread_rwlock_init(&id->lock, NULL) != 0) {
        free(id->cert_path);
        free(id->key_path);
        free(id);
        return NULL;
    }
    id->current = pair_load(cert_path, key_path);
    if (!id->current) {
        tls_identity_free(id);
        return NULL;
    }
    return id;
}

int tls_identity_reload(tls_identity *id)
{
    tls_pair *fresh = pair_load(id->cert_path, id->key_path);
    if (!fresh) {
        log_error("tls: reload failed; still serving the previous certificate");
        return -1;
    }
    pthread_rwlock_wrlock(&id->lock);
    tls_pair *old = id->current;
    id->current = fresh;
    pthread_rwlock_unlock(&id->lock);
    pair_free(old); /* no handshake reads it any more: they copy under the lock */
    return 0;
}

void tls_identity_free(tls_identity *id)
{
    if (!id)
        return;
    pair_free(id->current);
    pthread_rwlock_destroy(&id->lock);
    free(id->cert_path);
    free(id->key_path);
    free(id);
}

int tls_identity_activate(tls_identity *id)
{
    pthread_mutex_lock(&active_lock);
    int rc = active && active != id ? -1 : 0;
    if (rc == 0)
        active = id;
    pthread_mutex_unlock(&active_lock);
    if (rc < 0)
        log_error("tls: another HTTPS server already runs in this process");
    return rc;
}

void tls_identity_deactivate(tls_identity *id)
{
    pthread_mutex_lock(&active_lock);
    if (active == id)
        active = NULL;
    pthread_mutex_unlock(&active_lock);
    /* Waits for a handshake still copying from id. */
    pthread_rwlock_wrlock(&id->lock);
    pthread_rwlock_unlock(&id->lock);
}

/* A copy of p that GnuTLS owns: the chain as pcerts, the key as a privkey. */
static int pair_copy(const tls_pair *p, gnutls_pcert_st **certs, unsigned *certs_length,
                     gnutls_privkey_t *privkey)
{
    gnutls_pcert_st *list = gnutls_malloc(p->chain_len * sizeof *list);
    gnutls_x509_privkey_t x509 = NULL;
    gnutls_privkey_t key = NULL;
    unsigned made = 0;
    if (!list)
        return -1;
    for (; made < p->chain_len; made++)
        if (gnutls_pcert_import_x509_raw(&list[made], &p->chain[made], GNUTLS_X509_FMT_DER, 0) < 0)
            goto fail;
    if (gnutls_x509_privkey_init(&x509) < 0)
        goto fail;
    if (gnutls_x509_privkey_cpy(x509, p->key) < 0 || gnutls_privkey_init(&key) < 0)
        goto fail;
    if (gnutls_privkey_import_x509(key, x509, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
        goto fail;
    *certs = list;
    *certs_length = made;
    *privkey = key;
    return 0;
fail:
    if (key)
        gnutls_privkey_deinit(key);
    if (x509)
        gnutls_x509_privkey_deinit(x509);
    while (made > 0)
        gnutls_pcert_deinit(&list[--made]);
    gnutls_free(list);
    return -1;
}

int tls_identity_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                          gnutls_pcert_st **certs, unsigned int *certs_length,
                          gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                          gnutls_privkey_t *privkey, unsigned int *flags)
{
    (void)session;
    (void)info;
    *ocsp = NULL;
    *ocsp_length = 0;
    *certs = NULL;
    *certs_length = 0;
    *privkey = NULL;
    pthread_mutex_lock(&active_lock);
    tls_identity *id = active;
    int rc = -1;
    if (id) {
        /* Read lock inside the active lock: deactivate cannot free id
         * while a handshake is copying from it. */
        pthread_rwlock_rdlock(&id->lock);
        pthread_mutex_unlock(&active_lock);
        rc = pair_copy(id->current, certs, certs_length, privkey);
        pthread_rwlock_unlock(&id->lock);
    } else {
        pthread_mutex_unlock(&active_lock);
    }
    if (rc < 0) {
        log_error("tls: no certificate for a handshake (out of memory?)");
        return -1;
    }
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

int tls_priorities_check(const char *priorities)
{
    gnutls_priority_t prio;
    const char *err = NULL;
    int rc = gnutls_priority_init(&prio, priorities, &err);
    if (rc < 0) {
        log_error("tls: bad priority string at '%.40s': %s", err ? err : "?", gnutls_strerror(rc));
        return -1;
    }
    gnutls_priority_deinit(prio);
    return 0;
}
