/* run.c — one program run, from X to x. */
#include "run.h"
#include "cputime.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The loop wakes up at least this often while a far deadline is pending. */
#define MAX_SLEEP_MS 60000

/* Killed processes are waited for this long at most before the x frame goes out anyway. */
#define REAP_TIMEOUT_MS 2000

/* cgroup v1's count of OOM kills in the container's memory cgroup; 0 when it cannot be read. */
static uint64_t read_oom_kills(void)
{
    FILE *f = fopen("/sys/fs/cgroup/memory/memory.oom_control", "re");
    if (!f)
        return 0;
    char key[64];
    unsigned long long value;
    uint64_t kills = 0;
    while (fscanf(f, "%63s %llu", key, &value) == 2)
        if (strcmp(key, "oom_kill") == 0)
            kills = value;
    fclose(f);
    return kills;
}

static uint32_t clamp_u32(int64_t v)
{
    return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int64_t timeval_ms(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* CPU ms the run has used so far (-1: unreadable): the whole container's since X when its cgroup
 * can be read, else the main process's (and its waited-for children's) while it lives. */
static int64_t cpu_used_ms(const struct run *r)
{
    if (r->cgroup_cpu_at_start >= 0) {
        int64_t now = cputime_cgroup_ms();
        return now >= r->cgroup_cpu_at_start ? now - r->cgroup_cpu_at_start : -1;
    }
    return r->exited ? -1 : cputime_process_ms(r->child.pid);
}

/* Sends the x frame and forgets the run. Input left for it is dropped: it was meant for a
 * program that is gone. */
static void finish(struct launcher *l, bool reaped)
{
    struct run *r = &l->run;
    struct exit_msg m = {.reason = r->reason};

    /* Not reaped: it never started, or it could not be waited for; either way no status. */
    m.exit_code = reaped && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
    m.signo = reaped && WIFSIGNALED(r->status) ? (uint8_t)WTERMSIG(r->status) : 0;
    if (reaped) {
        m.wall_ms = clamp_u32(r->exited_ms - r->started_ms);
        int64_t cpu = timeval_ms(r->usage.ru_utime) + timeval_ms(r->usage.ru_stime), all = cpu_used_ms(r);
        m.cpu_ms = clamp_u32(all > cpu ? all : cpu); /* the cgroup also counts processes nobody waited for */
        /* Over the limit but not killed (it ended within the extra time), or killed by the
         * RLIMIT_CPU backstop: either way the CPU time limit is what ended it. */
        if (r->limits.cpu_ms && m.reason == EXIT_REASON_NORMAL && (m.cpu_ms > r->limits.cpu_ms || m.signo == SIGXCPU))
            m.reason = EXIT_REASON_CPU_LIMIT;
        m.maxrss_kb = r->usage.ru_maxrss > 0 ? (uint64_t)r->usage.ru_maxrss : 0;
    } else {
        m.wall_ms = clamp_u32(now_ms() - r->started_ms);
    }
    uint64_t oom = read_oom_kills();
    m.oom_kills = clamp_u32(oom >= r->oom_kills_at_start ? (int64_t)(oom - r->oom_kills_at_start) : 0);

    child_close_fds(&r->child);
    outbox_exit(&l->out, &m);
    memset(r, 0, sizeof *r);
    child_clear_fds(&r->child);
    lbuf_clear(&l->input);
    lbuf_trim(&l->input);
    lbuf_clear(&l->chan_in);
    lbuf_trim(&l->chan_in);
    l->input_eof = false;
}

/* The main process has exited (or will not be waited for any longer): kill what is left of the
 * sandbox, reap it and report. */
static void end(struct launcher *l)
{
    struct run *r = &l->run;
    sandbox_kill(r->child.pid);
    bool reaped = r->exited;
    if (reap_all(r->child.pid, &r->status, &r->usage, REAP_TIMEOUT_MS) && !reaped) {
        reaped = true;
        r->exited_ms = now_ms();
    }
    finish(l, reaped);
}

/* Kills the program for the timeout or the output limit; the first reason sticks. */
static void kill_for(struct launcher *l, uint8_t reason)
{
    struct run *r = &l->run;
    if (r->reason == EXIT_REASON_NORMAL)
        r->reason = reason;
    sandbox_kill(r->child.pid);
}

/* X without a process to show for it: the reason on stderr, then x with EXIT_REASON_EXEC_FAILED. */
static void refuse(struct launcher *l, const struct lbuf *why, bool reaped)
{
    outbox_data(&l->out, STREAM_STDERR, lbuf_head(why), lbuf_used(why));
    l->run.reason = EXIT_REASON_EXEC_FAILED;
    l->run.exited_ms = now_ms();
    finish(l, reaped);
}

/* Closes the program's stdin, for E or when it can take no more. A tty has no stdin of its own:
 * its master is also the program's stdout. */
static void close_stdin(struct run *r)
{
    if (!r->tty && r->child.stdin_fd >= 0) {
        close(r->child.stdin_fd);
        r->child.stdin_fd = -1;
    }
}

void run_start(struct launcher *l, const struct exec_msg *msg)
{
    struct run *r = &l->run;
    if (r->active) {
        outbox_busy(&l->out);
        return;
    }
    r->active = true;
    r->tty = msg->opts.tty;
    r->started_ms = now_ms();
    r->deadline_ms = msg->opts.timeout_ms ? r->started_ms + msg->opts.timeout_ms : 0;
    r->output_limit = msg->opts.output_limit;
    r->oom_kills_at_start = read_oom_kills();
    r->limits = msg->opts.limits;
    r->cgroup_cpu_at_start = l->is_init ? cputime_cgroup_ms() : -1;
    child_clear_fds(&r->child);
    outbox_set_output_limit(&l->out, msg->opts.output_limit);

    struct lbuf why;
    lbuf_init(&why);
    if (!msg->argv[0]) {
        lbuf_printf(&why, "cloudcode: empty command\n");
        refuse(l, &why, false);
        lbuf_free(&why);
        return;
    }
    struct child_spec spec = {
        .argv = msg->argv,
        .envp = msg->envp,
        .workdir = l->workdir,
        .tty = msg->opts.tty,
        .notebook = msg->opts.notebook,
        .cols = msg->opts.cols,
        .rows = msg->opts.rows,
        .limits = msg->opts.limits,
    };
    switch (child_spawn(&spec, &r->child, &why)) {
    case SPAWN_OK:
        break;
    case SPAWN_SETUP_FAILED:
        refuse(l, &why, false);
        lbuf_free(&why);
        return;
    case SPAWN_EXEC_FAILED:
        /* The child is exiting with 127 right now; its status is worth the short wait. */
        while (wait4(r->child.pid, &r->status, 0, &r->usage) < 0 && errno == EINTR)
            ;
        refuse(l, &why, true);
        lbuf_free(&why);
        return;
    }
    lbuf_free(&why);

    if (msg->opts.stdin_closed)
        l->input_eof = true;
    if (l->input_eof && r->tty) {
        /* A terminal has no end of input: ^D at the start of a line is what reads as one. */
        lbuf_put_u8(&l->input, 4);
        l->input_eof = false;
    }
}

void run_input(struct launcher *l, const void *data, size_t n)
{
    struct run *r = &l->run;
    /* Input is the run's that is going on. The backend sends a run's I and E frames after its X,
     * so one that finds no run belongs to a run that has ended (its program exited without
     * reading it all, and a loaded engine delivered the rest after the x frame): given to the next
     * run, a judge's next case, it would read the previous case's input. After E, or once the
     * program has exited or closed its stdin, nobody reads it either. */
    if (!r->active || l->input_eof || r->exited || r->child.stdin_fd < 0)
        return;
    lbuf_append(&l->input, data, n);
}

void run_channel_input(struct launcher *l, const void *data, size_t n)
{
    struct run *r = &l->run;
    if (!r->active || r->exited || r->child.chan_in_fd < 0 || lbuf_used(&l->chan_in) + n > CHANNEL_CAP)
        return;
    lbuf_append(&l->chan_in, data, n);
}

bool run_input_full(const struct launcher *l)
{
    const struct run *r = &l->run;
    return r->active && !r->exited && lbuf_used(&l->input) >= INPUT_CAP;
}

void run_eof(struct launcher *l)
{
    struct run *r = &l->run;
    if (!r->active)
        return; /* the end of a run that has ended (see run_input) */
    if (r->tty) {
        if (!r->exited)
            lbuf_put_u8(&l->input, 4);
        return;
    }
    l->input_eof = true;
    /* With nothing left to write, no POLLOUT will come to close stdin: do it now. */
    run_feed_stdin(l);
}

void run_signal(struct launcher *l, int signo)
{
    struct run *r = &l->run;
    if (r->active && !r->exited && signo > 0 && signo < NSIG && r->child.pid > 1)
        kill(-r->child.pid, signo);
}

void run_resize(struct launcher *l, uint16_t cols, uint16_t rows)
{
    struct run *r = &l->run;
    if (!r->active || !r->tty || r->child.stdout_fd < 0)
        return;
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    ioctl(r->child.stdout_fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH to the program */
}

int run_poll_fds(struct launcher *l, struct pollfd *pfds)
{
    struct run *r = &l->run;
    int n = 0;
    if (!r->active)
        return 0;
    if (!r->exited && r->child.stdin_fd >= 0 && lbuf_used(&l->input) > 0)
        pfds[n++] = (struct pollfd){.fd = r->child.stdin_fd, .events = POLLOUT};
    if (!r->exited && r->child.chan_in_fd >= 0 && lbuf_used(&l->chan_in) > 0)
        pfds[n++] = (struct pollfd){.fd = r->child.chan_in_fd, .events = POLLOUT};
    if (outbox_pending(&l->out) < OUTPUT_HIGH_WATER) {
        /* The channel first: what the program wrote there before its stdout (the notebook
         * driver's "idle" before its prompt) then reaches the backend first as well. */
        if (r->child.chan_out_fd >= 0)
            pfds[n++] = (struct pollfd){.fd = r->child.chan_out_fd, .events = POLLIN};
        if (r->child.stdout_fd >= 0)
            pfds[n++] = (struct pollfd){.fd = r->child.stdout_fd, .events = POLLIN};
        if (r->child.stderr_fd >= 0)
            pfds[n++] = (struct pollfd){.fd = r->child.stderr_fd, .events = POLLIN};
    }
    return n;
}

enum feed { FEED_DONE, FEED_BLOCKED, FEED_GONE };

/* Writes what the program's pipe `fd` (-1: closed) takes now of `b`: FEED_DONE when all is written
 * (or the pipe is closed), FEED_BLOCKED when it takes no more for now, FEED_GONE when the program
 * closed its end (EPIPE): what it did not read is dropped. */
static enum feed feed(int fd, struct lbuf *b)
{
    while (lbuf_used(b) > 0 && fd >= 0) {
        ssize_t n = write(fd, lbuf_head(b), lbuf_used(b));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return FEED_BLOCKED;
        if (n < 0) {
            lbuf_clear(b);
            return FEED_GONE;
        }
        lbuf_consume(b, (size_t)n);
    }
    return FEED_DONE;
}

void run_feed_stdin(struct launcher *l)
{
    struct run *r = &l->run;
    if (!r->active || r->exited)
        return;
    enum feed fed = feed(r->child.stdin_fd, &l->input);
    if (fed == FEED_BLOCKED)
        return;
    if (fed == FEED_GONE)
        close_stdin(r);
    if (lbuf_used(&l->input) == 0 && l->input_eof)
        close_stdin(r);
}

/* Writes what the channel's fd 3 takes now. A program that closed its end loses the rest. */
static void feed_channel(struct launcher *l)
{
    struct run *r = &l->run;
    if (feed(r->child.chan_in_fd, &l->chan_in) == FEED_GONE) {
        close(r->child.chan_in_fd);
        r->child.chan_in_fd = -1;
    }
}

/* Reads one chunk of the channel's fd 4 into a c frame. Not counted against the output limit:
 * the backend caps a cell's reply itself (api.md: a cell's outputs are capped on their own). */
static void read_channel(struct launcher *l)
{
    static unsigned char chunk[64 * 1024];
    struct run *r = &l->run;
    ssize_t n = read(r->child.chan_out_fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(r->child.chan_out_fd);
        r->child.chan_out_fd = -1;
        return;
    }
    outbox_channel(&l->out, chunk, (size_t)n);
}

/* Reads one chunk of the program's output into a D frame, keeping to the output limit. */
static void read_output(struct launcher *l, int *fd, uint8_t stream)
{
    static unsigned char chunk[64 * 1024];
    struct run *r = &l->run;
    ssize_t n = read(*fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* EOF, or EIO from a pty master once no process holds the terminal any more. */
        if (r->tty)
            r->child.stdin_fd = -1;
        close(*fd);
        *fd = -1;
        return;
    }
    size_t take = (size_t)n;
    bool over = false;
    if (r->output_limit) {
        uint64_t room = r->output_limit - r->output_count;
        if (take > room) {
            take = (size_t)room;
            over = true;
        }
    }
    if (take > 0)
        outbox_data(&l->out, stream, chunk, take);
    r->output_count += take;
    if (over) {
        kill_for(l, EXIT_REASON_OUTPUT_LIMIT);
        child_close_fds(&r->child); /* nothing more will be sent */
    }
}

void run_handle_poll(struct launcher *l, const struct pollfd *pfds, int n)
{
    struct run *r = &l->run;
    for (int i = 0; i < n && r->active; i++) {
        if (!pfds[i].revents)
            continue;
        if (pfds[i].fd == r->child.chan_in_fd && (pfds[i].events & POLLOUT))
            feed_channel(l);
        else if (pfds[i].fd == r->child.chan_out_fd)
            read_channel(l);
        else if (pfds[i].events & POLLOUT)
            run_feed_stdin(l);
        else if (pfds[i].fd == r->child.stdout_fd)
            read_output(l, &r->child.stdout_fd, STREAM_STDOUT);
        else if (pfds[i].fd == r->child.stderr_fd)
            read_output(l, &r->child.stderr_fd, STREAM_STDERR);
    }
}

void run_reap(struct launcher *l)
{
    struct run *r = &l->run;
    if (!r->active || r->exited) {
        int status;
        struct rusage usage;
        reap_exited(-1, &status, &usage); /* orphans re-parented to PID 1 */
        return;
    }
    if (!reap_exited(r->child.pid, &r->status, &r->usage))
        return;
    r->exited = true;
    r->exited_ms = now_ms();
    r->drain_until_ms = r->exited_ms + DRAIN_MS;
    lbuf_clear(&l->input);
    close_stdin(r);
}

static int sleep_until(int64_t now, int64_t deadline)
{
    return deadline - now > MAX_SLEEP_MS ? MAX_SLEEP_MS : (int)(deadline - now);
}

int run_check_timers(struct launcher *l)
{
    struct run *r = &l->run;
    if (!r->active)
        return -1;
    int64_t now = now_ms();
    if (r->exited) {
        if (r->child.stdout_fd < 0 && r->child.stderr_fd < 0 && r->child.chan_out_fd < 0)
            now = r->drain_until_ms; /* everything read: no reason to wait */
        if (now >= r->drain_until_ms) {
            end(l);
            return -1;
        }
        return sleep_until(now, r->drain_until_ms);
    }
    if (r->deadline_ms && now >= r->deadline_ms) {
        kill_for(l, EXIT_REASON_TIMEOUT);
        r->deadline_ms = 0;
        return -1;
    }
    if (r->limits.cpu_ms && r->reason == EXIT_REASON_NORMAL) {
        int64_t used = cpu_used_ms(r);
        if (used >= (int64_t)r->limits.cpu_ms + r->limits.cpu_extra_ms) {
            kill_for(l, EXIT_REASON_CPU_LIMIT);
            return -1;
        }
        int64_t next = now + CPU_POLL_MS;
        return sleep_until(now, r->deadline_ms && r->deadline_ms < next ? r->deadline_ms : next);
    }
    return r->deadline_ms ? sleep_until(now, r->deadline_ms) : -1;
}

void run_kill_for_shutdown(struct launcher *l)
{
    struct run *r = &l->run;
    int status;
    struct rusage usage;
    sandbox_kill(r->active ? r->child.pid : 0);
    reap_all(r->active ? r->child.pid : -1, &status, &usage, REAP_TIMEOUT_MS);
}

void run_kill_all(struct launcher *l)
{
    struct run *r = &l->run;
    if (r->active) {
        end(l);
    } else {
        int status;
        struct rusage usage;
        sandbox_kill(0);
        reap_all(-1, &status, &usage, REAP_TIMEOUT_MS);
    }
}
