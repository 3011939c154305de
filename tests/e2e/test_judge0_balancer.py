"""The Judge0 dialect through balancers: a submission made on one balancer is read on another
(submissions are shared through Redis), waited-for and batched submissions run on the fleet's
backends, and X-Auth-Token is the key all the way."""
import time

import pytest

from balancer_util import fleet, redis  # noqa: F401  (fixtures)
from conftest import slow
from test_judge0 import Judge0

pytestmark = pytest.mark.docker


def test_judge0_through_balancers(fleet):  # noqa: F811
    fleet.backend()
    a, b = Judge0(fleet.balancer(), "k1"), Judge0(fleet.balancer(), "k1")
    status, _, langs = a.request("GET", "/languages")
    assert status == 200 and any(lang["id"] == 71 and lang["name"].startswith("Python (3.") for lang in langs), langs

    out = a.create(source_code="print(input()[::-1])", language_id=71, stdin="abc", expected_output="cba")
    assert out["status"]["id"] == 3 and out["stdout"] == "cba\n", out
    # Any balancer answers any token.
    assert b.get(out["token"], "?fields=stdout,status_id") == {"stdout": "cba\n", "status_id": 3}

    token = b.create(wait=False, source_code="import time\ntime.sleep(1)\nprint(7)", language_id=71)["token"]
    deadline = time.monotonic() + slow(60)
    while (sub := a.get(token, "?fields=status,stdout"))["status"]["id"] < 3:
        assert sub["status"]["id"] in (1, 2), sub
        assert time.monotonic() < deadline, sub
        time.sleep(0.1)
    assert sub == {"status": {"id": 3, "description": "Accepted"}, "stdout": "7\n"}, sub

    status, _, made = a.request("POST", "/submissions/batch", {"submissions": [
        {"source_code": "int main(){return 0;}", "language_id": 50},
        {"source_code": "int main(){", "language_id": 50}]})
    assert status == 201, made
    tokens = [m["token"] for m in made]
    for t in tokens:
        b.wait(t)
    status, _, got = b.request("GET", "/submissions/batch?tokens=" + ",".join(tokens) + "&fields=status_id")
    assert status == 200 and got == {"submissions": [{"status_id": 3}, {"status_id": 6}]}, got

    # Another key sees none of it; no key is refused.
    assert Judge0(a.server, "k2").get(token, expect=404)
    assert Judge0(a.server).request("GET", "/submissions/" + token)[0] == 401
    status, _, deleted = b.request("DELETE", f"/submissions/{token}?fields=status_id")
    assert status == 200 and deleted == {"status_id": 3}, deleted
    a.get(token, expect=404)


def test_v1_judge_through_a_balancer(fleet):  # noqa: F811
    fleet.backend()
    bal = fleet.balancer()
    status, _, r = bal.request("POST", "/v1/judge", {
        "language": "python", "code": "print(int(input()) * 2)",
        "cases": [{"stdin": "2", "expected_output": "4"}, {"stdin": "3", "expected_output": "7",
                                                            "limits": {"timeout_ms": 20000}}]},
        headers={"X-Auth-Token": "k1"}, timeout=slow(120))
    assert status == 200 and [c["verdict"] for c in r["cases"]] == ["accepted", "wrong_answer"], r
    assert r["summary"]["first_failed"] == 1 and r["status"] == "wrong_answer", r
