/* outrec.h — a session's output record: stdout and stderr in the order read.
 *
 * A cursor is a raw-byte offset into the record since the session began.  The
 * record keeps at least its last `keep` bytes; older bytes are dropped in one
 * move when the record reaches twice that, so appends stay cheap.  Storage
 * grows on demand: an idle session costs a few dozen bytes. */
#ifndef CC_OUTREC_H
#define CC_OUTREC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum { OUT_STDOUT = 1, OUT_STDERR = 2 };

struct outrec_seg {
    uint64_t start;   /* cursor of the segment's first byte */
    int stream;
};

struct outrec {
    buf_t data;                /* bytes from cursor `base` on */
    uint64_t base;             /* cursor of data[0] */
    struct outrec_seg *segs;
    size_t nsegs, capsegs;
    size_t keep;
    char tail[2][4];           /* per stream: an incomplete UTF-8 sequence held back */
    size_t tail_len[2];
};

void outrec_init(struct outrec *r, size_t keep);
void outrec_free(struct outrec *r);
/* Add program output.  Returns the bytes made visible (0 if all held back). */
size_t outrec_append(struct outrec *r, int stream, const char *data, size_t len);
/* The stream ended: release any held-back bytes. */
void outrec_flush(struct outrec *r);
uint64_t outrec_end(const struct outrec *r);

/* Events after `cursor` as [{"stream","data"}], at most `max_bytes` raw bytes
 * in at most `max_events` events (one per stream run: a program alternating
 * stdout and stderr byte by byte makes one event per byte); *next is the
 * cursor after them and *dropped the bytes between `cursor` and the first one
 * returned that are no longer kept. */
json_t *outrec_read(const struct outrec *r, uint64_t cursor, size_t max_bytes, size_t max_events,
                    uint64_t *next, uint64_t *dropped);
/* Call fn for each stream run after `cursor` (raw bytes, not repaired); the
 * first one is found by binary search. */
void outrec_each(const struct outrec *r, uint64_t cursor,
                 void (*fn)(void *ud, int stream, const char *data, size_t len, uint64_t end), void *ud);

#endif
