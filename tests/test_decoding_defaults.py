"""The default prompts' anti-loop decoding (repeat penalty, answer budget, stop sequences) reaches
every backend's request, and the answer's trace records it."""

from __future__ import annotations

import pytest

from promptkit.llm import get_model
from promptkit.prompts import load_prompt

MESSAGES = [{"role": "user", "content": "Who wrote Don Quixote?"}]
DEFAULTS = ["rag-answer@production", "closed-book@production", "rag-fewshot@production",
            "rag-role@production"]   # every answer prompt a user picks by name


@pytest.mark.parametrize("ref", DEFAULTS)
def test_the_default_prompts_stop_loops(ref):
    params = load_prompt(ref).gen_params()
    assert params.repeat_penalty and params.repeat_penalty > 1.0
    assert params.max_tokens is not None and params.max_tokens <= 120


@pytest.mark.parametrize("ref", DEFAULTS)
def test_an_openai_compatible_local_server_receives_them(ref, fault_server):
    params = load_prompt(ref).gen_params()
    server = fault_server(("ok", "Cervantes."))
    get_model(f"openai:m@{server.url}", cache_mode="off").generate(MESSAGES, params)
    body = server.bodies[-1]
    assert body["max_tokens"] == params.max_tokens
    # llama.cpp's server reads repeat_penalty, vLLM repetition_penalty
    assert body["repeat_penalty"] == body["repetition_penalty"] == params.repeat_penalty
    assert body.get("stop", []) == list(params.stop)


@pytest.mark.parametrize("ref", DEFAULTS)
def test_ollama_receives_them(ref, fault_server, monkeypatch):
    pytest.importorskip("ollama", reason="the Ollama backend needs the ollama extra")
    params = load_prompt(ref).gen_params()
    server = fault_server(("ollama", "Cervantes."))
    monkeypatch.setenv("OLLAMA_HOST", server.url.removesuffix("/v1"))
    get_model("ollama:m", cache_mode="off").generate(MESSAGES, params)
    options = server.bodies[-1]["options"]
    assert options["num_predict"] == params.max_tokens
    assert options["repeat_penalty"] == params.repeat_penalty
    assert options.get("stop", []) == list(params.stop)


@pytest.mark.parametrize("ref", DEFAULTS)
def test_in_process_llamacpp_receives_them(ref, monkeypatch):
    pytest.importorskip("llama_cpp", reason="the llama.cpp backend needs the llamacpp extra")
    from promptkit.llm import llamacpp

    seen: dict = {}

    class Spy:   # stands in for the loaded llama_cpp.Llama
        n_tokens = 14

        def reset(self):
            pass

        def create_chat_completion(self, **kwargs):
            seen.update(kwargs)
            return iter([{"choices": [{"delta": {"content": "Cervantes."},
                                       "finish_reason": "stop"}]}])

    monkeypatch.setattr(llamacpp, "_load", lambda *args: Spy())
    monkeypatch.setattr(llamacpp.LlamaCppModel, "count_message_tokens", lambda self, m: 10)
    params = load_prompt(ref).gen_params()
    get_model("llamacpp:smollm2-135m", cache_mode="off").generate(MESSAGES, params)
    assert seen["max_tokens"] == params.max_tokens
    assert seen["repeat_penalty"] == params.repeat_penalty
    assert (seen["stop"] or []) == list(params.stop)


def test_the_trace_records_the_decoding(tmp_path):
    from promptkit.pipeline import Pipeline

    answer = Pipeline(mode="closed-book", model="fake:echo", cache_mode="off").ask("Who?")
    recorded = answer.trace["model"]["params"]
    assert recorded["repeat_penalty"] == 1.1 and recorded["max_tokens"] == 80
    assert recorded["stop"] == ["\nQuestion:", "\nPregunta:"]
