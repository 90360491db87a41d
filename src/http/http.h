/* http.h: ecshot's HTTP face, on libmicrohttpd.
 *
 * The server collects one whole request (method, raw target, headers, body
 * up to a limit) into an http_request, hands it to a single handler that
 * runs in a fiber of its own on the connection's thread (fiber/fiber.h),
 * and sends the http_response the handler filled. Nothing above this layer sees
 * libmicrohttpd. Limits are detected here and flagged on the request, so that
 * api/ answers them with a body the client can parse. */
#ifndef ECSHOT_HTTP_HTTP_H
#define ECSHOT_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/cidr.h"

typedef struct http_header {
    char *name;  /* lower-case */
    char *value;
} http_header;

typedef struct http_request {
    const char *method;      /* "GET", "POST", ... */
    const char *target;      /* raw request target as sent: "/?a=b" */
    const char *path;        /* target up to '?' (NUL-terminated copy) */
    const char *query;       /* raw text after '?', "" when none */
    http_header *headers;
    size_t header_count;
    /* 1 when not every header could be kept (too many, or no memory). */
    int headers_incomplete;
    const char *body;        /* raw bytes as received (chunked decoded) */
    size_t body_len;
    char peer[64];           /* peer IP address as text */
    /* Where the request came from, as RAM's acs:SourceIp and the audit log
     * see it: the peer, or the client a trusted proxy names in
     * X-Forwarded-For (http_client_address). */
    char client[64];
    /* Limits passed: the handler answers 413 / 414 / 431 without reading
     * further. */
    int body_too_large;
    int target_too_long;
    int too_many_headers;
    /* The head frames its body ambiguously (several Content-Lengths, one
     * with a Transfer-Encoding, a coding other than chunked), has a
     * malformed field or not exactly one Host: the handler answers 400,
     * and the connection is closed. */
    int bad_framing;
    /* The fiber pool was full: the handler answers 503 at once. */
    int overloaded;
    /* 1 when the request came over TLS (acs:SecureTransport). */
    int secure;
    /* CLOCK_MONOTONIC microseconds when the request was complete (before any
     * wait for a worker); 0 when unknown. */
    int64_t received_us;
} http_request;

/* Case-insensitive header lookup; NULL when absent. */
const char *http_request_header(const http_request *req, const char *name);

/* Writes into out (out_size bytes, at least 64) the address req came from:
 * its peer, unless the peer is in trusted (NULL: nobody is) and the request
 * carries X-Forwarded-For (all of it: not when headers_incomplete); then the rightmost hop of that list that is not
 * itself trusted, or the last trusted hop when the walk meets an entry
 * that is not an IP address, or the leftmost when every hop is trusted.
 * The server fills req->client with it once per request. */
void http_client_address(const http_request *req, const cidr_list *trusted, char *out,
                         size_t out_size);

typedef struct http_response {
    int status;
    const char *content_type;  /* static string */
    buf body;
    /* Extra headers, as "Name: value" pairs kept in two small arrays. */
    const char *header_names[4];
    char header_values[4][64];
    int header_count;
} http_response;

int http_response_add_header(http_response *resp, const char *name, const char *value);

typedef void (*http_handler_fn)(void *ctx, const http_request *req, http_response *resp);

typedef struct http_server_config {
    const char *listen;        /* "127.0.0.1:8080", "[::1]:8080" or ":8080" */
    /* Event-loop threads, each serving connections and running their
     * requests as fibers (fiber/fiber.h); 0: one per core. */
    unsigned threads;
    size_t queue_max;          /* requests in the fiber pool before 503 */
    unsigned blocking_threads; /* for console backends that block; 0: default */
    size_t max_body;           /* bytes; larger bodies get 413 */
    size_t max_target;         /* bytes of request target; longer gets 414 */
    size_t max_headers;        /* bytes of the request head (MHD memory pool) */
    unsigned connection_timeout_s;
    unsigned max_connections;
    http_handler_fn handler;
    void *handler_ctx;
    /* > 0: a socket already bound and listening (see http_listen), used
     * instead of binding .listen; the server closes it when it stops. */
    int listen_fd;
    /* HTTPS: a PEM certificate chain (leaf first) and its unencrypted PEM
     * key; both NULL for plain HTTP. tls_priorities: a GnuTLS priority
     * string, NULL for ecshot's default (TLS 1.2 and 1.3, AEAD, ECDHE). */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_priorities;
    /* Proxies whose X-Forwarded-For is believed (see http_client_address);
     * NULL or empty: none. Read on every request: it must outlive the
     * server. */
    const cidr_list *trusted_proxies;
} http_server_config;

typedef struct http_server http_server;

/* Binds a listening socket (close-on-exec, non-blocking) on "HOST:PORT":
 * lets a daemon bind a privileged port before it drops root and starts the
 * server. Returns the descriptor, or -1 and logs. */
int http_listen(const char *listen);
/* Binds (unless cfg->listen_fd is given) and starts serving; returns NULL
 * and logs on failure. The TLS files are read here. */
http_server *http_server_start(const http_server_config *cfg);
/* Reads the TLS certificate and key files again: new handshakes get the new
 * pair, open connections keep theirs. Returns 0; -1 (logged) when the files
 * are bad and the previous pair still serves, or the server is plain HTTP. */
int http_server_reload_tls(http_server *srv);
/* The port actually bound (useful with port 0). */
unsigned http_server_port(const http_server *srv);
void http_server_stop(http_server *srv);

#endif
