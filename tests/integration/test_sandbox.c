/* test_sandbox.c — sandbox.c (and attach.c) against the real engine and the cloudcode/python image. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "backend/sandbox.h"
#include "base/buf.h"
#include "unit.h"
#include "unit_loop.h"

static char backend_id[64];

struct obs {
    int ready, lost, exits, replies;
    enum sandbox_lost_reason why;
    char text[512];
    struct launcher_exit ex;
    buf_t out, err;
    uint32_t rid;
    int reply_status;
    buf_t reply;
};

static void o_ready(struct sandbox *sb, void *ud) {
    (void)sb;
    ((struct obs *)ud)->ready++;
}
static void o_data(struct sandbox *sb, void *ud, int stream, const char *d, size_t n) {
    (void)sb;
    struct obs *o = ud;
    buf_append(stream == 2 ? &o->err : &o->out, d, n);
}
static void o_exit(struct sandbox *sb, void *ud, const struct launcher_exit *ex) {
    (void)sb;
    struct obs *o = ud;
    o->exits++;
    o->ex = *ex;
}
static void o_reply(struct sandbox *sb, void *ud, uint32_t rid, int status, const char *d,
                    size_t n) {
    (void)sb;
    struct obs *o = ud;
    o->replies++;
    o->rid = rid;
    o->reply_status = status;
    buf_reset(&o->reply);
    buf_append(&o->reply, d, n);
}
static void o_lost(struct sandbox *sb, void *ud, enum sandbox_lost_reason why, const char *text) {
    (void)sb;
    struct obs *o = ud;
    o->lost++;
    o->why = why;
    snprintf(o->text, sizeof o->text, "%s", text);
}
static const struct sandbox_callbacks cbs = {o_ready, o_data, o_exit, o_reply, o_lost};

static void obs_reset(struct obs *o) {
    buf_free(&o->out);
    buf_free(&o->err);
    buf_free(&o->reply);
    memset(o, 0, sizeof *o);
}

static void spec_init(struct sandbox_spec *s, const char *image) {
    memset(s, 0, sizeof *s);
    s->image = image;
    s->backend_id = backend_id;
    s->session_id = "test-session";
    s->uid = 100123;
    s->memory_bytes = 256 << 20;
    s->nano_cpus = 1000000000;
    s->pids_limit = 64;
    s->work_bytes = 64 << 20;
    s->tmp_bytes = 32 << 20;
    s->shm_bytes = 32 << 20;
    s->fsize_bytes = 32 << 20;
    s->nofile = 256;
    s->step_timeout_ms = 10000;
}

static void exec_argv(struct sandbox *sb, const char *code, int stdin_closed) {
    json_t *argv = json_pack("[s,s,s,s]", "python3", "-u", "-c", code);
    json_t *env = json_pack("[s,s,s]", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work",
                            "LANG=C.UTF-8");
    struct sandbox_exec ex = {.argv = argv, .env = env,
                              .opts = {.stdin_closed = stdin_closed, .timeout_ms = 20000, .output_limit = 1 << 20}};
    CHECK(sandbox_exec(sb, &ex) == 0);
    json_decref(argv);
    json_decref(env);
}

/* How many containers of this test's backend id exist (docker ps -a). */
static int count_containers(void) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "docker ps -aq --filter label=cloudcode.backend=%s | wc -l",
             backend_id);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f) {
        if (fscanf(f, "%d", &n) != 1) n = -1;
        pclose(f);
    }
    return n;
}

struct inspected {
    int done;
    long status;
    json_t *body;
};
static void on_inspect(void *ud, long status, json_t *body, const char *error) {
    (void)error;
    struct inspected *i = ud;
    i->done = 1;
    i->status = status;
    i->body = json_incref(body);
}

static int removals_done;
static void on_removals(void *ud) {
    (void)ud;
    removals_done = 1;
}
static int docker_closed;
static void on_docker_closed(void *ud) {
    (void)ud;
    docker_closed = 1;
}

int main(void) {
    loop = uv_default_loop();
    snprintf(backend_id, sizeof backend_id, "test-sandbox-%d", (int)getpid());
    /* The image set of this run (CODECLOUD_IMAGE_PREFIX, as in the default image map). */
    const char *prefix = getenv("CODECLOUD_IMAGE_PREFIX") ? getenv("CODECLOUD_IMAGE_PREFIX") : "cloudcode/";
    char image[256];
    snprintf(image, sizeof image, "%spython", prefix);
    struct docker *d = docker_new(loop, "unix:///var/run/docker.sock");
    CHECK(d != NULL);
    struct sandbox_spec spec;
    struct obs o = {0};

    /* 1. A program that reads its input and prints it. */
    spec_init(&spec, image);
    struct sandbox *sb = sandbox_create(d, &spec, &cbs, &o);
    CHECK(sb != NULL);
    CHECK(RUN_UNTIL(o.ready || o.lost, 20000));
    CHECK(o.ready == 1);
    if (o.lost) fprintf(stderr, "lost: %s\n", o.text);
    CHECK(sandbox_is_ready(sb));
    CHECK(sandbox_find(d, sandbox_container_id(sb)) == sb);
    exec_argv(sb, "print(input())", 0);
    CHECK(sandbox_input(sb, "hello sandbox\n", 14) == 0);
    CHECK(sandbox_eof(sb) == 0);
    CHECK(RUN_UNTIL(o.exits || o.lost, 20000));
    CHECK(o.exits == 1);
    CHECK(o.ex.exit_code == 0 && o.ex.signo == 0 && o.ex.reason == 0);
    CHECK(o.out.len == 14 && memcmp(o.out.data, "hello sandbox\n", 14) == 0);

    /* The container as created: our labels, uid, read-only root, no capabilities. */
    struct inspected ins = {0};
    char path[128];
    snprintf(path, sizeof path, "/containers/%s/json", sandbox_container_id(sb));
    docker_call(d, "GET", path, NULL, 5000, on_inspect, &ins);
    CHECK(RUN_UNTIL(ins.done, 5000));
    json_t *cfg = json_object_get(ins.body, "Config"), *hc = json_object_get(ins.body, "HostConfig");
    CHECK_STR(json_string_value(json_object_get(cfg, "User")), "100123:100123");
    CHECK_STR(json_string_value(json_object_get(json_object_get(cfg, "Labels"), "cloudcode.backend")),
              backend_id);
    CHECK(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
    CHECK_STR(json_string_value(json_object_get(hc, "NetworkMode")), "none");
    CHECK_STR(json_string_value(json_array_get(json_object_get(hc, "CapDrop"), 0)), "ALL");
    CHECK(json_integer_value(json_object_get(hc, "MemorySwap")) == 256 << 20);
    json_decref(ins.body);

    /* 2. uid, a read-only root, stderr, a non-zero exit. */
    buf_reset(&o.out);
    exec_argv(sb, "import os,sys; print(os.getuid()); sys.stdout.flush(); open('/x','w')", 1);
    CHECK(RUN_UNTIL(o.exits == 2 || o.lost, 20000));
    CHECK(o.ex.exit_code == 1);
    CHECK(o.out.len == 7 && memcmp(o.out.data, "100123\n", 7) == 0);
    CHECK(o.err.data && strstr(o.err.data, "Read-only file system") != NULL);

    /* 2b. A run's input and end of input that reach the launcher after the run ended (its program
     * exited without reading them; a loaded engine delivers them after the x frame, and a judge's
     * next case starts at once) are dropped, never read by the next run. */
    exec_argv(sb, "print('no input read')", 0);
    CHECK(RUN_UNTIL(o.exits == 3 || o.lost, 20000));
    CHECK(sandbox_input(sb, "stale\n", 6) == 0);
    CHECK(sandbox_eof(sb) == 0);
    buf_reset(&o.out);
    exec_argv(sb, "import sys; print(repr(sys.stdin.read()))", 0);
    CHECK(sandbox_input(sb, "fresh\n", 6) == 0);
    CHECK(sandbox_eof(sb) == 0);
    CHECK(RUN_UNTIL(o.exits == 4 || o.lost, 20000));
    CHECK(o.out.len == 10 && memcmp(o.out.data, "'fresh\\n'\n", 10) == 0);
    if (o.out.len != 10) fprintf(stderr, "the second run read: %.*s\n", (int)o.out.len, o.out.data);

    /* 3. Files: put, get, list, a missing one, reset. */
    uint32_t rid = sandbox_put(sb, "dir/a.txt", "abc", 3);
    CHECK(rid != 0);
    CHECK(RUN_UNTIL(o.replies == 1, 5000));
    CHECK(o.rid == rid && o.reply_status == REPLY_OK);
    rid = sandbox_get(sb, "dir/a.txt");
    CHECK(RUN_UNTIL(o.replies == 2, 5000));
    CHECK(o.rid == rid && o.reply_status == REPLY_OK && o.reply.len == 3 &&
          memcmp(o.reply.data, "abc", 3) == 0);
    rid = sandbox_list(sb);
    CHECK(RUN_UNTIL(o.replies == 3, 5000));
    CHECK(o.rid == rid && o.reply_status == REPLY_OK);
    /* one record: u64 size 3, u16 len 9, "dir/a.txt" */
    CHECK(o.reply.len == 8 + 2 + 9 && o.reply.data[7] == 3 && memcmp(o.reply.data + 10, "dir/a.txt", 9) == 0);
    sandbox_get(sb, "nope.txt");
    CHECK(RUN_UNTIL(o.replies == 4, 5000));
    CHECK(o.reply_status == REPLY_NOT_FOUND);
    sandbox_get(sb, "../etc/passwd");
    CHECK(RUN_UNTIL(o.replies == 5, 5000));
    CHECK(o.reply_status == REPLY_BAD_PATH);
    rid = sandbox_reset(sb, 0);
    CHECK(RUN_UNTIL(o.replies == 6, 10000));
    CHECK(o.rid == rid && o.reply_status == REPLY_OK);
    sandbox_get(sb, "dir/a.txt");
    CHECK(RUN_UNTIL(o.replies == 7, 5000));
    CHECK(o.reply_status == REPLY_NOT_FOUND);

    /* 4. The stream drops mid-run: re-attach, resume, every line exactly once. */
    buf_reset(&o.out);
    exec_argv(sb, "import time\nfor i in range(30):\n print(i); time.sleep(0.02)", 1);
    CHECK(RUN_UNTIL(o.out.len >= 10 || o.lost, 10000));
    sandbox_drop_stream(sb);
    CHECK(RUN_UNTIL(o.exits == 5 || o.lost, 20000));
    CHECK(o.exits == 5 && o.ex.exit_code == 0);
    buf_t want = BUF_INIT;
    for (int i = 0; i < 30; i++) buf_printf(&want, "%d\n", i);
    CHECK(o.out.len == want.len && memcmp(o.out.data, want.data, want.len) == 0);
    if (o.out.len != want.len) fprintf(stderr, "got %zu bytes: %s\n", o.out.len, o.out.data);
    buf_reset(&want);
    CHECK(sandbox_is_ready(sb));

    /* ... and while output pours out (what Docker drops unattached is resent). */
    buf_reset(&o.out);
    exec_argv(sb, "import sys\nfor i in range(20000):\n sys.stdout.write('%d\\n' % i)", 1);
    CHECK(RUN_UNTIL(o.out.len >= 1 || o.lost, 10000));
    sandbox_drop_stream(sb);
    CHECK(RUN_UNTIL(o.exits == 6 || o.lost, 20000));
    CHECK(o.exits == 6 && o.ex.exit_code == 0);
    for (int i = 0; i < 20000; i++) buf_printf(&want, "%d\n", i);
    CHECK(o.out.len == want.len && memcmp(o.out.data, want.data, want.len) == 0);
    buf_free(&want);

    /* 5. Destroy: no callback, the container is removed. */
    int lost_before = o.lost;
    sandbox_destroy(sb);
    removals_done = 0;
    sandbox_wait_removals(d, on_removals, NULL);
    CHECK(RUN_UNTIL(removals_done, 15000));
    CHECK(o.lost == lost_before);
    CHECK(count_containers() == 0);
    obs_reset(&o);

    /* 6. Killed from outside → on_lost (died), and it removes its container. */
    sb = sandbox_create(d, &spec, &cbs, &o);
    CHECK(RUN_UNTIL(o.ready || o.lost, 20000));
    CHECK(o.ready == 1);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "docker kill %s >/dev/null", sandbox_container_id(sb));
    CHECK(system(cmd) == 0);
    CHECK(RUN_UNTIL(o.lost, 10000));
    CHECK(o.why == SANDBOX_LOST_DIED);
    CHECK(strstr(o.text, "exit code 137") != NULL);
    removals_done = 0;
    sandbox_wait_removals(d, on_removals, NULL);
    CHECK(RUN_UNTIL(removals_done, 15000));
    CHECK(count_containers() == 0);
    obs_reset(&o);

    /* 7. An image that is not built. */
    spec_init(&spec, "cloudcode-test/no-such-image");
    sb = sandbox_create(d, &spec, &cbs, &o);
    CHECK(sb != NULL);
    CHECK(RUN_UNTIL(o.lost, 10000));
    CHECK(o.why == SANDBOX_LOST_NO_IMAGE);
    CHECK_STR(o.text, "image cloudcode-test/no-such-image is not built");
    CHECK(o.ready == 0);
    obs_reset(&o);

    /* 8. Destroyed while the create call is in flight: the container still goes. */
    spec_init(&spec, image);
    sb = sandbox_create(d, &spec, &cbs, &o);
    sandbox_destroy(sb);
    /* and one destroyed right after it is ready, from inside on_ready's aftermath */
    struct obs o2 = {0};
    struct sandbox *sb2 = sandbox_create(d, &spec, &cbs, &o2);
    CHECK(RUN_UNTIL(o2.ready || o2.lost, 20000));
    sandbox_destroy(sb2);
    removals_done = 0;
    sandbox_wait_removals(d, on_removals, NULL);
    CHECK(RUN_UNTIL(removals_done, 20000));
    CHECK(o.ready == 0 && o.lost == 0);
    CHECK(count_containers() == 0);
    obs_reset(&o);
    obs_reset(&o2);

    /* Leave nothing behind, whatever failed above. */
    snprintf(cmd, sizeof cmd,
             "docker ps -aq --filter label=cloudcode.backend=%s | xargs -r docker rm -f >/dev/null",
             backend_id);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");

    docker_close(d, on_docker_closed, NULL);
    CHECK(RUN_UNTIL(docker_closed, 5000));
    uv_run(loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
