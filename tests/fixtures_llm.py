"""Real model servers on 127.0.0.1 for the LLM tests: started once per session, stopped after.

- `smollm2`: the packaged SmolLM2 GGUF loaded in-process by llama.cpp;
- `llama_server`: `python -m llama_cpp.server` serving it (OpenAI-compatible API);
- `ollama_proxy`: `ollama-proxy serve` (ollama-proxy-plus) in front of that server, which speaks
  the Ollama API to the official `ollama` client (the real Ollama cannot be installed here);
- `fault_server`: a stdlib HTTP server that misbehaves on purpose (500, 401, 429, slow).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

SERVER_START_TIMEOUT_S = 90


def free_port() -> int:
    """A port nothing listens on right now (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (extra: llamacpp)")
    from promptkit.llm.llamacpp import smollm2_path

    return smollm2_path()


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf):
    """The default in-process model, uncached, loaded once for the session."""
    from promptkit.llm import get_model

    model = get_model("llamacpp:smollm2-135m", cache_mode="off")
    model.count_tokens("warm up")  # loads the weights
    return model


class _Process:
    """A server subprocess whose output goes to a log file shown when it fails to start."""

    def __init__(self, cmd: list[str], ready_url: str, log_path: Path, env: dict | None = None,
                 cwd: Path | None = None):
        self.cmd, self.ready_url, self.log_path = cmd, ready_url, log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=cwd)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.ready_url, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        pytest.fail(f"server did not start: {' '.join(self.cmd)}\n--- log ---\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="session")
def llama_server(smollm2_gguf, tmp_path_factory) -> str:
    """Base URL (…/v1) of an OpenAI-compatible llama.cpp server serving SmolLM2."""
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] not installed")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = _Process([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf),
                       "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                       "--verbose", "False"],
                      f"http://127.0.0.1:{port}/v1/models", log)
    server.wait_ready()
    yield f"http://127.0.0.1:{port}/v1"
    server.stop()


@pytest.fixture(scope="session")
def ollama_proxy(llama_server, tmp_path_factory) -> str:
    """Host URL of an Ollama-API server (ollama-proxy-plus) in front of `llama_server`.

    Model names through it are `local/<anything>`.
    """
    exe = Path(sys.executable).with_name("ollama-proxy")
    if not exe.exists():
        pytest.skip("ollama-proxy-plus is not installed (dev extra)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("ollama-proxy")  # it reads ./.env and ./ollama-proxy.yaml
    server = _Process([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)],
                      f"http://127.0.0.1:{port}/api/version", workdir / "proxy.log",
                      env={"PROVIDERS_LOCAL_BASE_URL": llama_server,
                           "PROVIDERS_LOCAL_API_KEY": "x"}, cwd=workdir)
    server.wait_ready()
    yield f"http://127.0.0.1:{port}"
    server.stop()


# --- A server that fails on purpose ------------------------------------------------------

def openai_sse(text: str) -> bytes:
    """A minimal OpenAI chat-completions stream answering `text`."""
    def event(delta: dict, finish):
        body = {"id": "fault-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"
    return (event({"role": "assistant", "content": text}, None) + event({}, "stop")
            + "data: [DONE]\n\n").encode()


def ollama_ndjson(text: str) -> bytes:
    """A minimal Ollama /api/chat stream answering `text`."""
    head = {"model": "m", "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": False}
    tail = {"model": "m", "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""}, "done": True,
            "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 3}
    return (json.dumps(head) + "\n" + json.dumps(tail) + "\n").encode()


class FaultServer:
    """Answers every chat-completions POST with the next scripted behaviour (the last repeats).

    A behaviour is an HTTP status (int), ("http", status, {header: value}), ("slow", seconds),
    ("ok", text) for a streamed OpenAI-style answer or ("ollama", text) for a streamed Ollama
    /api/chat answer. `hits` counts chat requests, so tests can check how often a client
    retried; other paths (a /tokenize probe) answer 404. The Ollama API's /api/chat counts as
    a chat request too. `bodies` holds the JSON body of every chat request.
    """

    def __init__(self, behaviours: list):
        self.behaviours = list(behaviours)
        self.hits = 0
        self.bodies: list[dict] = []        # the JSON body of every chat request
        self.auth_headers: list[str] = []
        self.paths: list[str] = []          # request path + query of every POST
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                self._reply(200, b'{"object":"list","data":[]}', "application/json")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if not self.path.split("?", 1)[0].endswith(("/chat/completions", "/api/chat")):
                    self._reply(404, b'{"detail":"Not Found"}', "application/json")
                    return
                try:
                    outer.bodies.append(json.loads(raw or b"{}"))
                except json.JSONDecodeError:
                    outer.bodies.append({})
                outer.auth_headers.append(self.headers.get("authorization", ""))
                outer.paths.append(self.path)
                index = min(outer.hits, len(outer.behaviours) - 1)
                outer.hits += 1
                behaviour = outer.behaviours[index]
                if isinstance(behaviour, int):
                    behaviour = ("http", behaviour,
                                 {"Retry-After": "0"} if behaviour == 429 else {})
                if behaviour[0] == "http":
                    _, status, extra = behaviour
                    body = json.dumps({"error": {"message": f"scripted failure {status}",
                                                 "type": "fault"}}).encode()
                    self._reply(status, body, "application/json", extra)
                elif behaviour[0] == "ollama":
                    self._reply(200, ollama_ndjson(behaviour[1]), "application/x-ndjson")
                elif behaviour[0] == "slow":
                    time.sleep(behaviour[1])
                    self._reply(200, openai_sse("late"), "text/event-stream")
                else:
                    self._reply(200, openai_sse(behaviour[1]), "text/event-stream")

            def _reply(self, status, body, ctype, headers=None):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fault_server() -> Callable[..., FaultServer]:
    """Factory: `fault_server(500)`, `fault_server(429, ("ok", "hi"))`, `(("slow", 3))`."""
    started: list[FaultServer] = []

    def start(*behaviours) -> FaultServer:
        server = FaultServer(list(behaviours))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
