"""Glue between a run and the metrics: build them from a config, score one answered case."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptkit.errors import ConfigError, UserError
from promptkit.evaluation.config import MetricConfig
from promptkit.evaluation.datasets import Case


def build_metrics(configs: Sequence[MetricConfig], *, source: str | None = None) -> list:
    """Metric objects for a config's `metrics:` list; names must come out unique."""
    from promptkit.evaluation.metrics import get_metric

    metrics = []
    for i, mc in enumerate(configs):
        options = dict(mc.options)
        if mc.name == "llm_judge":
            options = judge_options(options)
        try:
            metrics.append(get_metric(mc.name, **options))
        except ConfigError:
            raise
        except UserError as exc:  # an unknown name or option: point at the config entry
            raise ConfigError(exc.message, path=source, field=f"metrics.{i}",
                              hint=exc.hint) from exc
    names = [m.name for m in metrics]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"metric name(s) listed twice: {', '.join(dupes)}", path=source,
                          field="metrics",
                          hint="Give each metric different options or drop the copy.")
    return metrics


def judge_options(options: dict) -> dict:
    """Config strings to objects: `judge: SPEC` -> a model, `rubric: PROMPT@V` -> its render.

    The rubric prompt's own generation settings (temperature 0, short max_tokens) are used for
    the judge calls, and its ref and content hash are recorded with every verdict.
    """
    options = dict(options)
    params = None
    if isinstance(options.get("rubric"), str):
        from promptkit.prompts import load_prompt

        spec = load_prompt(options["rubric"])
        used = sorted(spec.variables)
        # The judge fills only the variables this rubric names; missing ones are its error.
        options["rubric"] = lambda variables: spec.render(**{k: variables[k] for k in used})
        options.setdefault("variables", used)
        options.setdefault("rubric_ref", f"{spec.ref}#{spec.hash[:12]}")
        # Rubric prompts (the project's judge-* ones) score 1-5; another scale must be stated.
        options.setdefault("scale", [1, 5])
        params = spec.gen_params()
    if isinstance(options.get("judge"), str):
        options["judge"] = judge_from_spec(options["judge"], params)
    return options


def judge_from_spec(spec: str, params=None):
    """A `judge(messages) -> str` callable backed by any model spec (ollama:..., openai:...).

    The n-th call with the same messages samples with seed + n, so a judge's repeats are
    separate requests (and separate cache entries) rather than one cached reply read n times;
    the numbering depends only on the call order per message, so a rerun asks the same things.
    """
    import dataclasses
    import hashlib
    import json
    import threading

    from promptkit.llm import GenParams, get_model

    model = get_model(spec)
    base = params or GenParams()
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def judge(messages: list[dict]) -> str:
        key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
        with lock:
            n = calls[key] = calls.get(key, -1) + 1
        seeded = dataclasses.replace(base, seed=(base.seed or 0) + n)
        return model.generate(messages, seeded).text

    return judge


def metric_info(metrics: Sequence) -> dict[str, dict]:
    """What compare and report need to know about each metric."""
    return {m.name: {"binary": bool(getattr(m, "binary", False)),
                     "higher_is_better": bool(getattr(m, "higher_is_better", True))}
            for m in metrics}


def retrieved_ids(case: Case, trace: dict) -> list[str] | None:
    """Retrieved ids in rank order; document names when the case's gold is at document level."""
    from promptkit.pipeline.trace import retrieved

    hits = retrieved(trace) or trace.get("retrieved") or []
    if not hits:
        return trace.get("retrieved_ids")
    if case.metadata.get("gold_level") == "doc":
        # Gold names files ("bert-overview.en.md"); a chunk's source is the path it came from.
        return [Path(str(h.get("source", ""))).name for h in hits]
    return [str(h.get("id")) for h in hits]


def metric_case(case: Case, trace: dict, contexts: list[dict]) -> dict:
    """The fields metrics read: from the dataset case, the trace and the packed passages."""
    return {
        "id": case.id,
        "question": case.question,
        "answers": case.answers,
        # Graded judgments (BEIR qrels) when the dataset has them, else the plain gold list.
        "gold_ids": case.metadata.get("qrels") or case.gold_ids,
        "retrieved_ids": retrieved_ids(case, trace),
        "contexts": [c.get("text", "") for c in contexts] or None,
        # The same passages with their prompt number, rank, id and source (citation metrics).
        "passages": list(contexts) or None,
        "trace": trace,
    }


def score_answer(metrics: Sequence, case: Case, answer_text: str, trace: dict,
                 contexts: list[dict]) -> dict[str, Any]:
    """name -> {"value", "outcome", "detail"} for one answered case."""
    mcase = metric_case(case, trace, contexts)
    return {m.name: m.evaluate(answer_text, mcase).to_dict() for m in metrics}
