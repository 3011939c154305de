/* reset.c — emptying directories (with no recursion, whatever their depth) and SysV IPC. */
#include "reset.h"

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
    bool known;  /* it existed at start-up */
    mode_t mode; /* its mode then */
};

#define MAX_ROOTS 4
static struct reset_root roots[MAX_ROOTS];
static int root_count;
static bool reset_ipc;

static void add_root(const char *path)
{
    struct stat st;
    struct reset_root *r = &roots[root_count++];
    r->path = path;
    r->known = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    r->mode = st.st_mode & 07777;
}

void reset_init(const char *workdir, bool in_container)
{
    root_count = 0;
    add_root(workdir);
    if (in_container) {
        add_root("/tmp");
        add_root("/dev/shm");
        add_root("/dev/mqueue");
    }
    reset_ipc = in_container;
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

static int empty_root(const struct reset_root *r, struct lbuf *why)
{
    if (!r->known)
        return 0;
    struct stat st;
    /* Only a root we own can have been chmod'ed by the program, and only it can be put back. */
    if (stat(r->path, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != r->mode)
        chmod(r->path, r->mode);
    int fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        lbuf_printf(why, "cannot open %s: %s", r->path, strerror(errno));
        return -1;
    }
    int rc = empty_dir(fd, r->path, why);
    close(fd);
    return rc;
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

int reset_sandbox(struct lbuf *why)
{
    for (int i = 0; i < root_count; i++)
        if (empty_root(&roots[i], why) < 0)
            return -1;
    if (reset_ipc) {
        if (remove_ipc("/proc/sysvipc/shm", IPC_SHM, why) < 0 ||
            remove_ipc("/proc/sysvipc/sem", IPC_SEM, why) < 0 ||
            remove_ipc("/proc/sysvipc/msg", IPC_MSG, why) < 0)
            return -1;
    }
    return 0;
}
