"""OpenAI and any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio) by base URL."""

from __future__ import annotations

import math
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
from promptkit.llm.base import ChatModel, Chunk, GenParams, Message
from promptkit.llm.redact import split_query, strip_credentials

OPENAI_URL = "https://api.openai.com/v1"
# Servers on this machine do not check keys, but the client insists on having one.
LOCAL_DUMMY_KEY = "sk-local-no-key"


def estimate_tokens(text: str) -> int:
    """Token estimate for models whose tokenizer we cannot run offline.

    Counts word pieces and punctuation, then adds a third for sub-word splits: BPE vocabularies
    of current chat models give 1.2-1.4 tokens per English word, more for other languages,
    so this rounds up rather than overflow the model's window.
    """
    pieces = len(re.findall(r"\w+|[^\w\s]", text))
    return math.ceil(pieces * 1.35)


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIModel(ChatModel):
    """Chat completions over HTTP with the official `openai` client (its own retries off)."""

    backend = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"
    exact_token_count = False
    context_window = 8192

    def __init__(self, name: str, *, base_url: str | None = None, timeout: float = 60.0,
                 context_window: int | None = None, max_concurrency: int | None = None,
                 retries: int | None = None, backoff: float | None = None):
        if not name:
            raise UserError("openai model spec needs a model name, e.g. openai:gpt-4o-mini or "
                            "openai:local@http://127.0.0.1:8080/v1")
        self.name = name
        explicit_url = base_url is not None
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        self.public_url = strip_credentials(self.base_url)
        self.spec = f"openai:{name}@{self.public_url}" if explicit_url else f"openai:{name}"
        self._override(timeout=timeout, context_window=context_window,
                       max_concurrency=max_concurrency, retries=retries, backoff=backoff)
        self._client = None

    def limit_key(self) -> str:
        return f"openai@{self.public_url}"

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.public_url}

    def _api_key(self) -> str:
        # Read from the environment when the client is made; it lives only inside that client,
        # never in the spec, describe() or a trace.
        key = os.environ.get(self.key_env_var or "")
        if key:
            return key
        if self.base_url.startswith(OPENAI_URL):
            raise UserError("the OpenAI API needs a key: OPENAI_API_KEY is not set",
                            hint="export OPENAI_API_KEY=sk-... (or point at a local server with "
                                 "openai:<model>@http://127.0.0.1:PORT/v1)")
        return LOCAL_DUMMY_KEY

    def client(self):
        if self._client is None:
            try:
                import httpx
                import openai
            except ImportError:
                raise MissingDependencyError("the openai backend", "openai") from None
            base_url, query = split_query(self.base_url)
            self._client = openai.OpenAI(
                api_key=self._api_key(), base_url=base_url, default_query=query or None,
                max_retries=0,
                timeout=httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 10.0)))
        return self._client

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _request(self, messages: Sequence[Message], params: GenParams) -> dict:
        req = {"model": self.name, "messages": list(messages), "temperature": params.temperature,
               "top_p": params.top_p, "max_tokens": params.max_tokens, "stream": True,
               "stream_options": {"include_usage": True}}
        if params.stop:
            req["stop"] = list(params.stop)
        if params.seed is not None:
            req["seed"] = params.seed
        if params.repeat_penalty is not None and not self.base_url.startswith(OPENAI_URL):
            # Not in OpenAI's API (which rejects unknown fields); OpenAI-compatible local
            # servers take it outside the schema: llama.cpp server and LM Studio as
            # `repeat_penalty`, vLLM as `repetition_penalty`.
            req["extra_body"] = {"repeat_penalty": params.repeat_penalty,
                                 "repetition_penalty": params.repeat_penalty}
        return req

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        import httpx
        import openai

        try:
            for part in self.client().chat.completions.create(**self._request(messages, params)):
                usage = getattr(part, "usage", None)
                for choice in part.choices or ():
                    yield Chunk(text=choice.delta.content or "", finish_reason=choice.finish_reason)
                if usage is not None:
                    yield Chunk(prompt_tokens=usage.prompt_tokens,
                                completion_tokens=usage.completion_tokens)
        except openai.APIError as exc:
            raise self._translate(exc) from None
        # Raw httpx errors escape the client while a started stream is being read.
        except httpx.TimeoutException:
            raise BackendTimeout(f"OpenAI-compatible server at {self.public_url} stopped "
                                 f"answering for {self.timeout_s:g}s mid-stream",
                                 backend=self.spec) from None
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"connection to {self.public_url} failed mid-stream: {exc}",
                                     backend=self.spec) from None

    def _translate(self, exc) -> BackendError:
        import openai

        where = f"OpenAI-compatible server at {self.public_url}"
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeout(f"{where} did not answer within {self.timeout_s:g}s",
                                  backend=self.spec,
                                  hint="Raise the timeout (get_model(..., timeout=...)) or check "
                                       "the server's load.")
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailable(f"cannot reach {where}", backend=self.spec,
                                      hint="Start the server, or fix the URL in the model "
                                           "spec (openai:<model>@http://host:port/v1) or in "
                                           "OPENAI_BASE_URL.")
        status = getattr(exc, "status_code", None) or 502
        detail = _error_detail(exc)
        key = os.environ.get(self.key_env_var or "")
        if key:  # some servers echo the rejected key back in the error text
            detail = detail.replace(key, "***")
        if status == 401:
            return BackendHTTPError(f"{where} rejected the API key (HTTP 401): {detail}",
                                    status=401, backend=self.spec,
                                    hint=f"Set a valid key in {self.key_env_var}.")
        err = BackendHTTPError(f"{where} answered HTTP {status}: {detail}", status=status,
                               backend=self.spec,
                               hint="Check the model name and request; 429/5xx were retried."
                               if status == 429 or status >= 500 else
                               "Check the model name and parameters.")
        err.retry_after = _retry_after(exc)
        return err


def _error_detail(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)[:300]
    return str(getattr(exc, "message", exc))[:300]
