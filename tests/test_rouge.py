"""ROUGE-L over Unicode words: non-Latin text scores, ASCII English matches rouge-score."""

from __future__ import annotations

import importlib.util

import pytest

from promptkit.evaluation.metrics import MetricCase, get_metric


def score(prediction: str, answer: str, **opts) -> float:
    return get_metric("rouge_l", **opts).evaluate(prediction, MetricCase(answers=[answer])).value


@pytest.mark.parametrize(("prediction", "answer", "expected"), [
    # Chinese and Japanese: one token per character. LCS 5 of 8 / 5: F = 10/13.
    ("注意力机制很重要", "注意力机制", 10 / 13),
    ("トランスフォーマーです", "トランスフォーマー", 2 * (9 / 11) / (9 / 11 + 1)),
    # Cyrillic, Greek, Arabic, Devanagari (vowel signs stay inside their words): 2 of 3 / 2.
    ("механизм внимания важен", "механизм внимания", 0.8),
    ("μηχανισμός προσοχής σημαντικός", "μηχανισμός προσοχής", 0.8),
    ("آلية الانتباه مهمة", "آلية الانتباه", 0.8),
    ("ध्यान तंत्र महत्वपूर्ण", "ध्यान तंत्र", 0.8),
])
def test_non_latin_text_scores(prediction, answer, expected):
    # Before: rouge-score's tokenizer keeps only [a-z0-9], so all of these scored 0.
    assert score(prediction, answer) == pytest.approx(expected)


def test_words_stay_whole():
    from promptkit.evaluation.rouge import tokenize

    assert tokenize("ध्यान तंत्र") == ["ध्यान", "तंत्र"]
    assert tokenize("La Atención, ¿no?") == ["la", "atencion", "no"]
    assert tokenize("la atención", fold_accents=False) == ["la", "atención"]
    assert tokenize("BERT是编码器") == ["bert", "是", "编", "码", "器"]
    assert tokenize("snake_case and x2") == ["snake", "case", "and", "x2"]
    assert score("la canción es bonita", "cancion bonita") == pytest.approx(2 / 3)


ENGLISH = [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("The quick brown fox jumps over the lazy dog.", "A quick brown dog jumps over a fox!"),
    ("BERT uses only the encoder of the Transformer", "the Transformer encoder"),
    ("It was 2017; the paper: 'Attention Is All You Need'", "Attention is all you need (2017)"),
    ("running runners ran quickly", "the runner runs quick"),
    ("snake_case tokens_split here", "snake case tokens split"),
    ("", "something"),
    ("no overlap at all", "completely different words"),
]


@pytest.mark.skipif(importlib.util.find_spec("rouge_score") is None,
                    reason="rouge-score (the reference implementation) is not installed")
@pytest.mark.parametrize("stemmer", [False, True])
def test_ascii_english_matches_the_official_rouge_score(stemmer):
    from rouge_score import rouge_scorer

    official = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)
    for prediction, answer in ENGLISH:
        want = official.score(answer, prediction)["rougeL"].fmeasure
        assert score(prediction, answer, use_stemmer=stemmer) == pytest.approx(want), prediction
