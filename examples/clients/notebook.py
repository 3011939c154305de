#!/usr/bin/env python3
"""examples/clients/notebook.py — a few notebook cells against a CloudCode server (standard library
only, and the CloudCode class of client.py beside it).

    python3 examples/clients/notebook.py [URL] [API_KEY]

URL defaults to $CLOUDCODE_URL or http://127.0.0.1:8080, the key to $CLOUDCODE_API_KEY (none if
unset). Creates an `ipython` session, runs cells with POST /v1/sessions/{id}/execute, prints what
each returned, saves the plot's PNG as notebook-plot.png, and deletes the session.
"""
import base64
import os
import sys

from client import CloudCode

CELLS = [
    "import numpy as np\nxs = np.linspace(0, 2 * np.pi, 200)\nprint('points:', len(xs))",
    "float(np.sin(xs).max())",
    "import matplotlib.pyplot as plt\nplt.plot(xs, np.sin(xs), label='sin')\nplt.legend()\nplt.show()",
    "undefined_name",
]


def show(reply, n):
    print(f"--- In [{reply['execution_count']}] ({reply['status']}{', truncated' if reply['truncated'] else ''})")
    for out in reply["outputs"]:
        kind = out["type"]
        if kind == "stream":
            print(f"[{out['name']}] {out['text']}", end="" if out["text"].endswith("\n") else "\n")
        elif kind in ("execute_result", "display_data"):
            data = out["data"]
            if "image/png" in data:
                name = f"notebook-plot{'' if n == 0 else '-' + str(n)}.png"
                with open(name, "wb") as f:
                    f.write(base64.b64decode(data["image/png"]))
                print(f"[{kind}] {data.get('text/plain', '')} -> saved {name}")
                n += 1
            else:
                print(f"[{kind}] {data.get('text/plain', '')}")
        elif kind == "error":
            print(f"[error] {out['ename']}: {out['evalue']}")
    return n


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CLOUDCODE_URL", "http://127.0.0.1:8080")
    key = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CLOUDCODE_API_KEY", "")
    api = CloudCode(url, key)
    status, s = api.call("POST", "/v1/sessions", {"language": "ipython"})
    if status != 201:
        sys.exit(f"create failed: {status} {s}")
    sid = s["id"]
    print(f"session {sid}")
    try:
        images = 0
        for code in CELLS:
            status, reply = api.call("POST", f"/v1/sessions/{sid}/execute", {"code": code, "timeout_ms": 60000})
            if status != 200:
                print(f"execute failed: {status} {reply}")
                continue
            images = show(reply, images)
    finally:
        api.call("DELETE", f"/v1/sessions/{sid}")


if __name__ == "__main__":
    main()
