"""The words settings are spelled with, once for every layer: the pipeline, the response
cache, eval configs, suites and experiments read their choices (and their error messages)
from here. Typing only, so any module may import it."""

from __future__ import annotations

from typing import Literal, get_args

# Where the retrieved passages go in the prompt: best first, best last (next to the question),
# or best at both ends and the weakest in the middle.
Order = Literal["ranked", "reversed", "edges"]
# What the model is given: retrieved passages, nothing, or the gold passages.
Mode = Literal["rag", "closed-book", "oracle"]
# The response cache (llm/cache.py).
CacheModeName = Literal["off", "read-write", "record", "replay"]

ORDERS: tuple[str, ...] = get_args(Order)
MODES: tuple[str, ...] = get_args(Mode)
CACHE_MODES: tuple[str, ...] = get_args(CacheModeName)
# Deprecated mode words -> today's (kept working, with a warning, for one release).
OLD_CACHE_MODE_NAMES: dict[str, str] = {"live": "off"}
