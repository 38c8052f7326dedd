"""Per-backend concurrency limits, shared by every model object in the process.

The eval runner calls models from a thread pool; a local server (or the in-process llama.cpp
model, which is not thread-safe) must not receive more requests at once than it can serve.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


def _semaphore(key: str, limit: int) -> threading.BoundedSemaphore:
    with _lock:
        sem = _slots.get(key)
        if sem is None:
            # The first model object for an endpoint fixes its limit for the process.
            sem = _slots[key] = threading.BoundedSemaphore(max(1, limit))
        return sem


@contextmanager
def concurrency_slot(key: str, limit: int) -> Iterator[None]:
    """Hold one of `limit` slots for `key` while the block runs."""
    sem = _semaphore(key, limit)
    with sem:
        yield
