/* memcg.h — the memory the container's cgroup holds that reclaim would not give back by itself:
 * everything charged (process memory, tmpfs pages, kernel memory such as xattrs and dentries)
 * but the file-backed page cache. K compares it with start-up: memory a reset did not free
 * belongs to something the reset did not remove, and the next run would start that much short. */
#ifndef LAUNCHER_MEMCG_H
#define LAUNCHER_MEMCG_H

#include <stdint.h>

/* Bytes, or -1 when the cgroup's files cannot be read (cgroup v1 as Docker mounts it in the
 * container, /sys/fs/cgroup/memory/; or cgroup v2, /sys/fs/cgroup/). */
int64_t memcg_pinned_bytes(void);

#endif
