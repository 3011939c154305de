/* judge0_zip.c — a submission's additional_files: a zip archive read with
 * libarchive into /v1 program files, with caps on the bytes and the count
 * (Judge0 unzips it into the sandbox, bounded by max_extract_size). Only
 * regular files are kept; every name must be a /v1 file name (no "..", no
 * absolute path); the contents must be UTF-8 text, as /v1 carries text. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <string.h>

#include "backend/program.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "judge0.h"

json_t *j0_unzip(const void *zip, size_t len, size_t max_bytes, size_t max_files, char *err, size_t errlen) {
    struct archive *a = archive_read_new();
    json_t *files = json_array();
    buf_t data = BUF_INIT;
    size_t total = 0;
    if (!a || archive_read_support_format_zip(a) != ARCHIVE_OK || archive_read_open_memory(a, zip, len) != ARCHIVE_OK) {
        snprintf(err, errlen, "is not a zip archive");
        goto fail;
    }
    struct archive_entry *e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) == AE_IFDIR) continue;
        const char *name = archive_entry_pathname(e);
        if (archive_entry_filetype(e) != AE_IFREG || !name || !program_valid_path(name)) {
            snprintf(err, errlen, "holds an entry that is not a plain file with a relative name: %.200s", name ? name : "");
            goto fail;
        }
        if (json_array_size(files) >= max_files) {
            snprintf(err, errlen, "holds more than %zu files", max_files);
            goto fail;
        }
        buf_reset(&data);
        char chunk[16384];
        ssize_t n;
        while ((n = archive_read_data(a, chunk, sizeof chunk)) > 0) {
            total += (size_t)n;
            if (total > max_bytes) {
                snprintf(err, errlen, "is larger than %zu KB once extracted", max_bytes / 1024);
                goto fail;
            }
            buf_append(&data, chunk, (size_t)n);
        }
        if (n < 0) {
            snprintf(err, errlen, "cannot be read: %.200s", archive_error_string(a) ?: "damaged");
            goto fail;
        }
        if (!utf8_valid(data.data ? data.data : "", data.len)) {
            snprintf(err, errlen, "holds a file that is not UTF-8 text (binary files are not supported): %.200s", name);
            goto fail;
        }
        json_array_append_new(files, json_pack("{s:s,s:s%}", "name", name, "content", data.data ? data.data : "", data.len));
    }
    if (rc != ARCHIVE_EOF) {
        snprintf(err, errlen, "cannot be read: %.200s", archive_error_string(a) ?: "damaged");
        goto fail;
    }
    archive_read_free(a);
    buf_free(&data);
    return files;
fail:
    if (a) archive_read_free(a);
    buf_free(&data);
    json_decref(files);
    return NULL;
}
