/* frame.h — the wire format of docs/protocol.md: an incremental reader that cuts frames out of
 * the byte stream on stdin, decoders for the backend's messages and encoders for ours. */
#ifndef LAUNCHER_FRAME_H
#define LAUNCHER_FRAME_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length field counts the type byte and the payload; anything longer is a protocol error. */
#define FRAME_MAX_LEN (4u * 1024 * 1024 + 64)
#define FRAME_HEADER_LEN 4

/* Room left for the data of an R reply in one frame (type, rid and status come first). */
#define FRAME_REPLY_MAX_DATA (FRAME_MAX_LEN - 1 - 4 - 1)

enum frame_type {
    /* backend -> launcher */
    FRAME_HELLO = 'H',
    FRAME_ACK = 'A',
    FRAME_FILE = 'F',
    FRAME_EXEC = 'X',
    FRAME_INPUT = 'I',
    FRAME_EOF = 'E',
    FRAME_SIGNAL = 'S',
    FRAME_RESIZE = 'Z',
    FRAME_GET = 'G',
    FRAME_PUT = 'P',
    FRAME_LIST = 'L',
    FRAME_RESET = 'K',
    FRAME_CHANNEL_IN = 'C', /* bytes for the notebook channel (the program's fd 3) */
    /* launcher -> backend */
    FRAME_READY = 'Y',
    FRAME_DATA = 'D',
    FRAME_EXIT = 'x',
    FRAME_REPLY = 'R',
    FRAME_CHANNEL_OUT = 'c', /* bytes the program wrote to its fd 4, numbered like D */
};

enum exit_reason {
    EXIT_REASON_NORMAL = 0,
    EXIT_REASON_TIMEOUT = 1,
    EXIT_REASON_OUTPUT_LIMIT = 2,
    EXIT_REASON_BUSY = 3,
    EXIT_REASON_EXEC_FAILED = 4,
};

enum reply_status {
    REPLY_OK = 0,
    REPLY_NOT_FOUND = 1,
    REPLY_BAD_PATH = 2,
    REPLY_IS_DIR = 3,
    REPLY_ERROR = 4,
};

enum { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct frame {
    uint8_t type;
    const unsigned char *payload;
    size_t len; /* payload bytes, without the type */
};

/* Reassembles frames from reads of any size. */
struct frame_reader {
    struct buf in;
};

void frame_reader_init(struct frame_reader *r);
void frame_reader_free(struct frame_reader *r);
void frame_reader_feed(struct frame_reader *r, const void *data, size_t n);

/* True when frame_reader_next would not answer 0: a whole frame (or a bad length) is buffered. */
bool frame_reader_ready(const struct frame_reader *r);

/* Returns 1 and fills *f with the next complete frame (its payload stays valid until the next
 * feed), 0 when more bytes are needed, -1 when the length field is 0 or above FRAME_MAX_LEN. */
int frame_reader_next(struct frame_reader *r, struct frame *f);

/* --- Decoding the backend's messages. Each returns 0, or -1 when the payload is malformed. --- */

struct hello_msg {
    uint64_t last_seq;
    bool has_nonce;
    uint64_t nonce;
};

struct exec_msg {
    bool tty;
    bool stdin_closed;
    bool notebook; /* flags bit2: give the program the channel pipes as fd 3 and fd 4 */
    uint16_t cols, rows;
    uint32_t timeout_ms;
    uint64_t output_limit;
    char **argv; /* NULL-terminated copies, owned: free with exec_msg_free */
    char **envp;
};

/* F (rid is 0), P and G (no data). Path and data point into the frame. */
struct file_msg {
    uint32_t rid;
    const char *path;
    size_t path_len;
    const unsigned char *data;
    size_t data_len;
};

int frame_parse_hello(const struct frame *f, struct hello_msg *m);
int frame_parse_u64(const struct frame *f, uint64_t *v); /* A */
int frame_parse_rid(const struct frame *f, uint32_t *rid); /* L, K */
int frame_parse_signal(const struct frame *f, uint8_t *signo);
int frame_parse_resize(const struct frame *f, uint16_t *cols, uint16_t *rows);
int frame_parse_file(const struct frame *f, struct file_msg *m); /* F */
int frame_parse_put(const struct frame *f, struct file_msg *m); /* P */
int frame_parse_get(const struct frame *f, struct file_msg *m); /* G */
int frame_parse_exec(const struct frame *f, struct exec_msg *m);
void exec_msg_free(struct exec_msg *m);

/* --- Encoding our messages, appended to `out`. --- */

struct exit_msg {
    uint64_t seq;
    int32_t exit_code;
    uint8_t signo;
    uint8_t reason;
    uint32_t wall_ms;
    uint32_t cpu_ms;
    uint64_t maxrss_kb;
    uint32_t oom_kills;
};

void frame_put_ready(struct buf *out, uint64_t next_seq, const struct hello_msg *hello);
void frame_put_data(struct buf *out, uint64_t seq, uint8_t stream, const void *data, size_t n);
void frame_put_exit(struct buf *out, const struct exit_msg *m);
void frame_put_reply(struct buf *out, uint32_t rid, uint8_t status, const void *data, size_t n);
void frame_put_channel(struct buf *out, uint64_t seq, const void *data, size_t n);

#endif
