/* hostaddr.c — parse `unix:///path` and `host:port` peer addresses. */
#include "hostaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, int *port) {
    if (!*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 65535) return -1;
    *port = (int)v;
    return 0;
}

int hostaddr_parse(const char *s, struct hostaddr *out) {
    memset(out, 0, sizeof *out);
    if (!s || !*s) return -1;
    if (strncmp(s, "unix://", 7) == 0 || s[0] == '/') {
        const char *path = s[0] == '/' ? s : s + 7;
        size_t n = strlen(path);
        if (path[0] != '/' || n >= sizeof out->path) return -1;
        out->is_unix = 1;
        memcpy(out->path, path, n + 1);
        return 0;
    }
    if (strncmp(s, "tcp://", 6) == 0) s += 6;
    else if (strncmp(s, "http://", 7) == 0) s += 7;

    /* Strip one trailing slash so `http://host:port/` is accepted too. */
    size_t n = strlen(s);
    if (n && s[n - 1] == '/') n--;
    if (n == 0 || n >= sizeof out->host + 8) return -1;
    char tmp[sizeof out->host + 8];
    memcpy(tmp, s, n);
    tmp[n] = '\0';

    char *colon;
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');
        if (!close || close[1] != ':') return -1;
        *close = '\0';
        colon = close + 1;
        if ((size_t)(close - tmp - 1) >= sizeof out->host || close == tmp + 1) return -1;
        memcpy(out->host, tmp + 1, (size_t)(close - tmp));
    } else {
        colon = strrchr(tmp, ':');
        if (!colon || colon == tmp) return -1;
        *colon = '\0';
        if (strchr(tmp, ':') || strlen(tmp) >= sizeof out->host) return -1;
        strcpy(out->host, tmp);
    }
    return parse_port(colon + 1, &out->port);
}

void hostaddr_format(const struct hostaddr *a, char *out, unsigned outlen) {
    if (a->is_unix)
        snprintf(out, outlen, "unix://%s", a->path);
    else if (strchr(a->host, ':'))
        snprintf(out, outlen, "[%s]:%d", a->host, a->port);
    else
        snprintf(out, outlen, "%s:%d", a->host, a->port);
}
