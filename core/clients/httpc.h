/* httpc.h — a small HTTP/1.1 client on a uv stream (unix pipe or TCP).
 *
 * For what libcurl cannot do: Docker's hijacked attach stream (`101 UPGRADED`,
 * then raw bytes both ways) and the balancer's proxying of long-polls and
 * WebSockets. One connection, one request at a time (another may follow on a
 * kept-alive connection once on_complete ran). llhttp parses the response and
 * decodes chunked bodies.
 *
 * Lifetime: httpc_connect allocates; the connection frees itself right after
 * on_close returns, which is always the last callback, whether the caller called
 * httpc_close or the connection failed (then on_error ran first). After
 * httpc_close no callback but on_close runs. */
#ifndef CC_HTTPC_H
#define CC_HTTPC_H

#include <stddef.h>
#include <uv.h>

#include "base/hostaddr.h"

struct httpc;

struct httpc_header {
    const char *name;    /* NUL-terminated, as received */
    const char *value;   /* NUL-terminated, as received */
};

struct httpc_callbacks {
    /* The response head. Headers are valid during the call only. A 101 switches
     * the connection to raw mode: every later byte read goes to on_data as is. */
    void (*on_response)(struct httpc *c, void *ud, int status, const struct httpc_header *headers,
                        size_t n_headers);
    /* Body bytes (chunked decoded) or, once upgraded, raw bytes. May be NULL. */
    void (*on_data)(struct httpc *c, void *ud, const char *data, size_t len);
    /* The response ended (never after an upgrade). May be NULL. */
    void (*on_complete)(struct httpc *c, void *ud);
    /* The connection failed or ended: err is a uv error code — UV_ECONNREFUSED,
     * UV_ETIMEDOUT (connect or idle timeout), UV_ECONNRESET, UV_EPROTO (a malformed
     * response), UV_EOF (the peer closed). The connection is closing; on_close follows. */
    void (*on_error)(struct httpc *c, void *ud, int err, const char *why);
    /* The write queue emptied (backpressure: see httpc_queued). May be NULL. */
    void (*on_drain)(struct httpc *c, void *ud);
    /* Last callback; `c` is freed when it returns. May be NULL. */
    void (*on_close)(struct httpc *c, void *ud);
};

/* Start connecting; writes made before the connection is up are queued.
 * connect_timeout_ms 0 means 10 s. NULL only on allocation failure. */
struct httpc *httpc_connect(uv_loop_t *loop, const struct hostaddr *addr,
                            unsigned connect_timeout_ms, const struct httpc_callbacks *cb,
                            void *ud);

/* Pass as body_len when the caller writes the body itself with httpc_write
 * (its own Content-Length or Transfer-Encoding must be in extra_headers). */
#define HTTPC_BODY_STREAMED ((size_t)-1)

/* Queue a request: "METHOD target HTTP/1.1", Host (unless extra_headers has one),
 * extra_headers (complete "Name: value\r\n" lines, may be NULL), Content-Length
 * when there is a body or the method is POST/PUT/PATCH, then the body.
 * 0 on success, -1 if closing or out of memory. */
int httpc_request(struct httpc *c, const char *method, const char *target,
                  const char *extra_headers, const void *body, size_t body_len);
/* Queue raw bytes (a streamed body, or anything once upgraded). 0 or -1. */
int httpc_write(struct httpc *c, const void *data, size_t len);
/* Bytes accepted by httpc_write/httpc_request and not yet written to the socket. */
size_t httpc_queued(const struct httpc *c);

/* Stop (1) or resume (0) reading, for the caller's own backpressure. */
void httpc_read_pause(struct httpc *c, int paused);
/* Fail with UV_ETIMEDOUT when nothing is read for ms once connected (0: never, the default). */
void httpc_set_idle_timeout(struct httpc *c, unsigned ms);
/* Hand the connection to another owner (a pool of kept-alive connections). */
void httpc_set_callbacks(struct httpc *c, const struct httpc_callbacks *cb, void *ud);
/* After on_complete: whether the connection may carry another request. */
int httpc_reusable(const struct httpc *c);
int httpc_upgraded(const struct httpc *c);
/* Close now; pending writes are dropped. Only on_close runs after this. */
void httpc_close(struct httpc *c);

#endif
