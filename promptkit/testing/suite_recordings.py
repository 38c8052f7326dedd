"""Recorded model responses for a suite: one JSONL file per suite, reviewable in a diff.

Each line is one response, keyed by the LLM cache's own `request_key` (model spec + parameters
+ rendered messages), plus which case, prompt and repeat it belongs to so a reviewer can read
it. The object plugs into `ChatModel.cache` (the same `consults` / `lookup` / `stores` / `store`
calls as `ResponseCache`), so every backend records and replays through one path.

The mode words are the response cache's: `replay` answers only from the file (a miss is an error
saying how to record), `record` calls the model and rewrites the entries of the cases it ran,
`read-write` answers what is recorded and records what is not (appending; nothing is pruned),
`off` uses neither (the model answers every call). Outside CI the same $PROMPTKIT_CACHE_MODE
that sets the response cache sets suites; under CI suites replay unless the command line says
otherwise. The older words (`live`, $PROMPTKIT_SUITE_MODE) still work for one release, with a
deprecation warning.
Credentials never reach the file: URLs in specs are stripped, and the values of secret-looking
environment variables and API-key-shaped strings are masked in everything written.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

from promptkit.choices import CACHE_MODES as MODES
from promptkit.choices import OLD_CACHE_MODE_NAMES
from promptkit.errors import ReplayMissError, UserError
from promptkit.llm.base import Generation, GenParams, Message
from promptkit.llm.cache import ENV_VAR, request_key
from promptkit.llm.redact import public_spec
from promptkit.safeparse import loads_json

OLD_ENV_VAR = "PROMPTKIT_SUITE_MODE"      # deprecated: $PROMPTKIT_CACHE_MODE says it for all
OLD_NAMES = OLD_CACHE_MODE_NAMES          # deprecated mode words -> today's
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_-]{16,}|Bearer\s+[A-Za-z0-9._~+/-]{16,}=*)")
_FIELDS = ("case", "prompt", "role", "repeat", "key", "model", "params", "messages", "text",
           "prompt_tokens", "completion_tokens", "finish_reason", "latency_s",
           "retrieval", "hits")


def resolve_mode(explicit: str | None = None) -> str:
    """--mode / --promptkit-mode; else, under CI, replay (an environment variable set for the
    evaluations' cache never makes a CI suite call a model); else $PROMPTKIT_CACHE_MODE, else
    off. $PROMPTKIT_SUITE_MODE, when set, still comes first after the option, CI or not (for
    one release, with a deprecation warning), and `live` still means `off`."""
    old = os.environ.get(OLD_ENV_VAR)
    if not explicit and old:
        deprecated(f"${OLD_ENV_VAR} is deprecated: pass --mode {OLD_NAMES.get(old, old)} (or "
                   f"--promptkit-mode), or outside CI set ${ENV_VAR}")
    env = os.environ.get(ENV_VAR)
    if env and OLD_NAMES.get(env, env) not in MODES and not explicit and not old:
        raise UserError(f"${ENV_VAR} '{env}' is not one of: {', '.join(MODES)}",
                        hint="Use off, read-write, record or replay.")
    if os.environ.get("CI"):
        mode = explicit or old or "replay"
    else:
        mode = explicit or old or env or "off"
    if mode in OLD_NAMES:
        deprecated(f"mode '{mode}' is now called '{OLD_NAMES[mode]}'")
        mode = OLD_NAMES[mode]
    if mode not in MODES:
        raise UserError(f"suite mode '{mode}' is not one of: {', '.join(MODES)}",
                        hint=f"Use --mode replay|record|read-write|off (pytest: "
                             f"--promptkit-mode, or ${ENV_VAR}).")
    return mode


def deprecated(message: str) -> None:
    """A deprecation users see (FutureWarning is shown by default); the old form still works."""
    warnings.warn(f"{message}; the old form will stop working in the next release.",
                  FutureWarning, stacklevel=3)


def record_hint(suite_path: str | Path) -> str:
    return (f"Record it against the live model, then commit the recordings file:\n"
            f"  promptkit test {suite_path} --mode record\n"
            f"(or: pytest {suite_path} --promptkit-mode record, or {ENV_VAR}=record;\n"
            f" --mode read-write records only what is missing)")


def fixture_hint(nodeid: str) -> str:
    return (f"Record it against the live model, then commit the recordings file:\n"
            f"  pytest '{nodeid}' --promptkit-mode record   (or {ENV_VAR}=record)")


def _secrets() -> list[str]:
    values = [v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8]
    return sorted(set(values), key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Mask secret values and key-shaped strings."""
    for value in secrets:
        text = text.replace(value, "<redacted>")
    return _SECRET_SHAPES.sub("<redacted>", text)


class Recordings:
    """One suite's recordings file in one mode; plugs into `ChatModel.cache`."""

    def __init__(self, path: str | Path, mode: str, *, hint: str | None = None):
        mode = OLD_NAMES.get(mode, mode)
        if mode not in MODES:
            raise UserError(f"recordings mode '{mode}' is not one of: {', '.join(MODES)}")
        self.path, self.mode = Path(path), mode
        self.hint = hint or record_hint("SUITE.yaml")   # how to record, shown on a miss
        # Who is asking right now; the runner sets it before each call (one case at a time).
        self.tag: dict = {"case": None, "prompt": None, "role": "answer", "repeat": 0}
        self._entries: dict[tuple[str, int], dict] | None = None
        self._rerecorded: set[tuple] = set()
        self._served: dict | None = None
        self.dirty = False

    def __repr__(self) -> str:
        return f"Recordings({str(self.path)!r}, mode={self.mode!r})"

    # ---- the ChatModel.cache protocol ----------------------------------------------------

    @property
    def consults(self) -> bool:
        return self.mode in ("replay", "read-write")

    def stores(self, params: GenParams) -> bool:
        return self.mode in ("record", "read-write")

    def lookup(self, spec: str, params: GenParams,
               messages: Sequence[Message]) -> Generation | None:
        """The recorded response for this request and repeat; a miss raises ReplayMissError
        (read-write: None, and the model answers)."""
        key = request_key(spec, params, messages)
        entries = self._load()
        self._served = None   # a miss answered live must not report an earlier call's entry
        repeat = int(self.tag.get("repeat") or 0)
        entry = entries.get((key, repeat))
        if entry is None and params.deterministic:
            entry = entries.get((key, 0))   # a deterministic answer is the same every repeat
        if entry is None:
            if self.mode == "read-write":
                return None
            raise self._miss(key, spec, messages, repeat)
        self._served = entry
        return Generation(text=entry["text"], model=spec, prompt_tokens=entry.get("prompt_tokens"),
                          completion_tokens=entry.get("completion_tokens"), first_token_s=0.0,
                          finish_reason=entry.get("finish_reason"), cached=True,
                          params=params.as_dict())

    def store(self, spec: str, params: GenParams, messages: Sequence[Message],
              gen: Generation) -> None:
        secrets = _secrets()
        key = request_key(spec, params, messages)
        self._put({
            **self.tag, "key": key, "model": public_spec(spec), "params": params.as_dict(),
            "messages": [{"role": m["role"], "content": scrub(m["content"], secrets)}
                         for m in messages],
            "text": scrub(gen.text, secrets), "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens, "finish_reason": gen.finish_reason,
            "latency_s": round(gen.latency_s, 3),
        })

    # ---- retrieval: the passages a case was shown ----------------------------------------

    def lookup_hits(self, key: str, request: dict) -> list[dict] | None:
        """The recorded search results for `key`; a miss raises ReplayMissError (read-write:
        None, and the search runs)."""
        entry = self._load().get((key, 0))
        if entry is None:
            if self.mode == "read-write":
                return None
            raise self._retrieval_miss(key, request)
        return [dict(h) for h in entry["hits"]]

    def store_hits(self, key: str, request: dict, hits: list[dict]) -> None:
        # Retrieval does not depend on the prompt version: one entry per case serves them all.
        secrets = _secrets()
        self._put({"case": self.tag["case"], "prompt": None, "role": "retrieval", "repeat": 0,
                   "key": key, "retrieval": request,
                   "hits": [{**h, "text": scrub(h["text"], secrets)} for h in hits]})

    def _put(self, entry: dict) -> None:
        entries = self._load()
        group = _group(entry)
        if self.mode == "record" and group not in self._rerecorded:
            # First entry of this group (case + prompt, or case retrieval) in this run: the old
            # ones (other prompt text, other repeats) are stale, so the file never piles up.
            for k in [k for k, e in entries.items() if _group(e) == group]:
                del entries[k]
            self._rerecorded.add(group)
        entries[(entry["key"], int(entry.get("repeat") or 0))] = entry
        self.dirty = True

    # ---- extras the runner uses ----------------------------------------------------------

    def take_served(self) -> dict | None:
        """The entry the last replayed call was answered from (then forgets it)."""
        served, self._served = self._served, None
        return served

    def count(self) -> int:
        return len(self._load())

    def save(self) -> None:
        """Write the file (record and read-write modes), sorted so re-recording an unchanged
        suite is no diff."""
        if self.mode not in ("record", "read-write") or not self.dirty:
            return
        entries = sorted(self._load().values(),
                         key=lambda e: (str(e.get("case")), str(e.get("prompt") or ""),
                                        str(e.get("role")), e.get("repeat", 0), e["key"]))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for e in entries:
                line = {k: e[k] for k in _FIELDS if e.get(k) is not None}
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(tmp, self.path)   # atomic: an interrupted save never leaves half a file
        self.dirty = False

    # ---- internals -----------------------------------------------------------------------

    def _load(self) -> dict[tuple[str, int], dict]:
        if self._entries is not None:
            return self._entries
        entries: dict[tuple[str, int], dict] = {}
        if self.path.exists():
            for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    e = loads_json(line)
                    entries[(e["key"], int(e.get("repeat") or 0))] = e
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    from promptkit.errors import ConfigError

                    raise ConfigError("not a recording line (JSON with a 'key')",
                                      path=str(self.path), line=n,
                                      hint="Fix or delete the line, or re-record the suite."
                                      ) from None
        self._entries = entries
        return entries

    def _miss(self, key: str, spec: str, messages: Sequence[Message],
              repeat: int) -> ReplayMissError:
        tag = self.tag
        who = f"case '{tag['case']}' ({tag['role']}, prompt {tag['prompt']}"
        who += f", repeat {repeat})" if repeat else ")"
        if not self.path.exists():
            return ReplayMissError(f"replay mode: {who}: recordings file {self.path} does not "
                                   "exist", hint=self.hint)
        why = self._what_changed(spec, messages)
        return ReplayMissError(
            f"replay mode: no recorded response for {who}, model {public_spec(spec)}, request "
            f"{key[:12]} in {self.path}" + (f"\n{why}" if why else ""),
            hint=self.hint)

    def _retrieval_miss(self, key: str, request: dict) -> ReplayMissError:
        who = f"case '{self.tag['case']}'"
        if not self.path.exists():
            return ReplayMissError(f"replay mode: {who}: recordings file {self.path} does not "
                                   "exist", hint=self.hint)
        # A case may record a search and a rerank: compare with the entry of the same kind.
        old = next((e for e in self._load().values()
                    if e.get("role") == "retrieval" and e.get("case") == self.tag["case"]
                    and ("rerank" in (e.get("retrieval") or {})) == ("rerank" in request)), None)
        why = "Nothing is recorded for this case's retrieval yet."
        if old is not None:
            changed = [k for k in sorted(set(request) | set(old.get("retrieval") or {}))
                       if request.get(k) != (old.get("retrieval") or {}).get(k)]
            why = f"Changed since it was recorded: {', '.join(changed) or 'the request'}."
        return ReplayMissError(f"replay mode: no recorded retrieval for {who} (query "
                               f"{request.get('query', '')[:60]!r}) in {self.path}\n{why}",
                               hint=self.hint)

    def _what_changed(self, spec: str, messages: Sequence[Message]) -> str:
        """Point at the first difference from this case's recorded request, if there is one."""
        tag = self.tag
        same = [e for e in self._load().values()
                if (e.get("case"), e.get("prompt"), e.get("role")) ==
                (tag["case"], tag["prompt"], tag["role"])]
        if not same:
            return "Nothing is recorded for this case and prompt yet."
        old = same[0]
        if old.get("model") != public_spec(spec):
            return f"It was recorded with model {old.get('model')}."
        old_msgs = old.get("messages") or []
        for i, (a, b) in enumerate(zip(old_msgs, messages, strict=False)):
            if a.get("content") != b["content"] or a.get("role") != b["role"]:
                pos = next((n for n, (x, y) in enumerate(zip(a.get("content", ""), b["content"],
                                                             strict=False)) if x != y),
                           min(len(a.get("content", "")), len(b["content"])))
                return (f"The rendered messages differ from the recording at message {i} "
                        f"({b['role']}), character {pos}: recorded "
                        f"{a.get('content', '')[pos:pos + 50]!r}, "
                        f"now {b['content'][pos:pos + 50]!r}.")
        if len(old_msgs) != len(messages):
            return f"The recording has {len(old_msgs)} messages, the request {len(messages)}."
        return "The generation parameters differ from the recording."


def _group(entry: dict) -> tuple:
    """Entries that are re-recorded together: a case's answers per prompt, or its retrieval."""
    if entry.get("role") == "retrieval":
        return (entry.get("case"), "retrieval")
    return (entry.get("case"), entry.get("prompt"))


class ReplaySession:
    """What the `promptkit_replay` fixture gives a test: models wired to one recordings file."""

    def __init__(self, recordings: Recordings):
        self.recordings = recordings
        self.mode = recordings.mode

    def model(self, spec: str | None = None, **options):
        """The model for `spec`, answering from (replay) or into (record) the recordings."""
        from promptkit.llm.specs import get_model

        return self.attach(get_model(spec, cache_mode="off", **options))

    def attach(self, model):
        """Wire a model the test built itself (a fake, a wrapped one) to the recordings;
        returns it."""
        model.cache = None if self.mode == "off" else self.recordings
        return model
