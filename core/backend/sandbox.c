/* sandbox.c — one container and its launcher channel.
 *
 * A sandbox walks CREATE → ATTACH → START → HELLO → READY. When the attach
 * stream ends it INSPECTs the container: still running → REATTACH (hello with
 * the last seq we hold; the launcher resends what we lack), else lost.
 *
 * Ownership: the creator holds the sandbox until it calls sandbox_destroy or
 * on_lost runs; from then on the sandbox owns itself (`dead`), removes its
 * container and frees itself from its timer's close callback — never from
 * inside a call of the caller, so destroy is safe from any callback. */
#include "sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/log.h"

#define MAX_REATTACHES 3   /* consecutive, without a Y in between */
/* The engine's answer to a create is awaited this long, past the step timeout: a container it
 * makes after the step timed out is then known by its id and removed, never left behind. */
#define CREATE_ANSWER_MS 60000

enum phase { PH_CREATE, PH_ATTACH, PH_START, PH_HELLO, PH_READY, PH_REATTACH, PH_INSPECT };

struct sandbox {
    struct docker *d;
    struct sandbox_callbacks cb;
    sandbox_channel_cb on_channel;   /* notebook sessions only */
    void *ud;
    enum phase phase;
    char name[24];             /* cc-<16 hex> */
    char id[72];               /* the engine's container id, once created */
    char *image;
    unsigned step_ms;
    struct attach *att;
    struct docker_call *call;  /* create, start or inspect in flight */
    uv_timer_t timer;          /* the hello's deadline */
    uint64_t last_seq;         /* the highest data/exit seq delivered */
    uint64_t acked_seq;
    uint32_t next_rid;
    int reattaches;
    int stream_lost_in_start;  /* the stream ended while the start call was in flight */
    int create_unsure;         /* the create call failed in transport: it may have worked */
    int dead;                  /* lost or destroyed: no more callbacks, removing itself */
    struct sandbox *prev, *next;
};

/* Every sandbox not yet freed, for sandbox_find and sandbox_wait_removals. */
static struct sandbox *all;

struct removal_waiter {
    uv_timer_t timer;
    struct docker *d;
    void (*cb)(void *ud);
    void *ud;
    struct removal_waiter *prev, *next;
};
static struct removal_waiter *waiters;

static const struct attach_callbacks attach_cbs;

const char *sandbox_lost_reason_name(enum sandbox_lost_reason r) {
    switch (r) {
    case SANDBOX_LOST_NO_IMAGE: return "no_image";
    case SANDBOX_LOST_CREATE: return "create_failed";
    case SANDBOX_LOST_TIMEOUT: return "timeout";
    case SANDBOX_LOST_DIED: return "died";
    case SANDBOX_LOST_OOM: return "oom";
    case SANDBOX_LOST_ENGINE: return "engine";
    case SANDBOX_LOST_PROTOCOL: return "protocol";
    }
    return "unknown";
}

/* ---- the end of a sandbox -------------------------------------------------------------- */

static void waiter_check(uv_timer_t *t);

static void kick_waiters(void) {
    for (struct removal_waiter *w = waiters; w; w = w->next)
        uv_timer_start(&w->timer, waiter_check, 0, 0);
}

static void timer_closed(uv_handle_t *h) {
    struct sandbox *sb = h->data;
    if (sb->prev) sb->prev->next = sb->next;
    else all = sb->next;
    if (sb->next) sb->next->prev = sb->prev;
    free(sb->image);
    free(sb);
    kick_waiters();
}

static void release(struct sandbox *sb) {
    uv_close((uv_handle_t *)&sb->timer, timer_closed);
}

static void removed(void *ud, int ok, const char *why) {
    struct sandbox *sb = ud;
    if (!ok)
        log_msgf(LOG_WARN, "sandbox_remove", "cannot remove container %.12s: %s",
                 sb->id[0] ? sb->id : sb->name, why ? why : "?");
    release(sb);
}

/* Force-remove the container (if there is one yet), then free. */
static void remove_and_release(struct sandbox *sb) {
    if (sb->phase == PH_CREATE && sb->call) return;   /* create_done removes what it made */
    /* A create whose call failed in transport may still complete in the engine: remove it by name
     * (best effort; a reconcile at the next start catches what this misses). */
    const char *which = sb->id[0] ? sb->id : sb->create_unsure ? sb->name : NULL;
    if (!which || !docker_remove(sb->d, which, removed, sb)) release(sb);
}

/* Stop everything in flight but a create call (its container must not leak). */
static void stop_activity(struct sandbox *sb) {
    sb->dead = 1;
    uv_timer_stop(&sb->timer);
    if (sb->call && sb->phase != PH_CREATE) {
        docker_call_cancel(sb->call);
        sb->call = NULL;
    }
    if (sb->att) {
        attach_close(sb->att);
        sb->att = NULL;
    }
}

static void lost(struct sandbox *sb, enum sandbox_lost_reason why, const char *text) {
    if (sb->dead) return;
    stop_activity(sb);
    log_event(LOG_WARN, "sandbox_lost",
              json_pack("{s:s,s:s,s:s,s:s}", "container", sb->id[0] ? sb->id : sb->name, "image",
                        sb->image, "reason", sandbox_lost_reason_name(why), "why", text));
    if (sb->cb.on_lost) sb->cb.on_lost(sb, sb->ud, why, text);
    remove_and_release(sb);
}

void sandbox_destroy(struct sandbox *sb) {
    if (!sb || sb->dead) return;
    stop_activity(sb);
    remove_and_release(sb);
}

/* A call that failed in transport: docker_call's status says whether it ran out of time. */
static enum sandbox_lost_reason transport_reason(long status) {
    return status == DOCKER_TIMED_OUT ? SANDBOX_LOST_TIMEOUT : SANDBOX_LOST_ENGINE;
}

/* An engine call failed in transport (docker_call's `error`): lose the sandbox, saying what was
 * being done. */
static void lost_in_transport(struct sandbox *sb, enum sandbox_lost_reason why, const char *doing,
                              const char *error) {
    char text[400];
    snprintf(text, sizeof text, "%s: %s", doing, error);
    lost(sb, why, text);
}

static const char *engine_message(json_t *body) {
    const char *m = json_string_value(json_object_get(body, "message"));
    return m ? m : "no message";
}

/* ---- the container's life: create, attach, start, hello ----------------------------------- */

static void step_timed_out(uv_timer_t *t);
static void inspect(struct sandbox *sb);

static void send_hello(struct sandbox *sb) {
    attach_hello(sb->att, sb->last_seq);
    uv_timer_start(&sb->timer, step_timed_out, sb->step_ms, 0);
}

static void start_done(void *ud, long status, json_t *body, const char *error) {
    struct sandbox *sb = ud;
    sb->call = NULL;
    char why[400];
    if (error) {
        lost_in_transport(sb, transport_reason(status), "starting the container", error);
    } else if (status != 204 && status != 304) {
        snprintf(why, sizeof why, "the engine cannot start the container (HTTP %ld): %s", status,
                 engine_message(body));
        lost(sb, SANDBOX_LOST_CREATE, why);
    } else if (sb->stream_lost_in_start) {
        inspect(sb);
    } else {
        sb->phase = PH_HELLO;
        send_hello(sb);
    }
}

static void create_done(void *ud, long status, json_t *body, const char *error) {
    struct sandbox *sb = ud;
    sb->call = NULL;
    uv_timer_stop(&sb->timer);
    const char *id = json_string_value(json_object_get(body, "Id"));
    if (status == 201 && id) snprintf(sb->id, sizeof sb->id, "%s", id);
    if (sb->dead) {   /* destroyed while creating: remove what was made */
        sb->create_unsure = error != NULL;
        remove_and_release(sb);
        return;
    }
    char why[512];
    if (error) {
        sb->create_unsure = 1;
        lost_in_transport(sb, transport_reason(status), "creating the container", error);
        return;
    }
    /* The Engine API answers a missing image with a 404 that other missing things (a network, a
     * volume) share, and no code or field beyond its message: the message tells them apart. */
    if (status == 404 && strstr(engine_message(body), "No such image")) {
        snprintf(why, sizeof why, "image %s is not built", sb->image);
        lost(sb, SANDBOX_LOST_NO_IMAGE, why);
        return;
    }
    if (status != 201 || !id) {
        snprintf(why, sizeof why, "the engine cannot create the container (HTTP %ld): %s", status,
                 engine_message(body));
        lost(sb, SANDBOX_LOST_CREATE, why);
        return;
    }
    sb->phase = PH_ATTACH;
    sb->att = attach_open(docker_loop(sb->d), docker_hostaddr(sb->d), sb->id, sb->step_ms,
                          &attach_cbs, sb);
    if (!sb->att) lost(sb, SANDBOX_LOST_ENGINE, "out of memory");
}

/* The create's or the hello's deadline (the engine's other calls are bounded by their own). */
static void step_timed_out(uv_timer_t *t) {
    struct sandbox *sb = t->data;
    char why[128];
    if (sb->phase == PH_CREATE) {
        snprintf(why, sizeof why, "creating the container: timed out after %u ms", sb->step_ms);
        lost(sb, SANDBOX_LOST_TIMEOUT, why);
    } else if (sb->phase == PH_HELLO) {
        snprintf(why, sizeof why, "the launcher did not answer within %u ms", sb->step_ms);
        lost(sb, SANDBOX_LOST_TIMEOUT, why);
    } else if (sb->phase == PH_REATTACH) {
        inspect(sb);   /* counted as one more failed re-attach */
    }
}

/* ---- after the stream ended: is the container still there? -------------------------------- */

static void inspect_done(void *ud, long status, json_t *body, const char *error) {
    struct sandbox *sb = ud;
    sb->call = NULL;
    char why[1400];
    if (error) {
        lost_in_transport(sb, SANDBOX_LOST_ENGINE, "the engine is unreachable", error);
        return;
    }
    if (status == 404) {
        lost(sb, SANDBOX_LOST_DIED, "the container was removed");
        return;
    }
    json_t *state = json_object_get(body, "State");
    if (status != 200 || !json_is_object(state)) {
        snprintf(why, sizeof why, "cannot inspect the container (HTTP %ld): %s", status,
                 engine_message(body));
        lost(sb, SANDBOX_LOST_ENGINE, why);
        return;
    }
    if (json_is_true(json_object_get(state, "Running")) &&
        !json_is_true(json_object_get(state, "Restarting"))) {
        if (++sb->reattaches > MAX_REATTACHES) {
            lost(sb, SANDBOX_LOST_ENGINE, "the container runs but its attach stream keeps failing");
            return;
        }
        log_msgf(LOG_INFO, "sandbox_reattach", "re-attaching to container %.12s from seq %llu",
                 sb->id, (unsigned long long)sb->last_seq);
        sb->phase = PH_REATTACH;
        attach_reconnect(sb->att);
        return;
    }
    const char *last_gasp = attach_stderr(sb->att);
    if (json_is_true(json_object_get(state, "OOMKilled"))) {
        lost(sb, SANDBOX_LOST_OOM, "the container ran out of memory");
        return;
    }
    snprintf(why, sizeof why, "the container stopped (exit code %lld)%s%.1000s",
             json_integer_value(json_object_get(state, "ExitCode")), last_gasp[0] ? ": " : "",
             last_gasp);
    lost(sb, SANDBOX_LOST_DIED, why);
}

static void inspect(struct sandbox *sb) {
    char path[128];
    uv_timer_stop(&sb->timer);
    sb->phase = PH_INSPECT;
    snprintf(path, sizeof path, "/containers/%s/json", sb->id);
    sb->call = docker_call(sb->d, "GET", path, NULL, sb->step_ms, inspect_done, sb);
    if (!sb->call) lost(sb, SANDBOX_LOST_ENGINE, "the engine connection is closing");
}

/* ---- the launcher channel ------------------------------------------------------------------- */

static void on_attached(struct attach *a, void *ud) {
    (void)a;
    struct sandbox *sb = ud;
    if (sb->phase == PH_ATTACH) {
        /* Attached before starting, so nothing the launcher writes is missed. */
        char path[128];
        snprintf(path, sizeof path, "/containers/%s/start", sb->id);
        sb->phase = PH_START;
        sb->call = docker_call(sb->d, "POST", path, NULL, sb->step_ms, start_done, sb);
        if (!sb->call) lost(sb, SANDBOX_LOST_ENGINE, "the engine connection is closing");
    } else if (sb->phase == PH_REATTACH) {
        send_hello(sb);
    }
}

static void on_launcher_ready(struct attach *a, void *ud, uint64_t next_seq) {
    (void)a;
    (void)next_seq;
    struct sandbox *sb = ud;
    uv_timer_stop(&sb->timer);
    sb->reattaches = 0;
    sb->acked_seq = sb->last_seq;   /* a hello acknowledges up to its last_seq */
    if (sb->phase == PH_HELLO) {
        sb->phase = PH_READY;
        if (sb->cb.on_ready) sb->cb.on_ready(sb, sb->ud);
    } else if (sb->phase == PH_REATTACH) {
        sb->phase = PH_READY;
    }
}

/* Data and exit frames carry seq numbers: deliver each once, in order. */
static int fresh(struct sandbox *sb, uint64_t seq) {
    if (seq == 0) return 1;   /* an exit for a refused exec (busy) is not numbered */
    if (seq <= sb->last_seq) return 0;
    if (seq != sb->last_seq + 1)
        log_msgf(LOG_WARN, "sandbox_gap", "container %.12s: frames %llu..%llu were dropped",
                 sb->id, (unsigned long long)sb->last_seq + 1, (unsigned long long)seq - 1);
    sb->last_seq = seq;
    return 1;
}

static void on_frame_data(struct attach *a, void *ud, uint64_t seq, int stream, const char *data,
                          size_t len) {
    (void)a;
    struct sandbox *sb = ud;
    if (fresh(sb, seq) && sb->cb.on_data) sb->cb.on_data(sb, sb->ud, stream, data, len);
}

static void on_frame_exit(struct attach *a, void *ud, const struct launcher_exit *ex) {
    (void)a;
    struct sandbox *sb = ud;
    if (fresh(sb, ex->seq) && sb->cb.on_exit) sb->cb.on_exit(sb, sb->ud, ex);
}

static void on_frame_channel(struct attach *a, void *ud, uint64_t seq, const char *data, size_t len) {
    (void)a;
    struct sandbox *sb = ud;
    if (fresh(sb, seq) && sb->on_channel) sb->on_channel(sb, sb->ud, data, len);
}

static void on_frame_reply(struct attach *a, void *ud, uint32_t rid, int status, const char *data,
                           size_t len) {
    (void)a;
    struct sandbox *sb = ud;
    if (sb->cb.on_reply) sb->cb.on_reply(sb, sb->ud, rid, status, data, len);
}

/* Acknowledge once per read, not per frame. */
static void on_batch_end(struct attach *a, void *ud) {
    struct sandbox *sb = ud;
    if (sb->dead || sb->last_seq <= sb->acked_seq) return;
    if (attach_ack(a, sb->last_seq) == 0) sb->acked_seq = sb->last_seq;
}

static void on_stream_end(struct attach *a, void *ud, enum attach_end end, const char *why) {
    (void)a;
    struct sandbox *sb = ud;
    if (sb->dead) return;
    if (end == ATTACH_END_PROTOCOL) {
        lost(sb, SANDBOX_LOST_PROTOCOL, why);
    } else if (end == ATTACH_END_REFUSED) {
        lost(sb, SANDBOX_LOST_CREATE, why);
    } else if (sb->phase == PH_ATTACH) {
        lost(sb, end == ATTACH_END_TIMED_OUT ? SANDBOX_LOST_TIMEOUT : SANDBOX_LOST_ENGINE, why);
    } else if (sb->phase == PH_START) {
        sb->stream_lost_in_start = 1;   /* start_done decides */
    } else if (sb->phase != PH_INSPECT) {
        inspect(sb);
    }
}

static const struct attach_callbacks attach_cbs = {
    on_attached, on_launcher_ready, on_frame_data, on_frame_exit,
    on_frame_reply, on_batch_end, on_stream_end, on_frame_channel,
};

/* ---- creating ----------------------------------------------------------------------------- */

static void random_name(char out[24]) {
    unsigned char r[8];
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        static unsigned counter;
        uint64_t v = (uint64_t)time(NULL) * 2654435761u ^ ++counter ^ (uintptr_t)out;
        memcpy(r, &v, sizeof r);
    }
    snprintf(out, 24, "cc-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5],
             r[6], r[7]);
}

struct sandbox *sandbox_create(struct docker *d, const struct sandbox_spec *spec,
                               const struct sandbox_callbacks *cb, void *ud) {
    if (!d || !spec->image || !spec->backend_id || !spec->step_timeout_ms) return NULL;
    struct sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) return NULL;
    sb->d = d;
    sb->cb = *cb;
    sb->ud = ud;
    sb->phase = PH_CREATE;
    sb->step_ms = spec->step_timeout_ms;
    sb->next_rid = 1;
    sb->image = strdup(spec->image);
    random_name(sb->name);
    json_t *body = sandbox_create_body(spec);
    char path[64];
    snprintf(path, sizeof path, "/containers/create?name=%s", sb->name);
    if (sb->image && body)
        sb->call = docker_call(d, "POST", path, body, CREATE_ANSWER_MS, create_done, sb);
    json_decref(body);
    if (!sb->call) {
        free(sb->image);
        free(sb);
        return NULL;
    }
    uv_timer_init(docker_loop(d), &sb->timer);
    sb->timer.data = sb;
    uv_timer_start(&sb->timer, step_timed_out, sb->step_ms, 0);
    sb->next = all;
    if (all) all->prev = sb;
    all = sb;
    return sb;
}

void sandbox_set_callbacks(struct sandbox *sb, const struct sandbox_callbacks *cb, void *ud) {
    sb->cb = *cb;
    sb->ud = ud;
    sb->on_channel = NULL;
}

void sandbox_set_channel_callback(struct sandbox *sb, sandbox_channel_cb cb) { sb->on_channel = cb; }

const char *sandbox_container_id(const struct sandbox *sb) { return sb->id; }
int sandbox_is_ready(const struct sandbox *sb) { return !sb->dead && sb->phase == PH_READY; }

struct sandbox *sandbox_find(struct docker *d, const char *id_or_name) {
    for (struct sandbox *sb = all; sb; sb = sb->next)
        if (sb->d == d && ((sb->id[0] && strcmp(sb->id, id_or_name) == 0) || strcmp(sb->name, id_or_name) == 0))
            return sb;
    return NULL;
}

void sandbox_container_died(struct sandbox *sb) {
    /* The attach stream usually ends at the same moment; whichever comes
     * first asks the engine, the other finds the inspection under way. */
    if (sb->dead || sb->call || (sb->phase != PH_READY && sb->phase != PH_REATTACH)) return;
    inspect(sb);
}

void sandbox_drop_stream(struct sandbox *sb) {
    if (sb->dead || sb->phase != PH_READY) return;
    sb->phase = PH_REATTACH;
    attach_reconnect(sb->att);   /* on_attached sends the hello with our last seq */
}

/* ---- waiting for every removal --------------------------------------------------------------- */

static void waiter_closed(uv_handle_t *h) {
    struct removal_waiter *w = h->data;
    w->cb(w->ud);
    free(w);
}

static void waiter_check(uv_timer_t *t) {
    struct removal_waiter *w = t->data;
    for (struct sandbox *sb = all; sb; sb = sb->next)
        if (sb->d == w->d) return;   /* kicked again when the next one is freed */
    if (w->prev) w->prev->next = w->next;
    else waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

void sandbox_wait_removals(struct docker *d, void (*cb)(void *ud), void *ud) {
    struct removal_waiter *w = calloc(1, sizeof *w);
    if (!w) return;
    w->d = d;
    w->cb = cb;
    w->ud = ud;
    uv_timer_init(docker_loop(d), &w->timer);
    w->timer.data = w;
    w->next = waiters;
    if (waiters) waiters->prev = w;
    waiters = w;
    uv_timer_start(&w->timer, waiter_check, 0, 0);
}

/* ---- frames to the launcher ---------------------------------------------------------------- */

static int usable(const struct sandbox *sb) { return !sb->dead && sb->att; }

int sandbox_send_files(struct sandbox *sb, const json_t *files) {
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        const json_t *content = json_object_get(f, "content");
        if (!usable(sb) || attach_file(sb->att, json_string_value(json_object_get(f, "name")),
                                       json_string_value(content), json_string_length(content)) < 0)
            return -1;
    }
    return 0;
}

/* A JSON array of strings as a vector; NULL if it is something else. */
static const char **strings_of(const json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    const char **v = calloc(*n + 1, sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < *n; i++) {
        v[i] = json_string_value(json_array_get(arr, i));
        if (!v[i]) {
            free(v);
            return NULL;
        }
    }
    return v;
}

int sandbox_exec(struct sandbox *sb, const struct sandbox_exec *ex) {
    if (!usable(sb)) return -1;
    struct launcher_exec x = {.opts = ex->opts};
    const char **argv = strings_of(ex->argv, &x.argc);
    const char **env = strings_of(ex->env, &x.envc);
    int rc = -1;
    if (argv && env && x.argc) {
        x.argv = argv;
        x.env = env;
        rc = attach_exec(sb->att, &x);
    }
    free(argv);
    free(env);
    return rc;
}

int sandbox_input(struct sandbox *sb, const void *data, size_t len) {
    return usable(sb) ? attach_input(sb->att, data, len) : -1;
}
int sandbox_channel(struct sandbox *sb, const void *data, size_t len) {
    return usable(sb) ? attach_channel(sb->att, data, len) : -1;
}
int sandbox_eof(struct sandbox *sb) { return usable(sb) ? attach_eof(sb->att) : -1; }
int sandbox_signal(struct sandbox *sb, int signo) {
    return usable(sb) ? attach_signal(sb->att, signo) : -1;
}
int sandbox_resize(struct sandbox *sb, uint16_t cols, uint16_t rows) {
    return usable(sb) ? attach_resize(sb->att, cols, rows) : -1;
}
size_t sandbox_input_backlog(const struct sandbox *sb) {
    return sb->att ? attach_queued(sb->att) : 0;
}

static uint32_t take_rid(struct sandbox *sb) {
    uint32_t rid = sb->next_rid++;
    if (sb->next_rid == 0) sb->next_rid = 1;
    return rid;
}

uint32_t sandbox_get(struct sandbox *sb, const char *path) {
    uint32_t rid = take_rid(sb);
    return usable(sb) && attach_get(sb->att, rid, path) == 0 ? rid : 0;
}
uint32_t sandbox_put(struct sandbox *sb, const char *path, const void *data, size_t len) {
    uint32_t rid = take_rid(sb);
    return usable(sb) && attach_put(sb->att, rid, path, data, len) == 0 ? rid : 0;
}
uint32_t sandbox_list(struct sandbox *sb) {
    uint32_t rid = take_rid(sb);
    return usable(sb) && attach_list(sb->att, rid) == 0 ? rid : 0;
}
uint32_t sandbox_reset(struct sandbox *sb, uint64_t memory_slack) {
    uint32_t rid = take_rid(sb);
    return usable(sb) && attach_reset(sb->att, rid, memory_slack) == 0 ? rid : 0;
}
