/* luajson.h — plain values between Lua and jansson.
 *
 * Hooks take a plain table in and give a plain value out; this is the one
 * place that converts.  Functions, userdata and threads are skipped. */
#ifndef CC_LUAJSON_H
#define CC_LUAJSON_H

#include <jansson.h>
#include <lua.h>

/* Push `v` as a Lua value (objects and arrays become tables, null becomes nil). */
void luajson_push(lua_State *L, const json_t *v);
/* Convert the value at `idx`.  A table whose keys are exactly 1..n is an array
 * (an empty table is an empty object: the caller knows which lists it expects). */
json_t *luajson_to_json(lua_State *L, int idx);

#endif
