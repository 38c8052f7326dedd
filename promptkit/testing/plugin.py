"""pytest plugin (entry point `pytest11`): every case of a regression suite is a test item.

The plugin is loaded by every pytest run in an environment where promptkit is installed, so
it collects only the suites it is told about: paths in the `promptkit_suites` ini option
(`promptkit_suites = eval/suites` in pytest.ini, or a list under [tool.pytest.ini_options]),
paths given with --promptkit-suite (what `promptkit test` passes), and YAML files named on
the command line. In a suite folder, its YAML files are suites, and so is any `*.suite.yaml`
below it. Each suite becomes `suite.yaml::case` items, plus one `gate` item per prompt version
that compares the run with the blessed baseline. Options:
--promptkit-mode replay|record|read-write|off,
--promptkit-prompt NAME@VERSION (repeatable: side-by-side comparison), --promptkit-repeats N,
--promptkit-bless, --promptkit-report FILE, --promptkit-summary-md FILE (Markdown for a CI job
summary or a pull-request comment).

Outcomes: a passing case passes; a critical case that fails (or is flaky) fails; a
non-critical failure fails too until the suite has a baseline, after which it is reported as
xfail and the gate decides, with the paired test, whether the suite as a whole got worse.
Cases that disagree across repeats are reported as FLAKY.

This module is imported by every pytest run in the environment: only light imports at the top.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

_STATE = pytest.StashKey["_State"]()
_FLAKY = ("promptkit", "flaky")


def pytest_addoption(parser: pytest.Parser) -> None:
    from promptkit.choices import CACHE_MODES, OLD_CACHE_MODE_NAMES

    group = parser.getgroup("promptkit", "promptkit regression suites")
    group.addoption("--promptkit-mode", default=None,
                    choices=(*CACHE_MODES, *OLD_CACHE_MODE_NAMES),
                    help="replay recorded responses, record them from the model, read-write "
                         "(replay what is recorded, record the rest) or off (the model answers "
                         "every call; 'live' is its deprecated name). Default: "
                         "replay under CI; elsewhere $PROMPTKIT_CACHE_MODE, else off")
    group.addoption("--promptkit-prompt", action="append", default=[], metavar="NAME@VERSION",
                    help="prompt version to test instead of the suite's own; repeat to compare")
    group.addoption("--promptkit-repeats", type=int, default=None, metavar="N",
                    help="answer every case N times and report disagreeing cases as flaky")
    group.addoption("--promptkit-bless", action="store_true", default=False,
                    help="store this run's per-case results as the suite's baseline")
    group.addoption("--promptkit-report", default=None, metavar="FILE",
                    help="write every case result as JSON to FILE")
    group.addoption("--promptkit-run-dir", default=None, metavar="DIR",
                    help="write each suite x prompt version as an evaluation run folder under "
                         "DIR (for promptkit eval report / eval compare)")
    group.addoption("--promptkit-summary-md", default=None, metavar="FILE",
                    help="write a Markdown summary (pass rates, gates, flipped cases) to FILE")
    group.addoption("--promptkit-suite", action="append", default=[], metavar="PATH",
                    help="a suite file or folder to collect, on top of promptkit_suites")
    parser.addini("promptkit_suites", type="paths", default=[],
                  help="suite files or folders the promptkit plugin collects (relative to "
                       "this ini file); nothing else is taken for a suite")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = _State(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix in (".yaml", ".yml") and is_suite_path(
            file_path, parent.config.stash[_STATE].suite_roots):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


SUITE_RULE = ("a suite is a YAML file named on the command line or in the `promptkit_suites` "
              "ini option, a YAML file directly inside a folder named that way, or a "
              "*.suite.yaml / *.suite.yml file anywhere below such a folder")


def _is_suite_name(path: Path) -> bool:
    return path.name.endswith((".suite.yaml", ".suite.yml"))


def is_suite_path(path: Path, roots: list[Path]) -> bool:
    """A YAML file is a suite if it is one of `roots`, sits directly in one of them (a suite
    folder), or is named `*.suite.yaml` anywhere below one."""
    path = path.resolve()
    for root in roots:
        if path == root or path.parent == root:
            return True
        if _is_suite_name(path) and root in path.parents:
            return True
    return False


def suite_roots(config: pytest.Config) -> list[Path]:
    """What the plugin may collect: the ini option, --promptkit-suite, YAML files named as
    arguments (never a whole folder given to pytest: `pytest .` must not turn a project's
    other YAML files into suites)."""
    here = Path(config.invocation_params.dir)
    roots = [Path(p) for p in config.getini("promptkit_suites")]
    roots += [here / p for p in config.getoption("--promptkit-suite") or []]
    for arg in config.invocation_params.args:
        arg = str(arg).split("::")[0]
        if arg.endswith((".yaml", ".yml")) and not arg.startswith("-"):
            roots.append(here / arg)
    return [r.resolve() for r in roots]


class _State:
    """What one pytest session knows about the suites it runs."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.prompts: list[str] = list(config.getoption("--promptkit-prompt") or [])
        self.repeats: int | None = config.getoption("--promptkit-repeats")
        self.bless: bool = bool(config.getoption("--promptkit-bless"))
        self._mode: str | None = None
        self.runners: dict[Path, object] = {}
        self.runs: dict[tuple[Path, str], object] = {}   # (suite path, prompt) -> PromptRun
        self._baselines: dict[Path, object] = {}
        self.notes: list[str] = []
        self.suite_roots = suite_roots(config)

    @property
    def mode(self) -> str:
        if self._mode is None:
            from promptkit.testing.suite_recordings import resolve_mode

            self._mode = resolve_mode(self.config.getoption("--promptkit-mode"))
        return self._mode

    def runner(self, suite):
        if suite.path not in self.runners:
            from promptkit.testing.suite_runner import SuiteRunner

            self.runners[suite.path] = SuiteRunner(suite, mode=self.mode, repeats=self.repeats)
        return self.runners[suite.path]

    def run_for(self, suite, prompt: str):
        key = (suite.path, prompt)
        if key not in self.runs:
            from promptkit.testing.suite_report import PromptRun

            self.runs[key] = PromptRun(suite.name, prompt, self.mode, len(suite.spec.cases),
                                       metric=suite.spec.gate.metric)
        return self.runs[key]

    def baseline(self, suite):
        if suite.path not in self._baselines:
            from promptkit.testing.baseline import read_baseline

            self._baselines[suite.path] = read_baseline(suite.baseline_path)
        return self._baselines[suite.path]


class SuiteFile(pytest.File):
    """A suite YAML file: its cases (x prompt versions), then one gate per prompt version."""

    def collect(self):
        from promptkit.testing.suite import GATE_ID, load_suite

        state = self.config.stash[_STATE]
        suite = load_suite(self.path)
        _ = state.mode   # a bad mode is reported once, here, as this file's collection error
        prompts = state.prompts or suite.spec.prompts
        state.runner(suite).check(prompts)   # unknown prompt or model: this file's error too
        several = len(prompts) > 1
        for prompt in prompts:
            for case in suite.spec.cases:
                name = f"{case.id}[{prompt}]" if several else case.id
                yield CaseItem.from_parent(self, name=name, suite=suite, case_id=case.id,
                                           prompt=prompt)
        for prompt in prompts:
            name = f"{GATE_ID}[{prompt}]" if several else GATE_ID
            yield GateItem.from_parent(self, name=name, suite=suite, prompt=prompt,
                                       alone=not several)

    def repr_failure(self, excinfo):
        from promptkit.errors import PromptkitError

        if isinstance(excinfo.value, PromptkitError):
            return _error_text(excinfo.value)
        # pytest 9's Collector.repr_failure takes no `style`; passing one turned any unexpected
        # error in one suite into an INTERNALERROR that stopped every other suite.
        return super().repr_failure(excinfo)


def _error_text(exc) -> str:
    return exc.message + (f"\n{exc.hint}" if exc.hint else "")


class SuiteCaseFailed(Exception):
    """A case failed its assertions, or errored; the text is the full report."""


class _SuiteItem(pytest.Item):
    def __init__(self, *, suite, prompt: str, **kw):
        super().__init__(**kw)
        self.suite, self.prompt = suite, prompt

    @property
    def state(self) -> _State:
        return self.config.stash[_STATE]

    def repr_failure(self, excinfo, style=None):
        from promptkit.errors import PromptkitError

        if isinstance(excinfo.value, SuiteCaseFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, PromptkitError):
            return _error_text(excinfo.value)
        return super().repr_failure(excinfo, style)


class CaseItem(_SuiteItem):
    """One case under one prompt version."""

    def __init__(self, *, case_id: str, **kw):
        super().__init__(**kw)
        self.case_id = case_id

    def reportinfo(self):
        return self.path, None, f"{self.suite.name}::{self.name}"

    def runtest(self) -> None:
        state = self.state
        result = state.runner(self.suite).run_case(self.case_id, self.prompt)
        state.run_for(self.suite, self.prompt).results[self.case_id] = result
        # Shown per test case in JUnit XML (--junit-xml), next to pytest's own outcome.
        self.user_properties += [("prompt", self.prompt), ("status", result.status),
                                 ("score", "-" if result.score is None else f"{result.score:.3f}"),
                                 ("critical", str(result.critical).lower())]
        if result.passed:
            return
        if result.error:
            raise SuiteCaseFailed(result.report())
        if result.flaky and not result.critical:
            self.user_properties.append(_FLAKY)
            return
        baseline = None if state.bless else state.baseline(self.suite)
        if not result.critical and (state.bless or baseline is not None):
            # The baseline holds the suite's level and the gate judges a drop; one
            # non-critical case on its own cannot.
            was = (baseline.cases.get(self.case_id) or {}).get("status") if baseline else None
            why = "passed in the baseline, the gate decides" if was == "passed" else "non-critical"
            pytest.xfail(f"{why}; {len(result.failed_labels())} assertion(s) failed: "
                         + "; ".join(result.failed_labels()))
        raise SuiteCaseFailed(result.report())


class GateItem(_SuiteItem):
    """After a suite's cases: bless them as the baseline, or compare them with it."""

    def __init__(self, *, alone: bool = True, **kw):
        super().__init__(**kw)
        self.alone = alone   # the only prompt version in this run (blessing needs that)

    def reportinfo(self):
        return self.path, None, f"{self.suite.name}::{self.name}"

    def runtest(self) -> None:
        from promptkit.errors import UserError
        from promptkit.testing.baseline import gate, make_baseline, write_baseline

        state = self.state
        run = state.run_for(self.suite, self.prompt)
        results = list(run.results.values())
        if not results:
            pytest.skip("no case of this suite ran")
        spec = self.suite.spec
        if state.bless:
            if not self.alone:
                raise SuiteCaseFailed("cannot bless several prompt versions in one run: the "
                                      "baseline holds one. Bless with a single --prompt.")
            if len(results) < len(spec.cases):
                raise SuiteCaseFailed(f"cannot bless {self.suite.name}: only {len(results)} of "
                                      f"{len(spec.cases)} cases ran (deselected?)")
            try:
                baseline = make_baseline(results, repeats=state.runner(self.suite).repeats)
            except UserError as exc:
                raise SuiteCaseFailed(_error_text(exc)) from None
            write_baseline(self.suite.baseline_path, baseline)
            run.baseline_value = baseline.mean(spec.gate.metric)
            run.gate = f"blessed -> {_relative(self.suite.baseline_path)}"
            state.notes.append(f"blessed {self.prompt} as the baseline of {self.suite.name}: "
                               f"{_relative(self.suite.baseline_path)}")
            return
        baseline = state.baseline(self.suite)
        if all(r.error for r in results):
            pytest.skip("every case ended in an error: nothing for the gate to compare")
        outcome = gate(baseline, results, alpha=spec.gate.alpha, min_score=spec.gate.min_score,
                       metric=spec.gate.metric)
        run.baseline_value = baseline.mean(spec.gate.metric) if baseline else None
        run.known = {c for c, b in baseline.cases.items() if b.get("status") != "passed"} \
            if baseline else set()
        run.gate_passed, run.broken, run.fixed = outcome.passed, outcome.broken, outcome.fixed
        verdict = "ok" if outcome.passed else "FAIL"
        if outcome.verdict:
            run.gate = f"{verdict} ({outcome.verdict}, p={outcome.p_value:.3g})"
        else:
            run.gate = verdict if baseline is not None or not outcome.passed else "no baseline"
        if not outcome.passed:
            raise SuiteCaseFailed(f"gate failed for {self.suite.name} with {self.prompt}:\n"
                                  + outcome.summary)
        state.notes.append(f"{self.suite.name} gate ({self.prompt}): {outcome.summary}")


@pytest.fixture
def promptkit_replay(request: pytest.FixtureRequest):
    """Record/replay for hand-written tests: `model = promptkit_replay.model("ollama:llama3.2")`.

    Answers live in `recordings/<test module>.jsonl` beside the test file; the mode comes from
    --promptkit-mode, else replay under CI, else $PROMPTKIT_CACHE_MODE, as for suites.
    """
    from promptkit.testing.suite_recordings import Recordings, ReplaySession, fixture_hint

    test_file = Path(str(request.path))
    recordings = Recordings(test_file.parent / "recordings" / f"{test_file.stem}.jsonl",
                            request.config.stash[_STATE].mode,
                            hint=fixture_hint(request.node.nodeid))
    recordings.tag = {"case": request.node.name, "prompt": None, "role": "answer", "repeat": 0}
    yield ReplaySession(recordings)
    recordings.save()


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def pytest_report_teststatus(report, config):
    if report.when == "call" and report.passed and _FLAKY in report.user_properties:
        return "flaky", "~", ("FLAKY", {"yellow": True})
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    for runner in state.runners.values():
        runner.close()
    path = session.config.getoption("--promptkit-report")
    if path and state.runs:
        data = [{"suite": run.suite, "prompt": run.prompt, "mode": run.mode, "gate": run.gate,
                 "score": run.score, "pass_rate": run.pass_rate,
                 "cases": [r.to_dict() for r in run.results.values()]}
                for run in state.runs.values()]
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                              encoding="utf-8")
    run_dir = session.config.getoption("--promptkit-run-dir")
    if run_dir and state.runs:
        from promptkit.errors import UserError
        from promptkit.testing.suite_runs import write_run

        for (suite_path, _prompt), run in state.runs.items():
            runner = state.runners.get(suite_path)
            if runner is not None and run.results:
                try:
                    folder = write_run(run, runner.suite, run_dir, repeats=runner.repeats)
                except UserError as exc:   # e.g. the folder holds another kind of run
                    state.notes.append(f"{run.suite} ({run.prompt}): no run folder written: "
                                       f"{exc}")
                    session.exitstatus = pytest.ExitCode.USAGE_ERROR
                    continue
                state.notes.append(f"{run.suite} ({run.prompt}) as a run folder: {folder}")
    summary = session.config.getoption("--promptkit-summary-md")
    if summary:
        from promptkit.testing.suite_markdown import markdown_summary

        Path(summary).parent.mkdir(parents=True, exist_ok=True)
        Path(summary).write_text(markdown_summary(list(state.runs.values()), exitstatus),
                                 encoding="utf-8")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or not state.runs:
        return
    from promptkit.testing.suite_report import compare_prompts, failures, table

    tr = terminalreporter
    runs = list(state.runs.values())
    tr.write_sep("=", "promptkit suites")
    tr.write_line(table(runs))
    by_suite: dict[Path, list] = {}
    for (path, _prompt), run in state.runs.items():
        by_suite.setdefault(path, []).append(run)
    for path, suite_runs in by_suite.items():
        runner = state.runners.get(path)
        gate_spec = runner.suite.spec.gate if runner else None
        for other in suite_runs[1:]:
            tr.write_line("")
            tr.write_line(compare_prompts(suite_runs[0], other,
                                          gate_spec.alpha if gate_spec else 0.05,
                                          gate_spec.metric if gate_spec else "pass"))
    for note in state.notes:
        tr.write_line(note)
    verbose = config.getoption("verbose") > 0
    lines = failures(runs, full=verbose)
    if lines:
        tr.write_line("")
        tr.write_line("cases not passing:" if verbose else
                      "cases not passing (-v shows each one's assertions and output):")
        for line in lines:
            tr.write_line("  " + line)
