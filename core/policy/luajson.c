/* luajson.c — plain values between Lua and jansson. */
#include "luajson.h"

#include <lauxlib.h>
#include <math.h>

/* Deep enough for any sane policy value; deeper tables are cut, not followed,
 * so a self-referencing table cannot recurse forever. */
#define LUAJSON_MAX_DEPTH 32

void luajson_push(lua_State *L, const json_t *v) {
    luaL_checkstack(L, 3, "luajson");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *item;
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_foreach((json_t *)v, k, item) {
            luajson_push(L, item);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, item) {
            luajson_push(L, item);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushnil(L); break;
    }
}

static int is_array(lua_State *L, int idx, size_t *len) {
    size_t n = 0;
    lua_Integer max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
            lua_pop(L, 1);
            return 0;
        }
        if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
        n++;
    }
    *len = n;
    return n > 0 && (size_t)max == n;
}

static json_t *convert(lua_State *L, int idx, int depth) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) return json_null();
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *str = json_stringn(s, len);
        return str ? str : json_null(); /* not UTF-8: unusable as a JSON string */
    }
    case LUA_TTABLE: {
        if (depth >= LUAJSON_MAX_DEPTH) return json_null();
        luaL_checkstack(L, 4, "luajson");
        size_t len;
        if (is_array(L, idx, &len)) {
            json_t *arr = json_array();
            for (size_t i = 1; i <= len; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                json_array_append_new(arr, convert(L, -1, depth + 1));
                lua_pop(L, 1);
            }
            return arr;
        }
        json_t *obj = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            int vt = lua_type(L, -1);
            if (lua_type(L, -2) == LUA_TSTRING && vt != LUA_TFUNCTION && vt != LUA_TUSERDATA &&
                vt != LUA_TTHREAD && vt != LUA_TLIGHTUSERDATA) {
                json_object_set_new(obj, lua_tostring(L, -2), convert(L, -1, depth + 1));
            }
            lua_pop(L, 1);
        }
        return obj;
    }
    default: return json_null();
    }
}

json_t *luajson_to_json(lua_State *L, int idx) { return convert(L, idx, 0); }
