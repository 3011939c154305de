/* unit_fake_redis.h — a small Redis of the test's own on the test's loop: RESP commands parsed
 * with hiredis's reader (a command is an array of bulk strings, the shape of a reply), hashes and
 * sorted sets kept in memory, every command received kept in a log the test reads.
 *
 * Enough for what the balancer sends (fleet.c, placement.c): HSET, HSETNX, HGET, HGETALL, HDEL,
 * ZADD [XX], ZREM, ZCARD, ZRANGE (insertion order, not by score), ZREMRANGEBYSCORE, and the
 * reservation script of placement.c as EVAL (any other script is an error reply); EXPIRE,
 * PEXPIRE, DEL, SELECT, AUTH and PING answer as if done, expiries being ignored. */
#ifndef CC_UNIT_FAKE_REDIS_H
#define CC_UNIT_FAKE_REDIS_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "base/buf.h"
#include "unit_loop.h"

/* One field of a hash, or one member of a sorted set (`score`), under `key`. */
struct fake_entry {
    char key[256];
    char field[256];
    char value[512];
    double score;
    int is_zset;
};

#define FAKE_MAX_ENTRIES 4096
#define FAKE_MAX_LOG 8192

static struct {
    uv_tcp_t server;
    char hostport[64];
    struct fake_entry entries[FAKE_MAX_ENTRIES];
    int nentries;
    char *log[FAKE_MAX_LOG]; /* every command, its words joined by spaces */
    int nlog;
    struct fake_redis_peer *peers;
} fake_redis;

struct fake_redis_peer {
    uv_tcp_t tcp;
    redisReader *reader;
    struct fake_redis_peer *next;
};

/* ---- the store ------------------------------------------------------------------------ */

static inline struct fake_entry *fake_find(const char *key, const char *field, int is_zset) {
    for (int i = 0; i < fake_redis.nentries; i++) {
        struct fake_entry *e = &fake_redis.entries[i];
        if (e->is_zset == is_zset && strcmp(e->key, key) == 0 && strcmp(e->field, field) == 0) return e;
    }
    return NULL;
}

/* 1 if the entry is new, 0 if it was there (and is kept when `only_new`), -1 if the store is full. */
static inline int fake_put(const char *key, const char *field, const char *value, double score, int is_zset,
                           int only_new) {
    struct fake_entry *e = fake_find(key, field, is_zset);
    int is_new = e == NULL;
    if (!e && fake_redis.nentries == FAKE_MAX_ENTRIES) return -1;
    if (!e) e = &fake_redis.entries[fake_redis.nentries++];
    else if (only_new) return 0;
    snprintf(e->key, sizeof e->key, "%s", key);
    snprintf(e->field, sizeof e->field, "%s", field);
    snprintf(e->value, sizeof e->value, "%s", value ? value : "");
    e->score = score;
    e->is_zset = is_zset;
    return is_new;
}

static inline void fake_drop(struct fake_entry *e) { *e = fake_redis.entries[--fake_redis.nentries]; }

static inline int fake_count(const char *key, int is_zset) {
    int n = 0;
    for (int i = 0; i < fake_redis.nentries; i++)
        n += fake_redis.entries[i].is_zset == is_zset && strcmp(fake_redis.entries[i].key, key) == 0;
    return n;
}

/* The value of hash field key.field, or NULL. */
static inline const char *fake_hget(const char *key, const char *field) {
    struct fake_entry *e = fake_find(key, field, 0);
    return e ? e->value : NULL;
}

/* The first member of sorted set `key` that begins with `prefix` (a key ending in '*': any key
 * beginning so), or NULL. */
static inline const char *fake_zmember(const char *key, const char *prefix) {
    size_t klen = strlen(key), plen = strlen(prefix);
    int wild = klen && key[klen - 1] == '*';
    for (int i = 0; i < fake_redis.nentries; i++) {
        struct fake_entry *e = &fake_redis.entries[i];
        if (e->is_zset && (wild ? strncmp(e->key, key, klen - 1) == 0 : strcmp(e->key, key) == 0) &&
            strncmp(e->field, prefix, plen) == 0)
            return e->field;
    }
    return NULL;
}

/* Within a ZREMRANGEBYSCORE bound ("-inf", "+inf", "(n" exclusive, or n): score >= min, score <= max. */
static inline int fake_above(double score, const char *min) {
    if (strcmp(min, "-inf") == 0) return 1;
    if (strcmp(min, "+inf") == 0) return 0;
    return min[0] == '(' ? score > atof(min + 1) : score >= atof(min);
}

static inline int fake_below(double score, const char *max) {
    if (strcmp(max, "+inf") == 0) return 1;
    if (strcmp(max, "-inf") == 0) return 0;
    return max[0] == '(' ? score < atof(max + 1) : score <= atof(max);
}

/* ---- answers ------------------------------------------------------------------------------ */

static inline void fake_sent(uv_write_t *w, int status) {
    (void)status;
    free(w);
}

/* Write `b` (copied) to the stream. */
static inline void fake_send(uv_stream_t *s, const buf_t *b) {
    uv_write_t *w = malloc(sizeof *w + b->len);
    if (!w) return;
    memcpy(w + 1, b->data, b->len);
    uv_buf_t ub = uv_buf_init((char *)(w + 1), (unsigned)b->len);
    if (uv_write(w, s, &ub, 1, fake_sent) != 0) free(w);
}

static inline void fake_bulk(buf_t *out, const char *s) { buf_printf(out, "$%zu\r\n%s\r\n", strlen(s), s); }

/* The reservation of placement.c: the backend's reported count (ARGV[1]) plus the reservations
 * held (ZCARD KEYS[1]) must stay under its capacity (ARGV[2]); then ZADD ARGV[3] ARGV[4]. */
static inline void fake_eval(buf_t *out, int argc, char **argv) {
    if (argc != 8 || strcmp(argv[2], "1") != 0 || !strstr(argv[1], "ZCARD")) {
        buf_append_str(out, "-ERR the fake Redis knows only the reservation script\r\n");
        return;
    }
    if (atol(argv[4]) + fake_count(argv[3], 1) >= atol(argv[5])) {
        buf_append_str(out, ":0\r\n");
        return;
    }
    fake_put(argv[3], argv[7], NULL, atof(argv[6]), 1, 0);
    buf_append_str(out, ":1\r\n");
}

static inline void fake_execute(buf_t *out, int argc, char **argv) {
    const char *cmd = argv[0];
    int n = 0;
    if (!strcasecmp(cmd, "HSET") || !strcasecmp(cmd, "HSETNX")) {
        int only_new = !strcasecmp(cmd, "HSETNX");
        for (int i = 2; i + 1 < argc; i += 2) n += fake_put(argv[1], argv[i], argv[i + 1], 0, 0, only_new) == 1;
        buf_printf(out, ":%d\r\n", n);
    } else if (!strcasecmp(cmd, "HGET") && argc == 3) {
        const char *v = fake_hget(argv[1], argv[2]);
        if (v) fake_bulk(out, v);
        else buf_append_str(out, "$-1\r\n");
    } else if (!strcasecmp(cmd, "HGETALL") && argc == 2) {
        buf_printf(out, "*%d\r\n", 2 * fake_count(argv[1], 0));
        for (int i = 0; i < fake_redis.nentries; i++) {
            struct fake_entry *e = &fake_redis.entries[i];
            if (!e->is_zset && strcmp(e->key, argv[1]) == 0) fake_bulk(out, e->field), fake_bulk(out, e->value);
        }
    } else if (!strcasecmp(cmd, "ZADD") && argc >= 4) {
        int xx = !strcasecmp(argv[2], "XX"), first = xx ? 3 : 2;
        for (int i = first; i + 1 < argc; i += 2)
            if (!xx || fake_find(argv[1], argv[i + 1], 1))
                n += fake_put(argv[1], argv[i + 1], NULL, atof(argv[i]), 1, 0) == 1;
        buf_printf(out, ":%d\r\n", n);
    } else if ((!strcasecmp(cmd, "ZREM") || !strcasecmp(cmd, "HDEL")) && argc >= 3) {
        for (int i = 2; i < argc; i++) {
            struct fake_entry *e = fake_find(argv[1], argv[i], !strcasecmp(cmd, "ZREM"));
            if (e) fake_drop(e), n++;
        }
        buf_printf(out, ":%d\r\n", n);
    } else if (!strcasecmp(cmd, "ZCARD") && argc == 2) {
        buf_printf(out, ":%d\r\n", fake_count(argv[1], 1));
    } else if (!strcasecmp(cmd, "ZRANGE") && argc >= 4) { /* the whole set: placement.c asks 0 -1 */
        buf_printf(out, "*%d\r\n", fake_count(argv[1], 1));
        for (int i = 0; i < fake_redis.nentries; i++)
            if (fake_redis.entries[i].is_zset && strcmp(fake_redis.entries[i].key, argv[1]) == 0)
                fake_bulk(out, fake_redis.entries[i].field);
    } else if (!strcasecmp(cmd, "ZREMRANGEBYSCORE") && argc == 4) {
        for (int i = fake_redis.nentries - 1; i >= 0; i--) {
            struct fake_entry *e = &fake_redis.entries[i];
            if (e->is_zset && strcmp(e->key, argv[1]) == 0 && fake_above(e->score, argv[2]) &&
                fake_below(e->score, argv[3]))
                fake_drop(e), n++;
        }
        buf_printf(out, ":%d\r\n", n);
    } else if (!strcasecmp(cmd, "EVAL") && argc >= 3) {
        fake_eval(out, argc, argv);
    } else if (!strcasecmp(cmd, "DEL") && argc >= 2) {
        for (int i = fake_redis.nentries - 1; i >= 0; i--)
            if (strcmp(fake_redis.entries[i].key, argv[1]) == 0) fake_drop(&fake_redis.entries[i]), n = 1;
        buf_printf(out, ":%d\r\n", n);
    } else if (!strcasecmp(cmd, "EXPIRE") || !strcasecmp(cmd, "PEXPIRE")) {
        buf_append_str(out, ":1\r\n");
    } else if (!strcasecmp(cmd, "PING")) {
        buf_append_str(out, "+PONG\r\n");
    } else if (!strcasecmp(cmd, "SELECT") || !strcasecmp(cmd, "AUTH")) {
        buf_append_str(out, "+OK\r\n");
    } else {
        buf_printf(out, "-ERR the fake Redis does not know %s\r\n", cmd);
    }
}

/* Log the command (its words joined by spaces), then answer it. */
static inline void fake_command(struct fake_redis_peer *p, const redisReply *r) {
    buf_t out = BUF_INIT, line = BUF_INIT;
    char *argv[64];
    int argc = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && argc < 64; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING) argv[argc++] = r->element[i]->str;
    if (argc == 0) {
        buf_append_str(&out, "-ERR not a command\r\n");
    } else {
        for (int i = 0; i < argc; i++) buf_printf(&line, "%s%s", i ? " " : "", argv[i]);
        if (fake_redis.nlog < FAKE_MAX_LOG) fake_redis.log[fake_redis.nlog++] = buf_steal(&line);
        fake_execute(&out, argc, argv);
    }
    fake_send((uv_stream_t *)&p->tcp, &out);
    buf_free(&out);
    buf_free(&line);
}

/* ---- connections ---------------------------------------------------------------------- */

static inline void fake_peer_closed(uv_handle_t *h) {
    struct fake_redis_peer *p = h->data, **pp = &fake_redis.peers;
    while (*pp && *pp != p) pp = &(*pp)->next;
    if (*pp) *pp = p->next;
    redisReaderFree(p->reader);
    free(p);
}

static inline void fake_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct fake_redis_peer *p = s->data;
    void *r = NULL;
    if (n < 0 || (n > 0 && redisReaderFeed(p->reader, b->base, (size_t)n) != REDIS_OK)) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, fake_peer_closed);
    } else {
        while (redisReaderGetReply(p->reader, &r) == REDIS_OK && r) {
            fake_command(p, r);
            freeReplyObject(r);
            r = NULL;
        }
    }
    free(b->base);
}

static inline void fake_redis_on_peer(uv_stream_t *server, int status) {
    struct fake_redis_peer *p = status < 0 ? NULL : calloc(1, sizeof *p);
    if (!p) return;
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    p->reader = redisReaderCreate();
    p->next = fake_redis.peers;
    fake_redis.peers = p;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) == 0) uv_read_start((uv_stream_t *)&p->tcp, unit_alloc, fake_read);
    else uv_close((uv_handle_t *)&p->tcp, fake_peer_closed);
}

/* Listen on 127.0.0.1 (fake_redis.hostport): 0, or -1. */
static inline int fake_redis_start(void) {
    return listen_local(&fake_redis.server, fake_redis_on_peer, fake_redis.hostport, sizeof fake_redis.hostport);
}

/* Close the listener and every connection, forget the log and the store. */
static inline void fake_redis_stop(void) {
    uv_close((uv_handle_t *)&fake_redis.server, NULL);
    for (struct fake_redis_peer *p = fake_redis.peers; p; p = p->next)
        if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, fake_peer_closed);
    for (int i = 0; i < fake_redis.nlog; i++) free(fake_redis.log[i]);
    fake_redis.nlog = 0;
    fake_redis.nentries = 0;
}

/* The index of the first logged command from `from` on that begins with `prefix`, or -1. */
static inline int fake_logged(int from, const char *prefix) {
    for (int i = from < 0 ? 0 : from; i < fake_redis.nlog; i++)
        if (strncmp(fake_redis.log[i], prefix, strlen(prefix)) == 0) return i;
    return -1;
}

#endif
