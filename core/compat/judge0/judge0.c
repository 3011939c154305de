/* judge0.c — Judge0 CE 1.13.1's API (config/routes.rb) on a backend and on a
 * balancer (its routes are core/routes.c's): creating submissions (one, a batch, waited for or
 * queued), languages, statuses and the information routes.  A submission's
 * fields are read with Judge0's defaults, bounds and 422 messages
 * (judge0_submission.c) and shown as its serializer shows them
 * (judge0_show.c).  Keys are ours, presented as X-Auth-Token (or any header
 * /v1 takes); a submission is visible to its own key only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "compat/compat.h"
#include "http/reply.h"
#include "http/router.h"
#include "judge0.h"
#include "policy/app.h"

#define JUDGE0_VERSION "1.13.1"

double j0_conf(const char *name, double def) {
    const json_t *v = json_object_get(json_object_get(app_config()->judge0, "config"), name);
    return json_is_number(v) ? json_number_value(v) : def;
}

int j0_conf_flag(const char *name, int def) {
    const json_t *v = json_object_get(json_object_get(app_config()->judge0, "config"), name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

void j0_error(struct request *req, int status, const char *msg) {
    reply_json(req, status, json_pack("{s:s}", "error", msg));
}

/* ---- languages: the policy's Judge0 ids against /v1/languages --------------------------------- */

/* The /v1 language an id names, among the available ones of `langs` (/v1/languages' body), with
 * Judge0's display name filled in from its real version; NULL when it is not offered here. */
const json_t *j0_resolve_id(const json_t *langs, json_int_t id, char *name, size_t namelen) {
    size_t i, k, m;
    json_t *e, *n, *l, *a;
    json_array_foreach(json_object_get(app_config()->judge0, "languages"), i, e) {
        if (json_integer_value(json_object_get(e, "id")) != id) continue;
        json_array_foreach(json_object_get(e, "names"), k, n) {
            json_array_foreach(json_object_get(langs, "languages"), m, l) {
                int named = json_equal(json_object_get(l, "name"), n);
                size_t q;
                json_array_foreach(json_object_get(l, "aliases"), q, a) named |= json_equal(a, n);
                if (!named || json_is_false(json_object_get(l, "available"))) continue;
                const char *pattern = json_string_value(json_object_get(e, "name"));
                const char *version = json_string_value(json_object_get(l, "version"));
                const char *pct = pattern ? strstr(pattern, "%s") : NULL;
                if (pct) snprintf(name, namelen, "%.*s%s%s", (int)(pct - pattern), pattern, version ? version : "", pct + 2);
                else snprintf(name, namelen, "%s", pattern ? pattern : json_string_value(json_object_get(l, "name")));
                return l;
            }
        }
    }
    return NULL;
}

/* Work that needs /v1/languages first: the client's request and what to do with the list. */
struct with_languages {
    struct request *req;
    void (*then)(struct request *req, const json_t *langs);
};

static void on_languages(int status, const char *body, size_t len, void *ud) {
    struct with_languages *w = ud;
    json_t *langs = status == 200 ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
    if (!langs) j0_error(w->req, status && status != 200 ? status : 500, "cannot list the languages");
    else w->then(w->req, langs);
    json_decref(langs);
    free(w);
}

static void with_languages(struct request *req, void (*then)(struct request *, const json_t *)) {
    struct with_languages *w = malloc(sizeof *w);
    struct request *sub = w ? http_subrequest(req, "GET", "/v1/languages", NULL, 0, on_languages, w) : NULL;
    if (!sub) {
        free(w);
        j0_error(req, 500, "out of memory");
        return;
    }
    w->req = req;
    w->then = then;
    router_dispatch(sub);
}

static void list_languages(struct request *req, const json_t *langs) {
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(app_config()->judge0, "languages"), i, e) {
        char name[128];
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        if (j0_resolve_id(langs, id, name, sizeof name)) json_array_append_new(out, json_pack("{s:I,s:s}", "id", id, "name", name));
    }
    reply_json(req, 200, out);
}

void j0_handle_languages(struct request *req) { with_languages(req, list_languages); }

static json_t *joined_argv(const json_t *argv) {
    if (!json_is_array(argv)) return json_null();
    buf_t b = BUF_INIT;
    size_t i;
    json_t *a;
    json_array_foreach(argv, i, a) {
        if (i) buf_append(&b, " ", 1);
        buf_append_str(&b, json_string_value(a) ?: "");
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return s;
}

static void show_language(struct request *req, const json_t *langs) {
    char name[128], *end;
    long id = strtol(req->params[0], &end, 10);
    const json_t *l = *end ? NULL : j0_resolve_id(langs, id, name, sizeof name);
    if (!l) {
        j0_error(req, 404, "Not Found");
        return;
    }
    /* The commands are known where the image map is (a backend); a balancer shows null. */
    const json_t *entry = json_object_get(app_config()->images, json_string_value(json_object_get(l, "name")));
    const json_t *file = json_object_get(entry, "file");
    reply_json(req, 200, json_pack("{s:i,s:s,s:b,s:o,s:o,s:o}", "id", (int)id, "name", name, "is_archived", 0,
                                   "source_file", json_is_string(file) ? json_incref((json_t *)file) : json_null(),
                                   "compile_cmd", joined_argv(json_object_get(entry, "compile")), "run_cmd",
                                   joined_argv(json_object_get(entry, "run"))));
}

void j0_handle_language(struct request *req) { with_languages(req, show_language); }

/* ---- creating submissions ----------------------------------------------------------------------- */

static int queue_full(size_t adding) {
    return (double)(j0_run_queued() + adding) > j0_conf("max_queue_size", 100);
}

/* An answer sent once every submission it names is stored (readable on any balancer). It holds
 * one reference of its own until its maker is done with it, so it cannot go out half built. */
struct answer {
    struct request *req; /* NULL once the client went away */
    json_t *body;
    int status;
    int pending;
};

static void answer_abort(struct request *req, void *ud) {
    (void)req;
    ((struct answer *)ud)->req = NULL;
}

static struct answer *answer_new(struct request *req, int status, json_t *body) {
    struct answer *a = calloc(1, sizeof *a);
    if (!a) {
        json_decref(body);
        return NULL;
    }
    *a = (struct answer){req, body, status, 1};
    http_set_abort(req, answer_abort, a);
    return a;
}

static void answer_release(void *ud) {
    struct answer *a = ud;
    if (--a->pending > 0) return;
    if (a->req) {
        http_set_abort(a->req, NULL, NULL);
        reply_json(a->req, a->status, a->body);
    } else {
        json_decref(a->body);
    }
    free(a);
}

/* Stores `sub` for the answer `a`. */
static void store_for(struct answer *a, json_t *sub) {
    a->pending++;
    j0_store_put(json_incref(sub), answer_release, a);
}

struct waiter {
    struct request *req;
    json_t *fields;
    int base64;
};

static void waiter_abort(struct request *req, void *ud) {
    (void)req;
    struct waiter *w = ud;
    j0_run_forget(w);
    json_decref(w->fields);
    free(w);
}

static void waiter_done(json_t *sub, void *ud) {
    struct waiter *w = ud;
    http_set_abort(w->req, NULL, NULL);
    json_t *out = j0_show(sub, w->fields, w->base64);
    if (out) {
        reply_json(w->req, 201, out);
    } else {
        reply_json(w->req, 201, json_pack("{s:s,s:O}", "error", J0_NOT_UTF8, "token", json_object_get(sub, "token")));
    }
    json_decref(w->fields);
    free(w);
}

static void create(struct request *req, const json_t *langs) {
    char wait[16];
    int waiting = http_query_param(req, "wait", wait, sizeof wait) > 0 && strcmp(wait, "true") == 0;
    json_t *fields = j0_requested_fields(req);
    if (!fields) return;
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    json_t *errors = json_object();
    json_t *sub = j0_read_submission(req, body, j0_base64_requested(req), langs, errors);
    json_decref(body);
    if (!sub) {
        json_decref(fields);
        reply_json(req, 422, errors);
        return;
    }
    json_decref(errors);
    if (!waiting) {
        /* The token goes out once the submission can be read on any balancer. */
        struct answer *a = answer_new(req, 201, json_pack("{s:O}", "token", json_object_get(sub, "token")));
        if (!a) {
            j0_error(req, 500, "out of memory");
        } else {
            store_for(a, sub);
            if (j0_run_submit(req, sub, 0, NULL, NULL) < 0) {
                a->status = 500;
                json_decref(a->body);
                a->body = json_pack("{s:s}", "error", "out of memory");
            }
            answer_release(a);
        }
        json_decref(sub);
        json_decref(fields);
        return;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (w) {
        w->req = req;
        w->fields = fields;
        w->base64 = j0_base64_requested(req);
        http_set_abort(req, waiter_abort, w);
        j0_store_put(json_incref(sub), NULL, NULL);
    }
    if (!w || j0_run_submit(req, sub, 1, waiter_done, w) < 0) {
        if (w) {
            j0_store_delete(json_string_value(json_object_get(sub, "token")), NULL, NULL);
            http_set_abort(req, NULL, NULL);
            free(w);
        }
        json_decref(fields);
        j0_error(req, 500, "out of memory");
    }
    json_decref(sub);
}

void j0_handle_create(struct request *req) {
    char wait[16];
    int waiting = http_query_param(req, "wait", wait, sizeof wait) > 0 && strcmp(wait, "true") == 0;
    if (waiting && !j0_conf_flag("enable_wait_result", 1)) {
        j0_error(req, 400, "wait not allowed");
        return;
    }
    if (queue_full(1)) {
        j0_error(req, 503, "queue is full");
        return;
    }
    with_languages(req, create);
}

static void batch_create(struct request *req, const json_t *langs) {
    json_t *body = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const json_t *list = json_object_get(body, "submissions");
    if (j0_batch_size_ok(req, json_array_size(list)) < 0) {
        /* answered */
    } else if (queue_full(json_array_size(list))) {
        j0_error(req, 503, "queue is full");
    } else {
        int base64 = j0_base64_requested(req), any = 0;
        json_t *out = json_array();
        struct answer *a = answer_new(req, 201, json_incref(out));
        size_t i;
        json_t *in;
        json_array_foreach(list, i, in) {
            json_t *errors = json_object();
            json_t *sub = a ? j0_read_submission(req, in, base64, langs, errors) : NULL;
            if (sub) {
                store_for(a, sub);
                if (j0_run_submit(req, sub, 0, NULL, NULL) == 0) {
                    json_array_append_new(out, json_pack("{s:O}", "token", json_object_get(sub, "token")));
                    any = 1;
                    json_decref(errors);
                    errors = NULL;
                } else {
                    j0_store_delete(json_string_value(json_object_get(sub, "token")), NULL, NULL);
                    j0_add_error(errors, "token", "out of memory");
                }
                json_decref(sub);
            }
            if (errors) json_array_append_new(out, errors);
        }
        json_decref(out);
        if (a) {
            a->status = any ? 201 : 422;
            answer_release(a);
        } else {
            j0_error(req, 500, "out of memory");
        }
    }
    json_decref(body);
}

void j0_handle_batch_create(struct request *req) { with_languages(req, batch_create); }

/* ---- information -------------------------------------------------------------------------------- */

void j0_handle_statuses(struct request *req) {
    json_t *out = json_array();
    for (int id = 1; id <= J0_EXEC_FORMAT_ERROR; id++)
        json_array_append_new(out, json_pack("{s:i,s:s}", "id", id, "description", j0_status_name(id)));
    reply_json(req, 200, out);
}

void j0_handle_about(struct request *req) {
    reply_json(req, 200, json_pack("{s:s,s:n,s:n,s:s}", "version", JUDGE0_VERSION, "homepage", "source_code",
                                   "maintainer", "CloudCode (the Judge0 CE " JUDGE0_VERSION " API)"));
}

void j0_handle_version(struct request *req) {
    http_respond(req, 200, "text/plain; charset=utf-8", JUDGE0_VERSION, strlen(JUDGE0_VERSION), NULL);
}

void j0_handle_config_info(struct request *req) {
    json_t *conf = json_object_get(app_config()->judge0, "config");
    reply_json(req, 200, json_is_object(conf) ? json_deep_copy(conf) : json_object());
}

void j0_handle_system_info(struct request *req) {
    struct utsname u;
    struct sysinfo si;
    char mem[64] = "";
    if (sysinfo(&si) == 0) snprintf(mem, sizeof mem, "%.1fGi", (double)si.totalram * si.mem_unit / (1 << 30));
    reply_json(req, 200, json_pack("{s:s,s:i,s:s}", "Architecture", uname(&u) == 0 ? u.machine : "",
                                   "CPU(s)", (int)sysconf(_SC_NPROCESSORS_ONLN), "Mem", mem));
}

void j0_handle_workers(struct request *req) {
    double workers = json_number_value(json_object_get(app_config()->judge0, "workers"));
    if (workers < 1) workers = 1;
    size_t working = j0_run_working();
    reply_json(req, 200, json_pack("[{s:s,s:I,s:I,s:I,s:I,s:i,s:i}]", "queue", JUDGE0_VERSION, "size",
                                   (json_int_t)j0_run_queued(), "available", (json_int_t)workers, "idle",
                                   (json_int_t)(workers > (double)working ? (size_t)workers - working : 0), "working",
                                   (json_int_t)working, "paused", 0, "failed", 0));
}

void judge0_free(void) {
    j0_callback_free();
    j0_run_free();
    j0_store_free();
}
