"""Ollama through its official client; host from OLLAMA_HOST like the `ollama` CLI."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from promptkit.errors import (
    BackendError,
    BackendHTTPError,
    BackendTimeout,
    BackendUnavailable,
    MissingDependencyError,
    UserError,
)
from promptkit.llm.base import MESSAGE_OVERHEAD_TOKENS, ChatModel, Chunk, GenParams, Message
from promptkit.llm.redact import strip_credentials
from promptkit.llm.tokens import TokenCounter

DEFAULT_HOST = "http://localhost:11434"


def ollama_host() -> str:
    """$OLLAMA_HOST as the ollama CLI reads it (`host:port` allowed), else the default."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_HOST
    if "://" not in host:
        host = "http://" + host
    return host.rstrip("/")


class OllamaModel(ChatModel):
    backend = "ollama"
    exact_token_count = False   # Ollama has no tokenize endpoint: estimate, then calibrate
    # Ollama's own default window (num_ctx) is small and it truncates silently past it, so
    # we send ours with every request and pack context against the same number.
    context_window = 4096
    max_concurrency = 2
    can_constrain = True   # Ollama's `format` takes a JSON Schema

    def __init__(self, name: str, *, host: str | None = None, timeout: float = 120.0,
                 context_window: int | None = None, max_concurrency: int | None = None,
                 retries: int | None = None, backoff: float | None = None,
                 max_retry_wait: float | None = None):
        if not name:
            raise UserError("ollama model spec needs a model name, e.g. ollama:llama3.2")
        self.name = name
        self.host = (host or ollama_host()).rstrip("/")
        self.public_host = strip_credentials(self.host)
        self.spec = f"ollama:{name}"
        self._override(timeout=timeout, context_window=context_window,
                       max_concurrency=max_concurrency, retries=retries, backoff=backoff,
                       max_retry_wait=max_retry_wait)
        self._client = None
        # Estimated, then raised by the prompt_eval_count Ollama reports with every answer.
        self.tokens = TokenCounter(overhead=MESSAGE_OVERHEAD_TOKENS)

    def limit_key(self) -> str:
        return f"ollama@{self.public_host}"

    def describe(self) -> dict:
        return {**super().describe(), "host": self.public_host}

    def client(self):
        if self._client is None:
            try:
                import ollama
            except ImportError:
                raise MissingDependencyError("the ollama backend", "ollama") from None
            self._client = ollama.Client(host=self.host, timeout=self.timeout_s)
        return self._client

    def count_tokens(self, text: str) -> int:
        return self.tokens.count(text)

    def observe_prompt_tokens(self, messages, reported: int) -> None:
        self.tokens.observe(messages, reported)

    def _options(self, params: GenParams) -> dict:
        opts = {"temperature": params.temperature, "top_p": params.top_p,
                "num_predict": params.max_tokens, "num_ctx": self.context_window}
        if params.stop:
            opts["stop"] = list(params.stop)
        if params.seed is not None:
            opts["seed"] = params.seed
        if params.repeat_penalty is not None:
            opts["repeat_penalty"] = params.repeat_penalty
        return opts

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        import httpx
        import ollama

        try:
            extra = {"format": params.json_schema} if params.json_schema is not None else {}
            parts = self.client().chat(model=self.name, messages=list(messages), stream=True,
                                       options=self._options(params), **extra)
            for part in parts:
                text = (part.message.content or "") if part.message else ""
                if part.done:
                    yield Chunk(text=text, prompt_tokens=part.prompt_eval_count,
                                completion_tokens=part.eval_count, finish_reason=part.done_reason)
                else:
                    yield Chunk(text=text)
        except ollama.ResponseError as exc:
            raise self._http_error(exc) from None
        # The client turns connection errors into ConnectionError only for non-streamed calls.
        except (ConnectionError, httpx.ConnectError):
            raise self._unreachable() from None
        except httpx.TimeoutException:
            raise BackendTimeout(f"Ollama at {self.public_host} did not answer within "
                                 f"{self.timeout_s:g}s", backend=self.spec,
                                 hint="The model may still be loading; raise the timeout "
                                      "(get_model(..., timeout=...)).") from None
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"connection to Ollama at {self.public_host} failed: {exc}",
                                     backend=self.spec) from None

    def _unreachable(self) -> BackendError:
        return BackendUnavailable(
            f"cannot reach Ollama at {self.public_host} — start `ollama serve` or set OLLAMA_HOST",
            backend=self.spec)

    def _http_error(self, exc) -> BackendError:
        status = exc.status_code
        if status == -1:
            # An error reported inside the stream (e.g. a proxy's upstream failed); the
            # upstream status is only in the text, when it is there at all.
            found = re.search(r"\b(?:Error code|status)[: ]+(\d{3})\b", str(exc.error))
            status = int(found.group(1)) if found else 502
        hint = None
        if status == 404:
            hint = f"Pull the model first: ollama pull {self.name}"
        return BackendHTTPError(f"Ollama at {self.public_host} answered HTTP {status}: "
                                f"{str(exc.error)[:300]}", status=status, backend=self.spec,
                                hint=hint)
