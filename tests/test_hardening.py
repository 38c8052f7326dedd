"""Defects a hostile test found (issue 15) that need more than one command line to show:
several processes, secrets, locks, special files, documented examples. The one-line bad inputs are
in test_hostile.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from promptkit.cli import run
from promptkit.errors import UserError
from tests.suite_text import one_case_suite

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS = PROJECT_ROOT / "docs"


def _doc(page: str) -> str:
    """A page of the documentation (the README's sections moved to docs/)."""
    return (DOCS / page).read_text(encoding="utf-8")


def _env() -> dict:
    """The environment of a child process: this checkout first on the path, same HOME."""
    path = os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def _write_dataset(path: Path, n: int = 2) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Question {i}?",
                                        "answers": [f"answer {i}"]}) + "\n" for i in range(n)))
    return path


def _write_config(path: Path, dataset: Path, **pipeline) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "dataset": {"path": str(dataset)},
                                    "pipeline": pipeline, "metrics": ["token_f1"]}))
    return path


# ---- 1. a long-running reader and a CLI ingest in another process -------------------------

def test_reader_process_sees_what_another_process_ingested(tmp_path, monkeypatch):
    from promptkit.store import open_collection

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "ada.txt").write_text("Ada Lovelace wrote the first program for the engine.")
    (second / "zebra.txt").write_text("Zebras graze on the savanna in striped herds.")
    coll = open_collection("shared", embedder="fake")
    coll.ingest([first])
    for mode in ({}, {"exact": True}, {"hybrid": True}):   # the index is loaded in this process
        assert coll.search("program", k=5, **mode)[0].source.endswith("ada.txt")

    # A second, real process ingests into the same embedded store.
    done = subprocess.run([sys.executable, "-m", "promptkit", "ingest", str(second),
                           "-c", "shared"], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    for mode in ({}, {"exact": True}, {"hybrid": True}, {"mmr": True}):
        hits = coll.search("zebras savanna striped", k=5, **mode)
        assert hits and hits[0].source.endswith("zebra.txt"), mode
    assert open_collection("shared").search("zebras", k=5)[0].source.endswith("zebra.txt")
    assert coll.info()["chunks"] == 2


def test_a_read_broken_by_another_process_mid_write_is_retried_then_explained():
    from chromadb.errors import InternalError

    from promptkit.store.client import resolve
    from promptkit.store.freshness import StaleStoreError, retry_if_stale

    location = resolve()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise InternalError("Error executing plan: Internal error: Error finding id")
        return "fresh"

    assert retry_if_stale(location, "c", flaky) == "fresh" and len(calls) == 2

    def broken():
        raise InternalError("Error executing plan: Internal error: Error finding id")

    with pytest.raises(StaleStoreError, match="being changed by another process") as err:
        retry_if_stale(location, "c", broken)
    assert "Chroma server" in err.value.hint and "--chroma-url" in err.value.hint


# ---- 2. credentials in a model URL ------------------------------------------------------------

def test_credentials_in_a_model_url_stay_out_of_run_folders(tmp_path, fault_server):
    server = fault_server(("ok", "Ada Lovelace"))
    base = server.url.replace("http://", "http://alice:s3cret-pw@") + "?api_key=k3y-in-query"
    dataset = _write_dataset(tmp_path / "qa.jsonl")
    config = _write_config(tmp_path / "secret.yaml", dataset, mode="closed-book",
                           prompt="closed-book@production", model=f"openai:m@{base}")
    folder = tmp_path / "run"
    assert run(["eval", "run", str(config), "--run-dir", str(folder), "--json"]) == 0
    for file in sorted(folder.iterdir()):
        if file.is_file():
            text = file.read_text(errors="replace")
            assert "s3cret-pw" not in text and "k3y-in-query" not in text, file.name
            assert "alice" not in text, file.name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == f"openai:m@{server.url}"
    # The query string goes with each request, not into the middle of its path.
    assert server.paths and all(p == "/v1/chat/completions?api_key=k3y-in-query"
                                for p in server.paths), server.paths


def test_credentials_in_a_model_url_stay_out_of_suite_baselines(tmp_path, fault_server):
    from promptkit.testing.baseline import make_baseline, write_baseline
    from promptkit.testing.suite import load_suite
    from promptkit.testing.suite_runner import SuiteRunner

    server = fault_server(("ok", "Ada Lovelace"))
    secret_url = server.url.replace("http://", "http://bob:pa55word@")
    suite_file = tmp_path / "suites" / "s.yaml"
    suite_file.parent.mkdir()
    suite_file.write_text(one_case_suite("s", model=f"openai:m@{secret_url}?token=t0ken"))
    runner = SuiteRunner(load_suite(suite_file), mode="off")
    result = runner.run_case("ok", "rag-answer@2")
    assert result.passed, result.report()
    path = tmp_path / "baselines" / "s.json"
    write_baseline(path, make_baseline([result], repeats=1))
    text = path.read_text()
    assert "pa55word" not in text and "t0ken" not in text and "bob" not in text
    assert json.loads(text)["model"] == f"openai:m@{server.url}"


def test_public_spec_strips_userinfo_and_secret_query_parameters():
    from promptkit.llm.redact import public_data, public_spec

    spec = "openai:gpt@https://u:p@gw.example:8443/v1?api-key=a&x-api-key=b&sig=c&region=eu"
    assert public_spec(spec) == "openai:gpt@https://gw.example:8443/v1?region=eu"
    assert public_spec("llamacpp:smollm2-135m") == "llamacpp:smollm2-135m"
    assert public_data({"m": [spec], "n": 3}) == {"m": [public_spec(spec)], "n": 3}


# ---- 3. one writer per run folder -------------------------------------------------------------

_SLOW_RUN = textwrap.dedent("""
    import sys, time
    from types import SimpleNamespace
    from promptkit.evaluation.runner import run_eval

    class Slow:
        def ask(self, question, *, contexts=None):
            print("asking", flush=True)
            time.sleep(1.0)
            return SimpleNamespace(text="answer 0", trace={}, citations=[])

    run_eval(sys.argv[1], sys.argv[2], pipeline=Slow())
    print("done", flush=True)
""")


def test_a_second_eval_run_on_a_busy_run_folder_exits_2_naming_the_holder(tmp_path, capsys):
    dataset = _write_dataset(tmp_path / "qa.jsonl", n=3)
    config = _write_config(tmp_path / "c.yaml", dataset, mode="closed-book",
                           prompt="closed-book@production", model="fake:echo")
    folder = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", _SLOW_RUN, str(config), str(folder)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=tmp_path, env=_env())
    try:
        assert first.stdout.readline().strip() == "asking"   # it holds the folder now
        assert run(["eval", "run", str(config), "--run-dir", str(folder)]) == 2
        err = capsys.readouterr().err
        assert f"run folder {folder} is being written by another process (pid {first.pid}" in err
        assert "another --run-dir" in err
    finally:
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and "done" in out, out
    lines = (folder / "cases.jsonl").read_text().splitlines()
    pairs = [(json.loads(line)["id"], json.loads(line)["repeat"]) for line in lines]
    assert len(pairs) == len(set(pairs)) == 3   # each (case, repeat) exactly once

    # The lock dies with its holder: after a SIGKILL the folder is usable at once.
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from promptkit.evaluation.rundir import RunDir
        with RunDir({str(folder)!r}).lock():
            print("held", flush=True)
            input()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=_env())
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert run(["eval", "run", str(config), "--run-dir", str(folder)]) == 0


# ---- 5. the ingest lock: one store, however it is reached ------------------------------------

def test_ingest_lock_holds_through_a_symlink_and_a_relative_home(tmp_path, monkeypatch,
                                                                 small_corpus):
    from promptkit.store import open_collection
    from promptkit.store.client import resolve
    from promptkit.store.lock import CollectionBusy, writer_lock

    real = tmp_path / "home"
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    monkeypatch.setenv("PROMPTKIT_HOME", str(real))
    open_collection("docs", embedder="fake")
    with writer_lock(resolve(), "docs"):
        monkeypatch.chdir(tmp_path)
        for home in ("link", str(tmp_path / "link"), "home"):
            monkeypatch.setenv("PROMPTKIT_HOME", home)
            with pytest.raises(CollectionBusy, match=f"pid {os.getpid()}"):
                open_collection("docs").ingest([small_corpus])


def test_ingest_lock_for_a_server_is_one_per_url_whatever_the_home(tmp_path, monkeypatch):
    from promptkit.store.client import Location
    from promptkit.store.lock import lock_path

    paths = set()
    for home, url in (("a", "http://127.0.0.1:8000"), ("b", "HTTP://127.0.0.1:8000/"),
                      ("c", "http://127.0.0.1")):
        monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / home))
        paths.add(lock_path(Location(url, None), "docs"))
    assert len(paths) == 1
    section = _doc("tasks/scale-out.md").split("## A Chroma server")[1].split("\n## ")[0]
    assert "one ingest per collection" in section


# ---- 6. special files --------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_in_a_folder_is_skipped_with_a_reason_not_read(small_corpus):
    from promptkit.corpus import list_files
    from promptkit.store import open_collection

    os.mkfifo(small_corpus / "pipe.txt")
    listing = list_files([small_corpus])
    assert small_corpus / "pipe.txt" not in listing.files
    assert [s.reason for s in listing.skipped if s.path.endswith("pipe.txt")] == [
        "a named pipe (FIFO), not a regular file: skipped without reading it"]
    # Reading the pipe would block forever; the alarm turns that into a failure.
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("hung")))
    signal.alarm(60)
    try:
        report = open_collection("fifo", embedder="fake").ingest([small_corpus])
    finally:
        signal.alarm(0)
    assert report.added == 3 and any("named pipe" in s.reason for s in report.skipped)


# ---- 7. documented examples ------------------------------------------------------------------

def _doc_yaml(page: str, after: str) -> dict:
    block = _doc(page).split(after, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.load(block, Loader=yaml.SafeLoader)


def test_the_documented_config_examples_validate_as_written():
    from promptkit.evaluation.config import config_from_dict
    from promptkit.experiments.config import experiment_from_dict

    eval_example = _doc_yaml("tasks/evaluate.md", "## 2. A config")
    assert eval_example["cache_mode"] is False         # YAML reads `off` as a boolean
    assert config_from_dict(eval_example).cache_mode == "off"
    experiment = _doc_yaml("tasks/experiments.md", "## Config file")
    assert experiment_from_dict(experiment).kind == experiment["kind"]
    for value in (False, "off"):
        assert experiment_from_dict({**experiment, "cache_mode": value}).cache_mode == "off"


# ---- 8. closed-book config without a prompt --------------------------------------------------

def test_a_closed_book_config_without_a_prompt_uses_closed_book(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_RUNS_DIR", str(tmp_path / "runs"))
    config = _write_config(tmp_path / "cb.yaml", _write_dataset(tmp_path / "qa.jsonl"),
                           mode="closed-book", model="fake:echo")
    assert run(["eval", "run", str(config), "--json"]) == 0
    (folder,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["prompt_ref"] == "closed-book@production"
    assert list(manifest["prompts"]) == ["closed-book@2"]
    assert manifest["status"] == "complete"


# ---- 10. numbers in the library, not only on the command line -------------------------------

def test_max_tokens_below_one_is_refused_for_every_backend():
    from promptkit.llm.base import GenParams
    from promptkit.pipeline import Pipeline

    for bad in (0, -5):
        with pytest.raises(UserError, match="max_tokens must be"):
            GenParams(max_tokens=bad)
        with pytest.raises(UserError, match="max_tokens must be"):
            Pipeline(model="fake:echo", mode="closed-book", max_tokens=bad)
    with pytest.raises(UserError, match="min_score must be a number"):
        Pipeline(model="fake:echo", min_score=float("nan"))


# ---- 11. which YAML files are suites -----------------------------------------------------------

def test_the_suite_file_rule_is_documented():
    from promptkit.testing.plugin import SUITE_RULE

    section = _doc("tasks/ci.md").split("## Which files are suites", 1)[1].split("\n## ", 1)[0]
    assert "*.suite.yaml" in section and "promptkit_suites" in section
    assert "*.suite.yaml" in SUITE_RULE and "promptkit_suites" in SUITE_RULE


# ---- also decided: duplicates, reused JSONL ids, large files --------------------------------

def test_search_can_keep_one_hit_per_distinct_text(tmp_path):
    from promptkit.store import open_collection

    root = tmp_path / "dupes"
    root.mkdir()
    for name in ("a.txt", "copy-of-a.txt", "another-copy.txt"):
        (root / name).write_text("The Analytical Engine was designed by Charles Babbage.")
    (root / "other.txt").write_text("Ada Lovelace wrote programs for the engine.")
    coll = open_collection("dupes", embedder="fake")
    coll.ingest([root])
    plain = coll.search("Analytical Engine Babbage", k=2)
    assert plain[0].text == plain[1].text                       # one passage, two places
    unique = coll.search("Analytical Engine Babbage", k=2, dedupe=True)
    assert len({h.text for h in unique}) == 2 and unique[1].source.endswith("other.txt")
    assert [h.rank for h in unique] == [1, 2]


def test_a_jsonl_id_reused_for_different_text_is_noted(tmp_path):
    from promptkit.store import open_collection

    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"_id": "d1", "text": "first text"}, {"_id": "d1", "text": "first text"},
        {"_id": "d1", "text": "something else"}, {"_id": "d2", "text": "fine"}]))
    report = open_collection("ids", embedder="fake").ingest([path])
    assert report.added == 3    # the exact repeat is stored once; the different text is kept
    notes = [n for n in report.notes if "'d1'" in n]
    assert len(notes) == 1 and f"{path}:3: id 'd1' was already used on line 1" in notes[0]


def test_a_large_file_read_whole_gets_a_memory_note(tmp_path, monkeypatch):
    import promptkit.store.ingest as ingest_mod
    from promptkit.store import open_collection

    monkeypatch.setattr(ingest_mod, "LARGE_FILE_BYTES", 100)
    (tmp_path / "big.txt").write_text("Words about engines and programs. " * 10)
    report = open_collection("big", embedder="fake").ingest([tmp_path / "big.txt"])
    assert any(re.search(r"big\.txt: \d+ MB is read whole; memory peaks", n)
               for n in report.notes), report.notes


# ---- the prompts lock file is durable when replaced --------------------------------------------

def test_the_prompt_lock_file_is_fsynced_before_and_after_its_rename(tmp_path, monkeypatch):
    from promptkit.prompts import lock as lock_mod

    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(lock_mod.os, "fsync", lambda fd: (events.append("fsync"),
                                                          real_fsync(fd))[1])
    monkeypatch.setattr(lock_mod.os, "replace", lambda a, b: (events.append("rename"),
                                                              real_replace(a, b))[1])
    path = tmp_path / "prompts.lock"
    lock_mod.write_lock(path, {"a@1": "sha256:00"})
    assert events == ["fsync", "rename", "fsync"]   # the data, then the folder entry
    assert lock_mod.read_lock(path) == {"a@1": "sha256:00"}
    assert not list(tmp_path.glob("*.tmp"))
    assert time.time() - path.stat().st_mtime < 60


def test_locks_go_through_one_portable_helper():
    """No module locks with fcntl (POSIX only): every lock is promptkit.locking's filelock."""
    import ast

    package = Path(__file__).resolve().parent.parent / "promptkit"
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("fcntl", "msvcrt") for n in names):
                offenders.append(str(path.relative_to(package)))
    assert not offenders
