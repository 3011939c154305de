/* buf.h — a growable byte queue: bytes are appended at the end and consumed from the front.
 * It holds every stream of bytes the launcher keeps: frames waiting for stdout, input waiting
 * for the program's stdin, frames being reassembled from stdin, the body of a reply. */
#ifndef LAUNCHER_BUF_H
#define LAUNCHER_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    unsigned char *data;
    size_t off; /* first byte not yet consumed */
    size_t len; /* end of the valid bytes */
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);

/* Bytes appended and not yet consumed. */
static inline size_t buf_used(const struct buf *b) { return b->len - b->off; }
static inline unsigned char *buf_head(const struct buf *b) { return b->data + b->off; }

/* Consuming never moves or frees memory, so a pointer into the consumed bytes stays valid until
 * the next append: the frame reader relies on this to hand out payloads without copying. */
void buf_consume(struct buf *b, size_t n);
void buf_clear(struct buf *b);

/* Drops the bytes appended after the first `used` unconsumed ones: undoes a partial append. */
void buf_truncate(struct buf *b, size_t used);

/* Gives the memory back once a burst is over, so that a buffer that once held a 4 MiB frame does
 * not keep it for the container's whole life. Only call it when no pointer into b is held. */
void buf_trim(struct buf *b);

void buf_append(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
