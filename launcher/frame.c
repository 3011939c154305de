/* frame.c — framing codec and incremental reader. */
#include "frame.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void frame_reader_init(struct frame_reader *r)
{
    buf_init(&r->in);
}

void frame_reader_free(struct frame_reader *r)
{
    buf_free(&r->in);
}

void frame_reader_feed(struct frame_reader *r, const void *data, size_t n)
{
    buf_trim(&r->in);
    buf_append(&r->in, data, n);
}

/* The length of the frame at the head of the buffer: 0 while its header is incomplete, -1 when
 * it is out of range. Checked before waiting for the body, so an absurd length fails at once
 * rather than after the launcher has buffered gigabytes. */
static int64_t head_length(const struct frame_reader *r)
{
    if (buf_used(&r->in) < FRAME_HEADER_LEN)
        return 0;
    uint32_t len = be32(buf_head(&r->in));
    return len == 0 || len > FRAME_MAX_LEN ? -1 : (int64_t)len;
}

bool frame_reader_ready(const struct frame_reader *r)
{
    int64_t len = head_length(r);
    return len < 0 || (len > 0 && buf_used(&r->in) - FRAME_HEADER_LEN >= (uint64_t)len);
}

int frame_reader_next(struct frame_reader *r, struct frame *f)
{
    int64_t len = head_length(r);
    if (len < 0)
        return -1;
    if (!frame_reader_ready(r))
        return 0;
    const unsigned char *p = buf_head(&r->in);
    f->type = p[FRAME_HEADER_LEN];
    f->payload = p + FRAME_HEADER_LEN + 1;
    f->len = (size_t)len - 1;
    buf_consume(&r->in, FRAME_HEADER_LEN + (size_t)len);
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

int frame_parse_hello(const struct frame *f, struct hello_msg *m)
{
    struct cursor c = cursor_of(f);
    m->last_seq = take_u64(&c);
    /* The nonce is optional so that a backend that does not need resynchronisation can send the
     * 8-byte form (see "Re-attaching" in docs/protocol.md). */
    m->has_nonce = c.left > 0;
    m->nonce = m->has_nonce ? take_u64(&c) : 0;
    return finish(&c, true);
}

int frame_parse_u64(const struct frame *f, uint64_t *v)
{
    struct cursor c = cursor_of(f);
    *v = take_u64(&c);
    return finish(&c, true);
}

int frame_parse_rid(const struct frame *f, uint32_t *rid)
{
    struct cursor c = cursor_of(f);
    *rid = take_u32(&c);
    return finish(&c, true);
}

int frame_parse_signal(const struct frame *f, uint8_t *signo)
{
    struct cursor c = cursor_of(f);
    *signo = take_u8(&c);
    return finish(&c, true);
}

int frame_parse_resize(const struct frame *f, uint16_t *cols, uint16_t *rows)
{
    struct cursor c = cursor_of(f);
    *cols = take_u16(&c);
    *rows = take_u16(&c);
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
    m->tty = flags & 1;
    m->stdin_closed = flags & 2;
    m->notebook = flags & 4;
    m->cols = take_u16(&c);
    m->rows = take_u16(&c);
    m->timeout_ms = take_u32(&c);
    m->output_limit = take_u64(&c);
    m->argv = take_strings(&c);
    m->envp = take_strings(&c);
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

/* Appends the 5-byte header of a frame whose payload is `payload_len` bytes. */
static void put_header(struct buf *out, uint8_t type, size_t payload_len)
{
    buf_put_u32(out, (uint32_t)(payload_len + 1));
    buf_put_u8(out, type);
}

void frame_put_ready(struct buf *out, uint64_t next_seq, const struct hello_msg *hello)
{
    put_header(out, FRAME_READY, hello->has_nonce ? 16 : 8);
    buf_put_u64(out, next_seq);
    if (hello->has_nonce)
        buf_put_u64(out, hello->nonce);
}

void frame_put_data(struct buf *out, uint64_t seq, uint8_t stream, const void *data, size_t n)
{
    put_header(out, FRAME_DATA, 8 + 1 + n);
    buf_put_u64(out, seq);
    buf_put_u8(out, stream);
    buf_append(out, data, n);
}

void frame_put_exit(struct buf *out, const struct exit_msg *m)
{
    put_header(out, FRAME_EXIT, 8 + 4 + 1 + 1 + 4 + 4 + 8 + 4);
    buf_put_u64(out, m->seq);
    buf_put_u32(out, (uint32_t)m->exit_code);
    buf_put_u8(out, m->signo);
    buf_put_u8(out, m->reason);
    buf_put_u32(out, m->wall_ms);
    buf_put_u32(out, m->cpu_ms);
    buf_put_u64(out, m->maxrss_kb);
    buf_put_u32(out, m->oom_kills);
}

void frame_put_reply(struct buf *out, uint32_t rid, uint8_t status, const void *data, size_t n)
{
    put_header(out, FRAME_REPLY, 4 + 1 + n);
    buf_put_u32(out, rid);
    buf_put_u8(out, status);
    buf_append(out, data, n);
}

void frame_put_channel(struct buf *out, uint64_t seq, const void *data, size_t n)
{
    put_header(out, FRAME_CHANNEL_OUT, 8 + n);
    buf_put_u64(out, seq);
    buf_append(out, data, n);
}
