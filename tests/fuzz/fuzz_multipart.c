/* fuzz_multipart.c — libFuzzer target for the multipart/form-data parser.
 *
 * Input: a first line, then the body.  The first line is tried as a
 * Content-Type value (multipart_boundary); if that fails it is used as the
 * boundary itself.  Seeds in tests/fuzz/corpus/multipart/ show both forms.
 * Build and run: see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"

struct bounds {
    const char *body;
    size_t len;
    int parts;
};

/* Everything handed out must lie inside the body and be a proper C string. */
static int check_part(void *ud, const struct multipart_part *p) {
    struct bounds *b = ud;
    if (p->data < b->body || p->len > b->len || (size_t)(p->data - b->body) > b->len - p->len) abort();
    if (!p->name) abort();
    volatile size_t n = strlen(p->name);
    if (p->filename) n += strlen(p->filename);
    if (p->content_type) n += strlen(p->content_type);
    (void)n;
    if (++b->parts > MULTIPART_PARTS_MAX) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    const char *body = nl ? (const char *)nl + 1 : (const char *)data + size;
    size_t len = nl ? size - first - 1 : 0;

    /* The first line as a NUL-terminated string, exactly its size. */
    char *line = malloc(first + 1);
    if (!line) return 0;
    memcpy(line, data, first);
    line[first] = '\0';

    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    if (multipart_boundary(line, boundary, sizeof boundary) < 0) {
        size_t n = strnlen(line, sizeof boundary - 1);
        memcpy(boundary, line, n);
        boundary[n] = '\0';
    }
    free(line);

    /* libFuzzer's buffer is exactly `size` long, so a read past the body is caught. */
    struct bounds b = {body, len, 0};
    char err[64];
    int rc = multipart_parse(body, len, boundary, check_part, &b, err, sizeof err);
    if (rc != 0 && rc != -1) abort();
    if (rc == -1 && (b.parts != 0 || err[0] == '\0')) abort(); /* all-or-nothing, with a reason */
    return 0;
}
