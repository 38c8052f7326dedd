"""The pytest plugin on small suites answered by fakes: ids, reports, modes, flaky cases."""

from __future__ import annotations

import json

import pytest

# pytester's in-process runs drop modules first imported inside them; a C extension such as
# numpy cannot be imported twice, so what the runs use is imported here first.
import promptkit.evaluation.stats  # noqa: E402,F401
import promptkit.pipeline  # noqa: E402,F401
from promptkit.testing import FunctionChatModel
from promptkit.testing.suite import load_suite
from promptkit.testing.suite_runner import SuiteRunner

pytest_plugins = ["pytester"]

SUITE = """\
name: mini
prompts: [rag-answer@2]
model: fake:echo            # replies with the prompt's user message: context + question
cases:
  - id: found
    question: Who wrote the first program?
    context: ["Ada Lovelace wrote the first program."]
    answers: [Lovelace]
    assert:
      - type: icontains-any
      - type: cites
  - id: missing
    question: When was it written?
    context: "It was long ago."
    answers: ["1843"]
    assert:
      - type: contains-any
      - type: length
        max: 5000
"""


def write_suite(pytester, text: str = SUITE, name: str = "mini.yaml", configure: bool = True):
    """A suite in ./suites, configured as the project's suite folder in its ini file."""
    path = pytester.path / "suites" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if configure:
        pytester.makeini("[pytest]\npromptkit_suites = suites\n")
    return path


def run(pytester, *args):
    # In-process runs re-load the plugin of an already imported package: pytest warns that it
    # cannot assert-rewrite it, which is expected here.
    return pytester.runpytest("-p", "no:cacheprovider",
                              "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def test_each_case_is_an_item_named_suite_case_plus_a_gate(pytester):
    write_suite(pytester)
    (pytester.path / "suites" / "notes.txt").write_text("not a suite")
    result = run(pytester, "--collect-only", "-q")
    assert result.ret == 0
    ids = [line for line in result.outlines if "::" in line]
    assert ids == ["suites/mini.yaml::found", "suites/mini.yaml::missing", "suites/mini.yaml::gate"]


def collected(result) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_only_configured_suites_are_collected(pytester):
    # Another project's YAML in a folder that happens to be called `suites` is not a suite
    # (before, every `suites/` folder of every project in the environment was collected).
    write_suite(pytester, configure=False)
    (pytester.path / "other" / "suites").mkdir(parents=True)
    (pytester.path / "other" / "suites" / "ci.yml").write_text("jobs: {}\n")
    (pytester.path / "deep").mkdir()
    (pytester.path / "deep" / "x.suite.yaml").write_text(SUITE)
    result = run(pytester, "--collect-only", "-q")
    assert result.ret == 5 and collected(result) == []      # nothing configured: nothing
    # A file named on the command line, or a folder given with --promptkit-suite, is.
    result = run(pytester, "--collect-only", "-q", "suites/mini.yaml")
    assert collected(result)[0] == "suites/mini.yaml::found"
    result = run(pytester, "--collect-only", "-q", "--promptkit-suite", "suites")
    assert len(collected(result)) == 3


def test_a_configured_folder_holds_suites_and_suite_yaml_below_it(pytester):
    write_suite(pytester)
    (pytester.path / "suites" / "prompts" / "x").mkdir(parents=True)
    (pytester.path / "suites" / "prompts" / "x" / "v1.yaml").write_text("name: x\n")
    (pytester.path / "suites" / "more").mkdir()
    (pytester.path / "suites" / "more" / "extra.suite.yaml").write_text(SUITE)
    ids = collected(run(pytester, "--collect-only", "-q"))
    assert ids == ["suites/mini.yaml::found", "suites/mini.yaml::missing",
                   "suites/mini.yaml::gate", "suites/more/extra.suite.yaml::found",
                   "suites/more/extra.suite.yaml::missing", "suites/more/extra.suite.yaml::gate"]


def test_junit_xml_and_markdown_summary_for_ci(pytester):
    import xml.etree.ElementTree as ET

    write_suite(pytester)
    result = run(pytester, "--promptkit-mode", "off", "--junit-xml", "out/junit.xml",
                 "--promptkit-summary-md", "out/summary.md")
    result.assert_outcomes(passed=2, failed=1)
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "out" / "junit.xml").iter(
        "testcase")}
    assert set(cases) == {"found", "missing", "gate"}
    assert cases["missing"].find("failure") is not None
    assert cases["found"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["missing"].iter("property")}
    assert props == {"prompt": "rag-answer@2", "status": "failed", "score": "0.500",
                     "critical": "false"}
    md = (pytester.path / "out" / "summary.md").read_text()
    assert md.startswith("## promptkit suites: ❌ failed (exit code 1)")
    assert "| mini | `rag-answer@2` | off | 2 | 1 | 1 | 0 | 0 | 0.50 | 0.750 | - |" in md
    assert "### Cases not passing" in md
    assert "- FAILED `mini::missing` (`rag-answer@2`): contains-any ['1843']" in md


def test_two_prompt_versions_make_parametrised_ids(pytester):
    write_suite(pytester)
    result = run(pytester, "--collect-only", "-q", "--promptkit-prompt", "rag-answer@1",
                 "--promptkit-prompt", "rag-answer@2")
    ids = [line for line in result.outlines if "::" in line]
    assert ids[:2] == ["suites/mini.yaml::found[rag-answer@1]",
                       "suites/mini.yaml::missing[rag-answer@1]"]
    assert ids[-2:] == ["suites/mini.yaml::gate[rag-answer@1]",
                        "suites/mini.yaml::gate[rag-answer@2]"]


def test_a_failing_case_reports_each_assertion_and_the_output(pytester):
    write_suite(pytester)
    result = run(pytester, "--promptkit-mode", "off")
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "case 'missing' with rag-answer@2 on fake:echo (off mode)" in out
    assert "FAIL  contains-any ['1843']: none found" in out
    assert "PASS  length <= 5000 chars" in out
    assert "  | [1] (context 1) It was long ago." in out          # the output judged
    assert "Traceback" not in out
    # The summary table ends the run.
    assert "suite  prompt        mode  cases  passed  failed" in out
    assert "mini   rag-answer@2  off   2      1       1" in out


def test_a_malformed_suite_is_a_collection_error_naming_file_case_and_field(pytester):
    write_suite(pytester, SUITE.replace("type: contains-any", "type: contains_any"))
    result = run(pytester, "--promptkit-mode", "off")
    assert result.ret == 2   # interrupted by a collection error: a user mistake
    out = result.stdout.str()
    assert "mini.yaml:17: field 'cases[1].assert[0].type': case 'missing':" in out
    assert "unknown assertion type 'contains_any' (did you mean 'contains-any'?)" in out
    assert "Traceback" not in out


def test_an_unexpected_error_in_one_suite_is_that_suite_s_error_not_internal(pytester,
                                                                             monkeypatch):
    # Whatever a suite file can still do to the loader that is not a promptkit error must be
    # reported as that file's collection error (pytest 9's Collector.repr_failure takes no
    # `style`: passing one made it an INTERNALERROR, exit 3).
    import promptkit.testing.suite as suite_mod

    real = suite_mod.load_suite

    def load(path):
        if path.name == "broken.yaml":
            raise RuntimeError("the loader tripped on broken.yaml")
        return real(path)

    monkeypatch.setattr(suite_mod, "load_suite", load)
    write_suite(pytester)
    write_suite(pytester, name="broken.yaml")
    result = run(pytester, "--promptkit-mode", "off")
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    assert result.ret == pytest.ExitCode.INTERRUPTED   # 2: a collection error, as for bad YAML
    assert "ERROR collecting suites/broken.yaml" in out
    assert "the loader tripped on broken.yaml" in out


def test_replay_miss_fails_the_case_and_says_how_to_record(pytester):
    write_suite(pytester)
    result = run(pytester, "--promptkit-mode", "replay")
    result.assert_outcomes(failed=2, skipped=1)   # the gate has nothing to compare
    out = result.stdout.str()
    assert "replay mode: case 'found' (answer, prompt rag-answer@2)" in out
    assert "promptkit test suites/mini.yaml --mode record" in out


def test_record_then_replay(pytester):
    write_suite(pytester)
    record = run(pytester, "--promptkit-mode", "record")
    record.assert_outcomes(passed=2, failed=1)
    lines = (pytester.path / "recordings" / "mini.jsonl").read_text().splitlines()
    assert [json.loads(x)["case"] for x in lines] == ["found", "missing"]
    replay = run(pytester, "--promptkit-mode", "replay", "--promptkit-report", "report.json")
    replay.assert_outcomes(passed=2, failed=1)
    report = json.loads((pytester.path / "report.json").read_text())
    cases = {c["case_id"]: c for c in report[0]["cases"]}
    assert cases["found"]["status"] == "passed" and cases["missing"]["score"] == 0.5


def test_the_mode_also_comes_from_the_environment(pytester, monkeypatch):
    write_suite(pytester)
    monkeypatch.delenv("PROMPTKIT_SUITE_MODE", raising=False)
    monkeypatch.delenv("CI", raising=False)        # under CI suites replay whatever it says
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "replay")
    assert "replay mode" in run(pytester).stdout.str()
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "sideways")
    result = run(pytester)
    out = result.stdout.str()
    assert result.ret == 2 and "PROMPTKIT_CACHE_MODE 'sideways' is not one of" in out
    # The old variable still works for a release, and says what replaces it.
    monkeypatch.delenv("PROMPTKIT_CACHE_MODE")
    monkeypatch.setenv("PROMPTKIT_SUITE_MODE", "replay")
    old = run(pytester).stdout.str()
    assert "replay mode" in old and "PROMPTKIT_SUITE_MODE is deprecated" in old


FLAKY = """\
name: coin
prompts: [rag-answer@2]
model: fake:function
params: {temperature: 0.9}
cases:
  - id: capital
    question: What is the capital?
    context: ["The capital is Paris."]
    answers: [Paris]
    assert: [{type: contains-any}]
  - id: capital-critical
    question: What is the capital, really?
    context: ["The capital is Paris."]
    answers: [Paris]
    critical: true
    assert: [{type: contains-any}]
  - id: steady
    question: Say hello.
    context: ["Hello."]
    answers: [Paris]
    assert: [{type: contains-any}]
"""


def alternating():
    """A sampled model that says Paris on even calls and Lyon on odd ones."""
    calls = []

    def reply(messages, params):
        calls.append(1)
        return "Paris [1]" if len(calls) % 2 else "Lyon [1]"
    return FunctionChatModel(reply, spec="fake:function")


def test_cases_that_disagree_across_repeats_are_flaky(pytester):
    path = write_suite(pytester, FLAKY, "coin.yaml")
    runner = SuiteRunner(load_suite(path), mode="record", repeats=2, model=alternating())
    results = {c: runner.run_case(c, "rag-answer@2") for c in ("capital", "capital-critical")}
    runner.close()
    assert results["capital"].flaky and results["capital"].status == "flaky"
    assert results["capital"].score == 0.5
    # The recorded answers replay per repeat, so the flakiness shows up offline too.
    result = run(pytester, "--promptkit-mode", "replay", "--promptkit-repeats", "2",
                 "-k", "capital")
    out = result.stdout.str()
    # Non-critical: reported FLAKY, apart from pass/fail; critical: a flaky case fails.
    assert result.parseoutcomes() == {"failed": 1, "flaky": 1, "deselected": 2}
    assert "coin::capital-critical" in out and "passed 1/2 repeats (flaky)" in out
    assert "repeat 2/2: 1 of 1 assertion(s) failed" in out and "| Lyon [1]" in out
    assert "coin   rag-answer@2  replay  2/3    0       0       2" in out


def test_the_replay_fixture_records_and_replays_for_hand_written_tests(pytester):
    pytester.makepyfile(test_hand="""
        def test_answer(promptkit_replay):
            model = promptkit_replay.model("fake:Paris")
            gen = model.generate([{"role": "user", "content": "Capital of France?"}])
            assert gen.text == "Paris"
            assert gen.cached == (promptkit_replay.mode == "replay")

        def test_a_model_of_its_own(promptkit_replay):
            from promptkit.testing import FakeChatModel

            model = promptkit_replay.attach(FakeChatModel(["Rome"]))
            gen = model.generate([{"role": "user", "content": "Capital of Italy?"}])
            assert gen.text == "Rome"
            assert gen.cached == (promptkit_replay.mode == "replay")
    """)
    missing = run(pytester, "--promptkit-mode", "replay")
    missing.assert_outcomes(failed=2)
    assert "pytest 'test_hand.py::test_answer' --promptkit-mode record" in missing.stdout.str()
    run(pytester, "--promptkit-mode", "record").assert_outcomes(passed=2)
    assert (pytester.path / "recordings" / "test_hand.jsonl").exists()
    run(pytester, "--promptkit-mode", "replay").assert_outcomes(passed=2)


def test_a_prompt_version_without_context_runs_closed_book(pytester):
    path = write_suite(pytester, SUITE.replace("prompts: [rag-answer@2]",
                                               "prompts: [closed-book@1]"))
    seen = []
    model = FunctionChatModel(lambda messages, params: seen.append(messages) or "Lovelace",
                              spec="fake:echo")
    runner = SuiteRunner(load_suite(path), mode="off", model=model)
    result = runner.run_case("found", "closed-book@1")
    assert result.status == "failed"          # answered right, but with nothing to cite
    assert [o.passed for o in result.runs[0].outcomes] == [True, False]
    assert "Ada Lovelace wrote" not in str(seen[0])   # the case's passages were not shown
