/* uidpool.h — one uid per live container, from the policy's range, so that
 * per-uid kernel counters (processes, message queues, inotify, pipe pages) are
 * never shared between two sandboxes. */
#ifndef CC_UIDPOOL_H
#define CC_UIDPOOL_H

/* A free uid from [first, last], or 0 when every uid of the range is taken. */
unsigned uidpool_take(unsigned first, unsigned last);
void uidpool_give(unsigned uid);
void uidpool_free(void);

#endif
