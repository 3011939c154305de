/* http_parse.c — llhttp's callbacks: a request's line, headers and body read into its
 * struct request within the policy's limits, and the answer to one that could not be read. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "policy/app.h"
#include "reply.h"

static llhttp_settings_t parser_settings;

static struct conn *parser_conn(llhttp_t *p) { return p->data; }

static int refuse(struct conn *c, int status, const char *code) {
    c->error_status = status;
    c->error_code = code;
    return -1;
}

static int on_message_begin(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    c->req = request_new(c);
    if (!c->req) return -1;
    c->header_bytes = 0;
    c->state = CONN_READING;
    lru_remove(c);
    /* The whole request must arrive within the read timeout, counted from its
     * first byte: a client trickling bytes cannot hold the connection. */
    conn_arm_timer(c, app_config()->read_timeout_ms);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (c->hvalue.len + len > app_config()->max_url_bytes) return refuse(c, 414, "uri_too_long");
    return buf_append(&c->hvalue, at, len);
}

static int on_url_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    req->target = buf_steal(&c->hvalue);
    if (!req->target) return -1;
    const char *q = strchr(req->target, '?');
    req->path = q ? strndup(req->target, (size_t)(q - req->target)) : strdup(req->target);
    req->query = strdup(q ? q + 1 : "");
    snprintf(req->method, sizeof req->method, "%s", llhttp_method_name(p->method));
    return req->path && req->query ? 0 : -1;
}

static int header_bytes(struct conn *c, size_t len) {
    c->header_bytes += len;
    return c->header_bytes > app_config()->max_header_bytes ? refuse(c, 431, "headers_too_large") : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (header_bytes(c, len) < 0) return -1;
    return buf_append(&c->hfield, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (header_bytes(c, len) < 0) return -1;
    return buf_append(&c->hvalue, at, len);
}

static int on_header_value_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    struct http_header *h = realloc(req->headers, (req->nheaders + 1) * sizeof *h);
    if (!h) return -1;
    req->headers = h;
    if (buf_append(&c->hfield, "", 0) < 0 || buf_append(&c->hvalue, "", 0) < 0) return -1;
    for (size_t i = 0; i < c->hfield.len; i++) c->hfield.data[i] = (char)tolower((unsigned char)c->hfield.data[i]);
    h[req->nheaders].name = buf_steal(&c->hfield);
    h[req->nheaders].value = buf_steal(&c->hvalue);
    req->nheaders++;
    return 0;
}

static int on_headers_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    struct request *req = c->req;
    size_t limit = app_config()->max_body_bytes;
    if (p->flags & F_CONTENT_LENGTH && p->content_length > limit)
        return refuse(c, 413, "payload_too_large");
    const char *expect = http_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0) return refuse(c, 417, "expectation_failed");
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    struct conn *c = parser_conn(p);
    if (c->req->body.len + len > app_config()->max_body_bytes) return refuse(c, 413, "payload_too_large");
    return buf_append(&c->req->body, at, len);
}

static int on_message_complete(llhttp_t *p) {
    struct conn *c = parser_conn(p);
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->req->upgrade = p->upgrade;
    if (c->req->body.data == NULL) buf_append(&c->req->body, "", 0); /* always NUL-terminated */
    return HPE_PAUSED;
}

void send_parse_error(struct conn *c, llhttp_errno_t err) {
    if (!c->req) c->req = request_new(c);
    if (!c->req) {
        conn_close(c);
        return;
    }
    struct request *req = c->req;
    req->keep_alive = 0;
    c->state = CONN_HANDLING;
    if (c->error_status) {
        const char *what = c->error_status == 413 ? "the request body is larger than the limit"
                         : c->error_status == 414 ? "the request line is longer than the limit"
                         : c->error_status == 431 ? "the request headers are larger than the limit"
                                                  : "the Expect header must be 100-continue";
        reply_error(req, c->error_status, c->error_code, "%s", what);
    } else {
        reply_error(req, 400, "bad_request", "malformed HTTP request: %s", llhttp_errno_name(err));
    }
}


const llhttp_settings_t *http_parser_settings(void) {
    if (!parser_settings.on_message_begin) {
        llhttp_settings_init(&parser_settings);
        parser_settings.on_message_begin = on_message_begin;
        parser_settings.on_url = on_url;
        parser_settings.on_url_complete = on_url_complete;
        parser_settings.on_header_field = on_header_field;
        parser_settings.on_header_value = on_header_value;
        parser_settings.on_header_value_complete = on_header_value_complete;
        parser_settings.on_headers_complete = on_headers_complete;
        parser_settings.on_body = on_body;
        parser_settings.on_message_complete = on_message_complete;
    }
    return &parser_settings;
}
