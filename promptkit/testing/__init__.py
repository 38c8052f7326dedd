"""Testing helpers for promptkit users and its own tests.

- fakes (each defined beside what it replaces, gathered here): `FakeChatModel` (scripted
  replies, call history), `FunctionChatModel`, `HashEmbedder` (deterministic, no model
  download), `FakeRetriever` (a fixed list of passages);
- `assert_prompt(output, {"type": "icontains-any", "value": [...]}, ...)`: suite assertions in
  hand-written tests;
- suites: `load_suite`, `SuiteRunner`; record/replay: `Recordings`, and the pytest fixture
  `promptkit_replay` that the plugin (`promptkit.testing.plugin`) provides.

Names load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "FakeChatModel": "promptkit.testing.fakes",
    "FunctionChatModel": "promptkit.testing.fakes",
    "HashEmbedder": "promptkit.testing.fakes",
    "FakeRetriever": "promptkit.testing.fakes",
    "echo_last_user": "promptkit.testing.fakes",
    "assert_prompt": "promptkit.testing.assertions",
    "Outcome": "promptkit.testing.assertions",
    "load_suite": "promptkit.testing.suite",
    "SuiteRunner": "promptkit.testing.suite_runner",
    "CaseResult": "promptkit.testing.suite_runner",
    "Recordings": "promptkit.testing.suite_recordings",
    "ReplaySession": "promptkit.testing.suite_recordings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'promptkit.testing' has no attribute '{name}'")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
