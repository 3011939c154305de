/* log.c — structured logs on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_min_level(enum log_level level) { min_level = level; }

double wall_clock_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec * 1000.0 + (double)(tv.tv_usec / 1000);
}

void format_rfc3339_ms(char out[32], double epoch_ms) {
    time_t secs = (time_t)(epoch_ms / 1000.0);
    int ms = (int)(epoch_ms - (double)secs * 1000.0);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", ms < 0 ? 0 : ms % 1000);
}

void log_event(enum log_level level, const char *event, json_t *fields) {
    if (level < min_level) {
        json_decref(fields);
        return;
    }
    json_t *line = json_object();
    char ts[32];
    format_rfc3339_ms(ts, wall_clock_ms());
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    if (fields) json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

void log_msgf(enum log_level level, const char *event, const char *fmt, ...) {
    if (level < min_level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_event(level, event, json_pack("{s:s}", "msg", msg));
}

void log_request(const char *method, const char *route, const char *path, int status, double ms) {
    if (LOG_INFO < min_level) return;
    /* The hottest log line: formatted straight into one buffer, one write.
     * Only the path comes from the client; jansson quotes it. */
    json_t *p = json_string(path);
    char quoted[1200];
    size_t n = p ? json_dumpb(p, quoted, sizeof quoted - 1, JSON_ENCODE_ANY) : 0;
    json_decref(p);
    if (n == 0 || n >= sizeof quoted - 1) n = (size_t)snprintf(quoted, sizeof quoted, "\"(not shown)\"");
    quoted[n] = '\0';
    char ts[32], line[1600];
    format_rfc3339_ms(ts, wall_clock_ms());
    int len = snprintf(line, sizeof line,
                       "{\"ts\":\"%s\",\"level\":\"info\",\"event\":\"request\",\"method\":\"%s\",\"route\":\"%s\","
                       "\"path\":%s,\"status\":%d,\"duration_ms\":%.3f}\n",
                       ts, method, route, quoted, status, ms);
    if (len > 0) fwrite(line, 1, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1, stderr);
}
