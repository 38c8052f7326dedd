"""Token counts of remote models: the server's tokenizer where it has one, a conservative
estimate otherwise (CJK included), raised by the prompt sizes the server reports."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from promptkit.llm import GenParams, get_model
from tests.fixtures_llm import openai_sse

# 460 characters of Chinese with its punctuation (a paragraph about the Transformer).
CJK = ("变换器模型于二零一七年提出，它完全依赖注意力机制，不再使用循环神经网络。"
       "编码器把输入序列转换为上下文表示，解码器再根据这些表示逐个生成输出词元。"
       "多头注意力让模型在不同的子空间中同时关注不同位置的信息，从而捕捉长距离依赖。") * 5
CJK = CJK[:460]


def test_cjk_text_is_not_undercounted():
    assert len(CJK) == 460
    # Before: each run between punctuation marks counted as one word piece: 460 chars -> 80.
    model = get_model("ollama:qwen2.5", host="http://127.0.0.1:9", cache_mode="off")
    assert model.count_tokens(CJK) >= 460
    from promptkit.llm.tokens import estimate_tokens

    assert estimate_tokens(CJK) >= 460
    assert estimate_tokens("日本語のテキストです。") >= 11


def test_the_estimate_stays_on_the_safe_side_for_other_scripts():
    from promptkit.llm.tokens import estimate_tokens

    english = "The transformer relies entirely on attention to draw global dependencies."
    assert 11 <= estimate_tokens(english) <= 30          # 10 words + a full stop
    russian = "Трансформер полностью опирается на механизм внимания."
    assert estimate_tokens(russian) >= 20                 # Cyrillic: ~2 letters per token
    assert estimate_tokens("2017") == 4                   # digits one by one (Llama, Qwen)
    assert estimate_tokens("") == 0


def _reply(handler: BaseHTTPRequestHandler, status: int, data: bytes, ctype: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """Start `handler` on a free local port in a daemon thread: (server, http://127.0.0.1:PORT)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


class _TokenizeServer:
    """An OpenAI-compatible stub: chat completions plus a llama.cpp- or vLLM-style /tokenize
    (counting characters, so the test can tell a server count from an estimate)."""

    def __init__(self, style: str | None):
        self.tokenize_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])) or b"{}")
                if self.path == "/tokenize" and style is not None:
                    outer.tokenize_calls += 1
                    text = body.get("content") if style == "llama.cpp" else body.get("prompt")
                    reply = ({"tokens": list(range(len(text)))} if style == "llama.cpp"
                             else {"count": len(text), "tokens": [], "max_model_len": 4096})
                    return _reply(self, 200, json.dumps(reply).encode(), "application/json")
                if self.path == "/v1/chat/completions":
                    return _reply(self, 200, openai_sse("ok"), "text/event-stream")
                _reply(self, 404, b'{"detail":"Not Found"}', "application/json")

        self.httpd, base = _serve(Handler)
        self.url = f"{base}/v1"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tokenize_server():
    started = []

    def start(style):
        server = _TokenizeServer(style)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.mark.parametrize("style", ["llama.cpp", "vllm"])
def test_counts_come_from_the_servers_tokenizer(tokenize_server, style):
    server = tokenize_server(style)
    model = get_model(f"openai:m@{server.url}", cache_mode="off")
    text = "How many tokens is this?"
    assert model.count_tokens(text) == len(text)     # the stub counts characters
    assert model.exact_token_count
    model.count_tokens(text)
    assert server.tokenize_calls == 1                # repeated texts are not asked again


def test_without_a_tokenize_endpoint_the_estimate_is_used(tokenize_server):
    from promptkit.llm.tokens import estimate_tokens

    server = tokenize_server(None)
    model = get_model(f"openai:m@{server.url}", cache_mode="off")
    assert model.count_tokens(CJK) == estimate_tokens(CJK)
    assert not model.exact_token_count
    assert model.generate([{"role": "user", "content": "hi"}], GenParams(max_tokens=4)).text == "ok"


class _OllamaStub:
    """Ollama's /api/chat, reporting `prompt_eval_count` as `factor` x the characters sent."""

    def __init__(self, factor: float):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                chars = sum(len(m["content"]) for m in body["messages"])
                lines = [{"model": body["model"], "created_at": "2026-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": "ok"}, "done": False},
                         {"model": body["model"], "created_at": "2026-01-01T00:00:00Z",
                          "message": {"role": "assistant", "content": ""}, "done": True,
                          "done_reason": "stop", "prompt_eval_count": int(chars * factor),
                          "eval_count": 1}]
                data = "".join(json.dumps(line) + "\n" for line in lines).encode()
                _reply(self, 200, data, "application/x-ndjson")

        self.httpd, self.host = _serve(Handler)


def test_ollama_prompt_counts_raise_a_low_estimate():
    # A tokenizer far less efficient than the estimate assumes: 1 token per character.
    stub = _OllamaStub(factor=1.0)
    try:
        model = get_model("ollama:m", host=stub.host, cache_mode="off")
        text = "Attention lets every position look at every other position. " * 4
        before = model.count_tokens(text)
        assert before < len(text)
        gen = model.generate([{"role": "user", "content": text}], GenParams(max_tokens=4))
        assert gen.prompt_tokens == len(text)
        assert model.count_tokens(text) >= len(text) - 8     # the message framing aside
        assert model.count_tokens(text) > before
    finally:
        stub.httpd.shutdown()
        stub.httpd.server_close()


def test_a_low_report_never_lowers_the_estimate():
    # Ollama reports only the tokens it evaluated: after a cached prefix, far fewer.
    stub = _OllamaStub(factor=0.01)
    try:
        model = get_model("ollama:m", host=stub.host, cache_mode="off")
        text = "Attention lets every position look at every other position. " * 4
        before = model.count_tokens(text)
        model.generate([{"role": "user", "content": text}], GenParams(max_tokens=4))
        assert model.count_tokens(text) == before
    finally:
        stub.httpd.shutdown()
        stub.httpd.server_close()


@pytest.mark.slow
def test_llama_cpp_server_counts_match_the_model(llama_server, smollm2):
    model = get_model(f"openai:smollm2@{llama_server}", cache_mode="off")
    for text in ("What is the capital of France?", CJK[:100], "Трансформер и внимание"):
        served = model.count_tokens(text)
        # llama-cpp-python's /extras/tokenize/count adds the BOS token, if the model has one.
        assert smollm2.count_tokens(text) <= served <= smollm2.count_tokens(text) + 1
    assert model.exact_token_count
