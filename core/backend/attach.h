/* attach.h — the launcher channel over a container's hijacked attach stream.
 *
 * POST /containers/{id}/attach with `Upgrade: tcp` (httpc), then: Docker's 8-byte
 * stream headers are stripped (the container runs with Tty false), the launcher's
 * stdout is cut into frames by launcher/frame.h's reader, and our frames go to its
 * stdin as raw writes. The launcher's stderr (a last gasp) is logged.
 *
 * Every hello carries a fresh nonce: the stream is in sync only after the launcher's
 * matching `Y` (docs/protocol.md, "Re-attaching"); bytes before it are discarded. */
#ifndef CC_ATTACH_H
#define CC_ATTACH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/hostaddr.h"
#include "launcher/frame.h"
#include "launcher/proto.h"

/* The `x` frame: how a program ended. */
struct launcher_exit {
    uint64_t seq;
    int32_t exit_code;    /* -1 if killed by a signal */
    uint8_t signo;        /* 0 if none */
    uint8_t reason;       /* enum exit_reason (launcher/proto.h) */
    uint32_t wall_ms;
    uint32_t cpu_ms;
    uint64_t maxrss_kb;
    uint32_t oom_kills;   /* growth of the cgroup's OOM-kill counter during the run */
};

/* The `X` frame: its options (tty, eof already sent, notebook channel, size, timeout, output
 * limit, resource limits: launcher/frame.h's exec_opts, 0 = none) as the codec takes them. */
struct launcher_exec {
    const char *const *argv;   /* argc strings; argv[0] is looked up in PATH */
    size_t argc;
    const char *const *env;    /* "NAME=value": the program's whole environment */
    size_t envc;
    struct exec_opts opts;
};

struct attach;

/* How a stream ended. The last two are fatal: attaching again cannot help. */
enum attach_end {
    ATTACH_END_CLOSED,     /* the engine closed it (usually: the container died) or it failed */
    ATTACH_END_TIMED_OUT,  /* connecting, or the engine's 101, took longer than the timeout */
    ATTACH_END_REFUSED,    /* the engine refused the attach */
    ATTACH_END_PROTOCOL,   /* the launcher sent a malformed frame */
};

struct attach_callbacks {
    /* The engine answered 101 on the current stream: what we write now reaches the
     * launcher's stdin (frames written before are held and go first). */
    void (*on_attached)(struct attach *a, void *ud);
    /* The `Y` answering our latest hello: the stream is framed from here on. */
    void (*on_ready)(struct attach *a, void *ud, uint64_t next_seq);
    void (*on_data)(struct attach *a, void *ud, uint64_t seq, int stream, const char *data,
                    size_t len);
    void (*on_exit)(struct attach *a, void *ud, const struct launcher_exit *ex);
    void (*on_reply)(struct attach *a, void *ud, uint32_t rid, int status, const char *data,
                     size_t len);
    /* Every frame of one read has been delivered: a good moment to acknowledge. May be NULL. */
    void (*on_batch_end)(struct attach *a, void *ud);
    /* The current stream ended, `end` says how and `why` in words. The caller reconnects
     * (attach_reconnect) or closes. */
    void (*on_stream_end)(struct attach *a, void *ud, enum attach_end end, const char *why);
    /* The `c` frame: bytes the program wrote to its notebook channel (fd 4). May be NULL. */
    void (*on_channel)(struct attach *a, void *ud, uint64_t seq, const char *data, size_t len);
};

/* Connect to the engine and attach to the container's stdin, stdout and stderr.
 * timeout_ms bounds connecting and the engine's 101 (0: 10 s). NULL on allocation failure. */
struct attach *attach_open(uv_loop_t *loop, const struct hostaddr *engine, const char *container_id,
                           unsigned timeout_ms, const struct attach_callbacks *cb, void *ud);
/* Drop the current stream (if any) and attach again; send attach_hello from
 * on_attached to resynchronise. */
void attach_reconnect(struct attach *a);
/* No callback after this; the memory goes once the connection is closed. */
void attach_close(struct attach *a);

/* Bytes written and not yet taken by the engine, held ones included (backpressure). */
size_t attach_queued(const struct attach *a);
/* The launcher's last-gasp stderr so far ("" if none), for the reason of a loss. */
const char *attach_stderr(const struct attach *a);

/* Frames to the launcher, in order; held while no stream is attached. Each
 * returns 0, or -1 after attach_close or if the frame would exceed the protocol's
 * size limit. */
int attach_hello(struct attach *a, uint64_t last_seq);   /* picks a fresh nonce, resyncs */
int attach_ack(struct attach *a, uint64_t seq);
int attach_file(struct attach *a, const char *name, const void *data, size_t len);
int attach_exec(struct attach *a, const struct launcher_exec *x);
int attach_input(struct attach *a, const void *data, size_t len);   /* split into frames as needed */
int attach_channel(struct attach *a, const void *data, size_t len); /* C frames, split likewise */
int attach_eof(struct attach *a);
int attach_signal(struct attach *a, int signo);
int attach_resize(struct attach *a, uint16_t cols, uint16_t rows);
int attach_get(struct attach *a, uint32_t rid, const char *path);
int attach_put(struct attach *a, uint32_t rid, const char *path, const void *data, size_t len);
/* The most bytes one P frame carries for a path of this length: a larger file is refused. */
size_t attach_put_max(size_t path_len);
int attach_list(struct attach *a, uint32_t rid);
int attach_reset(struct attach *a, uint32_t rid, uint64_t memory_slack);

#endif
