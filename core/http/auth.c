/* auth.c — API keys from the policy, compared in constant time. */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "policy/app.h"
#include "reply.h"

int auth_keys_configured(void) { return json_array_size(app_config()->client_keys) > 0; }

static int key_in(const json_t *keys, const char *key) {
    int found = 0;
    size_t i;
    json_t *k;
    /* Walk every key whatever matches, so the time says nothing about which. */
    json_array_foreach(keys, i, k) found |= secure_streq(json_string_value(k), key);
    return found;
}

/* The key a request presents: Authorization: Bearer, X-API-Key, X-Auth-Token (Judge0's header),
 * or ?key=. */
static int presented_key(const struct request *req, int key_in_query, char *out, size_t len) {
    const char *authz = http_header(req, "authorization");
    if (authz && strncasecmp(authz, "Bearer ", 7) == 0) {
        const char *k = authz + 7;
        while (*k == ' ') k++;
        if (strlen(k) >= len) return -1;
        strcpy(out, k);
        return 1;
    }
    const char *xkey = http_header(req, "x-api-key");
    if (!xkey) xkey = http_header(req, "x-auth-token");
    if (xkey) {
        if (strlen(xkey) >= len) return -1;
        strcpy(out, xkey);
        return 1;
    }
    if (key_in_query) return http_query_param(req, "key", out, len);
    return 0;
}

int auth_check(struct request *req, enum access access, int key_in_query) {
    char key[1024];
    int have = presented_key(req, key_in_query, key, sizeof key);
    req->key_hash[0] = '\0';
    if (have > 0) sha256_hex(key, strlen(key), req->key_hash);
    if (access == ACCESS_OPEN) return 0;
    if (!auth_keys_configured()) {
        /* No key anywhere: an open server (loopback, or auth = "none"). */
        req->is_admin = 1;
        return 0;
    }
    if (have <= 0) {
        reply_error(req, 401, "unauthorized", "an API key is required (Authorization: Bearer <key> or X-API-Key)");
        return -1;
    }
    if (!key_in(app_config()->client_keys, key)) {
        reply_error(req, 401, "unauthorized", "the API key is not valid");
        return -1;
    }
    req->is_admin = key_in(app_config()->admin_keys, key);
    if (access == ACCESS_ADMIN && !req->is_admin) {
        reply_error(req, 403, "forbidden", "this route needs an admin key");
        return -1;
    }
    return 0;
}
