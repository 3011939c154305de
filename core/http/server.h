/* server.h — the listening socket. */
#ifndef CC_SERVER_H
#define CC_SERVER_H

#include "http.h"

/* Bind and listen on host:port; 0 or a negative libuv error (err says why). */
int server_listen(uv_loop_t *loop, const char *host, int port, http_dispatch_fn dispatch, char *err,
                  size_t errlen);
/* Stop accepting; `done` runs once the listener is closed. */
void server_close(void (*done)(void));
/* Whether host is a loopback address (127.0.0.0/8, ::1, localhost). */
int server_is_loopback(const char *host);

#endif
