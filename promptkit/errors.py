"""One exception hierarchy for the whole library.

Two families: the user's mistake (bad file, unknown name, missing variable: fix the input,
CLI exit code 2) and the backend's failure (server down, timeout, HTTP error: retry or fix the
environment, CLI exit code 1). Every message says what to do next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PromptkitError(Exception):
    """Base of every error promptkit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n{hint}")


class UserError(PromptkitError):
    """The input is wrong: a file, a name, a variable, a setting. Fixing it is up to the user."""

    exit_code = 2


class ConfigError(UserError):
    """A file the user wrote (prompt, config, suite, dataset) does not validate."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None,
                 line: int | None = None, hint: str | None = None):
        self.path, self.field, self.line = path, field, line
        where = ":".join(str(p) for p in (path, line) if p is not None)
        prefix = f"{where}: " if where else ""
        if field:
            prefix += f"field '{field}': "
        super().__init__(prefix + message, hint=hint)


class NotFoundError(UserError):
    """A named thing (prompt, version, label, model, collection, run) does not exist."""

    def __init__(self, kind: str, name: str, known: Iterable[str] = (), *, hint: str | None = None):
        known = sorted(set(known))
        self.kind, self.name, self.known = kind, name, known
        msg = f"unknown {kind} '{name}'"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            msg += f" (did you mean '{close[0]}'?)"
        if known:
            shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            msg += f". Known: {shown}"
        super().__init__(msg, hint=hint)


class TemplateVariableError(UserError):
    """Rendering got a variable set that does not match the template."""

    def __init__(self, template: str, missing: Iterable[str] = (), unexpected: Iterable[str] = ()):
        self.missing, self.unexpected = sorted(missing), sorted(unexpected)
        parts = []
        if self.missing:
            parts.append("missing variable(s): " + ", ".join(self.missing))
        if self.unexpected:
            parts.append("unexpected variable(s): " + ", ".join(self.unexpected))
        super().__init__(f"cannot render '{template}': " + "; ".join(parts),
                         hint="Pass exactly the variables the template names "
                              "(see `promptkit prompts show`).")


class LockError(UserError):
    """A released prompt version was edited after it was locked."""


class MissingDependencyError(UserError):
    """An optional part is used but its packages are not installed."""

    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs packages that are not installed",
                         hint=f'Install them with: pip install "promptkit[{extra}]"')


class BackendError(PromptkitError):
    """A model, store or server failed: unreachable, slow, or answered with an error."""

    exit_code = 1

    def __init__(self, message: str, *, backend: str | None = None, hint: str | None = None,
                 retryable: bool = False):
        self.backend, self.retryable = backend, retryable
        super().__init__(message, hint=hint)


class BackendUnavailable(BackendError):
    """Nothing answers at the configured address."""

    def __init__(self, message: str, **kw):
        kw.setdefault("retryable", True)
        super().__init__(message, **kw)


class BackendTimeout(BackendError):
    """The backend did not answer within the timeout."""

    def __init__(self, message: str, **kw):
        kw.setdefault("retryable", True)
        super().__init__(message, **kw)


class BackendHTTPError(BackendError):
    """The backend answered with an HTTP error status."""

    def __init__(self, message: str, *, status: int, **kw):
        self.status = status
        kw.setdefault("retryable", status == 429 or status >= 500)
        super().__init__(message, **kw)


class ReplayMissError(UserError):
    """Replay mode found no recorded response for a request."""
