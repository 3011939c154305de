/* docker_demux.h — Docker's multiplexed stream, as an attach or exec without a tty sends it:
 * chunks of [stream (1 stdout, 2 stderr), 0, 0, 0, size (4 bytes, big-endian)] then size bytes.
 * The demuxer cuts reads of any size into pieces of one stream each. */
#ifndef CC_DOCKER_DEMUX_H
#define CC_DOCKER_DEMUX_H

#include <stddef.h>

struct docker_demux {            /* zero it to start (or to start again on a new stream) */
    unsigned char head[8];       /* the chunk header being read */
    size_t head_len;
    size_t left;                 /* payload bytes of the current chunk still to come */
    int stream;
};

/* A piece of the current chunk's payload. Returns 0 to go on, -1 to stop (the reader is done
 * with this stream: closed, failed): what is left of the read is then dropped. */
typedef int (*docker_demux_fn)(void *ud, int stream, const char *data, size_t len);

void docker_demux_feed(struct docker_demux *m, const char *data, size_t len, docker_demux_fn out,
                       void *ud);

#endif
