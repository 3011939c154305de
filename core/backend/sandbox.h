/* sandbox.h — one container and its launcher channel: what sessions and runs use.
 *
 * create → attach (httpc upgrade) → start → hello → `Y` → on_ready. Then frames
 * both ways: files, exec, input, signals, file get/put/list, reset; data and exit
 * frames come back numbered, are delivered once each (a re-attach after a dropped
 * stream resends from the last seq we hold, duplicates are dropped) and are
 * acknowledged after delivery.
 *
 * The container's death is noticed when its attach stream ends: the container is
 * inspected; if it still runs we re-attach, otherwise on_lost says why (OOM-killed
 * or exited). Every container carries the labels cloudcode=1,
 * cloudcode.backend=<id> and cloudcode.session=<id or "">. */
#ifndef CC_SANDBOX_H
#define CC_SANDBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "attach.h"
#include "clients/docker.h"

struct sandbox_spec {            /* every value comes from the policy */
    const char *image;           /* cloudcode/python */
    const char *backend_id;      /* label cloudcode.backend=<id> */
    const char *session_id;      /* label cloudcode.session=<id> (NULL for pool containers) */
    unsigned uid;                /* per-container uid, gid = uid */
    long long memory_bytes;      /* Memory = MemorySwap */
    long long nano_cpus;
    long long pids_limit;
    long long tmp_bytes, work_bytes, shm_bytes;   /* /tmp, /work (exec allowed), /dev/shm */
    long long fsize_bytes;       /* ulimit fsize */
    long long nofile;            /* ulimit nofile */
    int tty;                     /* the launcher's pty is per run: the container's Tty stays false */
    unsigned step_timeout_ms;    /* bound on each of create, attach, start, hello (> 0) */
};

enum sandbox_lost_reason {
    SANDBOX_LOST_NO_IMAGE = 1,   /* the image is not built: answer 503 naming spec->image */
    SANDBOX_LOST_CREATE,         /* the engine refused to create or start the container */
    SANDBOX_LOST_TIMEOUT,        /* create, attach, start or hello took longer than the step timeout */
    SANDBOX_LOST_DIED,           /* the container stopped: killed from outside, the launcher died */
    SANDBOX_LOST_OOM,            /* the container's memory limit killed the launcher */
    SANDBOX_LOST_ENGINE,         /* the engine is unreachable or answers nonsense */
    SANDBOX_LOST_PROTOCOL,       /* the launcher sent a malformed frame */
};
const char *sandbox_lost_reason_name(enum sandbox_lost_reason r);

struct sandbox;

struct sandbox_callbacks {
    /* Container created, attached, started, and the launcher said `Y`. */
    void (*on_ready)(struct sandbox *sb, void *ud);
    /* Program output, stream 1 stdout, 2 stderr. */
    void (*on_data)(struct sandbox *sb, void *ud, int stream, const char *data, size_t len);
    /* The `x` frame: the program ended (the container lives on). */
    void (*on_exit)(struct sandbox *sb, void *ud, const struct launcher_exit *ex);
    /* The `R` frame answering sandbox_get/put/list/reset (rid 0: a file of sandbox_send_files failed). */
    void (*on_reply)(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *data,
                     size_t len);
    /* The sandbox is unusable. It then removes its container and frees itself:
     * no callback follows and the caller must not touch `sb` again. */
    void (*on_lost)(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text);
};

/* The `c` frame: bytes from the program's notebook channel, in order, once each, to the same
 * `ud` as the callbacks. Apart from sandbox_callbacks so that only notebook users name it;
 * sandbox_set_callbacks (a new owner) clears it. */
typedef void (*sandbox_channel_cb)(struct sandbox *sb, void *ud, const char *data, size_t len);
void sandbox_set_channel_callback(struct sandbox *sb, sandbox_channel_cb cb);

/* Start creating. NULL only if the spec lacks its image, backend id or step
 * timeout, or the engine is closing or out of memory; every
 * failure after that comes through on_lost, never from inside this call. */
struct sandbox *sandbox_create(struct docker *d, const struct sandbox_spec *spec,
                               const struct sandbox_callbacks *cb, void *ud);
/* The engine's create body for `spec` (sandbox_body.c): no network, read-only root, no
 * capabilities, its own uid, the spec's limits and tmpfs mounts; NULL out of memory. */
json_t *sandbox_create_body(const struct sandbox_spec *spec);
/* Hand the sandbox to another owner (a warm pool's container given to a session). */
void sandbox_set_callbacks(struct sandbox *sb, const struct sandbox_callbacks *cb, void *ud);
/* No callback after this; the container is force-removed in the background and the
 * memory freed once the removal and the stream are done. Safe inside any callback. */
void sandbox_destroy(struct sandbox *sb);

const char *sandbox_container_id(const struct sandbox *sb);   /* "" until created */
int sandbox_is_ready(const struct sandbox *sb);
/* The sandbox whose container has this id (full id) or name (cc-..., known
 * before the engine answers the create), or NULL: for reconciles. */
struct sandbox *sandbox_find(struct docker *d, const char *id_or_name);
/* Once every sandbox of `d` is gone (destroyed or lost, and removed), call cb —
 * always from the loop, never from inside this call. For shutdown. */
void sandbox_wait_removals(struct docker *d, void (*cb)(void *ud), void *ud);

/* Tests only: drop the attach stream as a network failure would, so that the
 * sandbox re-attaches and resumes from its last seq. */
void sandbox_drop_stream(struct sandbox *sb);
/* The engine says the container died (its /events stream): find out how,
 * and report the loss. */
void sandbox_container_died(struct sandbox *sb);

/* The program to run. argv and env are JSON arrays of strings (borrowed); opts go to the
 * launcher as they are (tty, stdin_closed, notebook channel on fd 3 and fd 4, cols and rows,
 * timeout, output limit, and CPU time, file size, stack, processes: 0 = none; docs/protocol.md). */
struct sandbox_exec {
    const json_t *argv;
    const json_t *env;
    struct exec_opts opts;
};

/* Frames to the launcher, meant from on_ready on; while a stream is being
 * (re)attached they are held and sent in order. Each returns 0, or -1 before the
 * container exists, once lost/destroyed, or if the frame is too large for the
 * protocol (4 MiB). */
/* A program's files (a run's or a session's): a JSON array of {name, content} strings, one F
 * frame each; -1 at the first that cannot go. */
int sandbox_send_files(struct sandbox *sb, const json_t *files);
int sandbox_exec(struct sandbox *sb, const struct sandbox_exec *ex);
int sandbox_input(struct sandbox *sb, const void *data, size_t len);
/* Bytes for the program's notebook channel (its fd 3). */
int sandbox_channel(struct sandbox *sb, const void *data, size_t len);
int sandbox_eof(struct sandbox *sb);
int sandbox_signal(struct sandbox *sb, int signo);
int sandbox_resize(struct sandbox *sb, uint16_t cols, uint16_t rows);
/* Bytes of input (and other frames) written and not yet taken by the engine. */
size_t sandbox_input_backlog(const struct sandbox *sb);

/* Requests answered through on_reply with the returned rid (never 0; 0 on failure). */
uint32_t sandbox_get(struct sandbox *sb, const char *path);
uint32_t sandbox_put(struct sandbox *sb, const char *path, const void *data, size_t len);
uint32_t sandbox_list(struct sandbox *sb);
/* Kill every process but the launcher, empty and restore the sandbox's writable roots, and check
 * that its memory is back within `memory_slack` bytes of start-up (0: unchecked), for reuse. A
 * reply other than REPLY_OK means the sandbox is not proven clean: never reuse it. */
uint32_t sandbox_reset(struct sandbox *sb, uint64_t memory_slack);

#endif
