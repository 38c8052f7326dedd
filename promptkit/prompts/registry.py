"""`PromptRegistry`: a folder of `<name>/v<N>.yaml` files, references, labels and the lock."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from promptkit.errors import ConfigError, NotFoundError, UserError
from promptkit.prompts.loading import load_spec, read_yaml
from promptkit.prompts.lock import LOCK_NAME, LockReport, Modified, read_lock, write_lock
from promptkit.prompts.scaffold import fresh_text, next_version_text
from promptkit.prompts.spec import NAME_RE, PromptSpec

_FILE_RE = re.compile(r"^v([1-9][0-9]*)\.yaml$")
LIST_HINT = "List what exists with `promptkit prompts list`."


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`name`, `name@3`, `name@label` → (name, selector or None)."""
    name, sep, selector = ref.strip().partition("@")
    if not name or (sep and not selector):
        raise UserError(f"'{ref}' is not a prompt reference",
                        hint="Write NAME (latest), NAME@VERSION (e.g. rag-answer@2) or NAME@LABEL.")
    return name, selector or None


class PromptRegistry:
    """Resolves references against a prompts folder; reads files lazily and caches them.

    With `shipped=True` (the default when no `root` is given) the prompts that come with
    promptkit are a fallback: a name in `root` wins, a name only in the library resolves
    there. Writing (`new`, `lock`) and checking (`status`, `check`) concern `root` only.
    """

    def __init__(self, root: Path | str | None = None, *, shipped: bool | None = None):
        from promptkit.paths import prompts_dir, shipped_prompts_dir

        if shipped is None:
            shipped = root is None
        self.root = Path(root) if root is not None else prompts_dir()
        self._index: dict[str, dict[int, Path]] | None = None
        self._specs: dict[Path, PromptSpec] = {}
        library = shipped_prompts_dir()
        self.fallback: PromptRegistry | None = None
        if shipped and library.resolve() != self.root.resolve():
            self.fallback = PromptRegistry(library, shipped=False)

    def __repr__(self) -> str:
        return f"PromptRegistry({str(self.root)!r})"

    def source(self, name: str) -> str:
        """Where `name` comes from: "project" (this folder) or "shipped" (promptkit's own)."""
        return "project" if self.owner(name) is self else "shipped"

    def owner(self, name: str) -> PromptRegistry:
        """The registry (this one or the shipped fallback) that holds prompt `name`."""
        if self.root.is_dir() or self.fallback is None:
            if name in self._scan():
                return self
        if self.fallback is not None and name in self.fallback._scan():
            return self.fallback
        raise NotFoundError("prompt", name, self.names(), hint=LIST_HINT)

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    # ---- discovery ------------------------------------------------------------------------

    def _scan(self) -> dict[str, dict[int, Path]]:
        if self._index is not None:
            return self._index
        if not self.root.is_dir():
            raise UserError(f"prompts folder not found: {self.root}",
                            hint="Pass --root DIR (Python: PromptRegistry(root)) or set "
                                 "PROMPTKIT_PROMPTS.")
        index: dict[str, dict[int, Path]] = {}
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if folder.name.startswith((".", "_")):
                continue
            versions = self._scan_folder(folder)
            if versions:
                index[folder.name] = versions
        self._index = index
        return index

    def _scan_folder(self, folder: Path) -> dict[int, Path]:
        versions: dict[int, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix not in (".yaml", ".yml"):
                continue   # notes, READMEs and the like may sit beside the versions
            match = _FILE_RE.match(path.name)
            if not match:
                raise ConfigError("prompt files must be named v<N>.yaml (v1.yaml, v2.yaml, ...)",
                                  path=str(path), hint="Rename the file.")
            if not NAME_RE.match(folder.name):
                raise ConfigError(f"folder name '{folder.name}' is not a valid prompt name",
                                  path=str(folder),
                                  hint="Use letters, digits, '.', '_' and '-'.")
            versions[int(match.group(1))] = path
        return dict(sorted(versions.items()))

    def _own(self) -> dict[str, dict[int, Path]]:
        """This folder's prompts; with a fallback, a folder not made yet simply has none."""
        if self.fallback is not None and not self.root.is_dir():
            return {}
        return self._scan()

    def names(self) -> list[str]:
        own = list(self._own())
        extra = [n for n in self.fallback.names() if n not in own] if self.fallback else []
        return sorted(own + extra)

    def versions(self, name: str) -> list[int]:
        owner = self.owner(name)
        return list(owner._scan()[name])

    def refs(self) -> list[str]:
        return [f"{n}@{v}" for n in self.names() for v in self.versions(n)]

    def path_of(self, name: str, version: int) -> Path:
        owner = self.owner(name)
        versions = list(owner._scan()[name])
        if version not in versions:
            raise NotFoundError("version", f"{name}@{version}",
                                [f"{name}@{v}" for v in versions], hint=LIST_HINT)
        return owner._scan()[name][version]

    def get(self, name: str, version: int) -> PromptSpec:
        owner = self.owner(name)
        if owner is not self:
            return owner.get(name, version)
        path = self.path_of(name, version)
        if path not in self._specs:
            self._specs[path] = load_spec(path, expect_name=name, expect_version=version)
        return self._specs[path]

    def specs(self) -> list[PromptSpec]:
        """Every version of every prompt, validated (the fallback's unshadowed ones too)."""
        return [self.get(n, v) for n in self.names() for v in self.versions(n)]

    # ---- references -----------------------------------------------------------------------

    def labels(self, name: str) -> dict[str, int]:
        """label → version for one prompt; a label on two versions is an error."""
        seen: dict[str, int] = {}
        for version in self.versions(name):
            for label in self.get(name, version).labels:
                if label in seen:
                    first, second = self.path_of(name, seen[label]), self.path_of(name, version)
                    raise ConfigError(f"label '{label}' is on two versions of '{name}': "
                                      f"{first} and {second}", path=str(second), field="labels",
                                      hint="A label names one version; remove it from one file.")
                seen[label] = version
        return seen

    def resolve(self, ref: str) -> tuple[str, int]:
        """(name, version) for a reference; NotFoundError lists what exists."""
        name, selector = parse_ref(ref)
        versions = self.versions(name)
        if selector is None or selector == "latest":
            return name, versions[-1]
        if selector.isdigit():
            self.path_of(name, int(selector))
            return name, int(selector)
        labels = self.labels(name)
        if selector not in labels:
            known = [f"{name}@{label}" for label in labels] + [f"{name}@latest"]
            raise NotFoundError("label", ref, known,
                                hint=f"Versions of '{name}': "
                                     + ", ".join(f"{name}@{v}" for v in versions) + ".")
        return name, labels[selector]

    def load(self, ref: str) -> PromptSpec:
        return self.get(*self.resolve(ref))

    # ---- lock, scaffolding, diff ----------------------------------------------------------

    def status(self) -> LockReport:
        """Compare every file with the lock (validating each file and its labels)."""
        locked = read_lock(self.lock_path)
        report = LockReport()
        own = self._own()
        for name in own:
            self.labels(name)
            for version in own[name]:
                spec = self.get(name, version)
                current = spec.hash
                if spec.ref not in locked:
                    report.unlocked.append((spec.ref, spec.path))
                elif locked[spec.ref] == current:
                    report.ok.append(spec.ref)
                else:
                    report.modified.append(Modified(spec.ref, spec.path, locked[spec.ref], current))
        present = {f"{n}@{v}" for n, vs in own.items() for v in vs}
        report.missing = [ref for ref in locked if ref not in present]
        return report

    def check(self) -> LockReport:
        """`status()`, raising LockError if a released version was edited or deleted."""
        report = self.status()
        report.raise_for_problems(self.lock_path)
        return report

    def lock(self) -> list[str]:
        """Release every unlocked version (existing hashes are never overwritten)."""
        report = self.check()
        if not report.unlocked:
            return []
        locked = read_lock(self.lock_path)
        added = {ref: self.get(*self.resolve(ref)).hash for ref, _ in report.unlocked}
        write_lock(self.lock_path, {**locked, **added})
        return list(added)

    def new(self, name: str) -> Path:
        """Scaffold the next version of `name` from its latest (or a fresh file)."""
        if not NAME_RE.match(name) or "@" in name:
            raise UserError(f"'{name}' is not a valid prompt name",
                            hint="Use letters, digits, '.', '_' and '-', e.g. rag-answer.")
        index = self._own()
        if name not in index and self.fallback is not None and name in self.fallback.names():
            raise UserError(f"'{name}' is one of promptkit's shipped prompts; a '{name}' in "
                            f"{self.root} would hide all of its versions",
                            hint=f"Give yours another name (e.g. my-{name}), or copy the whole "
                                 f"folder {self.fallback.root / name} into {self.root} to "
                                 "continue its versions.")
        if name in index:
            latest = max(index[name])
            self.get(name, latest)   # a broken latest file is reported, not copied
            text, _ = read_yaml(index[name][latest])
            text, version = next_version_text(text, latest + 1), latest + 1
        else:
            text, version = fresh_text(name), 1
        return self.write_version(name, version, text)

    def next_version(self, name: str) -> int:
        """The number a new version of `name` gets (1 for a new prompt)."""
        index = self._scan()
        return max(index[name]) + 1 if name in index else 1

    def write_version(self, name: str, version: int, text: str) -> Path:
        """Write a new version file; an existing version is never overwritten."""
        path = self.root / name / f"v{version}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as fh:   # "x": never overwrite a version
            fh.write(text)
        self._index = None
        return path

    def diff(self, ref_a: str, ref_b: str) -> str:
        """Unified diff between the files of two references ('' when identical)."""
        a, b = self.load(ref_a), self.load(ref_b)
        lines_a = a.path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines_b = b.path.read_text(encoding="utf-8").splitlines(keepends=True)
        return "".join(difflib.unified_diff(lines_a, lines_b, fromfile=f"{a.ref} ({a.path})",
                                            tofile=f"{b.ref} ({b.path})"))
