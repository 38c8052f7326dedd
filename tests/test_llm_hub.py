"""`llamacpp:hf:<org>/<repo>/<file.gguf>`: models from a Hugging Face cache, offline.

No test reaches a hub: each builds a cache folder laid out as huggingface_hub lays it out
(refs/main -> snapshots/<commit>/<file> -> blobs/<hash>) and points HF_HUB_CACHE at it. The
loading test links the packaged SmolLM2 GGUF in as the blob, so llama.cpp really runs it.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from promptkit.cli import run
from promptkit.errors import BackendUnavailable, UserError

pytest.importorskip("huggingface_hub", reason="huggingface_hub is not installed")

from promptkit.llm import hub  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "acme/tiny-chat-GGUF"
FILE = "tiny-chat.Q4_1.gguf"


def seed_cache(root: Path, repo: str, filename: str, source: Path | None = None,
               ref: str | None = "main", commit: str = COMMIT) -> Path:
    """A Hub cache entry for `repo`/`filename`: a copy-free link to `source` (or a stub)."""
    folder = root / ("models--" + repo.replace("/", "--"))
    blob = folder / "blobs" / (commit[:8] + "0" * 56)
    blob.parent.mkdir(parents=True, exist_ok=True)
    if source is None:
        blob.write_bytes(b"GGUF stub")
    elif not blob.exists():
        blob.symlink_to(source)
    if ref:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    snap = folder / "snapshots" / commit / filename
    snap.parent.mkdir(parents=True, exist_ok=True)
    snap.symlink_to(os.path.relpath(blob, snap.parent))
    return snap


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def test_names_parse_with_and_without_revision():
    assert hub.parse("hf:org/repo/sub/model.gguf") == hub.HubRef("org/repo", "sub/model.gguf")
    ref = hub.parse("hf:org/repo@v1.2/model.gguf")
    assert (ref.revision, str(ref)) == ("v1.2", "hf:org/repo@v1.2/model.gguf")
    assert hub.parse("hf:cross-encoder/ms-marco", with_file=False).filename is None
    for bad in ("hf:org", "hf:org//x.gguf", "hf:org/repo"):
        with pytest.raises(UserError, match="hf:<org>/<repo>"):
            hub.parse(bad)


def test_offline_resolves_from_the_cache(cache):
    snap = seed_cache(cache, REPO, FILE)
    name, path = hub.resolve_gguf(f"hf:{REPO}/{FILE}")
    assert name == f"hf:{REPO}/{FILE}" and path == snap
    with pytest.raises(UserError, match="does not name a .gguf"):
        hub.resolve_gguf(f"hf:{REPO}/README.md")


def test_offline_and_not_cached_is_a_clear_user_error(cache):
    seed_cache(cache, REPO, FILE)
    with pytest.raises(UserError) as info:
        hub.resolve_gguf(f"hf:{REPO}/other.gguf")
    assert "not in the local Hugging Face cache" in str(info.value)
    assert "HF_HUB_OFFLINE=1" in str(info.value) and str(cache) in str(info.value)
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        hub.resolve_gguf("hf:nobody/nothing/x.gguf")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_online_with_an_unreachable_hub_uses_the_cache(cache, monkeypatch):
    """Network on but the Hub down: the cached file is used; a file not cached is a network
    failure (BackendUnavailable), not a user mistake."""
    snap = seed_cache(cache, REPO, FILE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    assert hub.resolve_gguf(f"hf:{REPO}/{FILE}")[1] == snap
    with pytest.raises(BackendUnavailable, match="could not be downloaded"):
        hub.resolve_gguf(f"hf:{REPO}/missing.gguf")


def test_cached_files_and_models_list(cache, capsys):
    seed_cache(cache, REPO, FILE)
    seed_cache(cache, "acme/pinned", "p.gguf", ref=None, commit="f" * 40)  # no branch points here
    seed_cache(cache, "acme/other", "config.json")
    names = [f.name for f in hub.cached_files()]
    assert names == [f"hf:acme/pinned@{'f' * 40}/p.gguf", f"hf:{REPO}/{FILE}"]
    capsys.readouterr()
    assert run(["models", "list", "--no-probe", "--json"]) == 0
    specs = {e["spec"]: e for e in json.loads(capsys.readouterr().out)}
    entry = specs[f"llamacpp:hf:{REPO}/{FILE}"]
    assert entry["status"] == "installed" and "Hugging Face cache" in entry["detail"]


def test_no_cache_folder_lists_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "absent"))
    assert hub.cached_files() == []


@pytest.mark.slow
def test_a_cached_gguf_loads_and_answers(cache, smollm2_gguf):
    """The whole path: spec string -> cache -> llama.cpp, with the spec recorded as written."""
    from promptkit.llm import GenParams, get_model

    seed_cache(cache, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", smollm2_gguf.name,
               source=smollm2_gguf)
    spec = f"llamacpp:hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/{smollm2_gguf.name}"
    model = get_model(spec, cache_mode="off")
    assert model.spec == spec and model.path.resolve() == smollm2_gguf.resolve()
    gen = model.generate([{"role": "user", "content": "Say hi."}], GenParams(max_tokens=4))
    assert gen.text and gen.completion_tokens >= 1
