"""A stand-in for the seed's own load balancer (load-balancer/app.py of the original CloudCode,
github.com/thebowenfeng/CloudCode: Flask and redis-py). Its source carries no license, so it is
not copied here: this is our own code, written for these tests to behave as that balancer does:

- the backends ("host:port") are a JSON list in Redis under `server_list`; a worker asks each for
  GET /api/metrics/session/count (with CODECLOUD_API_KEY as Bearer) every second and stores the
  number under the backend's name;
- a user_id is mapped to a backend in Redis under its own name (under a per-user Redis lock); an
  unmapped one goes to the least loaded backend; a create for a mapped user_id asks that backend's
  /api/metrics/session/has?userId= and maps anew when the answer is not 200;
- GET /<path>?userId= and POST /<path> (JSON with user_id) are forwarded to http://<backend>/<path>
  with the caller's Authorization header; the backend's body and status come back;
- POST /load_balancer/add {"server": "host:port"} adds a backend.

Run: seed_flask_balancer.py PORT REDIS_PORT BACKEND[,BACKEND...]"""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

import redis
from flask import Flask, request

app = Flask(__name__)
store = None


def call(method, url, body=None, auth=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "text/plain")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "text/plain")


def servers():
    return json.loads(store.get("server_list") or "[]")


def add_server(host):
    known = servers()
    if host not in known:
        store.set("server_list", json.dumps(known + [host]))
        store.set(host, 0)


def count_sessions():
    auth = f"Bearer {os.environ.get('CODECLOUD_API_KEY', '')}"
    while True:
        for server in servers():
            try:
                status, body, _ = call("GET", f"http://{server}/api/metrics/session/count", auth=auth)
                if status == 200:
                    store.set(server, int(body))
            except OSError:
                pass
        time.sleep(1)


def backend_for(path, user_id, auth):
    with store.lock(f"lock[{user_id}]", timeout=30):
        server = store.get(user_id)
        if path == "api/session/create" and server is not None:
            status, _, _ = call("GET", f"http://{server}/api/metrics/session/has?userId={user_id}", auth=auth)
            if status != 200:
                server = None
        if server is None:
            server = min(servers(), key=lambda s: int(store.get(s) or 0))
            store.set(user_id, server)
        return server


def relay(status, body, ctype):
    return body, status, {"Content-Type": ctype}


@app.route("/load_balancer/add", methods=["POST"])
def add():
    server = (request.get_json(force=True, silent=True) or {}).get("server")
    if server is None:
        return "No server specified", 400
    add_server(server)
    return ""


@app.route("/<path:path>", methods=["GET"])
def forward_get(path):
    user_id = request.args.get("userId")
    if user_id is None:
        return "user_id not present", 400
    auth = request.headers.get("Authorization")
    server = backend_for(path, user_id, auth)
    return relay(*call("GET", f"http://{server}/{path}?userId={user_id}", auth=auth))


@app.route("/<path:path>", methods=["POST"])
def forward_post(path):
    body = request.get_json(force=True, silent=True) or {}
    user_id = body.get("user_id")
    if user_id is None:
        return "user_id not present", 400
    auth = request.headers.get("Authorization")
    server = backend_for(path, user_id, auth)
    return relay(*call("POST", f"http://{server}/{path}", body, auth))


if __name__ == "__main__":
    port, redis_port, backends = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
    store = redis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True)
    store.delete("server_list")
    for b in backends:
        add_server(b)
    threading.Thread(target=count_sessions, daemon=True).start()
    app.run(host="127.0.0.1", port=port, threaded=True)
