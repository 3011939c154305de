/* session_routes.h — the handlers of the /v1/sessions/{id} routes (core/routes.c lists them;
 * create, list and delete are session.h's). */
#ifndef CC_SESSION_ROUTES_H
#define CC_SESSION_ROUTES_H

#include "http/router.h"

route_handler session_handle_get, session_handle_input, session_handle_output, session_handle_ws,
    session_handle_signal, session_handle_resize, session_handle_execute;
/* /v1/sessions/{id}/files and /files/{*} */
route_handler session_handle_file_list, session_handle_file_get, session_handle_file_put;

#endif
