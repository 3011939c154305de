/* main.c — cloudcode-launcher: PID 1 of every sandbox container. Reads framed messages from
 * stdin, writes framed messages to stdout (docs/protocol.md), runs one program at a time.
 * A single-threaded poll loop over stdin, stdout, the program's pipes or pty and a signalfd. */
#include "fsops.h"
#include "launcher.h"
#include "reset.h"
#include "run.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

static __attribute__((noreturn)) void protocol_error(uint8_t type)
{
    die(EXIT_PROTOCOL_ERROR, "protocol error in a frame of type 0x%02x", type);
}

/* Before anything else: nobody in the container may trace the launcher or read its memory, and
 * signals arrive only through the signalfd, where their sender can be checked. */
static void setup_process(struct launcher *l)
{
    prctl(PR_SET_DUMPABLE, 0);

    /* The program's stdio is dup2'ed onto 0, 1 and 2: they must not be free for anything else. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
            die(EXIT_LAUNCHER_FATAL, "cannot open /dev/null for fd %d", fd);

    sigset_t all;
    sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, NULL) < 0)
        die(EXIT_LAUNCHER_FATAL, "sigprocmask: %s", strerror(errno));
    l->signal_fd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
    if (l->signal_fd < 0)
        die(EXIT_LAUNCHER_FATAL, "signalfd: %s", strerror(errno));

    /* Writes to stdout must never block the loop; a broken stdout shows as EPIPE, not SIGPIPE. */
    if (set_nonblocking(STDOUT_FILENO) < 0)
        die(EXIT_LAUNCHER_FATAL, "stdout: %s", strerror(errno));
}

/* Ends the launcher: kills the program and everything it left, flushes the frames already
 * queued (the end of the program is not one of them: see run_kill_for_shutdown). */
static __attribute__((noreturn)) void shut_down(struct launcher *l, int status)
{
    run_kill_for_shutdown(l);
    outbox_flush(&l->out);
    exit(status);
}

/* Whether a signal came from the kernel or from outside the container's PID namespace. A kill()
 * from outside (docker stop, docker kill) is SI_USER with a sender pid of 0, since the sender has
 * no pid in this namespace; a kill() from inside carries the sender's pid. The pid alone is not
 * proof: rt_sigqueueinfo() lets the program write any si_pid, with si_code SI_QUEUE or another
 * negative code — the kernel refuses only the codes >= 0 (SI_USER, SI_KERNEL) and SI_TKILL from
 * anyone but the target itself, and the program is not the launcher. */
static bool sent_from_outside(const struct signalfd_siginfo *si)
{
    return si->ssi_code == SI_KERNEL || (si->ssi_code == SI_USER && si->ssi_pid == 0);
}

/* Drains the signalfd. Only SIGCHLD and a SIGTERM or SIGINT from outside are acted on; the
 * program can signal the launcher, as the same user, and must not be able to make it do anything.
 * A forged SIGCHLD costs a waitpid(WNOHANG) and nothing else. */
static void handle_signals(struct launcher *l)
{
    struct signalfd_siginfo si;
    while (read(l->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD)
            run_reap(l);
        else if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && sent_from_outside(&si))
            shut_down(l, 0);
    }
}

static void reply_with(struct launcher *l, uint32_t rid, int status, struct lbuf *data)
{
    outbox_reply(&l->out, rid, (uint8_t)status, lbuf_head(data), lbuf_used(data));
    lbuf_free(data);
}

static void handle_file(struct launcher *l, const struct frame *f)
{
    struct file_msg m;
    struct lbuf data;
    if ((f->type == FRAME_FILE ? frame_parse_file(f, &m) : frame_parse_put(f, &m)) < 0)
        protocol_error(f->type);
    lbuf_init(&data);
    int status = fsop_write(l->workdir, m.path, m.path_len, m.data, m.data_len, &data);
    if (f->type == FRAME_FILE && status == REPLY_OK)
        lbuf_free(&data); /* F is answered only when it fails */
    else
        reply_with(l, m.rid, status, &data);
}

static void handle_get(struct launcher *l, const struct frame *f)
{
    struct file_msg m;
    struct lbuf data;
    if (frame_parse_get(f, &m) < 0)
        protocol_error(f->type);
    lbuf_init(&data);
    int status = fsop_read(l->workdir, m.path, m.path_len, &data);
    reply_with(l, m.rid, status, &data);
}

/* L: the working directory's files. */
static void handle_list(struct launcher *l, uint32_t rid)
{
    struct lbuf data;
    lbuf_init(&data);
    int status = fsop_list(l->workdir, &data);
    reply_with(l, rid, status, &data);
}

/* K: a run still going is ended first (its x frame goes out before the R). */
static void handle_reset(struct launcher *l, uint32_t rid, uint64_t memory_slack)
{
    struct lbuf why;
    run_kill_all(l);
    lbuf_clear(&l->input);
    l->input_eof = false;
    lbuf_init(&why);
    int status = reset_sandbox(memory_slack, &why) < 0 ? REPLY_ERROR : REPLY_OK;
    reply_with(l, rid, status, &why);
}

/* The frames of a few fixed fields, decoded once. */
static void handle_control(struct launcher *l, const struct frame *f)
{
    struct control_msg m;
    if (frame_parse_control(f, &m) < 0)
        protocol_error(f->type);
    switch (f->type) {
    case FRAME_ACK:
        outbox_ack(&l->out, m.seq);
        break;
    case FRAME_EOF:
        run_eof(l);
        break;
    case FRAME_SIGNAL:
        run_signal(l, m.signo);
        break;
    case FRAME_RESIZE:
        run_resize(l, m.cols, m.rows);
        break;
    case FRAME_LIST:
        handle_list(l, m.rid);
        break;
    default: /* FRAME_RESET: frame_parse_control knows no other type */
        handle_reset(l, m.rid, m.memory_slack);
    }
}

static void handle_exec(struct launcher *l, const struct frame *f)
{
    struct exec_msg m;
    if (frame_parse_exec(f, &m) < 0)
        protocol_error(f->type);
    run_start(l, &m);
    exec_msg_free(&m);
}

static void handle_frame(struct launcher *l, const struct frame *f)
{
    struct hello_msg hello;

    switch (f->type) {
    case FRAME_HELLO:
        if (frame_parse_hello(f, &hello) < 0)
            protocol_error(f->type);
        outbox_hello(&l->out, &hello);
        break;
    case FRAME_FILE:
    case FRAME_PUT:
        handle_file(l, f);
        break;
    case FRAME_EXEC:
        handle_exec(l, f);
        break;
    case FRAME_INPUT:
        run_input(l, f->payload, f->len);
        break;
    case FRAME_CHANNEL_IN:
        run_channel_input(l, f->payload, f->len);
        break;
    case FRAME_GET:
        handle_get(l, f);
        break;
    case FRAME_ACK:
    case FRAME_EOF:
    case FRAME_SIGNAL:
    case FRAME_RESIZE:
    case FRAME_LIST:
    case FRAME_RESET:
        handle_control(l, f);
        break;
    default:
        protocol_error(f->type);
    }
}

/* Handles the complete frames already read, while the program's input has room: past INPUT_CAP
 * the rest waits in the reader, and stdin is not read, until the program catches up. */
static void handle_frames(struct launcher *l)
{
    struct frame f;
    int rc;
    while (!run_input_full(l) && (rc = frame_reader_next(&l->reader, &f)) != 0) {
        if (rc < 0)
            die(EXIT_PROTOCOL_ERROR, "protocol error: frame length out of range");
        handle_frame(l, &f);
    }
}

/* Returns false at the end of stdin: the container's stdin is closed for good. */
static bool read_frames(struct launcher *l)
{
    static unsigned char chunk[64 * 1024];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    frame_reader_feed(&l->reader, chunk, (size_t)n);
    handle_frames(l);
    return true;
}

int main(void)
{
    static struct launcher launcher;
    struct launcher *l = &launcher;

    setup_process(l);
    l->workdir = getenv("CLOUDCODE_WORKDIR") ? getenv("CLOUDCODE_WORKDIR") : "/work";
    l->is_init = getpid() == 1;
    frame_reader_init(&l->reader);
    outbox_init(&l->out, STDOUT_FILENO);
    lbuf_init(&l->input);
    lbuf_init(&l->chan_in);
    child_clear_fds(&l->run.child);
    reset_init(l->workdir, l->is_init);

    for (;;) {
        struct pollfd pfds[8];
        int n = 0;

        /* Frames fill the program's input and writing it to the program makes room for more
         * frames: go round until neither can move. Otherwise, when one write empties the input
         * (a program can enlarge its pipe to the whole INPUT_CAP), the loop would sleep on
         * frames already read, with nothing more to come on stdin to wake it. */
        do {
            handle_frames(l);
            run_feed_stdin(l);
        } while (!run_input_full(l) && frame_reader_ready(&l->reader));
        int timeout = run_check_timers(l);
        if (outbox_flush(&l->out) < 0)
            shut_down(l, 0); /* nobody will ever read what we write */

        pfds[n++] = (struct pollfd){.fd = l->signal_fd, .events = POLLIN};
        int stdin_slot = -1;
        if (!run_input_full(l)) {
            stdin_slot = n;
            pfds[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        if (outbox_pending(&l->out) > 0)
            pfds[n++] = (struct pollfd){.fd = STDOUT_FILENO, .events = POLLOUT};
        int run_first = n;
        n += run_poll_fds(l, pfds + n);

        if (poll(pfds, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            die(EXIT_LAUNCHER_FATAL, "poll: %s", strerror(errno));
        }
        if (pfds[0].revents)
            handle_signals(l);
        /* The program's fds before the frames: a K and an X among those would end this run and
         * start another, and these poll results are about the fds of this one. */
        run_handle_poll(l, pfds + run_first, n - run_first);
        if (stdin_slot >= 0 && pfds[stdin_slot].revents && !read_frames(l))
            shut_down(l, 0);
    }
}
