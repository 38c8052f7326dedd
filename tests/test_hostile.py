"""Bad input everywhere: every row is (command line, exit code, words the message must hold).

A new command joins the matrix by adding rows to ROWS. Placeholders in a row's argv (`<corpus>`,
`<run>`, ...) name things `World` builds on demand, each once per test, in the test's own
PROMPTKIT_HOME and tmp folder. A user mistake must end with exit code 2 and one clear message
on stderr: no traceback, no "unexpected error". Rows marked `own_process` run
`python -m promptkit` in a child process (needed where the command runs pytest itself).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from promptkit.cli import run
from tests.suite_text import one_case_suite

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATASET = [
    {"id": "q1", "question": "Who wrote the first program?", "answers": ["Ada Lovelace"]},
    {"id": "q2", "question": "What did Babbage design?", "answers": ["the Analytical Engine"]},
]


_PLACEHOLDER = re.compile(r"<([a-z_]+)>")


class World:
    """Files and state the rows refer to, built lazily by name (see BUILDERS)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.paths: dict[str, str] = {"tmp": str(tmp)}   # <tmp>: the test's tmp folder

    def need(self, name: str) -> str:
        if name not in self.paths:
            self.paths[name] = str(BUILDERS[name](self))
        return self.paths[name]

    def fill(self, argv: list[str]) -> list[str]:
        return [_PLACEHOLDER.sub(lambda m: self.need(m.group(1)), arg) for arg in argv]


def _corpus(w: World) -> Path:
    root = w.tmp / "corpus"
    root.mkdir()
    (root / "ada.txt").write_text("Ada Lovelace wrote the first program for the engine.")
    (root / "babbage.txt").write_text("Charles Babbage designed the Analytical Engine.")
    return root


def _collection(w: World) -> str:
    from promptkit.store import open_collection

    open_collection("docs", embedder="fake").ingest([w.need("corpus")])
    return "docs"


def _empty_collection() -> None:
    from promptkit.store import open_collection

    open_collection("empty", embedder="fake")


def _dataset(w: World) -> Path:
    path = w.tmp / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in DATASET))
    return path


def _config(w: World, name: str, pipeline: dict, dataset: str = "dataset") -> Path:
    path = w.tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "dataset": {"path": w.need(dataset)},
                                    "pipeline": pipeline,
                                    "metrics": ["token_f1", "contains_any"]}))
    return path


def _run(w: World) -> Path:
    """A finished run of the closed-book config (fake model, no collection)."""
    folder = w.tmp / "runs" / "r1"
    assert run(["eval", "run", w.need("closed_book_config"), "--run-dir", str(folder),
                "--json"]) == 0
    return folder


def _prompts(w: World) -> Path:
    root = w.tmp / "prompts"
    (root / "listkey").mkdir(parents=True)
    (root / "listkey" / "v1.yaml").write_text("[a, b]: 1\n")
    (root / "deep").mkdir()
    (root / "deep" / "v1.yaml").write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    return root


def _not_gguf(w: World) -> Path:
    path = w.tmp / "model.gguf"
    path.write_text("this is text, not a model\n")
    return path


def _suite(w: World, file: str, **fields) -> Path:
    path = w.tmp / "suites" / file
    path.parent.mkdir(exist_ok=True)
    path.write_text(one_case_suite(path.stem, **fields))
    return path


DEEP = "[" * 5000 + "]" * 5000   # deeper than Python's parsers follow


def _beir(w: World) -> Path:
    """A two-document, two-query BEIR folder."""
    root = w.tmp / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "text": "Ada wrote a program."}) + "\n"
        + json.dumps({"_id": "d2", "text": "Babbage designed an engine."}) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "Who wrote?"}) + "\n"
                                        + json.dumps({"_id": "q2", "text": "Engine?"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n"
                                             "q2\td2\t1\n")
    return root


def _beir_copy(w: World, name: str) -> Path:
    import shutil

    return Path(shutil.copytree(w.need("beir"), w.tmp / name))


def _run_untouched(w: World) -> None:
    """The evaluation run a retrieval benchmark was refused to overwrite is still the
    closed-book run, answers and all (both hold the ids q1 and q2)."""
    from promptkit.evaluation.rundir import RunDir

    folder = RunDir(w.tmp / "runs" / "r1")
    manifest = folder.manifest()
    assert "kind" not in manifest and manifest["status"] == "complete" and folder.has_summary()
    records = list(folder.records())
    assert len(records) == 2 and all("answer" in r and "retrieved_ids" not in r for r in records)


def _deep_docs(w: World) -> Path:
    """A JSONL line and a Markdown front matter nested 5,000 deep beside good text."""
    root = w.tmp / "deepdocs"
    root.mkdir()
    (root / "a.jsonl").write_text(DEEP + "\n" + json.dumps({"text": "Ada wrote a program."})
                                  + "\n")
    (root / "b.md").write_text(f"---\nx: {DEEP}\n---\n# B\nBabbage designed it.\n")
    return root


def _deep_file(w: World, name: str, text: str) -> Path:
    path = w.tmp / name
    path.write_text(text)
    return path


BUILDERS: dict[str, Callable[[World], object]] = {
    "deep_docs": _deep_docs,
    "deep_dotprompt": lambda w: _deep_file(w, "deep.prompt",
                                           f"---\nx: {DEEP}\n---\nHello {{{{question}}}}\n"),
    "deep_json": lambda w: _deep_file(w, "deep.json", DEEP),
    "deep_jsonl": lambda w: _deep_file(w, "deep.jsonl", DEEP + "\n"),
    "deep_dataset": lambda w: _deep_file(w, "deepqa.jsonl", Path(w.need("dataset")).read_text()
                                         + DEEP + "\n"),
    "deep_dataset_config": lambda w: _config(w, "deepqa", {"mode": "closed-book",
                                                           "model": "fake:echo"},
                                             dataset="deep_dataset"),
    "corpus": _corpus,
    "collection": _collection,
    "dataset": _dataset,
    "closed_book_config": lambda w: _config(w, "cb", {"mode": "closed-book",
                                                      "prompt": "closed-book@production",
                                                      "model": "fake:echo"}),
    "bad_model_config": lambda w: _config(w, "badmodel", {"mode": "closed-book",
                                                          "model": "nosuch:thing"}),
    "bad_prompt_config": lambda w: _config(w, "badprompt", {"mode": "closed-book",
                                                            "model": "fake:echo",
                                                            "prompt": "no-such-prompt@1"}),
    "empty_collection_config": lambda w: (_empty_collection(),
                                          _config(w, "rag", {"collection": "empty",
                                                             "model": "fake:echo"}))[1],
    "nan_config": lambda w: _config(w, "nan", {"mode": "closed-book", "model": "fake:echo",
                                               "min_score": float("nan")}),
    "zero_tokens_config": lambda w: _config(w, "zero", {"mode": "closed-book",
                                                        "model": "fake:echo", "max_tokens": 0}),
    "run": _run,
    "beir": _beir,
    # the same folder with a corpus id given twice / with only grade-0 judgments
    "beir_dup": lambda w: (_beir_copy(w, "dup"), (w.tmp / "dup" / "corpus.jsonl").open("a").write(
        json.dumps({"_id": "d1", "text": "A second d1."}) + "\n"))[0],
    "beir_zero": lambda w: (_beir_copy(w, "zero"), (w.tmp / "zero" / "qrels" / "test.tsv")
                            .write_text("query-id\tcorpus-id\tscore\nq1\td1\t0\n"))[0],
    "prompts": _prompts,
    "not_gguf": _not_gguf,
    # A folder whose only YAML file sits one level down and is not named *.suite.yaml.
    "not_a_suite": lambda w: (w.tmp / "checks",
                              (w.tmp / "checks" / "sub").mkdir(parents=True),
                              (w.tmp / "checks" / "sub" / "regression.yaml").write_text(
                                  one_case_suite("r")))[0],
    "suite_bad_prompt": lambda w: _suite(w, "badprompt.yaml", prompt="rag-answr@2"),
    "suite_bad_model": lambda w: _suite(w, "badmodel.yaml", model="nosuch:thing"),
    "suite_deep": lambda w: _deep_file(w, "deep.suite.yaml", f"name: deep\ncases: {DEEP}\n"),
}


@dataclass(frozen=True)
class Row:
    id: str
    argv: list[str]
    code: int
    words: tuple[str, ...]
    needs: tuple[str, ...] = ()     # built before the command runs (not named in argv)
    own_process: bool = False
    after: Callable[[World], None] | None = None   # what must (not) exist afterwards


def _no_collection(name: str) -> Callable[[World], None]:
    def check(_w: World) -> None:
        from promptkit.store import list_collections

        assert name not in [c["name"] for c in list_collections()]
    return check


def _no_new_run(w: World) -> None:
    runs = w.tmp / "new-runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


ROWS = [
    # ---- ingest / search -----------------------------------------------------------------
    Row("ingest-missing-path", ["ingest", "<tmp>/no-such-folder", "-c", "typo", "-e", "fake"],
        2, ("no such file or folder", "no-such-folder", "nothing was ingested"),
        after=_no_collection("typo")),
    Row("ingest-chunk-tokens-zero", ["ingest", "<corpus>", "-c", "z", "-e", "fake",
                                     "--chunk-tokens", "0"],
        2, ("--chunk-tokens 0", "too small"), after=_no_collection("z")),
    Row("ingest-chunk-tokens-negative", ["ingest", "<corpus>", "-c", "z", "-e", "fake",
                                         "--chunk-tokens", "-5"], 2, ("--chunk-tokens -5",)),
    Row("ingest-overlap-negative", ["ingest", "<corpus>", "-c", "z", "-e", "fake",
                                    "--overlap", "-1"], 2, ("--overlap -1",)),
    Row("ingest-bad-collection-name", ["ingest", "<corpus>", "-c", "x", "-e", "fake"],
        2, ("invalid collection name",)),
    Row("search-unknown-collection", ["search", "q", "-c", "nope"],
        2, ("unknown collection 'nope'",)),
    Row("search-min-score-nan", ["search", "engine", "-c", "<collection>", "--min-score", "nan"],
        2, ("--min-score", "must be a number")),
    Row("search-min-score-inf", ["search", "engine", "-c", "<collection>", "--min-score", "inf"],
        2, ("--min-score", "must be a number")),
    Row("search-where-not-json", ["search", "q", "-c", "<collection>", "--where", "{bad"],
        2, ("--where is not valid JSON",)),
    Row("search-where-bogus-operator", ["search", "engine", "-c", "<collection>",
                                        "--where", '{"$bogus": 1}'],
        2, ("--where", "'$bogus'", "$and")),
    Row("search-where-bad-field-operator", ["search", "engine", "-c", "<collection>",
                                            "--where", '{"lang": {"$like": "e"}}'],
        2, ("--where", "$like")),
    Row("collections-delete-needs-yes", ["collections", "delete", "<collection>"],
        2, ("needs confirmation", "--yes")),
    Row("search-k-zero", ["search", "engine", "-c", "<collection>", "-k", "0"], 2, ("-k",)),
    Row("search-where-nested-5000-deep", ["search", "q", "-c", "<collection>", "--where", DEEP],
        2, ("--where is not valid JSON", "nested too deeply")),
    Row("ingest-nested-5000-deep-lines-are-skipped", ["ingest", "<deep_docs>", "-c", "deep",
                                                      "-e", "fake"],
        0, ("added 1", "skipped 2", "a.jsonl:1", "b.md", "nested too deeply")),
    Row("collections-info-unknown", ["collections", "info", "nosuch"],
        2, ("unknown collection 'nosuch'",)),
    # ---- ask -----------------------------------------------------------------------------
    Row("ask-max-tokens-zero", ["ask", "q", "--mode", "closed-book", "-m", "fake:echo",
                                "--max-tokens", "0"], 2, ("--max-tokens",)),
    Row("ask-max-tokens-negative", ["ask", "q", "--mode", "closed-book", "-m", "fake:echo",
                                    "--max-tokens", "-5"], 2, ("--max-tokens",)),
    Row("ask-model-file-not-gguf", ["ask", "q", "--mode", "closed-book",
                                    "-m", "llamacpp:<not_gguf>"], 2, ("not a GGUF model file",)),
    Row("ask-unknown-backend", ["ask", "q", "--mode", "closed-book", "-m", "nosuch:thing"],
        2, ("unknown model backend 'nosuch'",)),
    Row("ask-oracle-mode", ["ask", "q", "--mode", "oracle"], 2, ("oracle",)),
    # ---- prompts -------------------------------------------------------------------------
    Row("prompt-yaml-key-is-a-list", ["prompts", "show", "listkey@1", "--root", "<prompts>"],
        2, ("v1.yaml", "key must be plain text, not a list")),
    Row("prompt-yaml-nested-5000-deep", ["prompts", "show", "deep@1", "--root", "<prompts>"],
        2, ("v1.yaml", "nested too deeply")),
    Row("prompts-import-dotprompt-nested-5000-deep", ["prompts", "import", "<deep_dotprompt>",
                                                      "--from", "dotprompt", "--root",
                                                      "<tmp>/p"],
        2, ("deep.prompt", "front matter", "nested too deeply")),
    Row("prompts-import-langfuse-nested-5000-deep", ["prompts", "import", "<deep_json>", "--from",
                                                     "langfuse", "--root", "<tmp>/p"],
        2, ("deep.json", "not valid JSON", "nested too deeply")),
    Row("prompts-import-promptfoo-nested-5000-deep", ["prompts", "import", "<deep_json>",
                                                      "--from", "promptfoo", "--root", "<tmp>/p"],
        2, ("deep.json", "not valid JSON", "nested too deeply")),
    Row("prompts-export-unknown-format", ["prompts", "export", "rag-answer@production", "-f",
                                          "nosuch"], 2, ("unknown export format 'nosuch'",)),
    Row("schema-unknown-name", ["schema", "sute"], 2, ("unknown schema 'sute'", "suite")),
    # ---- eval ----------------------------------------------------------------------------
    Row("eval-run-dataset-line-nested-5000-deep", ["eval", "run", "<deep_dataset_config>",
                                                   "--run-dir", "<tmp>/deeprun"],
        0, ("Skipped 1 bad dataset record", "line 3", "nested too deeply")),
    Row("eval-judge-check-line-nested-5000-deep", ["eval", "judge-check", "<deep_jsonl>",
                                                   "--judge", "fake:echo"],
        2, ("deep.jsonl", "line 1", "nested too deeply")),
    Row("eval-synth-unknown-collection", ["eval", "synth", "nosuch", "-n", "2", "-o",
                                          "<tmp>/s.jsonl", "--model", "fake:echo"],
        2, ("unknown collection 'nosuch'",), after=_no_collection("nosuch")),
    Row("eval-retrieval-missing-folder", ["eval", "retrieval", "--beir", "<tmp>/nope", "-e",
                                          "fake"], 2, ("BEIR folder", "does not exist")),
    Row("eval-retrieval-run-dir-holds-an-eval-run",
        ["eval", "retrieval", "--beir", "<beir>", "-e", "fake", "--run-dir", "<run>"],
        2, ("holds an evaluation run", "would replace it"), after=_run_untouched),
    Row("eval-retrieval-duplicate-document-id",
        ["eval", "retrieval", "--beir", "<beir_dup>", "-e", "fake"],
        2, ("corpus.jsonl:3", "_id", "'d1' was already used on line 1")),
    Row("eval-retrieval-no-relevant-judgment",
        ["eval", "retrieval", "--beir", "<beir_zero>", "-e", "fake"],
        2, ("no query in qrels/test.tsv has a relevant document",)),
    Row("eval-retrieval-run-dir-holds-other-files",
        ["eval", "retrieval", "--beir", "<beir>", "-e", "fake", "--run-dir", "<tmp>/beir"],
        2, ("holds other files and no run",)),
    Row("eval-retrieval-run-dir-is-a-file",
        ["eval", "retrieval", "--beir", "<beir>", "-e", "fake", "--run-dir",
         "<beir>/corpus.jsonl"], 2, ("is a file, not a folder",)),
    Row("eval-run-unknown-model", ["eval", "run", "<bad_model_config>"],
        2, ("badmodel.yaml", "pipeline.model", "unknown model backend 'nosuch'"),
        after=_no_new_run),
    Row("eval-run-unknown-prompt", ["eval", "run", "<bad_prompt_config>"],
        2, ("badprompt.yaml", "pipeline.prompt", "no-such-prompt"), after=_no_new_run),
    Row("eval-run-empty-collection", ["eval", "run", "<empty_collection_config>"],
        2, ("rag.yaml", "pipeline.collection", "collection 'empty' is empty"),
        after=_no_new_run),
    Row("eval-compare-metric-typo", ["eval", "compare", "<run>", "<run>", "--metric", "token_f11"],
        2, ("unknown metric 'token_f11'", "did you mean 'token_f1'")),
    Row("eval-report-html-is-a-folder", ["eval", "report", "<run>", "--html", "<tmp>"],
        2, ("--html", "is a folder", "report.html")),
    Row("eval-report-html-folder-missing", ["eval", "report", "<run>", "--html",
                                            "<tmp>/nowhere/r.html"], 2, ("does not exist",)),
    Row("eval-run-min-score-nan", ["eval", "run", "<nan_config>"],
        2, ("nan.yaml", "pipeline.min_score"), after=_no_new_run),
    Row("eval-run-max-tokens-zero", ["eval", "run", "<zero_tokens_config>"],
        2, ("zero.yaml", "pipeline.max_tokens"), after=_no_new_run),
    Row("eval-run-run-dir-is-a-file", ["eval", "run", "<closed_book_config>", "--run-dir",
                                       "<dataset>"], 2, ("cannot lock", "qa.jsonl")),
    Row("eval-run-missing-config", ["eval", "run", "<tmp>/nope.yaml"], 2, ("file not found",)),
    # ---- experiments ---------------------------------------------------------------------
    Row("experiment-run-missing-config", ["experiment", "run", "<tmp>/nope.yaml"],
        2, ("nope.yaml", "file not found")),
    Row("experiment-report-unknown-run", ["experiment", "report", "nope"],
        2, ("unknown experiment run 'nope'",)),
    # ---- test (regression suites) --------------------------------------------------------
    Row("test-file-outside-the-suite-rule", ["test", "<not_a_suite>"],
        2, ("no suite cases found", "*.suite.yaml", "promptkit_suites")),
    Row("test-suite-unknown-prompt", ["test", "<suite_bad_prompt>", "--mode", "off"],
        2, ("badprompt.yaml", "unknown prompt 'rag-answr'", "did you mean 'rag-answer'"),
        own_process=True),
    Row("test-suite-unknown-model", ["test", "<suite_bad_model>", "--mode", "off"],
        2, ("badmodel.yaml", "unknown model backend 'nosuch'"), own_process=True),
    Row("test-suite-nested-5000-deep", ["test", "<suite_deep>", "--mode", "off"],
        2, ("deep.suite.yaml", "nested too deeply"), own_process=True),
]


def _own_process(argv: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTEST_ADDOPTS": "-p no:cacheprovider",
           "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "promptkit", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Row, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PROMPTKIT_RUNS_DIR", str(tmp_path / "new-runs"))
    world = World(tmp_path)
    for name in row.needs:
        world.need(name)
    argv = world.fill(row.argv)
    capsys.readouterr()   # what building the world printed is not this row's output
    if row.own_process:
        code, output = _own_process(argv, tmp_path)
    else:
        code = run(argv)
        captured = capsys.readouterr()
        output = captured.out + captured.err
    assert code == row.code, output
    for word in row.words:
        assert word in output, f"{word!r} not in:\n{output}"
    if row.code == 2:
        assert "unexpected error" not in output and "Traceback" not in output, output
        assert "INTERNALERROR" not in output, output
    if row.after is not None:
        row.after(world)
