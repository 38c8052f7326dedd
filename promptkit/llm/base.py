"""The chat-model protocol shared by every backend.

A backend implements one method, `_stream`, yielding `Chunk`s; `generate` (with optional
per-token callback), timing, token accounting, caching, retries and the concurrency limit are
built once here on top of it.
"""

from __future__ import annotations

import logging
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from promptkit.errors import BackendError
from promptkit.llm.limits import concurrency_slot

if TYPE_CHECKING:
    from promptkit.llm.structured import Structured

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


@runtime_checkable
class ResponseStore(Protocol):
    """Record/replay behind `ChatModel.cache`: the one protocol both stores follow — the SQLite
    response cache of evaluations (`llm.cache.ResponseCache`) and a suite's recordings file
    (`testing.suite_recordings.Recordings`) — in the one mode vocabulary of
    `choices.CACHE_MODES` (off / read-write / record / replay)."""

    mode: str

    @property
    def consults(self) -> bool:
        """Whether a request is looked up before the backend is asked."""

    def stores(self, params: GenParams) -> bool:
        """Whether an answer made with `params` is kept."""

    def lookup(self, spec: str, params: GenParams,
               messages: Sequence[Message]) -> Generation | None:
        """The stored answer, or None; a miss in replay mode raises ReplayMissError."""

    def store(self, spec: str, params: GenParams, messages: Sequence[Message],
              gen: Generation) -> None:
        """Keep `gen` as the answer to this request."""

log = logging.getLogger("promptkit.llm")

# Per-message framing (role markers, separators) that content-only counting misses; chat
# templates of the models we ship add 3-5 tokens per turn, so this errs on the safe side.
MESSAGE_OVERHEAD_TOKENS = 6
# The longest wait a server's Retry-After may ask for before a request gives up instead.
MAX_RETRY_WAIT_ENV = "PROMPTKIT_MAX_RETRY_WAIT"
DEFAULT_MAX_RETRY_WAIT_S = 60.0
RETRY_AFTER_JITTER = 0.2     # up to 20% more than asked, so waiting clients do not return at once

_rng = random.Random()


def default_max_retry_wait() -> float:
    """$PROMPTKIT_MAX_RETRY_WAIT seconds, else 60."""
    raw = os.environ.get(MAX_RETRY_WAIT_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_MAX_RETRY_WAIT_S
    except ValueError:
        from promptkit.errors import UserError

        raise UserError(f"{MAX_RETRY_WAIT_ENV}={raw!r} is not a number of seconds") from None


def retry_delay(attempt: int, *, backoff: float, max_backoff: float,
                retry_after: float | None, max_wait: float, rng: random.Random = _rng
                ) -> float | None:
    """Seconds to wait before retry `attempt` (1 = the first retry); None = do not retry.

    Without Retry-After: exponential backoff with "equal jitter" (between half and all of
    backoff * 2^(attempt-1), capped at `max_backoff`), so clients that failed together do not
    come back together. With Retry-After: at least what the server asked, plus up to 20%
    jitter, never above `max_wait`; a server asking for more than `max_wait` gets no retry.
    """
    if retry_after is not None:
        retry_after = max(0.0, retry_after)
        if retry_after > max_wait:
            return None
        return min(max_wait, retry_after * (1.0 + RETRY_AFTER_JITTER * rng.random()))
    ceiling = min(backoff * 2 ** (attempt - 1), max_backoff)
    return ceiling * (0.5 + 0.5 * rng.random())


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    top_p: float = 1.0
    # Multiplies down the odds of tokens seen in the last 64 (llama.cpp's and Ollama's
    # `repeat_penalty`); 1.0 or None is off. Small models loop without it at temperature 0.
    repeat_penalty: float | None = None
    # A JSON Schema the reply must follow. Backends that can constrain decoding to it
    # (`ChatModel.can_constrain`) do; for the others it is not sent, and
    # `generate_structured` parses and validates whatever text comes back.
    json_schema: dict | None = None

    def __post_init__(self):
        # llama.cpp reads max_tokens <= 0 as "no limit": a typo would generate until the window
        # is full. Every backend's parameters pass through here.
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) \
                or self.max_tokens < 1:
            from promptkit.errors import UserError

            raise UserError(f"max_tokens must be a whole number of at least 1 (got "
                            f"{self.max_tokens!r}); it caps the length of the answer",
                            hint="Pass --max-tokens N with N >= 1, or leave it out to use the "
                                 "prompt version's own limit.")

    def as_dict(self) -> dict:
        d = {"temperature": self.temperature, "max_tokens": self.max_tokens,
             "stop": list(self.stop), "seed": self.seed, "top_p": self.top_p}
        # Only when set: requests recorded before the option existed keep their cache keys.
        if self.repeat_penalty is not None:
            d["repeat_penalty"] = self.repeat_penalty
        if self.json_schema is not None:
            d["json_schema"] = self.json_schema
        return d

    @property
    def deterministic(self) -> bool:
        """Same request, same answer: greedy decoding or a fixed sampling seed."""
        return self.temperature == 0 or self.seed is not None


@dataclass
class Chunk:
    """A piece of streamed output; the last one may carry usage and finish reason."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass
class Generation:
    text: str
    model: str                      # the model spec string (credentials stripped)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    first_token_s: float | None = None
    finish_reason: str | None = None
    cached: bool = False
    params: dict = field(default_factory=dict)
    attempts: int = 1

    @property
    def tokens_per_s(self) -> float | None:
        """Decoding speed after the first token (prompt processing excluded)."""
        if not self.completion_tokens or self.first_token_s is None or self.cached:
            return None
        decode_s = self.latency_s - self.first_token_s
        if self.completion_tokens < 2 or decode_s <= 0:
            return None
        return (self.completion_tokens - 1) / decode_s

    def to_dict(self) -> dict:
        return asdict(self)


class ChatModel(ABC):
    """A chat model. Capabilities are class attributes; backends override what differs."""

    spec: str = ""                   # canonical spec string, safe to log (no credentials)
    backend: str = ""                # registry key: "llamacpp", "ollama", "openai", "fake"
    context_window: int = 2048
    # Decoding can be held to a JSON Schema (grammar, response_format, format). Read by
    # `generate` (a schema is not sent where this is False) and `generate_structured`.
    can_constrain: bool = False
    key_env_var: str | None = None
    exact_token_count: bool = True   # False where count_tokens is an estimate (remote APIs)
    max_concurrency: int = 4         # requests in flight per backend endpoint, per process
    retries: int = 2                 # extra attempts after a retryable failure
    backoff_s: float = 0.5           # first retry delay; doubles each attempt
    max_backoff_s: float = 8.0       # cap of that doubling (not of a server's Retry-After)
    max_retry_wait_s: float | None = None   # Retry-After's cap; None: $PROMPTKIT_MAX_RETRY_WAIT
    timeout_s: float | None = 60.0

    cache: ResponseStore | None = None

    @abstractmethod
    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        """Send one chat request and yield output as it arrives."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for this model (its own tokenizer where it has one)."""

    def count_message_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt size of a chat request, template framing included (approximately)."""
        return sum(self.count_tokens(m.get("content") or "") + MESSAGE_OVERHEAD_TOKENS
                   for m in messages)

    def observe_prompt_tokens(self, messages: Sequence[Message], reported: int) -> None:
        """The backend's own size of a prompt it just processed; estimating backends learn."""
        return None   # exact counters (in-process tokenizers) have nothing to learn

    def _override(self, *, timeout: float | None = None, context_window: int | None = None,
                  max_concurrency: int | None = None, retries: int | None = None,
                  backoff: float | None = None, max_retry_wait: float | None = None) -> None:
        """Per-instance settings over the class defaults (None keeps the default)."""
        if timeout is not None:
            self.timeout_s = timeout
        if context_window:
            self.context_window = context_window
        if max_concurrency:
            self.max_concurrency = max_concurrency
        if retries is not None:
            self.retries = retries
        if backoff is not None:
            self.backoff_s = backoff
        if max_retry_wait is not None:
            self.max_retry_wait_s = max_retry_wait

    def limit_key(self) -> str:
        """What the concurrency limit is shared by: one endpoint or one in-process model."""
        return self.spec

    def describe(self) -> dict:
        """What a trace records about the model."""
        return {"spec": self.spec, "backend": self.backend,
                "context_window": self.context_window}

    def generate(self, messages: Sequence[Message], params: GenParams | None = None,
                 on_token: Callable[[str], None] | None = None) -> Generation:
        """One chat completion: cache, then the backend with retries; tokens go to `on_token`."""
        params = params or GenParams()
        if params.json_schema is not None and not self.can_constrain:
            # Not sent, so not part of the request either: the cache key stays that of the
            # plain request this backend really receives.
            params = replace(params, json_schema=None)
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        cache = self.cache
        if cache is not None and cache.consults:
            t0 = time.perf_counter()
            hit = cache.lookup(self.spec, params, messages)  # replay mode raises on a miss
            if hit is not None:
                if on_token and hit.text:
                    on_token(hit.text)
                hit.latency_s = time.perf_counter() - t0
                return hit
        gen = self._generate_with_retries(messages, params, on_token)
        if cache is not None and cache.stores(params):
            cache.store(self.spec, params, messages, gen)
        return gen

    def generate_structured(self, messages: Sequence[Message], schema: dict | type,
                            params: GenParams | None = None, *, constrain: bool = True,
                            on_token: Callable[[str], None] | None = None) -> Structured:
        """A reply that follows `schema` (a JSON Schema dict or a pydantic model class).

        Decoding is constrained to the schema where the backend can and `constrain` is true;
        either way the reply is parsed and validated, and one that does not fit comes back
        with outcome "unparsable" and the reason, never as an exception or a guess.
        """
        from promptkit.llm.structured import parse_reply, schema_of

        json_schema, model_class = schema_of(schema)
        constrained = constrain and self.can_constrain
        params = replace(params or GenParams(),
                         json_schema=json_schema if constrained else None)
        gen = self.generate(messages, params, on_token=on_token)
        return parse_reply(gen, json_schema, constrained=constrained, model_class=model_class)

    def _generate_with_retries(self, messages, params, on_token) -> Generation:
        emitted = False

        def forward(text: str) -> None:
            nonlocal emitted
            emitted = True
            if on_token:
                on_token(text)

        attempt = 0
        while True:
            attempt += 1
            try:
                with concurrency_slot(self.limit_key(), self.max_concurrency):
                    gen = self._run_stream(messages, params, forward)
                gen.attempts = attempt
                return gen
            except BackendError as exc:
                # Once tokens reached the caller a retry would print them twice: fail instead.
                if not exc.retryable or emitted or attempt > self.retries:
                    raise
                retry_after = getattr(exc, "retry_after", None)
                max_wait = (self.max_retry_wait_s if self.max_retry_wait_s is not None
                            else default_max_retry_wait())
                delay = retry_delay(attempt, backoff=self.backoff_s,
                                    max_backoff=self.max_backoff_s, retry_after=retry_after,
                                    max_wait=max_wait)
                if delay is None:
                    exc.hint = ((exc.hint + " ") if exc.hint else "") + (
                        f"The server asked to retry after {retry_after:g}s, longer than the "
                        f"{max_wait:g}s promptkit waits (raise it with get_model(..., "
                        f"max_retry_wait=SECONDS) or ${MAX_RETRY_WAIT_ENV}).")
                    exc.args = (f"{exc.message}\n{exc.hint}",)
                    raise
                log.warning("%s: %s; retry %d/%d in %.2fs", self.spec, exc.message, attempt,
                            self.retries, delay)
                time.sleep(delay)

    def _run_stream(self, messages, params, forward) -> Generation:
        t0 = time.perf_counter()
        first = None
        parts: list[str] = []
        prompt_tokens = completion_tokens = finish = None
        for chunk in self._stream(messages, params):
            if chunk.text:
                if first is None:
                    first = time.perf_counter() - t0
                parts.append(chunk.text)
                forward(chunk.text)
            if chunk.prompt_tokens is not None:
                prompt_tokens = chunk.prompt_tokens
                self.observe_prompt_tokens(messages, prompt_tokens)
            if chunk.completion_tokens is not None:
                completion_tokens = chunk.completion_tokens
            finish = chunk.finish_reason or finish
        latency = time.perf_counter() - t0
        text = "".join(parts)
        # Backends that report no usage get it counted here with the model's tokenizer.
        if prompt_tokens is None:
            prompt_tokens = self.count_message_tokens(messages)
        if completion_tokens is None:
            completion_tokens = self.count_tokens(text) if text else 0
        return Generation(text=text, model=self.spec, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, latency_s=latency,
                          first_token_s=first, finish_reason=finish, params=params.as_dict())
