"""The store against a real `chroma run` server on 127.0.0.1, and an unreachable one."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from promptkit.errors import BackendUnavailable
from promptkit.store import list_collections, open_collection
from tests.fixtures_retrieval import free_port


def test_ingest_and_search_through_a_chroma_server(chroma_server, small_corpus, monkeypatch):
    coll = open_collection("served", embedder="fake", chroma_url=chroma_server)
    assert coll.ingest([small_corpus]).added == 3
    assert coll.ingest([small_corpus]).added == 0
    hit = coll.search("masked language modelling tokens", k=1, hybrid=True)[0]
    assert hit.metadata["title"] == "bert"
    # The environment variable reaches the same server.
    monkeypatch.setenv("PROMPTKIT_CHROMA_URL", chroma_server)
    assert "served" in [c["name"] for c in list_collections()]
    assert open_collection("served", create=False).count() == 3


def test_unreachable_server_names_the_url_quickly():
    url = f"http://127.0.0.1:{free_port()}"   # nothing listens there
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"no Chroma server answers at {url}") as err:
        open_collection("x-y-z", chroma_url=url)
    assert time.monotonic() - started < 30   # does not hang; not a speed check
    assert "chroma run" in err.value.hint


def test_silent_server_times_out_with_the_url(monkeypatch):
    """A port that accepts connections but never answers: bounded by the connect timeout."""
    monkeypatch.setattr("promptkit.store.client.CONNECT_TIMEOUT_S", 1.0)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}"):
            open_collection("x-y-z", chroma_url=f"http://127.0.0.1:{port}")
        assert time.monotonic() - started < 30   # does not hang; not a speed check
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        srv.close()
