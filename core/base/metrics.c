/* metrics.c — Prometheus text exposition of our counters and gauges. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char *name;
    char *labels;
    enum metric_type type;
    double value;
    struct series *next;
};

/* Request durations: buckets in seconds, no labels (route is on the counter). */
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
static unsigned long long bucket_counts[NBUCKETS];
static unsigned long long duration_count;
static double duration_sum;

static struct series *head, *tail;

static struct series *find(enum metric_type type, const char *name, const char *labels) {
    for (struct series *s = head; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0) return s;
    struct series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->name = strdup(name);
    s->labels = strdup(labels);
    s->type = type;
    if (!s->name || !s->labels) {
        free(s->name);
        free(s->labels);
        free(s);
        return NULL;
    }
    /* Keep series of one name together, in order of first use. */
    struct series *after = NULL;
    for (struct series *t = head; t; t = t->next)
        if (strcmp(t->name, name) == 0) after = t;
    if (after) {
        s->next = after->next;
        after->next = s;
        if (tail == after) tail = s;
    } else {
        if (tail) tail->next = s; else head = s;
        tail = s;
    }
    return s;
}

void metrics_declare(enum metric_type type, const char *name, const char *labels) {
    find(type, name, labels);
}

void metrics_add(enum metric_type type, const char *name, const char *labels, double delta) {
    struct series *s = find(type, name, labels);
    if (s) s->value += delta;
}

void metrics_set(const char *name, const char *labels, double value) {
    struct series *s = find(METRIC_GAUGE, name, labels);
    if (s) s->value = value;
}

void metrics_observe_request(const char *route, int status, double seconds) {
    char labels[256];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route, status);
    metrics_add(METRIC_COUNTER, "cloudcode_http_requests_total", labels, 1);
    for (size_t i = 0; i < NBUCKETS; i++)
        if (seconds <= buckets[i]) bucket_counts[i]++;
    duration_count++;
    duration_sum += seconds;
}

void metrics_render(buf_t *out) {
    const char *last = "";
    for (struct series *s = head; s; s = s->next) {
        if (strcmp(s->name, last) != 0) {
            buf_printf(out, "# TYPE %s %s\n", s->name, s->type == METRIC_COUNTER ? "counter" : "gauge");
            last = s->name;
        }
        if (s->labels[0]) buf_printf(out, "%s{%s} %.17g\n", s->name, s->labels, s->value);
        else buf_printf(out, "%s %.17g\n", s->name, s->value);
    }
    const char *h = "cloudcode_http_request_duration_seconds";
    buf_printf(out, "# TYPE %s histogram\n", h);
    for (size_t i = 0; i < NBUCKETS; i++)
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h, buckets[i], bucket_counts[i]);
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", h, duration_count, h,
               duration_sum, h, duration_count);
}

void metrics_free(void) {
    while (head) {
        struct series *next = head->next;
        free(head->name);
        free(head->labels);
        free(head);
        head = next;
    }
    tail = NULL;
}
