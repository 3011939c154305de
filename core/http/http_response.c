/* http_response.c — answers: the status line and headers, a whole body or a chunked stream. */
#include <string.h>

#include "http_int.h"
#include "policy/app.h"

/* ---- responses -------------------------------------------------------------------- */

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* The status line and headers into `head`; the caller adds the body so that a
 * whole response leaves in one write (and one TCP segment when it fits). */
static void format_head(buf_t *head_out, struct request *req, int status, const char *content_type,
                        long long length, const char *extra) {
    buf_t head = *head_out;
    buf_printf(&head, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    if (content_type) buf_printf(&head, "Content-Type: %s\r\n", content_type);
    if (length >= 0) buf_printf(&head, "Content-Length: %lld\r\n", length);
    else buf_append_str(&head, "Transfer-Encoding: chunked\r\n");
    if (!req->keep_alive) buf_append_str(&head, "Connection: close\r\n");
    const char *origin = http_header(req, "origin");
    if (origin && app_cors_allowed(origin))
        buf_printf(&head, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", origin);
    if (extra) buf_append_str(&head, extra);
    buf_append_str(&head, "\r\n");
    *head_out = head;
}

void http_respond(struct request *req, int status, const char *content_type, const void *body,
                  size_t len, const char *extra_headers) {
    req->status = status;
    if (req->on_response && !req->responded) {
        req->responded = 1;
        req->on_response(status, body, len, req->response_ud);
    } else if (req->conn && !req->responded) {
        req->responded = 1;
        buf_t out = BUF_INIT;
        format_head(&out, req, status, content_type, (long long)len, extra_headers);
        if (strcmp(req->method, "HEAD") != 0) buf_append(&out, body, len);
        conn_write(req->conn, out.data, out.len);
        buf_free(&out);
    }
    request_finish(req);
}

void http_stream_start(struct request *req, int status, const char *content_type) {
    req->status = status;
    req->streaming = 1;
    if (!req->conn) return;
    req->responded = 1;
    buf_t head = BUF_INIT;
    format_head(&head, req, status, content_type, -1, NULL);
    conn_write(req->conn, head.data, head.len);
    buf_free(&head);
}

void http_stream_write(struct request *req, const void *data, size_t len) {
    if (!req->conn || len == 0) return;
    buf_t chunk = BUF_INIT;
    buf_printf(&chunk, "%zx\r\n", len);
    buf_append(&chunk, data, len);
    buf_append(&chunk, "\r\n", 2);
    conn_write(req->conn, chunk.data, chunk.len);
    buf_free(&chunk);
}

void http_stream_end(struct request *req) {
    if (req->conn) conn_write(req->conn, "0\r\n\r\n", 5);
    request_finish(req);
}

void http_set_abort(struct request *req, void (*fn)(struct request *, void *), void *ud) {
    req->on_abort = fn;
    req->abort_ud = fn ? ud : NULL;
}
