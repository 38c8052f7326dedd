"""The documentation site builds with no warning, and the README stays a short front door."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False,
                          env={**_env(), "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize("name", ["README.md", "README.es.md"])
def test_readme_is_short_and_its_links_resolve(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#\s]+)[^)]*\)", text):
        if not target.startswith(("http://", "https://", "mailto:")):
            assert (ROOT / target).exists(), f"{name}: broken link {target}"


def test_every_doc_page_is_in_the_nav():
    import yaml

    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"),
                       Loader=yaml.BaseLoader)   # BaseLoader: the !!python/name tag stays text
    listed = set(re.findall(r"[\w/-]+\.md", str(config["nav"])))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages - listed == {"concepts/dependencies.md"}   # included by architecture.md


def test_copied_figures_match_their_source():
    shown = ROOT / "docs" / "assets" / "position-litm.png"
    source = ROOT / "eval" / "reports" / "position-litm" / "figure.png"
    assert shown.read_bytes() == source.read_bytes()


def test_screenshot_script_writes_a_png(tmp_path):
    if not any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium)")
    from promptkit.evaluation.api import evaluate

    cases = [{"id": f"q{i}", "question": f"Question {i}?", "answers": ["yes"]} for i in range(4)]
    run = evaluate(dataset=cases, metrics=["contains_any"], model="fake:yes", mode="closed-book",
                   run_dir=tmp_path / "run")
    out = tmp_path / "report.png"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "screenshot_report.py"),
                           str(run.run_dir), "-o", str(out), "--height", "600"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
