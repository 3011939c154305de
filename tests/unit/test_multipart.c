/* Unit tests of the multipart/form-data parser. */
#include <stdlib.h>

#include "base/buf.h"
#include "http/multipart.h"
#include "unit.h"

/* What one parse handed out, copied so the body can be freed before checking. */
struct got {
    int rc, n, out_of_bounds;
    char err[128];
    const char *body; /* the exact-size copy being parsed */
    size_t len;
    struct {
        char *name, *filename, *content_type, *data;
        size_t len;
    } p[MULTIPART_PARTS_MAX];
};

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int collect(void *ud, const struct multipart_part *p) {
    struct got *g = ud;
    if (p->data < g->body || p->len > g->len || p->data + p->len > g->body + g->len) g->out_of_bounds = 1;
    g->p[g->n].name = dup_or_null(p->name);
    g->p[g->n].filename = dup_or_null(p->filename);
    g->p[g->n].content_type = dup_or_null(p->content_type);
    g->p[g->n].data = malloc(p->len + 1);
    memcpy(g->p[g->n].data, p->data, p->len);
    g->p[g->n].len = p->len;
    g->n++;
    return 0;
}

static void got_free(struct got *g) {
    for (int i = 0; i < g->n; i++) {
        free(g->p[i].name);
        free(g->p[i].filename);
        free(g->p[i].content_type);
        free(g->p[i].data);
    }
    g->n = 0;
}

/* Parse a copy of exactly `len` bytes, so that a read past the end is caught by
 * valgrind and ASan rather than landing in the rest of a string literal. */
static int parse(struct got *g, const char *body, size_t len, const char *boundary) {
    got_free(g);
    memset(g, 0, sizeof *g);
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, body, len);
    g->body = copy;
    g->len = len;
    g->rc = multipart_parse(copy, len, boundary, collect, g, g->err, sizeof g->err);
    free(copy);
    g->body = NULL;
    return g->rc;
}

#define LIT(s) s, sizeof(s) - 1

static int data_is(struct got *g, int i, const char *want, size_t n) {
    return g->p[i].len == n && memcmp(g->p[i].data, want, n) == 0;
}

/* ---- multipart_boundary ---------------------------------------------------------- */

static void test_boundary(void) {
    char b[MULTIPART_BOUNDARY_MAX + 1];
    CHECK(multipart_boundary("multipart/form-data; boundary=------------------------bad455188ae089af", b,
                             sizeof b) == 0);
    CHECK_STR(b, "------------------------bad455188ae089af");
    CHECK(multipart_boundary("multipart/form-data; boundary=\"a b:c=d?\"", b, sizeof b) == 0);
    CHECK_STR(b, "a b:c=d?");
    CHECK(multipart_boundary("  Multipart/Form-Data ;charset=utf-8;  BOUNDARY = xyz ; foo=\"bar\"  ", b,
                             sizeof b) == 0);
    CHECK_STR(b, "xyz");
    CHECK(multipart_boundary("multipart/form-data; boundary=----=_Part_1", b, sizeof b) == 0);
    CHECK_STR(b, "----=_Part_1");
    /* An escape keeps its backslash unless it escapes '"' or '\', and neither
     * is a boundary character: a quoted boundary with escapes is never valid. */
    CHECK(multipart_boundary("multipart/form-data; boundary=\"q\\-x\"", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=abc;", b, sizeof b) == 0);
    CHECK_STR(b, "abc");

    char b70[71], ct[128];
    memset(b70, 'a', 70);
    b70[70] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    CHECK(multipart_boundary(ct, b, sizeof b) == 0);
    CHECK_STR(b, b70);
    CHECK(multipart_boundary(ct, b, 70) == -1); /* no room for the NUL */
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sa", b70);
    CHECK(multipart_boundary(ct, b, sizeof b) == -1); /* 71 chars */

    CHECK(multipart_boundary("multipart/mixed; boundary=abc", b, sizeof b) == -1);
    CHECK(multipart_boundary("text/plain; boundary=abc", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; charset=utf-8", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"\"", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"abc \"", b, sizeof b) == -1); /* ends in space */
    CHECK(multipart_boundary("multipart/form-data; boundary=\"a@b\"", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=\"abc", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=a; boundary=a", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data boundary=abc", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-dataX; boundary=abc", b, sizeof b) == -1);
    CHECK(multipart_boundary("multipart/form-data; boundary=a@b", b, sizeof b) == -1);
    CHECK(multipart_boundary("", b, sizeof b) == -1);
}

/* ---- well-formed bodies -------------------------------------------------------- */

/* Captured byte for byte from `curl -F file=@a.txt -F note=hi` (curl 7.88.1). */
static const char CURL_TWO[] =
    "--------------------------bad455188ae089af\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\n"
    "\r\n"
    "--------------------------bad455188ae089af\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "hi\r\n"
    "--------------------------bad455188ae089af--\r\n";
#define CURL_TWO_B "------------------------bad455188ae089af"

/* Captured from `curl -F 'file=@we"ird\name.bin;type=application/octet-stream'`,
 * the file holding x NUL y CR LF z: curl sends '"' as %22 and '\' raw. */
static const char CURL_BIN[] =
    "--------------------------b55126819f93410f\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"we%22ird\\name.bin\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "x\0y\r\nz\r\n"
    "--------------------------b55126819f93410f--\r\n";
#define CURL_BIN_B "------------------------b55126819f93410f"

static void check_curl_two(struct got *g) {
    CHECK(g->rc == 0 && g->n == 2 && !g->out_of_bounds);
    if (g->n != 2) return;
    CHECK_STR(g->p[0].name, "file");
    CHECK_STR(g->p[0].filename, "a.txt");
    CHECK_STR(g->p[0].content_type, "text/plain");
    CHECK(data_is(g, 0, LIT("hello\n")));
    CHECK_STR(g->p[1].name, "note");
    CHECK(g->p[1].filename == NULL && g->p[1].content_type == NULL);
    CHECK(data_is(g, 1, LIT("hi")));
}

static void test_curl(void) {
    struct got g = {0};
    parse(&g, LIT(CURL_TWO), CURL_TWO_B);
    check_curl_two(&g);

    parse(&g, LIT(CURL_BIN), CURL_BIN_B);
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].name, "file");
    CHECK_STR(g.p[0].filename, "we%22ird\\name.bin");
    CHECK_STR(g.p[0].content_type, "application/octet-stream");
    CHECK(data_is(&g, 0, LIT("x\0y\r\nz")));

    /* The boundary as multipart_boundary extracts it from curl's header. */
    char b[MULTIPART_BOUNDARY_MAX + 1];
    CHECK(multipart_boundary("multipart/form-data; boundary=" CURL_TWO_B, b, sizeof b) == 0);
    parse(&g, LIT(CURL_TWO), b);
    check_curl_two(&g);
    got_free(&g);
}

static void test_quoted_boundary(void) {
    struct got g = {0};
    char b[MULTIPART_BOUNDARY_MAX + 1];
    CHECK(multipart_boundary("multipart/form-data; boundary=\"we ird:b=x\"", b, sizeof b) == 0);
    parse(&g, LIT("--we ird:b=x\r\n"
                  "Content-Disposition: form-data; name=a\r\n\r\n"
                  "1\r\n--we ird:b=x--"),
          b);
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].name, "a");
    CHECK(data_is(&g, 0, LIT("1")));
    got_free(&g);
}

static void test_preamble_epilogue_padding(void) {
    struct got g = {0};
    parse(&g, LIT("This is the preamble.  --XX is not a delimiter here.\r\n"
                  "--XX \t \r\n"
                  "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
                  "A\r\n"
                  "--XX\t\r\n"
                  "Content-Disposition: form-data; name=\"b\"\r\n\r\n"
                  "B\r\n"
                  "--XX--  \r\n"
                  "This is the epilogue.\r\n--XX\r\ngarbage without headers\r\n"),
          "XX");
    CHECK(g.rc == 0 && g.n == 2);
    CHECK_STR(g.p[0].name, "a");
    CHECK(data_is(&g, 0, LIT("A")));
    CHECK_STR(g.p[1].name, "b");
    CHECK(data_is(&g, 1, LIT("B")));

    /* An empty preamble: the body opens with the CRLF of the first delimiter. */
    parse(&g, LIT("\r\n--XX\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n--XX--"), "XX");
    CHECK(g.rc == 0 && g.n == 1 && data_is(&g, 0, LIT("A")));

    /* A garbled first boundary makes everything up to the next delimiter
     * preamble: here the close delimiter, so no parts (the caller then finds
     * no "file" part). */
    parse(&g, LIT("x--b\r\n" "Content-Disposition: form-data; name=a\r\n\r\nA\r\n--b--"), "b");
    CHECK(g.rc == 0 && g.n == 0);

    /* No parts at all: what a browser sends for an empty form. */
    parse(&g, LIT("--XX--\r\n"), "XX");
    CHECK(g.rc == 0 && g.n == 0);
    got_free(&g);
}

static void test_empty_file(void) {
    struct got g = {0};
    parse(&g, LIT("--b\r\n"
                  "Content-Disposition: form-data; name=\"file\"; filename=\"empty.txt\"\r\n"
                  "Content-Type: text/plain\r\n"
                  "\r\n"
                  "\r\n"
                  "--b--\r\n"),
          "b");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].filename, "empty.txt");
    CHECK(g.p[0].len == 0);

    /* RFC 2046 lets a part end right after its headers (no CRLF and data at
     * all): the blank line's CRLF is then the delimiter's. */
    parse(&g, LIT("--b\r\n"
                  "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
                  "\r\n"
                  "--b--"),
          "b");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].filename, "");
    CHECK(g.p[0].len == 0);
    got_free(&g);
}

static void test_binary(void) {
    /* Every byte value, plus the near-misses of a delimiter. */
    buf_t body = BUF_INIT, data = BUF_INIT;
    for (int i = 0; i < 256; i++) buf_append(&data, &(char){(char)i}, 1);
    buf_append_str(&data, "\r\n\r\n\r\r\n\n-\r\n-\r\n--\r\n--bound\r\n--boundar\r\n-boundary\n--boundary--");
    buf_append(&data, "\0\r\0\n", 4);
    buf_append_str(&body, "--boundary\r\nContent-Disposition: form-data; name=bin; filename=x.bin\r\n\r\n");
    buf_append(&body, data.data, data.len);
    buf_append_str(&body, "\r\n--boundary--\r\n");

    struct got g = {0};
    parse(&g, body.data, body.len, "boundary");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK(data_is(&g, 0, data.data, data.len));
    got_free(&g);
    buf_free(&body);
    buf_free(&data);
}

static void test_boundary_in_data(void) {
    struct got g = {0};
    parse(&g, LIT("--b\r\n"
                  "Content-Disposition: form-data; name=a\r\n\r\n"
                  "x--b\n--b--b--\r--b\r\n"
                  "--b--"),
          "b");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK(data_is(&g, 0, LIT("x--b\n--b--b--\r--b")));

    /* The data ends in exactly "--b": still data, the delimiter follows it. */
    parse(&g, LIT("--b\r\nContent-Disposition: form-data; name=a\r\n\r\nA--b\r\n--b--"), "b");
    CHECK(g.rc == 0 && g.n == 1 && data_is(&g, 0, LIT("A--b")));

    /* But data cannot begin with "--b": the blank line's CRLF before it makes
     * a delimiter (RFC 2046 forbids it inside a part; senders pick a boundary
     * their data does not hold).  Here the part is empty and "--b--" is then
     * read as the next part's header line. */
    parse(&g, LIT("--b\r\nContent-Disposition: form-data; name=a\r\n\r\n--b\r\n--b--"), "b");
    CHECK(g.rc == -1 && g.n == 0);
    got_free(&g);
}

static void test_many_parts_in_order(void) {
    buf_t body = BUF_INIT;
    buf_append_str(&body, "preamble");
    for (int i = 0; i < MULTIPART_PARTS_MAX; i++)
        buf_printf(&body, "\r\n--sep\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nvalue %d", i, i * 7);
    buf_append_str(&body, "\r\n--sep--");
    struct got g = {0};
    parse(&g, body.data, body.len, "sep");
    CHECK(g.rc == 0 && g.n == MULTIPART_PARTS_MAX);
    int in_order = 1;
    for (int i = 0; i < g.n; i++) {
        char name[16], val[32];
        snprintf(name, sizeof name, "f%d", i);
        snprintf(val, sizeof val, "value %d", i * 7);
        if (strcmp(g.p[i].name, name) || !data_is(&g, i, val, strlen(val))) in_order = 0;
    }
    CHECK(in_order);

    /* One more is too many. */
    body.len -= strlen("\r\n--sep--");
    buf_append_str(&body, "\r\n--sep\r\nContent-Disposition: form-data; name=\"last\"\r\n\r\nx\r\n--sep--");
    parse(&g, body.data, body.len, "sep");
    CHECK(g.rc == -1 && g.n == 0);
    CHECK_STR(g.err, "too many parts");
    got_free(&g);
    buf_free(&body);
}

static void test_header_forms(void) {
    struct got g = {0};

    parse(&g, LIT("--b\r\n"
                  "X-Other: whatever: with colons\r\n"
                  "content-DISPOSITION:Form-Data ;NAME = \"a \\\"q\\\" \\\\ c\\d\" ; filename*=UTF-8''%e2%82%ac.txt;"
                  " FileName=\"C:\\dir\\f.txt\";\r\n"
                  "CONTENT-TYPE:   image/png ; x=1  \r\n"
                  "Content-Transfer-Encoding: binary\r\n"
                  "\r\n"
                  "PNG\r\n--b--"),
          "b");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].name, "a \"q\" \\ c\\d");
    CHECK_STR(g.p[0].filename, "C:\\dir\\f.txt"); /* old IE sends the full path, backslashes raw */
    CHECK_STR(g.p[0].content_type, "image/png ; x=1");
    CHECK(data_is(&g, 0, LIT("PNG")));

    /* UTF-8 names pass through untouched. */
    parse(&g, LIT("--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\xe2\x82\xac.txt\"\r\n\r\n\r\n--b--"),
          "b");
    CHECK(g.rc == 0 && g.n == 1);
    CHECK_STR(g.p[0].filename, "\xe2\x82\xac.txt");
    got_free(&g);
}

/* ---- malformed bodies ---------------------------------------------------------- */

static void expect_reject(const char *body, size_t len, const char *boundary, const char *reason) {
    struct got g = {0};
    int rc = parse(&g, body, len, boundary);
    CHECK(rc == -1 && g.n == 0);
    if (strcmp(g.err, reason) != 0)
        fprintf(stderr, "  wanted \"%s\", got \"%s\" (rc %d) for: %.60s\n", reason, g.err, rc, body);
    CHECK_STR(g.err, reason);
    got_free(&g);
}

#define CD "Content-Disposition: form-data; name=\"a\"\r\n"

static void test_malformed(void) {
    expect_reject(LIT(""), "b", "missing first boundary");
    expect_reject(LIT("no delimiter anywhere\r\n"), "b", "missing first boundary");
    expect_reject(LIT("x--b\r\n" CD "\r\nA--b--"), "b", "missing first boundary");
    expect_reject(LIT("--b\r\n" CD "Content-Type text/plain\r\n\r\nA\r\n--b--"), "b", "header without colon");
    expect_reject(LIT("--b\r\nContent-Type: text/plain\r\n\r\nA\r\n--b--"), "b",
                  "part without Content-Disposition form-data");
    expect_reject(LIT("--b\r\n\r\nA\r\n--b--"), "b", "part without Content-Disposition form-data");
    expect_reject(LIT("--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nA\r\n--b--"), "b",
                  "part without Content-Disposition form-data");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nA\r\n--b--"), "b",
                  "part without name");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data\r\n\r\nA\r\n--b--"), "b", "part without name");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n"), "b", "missing closing boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b\r\n"), "b", "missing closing boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA--b--"), "b", "missing closing boundary");
    expect_reject(LIT("--b\r\n" CD), "b", "missing closing boundary");
    expect_reject(LIT("--b"), "b", "missing closing boundary");
    expect_reject(LIT("--b-"), "b", "missing closing boundary");
    expect_reject(LIT("--b\n" CD "\nA\n--b--\n"), "b", "bare LF line ending (CRLF required)");
    expect_reject(LIT("preamble\n--b\n" CD "\nA\n--b--\n"), "b", "bare LF line ending (CRLF required)");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=\"a\"\n\r\nA\r\n--b--"), "b",
                  "bare LF line ending (CRLF required)");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b\n" CD "\r\nB\r\n--b--"), "b",
                  "bare LF line ending (CRLF required)");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data;\r name=\"a\"\r\n\r\nA\r\n--b--"), "b",
                  "bare CR in part headers");
    expect_reject(LIT("--bx\r\n" CD "\r\nA\r\n--b--"), "b", "junk after boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b-x\r\n"), "b", "junk after boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b\rx"), "b", "junk after boundary");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nA\r\n--b--"), "b",
                  "NUL in part headers");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nA\r\n--b--"), "b",
                  "malformed Content-Disposition");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=\"a\x01\"\r\n\r\nA\r\n--b--"), "b",
                  "malformed Content-Disposition");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=\r\n\r\nA\r\n--b--"), "b",
                  "malformed Content-Disposition");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data name=a\r\n\r\nA\r\n--b--"), "b",
                  "malformed Content-Disposition");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=C:\\x\r\n\r\nA\r\n--b--"), "b",
                  "malformed Content-Disposition");
    expect_reject(LIT("--b\r\nContent-Disposition: form-data; name=a; NAME=b\r\n\r\nA\r\n--b--"), "b",
                  "duplicate Content-Disposition parameter");
    expect_reject(LIT("--b\r\n" CD CD "\r\nA\r\n--b--"), "b", "duplicate Content-Disposition");
    expect_reject(LIT("--b\r\n" CD "Content-Type: a\r\nContent-Type: b\r\n\r\nA\r\n--b--"), "b",
                  "duplicate Content-Type");
    expect_reject(LIT("--b\r\n" CD "Content-Type: a\x7f\r\n\r\nA\r\n--b--"), "b",
                  "control character in Content-Type");
    expect_reject(LIT("--b\r\n" CD " folded\r\n\r\nA\r\n--b--"), "b", "folded header line");
    expect_reject(LIT("--b\r\n" CD ": no name\r\n\r\nA\r\n--b--"), "b", "invalid header name");
    expect_reject(LIT("--b\r\n" CD "Bad Name: x\r\n\r\nA\r\n--b--"), "b", "invalid header name");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b--"), "", "invalid boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b--"), "b ", "invalid boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b--"), "a\"b", "invalid boundary");
    expect_reject(LIT("--b\r\n" CD "\r\nA\r\n--b--"),
                  "12345678901234567890123456789012345678901234567890123456789012345678901", "invalid boundary");
}

static void test_header_limit(void) {
    /* A header section of exactly MULTIPART_HEADERS_MAX bytes, blank line included. */
    buf_t body = BUF_INIT;
    const char *cd = "Content-Disposition: form-data; name=\"a\"\r\nX-Pad: ";
    size_t fixed = strlen(cd) + 2 /* CRLF */ + 2 /* blank line */;
    buf_append_str(&body, "--b\r\n");
    buf_append_str(&body, cd);
    for (size_t i = 0; i < MULTIPART_HEADERS_MAX - fixed; i++) buf_append(&body, "p", 1);
    buf_append_str(&body, "\r\n\r\nA\r\n--b--");
    struct got g = {0};
    parse(&g, body.data, body.len, "b");
    CHECK(g.rc == 0 && g.n == 1);

    buf_reset(&body);
    buf_append_str(&body, "--b\r\n");
    buf_append_str(&body, cd);
    for (size_t i = 0; i < MULTIPART_HEADERS_MAX - fixed + 1; i++) buf_append(&body, "p", 1);
    buf_append_str(&body, "\r\n\r\nA\r\n--b--");
    parse(&g, body.data, body.len, "b");
    CHECK(g.rc == -1);
    CHECK_STR(g.err, "part headers too large");

    /* A megabyte without a line end is refused after 8 KiB, not scanned to the end. */
    buf_reset(&body);
    buf_append_str(&body, "--b\r\n");
    for (int i = 0; i < 1 << 20; i++) buf_append(&body, "h", 1);
    parse(&g, body.data, body.len, "b");
    CHECK(g.rc == -1);
    CHECK_STR(g.err, "part headers too large");
    got_free(&g);
    buf_free(&body);
}

/* ---- on_part ------------------------------------------------------------------- */

static int count_calls(void *ud, const struct multipart_part *p) {
    (void)p;
    (*(int *)ud)++;
    return 0;
}

static int stop_at_second(void *ud, const struct multipart_part *p) {
    (void)p;
    return ++(*(int *)ud) == 2 ? 42 : 0;
}

static int fail_minus_one(void *ud, const struct multipart_part *p) {
    (void)ud;
    (void)p;
    return -1;
}

static void test_on_part(void) {
    char err[64];
    int calls = 0;
    /* The first part is fine, the second is broken: no part is handed out. */
    const char bad[] = "--b\r\n" CD "\r\nA\r\n--b\r\nContent-Type: x\r\n\r\nB\r\n--b--";
    CHECK(multipart_parse(bad, sizeof bad - 1, "b", count_calls, &calls, err, sizeof err) == -1);
    CHECK(calls == 0);
    CHECK_STR(err, "part without Content-Disposition form-data");

    /* on_part's own non-zero value comes back as is, and stops the walk. */
    calls = 0;
    CHECK(multipart_parse(LIT(CURL_TWO), CURL_TWO_B, stop_at_second, &calls, err, sizeof err) == 42);
    CHECK(calls == 2);
    CHECK(multipart_parse(LIT(CURL_TWO), CURL_TWO_B, fail_minus_one, NULL, err, sizeof err) == -1);
    CHECK_STR(err, "stopped by on_part");

    /* No callback, no err buffer: just a validity check. */
    CHECK(multipart_parse(LIT(CURL_TWO), CURL_TWO_B, NULL, NULL, NULL, 0) == 0);
    CHECK(multipart_parse(LIT("--b"), "b", NULL, NULL, NULL, 0) == -1);
    /* A short err buffer gets a truncated, terminated reason. */
    CHECK(multipart_parse(LIT("--b"), "b", NULL, NULL, err, 5) == -1);
    CHECK_STR(err, "miss");
}

/* ---- every prefix of a valid body ------------------------------------------------ */

/* Each cut of `body` must be refused cleanly (-1 with a reason) or, once the
 * close delimiter is complete, give exactly the parts of the whole body. */
static void check_prefixes(const char *body, size_t len, const char *boundary, void (*check_full)(struct got *)) {
    char close[80];
    snprintf(close, sizeof close, "\r\n--%s--", boundary);
    const char *c = memmem(body, len, close, strlen(close));
    if (!c) { /* a body with no parts */
        snprintf(close, sizeof close, "--%s--", boundary);
        c = memmem(body, len, close, strlen(close));
    }
    size_t complete = (size_t)(c - body) + strlen(close);

    struct got g = {0};
    int clean = 1, exact = 1;
    for (size_t cut = 0; cut <= len; cut++) {
        int rc = parse(&g, body, cut, boundary);
        if (g.out_of_bounds) clean = 0;
        if (cut < complete) {
            if (rc != -1 || g.n != 0 || g.err[0] == '\0') clean = 0;
        } else {
            if (rc != 0) exact = 0;
            if (check_full) {
                int before = unit_failed;
                check_full(&g);
                if (unit_failed != before) {
                    fprintf(stderr, "  ... at cut %zu of %zu\n", cut, len);
                    exact = 0;
                }
            }
        }
    }
    CHECK(clean);
    CHECK(exact);
    got_free(&g);
}

static void check_bin(struct got *g) {
    CHECK(g->rc == 0 && g->n == 1 && data_is(g, 0, LIT("x\0y\r\nz")));
}

static void check_mixed(struct got *g) {
    CHECK(g->rc == 0 && g->n == 3);
    if (g->n != 3) return;
    CHECK_STR(g->p[0].name, "a");
    CHECK(data_is(g, 0, LIT("")));
    CHECK_STR(g->p[1].name, "b\"");
    CHECK(data_is(g, 1, LIT("x--xy")));
    CHECK_STR(g->p[2].filename, "f");
    CHECK(data_is(g, 2, LIT("\r\n")));
}

static void test_every_prefix(void) {
    check_prefixes(LIT(CURL_TWO), CURL_TWO_B, check_curl_two);
    check_prefixes(LIT(CURL_BIN), CURL_BIN_B, check_bin);
    check_prefixes(LIT("pre\r\n--xy \r\n"
                       "Content-Disposition: form-data; name=a\r\n"
                       "\r\n"
                       "--xy\t\r\n"
                       "content-disposition: form-data; name=\"b\\\"\"\r\n"
                       "\r\n"
                       "x--xy\r\n"
                       "--xy\r\n"
                       "Content-Disposition: form-data; name=c; filename=\"f\"\r\n"
                       "Content-Type: a/b\r\n"
                       "\r\n"
                       "\r\n\r\n"
                       "--xy--  \r\nepilogue\r\n"),
                   "xy", check_mixed);
    check_prefixes(LIT("--b--\r\n"), "b", NULL);
}

int main(void) {
    test_boundary();
    test_curl();
    test_quoted_boundary();
    test_preamble_epilogue_padding();
    test_empty_file();
    test_binary();
    test_boundary_in_data();
    test_many_parts_in_order();
    test_header_forms();
    test_malformed();
    test_header_limit();
    test_on_part();
    test_every_prefix();
    return unit_report();
}
