"""`promptkit prompts ...` through the CLI boundary: output, exit codes, and import weight."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promptkit.cli import run
from promptkit.prompts.lock import read_lock

PROJECT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "chromadb", "llama_cpp", "langchain_openai",
         "langchain_chroma", "openai", "scipy", "matplotlib")


@pytest.fixture
def root(tmp_path) -> str:
    shutil.copytree(PROJECT / "prompts", tmp_path / "prompts")
    return str(tmp_path / "prompts")


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json(capsys, root):
    code, out, _ = cli(capsys, "prompts", "list", "--root", root, "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["rag-answer"]["versions"] == [1, 2, 3]
    assert rows["rag-answer"]["labels"] == {"production": 3}
    assert rows["rag-fewshot"]["kind"] == "few-shot"
    assert rows["rag-role"]["variables"] == ["context", "question"]


def test_list_shows_where_each_prompt_comes_from(capsys, tmp_path, monkeypatch):
    own = tmp_path / "prompts" / "faq-answer"
    own.mkdir(parents=True)
    (own / "v1.yaml").write_text("name: faq-answer\nversion: 1\nkind: zero-shot\n"
                                 "template: 'Q: {question}'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROMPTKIT_PROMPTS", raising=False)
    code, out, _ = cli(capsys, "prompts", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["faq-answer"]["source"] == "project"
    assert rows["rag-answer"]["source"] == "shipped"
    assert Path(rows["faq-answer"]["folder"]) == tmp_path / "prompts"
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = cli(capsys, "prompts", "list")
    assert "then shipped with promptkit" in out and "project" in out
    code, out, _ = cli(capsys, "prompts", "show", "rag-answer@3", "--json")
    assert code == 0 and json.loads(out)["lock"] == "locked"   # the library's own lock


def test_list_table_keeps_brackets(capsys, root, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = cli(capsys, "prompts", "list", "--root", root)
    assert code == 0 and "rag-answer" in out and "production@3" in out
    assert "[n]" in out   # descriptions are not read as rich markup


def test_show_json_and_text(capsys, root):
    code, out, _ = cli(capsys, "prompts", "show", "rag-answer@production", "--root", root,
                       "--json")
    info = json.loads(out)
    assert code == 0 and info["ref"] == "rag-answer@3" and info["lock"] == "locked"
    assert info["hash"] == read_lock(Path(root) / "prompts.lock")["rag-answer@3"]
    assert info["variables"] == ["context", "question"]
    code, out, _ = cli(capsys, "prompts", "show", "rag-answer@1", "--root", root)
    assert code == 0 and "version: 1" in out and "Cite the passages you use like [1]." in out


def test_render_json_exact(capsys, root):
    code, out, _ = cli(capsys, "prompts", "render", "closed-book", "--root", root, "--json",
                       "--var", "question=¿Quién escribió BERT? a=b")
    data = json.loads(out)
    assert code == 0 and data["ref"] == "closed-book@2"
    assert data["messages"] == [
        {"role": "system", "content": "Answer the question briefly from what you know.\n"
                                      "If you are not sure, say you don't know.\n\n"
                                      "Reply in the language of the question "
                                      "(Spanish or English)."},
        {"role": "user", "content": "Question: ¿Quién escribió BERT? a=b\nAnswer:"},
    ]
    assert data["params"]["max_tokens"] == 80 and data["params"]["repeat_penalty"] == 1.1


def test_render_var_file_and_override(capsys, root, tmp_path):
    var_file = tmp_path / "vars.yaml"
    var_file.write_text("question: from file\ncontext: |-\n  [1] (a) one\n\n  [2] (b) two\n")
    code, out, _ = cli(capsys, "prompts", "render", "rag-answer@1", "--root", root, "--json",
                       "--var-file", str(var_file), "--var", "question=from flag")
    user = json.loads(out)["messages"][-1]["content"]
    assert code == 0
    assert user == "Context:\n[1] (a) one\n\n[2] (b) two\n\nQuestion: from flag"


def test_render_text_output_is_not_markup(capsys, root):
    code, out, _ = cli(capsys, "prompts", "render", "rag-answer", "--root", root,
                       "--var", "question=q", "--var", "context=[1] (x) [bold]text[/bold]")
    assert code == 0 and "[1] (x) [bold]text[/bold]" in out


def test_render_missing_variable_exits_2_naming_it(capsys, root):
    code, out, err = cli(capsys, "prompts", "render", "rag-answer", "--root", root,
                         "--var", "question=q")
    assert code == 2 and out == ""
    assert "cannot render 'rag-answer@3': missing variable(s): context" in err
    assert "Traceback" not in err


def test_render_bad_var_syntax(capsys, root):
    code, _, err = cli(capsys, "prompts", "render", "closed-book", "--root", root,
                       "--var", "question")
    assert code == 2 and "--var 'question' is not KEY=VALUE" in err


def test_unknown_prompt_exits_2_with_suggestion(capsys, root):
    code, _, err = cli(capsys, "prompts", "show", "rag-answr", "--root", root)
    assert code == 2 and "did you mean 'rag-answer'?" in err


def test_bad_file_exits_2_naming_file_and_field(capsys, root):
    path = Path(root) / "closed-book" / "v1.yaml"
    path.write_text(path.read_text().replace("max_tokens", "max_tokenz"))
    code, _, err = cli(capsys, "prompts", "list", "--root", root)
    assert code == 2 and f"{path}:" in err and "field 'params.max_tokenz'" in err


def test_diff(capsys, root):
    code, out, _ = cli(capsys, "prompts", "diff", "rag-answer@1", "rag-answer@2", "--root", root,
                       "--json")
    data = json.loads(out)
    assert code == 0 and not data["identical"] and "+version: 2" in data["diff"]
    code, out, _ = cli(capsys, "prompts", "diff", "rag-answer@3", "rag-answer", "--root", root)
    assert code == 0 and "no differences" in out


def test_new_then_check_lock(capsys, root):
    code, out, _ = cli(capsys, "prompts", "new", "rag-answer", "--root", root, "--json")
    assert code == 0 and json.loads(out)["ref"] == "rag-answer@4"
    code, out, _ = cli(capsys, "prompts", "check", "--root", root, "--json")
    report = json.loads(out)
    assert code == 0 and report["unlocked"] == ["rag-answer@4"] and report["passed"]
    code, out, _ = cli(capsys, "prompts", "check", "--lock", "--root", root)
    assert code == 0 and "locked now" in out
    assert "rag-answer@4" in read_lock(Path(root) / "prompts.lock")


def test_check_fails_on_an_edited_release(capsys, root):
    path = Path(root) / "rag-role" / "v1.yaml"
    path.write_text(path.read_text().replace("patient", "very patient"))
    code, out, err = cli(capsys, "prompts", "check", "--root", root, "--json")
    assert code == 2
    assert json.loads(out)["modified"][0]["ref"] == "rag-role@1"
    assert "released version rag-role@1 was edited after it was locked" in err
    assert "promptkit prompts new rag-role" in err


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PROJECT, timeout=120, check=False)


@pytest.mark.parametrize("argv", [["--help"], ["prompts", "list"], ["prompts", "--help"],
                                  ["doctor", "--help"], ["test", "--help"]])
def test_cli_does_not_import_heavy_modules(argv):
    code = (
        "import sys, json\n"
        "from promptkit.cli import run\n"
        f"rc = run({argv!r})\n"
        f"print('@@' + json.dumps([rc, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    proc = _run_python(code)
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    assert marker, proc.stderr
    rc, loaded = json.loads(marker[-1][2:])
    assert rc == 0 and loaded == [], f"{argv} imported {loaded}"


def test_import_promptkit_is_lazy_and_module_entry_point_works():
    proc = _run_python("import sys, promptkit\n"
                       "print('promptkit.prompts' in sys.modules)\n"
                       "print(promptkit.load_prompt('rag-answer@1').ref)\n")
    assert proc.stdout.split() == ["False", "rag-answer@1"], proc.stderr
    help_run = subprocess.run([sys.executable, "-m", "promptkit", "prompts", "--help"],
                              capture_output=True, text=True, cwd=PROJECT, timeout=120,
                              check=False)
    assert help_run.returncode == 0 and "render" in help_run.stdout
