/* Unit tests of the output record and UTF-8 handling. */
#include <stdlib.h>

#include "backend/outrec.h"
#include "base/utf8.h"
#include "unit.h"

static const char *event_data(json_t *events, size_t i) {
    return json_string_value(json_object_get(json_array_get(events, i), "data"));
}

static void test_order_and_cursor(void) {
    struct outrec r;
    outrec_init(&r, 1 << 20);
    outrec_append(&r, OUT_STDOUT, "ab", 2);
    outrec_append(&r, OUT_STDOUT, "c", 1);
    outrec_append(&r, OUT_STDERR, "E", 1);
    outrec_append(&r, OUT_STDOUT, "d", 1);
    uint64_t next, dropped;
    json_t *ev = outrec_read(&r, 0, 1 << 20, SIZE_MAX, &next, &dropped);
    CHECK(json_array_size(ev) == 3);
    CHECK_STR(event_data(ev, 0), "abc");
    CHECK_STR(event_data(ev, 1), "E");
    CHECK_STR(event_data(ev, 2), "d");
    CHECK(next == 5 && dropped == 0);
    json_decref(ev);
    ev = outrec_read(&r, 2, 1 << 20, SIZE_MAX, &next, &dropped);
    CHECK_STR(event_data(ev, 0), "c");
    CHECK(next == 5);
    json_decref(ev);
    ev = outrec_read(&r, 5, 1 << 20, SIZE_MAX, &next, &dropped);
    CHECK(json_array_size(ev) == 0 && next == 5);
    json_decref(ev);
    outrec_free(&r);
}

static void test_utf8_held_back(void) {
    struct outrec r;
    outrec_init(&r, 1 << 20);
    const char *euro = "\xE2\x82\xAC";
    CHECK(outrec_append(&r, OUT_STDOUT, euro, 1) == 0);
    CHECK(outrec_append(&r, OUT_STDOUT, euro + 1, 1) == 0);
    CHECK(outrec_append(&r, OUT_STDOUT, euro + 2, 1) == 3);
    outrec_append(&r, OUT_STDOUT, "\xF0\x9F", 2);
    CHECK(outrec_end(&r) == 3);
    outrec_flush(&r); /* the stream ended: the cut sequence comes out repaired */
    uint64_t next, dropped;
    json_t *ev = outrec_read(&r, 0, 1 << 20, SIZE_MAX, &next, &dropped);
    CHECK_STR(event_data(ev, 0), "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(next == 5);
    json_decref(ev);
    outrec_free(&r);
}

static void test_drop_keeps_last(void) {
    struct outrec r;
    outrec_init(&r, 1000);
    char chunk[100];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 50; i++) outrec_append(&r, i % 2 ? OUT_STDERR : OUT_STDOUT, chunk, sizeof chunk);
    CHECK(outrec_end(&r) == 5000);
    CHECK(r.data.len >= 1000 && r.data.len < 2000);
    uint64_t next, dropped;
    json_t *ev = outrec_read(&r, 0, 1 << 20, SIZE_MAX, &next, &dropped);
    CHECK(dropped == r.base && dropped > 0);
    CHECK(next == 5000);
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(ev); i++) total += strlen(event_data(ev, i));
    CHECK(total == r.data.len);
    json_decref(ev);
    ev = outrec_read(&r, 4990, 5, SIZE_MAX, &next, &dropped);
    CHECK(next == 4995 && dropped == 0);
    json_decref(ev);
    outrec_free(&r);
}

/* One event per stream run: a program alternating its streams byte by byte gets its answer in
 * pages of max_events, each resuming where the last ended, from any cursor. */
static void test_events_capped(void) {
    struct outrec r;
    outrec_init(&r, 1 << 20);
    for (int i = 0; i < 10000; i++) outrec_append(&r, i % 2 ? OUT_STDERR : OUT_STDOUT, i % 2 ? "e" : "o", 1);
    CHECK(r.nsegs == 10000);
    uint64_t cursor = 0, next, dropped;
    size_t pages = 0, events = 0;
    while (cursor < outrec_end(&r)) {
        json_t *ev = outrec_read(&r, cursor, 1 << 20, 1000, &next, &dropped);
        CHECK(json_array_size(ev) == 1000 && next == cursor + 1000 && dropped == 0);
        CHECK_STR(event_data(ev, 0), cursor % 2 ? "e" : "o");
        events += json_array_size(ev);
        json_decref(ev);
        cursor = next;
        pages++;
    }
    CHECK(pages == 10 && events == 10000);
    json_t *ev = outrec_read(&r, 7777, 1 << 20, 3, &next, &dropped);
    CHECK(json_array_size(ev) == 3 && next == 7780);
    CHECK_STR(event_data(ev, 0), "e");
    json_decref(ev);
    outrec_free(&r);
}

static void test_repair(void) {
    buf_t b = BUF_INIT;
    utf8_append_repaired(&b, "a\xFF" "b\xC3(", 5);
    CHECK_STR(b.data, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD(");
    buf_free(&b);
    CHECK(utf8_incomplete_tail("a\xC3", 2) == 1);
    CHECK(utf8_incomplete_tail("a\xC3\xA9", 3) == 0);
    CHECK(utf8_incomplete_tail("\xF0\x9F\x98", 3) == 3);
    CHECK(utf8_incomplete_tail("abc", 3) == 0);
    CHECK(utf8_valid("a\xC3\xA9", 3) && utf8_valid("", 0));
    CHECK(!utf8_valid("a\xC3", 2) && !utf8_valid("\xff", 1) && !utf8_valid("\xED\xA0\x80", 3));
}

int main(void) {
    test_order_and_cursor();
    test_utf8_held_back();
    test_drop_keeps_last();
    test_events_capped();
    test_repair();
    return unit_report();
}
