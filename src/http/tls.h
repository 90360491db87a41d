/* tls.h: the certificate ecshotd serves over HTTPS, replaceable while it
 * runs. Internal to http/ (server.c is its only user).
 *
 * A tls_identity holds the paths of a PEM certificate chain and its PEM
 * private key, and the last pair loaded from them that was good. GnuTLS asks
 * for the certificate in every handshake (tls_identity_retrieve, handed to
 * libmicrohttpd as its certificate callback) and gets a private copy of the
 * current pair, which it frees with the session: a reload swaps the current
 * pair at once for new handshakes while sessions that began with the old
 * one keep theirs, so nothing is ever freed under a connection. */
#ifndef ECSHOT_HTTP_TLS_H
#define ECSHOT_HTTP_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

/* TLS 1.3 and 1.2 only; AEAD ciphers only (AES-GCM, ChaCha20-Poly1305);
 * in TLS 1.2 only ECDHE key exchange (forward secrecy); the server's order. */
#define TLS_DEFAULT_PRIORITIES                                                        \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"                                     \
    "-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:"        \
    "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

typedef struct tls_identity tls_identity;

/* Loads the pair (chain in leaf-first order; the key must match the leaf).
 * Returns NULL and logs why on failure. */
tls_identity *tls_identity_load(const char *cert_path, const char *key_path);
/* Loads the files again: 0 when the new pair now serves, -1 (logged) when
 * it was bad and the old one still serves. */
int tls_identity_reload(tls_identity *id);
void tls_identity_free(tls_identity *id);

/* The callback takes no context, so one identity serves the process at a
 * time: activate returns -1 when another one already does. */
int tls_identity_activate(tls_identity *id);
void tls_identity_deactivate(tls_identity *id);
/* gnutls_certificate_retrieve_function3: a copy of the active pair. */
int tls_identity_retrieve(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                          gnutls_pcert_st **certs, unsigned int *certs_length,
                          gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                          gnutls_privkey_t *privkey, unsigned int *flags);

/* 0 when GnuTLS accepts the priority string; else -1, logged with the
 * position of the first bad word. */
int tls_priorities_check(const char *priorities);

#endif
