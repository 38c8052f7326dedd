"""A run folder on disk: config copy, manifest, per-case JSONL and summary.

`cases.jsonl` is append-only and each record is flushed and fsynced before the next one starts,
so a killed run loses at most the record being written. That torn last line is recognised (it
has no newline) and cut off when the run is opened again; every complete line is a finished
(case id, repeat) pair, so resuming skips exactly those.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from promptkit.errors import ConfigError, NotFoundError, UserError
from promptkit.evaluation.records import RunRecord
from promptkit.locking import Busy, exclusive
from promptkit.safeparse import loads_json

CONFIG = "config.yaml"
MANIFEST = "manifest.json"
CASES = "cases.jsonl"
SUMMARY = "summary.json"
LOCK = ".lock"   # held by the process writing the run (see promptkit.locking)


class RunFolderBusy(Busy):
    """Another process is writing this run folder."""


def runs_root() -> Path:
    """Where new runs go: $PROMPTKIT_RUNS_DIR, else ./runs."""
    env = os.environ.get("PROMPTKIT_RUNS_DIR")
    return Path(env).expanduser() if env else Path.cwd() / "runs"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_run_id(name: str, fingerprint: str) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"
    return f"{stamp}-{safe}-{fingerprint[:6]}"


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


class RunDir:
    """One run's folder; the only code that reads or writes its files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = None

    @property
    def id(self) -> str:
        # `--run-dir .` or `..` name the folder they stand for
        return Path(os.path.abspath(self.path)).name

    def exists(self) -> bool:
        return (self.path / MANIFEST).is_file()

    def held_run(self, fingerprint: str, *, manifest_name: str = MANIFEST,
                 hint: str = "Resume only with the config that started it, or pick a new "
                             "--run-dir.") -> dict | None:
        """The manifest of the run this folder holds (None: it holds none), refused when that
        run was started with other settings than `fingerprint` names."""
        if not (self.path / manifest_name).is_file():
            return None
        old = self.read_json(manifest_name)
        if old.get("fingerprint") != fingerprint:
            raise ConfigError("this folder holds a run of different settings",
                              path=str(self.path), hint=hint)
        return old

    def start_or_resume(self, *, fingerprint: str, config: dict,
                        manifest: Callable[[dict], dict], invocation: dict | None = None,
                        check: Callable[[dict], None] | None = None,
                        manifest_name: str = MANIFEST) -> bool:
        """The run folder lifecycle's first step, for evaluation and experiment runs alike.

        A folder that holds a run is resumed only by the settings that started it (same
        `fingerprint`, then the caller's `check` of the old manifest) and gets a new entry in
        `invocations`; otherwise the folder is created with `config.yaml` (credentials
        stripped: run folders are meant to be shared and committed) and the manifest that
        `manifest(public config)` describes. Returns True when the run is new.
        """
        import yaml

        from promptkit.llm.redact import public_data

        invocation = invocation or {"started": now_iso()}
        old = self.held_run(fingerprint, manifest_name=manifest_name)
        if old is not None:
            if check is not None:
                check(old)
            old.setdefault("invocations", []).append(invocation)
            old["status"] = "running"
            self.write_json(manifest_name, old)
            return False
        public = public_data(config)
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_text(CONFIG, yaml.safe_dump(public, sort_keys=False, allow_unicode=True))
        self.write_json(manifest_name, {
            "run_id": self.id, "fingerprint": fingerprint, "status": "running",
            "started": invocation.get("started", now_iso()), "finished": None,
            "invocations": [invocation], **manifest(public)})
        return True

    def finish(self, status: str, *, manifest_name: str = MANIFEST, updates: dict | None = None,
               **invocation) -> dict:
        """The run folder lifecycle's last step: the manifest's status and finish time, the
        same on its latest `invocations` entry with `invocation`'s fields (ran, error), and
        `updates` merged into the manifest. Returns the manifest written."""
        man = self.read_json(manifest_name)
        man.update(updates or {})
        man.update(status=status, finished=now_iso())
        man.setdefault("invocations", [{}])[-1].update(finished=man["finished"], status=status,
                                                       **invocation)
        self.write_json(manifest_name, man)
        return man

    def check_replaceable(self, kind: str) -> None:
        """Refuse (exit 2) a `--run-dir` that a whole-run write of `kind` must not replace: a
        file, a folder holding another kind of run or an experiment, a folder with other files
        and no run. Call it before the work, so that a refusal costs nothing."""
        hint = f"Pass a new folder (it is created), or one an earlier {kind} run wrote."
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path} is a file, not a folder", hint=hint)
        if self.exists():
            held = self.manifest().get("kind") or "evaluation"
            if held != kind:
                raise UserError(f"{self.path} holds {_a(held)} run; writing the {kind} run "
                                "there would replace it", hint=hint)
        elif (self.path / "experiment.json").is_file():
            raise UserError(f"{self.path} holds an experiment; writing the {kind} run there "
                            "would mix the two", hint=hint)
        elif self.path.is_dir() and any(not p.name.startswith(LOCK)   # .lock, .lock.holder
                                        and not p.name.endswith(".tmp")
                                        for p in self.path.iterdir()):
            raise UserError(f"{self.path} holds other files and no run", hint=hint)

    def write_whole(self, records: list[RunRecord], *, kind: str, fingerprint: str,
                    config: dict, manifest: Callable[[dict], dict], summary: dict,
                    status: str = "complete", started: str | None = None) -> None:
        """A run of `kind` computed whole in one go (a suite session, a retrieval benchmark),
        written through the same lifecycle: the run the folder held (of the same kind:
        `check_replaceable`, checked again under the lock) is replaced, config and manifest come
        from `start_or_resume`, every record goes into cases.jsonl in one atomic write, then the
        summary and `finish`. `started`: when the work began (default: now)."""
        self.check_replaceable(kind)     # before the lock file is made inside it
        with self.lock():
            self.check_replaceable(kind)
            for name in (CASES, MANIFEST, SUMMARY):
                (self.path / name).unlink(missing_ok=True)
            self.start_or_resume(fingerprint=fingerprint, config=config,
                                 manifest=lambda public: {**manifest(public), "kind": kind},
                                 invocation={"started": started or now_iso()})
            self.write_text(CASES, "".join(json.dumps(rec, ensure_ascii=False, default=str)
                                           + "\n" for rec in records))
            self.write_json(SUMMARY, summary)
            self.finish(status, ran=len(records))

    def lock(self):
        """One writer per run folder: a second `eval run --run-dir` here stops at once (exit 2)."""
        return exclusive(self.path / LOCK, busy=RunFolderBusy,
                         what=f"run folder {self.path} is being written by",
                         hint="Wait for that run to finish (or stop it): the same command then "
                              "resumes whatever is left. To run again alongside it, pick "
                              "another --run-dir.")

    # ------------------------------------------------------------ small JSON files

    def read_json(self, name: str) -> dict:
        p = self.path / name
        try:
            data = loads_json(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{name} is missing; is this a promptkit run folder?",
                              path=str(self.path)) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name} is not valid JSON ({exc.msg})", path=str(p),
                              line=exc.lineno) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{name} does not hold a JSON object; is this a promptkit run "
                              "folder?", path=str(p))
        return data

    def write_json(self, name: str, data: dict) -> None:
        """Replace a small file atomically (write aside, fsync, rename)."""
        self.write_text(name, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    def write_text(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{name}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / name)

    def manifest(self) -> dict:
        return self.read_json(MANIFEST)

    def summary(self) -> dict:
        return self.read_json(SUMMARY)

    def has_summary(self) -> bool:
        return (self.path / SUMMARY).is_file()

    # ------------------------------------------------------------ per-case records

    def repair(self) -> int:
        """Cut a torn last line off cases.jsonl; return how many bytes were dropped."""
        p = self.path / CASES
        if not p.is_file():
            return 0
        with p.open("rb+") as fh:
            data = fh.read()
            keep = data.rfind(b"\n") + 1  # 0 when there is no complete line at all
            if keep == len(data):
                return 0
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return len(data) - keep

    def records(self) -> Iterator[RunRecord]:
        """Every complete record in file order; a torn last line is left out."""
        p = self.path / CASES
        if not p.is_file():
            return
        with p.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.endswith(b"\n"):
                    return  # torn tail from a killed writer: not a finished case
                try:
                    yield loads_json(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"record is not valid JSON ({exc.msg})", path=str(p),
                                      line=lineno,
                                      hint="Only the last line can be torn by a crash; "
                                           "this file was edited or damaged.") from exc

    def finished(self) -> dict[tuple[str, int], RunRecord]:
        """(case id, repeat) -> record, first record winning if a pair was somehow written twice."""
        out: dict[tuple[str, int], RunRecord] = {}
        for rec in self.records():
            out.setdefault((rec["id"], int(rec["repeat"])), rec)
        return out

    def open_for_append(self) -> None:
        self.repair()
        self.path.mkdir(parents=True, exist_ok=True)
        self._fh = (self.path / CASES).open("ab")

    def append(self, record: dict) -> None:
        """Write one finished record durably before returning."""
        line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        self._fh.write(line)  # one write call: a kill leaves a prefix of it, never a mix
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def resolve_run(ref: str | Path) -> RunDir:
    """A run folder by path, or by run id under the runs root (a unique prefix is enough)."""
    p = Path(ref).expanduser()
    if (p / MANIFEST).is_file():
        return RunDir(p)
    root = runs_root()
    if (root / str(ref) / MANIFEST).is_file():
        return RunDir(root / str(ref))
    known = sorted(d.name for d in root.iterdir()
                   if (d / MANIFEST).is_file()) if root.is_dir() else []
    matches = [k for k in known if k.startswith(str(ref))]
    if len(matches) == 1:
        return RunDir(root / matches[0])
    raise NotFoundError("run", str(ref), known,
                        hint=f"Pass a run folder path or a run id under {root}.")
