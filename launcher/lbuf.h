/* lbuf.h — a growable byte queue: bytes are appended at the end and consumed from the front.
 * It holds every stream of bytes the launcher keeps: frames waiting for stdout, input waiting
 * for the program's stdin, frames being reassembled from stdin, the body of a reply. The codec
 * (frame.h) encodes into it, so the server uses it too, for the frames it sends the launcher;
 * the `l` keeps its names apart from the server's own core/base/buf.h. */
#ifndef LAUNCHER_LBUF_H
#define LAUNCHER_LBUF_H

#include <stddef.h>
#include <stdint.h>

struct lbuf {
    unsigned char *data;
    size_t off; /* first byte not yet consumed */
    size_t len; /* end of the valid bytes */
    size_t cap;
};

void lbuf_init(struct lbuf *b);
void lbuf_free(struct lbuf *b);

/* Bytes appended and not yet consumed. */
static inline size_t lbuf_used(const struct lbuf *b) { return b->len - b->off; }
static inline unsigned char *lbuf_head(const struct lbuf *b) { return b->data + b->off; }

/* Consuming never moves or frees memory, so a pointer into the consumed bytes stays valid until
 * the next append: the frame reader relies on this to hand out payloads without copying. */
void lbuf_consume(struct lbuf *b, size_t n);
void lbuf_clear(struct lbuf *b);

/* Drops the bytes appended after the first `used` unconsumed ones: undoes a partial append. */
void lbuf_truncate(struct lbuf *b, size_t used);

/* Gives the memory back once a burst is over, so that a buffer that once held a 4 MiB frame does
 * not keep it for the container's whole life. Only call it when no pointer into b is held. */
void lbuf_trim(struct lbuf *b);

void lbuf_append(struct lbuf *b, const void *p, size_t n);
void lbuf_put_u8(struct lbuf *b, uint8_t v);
void lbuf_put_u16(struct lbuf *b, uint16_t v);
void lbuf_put_u32(struct lbuf *b, uint32_t v);
void lbuf_put_u64(struct lbuf *b, uint64_t v);
void lbuf_printf(struct lbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Big-endian access to raw bytes, the byte order of the protocol. */
static inline uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static inline void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

#endif
