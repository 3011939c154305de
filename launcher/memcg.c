/* memcg.c — reading the container's memory cgroup. */
#include "memcg.h"

#include <stdio.h>
#include <string.h>

static int64_t read_number(const char *path)
{
    FILE *f = fopen(path, "re");
    unsigned long long v;
    int ok = f && fscanf(f, "%llu", &v) == 1;
    if (f)
        fclose(f);
    return ok ? (int64_t)v : -1;
}

/* The sum of the named counters of a memory.stat file, or -1 if one is missing. */
static int64_t read_stat_sum(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char key[64];
    unsigned long long value;
    int64_t sum = 0;
    int found = 0;
    while (fscanf(f, "%63s %llu", key, &value) == 2) {
        if (strcmp(key, a) == 0 || strcmp(key, b) == 0) {
            sum += (int64_t)value;
            found++;
        }
    }
    fclose(f);
    return found == 2 ? sum : -1;
}

static int64_t pinned(const char *usage_file, const char *stat_file, const char *active, const char *inactive)
{
    int64_t usage = read_number(usage_file);
    int64_t cache = read_stat_sum(stat_file, active, inactive);
    if (usage < 0 || cache < 0)
        return -1;
    return usage > cache ? usage - cache : 0;
}

int64_t memcg_pinned_bytes(void)
{
    int64_t v1 = pinned("/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory/memory.stat",
                        "total_active_file", "total_inactive_file");
    if (v1 >= 0)
        return v1;
    return pinned("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "active_file", "inactive_file");
}
