/* policy.c — the embedded Lua 5.4 policy engine. */
#include "policy.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "luajson.h"

extern int luaopen_cjson(lua_State *L);

/* How often the count hook fires: a check every N VM instructions is cheap and
 * still stops a runaway loop within a few microseconds of its budget. */
#define POLICY_HOOK_STRIDE 1000

struct policy {
    lua_State *L;
    char *path;
    char *source;          /* the file's text, for policy_line_of */
    int table_ref;         /* registry ref of the returned table */
    json_t *settings;
    size_t mem_used, mem_cap;
    long long budget_left; /* instructions left in the current call */
    long long hook_instructions;
};

static void *policy_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    struct policy *p = ud;
    if (!ptr) osize = 0;
    if (nsize == 0) {
        free(ptr);
        p->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && p->mem_used + (nsize - osize) > p->mem_cap) return NULL;
    void *q = realloc(ptr, nsize);
    if (q) p->mem_used = p->mem_used - osize + nsize;
    return q;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    struct policy *p;
    lua_getallocf(L, (void **)&p);
    p->budget_left -= POLICY_HOOK_STRIDE;
    if (p->budget_left < 0) luaL_error(L, "instruction budget exhausted");
}

/* A message handler: the error's text plus a traceback.  An error raised with
 * a value that is not a string gets the position of the Lua code that raised
 * it, so that every message starts with chunk:line. */
static int traceback_handler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        lua_Debug ar;
        const char *what = luaL_tolstring(L, 1, NULL);
        for (int level = 1; lua_getstack(L, level, &ar); level++) {
            lua_getinfo(L, "Sl", &ar);
            if (ar.currentline > 0) {
                lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, what);
                break;
            }
        }
        msg = lua_tostring(L, -1);
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* The policy's own chunk is named POLICY_CHUNK so its messages can be given the
 * file's full path (Lua shortens chunk names to 60 bytes). */
#define POLICY_CHUNK "policy"

static int last_return_line(const char *source);

static void error_with_path(char *err, size_t errlen, const char *path, const char *msg) {
    size_t n = strcspn(msg, "\n");
    if (strncmp(msg, POLICY_CHUNK ":", sizeof POLICY_CHUNK) == 0) {
        snprintf(err, errlen, "%s:%.*s", path, (int)(n - sizeof POLICY_CHUNK), msg + sizeof POLICY_CHUNK);
    } else {
        snprintf(err, errlen, "%s:1: %.*s", path, (int)n, msg);
    }
}

/* The directory of the running binary: lua/ lives beside it. */
static void exe_dir(char *out, size_t len) {
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0) {
        snprintf(out, len, ".");
        return;
    }
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0';
}

static int refuse_loadlib(lua_State *L) {
    return luaL_error(L, "package.loadlib is disabled: a policy loads no C code");
}

/* The last searcher, reached when neither package.preload nor package.path has the module: it
 * would be a C library, so the error says so on its first line (the one --check prints). */
static int refuse_c_module(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    luaL_where(L, 2); /* the line of the `require`: level 1 is require itself */
    lua_pushfstring(L, "module '%s' not found: a policy loads only Lua modules (package.path) and the "
                       "built-in cjson, no C modules", name);
    lua_concat(L, 2);
    return lua_error(L);
}

/* With the package table on the stack: no package.loadlib, and `require` searches only
 * package.preload (cjson) and Lua files. Emptying package.cpath is not enough, since a policy can
 * set it back; the C searchers themselves go. */
static void close_c_loading(lua_State *L) {
    lua_pushcfunction(L, refuse_loadlib);
    lua_setfield(L, -2, "loadlib");
    lua_getfield(L, -1, "searchers");
    for (lua_Integer i = luaL_len(L, -1); i > 2; i--) {
        lua_pushnil(L);
        lua_rawseti(L, -2, i);
    }
    lua_pushcfunction(L, refuse_c_module);
    lua_rawseti(L, -2, 3);
    lua_pop(L, 1);
}

/* require "cloudcode.sha256": a function giving a string's SHA-256 as 64 lower-case hex
 * digits, the form admit's req.key has, so that a policy can tell the keys it lists apart
 * (examples/policies/tiers.lua) without holding their hashes as well. */
static int sha256_string(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[65];
    sha256_hex(s, len, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int open_sha256(lua_State *L) {
    lua_pushcfunction(L, sha256_string);
    return 1;
}

/* Only what a policy needs to compute answers: no io, no os.execute, no
 * loading of C modules.  `require` finds lua/ beside the binary and the
 * policy's own folder. */
static void open_safe_libs(lua_State *L, const char *policy_path) {
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_LOADLIBNAME, luaopen_package},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_OSLIBNAME, luaopen_os},     {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    /* os: keep getenv, time, clock, date; drop what touches the system. */
    lua_getglobal(L, LUA_OSLIBNAME);
    static const char *const os_drop[] = {"execute", "exit", "remove", "rename", "tmpname",
                                          "setlocale", NULL};
    for (const char *const *k = os_drop; *k; k++) {
        lua_pushnil(L);
        lua_setfield(L, -2, *k);
    }
    lua_pop(L, 1);
    static const char *const base_drop[] = {"dofile", "loadfile", NULL};
    for (const char *const *k = base_drop; *k; k++) {
        lua_pushnil(L);
        lua_setglobal(L, *k);
    }

    char dir[4096], pdir[4096];
    exe_dir(dir, sizeof dir);
    snprintf(pdir, sizeof pdir, "%s", policy_path);
    char *slash = strrchr(pdir, '/');
    if (slash) *slash = '\0'; else snprintf(pdir, sizeof pdir, ".");
    lua_getglobal(L, LUA_LOADLIBNAME);
    /* lua/ helpers; the policy's own folder; and the default policies as
     * modules ("policies.backend"), so a variant can start from one. */
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s/?.lua;%s/../lua/?.lua;%s/?.lua", dir, dir, pdir,
                    pdir, dir);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, "");
    lua_setfield(L, -2, "cpath");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_cjson);
    lua_setfield(L, -2, "cjson");
    lua_pushcfunction(L, open_sha256);
    lua_setfield(L, -2, "cloudcode.sha256");
    lua_pop(L, 1);
    close_c_loading(L);
    lua_pop(L, 1);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t n;
    while (s && (n = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *t = realloc(s, cap * 2);
            if (!t) { free(s); s = NULL; break; }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s) s[len] = '\0';
    return s;
}

/* Keep only the first line of a Lua error (the traceback goes to the log). */
static void first_line(char *dst, size_t len, const char *msg) {
    size_t n = strcspn(msg, "\n");
    if (n >= len) n = len - 1;
    memcpy(dst, msg, n);
    dst[n] = '\0';
}

struct policy *policy_load(const char *path, const struct policy_limits *limits, char *err,
                           size_t errlen) {
    struct policy *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "%s:0: out of memory", path);
        return NULL;
    }
    p->mem_cap = limits->memory_bytes;
    p->path = strdup(path);
    p->source = read_file(path);
    if (!p->source) {
        snprintf(err, errlen, "%s:0: cannot read the policy file", path);
        policy_free(p);
        return NULL;
    }
    p->L = lua_newstate(policy_alloc, p);
    if (!p->L) {
        snprintf(err, errlen, "%s:0: cannot create a Lua state", path);
        policy_free(p);
        return NULL;
    }
    lua_State *L = p->L;
    open_safe_libs(L, path);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, POLICY_HOOK_STRIDE);

    p->budget_left = limits->load_instructions;
    lua_pushcfunction(L, traceback_handler);
    if (luaL_loadbufferx(L, p->source, strlen(p->source), "=" POLICY_CHUNK, "t") != LUA_OK) {
        error_with_path(err, errlen, path, lua_tostring(L, -1));
        policy_free(p);
        return NULL;
    }
    if (lua_pcall(L, 0, 1, -2) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        error_with_path(err, errlen, path, msg ? msg : "error");
        policy_free(p);
        return NULL;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s:%d: the policy must return a table", path, last_return_line(p->source));
        policy_free(p);
        return NULL;
    }
    p->settings = luajson_to_json(L, -1);
    p->table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1); /* the traceback handler */
    p->hook_instructions = limits->hook_instructions;
    return p;
}

void policy_free(struct policy *p) {
    if (!p) return;
    if (p->L) lua_close(p->L);
    json_decref(p->settings);
    free(p->source);
    free(p->path);
    free(p);
}

const json_t *policy_settings(const struct policy *p) { return p->settings; }
const char *policy_path(const struct policy *p) { return p->path; }

int policy_has_hook(const struct policy *p, const char *name) {
    lua_rawgeti(p->L, LUA_REGISTRYINDEX, p->table_ref);
    lua_getfield(p->L, -1, name);
    int is_fn = lua_isfunction(p->L, -1);
    lua_pop(p->L, 2);
    return is_fn;
}

static int is_ident(char ch) { return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'); }

/* Whether the code of a line (what comes before any "--" comment) sets `word`
 * ("word =", a whole word), or, when word is NULL, starts with `return`. */
static int line_starts_with(const char *line, const char *word) {
    size_t len = strcspn(line, "\n");
    const char *comment = strstr(line, "--");
    if (comment && (size_t)(comment - line) < len) len = (size_t)(comment - line);
    while (len && (*line == ' ' || *line == '\t')) line++, len--;
    if (!word) return len >= 6 && strncmp(line, "return", 6) == 0 && (len == 6 || !is_ident(line[6]));
    size_t wlen = strlen(word);
    for (size_t i = 0; i + wlen <= len; i++) {
        if (strncmp(line + i, word, wlen) != 0 || (i > 0 && is_ident(line[i - 1]))) continue;
        size_t j = i + wlen;
        if (j < len && is_ident(line[j])) continue;
        while (j < len && (line[j] == ' ' || line[j] == '\t')) j++;
        if (j < len && line[j] == '=' && (j + 1 >= len || line[j + 1] != '=')) return 1;
    }
    return 0;
}

int policy_line_of(const struct policy *p, const char *word) {
    int line = 1;
    for (const char *s = p->source; *s; line++) {
        if (line_starts_with(s, word)) return line;
        s += strcspn(s, "\n");
        if (*s) s++;
    }
    return 1;
}

static int last_return_line(const char *source) {
    int line = 1, found = 1;
    for (const char *s = source; *s; line++) {
        if (line_starts_with(s, NULL)) found = line;
        s += strcspn(s, "\n");
        if (*s) s++;
    }
    return found;
}

void policy_set_limits(struct policy *p, long long hook_instructions, size_t memory_bytes) {
    p->hook_instructions = hook_instructions;
    /* Never below what the loaded policy already holds, or every call would fail. */
    p->mem_cap = memory_bytes > p->mem_used ? memory_bytes : p->mem_used + (1u << 20);
}

int policy_call(struct policy *p, const char *name, const json_t *args, json_t **results,
                char *err, size_t errlen) {
    lua_State *L = p->L;
    int base = lua_gettop(L);
    *results = NULL;
    lua_pushcfunction(L, traceback_handler);
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->table_ref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        snprintf(err, errlen, "hook %s is not a function", name);
        lua_settop(L, base);
        return -1;
    }
    int nargs = 0;
    size_t i;
    json_t *arg;
    json_array_foreach(args, i, arg) {
        luajson_push(L, arg);
        nargs++;
    }
    p->budget_left = p->hook_instructions; /* refilled before each call */
    if (lua_pcall(L, nargs, LUA_MULTRET, base + 1) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (!msg) msg = "error object is not a string";
        first_line(err, errlen, msg);
        log_event(LOG_ERROR, "policy_hook_failed",
                  json_pack("{s:s,s:s}", "hook", name, "traceback", msg));
        lua_settop(L, base);
        lua_gc(L, LUA_GCCOLLECT);
        return -1;
    }
    json_t *out = json_array();
    for (int i = base + 2; i <= lua_gettop(L); i++) json_array_append_new(out, luajson_to_json(L, i));
    lua_settop(L, base);
    *results = out;
    return 0;
}
