/* proc.h — starting the program and getting rid of it: fork/exec with pipes or a pty, the
 * child's own session and process group, killing the sandbox's processes and reaping them. */
#ifndef LAUNCHER_PROC_H
#define LAUNCHER_PROC_H

#include "frame.h"
#include "lbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct child_spec {
    char **argv;
    char **envp;
    const char *workdir;
    bool tty;
    bool notebook; /* also the channel pipes, as the program's fd 3 (in) and fd 4 (out) */
    uint16_t cols, rows;
    struct exec_limits limits; /* set as rlimits in the child (0 = left as inherited) */
};

struct child {
    pid_t pid;     /* also the program's process group and session id */
    int stdin_fd;  /* pipe write end; the pty master for a tty */
    int stdout_fd; /* pipe read end; the same pty master for a tty */
    int stderr_fd; /* pipe read end; -1 for a tty, whose stderr is the terminal */
    int chan_in_fd;  /* notebook channel: write end of the program's fd 3; else -1 */
    int chan_out_fd; /* notebook channel: read end of the program's fd 4; else -1 */
};

/* Marks every fd of c as not open. */
void child_clear_fds(struct child *c);

enum spawn_result {
    SPAWN_OK,
    SPAWN_SETUP_FAILED, /* no child was started */
    SPAWN_EXEC_FAILED,  /* the child ran but could not exec: it has exited with 127 */
};

/* Starts the program. On failure, appends a line for the user saying why to `why`. The parent's
 * ends of the pipes come back non-blocking and close-on-exec. */
enum spawn_result child_spawn(const struct child_spec *spec, struct child *c, struct lbuf *why);

/* Closes the parent's ends that are still open, each once. */
void child_close_fds(struct child *c);

/* Sends SIGKILL to every process of the sandbox. As PID 1 of the container that is kill(-1),
 * which spares only ourselves. Anywhere else -1 would mean every process the user may signal,
 * the whole machine for root, so there only the program's process group `pgid` is killed. */
void sandbox_kill(pid_t pgid);

/* Reaps every child that has exited, without waiting. When `pid` is among them its status and
 * rusage are stored and true is returned. */
bool reap_exited(pid_t pid, int *status, struct rusage *ru);

/* After sandbox_kill: reaps until no child is left, waiting at most `timeout_ms` for the killed
 * ones to die. Same contract as reap_exited for `pid`. */
bool reap_all(pid_t pid, int *status, struct rusage *ru, int timeout_ms);

#endif
