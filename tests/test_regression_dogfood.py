"""The project's own regression suite, run as CI runs it: replay mode, recorded answers.

eval/suites/demo.yaml goes through the real pipeline (prompt rendering, packing with the
model's own tokenizer, citation parsing); the passages and the answers come from
eval/recordings/demo.jsonl, so no model generates and no embedder or store is needed. The
second test shows the gate catching the planted regression (eval/suites/prompts/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "eval" / "suites" / "demo.yaml"


@pytest.fixture(scope="module")
def suite_home(tmp_path_factory):
    """A state folder for the runs, with llama.cpp imported first.

    Packing counts tokens with the model's tokenizer (llama.cpp loads the GGUF, ~0.5 s; it
    generates nothing). pytester's in-process runs drop modules first imported inside them,
    and a C extension cannot be imported twice in one process.
    """
    pytest.importorskip("llama_cpp", reason="replay counts tokens with the model's tokenizer")
    import promptkit.evaluation.stats  # noqa: F401
    import promptkit.llm.llamacpp  # noqa: F401  (its loaded model is then shared by the runs)
    import promptkit.pipeline  # noqa: F401

    return tmp_path_factory.mktemp("suite-home")


def replay(pytester, monkeypatch, home: Path, *args: str):
    monkeypatch.setenv("PROMPTKIT_HOME", str(home))
    monkeypatch.delenv("PROMPTKIT_SUITE_MODE", raising=False)
    monkeypatch.delenv("PROMPTKIT_CACHE_MODE", raising=False)
    return pytester.runpytest(str(SUITE), "--promptkit-mode", "replay", "-p", "no:cacheprovider",
                              "-W", "ignore::pytest.PytestAssertRewriteWarning", "-rx", *args)


@pytest.mark.slow
def test_the_demo_suite_passes_its_gate_in_replay_mode(pytester, monkeypatch, suite_home):
    result = replay(pytester, monkeypatch, suite_home)
    out = result.stdout.str()
    assert "replay mode: no recorded response" not in out   # every answer was recorded
    assert result.ret == 0, out
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] >= 10
    assert "demo   rag-answer@3  replay  41" in out
    assert "ok (no significant difference, p=1)" in out    # same answers as the baseline


def test_the_gate_catches_the_regressed_prompt(pytester, monkeypatch, suite_home):
    result = replay(pytester, monkeypatch, suite_home, "--promptkit-prompt",
                    "rag-answer-regressed@2")
    out = result.stdout.str()
    assert "replay mode: no recorded response" not in out
    assert result.ret == 1
    assert "gate failed for demo with rag-answer-regressed@2:" in out
    assert "suite pass rate dropped significantly against the baseline" in out
    assert "exact McNemar vs baseline rag-answer@3" in out


@pytest.mark.slow
def test_the_documented_side_by_side_command(tmp_path):
    """docs/tasks/ci.md's command, as written, in its own process: both versions replayed,
    the regressed one failing the paired gate."""
    import os
    import subprocess
    import sys

    pytest.importorskip("llama_cpp", reason="replay counts tokens with the model's tokenizer")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROMPTKIT_SUITE_MODE", "PROMPTKIT_CACHE_MODE")}
    env.update(PROMPTKIT_HOME=str(tmp_path), PYTEST_ADDOPTS="-p no:cacheprovider")
    done = subprocess.run(
        [sys.executable, "-m", "promptkit", "test", "eval/suites/demo.yaml", "--mode", "replay",
         "--prompt", "rag-answer@3", "--prompt", "rag-answer-regressed@2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "replay mode: no recorded response" not in out
    assert "ok (no significant difference, p=1)" in out
    assert "FAIL (worse, p=1.49e-08)" in out
    assert "rag-answer-regressed@2 is worse" in out


def test_the_documented_suite_run_folders(tmp_path):
    """docs/tasks/ci.md's `--run-dir` commands, as written but writing into a temporary
    folder: the suite's two prompt versions become run folders, `eval report` renders one as
    HTML and `eval compare` finds the gate's own verdict, per assertion type."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    pytest.importorskip("llama_cpp", reason="replay counts tokens with the model's tokenizer")
    page = (ROOT / "docs" / "tasks" / "ci.md").read_text(encoding="utf-8")
    block = page.split("### A suite run is an evaluation run", 1)[1]
    block = block.split("```bash", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    moved = {"runs/suites": str(tmp_path / "suites"), "suite.html": str(tmp_path / "s.html")}
    commands = []
    for line in block.strip().splitlines():
        for old, new in moved.items():
            line = line.replace(old, new)
        commands.append(shlex.split(line))
    assert [c[:3] for c in commands] == [["promptkit", "test", "eval/suites/demo.yaml"],
                                         ["promptkit", "eval", "report"],
                                         ["promptkit", "eval", "compare"]]
    env = {k: v for k, v in os.environ.items()
           if k not in ("PROMPTKIT_SUITE_MODE", "PROMPTKIT_CACHE_MODE")}
    env.update(PROMPTKIT_HOME=str(tmp_path / "home"), PYTEST_ADDOPTS="-p no:cacheprovider")
    outs = []
    for command in commands:
        done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        outs.append(done.stdout + done.stderr)
        assert done.returncode == (1 if command[1] == "test" else 0), outs[-1]
    assert "icontains-any" in (tmp_path / "s.html").read_text(encoding="utf-8")
    assert re.search(r"\| pass \| 0\.829 \| 0\.171 \|.*\| 1\.49e-08 \| \*\*worse\*\*",
                     outs[2]), outs[2]
    assert re.search(r"\| cites \| 0\.949 \| 0\.000 \|", outs[2]), outs[2]
