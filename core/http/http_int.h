/* http_int.h — what the pieces of a connection (http, http_request, http_parse, http_response,
 * http_evict) share: the connection, its states, and the calls between them. */
#ifndef CC_HTTP_INT_H
#define CC_HTTP_INT_H

#include <llhttp.h>
#include <stddef.h>

#include "base/buf.h"
#include "http.h"

/* CLOSING: our last bytes are being flushed (then the write side is shut);
 * LINGERING: the write side is shut and the peer's remaining bytes are read
 * and dropped, so that closing does not reset the connection under the
 * answer before the peer has read it (nginx's lingering close);
 * CLOSED: the handles are being closed. */
enum conn_state { CONN_IDLE, CONN_READING, CONN_HANDLING, CONN_RAW, CONN_CLOSING, CONN_LINGERING, CONN_CLOSED };

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    llhttp_t parser;
    http_dispatch_fn dispatch;
    enum conn_state state;
    struct request *req;     /* the request being parsed or handled */
    buf_t pending;           /* bytes read but not parsed yet */
    buf_t hfield, hvalue;    /* the header being parsed */
    size_t header_bytes;
    int error_status;        /* set by a parser callback that refused the request */
    const char *error_code;
    int in_process;          /* conn_process is on the stack: do not re-enter */
    int read_stopped;
    int open_handles;
    int linger;              /* after the shutdown, drain what the peer still sends */
    int raw_overflow;        /* an upgraded connection passed its backlog cap: dropped */
    int raw_want_drain;      /* the raw owner is told when the backlog has gone down */
    size_t write_queue;
    const struct conn_raw *raw;
    void *raw_ud;
    unsigned char addr[16];  /* the peer's address, for the per-address cap */
    size_t addrlen;
    struct conn *prev, *next;          /* open connections (not closing) */
    struct conn *lru_prev, *lru_next;  /* evictable: idle or closing, oldest first */
    int on_lru;
};

/* http.c: the connections and their state machine. */
extern struct conn *all_conns;
extern size_t conn_count, conn_closed;
void conn_write(struct conn *c, const void *data, size_t len);
void conn_end(struct conn *c, int linger);
void conn_abort(struct conn *c);
void conn_close(struct conn *c);
void conn_arm_timer(struct conn *c, long ms);
void request_finish(struct request *req);

/* http_request.c */
struct request *request_new(struct conn *c);
void request_free(struct request *req);

/* http_parse.c: llhttp's callbacks, set once. */
const llhttp_settings_t *http_parser_settings(void);
void send_parse_error(struct conn *c, llhttp_errno_t err);

/* http_evict.c */
void lru_remove(struct conn *c);
void lru_append(struct conn *c);
void conn_peer(struct conn *c);
int make_room(struct conn *c);

#endif
