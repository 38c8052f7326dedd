"""Experiments on a small synthetic multi-document QA set, answered by fakes from promptkit.testing.

Each test checks what a kind builds (where the gold passage sits, which passages a k uses, what a
persona prompt says) and what its analysis concludes from answers we control.
"""

from __future__ import annotations

import json
import re

import pytest

from promptkit.errors import BackendError, ConfigError, UserError
from promptkit.experiments import experiment_from_dict, load_experiment, run_experiment
from promptkit.experiments.analysis import holm
from promptkit.experiments.binding import bind, bind_text
from promptkit.experiments.runner import reanalyse
from promptkit.testing.fakes import FakeChatModel, FunctionChatModel

TOPICS = ["Danube", "Sahara", "Everest", "Amazon", "Kyoto", "Nile", "Andes", "Baikal"]


def _dataset(path, n_cases=6, n_distractors=6):
    """JSONL cases: one gold passage naming the answer, distractors that never do."""
    lines = []
    for i in range(n_cases):
        answer = f"answer{i}x"
        ctxs = [{"id": f"c{i}-gold", "title": f"Gold {i}",
                 "text": f"The fact about topic {i}, as the old records of the archive say, "
                         f"is {answer} and nothing else."}]
        for j in range(n_distractors):
            ctxs.append({"id": f"c{i}-d{j}", "title": TOPICS[j % len(TOPICS)],
                         "text": f"{TOPICS[j % len(TOPICS)]} passage {j} about topic {i} "
                                 f"without the fact."})
        lines.append(json.dumps({"id": f"case{i}", "question": f"What is the fact about topic {i}?",
                                 "answers": [answer], "gold_ids": [f"c{i}-gold"],
                                 "contexts": ctxs}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _passages(messages):
    """Passage texts of the last user message, in prompt order (on one line each)."""
    user = messages[-1]["content"]
    parts = re.split(r"(?:^|\n)\[\d+\] (?:\([^)]*\) )?", user.split("\n\nQuestion:")[0])
    return [" ".join(p.split()) for p in parts[1:]]


def first_passage_reader(messages, params):
    """Answers with the first passage only: right exactly when the gold passage comes first."""
    found = _passages(messages)
    return found[0] if found else "I don't know"


@pytest.fixture
def data(tmp_path):
    return _dataset(tmp_path / "qa.jsonl")


def _position_cfg(data, **position):
    return {"name": "pos", "kind": "position", "model": "fake:echo", "params": {"max_tokens": 64},
            "data": {"path": str(data)}, "position": {"n_docs": 4, **position}}


# ---------------------------------------------------------------- position

def test_position_puts_the_gold_passage_at_each_position(data, tmp_path):
    model = FunctionChatModel(first_passage_reader)
    result = run_experiment(_position_cfg(data), tmp_path / "run", model=model)

    for p in range(4):
        records = _records(result.run_dir, f"gold-at-{p}")
        assert len(records) == 6
        for rec in records:
            packed = rec["contexts"]
            assert len(packed) == 4
            gold_at = [c["position"] for c in packed if c["id"].endswith("-gold")]
            assert gold_at == [p + 1]
            # Distractors never carry the answer.
            answer = rec["answers"][0]
            assert all(answer not in c["text"] for c in packed if not c["id"].endswith("-gold"))


def test_position_analysis_finds_the_first_position_best(data, tmp_path):
    model = FunctionChatModel(first_passage_reader)
    result = run_experiment(_position_cfg(data), tmp_path / "run", model=model)

    a = result.summary["analysis"]
    assert [r["mean"] for r in a["positions"]] == [1.0, 0.0, 0.0, 0.0]
    assert a["baselines"]["oracle"]["mean"] == 1.0
    assert a["baselines"]["closed-book"]["mean"] == 0.0
    # Position 2 loses all 6 cases against position 1: McNemar p = 2 / 2**6.
    second = a["vs_first"][0]
    assert second["losses"] == 6 and second["wins"] == 0
    assert second["p_value"] == pytest.approx(2 / 64)
    assert second["verdict"] == "worse"
    report = result.report_path.read_text()
    assert "| 1 | 1.000" in report and "closed-book" in report
    assert (result.run_dir / "figure.png").stat().st_size > 1000


def test_position_skips_cases_it_cannot_build(tmp_path):
    data = _dataset(tmp_path / "qa.jsonl", n_cases=3, n_distractors=2)
    with pytest.raises(UserError, match="fewer than 3 distractors"):
        run_experiment(_position_cfg(data), tmp_path / "run", model=FakeChatModel(default="x"))


def test_position_refuses_passages_that_overflow_the_window(data, tmp_path):
    model = FunctionChatModel(first_passage_reader, context_window=170)
    with pytest.raises(UserError, match="do not fit"):
        run_experiment(_position_cfg(data), tmp_path / "run", model=model)
    assert model.calls == []   # stopped before any generation
    assert not (tmp_path / "run").exists()   # and left no empty run folder


def test_passage_tokens_cut_passages_and_drop_cases_that_lose_the_answer(data, tmp_path):
    cfg = _position_cfg(data, closed_book=False, oracle=False)
    cfg["data"]["passage_tokens"] = 8   # the answer is the 14th token: cut away
    with pytest.raises(UserError, match="answer cut from the gold passage"):
        run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader))
    cfg["data"]["passage_tokens"] = 18
    result = run_experiment(cfg, tmp_path / "run2", model=FunctionChatModel(first_passage_reader))
    rec = json.loads((result.run_dir / "cells" / "gold-at-1" / "cases.jsonl").read_text()
                     .splitlines()[0])
    assert all(len(c["text"].split()) <= 18 for c in rec["contexts"])
    gold = next(c["text"] for c in rec["contexts"] if c["id"].endswith("-gold"))
    assert rec["answers"][0] in gold and not gold.endswith("nothing else.")   # cut, answer kept


def _dies_after(n: int):
    """A reader whose server goes away after `n` answers."""
    calls = {"n": 0}

    def reader(messages, params):
        calls["n"] += 1
        if calls["n"] > n:
            raise BackendError("server went away", backend="fake")
        return first_passage_reader(messages, params)

    return FunctionChatModel(reader)


def test_an_interrupted_experiment_resumes_without_repeating_cases(data, tmp_path):
    cfg = _position_cfg(data)
    with pytest.raises(BackendError) as err:
        run_experiment(cfg, tmp_path / "run", model=_dies_after(10))
    assert f"--run-dir {tmp_path / 'run'}" in err.value.hint   # the experiment's folder

    healthy = FunctionChatModel(first_passage_reader)
    result = run_experiment(cfg, tmp_path / "run", model=healthy)
    assert len(healthy.calls) == 6 * 6 - 10    # 4 positions + 2 baselines, 6 cases each
    for cell in result.summary["cells"]:
        ids = [json.loads(line)["id"] for line in
               (result.run_dir / "cells" / cell["label"] / "cases.jsonl").read_text().splitlines()]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 6
    assert result.summary["complete"]
    manifest = json.loads((result.run_dir / "experiment.json").read_text())
    assert len(manifest["invocations"]) == 2


def test_a_folder_of_other_settings_is_refused(data, tmp_path):
    run_experiment(_position_cfg(data, positions=[0, 3]), tmp_path / "run",
                   model=FunctionChatModel(first_passage_reader))
    with pytest.raises(ConfigError, match="different settings"):
        run_experiment(_position_cfg(data, positions=[0, 2]), tmp_path / "run",
                       model=FunctionChatModel(first_passage_reader))


# ---------------------------------------------------------------- config errors

@pytest.mark.parametrize("change, field", [
    ({"positon": {}}, "positon"),
    ({"needle": {"haystack": {"paths": ["x"]}, "context_lengths": [64],
                 "needles": [{"text": "a", "question": "b", "answers": ["c"]}]}}, "needle"),
    ({"params": {"max_token": 5}}, "params"),
    ({"position": {"n_docs": 4, "positions": [0, 9]}}, "position.positions"),
])
def test_config_mistakes_name_the_field(data, tmp_path, change, field):
    cfg = {**_position_cfg(data), **change}
    with pytest.raises(ConfigError) as err:
        cfg_obj = experiment_from_dict(cfg)
        run_experiment(cfg_obj, tmp_path / "run", model=FakeChatModel(default="x"))
    assert err.value.field == field


def test_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkind: position\ndata:\n  path: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_experiment(path)
    assert err.value.line is not None and str(path) in err.value.message


def test_a_kind_without_data_is_refused():
    with pytest.raises(ConfigError, match="needs a 'data:' block"):
        experiment_from_dict({"name": "x", "kind": "ordering"})


# ---------------------------------------------------------------- k-sweep and ordering

def _retrieval_cfg(data, kind, **block):
    key = {"k-sweep": "k_sweep", "ordering": "ordering"}[kind]
    return {"name": kind, "kind": kind, "model": "fake:echo", "params": {"max_tokens": 64},
            "data": {"path": str(data)},
            "retrieval": {"source": "pool", "embedder": "fake"}, key: block}


def _records(run_dir, label):
    return [json.loads(line) for line in
            (run_dir / "cells" / label / "cases.jsonl").read_text().splitlines()]


def test_k_sweep_asks_with_prefixes_of_one_ranking(data, tmp_path):
    result = run_experiment(_retrieval_cfg(data, "k-sweep", ks=[1, 2, 4]), tmp_path / "run",
                            model=FunctionChatModel(first_passage_reader))
    ranking = json.loads((result.run_dir / "retrieval.json").read_text())["cases"]
    for k in (1, 2, 4):
        for rec in _records(result.run_dir, f"k-{k}"):
            assert [c["id"] for c in rec["contexts"]] == [p["id"] for p in ranking[rec["id"]][:k]]
    rows = result.summary["analysis"]["rows"]
    recalls = [r["recall"]["mean"] for r in rows]
    assert recalls == sorted(recalls)            # recall@k never falls as k grows
    for r in rows:   # only the first passage is read: right exactly when the gold ranks first
        assert r["mean"] == pytest.approx(rows[0]["recall"]["mean"])
    assert [r["packed"] for r in rows] == [1, 2, 4]


def test_retrieval_is_reused_on_resume(data, tmp_path, monkeypatch):
    cfg = _retrieval_cfg(data, "k-sweep", ks=[1, 3])
    run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader))

    def no_second_ranking(*_a, **_k):
        raise AssertionError("ranked again instead of reading retrieval.json")

    monkeypatch.setattr("promptkit.experiments.retrieval.rank_pools", no_second_ranking)
    result = run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader))
    assert result.summary["complete"]


def test_ordering_arranges_the_same_passages(data, tmp_path):
    result = run_experiment(_retrieval_cfg(data, "ordering", k=4), tmp_path / "run",
                            model=FunctionChatModel(first_passage_reader))
    by_order = {o: {r["id"]: r for r in _records(result.run_dir, f"order-{o}")}
                for o in ("ranked", "reversed", "edges")}
    for case_id in by_order["ranked"]:
        ranks = {o: [c["rank"] for c in by_order[o][case_id]["contexts"]] for o in by_order}
        assert ranks == {"ranked": [1, 2, 3, 4], "reversed": [4, 3, 2, 1], "edges": [1, 3, 4, 2]}
    a = result.summary["analysis"]
    assert {c["cell"] for c in a["vs_baseline"]} == {"order-reversed", "order-edges"}
    # Reading only the first passage, "reversed" sees the weakest one: never better than ranked.
    reversed_row = next(r for r in a["rows"] if r["order"] == "reversed")
    ranked_row = next(r for r in a["rows"] if r["order"] == "ranked")
    assert reversed_row["mean"] <= ranked_row["mean"]


# ---------------------------------------------------------------- prompt kinds

def _prompt_kinds_cfg(data, **block):
    return {"name": "pk", "kind": "prompt-kinds", "model": "fake:echo",
            "params": {"max_tokens": 64}, "data": {"path": str(data)}, "prompt_kinds": block}


def test_prompt_kinds_cells_and_their_prompts(data, tmp_path):
    block = {"few_shot": {"n": [1, 3], "selection": ["fixed", "random", "semantic"],
                          "embedder": "fake"},
             "personas": {"roles": ["lawyer", "ship's cook"]}}
    model = FunctionChatModel(first_passage_reader)
    result = run_experiment(_prompt_kinds_cfg(data, **block), tmp_path / "run", model=model)
    labels = [c["label"] for c in result.summary["cells"]]
    assert labels[0] == "control" and len(labels) == 1 + 6 + 4
    assert "persona-speaker-ship-s-cook" in labels

    systems = {c.messages[0]["content"].splitlines()[0] for c in model.calls}
    assert {"You are a lawyer.", "You are talking to a lawyer.", "You are a ship's cook.",
            "You are talking to a ship's cook."} <= systems
    shots = {len([m for m in c.messages if m["role"] == "assistant"]) for c in model.calls}
    assert shots == {0, 1, 3}
    comparisons = result.summary["analysis"]["vs_control"]
    assert len(comparisons) == 10 and all("p_holm" in c for c in comparisons)


def test_random_examples_are_drawn_per_question_and_reproducibly():
    prompt = bind("grounded-fewshot@1", selection={"method": "random", "k": 3})

    def answers(question):
        messages = prompt.render(question=question, context="[1] x")
        return [m["content"] for m in messages if m["role"] == "assistant"]

    draws = {tuple(answers(f"question {i}")) for i in range(8)}
    assert len(draws) > 1                                  # not one fixed sample
    assert answers("question 1") == answers("question 1")  # but seeded


def test_semantic_examples_are_the_nearest_questions():
    from promptkit.testing.fakes import HashEmbedder

    prompt = bind("grounded-fewshot@1", selection={"method": "semantic", "k": 1},
                  embedder=HashEmbedder())
    messages = prompt.render(question="who discovered penicillin first", context="[1] x")
    assert messages[2]["content"].startswith("Alexander Fleming")


def test_bind_text_fills_only_the_named_variables():
    text = "You are a {role}. Use {{braces}} and {context}."
    expected = "You are a judge {{x}}. Use {{braces}} and {context}."
    assert bind_text(text, {"role": "judge {x}"}) == expected
    with pytest.raises(UserError, match="no variable"):
        bind("persona-none@1", variables={"role": "x"})


def test_holm_adjusts_step_down():
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])


# ---------------------------------------------------------------- needle and kv

def _needle_cfg(tmp_path, **needle):
    hay = tmp_path / "hay.txt"
    hay.write_text(" ".join(f"Filler sentence number {i} talks about weather." for i in range(300)))
    block = {"haystack": {"paths": [str(hay)]},
             "needles": [{"text": "The vault code is 7-alpha-9.",
                          "question": "What is the vault code?", "answers": ["7-alpha-9"]},
                         {"text": "Mara's boat is called Heron.",
                          "question": "What is Mara's boat called?", "answers": ["Heron"]}],
             "context_lengths": [60, 200], "depths": [0.0, 0.5, 1.0], **needle}
    return {"name": "nd", "kind": "needle", "model": "fake:echo", "needle": block}


def test_needle_sits_at_the_asked_depth_and_length(tmp_path):
    model = FunctionChatModel(lambda m, p: "no idea")
    result = run_experiment(_needle_cfg(tmp_path), tmp_path / "run", model=model)
    assert len(result.summary["cells"]) == 6
    for cell in result.summary["cells"]:
        length, depth = cell["meta"]["length"], cell["meta"]["depth"]
        for rec in _records(result.run_dir, cell["label"]):
            text = rec["contexts"][0]["text"]
            vault = rec["question"].startswith("What is the vault")
            needle = "The vault code" if vault else "Mara's boat"
            assert text.count("vault code") + text.count("Mara's boat") == 1   # single mode
            tokens = model.count_tokens(text)
            assert abs(tokens - length) <= 0.1 * length
            assert abs(text.index(needle) / len(text) - depth) < 0.2
    for g in result.summary["analysis"]["grid"]:   # the report's measured depth agrees
        assert abs(g["actual_depth"] - g["depth"]) < 0.2


def test_needle_all_mode_hides_every_needle(tmp_path):
    result = run_experiment(_needle_cfg(tmp_path, mode="all", context_lengths=[120]),
                            tmp_path / "run", model=FakeChatModel(default="Heron"))
    for cell in result.summary["cells"]:
        for rec in _records(result.run_dir, cell["label"]):
            text = rec["contexts"][0]["text"]
            assert "vault code" in text and "Mara's boat" in text
    grid = result.summary["analysis"]["grid"]
    assert all(g["mean"] == 0.5 for g in grid)   # "Heron" answers one of the two questions


def test_needle_lengths_beyond_the_window_are_refused(tmp_path):
    cfg = _needle_cfg(tmp_path, context_lengths=[60, 5000])
    with pytest.raises(ConfigError) as err:
        run_experiment(cfg, tmp_path / "run", model=FakeChatModel(default="x"))
    assert err.value.field == "needle.context_lengths"


def test_kv_moves_the_asked_key(tmp_path):
    import gzip

    path = tmp_path / "kv.jsonl.gz"
    rows = []
    for i in range(3):
        pairs = [[f"k{i}-{j}", f"v{i}-{j}"] for j in range(8)]
        rows.append(json.dumps({"ordered_kv_records": pairs, "key": f"k{i}-5", "value": f"v{i}-5"}))
    path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    cfg = {"name": "kv", "kind": "kv", "model": "fake:echo", "prompt": "kv-lookup@1",
           "data": {"path": str(path)}, "kv": {"n_pairs": 4, "positions": [0, 3]}}
    result = run_experiment(cfg, tmp_path / "run", model=FakeChatModel(default="?"))
    for p in (0, 3):
        for rec in _records(result.run_dir, f"key-at-{p}"):
            pairs = json.loads(rec["contexts"][0]["text"])
            assert list(pairs).index(json.loads(rec["question"])) == p and len(pairs) == 4


# ---------------------------------------------------------------- built from a corpus

def test_position_from_a_chroma_collection(tmp_path):
    """Gold chunk and distractors retrieved from a real (embedded) Chroma collection."""
    from promptkit.store import open_collection

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "festival.md").write_text("# Festival\n\nThe lantern festival of Brill is held in "
                                        "the harbour town of Quenton every spring.\n")
    for i, topic in enumerate(["harbour", "spring", "lantern", "town", "festival music"]):
        (corpus / f"other{i}.md").write_text(f"# Note {i}\n\nA note about the {topic} of Brill "
                                             f"and its lantern festival, written in spring.\n")
    open_collection("exp-test", embedder="fake").ingest([corpus])
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "q1",
                                "question": "Where is the lantern festival of Brill held?",
                                "answers": ["Quenton"], "gold_docs": ["festival.md"]}) + "\n")
    cfg = {"name": "pos-coll", "kind": "position", "model": "fake:echo",
           "params": {"max_tokens": 64}, "data": {"path": str(data)},
           "retrieval": {"source": "collection", "collection": "exp-test"},
           "position": {"n_docs": 3}}
    result = run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader))

    for p in range(3):
        (rec,) = _records(result.run_dir, f"gold-at-{p}")
        texts = [c["text"] for c in rec["contexts"]]
        assert len(texts) == 3 and "Quenton" in texts[p]
        assert sum("Quenton" in t for t in texts) == 1
    assert [r["mean"] for r in result.summary["analysis"]["positions"]] == [1.0, 0.0, 0.0]


def test_a_changed_limit_extends_or_narrows_the_same_folder(data, tmp_path):
    cfg = _position_cfg(data, positions=[0, 1], closed_book=False, oracle=False)
    run_experiment(cfg, tmp_path / "run", model=FunctionChatModel(first_passage_reader), limit=4)
    more = FunctionChatModel(first_passage_reader)
    result = run_experiment(cfg, tmp_path / "run", model=more, limit=6)
    assert len(more.calls) == 2 * 2                     # only the two new cases per cell
    assert [r["n"] for r in result.summary["analysis"]["positions"]] == [6, 6]
    fewer = run_experiment(cfg, tmp_path / "run", model=more, limit=3)
    assert len(more.calls) == 4                         # nothing new to ask
    assert [r["n"] for r in fewer.summary["analysis"]["positions"]] == [3, 3]
    assert fewer.summary["timing"]["records"] == 6


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_cells_sharing_prefixes_run_question_by_question_with_the_same_answers(data, tmp_path):
    """Prefix reuse orders the calls, never the answers: gold last to first, then the oracle,
    question by question; closed-book (another prompt) after; every record as cell by cell."""
    interleaved = _keeps_prefix(FunctionChatModel(first_passage_reader))
    a = run_experiment(_position_cfg(data), tmp_path / "a", model=interleaved)
    by_cell = _keeps_prefix(FunctionChatModel(first_passage_reader))
    b = run_experiment({**_position_cfg(data), "reuse_prefix": False}, tmp_path / "b",
                       model=by_cell)

    def gold_at(messages) -> str:
        found = _passages(messages)
        gold = [i for i, p in enumerate(found) if "The fact about" in p]
        return "closed-book" if not found else "oracle" if len(found) == 1 else \
            f"gold-at-{gold[0]}"

    order = [gold_at(c.messages) for c in interleaved.calls]
    # Per question: the cells sharing prefixes in their order, then the question's other cell.
    first_question = ["gold-at-3", "gold-at-2", "gold-at-1", "gold-at-0", "oracle",
                      "closed-book"]
    assert order[:6] == first_question and order[6:12] == first_question
    assert [gold_at(c.messages) for c in by_cell.calls][:6] == ["gold-at-0"] * 6
    shared = [_shared_prefix(x.user_text, y.user_text) for x, y in
              zip(interleaved.calls, interleaved.calls[1:], strict=False)]
    shared_by_cell = [_shared_prefix(x.user_text, y.user_text) for x, y in
                      zip(by_cell.calls, by_cell.calls[1:], strict=False)]
    assert sum(shared) > 1.5 * sum(shared_by_cell)
    for cell in a.summary["cells"]:
        recs_a = {r["id"]: r["answer"] for r in _records(a.run_dir, cell["label"])}
        recs_b = {r["id"]: r["answer"] for r in _records(b.run_dir, cell["label"])}
        assert recs_a == recs_b and len(recs_a) == 6
    assert a.summary["analysis"] == b.summary["analysis"]
    # The setting does not fork the run: the folder resumes under either value.
    again = run_experiment({**_position_cfg(data), "reuse_prefix": False}, tmp_path / "a",
                           model=FunctionChatModel(first_passage_reader))
    assert again.summary["complete"]


def _keeps_prefix(model):
    """A fake that says it keeps the previous call's prefix, as llama.cpp with reuse does."""
    model.reuse_prefix = True
    return model


def test_an_interleaved_experiment_resumes_mid_question(data, tmp_path):
    with pytest.raises(BackendError):
        run_experiment(_position_cfg(data), tmp_path / "run", model=_keeps_prefix(_dies_after(7)))
    # Unfinished: no cell claims to be complete, and the report says the run is not finished.
    partial = reanalyse(tmp_path / "run")
    assert not partial.summary["complete"]
    assert not any(c["run_complete"] for c in partial.summary["cells"])
    assert "NOT FINISHED" in partial.report_path.read_text()
    first = json.loads((tmp_path / "run" / "cells" / "gold-at-3" / "manifest.json").read_text())
    assert first["dataset"]["cases"] == 6 and first["status"] in ("partial", "failed")
    healthy = _keeps_prefix(FunctionChatModel(first_passage_reader))
    result = run_experiment(_position_cfg(data), tmp_path / "run", model=healthy)
    assert len(healthy.calls) == 6 * 6 - 7
    assert result.summary["complete"]
    assert [r["mean"] for r in result.summary["analysis"]["positions"]] == [1.0, 0.0, 0.0, 0.0]


# ---------------------------------------------------------------- context length

def _length_cfg(data, **settings):
    return {"name": "len", "kind": "context-length", "model": "fake:echo",
            "params": {"max_tokens": 64}, "data": {"path": str(data)},
            "context_length": {"n_docs": [3, 5, 7], **settings}}


def test_context_length_grows_the_same_distractors_around_the_gold(tmp_path):
    data = _dataset(tmp_path / "qa.jsonl", n_distractors=6)
    result = run_experiment(_length_cfg(data), tmp_path / "run",
                            model=FunctionChatModel(first_passage_reader))
    cells = {c["label"]: c for c in result.summary["cells"]}
    assert sorted(cells) == sorted(f"n-{n}-gold-{w}" for n in (3, 5, 7)
                                   for w in ("first", "middle", "last"))
    for n in (3, 5, 7):
        for where, at in (("first", 1), ("middle", (n - 1) // 2 + 1), ("last", n)):
            rec = _records(result.run_dir, f"n-{n}-gold-{where}")[0]
            ids = [c["id"] for c in rec["contexts"]]
            assert len(ids) == n and ids.index("c0-gold") + 1 == at
            # The distractors are the first n-1, in their given order, whatever the size.
            assert [i for i in ids if i != "c0-gold"] == [f"c0-d{j}" for j in range(n - 1)]
    a = result.summary["analysis"]
    # The reader answers from the first passage: right only with the gold first, so pooled
    # accuracy is 1/3 at every size and the effective length is the longest tried.
    assert [round(r["mean"], 3) for r in a["lengths"]] == [0.333] * 3
    assert a["effective"]["n_docs"] == 7 and a["effective"]["holds_throughout"]
    tokens = [r["prompt_tokens"] for r in a["lengths"]]
    assert tokens == sorted(tokens) and tokens[0] < tokens[-1]
    assert len(a["comparisons"]) == 6 and all("detectable" in c for c in a["comparisons"])
    report = result.report_path.read_text()
    assert "Effective length" in report and "detectable" in report


def test_context_length_effective_length_stops_where_accuracy_falls():
    from promptkit.experiments.context_length import effective_length

    lengths = [{"n_docs": 5, "mean": 0.80, "prompt_tokens": 800},
               {"n_docs": 10, "mean": 0.77, "prompt_tokens": 1500},
               {"n_docs": 20, "mean": 0.70, "prompt_tokens": 2900},
               {"n_docs": 30, "mean": 0.79, "prompt_tokens": 4200}]
    eff = effective_length(lengths, margin=0.05)
    assert eff["n_docs"] == 10 and not eff["holds_throughout"]   # 20 falls below 0.75
    assert effective_length(lengths, margin=0.2)["n_docs"] == 30


def test_context_length_needs_enough_distractors_for_the_largest_size(tmp_path):
    data = _dataset(tmp_path / "qa.jsonl", n_distractors=3)
    with pytest.raises(UserError, match="fewer than 6 distractors"):
        run_experiment(_length_cfg(data), tmp_path / "run", model=FakeChatModel(default="x"))


def test_fingerprints_of_existing_folders_do_not_change():
    """A folder started by an earlier release resumes: adding kinds or settings that do not
    change answers must leave the hash of an existing config as it was (values from the
    release before context-length and reuse_prefix existed)."""
    pos = {"name": "pos", "kind": "position", "model": "fake:echo", "params": {"max_tokens": 64},
           "data": {"path": "qa.jsonl"}, "position": {"n_docs": 4}}
    ks = {"name": "ks", "kind": "k-sweep", "model": "fake:echo",
          "data": {"path": "qa.jsonl", "limit": 5}, "k_sweep": {"ks": [1, 3]}}
    assert experiment_from_dict(pos).fingerprint() == "8cea177595276858"
    assert experiment_from_dict(ks).fingerprint() == "a4fc3c586e8e7a70"
    assert experiment_from_dict({**pos, "reuse_prefix": False}).fingerprint() == \
        "8cea177595276858"
    # A number stays as written: temperature 0 is not rewritten to 0.0.
    assert experiment_from_dict({**pos, "params": {"temperature": 0}}).fingerprint() == \
        "f492659b35acb102"


def test_models_without_prefix_reuse_run_cell_by_cell_and_keep_concurrency(data, tmp_path):
    """Question by question only pays for a model that keeps its prefix; a served model asked
    cell by cell answers `concurrency` cases at once."""
    import threading
    import time

    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(messages, params):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return first_passage_reader(messages, params)

    model = FunctionChatModel(slow)
    model.max_concurrency = 4
    run_experiment({**_position_cfg(data), "concurrency": 4}, tmp_path / "run", model=model)
    assert peak[0] > 1
    labels = [m.user_text.count("The fact about") for m in model.calls]
    assert len(labels) == 36


def test_ksweep_findings_compare_the_ends_of_the_sweep():
    from promptkit.experiments.ksweep import _findings

    def row(k, acc, rec, tokens):
        return {"k": k, "mean": acc, "recall": {"mean": rec}, "context_tokens": tokens}

    text = "\n".join(_findings([row(1, 0.2, 0.28, 133), row(3, 0.2, 0.45, 426),
                                row(8, 0.27, 0.70, 1159)]))
    assert "from 0.200 at k = 1 to 0.270 at k = 8." in text
    assert "the retriever gains +0.420, the reader +0.070" in text
    assert "not turned into answers" in text and "0.71 at k = 1, 0.39 at k = 8" in text
    peak = "\n".join(_findings([row(1, 0.2, 0.3, 1), row(2, 0.4, 0.5, 2), row(3, 0.3, 0.6, 3)]))
    assert "(highest, 0.400, at k = 2)" in peak
