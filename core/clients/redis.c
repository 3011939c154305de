/* redis.c — Redis over hiredis's async API, with timeouts and reconnects. */
#include "redis.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "redis_uv.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

/* One command in flight.  It is referenced by hiredis (until its callback
 * runs, which hiredis guarantees, with a NULL reply on disconnect) and by its
 * timer (until the timer is closed). */
struct pending {
    uv_timer_t timer;
    redis_cb cb;
    void *ud;
    int answered;
    int refs;
};

static struct {
    uv_loop_t *loop;
    char host[300];
    int port;
    char password[256];
    int db;
    unsigned connect_timeout_ms, command_timeout_ms;
    redisAsyncContext *ac;
    int connected;            /* connect callback said OK and AUTH/SELECT were sent */
    uv_timer_t retry_timer;   /* reconnect backoff, and the connect timeout */
    unsigned backoff_ms;
    int stopping;
    void (*stopped)(void);
    void (*connected_cb)(void);
    char status[1024];
} rd;

void redis_on_connect(void (*fn)(void)) { rd.connected_cb = fn; }

int redis_ready(void) { return rd.connected; }
const char *redis_status(void) { return rd.connected ? "ok" : rd.status; }

static void pending_release(struct pending *p) {
    if (--p->refs == 0) free(p);
}

static void on_timer_closed(uv_handle_t *h) { pending_release(h->data); }

static void pending_answer(struct pending *p, redisReply *reply, const char *err) {
    if (p->answered) return;
    p->answered = 1;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    if (p->cb) p->cb(p->ud, reply, err);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    struct pending *p = privdata;
    pending_answer(p, r, r ? NULL : (rd.status[0] ? rd.status : "the connection to Redis was lost"));
    pending_release(p);
}

static void on_command_timeout(uv_timer_t *t) {
    struct pending *p = t->data;
    pending_answer(p, NULL, "Redis did not answer in time");
    /* The reply, if it ever comes, can no longer be matched to anything safe:
     * drop the connection now (a graceful disconnect would wait for the replies
     * of a Redis that gives none); hiredis fails the rest, and we reconnect. */
    if (rd.ac) {
        snprintf(rd.status, sizeof rd.status, "Redis did not answer in time");
        redisAsyncFree(rd.ac);   /* on_disconnect follows */
    }
}

static void schedule_reconnect(void);

static void on_connect(const redisAsyncContext *ac, int status) {
    uv_timer_stop(&rd.retry_timer);
    if (status != REDIS_OK) {
        snprintf(rd.status, sizeof rd.status, "cannot connect to Redis at %s:%d: %s", rd.host, rd.port, ac->errstr);
        rd.ac = NULL; /* hiredis frees the context after a failed connect */
        schedule_reconnect();
        return;
    }
    rd.connected = 1;
    rd.backoff_ms = BACKOFF_MIN_MS;
    rd.status[0] = '\0';
    log_msgf(LOG_INFO, "redis", "connected to %s:%d", rd.host, rd.port);
    if (rd.password[0]) {
        const char *auth[] = {"AUTH", rd.password};
        redis_argv(NULL, NULL, 2, auth);
    }
    if (rd.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", rd.db);
        const char *sel[] = {"SELECT", db};
        redis_argv(NULL, NULL, 2, sel);
    }
    if (rd.connected_cb) rd.connected_cb();
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)status;
    if (rd.connected) log_msgf(LOG_WARN, "redis", "connection lost: %s", ac->errstr[0] ? ac->errstr : rd.status);
    if (!rd.status[0]) snprintf(rd.status, sizeof rd.status, "the connection to Redis was lost");
    rd.connected = 0;
    rd.ac = NULL;
    if (rd.stopping) {
        uv_close((uv_handle_t *)&rd.retry_timer, NULL);
        if (rd.stopped) rd.stopped();
        return;
    }
    schedule_reconnect();
}

static void connect_now(void);

static void on_retry_timer(uv_timer_t *t) {
    (void)t;
    if (rd.ac) {
        /* The connect timeout: give up on this attempt. */
        snprintf(rd.status, sizeof rd.status, "cannot connect to Redis at %s:%d: timed out", rd.host, rd.port);
        /* A context that never connected gets no disconnect callback. */
        redisAsyncFree(rd.ac);
        rd.ac = NULL;
        schedule_reconnect();
        return;
    }
    connect_now();
}

static void schedule_reconnect(void) {
    if (rd.stopping) return;
    uv_timer_start(&rd.retry_timer, on_retry_timer, rd.backoff_ms, 0);
    rd.backoff_ms = rd.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rd.backoff_ms * 2;
}

static void connect_now(void) {
    redisAsyncContext *ac = redisAsyncConnect(rd.host, rd.port);
    if (!ac || ac->err) {
        snprintf(rd.status, sizeof rd.status, "cannot connect to Redis at %s:%d: %s", rd.host, rd.port,
                 ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    if (redis_uv_attach(ac, rd.loop) < 0) {
        redisAsyncFree(ac);
        schedule_reconnect();
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rd.ac = ac;
    uv_timer_start(&rd.retry_timer, on_retry_timer, rd.connect_timeout_ms, 0);
}

/* host:port, or redis://[:password@]host:port[/db] */
static int parse_target(const char *target, char *err, size_t errlen) {
    const char *s = target;
    rd.password[0] = '\0';
    rd.db = 0;
    if (strncmp(s, "redis://", 8) == 0) {
        s += 8;
        const char *at = strchr(s, '@');
        if (at) {
            const char *colon = memchr(s, ':', (size_t)(at - s));
            const char *pw = colon ? colon + 1 : s;
            snprintf(rd.password, sizeof rd.password, "%.*s", (int)(at - pw), pw);
            s = at + 1;
        }
    }
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%.*s", (int)strcspn(s, "/"), s);
    const char *slash = strchr(s, '/');
    if (slash && slash[1]) rd.db = atoi(slash + 1);
    char *colon = strrchr(hostport, ':');
    if (colon) {
        *colon = '\0';
        rd.port = atoi(colon + 1);
    } else {
        rd.port = 6379;
    }
    snprintf(rd.host, sizeof rd.host, "%s", strcmp(hostport, "localhost") == 0 ? "127.0.0.1" : hostport);
    if (!rd.host[0] || rd.port <= 0 || rd.port > 65535) {
        snprintf(err, errlen, "bad Redis address '%s': use host:port or redis://[:password@]host:port[/db]", target);
        return -1;
    }
    return 0;
}

int redis_start(uv_loop_t *loop, const char *target, unsigned connect_timeout_ms, unsigned command_timeout_ms,
                char *err, size_t errlen) {
    void (*connected_cb)(void) = rd.connected_cb;
    memset(&rd, 0, sizeof rd);
    rd.connected_cb = connected_cb;
    rd.loop = loop;
    rd.connect_timeout_ms = connect_timeout_ms;
    rd.command_timeout_ms = command_timeout_ms;
    rd.backoff_ms = BACKOFF_MIN_MS;
    if (parse_target(target, err, errlen) < 0) return -1;
    snprintf(rd.status, sizeof rd.status, "connecting to Redis at %s:%d", rd.host, rd.port);
    uv_timer_init(loop, &rd.retry_timer);
    connect_now();
    return 0;
}

void redis_command(redis_cb cb, void *ud, int argc, const char **argv, const size_t *argvlen) {
    if (!rd.ac || (!rd.connected && !(argc && strcmp(argv[0], "AUTH") == 0))) {
        if (cb) cb(ud, NULL, rd.status[0] ? rd.status : "Redis is not connected");
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        if (cb) cb(ud, NULL, "out of memory");
        return;
    }
    p->cb = cb;
    p->ud = ud;
    p->refs = 2;
    uv_timer_init(rd.loop, &p->timer);
    p->timer.data = p;
    if (redisAsyncCommandArgv(rd.ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        p->refs = 1;
        pending_answer(p, NULL, "Redis is not connected");
        return;
    }
    uv_timer_start(&p->timer, on_command_timeout, rd.command_timeout_ms, 0);
}

void redis_argv(redis_cb cb, void *ud, int argc, const char **argv) {
    if (argc > REDIS_ARGV_MAX) {
        fprintf(stderr, "redis: a command of %d arguments: raise REDIS_ARGV_MAX\n", argc);
        abort();
    }
    size_t lens[REDIS_ARGV_MAX];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redis_command(cb, ud, argc, argv, lens);
}

void redis_stop(void (*done)(void)) {
    rd.stopping = 1;
    rd.stopped = done;
    uv_timer_stop(&rd.retry_timer);
    if (rd.ac) {
        redisAsyncDisconnect(rd.ac); /* on_disconnect finishes */
        return;
    }
    uv_close((uv_handle_t *)&rd.retry_timer, NULL);
    if (done) done();
}
