"""Every assertion kind, passing and failing, with the message it reports."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from promptkit.errors import UserError
from promptkit.testing import FakeChatModel, HashEmbedder, assert_prompt
from promptkit.testing.assertions import Judged, Tools, evaluate, score
from promptkit.testing.suite import Assertion, CaseSpec

_ADAPTER = TypeAdapter(Assertion)


def case(**fields) -> CaseSpec:
    return CaseSpec.model_validate({"id": "c", "question": "Who created BERT?", **fields})


def check(spec: dict, text: str, tools: Tools | None = None, **judged):
    """One assertion on `text`; returns its Outcome."""
    c = judged.pop("case", None) or case()
    return evaluate([_ADAPTER.validate_python(spec)], Judged(text, c, **judged), tools)[0]


@pytest.mark.parametrize("spec, text, passed, message", [
    ({"type": "equals", "value": "Paris"}, " Paris\n", True, "output equals it"),
    ({"type": "equals", "value": "Paris"}, "paris", False, "output is 'paris'"),
    ({"type": "equals", "value": "Paris", "ignore_case": True}, "paris", True, "equals"),
    ({"type": "contains", "value": "BERT"}, "BERT is an encoder", True, "found 'BERT'"),
    ({"type": "contains", "value": "bert"}, "BERT is an encoder", False, "none found"),
    ({"type": "icontains", "value": "bert"}, "BERT is an encoder", True, "found 'bert'"),
    ({"type": "contains-any", "value": ["GPT", "BERT"]}, "BERT!", True, "found 'BERT'"),
    ({"type": "contains-all", "value": ["Devlin", "Chang"]}, "Devlin et al.", False,
     "missing ['Chang']"),
    ({"type": "icontains-all", "value": ["devlin", "chang"]}, "Devlin, Chang", True,
     "all present"),
    ({"type": "icontains-any", "value": ["gpt", "t5"]}, "BERT", False, "none found"),
    ({"type": "not-contains", "value": "As an AI"}, "As an AI model, ...", False,
     "found ['As an AI']"),
    ({"type": "not-icontains", "value": ["sorry", "cannot"]}, "Sure: BERT.", True, "none present"),
    ({"type": "regex", "pattern": r"\b(19|20)\d{2}\b"}, "In 2018.", True, "matched '2018'"),
    ({"type": "regex", "pattern": "^bert", "ignore_case": True}, "the BERT", False, "no match"),
    ({"type": "not-regex", "pattern": r"\[\d+\]"}, "no citation", True, "no match"),
    ({"type": "length", "max": 10}, "short", True, "5 chars"),
    ({"type": "length", "min": 3, "unit": "words"}, "two words", False, "2 words"),
])
def test_text_assertions(spec, text, passed, message):
    outcome = check(spec, text)
    assert outcome.passed is passed
    assert message in outcome.message
    assert outcome.type == spec["type"]


def test_contains_without_value_uses_the_case_answers_then_reference():
    c = case(answers=["Devlin", "Google"])
    assert check({"type": "icontains-any"}, "made at google", case=c).passed
    c = case(reference="Jacob Devlin")
    outcome = check({"type": "contains"}, "It was Jacob Devlin.", case=c)
    assert outcome.passed and "Jacob Devlin" in outcome.label


SCHEMA = {"type": "object", "required": ["answer", "sources"],
          "properties": {"answer": {"type": "string"}, "sources": {"type": "array"}}}


def test_json_and_schema():
    assert check({"type": "is-json"}, '{"a": 1}').passed
    fenced = '```json\n{"answer": "BERT", "sources": [1]}\n```'
    assert check({"type": "is-json", "schema": SCHEMA}, fenced).passed
    bad = check({"type": "is-json"}, "{'a': 1}")
    assert not bad.passed and bad.message.startswith("not JSON")
    wrong = check({"type": "is-json", "schema": SCHEMA}, '{"answer": 3}')
    assert not wrong.passed
    assert "schema:" in wrong.message and "(+1 more)" in wrong.message


def test_similarity_uses_the_embedder_and_threshold():
    tools = Tools(embedder=lambda name: HashEmbedder())
    c = case(reference="BERT was created at Google AI Language")
    near = check({"type": "similar", "threshold": 0.5}, "BERT was created at Google", tools, case=c)
    far = check({"type": "similar", "threshold": 0.5}, "Paris is in France", tools, case=c)
    assert near.passed and near.value > 0.5 and ">= 0.50 (hash)" in near.message
    assert not far.passed and far.value < 0.5 and "< 0.50" in far.message
    assert check({"type": "similar", "value": "x"}, "x").error   # no embedder: an error


def test_harness_metrics_pass_and_fail_in_their_direction():
    c = case(answers=["Jacob Devlin"], gold_docs=["bert.md"])
    f1 = check({"type": "metric", "name": "token_f1", "threshold": 0.5}, "Jacob Devlin", case=c)
    assert f1.passed and f1.value == 1.0 and "token_f1 = 1.000" in f1.message
    low = check({"type": "metric", "name": "token_f1", "threshold": 0.5}, "nobody", case=c)
    assert not low.passed and low.value == 0.0
    retrieved = [{"id": "x1", "source": "gpt.md"}, {"id": "x2", "source": "bert.md"}]
    hit = check({"type": "metric", "name": "hit@2", "threshold": 1}, "", case=c,
                retrieved=retrieved)
    miss = check({"type": "metric", "name": "hit@1", "threshold": 1}, "", case=c,
                 retrieved=retrieved)
    assert hit.passed and not miss.passed
    fast = check({"type": "metric", "name": "latency", "threshold": 2.0}, "x", case=c,
                 latency_s=1.5)
    assert fast.passed and "<= 2" in fast.label   # lower is better for latency


def test_llm_rubric_with_a_prompt_rubric_and_inline_text():
    judge = FakeChatModel(['{"score": 5, "reason": "matches"}', '{"score": 2}',
                           'I think it is fine', '{"score": 0.9}'])
    calls = []

    def judge_for(spec, params):
        calls.append((spec, params))
        return lambda messages: judge.generate(messages, params).text

    tools = Tools(judge=judge_for)
    c = case(reference="Jacob Devlin and colleagues at Google")
    spec = {"type": "llm-rubric", "rubric": "judge-correctness@1", "threshold": 0.75}
    good = check(spec, "Devlin", tools, case=c)
    assert good.passed and good.value == 1.0 and "matches" in good.message
    assert "Jacob Devlin and colleagues" in judge.last_call.user_text   # the reference is shown
    assert calls[0][1].max_tokens == 150                  # the rubric prompt's own params
    poor = check(spec, "Someone", tools, case=c)
    assert not poor.passed and poor.value == 0.25
    unparsable = check(spec, "x", tools, case=c)
    assert not unparsable.passed and unparsable.error and "unparsable" in unparsable.message
    inline = check({"type": "llm-rubric", "rubric": "Is the answer polite?", "threshold": 0.8},
                   "Sure!", tools, case=c)
    assert inline.passed and inline.value == pytest.approx(0.9)
    assert "Is the answer polite?" in judge.last_call.messages[0]["content"]


def test_latency_and_citations():
    fast = check({"type": "latency", "threshold": 2}, "x", latency_s=0.5,
                 latency_note="as recorded")
    assert fast.passed and fast.message == "0.50s (as recorded)"
    assert not check({"type": "latency", "threshold": 0.1}, "x", latency_s=0.5).passed
    cites = [{"number": 2, "id": "a", "source": "docs/bert-overview.en.md"}]
    assert check({"type": "cites"}, "[2]", citations=cites).passed
    none = check({"type": "cites"}, "no citation")
    assert not none.passed and none.message == "0 citation(s)"
    gold = case(gold_docs=["bert-overview.en.md"])
    assert check({"type": "cites", "gold": True}, "[2]", case=gold, citations=cites).passed
    other = check({"type": "cites", "sources": ["gpt.md"]}, "[2]", citations=cites)
    assert not other.passed and "cited only [2] docs/bert-overview.en.md" in other.message
    assert not check({"type": "cites", "min": 2}, "[2]", citations=cites).passed


def test_weights_make_the_case_score():
    specs = [_ADAPTER.validate_python(s) for s in (
        {"type": "contains", "value": "BERT", "weight": 3},
        {"type": "contains", "value": "GPT"})]
    outcomes = evaluate(specs, Judged("BERT", case()))
    assert [o.passed for o in outcomes] == [True, False]
    assert score(outcomes) == 0.75


def test_assert_prompt_helper_passes_and_reports_failures_with_the_output():
    outcomes = assert_prompt("BERT was made by Devlin [1].",
                             {"type": "icontains-any", "value": ["devlin"]},
                             {"type": "length", "max": 100})
    assert all(o.passed for o in outcomes)
    with pytest.raises(AssertionError) as info:
        assert_prompt("It was GPT.", {"type": "contains", "value": "BERT", "label": "names BERT"},
                      {"type": "length", "max": 100})
    text = str(info.value)
    assert "FAIL  names BERT: none found" in text and "| It was GPT." in text
    assert "length" not in text    # passing assertions are not listed
    with pytest.raises(UserError, match="assertion") as bad:
        assert_prompt("x", {"type": "contain", "value": "x"})
    # the suites' own words for the same mistake: the field, and the nearest type
    assert "assert_prompt: unknown assertion type 'contain' (did you mean 'contains'?)" \
        in str(bad.value)


def test_the_documented_example_of_a_hand_written_test():
    from promptkit.pipeline import Pipeline

    model = FakeChatModel(["BERT was created at Google [1]."])
    answer = Pipeline(prompt="rag-answer@2", model=model).ask(
        "Who created BERT?", contexts=["BERT was created by Google AI Language."])
    outcomes = assert_prompt(answer, {"type": "icontains", "value": "google"}, {"type": "cites"})
    assert outcomes[1].message == "cites [1] context 1"
