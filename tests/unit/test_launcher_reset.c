/* test_launcher_reset.c — K outside a container (launcher/reset.c, rootattr.c): the working
 * directory is emptied and its own state — xattrs and ACLs, mode, times — put back as recorded at
 * start-up. Inside a container the same code also resets /tmp, /dev/shm, /dev/mqueue, checks free
 * space and memory (tests/e2e/test_isolation.py). */
#include "reset.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d) closedir(d);
    return d ? n : -1;
}

/* A default ACL with every permission 0: user::---, group::---, other::--- (the xattr format). */
static const unsigned char acl_zero[] = {2, 0, 0, 0, 1, 0, 0, 0, 255, 255, 255, 255, 4, 0, 0, 0, 255, 255, 255, 255,
                                         0x20, 0, 0, 0, 255, 255, 255, 255};

int main(void) {
    char dir[] = "/tmp/cc-reset-XXXXXX", path[64];
    struct lbuf why;
    CHECK(mkdtemp(dir) != NULL);
    struct stat before, after;
    CHECK(stat(dir, &before) == 0);
    reset_init(dir, false);

    /* What a run leaves: files and a mode-0 tree, xattrs on the root, another mode and times. */
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/sub/f", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(chmod(path, 0) == 0);
    CHECK(setxattr(dir, "user.secret", "tenant-a", 8, 0) == 0);
    int acl = setxattr(dir, "system.posix_acl_default", acl_zero, sizeof acl_zero, 0) == 0;
    if (!acl) fprintf(stderr, "no ACLs on this file system (%s): that case is not checked\n", strerror(errno));
    CHECK(chmod(dir, 0751) == 0);
    const struct timespec old[2] = {{12345, 0}, {12345, 0}};
    CHECK(utimensat(AT_FDCWD, dir, old, 0) == 0);

    lbuf_init(&why);
    CHECK(reset_sandbox(0, &why) == 0);
    if (lbuf_used(&why)) fprintf(stderr, "reset: %.*s\n", (int)lbuf_used(&why), (const char *)lbuf_head(&why));
    lbuf_free(&why);

    char names[256];
    CHECK(entries(dir) == 0);
    CHECK(listxattr(dir, names, sizeof names) == 0);
    CHECK(stat(dir, &after) == 0);
    CHECK((after.st_mode & 07777) == (before.st_mode & 07777));
    CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);

    /* A root removed behind the launcher's back cannot be proven back. */
    CHECK(rmdir(dir) == 0);
    lbuf_init(&why);
    CHECK(reset_sandbox(0, &why) < 0 && strstr((const char *)lbuf_head(&why), "cannot open") != NULL);
    lbuf_free(&why);
    return unit_report();
}
