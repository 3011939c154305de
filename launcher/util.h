/* util.h — the few helpers every part of the launcher needs: a monotonic clock and the
 * last-gasp exit (which is also how it dies when an allocation fails, see xalloc.h). */
#ifndef LAUNCHER_UTIL_H
#define LAUNCHER_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the launcher itself. The backend only needs to tell them from 0. */
#define EXIT_LAUNCHER_FATAL 120 /* a system call the launcher cannot live without failed */
#define EXIT_PROTOCOL_ERROR 121 /* the backend sent a frame we cannot make sense of */

/* Milliseconds on CLOCK_MONOTONIC: every deadline of the launcher is kept in this unit. */
int64_t now_ms(void);

/* Writes "cloudcode-launcher: <message>" to stderr and exits with `status`. The only output the
 * launcher ever puts on its stderr. */
__attribute__((noreturn, format(printf, 2, 3))) void die(int status, const char *fmt, ...);

int set_nonblocking(int fd);

#endif
