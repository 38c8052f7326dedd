"""Files from the Hugging Face Hub, for users who have one: `hf:<org>/<repo>/<file>` names.

Used by `llamacpp:hf:<org>/<repo>/<file.gguf>` model specs and `hf:<org>/<repo>` cross-encoders.
Downloads go through `huggingface_hub` (its cache, resumable partial files, revisions); with
`HF_HUB_OFFLINE=1` only the local cache is read. The environment is read on every call, not
once at import the way `huggingface_hub.constants` does, so a process (or a test) that sets
`HF_HUB_OFFLINE`, `HF_HUB_CACHE` or `HF_ENDPOINT` later is still obeyed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from promptkit.errors import BackendUnavailable, NotFoundError, UserError

PREFIX = "hf:"
_TRUE = {"1", "on", "yes", "true"}
INSTALL_HINT = "Install the Hub client: pip install huggingface_hub"
# Weights for other runtimes that model repositories often carry beside the PyTorch ones: a
# whole-repository download (a cross-encoder) skips them.
OTHER_RUNTIMES = ("onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "tf_model*",
                  "flax_model*", "rust_model*")
SPEC_HINT = "Write hf:<org>/<repo>/<file.gguf>, optionally hf:<org>/<repo>@<revision>/<file.gguf>."


@dataclass(frozen=True)
class HubRef:
    repo: str                 # "org/name"
    filename: str | None      # path inside the repo; None for a whole repository
    revision: str | None = None

    def __str__(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        return f"{PREFIX}{self.repo}{rev}" + (f"/{self.filename}" if self.filename else "")


def is_hub_name(name: str) -> bool:
    return name.startswith(PREFIX)


def parse(name: str, *, with_file: bool = True) -> HubRef:
    """`hf:org/repo[@rev]/path/file.gguf` (or `hf:org/repo[@rev]` when `with_file` is False)."""
    body = name[len(PREFIX):] if is_hub_name(name) else name
    parts = body.split("/")
    if len(parts) < 2 or not parts[0] or not parts[1] or any(not p for p in parts[2:]):
        raise UserError(f"'{name}' is not a Hugging Face name", hint=SPEC_HINT)
    repo_name, _, revision = parts[1].partition("@")
    repo = f"{parts[0]}/{repo_name}"
    filename = "/".join(parts[2:]) or None
    if with_file and filename is None:
        raise UserError(f"'{name}' names a repository but no file in it", hint=SPEC_HINT)
    if not with_file and filename is not None:
        raise UserError(f"'{name}' names a file; a repository is wanted here",
                        hint="Write hf:<org>/<repo> (optionally hf:<org>/<repo>@<revision>).")
    return HubRef(repo, filename, revision or None)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cache_dir() -> Path:
    """The Hub cache huggingface_hub uses: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/…"""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _client():
    try:
        import huggingface_hub
    except ImportError:
        raise UserError("hf: names need the huggingface_hub package", hint=INSTALL_HINT) from None
    return huggingface_hub


def download(ref: HubRef) -> Path:
    """The local path of `ref` (a file, or a repository snapshot folder), fetched if needed."""
    hub = _client()
    from huggingface_hub import errors

    kwargs = {"repo_id": ref.repo, "revision": ref.revision, "cache_dir": str(cache_dir()),
              "local_files_only": offline(), "endpoint": os.environ.get("HF_ENDPOINT") or None}
    try:
        if ref.filename is None:
            return Path(hub.snapshot_download(ignore_patterns=list(OTHER_RUNTIMES), **kwargs))
        return Path(hub.hf_hub_download(filename=ref.filename, **kwargs))
    except errors.LocalEntryNotFoundError as exc:
        raise _not_cached(ref, exc) from None
    except errors.RepositoryNotFoundError:
        raise NotFoundError("Hugging Face repository", ref.repo,
                            hint="Check the name (and HF_TOKEN for a private or gated one)."
                            ) from None
    except errors.RevisionNotFoundError:
        raise UserError(f"{ref}: the repository has no revision '{ref.revision}'") from None
    except errors.EntryNotFoundError:
        raise UserError(f"{ref}: the repository {ref.repo} has no file '{ref.filename}'",
                        hint="List its files on the Hub and correct the file name.") from None
    except (errors.HfHubHTTPError, OSError, _http_errors()) as exc:
        # Server errors and network failures that the client does not turn into a cache miss.
        raise BackendUnavailable(f"cannot fetch {ref}: {type(exc).__name__}: {exc}",
                                 backend="huggingface",
                                 hint="Check the connection, or set HF_HUB_OFFLINE=1 to use only "
                                      "the local cache.") from exc


def _http_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def _not_cached(ref: HubRef, exc: Exception) -> UserError | BackendUnavailable:
    where = cache_dir()
    if offline():
        return UserError(f"{ref} is not in the local Hugging Face cache ({where}) and "
                         "HF_HUB_OFFLINE=1 forbids downloading it",
                         hint="Download it once with the network on (unset HF_HUB_OFFLINE), "
                              "or point HF_HUB_CACHE at a cache that has it.")
    # Online, the client reports an unreachable Hub as a cache miss: it is the network's fault.
    return BackendUnavailable(f"{ref} could not be downloaded and is not in the local cache "
                              f"({where}): {exc}", backend="huggingface",
                              hint="Check the network and HF_ENDPOINT, or copy the cache here "
                                   "and set HF_HUB_OFFLINE=1.")


def resolve_gguf(name: str) -> tuple[str, Path]:
    """`hf:org/repo/file.gguf` -> (the name as given, normalised; the local file)."""
    ref = parse(name)
    if not ref.filename.endswith(".gguf"):
        raise UserError(f"'{name}' does not name a .gguf file",
                        hint="llama.cpp loads GGUF files: " + SPEC_HINT)
    return str(ref), download(ref)


@dataclass(frozen=True)
class CachedFile:
    repo: str
    filename: str
    revision: str       # commit hash of the snapshot
    refs: tuple[str, ...]
    size: int
    path: Path

    @property
    def name(self) -> str:
        """The hf: name that resolves to this file (pinned when no branch points at it)."""
        rev = "" if "main" in self.refs else f"@{self.revision}"
        return f"{PREFIX}{self.repo}{rev}/{self.filename}"


def cached_files(suffix: str = ".gguf", root: Path | None = None) -> list[CachedFile]:
    """Files ending in `suffix` in the local Hub cache (empty when there is none or no client)."""
    try:
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return []
    root = root or cache_dir()
    try:
        info = scan_cache_dir(root)
    except CacheNotFound:
        return []
    out = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            for f in rev.files:
                if f.file_name.endswith(suffix):
                    rel = f.file_path.relative_to(rev.snapshot_path).as_posix()
                    out.append(CachedFile(repo.repo_id, rel, rev.commit_hash,
                                          tuple(sorted(rev.refs)), f.size_on_disk, f.file_path))
    return sorted(out, key=lambda c: (c.repo, c.filename, c.revision))
