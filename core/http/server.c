/* server.c — the listening socket and accepting connections. */
#include "server.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

static uv_tcp_t listener;
static int listening;
static http_dispatch_fn dispatch_fn;
static void (*closed_cb)(void);

static void on_connection(uv_stream_t *s, int status) {
    if (status < 0) {
        log_msgf(LOG_WARN, "accept_failed", "%s", uv_strerror(status));
        return;
    }
    http_conn_accept(s, dispatch_fn);
}

int server_is_loopback(const char *host) {
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

int server_listen(uv_loop_t *loop, const char *host, int port, http_dispatch_fn dispatch, char *err,
                  size_t errlen) {
    struct sockaddr_storage addr;
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    int rc = strchr(ip, ':') ? uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&addr)
                             : uv_ip4_addr(ip, port, (struct sockaddr_in *)&addr);
    if (rc < 0) {
        snprintf(err, errlen, "cannot parse listen address %s: %s", host, uv_strerror(rc));
        return rc;
    }
    dispatch_fn = dispatch;
    uv_tcp_init(loop, &listener);
    if ((rc = uv_tcp_bind(&listener, (struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&listener, 1024, on_connection)) < 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&listener, NULL);
        return rc;
    }
    listening = 1;
    return 0;
}

static void on_listener_closed(uv_handle_t *h) {
    (void)h;
    if (closed_cb) closed_cb();
}

void server_close(void (*done)(void)) {
    if (!listening) {
        if (done) done();
        return;
    }
    listening = 0;
    closed_cb = done;
    uv_close((uv_handle_t *)&listener, on_listener_closed);
}
