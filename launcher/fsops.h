/* fsops.h — the file operations the backend asks for inside the working directory: write (F, P),
 * read (G) and list (L). Each returns an R status (enum reply_status) and appends the reply's data
 * to `out`: the content or listing on success, a short reason on REPLY_ERROR. */
#ifndef LAUNCHER_FSOPS_H
#define LAUNCHER_FSOPS_H

#include "lbuf.h"

#include <stddef.h>

int fsop_write(const char *workdir, const char *path, size_t path_len, const void *data, size_t n,
               struct lbuf *out);
int fsop_read(const char *workdir, const char *path, size_t path_len, struct lbuf *out);
int fsop_list(const char *workdir, struct lbuf *out);

#endif
