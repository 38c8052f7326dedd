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
import re
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


CHUNK_ID = re.compile(r"\b[0-9a-f]{32}\b")


def _stable(obj):
    """Without timings, and with scores to 6 decimals (the vector index's arithmetic may
    differ in the last bits from one CPU to another)."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 6)
    return obj


def normalised(cases: Path) -> str:
    """The records as they would be in any clone: the corpus path and the chunk ids (hashes
    of the source path and text) named by where they first appear."""
    corpus = json.dumps(str(ROOT / "corpora" / "demo"))[1:-1]
    ids: dict[str, str] = {}
    lines = []
    for line in cases.read_text(encoding="utf-8").splitlines():
        text = json.dumps(_stable(json.loads(line)), ensure_ascii=False, sort_keys=True)
        text = CHUNK_ID.sub(lambda m: ids.setdefault(m.group(0), f"chunk-{len(ids) + 1}"), text)
        lines.append(text.replace(corpus, "<demo corpus>"))
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
