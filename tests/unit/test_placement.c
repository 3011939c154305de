/* test_placement.c — the balancer's placement (core/balancer/placement.c) against a fake Redis
 * (unit_fake_redis.h) and two fake backends, all on the test's loop: no Docker, no real Redis.
 *
 * The balancer is started as main.c starts it (the policy installed, the route table, then
 * balancer_init: the fleet, Redis); requests reach it as internal requests (unit_router.h).
 * The policy's pick_backend takes the backend the request's body names ("pick"; "none": none),
 * else the first one offered; its admit refuses the languages "refused" (429, scope key) and
 * "forbidden" (403). */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "balancer/balancer.h"
#include "balancer/fleet.h"
#include "base/buf.h"
#include "base/log.h"
#include "policy/app.h"
#include "routes.h"
#include "unit.h"
#include "unit_app.h"
#include "unit_fake_redis.h"
#include "unit_loop.h"
#include "unit_router.h"

/* ---- the fake backends: /healthz, and POST /v1/sessions and /v1/run by their mode ------- */

enum backend_mode { CREATES, FULL };

struct backend {
    uv_tcp_t server;
    char url[80];
    char name;              /* 'a', 'b': the first letter of the ids it gives */
    enum backend_mode mode;
    int creates, runs;      /* POSTs received */
    int redis_log_at_post;  /* the fake Redis's log length when the last POST came */
    int next_id;
};

static struct backend backends[2];

struct backend_peer {
    uv_tcp_t tcp;
    struct backend *b;
    buf_t in;
    struct backend_peer *next;
};

static struct backend_peer *backend_peers;

static void backend_peer_closed(uv_handle_t *h) {
    struct backend_peer *p = h->data, **pp = &backend_peers;
    while (*pp && *pp != p) pp = &(*pp)->next;
    if (*pp) *pp = p->next;
    buf_free(&p->in);
    free(p);
}

static void backend_respond(struct backend_peer *p, int status, const char *reason, const char *json) {
    buf_t out = BUF_INIT;
    buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", status,
               reason, strlen(json), json);
    fake_send((uv_stream_t *)&p->tcp, &out);
    buf_free(&out);
}

static void backend_serve(struct backend_peer *p, const char *request) {
    struct backend *b = p->b;
    char answer[256];
    if (strncmp(request, "GET /healthz ", 13) == 0) {
        snprintf(answer, sizeof answer, "{\"status\":\"ok\",\"sessions\":0,\"capacity\":10,\"boot_id\":\"boot-%c\"}",
                 b->name);
        backend_respond(p, 200, "OK", answer);
        return;
    }
    int is_run = strncmp(request, "POST /v1/run ", 13) == 0;
    if (!is_run && strncmp(request, "POST /v1/sessions ", 18) != 0) {
        backend_respond(p, 404, "Not Found", "{\"error\":{\"code\":\"not_found\"}}");
        return;
    }
    b->redis_log_at_post = fake_redis.nlog;
    if (is_run) {
        b->runs++;
        backend_respond(p, 200, "OK", "{\"stdout\":\"1\\n\",\"exit_code\":0}");
    } else if (b->creates++, b->mode == FULL) {
        backend_respond(p, 429, "Too Many Requests",
                        "{\"error\":{\"code\":\"too_many_sessions\",\"message\":\"full\",\"scope\":\"server\"}}");
    } else {
        snprintf(answer, sizeof answer, "{\"id\":\"%c-%d\",\"state\":\"running\"}", b->name, ++b->next_id);
        backend_respond(p, 201, "Created", answer);
    }
}

/* Every whole request in the buffer (the balancer keeps its connections alive). */
static void backend_take(struct backend_peer *p) {
    for (;;) {
        char *end = p->in.data ? strstr(p->in.data, "\r\n\r\n") : NULL;
        if (!end) return;
        size_t head = (size_t)(end - p->in.data) + 4, body = 0;
        const char *cl = strcasestr(p->in.data, "\r\ncontent-length:");
        if (cl && cl < end) body = strtoul(cl + 17, NULL, 10);
        if (p->in.len < head + body) return;
        backend_serve(p, p->in.data);
        buf_consume(&p->in, head + body);
    }
}

static void backend_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    struct backend_peer *p = s->data;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, backend_peer_closed);
    } else if (n > 0) {
        buf_append(&p->in, b->base, (size_t)n);
        backend_take(p);
    }
    free(b->base);
}

static void backend_on_peer(uv_stream_t *server, int status) {
    struct backend_peer *p = status < 0 ? NULL : calloc(1, sizeof *p);
    if (!p) return;
    p->b = server->data;
    uv_tcp_init(loop, &p->tcp);
    p->tcp.data = p;
    p->next = backend_peers;
    backend_peers = p;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) == 0) uv_read_start((uv_stream_t *)&p->tcp, unit_alloc, backend_read);
    else uv_close((uv_handle_t *)&p->tcp, backend_peer_closed);
}

static int backend_start(struct backend *b, char name) {
    char hostport[64];
    b->name = name;
    if (listen_local(&b->server, backend_on_peer, hostport, sizeof hostport) < 0) return -1;
    b->server.data = b; /* after listen_local's uv_tcp_init: backend_on_peer finds it there */
    snprintf(b->url, sizeof b->url, "http://%s", hostport);
    return 0;
}

static void backends_stop(void) {
    for (int i = 0; i < 2; i++) uv_close((uv_handle_t *)&backends[i].server, NULL);
    for (struct backend_peer *p = backend_peers; p; p = p->next)
        if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, backend_peer_closed);
}

/* ---- the balancer's side ------------------------------------------------------------------ */

/* health_interval_ms also bounds a health check: the default, 1000, so that a loaded machine's
 * pauses do not make a fake backend unhealthy mid-test. */
static const char policy_shape[] =
    "return { role = 'balancer', listen = '127.0.0.1:0', redis = '%s', backends = { '%s', '%s' },\n"
    "  keys = { client = {'client-key'}, admin = {'admin-key'} }, health_interval_ms = 1000,\n"
    "  pick_backend = function(backends, req)\n"
    "    if req.pick == 'none' then return nil end\n"
    "    for _, b in ipairs(backends) do if b.url == req.pick then return b.url end end\n"
    "    return backends[1] and backends[1].url\n"
    "  end,\n"
    "  admit = function(req)\n"
    "    if req.language == 'refused' then return nil, 'the key is full', 'too_many_sessions', 'key' end\n"
    "    if req.language == 'forbidden' then return nil, 'not this language' end\n"
    "    return { admitted = true }\n"
    "  end }\n";

static const char *const client[] = {"authorization", "Bearer client-key", NULL};

static int answered_at_log; /* the fake Redis's log length when the client was answered */
static void note_answered(void) { answered_at_log = fake_redis.nlog; }

/* POST `target` with `body`, waiting for the answer: its status (0: none in time). */
static int ask(const char *target, const char *body) {
    unit_ask_body("POST", target, client, body);
    RUN_UNTIL(unit_answer.status != 0, 5000);
    return unit_answer.status;
}

/* The answer's error.code is `code` and its error.scope `scope` (NULL: none). */
static int answer_error_is(const char *code, const char *scope) {
    json_t *j = json_loads(unit_answer.body, 0, NULL), *e = json_object_get(j, "error");
    const char *c = json_string_value(json_object_get(e, "code")), *s = json_string_value(json_object_get(e, "scope"));
    int ok = c && strcmp(c, code) == 0 && (scope ? s && strcmp(s, scope) == 0 : s == NULL);
    json_decref(j);
    return ok;
}

/* The session id of the answer, copied into out ("" if none). */
static const char *answer_id(char *out, size_t len) {
    json_t *j = json_loads(unit_answer.body, 0, NULL);
    snprintf(out, len, "%s", json_string_value(json_object_get(j, "id")) ?: "");
    json_decref(j);
    return out;
}

/* The index of the first reservation (EVAL) logged from `from` on, on backend `url` (NULL: any), or -1. */
static int reservation_logged(int from, const char *url) {
    char key[128];
    snprintf(key, sizeof key, " 1 cc:resv:%s ", url ? url : "");
    for (int i = from; (i = fake_logged(i, "EVAL ")) >= 0; i++)
        if (strstr(fake_redis.log[i], url ? key : " 1 cc:resv:")) return i;
    return -1;
}

/* A session placed where pick_backend says: reserved there, forwarded there, and its route stored
 * (and the session counted for its key) before the client hears of it. */
static void test_create(void) {
    struct backend *b = &backends[1];
    int from = fake_redis.nlog, creates_a = backends[0].creates;
    char body[256], id[64], want[256], prefix[256];
    snprintf(body, sizeof body, "{\"language\":\"python\",\"pick\":\"%s\"}", b->url);
    unit_answered = note_answered;
    CHECK(ask("/v1/sessions", body) == 201);
    unit_answered = NULL;
    CHECK_STR(answer_id(id, sizeof id), "b-1");
    CHECK(b->creates == 1 && backends[0].creates == creates_a);

    /* EVAL <script> 1 cc:resv:<url> <its sessions> <its capacity> <hold until> <reservation id> */
    int resv = reservation_logged(from, b->url);
    snprintf(want, sizeof want, " 1 cc:resv:%s 0 10 ", b->url);
    CHECK(resv >= 0 && resv < b->redis_log_at_post && strstr(fake_redis.log[resv], want) != NULL);
    CHECK(reservation_logged(from, backends[0].url) < 0);

    snprintf(want, sizeof want, "HSET cc:session:%s backend %s boot_id boot-b ", id, b->url);
    int route = fake_logged(from, want);
    snprintf(prefix, sizeof prefix, "ZADD cc:backend_sessions:%s ", b->url);
    int indexed = fake_logged(from, prefix);
    snprintf(prefix, sizeof prefix, "ZADD cc:resv:%s XX ", b->url);
    int lapsed = fake_logged(from, prefix); /* the backend took it: the next health report counts it */
    CHECK(route > resv && route < answered_at_log);
    CHECK(indexed > route && indexed < answered_at_log);
    CHECK(lapsed > route && lapsed < answered_at_log);
    snprintf(want, sizeof want, "cc:session:%s", id);
    CHECK_STR(fake_hget(want, "backend"), b->url);
    snprintf(want, sizeof want, "%s %s", b->url, id);
    CHECK(fake_zmember("cc:keyset:*", want) != NULL);
}

/* A backend's 429 with scope "server": placed again on the other one, the first reservation released. */
static void test_place_elsewhere(void) {
    struct backend *full = &backends[0], *other = &backends[1];
    int from = fake_redis.nlog, creates_full = full->creates, creates_other = other->creates;
    char body[256], id[64], prefix[256];
    full->mode = FULL;
    snprintf(body, sizeof body, "{\"language\":\"python\",\"pick\":\"%s\"}", full->url);
    CHECK(ask("/v1/sessions", body) == 201);
    full->mode = CREATES;
    CHECK(answer_id(id, sizeof id)[0] == 'b');
    CHECK(full->creates == creates_full + 1 && other->creates == creates_other + 1);
    int first = reservation_logged(from, full->url), second = reservation_logged(from, other->url);
    snprintf(prefix, sizeof prefix, "ZREM cc:resv:%s ", full->url);
    int released = fake_logged(from, prefix);
    CHECK(first >= 0 && released > first && second > released);
}

/* Refused by admit, or no backend picked: answered so, with nothing reserved or forwarded. */
static void test_refusals(void) {
    int from = fake_redis.nlog, creates = backends[0].creates + backends[1].creates;
    CHECK(ask("/v1/sessions", "{\"language\":\"refused\"}") == 429);
    CHECK(answer_error_is("too_many_sessions", "key"));
    CHECK(ask("/v1/sessions", "{\"language\":\"forbidden\"}") == 403);
    CHECK(answer_error_is("forbidden", NULL));
    CHECK(ask("/v1/sessions", "{\"language\":\"python\",\"pick\":\"none\"}") == 429);
    CHECK(answer_error_is("too_many_sessions", "server"));
    CHECK(reservation_logged(from, NULL) < 0);
    CHECK(backends[0].creates + backends[1].creates == creates);
}

/* A run counts for its key while it runs: "<url> run:<id>" is added to the key's set as it is
 * forwarded, and removed once the backend answered. */
static void test_run(void) {
    struct backend *b = &backends[0];
    int from = fake_redis.nlog;
    char body[256], member[128];
    snprintf(body, sizeof body, "{\"language\":\"python\",\"code\":\"print(1)\",\"pick\":\"%s\"}", b->url);
    CHECK(ask("/v1/run", body) == 200);
    CHECK(strstr(unit_answer.body, "\"exit_code\":0") != NULL);
    CHECK(b->runs == 1);
    snprintf(member, sizeof member, "%s run:", b->url);
    CHECK(RUN_UNTIL(fake_zmember("cc:keyset:*", member) == NULL, 3000));
    /* The same member, added then removed (ZADD <set> <expiry> <member>, ZREM <set> <member>). */
    int added = fake_logged(from, "ZADD cc:keyset:");
    const char *run = added >= 0 ? strstr(fake_redis.log[added], member) : NULL;
    int gone = run ? fake_logged(added, "ZREM cc:keyset:") : -1;
    CHECK(run != NULL && gone > added && strstr(fake_redis.log[gone], run) != NULL);
}

static int all_healthy(void) {
    for (int i = 0; i < 2; i++) {
        struct fleet_backend *f = fleet_find(backends[i].url);
        if (!f || !f->healthy) return 0;
    }
    return 1;
}

static int stopped;
static void on_stopped(void) { stopped = 1; }

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    log_set_min_level(LOG_ERROR);
    loop = uv_default_loop();
    if (fake_redis_start() < 0 || backend_start(&backends[0], 'a') < 0 || backend_start(&backends[1], 'b') < 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        return 1;
    }
    char policy[2048], err[512];
    snprintf(policy, sizeof policy, policy_shape, fake_redis.hostport, backends[0].url, backends[1].url);
    if (unit_app_install(loop, policy) < 0) return 1;
    router_use(route_table, route_table_len, ROLE_BALANCER);
    if (balancer_init(loop, err, sizeof err) < 0) {
        fprintf(stderr, "balancer_init: %s\n", err);
        return 1;
    }
    /* The fleet seeds the backends into Redis, reads them back, checks their health. */
    CHECK(RUN_UNTIL(all_healthy(), 5000));
    if (all_healthy()) {
        test_create();
        test_place_elsewhere();
        test_refusals();
        test_run();
    }

    balancer_shutdown(on_stopped);
    CHECK(RUN_UNTIL(stopped, 3000));
    fake_redis_stop();
    backends_stop();
    RUN_UNTIL(!uv_loop_alive(loop), 2000);
    router_use(NULL, 0, ROLE_BACKEND);
    CHECK(uv_loop_close(loop) == 0);
    app_free();
    return unit_report();
}
