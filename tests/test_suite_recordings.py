"""Recordings: record -> replay round trip, miss messages, secret filtering, stable files."""

from __future__ import annotations

import json

import pytest

from promptkit.errors import ReplayMissError
from promptkit.llm.base import GenParams
from promptkit.llm.cache import request_key
from promptkit.testing import FakeChatModel, FunctionChatModel
from promptkit.testing.suite_recordings import Recordings, resolve_mode

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Who created BERT?"}]


def recorded(path, replies, *, tag=None, params=None, spec="fake:function", messages=MESSAGES):
    """Record one answer per reply (one repeat each) through a real ChatModel.generate."""
    rec = Recordings(path, "record")
    it = iter(replies)
    model = FunctionChatModel(lambda m, p: next(it), spec=spec)
    model.cache = rec
    for repeat in range(len(replies)):
        rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": repeat, **(tag or {})}
        model.generate(messages, params or GenParams())
    rec.save()
    return rec


def replayer(path, hint=None):
    rec = Recordings(path, "replay", hint=hint)
    model = FunctionChatModel(lambda m, p: pytest.fail("replay must not call the model"),
                              spec="fake:function")
    model.cache = rec
    return rec, model


def test_record_then_replay_without_calling_the_model(tmp_path):
    path = tmp_path / "rec.jsonl"
    recorded(path, ["Devlin et al. [1]"])
    line = json.loads(path.read_text().splitlines()[0])
    assert line["key"] == request_key("fake:function", GenParams(), MESSAGES)  # the cache's key
    assert line["case"] == "c1" and line["prompt"] == "p@1" and line["messages"] == MESSAGES
    rec, model = replayer(path)
    rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": 0}
    gen = model.generate(MESSAGES, GenParams())
    assert gen.text == "Devlin et al. [1]" and gen.cached
    assert rec.take_served()["latency_s"] is not None


def test_replay_miss_without_a_file_says_how_to_record(tmp_path):
    rec, model = replayer(tmp_path / "none.jsonl",
                          hint="Record it: promptkit test s.yaml --mode record")
    rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": 0}
    with pytest.raises(ReplayMissError) as info:
        model.generate(MESSAGES, GenParams())
    assert "does not exist" in info.value.message and "case 'c1'" in info.value.message
    assert "--mode record" in info.value.hint


def test_replay_miss_points_at_what_changed(tmp_path):
    path = tmp_path / "rec.jsonl"
    recorded(path, ["old answer"])
    rec, model = replayer(path)
    rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": 0}
    changed = [MESSAGES[0], {"role": "user", "content": "Who created GPT?"}]
    with pytest.raises(ReplayMissError) as info:
        model.generate(changed, GenParams())
    msg = info.value.message
    assert "no recorded response for case 'c1'" in msg and "request" in msg
    assert "message 1 (user), character 12: recorded 'BERT?', now 'GPT?'" in msg
    with pytest.raises(ReplayMissError, match="generation parameters differ"):
        model.generate(MESSAGES, GenParams(max_tokens=7))
    rec.tag["case"] = "c2"
    with pytest.raises(ReplayMissError, match="Nothing is recorded for this case"):
        model.generate(changed, GenParams())


def test_sampled_repeats_replay_in_order_and_greedy_ones_reuse_the_first(tmp_path):
    path = tmp_path / "rec.jsonl"
    sampled = GenParams(temperature=0.8, seed=None)
    recorded(path, ["Paris", "Lyon"], params=sampled)
    rec, model = replayer(path)
    texts = []
    for repeat in range(2):
        rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": repeat}
        texts.append(model.generate(MESSAGES, sampled).text)
    assert texts == ["Paris", "Lyon"]
    rec.tag["repeat"] = 2
    with pytest.raises(ReplayMissError, match="repeat 2"):
        model.generate(MESSAGES, sampled)
    other = tmp_path / "greedy.jsonl"
    recorded(other, ["Paris"])
    rec, model = replayer(other)
    rec.tag = {"case": "c1", "prompt": "p@1", "role": "answer", "repeat": 3}
    assert model.generate(MESSAGES, GenParams()).text == "Paris"


def test_secrets_never_reach_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "hunter2-very-secret")
    leaky = [{"role": "user", "content": "token hunter2-very-secret and sk-abcdefghijklmnopqrstuv"}]
    path = tmp_path / "rec.jsonl"
    recorded(path, ["Bearer abcdefghijklmnopqrstuvwxyz012345"], messages=leaky,
             spec="openai:gpt-4o-mini@https://user:pw@gateway.example/v1?api-key=zzz")
    text = path.read_text()
    for secret in ("hunter2-very-secret", "sk-abcdefghij", "abcdefghijklmnopqrstuvwxyz012345",
                   "user:pw", "api-key=zzz"):
        assert secret not in text
    line = json.loads(text)
    assert line["model"] == "openai:gpt-4o-mini@https://gateway.example/v1"
    assert "<redacted>" in line["messages"][0]["content"] and line["text"] == "<redacted>"


def test_rerecording_replaces_a_case_and_keeps_others_with_a_stable_order(tmp_path):
    path = tmp_path / "rec.jsonl"
    recorded(path, ["a1"], tag={"case": "b-case"})
    recorded(path, ["x1", "x2"], tag={"case": "a-case"}, params=GenParams(seed=None, temperature=1))
    first = path.read_text()
    assert [json.loads(x)["case"] for x in first.splitlines()] == ["a-case", "a-case", "b-case"]
    # Re-record a-case with a changed prompt (other messages): its old lines go, b-case stays.
    changed = [MESSAGES[0], {"role": "user", "content": "Who created BERT, really?"}]
    recorded(path, ["y1"], tag={"case": "a-case"}, messages=changed)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [(e["case"], e["text"]) for e in lines] == [("a-case", "y1"), ("b-case", "a1")]
    assert not path.with_name("rec.jsonl.tmp").exists()


def test_a_corrupt_recordings_line_is_located(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_text('{"key": "k", "text": "ok"}\nnot json\n')
    rec, model = replayer(path)
    with pytest.raises(Exception) as info:
        model.generate(MESSAGES, GenParams())
    assert "rec.jsonl:2" in str(info.value) and "re-record" in str(info.value)


def test_mode_resolution(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_SUITE_MODE", raising=False)
    monkeypatch.delenv("PROMPTKIT_CACHE_MODE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert resolve_mode() == "off"
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "record")   # one variable for cache and suites
    assert resolve_mode() == "record"
    monkeypatch.setenv("CI", "true")
    # Under CI a variable set for the evaluations' cache never makes a suite call a model.
    for value in ("record", "read-write", "off"):
        monkeypatch.setenv("PROMPTKIT_CACHE_MODE", value)
        assert resolve_mode() == "replay"
    assert resolve_mode("read-write") == "read-write"       # the command line decides
    monkeypatch.delenv("CI")
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "replya")
    with pytest.raises(Exception, match="not one of: off, read-write, record, replay"):
        resolve_mode()


def test_old_mode_words_still_work_with_a_deprecation_warning(monkeypatch):
    monkeypatch.delenv("PROMPTKIT_CACHE_MODE", raising=False)
    with pytest.warns(FutureWarning, match="'live' is now called 'off'"):
        assert resolve_mode("live") == "off"
    monkeypatch.setenv("PROMPTKIT_SUITE_MODE", "record")
    monkeypatch.setenv("PROMPTKIT_CACHE_MODE", "replay")
    with pytest.warns(FutureWarning, match=r"PROMPTKIT_SUITE_MODE is deprecated: pass "
                                           r"--mode record"):
        assert resolve_mode() == "record"       # the old, suite-only variable still wins


def test_read_write_replays_what_is_recorded_and_records_the_rest(tmp_path):
    path = tmp_path / "rec.jsonl"
    first = FakeChatModel(default="first answer")
    rec = Recordings(path, "record")
    first.cache = rec
    first.generate(MESSAGES, GenParams())
    rec.save()
    other = [{"role": "user", "content": "a question not recorded yet"}]
    model = FakeChatModel(default="new answer")
    rw = Recordings(path, "read-write")
    model.cache = rw
    assert model.generate(MESSAGES, GenParams()).text == "first answer"   # replayed
    assert model.generate(other, GenParams()).text == "new answer"        # asked, recorded
    assert len(model.calls) == 1
    rw.save()
    replayed = FakeChatModel(default="unused")
    replayed.cache = Recordings(path, "replay")
    assert [replayed.generate(m, GenParams()).text for m in (MESSAGES, other)] == \
        ["first answer", "new answer"]
    assert replayed.calls == []


def test_a_miss_answered_live_does_not_report_an_earlier_recording(tmp_path):
    path = tmp_path / "rec.jsonl"
    rec = Recordings(path, "record")
    first = FakeChatModel(default="recorded")
    first.cache = rec
    first.generate(MESSAGES, GenParams())
    rec.save()
    rw = Recordings(path, "read-write")
    model = FakeChatModel(default="live")
    model.cache = rw
    model.generate(MESSAGES, GenParams())
    assert rw.take_served()["text"] == "recorded"
    model.generate(MESSAGES, GenParams())                      # served again
    model.generate([{"role": "user", "content": "new"}], GenParams())   # a miss: live
    assert rw.take_served() is None


def test_both_record_replay_stores_follow_the_one_protocol(tmp_path):
    from promptkit.choices import CACHE_MODES
    from promptkit.llm.base import ResponseStore
    from promptkit.llm.cache import ResponseCache

    for mode in CACHE_MODES:
        assert isinstance(ResponseCache(tmp_path / "c.sqlite", mode=mode), ResponseStore)
        assert isinstance(Recordings(tmp_path / "r.jsonl", mode), ResponseStore)
