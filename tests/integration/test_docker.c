/* test_docker.c (integration) — docker.c against the real engine at /var/run/docker.sock:
 * a ping, a version, a 404, a remove, a list, parallel calls, a cancel, a close with a call
 * pending.  What needs no engine (timeouts, streams, limits) is in tests/unit/test_docker.c. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "clients/docker.h"
#include "unit.h"
#include "unit_loop.h"


/* ---- results ---------------------------------------------------------------------- */

struct result {
    int done;
    long status;
    int ok;
    char text[512];
    char error[512];
};

static void on_done(void *ud, long status, json_t *body, const char *error) {
    struct result *r = ud;
    r->done++;
    r->status = status;
    if (error) snprintf(r->error, sizeof r->error, "%s", error);
    const char *v = json_string_value(json_object_get(body, "ApiVersion"));
    if (!v) v = json_string_value(json_object_get(body, "message"));
    if (v) snprintf(r->text, sizeof r->text, "%s", v);
}

static void on_ok(void *ud, int ok, const char *why) {
    struct result *r = ud;
    r->done++;
    r->ok = ok;
    if (why) snprintf(r->error, sizeof r->error, "%s", why);
}

static void on_ping(void *ud, long status, const char *why) { on_ok(ud, status == 200, why); }

static int closed;
static void on_closed(void *ud) {
    (void)ud;
    closed++;
}

int main(void) {
    loop = uv_default_loop();

    /* The real engine. */
    struct docker *d = docker_new(loop, "unix:///var/run/docker.sock");
    CHECK(d != NULL);
    struct result ping = {0};
    CHECK(docker_ping(d, 2000, on_ping, &ping) != NULL);
    CHECK(run_until(&ping.done, 5000));
    CHECK(ping.ok == 1);

    struct result ver = {0};
    CHECK(docker_call(d, "GET", "/version", NULL, 5000, on_done, &ver) != NULL);
    CHECK(run_until(&ver.done, 5000));
    CHECK(ver.status == 200);
    CHECK_STR(ver.text, "1.41");
    CHECK(ver.error[0] == '\0');

    struct result nf = {0};
    docker_call(d, "GET", "/containers/cc-no-such-container-xyz/json", NULL, 5000, on_done, &nf);
    CHECK(run_until(&nf.done, 5000));
    CHECK(nf.status == 404);
    CHECK(strstr(nf.text, "No such container") != NULL);

    struct result rm = {0};
    CHECK(docker_remove(d, "cc-no-such-container-xyz", on_ok, &rm) != NULL);
    CHECK(run_until(&rm.done, 5000));
    CHECK(rm.ok == 1);

    /* Parallel calls on one multi, and a POST with a JSON body the engine refuses. */
    struct result par[4] = {{0}};
    json_t *bad = json_pack("{s:s}", "Image", "");
    for (int i = 0; i < 3; i++) docker_call(d, "GET", "/_ping", NULL, 5000, on_done, &par[i]);
    docker_call(d, "POST", "/containers/create?name=cc-test-never", bad, 5000, on_done, &par[3]);
    json_decref(bad);
    for (int i = 0; i < 4; i++) CHECK(run_until(&par[i].done, 5000));
    CHECK(par[0].status == 200 && par[1].status == 200 && par[2].status == 200);
    CHECK(par[3].status == 400 || par[3].status == 404 || par[3].status == 500);

    /* Cancel a call in flight: its callback never runs. */
    struct result cancelled = {0};
    struct docker_call *c = docker_call(d, "GET", "/info", NULL, 5000, on_done, &cancelled);
    docker_call_cancel(c);
    struct result after = {0};
    docker_call(d, "GET", "/_ping", NULL, 5000, on_done, &after);
    CHECK(run_until(&after.done, 5000));
    int never = 0;
    run_until(&never, 200);
    CHECK(cancelled.done == 0);

    /* Close with a call pending: no callback, on_closed runs. */
    struct result pending = {0};
    docker_call(d, "GET", "/info", NULL, 5000, on_done, &pending);
    docker_close(d, on_closed, NULL);
    CHECK(run_until(&closed, 2000));
    CHECK(pending.done == 0);

    CHECK(uv_loop_close(loop) == 0);
    return unit_report();
}
