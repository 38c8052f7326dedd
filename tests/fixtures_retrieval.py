"""Fixtures for retrieval: the real MiniLM (loaded once), a real Chroma server, small corpora."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LECTURE = PROJECT_ROOT.parent / "shared" / "seed" / "de-bert-a-llms.txt"


@pytest.fixture(scope="session")
def minilm_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from promptkit.embedders import get_embedder

    emb = get_embedder("minilm")
    emb.model()   # pay the load here, not inside the first test that embeds
    return emb


@pytest.fixture
def fake_embedder():
    from promptkit.embedders import get_embedder

    return get_embedder("fake")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on 127.0.0.1 at a free port; its URL. Stopped after the session."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.skip("the `chroma` command is not installed")
    import httpx

    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen([exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log_tail = (data / "server.log").read_text()[-2000:]
                pytest.fail(f"chroma server did not start: {log_tail}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """Three short documents, Spanish and English, on distinct topics."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "atencion.md").write_text(
        "---\ntitle: Atención\nlang: es\n---\n# Atención\n\nEl mecanismo de atención permite que "
        "el decodificador mire todas las posiciones de la entrada. Fue propuesto en 2014.\n",
        encoding="utf-8")
    (root / "bert.txt").write_text(
        "BERT is an encoder-only transformer. It was pre-trained with masked language modelling, "
        "where 15 percent of the tokens are hidden, and next sentence prediction.\n",
        encoding="utf-8")
    (root / "sub" / "quant.html").write_text(
        "<html><head><title>Quantization</title><script>var x = 1;</script></head><body>"
        "<h1>Quantization</h1><p>Quantization stores weights in 4 bits, so a model needs far "
        "less memory.</p></body></html>", encoding="utf-8")
    return root
