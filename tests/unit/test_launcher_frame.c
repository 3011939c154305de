/* test_launcher_frame.c — unit test of the launcher's wire format (launcher/frame.c), its path
 * rules (launcher/paths.c) and its resend buffer (launcher/outbox.c). The frames the launcher
 * receives are built, and the frames it sends are read, by an independent little codec here, so a
 * mistake shared by both sides of frame.c cannot pass unnoticed. Prints TAP. */
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

    uint64_t seq;
    start(&m, 'A');
    u64(&m, 42);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'A' && frame_parse_u64(&f, &seq) == 0 && seq == 42,
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

    uint32_t rid;
    start(&m, 'L');
    u32(&m, 77);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && f.type == 'L' && frame_parse_rid(&f, &rid) == 0 && rid == 77, "L decodes rid");
    frame_reader_free(&r);

    start(&m, 'K');
    u32(&m, 78);
    u8(&m, 0);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_rid(&f, &rid) < 0, "K with trailing bytes is malformed");
    frame_reader_free(&r);

    uint8_t signo;
    start(&m, 'S');
    u8(&m, 15);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_signal(&f, &signo) == 0 && signo == 15, "S decodes signo");
    frame_reader_free(&r);

    uint16_t cols, rows;
    start(&m, 'Z');
    u16(&m, 132);
    u16(&m, 43);
    finish(&m);
    CHECK(read_one(&r, &m, &f) == 1 && frame_parse_resize(&f, &cols, &rows) == 0 && cols == 132 && rows == 43,
          "Z decodes cols and rows");
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
    CHECK(x.tty && x.stdin_closed && x.cols == 100 && x.rows == 30 && x.timeout_ms == 2500 &&
              x.output_limit == 1ull << 33,
          "X decodes flags, size, timeout and output limit");
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

    frame_put_reply(&out, 0xfedcba98, REPLY_IS_DIR, "", 0);
    frame_put_reply(&out, 3, REPLY_OK, "abc", 3);
    p = lbuf_head(&out);
    CHECK(get(&p, 4) == 6 && get(&p, 1) == 'R' && get(&p, 4) == 0xfedcba98 && get(&p, 1) == 3, "R encodes rid and status");
    CHECK(get(&p, 4) == 9 && get(&p, 1) == 'R' && get(&p, 4) == 3 && get(&p, 1) == 0 && memcmp(p, "abc", 3) == 0,
          "R encodes its data");
    lbuf_free(&out);
}

/* A stream of several frames, fed in two pieces split at every byte and then one byte at a
 * time, must always come out as the same frames. */
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

    int bad_splits = 0;
    for (size_t split = 0; split <= all.n; split++) {
        struct frame_reader r;
        struct frame f;
        int seen = 0, rc;
        frame_reader_init(&r);
        for (int piece = 0; piece < 2; piece++) {
            if (piece == 0)
                frame_reader_feed(&r, all.b, split);
            else
                frame_reader_feed(&r, all.b + split, all.n - split);
            while ((rc = frame_reader_next(&r, &f)) == 1) {
                bool same = f.type == (uint8_t)types[seen] && f.len == (size_t)seen * 3;
                for (size_t k = 0; same && k < f.len; k++)
                    same = f.payload[k] == seen * 16 + k;
                bad_splits += !same;
                seen++;
            }
            bad_splits += rc < 0;
        }
        bad_splits += seen != 5;
        frame_reader_free(&r);
    }
    CHECK(bad_splits == 0, "five frames split at each of %zu byte boundaries come out whole", all.n + 1);

    struct frame_reader r;
    struct frame f;
    int seen = 0;
    frame_reader_init(&r);
    for (size_t i = 0; i < all.n; i++) {
        frame_reader_feed(&r, all.b + i, 1);
        while (frame_reader_next(&r, &f) == 1)
            seen += f.type == (uint8_t)types[seen];
    }
    CHECK(seen == 5, "five frames fed one byte at a time come out in order");
    frame_reader_free(&r);
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
