"""A BEIR retrieval benchmark as an evaluation run (`promptkit eval retrieval --run-dir DIR`).

One record per judged query: its text, the ranked document ids and four scores computed by the
harness's own retrieval metrics (nDCG@10, recall@k, MRR@10, hit@k, as fractions; the command
prints them in percent as BEIR and MTEB do, from the same per-query functions). The folder has
the harness's files and summary (Wilson intervals for hit@k, bootstrap for the others), so
`promptkit eval report` renders it and `promptkit eval compare` pairs two embedders, or exact
against HNSW search, query by query with the same tests as any evaluation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from promptkit.evaluation.aggregate import summarise
from promptkit.evaluation.datasets import file_hash
from promptkit.evaluation.metrics_base import MetricCase
from promptkit.evaluation.metrics_retrieval import MRR, HitAtK, NDCGAtK, RecallAtK
from promptkit.evaluation.records import RunRecord
from promptkit.evaluation.rundir import RunDir

if TYPE_CHECKING:
    from promptkit.retrieval.beir import BeirSet


def metrics_for(k: int) -> list:
    """The benchmark's metrics, named as the command prints them."""
    return [NDCGAtK(10), RecallAtK(k), MRR(10), HitAtK(k)]


def records_of(data: BeirSet, rankings: dict[str, list[str]], k: int) -> list[RunRecord]:
    """One harness record per judged query, scored by the harness's retrieval metrics."""
    metrics = metrics_for(k)
    records = []
    for qid, rel in data.qrels.items():
        case = MetricCase(question=data.queries[qid], gold_ids=rel,
                          retrieved_ids=rankings.get(qid, []), id=qid)
        scores = {m.name: m.evaluate(None, case).to_dict() for m in metrics}
        records.append({"id": qid, "repeat": 0, "question": data.queries[qid],
                        "gold_ids": rel, "retrieved_ids": case.retrieved_ids,
                        "scores": scores})
    return records


KIND = "retrieval"


def check_folder(folder: str | Path) -> None:
    """Refuse, before any embedding, a folder the benchmark must not replace (a file, another
    kind of run, an experiment, other files)."""
    RunDir(folder).check_replaceable(KIND)


def write_run(result: dict, data: BeirSet, rankings: dict[str, list[str]],
              folder: str | Path, *, started: str | None = None) -> Path:
    """Write one `beir.evaluate` result (with its `rankings`) as a run folder; the retrieval
    run the folder held is replaced (a retrieval benchmark is recomputed whole: the corpus
    embeddings are cached), any other contents refused. `started`: when the benchmark began.
    Returns the folder."""
    from promptkit.evaluation.runner import package_version

    run = RunDir(folder)
    k = result["k"]
    records = records_of(data, rankings, k)
    info = {m.name: {"binary": m.binary, "higher_is_better": True} for m in metrics_for(k)}
    names = list(info)
    where = data.folder.resolve()   # the same folder compares equal however it was typed
    corpus_files = [data.corpus, data.folder / "queries.jsonl",
                    data.folder / "qrels" / f"{data.split}.tsv"]
    content = hashlib.sha256("".join(map(file_hash, corpus_files)).encode()).hexdigest()
    settings = {"embedder": result["embedder"], "search": result["search"], "k": k,
                "split": data.split}
    fingerprint = hashlib.sha256(
        (content + repr(sorted(settings.items()))).encode()).hexdigest()[:16]
    summary = summarise(records, names, seed=0, binary={n: info[n]["binary"] for n in names})
    summary.update(run_id=run.id, name=f"{result['dataset']}-{result['embedder']}",
                   complete=True, metric_info=info, expected_records=len(records),
                   bad_records=[], kind=KIND,
                   timing={"embed_seconds": result["embed_seconds"],
                           "search_seconds": result["search_seconds"]})
    run.write_whole(records, kind=KIND, fingerprint=fingerprint, started=started,
                    config={"beir": str(where), **settings}, manifest=lambda public: {
        "name": f"{result['dataset']}-{result['embedder']}",
        "promptkit_version": package_version(), "model": None,
        "embedder": result["embedder"], "pipeline": settings,
        "dataset": {"path": str(where), "format": "beir", "split": data.split,
                    "content_hash": content, "cases": len(records),
                    "documents": result["documents"], "bad_records": 0},
        "metrics": info, "repeats": 1, "seed": 0}, summary=summary)
    return run.path


__all__ = ["KIND", "check_folder", "metrics_for", "records_of", "write_run"]
