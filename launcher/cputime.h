/* cputime.h — the CPU time a run has used so far, for the exec's cpu_ms limit. */
#ifndef LAUNCHER_CPUTIME_H
#define LAUNCHER_CPUTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* CPU milliseconds (user + system) the container's cgroup has used since it started, or -1 when
 * unreadable. It sees every process the program started, reaped or not, but it is the container's
 * only when the launcher is its PID 1: elsewhere (tests) the cgroup is the machine's. */
int64_t cputime_cgroup_ms(void);

/* CPU milliseconds of process `pid` and of the children it has waited for, or -1. */
int64_t cputime_process_ms(pid_t pid);

#endif
