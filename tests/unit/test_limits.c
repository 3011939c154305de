/* Unit tests of the fixed limits that fail loudly: past its cap, each registration aborts the
 * process at once instead of dropping what did not fit.  Each case runs in a child process. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "clients/redis.h"
#include "http/router.h"
#include "unit.h"

/* 1 if fn() made the child abort (SIGABRT), 0 if it returned. */
static int aborts(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) _exit(2);
        fn();
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static const struct route four_params[] = {{ON_BOTH, "GET", "/a/{b}/{c}/{d}/{*}", ACCESS_CLIENT, NULL, 0}};
/* On the other role only: still refused, the table is checked whole. */
static const struct route five_params[] = {{ON_BALANCER, "GET", "/a/{b}/{c}/{d}/{e}/{*}", ACCESS_CLIENT, NULL, 0}};

static void use_four(void) { router_use(four_params, 1, ROLE_BACKEND); }
static void use_five(void) { router_use(five_params, 1, ROLE_BACKEND); }

static void nop(void) {}
static void stops(void) {
    for (int i = 0; i <= BACKEND_MAX_STOPS; i++) backend_at_shutdown(nop);
}
static void stops_at_max(void) {
    for (int i = 0; i < BACKEND_MAX_STOPS; i++) backend_at_shutdown(nop);
}

static void long_command(void) {
    const char *argv[REDIS_ARGV_MAX + 1];
    for (int i = 0; i <= REDIS_ARGV_MAX; i++) argv[i] = "x";
    redis_argv(NULL, NULL, REDIS_ARGV_MAX + 1, argv);
}

int main(void) {
    CHECK(aborts(use_four) == 0);
    CHECK(aborts(use_five) == 1); /* more parameters than a request holds */
    CHECK(aborts(stops_at_max) == 0);
    CHECK(aborts(stops) == 1);
    CHECK(aborts(long_command) == 1);
    return unit_report();
}
