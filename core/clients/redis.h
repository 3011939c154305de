/* redis.h — Redis over hiredis's async API on the loop.
 *
 * hiredis 0.14 has no timeouts of its own: every connect and every command
 * gets a uv timer here; a command that times out fails at once and drops the
 * connection (its reply can no longer be matched), which fails every pending
 * command; the connection comes back with a backoff. */
#ifndef CC_REDIS_H
#define CC_REDIS_H

#include <hiredis/hiredis.h>
#include <uv.h>

/* reply is NULL and err says why when the command failed (not connected,
 * timeout, connection lost); a Redis error reply comes as reply->type
 * REDIS_REPLY_ERROR.  The reply is valid during the call only. */
typedef void (*redis_cb)(void *ud, redisReply *reply, const char *err);

/* `target`: "host:port" or "redis://[:password@]host:port[/db]".  A connect attempt is given
 * up after connect_timeout_ms, a command after command_timeout_ms (both > 0). */
int redis_start(uv_loop_t *loop, const char *target, unsigned connect_timeout_ms, unsigned command_timeout_ms,
                char *err, size_t errlen);
/* Whether a connection is up (commands can be sent). */
int redis_ready(void);
const char *redis_status(void);
/* Send a command (argv form).  If not connected the callback runs at once
 * with an error.  cb may be NULL. */
void redis_command(redis_cb cb, void *ud, int argc, const char **argv, const size_t *argvlen);
/* The same with NUL-terminated arguments, their lengths counted here: at most REDIS_ARGV_MAX
 * (a call site's fixed argv; one more aborts). */
#define REDIS_ARGV_MAX 16
void redis_argv(redis_cb cb, void *ud, int argc, const char **argv);
/* redis_argv with a call site's argv array, its count taken from the array (gcc's
 * -Wsizeof-pointer-div refuses a pointer). */
#define REDIS_ARGV(cb, ud, argv) redis_argv((cb), (ud), (int)(sizeof(argv) / sizeof((argv)[0])), (argv))
/* Called after every (re)connection, once AUTH/SELECT are queued. */
void redis_on_connect(void (*fn)(void));
/* Stop: fail what is pending, close, then call done. */
void redis_stop(void (*done)(void));

#endif
