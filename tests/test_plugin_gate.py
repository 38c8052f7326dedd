"""Baselines and the gate through the plugin: bless round trip, a worse prompt caught,
critical cases, and the side-by-side comparison of two prompt versions."""

from __future__ import annotations

import json

# pytester's in-process runs drop modules first imported inside them; a C extension such as
# numpy cannot be imported twice, so what the runs use is imported here first.
import promptkit.evaluation.stats  # noqa: E402,F401
import promptkit.pipeline  # noqa: E402,F401
from promptkit.testing.baseline import Baseline, gate, make_baseline
from promptkit.testing.suite_runner import CaseResult, RepeatResult

pytest_plugins = ["pytester"]

N_FACTS = 8


def suite_text(critical_first: bool = False) -> str:
    cases = []
    for i in range(1, N_FACTS + 1):
        crit = "\n    critical: true" if critical_first and i == 1 else ""
        cases.append(f"""\
  - id: fact-{i}
    question: What is fact number {i}?
    context: ["Fact number {i} is alpha-{i}."]
    answers: [alpha-{i}]{crit}""")
    cases.append("""\
  - id: unknowable
    question: What is fact number 99?
    context: ["Nothing is known about it."]
    answers: [alpha-99]""")
    return ("name: facts\nprompts: [rag-answer@2]\nprompts_dir: prompts\nmodel: fake:echo\n"
            "defaults:\n  assert: [{type: contains-any}]\ncases:\n" + "\n".join(cases) + "\n")


# With fake:echo the answer is the prompt's user message. This version moves the passages into
# the system message, so the "answer" no longer contains them: a regression on every case.
WORSE_PROMPT = """\
name: worse
version: 1
kind: zero-shot
system: "Notes: {context}"
template: "{question}"
"""


def setup(pytester, critical_first: bool = False):
    suites = pytester.path / "suites"
    (suites / "prompts" / "worse").mkdir(parents=True)
    (suites / "prompts" / "worse" / "v1.yaml").write_text(WORSE_PROMPT)
    (suites / "facts.yaml").write_text(suite_text(critical_first))
    pytester.makeini("[pytest]\npromptkit_suites = suites\n")
    return pytester.path / "baselines" / "facts.json"


def run(pytester, *args):
    return pytester.runpytest("-p", "no:cacheprovider", "--promptkit-mode", "off",
                              "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def test_bless_round_trip_then_known_failures_are_xfail(pytester):
    baseline_path = setup(pytester)
    first = run(pytester)
    first.assert_outcomes(passed=N_FACTS + 1, failed=1)   # no baseline yet: failures fail
    assert "no baseline" in first.stdout.str()

    blessed = run(pytester, "--promptkit-bless")
    blessed.assert_outcomes(passed=N_FACTS + 1, xfailed=1)
    note = "blessed rag-answer@2 as the baseline of facts: baselines/facts.json"
    assert note in blessed.stdout.str()
    data = json.loads(baseline_path.read_text())
    assert data["prompt"] == "rag-answer@2" and data["model"] == "fake:echo"
    assert data["prompt_hash"].startswith("sha256:")
    assert data["cases"]["fact-1"] == {"pass": 1.0, "score": 1.0, "status": "passed",
                                       "critical": False, "failed": []}
    assert data["cases"]["unknowable"]["failed"] == ["contains-any ['alpha-99']"]

    again = run(pytester, "-rx")
    again.assert_outcomes(passed=N_FACTS + 1, xfailed=1)   # the gate passes too
    out = again.stdout.str()
    assert "XFAIL suites/facts.yaml::unknowable - non-critical; 1 assertion(s) failed" in out
    assert "ok (no significant difference, p=1)" in out


def test_the_gate_catches_a_worse_prompt_version(pytester):
    setup(pytester)
    run(pytester, "--promptkit-bless").assert_outcomes(passed=N_FACTS + 1, xfailed=1)
    worse = run(pytester, "--promptkit-prompt", "worse@1", "-rx", "--promptkit-summary-md",
                "summary.md")
    worse.assert_outcomes(xfailed=N_FACTS + 1, failed=1)   # only the gate fails
    md = (pytester.path / "summary.md").read_text()
    assert "| ❌ FAIL (worse, p=0.00781) |" in md
    assert "- **facts** `worse@1` vs its baseline: broken (8): fact-1, fact-2" in md
    out = worse.stdout.str()
    assert "facts.yaml::fact-3 - passed in the baseline, the gate decides; 1 assertion" in out
    assert "gate failed for facts with worse@1:" in out
    assert "suite pass rate dropped significantly against the baseline (0.889 -> 0.000" in out
    assert "exact McNemar vs baseline rag-answer@2" in out
    assert "broken since the baseline (8): fact-1, fact-2" in out


def test_a_critical_case_fails_even_when_the_gate_would_not(pytester):
    setup(pytester, critical_first=True)
    run(pytester, "--promptkit-bless")
    worse = run(pytester, "--promptkit-prompt", "worse@1", "-k", "fact-1 or unknowable or gate")
    worse.assert_outcomes(failed=1, passed=1, xfailed=1, deselected=N_FACTS - 1)
    out = worse.stdout.str()
    assert "case 'fact-1' with worse@1 on fake:echo (off mode) [critical]" in out
    # Two cases are too few for the paired test to call it worse: the critical case decides.
    assert "Dataset too small" in out


def test_bless_refuses_a_partial_run(pytester):
    setup(pytester)
    result = run(pytester, "--promptkit-bless", "-k", "fact-1 or gate")
    assert "cannot bless facts: only 1 of 9 cases ran" in result.stdout.str()


def test_two_prompt_versions_side_by_side_with_the_paired_verdict(pytester):
    setup(pytester)
    result = run(pytester, "--promptkit-prompt", "rag-answer@2", "--promptkit-prompt", "worse@1",
                 "--promptkit-summary-md", "summary.md")
    md = (pytester.path / "summary.md").read_text()
    assert "- **facts** `worse@1` vs `rag-answer@2`: fail where `rag-answer@2` passes (8): " \
           "fact-1, fact-2" in md
    out = result.stdout.str()
    assert "facts  rag-answer@2  off   9      8       1" in out
    assert "facts  worse@1       off   9      0       9" in out
    assert "facts: worse@1 vs rag-answer@2: pass rate 0.00 vs 0.89, score 0.000 vs 0.889" in out
    assert "exact McNemar on pass/fail, p = 0.00781 at alpha 0.05: worse@1 is worse" in out
    assert "fails where rag-answer@2 passes (8): fact-1, fact-2" in out


def result(case_id: str, passed: bool, status_error: str | None = None) -> CaseResult:
    from promptkit.testing.assertions import Outcome

    r = CaseResult("s", case_id, "p@1", "h", "fake:x", "off", False,
                   [RepeatResult("t", [Outcome("contains", "c", passed, "m")])])
    r.error = status_error
    return r


def test_gate_unit_min_score_errors_and_no_baseline():
    results = [result(f"c{i}", i < 3) for i in range(6)]
    assert gate(None, results).passed
    low = gate(None, results, min_score=0.75)
    assert not low.passed and "suite pass rate 0.500 is below min_score 0.750" in low.summary
    base = make_baseline(results, repeats=1)
    assert isinstance(base, Baseline) and base.pass_rate == 0.5
    same = gate(base, results)
    assert same.passed and same.verdict == "no significant difference"
    errored = [result("c0", False, "backend down")]
    assert "error" in gate(base, errored).summary


def test_pass_score_and_the_score_metric():
    from promptkit.testing.assertions import Outcome

    def partial(case_id: str, key_term: bool) -> CaseResult:
        outcomes = [Outcome("icontains-any", "key", key_term, "m", weight=2),
                    Outcome("cites", "cites", False, "m")]
        return CaseResult("s", case_id, "p@1", "h", "fake:x", "off", False,
                          [RepeatResult("t", outcomes, pass_score=0.6)])

    good = [partial(f"c{i}", True) for i in range(10)]
    assert good[0].passed and good[0].score == 2 / 3      # passes without its citation
    base = make_baseline(good, repeats=1)
    worse = [partial(f"c{i}", i < 2) for i in range(10)]
    by_score = gate(base, worse, metric="score")
    assert not by_score.passed and by_score.verdict == "worse"
    assert "paired permutation (sign-flip) vs baseline p@1 (fake:x): score 0.667 -> 0.133" \
        in by_score.summary
