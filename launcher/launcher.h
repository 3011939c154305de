/* launcher.h — the state of the launcher, shared by the loop (main.c) and the run (run.c). */
#ifndef LAUNCHER_LAUNCHER_H
#define LAUNCHER_LAUNCHER_H

#include "lbuf.h"
#include "frame.h"
#include "outbox.h"
#include "proc.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

/* Input for the program is buffered up to this much; past it the launcher stops reading frames
 * until the program has taken some, so a program that never reads cannot grow the launcher. */
#define INPUT_CAP (1024 * 1024)

/* The program's output is read only while fewer bytes than this wait for stdout, so a backend
 * that reads slowly slows the program down instead of growing the launcher. */
#define OUTPUT_HIGH_WATER (1024 * 1024)

/* How long the pipes are still read after the main process has exited: long enough to get what
 * it wrote last, short enough that a background process holding them cannot hold the run. */
#define DRAIN_MS 100

/* Bytes for the notebook channel wait up to this much for the program to read them; past it C
 * frames are dropped rather than pausing every frame (stdin and signals included) behind a
 * program that is busy and not reading its channel. */
#define CHANNEL_CAP (8 * 1024 * 1024)

/* How often the CPU time of a run with a cpu_ms limit is read: the kill comes at most this late. */
#define CPU_POLL_MS 20

/* One program run, from X to its x frame. */
struct run {
    bool active; /* started, and its x frame not yet sent */
    bool exited; /* the main process has been reaped: draining */
    bool tty;
    struct child child;
    int64_t started_ms;
    int64_t exited_ms;
    int64_t deadline_ms;    /* wall timeout; 0 for none */
    int64_t drain_until_ms; /* end of the drain, once exited */
    uint64_t output_limit;  /* 0 for none */
    uint64_t output_count;  /* stdout + stderr bytes sent */
    uint8_t reason;         /* enum exit_reason, set by whoever killed it first */
    int status;             /* of the main process, from wait4 */
    struct rusage usage;
    uint64_t oom_kills_at_start;
    struct exec_limits limits;
    int64_t cgroup_cpu_at_start; /* the container's CPU ms at X; -1: measure the process instead */
};

struct launcher {
    const char *workdir;
    bool is_init; /* PID 1 of a container: allowed to kill(-1) and to wipe /tmp and IPC */
    int signal_fd;
    struct frame_reader reader;
    struct outbox out;
    struct lbuf input; /* bytes for the program's stdin, from I frames */
    bool input_eof;   /* E (or X's flag) seen: stdin closes once `input` is written */
    struct lbuf chan_in; /* bytes for the program's notebook channel (fd 3), from C frames */
    struct run run;
};

#endif
