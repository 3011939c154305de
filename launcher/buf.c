/* buf.c — growable byte queue. */
#include "buf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this a buffer that becomes empty is given back to the allocator. */
#define BUF_KEEP_CAP (256 * 1024)

void buf_init(struct buf *b)
{
    memset(b, 0, sizeof *b);
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_consume(struct buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void buf_clear(struct buf *b)
{
    b->off = b->len = 0;
}

void buf_truncate(struct buf *b, size_t used)
{
    if (used < buf_used(b))
        b->len = b->off + used;
}

void buf_trim(struct buf *b)
{
    if (buf_used(b) == 0 && b->cap > BUF_KEEP_CAP)
        buf_free(b);
}

/* Makes room for n more bytes at the end: first by sliding the unconsumed bytes to the front,
 * then by doubling. */
static unsigned char *buf_reserve(struct buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->data + b->len;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    return b->data + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

void buf_put_u16(struct buf *b, uint16_t v)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    buf_append(b, p, 2);
}

void buf_put_u32(struct buf *b, uint32_t v)
{
    unsigned char p[4];
    put_be32(p, v);
    buf_append(b, p, 4);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
    buf_put_u32(b, (uint32_t)(v >> 32));
    buf_put_u32(b, (uint32_t)v);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(b, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
