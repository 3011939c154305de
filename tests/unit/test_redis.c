/* test_redis.c — redis.c against a tiny in-process Redis: answers, a reset, and silence. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "clients/redis.h"
#include "unit.h"
#include "unit_loop.h"

/* ---- the fake Redis: PONG to every PING, or a reset at the first byte, or nothing ------- */

enum mode { ANSWER, RESET, SILENT };
static enum mode mode;
static int eofs;   /* connections the client closed */

struct peer {
    uv_tcp_t tcp;
};

static void peer_closed(uv_handle_t *h) { free(h->data); }

static void sent(uv_write_t *w, int status) {
    (void)status;
    free(w);
}

static void pong(struct peer *p) {
    static const char text[] = "+PONG\r\n";
    uv_write_t *w = malloc(sizeof *w);
    uv_buf_t b = uv_buf_init((char *)text, sizeof text - 1);
    if (w && uv_write(w, (uv_stream_t *)&p->tcp, &b, 1, sent) != 0) free(w);
}

/* SO_LINGER 0: the close sends RST, as a Redis that exits with our command unread does. */
static void reset(struct peer *p) {
    uv_os_fd_t fd;
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    if (uv_fileno((uv_handle_t *)&p->tcp, &fd) == 0) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    uv_close((uv_handle_t *)&p->tcp, peer_closed);
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct peer *p = s->data;
    if (n < 0) {
        eofs += n == UV_EOF;
        uv_close((uv_handle_t *)&p->tcp, peer_closed);
    } else if (n > 0 && mode == RESET) {
        reset(p);
    } else if (n > 0 && mode == ANSWER) {
        for (const char *c = b->base; (c = memmem(c, (size_t)(b->base + n - c), "PING", 4)); c += 4) pong(p);
    }
    free(b->base);
}

static void on_peer(uv_stream_t *server, int status) {
    struct peer *p = calloc(1, sizeof *p);
    if (status < 0 || !p) {
        free(p);
        return;
    }
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) == 0) uv_read_start((uv_stream_t *)&p->tcp, unit_alloc, peer_read);
    else uv_close((uv_handle_t *)&p->tcp, peer_closed);
}

/* ---- the client side -------------------------------------------------------------- */

struct answer {
    int done;
    char text[128];   /* the status reply, or the error */
    int failed;
};

static void on_answer(void *ud, redisReply *r, const char *err) {
    struct answer *a = ud;
    a->done = 1;
    a->failed = r == NULL;
    snprintf(a->text, sizeof a->text, "%s", r && r->str ? r->str : err ? err : "");
}

static struct answer ping(void) {
    struct answer a = {0};
    const char *argv[] = {"PING"};
    REDIS_ARGV(on_answer, &a, argv);
    RUN_UNTIL(a.done, 3000);
    return a;
}

static int stopped;
static void on_stopped(void) { stopped = 1; }

static void stop(void) {
    stopped = 0;
    redis_stop(on_stopped);
    CHECK(run_until(&stopped, 3000));
    int never = 0;
    run_until(&never, 20);   /* the retry timer's close */
}

int main(void) {
    loop = uv_default_loop();
    uv_tcp_t server;
    char target[64], err[256];
    CHECK(listen_local(&server, on_peer, target, sizeof target) == 0);

    /* Answers, with a command timeout far beyond what the reset below may take. */
    mode = ANSWER;
    CHECK(redis_start(loop, target, 1000, 5000, err, sizeof err) == 0);
    CHECK(RUN_UNTIL(redis_ready(), 2000));
    struct answer a = ping();
    CHECK(a.done && !a.failed);
    CHECK_STR(a.text, "PONG");

    /* A reset with our command unread: the command fails and the connection is seen gone at
     * once, not at the command timeout (hiredis 0.14's libuv adapter never saw it at all). */
    mode = RESET;
    uint64_t t0 = uv_now(loop);
    a = ping();
    CHECK(a.done && a.failed);
    CHECK(uv_now(loop) - t0 < 1000);
    CHECK(RUN_UNTIL(!redis_ready(), 1000));
    /* and it reconnects */
    mode = ANSWER;
    CHECK(RUN_UNTIL(redis_ready(), 3000));
    a = ping();
    CHECK(a.done && !a.failed);
    stop();

    /* Silence: the command times out and the connection is dropped (a graceful disconnect
     * would wait for the reply forever), then reconnected. */
    CHECK(redis_start(loop, target, 1000, 200, err, sizeof err) == 0);
    CHECK(RUN_UNTIL(redis_ready(), 2000));
    mode = SILENT;
    eofs = 0;
    a = ping();
    CHECK(a.done && a.failed);
    CHECK(strstr(a.text, "in time") != NULL);
    CHECK(RUN_UNTIL(eofs == 1, 1000));
    mode = ANSWER;
    CHECK(RUN_UNTIL(redis_ready(), 3000));
    a = ping();
    CHECK(a.done && !a.failed);

    /* Stopping with a command that never gets its answer: the stop finishes at its timeout. */
    mode = SILENT;
    struct answer pending = {0};
    const char *argv[] = {"PING"};
    REDIS_ARGV(on_answer, &pending, argv);
    stop();
    CHECK(pending.done && pending.failed);

    uv_close((uv_handle_t *)&server, NULL);
    int never = 0;
    run_until(&never, 50);
    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
