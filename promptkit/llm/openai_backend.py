"""OpenAI and any OpenAI-compatible server (vLLM, llama.cpp server, LM Studio) by base URL."""

from __future__ import annotations

import os
import time
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
from promptkit.llm.redact import split_query, strip_credentials
from promptkit.llm.tokens import ServerTokenizer, TokenCounter, estimate_tokens

__all__ = ["OpenAIModel", "estimate_tokens"]

OPENAI_URL = "https://api.openai.com/v1"
# Servers on this machine do not check keys, but the client insists on having one.
LOCAL_DUMMY_KEY = "sk-local-no-key"


def _retry_after(exc) -> float | None:
    """Seconds from a 429/503 answer's `retry-after-ms` or `Retry-After` (seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    headers = response.headers if response is not None else {}
    try:
        if headers.get("retry-after-ms") is not None:
            return float(headers["retry-after-ms"]) / 1000.0
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            from email.utils import parsedate_to_datetime

            when = parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIModel(ChatModel):
    """Chat completions over HTTP with the official `openai` client (its own retries off)."""

    backend = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"
    context_window = 8192
    can_constrain = True
    # How a JSON Schema is sent: OpenAI's `json_schema` response format (OpenAI, vLLM,
    # llama.cpp's llama-server, LM Studio), or `json_object` with a `schema` beside it, the only
    # form llama-cpp-python's server takes. A local server that refuses the first is asked the
    # second way from then on.
    schema_format = "json_schema"

    def __init__(self, name: str, *, base_url: str | None = None, timeout: float = 60.0,
                 context_window: int | None = None, max_concurrency: int | None = None,
                 retries: int | None = None, backoff: float | None = None,
                 max_retry_wait: float | None = None):
        if not name:
            raise UserError("openai model spec needs a model name, e.g. openai:gpt-4o-mini or "
                            "openai:local@http://127.0.0.1:8080/v1")
        self.name = name
        explicit_url = base_url is not None
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        self.public_url = strip_credentials(self.base_url)
        self.spec = f"openai:{name}@{self.public_url}" if explicit_url else f"openai:{name}"
        self._override(timeout=timeout, context_window=context_window,
                       max_concurrency=max_concurrency, retries=retries, backoff=backoff,
                       max_retry_wait=max_retry_wait)
        self._client = None
        self._tokens: TokenCounter | None = None

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

    def token_counter(self) -> TokenCounter:
        """The server's tokenizer when it has one (llama.cpp, vLLM), else a calibrated estimate."""
        if self._tokens is None:
            server = None
            if not self.base_url.startswith(OPENAI_URL):   # the OpenAI API has no /tokenize
                root = self.base_url.removesuffix("/v1")
                server = ServerTokenizer(root, self.name,
                                         headers={"Authorization": f"Bearer {self._api_key()}"})
            self._tokens = TokenCounter(server, overhead=MESSAGE_OVERHEAD_TOKENS)
        return self._tokens

    @property
    def exact_token_count(self) -> bool:   # True once the server's tokenizer has answered
        return self.token_counter().exact

    def count_tokens(self, text: str) -> int:
        return self.token_counter().count(text)

    def observe_prompt_tokens(self, messages, reported: int) -> None:
        self.token_counter().observe(messages, reported)

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
        if params.json_schema is not None:
            req["response_format"] = self._response_format(params.json_schema)
        return req

    def _response_format(self, schema: dict) -> dict:
        if self.schema_format == "json_object":
            return {"type": "json_object", "schema": schema}
        from promptkit.llm.structured import strict_compatible

        # Strict mode refuses schemas with optional or open-ended objects; those go non-strict.
        return {"type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema,
                                "strict": strict_compatible(schema)}}

    def _refused_schema_format(self, exc, request: dict) -> bool:
        """A local server that does not know `json_schema` response formats: 400/422, or a
        500 naming response_format (llama-cpp-python's server wraps its validation error)."""
        status = getattr(exc, "status_code", None) or 0
        refused = status in (400, 422) or (status >= 500
                                           and "response_format" in _error_detail(exc))
        return (refused and "response_format" in request and self.schema_format == "json_schema"
                and not self.base_url.startswith(OPENAI_URL))

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        import httpx
        import openai

        request = self._request(messages, params)
        try:
            try:
                parts = self.client().chat.completions.create(**request)
            except openai.APIStatusError as exc:
                if not self._refused_schema_format(exc, request):
                    raise
                self.schema_format = "json_object"
                request = self._request(messages, params)
                parts = self.client().chat.completions.create(**request)
            for part in parts:
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
