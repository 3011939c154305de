/* routes.h — the route table of the process (routes.c): every route of both roles. */
#ifndef CC_ROUTES_H
#define CC_ROUTES_H

#include <stddef.h>

#include "http/router.h"

extern const struct route route_table[];
extern const size_t route_table_len;

#endif
