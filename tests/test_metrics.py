"""Answer metrics pinned to their reference definitions (SQuAD v1.1, Lost in the Middle).

Expected values are worked out by hand from the official definitions; the arithmetic is in
the comments so a reader can check it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from promptkit.errors import NotFoundError, UserError
from promptkit.evaluation.metrics import (
    MetricCase,
    MetricResult,
    aggregate,
    best_subspan_em,
    evaluate_all,
    exact_match_score,
    f1_score,
    get_metric,
    normalize_litm,
    normalize_multi,
    normalize_squad,
)


def case(*answers: str, **extra) -> MetricCase:
    return MetricCase(answers=list(answers), **extra)


# --------------------------------------------------------------------- SQuAD v1.1

@pytest.mark.parametrize("text, expected", [
    ("The Eiffel Tower!", "eiffel tower"),
    ("U.S.A.", "usa"),                    # punctuation is deleted, not replaced by a space
    ("state-of-the-art", "stateoftheart"),  # so "the" is no longer a separate word
    ("theater", "theater"),               # articles only as whole words
    ("An  apple,\ta day", "apple day"),
    ("New\u00a0York", "new york"),        # str.split() splits on Unicode spaces too
    ("“Paris”", "“paris”"),               # only ASCII punctuation is removed
    ("café", "café"),                     # accents are kept
    ("¿Qué?", "¿qué"),                    # the inverted mark is not ASCII
    ("the", ""),
])
def test_squad_normalisation(text, expected):
    assert normalize_squad(text) == expected


def test_squad_exact_match_tricky_cases():
    assert exact_match_score("The Eiffel Tower.", "eiffel tower") == 1.0
    assert exact_match_score("“Paris”", "Paris") == 0.0
    assert exact_match_score("café", "cafe") == 0.0
    assert exact_match_score("state-of-the-art", "state of the art") == 0.0
    # Both sides normalise to "", which SQuAD v1.1 counts as an exact match.
    assert exact_match_score("The", "a") == 1.0


def test_squad_f1_tricky_cases():
    # pred "city of paris" (3 tokens) vs "paris": overlap 1, P 1/3, R 1 -> 2*(1/3)/(4/3) = 1/2
    assert f1_score("the city of Paris", "Paris") == pytest.approx(0.5)
    # vs "lyon city": overlap 1, P 1/3, R 1/2 -> 2*(1/6)/(5/6) = 2/5
    assert f1_score("the city of Paris", "Lyon city") == pytest.approx(0.4)
    # repeated tokens count once per gold occurrence: overlap 1, P 1/2, R 1 -> 2/3
    assert f1_score("paris paris", "Paris") == pytest.approx(2 / 3)
    assert f1_score("", "Paris") == 0.0
    # v1.1 (unlike v2.0) gives 0 when both sides are empty after normalisation
    assert f1_score("The", "a") == 0.0
    assert f1_score("state-of-the-art", "state of the art") == 0.0


def test_metric_objects_take_the_best_gold_answer():
    em, f1 = get_metric("exact_match"), get_metric("token_f1")
    c = case("Paris", "Lyon city")
    assert f1.evaluate("the city of Paris", c).value == pytest.approx(0.5)
    assert f1.evaluate("the city of Paris", c).detail["answer"] == "Paris"
    assert em.evaluate("Lyon City!", c) == MetricResult(1.0, detail={"answer": "Lyon city"})
    assert em.evaluate("Marseille", c).value == 0.0
    assert em.binary and not f1.binary


def test_no_answers_or_no_prediction_is_an_error_not_a_zero():
    em = get_metric("exact_match")
    missing = em.evaluate("Paris", case())
    assert missing.outcome == "error" and missing.value is None
    assert "no reference answers" in missing.detail["reason"]
    assert em.evaluate(None, case("Paris")).outcome == "error"


def test_cases_can_be_dicts_or_objects():
    f1 = get_metric("token_f1")
    assert f1.evaluate("Paris", {"answers": ["Paris"]}).value == 1.0
    assert f1.evaluate("Paris", SimpleNamespace(answers=["Paris"])).value == 1.0


# ---------------------------------------------------------- Lost in the Middle's metric

def test_best_subspan_em_reference_behaviour():
    # SQuAD EM would be 0 in every one of these; the paper's metric is a substring test.
    assert best_subspan_em("The answer is Paris, France.", ["Paris"]) == 1.0
    assert best_subspan_em("“Paris”", ["Paris"]) == 1.0
    assert best_subspan_em("beatles", ["The Beatles"]) == 1.0
    # Character substring, not word match: "cat" is inside "concatenate".
    assert best_subspan_em("concatenate", ["cat"]) == 1.0
    assert best_subspan_em("Lyon", ["Paris", "Marseille"]) == 0.0
    assert best_subspan_em("anything", []) == 0.0
    # An answer that normalises to "" is a substring of everything, as in the reference.
    assert best_subspan_em("Lyon", ["The"]) == 1.0
    assert exact_match_score("The answer is Paris, France.", "Paris") == 0.0


def test_best_subspan_em_uses_the_reference_word_boundaries():
    # The reference normalises with the `regex` package: there "½" is not a word character,
    # so "the" in "the½" is an article and goes, leaving "½". Python's `re` (SQuAD's script)
    # counts "½" as a word character and keeps "the½" whole.
    assert normalize_litm("the½") == "½"
    assert normalize_squad("the½") == "the½"
    assert best_subspan_em("½", ["the½"]) == 1.0
    # And a combining accent after a lone "a" (decomposed "á") keeps the word in `regex`.
    assert normalize_litm("a\u0301") == "a\u0301"
    assert best_subspan_em("\u0301", ["a\u0301"]) == 0.0


def test_best_subspan_em_metric_scores_only_the_first_line_like_the_paper():
    metric = get_metric("best_subspan_em")
    c = case("Paris")
    assert metric.evaluate("  Paris is the capital \nignored", c).value == 1.0
    # The gold answer below the first line does not count (no scoring by copying context).
    assert metric.evaluate("I am not sure.\nParis", c).value == 0.0
    assert best_subspan_em("I am not sure.\nParis", ["Paris"]) == 1.0
    assert get_metric("best_subspan_em", first_line=False).evaluate("No.\nParis", c).value == 1.0


def test_best_subspan_em_on_real_lost_in_the_middle_records(shared_data):
    import gzip
    import json

    path = (shared_data / "lost_in_the_middle" / "qa_20docs_subset441"
            / "nq-open-20_total_documents_gold_at_0.subset441.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        records = [json.loads(next(fh)) for _ in range(20)]
    metric = get_metric("best_subspan_em")
    for rec in records:
        gold = next(c["text"] for c in rec["ctxs"] if c.get("isgold"))
        answers = rec["answers"]
        # A model answer that is exactly a gold answer, and one that buries it in a sentence.
        assert metric.evaluate(answers[0], rec).value == 1.0
        assert metric.evaluate(f"I believe it is {answers[-1]}.", rec).value == 1.0
        # Copying the gold passage on a second line does not score.
        copied = metric.evaluate(f"No idea.\n{gold}", rec).value
        assert copied == best_subspan_em("No idea.", answers)


# ------------------------------------------------------------------- Spanish / multi

@pytest.mark.parametrize("text, expected", [
    ("¿Qué es BERT?", "que es bert"),
    ("¡Atención!", "atencion"),
    ("El Niño", "nino"),
    ("Las redes neuronales", "redes neuronales"),
    ("unos modelos y unas capas", "modelos y capas"),
    ("la losa", "losa"),                    # "los" inside a word stays
    ("«comillas» — y “otras”", "comillas y otras"),
    ("The Eiffel Tower", "eiffel tower"),   # English articles still go
])
def test_multi_normalisation(text, expected):
    assert normalize_multi(text) == expected


def test_multi_metrics_are_accent_and_punctuation_aware():
    c = case("la atención multicabeza")
    assert get_metric("exact_match").evaluate("Atención multicabeza", c).value == 0.0
    assert get_metric("exact_match_multi").evaluate("¡Atencion multicabeza!", c).value == 1.0
    assert get_metric("exact_match", normalize="es").name == "exact_match_es"
    # pred "mecanismo de atencion" vs gold "atencion multicabeza": overlap 1,
    # P 1/3, R 1/2 -> 2/5; the SQuAD variant sees "atención" vs "atencion" as different.
    f1_multi = get_metric("token_f1_multi")
    assert f1_multi.name == "token_f1_multi"
    assert f1_multi.evaluate("el mecanismo de atencion", c).value == pytest.approx(0.4)
    assert get_metric("token_f1").evaluate("el mecanismo de atencion", c).value == 0.0


def test_contains_any_matches_whole_words_after_normalisation():
    metric = get_metric("contains_any")
    c = case("Transformer", "atención")
    assert metric.evaluate("Se basa en la ATENCION, ¿no?", c).value == 1.0
    assert metric.evaluate("Transformers everywhere", c).value == 0.0
    assert get_metric("contains_any").evaluate("concatenate", case("cat")).value == 0.0
    assert metric.evaluate("x", case("the")).outcome == "error"


# ------------------------------------------------------------- ROUGE-L and similarity

def test_rouge_l_f_measure():
    metric = get_metric("rouge_l")
    # LCS of "the cat sat on the mat" / "the cat is on the mat" is 5 tokens: P = R = 5/6.
    assert metric.evaluate("the cat sat on the mat", case("the cat is on the mat")).value == (
        pytest.approx(5 / 6))
    # Accents stripped: [la cancion es bonita] vs [cancion bonita], LCS 2: P 1/2, R 1 -> 2/3.
    assert metric.evaluate("la canción es bonita", case("canción bonita")).value == (
        pytest.approx(2 / 3))
    assert metric.evaluate("", case("canción")).value == 0.0


def test_semantic_similarity_with_a_deterministic_embedder():
    from promptkit.testing.fakes import HashEmbedder

    metric = get_metric("semantic_similarity", embedder=HashEmbedder())
    c = case("attention lets every token look at every other token", "unrelated words")
    same = metric.evaluate("attention lets every token look at every other token", c)
    assert same.value == pytest.approx(1.0, abs=1e-6)
    assert same.detail["answer"].startswith("attention")
    partial = metric.evaluate("every token looks at other tokens", c).value
    assert 0.0 < partial < 1.0
    assert metric.evaluate("", c).value == 0.0


# --------------------------------------------------------------------- trace metrics

def test_latency_and_tokens_read_the_trace():
    # The defaults read the pipeline's trace shape; other shapes are reachable by option.
    trace = {"latency": {"total_s": 1.25}, "usage": {"prompt_tokens": 90, "completion_tokens": 10},
             "generation": {"latency_s": 0.5}, "prompt_tokens": 7, "completion_tokens": 3}
    c = case("x", trace=trace)
    assert get_metric("latency").evaluate("a", c).value == 1.25
    assert get_metric("latency", key="generation.latency_s").evaluate("a", c).value == 0.5
    assert get_metric("tokens").evaluate("a", c).value == 100.0
    assert get_metric("tokens", part="completion").evaluate("a", c).value == 10.0
    assert get_metric("tokens", prefix="").evaluate("a", c).value == 10.0
    assert get_metric("latency").evaluate("a", case("x")).outcome == "error"
    assert not get_metric("latency").higher_is_better


# ------------------------------------------------------------ registry and aggregation

def test_registry_gives_clear_errors_for_config_mistakes():
    with pytest.raises(NotFoundError, match="did you mean 'token_f1'"):
        get_metric("token_f2")
    with pytest.raises(UserError, match="normalise"):
        get_metric("token_f1", normalise="multi")
    with pytest.raises(UserError, match="embedder"):
        get_metric("semantic_similarity")
    with pytest.raises(NotFoundError):
        get_metric("ndcg@ten")
    with pytest.raises(NotFoundError, match="normalisation"):
        get_metric("exact_match", normalize="fr")
    assert get_metric("ndcg@10").name == "ndcg@10"


def test_evaluate_all_and_aggregate_count_outcomes_separately():
    metrics = [get_metric("exact_match"), get_metric("token_f1")]
    with pytest.raises(UserError, match="exact_match"):
        evaluate_all([metrics[0], get_metric("exact_match")], "x", case("x"))
    rows = [evaluate_all(metrics, p, c) for p, c in
            [("Paris", case("Paris")), ("Lyon", case("Paris")), ("Paris", case())]]
    summary = aggregate("exact_match", [r["exact_match"] for r in rows], seed=1)
    assert (summary.n, summary.n_ok, summary.n_error, summary.n_unparsable) == (3, 2, 1, 0)
    assert summary.mean == 0.5       # the error case is not averaged as a 0
    assert summary.ci_low <= 0.5 <= summary.ci_high
    empty = aggregate("exact_match", [MetricResult.error("x")])
    assert empty.mean is None and empty.n_error == 1


def test_metric_result_refuses_silent_nan_and_round_trips():
    with pytest.raises(ValueError):
        MetricResult(float("nan"))
    with pytest.raises(ValueError):
        MetricResult(0.0, "unparsable")
    r = MetricResult.unparsable("no JSON", raw="hm")
    assert MetricResult.from_dict(r.to_dict()) == r
