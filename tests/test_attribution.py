"""Sources on every answer: [n] markers checked, unmarked sentences attributed, none invented."""

from __future__ import annotations

import numpy as np

from promptkit.evaluation.metrics import get_metric
from promptkit.evaluation.metrics_answer import repeated_ngram
from promptkit.pipeline import Pipeline
from promptkit.pipeline.attribution import ATTRIBUTED, CITED, Attributor, content_words, sentences
from promptkit.pipeline.pack import ContextChunk, pack
from promptkit.testing.fakes import FakeChatModel, FakeRetriever

PASSAGES = [
    ContextChunk("c1", "La torre Eiffel mide 330 metros y está en París.", "eiffel.es.md", 0.9, 1),
    ContextChunk("c2", "BERT enmascara el 15 % de los tokens durante el preentrenamiento.",
                 "bert.es.md", 0.8, 2),
    ContextChunk("c3", "The Transformer was introduced in 2017 by Vaswani and colleagues.",
                 "transformer.en.md", 0.7, 3),
]


def _packing():
    return pack(PASSAGES, budget_tokens=10_000, count_tokens=lambda t: len(t.split()))


def test_sentences_and_content_words_fold_accents_and_drop_function_words():
    assert sentences("Uno. ¿Dos? Tres!\nCuatro") == ["Uno.", "¿Dos?", "Tres!", "Cuatro"]
    # an initial is not the end of a sentence; an acronym at the end of one still is
    assert sentences("By Aidan N. Gomez and P. Kevin Castel. Made in the USA. Done.") == [
        "By Aidan N. Gomez and P. Kevin Castel.", "Made in the USA.", "Done."]
    # a lone capital before an ordinary word does end a sentence
    assert sentences("Take vitamin C. They help. Plan B. El plan falló.") == [
        "Take vitamin C.", "They help.", "Plan B.", "El plan falló."]
    # nor does "et al." or "e.g." inside one
    assert sentences("Kojima et al. (2022) found it. Proposed by Holtzman et al. in 2019, "
                     "e.g. top-p. Done by Wei et al. The end.") == [
        "Kojima et al. (2022) found it.", "Proposed by Holtzman et al. in 2019, e.g. top-p.",
        "Done by Wei et al.", "The end."]
    assert content_words("¿Qué mide la Torre Eiffel? [1]") == {"mide", "torre", "eiffel"}


def test_unmarked_sentences_are_attributed_to_the_supporting_passage():
    cites = Attributor().citations("BERT enmascara el 15 % de los tokens. "
                                   "The Transformer appeared in 2017.", _packing())
    assert [(c.n, c.source, c.kind) for c in cites] == [
        (2, "bert.es.md", ATTRIBUTED), (3, "transformer.en.md", ATTRIBUTED)]
    assert all(0.45 <= c.score <= 1 for c in cites)


def test_markers_are_cited_and_checked_against_the_passages_given():
    cites = Attributor().citations("Mide 330 metros [1]. Inventado [7].", _packing())
    assert [(c.n, c.kind) for c in cites] == [(1, CITED)]
    assert cites[0].chunk_id == "c1" and cites[0].score > 0


def test_an_answer_no_passage_supports_gets_no_source():
    assert Attributor().citations("Los gatos duermen dieciséis horas al día.", _packing()) == []
    assert Attributor().citations("", _packing()) == []


def test_semantic_support_uses_the_embedder_when_given():
    # A paraphrase with no shared content word: lexical support is 0; an embedder that maps
    # it onto passage 3 attributes it, and without an embedder nothing is attributed.
    class Pointing:
        name, dim = "pointing", 3

        def embed_query(self, text):
            return np.array([0.0, 0.0, 1.0], dtype=np.float32)

        def embed_documents(self, texts):
            return np.eye(3, dtype=np.float32)[: len(texts)]

    text = "Vaswani's group presented that architecture."
    lexical_only = Attributor(lexical_weight=1.0).citations("Eso ocurrió hace años.", _packing())
    assert lexical_only == []
    cites = Attributor(Pointing(), lexical_weight=0.3).citations(text, _packing())
    assert [(c.n, c.kind) for c in cites] == [(3, ATTRIBUTED)]


def test_pipeline_answers_carry_sources_in_the_trace_and_json():
    retriever = FakeRetriever([("paris.md", "Paris is the capital of France."),
                               ("rome.md", "Rome is the capital of Italy.")])
    model = FakeChatModel(["The capital of France is Paris."])
    answer = Pipeline(model=model, collection=retriever, k=2).ask("Capital of France?")
    assert answer.citations and answer.citations[0].kind == ATTRIBUTED
    data = answer.to_dict()
    assert set(data["citations"][0]) == {"n", "chunk_id", "source", "kind", "score"}
    assert data["trace"]["citations"] == data["citations"]
    assert answer.supported


def test_answer_metrics_sourced_source_gold_and_looping():
    trace = {"citations": [{"n": 2, "chunk_id": "c2", "source": "/corpus/bert.es.md",
                            "kind": "attributed", "score": 0.7}]}
    case = {"answers": ["15 %"], "gold_ids": ["bert.es.md"], "trace": trace}
    assert get_metric("sourced").evaluate("x", case).value == 1.0
    assert get_metric("source_gold").evaluate("x", case).value == 1.0
    assert get_metric("source_gold").evaluate("x", {**case, "gold_ids": ["other.md"]}).value == 0
    assert get_metric("sourced").evaluate("x", {"answers": ["a"], "trace": {}}).value == 0.0
    looping = get_metric("looping")
    assert looping.evaluate("el uno es el dos, " * 3, case).value == 1.0
    assert looping.evaluate("BERT masks 15% of the tokens [2].", case).value == 0.0
    assert repeated_ngram("a b c d a b c d a b c d") == "a b c d"


def test_a_marker_after_the_full_stop_stays_with_its_sentence():
    assert sentences("Mide 330 metros. [1] BERT enmascara el 15 %. [2]") == [
        "Mide 330 metros. [1]", "BERT enmascara el 15 %. [2]"]
    cites = Attributor().citations("La torre Eiffel mide 330 metros. [1]", _packing())
    assert [(c.n, c.kind) for c in cites] == [(1, CITED)]


def test_a_marker_its_passage_does_not_support_is_reported_and_the_sentence_attributed():
    attributor = Attributor()
    cites = attributor.citations("BERT enmascara el 15 % de los tokens [1].", _packing())
    # The passage that supports the answer comes first; the weak marker stays, after it.
    assert [(c.n, c.kind) for c in cites] == [(2, ATTRIBUTED), (1, CITED)]
    assert cites[1].score < 0.2 and attributor.unsupported == [1]


def test_a_marker_naming_the_wrong_passage_is_reported_beside_the_one_that_supports():
    # The sentence is copied from passage [2] but the model wrote [3] (which shares two words).
    attributor = Attributor()
    answer = ("BERT enmascara el 15 % de los tokens durante el preentrenamiento, como el "
              "Transformer de Vaswani [3].")
    cites = attributor.citations(answer, _packing())
    assert [(c.n, c.kind) for c in cites] == [(2, ATTRIBUTED), (3, CITED)]
    assert cites[1].score >= 0.2 and cites[0].score - cites[1].score >= 0.3
    assert attributor.unsupported == [3]


def test_a_weak_marker_is_demoted_only_where_it_supports_nothing():
    """A marker weak in one sentence but supporting another keeps its place in answer order."""
    attributor = Attributor()
    answer = "La torre Eiffel mide 330 metros [1]. BERT enmascara el 15 % de los tokens [1]."
    cites = attributor.citations(answer, _packing())
    assert cites[0].n == 1 and cites[0].kind == CITED and attributor.unsupported == []


def test_sources_do_not_depend_on_sentence_order():
    """A passage named by a weak marker on one sentence and supporting another is listed with
    its best support, whichever sentence comes first."""
    one = "The Transformer appeared in 2017 [2]. BERT enmascara el 15 % de los tokens."
    two = "BERT enmascara el 15 % de los tokens. The Transformer appeared in 2017 [2]."
    found = [{(c.n, c.kind, c.score) for c in Attributor().citations(text, _packing())}
             for text in (one, two)]
    assert found[0] == found[1]
    assert {n for n, _, score in found[0] if score >= 0.45} == {2, 3}
