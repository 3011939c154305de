/* outbox.c — the outbound stream: write queue, sequence numbers and the resend buffer. */
#include "outbox.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Slack above the run's output limit: frame headers and the exit frame. */
#define KEPT_SLACK (64 * 1024)
/* Kept-frame bound for runs without an output limit. */
#define KEPT_DEFAULT_CAP (16 * 1024 * 1024)

struct kept_frame {
    struct kept_frame *next;
    uint64_t seq;
    size_t len;
    unsigned char bytes[]; /* the whole encoded frame, header included */
};

void outbox_init(struct outbox *ob, int fd)
{
    memset(ob, 0, sizeof *ob);
    ob->fd = fd;
    lbuf_init(&ob->queue);
    ob->next_seq = 1;
    ob->kept_cap = KEPT_DEFAULT_CAP + KEPT_SLACK;
}

void outbox_set_output_limit(struct outbox *ob, uint64_t output_limit)
{
    uint64_t limit = output_limit ? output_limit : KEPT_DEFAULT_CAP;
    ob->kept_cap = limit > SIZE_MAX - KEPT_SLACK ? SIZE_MAX : (size_t)limit + KEPT_SLACK;
}

static void drop_oldest(struct outbox *ob)
{
    struct kept_frame *k = ob->head;
    ob->head = k->next;
    if (!ob->head)
        ob->tail = NULL;
    ob->kept_bytes -= k->len;
    free(k);
}

/* Keeps a copy of the numbered frame that was just appended to the queue: its last `len` bytes
 * (appending may have slid the queue's contents, so no earlier offset is trusted). */
static void keep(struct outbox *ob, uint64_t seq, size_t len)
{
    struct kept_frame *k = xmalloc(sizeof *k + len);
    k->next = NULL;
    k->seq = seq;
    k->len = len;
    memcpy(k->bytes, ob->queue.data + ob->queue.len - len, len);
    if (ob->tail)
        ob->tail->next = k;
    else
        ob->head = k;
    ob->tail = k;
    ob->kept_bytes += len;
    /* The newest frame always stays, so a backend that gets a gap still gets the exit frame. */
    while (ob->kept_bytes > ob->kept_cap && ob->head != k)
        drop_oldest(ob);
}

void outbox_data(struct outbox *ob, uint8_t stream, const void *data, size_t n)
{
    size_t before = lbuf_used(&ob->queue);
    uint64_t seq = ob->next_seq++;
    frame_put_data(&ob->queue, seq, stream, data, n);
    keep(ob, seq, lbuf_used(&ob->queue) - before);
}

/* Numbered and kept like program output: a cell's reply must survive a dropped attach stream
 * as well as its printed output does. */
void outbox_channel(struct outbox *ob, const void *data, size_t n)
{
    size_t before = lbuf_used(&ob->queue);
    uint64_t seq = ob->next_seq++;
    frame_put_channel_out(&ob->queue, seq, data, n);
    keep(ob, seq, lbuf_used(&ob->queue) - before);
}

void outbox_exit(struct outbox *ob, struct exit_msg *m)
{
    size_t before = lbuf_used(&ob->queue);
    m->seq = ob->next_seq++;
    frame_put_exit(&ob->queue, m);
    keep(ob, m->seq, lbuf_used(&ob->queue) - before);
}

void outbox_busy(struct outbox *ob)
{
    struct exit_msg m = {.seq = 0, .exit_code = -1, .reason = EXIT_REASON_BUSY};
    frame_put_exit(&ob->queue, &m);
}

void outbox_reply(struct outbox *ob, uint32_t rid, uint8_t status, const void *data, size_t n)
{
    struct reply_msg m = {.rid = rid, .status = status, .data = data, .len = n};
    frame_put_reply(&ob->queue, &m);
}

void outbox_ack(struct outbox *ob, uint64_t seq)
{
    while (ob->head && ob->head->seq <= seq)
        drop_oldest(ob);
}

void outbox_hello(struct outbox *ob, const struct hello_msg *hello)
{
    outbox_ack(ob, hello->last_seq);
    frame_put_ready(&ob->queue, ob->next_seq, hello);
    for (struct kept_frame *k = ob->head; k; k = k->next)
        lbuf_append(&ob->queue, k->bytes, k->len);
}

int outbox_flush(struct outbox *ob)
{
    while (lbuf_used(&ob->queue) > 0) {
        ssize_t n = write(ob->fd, lbuf_head(&ob->queue), lbuf_used(&ob->queue));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            return -1;
        }
        lbuf_consume(&ob->queue, (size_t)n);
    }
    lbuf_trim(&ob->queue);
    return 0;
}
