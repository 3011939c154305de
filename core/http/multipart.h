/* multipart.h — multipart/form-data bodies (RFC 7578, body syntax of RFC 2046 §5.1.1).
 *
 * The server reads request bodies whole, so the parser works on one complete
 * buffer: no streaming state, and a body cut short is simply malformed. */
#ifndef CC_MULTIPART_H
#define CC_MULTIPART_H

#include <stddef.h>

#define MULTIPART_BOUNDARY_MAX 70     /* RFC 2046: 1..70 characters */
#define MULTIPART_HEADERS_MAX  8192   /* bytes of header section per part */
#define MULTIPART_PARTS_MAX    64

/* Extract the boundary from a Content-Type header value
 * ("multipart/form-data; boundary=..."), quoted or not, into out (NUL-terminated).
 * 0, or -1 if the type is not multipart/form-data, the boundary is missing,
 * given twice, not 1..70 of RFC 2046's bchars, or does not fit in outlen. */
int multipart_boundary(const char *content_type, char *out, size_t outlen);

/* One part.  The strings are NUL-terminated and live only for the duration of
 * the on_part call; data points into the body (not NUL-terminated). */
struct multipart_part {
    const char *name;         /* Content-Disposition name, unescaped */
    const char *filename;     /* NULL if the part has none */
    const char *content_type; /* NULL if the part has no Content-Type header */
    const char *data;
    size_t len;
};

/* Parse a whole body.  The body is checked completely first, so on_part is
 * called (once per part, in order) only for a well-formed body: a malformed
 * upload never leaves half its parts handled.
 *
 * Returns 0; -1 if the body is malformed, with a short reason in err; or, if
 * on_part returns non-zero, that value unchanged (return a positive value to
 * tell your own failure from a malformed body).  Never reads past body+len;
 * allocates only a scratch copy of one part's header values (bounded by
 * MULTIPART_HEADERS_MAX).  err may be NULL. */
int multipart_parse(const char *body, size_t len, const char *boundary,
                    int (*on_part)(void *ud, const struct multipart_part *p), void *ud,
                    char *err, size_t errlen);

#endif
