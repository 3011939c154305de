/* util.h — small helpers shared by several rooms: randomness, hashing, text. */
#ifndef CC_UTIL_H
#define CC_UTIL_H

#include <stddef.h>

#include "buf.h"

/* `nbytes` random bytes from the kernel's source, as 2*nbytes hex chars + NUL. */
int random_hex(char *out, size_t nbytes);
/* A URL-safe id of `nbytes` random bytes (base64url without padding). */
int random_id(char *out, size_t outlen, size_t nbytes);
/* SHA-256 of `data` as 64 hex chars + NUL. */
void sha256_hex(const void *data, size_t len, char out[65]);
/* Standard base64 (RFC 4648, padded) of `len` bytes appended to `out`: 0, or -1 (memory). */
int base64_encode(const void *data, size_t len, buf_t *out);
/* Decode padded standard base64 into `out` (replacing its contents): 0, or -1 when `s` is not
 * base64 or memory ran out. */
int base64_decode(const char *s, size_t n, buf_t *out);
/* Constant-time comparison of two strings (time depends only on their lengths). */
int secure_streq(const char *a, const char *b);

#endif
