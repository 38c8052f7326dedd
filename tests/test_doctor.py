"""`promptkit doctor`: healthy exits 0, each problem exits 1 and says what to fix."""

from __future__ import annotations

import json

from promptkit.cli import run
from tests.fixtures_llm import free_port


def doctor(capsys, *args) -> tuple[int, dict]:
    capsys.readouterr()
    code = run(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def by_name(report: dict) -> dict:
    return {c["name"]: c for c in report["checks"]}


def test_a_usable_setup_is_healthy(capsys, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_MODEL", "fake:echo")
    monkeypatch.delenv("PROMPTKIT_CHROMA_URL", raising=False)
    code, report = doctor(capsys, "--embedder", "fake")
    checks = by_name(report)
    assert code == 0 and report["healthy"]
    assert {"python", "model", "embedder", "threads", "store"} <= set(checks)
    assert checks["model"]["status"] == "ok" and "fake:echo" in checks["model"]["detail"]
    assert "OMP_WAIT_POLICY" in checks["threads"]["detail"]
    assert "chroma" not in checks          # no server configured: none contacted


def test_problems_exit_1_with_the_fix(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTKIT_CHROMA_URL", f"http://127.0.0.1:{free_port()}")
    code, report = doctor(capsys, "--model", f"llamacpp:{tmp_path / 'missing.gguf'}",
                          "--embedder", str(tmp_path / "no-model-here"))
    checks = by_name(report)
    assert code == 1 and not report["healthy"]
    assert checks["chroma"]["status"] == "fail" and "chroma run" in checks["chroma"]["fix"]
    assert checks["model"]["status"] == "fail"
    assert checks["embedder"]["status"] == "fail"


def test_bad_thread_settings_are_flagged_not_fatal(capsys, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_MODEL", "fake:echo")
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    code, report = doctor(capsys, "--embedder", "fake")
    threads = by_name(report)["threads"]
    assert code == 0 and threads["status"] == "warn" and "OMP_NUM_THREADS" in threads["fix"]


def test_text_output_lists_what_to_fix(capsys, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_MODEL", "ollama:nope")
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")
    capsys.readouterr()
    code = run(["doctor", "--embedder", "fake"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  model" in out and "To fix:" in out and "ollama serve" in out
