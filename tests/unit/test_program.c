/* Unit tests of a program: its argv placeholders ({file}, {stem}, {sources}, {options}), base64,
 * and program_from_request's checks of a request body against a policy (languages, files, main,
 * args, sizes, limits, admission).  Requests are internal ones (http_subrequest): a refusal comes
 * back to a callback. */
#include <stdlib.h>

#include "backend/program.h"
#include "base/log.h"
#include "base/util.h"
#include "unit.h"
#include "unit_app.h"

static const char *arg(const json_t *argv, size_t i) { return json_string_value(json_array_get(argv, i)); }

static json_t *expand_with(const char *main_name, const char *sources, const char *options, const char *command) {
    struct program p = {0};
    p.main_name = strdup(main_name);
    p.sources = json_loads(sources, 0, NULL);
    p.compile_options = options ? json_loads(options, 0, NULL) : NULL;
    json_t *cmd = json_loads(command, 0, NULL);
    json_t *argv = program_argv(&p, cmd);
    json_decref(cmd);
    program_free(&p);
    return argv;
}

static json_t *expand(const char *main_name, const char *sources, const char *command) {
    return expand_with(main_name, sources, NULL, command);
}

static void test_placeholders(void) {
    json_t *a = expand("Main.java", "[\"Main.java\",\"util/Helper.java\"]",
                       "[\"javac\",\"-d\",\"out\",\"{sources}\",\"--main={stem}\",\"x{file}y\",\"{stem}.class\"]");
    CHECK(json_array_size(a) == 8);
    CHECK_STR(arg(a, 2), "out");
    CHECK_STR(arg(a, 3), "Main.java");
    CHECK_STR(arg(a, 4), "util/Helper.java");
    CHECK_STR(arg(a, 5), "--main=Main");
    CHECK_STR(arg(a, 6), "xMain.javay");
    CHECK_STR(arg(a, 7), "Main.class");
    json_decref(a);
    /* No extension, a dot in a folder name, {sources} empty, a partial brace left alone. */
    a = expand("dir.d/prog", "[]", "[\"run\",\"{stem}\",\"{sources}\",\"{file\",\"{}\"]");
    CHECK(json_array_size(a) == 4);
    CHECK_STR(arg(a, 1), "dir.d/prog");
    CHECK_STR(arg(a, 2), "{file");
    CHECK_STR(arg(a, 3), "{}");
    json_decref(a);
    /* Without placeholders the argv is as written. */
    a = expand("main.py", "[\"main.py\"]", "[\"python3\",\"-u\",\"main.py\"]");
    CHECK(json_array_size(a) == 3 && strcmp(arg(a, 2), "main.py") == 0);
    json_decref(a);
    /* {options}: the request's compile options where the token stands, or nothing. */
    a = expand_with("main.c", "[\"main.c\"]", "[\"-DX=1\",\"-O0\"]", "[\"gcc\",\"{options}\",\"{sources}\"]");
    CHECK(json_array_size(a) == 4);
    CHECK_STR(arg(a, 1), "-DX=1");
    CHECK_STR(arg(a, 2), "-O0");
    CHECK_STR(arg(a, 3), "main.c");
    json_decref(a);
    a = expand("main.c", "[\"main.c\"]", "[\"gcc\",\"{options}\",\"{sources}\"]");
    CHECK(json_array_size(a) == 2 && strcmp(arg(a, 1), "main.c") == 0);
    json_decref(a);
    json_t *entry = json_loads("{\"compile\":[\"gcc\",\"{options}\"]}", 0, NULL);
    CHECK(program_takes_options(entry));
    json_object_set_new(entry, "compile", json_loads("[\"gcc\",\"x{options}\"]", 0, NULL));
    CHECK(!program_takes_options(entry));
    json_decref(entry);
}

static void test_base64(void) {
    const unsigned char bytes[] = {0, 1, 0, 255, 10, 0};
    buf_t enc = BUF_INIT, dec = BUF_INIT;
    CHECK(base64_encode(bytes, sizeof bytes, &enc) == 0);
    CHECK_STR(enc.data, "AAEA/woA");
    CHECK(base64_decode(enc.data, enc.len, &dec) == 0);
    CHECK(dec.len == sizeof bytes && memcmp(dec.data, bytes, sizeof bytes) == 0);
    CHECK(base64_decode("QQ==", 4, &dec) == 0 && dec.len == 1 && dec.data[0] == 'A');
    CHECK(base64_decode("QUI=", 4, &dec) == 0 && dec.len == 2);
    CHECK(base64_decode("", 0, &dec) == 0 && dec.len == 0);
    CHECK(base64_decode("QQ=", 3, &dec) < 0);
    CHECK(base64_decode("Q!==", 4, &dec) < 0);
    buf_free(&enc);
    buf_free(&dec);
}

/* ---- program_from_request ---- */

static const char policy[] =
    "return { role = 'backend', listen = '127.0.0.1:0', program_max_bytes = 1024,\n"
    "  args_max = 3, args_max_bytes = 16,\n"
    "  limits = { timeout_ms = { default = 1000, min = 100, max = 5000 },\n"
    "             memory_mb = { default = 128, min = 32, max = 512 },\n"
    "             cpus = { default = 1, min = 0.25, max = 2 }, pids = { default = 64 },\n"
    "             output_bytes = { default = 65536 } },\n"
    "  images = {\n"
    "    python = { image = 'p', file = 'main.py', aliases = {'py'}, run = {'python3', '{file}'} },\n"
    "    java = { image = 'j', file = 'Main.java', limits = { memory_mb = 4096 },\n"
    "             compile = {'javac', '{options}', '{sources}'}, run = {'java', '{stem}'} },\n"
    "    refused = { image = 'r', file = 'x' }, busy = { image = 'b', file = 'x' } },\n"
    "  admit = function(r)\n"
    "    if r.language == 'refused' then return nil, 'not today' end\n"
    "    if r.language == 'busy' then return nil, 'full', 'too_many_sessions', 'key' end\n"
    "    return r.limits\n"
    "  end }\n";

static struct {
    int status;
    char body[1024];
} answer;

static void on_answer(int status, const char *body, size_t len, void *ud) {
    (void)ud;
    answer.status = status;
    snprintf(answer.body, sizeof answer.body, "%.*s", (int)len, body);
}

/* program_from_request on `body`: 0 with *p filled, or the status it answered (answer.body). */
static int read_program(const char *body, enum program_kind kind, struct program *p) {
    memset(&answer, 0, sizeof answer);
    struct request parent = {0};
    struct request *req = http_subrequest(&parent, "POST", "/v1/run", body, strlen(body), on_answer, NULL);
    json_t *counts = json_pack("{s:i,s:i}", "server", 0, "key", 0);
    int rc = program_from_request(req, kind, counts, p);
    json_decref(counts);
    if (rc == 0) {
        CHECK(answer.status == 0);
        http_request_discard(req);
        return 0;
    }
    CHECK(answer.status != 0); /* refused: answered, and the request is gone with the answer */
    return answer.status;
}

/* read_program that must succeed: 1, or 0 (a failed check) when it was refused. */
static int accepted(const char *body, enum program_kind kind, struct program *p) {
    int status = read_program(body, kind, p);
    if (status) fprintf(stderr, "%s: %s\n", body, answer.body);
    CHECK(status == 0);
    return status == 0;
}

/* The status a refused body gets, with `why` in its message. */
static int refused(const char *body, enum program_kind kind, const char *why) {
    struct program p;
    int status = read_program(body, kind, &p);
    if (status == 0) program_free(&p);
    if (!strstr(answer.body, why)) fprintf(stderr, "%s: %s\n", body, answer.body);
    CHECK(strstr(answer.body, why) != NULL);
    return status;
}

static void test_from_request(void) {
    struct program p;
    /* An alias, the entry's file as the main file, the policy's defaults. */
    if (!accepted("{\"language\":\"py\",\"code\":\"print(1)\",\"stdin\":\"in\"}", PROGRAM_RUN, &p)) return;
    CHECK_STR(p.language, "python");
    CHECK_STR(p.main_name, "main.py");
    CHECK(json_array_size(p.files) == 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(p.files, 0), "content")), "print(1)");
    CHECK(p.stdin_len == 2 && strcmp(p.stdin_data, "in") == 0);
    CHECK(p.limits.timeout_ms == 1000 && p.limits.memory_mb == 128 && p.limits.cpus == 1);
    CHECK(p.cols == 80 && p.rows == 24 && !p.tty);
    json_t *argv = program_argv(&p, json_object_get(p.image, "run"));
    CHECK(json_array_size(argv) == 2 && strcmp(arg(argv, 1), "main.py") == 0);
    json_decref(argv);
    program_free(&p);

    /* `main` names one of `files`: it comes first; {sources} are the files of its extension;
     * a language's own default is kept within the policy's max; {options} takes compile_options. */
    if (!accepted("{\"language\":\"java\",\"main\":\"app/Main.java\",\"files\":["
                  "{\"name\":\"util/H.java\",\"content\":\"h\"},{\"name\":\"README\",\"content\":\"r\"},"
                  "{\"name\":\"app/Main.java\",\"content\":\"aGk=\",\"encoding\":\"base64\"}],"
                  "\"compile_options\":[\"-g\"],\"limits\":{\"cpus\":0.5,\"timeout_ms\":null}}",
                  PROGRAM_RUN, &p))
        return;
    CHECK_STR(json_string_value(json_object_get(json_array_get(p.files, 0), "name")), "app/Main.java");
    CHECK_STR(json_string_value(json_object_get(json_array_get(p.files, 0), "content")), "hi");
    CHECK(p.limits.memory_mb == 512 && p.limits.cpus == 0.5 && p.limits.timeout_ms == 1000);
    argv = program_argv(&p, json_object_get(p.image, "compile"));
    CHECK(json_array_size(argv) == 4);
    CHECK_STR(arg(argv, 1), "-g");
    CHECK_STR(arg(argv, 2), "app/Main.java");
    CHECK_STR(arg(argv, 3), "util/H.java");
    json_decref(argv);
    argv = program_argv(&p, json_object_get(p.image, "run"));
    CHECK_STR(arg(argv, 1), "app/Main");
    json_decref(argv);
    program_free(&p);

    /* A session needs no code, has no timeout by default, and may have a tty of its size. */
    if (!accepted("{\"language\":\"python\",\"tty\":true,\"cols\":120,\"rows\":40}", PROGRAM_SESSION, &p)) return;
    CHECK(!p.has_code && p.tty && p.cols == 120 && p.rows == 40 && p.limits.timeout_ms == 0);
    program_free(&p);
    if (!accepted("{\"language\":\"python\",\"code\":\"\",\"tty\":true}", PROGRAM_RUN, &p)) return;
    CHECK(!p.tty);
    program_free(&p);

    /* What is refused, and why. */
    CHECK(refused("[1]", PROGRAM_RUN, "must be a JSON object") == 400);
    CHECK(refused("{\"code\":\"x\"}", PROGRAM_RUN, "language must be a string") == 400);
    CHECK(refused("{\"language\":\"cobol\",\"code\":\"x\"}", PROGRAM_RUN, "is not offered here") == 422);
    CHECK(refused("{\"language\":\"python\"}", PROGRAM_RUN, "code is required") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":1}", PROGRAM_RUN, "code must be a string") == 400);
    const char *bad_names[] = {"../x", "/abs", "a//b", "a/", ".", "a b", "x\\\\y", "", "a:b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"%s\",\"content\":\"\"}]}",
                 bad_names[i]);
        CHECK(refused(body, PROGRAM_RUN, "bad file name") == 400);
        snprintf(body, sizeof body, "{\"language\":\"python\",\"main\":\"%s\",\"code\":\"\"}", bad_names[i]);
        CHECK(refused(body, PROGRAM_RUN, "main must be a file name") == 400);
    }
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"a\",\"content\":\"\"},"
                  "{\"name\":\"a\",\"content\":\"\"}]}", PROGRAM_RUN, "appears twice") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"main.py\",\"content\":\"\"}]}",
                  PROGRAM_RUN, "is the main file's name") == 400);
    CHECK(refused("{\"language\":\"python\",\"main\":\"m.py\",\"files\":[]}", PROGRAM_RUN,
                  "is neither code nor one of files") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":{}}", PROGRAM_RUN, "files must be a list") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"a\"}]}", PROGRAM_RUN,
                  "string name and a string content") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"a\",\"content\":\"@@\","
                  "\"encoding\":\"base64\"}]}", PROGRAM_RUN, "is not valid base64") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"files\":[{\"name\":\"a\",\"content\":\"\","
                  "\"encoding\":\"rot13\"}]}", PROGRAM_RUN, "utf8 or base64") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"stdin\":5}", PROGRAM_RUN, "stdin must be a string") == 400);

    /* Sizes: code and files together past program_max_bytes (1024). */
    char big[1200];
    snprintf(big, sizeof big, "{\"language\":\"python\",\"code\":\"%01000d\",\"files\":[{\"name\":\"b\","
             "\"content\":\"%030d\"}]}", 0, 0);
    CHECK(refused(big, PROGRAM_RUN, "the limit is 1024") == 413);
    /* args: a list of at most args_max (3) strings of args_max_bytes (16) together, no NUL. */
    if (!accepted("{\"language\":\"python\",\"code\":\"\",\"args\":[\"a\",\"bb\",\"\"]}", PROGRAM_RUN, &p)) return;
    CHECK(json_array_size(p.args) == 3);
    program_free(&p);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"args\":[\"a\",\"b\",\"c\",\"d\"]}", PROGRAM_RUN,
                  "the limit is 3") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"args\":[\"0123456789\",\"abcdef\"]}", PROGRAM_RUN,
                  "more than 16 bytes") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"args\":\"a\"}", PROGRAM_RUN, "list of strings") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"args\":[1]}", PROGRAM_RUN, "list of strings") == 400);
    /* A NUL in any string of the body: refused as the body is parsed. */
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"args\":[\"a\\u0000b\"]}", PROGRAM_RUN,
                  "u0000 is not allowed") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"compile_options\":[\"-O2\"]}", PROGRAM_RUN,
                  "takes no compile_options") == 400);
    /* Flags and sizes of the answer and the terminal. */
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"combined_output\":1}", PROGRAM_RUN, "true or false") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"output_encoding\":\"hex\"}", PROGRAM_RUN,
                  "\\\"utf8\\\" or \\\"base64\\\"") == 400);
    CHECK(refused("{\"language\":\"python\",\"tty\":\"yes\"}", PROGRAM_SESSION, "tty must be true or false") == 400);
    CHECK(refused("{\"language\":\"python\",\"cols\":0}", PROGRAM_SESSION, "cols must be an integer from 1 to 1000") == 400);
    CHECK(refused("{\"language\":\"python\",\"rows\":1001}", PROGRAM_SESSION, "rows must be") == 400);
    /* Limits: within the policy's min..max, whole where they count. */
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"limits\":{\"timeout_ms\":5001}}", PROGRAM_RUN,
                  "at most 5000") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"limits\":{\"timeout_ms\":99}}", PROGRAM_RUN,
                  "at least 100") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"limits\":{\"memory_mb\":64.5}}", PROGRAM_RUN,
                  "whole number") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"limits\":{\"cpus\":\"2\"}}", PROGRAM_RUN,
                  "limits.cpus must be a number") == 400);
    CHECK(refused("{\"language\":\"python\",\"code\":\"\",\"limits\":[]}", PROGRAM_RUN, "limits must be an object") == 400);
    /* The admit hook: a refusal is 403, a cap 429 with its scope. */
    CHECK(refused("{\"language\":\"refused\",\"code\":\"\"}", PROGRAM_RUN, "not today") == 403);
    CHECK(refused("{\"language\":\"busy\",\"code\":\"\"}", PROGRAM_RUN, "\"scope\":\"key\"") == 429);
}

int main(void) {
    log_set_min_level(LOG_ERROR);
    test_placeholders();
    test_base64();
    if (unit_app_install(uv_default_loop(), policy) < 0) return 1;
    test_from_request();
    app_free();
    return unit_report();
}
