"""Packaged models: assembly of split GGUF parts (verified, atomic, once), the default choice."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptkit.errors import MissingDependencyError, UserError
from promptkit.llm import packaged
from promptkit.llm.packaged import QWEN_CODER_15B, SplitGGUF, gguf_metadata


def _gguf_bytes(arch: str = "toy", name: str = "Toy Model") -> bytes:
    """A GGUF header with a few typed keys (an array among them) and some payload."""
    def s(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    kvs = [
        s("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        s("tokenizer.ggml.scores") + struct.pack("<I", 9) + struct.pack("<IQ", 6, 3)
        + struct.pack("<3f", 0.1, 0.2, 0.3),
        s("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2)
        + s("a") + s("b"),
        s("general.architecture") + struct.pack("<I", 8) + s(arch),
        s("general.name") + struct.pack("<I", 8) + s(name),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    return header + bytes(range(256)) * 40


def _fake_parts(tmp_path: Path, monkeypatch, data: bytes, n: int = 3, prefix: str = "pkpart"):
    """Install `n` importable packages holding consecutive slices of `data`."""
    site = tmp_path / "site"
    step = -(-len(data) // n)
    for i in range(n):
        folder = site / f"{prefix}{i + 1}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{i + 1:02d}.bin").write_bytes(data[i * step:(i + 1) * step])
    monkeypatch.syspath_prepend(str(site))
    return tuple((f"{prefix}{i + 1}", f"data/part{i + 1:02d}.bin") for i in range(n))


def _model(parts, data: bytes, **over) -> SplitGGUF:
    fields = dict(name="toy-1b", filename="toy.gguf", parts=parts, size=len(data),
                  sha256=hashlib.sha256(data).hexdigest(),
                  metadata={"general.architecture": "toy", "general.name": "Toy Model"},
                  extra="toy")
    fields.update(over)
    return SplitGGUF(**fields)


@pytest.fixture()
def models_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv(packaged.MODELS_DIR_ENV, str(folder))
    return folder


def test_gguf_metadata_reads_typed_keys_past_arrays(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(_gguf_bytes("qwen2", "Some Name"))
    assert gguf_metadata(path) == {"general.architecture": "qwen2", "general.name": "Some Name"}
    (tmp_path / "bad.gguf").write_bytes(b"NOPE" + bytes(30))
    with pytest.raises(ValueError, match="not a GGUF"):
        gguf_metadata(tmp_path / "bad.gguf")


def test_assembles_once_verifies_and_stamps(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes()
    model = _model(_fake_parts(tmp_path, monkeypatch, data), data)
    said = []
    path = model.path(say=said.append)
    assert path == models_dir / "toy.gguf" and path.read_bytes() == data
    assert len(said) == 1 and "Assembling llamacpp:toy-1b from 3 packaged parts" in said[0]
    # Second use: the stamp matches, nothing is read or said again.
    assert model.path(say=said.append) == path and len(said) == 1
    assert not list(models_dir.glob(".*.tmp"))


def test_a_changed_file_is_assembled_again(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes()
    model = _model(_fake_parts(tmp_path, monkeypatch, data), data)
    path = model.path()
    path.write_bytes(b"x" * len(data))   # same size, different content: the mtime moves
    said = []
    assert model.path(say=said.append).read_bytes() == data and said


def test_wrong_hash_fails_clearly_and_leaves_nothing(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes()
    model = _model(_fake_parts(tmp_path, monkeypatch, data), data, sha256="0" * 64)
    with pytest.raises(UserError) as err:
        model.path()
    assert "sha256" in err.value.message and 'promptkit[toy]' in err.value.hint
    assert not (models_dir / "toy.gguf").exists() and not list(models_dir.glob(".*.tmp"))


def test_wrong_metadata_fails(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes(arch="llama")
    model = _model(_fake_parts(tmp_path, monkeypatch, data), data)
    with pytest.raises(UserError, match="metadata"):
        model.path()


def test_missing_parts_name_the_extra(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes()
    parts = _fake_parts(tmp_path, monkeypatch, data)
    model = _model(parts + (("pkpart_absent", "data/part04.bin"),), data)
    assert not model.installed()
    with pytest.raises(MissingDependencyError) as err:
        model.path()
    assert "pkpart-absent" in err.value.message and 'pip install "promptkit[toy]"' in err.value.hint


def test_two_processes_assembling_at_once_agree(tmp_path, monkeypatch, models_dir):
    data = _gguf_bytes() * 200
    parts = _fake_parts(tmp_path, monkeypatch, data, n=4)
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(tmp_path / 'site')!r}, {str(Path(__file__).parent.parent)!r}]
        from promptkit.llm.packaged import SplitGGUF
        m = SplitGGUF(name="toy-1b", filename="toy.gguf", parts={parts!r}, size={len(data)},
                      sha256={hashlib.sha256(data).hexdigest()!r},
                      metadata={{"general.architecture": "toy"}}, extra="toy")
        print(m.path(say=lambda s: print("ASSEMBLED")))
    """)
    env = {"PATH": "/usr/bin:/bin", packaged.MODELS_DIR_ENV: str(models_dir)}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env=env) for _ in range(3)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(o.count("ASSEMBLED") for o in outs) == 1   # the lock: one did the work
    assert (models_dir / "toy.gguf").read_bytes() == data


def test_default_model_is_the_most_capable_installed(monkeypatch):
    from promptkit.llm.specs import DEFAULT_MODEL, MODEL_ENV_VAR, default_spec

    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    monkeypatch.setitem(packaged.PACKAGED, QWEN_CODER_15B.name, packaged.Packaged(
        QWEN_CODER_15B.name, QWEN_CODER_15B.path, lambda: False, 4096, ""))
    assert default_spec() == DEFAULT_MODEL
    monkeypatch.setitem(packaged.PACKAGED, QWEN_CODER_15B.name, packaged.Packaged(
        QWEN_CODER_15B.name, QWEN_CODER_15B.path, lambda: True, 4096, ""))
    assert default_spec() == "llamacpp:qwen2.5-coder-1.5b"
    monkeypatch.setenv(MODEL_ENV_VAR, "fake:hi")
    assert default_spec() == "fake:hi"


@pytest.mark.slow
def test_the_real_qwen_parts_assemble_to_the_pinned_file():
    if not QWEN_CODER_15B.installed():
        pytest.skip('the qwen extra is not installed (pip install "promptkit[qwen]")')
    path = QWEN_CODER_15B.path()   # the user cache: assembled once per machine
    assert path.stat().st_size == QWEN_CODER_15B.size
    assert gguf_metadata(path, tuple(QWEN_CODER_15B.metadata)) == QWEN_CODER_15B.metadata


def test_the_qwen_extra_pins_exactly_the_parts_assembled():
    """pyproject's `qwen` extra names the 22 part packages the assembler reads, at 0.2.0, and
    `all` includes it."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                            .read_text(encoding="utf-8"))["project"]
    extra = project["optional-dependencies"]["qwen"]
    wanted = [f"{module.replace('_', '-')}==0.2.0" for module, _ in QWEN_CODER_15B.parts]
    assert extra == wanted and len(wanted) == 22
    extras_of_all = {e.strip() for req in project["optional-dependencies"]["all"]
                     if req.startswith("promptkit[") for e in req[10:].rstrip("]").split(",")}
    assert "qwen" in extras_of_all
