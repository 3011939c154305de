/* util.c — clock and last-gasp helpers shared by the launcher's parts. */
#include "util.h"
#include "xalloc.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The launcher's memory is bounded by its caps, so running out means the container is already
 * lost: say so on stderr and exit rather than limp on. */
void xalloc_failed(size_t n)
{
    die(EXIT_LAUNCHER_FATAL, "out of memory (%zu bytes)", n);
}

void die(int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dprintf(STDERR_FILENO, "cloudcode-launcher: %s\n", msg);
    _exit(status);
}

int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
