/* http_evict.c — the connection caps: the evictable list (connections holding no request,
 * oldest first) and who is closed to make room for a new one. */
#include <string.h>

#include "http_int.h"
#include "policy/app.h"

static struct conn *lru_head, *lru_tail;

/* ---- the evictable list ------------------------------------------------------------ */

/* Connections that hold no request (idle keep-alive, fresh, or closing) in the
 * order they became so: at the connection cap the oldest is closed to make
 * room, so idle sockets cannot lock new clients out. */
void lru_remove(struct conn *c) {
    if (!c->on_lru) return;
    if (c->lru_prev) c->lru_prev->lru_next = c->lru_next; else lru_head = c->lru_next;
    if (c->lru_next) c->lru_next->lru_prev = c->lru_prev; else lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
    c->on_lru = 0;
}

void lru_append(struct conn *c) {
    lru_remove(c);
    c->lru_prev = lru_tail;
    if (lru_tail) lru_tail->lru_next = c; else lru_head = c;
    lru_tail = c;
    c->on_lru = 1;
}

/* The peer's address as bytes (IPv4 or IPv6), for the per-address cap. */
void conn_peer(struct conn *c) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    c->addrlen = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0) return;
    if (ss.ss_family == AF_INET) {
        memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        c->addrlen = 4;
    } else if (ss.ss_family == AF_INET6) {
        memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        c->addrlen = 16;
    }
}

static int same_peer(const struct conn *a, const struct conn *b) {
    return a->addrlen && a->addrlen == b->addrlen && memcmp(a->addr, b->addr, a->addrlen) == 0;
}

/* Make room for `c` if it is over a cap: close the oldest connection holding
 * no request (of its own address for the per-address cap).  0 if there is
 * room now, -1 if every connection is busy. */
int make_room(struct conn *c) {
    int per_address = app_config()->max_connections_per_address;
    if (per_address > 0 && c->addrlen) {
        int n = 0;
        for (struct conn *o = all_conns; o; o = o->next) n += same_peer(o, c);
        for (struct conn *o = lru_head; o; o = o->lru_next) n += o->state >= CONN_CLOSING && same_peer(o, c);
        if (n >= per_address) { /* with c, one too many */
            struct conn *victim = lru_head;
            while (victim && !same_peer(victim, c)) victim = victim->lru_next;
            if (!victim) return -1;
            conn_abort(victim);
        }
    }
    if (conn_count - conn_closed > (size_t)app_config()->max_connections) {
        if (!lru_head) return -1;
        conn_abort(lru_head);
    }
    return 0;
}
