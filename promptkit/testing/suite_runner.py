"""Run suite cases through the real pipeline: one `SuiteRunner` per suite file per session.

The runner builds what the cases share once (prompt versions, pipelines, the model with the
suite's recordings attached as its cache, the retriever, the embedder) and turns each
(case, prompt) into a `CaseResult`: every repeat's output, its assertion outcomes and score.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from promptkit.errors import PromptkitError
from promptkit.llm.redact import public_spec
from promptkit.testing.assertions import (
    Judged,
    Outcome,
    Tools,
    evaluate,
    format_outcomes,
    indent_output,
    score,
)
from promptkit.testing.suite import CaseSpec, Suite
from promptkit.testing.suite_recordings import Recordings, record_hint


@dataclass
class RepeatResult:
    """One answer to one case and how the assertions judged it."""

    text: str
    outcomes: list[Outcome]
    citations: list[dict] = field(default_factory=list)
    latency_s: float | None = None
    pass_score: float = 1.0     # the weighted score that counts as passing

    @property
    def score(self) -> float:
        return score(self.outcomes)

    @property
    def passed(self) -> bool:
        if self.pass_score >= 1.0:
            return all(o.passed for o in self.outcomes)
        return self.score >= self.pass_score - 1e-9


@dataclass
class CaseResult:
    """A case under one prompt version: all repeats, or the error that stopped it."""

    suite: str
    case_id: str
    prompt: str
    prompt_hash: str
    model: str
    mode: str
    critical: bool
    runs: list[RepeatResult] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None

    @property
    def score(self) -> float | None:
        """Mean over repeats of the weighted share of assertions passed; None after an error."""
        if self.error or not self.runs:
            return None
        return math.fsum(r.score for r in self.runs) / len(self.runs)

    @property
    def pass_share(self) -> float | None:
        """Share of repeats that passed (0 or 1 without repeats); None after an error."""
        if self.error or not self.runs:
            return None
        return sum(r.passed for r in self.runs) / len(self.runs)

    def value(self, metric: str) -> float | None:
        """What the gate compares: `pass` (pass_share) or `score`."""
        return self.pass_share if metric == "pass" else self.score

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.runs) and all(r.passed for r in self.runs)

    @property
    def flaky(self) -> bool:
        """Repeats disagree: some passed, some failed."""
        return self.error is None and len({r.passed for r in self.runs}) > 1

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.flaky:
            return "flaky"
        return "passed" if self.passed else "failed"

    def failed_labels(self) -> list[str]:
        seen: dict[str, None] = {}
        for run in self.runs:
            for o in run.outcomes:
                if not o.passed:
                    seen.setdefault(o.label)
        return list(seen)

    def report(self) -> str:
        """Every failing (or flaky) repeat: its failed assertions and the output they judged."""
        head = (f"case '{self.case_id}' with {self.prompt} on {self.model} ({self.mode} mode)"
                + (" [critical]" if self.critical else ""))
        if self.error:
            return f"{head}: {self.error}" + (f"\n{self.hint}" if self.hint else "")
        n = len(self.runs)
        lines = [head + (f": passed {sum(r.passed for r in self.runs)}/{n} repeats (flaky)"
                         if self.flaky else "")]
        for i, run in enumerate(self.runs):
            if run.passed:
                continue
            which = f"repeat {i + 1}/{n}: " if n > 1 else ""
            failed = sum(not o.passed for o in run.outcomes)
            needs = f", needs {run.pass_score:.2f}" if run.pass_score < 1.0 else ""
            lines.append(f"{which}{failed} of {len(run.outcomes)} assertion(s) failed "
                         f"(score {run.score:.2f}{needs})")
            lines.append(format_outcomes(run.outcomes))
            lines.append("output:")
            lines.append(indent_output(run.text))
            if run.citations:
                lines.append("sources: " + ", ".join(
                    f"[{c.get('n', c.get('number'))}] {c.get('source', '')}"
                    + (" (attributed)" if c.get("kind") == "attributed" else "")
                    for c in run.citations))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(score=self.score, pass_share=self.pass_share, passed=self.passed,
                    flaky=self.flaky, status=self.status)
        return data


class _Capturing:
    """Wraps a collection so the runner sees the passages the pipeline retrieved."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.hits: list = []

    @property
    def name(self) -> str:
        return str(getattr(self.inner, "name", type(self.inner).__name__))

    @property
    def embedder(self):
        return getattr(self.inner, "embedder", None)

    def search(self, query: str, **options):
        self.hits = list(self.inner.search(query, **options))
        return self.hits


class SuiteRunner:
    """Runs one suite's cases. Models, retrievers and embedders load on first use."""

    def __init__(self, suite: Suite, *, mode: str, repeats: int | None = None,
                 model=None, judge=None, collections: dict | None = None, embedder=None):
        self.suite, self.mode = suite, mode
        self.repeats = repeats or suite.spec.repeats
        self.recordings = Recordings(suite.recordings_path, mode, hint=record_hint(_shown(suite)))
        self._model_override, self._judge_override = model, judge
        self._embedder_override = embedder
        self._collections: dict[str, Any] = dict(collections or {})
        self._models: dict[str, Any] = {}
        self._prompts: dict[str, Any] = {}
        self._pipelines: dict[tuple, Any] = {}

    # ---- what the suite uses -------------------------------------------------------------

    @property
    def model_spec(self) -> str:
        if self._model_override is not None:
            return self._model_override.spec
        from promptkit.llm.specs import default_spec

        return self.suite.spec.model or default_spec()

    def prompt(self, ref: str):
        """A prompt version, looked up in the suite's own prompts folder first."""
        if ref not in self._prompts:
            from promptkit.prompts import PromptRegistry, load_prompt, parse_ref

            spec = None
            if self.suite.spec.prompts_dir:
                registry = PromptRegistry(self.suite.resolve(self.suite.spec.prompts_dir))
                name, _ = parse_ref(ref)
                if name in registry.names():
                    spec = registry.load(ref)
            self._prompts[ref] = spec or load_prompt(ref)
        return self._prompts[ref]

    def check(self, prompts: list[str]) -> None:
        """Resolve the prompt versions and model specs the suite names, before any case runs.

        An unknown prompt or model is a mistake in the suite (or the command line), reported
        once as the suite file's error, not as every case failing.
        """
        from promptkit.errors import ConfigError, UserError

        for ref in prompts:
            try:
                self.prompt(ref)
            except UserError as exc:
                raise ConfigError(exc.message, path=str(self.suite.path), field="prompts",
                                  hint=exc.hint) from None
        for key, spec in (("model", None), ("judge", self.suite.spec.judge)):
            if key == "judge" and not spec:
                continue
            try:
                self._model(spec)
            except UserError as exc:
                raise ConfigError(exc.message, path=str(self.suite.path), field=key,
                                  hint=exc.hint) from None

    def _model(self, spec: str | None):
        spec = spec or self.model_spec
        if spec not in self._models:
            override = self._model_override if spec == self.model_spec else None
            if override is None and self._judge_override is not None \
                    and spec == getattr(self._judge_override, "spec", None):
                override = self._judge_override
            if override is not None:
                model = override
            else:
                from promptkit.llm.specs import get_model

                model = get_model(spec, cache_mode="off")
            model.cache = None if self.mode == "off" else self.recordings
            self._models[spec] = model
        return self._models[spec]

    def embedder(self, name: str | None = None):
        if self._embedder_override is not None and name is None:
            return self._embedder_override
        from promptkit.embedders import FAST, get_embedder

        retrieval = self.suite.spec.retrieval
        return get_embedder(name or self.suite.spec.embedder
                            or (retrieval.embedder if retrieval else None) or FAST)

    def collection(self, name: str):
        """Retrieval from `name`: searched live, recorded, or replayed from the recordings."""
        if name not in self._collections:
            from promptkit.testing.suite_store import SuiteRetrieval

            self._collections[name] = SuiteRetrieval(self.suite, name, self.recordings,
                                                     self.embedder)
        return self._collections[name]

    def pipeline(self, prompt_ref: str, case: CaseSpec):
        retrieval = self.suite.spec.retrieval
        collection = case.collection or (retrieval.collection if retrieval else None)
        key = (prompt_ref, collection)
        if key not in self._pipelines:
            from promptkit.pipeline import Pipeline

            options: dict[str, Any] = {}
            if retrieval is not None:
                if retrieval.rerank:
                    from promptkit.testing.suite_store import SuiteReranker

                    options.update(rerank=SuiteReranker(retrieval.rerank, self.recordings,
                                                        self.suite),
                                   rerank_candidates=retrieval.rerank_candidates)
            prompt = self.prompt(prompt_ref)
            mode = self.suite.spec.mode
            if prompt.variables == {"question"}:
                # A version without {context} runs closed-book: the suite then measures what
                # the passages are worth (and catches a template that lost its context).
                mode, collection = "closed-book", None
            capture = _Capturing(self.collection(collection)) if collection else None
            # Without a collection every case gives its passages, so the name is never opened.
            pipeline = Pipeline.from_settings(
                retrieval, self.suite.spec.params, prompt=prompt, model=self._model(None),
                collection=capture or "no-collection", mode=mode, seed=self.suite.spec.params.seed,
                **options)
            self._pipelines[key] = (pipeline, capture)
        return self._pipelines[key]

    def tools(self) -> Tools:
        def judge(spec: str | None, params):
            model = self._model(spec or self.suite.spec.judge)

            def ask(messages: list[dict]) -> str:
                previous = self.recordings.tag["role"]
                self.recordings.tag["role"] = "judge"
                try:
                    return model.generate(messages, params).text
                finally:
                    self.recordings.tag["role"] = previous
            return ask

        return Tools(embedder=self.embedder, judge=judge)

    # ---- running -------------------------------------------------------------------------

    def run_case(self, case_id: str, prompt_ref: str) -> CaseResult:
        """All repeats of one case under one prompt version; promptkit errors become results."""
        case = self.suite.spec.case(case_id)
        # Results become baselines and reports meant to be committed: no credentials in them.
        result = CaseResult(self.suite.name, case.id, prompt_ref, "", public_spec(self.model_spec),
                            self.mode, self.suite.spec.is_critical(case))
        try:
            prompt = self.prompt(prompt_ref)
            result.prompt, result.prompt_hash = prompt.ref, prompt.hash
            for repeat in range(self.repeats):
                self.recordings.tag = {"case": case.id, "prompt": prompt.ref, "role": "answer",
                                       "repeat": repeat}
                result.runs.append(self._run_once(case, prompt_ref))
        except PromptkitError as exc:
            result.error, result.hint = exc.message, exc.hint
        finally:
            self.recordings.save()   # after every case: an interrupted record run keeps its work
        return result

    def _run_once(self, case: CaseSpec, prompt_ref: str) -> RepeatResult:
        pipeline, capture = self.pipeline(prompt_ref, case)
        contexts = None if pipeline.mode == "closed-book" else case.contexts
        answer = pipeline.ask(case.question, contexts=contexts)
        served = self.recordings.take_served()
        from promptkit.pipeline import trace as traces

        latency, note = traces.generate_seconds(answer.trace), ""
        if served is not None:
            latency, note = served.get("latency_s"), "as recorded"
        judged = Judged(answer.text, case,
                        citations=[asdict(c) for c in answer.citations],
                        contexts=self._shown_passages(capture, answer, case),
                        retrieved=traces.retrieved(answer.trace),
                        latency_s=latency, latency_note=note, trace=answer.trace)
        outcomes = evaluate(self.suite.spec.assertions_for(case), judged, self.tools())
        return RepeatResult(answer.text, outcomes, judged.citations, latency,
                            self.suite.spec.pass_score(case))

    @staticmethod
    def _shown_passages(capture: _Capturing | None, answer, case: CaseSpec) -> list[str]:
        if answer.trace.get("mode") == "closed-book":
            return []
        if case.contexts or capture is None:
            return list(case.contexts or [])
        hits = capture.hits
        by_id = {}
        for hit in hits:
            get = hit.get if isinstance(hit, dict) else (lambda k, h=hit: getattr(h, k, None))
            by_id[str(get("id"))] = get("text") or ""
        from promptkit.pipeline.trace import packed

        return [by_id.get(str(p["id"]), "") for p in packed(answer.trace)]

    def close(self) -> None:
        self.recordings.save()


def _shown(suite: Suite) -> str:
    """The suite path as the user would type it (relative to the working folder if possible)."""
    from pathlib import Path

    try:
        return str(suite.path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(suite.path)

