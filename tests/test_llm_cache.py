"""The response cache: modes, keys, replay misses, and no secrets on disk."""

from __future__ import annotations

import sqlite3

import pytest

from promptkit.errors import ReplayMissError, UserError
from promptkit.llm import GenParams, get_model
from promptkit.llm.cache import ResponseCache, request_key
from promptkit.testing.fakes import FakeChatModel

HELLO = [{"role": "user", "content": "hello"}]


def cached_fake(path, mode, *replies, default="answer"):
    model = FakeChatModel(replies, default=default)
    model.cache = ResponseCache(path, mode)
    return model


def test_read_write_answers_repeats_from_the_cache(tmp_path):
    model = cached_fake(tmp_path / "c.sqlite", "read-write", "first", "second")
    pieces: list[str] = []
    a = model.generate(HELLO)
    b = model.generate(HELLO, on_token=pieces.append)
    assert (a.text, a.cached) == ("first", False)
    assert (b.text, b.cached) == ("first", True)
    assert pieces == ["first"]           # a cached answer still reaches the stream callback
    assert len(model.calls) == 1
    assert b.completion_tokens == a.completion_tokens


def test_key_covers_model_params_and_messages():
    base = request_key("fake:x", GenParams(), HELLO)
    assert base == request_key("fake:x", GenParams(), [dict(HELLO[0])])
    assert base != request_key("fake:y", GenParams(), HELLO)
    assert base != request_key("fake:x", GenParams(max_tokens=5), HELLO)
    assert base != request_key("fake:x", GenParams(), [{"role": "user", "content": "hello!"}])


def test_off_never_stores(tmp_path):
    model = get_model("fake:answer", cache_mode="off", cache_path=tmp_path / "c.sqlite")
    assert model.cache is None
    model.generate(HELLO)
    model.generate(HELLO)
    assert len(model.calls) == 2 and not (tmp_path / "c.sqlite").exists()


def test_record_then_replay_without_the_model(tmp_path):
    path = tmp_path / "recordings.sqlite"
    recorder = cached_fake(path, "record", "recorded answer", "re-recorded")
    recorder.generate(HELLO)
    recorder.generate(HELLO)             # record always calls the model and overwrites
    assert len(recorder.calls) == 2
    player = cached_fake(path, "replay", default=None)
    assert player.generate(HELLO).text == "re-recorded"
    assert player.calls == []            # replay never reaches the model


def test_replay_miss_says_how_to_record(tmp_path):
    path = tmp_path / "recordings.sqlite"
    cached_fake(path, "record").generate(HELLO)
    player = cached_fake(path, "replay")
    with pytest.raises(ReplayMissError) as err:
        player.generate([{"role": "user", "content": "never recorded"}])
    assert "PROMPTKIT_CACHE_MODE=record" in err.value.hint
    assert player.calls == []


def test_replay_with_no_recordings_file(tmp_path):
    with pytest.raises(ReplayMissError, match="does not exist"):
        cached_fake(tmp_path / "missing.sqlite", "replay").generate(HELLO)


def test_sampled_answers_without_seed_are_not_cached(tmp_path):
    model = cached_fake(tmp_path / "c.sqlite", "read-write", "one", "two")
    sampled = GenParams(temperature=0.8, seed=None)
    assert model.generate(HELLO, sampled).text == "one"
    assert model.generate(HELLO, sampled).text == "two"


def test_mode_from_environment_and_bad_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "replay")
    assert ResponseCache(tmp_path / "c.sqlite").mode == "replay"
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "sometimes")
    with pytest.raises(UserError, match="PROMPTKIT_CACHE_MODE"):
        ResponseCache(tmp_path / "c.sqlite")


def test_default_cache_lives_in_promptkit_home(smollm2_gguf, tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTKIT_CACHE_MODE", raising=False)
    model = get_model("llamacpp:smollm2-135m")
    assert model.cache.mode == "read-write"
    assert model.cache.path == tmp_path / "pk-home" / "cache.sqlite"


@pytest.mark.slow
def test_real_model_answer_is_cached(smollm2_gguf, tmp_path):
    model = get_model("llamacpp:smollm2-135m", cache_path=tmp_path / "c.sqlite")
    params = GenParams(max_tokens=12)
    first = model.generate(HELLO, params)
    second = model.generate(HELLO, params)
    assert not first.cached and second.cached and second.text == first.text


def test_no_secrets_in_the_cache_file(fault_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-cache-secret-42")
    server = fault_server(("ok", "fine"))
    url = server.url.replace("http://", "http://alice:hunter2@")
    path = tmp_path / "c.sqlite"
    model = get_model(f"openai:m@{url}", cache_path=path, cache_mode="record")
    assert model.generate(HELLO).text == "fine"
    model.cache.close()
    raw = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite-*"))
    assert b"fine" in raw or _rows(path)
    assert b"sk-cache-secret-42" not in raw and b"hunter2" not in raw and b"alice" not in raw
    assert _rows(path)[0][0] == f"openai:m@{server.url}"


def _rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT model, text FROM responses").fetchall()


def test_replay_reads_a_read_only_recordings_file(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    path = folder / "r.sqlite"
    recorder = cached_fake(path, "record", "kept")
    recorder.generate(HELLO)
    recorder.cache.close()
    before = path.read_bytes()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        assert cached_fake(path, "replay", default=None).generate(HELLO).text == "kept"
        assert sorted(p.name for p in folder.iterdir()) == ["r.sqlite"]  # no journal files
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert path.read_bytes() == before
