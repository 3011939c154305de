/* outrec.c — a session's output record. */
#include "outrec.h"

#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

void outrec_init(struct outrec *r, size_t keep) {
    memset(r, 0, sizeof *r);
    r->keep = keep;
}

void outrec_free(struct outrec *r) {
    buf_free(&r->data);
    free(r->segs);
    memset(r, 0, sizeof *r);
}

uint64_t outrec_end(const struct outrec *r) { return r->base + r->data.len; }

/* Drop the oldest bytes once the record is twice its keep size. */
static void trim(struct outrec *r) {
    if (r->data.len < 2 * r->keep) return;
    size_t drop = r->data.len - r->keep;
    uint64_t new_base = r->base + drop;
    buf_consume(&r->data, drop);
    size_t first = 0;
    while (first + 1 < r->nsegs && r->segs[first + 1].start <= new_base) first++;
    memmove(r->segs, r->segs + first, (r->nsegs - first) * sizeof *r->segs);
    r->nsegs -= first;
    if (r->nsegs && r->segs[0].start < new_base) r->segs[0].start = new_base;
    r->base = new_base;
}

static int add_bytes(struct outrec *r, int stream, const char *data, size_t len) {
    if (!len) return 0;
    if (!r->nsegs || r->segs[r->nsegs - 1].stream != stream) {
        if (r->nsegs == r->capsegs) {
            size_t cap = r->capsegs ? r->capsegs * 2 : 4;
            struct outrec_seg *s = realloc(r->segs, cap * sizeof *s);
            if (!s) return -1;
            r->segs = s;
            r->capsegs = cap;
        }
        r->segs[r->nsegs].start = outrec_end(r);
        r->segs[r->nsegs].stream = stream;
        r->nsegs++;
    }
    if (buf_append(&r->data, data, len) < 0) return -1;
    trim(r);
    return 0;
}

size_t outrec_append(struct outrec *r, int stream, const char *data, size_t len) {
    int si = stream == OUT_STDERR ? 1 : 0;
    uint64_t before = outrec_end(r);
    /* Complete the sequence held back from the last read first. */
    while (r->tail_len[si] && len) {
        r->tail[si][r->tail_len[si]++] = *data++;
        len--;
        size_t t = utf8_incomplete_tail(r->tail[si], r->tail_len[si]);
        if (t == 0 || r->tail_len[si] == 4) {
            add_bytes(r, stream, r->tail[si], r->tail_len[si]);
            r->tail_len[si] = 0;
        }
    }
    size_t hold = utf8_incomplete_tail(data, len);
    add_bytes(r, stream, data, len - hold);
    memcpy(r->tail[si] + r->tail_len[si], data + len - hold, hold);
    r->tail_len[si] += hold;
    return (size_t)(outrec_end(r) - before);
}

void outrec_flush(struct outrec *r) {
    for (int si = 0; si < 2; si++) {
        add_bytes(r, si ? OUT_STDERR : OUT_STDOUT, r->tail[si], r->tail_len[si]);
        r->tail_len[si] = 0;
    }
}

/* The first segment that ends after `cursor`: the last one starting at or before it. */
static size_t seg_at(const struct outrec *r, uint64_t cursor) {
    size_t lo = 0, hi = r->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->segs[mid].start <= cursor) lo = mid;
        else hi = mid;
    }
    return lo;
}

void outrec_each(const struct outrec *r, uint64_t cursor,
                 void (*fn)(void *ud, int stream, const char *data, size_t len, uint64_t end), void *ud) {
    if (cursor < r->base) cursor = r->base;
    for (size_t i = seg_at(r, cursor); i < r->nsegs; i++) {
        uint64_t start = r->segs[i].start;
        uint64_t end = i + 1 < r->nsegs ? r->segs[i + 1].start : outrec_end(r);
        if (end <= cursor) continue;
        if (start < cursor) start = cursor;
        fn(ud, r->segs[i].stream, r->data.data + (start - r->base), (size_t)(end - start), end);
    }
}

struct read_ctx {
    json_t *events;
    size_t budget;
    size_t events_left;
    uint64_t next;
    buf_t tmp;
};

static void read_one(void *ud, int stream, const char *data, size_t len, uint64_t end) {
    struct read_ctx *ctx = ud;
    if (ctx->budget == 0 || ctx->events_left == 0) return;
    ctx->events_left--;
    if (len > ctx->budget) {
        uint64_t start = end - len;
        len = ctx->budget;
        len -= utf8_incomplete_tail(data, len); /* never split a character */
        ctx->budget = 0;
        if (len == 0) return;
        end = start + len;
    }
    else ctx->budget -= len;
    buf_reset(&ctx->tmp);
    utf8_append_repaired(&ctx->tmp, data, len);
    json_array_append_new(ctx->events, json_pack("{s:s,s:s%}", "stream", stream == OUT_STDERR ? "stderr" : "stdout",
                                                 "data", ctx->tmp.data ? ctx->tmp.data : "", ctx->tmp.len));
    ctx->next = end;
}

json_t *outrec_read(const struct outrec *r, uint64_t cursor, size_t max_bytes, size_t max_events,
                    uint64_t *next, uint64_t *dropped) {
    struct read_ctx ctx = {json_array(), max_bytes, max_events, cursor < r->base ? r->base : cursor, BUF_INIT};
    *dropped = cursor < r->base ? r->base - cursor : 0;
    outrec_each(r, ctx.next, read_one, &ctx);
    buf_free(&ctx.tmp);
    *next = ctx.next;
    return ctx.events;
}
