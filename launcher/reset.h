/* reset.h — K: wiping what a run can leave behind, so a warm container can serve another run.
 * The caller kills and reaps the processes first; this empties the writable places and removes
 * the SysV IPC objects. */
#ifndef LAUNCHER_RESET_H
#define LAUNCHER_RESET_H

#include "lbuf.h"

#include <stdbool.h>
#include <stdint.h>

/* Records the state of the roots to reset (rootattr.h) and the memory in use as they are at
 * start-up, before the program can change them. */
void reset_init(const char *workdir, bool in_container);

/* Empties the working directory and, inside a container, /tmp, /dev/shm, /dev/mqueue, restores
 * each root's own state, removes every SysV IPC object, and checks that the container's memory
 * is back within `memory_slack` bytes of start-up (0: not checked). Outside a container /tmp and
 * the IPC objects belong to the machine, so only the working directory is emptied and restored
 * there. Returns 0, or -1 with a reason appended to `why`: the sandbox is not as it started. */
int reset_sandbox(uint64_t memory_slack, struct lbuf *why);

#endif
