/* pool.c — warm containers per language.
 *
 * Each pool holds entries; an entry is one container in one of three states:
 * STARTING (being created, attached, started), READY (its launcher waits for
 * work), RESETTING (a finished run or session gave it back and the launcher is
 * killing what is left and emptying its directories).  The pool owns each
 * entry's sandbox and uid until pool_take hands both to a run or a session.
 *
 * A pool's size follows its language's demand: `peak` is the largest number
 * of the language's programs live at once over the last one to two windows
 * (two buckets of window_s), seen at every take and every tick.  The pool
 * creates up to min + (peak - in use) containers — what the recent peak says
 * may be asked for before the ones in use come back — and keeps up to
 * min + peak; above that, idle containers go.  min = 0 is a lazy pool: no
 * container until the language is asked for.
 *
 * One timer drives everything that is not an answer from a container: it
 * samples the demand, refills pools (a token bucket per pool paces creations;
 * failures back off), removes containers a reload made stale or that the
 * demand no longer needs, and discards containers whose reset does not
 * answer. */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_int.h"
#include "base/log.h"
#include "base/metrics.h"
#include "policy/app.h"
#include "uidpool.h"

#define TICK_MS 100
#define RESET_TIMEOUT_MS 5000     /* the launcher waits up to 2 s for killed processes */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define DEFAULT_REFILL_PER_S 4.0
#define DEFAULT_WINDOW_S 60.0
#define DEFAULT_MAX_AT_LEAST 4    /* default max: 2 * min, at least this */

enum entry_state { E_STARTING, E_READY, E_RESETTING };

struct pool;

struct pool_entry {
    struct pool *pool;
    struct sandbox *sb;
    unsigned uid;
    enum entry_state state;
    struct sandbox_spec spec;    /* image points into `image` */
    char image[256];
    uint64_t since_ms;           /* ready since, or reset deadline base */
    uint32_t reset_rid;
    void (*done)(void *ud);
    void *done_ud;
    struct pool_entry *prev, *next;
};

struct pool {
    char language[64];
    int named;                   /* the policy names it; else it goes once empty */
    int min, max;
    double refill_per_s, tokens;
    uint64_t window_ms;
    int in_use;                  /* the language's live programs, at the last look */
    int returning;               /* how many of those will give their container back */
    int bucket_peak[2];          /* the most live at once: this window, the one before */
    uint64_t bucket_start_ms;
    int nready, nstarting, nresetting;
    char *error;                 /* why the last refill failed; NULL once one works */
    uint64_t next_try_ms, backoff_ms;
    struct pool_entry *entries;
    struct pool *next;
};

static struct {
    uv_loop_t *loop;
    uv_timer_t timer;
    uint64_t last_tick_ms;
    struct pool *pools;
    int stopped;
} P;

/* ---- settings ------------------------------------------------------------------------ */

static const char *validate_one(const json_t *e) {
    if (!json_is_object(e)) return "must be a table {min=, max=, refill_per_s=, window_s=}";
    const json_t *min = json_object_get(e, "min"), *size = json_object_get(e, "size");
    const json_t *rate = json_object_get(e, "refill_per_s"), *max = json_object_get(e, "max");
    const json_t *window = json_object_get(e, "window_s");
    if (min && size) return "takes min or its older name size, not both";
    if (!min) min = size;
    long long lo = min ? json_integer_value(min) : 0;
    if (min && (!json_is_integer(min) || lo < 0 || lo > 64)) return "needs min = an integer 0..64";
    if (rate && (!json_is_number(rate) || json_number_value(rate) <= 0 || json_number_value(rate) > 100))
        return "refill_per_s must be a number above 0, at most 100";
    if (max && (!json_is_integer(max) || json_integer_value(max) < lo || json_integer_value(max) > 256))
        return "max must be an integer from min to 256";
    if (window && (!json_is_number(window) || json_number_value(window) < 0.1 || json_number_value(window) > 3600))
        return "window_s must be a number from 0.1 to 3600";
    return NULL;
}

int pool_validate(const struct config *c, struct policy *p, char *err, size_t errlen) {
    const char *lang;
    json_t *e;
    json_object_foreach(c->pools, lang, e) {
        const char *why = json_object_get(c->images, lang) ? validate_one(e)
                                                           : "names a language the image map does not have";
        if (why) {
            snprintf(err, errlen, "%s:%d: pools.%s %s", policy_path(p), policy_line_of(p, lang), lang, why);
            return -1;
        }
    }
    return 0;
}

/* The settings a pool container of `lang` gets: the image and the default
 * limits of that language (its own, else the policy's), exactly as a request
 * that sets no limit would get them. */
static int pool_spec(const char *lang, unsigned uid, struct sandbox_spec *spec) {
    const struct config *c = app_config();
    struct program prog;
    memset(&prog, 0, sizeof prog);
    prog.image = json_object_get(c->images, lang);
    if (!prog.image) return -1;
    prog.limits.memory_mb = (long long)program_limit_default(prog.image, "memory_mb");
    prog.limits.cpus = program_limit_default(prog.image, "cpus");
    prog.limits.pids = (long long)program_limit_default(prog.image, "pids");
    backend_sandbox_spec(&prog, uid, NULL, spec);
    return spec->image ? 0 : -1;
}

/* Whether two specs make the same container (the uid and labels aside). */
static int spec_same(const struct sandbox_spec *a, const struct sandbox_spec *b) {
    return a->image && b->image && strcmp(a->image, b->image) == 0 && a->memory_bytes == b->memory_bytes &&
           a->nano_cpus == b->nano_cpus && a->pids_limit == b->pids_limit && a->tmp_bytes == b->tmp_bytes &&
           a->work_bytes == b->work_bytes && a->shm_bytes == b->shm_bytes &&
           a->fsize_bytes == b->fsize_bytes && a->nofile == b->nofile &&
           strcmp(a->backend_id, b->backend_id) == 0;
}

static void entry_set_spec(struct pool_entry *e, const struct sandbox_spec *spec) {
    e->spec = *spec;
    snprintf(e->image, sizeof e->image, "%s", spec->image);
    e->spec.image = e->image;
    e->spec.backend_id = NULL;   /* borrowed from the config: compared through current() */
}

static struct pool *find_pool(const char *lang) {
    for (struct pool *p = P.pools; p; p = p->next)
        if (strcmp(p->language, lang) == 0) return p;
    return NULL;
}

/* Does the entry's container still match what its pool would create now? */
static int entry_current(const struct pool_entry *e) {
    struct sandbox_spec now;
    if (pool_spec(e->pool->language, e->uid, &now) < 0) return 0;
    struct sandbox_spec mine = e->spec;
    mine.backend_id = now.backend_id;
    return spec_same(&mine, &now);
}

/* Read the policy's pools into ours; pools it no longer names go once empty. */
static void sync_settings(void) {
    const json_t *conf = app_config()->pools;
    for (struct pool *p = P.pools; p; p = p->next) p->named = 0;
    const char *lang;
    json_t *e;
    json_object_foreach((json_t *)conf, lang, e) {
        if (!json_object_get(app_config()->images, lang)) continue;
        struct pool *p = find_pool(lang);
        if (!p) {
            p = calloc(1, sizeof *p);
            if (!p) return;
            snprintf(p->language, sizeof p->language, "%s", lang);
            p->tokens = 1;
            p->bucket_start_ms = uv_now(P.loop);
            p->next = P.pools;
            P.pools = p;
        }
        p->named = 1;
        const json_t *min = json_object_get(e, "min");
        if (!min) min = json_object_get(e, "size");
        p->min = (int)json_integer_value(min);
        const json_t *max = json_object_get(e, "max");
        p->max = json_is_integer(max) ? (int)json_integer_value(max)
                                      : 2 * p->min > DEFAULT_MAX_AT_LEAST ? 2 * p->min : DEFAULT_MAX_AT_LEAST;
        if (p->max < p->min) p->max = p->min;
        const json_t *rate = json_object_get(e, "refill_per_s");
        p->refill_per_s = json_is_number(rate) ? json_number_value(rate) : DEFAULT_REFILL_PER_S;
        const json_t *window = json_object_get(e, "window_s");
        p->window_ms = (uint64_t)((json_is_number(window) ? json_number_value(window) : DEFAULT_WINDOW_S) * 1000.0);
    }
}

/* ---- demand ---------------------------------------------------------------------------- */

/* Look at how many of the language's programs are live now (the one being
 * started included, at a take); keep the most of this window and the last. */
static void observe(struct pool *p, uint64_t now) {
    size_t returning;
    p->in_use = (int)backend_live_count(p->language, &returning);
    p->returning = (int)returning;
    if (now - p->bucket_start_ms >= p->window_ms) {
        /* One bucket's worth of time passed: it becomes the older one; a longer
         * quiet spell forgets both. */
        p->bucket_peak[1] = now - p->bucket_start_ms >= 2 * p->window_ms ? 0 : p->bucket_peak[0];
        p->bucket_peak[0] = 0;
        p->bucket_start_ms = now;
    }
    if (p->in_use > p->bucket_peak[0]) p->bucket_peak[0] = p->in_use;
}

static int peak(const struct pool *p) {
    return p->bucket_peak[0] > p->bucket_peak[1] ? p->bucket_peak[0] : p->bucket_peak[1];
}

static int capped(const struct pool *p, int n) { return n > p->max ? p->max : n; }

/* Containers to have ready or coming: min, plus those the recent peak says
 * may be asked for before the ones in use come back.  A cold session's never
 * comes back: one after another, each would start cold again. */
static int want(const struct pool *p) {
    int more = peak(p) - p->returning;
    return p->named ? capped(p, p->min + (more > 0 ? more : 0)) : 0;
}

/* Containers worth keeping (idle ones above this go): min plus the peak. */
static int keep(const struct pool *p) { return p->named ? capped(p, p->min + peak(p)) : 0; }

static int held(const struct pool *p) { return p->nready + p->nstarting + p->nresetting; }

/* ---- entries ------------------------------------------------------------------------- */

static void pool_labels(const struct pool *p, char *labels, size_t len) {
    snprintf(labels, len, "language=\"%s\"", p->language);
}

static void publish(struct pool *p) {
    char labels[96];
    pool_labels(p, labels, sizeof labels);
    metrics_set("cloudcode_pool_ready", labels, p->nready);
}

/* cloudcode_pool_reused_total: containers back in the pool after a reset;
 * cloudcode_pool_reset_failed_total: given back, but the reset failed or did
 * not answer, so they were removed. */
static void count_return(struct pool *p, const char *metric) {
    char labels[96];
    pool_labels(p, labels, sizeof labels);
    metrics_add(METRIC_COUNTER, metric, labels, 1);
}

static void count(struct pool_entry *e, int delta) {
    struct pool *p = e->pool;
    if (e->state == E_READY) p->nready += delta;
    else if (e->state == E_STARTING) p->nstarting += delta;
    else p->nresetting += delta;
    if (e->state == E_READY) publish(p);
}

static void set_state(struct pool_entry *e, enum entry_state st) {
    count(e, -1);
    e->state = st;
    count(e, +1);
}

static void unlink_entry(struct pool_entry *e) {
    count(e, -1);
    if (e->prev) e->prev->next = e->next;
    else e->pool->entries = e->next;
    if (e->next) e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void link_entry(struct pool *p, struct pool_entry *e) {
    e->pool = p;
    e->prev = NULL;
    e->next = p->entries;
    if (p->entries) p->entries->prev = e;
    p->entries = e;
    count(e, +1);
}

/* Tell a waiting run that its container can run nothing more of it. */
static void call_done(struct pool_entry *e) {
    void (*done)(void *) = e->done;
    e->done = NULL;
    if (done) done(e->done_ud);
}

/* Remove the container (in the background), free the uid and the entry. */
static void discard(struct pool_entry *e) {
    unlink_entry(e);
    if (e->sb) sandbox_destroy(e->sb);
    if (e->uid) uidpool_give(e->uid);
    void (*done)(void *) = e->done;
    void *ud = e->done_ud;
    free(e);
    if (done) done(ud);
}

static void set_error(struct pool *p, const char *why) {
    if (!p->error || strcmp(p->error, why) != 0) {
        log_msgf(LOG_WARN, "pool_refill", "pool %s cannot refill: %s", p->language, why);
        free(p->error);
        p->error = strdup(why);
    }
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (p->backoff_ms > BACKOFF_MAX_MS) p->backoff_ms = BACKOFF_MAX_MS;
    p->next_try_ms = uv_now(P.loop) + p->backoff_ms;
}

static void clear_error(struct pool *p) {
    if (p->error) log_msgf(LOG_INFO, "pool_refill", "pool %s refills again", p->language);
    free(p->error);
    p->error = NULL;
    p->backoff_ms = 0;
}

/* ---- what containers report while the pool owns them ------------------------------------- */

static void on_ready(struct sandbox *sb, void *ud) {
    (void)sb;
    struct pool_entry *e = ud;
    set_state(e, E_READY);
    e->since_ms = uv_now(P.loop);
    clear_error(e->pool);
}

static void on_data(struct sandbox *sb, void *ud, int stream, const char *data, size_t len) {
    (void)sb; (void)ud; (void)stream; (void)data; (void)len;   /* nothing runs in a pool container */
}

static void on_exit_frame(struct sandbox *sb, void *ud, const struct launcher_exit *ex) {
    (void)sb; (void)ud; (void)ex;
}

static void on_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data, size_t len) {
    (void)sb;
    struct pool_entry *e = ud;
    if (e->state != E_RESETTING || rid != e->reset_rid) return;
    if (status != REPLY_OK) {
        /* A reset that did not finish leaves state behind: the container goes. */
        log_msgf(LOG_WARN, "pool_reset", "container %.12s not reused: %.*s", sandbox_container_id(sb),
                 (int)(len > 200 ? 200 : len), data);
        count_return(e->pool, "cloudcode_pool_reset_failed_total");
        discard(e);
        return;
    }
    set_state(e, E_READY);
    e->since_ms = uv_now(P.loop);
    count_return(e->pool, "cloudcode_pool_reused_total");
    call_done(e);
}

static void on_lost(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text) {
    (void)sb;
    (void)why;
    struct pool_entry *e = ud;
    e->sb = NULL;   /* a lost sandbox removes and frees itself */
    if (e->state == E_STARTING) set_error(e->pool, text);
    discard(e);
}

static const struct sandbox_callbacks pool_callbacks = {
    .on_ready = on_ready, .on_data = on_data, .on_exit = on_exit_frame, .on_reply = on_reply, .on_lost = on_lost,
};

/* ---- refill -------------------------------------------------------------------------- */

static void create_one(struct pool *p) {
    unsigned uid = uidpool_take(app_config()->uid_min, app_config()->uid_max);
    if (!uid) {
        set_error(p, "no sandbox uid is free");
        return;
    }
    struct pool_entry *e = calloc(1, sizeof *e);
    struct sandbox_spec spec;
    if (!e || pool_spec(p->language, uid, &spec) < 0) {
        free(e);
        uidpool_give(uid);
        return;
    }
    entry_set_spec(e, &spec);
    e->uid = uid;
    e->state = E_STARTING;
    e->sb = sandbox_create(backend_docker(), &spec, &pool_callbacks, e);
    if (!e->sb) {
        uidpool_give(uid);
        free(e);
        set_error(p, "the engine connection is closing");
        return;
    }
    link_entry(p, e);
}

static void refill(struct pool *p, uint64_t now, double elapsed_s) {
    p->tokens += elapsed_s * p->refill_per_s;
    if (p->tokens > 1) p->tokens = 1;   /* a pace, not a burst */
    if (held(p) >= want(p)) return;
    if (!backend_engine_ok()) {
        if (!p->error || strcmp(p->error, "the Docker engine is unreachable") != 0)
            set_error(p, "the Docker engine is unreachable");
        return;
    }
    if (now < p->next_try_ms) return;
    while (p->tokens >= 1 && held(p) < want(p)) {
        p->tokens -= 1;
        create_one(p);
    }
}

/* Containers a reload made stale, idle ones the demand no longer needs (the
 * longest idle first), resets that hang. */
static void sweep(struct pool *p, uint64_t now) {
    struct pool_entry *e = p->entries, *last = NULL;
    for (; e; e = e->next) last = e;
    int excess = held(p) - keep(p);
    for (e = last; e; e = last) {
        last = e->prev;   /* entries are newest first: walk from the oldest */
        if (e->state == E_RESETTING && now - e->since_ms > RESET_TIMEOUT_MS) {
            log_msgf(LOG_WARN, "pool_reset", "container %.12s did not answer its reset", sandbox_container_id(e->sb));
            count_return(p, "cloudcode_pool_reset_failed_total");
            discard(e);
            excess--;
        } else if (e->state == E_READY && (excess > 0 || !entry_current(e))) {
            discard(e);
            excess--;
        }
    }
}

static void tick(uv_timer_t *t) {
    (void)t;
    uint64_t now = uv_now(P.loop);
    double elapsed = (double)(now - P.last_tick_ms) / 1000.0;
    P.last_tick_ms = now;
    sync_settings();
    struct pool **pp = &P.pools;
    while (*pp) {
        struct pool *p = *pp;
        observe(p, now);
        sweep(p, now);
        if (!p->named && !p->entries) {
            *pp = p->next;   /* the policy dropped it and it is empty */
            free(p->error);
            free(p);
            continue;
        }
        refill(p, now, elapsed);
        publish(p);
        pp = &p->next;
    }
}

void pool_init(uv_loop_t *loop) {
    P.loop = loop;
    P.stopped = 0;
    uv_timer_init(loop, &P.timer);
    P.last_tick_ms = uv_now(loop);
    sync_settings();
    for (struct pool *p = P.pools; p; p = p->next) publish(p);
    uv_timer_start(&P.timer, tick, 0, TICK_MS);
}

void pool_shutdown(void) {
    if (P.stopped) return;
    P.stopped = 1;
    uv_timer_stop(&P.timer);
    uv_close((uv_handle_t *)&P.timer, NULL);
    for (struct pool *p = P.pools; p; p = p->next)
        while (p->entries) discard(p->entries);
}

void pool_free(void) {
    while (P.pools) {
        struct pool *p = P.pools;
        P.pools = p->next;
        while (p->entries) discard(p->entries);
        free(p->error);
        free(p);
    }
}

/* ---- taking and giving back ----------------------------------------------------------- */

struct sandbox *pool_take(const struct program *prog, const struct sandbox_spec *want_spec, unsigned *uid) {
    struct pool *p = P.stopped ? NULL : find_pool(prog->language);
    if (!p) return NULL;
    observe(p, uv_now(P.loop));
    /* Entries are newest first: the container given back last is taken first,
     * so the ones beyond the demand stay idle and go. */
    struct pool_entry *pick = NULL;
    for (struct pool_entry *e = p->entries; e && !pick; e = e->next) {
        if (e->state != E_READY || !sandbox_is_ready(e->sb)) continue;
        struct sandbox_spec mine = e->spec;
        mine.backend_id = want_spec->backend_id;
        if (spec_same(&mine, want_spec)) pick = e;
    }
    if (!pick) return NULL;
    struct sandbox *sb = pick->sb;
    *uid = pick->uid;
    unlink_entry(pick);
    free(pick);
    /* Refill from the timer, never here: this is a request's path. */
    return sb;
}

struct pool_entry *pool_return(struct sandbox *sb, unsigned uid, const struct program *prog,
                               void (*done)(void *ud), void *ud) {
    struct pool *p = P.stopped || !app_config()->reuse ? NULL : find_pool(prog->language);
    struct sandbox_spec want;
    if (p) observe(p, uv_now(P.loop));
    int room = p && sandbox_is_ready(sb) && held(p) < keep(p) && pool_spec(p->language, uid, &want) == 0;
    struct pool_entry *e = room ? calloc(1, sizeof *e) : NULL;
    if (e) {
        struct sandbox_spec had;
        backend_sandbox_spec(prog, uid, NULL, &had);
        entry_set_spec(e, &had);
        struct sandbox_spec mine = e->spec;
        mine.backend_id = want.backend_id;
        if (!spec_same(&mine, &want)) {
            free(e);
            e = NULL;
        }
    }
    if (e) {
        e->sb = sb;
        e->uid = uid;
        e->state = E_RESETTING;
        sandbox_set_callbacks(sb, &pool_callbacks, e);
        e->reset_rid = sandbox_reset(sb, app_config()->reset_memory_slack_bytes);
        if (e->reset_rid) {
            e->since_ms = uv_now(P.loop);
            e->done = done;
            e->done_ud = ud;
            link_entry(p, e);
            return e;
        }
        free(e);
    }
    sandbox_destroy(sb);
    uidpool_give(uid);
    return NULL;
}

void pool_return_cancel(struct pool_entry *e) {
    if (e) e->done = NULL;
}

json_t *pool_health(int *failing) {
    json_t *out = json_object();
    *failing = 0;
    for (struct pool *p = P.pools; p; p = p->next) {
        if (!p->named) continue;
        json_object_set_new(out, p->language,
                            json_pack("{s:i,s:i,s:o}", "ready", p->nready, "target", want(p), "error",
                                      p->error ? json_string(p->error) : json_null()));
        *failing |= p->error != NULL;
    }
    return out;
}
