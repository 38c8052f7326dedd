"""Every shell and Python example in README.md, README.es.md and docs/ runs, as written.

Each page runs in its own copy of the project (prompts/, eval/, corpora/, a `.venv/bin` whose
`promptkit` and `python` are this interpreter) with a temporary HOME holding a few notes and
a PDF (`~/notes`, `~/papers`), in document order: later blocks see what earlier ones wrote.
Models: PROMPTKIT_MODEL is the fake echo model, and in the copies of eval/configs and
eval/experiments `model:` names it too, so no example waits minutes for a CPU model; the real
models are exercised by their own tests. Blocks that need what a test machine lacks (Ollama,
an API key, a GPU, minutes of a real model) carry `<!-- not-run: reason -->`.
YAML blocks marked `<!-- schema: NAME -->` are validated against that shipped schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.doc_blocks import PYTHON, ROOT, SHELL, all_blocks, blocks, doc_files

PAGES = [p for p in doc_files() if any(b.runs for b in blocks(p))]
SHARED = ROOT.parent / "shared"


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- the workspace

# Files in the temporary HOME the examples read (`~/notes`, `~/apuntes`, `~/papers`).
HOME_FILES = {
    "notes/attention.md": "# Attention\n\nAttention lets the decoder look at every encoder "
                          "state instead of one fixed vector. Bahdanau introduced it in 2014.\n",
    "notes/bert.txt": "BERT hides 15% of the input tokens and learns to predict them from both "
                      "sides. That objective is called masked language modelling.\n",
    "notes/rag.html": "<html><body><h1>RAG</h1><p>Retrieval-augmented generation gives the "
                      "model passages found by a search engine, and asks it to answer from "
                      "them.</p></body></html>",
    "notes/drafts/ideas.md": "# Ideas\n\nA draft that the --exclude example leaves out.\n",
    "apuntes/atencion.md": "# Atención\n\nLa atención le permite al decodificador mirar todos "
                           "los estados del codificador en lugar de un solo vector fijo.\n",
    "apuntes/bert.txt": "BERT enmascara el 15 % de los tokens de entrada y aprende a "
                        "predecirlos usando el contexto de ambos lados.\n",
}
CORPUS_JSONL = [
    {"_id": "d1", "title": "Encoders", "text": "BERT is an encoder-only transformer."},
    {"_id": "d2", "title": "Decoders", "text": "GPT models use only the decoder stack."},
]


def _pdf(text: str) -> bytes:
    """A one-page PDF whose text pypdf can extract (no PDF library needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            f"%%EOF\n").encode()
    return bytes(out)


def _shim(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def _fake_models(folder: Path) -> None:
    """`model: <spec>` -> `model: fake:echo` in the copied configs (see the module docstring)."""
    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"(?m)^(\s*model:)\s*\S+", r"\1 fake:echo", text),
                        encoding="utf-8")


@pytest.fixture(scope="session")
def warm_home(tmp_path_factory) -> Path:
    """A PROMPTKIT_HOME with the demo collection built once (from the shipped vectors)."""
    home = tmp_path_factory.mktemp("docs-home") / ".promptkit"
    env = {**_base_env(tmp_path_factory.getbasetemp()), "PROMPTKIT_HOME": str(home)}
    subprocess.run([sys.executable, "-c", "from promptkit.pipeline.demo import ready_collection;"
                    " ready_collection(say=lambda s: None)"],
                   cwd=ROOT, env=env, check=True, timeout=600)
    return home


def _base_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROMPTKIT_") and k not in ("CI", "PYTEST_CURRENT_TEST")}
    mpl = base / "mplconfig"
    mpl.mkdir(exist_ok=True)
    env.update(PYTHONPATH=str(ROOT), PROMPTKIT_MODEL="fake:echo", MPLCONFIGDIR=str(mpl),
               ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               COLUMNS="120")
    return env


def _workspace(tmp: Path, warm_home: Path) -> tuple[Path, dict[str, str]]:
    project, home = tmp / "project", tmp / "home"
    project.mkdir()
    for name in ("prompts", "eval", "corpora"):
        shutil.copytree(ROOT / name, project / name)
    _fake_models(project / "eval" / "configs")
    _fake_models(project / "eval" / "experiments")
    shutil.copytree(warm_home, project / ".promptkit")
    if SHARED.is_dir():
        (tmp / "shared").symlink_to(SHARED)   # ../shared/data beside the project, as in a clone
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    _shim(venv_bin / "python", f'exec "{sys.executable}" "$@"')
    _shim(venv_bin / "promptkit", f'exec "{sys.executable}" -m promptkit "$@"')
    _shim(venv_bin / "pytest", f'exec "{sys.executable}" -m pytest "$@"')
    (venv_bin / "activate").write_text(f'export PATH="{venv_bin}:$PATH"\n', encoding="utf-8")
    for name, text in HOME_FILES.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    (home / "papers").mkdir()
    (home / "papers" / "attention.pdf").write_bytes(
        _pdf("The Transformer uses only attention, no recurrence."))
    (project / "data").mkdir()
    (project / "data" / "corpus.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in CORPUS_JSONL), encoding="utf-8")
    env = _base_env(tmp)
    env.update(HOME=str(home), PATH=f"{venv_bin}:{env['PATH']}",
               PROMPTKIT_HOME=str(project / ".promptkit"))
    return project, env


# --------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_examples_run(page, tmp_path, warm_home):
    project, env = _workspace(tmp_path, warm_home)
    plan = [{"where": b.where, "lang": _lang(b), "code": b.code} for b in blocks(page) if b.runs]
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    result = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "doc_runner.py"),
                           str(tmp_path / "plan.json"), str(result)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    done = json.loads(result.read_text()) if result.is_file() else []
    failed = [r for r in done if not r["ok"]]
    if proc.returncode or failed or len(done) != len(plan):
        where = failed[0]["where"] if failed else "(before the first block)"
        log = proc.stdout.split(f"=== {where}\n")[-1] if failed else proc.stdout + proc.stderr
        pytest.fail(f"example at {where} failed:\n{log[-4000:]}", pytrace=False)


def _lang(block) -> str:
    if block.run_as == "pytest":
        return "pytest"
    return "python" if block.lang in PYTHON else "bash"


def test_every_not_run_marker_gives_a_reason_and_sits_on_code():
    for block in all_blocks():
        if block.not_run is not None:
            assert len(block.not_run) >= 10, f"{block.where}: say why it cannot run"
            assert block.lang in SHELL | PYTHON, f"{block.where}: marker on a {block.lang} block"


def test_yaml_examples_fit_their_schema():
    import jsonschema

    from promptkit import schemas

    checked = 0
    for block in all_blocks():
        if block.schema:
            assert block.lang in ("yaml", "yml", "json"), block.where
            data = yaml.safe_load(block.code)
            validator = jsonschema.Draft202012Validator(schemas.load(block.schema))
            errors = [e.message for e in validator.iter_errors(data)]
            assert not errors, f"{block.where}: {errors}"
            checked += 1
    assert checked >= 4
