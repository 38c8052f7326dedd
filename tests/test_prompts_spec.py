"""PromptSpec: strict rendering, template syntax, hashing, LangChain output, example selection."""

from __future__ import annotations

import random

import numpy as np
import pytest

from promptkit.errors import TemplateVariableError, UserError
from promptkit.llm.base import GenParams
from promptkit.prompts import PromptSpec
from promptkit.prompts.spec import content_hash
from promptkit.prompts.template import template_variables
from promptkit.testing.fakes import HashEmbedder


def make(**fields) -> PromptSpec:
    data = {"name": "t", "version": 1, "kind": "zero-shot", "template": "Q: {question}"}
    data.update(fields)
    return PromptSpec.model_validate(data)


def few_shot(n: int = 3, **selection) -> PromptSpec:
    examples = [{"vars": {"question": f"q{i}"}, "answer": f"a{i}"} for i in range(n)]
    return make(kind="few-shot", examples=examples, example_selection=selection)


# ---- rendering -----------------------------------------------------------------------------

def test_zero_shot_renders_system_language_and_user():
    spec = make(system="Use the passages.", language="Reply in {lang}.",
                template="Context:\n{context}\n\nQuestion: {question}")
    messages = spec.render(question="¿Qué es BERT?", context="[1] (a.txt) BERT es...", lang="es")
    assert messages == [
        {"role": "system", "content": "Use the passages.\n\nReply in es."},
        {"role": "user", "content": "Context:\n[1] (a.txt) BERT es...\n\nQuestion: ¿Qué es BERT?"},
    ]


def test_no_system_text_means_no_system_message():
    assert make().render(question="hi") == [{"role": "user", "content": "Q: hi"}]


def test_few_shot_renders_example_turns_before_the_question():
    messages = few_shot(2, method="fixed").render(question="real")
    assert messages == [
        {"role": "user", "content": "Q: q0"}, {"role": "assistant", "content": "a0"},
        {"role": "user", "content": "Q: q1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "Q: real"},
    ]


def test_role_persona_variable_goes_into_the_system_message():
    spec = make(kind="role", system="You are talking to a {role}.")
    assert spec.render(role="child", question="why?")[0] == {
        "role": "system", "content": "You are talking to a child."}
    assert spec.variables == {"role", "question"}


def test_missing_variable_is_named():
    spec = make(template="{context} {question}")
    with pytest.raises(TemplateVariableError) as err:
        spec.render(question="q")
    assert err.value.missing == ["context"] and err.value.unexpected == []
    assert "cannot render 't@1': missing variable(s): context" in str(err.value)


def test_unexpected_variable_is_named():
    with pytest.raises(TemplateVariableError) as err:
        make().render(question="q", contxt="typo")
    assert err.value.unexpected == ["contxt"]
    assert "unexpected variable(s): contxt" in str(err.value)


def test_none_counts_as_missing():
    with pytest.raises(TemplateVariableError, match="missing variable"):
        make().render(question=None)


def test_literal_braces_and_values_with_braces():
    spec = make(template='Reply as {{"answer": ...}} to: {question}')
    assert spec.variables == {"question"}
    # A value that looks like a field is inserted as-is, never parsed again.
    assert spec.render(question="{context}")[-1]["content"] == \
        'Reply as {"answer": ...} to: {context}'


@pytest.mark.parametrize("text, reason", [
    ("{a.b}", "not a plain variable name"),
    ("{items[0]}", "not a plain variable name"),
    ("{}", "empty field"),
    ("{x!r}", "conversion or format spec"),
    ("{x:>5}", "conversion or format spec"),
    ("a } b", "bad braces"),
    ("a { b", "bad braces"),
])
def test_template_syntax_outside_plain_fields_is_rejected(text, reason):
    with pytest.raises(ValueError, match=reason):
        template_variables(text)


def test_numbers_are_rendered_as_text():
    assert make().render(question=3)[-1]["content"] == "Q: 3"


# ---- identity ------------------------------------------------------------------------------

def test_ref_variables_and_gen_params():
    spec = make(version=4, params={"temperature": 0.2, "max_tokens": 64, "stop": ["\n\n"],
                                   "seed": 7})
    assert spec.ref == "t@4"
    assert spec.gen_params() == GenParams(temperature=0.2, max_tokens=64, stop=("\n\n",),
                                          seed=7, top_p=1.0)


def test_content_hash_ignores_key_order_but_not_content():
    a = {"name": "t", "version": 1, "template": "x"}
    b = {"template": "x", "version": 1, "name": "t"}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "template": "y"})
    assert content_hash(a).startswith("sha256:") and len(content_hash(a)) == 7 + 64


def test_hash_is_stable_for_equal_specs_and_ignores_labels():
    assert make().hash == make().hash
    assert make().hash != make(description="other").hash
    assert make(labels=["production"]).hash == make().hash


# ---- LangChain -----------------------------------------------------------------------------

def _as_dicts(lc_messages) -> list[dict]:
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": m.content} for m in lc_messages]


@pytest.mark.parametrize("spec, values", [
    (make(system="Cite like [1]. Output {{json}}.", language="Reply in {lang}.",
          template="C: {context}\nQ: {question}"),
     {"question": "q?", "context": "[1] (s) {not a var}", "lang": "English"}),
    (make(kind="role", system="You are a {role}."), {"role": "teacher", "question": "why?"}),
])
def test_langchain_template_renders_the_same_messages(spec, values):
    template = spec.to_langchain()
    assert set(template.input_variables) == spec.variables
    assert _as_dicts(template.format_messages(**values)) == spec.render(**values)


def test_langchain_few_shot_examples_with_braces_stay_literal():
    spec = make(kind="few-shot", template="Q: {question}",
                examples=[{"vars": {"question": "what is {x}?"}, "answer": 'use {"k": 1}'}])
    lc = spec.to_langchain()
    assert lc.input_variables == ["question"]
    assert _as_dicts(lc.format_messages(question="q")) == spec.render(question="q")


# ---- few-shot selection --------------------------------------------------------------------

def test_fixed_selection_takes_the_first_k_and_n_examples_overrides():
    spec = few_shot(5, method="fixed", k=2)
    assert [e.answer for e in spec.select_examples()] == ["a0", "a1"]
    assert [e.answer for e in spec.select_examples(n_examples=4)] == ["a0", "a1", "a2", "a3"]
    assert spec.select_examples(n_examples=0) == []
    with pytest.raises(UserError, match="n_examples must be 0 or more"):
        spec.select_examples(n_examples=-1)


def test_random_selection_is_seeded_and_reproducible():
    spec = few_shot(8, method="random", k=3, seed=11)
    picked = [e.answer for e in spec.select_examples()]
    assert picked == [e.answer for e in spec.select_examples()]
    expected = random.Random(11).sample([f"a{i}" for i in range(8)], 3)
    assert picked == expected
    # The render-time seed overrides the file's seed.
    by_seed = {tuple(e.answer for e in spec.select_examples(seed=s)) for s in range(10)}
    assert len(by_seed) > 1
    assert spec.render(question="x", seed=5) == spec.render(question="x", seed=5)


def semantic_spec(k: int) -> PromptSpec:
    examples = [
        {"vars": {"question": "how do cats purr", "context": "c1"}, "answer": "cats"},
        {"vars": {"question": "which chroma collection stores my embeddings",
                  "context": "c2"}, "answer": "chroma"},
        {"vars": {"question": "best pizza dough recipe", "context": "c3"}, "answer": "pizza"},
        {"vars": {"question": "embeddings of a chroma query", "context": "c4"},
         "answer": "chroma-query"},
    ]
    return make(kind="few-shot", template="{context} {question}", examples=examples,
                example_selection={"method": "semantic", "k": k, "key": "question"})


def test_semantic_selection_picks_nearest_and_puts_the_closest_last():
    spec = semantic_spec(k=2)
    emb = HashEmbedder()
    chosen = spec.select_examples({"question": "chroma collection embeddings"}, embedder=emb)
    assert [e.answer for e in chosen] == ["chroma-query", "chroma"]
    messages = spec.render(question="chroma collection embeddings", context="ctx", embedder=emb)
    assert messages[-2] == {"role": "assistant", "content": "chroma"}
    # example_query replaces the question as the thing compared.
    assert [e.answer for e in spec.select_examples(example_query="pizza recipe",
                                                  embedder=emb, n_examples=1)] == ["pizza"]


def test_semantic_selection_without_embedder_says_what_to_pass():
    with pytest.raises(UserError, match="needs an embedder") as err:
        semantic_spec(k=1).render(question="q", context="c")
    assert "embedder=" in err.value.hint


def test_semantic_langchain_needs_the_query_up_front():
    with pytest.raises(UserError, match="example_query"):
        semantic_spec(k=1).to_langchain(embedder=HashEmbedder())
    lc = semantic_spec(k=1).to_langchain(embedder=HashEmbedder(), example_query="pizza")
    assert lc.format_messages(question="q", context="c")[1].content == "pizza"


def test_hash_embedder_is_deterministic_and_normalised():
    emb = HashEmbedder(dim=64)
    docs = emb.embed_documents(["the cat sat", "the cat sat", ""])
    assert docs.shape == (3, 64) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs[:2], axis=1), 1.0)
    assert np.array_equal(docs[0], docs[1]) and not docs[2].any()
    assert np.array_equal(emb.embed_query("the cat sat"), docs[0])
    assert emb.count_tokens("the cat, sat!") == 3
