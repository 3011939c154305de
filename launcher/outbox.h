/* outbox.h — everything the launcher sends on its stdout. Frames wait in a queue that is
 * written without ever blocking; data and exit frames are numbered and a copy of each is kept
 * until the backend acknowledges it, because Docker drops what a container writes while no
 * attach stream is connected, and the backend re-attaches and asks for what it missed (H). */
#ifndef LAUNCHER_OUTBOX_H
#define LAUNCHER_OUTBOX_H

#include "lbuf.h"
#include "frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kept_frame;

struct outbox {
    int fd;
    struct lbuf queue;        /* encoded frames not yet written to fd */
    uint64_t next_seq;       /* the seq the next data or exit frame will carry; starts at 1 */
    struct kept_frame *head; /* oldest unacknowledged numbered frame */
    struct kept_frame *tail;
    size_t kept_bytes;       /* encoded bytes of the kept frames */
    size_t kept_cap;         /* past this the oldest kept frames are dropped */
};

void outbox_init(struct outbox *ob, int fd);

/* Kept frames are bounded by the current run's output limit plus some slack for headers and
 * the exit frame; a run without a limit gets a default. */
void outbox_set_output_limit(struct outbox *ob, uint64_t output_limit);

void outbox_data(struct outbox *ob, uint8_t stream, const void *data, size_t n);
void outbox_channel(struct outbox *ob, const void *data, size_t n); /* c: numbered like D */
void outbox_exit(struct outbox *ob, struct exit_msg *m); /* sets m->seq */
void outbox_busy(struct outbox *ob);                     /* an unnumbered x with reason busy */
void outbox_reply(struct outbox *ob, uint32_t rid, uint8_t status, const void *data, size_t n);

/* A: forget every kept frame up to seq. */
void outbox_ack(struct outbox *ob, uint64_t seq);

/* H: the backend holds everything up to hello->last_seq. Queues Y, then every kept frame
 * after last_seq, in order. */
void outbox_hello(struct outbox *ob, const struct hello_msg *hello);

/* Writes what fd takes now. Returns 0, or -1 when fd is broken (the backend is gone). */
int outbox_flush(struct outbox *ob);

static inline size_t outbox_pending(const struct outbox *ob) { return lbuf_used(&ob->queue); }

#endif
