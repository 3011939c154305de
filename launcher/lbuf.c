/* lbuf.c — growable byte queue. */
#include "lbuf.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above this a buffer that becomes empty is given back to the allocator. */
#define LBUF_KEEP_CAP (256 * 1024)

void lbuf_init(struct lbuf *b)
{
    memset(b, 0, sizeof *b);
}

void lbuf_free(struct lbuf *b)
{
    free(b->data);
    lbuf_init(b);
}

void lbuf_consume(struct lbuf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void lbuf_clear(struct lbuf *b)
{
    b->off = b->len = 0;
}

void lbuf_truncate(struct lbuf *b, size_t used)
{
    if (used < lbuf_used(b))
        b->len = b->off + used;
}

void lbuf_trim(struct lbuf *b)
{
    if (lbuf_used(b) == 0 && b->cap > LBUF_KEEP_CAP)
        lbuf_free(b);
}

/* Makes room for n more bytes at the end: first by sliding the unconsumed bytes to the front,
 * then by doubling. */
static unsigned char *lbuf_reserve(struct lbuf *b, size_t n)
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

void lbuf_append(struct lbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(lbuf_reserve(b, n), p, n);
    b->len += n;
}

void lbuf_put_u8(struct lbuf *b, uint8_t v)
{
    lbuf_append(b, &v, 1);
}

void lbuf_put_u16(struct lbuf *b, uint16_t v)
{
    unsigned char p[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    lbuf_append(b, p, 2);
}

void lbuf_put_u32(struct lbuf *b, uint32_t v)
{
    unsigned char p[4];
    put_be32(p, v);
    lbuf_append(b, p, 4);
}

void lbuf_put_u64(struct lbuf *b, uint64_t v)
{
    lbuf_put_u32(b, (uint32_t)(v >> 32));
    lbuf_put_u32(b, (uint32_t)v);
}

void lbuf_printf(struct lbuf *b, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n > 0)
        lbuf_append(b, text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
}
