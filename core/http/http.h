/* http.h — HTTP/1.1 connections and requests on llhttp.
 *
 * A connection parses one request at a time: when a request is complete the
 * parser pauses, the request goes to the dispatcher, and parsing of any
 * pipelined bytes resumes only once the response is finished, so responses
 * leave in request order.  Each connection owns its uv_tcp_t and timer. */
#ifndef CC_HTTP_H
#define CC_HTTP_H

#include <stddef.h>
#include <uv.h>

#include "base/buf.h"

struct conn;
struct request;

struct http_header {
    char *name;  /* lower-cased */
    char *value;
};

enum { HTTP_MAX_PARAMS = 4 };

/* The response of an internal request (see http_subrequest); body is borrowed.  Its caller knows
 * what the /v1 route it asked answers, so no content type. */
typedef void (*http_response_fn)(int status, const char *body, size_t len, void *ud);

struct request {
    struct conn *conn;
    char method[16];
    char *target;           /* the request-target as received */
    char *path;             /* target up to '?' (still percent-encoded) */
    char *query;            /* after '?', or "" */
    struct http_header *headers;
    size_t nheaders;
    buf_t body;
    int keep_alive;
    int upgrade;            /* the client asked for a protocol upgrade */
    uint64_t start_ns;

    /* Filled by the router and auth. */
    const char *route;      /* the route's pattern, for logs and metrics */
    char *params[HTTP_MAX_PARAMS];
    int nparams;
    int is_admin;
    char key_hash[65];      /* SHA-256 hex of the caller's key, "" when none */
    int preauth;            /* an internal request whose caller is already known */
    enum error_shape {
        ERRORS_JSON,        /* {"error":{"code","message"}} (/v1) */
        ERRORS_TEXT,        /* text/plain lines (the seed's dialect) */
        ERRORS_MESSAGE,     /* {"message": ...} (Piston's dialect) */
        ERRORS_E2B,         /* {"code": status, "message"} (E2B's API) */
    } error_shape;

    /* Response state. */
    int status;
    int responded;          /* head sent */
    int streaming;          /* chunked body under way */
    /* Private to http.c: set and cleared only through http_set_abort. */
    void (*on_abort)(struct request *req, void *ud);
    void *abort_ud;
    int aborting;           /* on_abort is running */
    int finished;           /* answered while aborting */
    http_response_fn on_response; /* internal requests: where the response goes */
    void *response_ud;
};

typedef void (*http_dispatch_fn)(struct request *req);

/* Raw callbacks of an upgraded connection (WebSocket, proxied tunnels). */
struct conn_raw {
    void (*on_data)(void *ud, const char *data, size_t len);
    void (*on_close)(void *ud);   /* the connection is gone: no more calls */
    /* The backlog fell back under the mark after conn_raw_write_queue said
     * it was over (optional): write more now. */
    void (*on_drain)(void *ud);
};

/* Accept a connection on `server` and own it from now on.  A connection that
 * has not sent a complete request yet is bounded by read_timeout_ms; at
 * max_connections (or max_connections_per_address) the oldest connection
 * holding no request is closed to make room, or else the new one gets 503. */
void http_conn_accept(uv_stream_t *server, http_dispatch_fn dispatch);
/* Connections open now (for metrics and the connection cap). */
size_t http_conn_count(void);
/* Close every connection; idle ones at once, busy ones after their response
 * (long-polls are expected to be finished by their owners first). */
void http_conn_close_all(void);
/* Close every upgraded connection (tunnels through a balancer, at shutdown):
 * their owners get on_close. */
void http_conn_close_upgraded(void);

const char *http_header(const struct request *req, const char *lname);
/* Decode query parameter `name` into `out`; 1 if present, 0 if absent, -1 if
 * it does not fit or is malformed. */
int http_query_param(const struct request *req, const char *name, char *out, size_t len);
/* Percent-decode `in` into `out` (NUL-terminated); -1 on a bad escape or
 * overflow.  '+' means a space only in query strings. */
int http_percent_decode(const char *in, size_t inlen, char *out, size_t outlen, int plus_is_space);

/* Send a whole response and finish the request.  `extra_headers` are complete
 * "Name: value\r\n" lines or NULL. */
void http_respond(struct request *req, int status, const char *content_type, const void *body,
                  size_t len, const char *extra_headers);
/* A chunked response: start, write chunks, end (which finishes the request). */
void http_stream_start(struct request *req, int status, const char *content_type);
void http_stream_write(struct request *req, const void *data, size_t len);
void http_stream_end(struct request *req);
/* The one rule of request ownership.  A handler that keeps a request to
 * answer later either sets an abort handler or must answer it eventually.
 * If the client goes away first:
 *  - with an abort handler (fn), fn runs once and the request is freed right
 *    after it returns, whether or not fn answered it (an answer goes nowhere);
 *    fn must forget every pointer to it;
 *  - without one, the request lives on until its holder answers it (the
 *    answer goes nowhere and frees it).
 * fn = NULL clears the handler (before answering or handing the request on);
 * nothing else may touch on_abort or abort_ud. */
void http_set_abort(struct request *req, void (*fn)(struct request *, void *), void *ud);

/* Take the connection over after writing `response_head` (e.g. 101
 * Switching Protocols): the request is finished, bytes already read after it
 * are delivered to raw->on_data once the caller calls conn_raw_start; it writes with
 * conn_raw_write and ends with conn_raw_close. */
struct conn *http_upgrade(struct request *req, const char *response_head, const struct conn_raw *raw,
                          void *ud);
/* Deliver bytes that arrived after the upgrade request and start reading. */
void conn_raw_start(struct conn *c);
/* Past the policy's ws_backlog_bytes unsent the connection is dropped (from
 * the loop, with on_close): a peer that does not read cannot grow us. */
void conn_raw_write(struct conn *c, const void *data, size_t len);
/* Whether the backlog is over the mark where a writer should wait for
 * on_drain before writing more (then on_drain follows once it is under). */
int conn_raw_backed_up(struct conn *c);
/* Whether it passed that cap and is being dropped: do no more work for it. */
int conn_raw_dropped(const struct conn *c);
/* Stop (1) or resume (0) reading, for the owner's own backpressure. */
void conn_raw_pause(struct conn *c, int paused);
/* Close after pending writes; raw->on_close follows. */
void conn_raw_close(struct conn *c);

const char *http_status_text(int status);

/* An internal request made on behalf of `parent` (its credentials are
 * copied), to be passed to the router: the older API dialects are served by
 * translating to and from the /v1 routes this way, on a backend and on a
 * balancer alike.  Its response goes to on_response; the request is freed
 * right after.  No upgrades. */
struct request *http_subrequest(const struct request *parent, const char *method, const char *target,
                                const void *body, size_t len, http_response_fn on_response, void *ud);
/* The client of an internal request's parent went away: run the internal
 * request's abort handler as a client's disconnect would (a run or a session
 * being created stops, a long-poll answers).  Whatever it answers still goes
 * to on_response.  Nothing happens if it has no abort handler. */
void http_request_cancel(struct request *req);
/* Free an internal request that was never dispatched (one kept only as the
 * credentials of later internal requests). */
void http_request_discard(struct request *req);

#endif
