"""Backends against real servers on 127.0.0.1: in-process llama.cpp, llama.cpp's OpenAI server,
the Ollama API (ollama-proxy-plus) through the official client, and servers that fail."""

from __future__ import annotations

import pytest

from promptkit.errors import BackendHTTPError, BackendTimeout, BackendUnavailable
from promptkit.llm import GenParams, get_model
from tests.fixtures_llm import free_port

pytestmark = pytest.mark.slow

QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France? One sentence."}]
SHORT = GenParams(max_tokens=24)


# --- in-process llama.cpp ---------------------------------------------------------------

def test_llamacpp_is_deterministic_at_temperature_zero(smollm2):
    first = smollm2.generate(QUESTION, SHORT)
    # Another request in between must not leak state into the next one.
    smollm2.generate([{"role": "user", "content": "Count to five."}], SHORT)
    again = smollm2.generate(QUESTION, SHORT)
    assert first.text.strip()
    assert again.text == first.text
    assert "Paris" in first.text


def test_llamacpp_streams_and_counts_tokens(smollm2):
    pieces: list[str] = []
    gen = smollm2.generate([{"role": "user", "content": "Tell me a long story about a cat."}],
                           GenParams(max_tokens=6), on_token=pieces.append)
    assert "".join(pieces) == gen.text and len(pieces) > 1
    assert gen.finish_reason == "length"
    assert gen.completion_tokens == 6
    assert gen.prompt_tokens == smollm2.count_message_tokens(
        [{"role": "user", "content": "Tell me a long story about a cat."}])
    assert gen.first_token_s is not None and gen.first_token_s <= gen.latency_s
    assert smollm2.spec == "llamacpp:smollm2-135m"


def test_llamacpp_uses_the_chat_template_from_the_gguf(smollm2):
    prompt = smollm2.format_prompt(QUESTION)
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_llamacpp_path_spec_shares_the_loaded_model(smollm2, smollm2_gguf):
    by_path = get_model(f"llamacpp:{smollm2_gguf}", cache_mode="off")
    assert by_path.spec == f"llamacpp:{smollm2_gguf}"
    assert by_path.llm is smollm2.llm  # one Llama per model file per process


# --- OpenAI-compatible server -------------------------------------------------------------

def test_openai_backend_against_llama_cpp_server(llama_server):
    model = get_model(f"openai:smollm2@{llama_server}", cache_mode="off")
    pieces: list[str] = []
    gen = model.generate(QUESTION, SHORT, on_token=pieces.append)
    assert gen.text.strip() and "".join(pieces) == gen.text
    assert gen.completion_tokens and gen.completion_tokens <= SHORT.max_tokens
    assert gen.prompt_tokens and gen.prompt_tokens > 10
    assert model.spec == f"openai:smollm2@{llama_server}"


def test_openai_base_url_from_environment(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = get_model("openai:smollm2", cache_mode="off")
    assert model.generate(QUESTION, SHORT).text.strip()


# --- Ollama API through the official client -------------------------------------------------

def test_ollama_backend_through_official_client(ollama_proxy, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_proxy)
    model = get_model("ollama:local/smollm2", cache_mode="off")
    pieces: list[str] = []
    gen = model.generate(QUESTION, SHORT, on_token=pieces.append)
    assert gen.text.strip() and "".join(pieces) == gen.text
    assert gen.finish_reason == "stop"
    assert model.describe()["host"] == ollama_proxy


# --- failures with real sockets ---------------------------------------------------------------

def test_nothing_listening_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = get_model(f"openai:m@{url}", cache_mode="off", retries=1, backoff=0.01)
    with pytest.raises(BackendUnavailable) as err:
        model.generate(QUESTION, SHORT)
    assert url in err.value.message


def test_ollama_not_running_says_what_to_do(monkeypatch):
    host = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OLLAMA_HOST", host)
    model = get_model("ollama:llama3.2", cache_mode="off", retries=0)
    with pytest.raises(BackendUnavailable) as err:
        model.generate(QUESTION, SHORT)
    assert f"cannot reach Ollama at {host}" in err.value.message
    assert "ollama serve" in err.value.message and "OLLAMA_HOST" in err.value.message


def test_server_error_is_retried_then_reported(fault_server):
    server = fault_server(500)
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=2, backoff=0.01)
    with pytest.raises(BackendHTTPError) as err:
        model.generate(QUESTION, SHORT)
    assert err.value.status == 500
    assert server.hits == 3  # first try + 2 retries


def test_transient_errors_recover(fault_server):
    server = fault_server(503, 429, ("ok", "recovered"))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=2, backoff=0.01)
    gen = model.generate(QUESTION, SHORT)
    assert gen.text == "recovered" and gen.attempts == 3 and server.hits == 3


def test_bad_api_key_is_not_retried_and_not_echoed(fault_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-very-secret-123")
    server = fault_server(401)
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=3, backoff=0.01)
    with pytest.raises(BackendHTTPError) as err:
        model.generate(QUESTION, SHORT)
    assert err.value.status == 401 and server.hits == 1
    assert "API key" in err.value.message and "OPENAI_API_KEY" in (err.value.hint or "")
    assert "sk-test-very-secret-123" not in str(err.value)
    assert server.auth_headers == ["Bearer sk-test-very-secret-123"]


def test_other_client_errors_are_not_retried(fault_server):
    server = fault_server(404)
    model = get_model(f"openai:m@{server.url}", cache_mode="off", retries=3, backoff=0.01)
    with pytest.raises(BackendHTTPError) as err:
        model.generate(QUESTION, SHORT)
    assert err.value.status == 404 and server.hits == 1


def test_slow_server_times_out(fault_server):
    server = fault_server(("slow", 3.0))
    model = get_model(f"openai:m@{server.url}", cache_mode="off", timeout=0.3, retries=0)
    with pytest.raises(BackendTimeout) as err:
        model.generate(QUESTION, SHORT)
    assert "0.3s" in err.value.message


def test_ollama_server_error_is_retried(fault_server):
    server = fault_server(500)
    host = server.url.removesuffix("/v1")
    model = get_model("ollama:m", host=host, cache_mode="off", retries=1, backoff=0.01)
    with pytest.raises(BackendHTTPError) as err:
        model.generate(QUESTION, SHORT)
    assert err.value.status == 500 and server.hits == 2


def test_llamacpp_prompt_larger_than_the_window_is_a_user_error(smollm2):
    from promptkit.errors import UserError

    huge = [{"role": "user", "content": "word " * 2100}]
    with pytest.raises(UserError, match="2048-token window"):
        smollm2.generate(huge, SHORT)
