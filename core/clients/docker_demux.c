/* docker_demux.c — Docker's stream headers cut off; see docker_demux.h. */
#include "docker_demux.h"

#include <string.h>

void docker_demux_feed(struct docker_demux *m, const char *data, size_t len, docker_demux_fn out,
                       void *ud) {
    while (len) {
        if (m->left == 0) {
            size_t take = 8 - m->head_len < len ? 8 - m->head_len : len;
            memcpy(m->head + m->head_len, data, take);
            m->head_len += take;
            data += take;
            len -= take;
            if (m->head_len < 8) return;
            m->head_len = 0;
            m->stream = m->head[0];
            m->left = (size_t)m->head[4] << 24 | (size_t)m->head[5] << 16 | (size_t)m->head[6] << 8 | m->head[7];
            continue;
        }
        size_t take = m->left < len ? m->left : len;
        int rc = out(ud, m->stream, data, take);
        m->left -= take;
        if (rc < 0) return;
        data += take;
        len -= take;
    }
}
