"""An eval run of the small QA set on a fake model gives the same cases, byte for byte.

The run goes through everything a real one does — ingest (hashed embedder), retrieval,
packing, the production prompt, generation (`fake:echo`), attribution, every metric, the run
folder — and its cases.jsonl, with the timings and the clone's own path taken out, must equal
`tests/data/golden-eval-small.jsonl`. A refactor that changes a record fails here; a change
meant to alter records rewrites the file:
`PROMPTKIT_BLESS_GOLDEN=1 pytest tests/test_golden_eval.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from promptkit.cli import run

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden-eval-small.jsonl"
CONFIG = """\
name: golden
dataset: {path: DATASET}
pipeline: {prompt: rag-answer@3, model: "fake:echo", collection: golden, k: 3}
metrics: [contains_any, token_f1_multi, exact_match, hit@3, mrr, sourced, looping, tokens]
cache_mode: 'off'
"""
TIMINGS = {"elapsed_s", "finished_at", "latency"}


def _without_timings(obj):
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def normalised(cases: Path) -> str:
    corpus = str(ROOT / "corpora" / "demo")
    lines = []
    for line in cases.read_text(encoding="utf-8").splitlines():
        record = _without_timings(json.loads(line))
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True)
                     .replace(json.dumps(corpus)[1:-1], "<demo corpus>"))
    return "\n".join(lines) + "\n"


def test_the_small_qa_set_on_a_fake_model_gives_the_recorded_cases(tmp_path, capsys):
    assert run(["ingest", str(ROOT / "corpora" / "demo"), "--collection", "golden",
                "--embedder", "fake"]) == 0
    config = tmp_path / "golden.yaml"
    config.write_text(CONFIG.replace(
        "DATASET", str(ROOT / "eval" / "datasets" / "demo-qa.small.jsonl")), encoding="utf-8")
    assert run(["eval", "run", str(config), "--run-dir", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    got = normalised(tmp_path / "run" / "cases.jsonl")
    if os.environ.get("PROMPTKIT_BLESS_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(got, encoding="utf-8")
    want = GOLDEN.read_text(encoding="utf-8")
    for n, (a, b) in enumerate(zip(want.splitlines(), got.splitlines(), strict=True), 1):
        assert a == b, f"record {n} differs from {GOLDEN.name}"
    assert got == want
