"""Judge validation: run the faithfulness judge on a labelled set and measure it.

A labelled set is JSONL, one answer per line: `id`, `question`, `passages` (list of strings),
`answer`, `label` ("faithful" | "unfaithful"), and optionally `edit` (how the answer was made)
and `language`. The project's own is eval/datasets/judge-faithfulness.jsonl
(scripts/make_judge_set.py). A verdict is "faithful" when every claim of the answer is
supported (faithfulness score >= `threshold`, default 1.0); an unparsable reply is no verdict.

Reported overall, per language and per edit kind: accuracy (an unparsable verdict counts as
wrong), accuracy over parsed verdicts, Cohen's kappa against the labels, the unparsable rate,
and with repeats the judge's self-agreement (share of items whose repeats all agree, and
Fleiss' kappa across repeats).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from promptkit.errors import ConfigError
from promptkit.evaluation.judges import Judge
from promptkit.evaluation.metrics_grounding import CLAIMS_PROMPT, VERDICTS_PROMPT, Faithfulness
from promptkit.evaluation.metrics_judge import cohen_kappa, repeat_agreement
from promptkit.safeparse import loads_json

LABELS = ("faithful", "unfaithful")
_FIELDS = {"id": str, "question": str, "passages": list, "answer": str, "label": str}
_OPTIONAL = {"edit": str, "language": str, "source": dict}


@dataclass
class LabelledItem:
    id: str
    question: str
    passages: list[str]
    answer: str
    label: str
    edit: str = ""
    language: str = ""


def load_labelled(path: str | Path) -> list[LabelledItem]:
    """Read a labelled set; every bad line is listed in one ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("labelled set not found", path=str(path),
                          hint="The project's own: eval/datasets/judge-faithfulness.jsonl.")
    items, problems, seen = [], [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = loads_json(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: invalid JSON ({exc.msg})")
            continue
        why = _problem(obj)
        if why is None and obj["id"] in seen:
            why = f"duplicate id '{obj['id']}'"
        if why:
            problems.append(f"line {lineno}: {why}")
            continue
        seen.add(obj["id"])
        items.append(LabelledItem(obj["id"], obj["question"], list(obj["passages"]),
                                  obj["answer"], obj["label"], obj.get("edit", ""),
                                  obj.get("language", "")))
    if problems:
        raise ConfigError(f"{len(problems)} bad line(s) in the labelled set:\n"
                          + "\n".join(problems[:20]), path=str(path))
    if not items:
        raise ConfigError("the labelled set has no items", path=str(path))
    return items


def _problem(obj) -> str | None:
    if not isinstance(obj, dict):
        return "expected a JSON object"
    for key, typ in _FIELDS.items():
        if not isinstance(obj.get(key), typ):
            return f"field '{key}' is missing or not a {typ.__name__}"
    for key, typ in _OPTIONAL.items():
        if key in obj and not isinstance(obj[key], typ):
            return f"field '{key}' must be a {typ.__name__}"
    unknown = set(obj) - set(_FIELDS) - set(_OPTIONAL)
    if unknown:
        return f"unknown field(s): {', '.join(sorted(unknown))}"
    if obj["label"] not in LABELS:
        return f"label must be faithful or unfaithful, got {obj['label']!r}"
    if not obj["passages"] or not all(isinstance(p, str) for p in obj["passages"]):
        return "passages must be a non-empty list of strings"
    return None


# ---------------------------------------------------------------- statistics (pure)

def _agreement(rows: Sequence[dict]) -> dict:
    agreement = repeat_agreement([r["predictions"] for r in rows])
    return {"items": agreement.n_cases, "all_agree": agreement.agreement,
            "fleiss_kappa": agreement.kappa}


def summarise(rows: Sequence[dict]) -> dict:
    """Accuracy, kappa, unparsable rate and confusion over per-item rows (all repeats).

    A verdict is missing when the reply was unparsable or the judge found no claims in the
    answer; accuracy counts a missing verdict as wrong, the parsed accuracy and kappa skip it.
    """
    verdicts = [(r["label"], p, o) for r in rows
                for p, o in zip(r["predictions"], r["outcomes"], strict=True)]
    parsed = [(label, p) for label, p, _ in verdicts if p is not None]
    n = len(verdicts)
    unparsable = sum(o == "unparsable" for *_, o in verdicts)
    missing = {"unparsable": "unparsable", "error": "no claims"}
    confusion = Counter(f"{label} -> {p or missing.get(o, o)}" for label, p, o in verdicts)
    correct = sum(a == b for a, b in parsed)
    alone = [(r["label"], p) for r in rows for p in r.get("judge_alone") or []]
    return {
        "items": len(rows),
        "verdicts": n,
        "accuracy": correct / n if n else None,
        "accuracy_parsed": correct / len(parsed) if parsed else None,
        "kappa": cohen_kappa(parsed),
        # the judge's own verdicts, before the quote checks (judge-verdicts@2) changed any
        "accuracy_judge_alone": (sum(a == b for a, b in alone) / n) if alone and n else None,
        "changed_by_checks": sum(a != b for r in rows for a, b in
                                 zip(r["predictions"], r.get("judge_alone") or [], strict=False)
                                 if a is not None),
        "unparsable": unparsable,
        "unparsable_rate": unparsable / n if n else None,
        "no_claims": sum(o == "error" for *_, o in verdicts),
        "confusion": dict(sorted(confusion.items())),
        "self_agreement": _agreement(rows),
    }


def grouped(rows: Sequence[dict], key: str) -> dict[str, dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r.get(key) or "?"].append(r)
    return {name: summarise(group) for name, group in sorted(groups.items())}


# ---------------------------------------------------------------- the check

@dataclass
class JudgeCheck:
    judge: dict
    settings: dict
    overall: dict
    by_language: dict
    by_edit: dict
    rows: list[dict] = field(repr=False)
    wall_s: float = 0.0

    def to_dict(self, *, with_rows: bool = False) -> dict:
        data = asdict(self)
        if not with_rows:
            data.pop("rows")
        return data


ProgressFn = Callable[[int, int], None]


def check_judge(items: Sequence[LabelledItem], judge: Judge | str | None = None, *,
                repeats: int = 1, claims: str = "judge", threshold: float = 1.0,
                progress: ProgressFn | None = None) -> JudgeCheck:
    """Run the faithfulness judge on every item `repeats` times and measure it."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    judge = Judge.of(judge)
    metric = Faithfulness(judge, claims=claims)
    started, rows = time.perf_counter(), []
    total = len(items) * repeats
    if progress:
        progress(0, total)
    for i, item in enumerate(items):
        context = "\n\n".join(f"[{n}] {p.strip()}" for n, p in enumerate(item.passages, 1))
        results = [metric.score(item.answer, item.question, context, attempt=r)
                   for r in range(repeats)]
        rows.append(_row(item, results, threshold))
        if progress:
            progress((i + 1) * repeats, total)
    about = {**judge.describe(*((CLAIMS_PROMPT,) if claims == "judge" else ()),
                              VERDICTS_PROMPT)}
    return JudgeCheck(
        judge=about,
        settings={"repeats": repeats, "claims": claims, "threshold": threshold,
                  "constrain": judge.constrain, "temperature": judge.temperature},
        overall=summarise(rows), by_language=grouped(rows, "language"),
        by_edit=grouped(rows, "edit"), rows=rows,
        wall_s=round(time.perf_counter() - started, 2))


def _row(item: LabelledItem, results: list, threshold: float) -> dict:
    predictions = []
    for res in results:
        if res.ok:
            predictions.append("faithful" if res.value >= threshold else "unfaithful")
        else:
            predictions.append(None)
    return {"id": item.id, "label": item.label, "edit": item.edit, "language": item.language,
            "predictions": predictions, "outcomes": [r.outcome for r in results],
            "judge_alone": [_judge_alone(r, threshold) for r in results],
            "scores": [r.value for r in results],
            "claims": [r.detail.get("claims") for r in results],
            "reasons": [r.detail.get("reason") for r in results if not r.ok]}


def _judge_alone(result, threshold: float) -> str | None:
    """The verdict the judge's own per-claim verdicts give, before the quote checks changed
    any (None when the reply was unparsable or had no claims)."""
    claims = result.detail.get("claims") if result.ok else None
    if not claims:
        return None
    own = [c.get("judge_verdict", c["verdict"]) for c in claims]
    share = sum(v == "supported" for v in own) / len(own)
    return "faithful" if share >= threshold else "unfaithful"


# ---------------------------------------------------------------- report

def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _table_rows(groups: dict[str, dict]) -> list[str]:
    return [f"| {name} | {s['items']} | {_fmt(s['accuracy'])} | {_fmt(s['accuracy_parsed'])} | "
            f"{_fmt(s['kappa'])} | {s['unparsable']} ({_fmt(s['unparsable_rate'], True)}) | "
            f"{_fmt(s['self_agreement']['all_agree'])} | {_fmt(s.get('accuracy_judge_alone'))} |"
            for name, s in groups.items()]


def markdown(check: JudgeCheck) -> str:
    j, st = check.judge, check.settings
    prompts = ", ".join(f"{k} ({v})" for k, v in j.get("prompts", {}).items())
    lines = ["# Faithfulness judge check", "",
             f"- **judge**: {j['judge']}; decoding constrained to the schema: "
             f"{'yes' if j['constrained'] else 'no'}",
             f"- **prompts**: {prompts}",
             f"- **settings**: claims from the {st['claims']}, repeats {st['repeats']}, "
             f"faithful when score >= {st['threshold']:g}, temperature "
             f"{'prompt default' if st['temperature'] is None else st['temperature']}",
             f"- **time**: {check.wall_s:.0f} s", "",
             "Accuracy counts an unparsable verdict as wrong; accuracy (parsed) and Cohen's kappa "
             "use parsed verdicts only. Self-agreement: share of items whose repeats agree.", "",
             "Judge alone: the accuracy of the judge's own verdicts, before the quote checks "
             "changed any (a supported claim whose quote is not in the passages, or lacks the "
             "claim's numbers or negations).", "",
             "| group | items | accuracy | accuracy (parsed) | kappa | unparsable | "
             "self-agreement | judge alone |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += _table_rows({"all": check.overall})
    lines += _table_rows({f"language: {k}": v for k, v in check.by_language.items()})
    lines += _table_rows({f"edit: {k}": v for k, v in check.by_edit.items()})
    conf = check.overall["confusion"]
    lines += ["", "Confusion (label -> verdict): "
              + ", ".join(f"{k} {v}" for k, v in conf.items())]
    kappa = check.overall["self_agreement"]["fleiss_kappa"]
    if st["repeats"] > 1:
        lines.append(f"Fleiss' kappa across repeats: {_fmt(kappa)}")
    return "\n".join(lines) + "\n"


def write(check: JudgeCheck, out_dir: str | Path) -> Path:
    """report.md, summary.json and verdicts.jsonl (one row per item) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(check), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(check.to_dict(), indent=2, ensure_ascii=False)
                                      + "\n", encoding="utf-8")
    with (out / "verdicts.jsonl").open("w", encoding="utf-8") as fh:
        for row in check.rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


__all__ = ["JudgeCheck", "LabelledItem", "check_judge", "cohen_kappa", "load_labelled",
           "markdown", "summarise", "write"]
