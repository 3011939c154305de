/* buf.h — growable byte buffers.
 *
 * Every buffer a client or a program can grow is capped by its owner: buf
 * itself only refuses to grow past SIZE_MAX/2 and reports allocation failure. */
#ifndef CC_BUF_H
#define CC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

/* Make room for at least `extra` more bytes; 0 on success, -1 on ENOMEM. */
int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *data, size_t len);
int buf_append_str(buf_t *b, const char *s);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Drop the first n bytes (n <= len). */
void buf_consume(buf_t *b, size_t n);
void buf_reset(buf_t *b);
/* Hand the storage to the caller (NUL-terminated); the buffer becomes empty. */
char *buf_steal(buf_t *b);
void buf_free(buf_t *b);

#endif
