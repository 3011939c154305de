/* routes.c — the route table of the process: every route of both roles, in one place.
 *
 * A row names the roles that serve it (ON_BACKEND, ON_BALANCER, ON_BOTH), its method and path
 * pattern, the key it needs, its handler (declared in its room's header) and its flags; main.c
 * installs the table with router_use() and a process serves the rows of its role only.
 *
 * Order matters: a request takes the first row that matches its method and path (a 405's Allow
 * lists the methods of every row whose path matched), so a fixed path stands before a pattern
 * that would take it too: "/v1/sessions/{id}/ws" before the balancer's "/v1/sessions/{id}/{*}",
 * "/process.Process/Start" before "/process.Process/{method}".  Each role keeps the order its
 * routes had when every room registered a table of its own: on a balancer the fleet's rows
 * first, then the service's, the role's /v1 and the seed's relays, then the dialects'.
 *
 * Why some paths have a row per role: a backend serves /v1 itself, a balancer places runs and
 * new sessions on a backend and relays every later request of a session to the backend holding
 * it; likewise the seed's API, which a balancer relays to the backend its user_id is pinned to.
 * The other dialects (Piston, E2B, Judge0) are served on both roles: they speak to /v1 with
 * internal requests, which take the role's own /v1 rows.  The fleet's admin routes and the
 * seed's /load_balancer/add exist on a balancer only. */
#include "routes.h"

#include "backend/backend.h"
#include "backend/run.h"
#include "backend/session.h"
#include "backend/session_routes.h"
#include "balancer/balancer.h"
#include "balancer/fleet.h"
#include "compat/e2b/e2b.h"
#include "compat/judge0/judge0.h"
#include "compat/piston/piston.h"
#include "compat/seed/seed.h"
#include "http/service.h"

const struct route route_table[] = {
    /* ---- the balancer's fleet (balancer/fleet.c) ---- */
    {ON_BALANCER, "GET", "/v1/backends", ACCESS_ADMIN, fleet_handle_list, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "POST", "/v1/backends", ACCESS_ADMIN, fleet_handle_add, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "DELETE", "/v1/backends", ACCESS_ADMIN, fleet_handle_remove, ROUTE_JSON_ERRORS},

    /* ---- service (http/service.c) ---- */
    {ON_BOTH, "GET", "/healthz", ACCESS_OPEN, service_handle_healthz, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/metrics", ACCESS_OPEN, service_handle_metrics, ROUTE_JSON_ERRORS},

    /* ---- /v1 on a backend (backend/: backend.c, run.c, judge.c, session.c, session_routes.c) ---- */
    {ON_BACKEND, "GET", "/v1/languages", ACCESS_CLIENT, backend_handle_languages, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/run", ACCESS_CLIENT, run_handle, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/judge", ACCESS_CLIENT, judge_handle, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/sessions", ACCESS_CLIENT, session_create, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions", ACCESS_CLIENT, session_list, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions/{id}", ACCESS_CLIENT, session_handle_get, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "DELETE", "/v1/sessions/{id}", ACCESS_CLIENT, session_delete, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/sessions/{id}/input", ACCESS_CLIENT, session_handle_input, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions/{id}/output", ACCESS_CLIENT, session_handle_output, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions/{id}/ws", ACCESS_CLIENT, session_handle_ws, ROUTE_KEY_IN_QUERY},
    {ON_BACKEND, "POST", "/v1/sessions/{id}/signal", ACCESS_CLIENT, session_handle_signal, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/sessions/{id}/resize", ACCESS_CLIENT, session_handle_resize, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "POST", "/v1/sessions/{id}/execute", ACCESS_CLIENT, session_handle_execute, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions/{id}/files", ACCESS_CLIENT, session_handle_file_list, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "GET", "/v1/sessions/{id}/files/{*}", ACCESS_CLIENT, session_handle_file_get, ROUTE_JSON_ERRORS},
    {ON_BACKEND, "PUT", "/v1/sessions/{id}/files/{*}", ACCESS_CLIENT, session_handle_file_put, ROUTE_JSON_ERRORS},

    /* ---- /v1 on a balancer (balancer/balancer.c): placed, or relayed to the session's backend ---- */
    {ON_BALANCER, "GET", "/v1/languages", ACCESS_CLIENT, balancer_handle_languages, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "POST", "/v1/run", ACCESS_CLIENT, balancer_handle_run, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "POST", "/v1/judge", ACCESS_CLIENT, balancer_handle_run, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "POST", "/v1/sessions", ACCESS_CLIENT, balancer_handle_create, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "GET", "/v1/sessions", ACCESS_CLIENT, balancer_handle_list, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "GET", "/v1/sessions/{id}", ACCESS_CLIENT, balancer_handle_session, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "DELETE", "/v1/sessions/{id}", ACCESS_CLIENT, balancer_handle_session, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "GET", "/v1/sessions/{id}/ws", ACCESS_CLIENT, balancer_handle_session, ROUTE_KEY_IN_QUERY},
    {ON_BALANCER, "GET", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, balancer_handle_session, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "POST", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, balancer_handle_session, ROUTE_JSON_ERRORS},
    {ON_BALANCER, "PUT", "/v1/sessions/{id}/{*}", ACCESS_CLIENT, balancer_handle_session, ROUTE_JSON_ERRORS},

    /* ---- the seed's API on a balancer (compat/seed/balancer_seed.c): relayed by user_id ---- */
    {ON_BALANCER, "POST", "/api/session/create", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "GET", "/api/session/output", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "POST", "/api/session/input", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "POST", "/api/session/delete", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "POST", "/api/files/add/{user}", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "GET", "/api/files/get", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "GET", "/api/metrics/session/count", ACCESS_CLIENT, balancer_seed_count, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "GET", "/api/metrics/session/has", ACCESS_CLIENT, balancer_seed_relay, ROUTE_TEXT_ERRORS},

    /* ---- Piston v2 (compat/piston/: compat_piston.c, compat_piston_ws.c) ---- */
    {ON_BOTH, "GET", "/api/v2/runtimes", ACCESS_OPEN, piston_handle_runtimes, ROUTE_MESSAGE_ERRORS},
    {ON_BOTH, "POST", "/api/v2/execute", ACCESS_OPEN, piston_handle_execute, ROUTE_MESSAGE_ERRORS},
    {ON_BOTH, "GET", "/api/v2/connect", ACCESS_OPEN, piston_handle_connect, ROUTE_MESSAGE_ERRORS},

    /* ---- the seed's API (compat/seed/: compat_seed.c, seed_create.c) ----
     * Text errors for auth too: the seed's clients read a status and a line.  On a balancer the
     * user_id rows are its relays above. */
    {ON_BOTH, "GET", "/", ACCESS_OPEN, seed_handle_root, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "POST", "/api/session/create", ACCESS_CLIENT, seed_handle_create, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "GET", "/api/session/output", ACCESS_CLIENT, seed_handle_output, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "POST", "/api/session/input", ACCESS_CLIENT, seed_handle_input, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "POST", "/api/session/delete", ACCESS_CLIENT, seed_handle_delete, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "POST", "/api/files/add/{user}", ACCESS_CLIENT, seed_handle_upload, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "GET", "/api/files/get", ACCESS_CLIENT, seed_handle_file_get, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "GET", "/api/metrics/session/count", ACCESS_CLIENT, seed_handle_count, ROUTE_TEXT_ERRORS},
    {ON_BACKEND, "GET", "/api/metrics/session/has", ACCESS_CLIENT, seed_handle_has, ROUTE_TEXT_ERRORS},
    {ON_BALANCER, "POST", "/load_balancer/add", ACCESS_ADMIN, seed_handle_lb_add, ROUTE_TEXT_ERRORS},

    /* ---- E2B's control plane (compat/e2b/e2b_api.c) ---- */
    {ON_BOTH, "POST", "/sandboxes", ACCESS_CLIENT, e2b_handle_create, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/v2/sandboxes", ACCESS_CLIENT, e2b_handle_create, ROUTE_E2B_ERRORS},
    {ON_BOTH, "GET", "/sandboxes", ACCESS_CLIENT, e2b_handle_list, ROUTE_E2B_ERRORS},
    {ON_BOTH, "GET", "/v2/sandboxes", ACCESS_CLIENT, e2b_handle_list, ROUTE_E2B_ERRORS},
    {ON_BOTH, "GET", "/sandboxes/{id}", ACCESS_CLIENT, e2b_handle_info, ROUTE_E2B_ERRORS},
    {ON_BOTH, "DELETE", "/sandboxes/{id}", ACCESS_CLIENT, e2b_handle_kill, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/sandboxes/{id}/connect", ACCESS_CLIENT, e2b_handle_connect, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/v2/sandboxes/{id}/connect", ACCESS_CLIENT, e2b_handle_connect, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/sandboxes/{id}/timeout", ACCESS_CLIENT, e2b_handle_timeout, ROUTE_E2B_ERRORS},

    /* ---- E2B's sandbox: envd (e2b_sandbox.c, e2b_files.c), the interpreter (e2b_interp.c) ----
     * No key: a call proves its sandbox with the access token (e2b.h); Connect RPCs answer
     * errors in their own shape. */
    {ON_BOTH, "GET", "/health", ACCESS_OPEN, e2b_handle_health, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/process.Process/Start", ACCESS_OPEN, e2b_handle_process_start, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/process.Process/List", ACCESS_OPEN, e2b_handle_process_list, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/process.Process/SendSignal", ACCESS_OPEN, e2b_handle_process_signal, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/process.Process/{method}", ACCESS_OPEN, e2b_rpc_unimplemented, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/files", ACCESS_OPEN, e2b_handle_file_read, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/files", ACCESS_OPEN, e2b_handle_file_write, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/filesystem.Filesystem/ListDir", ACCESS_OPEN, e2b_handle_list_dir, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/filesystem.Filesystem/Stat", ACCESS_OPEN, e2b_handle_stat, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/filesystem.Filesystem/{method}", ACCESS_OPEN, e2b_handle_fs_change, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/execute", ACCESS_OPEN, e2b_handle_execute, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/contexts", ACCESS_OPEN, e2b_handle_context_create, ROUTE_E2B_ERRORS},
    {ON_BOTH, "GET", "/contexts", ACCESS_OPEN, e2b_handle_context_list, ROUTE_E2B_ERRORS},
    {ON_BOTH, "DELETE", "/contexts/{id}", ACCESS_OPEN, e2b_handle_context_default, ROUTE_E2B_ERRORS},
    {ON_BOTH, "POST", "/contexts/{id}/restart", ACCESS_OPEN, e2b_handle_context_default, ROUTE_E2B_ERRORS},

    /* ---- Judge0 CE (compat/judge0/: judge0.c, judge0_show.c) ---- */
    {ON_BOTH, "POST", "/submissions/batch", ACCESS_CLIENT, j0_handle_batch_create, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/submissions/batch", ACCESS_CLIENT, j0_handle_batch_show, ROUTE_JSON_ERRORS},
    {ON_BOTH, "POST", "/submissions", ACCESS_CLIENT, j0_handle_create, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/submissions/{token}", ACCESS_CLIENT, j0_handle_show, ROUTE_JSON_ERRORS},
    {ON_BOTH, "DELETE", "/submissions/{token}", ACCESS_CLIENT, j0_handle_delete, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/languages", ACCESS_CLIENT, j0_handle_languages, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/languages/{id}", ACCESS_CLIENT, j0_handle_language, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/statuses", ACCESS_CLIENT, j0_handle_statuses, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/about", ACCESS_CLIENT, j0_handle_about, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/version", ACCESS_CLIENT, j0_handle_version, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/config_info", ACCESS_CLIENT, j0_handle_config_info, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/system_info", ACCESS_CLIENT, j0_handle_system_info, ROUTE_JSON_ERRORS},
    {ON_BOTH, "GET", "/workers", ACCESS_CLIENT, j0_handle_workers, ROUTE_JSON_ERRORS},
};

const size_t route_table_len = sizeof route_table / sizeof route_table[0];
