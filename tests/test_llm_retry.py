"""Retries: a server's Retry-After is honoured up to a cap the user sets, with jitter."""

from __future__ import annotations

import random

import pytest

from promptkit.errors import BackendHTTPError
from promptkit.llm import GenParams, get_model

QUESTION = [{"role": "user", "content": "hi"}]
SHORT = GenParams(max_tokens=8)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """The waits between attempts, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr("promptkit.llm.base.time.sleep", waited.append)
    return waited


def test_retry_after_longer_than_the_old_8s_cap_is_honoured(fault_server, sleeps):
    server = fault_server(("http", 429, {"Retry-After": "12"}), ("ok", "later"))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=2, backoff=0.01)
    assert model.generate(QUESTION, SHORT).text == "later"
    assert len(sleeps) == 1
    # What was asked plus jitter, never less (before: cut to 8 s, and the retry came early).
    assert 12.0 <= sleeps[0] <= 12.0 * 1.2


def test_retry_after_as_an_http_date(fault_server, sleeps):
    import time
    from email.utils import formatdate

    when = formatdate(time.time() + 20, usegmt=True)
    server = fault_server(("http", 503, {"Retry-After": when}), ("ok", "back"))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=1, max_retry_wait=60)
    assert model.generate(QUESTION, SHORT).text == "back"
    assert 17.0 <= sleeps[0] <= 24.0


def test_a_wait_beyond_the_cap_fails_at_once_saying_how_to_raise_it(fault_server, sleeps,
                                                                    monkeypatch):
    monkeypatch.setenv("PROMPTKIT_MAX_RETRY_WAIT", "30")
    server = fault_server(("http", 429, {"Retry-After": "120"}), ("ok", "never"))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=3)
    with pytest.raises(BackendHTTPError) as err:
        model.generate(QUESTION, SHORT)
    assert err.value.status == 429 and server.hits == 1 and sleeps == []
    assert "120s" in err.value.hint and "max_retry_wait" in err.value.hint


def test_backoff_without_retry_after_is_jittered(fault_server, sleeps):
    server = fault_server(500, 500, 500, ("ok", "fine"))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=3, backoff=1.0)
    assert model.generate(QUESTION, SHORT).text == "fine"
    # Attempt n waits between half and all of backoff * 2^(n-1), not exactly it.
    assert len(sleeps) == 3 and sleeps != [1.0, 2.0, 4.0]
    for n, wait in enumerate(sleeps, start=1):
        assert 0.5 * 2 ** (n - 1) <= wait <= 2 ** (n - 1)


def test_retry_delay_spreads_clients_apart():
    from promptkit.llm.base import retry_delay

    rng = random.Random(0)
    backoffs = {round(retry_delay(1, backoff=1.0, max_backoff=8.0, retry_after=None,
                                  max_wait=60, rng=rng), 6) for _ in range(20)}
    assert len(backoffs) > 15 and all(0.5 <= d <= 1.0 for d in backoffs)
    asked = [retry_delay(1, backoff=1.0, max_backoff=8.0, retry_after=10.0, max_wait=60, rng=rng)
             for _ in range(20)]
    assert len(set(asked)) > 15 and all(10.0 <= d <= 12.0 for d in asked)
    assert retry_delay(1, backoff=1.0, max_backoff=8.0, retry_after=59.0, max_wait=60,
                       rng=rng) <= 60.0
    assert retry_delay(1, backoff=1.0, max_backoff=8.0, retry_after=61.0, max_wait=60,
                       rng=rng) is None
