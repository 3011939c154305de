/* Unit tests of a program's argv placeholders ({file}, {stem}, {sources}, {options}) and base64. */
#include <stdlib.h>

#include "backend/program.h"
#include "base/util.h"
#include "unit.h"

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

int main(void) {
    test_placeholders();
    test_base64();
    return unit_report();
}
