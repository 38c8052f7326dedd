"""Retrieval vs reader: for each wrong answer of a RAG run, did retrieval bring the evidence?

Pure: finished run records in, a small table out (no models). In the spirit of RAGAS's noise
sensitivity and of the retriever/reader split common in open-domain QA analyses: a wrong answer
whose passages held no gold evidence is a retrieval error; one whose passages held it is a
reader error (the model had what it needed and still answered wrong).

- correct: the run's first answer metric among `CORRECTNESS` (binary ones: value 1; token F1:
  >= 0.5); without any, reference answers are matched in the answer (whole words, folded).
- evidence retrieved: a passage the model was given comes from a gold document (when the case
  lists gold ids/documents) and contains a reference answer (when the case has answers).
"""

from __future__ import annotations

from collections.abc import Iterable

from promptkit.evaluation.records import RunRecord, metrics_in, score_of

CORRECTNESS = ("contains_any", "exact_match_multi", "exact_match", "best_subspan_em",
               "token_f1_multi", "token_f1")
F1_CORRECT = 0.5
_NO_RETRIEVAL = ("closed-book", "oracle")


def _correct(rec: RunRecord, metric: str | None) -> bool | None:
    if metric is not None:
        score = score_of(rec, metric) or {}
        if score.get("outcome") != "ok":
            return None
        threshold = F1_CORRECT if metric.startswith("token_f1") else 1.0
        return score["value"] >= threshold
    from promptkit.evaluation.metrics_grounding import contains_answer

    answers = [str(a) for a in rec.get("answers") or []]
    return contains_answer(str(rec.get("answer") or ""), answers) if answers else None


def _evidence(rec: RunRecord) -> bool | None:
    from promptkit.evaluation.metrics_grounding import holds_evidence

    gold = {str(g) for g in rec.get("gold_ids") or []}
    answers = [str(a) for a in rec.get("answers") or []]
    if not gold and not answers:
        return None
    return any(holds_evidence(p, gold, answers) for p in rec.get("contexts") or [])


def is_rag(rec: RunRecord) -> bool:
    return bool(rec.get("contexts")) and (rec.get("trace") or {}).get("mode") not in _NO_RETRIEVAL


def retrieval_vs_reader(records: Iterable[RunRecord],
                        metric_names: Iterable[str] = ()) -> dict | None:
    """The 2x2 of correct/wrong x evidence retrieved/missed over the run's RAG records
    (None when the run retrieved nothing: closed-book, oracle, or no records)."""
    records = [r for r in records if is_rag(r)]
    if not records:
        return None
    names = list(metric_names) or metrics_in(records)
    metric = next((m for m in CORRECTNESS if m in names), None)
    table = {"correct": {"retrieved": 0, "missed": 0}, "wrong": {"retrieved": 0, "missed": 0}}
    ids: dict[str, list[str]] = {"reader": [], "retrieval": []}
    skipped = 0
    for rec in records:
        correct, evidence = _correct(rec, metric), _evidence(rec)
        if correct is None or evidence is None:
            skipped += 1
            continue
        row = "correct" if correct else "wrong"
        table[row]["retrieved" if evidence else "missed"] += 1
        if not correct:
            ids["reader" if evidence else "retrieval"].append(str(rec.get("id")))
    wrong = table["wrong"]["retrieved"] + table["wrong"]["missed"]
    return {
        "correct_by": metric or "reference answer in the answer",
        "records": len(records) - skipped,
        "skipped": skipped,
        "table": table,
        "wrong": wrong,
        "retrieval_errors": table["wrong"]["missed"],
        "reader_errors": table["wrong"]["retrieved"],
        "retrieval_share": table["wrong"]["missed"] / wrong if wrong else None,
        "reader_error_ids": ids["reader"],
        "retrieval_error_ids": ids["retrieval"],
    }


def markdown(b: dict, show: int = 10) -> list[str]:
    """Lines of the report section."""
    t = b["table"]
    lines = ["", "## Retrieval vs reader", "",
             f"Correct by `{b['correct_by']}`; evidence = a passage given to the model from a "
             "gold document holding a reference answer.", "",
             "| | evidence retrieved | evidence missed |", "|---|---:|---:|",
             f"| correct | {t['correct']['retrieved']} | {t['correct']['missed']} |",
             f"| wrong | {t['wrong']['retrieved']} (reader) | {t['wrong']['missed']} "
             f"(retrieval) |", ""]
    if b["wrong"]:
        lines.append(f"Of {b['wrong']} wrong answers, {b['retrieval_errors']} "
                     f"({b['retrieval_share']:.0%}) had no evidence retrieved and "
                     f"{b['reader_errors']} had it and were still wrong.")
    else:
        lines.append("No wrong answers.")
    for label, key in (("reader errors", "reader_error_ids"),
                       ("retrieval errors", "retrieval_error_ids")):
        if b[key]:
            more = f" (+{len(b[key]) - show} more)" if len(b[key]) > show else ""
            lines.append(f"- {label}: " + ", ".join(f"`{i}`" for i in b[key][:show]) + more)
    if b["skipped"]:
        lines.append(f"- {b['skipped']} record(s) without a score or a reference were left out")
    return lines


__all__ = ["CORRECTNESS", "is_rag", "markdown", "retrieval_vs_reader"]
