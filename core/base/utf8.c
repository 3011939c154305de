/* utf8.c — UTF-8 boundaries and repair. */
#include "utf8.h"

/* Length of a valid sequence starting at s (1..4), or 0 if invalid or cut short. */
static size_t seq_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; min = 0x10000; }
    else return 0;
    if (avail < n) return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

size_t utf8_incomplete_tail(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    /* Look back at most 3 bytes for a lead byte whose sequence runs past the end. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = s[len - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back && c >= 0xC2 && c <= 0xF4) {
            /* Cut short only if what is there so far is a valid prefix. */
            for (size_t i = 1; i < back; i++)
                if ((s[len - back + i] & 0xC0) != 0x80) return 0;
            return back;
        }
        return 0;
    }
    return 0;
}

int utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0, n; i < len; i += n)
        if (!(n = seq_len(s + i, len - i))) return 0;
    return 1;
}

int utf8_append_repaired(buf_t *out, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;
    if (buf_reserve(out, len) < 0) return -1;
    while (i < len) {
        size_t n = seq_len(s + i, len - i);
        if (n) {
            i += n;
            continue;
        }
        if (buf_append(out, str + run, i - run) < 0 || buf_append(out, "\xEF\xBF\xBD", 3) < 0) return -1;
        i++;
        run = i;
    }
    return buf_append(out, str + run, len - run);
}
