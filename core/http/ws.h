/* ws.h — WebSocket server connections (RFC 6455) on wslay.
 *
 * The handshake uses libcrypto's SHA-1 and base64; framing is wslay's. */
#ifndef CC_WS_H
#define CC_WS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct ws;

struct ws_callbacks {
    void (*on_text)(struct ws *ws, void *ud, const char *data, size_t len);
    /* The peer closed or the connection failed.  Not called after ws_close.
     * The ws is freed when this returns.  A peer that leaves more than the
     * policy's ws_backlog_bytes unread is closed this way too. */
    void (*on_close)(struct ws *ws, void *ud);
    /* After ws_backed_up said yes: the peer has read enough to send more
     * (optional). */
    void (*on_drain)(struct ws *ws, void *ud);
};

/* Whether the request asks for a WebSocket upgrade. */
int ws_is_upgrade(const struct request *req);
/* Complete the handshake (answering 400 on a bad one and returning NULL). */
struct ws *ws_accept(struct request *req, const struct ws_callbacks *cb, void *ud);
/* Start reading (after the caller has stored the ws pointer). */
void ws_start(struct ws *ws);
void ws_send_text(struct ws *ws, const char *data, size_t len);
/* Whether so much is unsent that a sender of bulk (a backlog of output)
 * should stop until on_drain. */
int ws_backed_up(struct ws *ws);
/* Send a close frame with `code`, close the connection once it is out, free the ws. */
void ws_close(struct ws *ws, uint16_t code, const char *reason);

#endif
