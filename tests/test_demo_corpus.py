"""The demo corpus and its QA set stay consistent (gold documents exist and contain the answers)."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import PROJECT_ROOT


def _checker():
    path = PROJECT_ROOT / "corpora" / "check_demo.py"
    spec = importlib.util.spec_from_file_location("check_demo", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file loads
    spec.loader.exec_module(module)
    return module


def test_demo_corpus_and_qa_set_pass_their_checks():
    problems, summary = _checker().check()
    assert problems == []
    assert summary["docs"]["en"] >= 15 and summary["docs"]["es"] >= 15
    assert sum(summary["cases"].values()) >= 40


def test_checker_catches_a_case_whose_answer_is_not_in_its_gold_document():
    checker = _checker()
    docs = checker.load_docs([])
    case = {"id": "x-1", "question": "q?", "answers": ["zzzz-not-there"],
            "gold_docs": [next(iter(docs))], "language": "en",
            "metadata": {"topic": "t", "difficulty": "easy", "cross_lingual": False}}
    assert checker.case_problem(case, docs) is not None
