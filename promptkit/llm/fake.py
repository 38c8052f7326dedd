"""Deterministic chat models for tests (ours and users'): scripted replies, recorded calls."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from promptkit.llm.base import ChatModel, Chunk, GenParams, Message

_PIECE = re.compile(r"\w+|[^\w\s]")
# Split before every word that follows whitespace: the pieces join back to the exact text.
_STREAM_SPLIT = re.compile(r"(?<=\s)(?=\S)")


@dataclass
class FakeCall:
    """One request a fake chat model received."""

    messages: list[dict]
    params: GenParams

    @property
    def user_text(self) -> str:
        """Content of the last user message (what most assertions look at)."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == "user"), "")


class _FakeBase(ChatModel):
    __test__ = False
    backend = "fake"
    max_concurrency = 64
    retries = 0
    backoff_s = 0.0
    timeout_s = None

    def __init__(self, *, spec: str, context_window: int = 2048, retries: int = 0,
                 can_constrain: bool = False):
        self.spec = spec
        self.context_window = context_window
        self.retries = retries
        # A fake that "constrains" receives the schema in params.json_schema; what it replies
        # is still up to the script, so tests can check both paths of structured output.
        self.can_constrain = can_constrain
        self.calls: list[FakeCall] = []

    def count_tokens(self, text: str) -> int:
        return len(_PIECE.findall(text))

    @property
    def last_call(self) -> FakeCall:
        if not self.calls:
            raise AssertionError(f"{self.spec} was never called")
        return self.calls[-1]

    def _reply(self, messages: list[dict], params: GenParams):
        raise NotImplementedError

    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        messages = [dict(m) for m in messages]
        self.calls.append(FakeCall(messages, params))
        reply = self._reply(messages, params)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            pieces = _STREAM_SPLIT.split(reply) if reply else []
        else:
            pieces = reply  # streamed lazily, so a generator can fail midway like a server
        # Honour max_tokens like a real model would, counting in this fake's own tokens.
        used, finish = 0, "stop"
        for piece in pieces:
            n = self.count_tokens(piece)
            if used + n > params.max_tokens:
                finish = "length"
                break
            used += n
            yield Chunk(text=piece)
        yield Chunk(finish_reason=finish)


class FakeChatModel(_FakeBase):
    """Scripted replies, in order, with a call history (`calls`, `last_call`).

    A reply may be an exception instance: that call raises it (to test error handling and
    retries). When the script runs out, `default` answers; without a default it is an error.
    """

    def __init__(self, replies: Iterable[str | BaseException] = (), *, default: str | None = None,
                 spec: str = "fake:scripted", context_window: int = 2048, retries: int = 0,
                 can_constrain: bool = False):
        super().__init__(spec=spec, context_window=context_window, retries=retries,
                         can_constrain=can_constrain)
        self.replies = deque(replies)
        self.default = default

    def enqueue(self, *replies: str | BaseException) -> FakeChatModel:
        self.replies.extend(replies)
        return self

    def _reply(self, messages, params):
        if self.replies:
            return self.replies.popleft()
        if self.default is not None:
            return self.default
        raise AssertionError(f"{self.spec}: no scripted reply left for call {len(self.calls)} "
                             "(enqueue more replies or give a default)")


class FunctionChatModel(_FakeBase):
    """Replies computed by `fn(messages, params)`: a string, or an iterable of streamed pieces."""

    def __init__(self, fn: Callable[[list[dict], GenParams], str | Iterable[str]], *,
                 spec: str = "fake:function", context_window: int = 2048, retries: int = 0,
                 can_constrain: bool = False):
        super().__init__(spec=spec, context_window=context_window, retries=retries,
                         can_constrain=can_constrain)
        self.fn = fn

    def _reply(self, messages, params):
        return self.fn(messages, params)


def echo_last_user(messages: list[dict], params: GenParams) -> str:
    """Reply with the last user message: shows exactly what the model was sent."""
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def fake_model_from_spec(name: str, *, context_window: int = 2048, retries: int = 0) -> ChatModel:
    """`fake:echo` echoes the last user message; `fake:<text>` always answers `<text>`."""
    opts = {"context_window": context_window, "retries": retries}
    if name in ("", "echo"):
        return FunctionChatModel(echo_last_user, spec="fake:echo", **opts)
    return FakeChatModel(default=name, spec=f"fake:{name}", **opts)
