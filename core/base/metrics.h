/* metrics.h — Prometheus counters, gauges and the request histogram.
 *
 * Series are keyed by name and label text; never label by key or session. */
#ifndef CC_METRICS_H
#define CC_METRICS_H

#include "buf.h"

#define METRIC_CONNECTIONS_OPEN "cloudcode_connections_open"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

/* `labels` is the text between the braces, e.g. `state="exited"`, or "". */
void metrics_add(enum metric_type type, const char *name, const char *labels, double delta);
void metrics_set(const char *name, const char *labels, double value);
#define metrics_gauge_set(name, value) metrics_set((name), "", (value))
void metrics_observe_request(const char *route, int status, double seconds);
/* Declare a series so it shows (as 0) before its first event. */
void metrics_declare(enum metric_type type, const char *name, const char *labels);
void metrics_render(buf_t *out);
void metrics_free(void);

#endif
