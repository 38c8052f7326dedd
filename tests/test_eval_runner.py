"""The eval runner: run folders, resume after failures and SIGKILL, concurrency, bad lines.

Unit tests of our own logic use a tiny scripted pipeline (no model); the real pipeline is
exercised in test_eval_e2e.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from promptkit.errors import BackendError, BackendUnavailable, ConfigError
from promptkit.evaluation.config import config_from_dict
from promptkit.evaluation.rundir import RunDir
from promptkit.evaluation.runner import run_eval

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ScriptedAnswer:
    text: str
    trace: dict
    citations: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "trace": self.trace}


class ScriptedPipeline:
    """Answers "answer to <question>" (or what `replies` says); can fail after N calls."""

    def __init__(self, replies: dict | None = None, *, delay: float = 0.0,
                 fail_after: int | None = None):
        self.replies, self.delay, self.fail_after = replies or {}, delay, fail_after
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def ask(self, question: str, *, contexts=None):
        with self._lock:
            self.calls.append(question)
            n = len(self.calls)
        if self.fail_after is not None and n > self.fail_after:
            raise BackendUnavailable("model server at 127.0.0.1:9 went away", backend="fake")
        time.sleep(self.delay)
        ids = [c["id"] for c in contexts] if contexts else ["d1", "d2"]
        trace = {"prompt": {"name": "rag-answer", "version": 1, "hash": "h1"},
                 "retrieved": [{"id": i, "text": f"text of {i}", "score": 0.5} for i in ids],
                 # the same shape as the real pipeline's trace
                 "latency": {"total_s": 0.01},
                 "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
        return ScriptedAnswer(self.replies.get(question, f"answer to {question}"), trace)


def write_dataset(path: Path, n: int, extra_lines: tuple[str, ...] = ()) -> Path:
    lines = [json.dumps({"id": f"c{i:03d}", "question": f"q{i}",
                         "answers": [f"answer to q{i}" if i % 3 else "something else"],
                         "gold_ids": ["d1"] if i % 2 else ["zz"]}) for i in range(n)]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", encoding="utf-8")
    return path


def make_config(dataset: Path, **over):
    data = {"name": "t", "dataset": {"path": str(dataset)},
            "metrics": ["exact_match", "token_f1", "hit@1"], **over}
    return config_from_dict(data)


def case_counts(run_dir: Path) -> Counter:
    return Counter((r["id"], r["repeat"]) for r in RunDir(run_dir).records())


def test_a_run_writes_config_manifest_cases_and_summary(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 6)
    seen = []
    result = run_eval(make_config(ds, repeats=2), run_dir=tmp_path / "run",
                      pipeline=ScriptedPipeline(), progress=lambda d, t: seen.append((d, t)))
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "manifest.json", "cases.jsonl",
                                               "summary.json"}
    assert seen[0] == (0, 12) and seen[-1] == (12, 12) and len(seen) == 13
    assert case_counts(run) == Counter({(f"c{i:03d}", r): 1 for i in range(6) for r in range(2)})
    rec = json.loads((run / "cases.jsonl").read_text().splitlines()[0])
    assert rec["answer"] == "answer to q0" and rec["trace"]["prompt"]["hash"] == "h1"
    assert rec["scores"]["exact_match"] == {"value": 0.0, "outcome": "ok", "detail": {}}

    summary = json.loads((run / "summary.json").read_text())
    em = summary["metrics"]["exact_match"]
    assert em["mean"] == pytest.approx(4 / 6) and em["ci_low"] <= em["mean"] <= em["ci_high"]
    assert em["outcomes"] == {"ok": 12, "unparsable": 0, "error": 0}
    assert em["self_agreement"] == 1.0
    assert summary["metrics"]["hit@1"]["mean"] == pytest.approx(0.5)
    assert summary["complete"] and summary["metric_info"]["exact_match"]["binary"] is True

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["prompts"] == {"rag-answer@1": "h1"}
    assert manifest["dataset"]["content_hash"] and manifest["model"] == "llamacpp:smollm2-135m"
    assert result.run_id == "run" and result.ran == 12 and result.resumed == 0


def test_new_runs_go_under_promptkit_runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_RUNS_DIR", str(tmp_path / "runs"))
    ds = write_dataset(tmp_path / "qa.jsonl", 2)
    result = run_eval(make_config(ds), pipeline=ScriptedPipeline())
    assert result.run_dir.parent == tmp_path / "runs" and result.run_id.endswith(
        "-t-" + make_config(ds).fingerprint()[:6])


def test_backend_dying_keeps_finished_cases_and_the_run_resumes(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 10)
    cfg = make_config(ds)
    with pytest.raises(BackendError) as err:
        run_eval(cfg, run_dir=tmp_path / "run", pipeline=ScriptedPipeline(fail_after=4))
    assert "4 of 10 case runs are saved" in err.value.hint
    assert f"run_dir={str(tmp_path / 'run')!r}" in err.value.hint
    assert len(case_counts(tmp_path / "run")) == 4
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "failed"
    assert not (tmp_path / "run" / "summary.json").exists()

    again = ScriptedPipeline()
    result = run_eval(cfg, run_dir=tmp_path / "run", pipeline=again)
    assert len(again.calls) == 6 and result.resumed == 4 and result.ran == 6
    assert set(case_counts(tmp_path / "run").values()) == {1}
    assert len(case_counts(tmp_path / "run")) == 10 and result.summary["complete"]


def test_concurrent_failure_writes_every_finished_case_once(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 30)
    cfg = make_config(ds, concurrency=4)
    with pytest.raises(BackendError):
        run_eval(cfg, run_dir=tmp_path / "run", pipeline=ScriptedPipeline(delay=0.01, fail_after=9))
    first = case_counts(tmp_path / "run")
    assert set(first.values()) == {1} and len(first) <= 9
    run_eval(cfg, run_dir=tmp_path / "run", pipeline=ScriptedPipeline(delay=0.001))
    assert case_counts(tmp_path / "run") == Counter({(f"c{i:03d}", 0): 1 for i in range(30)})


def test_concurrency_gives_the_same_results_as_sequential(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 20)
    seq = run_eval(make_config(ds), run_dir=tmp_path / "a", pipeline=ScriptedPipeline())
    par = run_eval(make_config(ds), run_dir=tmp_path / "b", concurrency=8,
                   pipeline=ScriptedPipeline(delay=0.005))
    strip = [{k: r[k] for k in ("id", "repeat", "answer", "scores")} for r in seq.records]
    assert strip == [{k: r[k] for k in ("id", "repeat", "answer", "scores")} for r in par.records]
    assert seq.summary["metrics"] == par.summary["metrics"]


def test_torn_last_line_is_dropped_and_that_case_redone(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 5)
    cfg = make_config(ds)
    with pytest.raises(BackendError):
        run_eval(cfg, run_dir=tmp_path / "run", pipeline=ScriptedPipeline(fail_after=3))
    cases = tmp_path / "run" / "cases.jsonl"
    full = cases.read_bytes()
    torn = json.dumps({"id": "c003", "repeat": 0, "answer": "half"}).encode()[:25]
    cases.write_bytes(full + torn)  # what a kill in the middle of a write leaves
    assert len(list(RunDir(tmp_path / "run").records())) == 3
    again = ScriptedPipeline()
    run_eval(cfg, run_dir=tmp_path / "run", pipeline=again)
    assert again.calls == ["q3", "q4"]
    assert case_counts(tmp_path / "run") == Counter({(f"c{i:03d}", 0): 1 for i in range(5)})
    assert all(line.startswith(b"{") for line in cases.read_bytes().splitlines())


def test_resume_refuses_different_settings_or_changed_data(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 3)
    run_eval(make_config(ds), run_dir=tmp_path / "run", pipeline=ScriptedPipeline())
    with pytest.raises(ConfigError, match="different settings"):
        run_eval(make_config(ds, repeats=3), run_dir=tmp_path / "run", pipeline=ScriptedPipeline())
    write_dataset(ds, 4)
    with pytest.raises(ConfigError, match="dataset changed"):
        run_eval(make_config(ds), run_dir=tmp_path / "run", pipeline=ScriptedPipeline())


def test_a_finished_run_rerun_calls_nothing(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 3)
    run_eval(make_config(ds), run_dir=tmp_path / "run", pipeline=ScriptedPipeline())
    again = ScriptedPipeline()
    result = run_eval(make_config(ds), run_dir=tmp_path / "run", pipeline=again)
    assert again.calls == [] and result.ran == 0 and result.summary["complete"]


def test_bad_lines_are_skipped_visibly_or_stop_before_any_model_call(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 4, ('{"id": "x1", "question": ',
                                                  json.dumps({"id": "x2", "answers": []})))
    notes = []
    result = run_eval(make_config(ds), run_dir=tmp_path / "skip", pipeline=ScriptedPipeline(),
                      notify=notes.append)
    assert len(result.records) == 4 and len(result.bad_records) == 2
    assert "line 5" in result.summary["bad_records"][0]
    assert "skipping 2 bad dataset record(s)" in notes[0] and "line 6" in notes[0]

    untouched = ScriptedPipeline()
    with pytest.raises(ConfigError) as err:
        run_eval(make_config(ds), run_dir=tmp_path / "stop", on_bad_lines="stop",
                 pipeline=untouched)
    assert untouched.calls == [] and "line 5" in err.value.message
    assert not (tmp_path / "stop").exists()


def test_limit_extends_a_run_without_redoing_cases(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 6)
    run_eval(make_config(ds), run_dir=tmp_path / "run", limit=2, pipeline=ScriptedPipeline())
    more = ScriptedPipeline()
    result = run_eval(make_config(ds), run_dir=tmp_path / "run", limit=5, pipeline=more)
    assert more.calls == ["q2", "q3", "q4"] and len(result.records) == 5


def test_unknown_metric_is_a_config_error_before_any_call(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 2)
    p = ScriptedPipeline()
    with pytest.raises(ConfigError) as err:
        run_eval(make_config(ds, metrics=["token_f2"]), run_dir=tmp_path / "run", pipeline=p)
    assert err.value.field == "metrics.0" and "token_f1" in str(err.value) and p.calls == []


# ------------------------------------------------------------------ SIGKILL, for real

# The child runs the real Pipeline with a fake model that takes 20 ms per answer.
_CHILD = """
import sys
from pathlib import Path
from tests.test_eval_pipeline import pipeline
from tests.test_eval_runner import make_config
from promptkit.evaluation.runner import run_eval
cfg = make_config(Path(sys.argv[1]), concurrency=int(sys.argv[3]))
run_eval(cfg, run_dir=sys.argv[2], pipeline=pipeline(delay=0.02))
"""


@pytest.mark.parametrize("concurrency", [1, 3])
def test_sigkill_mid_run_then_resume_finishes_every_case_exactly_once(tmp_path, concurrency):
    from tests.test_eval_pipeline import pipeline

    n = 60
    ds = write_dataset(tmp_path / "qa.jsonl", n)
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(ds), str(run), str(concurrency)],
                             cwd=PROJECT_ROOT, stderr=subprocess.PIPE)
    cases = run / "cases.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if cases.is_file() and cases.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.005)
    assert child.poll() is None, child.stderr.read().decode()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    saved = case_counts(run)
    assert 8 <= len(saved) < n and set(saved.values()) == {1}

    again = pipeline()
    result = run_eval(make_config(ds), run_dir=run, pipeline=again)
    assert len(again.model.calls) == n - len(saved)
    assert case_counts(run) == Counter({(f"c{i:03d}", 0): 1 for i in range(n)})
    assert result.summary["complete"] and result.summary["records"] == n


def test_llm_judge_from_config_strings_counts_unparsable_verdicts(tmp_path):
    ds = write_dataset(tmp_path / "qa.jsonl", 3)
    good = 'fake:{"score": 5, "verdict": "pass", "reason": "matches"}'
    cfg = make_config(ds, repeats=2, metrics=[
        {"name": "llm_judge", "options": {"name": "correct", "judge": good,
                                          "rubric": "judge-correctness@1"}},
        {"name": "llm_judge", "options": {"name": "garbled", "judge": "fake:no verdict here",
                                          "rubric": "judge-correctness@1", "scale": [1, 5]}}])
    result = run_eval(cfg, run_dir=tmp_path / "run", pipeline=ScriptedPipeline())
    correct, garbled = result.summary["metrics"]["correct"], result.summary["metrics"]["garbled"]
    assert correct["mean"] == 1.0 and correct["outcomes"]["ok"] == 6
    assert correct["self_agreement"] == 1.0
    assert garbled["mean"] is None and garbled["outcomes"] == {"ok": 0, "unparsable": 6, "error": 0}
    detail = result.records[0]["scores"]["correct"]["detail"]
    assert detail["rubric"].startswith("judge-correctness@1#")


def test_a_whole_run_write_replaces_its_own_kind_only(tmp_path, monkeypatch):
    """`RunDir.write_whole`: a folder of the same kind is replaced, a file, another kind of run,
    an experiment or other files are refused before anything is touched; `.` names its folder."""
    from promptkit.errors import UserError
    from promptkit.evaluation.rundir import RunDir

    def write(folder: RunDir, n: int, kind: str = "retrieval") -> None:
        folder.write_whole([{"id": f"q{i}", "repeat": 0, "scores": {}} for i in range(n)],
                           kind=kind, fingerprint="f", config={}, summary={"cases": n},
                           manifest=lambda public: {"name": "t"})

    run = RunDir(tmp_path / "r")
    write(run, 3)
    write(run, 2)                                            # replaced, not appended
    assert [r["id"] for r in run.records()] == ["q0", "q1"]
    assert run.manifest()["kind"] == "retrieval" and run.manifest()["status"] == "complete"
    with pytest.raises(UserError, match="holds a retrieval run"):
        write(run, 1, kind="suite")
    assert len(list(run.records())) == 2
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "experiment.json").write_text("{}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("x")
    for where, says in (("exp", "holds an experiment"), ("other", "holds other files"),
                        ("afile", "is a file")):
        with pytest.raises(UserError, match=says):
            write(RunDir(tmp_path / where), 1)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    monkeypatch.chdir(tmp_path / "r")
    assert RunDir(".").id == "r"
