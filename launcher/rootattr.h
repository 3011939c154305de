/* rootattr.h — what a writable root (/work, /tmp, /dev/shm ...) keeps besides its entries: its
 * extended attributes (POSIX ACLs, user.* data), inode flags, owner, mode, times and, for a file
 * system of its own, the space in use. The program owns the tmpfs roots and can change all of
 * that; emptying the root does not undo it, and a default ACL or user.* xattrs left there would
 * reach the next run, of another tenant, in the same container (issue 10, item 1). K puts every
 * one back as it was at start-up and then checks that it is; what cannot be proven back makes
 * the reset fail, and the backend then discards the container. */
#ifndef LAUNCHER_ROOTATTR_H
#define LAUNCHER_ROOTATTR_H

#include "lbuf.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

struct root_attrs {
    struct stat st;         /* owner, mode, times */
    bool has_flags;         /* the file system supports FS_IOC_GETFLAGS */
    int flags;
    bool check_space;       /* a mount of its own: its free blocks and inodes come back */
    struct statvfs space;
    struct lbuf xattrs;     /* records: u16 name_len, name, u32 value_len, value */
};

/* Records the root open as `fd`. Returns 0, or -1 if it cannot be read (the root then cannot be
 * proven back, and every reset fails). `own_mount`: the root is a file system of its own (a
 * container's tmpfs), so once empty it uses exactly the space it used at start-up. */
int root_attrs_snapshot(int fd, bool own_mount, struct root_attrs *a);

/* Puts the root open as `fd` (already emptied) back as recorded, then checks it. Returns 0, or
 * -1 with a reason appended to `why`. */
int root_attrs_restore(int fd, const char *path, const struct root_attrs *a, struct lbuf *why);

#endif
