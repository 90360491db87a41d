/* server.c: the HTTP server on libmicrohttpd (see http.h).
 *
 * libmicrohttpd parses HTTP; this file only gathers what it parsed into an
 * http_request. Three libmicrohttpd facts shape it:
 *  - the raw request target (with its query string, undecoded) is only
 *    seen by the URI log callback, which is also where per-request state is
 *    born; signatures need the raw query, so it is kept from there;
 *  - the access handler is called once with the head, then once per body
 *    piece, then once more with nothing: the response is queued on that last
 *    call, since queueing earlier makes libmicrohttpd close the connection
 *    (no keep-alive) — except when a limit is passed, where closing is right;
 *  - a thread serves many connections, so a handler that waited (on a hung
 *    hypervisor, say) would stall every connection of its thread. Each
 *    thread is an event loop of the fiber pool (fiber/fiber.h) and runs a
 *    libmicrohttpd daemon of its own in "external" mode as the loop's
 *    event source; every complete request starts in a fiber on the spot.
 *    Most finish without waiting and are answered at once, never leaving
 *    their thread; one that waits on a VM parks its fiber, its connection
 *    is suspended, and its fiber resumes the connection when the answer is
 *    there. When the pool holds queue_max requests the next is answered at
 *    once (flagged overloaded) instead of waiting. All the daemons accept
 *    from the one listening socket.
 * libmicrohttpd's connection timeout only counts idle time, so a client
 * trickling its request a byte at a time would hold its connection for
 * ever: each connection also has a deadline for a whole request, enforced
 * by a thread of its own (see "request deadlines" below).
 * HTTPS is libmicrohttpd's own (GnuTLS); the certificate comes from
 * tls.c through libmicrohttpd's certificate callback, so that it can be
 * replaced while the server runs. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fiber/fiber.h"
#include "http/tls.h"
#include "util/log.h"
#include "util/timeutil.h"

#define HEADERS_MAX 128
#define DISCARD_MAX (1u << 20) /* body bytes read past the limit before closing */
#define SWEEP_INTERVAL_MS 250  /* how often request deadlines are looked at */
/* More query pieces than libmicrohttpd's pool surely indexes (see on_uri). */
#define QUERY_PIECES_MAX 512
#define STUCK_GRACE_US 1000000 /* how long such a request may take to be answered */

/* Per-request state, from the URI callback to the completion callback. */
typedef struct request_state request_state;

/* A connection: its deadline for a whole request (see "request
 * deadlines"), and its request's state until the completion callback. */
typedef struct conn_watch {
    int fd;
    int64_t deadline_us; /* CLOCK_MONOTONIC; 0 while a request is being answered */
    /* Touched only by the connection's own libmicrohttpd thread: when
     * libmicrohttpd fails a request in the middle of parsing its head, it
     * never calls the completion callback, and the state is freed when the
     * connection closes instead. */
    request_state *request;
    struct conn_watch *prev, *next;
} conn_watch;

struct request_state {
    http_request req;
    char *target_copy;      /* raw target, then split into path and query */
    buf body;
    int head_seen;          /* the access handler has seen the head */
    size_t discarded;       /* body bytes dropped after the limit was passed */
    int dispatched;         /* 1: handed to the handler; 2: answer queued */
    int answered;           /* resp holds the handler's answer */
    http_response resp;
    struct MHD_Connection *conn;
    http_server *srv;
    fiber_task task;        /* the handler's run in the fiber pool */
    int suspended;          /* its fiber parked: the connection waits */
};

static void free_state(request_state *st);

struct http_server {
    /* One daemon per event loop, each that loop's fiber_source. */
    struct MHD_Daemon **mhd;
    fiber_source *sources;
    unsigned mhd_count;
    http_server_config cfg;
    unsigned port;
    tls_identity *tls;      /* NULL: plain HTTP */
    /* The event loops, and where handlers run. */
    fiber_pool *pool;
    /* Open connections and the thread that enforces their deadlines. */
    pthread_mutex_t watch_lock;
    pthread_cond_t sweep_wake;
    conn_watch *watches;
    int sweep_stopping;
    int sweeper_running;
    pthread_t sweeper;
};

const char *http_request_header(const http_request *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

int http_response_add_header(http_response *resp, const char *name, const char *value)
{
    if (resp->header_count >= (int)(sizeof resp->header_names / sizeof resp->header_names[0]))
        return -1;
    resp->header_names[resp->header_count] = name;
    snprintf(resp->header_values[resp->header_count], sizeof resp->header_values[0], "%s", value);
    resp->header_count++;
    return 0;
}

/* ---- request deadlines ----
 *
 * A connection must deliver a whole request (head and body) within the
 * connection timeout of opening, or of its previous answer; while a
 * request is being answered it has no deadline. Past it, the sweeper shuts
 * the socket down: libmicrohttpd sees the connection end and closes it as
 * it closes any other. The socket is only shut down, never closed, and
 * libmicrohttpd reports a connection's end (on_connection, which takes the
 * watch off the list under the same lock) before it closes the socket, so
 * the sweeper never touches a descriptor number that was reused. */

static int64_t request_deadline(const http_server *srv)
{
    if (srv->cfg.connection_timeout_s == 0)
        return 0;
    return clock_monotonic_us() + (int64_t)srv->cfg.connection_timeout_s * 1000000;
}

static conn_watch *watch_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    http_server *srv = cls;
    conn_watch *w = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = ci ? calloc(1, sizeof *w) : NULL;
        *socket_context = w;
        if (!w)
            return; /* unwatched: only the idle timeout applies */
        w->fd = ci->connect_fd;
        w->deadline_us = request_deadline(srv);
        pthread_mutex_lock(&srv->watch_lock);
        w->next = srv->watches;
        if (w->next)
            w->next->prev = w;
        srv->watches = w;
        pthread_mutex_unlock(&srv->watch_lock);
        return;
    }
    if (!w)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        srv->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&srv->watch_lock);
    free_state(w->request);
    free(w);
    *socket_context = NULL;
}

/* Sets conn's deadline: request_deadline(), or 0 for none; with
 * only_sooner, a deadline already sooner (or none, while answering) stays. */
static void set_deadline(http_server *srv, struct MHD_Connection *conn, int64_t deadline_us,
                         int only_sooner)
{
    conn_watch *w = watch_of(conn);
    if (!w)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    if (!only_sooner || (w->deadline_us != 0 && deadline_us < w->deadline_us))
        w->deadline_us = deadline_us;
    pthread_mutex_unlock(&srv->watch_lock);
}

static void *sweeper_main(void *arg)
{
    http_server *srv = arg;
    pthread_mutex_lock(&srv->watch_lock);
    while (!srv->sweep_stopping) {
        int64_t now = clock_monotonic_us();
        for (conn_watch *w = srv->watches; w; w = w->next) {
            if (w->deadline_us == 0 || w->deadline_us > now)
                continue;
            w->deadline_us = 0;
            shutdown(w->fd, SHUT_RDWR);
            log_debug("http: closing a connection past its deadline for a whole request");
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += SWEEP_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&srv->sweep_wake, &srv->watch_lock, &until);
    }
    pthread_mutex_unlock(&srv->watch_lock);
    return NULL;
}

/* The wait is on CLOCK_MONOTONIC, as the deadlines are. 0 or -1 (logged). */
static int start_sweeper(http_server *srv)
{
    pthread_condattr_t attr;
    if (srv->cfg.connection_timeout_s == 0)
        return 0;
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&srv->sweep_wake, &attr) != 0) {
        log_error("cannot set up the request deadline thread");
        return -1;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_create(&srv->sweeper, NULL, sweeper_main, srv) != 0) {
        pthread_cond_destroy(&srv->sweep_wake);
        log_error("cannot start the request deadline thread");
        return -1;
    }
    srv->sweeper_running = 1;
    return 0;
}

static void stop_sweeper(http_server *srv)
{
    if (!srv->sweeper_running)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    srv->sweep_stopping = 1;
    pthread_cond_signal(&srv->sweep_wake);
    pthread_mutex_unlock(&srv->watch_lock);
    pthread_join(srv->sweeper, NULL);
    pthread_cond_destroy(&srv->sweep_wake);
    srv->sweeper_running = 0;
}

/* The '&'-separated pieces of the query in uri (0 when it has none). */
static size_t query_pieces(const char *uri)
{
    size_t n = 0;
    for (const char *q = strchr(uri, '?'); q; q = strchr(q + 1, '&'))
        n++;
    return n;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server *srv = cls;
    /* libmicrohttpd indexes every piece of the query in the connection's
     * memory pool right after this callback. Past several hundred pieces
     * the pool runs out, and 0.9.75 then drops its own 431 answer and
     * leaves the connection waiting for its timeout. Such a connection
     * gets a moment to be answered (it is, when the pool sufficed; the
     * answer then refuses the parameters), then is closed. */
    if (query_pieces(uri) > QUERY_PIECES_MAX)
        set_deadline(srv, conn, clock_monotonic_us() + STUCK_GRACE_US, 1);
    request_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    size_t len = strlen(uri);
    if (len > srv->cfg.max_target) {
        st->req.target_too_long = 1;
        uri = "/";
        len = 1;
    }
    /* Room for the target and, after a NUL, the path alone. */
    st->target_copy = malloc(2 * len + 2);
    if (!st->target_copy) {
        free(st);
        return NULL;
    }
    memcpy(st->target_copy, uri, len + 1);
    char *path = st->target_copy + len + 1;
    const char *q = strchr(st->target_copy, '?');
    size_t path_len = q ? (size_t)(q - st->target_copy) : len;
    memcpy(path, st->target_copy, path_len);
    path[path_len] = '\0';
    st->req.target = st->target_copy;
    st->req.path = path;
    st->req.query = q ? q + 1 : "";
    /* A state still here was not completed, and libmicrohttpd forgets it
     * now, replacing it with this one. */
    conn_watch *w = watch_of(conn);
    if (w) {
        free_state(w->request);
        w->request = st;
    }
    return st;
}

static void free_state(request_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->req.header_count; i++) {
        free(st->req.headers[i].name);
        free(st->req.headers[i].value);
    }
    free(st->req.headers);
    free(st->target_copy);
    buf_free(&st->body);
    buf_free(&st->resp.body);
    free(st);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    conn_watch *w = watch_of(conn);
    if (w && w->request == *con_cls)
        w->request = NULL;
    free_state(*con_cls);
    *con_cls = NULL;
    /* Answered: the clock starts for the next request on this connection. */
    set_deadline(cls, conn, request_deadline(cls), 0);
}

/* Past a MHD_NO the request is handled with the headers gathered so far,
 * flagged: a header a proxy appended may be among those left out. */
static enum MHD_Result stop_collecting(request_state *st)
{
    st->req.headers_incomplete = 1;
    return MHD_NO;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    request_state *st = cls;
    (void)kind;
    if (st->req.header_count >= HEADERS_MAX)
        return stop_collecting(st);
    if (!st->req.headers) {
        st->req.headers = calloc(HEADERS_MAX, sizeof *st->req.headers);
        if (!st->req.headers)
            return stop_collecting(st);
    }
    char *name = strdup(key);
    char *val = strdup(value ? value : "");
    if (!name || !val) {
        free(name);
        free(val);
        return stop_collecting(st);
    }
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    st->req.headers[st->req.header_count].name = name;
    st->req.headers[st->req.header_count].value = val;
    st->req.header_count++;
    return MHD_YES;
}

/* What a request head says about how its body is framed (RFC 9112 §6).
 * libmicrohttpd 0.9.75 takes the first of several Content-Lengths, lets
 * Transfer-Encoding win over Content-Length and keeps the connection open
 * after, waits for a body of any other transfer coding until the timeout,
 * and files "Content-Length : 5" or a value holding a bare CR as some other
 * header. A proxy in front that framed the same bytes differently would
 * let a second request hide in the first one's body (request smuggling),
 * so such heads are refused, and answering before the body closes the
 * connection. A NUL in a value cannot be seen here: libmicrohttpd already
 * cut the value there. */
typedef struct head_facts {
    size_t fields;
    unsigned content_length, transfer_encoding, host;
    int unknown_coding; /* a Transfer-Encoding other than exactly "chunked" */
    int malformed;      /* a name that is not a token, or a CR or LF in a value */
} head_facts;

/* RFC 9110 §5.6.2 tchar. */
static int is_token_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum MHD_Result note_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    head_facts *f = cls;
    (void)kind;
    f->fields++;
    if (key_size == 0)
        f->malformed = 1;
    for (size_t i = 0; i < key_size; i++)
        if (!is_token_byte((unsigned char)key[i]))
            f->malformed = 1;
    if (value && (memchr(value, '\r', value_size) || memchr(value, '\n', value_size)))
        f->malformed = 1;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        if (!value || strcasecmp(value, "chunked") != 0)
            f->unknown_coding = 1;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->host++;
    }
    return MHD_YES;
}

/* Flags a head with more fields than are kept, or with ambiguous framing
 * (above); HTTP/1.1 also needs exactly one Host (RFC 9112 §3.2). */
static void check_head(request_state *st, struct MHD_Connection *conn, const char *version)
{
    head_facts f;
    memset(&f, 0, sizeof f);
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, note_header, &f);
    if (f.fields > HEADERS_MAX)
        st->req.too_many_headers = 1;
    else if (f.malformed || f.content_length > 1 || f.transfer_encoding > 1 ||
             (f.content_length && f.transfer_encoding) || f.unknown_coding || f.host > 1 ||
             (f.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) != 0))
        st->req.bad_framing = 1;
}

/* Refused by the transport: answered at once, without a worker. */
static int refused_early(const http_request *req)
{
    return req->target_too_long || req->too_many_headers || req->bad_framing ||
           req->body_too_large;
}

static void fill_peer(request_state *st, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    st->req.peer[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, st->req.peer,
                  sizeof st->req.peer);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  st->req.peer, sizeof st->req.peer);
}

/* Queues the answer the handler left in st->resp. */
static enum MHD_Result queue_answer(request_state *st, struct MHD_Connection *conn)
{
    http_response *resp = &st->resp;
    size_t len = resp->body.len;
    void *data = buf_steal(&resp->body);
    if (!data)
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (int i = 0; i < resp->header_count; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void run_handler(http_server *srv, request_state *st)
{
    st->resp.status = 500;
    st->resp.content_type = "text/plain";
    srv->cfg.handler(srv->cfg.handler_ctx, &st->req, &st->resp);
    st->answered = 1;
}

/* A request's fiber: the handler; the answer goes back to the connection
 * at once (dispatch) or, when the fiber parked, by resuming it. */
static void serve_in_fiber(void *arg)
{
    request_state *st = arg;
    run_handler(st->srv, st);
    if (st->suspended)
        MHD_resume_connection(st->conn);
}

/* The request is complete (or refused by a limit): gather what the
 * handler reads, then answer inline or hand it to a worker. */
static enum MHD_Result dispatch(http_server *srv, request_state *st, struct MHD_Connection *conn)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    st->dispatched = 1;
    st->conn = conn;
    set_deadline(srv, conn, 0, 0);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, st);
    fill_peer(st, conn);
    http_client_address(&st->req, srv->cfg.trusted_proxies, st->req.client,
                        sizeof st->req.client);
    st->req.secure = srv->tls != NULL;
    st->req.received_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    st->req.body = buf_cstr(&st->body);
    st->req.body_len = st->body.len;

    /* Requests refused by a limit are cheap to answer: no fiber needed.
     * A fiber that parks comes back only from this loop, after the
     * connection is suspended here. */
    if (!refused_early(&st->req)) {
        if (fiber_pool_reserve(srv->pool) == 0) {
            st->srv = srv;
            st->task.fn = serve_in_fiber;
            st->task.arg = st;
            if (!fiber_run_here(&st->task)) {
                MHD_suspend_connection(conn);
                st->suspended = 1;
                return MHD_YES;
            }
            st->dispatched = 2;
            return queue_answer(st, conn);
        }
        st->req.overloaded = 1;
    }
    run_handler(srv, st);
    st->dispatched = 2;
    return queue_answer(st, conn);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    http_server *srv = cls;
    request_state *st = *con_cls;
    (void)url;

    if (!st)
        return MHD_NO; /* the URI callback ran out of memory */
    if (st->answered && st->dispatched == 1) {
        st->dispatched = 2; /* resumed by its worker: send the answer once */
        return queue_answer(st, conn);
    }
    if (st->dispatched) {
        *upload_data_size = 0; /* answered early; drop what still arrives */
        return MHD_YES;
    }
    if (!st->head_seen) {
        st->head_seen = 1;
        st->req.method = method;
        check_head(st, conn, version);
        /* A declared length over the limit is answered before the body is
         * read; libmicrohttpd then closes the connection. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body)
            st->req.body_too_large = 1;
        if (!refused_early(&st->req))
            return MHD_YES;
        return dispatch(srv, st, conn);
    }
    if (*upload_data_size > 0) {
        /* libmicrohttpd does not take a response in the middle of a body:
         * a chunked body over the limit is read and dropped up to a bound,
         * then answered; past the bound the connection is closed. */
        if (st->req.body_too_large || st->body.len + *upload_data_size > srv->cfg.max_body) {
            st->req.body_too_large = 1;
            buf_free(&st->body);
            st->discarded += *upload_data_size;
            *upload_data_size = 0;
            return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (buf_append(&st->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(srv, st, conn);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("http: %s", line);
}

/* "host:port", "[v6]:port" or ":port" into a socket address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon;
    memset(ss, 0, sizeof *ss);
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
            return -1;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || port < 0 || port > 65535)
        return -1;
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0') {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
    } else {
        return -1;
    }
    return 0;
}

int http_listen(const char *address)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (parse_listen(address, &ss, &sslen) < 0) {
        log_error("cannot parse listen address '%s' (want HOST:PORT)", address);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("cannot listen on %s: socket: %s", address, strerror(errno));
        return -1;
    }
    int on = 1;
    /* As libmicrohttpd does for the sockets it makes: quick restarts, and
     * an IPv6 address that means only IPv6. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, SOMAXCONN) < 0) {
        log_error("cannot listen on %s: %s", address, strerror(errno));
        close(fd);
        return -1;
    }
    /* fd 0 is never handed out here: callers mark "no socket" with 0. */
    if (fd == 0) {
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 1);
        close(fd);
        fd = moved;
    }
    return fd;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Loads the certificate and makes it the one handshakes get; 0 or -1. */
static int start_tls(http_server *srv, const http_server_config *cfg)
{
    if (!cfg->tls_cert && !cfg->tls_key)
        return 0;
    if (!cfg->tls_cert || !cfg->tls_key) {
        log_error("tls: a certificate needs its key, and a key its certificate");
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
        MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) != MHD_YES) {
        log_error("tls: this libmicrohttpd was built without TLS (GnuTLS) support");
        return -1;
    }
    if (tls_priorities_check(cfg->tls_priorities ? cfg->tls_priorities
                                                 : TLS_DEFAULT_PRIORITIES) < 0)
        return -1;
    srv->tls = tls_identity_load(cfg->tls_cert, cfg->tls_key);
    if (!srv->tls)
        return -1;
    if (tls_identity_activate(srv->tls) < 0) {
        tls_identity_free(srv->tls);
        srv->tls = NULL;
        return -1;
    }
    return 0;
}

static void stop_tls(http_server *srv)
{
    if (!srv->tls)
        return;
    tls_identity_deactivate(srv->tls);
    tls_identity_free(srv->tls);
    srv->tls = NULL;
}

/* ---- the daemons, one per event loop ---- */

static void daemon_run(void *ctx)
{
    MHD_run(ctx);
}

static int daemon_timeout(void *ctx)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(ctx, &ms) != MHD_YES)
        return -1;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Loops first: each finishes its requests (resuming their connections)
 * and stops calling its daemon; then the daemons, which nothing runs any
 * more, close their connections. */
static void server_free(http_server *srv)
{
    fiber_pool_free(srv->pool);
    stop_sweeper(srv);
    for (unsigned i = 0; i < srv->mhd_count; i++)
        MHD_stop_daemon(srv->mhd[i]); /* closes its listening socket too */
    stop_tls(srv);
    free(srv->mhd);
    free(srv->sources);
    pthread_mutex_destroy(&srv->watch_lock);
    free(srv);
}

/* A daemon on listen_fd (its own copy) for loop i, attached to that loop. */
static int start_daemon(http_server *srv, unsigned i, int listen_fd, unsigned max_connections)
{
    const http_server_config *cfg = &srv->cfg;
    unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_EPOLL;
    if (srv->tls)
        flags |= MHD_USE_TLS;
    int fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 1);
    if (fd < 0) {
        log_error("cannot serve: %s", strerror(errno));
        return -1;
    }
    /* The TLS options come last: for plain HTTP the list ends where they
     * would begin (libmicrohttpd reads no further than MHD_OPTION_END).
     * libmicrohttpd owns fd from here, started or not. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_headers,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, max_connections,
        srv->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK2 : MHD_OPTION_END, tls_identity_retrieve,
        MHD_OPTION_HTTPS_PRIORITIES,
        cfg->tls_priorities ? cfg->tls_priorities : TLS_DEFAULT_PRIORITIES,
        MHD_OPTION_END);
    if (!d)
        return -1;
    srv->mhd[srv->mhd_count++] = d;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info)
        return -1;
    srv->sources[i] = (fiber_source){info->epoll_fd, daemon_run, daemon_timeout, d};
    return fiber_pool_attach(srv->pool, i, &srv->sources[i]);
}

http_server *http_server_start(const http_server_config *cfg)
{
    int fd = cfg->listen_fd > 0 ? cfg->listen_fd : http_listen(cfg->listen);
    if (fd < 0)
        return NULL;
    http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        close(fd);
        return NULL;
    }
    srv->cfg = *cfg;
    srv->port = bound_port(fd);
    pthread_mutex_init(&srv->watch_lock, NULL);
    const char *where = cfg->listen ? cfg->listen : "the given socket";
    fiber_pool_config fc = {
        .threads = cfg->threads,
        .max_tasks = cfg->queue_max ? cfg->queue_max : 1,
        .blocking_threads = cfg->blocking_threads,
    };
    if (start_tls(srv, cfg) < 0 || start_sweeper(srv) < 0 ||
        !(srv->pool = fiber_pool_start(&fc))) {
        close(fd);
        server_free(srv);
        return NULL;
    }
    unsigned loops = fiber_pool_loops(srv->pool);
    srv->mhd = calloc(loops, sizeof *srv->mhd);
    srv->sources = calloc(loops, sizeof *srv->sources);
    /* Each daemon takes its share of the connection limit. */
    unsigned share = cfg->max_connections ? (cfg->max_connections + loops - 1) / loops : 0;
    int ok = srv->mhd && srv->sources;
    for (unsigned i = 0; ok && i < loops; i++)
        ok = start_daemon(srv, i, fd, share) == 0;
    close(fd); /* the daemons have their own copies */
    if (!ok) {
        log_error("cannot serve on %s", where);
        server_free(srv);
        return NULL;
    }
    return srv;
}

unsigned http_server_port(const http_server *srv)
{
    return srv->port;
}

int http_server_reload_tls(http_server *srv)
{
    if (!srv || !srv->tls)
        return -1;
    return tls_identity_reload(srv->tls);
}

void http_server_stop(http_server *srv)
{
    if (srv)
        server_free(srv);
}
