/* fanout.c — one GET to every healthy backend, answers gathered. */
#include "fanout.h"

#include <stdlib.h>

#include "fleet.h"
#include "http/proxy.h"
#include "policy/app.h"

struct fanout {
    struct request *req;
    json_t *answers;
    int pending;
    fanout_done_fn done;
    void *ud;
};

static void on_answer(void *ud, const struct proxy_answer *a) {
    struct fanout *f = ud;
    json_t *j = a->status == 200 ? json_loadb(a->body, a->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    if (j) json_array_append_new(f->answers, j);
    if (--f->pending == 0) {
        f->done(f->req, f->answers, f->ud);
        json_decref(f->answers);
        free(f);
    }
}

void fanout_get(struct request *req, const char *target, fanout_done_fn done, void *ud) {
    struct fanout *f = calloc(1, sizeof *f);
    f->req = req;
    f->answers = json_array();
    f->done = done;
    f->ud = ud;
    f->pending = 1; /* held until every call is sent */
    for (struct fleet_backend *b = fleet_list(); b; b = b->next) {
        if (!b->healthy) continue;
        f->pending++;
        if (!proxy_send(b->url, "GET", target, req, NULL, 0, app_config()->backend_timeout_ms, on_answer, f))
            f->pending--;
    }
    on_answer(f, &(struct proxy_answer){0});
}
