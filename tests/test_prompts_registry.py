"""PromptRegistry: references, labels, file errors, the lock, scaffolding, diff; our own prompts."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

import promptkit
from promptkit.errors import ConfigError, LockError, NotFoundError, UserError
from promptkit.prompts import PromptRegistry, load_prompt
from promptkit.prompts.lock import read_lock

PROJECT_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

GREET = """\
name: greet
version: {version}
kind: zero-shot
description: Say hello.
system: Be kind.
template: "Hello {{who}}"
labels: {labels}
"""


def write(root: Path, name: str, version: int, text: str) -> Path:
    path = root / name / f"v{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "prompts"
    write(root, "greet", 1, GREET.format(version=1, labels="[production]"))
    write(root, "greet", 2, GREET.format(version=2, labels="[canary]"))
    write(root, "greet", 10, GREET.format(version=10, labels="[]"))
    return root


@pytest.fixture
def project(tmp_path) -> PromptRegistry:
    """A copy of the project's own prompts and lock, safe to edit."""
    shutil.copytree(PROJECT_PROMPTS, tmp_path / "prompts")
    return PromptRegistry(tmp_path / "prompts")


# ---- references ----------------------------------------------------------------------------

def test_references_resolve_latest_exact_label(root):
    reg = PromptRegistry(root)
    assert reg.names() == ["greet"] and reg.versions("greet") == [1, 2, 10]
    assert reg.resolve("greet") == ("greet", 10)          # numeric, not lexical, order
    assert reg.resolve("greet@latest") == ("greet", 10)
    assert reg.resolve("greet@2") == ("greet", 2)
    assert reg.resolve("greet@production") == ("greet", 1)
    assert reg.load("greet@canary").ref == "greet@2"
    assert load_prompt("greet@1", root=root).render(who="Ana")[-1]["content"] == "Hello Ana"


def test_top_level_api_is_lazy_and_uses_the_default_root(root, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_PROMPTS", str(root))
    assert promptkit.load_prompt("greet").ref == "greet@10"
    assert promptkit.PromptRegistry().root == root


def test_unknown_name_suggests_the_close_one(root):
    with pytest.raises(NotFoundError) as err:
        PromptRegistry(root).load("gret")
    assert "unknown prompt 'gret' (did you mean 'greet'?). Known: greet" in str(err.value)
    assert "promptkit prompts list" in err.value.hint


def test_unknown_version_lists_the_versions(root):
    with pytest.raises(NotFoundError) as err:
        PromptRegistry(root).load("greet@3")
    assert "unknown version 'greet@3'" in str(err.value)
    assert "Known: greet@1, greet@10, greet@2" in str(err.value)


def test_unknown_label_lists_the_labels(root):
    with pytest.raises(NotFoundError) as err:
        PromptRegistry(root).load("greet@prod")
    msg = str(err.value)
    assert "unknown label 'greet@prod' (did you mean 'greet@production'?)" in msg
    assert "greet@canary" in msg and "greet@latest" in msg


@pytest.mark.parametrize("ref", ["", "@2", "greet@"])
def test_malformed_reference(root, ref):
    with pytest.raises(UserError, match="is not a prompt reference"):
        PromptRegistry(root).load(ref)


def test_label_on_two_versions_names_both_files(root):
    write(root, "greet", 10, GREET.format(version=10, labels="[production]"))
    with pytest.raises(ConfigError) as err:
        PromptRegistry(root).load("greet@production")
    msg = str(err.value)
    assert "label 'production' is on two versions of 'greet'" in msg
    assert str(root / "greet" / "v1.yaml") in msg and str(root / "greet" / "v10.yaml") in msg


def test_missing_root_says_how_to_point_elsewhere(tmp_path):
    with pytest.raises(UserError, match="prompts folder not found") as err:
        PromptRegistry(tmp_path / "nope").names()
    assert "--root" in err.value.hint


# ---- file errors ---------------------------------------------------------------------------

def load_one(tmp_path: Path, body: str, name: str = "p", version: int = 1):
    root = tmp_path / "bad"
    path = write(root, name, version, body)
    return PromptRegistry(root), path


def expect_config_error(tmp_path, body, *, field, line, message, name="p", version=1):
    reg, path = load_one(tmp_path, body, name, version)
    with pytest.raises(ConfigError) as err:
        reg.load(name)
    e = err.value
    assert (e.path, e.field, e.line) == (str(path), field, line)
    assert message in str(e)
    assert str(e).startswith(f"{path}:{line}: field '{field}': " if line else f"{path}: ")
    return e


def test_unknown_key_names_file_line_field_and_suggests(tmp_path):
    e = expect_config_error(tmp_path, """\
        name: p
        version: 1
        kind: zero-shot
        template: "{question}"
        params:
          temprature: 0.5
        """, field="params.temprature", line=6,
        message="unknown key 'temprature' (did you mean 'temperature'?); "
                "allowed keys here: temperature")
    assert "docs/tasks/prompts.md" in e.hint and "promptkit schema prompt" in e.hint


def test_unknown_top_level_key(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: zero-shot\ntemplate: x\n"
                                  "exampels: []\n",
                        field="exampels", line=5, message="did you mean 'examples'?")


def test_wrong_type_names_the_field_and_value(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: zero-shot\ntemplate: x\n"
                                  "params:\n  max_tokens: lots\n",
                        field="params.max_tokens", line=6,
                        message="should be a valid integer (got str 'lots')")


def test_quoted_number_is_a_wrong_type_not_coerced(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: '1'\nkind: zero-shot\ntemplate: x\n",
                        field="version", line=2, message="valid integer")


def test_bad_kind_lists_the_choices(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: fewshot\ntemplate: x\n",
                        field="kind", line=3,
                        message="should be 'zero-shot', 'few-shot' or 'role' (got str 'fewshot')")


def test_missing_required_key(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: zero-shot\n",
                        field="template", line=1, message="required key is missing")


def test_malformed_yaml_gives_file_and_line(tmp_path):
    reg, path = load_one(tmp_path, "name: p\nversion: 1\ntemplate: [oops\nkind: role\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        reg.load("p")
    assert err.value.path == str(path) and err.value.line == 4


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path):
    reg, path = load_one(tmp_path, "name: p\nversion: 1\nkind: zero-shot\ntemplate: a\n"
                                   "template: b\n")
    with pytest.raises(ConfigError, match="key 'template' appears twice") as err:
        reg.load("p")
    assert err.value.line == 5


def test_file_that_is_not_a_mapping(tmp_path):
    reg, path = load_one(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys"):
        reg.load("p")


def test_bad_template_syntax_is_a_config_error(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: zero-shot\ntemplate: '{a.b}'\n",
                        field="template", line=4, message="not a plain variable name")


def test_kind_rules(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: few-shot\ntemplate: x\n",
                        field="examples", line=None,
                        message="a few-shot prompt needs at least one example")


def test_example_variables_must_match_the_template(tmp_path):
    expect_config_error(tmp_path, """\
        name: p
        version: 1
        kind: few-shot
        template: "{context} {question}"
        examples:
          - vars: {context: c, question: q}
            answer: a
          - vars: {question: q}
            answer: a
        """, field="examples[1].vars", line=8,
        message="must give exactly the template's variables ['context', 'question']")


def test_reserved_variable_names(tmp_path):
    expect_config_error(tmp_path, "name: p\nversion: 1\nkind: zero-shot\ntemplate: '{seed}'\n",
                        field="template", line=4, message="reserved by render()")


def test_name_and_version_must_match_the_path(tmp_path):
    expect_config_error(tmp_path, "name: other\nversion: 1\nkind: zero-shot\ntemplate: x\n",
                        field="name", line=1, message="but the file lives in folder 'p'")
    expect_config_error(tmp_path, "name: q\nversion: 1\nkind: zero-shot\ntemplate: x\n",
                        name="q", version=2, field="version", line=2,
                        message="is 1 but the file is named v2.yaml")


def test_misnamed_prompt_file(tmp_path):
    root = tmp_path / "bad"
    (root / "p").mkdir(parents=True)
    (root / "p" / "version2.yaml").write_text("name: p\n")
    with pytest.raises(ConfigError, match=r"must be named v<N>\.yaml"):
        PromptRegistry(root).names()


# ---- lock, new, diff -----------------------------------------------------------------------

def test_project_prompts_pass_check_and_are_all_released():
    """Editing a released prompt in prompts/ fails the suite here."""
    report = PromptRegistry(PROJECT_PROMPTS).check()
    assert report.modified == [] and report.missing == []
    assert report.unlocked == [], "release new versions with `promptkit prompts check --lock`"


def test_editing_a_released_version_fails_check_and_says_what_to_do(project):
    path = project.root / "rag-answer" / "v2.yaml"
    path.write_text(path.read_text().replace("one to three", "one or two"))
    with pytest.raises(LockError) as err:
        PromptRegistry(project.root).check()
    msg = str(err.value)
    assert f"{path}: released version rag-answer@2 was edited after it was locked" in msg
    assert "promptkit prompts new rag-answer" in msg
    # lock() refuses too: an edited release is never re-hashed.
    before = read_lock(project.lock_path)
    with pytest.raises(LockError):
        PromptRegistry(project.root).lock()
    assert read_lock(project.lock_path) == before


def test_comments_and_layout_are_not_edits(project):
    path = project.root / "rag-answer" / "v1.yaml"
    path.write_text("# a new comment\n" + path.read_text() + "\n\n")
    assert PromptRegistry(project.root).check().modified == []


def test_moving_a_label_between_released_versions_is_not_an_edit(project):
    project.new("rag-answer")
    project.lock()
    old, new = (project.root / "rag-answer" / f"v{v}.yaml" for v in (2, 3))
    old.write_text(old.read_text().replace("labels: [production]", "labels: []"))
    new.write_text(new.read_text().replace("labels: []", "labels: [production]"))
    reg = PromptRegistry(project.root)
    assert reg.check().modified == []
    assert reg.resolve("rag-answer@production") == ("rag-answer", 3)


def test_deleted_release_is_reported(project):
    (project.root / "closed-book" / "v1.yaml").unlink()
    with pytest.raises(LockError, match="closed-book@1: locked in .* but its file is gone"):
        project.check()


def test_new_scaffolds_the_next_version_and_lock_adds_only_it(project):
    before = read_lock(project.lock_path)
    path = project.new("rag-answer")
    assert path == project.root / "rag-answer" / "v4.yaml"
    spec = project.load("rag-answer")
    assert spec.ref == "rag-answer@4" and spec.labels == []
    assert spec.template == project.load("rag-answer@3").template
    assert project.load("rag-answer@production").version == 3   # label stays put
    report = project.check()
    assert [ref for ref, _ in report.unlocked] == ["rag-answer@4"]
    assert project.lock() == ["rag-answer@4"]
    after = read_lock(project.lock_path)
    assert after == {**before, "rag-answer@4": spec.hash}
    assert project.lock() == []


def test_new_with_a_block_label_list_keeps_the_keys_after_it(root):
    write(root, "greet", 11, """\
        name: greet
        version: 11
        kind: zero-shot
        labels:
          - beta
          - stable
        # the template comes after the labels
        template: "Hi {who}"
        """)
    path = PromptRegistry(root).new("greet")
    spec = PromptRegistry(root).load("greet")
    assert path.name == "v12.yaml" and spec.version == 12
    assert spec.labels == [] and spec.template == "Hi {who}"
    assert "# the template comes after the labels" in path.read_text()


def test_new_name_gets_a_fresh_valid_v1(root):
    path = PromptRegistry(root).new("my-qa")
    spec = PromptRegistry(root).load("my-qa")
    assert path == root / "my-qa" / "v1.yaml" and spec.variables == {"question", "context"}
    with pytest.raises(UserError, match="not a valid prompt name"):
        PromptRegistry(root).new("bad name")


def test_diff_shows_the_changed_lines(project):
    text = project.diff("rag-answer@1", "rag-answer@production")
    assert text.startswith("--- rag-answer@1 (")
    assert "-version: 1\n" in text and "+version: 3\n" in text
    assert "+labels: [production]\n" in text
    assert project.diff("rag-answer@2", "rag-answer@2") == ""


# ---- the project's own prompts -------------------------------------------------------------

def test_project_prompts_cover_the_required_kinds_and_variables():
    reg = PromptRegistry(PROJECT_PROMPTS)
    grounded = [reg.load(f"{n}@production") for n in ("rag-answer", "rag-fewshot", "rag-role")]
    assert [s.kind for s in grounded] == ["zero-shot", "few-shot", "role"]
    for spec in grounded:
        assert spec.variables == {"question", "context"}, spec.ref
        assert "[1]" in spec.system
    assert len(reg.versions("rag-answer")) >= 2
    questions = [ex.vars["question"] for ex in grounded[1].examples]
    assert len(questions) >= 3
    assert any(q.startswith("¿") for q in questions) and any(q.isascii() for q in questions)
    assert reg.load("closed-book@production").variables == {"question"}
    assert reg.load("judge-faithfulness@production").variables == {"question", "context", "answer"}
    assert reg.load("judge-correctness@production").variables == \
        {"question", "reference", "answer"}
    assert reg.load("persona-speaker").variables == {"role", "question", "context"}
    speaker = reg.load("persona-speaker").render(role="teacher", question="q", context="c")
    assert speaker[0]["content"].startswith("You are a teacher.\n")
    audience = reg.load("persona-audience").render(role="teacher", question="q", context="c")
    assert audience[0]["content"].startswith("You are talking to a teacher.\n")
    control = reg.load("persona-none").render(question="q", context="c")
    # The three differ only in the persona line.
    assert speaker[0]["content"].split("\n", 1)[1] == control[0]["content"]
    assert audience[1:] == control[1:] == speaker[1:]


# ---- a user's project: its own prompts first, the shipped library as fallback ----------------

CLOSED = """\
name: closed-book
version: 1
kind: zero-shot
description: The project's own closed-book prompt.
template: "Q: {question}"
"""


def test_a_projects_prompts_come_first_and_the_shipped_ones_fill_in(root, monkeypatch):
    from promptkit.paths import shipped_prompts_dir

    write(root, "closed-book", 1, CLOSED)
    monkeypatch.chdir(root.parent)                  # the project: ./prompts holds its own
    monkeypatch.delenv("PROMPTKIT_PROMPTS", raising=False)
    reg = PromptRegistry()
    assert reg.root.resolve() == root.resolve()
    # Before, a project with a prompts/ folder lost promptkit's own prompts altogether.
    shipped = load_prompt("rag-answer@production")
    assert shipped.path.is_relative_to(shipped_prompts_dir())
    assert {"greet", "closed-book", "rag-answer", "judge-correctness"} <= set(reg.names())
    assert reg.source("greet") == "project" and reg.source("rag-answer") == "shipped"
    own = reg.load("closed-book")               # the project's version shadows the library's
    assert own.description == "The project's own closed-book prompt." and reg.versions(
        "closed-book") == [1]
    # Checking and releasing concern the project's folder only.
    report = reg.status()
    assert {ref for ref, _ in report.unlocked} == {"greet@1", "greet@2", "greet@10",
                                                    "closed-book@1"}
    with pytest.raises(UserError, match="shipped prompts") as err:
        reg.new("rag-answer")
    assert "my-rag-answer" in err.value.hint
    # An explicit folder in Python means that folder only, unless asked for the library.
    assert "rag-answer" not in PromptRegistry(root).names()
    assert PromptRegistry(root, shipped=True).source("rag-answer") == "shipped"


def test_without_a_prompts_folder_the_shipped_library_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROMPTKIT_PROMPTS", raising=False)
    assert "rag-answer" in PromptRegistry().names()
    assert load_prompt("rag-answer@2").variables == {"question", "context"}
