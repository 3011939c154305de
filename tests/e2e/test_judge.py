"""POST /v1/judge: one program compiled once and run against N test cases in one container,
a verdict per case and a summary; per-case stdin and limits; bad requests."""
import pytest

from conftest import slow

pytestmark = pytest.mark.docker

SUM_C = ("#include <stdio.h>\n"
         "int main(void){ int a, b; if (scanf(\"%d %d\", &a, &b) != 2) return 3;\n"
         "  if (a < 0) for (;;);\n"
         "  printf(\"%d\\n\", a + b); return 0; }\n")


def judge(server, body, expect=200):
    status, _, reply = server.request("POST", "/v1/judge", body, timeout=slow(120))
    assert status == expect, (status, reply)
    return reply


def test_verdicts_and_summary(server):
    cases = [{"stdin": "1 2", "expected_output": "3"},
             {"stdin": "2 2", "expected_output": "5"},
             {"stdin": "x"},
             {"stdin": "-1 0", "limits": {"cpu_time_ms": 300}},
             {"stdin": "5 5", "expected_output": "10  \n\n"},
             {"stdin": "7 8"}]
    r = judge(server, {"language": "c", "code": SUM_C, "cases": cases})
    assert [c["verdict"] for c in r["cases"]] == ["accepted", "wrong_answer", "runtime_error", "timeout",
                                                  "accepted", "accepted"], r
    assert r["cases"][1]["stdout"] == "4\n" and r["cases"][2]["exit_code"] == 3, r
    assert r["cases"][3]["cpu_ms"] >= 300, r
    assert r["status"] == "wrong_answer" and r["compile"]["exit_code"] == 0, r
    s = r["summary"]
    assert (s["cases"], s["run"], s["accepted"], s["first_failed"]) == (6, 6, 3, 1), s
    assert s["max_cpu_ms"] >= 300 and s["time_ms"] >= sum(c["time_ms"] for c in r["cases"]) - 1, s


def test_compiles_once_in_one_container(server):
    # Each case sees the file the previous one left: the same container, no reset in between.
    code = "import os\nn = len(os.listdir('.'))\nopen(f'f{n}', 'w').close()\nprint(n)"
    r = judge(server, {"language": "python", "code": code, "cases": [{}, {}, {}]})
    counts = [int(c["stdout"]) for c in r["cases"]]
    assert counts == [counts[0], counts[0] + 1, counts[0] + 2] and r["status"] == "accepted", r
    assert r["compile"] is None


def test_compile_error_runs_no_case(server):
    r = judge(server, {"language": "c", "code": "int main(){ return nope; }", "cases": [{"stdin": "1 2"}]})
    assert r["status"] == "compile_error" and r["cases"] == [] and "nope" in r["compile"]["stderr"], r
    assert r["summary"]["run"] == 0 and r["summary"]["cases"] == 1


def test_all_accepted(server):
    r = judge(server, {"language": "c", "code": SUM_C,
                       "cases": [{"stdin": f"{i} {i}", "expected_output": str(2 * i)} for i in range(10)]})
    assert r["status"] == "accepted" and r["summary"]["accepted"] == 10 and r["summary"]["first_failed"] is None


@pytest.mark.parametrize("cases,message", [
    (None, "cases must be a list"),
    ([], "cases must be a list"),
    ([{}] * 65, "cases must be a list"),
    ([1], "cases[0] must be an object"),
    ([{"stdin": 5}], "cases[0].stdin must be a string"),
    ([{}, {"expected_output": []}], "cases[1].expected_output must be a string"),
    ([{"limits": {"memory_mb": 64}}], "cases[0].limits.memory_mb cannot be set per case"),
    ([{"limits": {"timeout_ms": 10 ** 9}}], "cases[0].limits.timeout_ms must be a whole number"),
])
def test_bad_cases(server, cases, message):
    r = judge(server, {"language": "python", "code": "print(1)", "cases": cases}, expect=400)
    assert r["error"]["message"].startswith(message), r
