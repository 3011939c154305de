/* reset.h — K: wiping what a run can leave behind, so a warm container can serve another run.
 * The caller kills and reaps the processes first; this empties the writable places and removes
 * the SysV IPC objects. */
#ifndef LAUNCHER_RESET_H
#define LAUNCHER_RESET_H

#include "lbuf.h"

#include <stdbool.h>

/* Remembers the modes of the directories to empty as they are at start-up, since the program
 * may chmod them (it owns the tmpfs roots) and K puts them back. */
void reset_init(const char *workdir, bool in_container);

/* Empties the working directory and, inside a container, /tmp, /dev/shm, /dev/mqueue and every
 * SysV IPC object. Outside a container those belong to the machine, so only the working directory
 * is emptied there. Returns 0, or -1 with a reason appended to `why`. */
int reset_sandbox(struct lbuf *why);

#endif
