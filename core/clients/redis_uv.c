/* redis_uv.c — hiredis's event hooks on a libuv poll handle.
 *
 * Why not hiredis's own adapter (hiredis/adapters/libuv.h): in Debian 12's
 * hiredis 0.14 its poll callback returns on an error status.  libuv stops a
 * poll handle on POLLERR — a connection reset, which is what a Redis that
 * exits with a command of ours still unread sends — and reports UV_EBADF; the
 * adapter drops that, so hiredis never reads the error, the context stays
 * "connected" with nothing watching its socket, and a graceful disconnect
 * waits for replies that never come.  Here an error is handed to hiredis as a
 * read: its read(2) fails and it disconnects (hiredis 1.0's adapter does the
 * same). */
#include "redis_uv.h"

#include <stdlib.h>

struct redis_uv {
    redisAsyncContext *ac;   /* NULL once hiredis cleaned up: the handle is closing */
    uv_poll_t poll;
    int events;              /* UV_READABLE | UV_WRITABLE that hiredis asked for */
};

static void on_poll(uv_poll_t *h, int status, int events) {
    struct redis_uv *r = h->data;
    if (status < 0) events = UV_READABLE;   /* the handle was stopped: let hiredis read the error */
    if (r->ac && (events & UV_READABLE)) redisAsyncHandleRead(r->ac);
    /* The read may have ended the context (r->ac is NULL then). */
    if (r->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(r->ac);
}

/* Watch what hiredis wants.  A poll that cannot start (the fd is gone) leaves the error for the
 * command timeout in redis.c, which frees the context. */
static void watch(struct redis_uv *r, int add, int drop) {
    r->events = (r->events | add) & ~drop;
    if (r->events) (void)uv_poll_start(&r->poll, r->events, on_poll);
    else (void)uv_poll_stop(&r->poll);
}

static void add_read(void *d) { watch(d, UV_READABLE, 0); }
static void del_read(void *d) { watch(d, 0, UV_READABLE); }
static void add_write(void *d) { watch(d, UV_WRITABLE, 0); }
static void del_write(void *d) { watch(d, 0, UV_WRITABLE); }

static void on_closed(uv_handle_t *h) { free(h->data); }

static void cleanup(void *d) {
    struct redis_uv *r = d;
    r->ac = NULL;
    uv_close((uv_handle_t *)&r->poll, on_closed);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data) return -1;
    struct redis_uv *r = calloc(1, sizeof *r);
    if (!r) return -1;
    if (uv_poll_init_socket(loop, &r->poll, ac->c.fd) != 0) {
        free(r);
        return -1;
    }
    r->ac = ac;
    r->poll.data = r;
    ac->ev.data = r;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
