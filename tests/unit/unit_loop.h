/* unit_loop.h — driving the test's uv loop: run it until a condition holds
 * or a time bound passes (tests of rooms that live on the loop). */
#ifndef CC_UNIT_LOOP_H
#define CC_UNIT_LOOP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t *loop;

/* Run the loop until `cond` holds or `ms` pass; evaluates to cond. */
#define RUN_UNTIL(cond, ms)                                                  \
    ({                                                                       \
        uint64_t deadline_ = uv_now(loop) + (ms);                            \
        while (!(cond) && uv_now(loop) < deadline_) {                        \
            uv_update_time(loop);                                            \
            uv_run(loop, UV_RUN_NOWAIT);                                     \
            usleep(500);                                                     \
        }                                                                    \
        (cond);                                                              \
    })

static inline int run_until(int *flag, unsigned ms) { return RUN_UNTIL(*flag, ms); }

/* A read buffer for the test's own servers (uv_read_start); the read callback frees it. */
static inline void unit_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    b->base = malloc(sz);
    b->len = b->base ? sz : 0;
}

/* A TCP server of the test's on 127.0.0.1, an ephemeral port: "127.0.0.1:<port>" in `hostport`;
 * 0, or -1 if it cannot listen. */
static inline int listen_local(uv_tcp_t *server, uv_connection_cb on_peer, char *hostport, size_t len) {
    struct sockaddr_in sin, bound;
    int blen = sizeof bound;
    uv_tcp_init(loop, server);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    if (uv_tcp_bind(server, (struct sockaddr *)&sin, 0) != 0 || uv_listen((uv_stream_t *)server, 16, on_peer) != 0 ||
        uv_tcp_getsockname(server, (struct sockaddr *)&bound, &blen) != 0)
        return -1;
    snprintf(hostport, len, "127.0.0.1:%d", ntohs(bound.sin_port));
    return 0;
}

#endif
