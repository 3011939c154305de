/* reset.c — putting a used sandbox back as it started: the writable roots emptied and restored
 * (rootattr.c), the SysV IPC objects removed, the memory given back (memcg.c). */
#include "reset.h"
#include "memcg.h"
#include "rootattr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

struct reset_root {
    const char *path;
    bool known;    /* it existed at start-up */
    bool recorded; /* and its state could be recorded (else no reset can prove it back) */
    struct root_attrs attrs;
};

#define MAX_ROOTS 4
static struct reset_root roots[MAX_ROOTS];
static int root_count;
static bool in_sandbox;
static int64_t memory_at_start; /* memcg_pinned_bytes() at start-up, -1 if unreadable */

static void add_root(const char *path, bool own_mount)
{
    struct reset_root *r = &roots[root_count++];
    r->path = path;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r->known = fd >= 0 || errno != ENOENT;
    r->recorded = fd >= 0 && root_attrs_snapshot(fd, own_mount, &r->attrs) == 0;
    if (fd >= 0)
        close(fd);
}

void reset_init(const char *workdir, bool in_container)
{
    root_count = 0;
    /* In a container every root is a file system of its own (tmpfs, mqueue): the backend
     * mounts /work and /tmp, Docker /dev/shm and /dev/mqueue. */
    add_root(workdir, in_container);
    if (in_container) {
        add_root("/tmp", true);
        add_root("/dev/shm", true);
        add_root("/dev/mqueue", true);
    }
    in_sandbox = in_container;
    memory_at_start = in_container ? memcg_pinned_bytes() : -1;
}

/* Empties the directory open as root_fd. Walks down and back up with one fd at a time instead of
 * recursing, because the program may have built a tree deeper than any stack or fd limit. A
 * directory is entered only when it cannot be removed as it is; it is chmod'ed first since the
 * program may have left it mode 0 (it owns it). Once entered and emptied, it is removed when its
 * parent is scanned again. Stops at the first entry it cannot remove: scanning on would revisit
 * that entry forever. */
static int empty_dir(int root_fd, const char *root_path, struct lbuf *why)
{
    int cur = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int depth = 0;
    while (cur >= 0) {
        DIR *dir = fdopendir(cur);
        if (!dir) {
            close(cur);
            break;
        }
        int next = -1;
        const char *failed = NULL;
        struct dirent *e;
        while (!failed && next < 0 && (e = readdir(dir)) != NULL) {
            const char *name = e->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                continue;
            if (unlinkat(dirfd(dir), name, 0) == 0)
                continue;
            if (errno != EISDIR) {
                failed = name;
                break;
            }
            if (unlinkat(dirfd(dir), name, AT_REMOVEDIR) == 0)
                continue;
            fchmodat(dirfd(dir), name, 0700, 0);
            next = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next < 0)
                failed = name;
        }
        if (failed) {
            lbuf_printf(why, "cannot remove %s in %s: %s", failed, root_path, strerror(errno));
            closedir(dir);
            return -1;
        }
        if (next < 0 && depth == 0) {
            closedir(dir);
            return 0;
        }
        if (next >= 0) {
            depth++;
        } else {
            next = openat(dirfd(dir), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            depth--;
        }
        closedir(dir);
        cur = next;
    }
    lbuf_printf(why, "cannot open a directory in %s: %s", root_path, strerror(errno));
    return -1;
}

static int reset_root(const struct reset_root *r, struct lbuf *why)
{
    if (!r->known)
        return 0;
    if (!r->recorded) {
        lbuf_printf(why, "the state of %s could not be recorded at start-up", r->path);
        return -1;
    }
    int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        lbuf_printf(why, "cannot open %s: %s", r->path, strerror(errno));
        return -1;
    }
    /* The mode first: a root the program left mode 0 cannot be emptied. */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid())
        fchmod(fd, r->attrs.st.st_mode & 07777);
    int rc = empty_dir(fd, r->path, why);
    if (rc == 0)
        rc = root_attrs_restore(fd, r->path, &r->attrs, why);
    close(fd);
    return rc;
}

/* Memory still charged beyond start-up plus `slack` is something the reset did not free. */
static int check_memory(uint64_t slack, struct lbuf *why)
{
    if (!in_sandbox || slack == 0)
        return 0;
    int64_t now = memcg_pinned_bytes();
    if (now < 0 || memory_at_start < 0) {
        lbuf_printf(why, "cannot read the memory cgroup");
        return -1;
    }
    if (now > memory_at_start && (uint64_t)(now - memory_at_start) > slack) {
        lbuf_printf(why, "%lld KiB of memory still in use, %lld KiB at start-up (slack %llu KiB)",
                    (long long)now / 1024, (long long)memory_at_start / 1024, (unsigned long long)slack / 1024);
        return -1;
    }
    return 0;
}

enum ipc_kind { IPC_SHM, IPC_SEM, IPC_MSG };

static int remove_ipc_object(enum ipc_kind kind, int id)
{
    switch (kind) {
    case IPC_SHM:
        return shmctl(id, IPC_RMID, NULL);
    case IPC_SEM:
        return semctl(id, 0, IPC_RMID);
    default:
        return msgctl(id, IPC_RMID, NULL);
    }
}

/* The ids come from /proc/sysvipc/ rather than from *_STAT calls, which refuse objects of mode 0
 * although their owner may still remove them. Every table has the id in its second column. */
static int remove_ipc(const char *table, enum ipc_kind kind, struct lbuf *why)
{
    FILE *f = fopen(table, "re");
    if (!f)
        return 0; /* a kernel without SysV IPC has nothing to remove */
    char line[512];
    int rc = 0;
    bool header = true;
    while (fgets(line, sizeof line, f)) {
        int id;
        if (header) {
            header = false;
            continue;
        }
        if (sscanf(line, "%*d %d", &id) != 1)
            continue;
        /* EINVAL and EIDRM: it went away since the table was read. */
        if (remove_ipc_object(kind, id) < 0 && errno != EINVAL && errno != EIDRM && rc == 0) {
            lbuf_printf(why, "cannot remove %s id %d: %s", table, id, strerror(errno));
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int reset_sandbox(uint64_t memory_slack, struct lbuf *why)
{
    for (int i = 0; i < root_count; i++)
        if (reset_root(&roots[i], why) < 0)
            return -1;
    if (in_sandbox) {
        if (remove_ipc("/proc/sysvipc/shm", IPC_SHM, why) < 0 ||
            remove_ipc("/proc/sysvipc/sem", IPC_SEM, why) < 0 ||
            remove_ipc("/proc/sysvipc/msg", IPC_MSG, why) < 0)
            return -1;
    }
    return check_memory(memory_slack, why);
}
