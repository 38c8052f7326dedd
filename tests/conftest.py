"""Shared test set-up. Area fixtures live in tests/fixtures_*.py and are loaded here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the suite may phone home: telemetry off, hubs offline.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# pytester's in-process runs (the plugin, gate and dogfood tests) drop the modules first imported
# inside them, and a C extension cannot be loaded twice in one process: the gate's statistics
# import scipy (and with it numpy.fft) lazily, so load them before any such run, whatever order
# the tests run in.
try:
    import scipy.stats  # noqa: F401
except ImportError:   # without the eval extra the tests that need it skip
    pass

pytest_plugins = [
    "tests.fixtures_retrieval",
    "tests.fixtures_llm",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip with the reason when this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real evaluation data not found at {SHARED_DATA} "
                    "(a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Each test gets its own PROMPTKIT_HOME so no state leaks between tests."""
    monkeypatch.setenv("PROMPTKIT_HOME", str(tmp_path / "pk-home"))
    # A developer's own store or prompts folder must not leak into the tests.
    for name in ("PROMPTKIT_CHROMA_URL", "PROMPTKIT_PROMPTS", "PROMPTKIT_RUNS_DIR"):
        monkeypatch.delenv(name, raising=False)
    # Tests that need *a* model get the fast one; the library's default (the most capable
    # packaged model installed) is tested where it matters by unsetting this.
    monkeypatch.setenv("PROMPTKIT_MODEL", "llamacpp:smollm2-135m")


@pytest.fixture(autouse=True)
def _real_models_need_a_mark(request, monkeypatch):
    """A test loads real weights only when it says so: a GGUF model only when marked `slow`,
    an embedder's or cross-encoder's weights only when marked `slow` or `embedder`. The fast
    suite stays fast, and a test that starts loading a model by accident says so instead of
    quietly taking a minute."""
    marks = {m.name for m in request.node.iter_markers()}
    if "slow" in marks:
        return
    from promptkit.llm import llamacpp

    def refusing(what: str, mark: str):
        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} loads {what}: mark the test "
                                 f"@pytest.mark.{mark}, or use a fake")
        return refuse

    monkeypatch.setattr(llamacpp, "_load", refusing("a real GGUF model", "slow"))
    if "embedder" in marks:
        return
    from promptkit.embedders import e5, st
    from promptkit.retrieval import rerank

    monkeypatch.setattr(st, "_load", refusing("sentence-transformers weights", "embedder"))
    monkeypatch.setattr(e5, "_engine", refusing("multilingual-e5 weights", "embedder"))
    monkeypatch.setattr(rerank, "_cross_encoder", refusing("a cross-encoder", "embedder"))
