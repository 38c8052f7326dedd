"""Token counts for models whose tokenizer does not run in this process.

Packing fills the model's window by these counts, and an Ollama model silently drops what
overflows its `num_ctx`, so a count must never be low. In order of preference:
1. the server's own tokenizer: llama.cpp's server and vLLM answer `POST /tokenize`,
   llama-cpp-python's server `POST /extras/tokenize/count`;
2. otherwise a conservative estimate from the characters (CJK and other scripts written without
   spaces cost about a token per character; a Latin word about one per four letters; each
   digit one), raised by the prompt sizes the server reports after each request (Ollama's
   `prompt_eval_count`, OpenAI's `usage.prompt_tokens`).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict

# Scripts written without spaces between words: one token per character is the safe side
# (BPE vocabularies give 0.7-1.5 tokens per ideograph, byte fallback more for rare ones).
_DENSE = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u2e80-\u2fdf\u3000-\u303f"
    "\u3040-\u30ff\u3100-\u31ff\u3200-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]")
_WORD = re.compile(r"[^\W\d_]+|\d|[^\w\s]|_", re.UNICODE)
_LATIN_MAX = 0x24F          # Basic Latin .. Latin Extended-B: English, Spanish, French, ...
SAFETY = 1.35               # sub-word splits: 1.2-1.4 tokens per English word in current BPEs
PROBE_TIMEOUT_S = 3.0
RETRY_PROBE_S = 60.0        # after a failed connection, estimate for this long before asking again
_CACHE_SIZE = 4096


def estimate_tokens(text: str) -> int:
    """A conservative token count for `text` without its model's tokenizer."""
    if not text:
        return 0
    dense = len(_DENSE.findall(text))
    rest = _DENSE.sub(" ", text)
    pieces = 0.0
    digits = 0
    for piece in _WORD.findall(rest):
        if piece.isdigit():
            digits += 1                      # Llama and Qwen split numbers into digits
        elif piece.isalpha():
            latin = all(ord(ch) <= _LATIN_MAX for ch in piece)
            # Other alphabets (Cyrillic, Greek, Arabic, Devanagari, ...) take about twice as
            # many tokens per letter as Latin ones in multilingual BPE vocabularies.
            pieces += max(1.0, len(piece) / (4.0 if latin else 2.0))
        else:
            pieces += 1.0                    # punctuation and symbols
    return dense + digits + math.ceil(pieces * SAFETY)


class Calibration:
    """A factor >= 1 on the estimate, raised when a server reports a larger prompt than estimated.

    Only ever raised: Ollama reports the tokens it evaluated, which are fewer than the prompt's
    when it reused a cached prefix, so a low report says nothing about the prompt's size.
    """

    MIN_TOKENS = 16     # tiny prompts are all framing; their ratio says little about text
    MAX_FACTOR = 8.0

    def __init__(self) -> None:
        self.factor = 1.0
        self._lock = threading.Lock()

    def observe(self, estimated: int, reported: int | None) -> None:
        if not reported or estimated < self.MIN_TOKENS:
            return
        with self._lock:
            self.factor = min(self.MAX_FACTOR, max(self.factor, reported / estimated))

    def apply(self, tokens: int) -> int:
        return math.ceil(tokens * self.factor)


class ServerTokenizer:
    """Counts with an OpenAI-compatible server's own tokenizer, when it exposes one."""

    def __init__(self, root_url: str, model: str, headers: dict | None = None,
                 timeout: float = PROBE_TIMEOUT_S):
        self.root = root_url.rstrip("/")
        self.model = model
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.endpoint: str | None = None   # "tokenize" | "extras" once found
        self._probed = False
        self._retry_at = 0.0
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def available(self) -> bool | None:
        """True/False once probed; None before the first count."""
        return (self.endpoint is not None) if self._probed else None

    def _ask(self, endpoint: str, text: str) -> int | None:
        import httpx

        if endpoint == "tokenize":
            # llama.cpp's server reads `content`, vLLM `prompt` and `model`; each ignores the rest.
            url, body = f"{self.root}/tokenize", {"content": text, "prompt": text,
                                                  "model": self.model, "add_special": False,
                                                  "add_special_tokens": False}
        else:
            url, body = f"{self.root}/extras/tokenize/count", {"input": text, "model": self.model}
        reply = httpx.post(url, json=body, headers=self.headers, timeout=self.timeout)
        if reply.status_code != 200:
            return None
        try:
            data = reply.json()
        except ValueError:
            return None
        if isinstance(data, dict) and isinstance(data.get("count"), int):
            return data["count"]
        if isinstance(data, dict) and isinstance(data.get("tokens"), list):
            return len(data["tokens"])
        return None

    def count(self, text: str) -> int | None:
        """Tokens of `text` by the server, or None when it cannot say (then estimate)."""
        import httpx

        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        if (self._probed and self.endpoint is None) or time.monotonic() < self._retry_at:
            return None
        try:
            if not self._probed:
                for endpoint in ("tokenize", "extras"):
                    n = self._ask(endpoint, text)
                    if n is not None:
                        self.endpoint = endpoint
                        break
                else:
                    n = None
                self._probed = True
            else:
                n = self._ask(self.endpoint, text)
        except httpx.HTTPError:
            # Down or unreachable: the chat request will say so; estimate meanwhile.
            self._retry_at = time.monotonic() + RETRY_PROBE_S
            return None
        if n is not None:
            with self._lock:
                self._cache[text] = n
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return n


class TokenCounter:
    """What a remote chat model counts with: its server's tokenizer, else a calibrated estimate."""

    def __init__(self, server: ServerTokenizer | None = None, overhead: int = 0):
        self.server = server
        self.calibration = Calibration()
        self.overhead = overhead     # per-message framing, as ChatModel.count_message_tokens adds

    @property
    def exact(self) -> bool:
        return bool(self.server is not None and self.server.available)

    def count(self, text: str) -> int:
        if not text:
            return 0
        n = self.server.count(text) if self.server is not None else None
        return n if n is not None else self.calibration.apply(estimate_tokens(text))

    def observe(self, messages, reported: int | None) -> None:
        """The server's own size of a prompt it processed: raise the estimate if it was low."""
        if self.exact or not reported:
            return
        # The framing is a fixed cost per message; only the text's share scales.
        text = sum(estimate_tokens(m.get("content") or "") for m in messages)
        self.calibration.observe(text, reported - self.overhead * len(messages))
