/* cputime.c — reading a run's CPU time from the cgroup or from /proc. */
#include "cputime.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* cgroup v1's cpuacct counter (nanoseconds), under either of Docker's mount names, or cgroup
 * v2's cpu.stat usage_usec. */
int64_t cputime_cgroup_ms(void)
{
    static const char *const v1[] = {"/sys/fs/cgroup/cpuacct/cpuacct.usage",
                                      "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"};
    unsigned long long v;
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        FILE *f = fopen(v1[i], "re");
        if (!f)
            continue;
        int ok = fscanf(f, "%llu", &v) == 1;
        fclose(f);
        if (ok)
            return (int64_t)(v / 1000000);
    }
    FILE *f = fopen("/sys/fs/cgroup/cpu.stat", "re");
    if (!f)
        return -1;
    char key[64];
    int64_t ms = -1;
    while (fscanf(f, "%63s %llu", key, &v) == 2)
        if (strcmp(key, "usage_usec") == 0)
            ms = (int64_t)(v / 1000);
    fclose(f);
    return ms;
}

/* utime + stime + cutime + cstime of /proc/pid/stat (fields 14 to 17, after the command name,
 * which may hold spaces and parentheses: read from the last ')'). */
int64_t cputime_process_ms(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')');
    unsigned long long t[4];
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &t[0], &t[1],
                     &t[2], &t[3]) != 4)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (int64_t)((t[0] + t[1] + t[2] + t[3]) * 1000 / (unsigned long long)hz) : -1;
}
