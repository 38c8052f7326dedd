"""Shared test set-up. Area fixtures live in tests/fixtures_*.py and are loaded here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing in the suite may phone home: telemetry off, hubs offline.
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

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
    # Tests that need *a* model get the fast one; the library's default (the most capable
    # packaged model installed) is tested where it matters by unsetting this.
    monkeypatch.setenv("PROMPTKIT_MODEL", "llamacpp:smollm2-135m")


@pytest.fixture(autouse=True)
def _real_models_need_the_slow_mark(request, monkeypatch):
    """A test loads a GGUF model only when marked `slow`: the fast suite stays fast, and a
    test that starts loading one by accident says so instead of quietly taking a minute."""
    if request.node.get_closest_marker("slow") is not None:
        return
    from promptkit.llm import llamacpp

    def refuse(path, *args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} loads the real model {Path(path).name}: "
                             "mark the test @pytest.mark.slow, or use a fake model")

    monkeypatch.setattr(llamacpp, "_load", refuse)
