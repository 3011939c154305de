/* backend.c — the backend role: start-up, /v1/languages, health, load and shutdown.
 *
 * Health comes from state that timers keep (an engine ping, and which mapped
 * images exist), never from a call made per request. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/proxy.h"
#include "http/reply.h"
#include "http/service.h"
#include "policy/app.h"
#include "pool.h"
#include "program.h"
#include "run.h"
#include "session.h"
#include "session_routes.h"
#include "uidpool.h"

#define HEALTH_INTERVAL_MS 2000
#define RECONCILE_INTERVAL_MS 30000
#define IMAGES_INTERVAL_MS 10000
#define PING_TIMEOUT_MS 2000
#define PINGS_LATE_TO_DOWN 3
#define RECONCILE_TIMEOUT_MS 30000

static struct {
    struct docker *docker;
    uv_timer_t health_timer;
    int engine_ok;
    int pings_late;           /* pings in a row the engine answered late (not at all in time) */
    char engine_why[256];
    json_t *images_missing;     /* {"language": "image"} of mapped images not built */
    json_t *image_env;          /* {"language": [...]}: each image's own Config.Env */
    unsigned images_checked_at; /* health ticks since the last image check */
    struct docker_call *ping;
    struct docker_call *events; /* the engine's /events stream, for our containers' deaths */
    void (*shutdown_done)(void);
    int stopping;
    int sandboxes_removed;      /* shutdown: every sandbox's removal confirmed */
    int reconcile_pending;      /* reconcile calls in flight (a list, removals) */
    unsigned reconcile_ticks;
    void (*stops[BACKEND_MAX_STOPS])(void); /* backend_at_shutdown */
    size_t nstops;
} be;

void backend_at_shutdown(void (*stop)(void)) {
    if (be.nstops == BACKEND_MAX_STOPS) {
        fprintf(stderr, "backend: more than %d shutdown stops: raise BACKEND_MAX_STOPS\n", BACKEND_MAX_STOPS);
        abort();
    }
    be.stops[be.nstops++] = stop;
}

static void maybe_close_engine(void);

struct docker *backend_docker(void) { return be.docker; }
int backend_engine_ok(void) { return be.engine_ok; }

/* An image entry's own limit defaults name limits the policy has, as numbers. */
static const char *entry_limits_problem(const struct config *c, const json_t *e) {
    const json_t *own = json_object_get(e, "limits");
    if (!own) return NULL;
    /* Lua's empty table arrives as an empty array. */
    if (json_is_array(own) && json_array_size(own) == 0) return NULL;
    if (!json_is_object(own)) return "limits must be a table { limit = default, ... }";
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)own, name, v) {
        if (!json_object_get(c->limits, name)) return "limits names a limit the policy has not";
        if (!json_is_number(v) || json_number_value(v) <= 0) return "limits must hold positive numbers";
    }
    return NULL;
}

int backend_validate(const struct config *c, struct policy *p, char *err, size_t errlen) {
    const char *lang;
    json_t *e;
    if (json_object_size(c->images) == 0) {
        snprintf(err, errlen, "%s:%d: setting 'images' must map at least one language", policy_path(p),
                 policy_line_of(p, "images"));
        return -1;
    }
    json_object_foreach(c->images, lang, e) {
        const char *why = NULL, *part = "";
        if (!json_is_object(e)) why = "must be a table";
        else if (!json_is_string(json_object_get(e, "image"))) why = "needs image = \"name\"";
        else if (!json_is_string(json_object_get(e, "file")) ||
                 !program_valid_path(json_string_value(json_object_get(e, "file"))))
            why = "needs file = \"main file name\"";
        else if (!json_is_array(json_object_get(e, "run")) || json_array_size(json_object_get(e, "run")) == 0)
            why = "needs run = {argv...}";
        else if (!(why = entry_limits_problem(c, e)) && (why = config_env_problem(json_object_get(e, "env"))))
            part = "env ";
        if (why) {
            snprintf(err, errlen, "%s:%d: images.%s %s%s", policy_path(p), policy_line_of(p, lang), lang, part, why);
            return -1;
        }
    }
    return pool_validate(c, p, err, errlen);
}

/* ---- load ------------------------------------------------------------------------- */

/* {"server": live sessions + runs, "key": the caller's} for admit. */
static json_t *backend_counts(const char *key_hash) {
    return json_pack("{s:I,s:I}", "server", (json_int_t)(session_count_live() + run_count()), "key",
                     (json_int_t)(session_count_for_key(key_hash) + run_count_for_key(key_hash)));
}

int backend_take_program(struct request *req, enum program_kind kind, struct program *p, unsigned *uid) {
    if (!backend_engine_ok()) {
        reply_error(req, 503, "unavailable", "the Docker engine is unreachable");
        return -1;
    }
    json_t *counts = backend_counts(req->key_hash);
    int rc = program_from_request(req, kind, counts, p);
    json_decref(counts);
    if (rc < 0) return -1;
    *uid = uidpool_take(app_config()->uid_min, app_config()->uid_max);
    if (!*uid) {
        program_free(p);
        reply_error_with(req, 429, "too_many_sessions", json_pack("{s:s}", "scope", "server"), "no sandbox uid is free");
        return -1;
    }
    return 0;
}

size_t backend_live_count(const char *language, size_t *returning) {
    size_t cold, live = session_count_for_language(language, &cold) + run_count_for_language(language);
    *returning = live - cold;
    return live;
}

void backend_load_changed(void) {
    metrics_set("cloudcode_sessions_active", "", (double)session_count_live());
}

/* ---- sandboxes -------------------------------------------------------------------- */

void backend_sandbox_spec(const struct program *p, unsigned uid, const char *session_id,
                          struct sandbox_spec *spec) {
    long long mem = p->limits.memory_mb << 20;
    memset(spec, 0, sizeof *spec);
    spec->image = json_string_value(json_object_get(p->image, "image"));
    spec->backend_id = app_config()->backend_id;
    spec->session_id = session_id;
    spec->uid = uid;
    spec->memory_bytes = mem;
    spec->nano_cpus = (long long)(p->limits.cpus * 1e9);
    spec->pids_limit = p->limits.pids;
    /* The mounts share the memory as the policy says (at most all of it together, so filling
     * them ends in ENOSPC, never in an OOM kill), and fsize bounds one file (by default the
     * smallest mount: one file cannot outgrow any of them either). */
    const struct config *c = app_config();
    spec->work_bytes = (long long)((double)mem * c->sandbox_work_fraction);
    spec->tmp_bytes = (long long)((double)mem * c->sandbox_tmp_fraction);
    spec->shm_bytes = (long long)((double)mem * c->sandbox_shm_fraction);
    spec->fsize_bytes = (long long)((double)mem * c->sandbox_fsize_fraction);
    spec->nofile = c->sandbox_nofile;
    spec->tty = p->tty;
    spec->step_timeout_ms = app_config()->sandbox_step_timeout_ms;
}

int backend_sandbox_start(const struct program *p, unsigned *uid, const char *session_id,
                          const struct sandbox_callbacks *cb, void *ud, struct sandbox **sbp) {
    struct sandbox_spec spec;
    backend_sandbox_spec(p, *uid, session_id, &spec);
    unsigned warm_uid = 0;
    struct sandbox *sb = pool_take(p, &spec, &warm_uid);
    if (sb) {
        /* The warm container has a uid of its own: the one taken for a cold start goes back. */
        uidpool_give(*uid);
        *uid = warm_uid;
        sandbox_set_callbacks(sb, cb, ud);
        *sbp = sb;
        log_event(LOG_INFO, "pool_take", json_pack("{s:s,s:s,s:s}", "language", p->language, "container",
                                                  sandbox_container_id(sb), "session", session_id ? session_id : ""));
        if (cb->on_ready) cb->on_ready(sb, ud);
        return 1;
    }
    *sbp = sandbox_create(backend_docker(), &spec, cb, ud);
    return *sbp ? 0 : -1;
}

/* Whether the policy's `env` table names the variable of `kv` ("NAME=value"). */
static int env_names(const json_t *env, const char *kv) { return json_object_getn(env, kv, strcspn(kv, "=")) != NULL; }

static void env_add(json_t *env, const char *name, const json_t *value) {
    if (json_is_string(value)) json_array_append_new(env, json_sprintf("%s=%s", name, json_string_value(value)));
}

/* The image's own environment (its ENV lines: IPYTHONDIR, MPLCONFIGDIR, ...), then the
 * policy's sandbox_env, then the image entry's env, each over the one before (false: not
 * set); nothing of the server's environment. */
json_t *backend_program_env(const struct program *p) {
    json_t *ours = app_config()->sandbox_env, *own = json_object_get(p->image, "env");
    json_t *env = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(be.image_env, p->language), i, v) {
        const char *kv = json_string_value(v);
        if (kv && !env_names(ours, kv) && !env_names(own, kv)) json_array_append(env, v);
    }
    const char *name;
    json_object_foreach(ours, name, v) {
        if (!json_object_get(own, name)) env_add(env, name, v);
    }
    json_object_foreach(own, name, v) env_add(env, name, v);
    return env;
}

void backend_reply_lost(struct request *req, const struct program *p, const char *why, int image_missing) {
    if (image_missing) {
        reply_error(req, 503, "unavailable", "the image %s for %s is not built (make images)",
                    json_string_value(json_object_get(p->image, "image")), p->language);
    } else {
        reply_error(req, 503, "unavailable", "the sandbox could not run: %s", why ? why : "engine error");
    }
}

/* ---- health ------------------------------------------------------------------------- */

static void reconcile(void);

static void on_ping(void *ud, long status, const char *why) {
    (void)ud;
    be.ping = NULL;
    /* A busy engine (many containers starting at once) can answer a ping late: only
     * PINGS_LATE_TO_DOWN late ones in a row make it unreachable; a refused or failed one does. */
    if (status == DOCKER_TIMED_OUT && be.engine_ok && ++be.pings_late < PINGS_LATE_TO_DOWN) {
        log_msgf(LOG_WARN, "engine", "Docker engine slow: %s", why ? why : "ping timed out");
        return;
    }
    be.pings_late = 0;
    int ok = status == 200;
    if (ok != be.engine_ok) log_msgf(ok ? LOG_INFO : LOG_WARN, "engine", "Docker engine %s%s%s", ok ? "reachable" : "unreachable: ", ok ? "" : "", ok ? "" : (why ? why : ""));
    /* Back after an outage: removals that failed meanwhile are done now. */
    if (ok && !be.engine_ok) reconcile();
    be.engine_ok = ok;
    snprintf(be.engine_why, sizeof be.engine_why, "%s", ok ? "ok" : why ? why : "unreachable");
}

/* One image inspection in flight; listed so that shutdown can cancel it. */
struct image_check {
    char language[64];
    char image[256];
    struct docker_call *call;
    struct image_check *next;
};

static struct image_check *image_checks;

static void image_check_unlink(struct image_check *ic) {
    for (struct image_check **pp = &image_checks; *pp; pp = &(*pp)->next)
        if (*pp == ic) {
            *pp = ic->next;
            return;
        }
}

static void cancel_image_checks(void) {
    while (image_checks) {
        struct image_check *ic = image_checks;
        image_checks = ic->next;
        docker_call_cancel(ic->call);
        free(ic);
    }
}

static void on_image_inspected(void *ud, long status, json_t *body, const char *error) {
    struct image_check *ic = ud;
    image_check_unlink(ic);
    if (!error && status == 200) {
        json_object_del(be.images_missing, ic->language);
        const json_t *env = json_object_get(json_object_get(body, "Config"), "Env");
        if (json_is_array(env)) json_object_set(be.image_env, ic->language, (json_t *)env);
    }
    else if (!error && status == 404) json_object_set_new(be.images_missing, ic->language, json_string(ic->image));
    free(ic);
}

static void check_images(void) {
    const char *lang;
    json_t *e;
    json_object_foreach(app_config()->images, lang, e) {
        struct image_check *ic = calloc(1, sizeof *ic);
        if (!ic) return;
        snprintf(ic->language, sizeof ic->language, "%s", lang);
        snprintf(ic->image, sizeof ic->image, "%s", json_string_value(json_object_get(e, "image")));
        char *enc = docker_urlencode(ic->image);
        char path[600];
        snprintf(path, sizeof path, "/images/%s/json", enc ? enc : "");
        free(enc);
        ic->call = docker_call(be.docker, "GET", path, NULL, PING_TIMEOUT_MS, on_image_inspected, ic);
        if (!ic->call) {
            free(ic);
            continue;
        }
        ic->next = image_checks;
        image_checks = ic;
    }
    /* Languages a reload removed are no longer ours to report. */
    void *iter = json_object_iter(be.images_missing);
    while (iter) {
        const char *k = json_object_iter_key(iter);
        iter = json_object_iter_next(be.images_missing, iter);
        if (!json_object_get(app_config()->images, k)) json_object_del(be.images_missing, k);
    }
}

/* A container of ours died or was OOM-killed: its sandbox finds out how. The
 * attach stream ending tells the same; this catches what a stream misses. */
static void on_engine_event(void *ud, json_t *ev) {
    (void)ud;
    const char *id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));
    struct sandbox *sb = id ? sandbox_find(be.docker, id) : NULL;
    if (!sb) return;
    log_msgf(LOG_INFO, "container_died", "the engine reports container %.12s %s", id,
             json_string_value(json_object_get(ev, "status")) ?: "gone");
    sandbox_container_died(sb);
}

static void on_events_broken(void *ud, const char *why) {
    (void)ud;
    be.events = NULL; /* the next health tick subscribes again */
    log_msgf(LOG_DEBUG, "engine_events", "the events stream ended: %s", why ? why : "");
}

static void subscribe_events(void) {
    json_t *f = json_pack("{s:[s],s:[s,s],s:[s+]}", "type", "container", "event", "die", "oom", "label",
                          "cloudcode.backend=", app_config()->backend_id);
    char *filters = json_text(f);
    json_decref(f);
    if (filters) be.events = docker_events(be.docker, filters, on_engine_event, on_events_broken, NULL);
    free(filters);
}

static void on_health_tick(uv_timer_t *t) {
    (void)t;
    if (!be.ping) be.ping = docker_ping(be.docker, PING_TIMEOUT_MS, on_ping, NULL);
    if (!be.events && be.engine_ok) subscribe_events();
    if (be.engine_ok && (be.images_checked_at++ % (IMAGES_INTERVAL_MS / HEALTH_INTERVAL_MS)) == 0) check_images();
    /* Now and then, like the seed's monitor but only ever on our own containers. */
    if (be.engine_ok && ++be.reconcile_ticks % (RECONCILE_INTERVAL_MS / HEALTH_INTERVAL_MS) == 0) reconcile();
}

int backend_image_available(const char *language) { return json_object_get(be.images_missing, language) == NULL; }

static int backend_health(json_t *body) {
    json_object_set_new(body, "sessions", json_integer((json_int_t)(session_count_live() + run_count())));
    json_object_set_new(body, "capacity", json_integer(app_config()->max_sessions));
    int pools_failing;
    json_t *checks = json_pack("{s:s,s:o}", "docker", be.engine_ok ? "ok" : be.engine_why, "pools",
                               pool_health(&pools_failing));
    if (json_object_size(be.images_missing)) json_object_set(checks, "images_missing", be.images_missing);
    json_object_set_new(body, "checks", checks);
    if (!be.engine_ok) return 2;
    return json_object_size(be.images_missing) || pools_failing ? 1 : 0;
}

/* ---- routes ------------------------------------------------------------------------- */

static json_t *string_list(const json_t *v) {
    json_t *out = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) if (json_is_string(item)) json_array_append(out, item);
    return out;
}

void backend_handle_languages(struct request *req) {
    json_t *list = json_array();
    const char *lang;
    json_t *e;
    json_object_foreach(app_config()->images, lang, e) {
        json_array_append_new(
            list, json_pack("{s:s,s:o,s:s,s:b,s:b,s:b,s:b,s:b}", "name", lang, "aliases",
                            string_list(json_object_get(e, "aliases")), "version",
                            json_string_value(json_object_get(e, "version")) ?: "", "interactive",
                            !json_is_false(json_object_get(e, "interactive")), "compiled",
                            json_is_array(json_object_get(e, "compile")), "compile_options",
                            program_takes_options(e), "notebook",
                            json_is_true(json_object_get(e, "notebook")), "available",
                            backend_image_available(lang)));
    }
    reply_json(req, 200, json_pack("{s:o}", "languages", list));
}

/* ---- start and stop ------------------------------------------------------------------ */

/* A listed container's name without the engine's leading '/', or "". */
static const char *container_name(const json_t *c) {
    const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
    return name ? name + (name[0] == '/') : "";
}

static void on_leftover_removed(void *ud, int ok, const char *why) {
    (void)ud;
    if (!ok) log_msgf(LOG_WARN, "reconcile", "cannot remove a container left behind: %s", why ? why : "");
    be.reconcile_pending--;
    maybe_close_engine();
}

static void on_leftovers_listed(void *ud, long status, json_t *body, const char *error) {
    (void)ud;
    be.reconcile_pending--;
    if (error || status != 200 || !json_is_array(body)) {
        log_msgf(LOG_WARN, "reconcile", "cannot list our containers: %s", error ? error : "unexpected answer");
        maybe_close_engine();
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(body, i, c) {
        const char *id = json_string_value(json_object_get(c, "Id"));
        /* A sandbox still being created is known by its name only. */
        if (!id || sandbox_find(be.docker, id) || sandbox_find(be.docker, container_name(c))) continue;
        log_msgf(LOG_INFO, "reconcile", "removing container %.12s left behind", id);
        if (docker_remove(be.docker, id, on_leftover_removed, NULL)) be.reconcile_pending++;
    }
    maybe_close_engine();
}

/* Remove the containers of this backend that no sandbox owns: those an earlier
 * run left behind, and those whose removal failed while the engine was away.
 * Ours means both labels, `cloudcode` and `cloudcode.backend=<our id>`; a
 * container without our label is never touched, whatever else it carries. */
static void reconcile(void) {
    json_t *filters = json_pack("{s:[s,s+]}", "label", "cloudcode=1", "cloudcode.backend=", app_config()->backend_id);
    char *fj = filters ? json_dumps(filters, JSON_COMPACT) : NULL;
    char *enc = fj ? docker_urlencode(fj) : NULL;
    buf_t path = BUF_INIT;
    if (enc && buf_printf(&path, "/containers/json?all=1&filters=%s", enc) == 0 &&
        docker_call(be.docker, "GET", path.data, NULL, RECONCILE_TIMEOUT_MS, on_leftovers_listed, NULL))
        be.reconcile_pending++;
    buf_free(&path);
    free(enc);
    free(fj);
    json_decref(filters);
}

int backend_init(uv_loop_t *loop, char *err, size_t errlen) {
    be.docker = docker_new(loop, app_config()->docker_host);
    if (!be.docker) {
        snprintf(err, errlen, "cannot use docker_host %s", app_config()->docker_host);
        return -1;
    }
    be.engine_ok = 1; /* until the first ping says otherwise */
    be.images_missing = json_object();
    be.image_env = json_object();
    service_init("backend", backend_health);
    metrics_declare(METRIC_GAUGE, "cloudcode_sessions_active", "");
    metrics_declare(METRIC_COUNTER, "cloudcode_runs_total", "status=\"ok\"");
    uv_timer_init(loop, &be.health_timer);
    uv_timer_start(&be.health_timer, on_health_tick, 0, HEALTH_INTERVAL_MS);
    session_reaper_start();
    pool_init(loop);
    reconcile();
    return 0;
}

static void on_docker_closed(void *ud) {
    (void)ud;
    be.docker = NULL;
    if (be.shutdown_done) be.shutdown_done();
}

/* The engine connection closes once every sandbox is removed and the last
 * reconcile (which removes what no sandbox owns any more) is done. */
static void maybe_close_engine(void) {
    if (!be.stopping || !be.sandboxes_removed || be.reconcile_pending || !be.docker) return;
    struct docker *d = be.docker;
    be.stopping = 0;
    docker_close(d, on_docker_closed, NULL);
}

static void on_removals_done(void *ud) {
    (void)ud;
    be.sandboxes_removed = 1;
    maybe_close_engine();
}

void backend_shutdown(void (*done)(void)) {
    be.shutdown_done = done;
    be.stopping = 1;
    session_kill_all();
    run_kill_all();
    for (size_t i = 0; i < be.nstops; i++) be.stops[i]();
    pool_shutdown();
    session_reaper_stop();
    uv_timer_stop(&be.health_timer);
    uv_close((uv_handle_t *)&be.health_timer, NULL);
    if (be.events) docker_call_cancel(be.events);
    be.events = NULL;
    if (be.ping) docker_call_cancel(be.ping);
    be.ping = NULL;
    cancel_image_checks();
    proxy_pool_close(); /* kept-alive connections to peers (a seed file_url on another backend) */
    /* Sandboxes are being removed: wait for the engine to confirm; meanwhile
     * remove what no sandbox owns (a removal that failed earlier), then close. */
    if (be.engine_ok) reconcile();
    sandbox_wait_removals(be.docker, on_removals_done, NULL);
}

void backend_free(void) {
    session_free_all();
    json_decref(be.images_missing);
    json_decref(be.image_env);
    be.images_missing = be.image_env = NULL;
    pool_free();
    uidpool_free();
}
