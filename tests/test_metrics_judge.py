"""LLM-as-judge: verdict parsing, unparsable outcomes, repeats and self-agreement."""

from __future__ import annotations

import pytest

from promptkit.errors import UserError
from promptkit.evaluation.metrics import (
    MetricCase,
    aggregate,
    get_metric,
    parse_verdict,
    self_agreement,
)
from promptkit.evaluation.metrics_judge import fleiss_kappa

RUBRIC = [
    {"role": "system",
     "content": 'Grade the answer. Reply with JSON: {"score": 0 or 1, "reason": "..."}'},
    {"role": "user", "content": "Question: {question}\nReference: {reference}\nAnswer: {answer}"},
]


class ScriptedJudge:
    """Returns queued replies in order and records the messages it was sent."""

    def __init__(self, *replies: str):
        self.replies, self.calls = list(replies), []

    def __call__(self, messages):
        self.calls.append(messages)
        return self.replies.pop(0)


def test_parse_plain_fenced_and_wordy_json():
    assert parse_verdict('{"score": 1, "reason": "matches"}').value == 1.0
    fenced = 'Sure.\n```json\n{"Score": 4, "reasoning": "mostly right"}\n```\nHope it helps {:'
    verdict = parse_verdict(fenced, scale=(1, 5))
    assert (verdict.outcome, verdict.score, verdict.value) == ("ok", 4.0, 0.75)
    assert verdict.reason == "mostly right"
    assert parse_verdict('{"score": "yes"}').value == 1.0
    assert parse_verdict('{"score": "FAIL"}').value == 0.0
    assert parse_verdict('{"score": true}').value == 1.0
    # an echoed example that agrees with the verdict is harmless
    assert parse_verdict('e.g. {"score": 1} ... verdict: {"score": 1}').outcome == "ok"


@pytest.mark.parametrize("reply, reason", [
    ("I think the answer is good.", "no JSON object"),
    ("{'score': 1}", "no JSON object"),                      # Python dict, not JSON
    ('{"verdict": 1}', "no 'score' field"),
    ('{"score": NaN}', "not a number"),                      # json accepts NaN; we do not
    ('{"score": "maybe"}', "not a number"),
    ('{"score": 7}', "outside the rubric's scale"),
    ('Example: {"score": 0}. My verdict: {"score": 1}', "conflicting verdicts"),
    ("", "no JSON object"),
])
def test_unparsable_replies_say_why(reply, reason):
    verdict = parse_verdict(reply)
    assert verdict.outcome == "unparsable" and verdict.value is None
    assert reason in verdict.reason


def test_judge_metric_renders_rubric_and_counts_unparsable_separately():
    judge = ScriptedJudge('{"score": 1}', "```json\n{\"score\": 0}\n```", "no idea")
    metric = get_metric("llm_judge", judge=judge, rubric=RUBRIC, name="correctness",
                        rubric_ref="judge-correctness@1")
    cases = [MetricCase(answers=["Paris"], question="Capital of France?")] * 3
    answers = ["Paris", "Lyon", "Paris"]
    results = [metric.evaluate(a, c) for a, c in zip(answers, cases, strict=True)]
    sent = judge.calls[0][1]["content"]
    assert "Capital of France?" in sent and "Reference: Paris" in sent and "Answer: Paris" in sent
    assert '{"score": 0 or 1' in judge.calls[0][0]["content"]   # JSON braces left alone
    assert [r.outcome for r in results] == ["ok", "ok", "unparsable"]
    assert results[0].detail["rubric"] == "judge-correctness@1"
    assert results[2].detail["raw"] == ["no idea"]
    summary = aggregate("correctness", results)
    assert (summary.n_ok, summary.n_unparsable, summary.mean) == (2, 1, 0.5)


def test_judge_needs_the_context_its_rubric_names():
    rubric = [{"role": "user", "content": "Context: {context}\nAnswer: {answer}"}]
    metric = get_metric("llm_judge", judge=ScriptedJudge(), rubric=rubric)
    result = metric.evaluate("Paris", MetricCase(answers=["Paris"]))
    assert result.outcome == "error" and "context" in result.detail["reason"]
    with pytest.raises(UserError, match="answer"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=[{"role": "user", "content": "hi"}])


def test_callable_rubric_gets_only_the_variables_it_names():
    seen = []

    def render(variables):
        seen.append(variables)
        return [{"role": "user", "content": variables["answer"]}]

    metric = get_metric("llm_judge", judge=ScriptedJudge('{"score": 1}'), rubric=render,
                        variables=["question", "answer"])
    assert metric.evaluate("Paris", MetricCase(answers=["Paris"], question="Q?")).value == 1.0
    assert seen == [{"question": "Q?", "answer": "Paris"}]


def test_repeats_and_self_agreement():
    judge = ScriptedJudge(*['{"score": 1}'] * 3, '{"score": 1}', '{"score": 0}', '{"score": 1}',
                          '{"score": 0}', '{"score": 0}', "garbage")
    metric = get_metric("llm_judge", judge=judge, rubric=RUBRIC, repeats=3)
    c = MetricCase(answers=["Paris"], question="Q?")
    results = [metric.evaluate("Paris", c) for _ in range(3)]
    assert [r.value for r in results] == [1.0, pytest.approx(2 / 3), 0.0]
    assert results[2].detail["n_unparsable"] == 1
    agreement = self_agreement(results)
    # cases 1 and 3 agree ([1,1,1], [0,0]); case 2 does not -> 2/3
    assert agreement.agreement == pytest.approx(2 / 3)
    assert (agreement.n_verdicts, agreement.n_unparsable, agreement.n_cases) == (9, 1, 3)
    # Fleiss over the fully parsed cases [[1,1,1],[1,0,1]]: P_bar = (1 + 1/3)/2 = 2/3,
    # P_e = (5/6)^2 + (1/6)^2 = 26/36, kappa = (2/3 - 26/36) / (1 - 26/36) = -0.2
    assert agreement.kappa == pytest.approx(-0.2)


def test_fleiss_kappa_textbook_example():
    # The 10 subjects x 14 raters x 5 categories example used in most references: kappa 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    ratings = [[cat for cat, count in enumerate(row) for _ in range(count)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.20993, abs=1e-5)
    assert fleiss_kappa([[1, 1], [1, 1]]) is None   # all in one category: undefined


def test_judge_option_errors():
    with pytest.raises(UserError, match="repeats"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=RUBRIC, repeats=0)
    with pytest.raises(UserError, match="scale"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=RUBRIC, scale=(5, 1))
    with pytest.raises(UserError, match="scale"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=RUBRIC, scale=[1, 3, 5])
    with pytest.raises(UserError, match="scale"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=RUBRIC, scale="1-5")
    with pytest.raises(UserError, match="judge variable"):
        get_metric("llm_judge", judge=ScriptedJudge(), rubric=RUBRIC, variables=["answr"])


@pytest.mark.parametrize("rubric", ["judge-correctness@production",
                                    "judge-faithfulness@production"])
def test_the_rubric_judges_ask_for_their_schema(rubric, fault_server):
    """The shipped rubric prompts declare their reply, so a backend that can constrain decoding
    is sent the schema (here an OpenAI-compatible server) and the verdict parses."""
    from promptkit.evaluation.config import MetricConfig
    from promptkit.evaluation.scoring import build_metrics

    server = fault_server(("ok", '{"score": 4, "verdict": "pass", "reason": "supported"}'))
    metric, = build_metrics([MetricConfig(name="llm_judge", options={
        "judge": f"openai:judge@{server.url}", "rubric": rubric})])
    result = metric.evaluate("BERT masks 15% of tokens [1].", MetricCase(
        question="What share of tokens does BERT mask?", answers=["15%"],
        contexts=["[1] BERT masks 15% of the input tokens."]))
    assert result.value == 0.75 and result.detail["rubric"].startswith(rubric.split("@")[0] + "@2#")
    sent = server.bodies[-1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["required"] == ["score", "verdict", "reason"]


@pytest.mark.parametrize("rubric", ["judge-correctness@production",
                                    "judge-faithfulness@production"])
def test_the_llamacpp_grammar_holds_the_score_to_the_scale(rubric):
    """llama.cpp's converter ignores minimum/maximum; the schema's enum is what holds it."""
    import json

    llama_grammar = pytest.importorskip(
        "llama_cpp.llama_grammar", reason="the grammar converter comes with the llamacpp extra")
    from promptkit.prompts import load_prompt

    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(load_prompt(rubric).output_schema))
    assert 'score ::= "1" | "2" | "3" | "4" | "5"' in gbnf
    assert 'verdict ::= "\\"pass\\"" | "\\"fail\\""' in gbnf
