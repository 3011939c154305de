/* test_launcher_frame.c — unit test of the protocol's codec (launcher/frame.c, which the launcher
 * and the server both link), the launcher's path rules (launcher/paths.c) and its resend buffer
 * (launcher/outbox.c). Every decoder reads frames built, and every encoder's bytes are compared
 * with frames built, by an independent little codec here, so a mistake shared by an encoder and
 * its decoder cannot pass unnoticed; round trips then pair each encoder with its decoder. Prints
 * TAP. */
#include "lbuf.h"
#include "frame.h"
#include "outbox.h"
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
            printf("ok %d - ", passed + failed);                                                   \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("not ok %d - (%s:%d: %s) ", passed + failed, __FILE__, __LINE__, #cond);        \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

/* ---- an independent encoder for the backend's frames ---- */

struct msg {
    unsigned char b[8192];
    size_t n;
};

static void u8(struct msg *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void u16(struct msg *m, unsigned v) { u8(m, v >> 8 & 0xff); u8(m, v & 0xff); }
static void u32(struct msg *m, unsigned long v) { u16(m, v >> 16 & 0xffff); u16(m, v & 0xffff); }
static void u64(struct msg *m, unsigned long long v) { u32(m, v >> 32); u32(m, v & 0xffffffffu); }
static void raw(struct msg *m, const void *p, size_t n) { memcpy(m->b + m->n, p, n); m->n += n; }
static void cstr(struct msg *m, const char *s) { raw(m, s, strlen(s) + 1); }

/* Starts a frame of `type`; finish() patches its length. */
static void start(struct msg *m, char type) { m->n = 0; u32(m, 0); u8(m, (unsigned char)type); }
static void finish(struct msg *m)
{
    size_t len = m->n - 4;
    m->b[0] = (unsigned char)(len >> 24);
    m->b[1] = (unsigned char)(len >> 16);
    m->b[2] = (unsigned char)(len >> 8);
    m->b[3] = (unsigned char)len;
}

/* Feeds one encoded frame to a fresh reader and returns what comes out. */
static int read_one(struct frame_reader *r, const struct msg *m, struct frame *f)
{
    frame_reader_init(r);
    frame_reader_feed(r, m->b, m->n);
    return frame_reader_next(r, f);
}

/* ---- an independent decoder for the launcher's frames ---- */

static unsigned long long get(const unsigned char **p, int bytes)
{
    unsigned long long v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | *(*p)++;
    return v;
}

static void test_backend_frames(void)
{
    struct frame_reader r;
    struct frame f;
    struct msg m;

    start(&m, 'H');
    u64(&m, 0x0102030405060708ull);
    finish(&m);
    struct hello_msg hello;
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'H' && f.len == 8, "H is read as one frame");
    CHECK(frame_parse_hello(&f, &hello) == 0 && hello.last_seq == 0x0102030405060708ull && !hello.has_nonce,
          "H decodes last_seq");
    frame_reader_free(&r);

    start(&m, 'H');
    u64(&m, 7);
    u64(&m, 0xdeadbeefcafef00dull);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_hello(&f, &hello) == 0 && hello.last_seq == 7 &&
              hello.has_nonce && hello.nonce == 0xdeadbeefcafef00dull,
          "H decodes the optional nonce");
    frame_reader_free(&r);

    start(&m, 'H');
    u32(&m, 7);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_hello(&f, &hello) < 0, "a short H is malformed");
    frame_reader_free(&r);

    struct control_msg cm;
    start(&m, 'A');
    u64(&m, 42);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'A' && frame_parse_control(&f, &cm) == 0 && cm.seq == 42,
          "A decodes seq");
    frame_reader_free(&r);

    struct file_msg fm;
    start(&m, 'F');
    u16(&m, 9);
    raw(&m, "dir/a.txt", 9);
    raw(&m, "DATA\0x", 6);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_file(&f, &fm) == 0 && fm.rid == 0 && fm.path_len == 9 &&
              memcmp(fm.path, "dir/a.txt", 9) == 0 && fm.data_len == 6 && memcmp(fm.data, "DATA\0x", 6) == 0,
          "F decodes name and binary data");
    frame_reader_free(&r);

    start(&m, 'F');
    u16(&m, 20);
    raw(&m, "short", 5);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_file(&f, &fm) < 0, "F with a name past the end is malformed");
    frame_reader_free(&r);

    start(&m, 'P');
    u32(&m, 0xabcdef01);
    u16(&m, 3);
    raw(&m, "x.c", 3);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_put(&f, &fm) == 0 && fm.rid == 0xabcdef01 && fm.path_len == 3 &&
              fm.data_len == 0,
          "P decodes rid, path and empty data");
    frame_reader_free(&r);

    start(&m, 'G');
    u32(&m, 5);
    raw(&m, "a/b", 3);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_get(&f, &fm) == 0 && fm.rid == 5 && fm.path_len == 3 &&
              memcmp(fm.path, "a/b", 3) == 0,
          "G decodes rid and path");
    frame_reader_free(&r);

    start(&m, 'L');
    u32(&m, 77);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'L' && frame_parse_control(&f, &cm) == 0 && cm.rid == 77, "L decodes rid");
    frame_reader_free(&r);

    start(&m, 'K');
    u32(&m, 78);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_control(&f, &cm) == 0 && cm.rid == 78 && cm.memory_slack == 0,
          "K without a memory slack decodes as unchecked");
    frame_reader_free(&r);

    start(&m, 'K');
    u32(&m, 78);
    u8(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_control(&f, &cm) < 0, "K with a partial slack is malformed");
    frame_reader_free(&r);

    start(&m, 'S');
    u8(&m, 15);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_control(&f, &cm) == 0 && cm.signo == 15, "S decodes signo");
    frame_reader_free(&r);

    start(&m, 'Z');
    u16(&m, 132);
    u16(&m, 43);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_control(&f, &cm) == 0 && cm.cols == 132 && cm.rows == 43,
          "Z decodes cols and rows");
    frame_reader_free(&r);

    start(&m, 'E');
    u8(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_control(&f, &cm) < 0, "E with a payload is malformed");
    f.type = FRAME_INPUT;
    CHECK(frame_parse_control(&f, &cm) < 0, "I is not a control frame");
    frame_reader_free(&r);

    start(&m, 'I');
    raw(&m, "in\0put", 6);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'I' && f.len == 6 && memcmp(f.payload, "in\0put", 6) == 0,
          "I carries raw bytes");
    frame_reader_free(&r);

    start(&m, 'E');
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'E' && f.len == 0, "E has an empty payload");
    frame_reader_free(&r);

    struct exec_msg x;
    start(&m, 'X');
    u8(&m, 3);
    u16(&m, 100);
    u16(&m, 30);
    u32(&m, 2500);
    u64(&m, 1ull << 33);
    u16(&m, 3);
    cstr(&m, "python3");
    cstr(&m, "-c");
    cstr(&m, "");
    u16(&m, 2);
    cstr(&m, "PATH=/usr/bin");
    cstr(&m, "A=b=c");
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) == 0, "X decodes");
    CHECK(x.opts.tty && x.opts.stdin_closed && !x.opts.notebook && x.opts.cols == 100 && x.opts.rows == 30 &&
              x.opts.timeout_ms == 2500 && x.opts.output_limit == 1ull << 33 && x.opts.limits.cpu_ms == 0 &&
              x.opts.limits.file_size == 0 && x.opts.limits.stack == 0 && x.opts.limits.processes == 0,
          "X decodes flags, size, timeout and output limit; without the limits section, no limits");
    CHECK(strcmp(x.argv[0], "python3") == 0 && strcmp(x.argv[1], "-c") == 0 && strcmp(x.argv[2], "") == 0 &&
              x.argv[3] == NULL,
          "X decodes argv, NULL-terminated");
    CHECK(strcmp(x.envp[0], "PATH=/usr/bin") == 0 && strcmp(x.envp[1], "A=b=c") == 0 && x.envp[2] == NULL,
          "X decodes envp, NULL-terminated");
    exec_msg_free(&x);
    frame_reader_free(&r);

    /* The same X cut short inside its last string, and again with a byte too many. */
    m.n -= 3;
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) < 0, "X with an unterminated string is malformed");
    frame_reader_free(&r);
    m.n += 3;
    u8(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) < 0, "X with trailing bytes is malformed");
    frame_reader_free(&r);
    m.n -= 1;
    u32(&m, 1500);
    u32(&m, 500);
    u64(&m, 1ull << 40);
    u64(&m, 8ull << 20);
    u32(&m, 60);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) == 0 && x.opts.limits.cpu_ms == 1500 &&
              x.opts.limits.cpu_extra_ms == 500 && x.opts.limits.file_size == 1ull << 40 &&
              x.opts.limits.stack == 8ull << 20 && x.opts.limits.processes == 60 && x.envp[2] == NULL,
          "X decodes its optional trailing limits section");
    exec_msg_free(&x);
    frame_reader_free(&r);
    m.n -= 1;
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) < 0, "X with a cut limits section is malformed");
    frame_reader_free(&r);

    start(&m, 'X');
    u8(&m, 4);
    u16(&m, 0);
    u16(&m, 0);
    u32(&m, 0);
    u64(&m, 0);
    u16(&m, 1);
    cstr(&m, "ipython");
    u16(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exec(&f, &x) == 0 && x.opts.notebook && !x.opts.tty &&
              !x.opts.stdin_closed && strcmp(x.argv[0], "ipython") == 0 && x.envp[0] == NULL,
          "X flag bit2 alone is the notebook channel");
    exec_msg_free(&x);
    frame_reader_free(&r);

    start(&m, 'C');
    raw(&m, "{\"id\":1}\n", 9);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == FRAME_CHANNEL_IN && f.len == 9 &&
              memcmp(f.payload, "{\"id\":1}\n", 9) == 0,
          "C carries raw bytes");
    frame_reader_free(&r);
}

static void test_launcher_frames(void)
{
    struct lbuf out;
    const unsigned char *p;

    lbuf_init(&out);
    struct hello_msg plain = {.last_seq = 0, .has_nonce = false};
    frame_put_ready(&out, 9, &plain);
    p = lbuf_head(&out);
    CHECK(lbuf_used(&out) == 13 && get(&p, 4) == 9 && get(&p, 1) == 'Y' && get(&p, 8) == 9, "Y encodes next_seq");
    lbuf_free(&out);

    struct hello_msg nonce = {.last_seq = 0, .has_nonce = true, .nonce = 0x1122334455667788ull};
    frame_put_ready(&out, 10, &nonce);
    p = lbuf_head(&out);
    CHECK(lbuf_used(&out) == 21 && get(&p, 4) == 17 && get(&p, 1) == 'Y' && get(&p, 8) == 10 &&
              get(&p, 8) == 0x1122334455667788ull,
          "Y echoes the nonce of H");
    lbuf_free(&out);

    frame_put_data(&out, 0x100000001ull, STREAM_STDERR, "oops\n", 5);
    p = lbuf_head(&out);
    CHECK(lbuf_used(&out) == 4 + 1 + 8 + 1 + 5 && get(&p, 4) == 15 && get(&p, 1) == 'D' && get(&p, 8) == 0x100000001ull &&
              get(&p, 1) == 2 && memcmp(p, "oops\n", 5) == 0,
          "D encodes seq, stream and bytes");
    lbuf_free(&out);

    struct exit_msg x = {.seq = 12, .exit_code = -1, .signo = 9, .reason = EXIT_REASON_TIMEOUT,
                         .wall_ms = 1001, .cpu_ms = 998, .maxrss_kb = 1ull << 40, .oom_kills = 2};
    frame_put_exit(&out, &x);
    p = lbuf_head(&out);
    CHECK(lbuf_used(&out) == 4 + 35 && get(&p, 4) == 35 && get(&p, 1) == 'x' && get(&p, 8) == 12 &&
              get(&p, 4) == 0xffffffffu && get(&p, 1) == 9 && get(&p, 1) == 1 && get(&p, 4) == 1001 &&
              get(&p, 4) == 998 && get(&p, 8) == 1ull << 40 && get(&p, 4) == 2,
          "x encodes every field, exit_code -1 as 0xffffffff");
    lbuf_free(&out);

    frame_put_reply(&out, &(struct reply_msg){.rid = 0xfedcba98, .status = REPLY_IS_DIR, .data = (const unsigned char *)"", .len = 0});
    frame_put_reply(&out, &(struct reply_msg){.rid = 3, .status = REPLY_OK, .data = (const unsigned char *)"abc", .len = 3});
    p = lbuf_head(&out);
    CHECK(get(&p, 4) == 6 && get(&p, 1) == 'R' && get(&p, 4) == 0xfedcba98 && get(&p, 1) == 3, "R encodes rid and status");
    CHECK(get(&p, 4) == 9 && get(&p, 1) == 'R' && get(&p, 4) == 3 && get(&p, 1) == 0 && memcmp(p, "abc", 3) == 0,
          "R encodes its data");
    lbuf_free(&out);

    frame_put_channel_out(&out, 0x0a0b0c0d0e0f1011ull, "{}\n", 3);
    p = lbuf_head(&out);
    CHECK(lbuf_used(&out) == 4 + 1 + 8 + 3 && get(&p, 4) == 12 && get(&p, 1) == 'c' &&
              get(&p, 8) == 0x0a0b0c0d0e0f1011ull && memcmp(p, "{}\n", 3) == 0,
          "c encodes seq and bytes");
    lbuf_free(&out);
}

/* Whether `out` holds exactly the frame in `m`; empties out. */
static bool encodes_as(struct lbuf *out, const struct msg *m)
{
    bool same = lbuf_used(out) == m->n && memcmp(lbuf_head(out), m->b, m->n) == 0;
    lbuf_clear(out);
    return same;
}

/* The server's encoders against frames built by hand. */
static void test_backend_encoders(void)
{
    struct lbuf out;
    struct msg m;
    lbuf_init(&out);

    struct hello_msg hello = {.last_seq = 0x0102030405060708ull};
    frame_put_hello(&out, &hello);
    start(&m, 'H');
    u64(&m, 0x0102030405060708ull);
    finish(&m);
    CHECK(encodes_as(&out, &m), "H encodes last_seq");

    hello.has_nonce = true;
    hello.nonce = 0xfffefdfcfbfaf9f8ull;
    frame_put_hello(&out, &hello);
    u64(&m, 0xfffefdfcfbfaf9f8ull);
    finish(&m);
    CHECK(encodes_as(&out, &m), "H encodes its nonce");

    frame_put_ack(&out, 1ull << 63);
    start(&m, 'A');
    u64(&m, 1ull << 63);
    finish(&m);
    CHECK(encodes_as(&out, &m), "A encodes seq");

    struct file_msg fm = {.rid = 0x11223344, .path = "dir/a.txt", .path_len = 9,
                          .data = (const unsigned char *)"DA\0TA", .data_len = 5};
    CHECK(frame_put_file(&out, &fm) == 0, "F is encoded");
    start(&m, 'F');
    u16(&m, 9);
    raw(&m, "dir/a.txt", 9);
    raw(&m, "DA\0TA", 5);
    finish(&m);
    CHECK(encodes_as(&out, &m), "F encodes name and binary data, without the rid");

    CHECK(frame_put_put(&out, &fm) == 0, "P is encoded");
    start(&m, 'P');
    u32(&m, 0x11223344);
    u16(&m, 9);
    raw(&m, "dir/a.txt", 9);
    raw(&m, "DA\0TA", 5);
    finish(&m);
    CHECK(encodes_as(&out, &m), "P encodes rid, path and data");

    CHECK(frame_put_get(&out, &fm) == 0, "G is encoded");
    start(&m, 'G');
    u32(&m, 0x11223344);
    raw(&m, "dir/a.txt", 9);
    finish(&m);
    CHECK(encodes_as(&out, &m), "G encodes rid and path, without data");

    const char *argv[] = {"python3", "-c", ""}, *envp[] = {"PATH=/usr/bin", "A=b=c"};
    struct exec_opts o = {.stdin_closed = true, .notebook = true, .cols = 100, .rows = 30, .timeout_ms = 2500,
                          .output_limit = 1ull << 33,
                          .limits = {.cpu_ms = 2000, .cpu_extra_ms = 1000, .file_size = 1024, .stack = 65536,
                                     .processes = 7}};
    CHECK(frame_put_exec(&out, &o, argv, 3, envp, 2) == 0, "X is encoded");
    start(&m, 'X');
    u8(&m, 6);
    u16(&m, 100);
    u16(&m, 30);
    u32(&m, 2500);
    u64(&m, 1ull << 33);
    u16(&m, 3);
    cstr(&m, "python3");
    cstr(&m, "-c");
    cstr(&m, "");
    u16(&m, 2);
    cstr(&m, "PATH=/usr/bin");
    cstr(&m, "A=b=c");
    u32(&m, 2000);
    u32(&m, 1000);
    u64(&m, 1024);
    u64(&m, 65536);
    u32(&m, 7);
    finish(&m);
    CHECK(encodes_as(&out, &m),
          "X encodes flags (bit1 stdin closed, bit2 notebook), size, limits, argv, envp and the limits section");

    o = (struct exec_opts){.tty = true};
    CHECK(frame_put_exec(&out, &o, argv, 1, envp, 0) == 0, "X without env is encoded");
    start(&m, 'X');
    u8(&m, 1);
    u16(&m, 0);
    u16(&m, 0);
    u32(&m, 0);
    u64(&m, 0);
    u16(&m, 1);
    cstr(&m, "python3");
    u16(&m, 0);
    finish(&m);
    CHECK(encodes_as(&out, &m), "X encodes bit0 tty and an empty envp; without limits, no limits section");

    CHECK(frame_put_input(&out, "in\0put", 6) == 0, "I is encoded");
    start(&m, 'I');
    raw(&m, "in\0put", 6);
    finish(&m);
    CHECK(encodes_as(&out, &m), "I encodes raw bytes");

    CHECK(frame_put_channel_in(&out, "{}\n", 3) == 0, "C is encoded");
    start(&m, 'C');
    raw(&m, "{}\n", 3);
    finish(&m);
    CHECK(encodes_as(&out, &m), "C encodes raw bytes");

    frame_put_eof(&out);
    start(&m, 'E');
    finish(&m);
    CHECK(encodes_as(&out, &m), "E is a bare type byte");

    frame_put_signal(&out, 9);
    start(&m, 'S');
    u8(&m, 9);
    finish(&m);
    CHECK(encodes_as(&out, &m), "S encodes signo");

    frame_put_resize(&out, 132, 43);
    start(&m, 'Z');
    u16(&m, 132);
    u16(&m, 43);
    finish(&m);
    CHECK(encodes_as(&out, &m), "Z encodes cols and rows");

    frame_put_list(&out, 77);
    start(&m, 'L');
    u32(&m, 77);
    finish(&m);
    CHECK(encodes_as(&out, &m), "L encodes rid");

    {
        /* P: exactly frame_put_room() data bytes fit, one more does not */
        static unsigned char big[FRAME_MAX_LEN];
        struct file_msg pm = {.rid = 1, .path = "a/b.txt", .path_len = 7, .data = big};
        pm.data_len = frame_put_room(pm.path_len);
        CHECK(frame_put_put(&out, &pm) == 0 && lbuf_used(&out) == 4 + FRAME_MAX_LEN, "P of frame_put_room bytes fits");
        lbuf_clear(&out);
        pm.data_len++;
        CHECK(frame_put_put(&out, &pm) < 0 && lbuf_used(&out) == 0, "P of one byte more is refused");
    }

    frame_put_reset(&out, 0xfedcba98, 32u << 20);
    start(&m, 'K');
    u32(&m, 0xfedcba98);
    u64(&m, 32u << 20);
    finish(&m);
    CHECK(encodes_as(&out, &m), "K encodes rid and memory slack");
    lbuf_free(&out);
}

/* The server's decoders against frames built by hand. */
static void test_launcher_decoders(void)
{
    struct frame_reader r;
    struct frame f;
    struct msg m;

    struct ready_msg y;
    start(&m, 'Y');
    u64(&m, 9);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_ready(&f, &y) == 0 && y.next_seq == 9 && !y.has_nonce,
          "Y decodes next_seq");
    frame_reader_free(&r);
    u64(&m, 0x1122334455667788ull);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_ready(&f, &y) == 0 && y.next_seq == 9 && y.has_nonce &&
              y.nonce == 0x1122334455667788ull,
          "Y decodes the nonce");
    frame_reader_free(&r);
    m.n -= 4;
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_ready(&f, &y) < 0, "Y with half a nonce is malformed");
    frame_reader_free(&r);

    struct data_msg d;
    start(&m, 'D');
    u64(&m, 0x100000001ull);
    u8(&m, 2);
    raw(&m, "oo\0ps", 5);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_data(&f, &d) == 0 && d.seq == 0x100000001ull && d.stream == 2 &&
              d.len == 5 && memcmp(d.data, "oo\0ps", 5) == 0,
          "D decodes seq, stream and bytes");
    frame_reader_free(&r);
    m.b[4 + 1 + 8] = 3;
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_data(&f, &d) < 0, "D on stream 3 is malformed");
    frame_reader_free(&r);
    start(&m, 'D');
    u64(&m, 1);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_data(&f, &d) < 0, "D without a stream is malformed");
    frame_reader_free(&r);

    struct exit_msg x;
    start(&m, 'x');
    u64(&m, 12);
    u32(&m, 0xffffffffu);
    u8(&m, 9);
    u8(&m, 1);
    u32(&m, 1001);
    u32(&m, 998);
    u64(&m, 1ull << 40);
    u32(&m, 2);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exit(&f, &x) == 0 && x.seq == 12 && x.exit_code == -1 &&
              x.signo == 9 && x.reason == EXIT_REASON_TIMEOUT && x.wall_ms == 1001 && x.cpu_ms == 998 &&
              x.maxrss_kb == 1ull << 40 && x.oom_kills == 2,
          "x decodes every field, 0xffffffff as exit_code -1");
    frame_reader_free(&r);
    u8(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exit(&f, &x) < 0, "x with trailing bytes is malformed");
    frame_reader_free(&r);
    m.n -= 2;
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_exit(&f, &x) < 0, "a short x is malformed");
    frame_reader_free(&r);

    struct reply_msg rm;
    start(&m, 'R');
    u32(&m, 0xfedcba98);
    u8(&m, REPLY_IS_DIR);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_reply(&f, &rm) == 0 && rm.rid == 0xfedcba98 &&
              rm.status == REPLY_IS_DIR && rm.len == 0,
          "R decodes rid and status");
    frame_reader_free(&r);
    raw(&m, "abc", 3);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_reply(&f, &rm) == 0 && rm.len == 3 && memcmp(rm.data, "abc", 3) == 0,
          "R decodes its data");
    frame_reader_free(&r);
    start(&m, 'R');
    u32(&m, 1);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_reply(&f, &rm) < 0, "R without a status is malformed");
    frame_reader_free(&r);

    start(&m, 'c');
    u64(&m, 7);
    raw(&m, "{}\n", 3);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_channel_out(&f, &d) == 0 && d.seq == 7 && d.len == 3 &&
              memcmp(d.data, "{}\n", 3) == 0,
          "c decodes seq and bytes");
    frame_reader_free(&r);
    start(&m, 'c');
    u32(&m, 7);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_channel_out(&f, &d) < 0, "c with a short seq is malformed");
    frame_reader_free(&r);
}

/* Reads back the one frame `out` holds (and empties out): true when it is exactly one frame. The
 * frame stays valid until r is freed. */
static bool reread(struct frame_reader *r, struct lbuf *out, struct frame *f)
{
    struct frame extra;
    frame_reader_init(r);
    frame_reader_feed(r, lbuf_head(out), lbuf_used(out));
    lbuf_clear(out);
    return frame_reader_next(r, f) == 1 && frame_reader_next(r, &extra) == 0;
}

static bool same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Each encoder of one side against the matching decoder of the other. */
static void test_round_trips(void)
{
    struct frame_reader r;
    struct frame f;
    struct lbuf out;
    lbuf_init(&out);

    struct hello_msg h = {.last_seq = 5, .has_nonce = true, .nonce = 0x8000000000000001ull}, h2;
    frame_put_hello(&out, &h);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_HELLO && frame_parse_hello(&f, &h2) == 0 && h2.last_seq == 5 &&
              h2.has_nonce && h2.nonce == h.nonce,
          "H round-trips with its nonce");
    frame_reader_free(&r);
    h.has_nonce = false;
    frame_put_hello(&out, &h);
    CHECK(reread(&r, &out, &f) && frame_parse_hello(&f, &h2) == 0 && h2.last_seq == 5 && !h2.has_nonce,
          "H round-trips without one");
    frame_reader_free(&r);

    struct control_msg c2;
    frame_put_ack(&out, UINT64_MAX);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_ACK && frame_parse_control(&f, &c2) == 0 && c2.seq == UINT64_MAX,
          "A round-trips");
    frame_reader_free(&r);

    struct file_msg fm = {.rid = 99, .path = "a/b.bin", .path_len = 7, .data = (const unsigned char *)"\0\1\2",
                          .data_len = 3},
                    fm2;
    CHECK(frame_put_file(&out, &fm) == 0 && reread(&r, &out, &f) && f.type == FRAME_FILE &&
              frame_parse_file(&f, &fm2) == 0 && fm2.rid == 0 && same_bytes(fm2.path, fm2.path_len, "a/b.bin", 7) &&
              same_bytes(fm2.data, fm2.data_len, "\0\1\2", 3),
          "F round-trips");
    frame_reader_free(&r);
    CHECK(frame_put_put(&out, &fm) == 0 && reread(&r, &out, &f) && f.type == FRAME_PUT &&
              frame_parse_put(&f, &fm2) == 0 && fm2.rid == 99 && same_bytes(fm2.path, fm2.path_len, "a/b.bin", 7) &&
              same_bytes(fm2.data, fm2.data_len, "\0\1\2", 3),
          "P round-trips");
    frame_reader_free(&r);
    CHECK(frame_put_get(&out, &fm) == 0 && reread(&r, &out, &f) && f.type == FRAME_GET &&
              frame_parse_get(&f, &fm2) == 0 && fm2.rid == 99 && same_bytes(fm2.path, fm2.path_len, "a/b.bin", 7) &&
              fm2.data_len == 0,
          "G round-trips");
    frame_reader_free(&r);

    /* Every combination of the three flags, so that each bit is seen to travel alone. */
    const char *argv[] = {"sh", "-c", "echo \"$X\"", ""}, *envp[] = {"X=1", "PATH=/bin"};
    int bad_exec = 0;
    for (int flags = 0; flags < 8; flags++) {
        struct exec_opts o = {.tty = flags & 1, .stdin_closed = flags & 2, .notebook = flags & 4,
                              .cols = (uint16_t)(80 + flags), .rows = 24, .timeout_ms = 1000u * (uint32_t)flags,
                              .output_limit = UINT64_MAX - (uint64_t)flags,
                              .limits = {.cpu_ms = UINT32_MAX - (uint32_t)flags, .cpu_extra_ms = (uint32_t)flags,
                                         .file_size = UINT64_MAX - 1, .stack = (uint64_t)flags << 33,
                                         .processes = 1u << 31}};
        struct exec_msg x;
        if (frame_put_exec(&out, &o, argv, 4, envp, (size_t)flags % 3) < 0 || !reread(&r, &out, &f) ||
            f.type != FRAME_EXEC || frame_parse_exec(&f, &x) < 0) {
            bad_exec++;
            frame_reader_free(&r);
            continue;
        }
        bool same = x.opts.tty == o.tty && x.opts.stdin_closed == o.stdin_closed && x.opts.notebook == o.notebook &&
                    x.opts.cols == o.cols && x.opts.rows == o.rows && x.opts.timeout_ms == o.timeout_ms &&
                    x.opts.output_limit == o.output_limit &&
                    x.opts.limits.cpu_ms == o.limits.cpu_ms && x.opts.limits.cpu_extra_ms == o.limits.cpu_extra_ms &&
                    x.opts.limits.file_size == o.limits.file_size && x.opts.limits.stack == o.limits.stack &&
                    x.opts.limits.processes == o.limits.processes;
        for (size_t i = 0; i < 4; i++)
            same = same && x.argv[i] && strcmp(x.argv[i], argv[i]) == 0;
        same = same && x.argv[4] == NULL;
        for (size_t i = 0; i < (size_t)flags % 3; i++)
            same = same && x.envp[i] && strcmp(x.envp[i], envp[i]) == 0;
        same = same && x.envp[flags % 3] == NULL;
        bad_exec += !same;
        exec_msg_free(&x);
        frame_reader_free(&r);
    }
    CHECK(bad_exec == 0, "X round-trips with each of the 8 flag combinations, argv, envp and limits");

    CHECK(frame_put_input(&out, "\0in", 3) == 0 && reread(&r, &out, &f) && f.type == FRAME_INPUT &&
              same_bytes(f.payload, f.len, "\0in", 3),
          "I round-trips");
    frame_reader_free(&r);
    CHECK(frame_put_channel_in(&out, "{\"a\":1}\n", 8) == 0 && reread(&r, &out, &f) && f.type == FRAME_CHANNEL_IN &&
              same_bytes(f.payload, f.len, "{\"a\":1}\n", 8),
          "C round-trips");
    frame_reader_free(&r);
    CHECK(frame_put_input(&out, "", 0) == 0 && reread(&r, &out, &f) && f.type == FRAME_INPUT && f.len == 0,
          "an empty I round-trips");
    frame_reader_free(&r);

    frame_put_eof(&out);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_EOF && f.len == 0, "E round-trips");
    frame_reader_free(&r);

    frame_put_signal(&out, 255);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_SIGNAL && frame_parse_control(&f, &c2) == 0 && c2.signo == 255,
          "S round-trips");
    frame_reader_free(&r);

    frame_put_resize(&out, 65535, 1);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_RESIZE && frame_parse_control(&f, &c2) == 0 &&
              c2.cols == 65535 && c2.rows == 1,
          "Z round-trips");
    frame_reader_free(&r);

    frame_put_list(&out, 0xffffffffu);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_LIST && frame_parse_control(&f, &c2) == 0 && c2.rid == 0xffffffffu,
          "L round-trips");
    frame_reader_free(&r);
    frame_put_reset(&out, 1, 5);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_RESET && frame_parse_control(&f, &c2) == 0 && c2.rid == 1 &&
              c2.memory_slack == 5,
          "K round-trips");
    frame_reader_free(&r);

    struct ready_msg y;
    struct hello_msg with_nonce = {.has_nonce = true, .nonce = 42};
    frame_put_ready(&out, 1ull << 40, &with_nonce);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_READY && frame_parse_ready(&f, &y) == 0 && y.next_seq == 1ull << 40 &&
              y.has_nonce && y.nonce == 42,
          "Y round-trips, echoing the nonce");
    frame_reader_free(&r);
    frame_put_ready(&out, 1, &h);
    CHECK(reread(&r, &out, &f) && frame_parse_ready(&f, &y) == 0 && y.next_seq == 1 && !y.has_nonce,
          "Y round-trips without one");
    frame_reader_free(&r);

    struct data_msg d;
    frame_put_data(&out, 3, STREAM_STDOUT, "out\n", 4);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_DATA && frame_parse_data(&f, &d) == 0 && d.seq == 3 &&
              d.stream == STREAM_STDOUT && same_bytes(d.data, d.len, "out\n", 4),
          "D round-trips");
    frame_reader_free(&r);

    struct exit_msg x = {.seq = UINT64_MAX, .exit_code = INT32_MIN, .signo = 31, .reason = EXIT_REASON_EXEC_FAILED,
                         .wall_ms = UINT32_MAX, .cpu_ms = 1, .maxrss_kb = 123456789012ull, .oom_kills = 3},
                    x2;
    frame_put_exit(&out, &x);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_EXIT && frame_parse_exit(&f, &x2) == 0 && x2.seq == x.seq &&
              x2.exit_code == x.exit_code && x2.signo == x.signo && x2.reason == x.reason && x2.wall_ms == x.wall_ms &&
              x2.cpu_ms == x.cpu_ms && x2.maxrss_kb == x.maxrss_kb && x2.oom_kills == x.oom_kills,
          "x round-trips every field");
    frame_reader_free(&r);

    struct reply_msg rm;
    frame_put_reply(&out, &(struct reply_msg){.rid = 8, .status = REPLY_ERROR, .data = (const unsigned char *)"no", .len = 2});
    CHECK(reread(&r, &out, &f) && f.type == FRAME_REPLY && frame_parse_reply(&f, &rm) == 0 && rm.rid == 8 &&
              rm.status == REPLY_ERROR && same_bytes(rm.data, rm.len, "no", 2),
          "R round-trips");
    frame_reader_free(&r);

    frame_put_channel_out(&out, 4, "{\"b\":2}\n", 8);
    CHECK(reread(&r, &out, &f) && f.type == FRAME_CHANNEL_OUT && frame_parse_channel_out(&f, &d) == 0 && d.seq == 4 &&
              same_bytes(d.data, d.len, "{\"b\":2}\n", 8),
          "c round-trips");
    frame_reader_free(&r);
    lbuf_free(&out);
}

/* The server's encoders refuse what the protocol cannot carry, and leave nothing behind. */
static void test_encoder_limits(void)
{
    struct lbuf out;
    lbuf_init(&out);
    size_t big = FRAME_MAX_LEN;
    char *data = calloc(1, big + 1);
    memset(data, 'a', big);

    CHECK(frame_put_input(&out, data, big - 1) == 0 && lbuf_used(&out) == 4 + big,
          "an I of the largest size is encoded");
    lbuf_clear(&out);
    CHECK(frame_put_input(&out, data, big) < 0 && lbuf_used(&out) == 0, "an I one byte larger is refused");
    CHECK(frame_put_channel_in(&out, data, big) < 0 && lbuf_used(&out) == 0, "so is a C");

    struct file_msg fm = {.path = data, .path_len = 65536};
    CHECK(frame_put_file(&out, &fm) < 0 && frame_put_put(&out, &fm) < 0 && lbuf_used(&out) == 0,
          "F and P refuse a name longer than a u16");
    fm = (struct file_msg){.path = "x", .path_len = 1, .data = (const unsigned char *)data, .data_len = big - 3};
    CHECK(frame_put_file(&out, &fm) < 0 && lbuf_used(&out) == 0, "F refuses data that overflows the frame");
    fm.data_len = big - 4;
    CHECK(frame_put_file(&out, &fm) == 0 && lbuf_used(&out) == 4 + big, "F of exactly the largest size is encoded");
    lbuf_clear(&out);
    fm.data_len = SIZE_MAX;
    CHECK(frame_put_put(&out, &fm) < 0 && lbuf_used(&out) == 0, "an absurd length cannot wrap the size check");
    fm = (struct file_msg){.path = data, .path_len = big};
    CHECK(frame_put_get(&out, &fm) < 0 && lbuf_used(&out) == 0, "G refuses a path that overflows the frame");

    static const char *many[65536];
    for (size_t i = 0; i < 65536; i++)
        many[i] = "";
    struct exec_opts o = {.tty = false};
    CHECK(frame_put_exec(&out, &o, many, 65535, many, 65535) == 0, "X with 65535 args and env strings is encoded");
    lbuf_clear(&out);
    CHECK(frame_put_exec(&out, &o, many, 65536, many, 0) < 0 && frame_put_exec(&out, &o, many, 1, many, 65536) < 0 &&
              lbuf_used(&out) == 0,
          "X refuses more than 65535 args or env strings");
    const char *huge[] = {data};
    CHECK(frame_put_exec(&out, &o, huge, 1, many, 0) < 0 && lbuf_used(&out) == 0,
          "X refuses strings that overflow the frame");
    free(data);
    lbuf_free(&out);
}

/* Takes every frame r has ready and checks it against the next frame of `all`, at *pos. Returns
 * how many were wrong. */
static int take_frames(struct frame_reader *r, const struct msg *all, size_t *pos, int *seen)
{
    struct frame f;
    int bad = 0, rc;
    while ((rc = frame_reader_next(r, &f)) == 1) {
        if (*pos + 5 > all->n)
            return bad + 1;
        const unsigned char *p = all->b + *pos;
        size_t len = ((size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) - 1;
        bad += f.type != p[4] || !same_bytes(f.payload, f.len, p + 5, len);
        *pos += 5 + len;
        (*seen)++;
    }
    return bad + (rc < 0);
}

/* A stream of `count` frames, fed in two pieces split at every byte and then one byte at a time,
 * must always come out as the same frames. */
static void check_splits(const char *what, const struct msg *all, int count)
{
    int bad_splits = 0;
    for (size_t split = 0; split <= all->n; split++) {
        struct frame_reader r;
        size_t pos = 0;
        int seen = 0;
        frame_reader_init(&r);
        frame_reader_feed(&r, all->b, split);
        bad_splits += take_frames(&r, all, &pos, &seen);
        frame_reader_feed(&r, all->b + split, all->n - split);
        bad_splits += take_frames(&r, all, &pos, &seen);
        bad_splits += seen != count || pos != all->n;
        frame_reader_free(&r);
    }
    CHECK(bad_splits == 0, "%d %s split at each of %zu byte boundaries come out whole", count, what, all->n + 1);

    struct frame_reader r;
    size_t pos = 0;
    int seen = 0, bad = 0;
    frame_reader_init(&r);
    for (size_t i = 0; i < all->n; i++) {
        frame_reader_feed(&r, all->b + i, 1);
        bad += take_frames(&r, all, &pos, &seen);
    }
    CHECK(bad == 0 && seen == count, "%d %s fed one byte at a time come out in order", count, what);
    frame_reader_free(&r);
}

/* Appends what `out` holds to `all`; empties out. */
static void move_to(struct msg *all, struct lbuf *out)
{
    raw(all, lbuf_head(out), lbuf_used(out));
    lbuf_clear(out);
}

static void test_split_frames(void)
{
    struct msg all = {.n = 0}, one;
    const char types[] = "HIXEA";
    for (int i = 0; types[i]; i++) {
        start(&one, types[i]);
        for (int k = 0; k < i * 3; k++)
            u8(&one, (unsigned)(i * 16 + k));
        finish(&one);
        raw(&all, one.b, one.n);
    }
    check_splits("hand-made frames", &all, 5);

    /* Every type of both directions, from the codec's encoders, the notebook frames among them. */
    struct lbuf out;
    lbuf_init(&out);
    all.n = 0;
    struct hello_msg h = {.last_seq = 1, .has_nonce = true, .nonce = 2};
    frame_put_hello(&out, &h);
    frame_put_ack(&out, 3);
    struct file_msg fm = {.rid = 4, .path = "f.py", .path_len = 4, .data = (const unsigned char *)"print(1)\n",
                          .data_len = 9};
    frame_put_file(&out, &fm);
    const char *argv[] = {"python3", "/opt/notebook.py"}, *envp[] = {"HOME=/work"};
    struct exec_opts o = {.notebook = true, .timeout_ms = 60000, .output_limit = 1 << 20};
    frame_put_exec(&out, &o, argv, 2, envp, 1);
    move_to(&all, &out);
    frame_put_input(&out, "1+1\n", 4);
    frame_put_channel_in(&out, "{\"id\":\"c1\",\"code\":\"x\"}\n", 26);
    frame_put_eof(&out);
    frame_put_signal(&out, 2);
    frame_put_resize(&out, 120, 40);
    frame_put_get(&out, &fm);
    frame_put_put(&out, &fm);
    frame_put_list(&out, 5);
    frame_put_reset(&out, 6, 0);
    move_to(&all, &out);
    frame_put_ready(&out, 7, &h);
    frame_put_data(&out, 7, STREAM_STDOUT, "2\n", 2);
    frame_put_channel_out(&out, 8, "{\"id\":\"c1\",\"state\":\"idle\"}\n", 29);
    frame_put_reply(&out, &(struct reply_msg){.rid = 4, .status = REPLY_OK, .data = (const unsigned char *)"ok", .len = 2});
    struct exit_msg x = {.seq = 9, .exit_code = 0};
    frame_put_exit(&out, &x);
    move_to(&all, &out);
    lbuf_free(&out);
    check_splits("encoded frames of every type", &all, 18);
}

static void test_frame_lengths(void)
{
    struct frame_reader r;
    struct frame f;
    unsigned char hdr[5];

    frame_reader_init(&r);
    put_be32(hdr, FRAME_MAX_LEN + 1);
    frame_reader_feed(&r, hdr, 4);
    CHECK(frame_reader_next(&r, &f) == -1, "a length above 4 MiB + 64 is refused from its header alone");
    frame_reader_free(&r);

    frame_reader_init(&r);
    put_be32(hdr, 0xffffffffu);
    frame_reader_feed(&r, hdr, 4);
    CHECK(frame_reader_next(&r, &f) == -1, "a length of 4 GiB is refused");
    frame_reader_free(&r);

    frame_reader_init(&r);
    put_be32(hdr, 0);
    frame_reader_feed(&r, hdr, 4);
    CHECK(frame_reader_ready(&r) && frame_reader_next(&r, &f) == -1, "a length of 0 (no type byte) is refused");
    frame_reader_free(&r);

    /* The largest legal frame is accepted, and only once all of it has arrived. */
    size_t big = FRAME_MAX_LEN;
    unsigned char *body = calloc(1, big);
    body[0] = 'I';
    frame_reader_init(&r);
    put_be32(hdr, (uint32_t)big);
    frame_reader_feed(&r, hdr, 4);
    frame_reader_feed(&r, body, big - 1);
    bool ready_early = frame_reader_ready(&r);
    int early = frame_reader_next(&r, &f);
    frame_reader_feed(&r, body + big - 1, 1);
    bool ready = frame_reader_ready(&r);
    CHECK(!ready_early && early == 0 && ready && frame_reader_next(&r, &f) == 1 && f.type == 'I' && f.len == big - 1,
          "a frame of exactly 4 MiB + 64 is accepted (and ready) only when complete");
    CHECK(!frame_reader_ready(&r), "nothing is ready once it has been taken");
    frame_reader_free(&r);
    free(body);
}

static bool valid(const char *s) { return path_is_valid(s, strlen(s)); }

static void test_path_rules(void)
{
    CHECK(valid("main.py"), "a plain name is valid");
    CHECK(valid("src/pkg/mod_1-2.rs"), "nested names of letters, digits, . _ - are valid");
    CHECK(valid(".hidden") && valid("..x") && valid("x..") && valid("..."), "names with dots that are not . or .. are valid");
    CHECK(!valid(""), "the empty path is refused");
    CHECK(!valid(".."), ".. is refused");
    CHECK(!valid("a/../b") && !valid("a/.."), ".. inside a path is refused");
    CHECK(!valid(".") && !valid("./a") && !valid("a/./b"), ". is refused");
    CHECK(!valid("/etc/passwd"), "an absolute path (empty first component) is refused");
    CHECK(!valid("a//b") && !valid("a/"), "empty components are refused");
    CHECK(!valid("a b") && !valid("a\\b") && !valid("caf\xc3\xa9") && !valid("a:b") && !valid("a*"),
          "space, backslash, non-ASCII, : and * are refused");
    CHECK(!path_is_valid("a\0b", 3), "a NUL inside the path is refused");

    char name[300];
    memset(name, 'n', sizeof name);
    CHECK(path_is_valid(name, 255), "a 255-byte component is valid");
    CHECK(!path_is_valid(name, 256), "a 256-byte component is refused");

    char path[1100];
    for (size_t i = 0; i < sizeof path; i++)
        path[i] = i % 100 == 99 ? '/' : 'p';
    CHECK(path_is_valid(path, 1024), "a 1024-byte path is valid");
    CHECK(!path_is_valid(path, 1025), "a 1025-byte path is refused");
}

/* The walk on a real directory: symlinks on the way are refused, never followed. */
static void test_path_walk(void)
{
    char root[] = "/tmp/test_launcher_frame.XXXXXX";
    if (!mkdtemp(root)) {
        CHECK(false, "mkdtemp: %s", strerror(errno));
        return;
    }
    int root_fd = open(root, O_RDONLY | O_DIRECTORY);
    const char *leaf;
    int fd;

    fd = path_open_parent(root_fd, "new/deeper/file.txt", true, &leaf);
    struct stat st;
    CHECK(fd >= 0 && strcmp(leaf, "file.txt") == 0 && fstatat(root_fd, "new/deeper", &st, 0) == 0 && S_ISDIR(st.st_mode),
          "missing parents are created");
    if (fd >= 0)
        close(fd);

    fd = path_open_parent(root_fd, "absent/file.txt", false, &leaf);
    CHECK(fd < 0 && errno == ENOENT && path_status_of_errno(errno) == REPLY_NOT_FOUND,
          "a missing parent is not found when not creating");

    CHECK(symlinkat("/etc", root_fd, "link") == 0, "a symlink to /etc is planted");
    fd = path_open_parent(root_fd, "link/passwd", false, &leaf);
    CHECK(fd < 0 && errno == ELOOP && path_status_of_errno(errno) == REPLY_BAD_PATH, "a symlinked directory is refused");
    fd = path_open_parent(root_fd, "link/x/y", true, &leaf);
    CHECK(fd < 0 && errno == ELOOP, "a symlinked directory is refused when creating too");

    int file_fd = openat(root_fd, "plain", O_CREAT | O_WRONLY, 0644);
    close(file_fd);
    fd = path_open_parent(root_fd, "plain/x", true, &leaf);
    CHECK(fd < 0 && errno == ENOTDIR && path_status_of_errno(errno) == REPLY_NOT_FOUND,
          "a file used as a directory names nothing");

    fd = path_open_parent(root_fd, "top.txt", false, &leaf);
    CHECK(fd >= 0 && strcmp(leaf, "top.txt") == 0, "a one-component path opens the root itself");
    if (fd >= 0)
        close(fd);
    close(root_fd);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0, "the scratch directory is removed");
}

/* Reads back what the outbox wrote to the file `fd` since the last call: the seqs of its frames
 * (0 for Y, whose next_seq goes to *ready_next). Returns how many there were. */
static int collect_seqs(int fd, uint64_t *seqs, int max, uint64_t *ready_next)
{
    static unsigned char b[1 << 20];
    ssize_t n = pread(fd, b, sizeof b, 0);
    int count = 0;
    for (ssize_t off = 0; n > 0 && off + 13 <= n; count++) {
        const unsigned char *p = b + off;
        uint32_t len = (uint32_t)get(&p, 4);
        int type = (int)get(&p, 1);
        uint64_t seq = get(&p, 8);
        if (type == 'Y')
            *ready_next = seq;
        if (count < max)
            seqs[count] = type == 'Y' ? 0 : seq;
        off += 4 + len;
    }
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return -1;
    return count;
}

/* The launcher's outbox lives as long as the launcher and has no destructor: acknowledging
 * everything and dropping the queue leaves nothing for valgrind to report. */
static void drain(struct outbox *ob)
{
    outbox_ack(ob, UINT64_MAX);
    lbuf_free(&ob->queue);
}

static void test_outbox(void)
{
    FILE *sink = tmpfile();
    if (!sink) {
        CHECK(false, "tmpfile: %s", strerror(errno));
        return;
    }
    int fd = fileno(sink);
    struct outbox ob;
    uint64_t seqs[64], next = 0;
    outbox_init(&ob, fd);

    outbox_data(&ob, STREAM_STDOUT, "a", 1);
    outbox_data(&ob, STREAM_STDERR, "b", 1);
    struct exit_msg x = {.exit_code = 0};
    outbox_exit(&ob, &x);
    outbox_flush(&ob);
    int n = collect_seqs(fd, seqs, 64, &next);
    CHECK(n == 3 && seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3 && x.seq == 3, "data and exit frames are numbered from 1");

    outbox_busy(&ob);
    outbox_flush(&ob);
    n = collect_seqs(fd, seqs, 64, &next);
    CHECK(n == 1 && seqs[0] == 0, "a busy x carries seq 0");

    struct hello_msg hello = {.last_seq = 1};
    outbox_hello(&ob, &hello);
    outbox_flush(&ob);
    n = collect_seqs(fd, seqs, 64, &next);
    CHECK(n == 3 && seqs[0] == 0 && next == 4 && seqs[1] == 2 && seqs[2] == 3,
          "H(1) gets Y(next 4), then frames 2 and 3 again");

    outbox_ack(&ob, 2);
    hello.last_seq = 0;
    outbox_hello(&ob, &hello);
    outbox_flush(&ob);
    n = collect_seqs(fd, seqs, 64, &next);
    CHECK(n == 2 && seqs[1] == 3, "after A(2), H(0) resends only frame 3");

    /* With a 10-byte limit the keep budget is 64 KiB + 10: 40 frames of 2 KiB overflow it. */
    static char chunk[2048];
    outbox_set_output_limit(&ob, 10);
    for (int i = 0; i < 40; i++)
        outbox_data(&ob, STREAM_STDOUT, chunk, sizeof chunk);
    outbox_flush(&ob);
    collect_seqs(fd, seqs, 64, &next);
    outbox_hello(&ob, &hello);
    outbox_flush(&ob);
    n = collect_seqs(fd, seqs, 64, &next);
    CHECK(n > 1 && n < 40 && seqs[1] > 4 && seqs[n - 1] == 43 && next == 44,
          "past the cap the oldest kept frames are dropped: H(0) resends %d frames from seq %llu to %llu", n - 1,
          (unsigned long long)seqs[1], (unsigned long long)seqs[n - 1]);
    CHECK(ob.kept_bytes <= 64 * 1024 + 10, "what is kept stays within the output limit plus 64 KiB");
    drain(&ob);
    fclose(sink);
}

/* Moves what the outbox has queued through a non-blocking pipe into `got`, flushing and reading
 * in turns as the pipe fills. */
static void pump(struct outbox *ob, int read_fd, struct lbuf *got)
{
    static unsigned char b[65536];
    do {
        outbox_flush(ob);
        ssize_t n;
        while ((n = read(read_fd, b, sizeof b)) > 0)
            lbuf_append(got, b, (size_t)n);
    } while (outbox_pending(ob) > 0);
}

/* Checks that `got` holds D frames with seqs first.. in order, each of `sizes` bytes of 'a' + seq. */
static bool frames_intact(const struct lbuf *got, uint64_t first, const size_t *sizes, int count)
{
    const unsigned char *p = lbuf_head(got), *end = p + lbuf_used(got);
    for (int i = 0; i < count; i++) {
        if (end - p < 14)
            return false;
        const unsigned char *q = p;
        uint32_t len = (uint32_t)get(&q, 4);
        if (get(&q, 1) != 'D' || get(&q, 8) != first + (uint64_t)i || get(&q, 1) != 1 || len != 10 + sizes[i])
            return false;
        for (size_t k = 0; k < sizes[i]; k++)
            if (q[k] != 'a' + first + (uint64_t)i)
                return false;
        p += 4 + len;
    }
    return p == end;
}

/* The queue slides its unwritten bytes to the front when it needs room: frames appended then, and
 * the copies kept of them, must still be whole. */
static void test_outbox_partial_writes(void)
{
    int pipefd[2];
    if (pipe2(pipefd, O_NONBLOCK) < 0) {
        CHECK(false, "pipe: %s", strerror(errno));
        return;
    }
    struct outbox ob;
    struct lbuf got;
    static unsigned char data[200000];
    const size_t sizes[] = {40000, 40000, 150000};
    outbox_init(&ob, pipefd[1]);
    lbuf_init(&got);

    for (int i = 0; i < 3; i++) {
        memset(data, 'a' + 1 + i, sizes[i]);
        outbox_data(&ob, STREAM_STDOUT, data, sizes[i]);
        outbox_flush(&ob); /* the pipe takes 64 KiB: the second frame stays half written */
    }
    pump(&ob, pipefd[0], &got);
    CHECK(frames_intact(&got, 1, sizes, 3), "frames queued behind a partial write arrive whole");

    lbuf_clear(&got);
    struct hello_msg hello = {.last_seq = 0};
    outbox_hello(&ob, &hello);
    pump(&ob, pipefd[0], &got);
    lbuf_consume(&got, 13); /* Y */
    CHECK(frames_intact(&got, 1, sizes, 3), "and the kept copies resent after H are whole too");
    lbuf_free(&got);
    drain(&ob);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_buf(void)
{
    struct lbuf b;
    lbuf_init(&b);
    for (int i = 0; i < 512; i++)
        lbuf_put_u8(&b, (uint8_t)i);
    lbuf_consume(&b, 500);
    size_t cap = b.cap;
    lbuf_append(&b, "0123456789", 10); /* fits only once the 500 consumed bytes are slid out */
    const unsigned char *p = lbuf_head(&b);
    CHECK(cap == 512 && b.cap == cap && lbuf_used(&b) == 22 && p[0] == (500 & 0xff) && p[11] == (511 & 0xff) &&
              memcmp(p + 12, "0123456789", 10) == 0,
          "appending slides unconsumed bytes to the front before growing");
    lbuf_truncate(&b, 12);
    CHECK(lbuf_used(&b) == 12 && lbuf_head(&b)[11] == (511 & 0xff), "truncate drops what was appended last");
    lbuf_free(&b);
}

int main(void)
{
    test_buf();
    test_backend_frames();
    test_launcher_frames();
    test_backend_encoders();
    test_launcher_decoders();
    test_round_trips();
    test_encoder_limits();
    test_split_frames();
    test_frame_lengths();
    test_path_rules();
    test_path_walk();
    test_outbox();
    test_outbox_partial_writes();
    printf("1..%d\n", passed + failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
