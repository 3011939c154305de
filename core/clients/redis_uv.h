/* redis_uv.h — hiredis's async context driven by a libuv poll handle. */
#ifndef CLOUDCODE_REDIS_UV_H
#define CLOUDCODE_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Attach `ac` (just made by redisAsyncConnect) to `loop`; 0, or -1 (the context is the caller's to
 * free).  The handle is closed by hiredis's clean-up hook when the context goes. */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
