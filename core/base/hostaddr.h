/* hostaddr.h — where a peer listens: a unix socket path or a TCP host and port.
 *
 * One parser for every place that names an engine or a backend, so that
 * `unix:///var/run/docker.sock`, `127.0.0.1:4243`, `tcp://host:port`,
 * `http://host:port` and `[::1]:port` mean the same thing everywhere. */
#ifndef CC_HOSTADDR_H
#define CC_HOSTADDR_H

struct hostaddr {
    int is_unix;        /* 1: `path` is a unix socket; 0: `host`:`port` over TCP */
    char path[108];     /* sizeof(sockaddr_un.sun_path) */
    char host[256];     /* without brackets for IPv6 literals */
    int port;
};

/* Parse `s`; 0 on success, -1 if it is none of the accepted forms. */
int hostaddr_parse(const char *s, struct hostaddr *out);

/* "unix:///path" or "host:port" (IPv6 in brackets), for logs and Host headers. */
void hostaddr_format(const struct hostaddr *a, char *out, unsigned outlen);

#endif
