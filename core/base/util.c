/* util.c — randomness, hashing, text helpers. */
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static int kernel_random(unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

int random_hex(char *out, size_t nbytes) {
    unsigned char raw[64];
    if (nbytes > sizeof raw || kernel_random(raw, nbytes) < 0) return -1;
    for (size_t i = 0; i < nbytes; i++) sprintf(out + 2 * i, "%02x", raw[i]);
    return 0;
}

int random_id(char *out, size_t outlen, size_t nbytes) {
    unsigned char raw[48];
    char b64[72];
    if (nbytes > sizeof raw || kernel_random(raw, nbytes) < 0) return -1;
    int n = EVP_EncodeBlock((unsigned char *)b64, raw, (int)nbytes);
    size_t o = 0;
    for (int i = 0; i < n && b64[i] != '='; i++) {
        if (o + 1 >= outlen) return -1;
        char ch = b64[i];
        out[o++] = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    }
    out[o] = '\0';
    return 0;
}

void sha256_hex(const void *data, size_t len, char out[65]) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

int base64_encode(const void *data, size_t len, buf_t *out) {
    /* In slices, so that EVP's int lengths never overflow. */
    const unsigned char *p = data;
    while (len) {
        size_t take = len < 3u << 20 ? len : 3u << 20;
        if (buf_reserve(out, take / 3 * 4 + 5) < 0) return -1;
        out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)take);
        p += take;
        len -= take;
    }
    return 0;
}

int base64_decode(const char *s, size_t n, buf_t *out) {
    buf_reset(out);
    if (n % 4 || n > (size_t)1 << 30) return -1;
    if (n == 0) return 0;
    if (buf_reserve(out, n / 4 * 3 + 1) < 0) return -1;
    int got = EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)s, (int)n);
    if (got < 0) return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    size_t pad = (s[n - 1] == '=') + (s[n - 2] == '=');
    out->len = (size_t)got - pad;
    return 0;
}

int secure_streq(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    /* Compare the digests: equal-length inputs to CRYPTO_memcmp whatever the keys' lengths. */
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, la, da);
    SHA256((const unsigned char *)b, lb, db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0 && la == lb;
}
