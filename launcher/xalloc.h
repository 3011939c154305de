/* xalloc.h — allocation that cannot fail quietly, for the launcher and for the codec (frame.c,
 * lbuf.c) that the server links as well. */
#ifndef LAUNCHER_XALLOC_H
#define LAUNCHER_XALLOC_H

#include <stddef.h>

/* The launcher's memory is bounded by its caps, and the server's codec buffers by the protocol's
 * frame size, so running out leaves nothing useful to do but stop. */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Called when an allocation of n bytes fails; never returns. Each program that links this file
 * defines it, because only it knows how to die: the launcher leaves a last gasp on its stderr
 * for the backend (util.c), the server aborts (core/backend/attach.c). */
__attribute__((noreturn)) void xalloc_failed(size_t n);

#endif
