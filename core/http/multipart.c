/* multipart.c — multipart/form-data parser (RFC 7578; body syntax of RFC 2046 §5.1.1).
 *
 *   [preamble CRLF] --boundary padding CRLF part
 *                 *(CRLF --boundary padding CRLF part)
 *                   CRLF --boundary-- [epilogue]
 *   part := *(header CRLF) CRLF data
 *
 * Choices, each made on purpose:
 * - A delimiter is CRLF "--" boundary at the start of a line, whatever follows it
 *   (RFC 2046's note to implementors); anything but padding+CRLF or "--" after it
 *   is malformed.  "--boundary" inside data without the CRLF before it is data.
 * - Line endings must be CRLF.  An LF-only body would need a second, guessing
 *   delimiter search; no client we serve (browsers, curl, requests) sends one,
 *   so we reject it with a reason that says so.
 * - Quoted parameter values: \" and \\ are unescaped, any other backslash is
 *   kept.  Browsers and curl >= 7.81 percent-encode '"' (as %22) and send '\'
 *   raw, so a Windows path "C:\dir\f" must survive; %XX is left as sent.
 * - filename* (RFC 5987) and unknown headers/parameters are skipped; RFC 7578
 *   says receivers need not support filename*.
 * - NUL and control characters in headers are refused: names and filenames are
 *   handed out as C strings, and nothing good comes of a control in a filename.
 * - A body whose first boundary is immediately the close delimiter has no parts;
 *   that is accepted (browsers send it for an empty form). */
#include "multipart.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#define NONE SIZE_MAX /* offset of an absent value in the scratch buffer */

/* ---- character classes --------------------------------------------------------- */

/* RFC 2046 bcharsnospace. */
static int is_bchar_nospace(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("'()+_,-./:=?", c) != NULL);
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c) {
    return c > 0x20 && c < 0x7F && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* Unquoted parameter values: tokens, widened to every boundary character so
 * that boundary=----=_Part_1 (seen in the wild unquoted) is taken as sent. */
static int is_value_char(unsigned char c) { return is_tchar(c) || is_bchar_nospace(c); }

static int is_ctl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7F; }

static int valid_boundary(const char *s, size_t n) {
    if (n < 1 || n > MULTIPART_BOUNDARY_MAX || s[n - 1] == ' ') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && !is_bchar_nospace((unsigned char)s[i])) return 0;
    return 1;
}

/* ---- header values: type; name=value; name="quoted \" value" ---------------- */

struct cursor {
    const char *p, *end;
};

static void skip_ows(struct cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static size_t take_token(struct cursor *c, const char **tok) {
    *tok = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p)) c->p++;
    return (size_t)(c->p - *tok);
}

/* A parameter value, token or quoted-string: its raw bytes (inside the quotes)
 * in *v and *n.  -1 if empty, unterminated or holding a control character. */
static int take_value(struct cursor *c, const char **v, size_t *n, int *quoted) {
    if (c->p < c->end && *c->p == '"') {
        const char *s = ++c->p;
        while (c->p < c->end && *c->p != '"') {
            if (is_ctl((unsigned char)*c->p)) return -1;
            if (*c->p == '\\' && c->end - c->p >= 2) {
                if (is_ctl((unsigned char)c->p[1])) return -1;
                c->p++;
            }
            c->p++;
        }
        if (c->p == c->end) return -1;
        *v = s;
        *n = (size_t)(c->p - s);
        *quoted = 1;
        c->p++; /* closing quote */
        return 0;
    }
    *v = c->p;
    while (c->p < c->end && is_value_char((unsigned char)*c->p)) c->p++;
    *n = (size_t)(c->p - *v);
    *quoted = 0;
    return *n ? 0 : -1;
}

/* Copy a value into dst (room for n bytes), undoing \" and \\; returns its length. */
static size_t unquote(const char *s, size_t n, int quoted, char *dst) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (quoted && s[i] == '\\' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\')) i++;
        dst[o++] = s[i];
    }
    return o;
}

/* Step past "; name = value" -> 1 with the pieces, 0 at the end of the list, -1 if malformed. */
static int next_param(struct cursor *c, const char **name, size_t *nlen, const char **v, size_t *vlen,
                      int *quoted) {
    skip_ows(c);
    if (c->p == c->end) return 0;
    if (*c->p != ';') return -1;
    c->p++;
    skip_ows(c);
    if (c->p == c->end) return 0; /* a trailing ';' is harmless */
    if ((*nlen = take_token(c, name)) == 0) return -1;
    skip_ows(c);
    if (c->p == c->end || *c->p != '=') return -1;
    c->p++;
    skip_ows(c);
    return take_value(c, v, vlen, quoted) < 0 ? -1 : 1;
}

static int token_is(const char *t, size_t n, const char *want) {
    return n == strlen(want) && strncasecmp(t, want, n) == 0;
}

int multipart_boundary(const char *content_type, char *out, size_t outlen) {
    struct cursor c = {content_type, content_type + strlen(content_type)};
    const char *type, *sub, *name, *v;
    size_t tn, sn, nn, vn;
    int quoted, rc, found = 0;
    char tmp[2 * MULTIPART_BOUNDARY_MAX + 1];
    size_t blen = 0;

    skip_ows(&c);
    tn = take_token(&c, &type);
    if (c.p == c.end || *c.p != '/') return -1;
    c.p++;
    sn = take_token(&c, &sub);
    if (!token_is(type, tn, "multipart") || !token_is(sub, sn, "form-data")) return -1;
    while ((rc = next_param(&c, &name, &nn, &v, &vn, &quoted)) == 1) {
        if (!token_is(name, nn, "boundary")) continue;
        /* Quoting at most doubles the length; longer cannot be valid. */
        if (found++ || vn > sizeof tmp - 1) return -1;
        blen = unquote(v, vn, quoted, tmp);
    }
    if (rc < 0 || !found || !valid_boundary(tmp, blen) || blen >= outlen) return -1;
    memcpy(out, tmp, blen);
    out[blen] = '\0';
    return 0;
}

/* ---- the body ------------------------------------------------------------------ */

struct parser {
    const char *body;
    size_t len;
    char delim[4 + MULTIPART_BOUNDARY_MAX]; /* CRLF "--" boundary */
    size_t dlen;
    buf_t scratch; /* one part's decoded header values, NUL-separated */
    char *err;
    size_t errlen;
};

/* One part's headers, as offsets into parser.scratch (NONE if absent). */
struct part_headers {
    int have_disposition;
    size_t name, filename, content_type;
};

static int fail(struct parser *ps, const char *why) {
    if (ps->err && ps->errlen) snprintf(ps->err, ps->errlen, "%s", why);
    return -1;
}

/* Offset of the first `needle` at or after `from`, or NONE. */
static size_t find(const struct parser *ps, size_t from, const char *needle, size_t n) {
    const char *m = memmem(ps->body + from, ps->len - from, needle, n);
    return m ? (size_t)(m - ps->body) : NONE;
}

/* Store a value in the scratch buffer (NUL-terminated); its offset, or NONE on ENOMEM.
 * Offsets, not pointers: the buffer may move as it grows. */
static size_t keep(struct parser *ps, const char *s, size_t n, int quoted) {
    size_t at = ps->scratch.len;
    if (buf_reserve(&ps->scratch, n + 1) < 0) return NONE;
    ps->scratch.len += unquote(s, n, quoted, ps->scratch.data + at);
    ps->scratch.data[ps->scratch.len++] = '\0';
    return at;
}

static int content_disposition(struct parser *ps, const char *s, size_t n, struct part_headers *h) {
    struct cursor c = {s, s + n};
    const char *type, *name, *v;
    size_t tn, nn, vn;
    int quoted, rc;

    tn = take_token(&c, &type);
    if (!token_is(type, tn, "form-data")) return fail(ps, "part without Content-Disposition form-data");
    while ((rc = next_param(&c, &name, &nn, &v, &vn, &quoted)) == 1) {
        size_t *slot;
        if (token_is(name, nn, "name")) slot = &h->name;
        else if (token_is(name, nn, "filename")) slot = &h->filename;
        else continue; /* filename* and the like */
        if (*slot != NONE) return fail(ps, "duplicate Content-Disposition parameter");
        if ((*slot = keep(ps, v, vn, quoted)) == NONE) return fail(ps, "out of memory");
    }
    return rc < 0 ? fail(ps, "malformed Content-Disposition") : 0;
}

/* One header line (no CRLF; no NUL, CR or LF inside). */
static int header_line(struct parser *ps, const char *s, size_t n, struct part_headers *h) {
    if (s[0] == ' ' || s[0] == '\t') return fail(ps, "folded header line");
    const char *colon = memchr(s, ':', n);
    if (!colon) return fail(ps, "header without colon");
    size_t nlen = (size_t)(colon - s);
    if (nlen == 0) return fail(ps, "invalid header name");
    for (size_t i = 0; i < nlen; i++)
        if (!is_tchar((unsigned char)s[i])) return fail(ps, "invalid header name");

    struct cursor v = {colon + 1, s + n};
    skip_ows(&v);
    while (v.end > v.p && (v.end[-1] == ' ' || v.end[-1] == '\t')) v.end--;
    size_t vlen = (size_t)(v.end - v.p);

    if (token_is(s, nlen, "content-disposition")) {
        if (h->have_disposition) return fail(ps, "duplicate Content-Disposition");
        h->have_disposition = 1;
        return content_disposition(ps, v.p, vlen, h);
    }
    if (token_is(s, nlen, "content-type")) {
        if (h->content_type != NONE) return fail(ps, "duplicate Content-Type");
        for (size_t i = 0; i < vlen; i++)
            if (is_ctl((unsigned char)v.p[i])) return fail(ps, "control character in Content-Type");
        if ((h->content_type = keep(ps, v.p, vlen, 0)) == NONE) return fail(ps, "out of memory");
    }
    return 0; /* other headers (Content-Transfer-Encoding, ...) are not ours to act on */
}

/* Read the header section starting at *pos; on success *pos is the offset of
 * the CRLF of the blank line that ends it. */
static int part_headers(struct parser *ps, size_t *pos, struct part_headers *h) {
    const char *b = ps->body;
    size_t start = *pos, line = *pos;

    h->have_disposition = 0;
    h->name = h->filename = h->content_type = NONE;
    buf_reset(&ps->scratch);
    for (;;) {
        size_t eol = line;
        for (;;) {
            if (eol == ps->len) return fail(ps, "missing closing boundary");
            /* Even a CRLF here would take the section past its limit. */
            if (eol + 2 - start > MULTIPART_HEADERS_MAX) return fail(ps, "part headers too large");
            if (b[eol] == '\r') break;
            if (b[eol] == '\n') return fail(ps, "bare LF line ending (CRLF required)");
            if (b[eol] == '\0') return fail(ps, "NUL in part headers");
            eol++;
        }
        if (eol + 1 == ps->len) return fail(ps, "missing closing boundary");
        if (b[eol + 1] != '\n') return fail(ps, "bare CR in part headers");
        if (eol == line) break; /* the blank line */
        if (header_line(ps, b + line, eol - line, h) < 0) return -1;
        line = eol + 2;
    }
    if (!h->have_disposition) return fail(ps, "part without Content-Disposition form-data");
    if (h->name == NONE) return fail(ps, "part without name");
    *pos = line;
    return 0;
}

/* pos is just past "--boundary".  Next comes "--" (the close delimiter; the
 * epilogue after it is ignored) or transport padding and CRLF before a part. */
static int boundary_line_end(struct parser *ps, size_t pos, size_t *next, int *closed) {
    const char *b = ps->body;
    *closed = 0;
    if (ps->len - pos >= 2 && b[pos] == '-' && b[pos + 1] == '-') {
        *closed = 1;
        return 0;
    }
    while (pos < ps->len && (b[pos] == ' ' || b[pos] == '\t')) pos++;
    if (pos == ps->len || (ps->len - pos == 1 && (b[pos] == '\r' || b[pos] == '-')))
        return fail(ps, "missing closing boundary");
    if (b[pos] == '\n') return fail(ps, "bare LF line ending (CRLF required)");
    if (b[pos] != '\r' || b[pos + 1] != '\n') return fail(ps, "junk after boundary");
    *next = pos + 2;
    return 0;
}

static int walk(struct parser *ps, int (*on_part)(void *, const struct multipart_part *), void *ud) {
    const char *dash = ps->delim + 2; /* "--" boundary */
    size_t dashlen = ps->dlen - 2, pos, nparts = 0;
    int closed;

    if (ps->len >= dashlen && memcmp(ps->body, dash, dashlen) == 0) {
        pos = dashlen;
    } else {
        size_t m = find(ps, 0, ps->delim, ps->dlen);
        if (m == NONE) {
            if (find(ps, 0, ps->delim + 1, ps->dlen - 1) != NONE)
                return fail(ps, "bare LF line ending (CRLF required)");
            return fail(ps, "missing first boundary");
        }
        pos = m + ps->dlen; /* the preamble is ignored */
    }
    for (;;) {
        if (boundary_line_end(ps, pos, &pos, &closed) < 0) return -1;
        if (closed) return 0;
        if (++nparts > MULTIPART_PARTS_MAX) return fail(ps, "too many parts");

        struct part_headers h;
        if (part_headers(ps, &pos, &h) < 0) return -1;
        /* Search from the blank line's CRLF: with no data at all it is also
         * the CRLF of the next delimiter. */
        size_t m = find(ps, pos, ps->delim, ps->dlen);
        if (m == NONE) return fail(ps, "missing closing boundary");
        if (on_part) {
            const char *s = ps->scratch.data;
            struct multipart_part p = {
                .name = s + h.name,
                .filename = h.filename == NONE ? NULL : s + h.filename,
                .content_type = h.content_type == NONE ? NULL : s + h.content_type,
                .data = m == pos ? ps->body + pos : ps->body + pos + 2,
                .len = m == pos ? 0 : m - pos - 2,
            };
            int rc = on_part(ud, &p);
            if (rc) return rc;
        }
        pos = m + ps->dlen;
    }
}

int multipart_parse(const char *body, size_t len, const char *boundary,
                    int (*on_part)(void *ud, const struct multipart_part *p), void *ud,
                    char *err, size_t errlen) {
    struct parser ps = {.body = body, .len = len, .scratch = BUF_INIT, .err = err, .errlen = errlen};
    size_t blen = strnlen(boundary, MULTIPART_BOUNDARY_MAX + 1);

    if (err && errlen) err[0] = '\0';
    if (!valid_boundary(boundary, blen)) return fail(&ps, "invalid boundary");
    memcpy(ps.delim, "\r\n--", 4);
    memcpy(ps.delim + 4, boundary, blen);
    ps.dlen = 4 + blen;

    /* Check the whole body before handing out any part. */
    int rc = walk(&ps, NULL, NULL);
    if (rc == 0 && on_part) {
        rc = walk(&ps, on_part, ud);
        if (rc == -1 && err && errlen && !err[0]) fail(&ps, "stopped by on_part");
    }
    buf_free(&ps.scratch);
    return rc;
}
