/* log.h — structured logs: one JSON object per line on stderr.
 *
 * Never pass request bodies or keys here. */
#ifndef CC_LOG_H
#define CC_LOG_H

#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Write {"ts","level","event", ...fields}. `fields` is stolen (may be NULL). */
void log_event(enum log_level level, const char *event, json_t *fields);
/* Shorthand: {"ts","level","event","msg": printf(fmt, ...)}. */
void log_msgf(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_set_min_level(enum log_level level);
/* One line per request: method, route pattern, path (never the query: it
 * may carry a key), status, duration. */
void log_request(const char *method, const char *route, const char *path, int status, double ms);

/* RFC 3339 UTC with milliseconds and Z, of a wall-clock time in ms since the epoch. */
void format_rfc3339_ms(char out[32], double epoch_ms);
double wall_clock_ms(void);

#endif
