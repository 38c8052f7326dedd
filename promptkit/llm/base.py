"""The chat-model protocol shared by every backend.

A backend implements one method, `_stream`, yielding `Chunk`s; `generate` (with optional
per-token callback), timing, token accounting, caching and retries are built once on top of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


@dataclass(frozen=True)
class GenParams:
    temperature: float = 0.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    top_p: float = 1.0

    def as_dict(self) -> dict:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens,
                "stop": list(self.stop), "seed": self.seed, "top_p": self.top_p}


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
    model: str                      # the model spec string
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    first_token_s: float | None = None
    finish_reason: str | None = None
    cached: bool = False
    params: dict = field(default_factory=dict)


class ChatModel(ABC):
    spec: str = ""
    context_window: int = 2048
    can_stream: bool = True
    needs_key: bool = False
    key_env_var: str | None = None

    @abstractmethod
    def _stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        """Send one chat request and yield output as it arrives."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for this model (its own tokenizer where it has one)."""

    def generate(self, messages: Sequence[Message], params: GenParams | None = None,
                 on_token: Callable[[str], None] | None = None) -> Generation:
        raise NotImplementedError  # implemented in promptkit.llm (timing, usage, cache, retries)
