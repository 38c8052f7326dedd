"""The CLI's error boundary: user mistakes exit 2, surprises exit 1, --debug shows the traceback."""

from __future__ import annotations

import pytest
import typer

from promptkit.cli import _app
from promptkit.errors import BackendUnavailable, ConfigError

_probe = typer.Typer()
_app.app.add_typer(_probe, name="_probe", hidden=True)


@_probe.command("user")
def _user():
    raise ConfigError("bad value", path="x.yaml", field="k", line=3, hint="Fix it.")


@_probe.command("backend")
def _backend():
    raise BackendUnavailable("cannot reach http://127.0.0.1:1", hint="Start the server.")


@_probe.command("boom")
def _boom():
    raise RuntimeError("kaput")


@_probe.command("exit3")
def _exit3():
    raise typer.Exit(3)


def test_typer_exit_code_is_kept():
    assert _app.run(["_probe", "exit3"]) == 3


def test_user_error_exits_2_with_location_and_hint(capsys):
    assert _app.run(["_probe", "user"]) == 2
    err = capsys.readouterr().err
    assert "x.yaml:3: field 'k': bad value" in err and "Fix it." in err
    assert "Traceback" not in err


def test_backend_error_exits_1(capsys):
    assert _app.run(["_probe", "backend"]) == 1
    assert "cannot reach http://127.0.0.1:1" in capsys.readouterr().err


def test_unexpected_error_exits_1_and_points_to_debug(capsys):
    assert _app.run(["_probe", "boom"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: kaput" in err and "--debug" in err


def test_debug_flag_reraises(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_DEBUG", raising=False)
    with pytest.raises(RuntimeError):
        _app.run(["--debug", "_probe", "boom"])


def test_debug_env_var_reraises(monkeypatch):
    monkeypatch.setenv("PROMPTKIT_DEBUG", "1")
    with pytest.raises(ConfigError):
        _app.run(["_probe", "user"])


def test_unknown_command_is_a_usage_error(capsys):
    assert _app.run(["no-such-command"]) == 2
