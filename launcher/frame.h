/* frame.h — the wire format of docs/protocol.md, both directions: an incremental reader that
 * cuts frames out of a byte stream, and an encoder and a decoder for every message. The launcher
 * links it to read the backend's messages and write its own; the server (core/backend/attach.c) links the
 * same objects to do the opposite, so the two ends cannot disagree about a layout. */
#ifndef LAUNCHER_FRAME_H
#define LAUNCHER_FRAME_H

#include "lbuf.h"
#include "proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The length field counts the type byte and the payload; anything longer is a protocol error. */
#define FRAME_MAX_LEN (4u * 1024 * 1024 + 64)
#define FRAME_HEADER_LEN 4

/* Room left for the data of an R reply in one frame (type, rid and status come first). */
#define FRAME_REPLY_MAX_DATA (FRAME_MAX_LEN - 1 - 4 - 1)

enum frame_type {
    /* backend -> launcher (payloads: docs/protocol.md) */
    FRAME_HELLO = 'H',      /* u64 last_seq held, optional nonce: re-attach */
    FRAME_ACK = 'A',        /* u64 seq stored: frames up to it may go */
    FRAME_FILE = 'F',       /* a file for the next run */
    FRAME_EXEC = 'X',       /* start a run */
    FRAME_INPUT = 'I',      /* stdin bytes */
    FRAME_EOF = 'E',        /* close stdin */
    FRAME_SIGNAL = 'S',     /* u8 signo for the run's group */
    FRAME_RESIZE = 'Z',     /* u16 cols, u16 rows */
    FRAME_GET = 'G',        /* read a file (answered by R) */
    FRAME_PUT = 'P',        /* write a file (answered by R) */
    FRAME_LIST = 'L',       /* list the files (answered by R) */
    FRAME_RESET = 'K',      /* wipe for the next tenant (answered by R) */
    FRAME_CHANNEL_IN = 'C', /* bytes for the notebook channel (the program's fd 3) */
    /* launcher -> backend */
    FRAME_READY = 'Y',       /* answer to H: the next seq */
    FRAME_DATA = 'D',        /* numbered stdout/stderr bytes */
    FRAME_EXIT = 'x',        /* numbered end of a run, with its usage */
    FRAME_REPLY = 'R',       /* u32 rid, u8 status, data */
    FRAME_CHANNEL_OUT = 'c', /* bytes the program wrote to its fd 4, numbered like D */
};

enum { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct frame {
    uint8_t type;
    const unsigned char *payload;
    size_t len; /* payload bytes, without the type */
};

/* Reassembles frames from reads of any size. */
struct frame_reader {
    struct lbuf in;
};

void frame_reader_init(struct frame_reader *r);
void frame_reader_free(struct frame_reader *r);
void frame_reader_feed(struct frame_reader *r, const void *data, size_t n);

/* True when frame_reader_next would not answer 0: a whole frame (or a bad length) is buffered. */
bool frame_reader_ready(const struct frame_reader *r);

/* Returns 1 and fills *f with the next complete frame (its payload stays valid until the next
 * feed), 0 when more bytes are needed, -1 when the length field is 0 or above FRAME_MAX_LEN. */
int frame_reader_next(struct frame_reader *r, struct frame *f);

/* --- The messages. Decoders return 0, or -1 when the payload does not match its type; what
 * they fill points into the frame's payload unless said otherwise. Encoders append one whole
 * frame to `out`; those whose size depends on the caller return -1, appending nothing, when the
 * frame would exceed FRAME_MAX_LEN or a u16 count or length would overflow. --- */

/* Backend -> launcher. */

struct hello_msg {
    uint64_t last_seq;
    bool has_nonce;
    uint64_t nonce;
};

/* X's optional trailing section: resource limits applied to the program before exec (0 = none). */
struct exec_limits {
    uint32_t cpu_ms;       /* CPU time (user + system, every process of the run) */
    uint32_t cpu_extra_ms; /* grace past cpu_ms before the launcher kills */
    uint64_t file_size;    /* RLIMIT_FSIZE, bytes: a bigger write gets SIGXFSZ */
    uint64_t stack;        /* RLIMIT_STACK, bytes */
    uint32_t processes;    /* RLIMIT_NPROC, the program's processes and threads (the launcher not counted) */
};

/* X's fields besides its argv and envp. */
struct exec_opts {
    bool tty;
    bool stdin_closed;
    bool notebook; /* flags bit2: give the program the channel pipes as fd 3 and fd 4 */
    uint16_t cols, rows;
    uint32_t timeout_ms;
    uint64_t output_limit;
    struct exec_limits limits;
};

struct exec_msg {
    struct exec_opts opts;
    char **argv; /* NULL-terminated copies, owned: free with exec_msg_free */
    char **envp;
};

/* F (rid is 0), P and G (no data). */
struct file_msg {
    uint32_t rid;
    const char *path;
    size_t path_len;
    const unsigned char *data;
    size_t data_len;
};

void frame_put_hello(struct lbuf *out, const struct hello_msg *m); /* nonce only if has_nonce */
void frame_put_ack(struct lbuf *out, uint64_t seq);
int frame_put_file(struct lbuf *out, const struct file_msg *m); /* F: rid unused */
int frame_put_exec(struct lbuf *out, const struct exec_opts *o, const char *const *argv, size_t argc,
                   const char *const *envp, size_t envc);
int frame_put_input(struct lbuf *out, const void *data, size_t n);
void frame_put_eof(struct lbuf *out);
void frame_put_signal(struct lbuf *out, uint8_t signo);
void frame_put_resize(struct lbuf *out, uint16_t cols, uint16_t rows);
int frame_put_get(struct lbuf *out, const struct file_msg *m); /* data unused */
int frame_put_put(struct lbuf *out, const struct file_msg *m);
size_t frame_put_room(size_t path_len); /* the most data bytes a P frame carries for this path */
void frame_put_list(struct lbuf *out, uint32_t rid);
/* K: the rid, then the memory the container may hold beyond start-up once reset (0: unchecked). */
void frame_put_reset(struct lbuf *out, uint32_t rid, uint64_t memory_slack);
int frame_put_channel_in(struct lbuf *out, const void *data, size_t n);

/* I and C carry raw bytes: the frame itself is the message. */
int frame_parse_hello(const struct frame *f, struct hello_msg *m);
/* E (empty), A, S, Z, L and K: a few fixed fields (K's memory_slack may be left out: 0). */
struct control_msg {
    uint64_t seq;          /* A */
    uint8_t signo;         /* S */
    uint16_t cols, rows;   /* Z */
    uint32_t rid;          /* L, K */
    uint64_t memory_slack; /* K */
};
int frame_parse_control(const struct frame *f, struct control_msg *m); /* -1 for any other type too */
int frame_parse_file(const struct frame *f, struct file_msg *m); /* F */
int frame_parse_put(const struct frame *f, struct file_msg *m); /* P */
int frame_parse_get(const struct frame *f, struct file_msg *m); /* G */
int frame_parse_exec(const struct frame *f, struct exec_msg *m);
void exec_msg_free(struct exec_msg *m);

/* Launcher -> backend. */

struct ready_msg {
    uint64_t next_seq;
    bool has_nonce;
    uint64_t nonce;
};

/* D and c (which has no stream). */
struct data_msg {
    uint64_t seq;
    uint8_t stream;
    const unsigned char *data;
    size_t len;
};

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

struct reply_msg {
    uint32_t rid;
    uint8_t status;
    const unsigned char *data;
    size_t len;
};

/* The launcher keeps every frame it sends within FRAME_MAX_LEN itself (FRAME_REPLY_MAX_DATA). */
void frame_put_ready(struct lbuf *out, uint64_t next_seq, const struct hello_msg *hello);
void frame_put_data(struct lbuf *out, uint64_t seq, uint8_t stream, const void *data, size_t n);
void frame_put_exit(struct lbuf *out, const struct exit_msg *m);
void frame_put_reply(struct lbuf *out, const struct reply_msg *m);
void frame_put_channel_out(struct lbuf *out, uint64_t seq, const void *data, size_t n);

int frame_parse_ready(const struct frame *f, struct ready_msg *m);
int frame_parse_data(const struct frame *f, struct data_msg *m); /* stream is 1 or 2 */
int frame_parse_exit(const struct frame *f, struct exit_msg *m);
int frame_parse_reply(const struct frame *f, struct reply_msg *m);
int frame_parse_channel_out(const struct frame *f, struct data_msg *m); /* stream is 0 */

#endif
