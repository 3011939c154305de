/* rootattr.c — recording a writable root's own state at start-up, and putting it back at K. */
#include "rootattr.h"
#include "xalloc.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The names of the xattrs of fd, NUL-separated, in a buffer the caller frees; *len its length.
 * NULL when they cannot be listed: among others E2BIG, a list longer than the kernel returns
 * (64 KiB of names), which the program can make. A file system without xattrs has none. */
static char *list_names(int fd, size_t *len)
{
    for (;;) {
        ssize_t size = flistxattr(fd, NULL, 0);
        if (size < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)) {
            *len = 0;
            return xmalloc(1);
        }
        if (size < 0)
            return NULL;
        char *names = xmalloc((size_t)size + 1);
        ssize_t n = flistxattr(fd, names, (size_t)size);
        if (n >= 0) {
            *len = (size_t)n;
            return names;
        }
        free(names);
        if (errno != ERANGE) /* ERANGE: the list grew in between */
            return NULL;
    }
}

/* One recorded xattr, in the snapshot's records. */
struct xattr_rec {
    const char *name; /* NUL-terminated inside the record */
    const unsigned char *value;
    size_t value_len;
};

/* Reads the record at *off in the snapshot and moves past it; false at the end. */
static bool next_rec(const struct lbuf *recs, size_t *off, struct xattr_rec *r)
{
    if (*off >= lbuf_used(recs))
        return false;
    const unsigned char *p = lbuf_head(recs) + *off;
    size_t name_len = be16(p);
    r->name = (const char *)p + 2;
    r->value_len = be32(p + 2 + name_len + 1);
    r->value = p + 2 + name_len + 1 + 4;
    *off += 2 + name_len + 1 + 4 + r->value_len;
    return true;
}

static const struct xattr_rec *find_rec(const struct lbuf *recs, const char *name, struct xattr_rec *r)
{
    size_t off = 0;
    while (next_rec(recs, &off, r))
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* Whether fd's xattr `name` holds exactly the recorded value. Reads at most that many bytes, so
 * a large value the program left is never copied into the launcher. */
static bool holds(int fd, const struct xattr_rec *r)
{
    unsigned char small[256];
    unsigned char *buf = r->value_len < sizeof small ? small : xmalloc(r->value_len + 1);
    ssize_t n = fgetxattr(fd, r->name, buf, r->value_len + 1);
    bool same = n >= 0 && (size_t)n == r->value_len && memcmp(buf, r->value, r->value_len) == 0;
    if (buf != small)
        free(buf);
    return same;
}

static int snapshot_xattrs(int fd, struct lbuf *recs)
{
    size_t len;
    char *names = list_names(fd, &len);
    if (!names)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += strlen(names + i) + 1) {
        const char *name = names + i;
        ssize_t size = fgetxattr(fd, name, NULL, 0);
        unsigned char *value = size >= 0 ? xmalloc((size_t)size + 1) : NULL;
        ssize_t n = value ? fgetxattr(fd, name, value, (size_t)size) : -1;
        if (n < 0) {
            rc = -1;
        } else {
            lbuf_put_u16(recs, (uint16_t)strlen(name));
            lbuf_append(recs, name, strlen(name) + 1);
            lbuf_put_u32(recs, (uint32_t)n);
            lbuf_append(recs, value, (size_t)n);
        }
        free(value);
    }
    free(names);
    return rc;
}

int root_attrs_snapshot(int fd, bool own_mount, struct root_attrs *a)
{
    lbuf_init(&a->xattrs);
    if (fstat(fd, &a->st) < 0 || snapshot_xattrs(fd, &a->xattrs) < 0)
        return -1;
    a->has_flags = ioctl(fd, FS_IOC_GETFLAGS, &a->flags) == 0;
    a->check_space = own_mount;
    if (own_mount && fstatvfs(fd, &a->space) < 0)
        return -1;
    return 0;
}

/* Whether fd's xattrs are exactly the recorded ones. */
static bool xattrs_match(int fd, const struct lbuf *recs)
{
    size_t len, count = 0, recorded = 0, off = 0;
    struct xattr_rec r;
    char *names = list_names(fd, &len);
    if (!names)
        return false;
    bool same = true;
    for (size_t i = 0; i < len && same; i += strlen(names + i) + 1, count++)
        same = find_rec(recs, names + i, &r) && holds(fd, &r);
    free(names);
    while (next_rec(recs, &off, &r))
        recorded++;
    return same && count == recorded;
}

/* Removes every xattr that is not as recorded (user.* data, the ACLs the program set), then sets
 * the recorded ones back. */
static int restore_xattrs(int fd, const char *path, const struct lbuf *recs, struct lbuf *why)
{
    size_t len;
    struct xattr_rec r;
    char *names = list_names(fd, &len);
    if (!names) {
        lbuf_printf(why, "cannot list the xattrs of %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < len; i += strlen(names + i) + 1) {
        const char *name = names + i;
        if (find_rec(recs, name, &r) && holds(fd, &r))
            continue;
        if (fremovexattr(fd, name) < 0 && errno != ENODATA) {
            lbuf_printf(why, "cannot remove xattr %s of %s: %s", name, path, strerror(errno));
            free(names);
            return -1;
        }
    }
    free(names);
    size_t off = 0;
    while (next_rec(recs, &off, &r)) {
        if (!holds(fd, &r) && fsetxattr(fd, r.name, r.value, r.value_len, 0) < 0) {
            lbuf_printf(why, "cannot set xattr %s of %s back: %s", r.name, path, strerror(errno));
            return -1;
        }
    }
    if (!xattrs_match(fd, recs)) {
        lbuf_printf(why, "the xattrs of %s are not as they were at start-up", path);
        return -1;
    }
    return 0;
}

/* Immutable and append-only need a capability the sandbox does not have, but no-dump and
 * no-atime are the owner's to set; whatever differs is set back, or the reset fails. */
static int restore_flags(int fd, const char *path, const struct root_attrs *a, struct lbuf *why)
{
    int flags;
    if (!a->has_flags)
        return 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && flags == a->flags)
        return 0;
    flags = a->flags;
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0 ||
        flags != a->flags) {
        lbuf_printf(why, "cannot set the inode flags of %s back", path);
        return -1;
    }
    return 0;
}

/* Owner, mode and times. Nobody in the container can chown, so a changed owner cannot be undone;
 * mode and times only matter, and can only be set, on a root the sandbox user owns (the tmpfs
 * roots; /dev/shm and /dev/mqueue belong to root and are sticky). */
static int restore_inode(int fd, const char *path, const struct root_attrs *a, struct lbuf *why)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        lbuf_printf(why, "cannot stat %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid != a->st.st_uid || st.st_gid != a->st.st_gid) {
        lbuf_printf(why, "%s changed owner", path);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        if ((st.st_mode & 07777) == (a->st.st_mode & 07777))
            return 0;
        lbuf_printf(why, "%s changed mode", path);
        return -1;
    }
    const struct timespec times[2] = {a->st.st_atim, a->st.st_mtim};
    if (fchmod(fd, a->st.st_mode & 07777) < 0 || futimens(fd, times) < 0) {
        lbuf_printf(why, "cannot set the mode or times of %s back: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* An empty tmpfs uses what it used at start-up. More blocks or inodes in use means something is
 * still there that the emptying did not see: a file held open, xattrs (they use inode space). */
static int check_space(int fd, const char *path, const struct root_attrs *a, struct lbuf *why)
{
    struct statvfs now;
    if (!a->check_space)
        return 0;
    if (fstatvfs(fd, &now) < 0) {
        lbuf_printf(why, "cannot statvfs %s: %s", path, strerror(errno));
        return -1;
    }
    if (now.f_bfree < a->space.f_bfree || now.f_ffree < a->space.f_ffree) {
        lbuf_printf(why, "%s has %llu blocks and %llu inodes free, %llu and %llu at start-up", path,
                    (unsigned long long)now.f_bfree, (unsigned long long)now.f_ffree,
                    (unsigned long long)a->space.f_bfree, (unsigned long long)a->space.f_ffree);
        return -1;
    }
    return 0;
}

int root_attrs_restore(int fd, const char *path, const struct root_attrs *a, struct lbuf *why)
{
    if (restore_xattrs(fd, path, &a->xattrs, why) < 0 || restore_flags(fd, path, a, why) < 0 ||
        restore_inode(fd, path, a, why) < 0 || check_space(fd, path, a, why) < 0)
        return -1;
    return 0;
}
