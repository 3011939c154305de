"""The operator's cookbook (examples/): every example policy passes --check and does what its
comment says when the binary serves it; every client example runs against a backend.

Backend examples run with their own key sets; balancer examples on a fleet of two default
backends and one Redis (balancer_util.py).  The custom image is built from
examples/images/pydata on the image set under test (CODECLOUD_IMAGE_PREFIX); where it cannot be
built (no apt mirror) that part is skipped."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from backend_util import auth, run, run_ok
from backend_util import create as create_on
from balancer_util import SLEEPER, all_ids_on, create, fleet, ids_on, read_until, redis, send  # noqa: F401
from conftest import REPO, assert_error, run_cli, slow

EXAMPLES = REPO / "examples"
POLICIES = EXAMPLES / "policies"
PREFIX = os.environ.get("CODECLOUD_IMAGE_PREFIX", "cloudcode/")

pytestmark = pytest.mark.docker

# A program of 4 s: more than the small tiers' 3 s, less than the default 10 s.  (Their memory
# cap is not what is shown: a program pushing at a small cap with half a CPU can page for
# seconds before it is killed, so its status would say timeout or memory_limit by chance.)
SLOW = {"language": "python", "code": "import time\ntime.sleep(4)\nprint('done')"}


@pytest.mark.parametrize("name", sorted(p.name for p in POLICIES.glob("*.lua")))
def test_example_policy_passes_check(name):
    r = run_cli("--check", POLICIES / name)
    assert r.returncode == 0 and r.stdout.strip().endswith(": ok"), (r.stdout, r.stderr)


@pytest.mark.parametrize("name, env, says", [
    ("weighted.lua", {"CODECLOUD_WEIGHTS": "http://127.0.0.1:1=heavy"}, "is not url=weight"),
    ("peak_hours.lua", {"CODECLOUD_PEAK_HOURS": "9am-5pm"}, "must be like 9-18"),
])
def test_example_policy_refuses_a_bad_setting(name, env, says):
    r = run_cli("--check", POLICIES / name, env=env)
    assert r.returncode != 0 and says in r.stderr + r.stdout, (r.stdout, r.stderr)


# ---- backend policies ---------------------------------------------------------------------

def test_tiers_cap_free_keys_not_pro_keys(start_server):
    srv = start_server(POLICIES / "tiers.lua", env={"CODECLOUD_FREE_KEYS": "f1",
                                                    "CODECLOUD_PRO_KEYS": "p1,p2"})
    # limits: a free key's program gets 3 s at most, a pro key's what it asks for
    run_ok(srv, SLOW, key="f1", expect="timeout")
    assert run_ok(srv, SLOW, key="p1")["stdout"] == "done\n"
    # quotas: a free key holds one session (or run) at a time, a pro key more
    create_on(srv, {"language": "python", "code": SLEEPER}, key="f1")
    status, body = create_on(srv, {"language": "python", "code": SLEEPER}, key="f1", expect=None)
    assert_error(status, body, "too_many_sessions", 429)
    assert body["error"]["scope"] == "key", body
    status, body = run(srv, {"language": "python", "code": "print(1)"}, key="f1")
    assert_error(status, body, "too_many_sessions", 429)
    for _ in range(2):
        create_on(srv, {"language": "python", "code": SLEEPER}, key="p1")
    # an unknown key is still refused: the tiers only add keys
    assert run(srv, {"language": "python", "code": "print(1)"}, key="nobody")[0] == 401


def test_peak_hours_follow_the_injected_clock(start_server):
    keys = {"CODECLOUD_API_KEY": "k1", "CODECLOUD_PEAK_HOURS": "22-6"}  # wraps around midnight
    peak = start_server(POLICIES / "peak_hours.lua", env={**keys, "CODECLOUD_HOUR": "23"}, name="peak")
    quiet = start_server(POLICIES / "peak_hours.lua", env={**keys, "CODECLOUD_HOUR": "12"}, name="quiet")
    # at peak: 3 s at most, and two sessions per key
    run_ok(peak, SLOW, key="k1", expect="timeout")
    for _ in range(2):
        create_on(peak, {"language": "python", "code": SLEEPER}, key="k1")
    status, body = create_on(peak, {"language": "python", "code": SLEEPER}, key="k1", expect=None)
    assert_error(status, body, "too_many_sessions", 429)
    assert "peak hours" in body["error"]["message"] and body["error"]["scope"] == "key", body
    # off-peak: the default policy (10 s, ten sessions per key)
    run_ok(quiet, SLOW, key="k1")
    for _ in range(3):
        create_on(quiet, {"language": "python", "code": SLEEPER}, key="k1")


def test_language_allow_list_per_key(start_server):
    srv = start_server(POLICIES / "languages_per_key.lua", env={
        "CODECLOUD_API_KEY": "k1", "CODECLOUD_TEACHING_KEYS": "t1", "CODECLOUD_NOTEBOOK_KEYS": "n1"})
    hello_c = {"language": "c", "code": '#include <stdio.h>\nint main(){puts("hi");}'}
    assert run_ok(srv, {"language": "py", "code": "print('hi')"}, key="t1")["stdout"] == "hi\n"
    for key, allowed in (("t1", "python"), ("n1", "ipython, python")):
        status, body = run(srv, {**hello_c, "language": "gcc"}, key=key)  # an alias is the language
        assert_error(status, body, "forbidden", 403)
        assert body["error"]["message"] == f"this key may not use c (allowed: {allowed})", body
        status, body = create_on(srv, hello_c, key=key, expect=None)
        assert_error(status, body, "forbidden", 403)
    assert run_ok(srv, hello_c, key="k1")["stdout"] == "hi\n"  # keys in no group: every language


def test_custom_image_language(start_server, tmp_path):
    image = PREFIX + "pydata"
    srv = start_server(POLICIES / "custom_image.lua", env={"CODECLOUD_PYDATA_IMAGE": image})
    langs = {x["name"]: x for x in srv.request("GET", "/v1/languages")[2]["languages"]}
    assert langs["pydata"]["aliases"] == ["numpy"], langs["pydata"]
    assert "python" in langs  # the default map is still there
    build = subprocess.run(["docker", "build", "-q", "--network", "host", "-t", image,
                            "--build-arg", f"BASE={PREFIX}python", str(EXAMPLES / "images" / "pydata")],
                           capture_output=True, text=True, timeout=slow(600))
    if build.returncode != 0:
        pytest.skip(f"the pydata image cannot be built here: {build.stderr[-500:]}")
    code = "import numpy, yaml\nprint(int(numpy.arange(10).sum()), yaml.safe_dump({'a': 1}).strip())"
    assert run_ok(srv, {"language": "numpy", "code": code})["stdout"] == "45 a: 1\n"


# ---- balancer policies --------------------------------------------------------------------

def test_weighted_balancing(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(policy=POLICIES / "weighted.lua", env={"CODECLOUD_WEIGHTS": f"{a.url}=3,{b.url}=1"})
    ids = [create(lb, {"language": "python", "code": SLEEPER})["id"] for _ in range(4)]
    # share = sessions / weight, ties to the heavier: a, b, a, a (least-loaded would give 2 and 2)
    assert len(ids_on(a) & set(ids)) == 3 and len(ids_on(b) & set(ids)) == 1, (ids_on(a), ids_on(b))


def _fnv1a(s):
    h = 2166136261
    for byte in s.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def test_sticky_balancing(fleet):
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(policy=POLICIES / "sticky.lua")
    # the policy's rendezvous hash, computed here: an affinity that lands on each backend
    home = {}
    for n in range(100):
        name = f"class-{n}"
        best = max((a, b), key=lambda s: _fnv1a(f"{name}|{s.url}"))
        home.setdefault(best.url, (name, best))
    assert len(home) == 2, home
    for name, backend in home.values():
        ids = {create(lb, {"language": "python", "code": SLEEPER, "affinity": name})["id"] for _ in range(3)}
        assert ids <= ids_on(backend), (name, backend.url, ids_on(a), ids_on(b))


def test_maintenance_keeps_old_sessions_takes_no_new(fleet, tmp_path):
    policy = tmp_path / "maintenance.lua"
    shutil.copy(POLICIES / "maintenance.lua", policy)
    a, b = fleet.backend(), fleet.backend()
    lb = fleet.balancer(policy=policy)
    first = [create(lb)["id"] for _ in range(2)]  # least-loaded: one on each
    on_b = (all_ids_on(b) & set(first)).pop()
    # the operator's steps: list the backend, reload
    text = policy.read_text()
    assert "local maintenance = {\n" in text
    policy.write_text(text.replace("local maintenance = {\n", f'local maintenance = {{\n  "{b.url}",\n'))
    lb.signal(signal.SIGHUP)
    lb.wait_log(lambda line: line.get("event") == "reloaded")
    new = [create(lb)["id"] for _ in range(3)]
    assert set(new) <= ids_on(a), (ids_on(a), ids_on(b))
    # the backend under maintenance still serves its session through the balancer
    assert send(lb, on_b, "still here\n")[0] == 204
    read_until(lb, on_b, "STILL HERE")
    status, _, body = lb.request("GET", "/v1/backends", headers=auth("adm"))
    listed = {x["url"]: x for x in body["backends"]}
    assert listed[b.url]["healthy"] and not listed[b.url]["draining"], listed


# ---- client examples ----------------------------------------------------------------------

@pytest.fixture
def keyed_backend(start_server):
    return start_server(env={"CODECLOUD_API_KEY": "k1"})


def _client(cmd, srv, cwd):
    r = subprocess.run([*cmd, srv.url, "k1"], cwd=cwd, capture_output=True, text=True, timeout=slow(180))
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def test_curl_client(keyed_backend, tmp_path):
    out = _client(["sh", str(EXAMPLES / "clients" / "curl.sh")], keyed_backend, tmp_path)
    assert '"stdout":"45\\n"' in out, out
    # the output may come in pieces, one long-poll each
    assert "".join(re.findall(r'"data":"([^"]*)"', out)) == "hello, curl\\n" and '"state":"exited"' in out, out
    assert '"text/plain":"42"' in out, out


def test_python_client(keyed_backend, tmp_path):
    out = _client(["/usr/bin/python3", str(EXAMPLES / "clients" / "client.py")], keyed_backend, tmp_path)
    assert "run: ok, stdout '45\\n'" in out, out
    assert "echo: HELLO\necho: WORLD\nexit: exited, exit code 0\n" in out, out


@pytest.mark.skipif(not shutil.which("node"), reason="no node")
def test_javascript_client(keyed_backend, tmp_path):
    out = _client(["node", str(EXAMPLES / "clients" / "client.mjs")], keyed_backend, tmp_path)
    assert 'run: ok, stdout "45\\n"' in out, out
    assert "echo: HELLO\necho: WORLD\nexit: exited, exit code 0\n" in out, out
    assert "cell: 42\n" in out, out


def test_notebook_client(keyed_backend, tmp_path):
    out = _client(["/usr/bin/python3", str(EXAMPLES / "clients" / "notebook.py")], keyed_backend, tmp_path)
    assert "[stdout] points: 200\n" in out and "[execute_result] 0.99" in out, out
    assert "saved notebook-plot.png" in out and (tmp_path / "notebook-plot.png").stat().st_size > 0, out
    assert "[error] NameError" in out, out
