"""`promptkit eval judge-check | synth`: validate a judge, and make a test set from a corpus.

Thin: parse, call promptkit.evaluation.judge_check / synth, render.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from promptkit.cli._app import eval_app


class Lang(StrEnum):
    es = "es"
    en = "en"


class ClaimSplit(StrEnum):
    judge = "judge"
    sentences = "sentences"


@contextmanager
def _bar(label: str, enabled: bool = True):
    """A progress bar on stderr; yields update(done, total, note)."""
    from promptkit.cli._progress import progress_bar

    with progress_bar(label, enabled=enabled) as bar:
        yield lambda done, total, note="": bar.update(done, total, note=note)


@eval_app.command("judge-check")
def judge_check_cmd(
    labelled: Annotated[Path, typer.Argument(help="Labelled JSONL (e.g. "
                        "eval/datasets/judge-faithfulness.jsonl).")],
    judge: Annotated[str | None, typer.Option("--judge", help="Judge model spec (default: the "
                     "library's default model).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Ask each item N times "
                       "(self-agreement).")] = 1,
    no_constrain: Annotated[bool, typer.Option("--no-constrain", help="Do not constrain "
                            "decoding to the JSON schema (parse free text).")] = False,
    claims: Annotated[ClaimSplit, typer.Option("--claims", help="Claims from the judge or a "
                      "sentence split.")] = ClaimSplit.judge,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, help="Override "
                           "the judge prompts' temperature (0).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0, help="Verdict "
                         "'faithful' when this share of claims is supported.")] = 1.0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N "
                     "items.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write report.md, summary.json "
                   "and verdicts.jsonl into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Accuracy, Cohen's kappa, self-agreement and unparsable rate of the faithfulness judge."""
    from promptkit.evaluation import judge_check as jc
    from promptkit.evaluation.judges import Judge

    items = jc.load_labelled(labelled)[:limit]
    asker = Judge(judge, constrain=not no_constrain, temperature=temperature)
    with _bar("judge-check") as update:
        check = jc.check_judge(items, asker, repeats=repeats, claims=claims.value,
                               threshold=threshold,
                               progress=lambda done, total: update(done, total))
    if out is not None:
        jc.write(check, out)
        print(f"written: {out}/report.md, summary.json, verdicts.jsonl", file=sys.stderr)
    if as_json:
        print(json.dumps(check.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(jc.markdown(check), end="")


@eval_app.command("synth")
def synth_cmd(
    source: Annotated[str, typer.Argument(help="A corpus folder/file, or a collection name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset JSONL to write (appended "
                      "to, and resumed, when it exists).")],
    n: Annotated[int, typer.Option("-n", min=1, help="Questions to keep.")] = 50,
    lang: Annotated[Lang | None, typer.Option("--lang", help="Only chunks in this language, "
                    "questions in it (default: each chunk's own).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model spec that writes the "
                     "questions (default: the library's default).")] = None,
    per_chunk: Annotated[int, typer.Option("--per-chunk", min=1, max=5, help="Questions asked "
                         "for each chunk.")] = 3,
    roundtrip: Annotated[int, typer.Option("--roundtrip", min=0, help="Keep a question only if "
                         "its document is in the top K found for it (0: off).")] = 0,
    chunk_tokens: Annotated[int, typer.Option("--chunk-tokens", min=8, help="Chunk size for a "
                            "corpus folder.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Order of chunks within a document.")] = 0,
    no_constrain: Annotated[bool, typer.Option("--no-constrain", help="Do not constrain "
                            "decoding to the JSON schema.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Questions with short answers quoted from your documents, filtered, as a dataset."""
    from promptkit.evaluation.synth import synthesize

    with _bar("synth") as update:
        summary = synthesize(source, n, output, model=model,
                             lang=lang.value if lang else None, per_chunk=per_chunk,
                             roundtrip_k=roundtrip, chunk_tokens=chunk_tokens, seed=seed,
                             constrain=not no_constrain,
                             progress=lambda d, t, k: update(d, t, f"kept {k}"))
    data = summary.to_dict()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    removed = ", ".join(f"{k} {v}" for k, v in data["removed"].items())
    print(f"kept {data['kept']} of {data['candidates']} candidate questions "
          f"({data['resumed_kept']} from an earlier run) from {data['documents']} documents, "
          f"{data['chunks_done']} of {data['chunks_total']} chunks used\n"
          f"removed by filter: {removed}\nwritten to {data['output']}")
    if data["kept"] < n:
        print(f"note: fewer than the {n} asked for: every chunk was used", file=sys.stderr)
