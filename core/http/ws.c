/* ws.c — WebSocket server connections on wslay. */
#include "ws.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "base/buf.h"
#include "policy/app.h"
#include "reply.h"

struct ws {
    struct conn *conn;
    wslay_event_context_ptr ctx;
    const struct ws_callbacks *cb;
    void *ud;
    buf_t in;       /* received bytes not yet taken by wslay */
    buf_t out;      /* a frame being assembled: header and payload leave in one write */
    int closed;     /* ws_close was called or the peer is gone */
    int in_recv;    /* inside wslay_event_recv: ws_close must not free yet */
    int close_deferred;
};

static int header_has_token(const char *value, const char *token) {
    size_t tl = strlen(token);
    for (const char *s = value; s && *s;) {
        while (*s == ' ' || *s == ',') s++;
        size_t n = strcspn(s, ",");
        size_t m = n;
        while (m && s[m - 1] == ' ') m--;
        if (m == tl && strncasecmp(s, token, tl) == 0) return 1;
        s += n;
    }
    return 0;
}

int ws_is_upgrade(const struct request *req) {
    const char *up = http_header(req, "upgrade"), *conn = http_header(req, "connection");
    return strcmp(req->method, "GET") == 0 && up && strcasecmp(up, "websocket") == 0 && conn &&
           header_has_token(conn, "upgrade");
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud) {
    (void)flags;
    struct ws *ws = ud;
    if (ws->in.len == 0 || conn_raw_dropped(ws->conn)) { /* dropped: no more messages from it */
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->in.len ? len : ws->in.len;
    memcpy(buf, ws->in.data, n);
    buf_consume(&ws->in, n);
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud) {
    (void)ctx;
    struct ws *ws = ud;
    if (buf_append(&ws->out, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (!(flags & WSLAY_MSG_MORE)) {
        conn_raw_write(ws->conn, ws->out.data, ws->out.len);
        buf_reset(&ws->out);
    }
    return (ssize_t)len;
}

/* Whatever wslay left assembled when it returned goes out now. */
static void send_pending(struct ws *ws) {
    wslay_event_send(ws->ctx);
    if (ws->out.len) {
        conn_raw_write(ws->conn, ws->out.data, ws->out.len);
        buf_reset(&ws->out);
    }
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud) {
    (void)ctx;
    struct ws *ws = ud;
    if (arg->opcode == WSLAY_TEXT_FRAME && ws->cb->on_text && !ws->closed)
        ws->cb->on_text(ws, ws->ud, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks wslay_cbs = {recv_cb, send_cb, NULL, NULL, NULL, NULL, on_msg};

static void ws_free(struct ws *ws) {
    if (ws->ctx) wslay_event_context_free(ws->ctx);
    buf_free(&ws->in);
    buf_free(&ws->out);
    free(ws);
}

static void on_raw_close(void *ud) {
    struct ws *ws = ud;
    if (!ws->closed && ws->cb->on_close) ws->cb->on_close(ws, ws->ud);
    ws_free(ws);
}

static void on_raw_data(void *ud, const char *data, size_t len) {
    struct ws *ws = ud;
    if (ws->closed) return;
    buf_append(&ws->in, data, len);
    ws->in_recv = 1;
    int rc = wslay_event_recv(ws->ctx);
    ws->in_recv = 0;
    if (ws->close_deferred) {
        /* A handler called ws_close while wslay was delivering a message. */
        send_pending(ws);
        conn_raw_close(ws->conn);
        ws_free(ws);
        return;
    }
    if (rc == 0) send_pending(ws);
    if (rc != 0) {
        conn_raw_close(ws->conn); /* protocol error: drop the connection */
        on_raw_close(ws);
        return;
    }
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx)) {
        /* The close handshake is complete. */
        conn_raw_close(ws->conn);
        on_raw_close(ws);
    }
}

static void on_raw_drain(void *ud) {
    struct ws *ws = ud;
    if (!ws->closed && ws->cb->on_drain) ws->cb->on_drain(ws, ws->ud);
}

static const struct conn_raw ws_raw = {on_raw_data, on_raw_close, on_raw_drain};

struct ws *ws_accept(struct request *req, const struct ws_callbacks *cb, void *ud) {
    const char *key = http_header(req, "sec-websocket-key");
    const char *version = http_header(req, "sec-websocket-version");
    if (!ws_is_upgrade(req) || !key || strlen(key) > 64 || !version || strcmp(version, "13") != 0) {
        reply_error(req, 400, "bad_request", "this route needs a WebSocket upgrade (version 13)");
        return NULL;
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[160];
    unsigned char digest[SHA_DIGEST_LENGTH];
    char accept[64];
    int n = snprintf(joined, sizeof joined, "%s%s", key, guid);
    SHA1((const unsigned char *)joined, (size_t)n, digest);
    EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);

    struct ws *ws = calloc(1, sizeof *ws);
    if (!ws || wslay_event_context_server_init(&ws->ctx, &wslay_cbs, ws) != 0) {
        free(ws);
        reply_error(req, 500, "internal", "out of memory");
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, app_config()->max_body_bytes);
    ws->cb = cb;
    ws->ud = ud;
    char head[256];
    snprintf(head, sizeof head,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n",
             accept);
    ws->conn = http_upgrade(req, head, &ws_raw, ws);
    if (!ws->conn) {
        ws_free(ws);
        return NULL;
    }
    return ws;
}

void ws_start(struct ws *ws) { conn_raw_start(ws->conn); }

void ws_send_text(struct ws *ws, const char *data, size_t len) {
    if (ws->closed) return;
    struct wslay_event_msg msg = {WSLAY_TEXT_FRAME, (const uint8_t *)data, len};
    if (wslay_event_queue_msg(ws->ctx, &msg) == 0) send_pending(ws);
}

int ws_backed_up(struct ws *ws) { return conn_raw_backed_up(ws->conn); }

void ws_close(struct ws *ws, uint16_t code, const char *reason) {
    if (ws->closed) return;
    ws->closed = 1;
    wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    if (ws->in_recv) {
        ws->close_deferred = 1;
        return;
    }
    send_pending(ws);
    conn_raw_close(ws->conn); /* after the close frame is written */
    ws_free(ws);
}
