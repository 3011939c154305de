/* frame.c — the incremental frame reader and the codec of every message, both directions. */
#include "frame.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

void frame_reader_init(struct frame_reader *r)
{
    lbuf_init(&r->in);
}

void frame_reader_free(struct frame_reader *r)
{
    lbuf_free(&r->in);
}

void frame_reader_feed(struct frame_reader *r, const void *data, size_t n)
{
    lbuf_trim(&r->in);
    lbuf_append(&r->in, data, n);
}

/* The length of the frame at the head of the buffer: 0 while its header is incomplete, -1 when
 * it is out of range. Checked before waiting for the body, so an absurd length fails at once
 * rather than after the launcher has buffered gigabytes. */
static int64_t head_length(const struct frame_reader *r)
{
    if (lbuf_used(&r->in) < FRAME_HEADER_LEN)
        return 0;
    uint32_t len = be32(lbuf_head(&r->in));
    return len == 0 || len > FRAME_MAX_LEN ? -1 : (int64_t)len;
}

bool frame_reader_ready(const struct frame_reader *r)
{
    int64_t len = head_length(r);
    return len < 0 || (len > 0 && lbuf_used(&r->in) - FRAME_HEADER_LEN >= (uint64_t)len);
}

int frame_reader_next(struct frame_reader *r, struct frame *f)
{
    int64_t len = head_length(r);
    if (len < 0)
        return -1;
    if (!frame_reader_ready(r))
        return 0;
    const unsigned char *p = lbuf_head(&r->in);
    f->type = p[FRAME_HEADER_LEN];
    f->payload = p + FRAME_HEADER_LEN + 1;
    f->len = (size_t)len - 1;
    lbuf_consume(&r->in, FRAME_HEADER_LEN + (size_t)len);
    return 1;
}

/* A read position in a payload; any read past the end marks it bad instead of failing at each
 * call, so decoders read every field and check once at the end. */
struct cursor {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static struct cursor cursor_of(const struct frame *f)
{
    return (struct cursor){f->payload, f->len, false};
}

static const unsigned char *take(struct cursor *c, size_t n)
{
    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    const unsigned char *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint8_t take_u8(struct cursor *c)
{
    const unsigned char *p = take(c, 1);
    return p ? p[0] : 0;
}

static uint16_t take_u16(struct cursor *c)
{
    const unsigned char *p = take(c, 2);
    return p ? be16(p) : 0;
}

static uint32_t take_u32(struct cursor *c)
{
    const unsigned char *p = take(c, 4);
    return p ? be32(p) : 0;
}

static uint64_t take_u64(struct cursor *c)
{
    const unsigned char *p = take(c, 8);
    return p ? be64(p) : 0;
}

/* A NUL-terminated string inside the payload, copied out. */
static char *take_cstr(struct cursor *c)
{
    if (c->bad)
        return NULL;
    const unsigned char *nul = memchr(c->p, 0, c->left);
    if (!nul) {
        c->bad = true;
        return NULL;
    }
    char *s = xstrdup((const char *)c->p);
    take(c, (size_t)(nul - c->p) + 1);
    return s;
}

static int finish(const struct cursor *c, bool must_be_empty)
{
    return c->bad || (must_be_empty && c->left) ? -1 : 0;
}

/* u64 seq, then an optional u64 nonce: H and Y. The nonce is optional so that a backend that does
 * not need resynchronisation can send the 8-byte form (see "Re-attaching" in docs/protocol.md). */
static int take_seq_nonce(struct cursor *c, uint64_t *seq, bool *has_nonce, uint64_t *nonce)
{
    *seq = take_u64(c);
    *has_nonce = c->left > 0;
    *nonce = *has_nonce ? take_u64(c) : 0;
    return finish(c, true);
}

/* Whatever is left of the payload: the bytes of D, R and c. */
static void take_rest(struct cursor *c, const unsigned char **p, size_t *n)
{
    *n = c->left;
    *p = take(c, c->left);
}

/* Appends the 5-byte header of a frame whose payload is `payload_len` bytes. */
static void put_header(struct lbuf *out, uint8_t type, size_t payload_len)
{
    lbuf_put_u32(out, (uint32_t)(payload_len + 1));
    lbuf_put_u8(out, type);
}

/* Whether a payload of `fixed` bytes plus `var` of the caller's fits in one frame; in two parts so
 * that an absurd `var` cannot wrap the sum. */
static bool fits(size_t fixed, size_t var)
{
    return var <= FRAME_MAX_LEN - 1 && fixed + var <= FRAME_MAX_LEN - 1;
}

/* ---- backend -> launcher ---------------------------------------------------------------------- */

void frame_put_hello(struct lbuf *out, const struct hello_msg *m)
{
    put_header(out, FRAME_HELLO, m->has_nonce ? 16 : 8);
    lbuf_put_u64(out, m->last_seq);
    if (m->has_nonce)
        lbuf_put_u64(out, m->nonce);
}

void frame_put_ack(struct lbuf *out, uint64_t seq)
{
    put_header(out, FRAME_ACK, 8);
    lbuf_put_u64(out, seq);
}

/* [u32 rid,] u16 path_len, path, data: F (without the rid) and P. */
static int put_named_data(struct lbuf *out, uint8_t type, size_t rid_len, const struct file_msg *m)
{
    if (m->path_len > UINT16_MAX || !fits(rid_len + 2 + m->path_len, m->data_len))
        return -1;
    put_header(out, type, rid_len + 2 + m->path_len + m->data_len);
    if (rid_len)
        lbuf_put_u32(out, m->rid);
    lbuf_put_u16(out, (uint16_t)m->path_len);
    lbuf_append(out, m->path, m->path_len);
    lbuf_append(out, m->data, m->data_len);
    return 0;
}

int frame_put_file(struct lbuf *out, const struct file_msg *m)
{
    return put_named_data(out, FRAME_FILE, 0, m);
}

size_t frame_put_room(size_t path_len)
{
    size_t fixed = 4 + 2 + path_len; /* rid, path length, path */
    return fixed < FRAME_MAX_LEN - 1 ? FRAME_MAX_LEN - 1 - fixed : 0;
}

int frame_put_put(struct lbuf *out, const struct file_msg *m)
{
    return put_named_data(out, FRAME_PUT, 4, m);
}

int frame_put_get(struct lbuf *out, const struct file_msg *m)
{
    if (!fits(4, m->path_len))
        return -1;
    put_header(out, FRAME_GET, 4 + m->path_len);
    lbuf_put_u32(out, m->rid);
    lbuf_append(out, m->path, m->path_len);
    return 0;
}

/* X's trailing limits section: cpu_ms, cpu_extra_ms, file_size, stack, processes. */
#define EXEC_LIMITS_LEN (4 + 4 + 8 + 8 + 4)

/* Bytes the strings take with their NULs, or SIZE_MAX when they cannot fit in a frame. */
static size_t strings_size(const char *const *v, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n && total <= FRAME_MAX_LEN; i++)
        total += strnlen(v[i], FRAME_MAX_LEN) + 1;
    return n > UINT16_MAX || total > FRAME_MAX_LEN ? SIZE_MAX : total;
}

static void put_strings(struct lbuf *out, const char *const *v, size_t n)
{
    lbuf_put_u16(out, (uint16_t)n);
    for (size_t i = 0; i < n; i++)
        lbuf_append(out, v[i], strlen(v[i]) + 1);
}

int frame_put_exec(struct lbuf *out, const struct exec_opts *o, const char *const *argv, size_t argc,
                   const char *const *envp, size_t envc)
{
    size_t argv_size = strings_size(argv, argc), envp_size = strings_size(envp, envc);
    /* Without limits the section is left out: the frame is then the one older launchers read. */
    const struct exec_limits *x = &o->limits;
    size_t limits_len = x->cpu_ms || x->cpu_extra_ms || x->file_size || x->stack || x->processes ? EXEC_LIMITS_LEN : 0;
    if (argv_size == SIZE_MAX || envp_size == SIZE_MAX ||
        !fits(1 + 2 + 2 + 4 + 8 + 2 + 2 + limits_len + argv_size, envp_size))
        return -1;
    put_header(out, FRAME_EXEC, 1 + 2 + 2 + 4 + 8 + 2 + argv_size + 2 + envp_size + limits_len);
    lbuf_put_u8(out, (uint8_t)(o->tty | o->stdin_closed << 1 | o->notebook << 2));
    lbuf_put_u16(out, o->cols);
    lbuf_put_u16(out, o->rows);
    lbuf_put_u32(out, o->timeout_ms);
    lbuf_put_u64(out, o->output_limit);
    put_strings(out, argv, argc);
    put_strings(out, envp, envc);
    if (limits_len) {
        lbuf_put_u32(out, x->cpu_ms);
        lbuf_put_u32(out, x->cpu_extra_ms);
        lbuf_put_u64(out, x->file_size);
        lbuf_put_u64(out, x->stack);
        lbuf_put_u32(out, x->processes);
    }
    return 0;
}

static int put_raw(struct lbuf *out, uint8_t type, const void *data, size_t n)
{
    if (!fits(0, n))
        return -1;
    put_header(out, type, n);
    lbuf_append(out, data, n);
    return 0;
}

int frame_put_input(struct lbuf *out, const void *data, size_t n)
{
    return put_raw(out, FRAME_INPUT, data, n);
}

int frame_put_channel_in(struct lbuf *out, const void *data, size_t n)
{
    return put_raw(out, FRAME_CHANNEL_IN, data, n);
}

void frame_put_eof(struct lbuf *out)
{
    put_header(out, FRAME_EOF, 0);
}

void frame_put_signal(struct lbuf *out, uint8_t signo)
{
    put_header(out, FRAME_SIGNAL, 1);
    lbuf_put_u8(out, signo);
}

void frame_put_resize(struct lbuf *out, uint16_t cols, uint16_t rows)
{
    put_header(out, FRAME_RESIZE, 4);
    lbuf_put_u16(out, cols);
    lbuf_put_u16(out, rows);
}

void frame_put_list(struct lbuf *out, uint32_t rid)
{
    put_header(out, FRAME_LIST, 4);
    lbuf_put_u32(out, rid);
}

void frame_put_reset(struct lbuf *out, uint32_t rid, uint64_t memory_slack)
{
    put_header(out, FRAME_RESET, 4 + 8);
    lbuf_put_u32(out, rid);
    lbuf_put_u64(out, memory_slack);
}

int frame_parse_hello(const struct frame *f, struct hello_msg *m)
{
    struct cursor c = cursor_of(f);
    return take_seq_nonce(&c, &m->last_seq, &m->has_nonce, &m->nonce);
}

int frame_parse_control(const struct frame *f, struct control_msg *m)
{
    struct cursor c = cursor_of(f);
    memset(m, 0, sizeof *m);
    switch (f->type) {
    case FRAME_ACK:
        m->seq = take_u64(&c);
        break;
    case FRAME_SIGNAL:
        m->signo = take_u8(&c);
        break;
    case FRAME_RESIZE:
        m->cols = take_u16(&c);
        m->rows = take_u16(&c);
        break;
    case FRAME_RESET:
        m->rid = take_u32(&c);
        m->memory_slack = c.left > 0 ? take_u64(&c) : 0;
        break;
    case FRAME_LIST:
        m->rid = take_u32(&c);
        break;
    case FRAME_EOF:
        break;
    default:
        return -1;
    }
    return finish(&c, true);
}

/* u16 path_len, path, data: the common tail of F and P. */
static int parse_named_data(struct cursor *c, struct file_msg *m)
{
    m->path_len = take_u16(c);
    m->path = (const char *)take(c, m->path_len);
    m->data_len = c->left;
    m->data = take(c, c->left);
    return finish(c, true);
}

int frame_parse_file(const struct frame *f, struct file_msg *m)
{
    struct cursor c = cursor_of(f);
    m->rid = 0;
    return parse_named_data(&c, m);
}

int frame_parse_put(const struct frame *f, struct file_msg *m)
{
    struct cursor c = cursor_of(f);
    m->rid = take_u32(&c);
    return parse_named_data(&c, m);
}

int frame_parse_get(const struct frame *f, struct file_msg *m)
{
    struct cursor c = cursor_of(f);
    m->rid = take_u32(&c);
    m->path_len = c.left;
    m->path = (const char *)take(&c, c.left);
    m->data = NULL;
    m->data_len = 0;
    return finish(&c, true);
}

/* u16 count, then count NUL-terminated strings, into a NULL-terminated array. On a malformed
 * payload the array ends at the string that could not be read. */
static char **take_strings(struct cursor *c)
{
    uint16_t n = take_u16(c);
    size_t size = ((size_t)n + 1) * sizeof(char *);
    char **v = memset(xmalloc(size), 0, size);
    for (size_t i = 0; i < n && !c->bad; i++)
        v[i] = take_cstr(c);
    return v;
}

static void free_strings(char **v)
{
    if (!v)
        return;
    for (char **s = v; *s; s++)
        free(*s);
    free(v);
}

int frame_parse_exec(const struct frame *f, struct exec_msg *m)
{
    struct cursor c = cursor_of(f);
    memset(m, 0, sizeof *m);
    uint8_t flags = take_u8(&c);
    m->opts.tty = flags & 1;
    m->opts.stdin_closed = flags & 2;
    m->opts.notebook = flags & 4;
    m->opts.cols = take_u16(&c);
    m->opts.rows = take_u16(&c);
    m->opts.timeout_ms = take_u32(&c);
    m->opts.output_limit = take_u64(&c);
    m->argv = take_strings(&c);
    m->envp = take_strings(&c);
    /* The limits are a trailing section so that an X without it (an older backend) stays valid. */
    if (!c.bad && c.left > 0) {
        m->opts.limits.cpu_ms = take_u32(&c);
        m->opts.limits.cpu_extra_ms = take_u32(&c);
        m->opts.limits.file_size = take_u64(&c);
        m->opts.limits.stack = take_u64(&c);
        m->opts.limits.processes = take_u32(&c);
    }
    if (finish(&c, true) < 0) {
        exec_msg_free(m);
        return -1;
    }
    return 0;
}

void exec_msg_free(struct exec_msg *m)
{
    free_strings(m->argv);
    free_strings(m->envp);
    m->argv = m->envp = NULL;
}


/* ---- launcher -> backend ---------------------------------------------------------------------- */

void frame_put_ready(struct lbuf *out, uint64_t next_seq, const struct hello_msg *hello)
{
    put_header(out, FRAME_READY, hello->has_nonce ? 16 : 8);
    lbuf_put_u64(out, next_seq);
    if (hello->has_nonce)
        lbuf_put_u64(out, hello->nonce);
}

void frame_put_data(struct lbuf *out, uint64_t seq, uint8_t stream, const void *data, size_t n)
{
    put_header(out, FRAME_DATA, 8 + 1 + n);
    lbuf_put_u64(out, seq);
    lbuf_put_u8(out, stream);
    lbuf_append(out, data, n);
}

void frame_put_exit(struct lbuf *out, const struct exit_msg *m)
{
    put_header(out, FRAME_EXIT, 8 + 4 + 1 + 1 + 4 + 4 + 8 + 4);
    lbuf_put_u64(out, m->seq);
    lbuf_put_u32(out, (uint32_t)m->exit_code);
    lbuf_put_u8(out, m->signo);
    lbuf_put_u8(out, m->reason);
    lbuf_put_u32(out, m->wall_ms);
    lbuf_put_u32(out, m->cpu_ms);
    lbuf_put_u64(out, m->maxrss_kb);
    lbuf_put_u32(out, m->oom_kills);
}

void frame_put_reply(struct lbuf *out, const struct reply_msg *m)
{
    put_header(out, FRAME_REPLY, 4 + 1 + m->len);
    lbuf_put_u32(out, m->rid);
    lbuf_put_u8(out, m->status);
    lbuf_append(out, m->data, m->len);
}

void frame_put_channel_out(struct lbuf *out, uint64_t seq, const void *data, size_t n)
{
    put_header(out, FRAME_CHANNEL_OUT, 8 + n);
    lbuf_put_u64(out, seq);
    lbuf_append(out, data, n);
}

int frame_parse_ready(const struct frame *f, struct ready_msg *m)
{
    struct cursor c = cursor_of(f);
    return take_seq_nonce(&c, &m->next_seq, &m->has_nonce, &m->nonce);
}

int frame_parse_data(const struct frame *f, struct data_msg *m)
{
    struct cursor c = cursor_of(f);
    m->seq = take_u64(&c);
    m->stream = take_u8(&c);
    take_rest(&c, &m->data, &m->len);
    return m->stream == STREAM_STDOUT || m->stream == STREAM_STDERR ? finish(&c, true) : -1;
}

int frame_parse_exit(const struct frame *f, struct exit_msg *m)
{
    struct cursor c = cursor_of(f);
    m->seq = take_u64(&c);
    m->exit_code = (int32_t)take_u32(&c);
    m->signo = take_u8(&c);
    m->reason = take_u8(&c);
    m->wall_ms = take_u32(&c);
    m->cpu_ms = take_u32(&c);
    m->maxrss_kb = take_u64(&c);
    m->oom_kills = take_u32(&c);
    return finish(&c, true);
}

int frame_parse_reply(const struct frame *f, struct reply_msg *m)
{
    struct cursor c = cursor_of(f);
    m->rid = take_u32(&c);
    m->status = take_u8(&c);
    take_rest(&c, &m->data, &m->len);
    return finish(&c, true);
}

int frame_parse_channel_out(const struct frame *f, struct data_msg *m)
{
    struct cursor c = cursor_of(f);
    m->seq = take_u64(&c);
    m->stream = 0;
    take_rest(&c, &m->data, &m->len);
    return finish(&c, true);
}
