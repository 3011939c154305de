/* uidpool.c — per-container uids.  The live set is small (capacity plus the
 * warm pools), so a sorted-free linear set is enough. */
#include "uidpool.h"

#include <stdlib.h>
#include <sys/random.h>

static unsigned *taken;
static size_t ntaken, captaken;

static int is_taken(unsigned uid) {
    for (size_t i = 0; i < ntaken; i++)
        if (taken[i] == uid) return 1;
    return 0;
}

unsigned uidpool_take(unsigned first, unsigned last) {
    unsigned span = last - first + 1;
    if (ntaken >= span) return 0;
    if (ntaken == captaken) {
        size_t cap = captaken ? captaken * 2 : 64;
        unsigned *t = realloc(taken, cap * sizeof *t);
        if (!t) return 0;
        taken = t;
        captaken = cap;
    }
    /* Start at a random place so uids are not reused in a predictable order. */
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = 0;
    for (unsigned i = 0; i < span; i++) {
        unsigned uid = first + (r + i) % span;
        if (!is_taken(uid)) {
            taken[ntaken++] = uid;
            return uid;
        }
    }
    return 0;
}

void uidpool_give(unsigned uid) {
    for (size_t i = 0; i < ntaken; i++) {
        if (taken[i] == uid) {
            taken[i] = taken[--ntaken];
            return;
        }
    }
}

void uidpool_free(void) {
    free(taken);
    taken = NULL;
    ntaken = captaken = 0;
}
