"""Spec resolution, the shared generate() logic (retries, limits, streaming) and the fakes."""

from __future__ import annotations

import threading
import time

import pytest

from promptkit.errors import BackendUnavailable, NotFoundError, UserError
from promptkit.llm import GenParams, get_model
from promptkit.llm.redact import strip_credentials
from promptkit.testing.fakes import FakeChatModel, FunctionChatModel

HELLO = [{"role": "user", "content": "hello"}]


def test_unknown_backend_suggests_the_close_one():
    with pytest.raises(NotFoundError) as err:
        get_model("olama:llama3.2")
    assert "did you mean 'ollama'" in err.value.message


def test_spec_without_backend_prefix_is_explained():
    with pytest.raises(UserError) as err:
        get_model("smollm2-135m")
    assert "no backend prefix" in err.value.message and "llamacpp:smollm2-135m" in err.value.hint


def test_unknown_llamacpp_name_and_missing_file():
    with pytest.raises(NotFoundError) as err:
        get_model("llamacpp:smollm3")
    assert "smollm2-135m" in err.value.message
    with pytest.raises(UserError, match="GGUF model file not found"):
        get_model("llamacpp:/nowhere/model.gguf")


def test_unknown_option_is_a_user_error():
    with pytest.raises(UserError, match="does not take option"):
        get_model("openai:gpt-4o-mini@http://127.0.0.1:9/v1", temprature=0.2)


def test_openai_spec_keeps_credentials_out_of_the_spec():
    model = get_model("openai:m@https://user:pa55word@example.invalid:8443/v1?api-key=zzz",
                      cache_mode="off")
    assert model.spec == "openai:m@https://example.invalid:8443/v1"
    assert "pa55word" not in str(model.describe()) and "zzz" not in str(model.describe())
    assert strip_credentials("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


def test_openai_without_key_is_a_user_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    model = get_model("openai:gpt-4o-mini", cache_mode="off")
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        model.generate(HELLO)


def test_default_model_and_env_override(monkeypatch):
    from promptkit.llm.specs import DEFAULT_MODEL, default_spec

    monkeypatch.delenv("PROMPTKIT_MODEL", raising=False)
    from promptkit.llm.packaged import best_installed

    best = best_installed()
    assert default_spec() == (f"llamacpp:{best}" if best else DEFAULT_MODEL)
    assert DEFAULT_MODEL == "llamacpp:smollm2-135m"
    monkeypatch.setenv("PROMPTKIT_MODEL", "fake:hi there")
    assert get_model().generate(HELLO).text == "hi there"


def test_fake_specs():
    echo = get_model("fake:echo")
    assert echo.generate(HELLO).text == "hello"
    assert echo.last_call.user_text == "hello"
    assert echo.cache is None  # fakes are uncached unless asked


def test_scripted_fake_keeps_a_call_history_and_streams():
    model = FakeChatModel(["first answer", "second"])
    pieces: list[str] = []
    gen = model.generate(HELLO, GenParams(max_tokens=50), on_token=pieces.append)
    assert gen.text == "first answer" and pieces == ["first ", "answer"]
    assert model.generate(HELLO).text == "second"
    assert [c.user_text for c in model.calls] == ["hello", "hello"]
    with pytest.raises(AssertionError, match="no scripted reply left"):
        model.generate(HELLO)


def test_fake_honours_max_tokens():
    gen = FakeChatModel(default="one two three four five").generate(HELLO, GenParams(max_tokens=3))
    assert gen.text == "one two three " and gen.finish_reason == "length"
    assert gen.completion_tokens == 3


def test_retryable_error_before_any_token_is_retried():
    model = FakeChatModel([BackendUnavailable("down"), "ok"], retries=1)
    assert model.generate(HELLO).text == "ok"
    assert len(model.calls) == 2


def test_error_after_tokens_were_streamed_is_not_retried():
    def half_then_fail(messages, params):
        yield "partial "
        raise BackendUnavailable("connection dropped")

    model = FunctionChatModel(half_then_fail, retries=3)
    pieces: list[str] = []
    with pytest.raises(BackendUnavailable):
        model.generate(HELLO, on_token=pieces.append)
    assert pieces == ["partial "] and len(model.calls) == 1  # nothing printed twice


def test_concurrency_limit_per_backend():
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def slow(messages, params):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return "done"

    model = FunctionChatModel(slow, spec="fake:limited-test")
    model.max_concurrency = 2
    threads = [threading.Thread(target=model.generate, args=(HELLO,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(model.calls) == 6
    assert state["peak"] == 2


def test_decode_threads_default_to_every_core_on_a_small_machine(monkeypatch):
    from promptkit.errors import UserError
    from promptkit.llm import llamacpp

    monkeypatch.delenv(llamacpp.THREADS_ENV, raising=False)
    monkeypatch.setattr(llamacpp, "_available_cores", lambda: 2)
    assert llamacpp.default_threads() == 2
    monkeypatch.setattr(llamacpp, "_available_cores", lambda: 16)
    assert llamacpp.default_threads() is None          # llama.cpp's own choice on big machines
    monkeypatch.setenv(llamacpp.THREADS_ENV, "3")
    assert llamacpp.default_threads() == 3
    monkeypatch.setenv(llamacpp.THREADS_ENV, "two")
    with pytest.raises(UserError, match="PROMPTKIT_LLAMA_THREADS='two'"):
        llamacpp.default_threads()


def test_an_unmarked_test_cannot_load_a_real_model():
    from pathlib import Path

    from promptkit.llm import llamacpp

    with pytest.raises(AssertionError, match="mark the test @pytest.mark.slow"):
        llamacpp._load(Path("some-model.gguf"), 2048, None, 0)
