"""Run an evaluation: every case x repeat through the pipeline, scored, saved as it finishes.

One writer (the calling thread) appends each finished record to the run's `cases.jsonl`;
worker threads only ask and score. A re-run on the same folder skips the (case, repeat) pairs
already saved, so an interrupted run — Ctrl-C, SIGKILL, a backend that died — resumes with
every pair done exactly once.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from promptkit.errors import BackendError, ConfigError, PromptkitError, UserError
from promptkit.evaluation import rundir as rd_mod
from promptkit.evaluation.aggregate import summarise
from promptkit.evaluation.breakdown import retrieval_vs_reader
from promptkit.evaluation.config import HINT, EvalConfig, config_from_dict, load_config
from promptkit.evaluation.datasets import BadRecord, Case, Dataset, load_dataset
from promptkit.evaluation.records import RunRecord
from promptkit.evaluation.rundir import RunDir
from promptkit.evaluation.scoring import build_metrics, metric_info, score_answer
from promptkit.llm.base import GenParams


class Asker(Protocol):
    """What the runner needs from a pipeline."""

    def ask(self, question: str, *, contexts: list | None = None) -> Any: ...


ProgressFn = Callable[[int, int], None]     # (pairs finished, pairs in the run)
NotifyFn = Callable[[str], None]            # a line worth showing the user


@dataclass
class RunResult:
    run_dir: Path
    run_id: str
    summary: dict
    records: list[dict]
    bad_records: list[BadRecord] = field(default_factory=list)
    resumed: int = 0     # pairs that were already saved when this call started
    ran: int = 0         # pairs run by this call


def run_eval(config: EvalConfig | str | Path, run_dir: str | Path | None = None,
             concurrency: int | None = None, *, limit: int | None = None,
             on_bad_lines: str | None = None, progress: ProgressFn | None = None,
             notify: NotifyFn | None = None, pipeline: Asker | None = None,
             dataset: Dataset | None = None,
             only: Collection[str] | None = None) -> RunResult:
    """Run (or resume, when `run_dir` holds an unfinished run of the same config) an evaluation.

    `only`: answer just these case ids now (the run keeps the whole dataset and stays
    unfinished until every case is answered); experiments use it to go question by question.
    """
    cfg = config if isinstance(config, EvalConfig) else load_config(config)
    cfg = _with_overrides(cfg, concurrency=concurrency, limit=limit, on_bad_lines=on_bad_lines)
    notify = notify or (lambda _msg: None)

    if dataset is not None:
        ds = dataset
    else:
        loader = None if cfg.dataset.loader == "auto" else cfg.dataset.loader
        ds = load_dataset(cfg.dataset_path(), loader=loader, split=cfg.dataset.split)
    if cfg.dataset.limit is not None:
        ds = dataclasses.replace(ds, cases=ds.cases[:cfg.dataset.limit])
    if ds.errors:
        if cfg.on_bad_lines == "stop":
            ds.raise_on_errors()  # before any model is loaded or called
        notify(f"skipping {len(ds.errors)} bad dataset record(s):\n{ds.error_report()}")
    if not ds.cases:
        raise ConfigError("the dataset has no usable cases", path=ds.path)

    metrics = build_metrics(cfg.metrics, source=cfg.source)
    if pipeline is None:
        check_pipeline(cfg, ds.cases)   # a typo must not leave a failed run folder behind
    run = _run_dir(cfg, run_dir)
    with run.lock():
        return _run_locked(run, cfg, ds, metrics, pipeline, progress, notify,
                           None if only is None else set(only))


def _run_locked(run: RunDir, cfg: EvalConfig, ds: Dataset, metrics: list,
                pipeline: Asker | None, progress: ProgressFn | None,
                notify: NotifyFn, only: set[str] | None = None) -> RunResult:
    """The run itself, with the run folder locked against a second writer."""
    _open_run(run, cfg, ds, metrics)
    notify(f"run folder: {run.path}")
    done = run.finished()
    pairs = [(case, r) for case in ds.cases for r in range(cfg.repeats)]
    todo = [(c, r) for c, r in pairs if (c.id, r) not in done
            and (only is None or c.id in only)]
    resumed = sum((c.id, r) in done for c, r in pairs)
    if resumed:
        notify(f"resuming {run.id}: {resumed} of {len(pairs)} case runs already saved")

    ran = 0
    started = time.perf_counter()
    if todo:
        if progress:
            progress(resumed, len(pairs))  # the total is known before the first answer
        run.open_for_append()
        try:
            askers = _Repeats(pipeline or build_pipeline(cfg, ds.cases, notify), cfg.seed)
            work = lambda item: answer_case(askers.get(item[1]), metrics, cfg, *item)  # noqa: E731
            for record in _execute(todo, work, cfg.concurrency):
                run.append(record)
                ran += 1
                if progress:
                    progress(resumed + ran, len(pairs))
        except PromptkitError as exc:
            _finish_manifest(run, "failed", ran, str(exc))
            raise _stopped(exc, run, cfg, resumed + ran, len(pairs)) from exc
        except BaseException as exc:  # Ctrl-C or a bug: saved records stay, the run is resumable
            _finish_manifest(run, "failed", ran, f"{type(exc).__name__}: {exc}")
            notify(f"stopped: {resumed + ran} of {len(pairs)} case runs are saved in {run.path}. "
                   + _resume_hint(cfg, run))
            raise
        finally:
            run.close()
    elif progress:
        progress(resumed, len(pairs))

    wanted = {c.id for c in ds.cases}
    records = _ordered([rec for rec in run.finished().values() if rec["id"] in wanted], ds.cases)
    summary = summarise(records, [m.name for m in metrics], seed=cfg.seed,
                        binary={m.name: bool(getattr(m, "binary", False)) for m in metrics})
    split = retrieval_vs_reader(records, [m.name for m in metrics])
    if split is not None:
        summary["breakdown"] = split
    summary.update(
        run_id=run.id, name=cfg.name, expected_records=len(pairs),
        complete=len(records) == len(pairs), metric_info=metric_info(metrics),
        bad_records=[str(e) for e in ds.errors],
        wall_s=round(time.perf_counter() - started, 3), ran=ran, resumed=resumed,
    )
    run.write_json(rd_mod.SUMMARY, summary)
    # A run answered part by part (`only`) is "partial" until its last case.
    _finish_manifest(run, "complete" if summary["complete"] else "partial", ran, None)
    return RunResult(run.path, run.id, summary, records, list(ds.errors), resumed, ran)


# ---------------------------------------------------------------- one case

def answer_case(asker: Asker, metrics: list, cfg: EvalConfig, case: Case,
                repeat: int) -> RunRecord:
    """Ask one case and score it; runs on a worker thread."""
    t0 = time.perf_counter()
    seen: dict = {}
    kwargs: dict = {"contexts": _contexts_for(case, cfg)}
    if _takes(asker, "on_context"):  # the real pipeline shows what it packed into the prompt
        kwargs["on_context"] = lambda packing: seen.setdefault("packing", packing)
    answer = asker.ask(case.question, **kwargs)
    text = answer.text
    trace = dict(getattr(answer, "trace", None) or {})
    contexts = _packed(seen["packing"]) if "packing" in seen else trace.get("retrieved")
    return {
        "id": case.id,
        "repeat": repeat,
        "question": case.question,
        "answers": case.answers,
        "gold_ids": case.gold_ids,
        "answer": text,
        "citations": [_plain(c) for c in getattr(answer, "citations", None) or []],
        "contexts": contexts or [],
        "trace": trace,
        "scores": score_answer(metrics, case, text, trace, contexts or []),
        "elapsed_s": round(time.perf_counter() - t0, 4),
        "finished_at": rd_mod.now_iso(),
    }


def _takes(asker: Asker, name: str) -> bool:
    try:
        return name in inspect.signature(asker.ask).parameters
    except (TypeError, ValueError):  # builtins and odd callables: assume the plain protocol
        return False


def _packed(packing) -> list[dict]:
    """The passages the model read, in prompt order, with their text (the trace keeps ids only)."""
    return [{"id": p.chunk.id, "source": p.chunk.source, "score": p.chunk.score,
             "rank": p.chunk.rank, "position": p.number, "truncated": p.truncated,
             "text": p.chunk.text} for p in packing.chunks]


def _plain(obj):
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _contexts_for(case: Case, cfg: EvalConfig) -> list | None:
    # Passages shipped with the case (Lost in the Middle, SQuAD) replace retrieval; closed-book
    # asks with none at all.
    if cfg.pipeline.mode == "closed-book" or not case.contexts:
        return None
    return case.contexts


def check_pipeline(cfg: EvalConfig, cases: list[Case]) -> None:
    """Resolve the config's prompt, model spec and collection without loading a model."""
    from promptkit.pipeline.demo import check_collection

    p = cfg.pipeline
    try:
        pipe = _pipeline(cfg, p.collection)
    except UserError as exc:
        raise _in_config(exc, cfg, "pipeline.prompt") from None
    try:
        pipe.model  # noqa: B018 - builds the backend object: checks the spec, loads nothing
    except UserError as exc:
        raise _in_config(exc, cfg, "pipeline.model") from None
    if p.mode == "rag" and any(not c.contexts for c in cases):
        try:
            check_collection(p.collection)
        except UserError as exc:
            raise _in_config(exc, cfg, "pipeline.collection") from None


def _in_config(exc: UserError, cfg: EvalConfig, field: str) -> ConfigError:
    return ConfigError(exc.message, path=cfg.source, field=field, hint=exc.hint or HINT)


def build_pipeline(cfg: EvalConfig, cases: list[Case], notify: NotifyFn) -> Asker:
    """The real pipeline from the config's settings (the demo collection is built if empty)."""

    p = cfg.pipeline
    missing = [c.id for c in cases if not c.contexts]
    if p.mode == "oracle" and missing:
        raise ConfigError(f"oracle mode needs passages with every case; {len(missing)} have none "
                          f"(first: {missing[0]})", path=cfg.source, field="pipeline.mode",
                          hint="Use a dataset with contexts, or mode rag / closed-book.")
    collection = p.collection
    if p.mode == "rag" and missing:
        from promptkit.pipeline.demo import ready_collection

        collection = ready_collection(p.collection, say=notify)
    return _pipeline(cfg, collection)


def _pipeline(cfg: EvalConfig, collection) -> Asker:
    """The config's pipeline (nothing loaded until it is asked)."""
    from promptkit.pipeline import Pipeline

    p = cfg.pipeline
    return Pipeline.from_settings(p, prompt=p.prompt, model=p.model, collection=collection,
                                  where=p.where, min_score=p.min_score, mode=p.mode,
                                  cache_mode=cfg.cache_mode, seed=cfg.seed)


class _Repeats:
    """The pipeline for each repeat: repeat r generates with seed `seed + r`.

    With one seed every repeat would sample the same tokens (and hit the same cache entry), so
    repeats would measure nothing. Copies share the loaded model and store; pipelines that are
    not ours (anything with `.ask`) are used as they are.
    """

    def __init__(self, base: Asker, seed: int):
        self.base, self.seed = base, seed
        self._copies: dict[int, Asker] = {}
        self._lock = threading.Lock()
        self._seeded = isinstance(getattr(base, "params", None), GenParams)

    def get(self, repeat: int) -> Asker:
        if not self._seeded:
            return self.base
        with self._lock:
            if repeat not in self._copies:
                self.base.model  # noqa: B018 - load once here, so copies share the model
                twin = copy.copy(self.base)
                twin.params = dataclasses.replace(self.base.params, seed=self.seed + repeat)
                self._copies[repeat] = twin
            return self._copies[repeat]


# ---------------------------------------------------------------- execution

def _execute(items: list, fn: Callable, concurrency: int) -> Iterator[dict]:
    """Yield fn(item) results as they finish; at most `concurrency` run at once.

    On the first failure nothing new starts; results of calls already running are still
    yielded (they are finished work), then the failure is raised.
    """
    if concurrency <= 1:
        for item in items:
            yield fn(item)
        return
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
    queue = iter(items)
    running: set[Future] = set()
    failure: BaseException | None = None
    try:
        while True:
            while failure is None and len(running) < concurrency:
                item = next(queue, _END)
                if item is _END:
                    break
                running.add(pool.submit(fn, item))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                if fut.exception() is not None:
                    failure = failure or fut.exception()
                else:
                    yield fut.result()
        if failure is not None:
            raise failure
    finally:
        # Normal end: nothing left. Ctrl-C: don't start queued work, don't wait for stragglers.
        pool.shutdown(wait=failure is not None, cancel_futures=True)


_END = object()


def _resume_hint(cfg: EvalConfig, run: RunDir) -> str:
    if cfg.source:
        return f"Finish the rest with: promptkit eval run {cfg.source} --run-dir {run.path}"
    return f"Finish the rest by running the same evaluation with run_dir={str(run.path)!r}."


def _stopped(exc: PromptkitError, run: RunDir, cfg: EvalConfig, saved: int,
             total: int) -> PromptkitError:
    where = f"{saved} of {total} case runs are saved in {run.path}"
    resume = "Then: " + _resume_hint(cfg, run)
    if isinstance(exc, BackendError):
        next_step = exc.hint or "Check that the model backend is up."
        return BackendError(f"the run stopped: {exc.message}", backend=exc.backend,
                            hint=f"{where}. {next_step}\n{resume}")
    return UserError(f"the run stopped: {exc.message}", hint=f"{where}. {exc.hint or ''}\n{resume}")


# ---------------------------------------------------------------- run folder

def _with_overrides(cfg: EvalConfig, *, concurrency, limit, on_bad_lines) -> EvalConfig:
    """The config with command-line overrides applied, validated like the file itself."""
    data = cfg.to_dict()
    if concurrency is not None:
        data["concurrency"] = concurrency
    if on_bad_lines is not None:
        data["on_bad_lines"] = on_bad_lines
    if limit is not None:
        data["dataset"]["limit"] = limit
    return config_from_dict(data, source=cfg.source)


def _run_dir(cfg: EvalConfig, run_dir: str | Path | None) -> RunDir:
    if run_dir is None:
        return RunDir(rd_mod.runs_root() / rd_mod.new_run_id(cfg.name, cfg.fingerprint()))
    return RunDir(run_dir)


def _open_run(run: RunDir, cfg: EvalConfig, ds: Dataset, metrics: list) -> None:
    """Start a new run in `run`, or check that the one there belongs to this config and data."""
    def same_data(old: dict) -> None:
        if old.get("dataset", {}).get("content_hash") != ds.content_hash:
            raise ConfigError("the dataset changed since this run started", path=str(run.path),
                              hint="Start a new run (a new --run-dir) for the changed dataset.")

    def manifest(public: dict) -> dict:
        return {
            "name": cfg.name,
            "promptkit_version": package_version(),
            "config_source": cfg.source,
            "dataset": {"path": str(Path(ds.path).resolve()), "format": ds.format,
                        "content_hash": ds.content_hash, "cases": len(ds.cases),
                        "bad_records": len(ds.errors)},
            "pipeline": public["pipeline"],
            "model": public["pipeline"]["model"],
            "prompt_ref": cfg.pipeline.prompt,
            "prompts": {},
            "metrics": metric_info(metrics),
            "repeats": cfg.repeats,
            "seed": cfg.seed,
            "cache_mode": cfg.cache_mode,
        }

    run.start_or_resume(fingerprint=cfg.fingerprint(), config=cfg.to_dict(), manifest=manifest,
                        check=same_data)


def _finish_manifest(run: RunDir, status: str, ran: int, error: str | None) -> None:
    prompts = {**run.manifest().get("prompts", {}), **_prompt_hashes(run.records())}
    run.finish(status, updates={"prompts": prompts}, ran=ran, **({"error": error} if error else {}))


def _prompt_hashes(records: Iterable[dict]) -> dict[str, str]:
    """'name@version' -> content hash, from the traces (what was really rendered)."""
    out = {}
    for rec in records:
        prompt = rec.get("trace", {}).get("prompt")
        if isinstance(prompt, dict) and prompt.get("hash"):
            out[f"{prompt.get('name')}@{prompt.get('version')}"] = prompt["hash"]
    return out


def _ordered(records: list[dict], cases: list[Case]) -> list[dict]:
    rank = {c.id: i for i, c in enumerate(cases)}
    return sorted(records, key=lambda r: (rank.get(r["id"], len(rank)), r["repeat"]))


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("promptkit")
    except PackageNotFoundError:
        return "unknown"
