/* utf8.h — UTF-8 boundaries and repair for program output. */
#ifndef CC_UTF8_H
#define CC_UTF8_H

#include <stddef.h>

#include "buf.h"

/* How many bytes at the end of `s` form the start of a sequence that is not
 * complete yet (0..3): those wait for the next read. */
size_t utf8_incomplete_tail(const char *s, size_t len);
/* Whether the `len` bytes at `s` are valid UTF-8 throughout. */
int utf8_valid(const char *s, size_t len);
/* Append `s` to `out` with every invalid byte replaced by U+FFFD. */
int utf8_append_repaired(buf_t *out, const char *s, size_t len);

#endif
