/* unit_loop.h — driving the test's uv loop: run it until a condition holds
 * or a time bound passes (tests of rooms that live on the loop). */
#ifndef CC_UNIT_LOOP_H
#define CC_UNIT_LOOP_H

#include <stdint.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t *loop;

/* Run the loop until `cond` holds or `ms` pass; evaluates to cond. */
#define RUN_UNTIL(cond, ms)                                                  \
    ({                                                                       \
        uint64_t deadline_ = uv_now(loop) + (ms);                            \
        while (!(cond) && uv_now(loop) < deadline_) {                        \
            uv_update_time(loop);                                            \
            uv_run(loop, UV_RUN_NOWAIT);                                     \
            usleep(500);                                                     \
        }                                                                    \
        (cond);                                                              \
    })

static inline int run_until(int *flag, unsigned ms) { return RUN_UNTIL(*flag, ms); }

#endif
