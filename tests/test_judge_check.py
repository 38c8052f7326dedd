"""`promptkit eval judge-check` and the project's labelled faithfulness set."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from promptkit.cli import run
from promptkit.errors import ConfigError
from promptkit.evaluation.judge_check import (
    check_judge,
    cohen_kappa,
    load_labelled,
    markdown,
    write,
)
from promptkit.evaluation.judges import Judge
from promptkit.testing.fakes import FakeChatModel
from tests.judge_fakes import fake_judge

ROOT = Path(__file__).resolve().parent.parent
PROJECT_SET = ROOT / "eval" / "datasets" / "judge-faithfulness.jsonl"
PASSAGE = "BERT was released by Google in 2018. It has 110 million parameters."
ITEMS = [
    {"id": "a", "question": "When?", "passages": [PASSAGE], "language": "en",
     "answer": "BERT was released by Google in 2018.", "label": "faithful", "edit": "none"},
    {"id": "b", "question": "When?", "passages": [PASSAGE], "language": "en",
     "answer": "BERT was released by Google in 2019.", "label": "unfaithful",
     "edit": "swapped_number"},
    {"id": "c", "question": "¿Cuándo?", "passages": [PASSAGE], "language": "es",
     "answer": "BERT was released by Google in 2018. It won a prize.", "label": "unfaithful",
     "edit": "added_unsupported"},
    {"id": "d", "question": "¿Cuándo?", "passages": [PASSAGE], "language": "es",
     "answer": "It has 110 million parameters.", "label": "faithful", "edit": "none"},
]


def labelled(tmp_path, items=ITEMS) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def test_cohen_kappa():
    pairs = [("f", "f"), ("f", "u"), ("u", "u"), ("u", "u")]
    assert cohen_kappa(pairs) == pytest.approx(0.5)
    assert cohen_kappa([("f", "f"), ("u", "u")]) == 1.0
    assert cohen_kappa([("f", "f"), ("f", "f")]) is None   # chance agreement is total
    assert cohen_kappa([]) is None


def test_bad_labelled_lines_are_listed(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x"}\nnot json\n' + json.dumps({**ITEMS[0], "label": "maybe"})
                    + "\n" + json.dumps({**ITEMS[0], "extra": 1}) + "\n")
    with pytest.raises(ConfigError) as err:
        load_labelled(path)
    text = str(err.value)
    assert "4 bad line(s)" in text and "line 2: invalid JSON" in text
    assert "label must be faithful or unfaithful" in text and "unknown field(s): extra" in text


def test_check_measures_accuracy_kappa_and_groups(tmp_path):
    check = check_judge(load_labelled(labelled(tmp_path)), fake_judge(), repeats=2)
    o = check.overall
    assert (o["items"], o["verdicts"], o["accuracy"], o["kappa"]) == (4, 8, 1.0, 1.0)
    assert o["unparsable"] == 0 and o["self_agreement"]["all_agree"] == 1.0
    assert set(check.by_language) == {"en", "es"} and check.by_edit["none"]["items"] == 2
    assert check.judge["constrained"] and check.settings["repeats"] == 2
    assert check.rows[1]["claims"][0][0]["verdict"] == "contradicted"
    report = markdown(check)
    assert "| all | 4 | 1.000 | 1.000 | 1.000 | 0 (0.0%) | 1.000 |" in report
    assert "| language: es |" in report and "| edit: swapped_number |" in report
    out = write(check, tmp_path / "out")
    assert json.loads((out / "summary.json").read_text())["overall"]["accuracy"] == 1.0
    assert len((out / "verdicts.jsonl").read_text().splitlines()) == 4


def test_unparsable_verdicts_count_as_wrong_and_are_reported(tmp_path):
    judge = Judge(FakeChatModel(default="all good"))   # never JSON
    check = check_judge(load_labelled(labelled(tmp_path)), judge, claims="sentences")
    o = check.overall
    assert o["unparsable"] == 4 and o["unparsable_rate"] == 1.0
    assert o["accuracy"] == 0.0 and o["accuracy_parsed"] is None
    assert o["confusion"] == {"faithful -> unparsable": 2, "unfaithful -> unparsable": 2}
    assert not check.judge["constrained"]


def test_cli_writes_the_report(tmp_path, capsys):
    # A judge that calls everything supported, always quoting the first sentence: the check
    # catches the swapped year (b); the parameter count (d) is in the sentence next to the
    # quote, which counts as evidence too.
    reply = json.dumps({"verdicts": [{"claim": 1, "quote": "BERT was released by Google in "
                                      "2018.", "verdict": "supported"}]})
    one_sentence = [i for i in ITEMS if i["id"] != "c"]
    code = run(["eval", "judge-check", str(labelled(tmp_path, one_sentence)),
                "--judge", f"fake:{reply}", "--claims", "sentences", "--out",
                str(tmp_path / "out"), "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads(out)
    assert summary["overall"]["accuracy"] == 1.0
    rows = [json.loads(line) for line in (tmp_path / "out" / "verdicts.jsonl").open()]
    assert [r["predictions"][0] for r in rows] == ["faithful", "unfaithful", "faithful"]
    assert [r["judge_alone"][0] for r in rows] == ["faithful"] * 3
    assert (summary["overall"]["accuracy_judge_alone"], summary["overall"]["changed_by_checks"]) \
        == (pytest.approx(2 / 3), 1)
    assert "| judge alone |" in (tmp_path / "out" / "report.md").read_text()
    assert summary["settings"]["constrain"] and not summary["judge"]["constrained"]
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Faithfulness judge check")


def test_cli_refuses_a_missing_file(tmp_path, capsys):
    assert run(["eval", "judge-check", str(tmp_path / "nope.jsonl")]) == 2
    assert "labelled set not found" in capsys.readouterr().err


# ---------------------------------------------------------------- the project's labelled set

def test_project_set_is_big_balanced_and_bilingual():
    items = load_labelled(PROJECT_SET)
    assert len(items) >= 150
    by = Counter((i.language, i.label) for i in items)
    assert by[("en", "faithful")] == by[("en", "unfaithful")] >= 35
    assert by[("es", "faithful")] == by[("es", "unfaithful")] >= 35
    edits = Counter(i.edit for i in items if i.label == "unfaithful")
    assert set(edits) == {"swapped_number", "swapped_entity", "negation", "added_unsupported"}
    assert min(edits.values()) >= 15
    for item in items:
        assert item.answer.strip() and item.passages[0].strip()
        if item.edit == "none":   # the verbatim faithful answer is quoted from the passage
            assert item.answer in item.passages[0]


def test_project_set_is_rebuilt_identically_by_its_script():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_judge_set.py"),
                           "--check"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
