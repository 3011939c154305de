/* Unit tests of the Judge0 dialect's pure parts (core/compat/judge0/judge0_status.c): Ruby's base64, the
 * output comparison, the decimal rendering and how a status is decided from a /v1 result. */
#include <stdlib.h>

#include "backend/judge.h"
#include "compat/judge0/judge0.h"
#include "unit.h"

static void test_encode64(void) {
    char *s = j0_encode64("", 0);
    CHECK_STR(s, "");
    free(s);
    s = j0_encode64("1\n", 2);
    CHECK_STR(s, "MQo=\n");
    free(s);
    /* 45 bytes are exactly one 60-character line; 46 start a second one. */
    char in[46];
    memset(in, 'a', sizeof in);
    s = j0_encode64(in, 45);
    CHECK(strlen(s) == 61 && s[60] == '\n');
    free(s);
    s = j0_encode64(in, 46);
    CHECK(strlen(s) == 61 + 5 && s[60] == '\n' && strcmp(s + 61, "YQ==\n") == 0);
    free(s);
    s = j0_encode64("\xff\xfe\x00", 3);
    CHECK_STR(s, "//4A\n");
    free(s);
}

static void test_decode64(void) {
    buf_t b = BUF_INIT;
    j0_decode64("MQo=\n", 5, &b);
    CHECK(b.len == 2 && memcmp(b.data, "1\n", 2) == 0);
    buf_reset(&b);
    /* Lenient as Ruby's decode64: newlines and stray characters are skipped, padding ends it. */
    j0_decode64("aGVs\nbG8*", 9, &b);
    CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    buf_reset(&b);
    j0_decode64("", 0, &b);
    CHECK(b.len == 0 && b.data);
    buf_free(&b);
}

static void test_same_output(void) {
    CHECK(judge_same_output("a\nb", 3, "a  \nb\n\n", 7));
    CHECK(judge_same_output("", 0, "\n \t\n", 4));
    CHECK(judge_same_output("x\r\n", 3, "x", 1));
    CHECK(!judge_same_output("a", 1, " a", 2));
    CHECK(!judge_same_output("a b", 3, "a  b", 4));
    CHECK(!judge_same_output("a\n\nb", 4, "a\nb", 3));
}

static void test_decimal(void) {
    const char *want[][2] = {{"5", "5.0"}, {"0.002", "0.002"}, {"0.1", "0.1"}, {"1.23456", "1.235"}, {"0", "0.0"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *d = j0_decimal(atof(want[i][0]));
        CHECK_STR(json_string_value(d), want[i][1]);
        json_decref(d);
    }
}

static int decide(const char *result, const char *out, const char *expected, const char **message, int *signo) {
    json_t *r = json_loads(result, 0, NULL);
    buf_t o = {(char *)out, strlen(out), 0}, e = {(char *)expected, expected ? strlen(expected) : 0, 0};
    int s = j0_decide(r, &o, expected ? &e : NULL, message, signo);
    json_decref(r);
    return s;
}

static void test_decide(void) {
    const char *m;
    int sig;
    CHECK(decide("{\"status\":\"ok\"}", "1\n", NULL, &m, &sig) == J0_ACCEPTED && !m && !sig);
    CHECK(decide("{\"status\":\"ok\"}", "1\n", "1", &m, &sig) == J0_ACCEPTED);
    CHECK(decide("{\"status\":\"ok\"}", "1\n", "2", &m, &sig) == J0_WRONG_ANSWER);
    CHECK(decide("{\"status\":\"timeout\",\"signal\":\"SIGKILL\"}", "", "x", &m, &sig) == J0_TLE);
    CHECK_STR(m, "Time limit exceeded");
    CHECK(decide("{\"status\":\"runtime_error\",\"signal\":\"SIGSEGV\"}", "", NULL, &m, &sig) == J0_SIGSEGV && sig == 11);
    CHECK_STR(m, "Caught fatal signal 11");
    CHECK(decide("{\"status\":\"runtime_error\",\"signal\":\"SIGFPE\"}", "", NULL, &m, &sig) == J0_SIGFPE);
    CHECK(decide("{\"status\":\"runtime_error\",\"signal\":\"SIGABRT\"}", "", NULL, &m, &sig) == J0_SIGABRT);
    CHECK(decide("{\"status\":\"runtime_error\",\"signal\":\"SIGUSR1\"}", "", NULL, &m, &sig) == J0_OTHER);
    CHECK(decide("{\"status\":\"output_limit\",\"signal\":\"SIGKILL\"}", "", NULL, &m, &sig) == J0_SIGXFSZ && sig == 25);
    CHECK(decide("{\"status\":\"memory_limit\"}", "", NULL, &m, &sig) == J0_OTHER && sig == 9);
    CHECK(decide("{\"status\":\"runtime_error\",\"exit_code\":3}", "", NULL, &m, &sig) == J0_NZEC && !sig);
    CHECK_STR(m, "Exited with error status 3");
    CHECK(decide("{\"status\":\"strange\"}", "", NULL, &m, &sig) == J0_INTERNAL_ERROR);
    CHECK_STR(j0_status_name(14), "Exec Format Error");
    CHECK(j0_status_name(0) == NULL && j0_status_name(15) == NULL);
}

int main(void) {
    test_encode64();
    test_decode64();
    test_same_output();
    test_decimal();
    test_decide();
    return unit_report();
}
