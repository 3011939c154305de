/* proc.c — fork/exec of the program, killing and reaping. */
#include "proc.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* What the child reports on its close-on-exec status pipe when it cannot become the program.
 * Nothing arrives when exec succeeds: the pipe just closes. */
struct child_failure {
    int stage; /* enum child_stage */
    int err;
};

enum child_stage { STAGE_TERMINAL, STAGE_LIMITS, STAGE_CHDIR, STAGE_EXEC };

/* Lowers a limit; never raises one past the hard limit the container started with (Docker's
 * ulimits), which only root could do. */
static int limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) < 0)
        return -1;
    if (rl.rlim_max != RLIM_INFINITY && hard > rl.rlim_max)
        hard = rl.rlim_max;
    rl.rlim_cur = soft < hard ? soft : hard;
    rl.rlim_max = hard;
    return setrlimit(resource, &rl);
}

/* In the child: the exec's limits as rlimits, soft and hard alike so the program cannot raise
 * them. RLIMIT_CPU counts whole seconds per process, so it is only the backstop (rounded up
 * past cpu_ms + cpu_extra_ms): the launcher measures the run's CPU time itself and kills on time
 * (run.c). RLIMIT_NPROC counts every process of the uid, the launcher included, hence the +1. */
static int apply_limits(const struct exec_limits *x)
{
    if (x->cpu_ms) {
        rlim_t s = ((rlim_t)x->cpu_ms + x->cpu_extra_ms + 999) / 1000 + 1;
        if (limit(RLIMIT_CPU, s, s + 1) < 0)
            return -1;
    }
    if (x->file_size && limit(RLIMIT_FSIZE, x->file_size, x->file_size) < 0)
        return -1;
    if (x->stack && limit(RLIMIT_STACK, x->stack, x->stack) < 0)
        return -1;
    if (x->processes && limit(RLIMIT_NPROC, (rlim_t)x->processes + 1, (rlim_t)x->processes + 1) < 0)
        return -1;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void child_clear_fds(struct child *c)
{
    c->stdin_fd = c->stdout_fd = c->stderr_fd = c->chan_in_fd = c->chan_out_fd = -1;
}

void child_close_fds(struct child *c)
{
    if (c->stdin_fd == c->stdout_fd)
        c->stdin_fd = -1;
    close_fd(&c->stdin_fd);
    close_fd(&c->stdout_fd);
    close_fd(&c->stderr_fd);
    close_fd(&c->chan_in_fd);
    close_fd(&c->chan_out_fd);
}

/* In the child: puts the channel's ends on fd 3 and fd 4, open across exec. Every fd the
 * launcher made is close-on-exec, and any of them may sit on 3 or 4 now, so both ends are
 * first copied above that range and only then moved down. */
static int place_channel(const int chan[2])
{
    int in = fcntl(chan[0], F_DUPFD, 10);
    int out = in < 0 ? -1 : fcntl(chan[1], F_DUPFD, 10);
    if (out < 0 || dup2(in, 3) < 0 || dup2(out, 4) < 0)
        return -1;
    close(in);
    close(out);
    return 0;
}

/* Runs in the child between fork and exec. Only async-signal-safe calls: the parent is
 * single-threaded, but this keeps the child correct whatever it inherited. */
static __attribute__((noreturn)) void child_exec(const struct child_spec *spec, int stdio[3],
                                                 const int chan[2], int status_fd)
{
    struct child_failure failure = {STAGE_TERMINAL, 0};

    /* Out of the way of the channel's fd 3 and fd 4, which may replace whatever sits there. */
    if (spec->notebook) {
        int moved = fcntl(status_fd, F_DUPFD_CLOEXEC, 10);
        if (moved >= 0)
            status_fd = moved;
    }

    /* Its own session and process group: S signals and kills reach the program and everything it
     * starts, never the launcher. */
    setsid();
    if (spec->tty && ioctl(stdio[0], TIOCSCTTY, 0) < 0)
        goto fail;
    for (int i = 0; i < 3; i++)
        if (dup2(stdio[i], i) < 0)
            goto fail;
    if (spec->notebook && place_channel(chan) < 0)
        goto fail;

    /* The launcher is non-dumpable, which makes /proc/self/ root-owned; the program gets back the
     * normal state first, so it can write its own oom_score_adj and so the kernel picks the
     * program rather than the launcher when the container runs out of memory. */
    prctl(PR_SET_DUMPABLE, 1);
    int oom_fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom_fd >= 0) {
        ssize_t ignored = write(oom_fd, "1000", 4);
        (void)ignored;
        close(oom_fd);
    }

    /* Back to the defaults the launcher changed: every signal blocked, SIGPIPE ignored. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    failure.stage = STAGE_LIMITS;
    if (apply_limits(&spec->limits) < 0)
        goto fail;
    failure.stage = STAGE_CHDIR;
    if (chdir(spec->workdir) < 0)
        goto fail;

    /* environ is the program's environment, so PATH is looked up in the PATH it was given. */
    failure.stage = STAGE_EXEC;
    environ = spec->envp;
    execvpe(spec->argv[0], spec->argv, spec->envp);
fail:
    failure.err = errno;
    ssize_t ignored = write(status_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

static void describe_failure(const struct child_spec *spec, const struct child_failure *f,
                             struct lbuf *why)
{
    switch (f->stage) {
    case STAGE_TERMINAL:
        lbuf_printf(why, "cloudcode: cannot set up the terminal: %s\n", strerror(f->err));
        break;
    case STAGE_LIMITS:
        lbuf_printf(why, "cloudcode: cannot set the resource limits: %s\n", strerror(f->err));
        break;
    case STAGE_CHDIR:
        lbuf_printf(why, "cloudcode: cannot enter %s: %s\n", spec->workdir, strerror(f->err));
        break;
    default:
        lbuf_printf(why, "cloudcode: cannot run %s: %s\n", spec->argv[0], strerror(f->err));
        break;
    }
}

/* Opens a pty pair sized cols x rows. The master is the parent's stdin and stdout of the
 * program; the slave becomes the child's terminal. */
static int open_pty(const struct child_spec *spec, int *master, int *slave)
{
    *slave = -1;
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return -1;
    struct winsize ws = {.ws_row = spec->rows ? spec->rows : 24, .ws_col = spec->cols ? spec->cols : 80};
    char name[64];
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof name) != 0 ||
        ioctl(*master, TIOCSWINSZ, &ws) < 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        int err = errno;
        close_fd(master);
        errno = err;
        return -1;
    }
    return 0;
}

/* Makes n close-on-exec pipes: all, or none (closing those made) and -1. */
static int open_pipes(int (*pipes)[2], int n)
{
    for (int i = 0; i < n; i++) {
        if (pipe2(pipes[i], O_CLOEXEC) < 0) {
            while (i-- > 0) {
                close(pipes[i][0]);
                close(pipes[i][1]);
            }
            return -1;
        }
    }
    return 0;
}

/* Makes the child's three stdio fds and the parent's matching ends. */
static int open_stdio(const struct child_spec *spec, struct child *c, int stdio[3])
{
    if (spec->tty) {
        int master, slave;
        if (open_pty(spec, &master, &slave) < 0)
            return -1;
        c->stdin_fd = c->stdout_fd = master;
        stdio[0] = stdio[1] = stdio[2] = slave;
        return 0;
    }
    int p[3][2]; /* stdin, stdout, stderr */
    if (open_pipes(p, 3) < 0)
        return -1;
    c->stdin_fd = p[0][1];
    c->stdout_fd = p[1][0];
    c->stderr_fd = p[2][0];
    stdio[0] = p[0][0];
    stdio[1] = p[1][1];
    stdio[2] = p[2][1];
    return 0;
}

/* The notebook channel: chan[0] becomes the program's fd 3 (it reads requests), chan[1] its
 * fd 4 (it writes replies); the parent keeps the other ends in c. */
static int open_channel(const struct child_spec *spec, struct child *c, int chan[2])
{
    int p[2][2]; /* requests, replies */
    chan[0] = chan[1] = -1;
    if (!spec->notebook)
        return 0;
    if (open_pipes(p, 2) < 0)
        return -1;
    c->chan_in_fd = p[0][1];
    c->chan_out_fd = p[1][0];
    chan[0] = p[0][0];
    chan[1] = p[1][1];
    return 0;
}

static void close_pair(int fds[2])
{
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void close_stdio(int stdio[3])
{
    close(stdio[0]);
    if (stdio[1] != stdio[0])
        close(stdio[1]);
    if (stdio[2] != stdio[0])
        close(stdio[2]);
}

enum spawn_result child_spawn(const struct child_spec *spec, struct child *c, struct lbuf *why)
{
    int stdio[3];
    int chan[2];
    int status_pipe[2];

    c->pid = -1;
    child_clear_fds(c);
    if (open_stdio(spec, c, stdio) < 0) {
        lbuf_printf(why, "cloudcode: cannot create the program's %s: %s\n", spec->tty ? "terminal" : "pipes",
                   strerror(errno));
        return SPAWN_SETUP_FAILED;
    }
    if (open_channel(spec, c, chan) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0) {
        lbuf_printf(why, "cloudcode: cannot create a pipe: %s\n", strerror(errno));
        close_stdio(stdio);
        close_pair(chan);
        child_close_fds(c);
        return SPAWN_SETUP_FAILED;
    }
    c->pid = fork();
    if (c->pid == 0) {
        close(status_pipe[0]);
        child_exec(spec, stdio, chan, status_pipe[1]);
    }
    int fork_err = errno;
    close_stdio(stdio);
    close_pair(chan);
    close(status_pipe[1]);
    if (c->pid < 0) {
        lbuf_printf(why, "cloudcode: cannot fork: %s\n", strerror(fork_err));
        close(status_pipe[0]);
        child_close_fds(c);
        return SPAWN_SETUP_FAILED;
    }

    /* Blocks only until the child has exec'd or failed: a handful of system calls. Doing it here
     * means the program is already in its own process group when the loop resumes, so an S or a
     * kill can never reach a child that has not called setsid yet. */
    struct child_failure failure;
    ssize_t n;
    do
        n = read(status_pipe[0], &failure, sizeof failure);
    while (n < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (n == (ssize_t)sizeof failure) {
        describe_failure(spec, &failure, why);
        return SPAWN_EXEC_FAILED;
    }

    set_nonblocking(c->stdin_fd);
    set_nonblocking(c->stdout_fd);
    if (c->stderr_fd >= 0)
        set_nonblocking(c->stderr_fd);
    if (c->chan_in_fd >= 0) {
        set_nonblocking(c->chan_in_fd);
        set_nonblocking(c->chan_out_fd);
    }
    return SPAWN_OK;
}

void sandbox_kill(pid_t pgid)
{
    if (getpid() == 1)
        kill(-1, SIGKILL);
    else if (pgid > 1) /* kill(0) or kill(-1) here would hit the launcher's group or the machine */
        kill(-pgid, SIGKILL);
}

/* Reaps every child that has exited. Returns false once no child is left at all. */
static bool reap_ready(pid_t pid, int *status, struct rusage *ru, bool *found)
{
    for (;;) {
        int st;
        struct rusage usage;
        pid_t got = wait4(-1, &st, WNOHANG, &usage);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got == 0;
        if (got == pid) {
            *status = st;
            *ru = usage;
            *found = true;
        }
    }
}

bool reap_exited(pid_t pid, int *status, struct rusage *ru)
{
    bool found = false;
    reap_ready(pid, status, ru, &found);
    return found;
}

bool reap_all(pid_t pid, int *status, struct rusage *ru, int timeout_ms)
{
    bool found = false;
    int64_t deadline = now_ms() + timeout_ms;
    while (reap_ready(pid, status, ru, &found) && now_ms() < deadline) {
        /* SIGKILLed processes die within microseconds unless stuck in the kernel; poll briefly
         * rather than block, so one stuck process cannot hang the launcher. */
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return found;
}
