"""Grounding metrics (RAGAS and ALCE definitions) with a rule-based fake judge."""

from __future__ import annotations

import pytest

from promptkit.errors import UserError
from promptkit.evaluation.judges import Judge
from promptkit.evaluation.metrics import get_metric
from promptkit.evaluation.metrics_grounding import (
    fixed_length,
    rank_weighted_precision,
    split_sentences,
)
from promptkit.testing.fakes import FakeChatModel
from tests.judge_fakes import fake_judge

PASSAGES = [
    {"id": "c1", "source": "/docs/bert.en.md", "position": 1, "rank": 1,
     "text": "BERT was released by Google in 2018. BERT-base has 110 million parameters."},
    {"id": "c2", "source": "/docs/gpt.en.md", "position": 2, "rank": 2,
     "text": "GPT was released by OpenAI in 2018 and predicts the next token."},
]
CASE = {"id": "q1", "question": "When was BERT released?", "answers": ["2018"],
        "gold_ids": ["bert.en.md"], "passages": PASSAGES,
        "contexts": [p["text"] for p in PASSAGES]}


def metric(name, **options):
    return get_metric(name, judge=fake_judge(), **options)


# ---------------------------------------------------------------- faithfulness

def test_faithfulness_scores_the_supported_share_with_per_claim_verdicts():
    result = metric("faithfulness").evaluate(
        "BERT was released by Google in 2018. BERT-base has 340 million parameters. "
        "BERT won a prize.", CASE)
    assert result.ok and result.value == pytest.approx(1 / 3)
    verdicts = [c["verdict"] for c in result.detail["claims"]]
    assert verdicts == ["supported", "contradicted", "not_found"]
    assert result.detail["claims"][0]["claim"] == "BERT was released by Google in 2018."
    assert (result.detail["supported"], result.detail["contradicted"],
            result.detail["not_found"]) == (1, 1, 1)
    assert result.detail["judge"] == "fake:rule-judge" and result.detail["constrained"]
    assert set(result.detail["prompts"]) == {"judge-claims@1", "judge-verdicts@2"}


def test_faithfulness_sends_one_fixed_length_schema_per_claim_list():
    judge = fake_judge()
    get_metric("faithfulness", judge=judge).evaluate("BERT was released in 2018. It is big.",
                                                     CASE)
    verdict_schema = judge.calls[-1].params.json_schema["properties"]["verdicts"]
    assert verdict_schema["minItems"] == verdict_schema["maxItems"] == 2


def test_faithfulness_without_a_judge_split():
    result = metric("faithfulness", claims="sentences").evaluate(
        "BERT was released by Google in 2018 [1]. GPT predicts the next token [2].", CASE)
    assert result.value == 1.0
    assert [c["claim"] for c in result.detail["claims"]] == [
        "BERT was released by Google in 2018.", "GPT predicts the next token."]
    assert list(result.detail["prompts"]) == ["judge-verdicts@2"]


def test_unparsable_judge_reply_is_its_own_outcome():
    judge = FakeChatModel(default="I think it is all fine.")   # cannot constrain, no JSON
    result = get_metric("faithfulness", judge=judge).evaluate("BERT came in 2018.", CASE)
    assert result.outcome == "unparsable" and result.value is None
    assert result.detail["reason"].startswith("claims: no JSON")
    assert result.detail["raw"] == "I think it is all fine." and not result.detail["constrained"]
    # A constrained judge whose reply is cut short is unparsable too, and says why.
    cut = FakeChatModel(['{"claims": ["BERT came'], can_constrain=True)
    result = get_metric("faithfulness", judge=cut).evaluate("BERT came in 2018.", CASE)
    assert result.outcome == "unparsable" and "not JSON" in result.detail["reason"]


def test_wrong_number_of_verdicts_from_a_free_text_judge_is_unparsable():
    judge = FakeChatModel(['{"claims": ["BERT is old.", "BERT is big."]}',
                           '{"verdicts": [{"claim": 1, "reason": "", "verdict": "supported"}]}'])
    result = get_metric("faithfulness", judge=judge).evaluate("BERT is old and big.", CASE)
    assert result.outcome == "unparsable"
    assert "verdicts: the reply does not follow the schema" in result.detail["reason"]


def test_no_claims_and_no_passages_are_errors_not_scores():
    abstains = metric("faithfulness").evaluate("", CASE)
    assert abstains.outcome == "error"
    assert metric("faithfulness").evaluate("BERT.", {"question": "q"}).outcome == "error"
    assert metric("faithfulness").evaluate(None, CASE).outcome == "error"


def test_judge_asks_each_question_once_and_repeats_with_new_seeds():
    model = fake_judge()
    judge = Judge(model)
    m = get_metric("faithfulness", judge=judge)
    m.evaluate("BERT was released in 2018.", CASE)
    m.evaluate("BERT was released in 2018.", CASE)
    assert len(model.calls) == 2   # claims + verdicts, once
    m.score("BERT was released in 2018.", CASE["question"], "[1] x", attempt=1)
    assert model.calls[-1].params.seed == 1


def test_options_are_checked():
    with pytest.raises(UserError, match="claims must be one of"):
        get_metric("faithfulness", claims="words")
    with pytest.raises(UserError, match="method must be one of"):
        get_metric("context_precision", method="magic")
    with pytest.raises(UserError, match="n_questions"):
        get_metric("answer_relevancy", n_questions=9)


# ---------------------------------------------------------------- answer relevancy

def test_answer_relevancy_uses_questions_written_back_and_zero_when_noncommittal():
    m = metric("answer_relevancy", embedder="fake")
    good = m.evaluate("BERT was released in 2018.", CASE)
    assert good.ok and 0.0 < good.value <= 1.0 and len(good.detail["questions"]) == 3
    assert not good.detail["noncommittal"]
    assert m.evaluate("I don't know.", CASE).value == 0.0


# ---------------------------------------------------------------- context precision / recall

def test_rank_weighted_precision_matches_the_ragas_formula():
    assert rank_weighted_precision([True, False, True]) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert rank_weighted_precision([False, False, True, True, False]) == pytest.approx(
        (1 / 3 + 2 / 4) / 2)
    assert rank_weighted_precision([False, False]) == 0.0


def test_context_precision_reference_needs_gold_document_and_answer():
    result = get_metric("context_precision").evaluate(None, CASE)
    # c1 is from the gold document and holds "2018"; c2 holds 2018 but is not gold.
    assert result.detail == {"relevant": [True, False], "method": "reference"}
    assert result.value == 1.0
    reversed_case = {**CASE, "passages": [{**PASSAGES[0], "rank": 2}, {**PASSAGES[1], "rank": 1}]}
    assert get_metric("context_precision").evaluate(None, reversed_case).value == 0.5


def test_context_precision_by_judge_without_a_reference():
    case = {**CASE, "answers": [], "gold_ids": []}
    result = metric("context_precision").evaluate("OpenAI released GPT.", case)
    assert result.detail["method"] == "judge" and result.detail["relevant"] == [True, True]


def test_context_recall_reference_and_judge():
    assert get_metric("context_recall").evaluate(None, CASE).value == 1.0
    missing = {**CASE, "answers": ["2017"]}
    assert get_metric("context_recall").evaluate(None, missing).value == 0.0
    gold_only = {**CASE, "answers": [], "gold_ids": ["bert.en.md", "t5.en.md"]}
    assert get_metric("context_recall").evaluate(None, gold_only).value == 0.5
    judged = metric("context_recall", method="judge").evaluate(None, {
        **CASE, "question": "BERT released", "answers": ["by Google in 2018"]})
    assert judged.detail["method"] == "judge" and judged.value == 1.0
    assert judged.detail["claims"][0]["claim"] == "BERT released by Google in 2018"
    sufficiency = metric("context_recall").evaluate(None, {**CASE, "answers": [],
                                                           "gold_ids": []})
    assert sufficiency.detail["method"] == "judge" and sufficiency.value == 1.0


# ---------------------------------------------------------------- citations (ALCE)

@pytest.mark.parametrize("answer, recall, precision", [
    ("BERT was released by Google in 2018 [1].", 1.0, 1.0),
    # second sentence cites nothing: recall halves, precision counts only real citations
    ("BERT was released by Google in 2018 [1]. It is famous.", 0.5, 1.0),
    # wrong passage cited: unsupported, and its citation is not precise
    ("BERT was released by Google in 2018 [2].", 0.0, 0.0),
    # [2] is not needed ([1] alone entails and [2] alone does not): over-citation
    ("BERT was released by Google in 2018 [1][2].", 1.0, 0.5),
    # a marker naming no passage shown makes the sentence unsupported, and is not counted
    ("BERT was released by Google in 2018 [7].", 0.0, 0.0),
    ("No citations at all.", 0.0, 0.0),
])
def test_citation_recall_and_precision_follow_alce(answer, recall, precision):
    r = metric("citation_recall").evaluate(answer, CASE)
    p = metric("citation_precision").evaluate(answer, CASE)
    assert (r.value, p.value) == (pytest.approx(recall), pytest.approx(precision))
    assert r.detail["sentences"][0]["sentence"].endswith(".")


def test_jointly_needed_citations_are_both_precise():
    case = {**CASE, "passages": [
        {"id": "a", "position": 1, "text": "BERT was released by Google."},
        {"id": "b", "position": 2, "text": "The release happened in 2018."}]}
    p = metric("citation_precision").evaluate("BERT was released by Google in 2018 [1][2].",
                                              case)
    assert p.value == 1.0 and p.detail["sentences"][0]["precise"] == [1, 2]


def test_lexical_support_needs_no_model():
    r = get_metric("citation_recall", support="lexical", judge=FakeChatModel()).evaluate(
        "BERT was released by Google in 2018 [1]. GPT predicts the next token [1].", CASE)
    assert r.value == 0.5 and r.detail["support"] == "lexical"


def test_helpers():
    schema = {"type": "object", "properties": {"v": {"type": "array", "maxItems": 9}}}
    fixed = fixed_length(schema, "v", 2)
    assert fixed["properties"]["v"]["minItems"] == 2 and schema["properties"]["v"]["maxItems"] == 9
    assert split_sentences("One [1]. Two [2][3]. ") == ["One.", "Two."]


# ---------------------------------------------------------------- quote checks (judge-verdicts@2)

QUOTED = ("[1] ELMo, sigla de Embeddings from Language Models, fue presentado en 2018 por "
          "Matthew Peters. Tiene 93 600 000 parámetros.\n\n[2] BERT-base has 12 layers. It "
          "cannot fly. No. 1 hit in 1999. Nobody came.\n\n"
          "[3] The memo set real projects in motion. On 7 January 1954 the Georgetown-IBM "
          "experiment ran on an IBM 701 computer and converted more than sixty Russian "
          "sentences into English, using a vocabulary of about 250 words and just six "
          "grammar rules.")


@pytest.mark.parametrize("claim, quote, expected", [
    # a quote that is in the passages, with the claim's numbers and negations: stands
    ("ELMo fue presentado en 2018.", "ELMo, sigla de Embeddings from Language Models, fue "
     "presentado en 2018 por Matthew Peters.", "supported"),
    ("ELMo has 93,600,000 parameters.", "Tiene 93 600 000 parámetros.", "supported"),
    ("BERT-base has 12 layers.", "[2] BERT-base has 12 layers", "supported"),
    # the judge wrote its own "quote": nothing in the passages says it
    ("Hugging Face was founded in 2016.", "Hugging Face was founded in 2016 in New York.",
     "not_found"),
    ("Hugging Face was founded in 2016.", "", "not_found"),
    # a long copied sentence with a negation slipped in is found, but the negation is not
    ("It is not true that on 7 January 1954 the Georgetown-IBM experiment ran on an IBM 701 "
     "computer and converted more than sixty Russian sentences into English, using a "
     "vocabulary of about 250 words and just six grammar rules.",
     "It is not true that on 7 January 1954 the Georgetown-IBM experiment ran on an IBM 701 "
     "computer and converted more than sixty Russian sentences into English, using a "
     "vocabulary of about 250 words and just six grammar rules.", "contradicted"),
    # another number than the quote's
    ("ELMo fue presentado en 2019.", "fue presentado en 2018 por Matthew Peters.",
     "contradicted"),
    ("ELMo fue presentado en 2019 por Matthew Peters.", "Matthew Peters", "contradicted"),
    # a negation the quote does not have, in either language, or one it lost
    ("ELMo no fue presentado en 2018.", "ELMo, sigla de Embeddings from Language Models, fue "
     "presentado en 2018 por Matthew Peters.", "contradicted"),
    ("BERT-base doesn't have 12 layers.", "BERT-base has 12 layers.", "contradicted"),
    ("No es cierto que BERT-base tenga 12 capas.", "BERT-base has 12 layers.", "contradicted"),
    # what is not a negation: "not only", a number's "No.", "cannot" against "can't", and a
    # double negative against a single one
    ("ELMo was not only presented in 2018 but also by Matthew Peters.", "ELMo, sigla de "
     "Embeddings from Language Models, fue presentado en 2018 por Matthew Peters.",
     "supported"),
    ("No. 1 hit in 1999.", "No. 1 hit in 1999.", "supported"),
    ("It can't fly.", "It cannot fly.", "supported"),
    ("No vino nadie.", "Nobody came.", "supported"),
    # a second sentence of the quote with its own "not" does not flip the claim's
    ("BERT-base has 12 layers.", "BERT-base has 12 layers. It cannot fly.", "supported"),
    # the figure written in words
    ("The memo set real projects in motion with 6 grammar rules.", "The memo set real "
     "projects in motion. On 7 January 1954 the Georgetown-IBM experiment ran on an IBM 701 "
     "computer and converted more than sixty Russian sentences into English, using a "
     "vocabulary of about 250 words and just six grammar rules.", "supported"),
    # words the judge slipped into a copied sentence are not evidence
    ("It is not true that ELMo was presented in 2018 by Matthew Peters.", "It is not true "
     "that ELMo, sigla de Embeddings from Language Models, fue presentado en 2018 por Matthew "
     "Peters.", "not supported"),
    ("ELMo fue presentado en 2019 por Matthew Peters.", "ELMo, sigla de Embeddings from "
     "Language Models, fue presentado en 2019 por Matthew Peters.", "not supported"),
])
def test_a_supported_verdict_stands_only_on_a_quote_that_carries_the_claim(claim, quote,
                                                                         expected):
    from promptkit.evaluation.metrics_grounding import check_quote

    verdict, why = check_quote(claim, quote, "supported", QUOTED)
    if expected == "not supported":
        assert verdict != "supported" and why
    else:
        assert verdict == expected
        assert (why is None) == (expected == "supported")


def test_other_verdicts_are_not_second_guessed():
    from promptkit.evaluation.metrics_grounding import check_quote

    assert check_quote("BERT-base has 12 layers.", "BERT-base has 12 layers.", "not_found",
                       QUOTED) == ("not_found", None)


def test_numbers_are_read_one_way():
    from promptkit.evaluation.metrics_grounding import numbers_in

    assert numbers_in("200 000 tokens, 2,410 and 2.410; 1,5 or 1.5; 15 % in 1947 200 people") \
        == {"nx200000", "nx2410", "nx1d5", "nx15", "nx1947", "nx200"}
    # ranges, dates, times and scores are several numbers; zeros that change nothing go
    assert numbers_in("Picasso (1881–1973), 1954-01-07 at 10:30, won 3-2, 3.0 and 07") == {
        "nx1881", "nx1973", "nx1954", "nx1", "nx7", "nx10", "nx30", "nx3", "nx2"}
    # "In chapter 3, 100 soldiers": two numbers, not 3100; number words count as their figure
    assert numbers_in("In chapter 3, 100 soldiers; sixty rules, seis capas") == {
        "nx3", "nx100", "nx60", "nx6"}
    assert numbers_in("15 million") != numbers_in("1.5 million")


def test_the_record_keeps_the_judge_verdict_when_a_check_changed_it():
    import json

    from promptkit.testing.fakes import FunctionChatModel

    lenient = FunctionChatModel(lambda messages, params: json.dumps({"verdicts": [
        {"claim": 1, "quote": "BERT was released by Google in 2018.", "verdict": "supported"}]}),
        spec="fake:lenient", can_constrain=True)
    result = get_metric("faithfulness", judge=lenient, claims="sentences").evaluate(
        "BERT was not released by Google in 2018.", CASE)
    (row,) = result.detail["claims"]
    assert row["quote"] == "BERT was released by Google in 2018."
    assert (row["judge_verdict"], row["verdict"]) == ("supported", "contradicted")
    assert "negation" in row["reason"]


def test_many_claims_get_a_reply_budget_for_their_quotes():
    judge = fake_judge()
    few = "BERT was released in 2018. It is big."
    many = " ".join(f"Claim number {i} is here." for i in range(1, 8))
    get_metric("faithfulness", judge=judge, claims="sentences").evaluate(few, CASE)
    assert judge.calls[-1].params.max_tokens == 800          # the prompt's own budget
    get_metric("faithfulness", judge=judge, claims="sentences").evaluate(many, CASE)
    assert judge.calls[-1].params.max_tokens == 7 * 160


def test_a_quote_not_in_the_passages_falls_back_to_the_closest_passage():
    """A small judge often "quotes" the claim in its own words: the passage that supports the
    claim best stands in for the quote, if it supports it well enough."""
    from promptkit.evaluation.metrics_grounding import check_quote

    def lexical(claim, passages):
        from promptkit.pipeline.attribution import content_words

        words = content_words(claim)
        return [len(words & content_words(p)) / len(words) for p in passages]

    claim = "In March 1947, Warren Weaver wrote to Norbert Wiener about translation."
    context = ("[1] Warren Weaver directed a division of the Rockefeller Foundation. In March "
               "1947 he wrote to Norbert Wiener: translation might be handled like code.\n\n"
               "[2] BERT-base has 12 layers.")
    assert check_quote(claim, claim, "supported", context, closeness=lexical) == (
        "supported", None)
    wrong_year = claim.replace("1947", "1949")
    verdict, why = check_quote(wrong_year, wrong_year, "supported", context, closeness=lexical)
    assert verdict == "contradicted" and "1949" in why
    unrelated = "Hugging Face was founded in New York."
    verdict, why = check_quote(unrelated, unrelated, "supported", context, closeness=lexical)
    assert verdict == "not_found" and "no passage says as much" in why
    # without a way to score closeness, an unfound quote stays unsupported
    assert check_quote(claim, claim, "supported", context)[0] == "not_found"


def test_a_figure_in_the_sentence_next_to_the_quote_counts():
    from promptkit.evaluation.metrics_grounding import check_quote

    context = ("[1] Those predictions did not survive the ALPAC report of 1966. The committee "
               "judged machine output slower, and US funding for the field was cut sharply. "
               "Work went on elsewhere. Research moved to Canada in 1976.")
    claim = "The ALPAC report of 1966 led to deep cuts in US funding."
    quote = "US funding for the field was cut sharply."
    assert check_quote(claim, quote, "supported", context) == ("supported", None)
    # two sentences away is not next to it
    assert check_quote("US funding was cut in 1976.", quote, "supported", context)[0] \
        == "contradicted"
