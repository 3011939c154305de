"""Every language of the default image map, proven by programs (tests/e2e/programs.py): hello and
stdin-echo through /v1/run, an interactive session (pipes and tty), Piston's /api/v2/execute, a
compile error as compile_error with the compiler's message, the version /v1/languages shows
against the toolchain in the image, and /v1/languages and /api/v2/runtimes listing them all.

Which languages: by default a fast subset (FAST); CODECLOUD_TEST_LANGUAGES=all runs every
language of the map, or a comma-separated list names some (README.md, "Tests")."""
import os
import re
import subprocess

import pytest

from backend_util import (KEYS, auth, create, delete, docker, read_until, run_ok, send_input,  # noqa: F401
                          wait_ended, wait_until, no_containers_left, track)
from conftest import REPO, slow
from programs import HELLO, PROGRAMS, VERSION_CMD

pytestmark = pytest.mark.docker

FAST = ("bash", "c", "python")


def image_map():
    """language → {image, version, aliases, interactive, ...} of the default policy, as the server
    sees it (read through --print-images for the images, /v1/languages for the rest)."""
    out = subprocess.run([str(REPO / "cloudcode"), "--print-images", str(REPO / "policies" / "backend.lua")],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=slow(30))
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.strip())


IMAGES = image_map()


def selected():
    want = os.environ.get("CODECLOUD_TEST_LANGUAGES", "")
    if want == "all":
        return sorted(IMAGES)
    names = [w for w in re.split(r"[,\s]+", want) if w] or list(FAST)
    unknown = set(names) - set(IMAGES)
    assert not unknown, f"CODECLOUD_TEST_LANGUAGES names languages the map lacks: {sorted(unknown)}"
    return names


LANGS = selected()
PROGRAMMED = [lang for lang in LANGS if lang in PROGRAMS]
READERS = [lang for lang in PROGRAMMED if "echo" in PROGRAMS[lang]]
BROKEN = [lang for lang in PROGRAMMED if "broken" in PROGRAMS[lang]]


@pytest.fixture(scope="module")
def be(tmp_path_factory):
    from conftest import Server
    s = Server(tmp_path_factory.mktemp("languages"), env=KEYS, name="languages").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def languages(be):
    status, _, body = be.request("GET", "/v1/languages", headers=auth("k1"))
    assert status == 200, body
    return {e["name"]: e for e in body["languages"]}


def run(be, lang, kind, stdin=None):
    body = {"language": lang, "code": PROGRAMS[lang][kind]}
    if stdin is not None:
        body["stdin"] = stdin
    return body


def test_every_language_has_programs():
    """A language added to the map without test programs is a test failure, not a silent gap."""
    assert sorted(set(IMAGES) - set(PROGRAMS)) == []


def test_listed_everywhere(be, languages):
    assert set(languages) == set(IMAGES)

    def agree():
        """Piston lists what can run now: the languages whose image is built.  The backend
        checks the images after it starts, so the two lists may differ for a moment."""
        status, _, body = be.request("GET", "/v1/languages", headers=auth("k1"))
        assert status == 200, body
        available = {e["name"] for e in body["languages"] if e["available"]}
        status, _, runtimes = be.request("GET", "/api/v2/runtimes", headers=auth("k1"))
        assert status == 200, runtimes
        return runtimes if {r["language"] for r in runtimes} == available else None

    runtimes = wait_until(agree, timeout=10, what="/api/v2/runtimes listing the available languages")
    assert set(LANGS) <= {r["language"] for r in runtimes}
    for r in runtimes:
        entry = languages[r["language"]]
        assert r["version"] == entry["version"] and r["aliases"] == entry["aliases"], (r, entry)
    # Piston clients find them by Piston's names.
    names = {n for e in languages.values() for n in [e["name"], *e["aliases"]]}
    assert {"c++", "cpp", "csharp", "javascript", "node", "js", "rscript", "r", "lisp", "nasm64",
            "sqlite3", "sql"} <= names


@pytest.mark.parametrize("lang", PROGRAMMED)
def test_run_hello(be, lang):
    reply = run_ok(be, run(be, lang, "hello"), key="k1")
    assert reply["stdout"].strip() == HELLO, reply


@pytest.mark.parametrize("lang", READERS)
def test_run_echo(be, lang):
    reply = run_ok(be, run(be, lang, "echo", stdin="cloudcode\n"), key="k1")
    assert reply["stdout"].strip() == "cloudcode", reply


@pytest.mark.parametrize("lang", BROKEN)
def test_compile_error(be, lang):
    reply = run_ok(be, run(be, lang, "broken"), key="k1", expect="compile_error")
    c = reply["compile"]
    assert c["exit_code"] != 0 and (c["stdout"] + c["stderr"]).strip(), reply
    assert reply["stdout"] == "", reply


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "tty"])
@pytest.mark.parametrize("lang", READERS)
def test_session_echo(be, languages, lang, tty):
    assert languages[lang]["interactive"], languages[lang]
    sid = create(be, {"language": lang, "code": PROGRAMS[lang]["echo"], "tty": tty}, key="k1")["id"]
    # On pipes the line and the end of input go in one request: a program that exits after one
    # read (nasm64's) would otherwise have ended before a second request (409).
    send_input(be, sid, "cloudcode\n", eof=None if tty else True, key="k1")
    if tty and lang == "ipython":
        # IPython's session is a REPL once the program has run: it ends when told to.
        send_input(be, sid, "exit\n", key="k1")
    # Compiling and starting the JVM-like ones takes a while on a loaded machine.
    text, body = wait_ended(be, sid, timeout=120, key="k1")
    assert body["state"] == "exited" and body["exit_code"] == 0, (text, body)
    # On a tty the terminal echoes the line, then the program prints it.
    # (A program that writes "\r\n" itself, as tclsh does, shows "\r\r\n" on a tty.)
    assert text.replace("\r", "").count("cloudcode\n") == (2 if tty else 1), text
    delete(be, sid, key="k1")


@pytest.mark.parametrize("lang", PROGRAMMED)
def test_piston_execute(be, languages, lang):
    kind = "echo" if "echo" in PROGRAMS[lang] else "hello"
    # By a Piston alias where there is one: that is how Piston clients ask.
    name = (languages[lang]["aliases"] or [lang])[0]
    body = {"language": name, "version": "*", "files": [{"content": PROGRAMS[lang][kind]}],
            "stdin": "cloudcode\n",
            # Piston's default run_timeout (3 s) is short for Erlang or Racket on a busy machine.
            "run_timeout": 30000, "compile_timeout": 60000}
    status, _, reply = be.request("POST", "/api/v2/execute", body, headers=auth("k1"), timeout=slow(120))
    assert status == 200, reply
    assert reply["language"] == lang and reply["version"] == languages[lang]["version"], reply
    assert reply["run"]["code"] == 0, reply
    assert reply["run"]["stdout"].strip() == ("cloudcode" if kind == "echo" else HELLO), reply


VERSIONS = {}


def toolchain_versions(image):
    """One container per image prints every version command of its languages (tagged lines)."""
    if image not in VERSIONS:
        langs = [lang for lang, img in IMAGES.items() if img == image]
        script = "".join(f"echo '=== {lang}'; {VERSION_CMD[lang]} 2>&1; " for lang in langs)
        out = docker("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script,
                     timeout=slow(120)).stdout
        VERSIONS[image] = dict(re.findall(r"=== (\S+)\n(.*?)(?==== |\Z)", out, re.S))
    return VERSIONS[image]


@pytest.mark.parametrize("lang", LANGS)
def test_version_matches_toolchain(languages, lang):
    version = languages[lang]["version"]
    found = toolchain_versions(IMAGES[lang]).get(lang, "")
    assert re.search(r"(?<![\d.])" + re.escape(version) + r"(?![\d])", found), (lang, version, found)


# ---- per-language defaults (image entries' limits, compile_timeout_ms among them) - ----------------------

DEFAULTS_POLICY = """local policy = require "policies.backend"
policy.images.python.limits = { timeout_ms = 1000 }
policy.limits.compile_timeout_ms = { min = 1, max = 600000 }
policy.images.c.limits = { compile_timeout_ms = 1 }
policy.pools = {}  -- no warm containers to start: less load on a shared engine
return policy
"""
SLEEP_2_S = 'import time\ntime.sleep(2)\nprint("slept")\n'


def test_language_limit_defaults(start_server, policy_file):
    srv = start_server(policy_file(DEFAULTS_POLICY), env=KEYS)
    # The language's own default (1 s, the policy's is 10 s) applies when the request leaves the
    # limit out ...
    run_ok(srv, {"language": "python", "code": SLEEP_2_S}, key="k1", expect="timeout")
    # ... and a request's own value wins over it.
    reply = run_ok(srv, {"language": "python", "code": SLEEP_2_S, "limits": {"timeout_ms": 20000}}, key="k1")
    assert reply["stdout"] == "slept\n", reply
    # The compile step has its own bound, whatever the run's timeout: 1 ms cannot compile.
    reply = run_ok(srv, {"language": "c", "code": PROGRAMS["c"]["hello"], "limits": {"timeout_ms": 60000}},
                   key="k1", expect="timeout")
    assert reply["compile"] is not None and reply["stdout"] == "", reply
