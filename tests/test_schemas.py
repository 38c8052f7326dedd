"""JSON Schemas of the files users write: current, shipped, valid for every file in the repo,
and as strict as the loaders (a typo in each kind of file is refused by both)."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from promptkit import schemas
from promptkit.cli import run

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_LINE = "# yaml-language-server: $schema="

# Which shipped files each schema describes (the dataset schema: each line of the JSONL files).
SHIPPED = {
    "prompt": ["prompts/*/v*.yaml", "eval/suites/prompts/*/v*.yaml"],
    "eval-config": ["eval/configs/*.yaml"],
    "experiment": ["eval/experiments/*.yaml"],
    "suite": ["eval/suites/*.yaml"],
    "dataset": ["eval/datasets/demo-qa*.jsonl", "eval/datasets/synth-*.jsonl"],
}
# Labelled sets for `promptkit eval judge-check` are not datasets: their own loader
# (promptkit.evaluation.judge_check.load_labelled) checks every line, and a test here runs it.
LABELLED_SETS = ["eval/datasets/judge-*.jsonl"]


def _files(name: str) -> list[Path]:
    return sorted(p for pattern in SHIPPED[name] for p in ROOT.glob(pattern))


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schemas.load(name))


def _gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  ROOT / "scripts" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current():
    """Schemas, the CLI reference and the dependency list match the code that they describe."""
    import difflib

    gen = _gen_reference()
    files = gen.outputs()
    diffs = ["".join(difflib.unified_diff(
        path.read_text(encoding="utf-8").splitlines(True) if path.is_file() else [],
        files[path].splitlines(True), str(path.relative_to(ROOT)), "generated", n=1))[:2000]
        for path in gen.stale(files)]
    assert not diffs, "regenerate with: python scripts/gen_reference.py\n" + "\n".join(diffs)


def test_every_file_users_write_is_covered():
    """Every YAML file under prompts/ and eval/, and every dataset, has its schema."""
    shipped = {*ROOT.glob("eval/**/*.yaml"), *ROOT.glob("prompts/**/*.yaml"),
               *ROOT.glob("eval/datasets/*.jsonl")}
    covered = {p for name in SHIPPED for p in _files(name)}
    covered |= {p for pattern in LABELLED_SETS for p in ROOT.glob(pattern)}
    assert shipped == covered


def test_judge_check_labelled_sets_load():
    from promptkit.evaluation.judge_check import load_labelled

    paths = sorted(p for pattern in LABELLED_SETS for p in ROOT.glob(pattern))
    assert paths
    for path in paths:
        assert load_labelled(path), path


@pytest.mark.parametrize("name", schemas.names())
def test_schema_is_valid_and_shipped_with_the_package(name):
    schema = schemas.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schemas.info(name).path.parent == ROOT / "promptkit" / "schemas"
    assert schema["$schema"].endswith("2020-12/schema")


def _records(path: Path) -> list[tuple[str, object]]:
    if path.suffix == ".jsonl":
        return [(f"{path.name}:{i}", json.loads(line))
                for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip()]
    return [(path.name, yaml.safe_load(path.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("name", schemas.names())
def test_every_shipped_file_validates(name):
    files = _files(name)
    assert files, f"no shipped file for schema {name}"
    validator = _validator(name)
    for path in files:
        for where, data in _records(path):
            errors = [e.message for e in validator.iter_errors(data)]
            assert not errors, f"{where}: {errors}"
        if path.suffix == ".yaml":
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first.startswith(SCHEMA_LINE), f"{path} does not name its schema"
            target = (path.parent / first.removeprefix(SCHEMA_LINE)).resolve()
            assert target == schemas.info(name).path, path


def _typo(name: str, data: dict) -> dict:
    """One misspelt key, of the kind people make, in a copy of a shipped file."""
    data = copy.deepcopy(data)
    if name == "prompt":
        data["params"]["temprature"] = data["params"].pop("temperature", 0.0)
    elif name == "eval-config":
        data["pipline"] = data.pop("pipeline")
    elif name == "experiment":
        data["k_sweeps"] = data.pop("k_sweep")
    elif name == "suite":
        data["cases"][0]["asert"] = [{"type": "contains", "value": "x"}]
    else:
        data["anwsers"] = data.pop("answers")
    return data


SAMPLE = {"prompt": "prompts/rag-answer/v2.yaml", "eval-config": "eval/configs/demo-smollm2.yaml",
          "experiment": "eval/experiments/ksweep-litm.yaml", "suite": "eval/suites/demo.yaml",
          "dataset": "eval/datasets/demo-qa.small.jsonl"}


def _load_with_promptkit(name: str, data: dict, tmp_path: Path) -> None:
    """The loader promptkit itself uses for this kind of file; raises on a bad file."""
    from promptkit.errors import UserError

    if name == "dataset":
        from promptkit.evaluation.datasets import from_records

        ds = from_records([data])
        if ds.errors:
            raise UserError(str(ds.errors[0]))
        return
    path = tmp_path / ("v2.yaml" if name == "prompt" else "file.yaml")
    if name == "prompt":
        path = tmp_path / "rag-answer" / "v2.yaml"
        path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    if name == "prompt":
        from promptkit.prompts.loading import load_spec

        load_spec(path)
    elif name == "eval-config":
        from promptkit.evaluation.config import load_config

        load_config(path)
    elif name == "experiment":
        from promptkit.experiments.config import load_experiment

        load_experiment(path)
    else:
        from promptkit.testing.suite import load_suite

        load_suite(path)


@pytest.mark.parametrize("name", schemas.names())
def test_a_typo_is_refused_by_the_schema_and_by_promptkit(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTKIT_MODEL", "fake:echo")
    _, good = _records(ROOT / SAMPLE[name])[0]
    bad = _typo(name, good)
    validator = _validator(name)
    assert not list(validator.iter_errors(good))
    errors = list(validator.iter_errors(bad))
    assert errors, f"the {name} schema accepted a misspelt key"
    _load_with_promptkit(name, good, tmp_path)
    from promptkit.errors import UserError

    with pytest.raises(UserError):
        _load_with_promptkit(name, bad, tmp_path)


def test_schema_rules_beyond_keys():
    """Cross-field rules the loaders enforce are in the schemas too, so editors flag them."""
    prompt = _validator("prompt")
    assert list(prompt.iter_errors({"name": "x", "version": 1, "kind": "few-shot",
                                    "template": "{question}"}))          # few-shot, no examples
    assert list(prompt.iter_errors({"name": "x", "version": 1, "kind": "role",
                                    "template": "{question}"}))          # role, no system
    experiment = _validator("experiment")
    _, ksweep = _records(ROOT / SAMPLE["experiment"])[0]
    assert list(experiment.iter_errors({**ksweep, "needle": {}}))      # another kind's block
    assert list(experiment.iter_errors({**ksweep, "params": {"max_token": 8}}))
    config = _validator("eval-config")
    _, cfg = _records(ROOT / SAMPLE["eval-config"])[0]
    assert not list(config.iter_errors({**cfg, "cache_mode": False}))   # YAML's bare `off`
    assert list(config.iter_errors({**cfg, "cache_mode": "of"}))


def test_dataset_record_model_is_the_loaders_shape():
    from promptkit.evaluation import datasets

    fields = set(datasets.DatasetRecord.model_fields)
    assert fields == set(datasets._REQUIRED) | set(datasets._OPTIONAL)
    assert set(datasets._REQUIRED) == {"id", "question", "answers"}


def test_schema_command(capsys):
    assert run(["schema", "suite"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == schemas.load("suite")
    assert run(["schema", "--list"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == schemas.names()
    assert run(["schema", "prompt", "--path"]) == 0
    assert capsys.readouterr().out.strip() == str(schemas.info("prompt").path)
    assert run(["schema", "sute"]) == 2
    err = capsys.readouterr().err
    assert "unknown schema 'sute' (did you mean 'suite'?)" in err


def test_schema_command_stays_light():
    heavy = ("torch", "sentence_transformers", "chromadb", "llama_cpp", "scipy", "matplotlib",
             "promptkit.testing.suite", "promptkit.prompts.spec")
    code = ("import sys, json\nfrom promptkit.cli import run\n"
            "rc = run(['schema', 'suite'])\n"
            f"print('@@' + json.dumps([rc, [m for m in {heavy!r} if m in sys.modules]]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=False)
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@")]
    assert marker, proc.stderr
    assert json.loads(marker[-1][2:]) == [0, []]


def test_the_dependency_page_sees_every_import_form(tmp_path):
    """Each way of importing a sibling module is an arrow on the architecture page."""
    spec = importlib.util.spec_from_file_location("docgen_deps",
                                                  ROOT / "scripts" / "docgen_deps.py")
    deps_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deps_module)
    package = tmp_path / "promptkit"
    (package / "a").mkdir(parents=True)
    for name in ("b", "c", "d", "e", "f"):
        (package / f"{name}.py").write_text("", encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a" / "__init__.py").write_text("from promptkit import b, Pipeline\n",
                                               encoding="utf-8")
    (package / "a" / "one.py").write_text(
        "import promptkit.c\nfrom ..d import thing\n\n\ndef later():\n"
        "    from promptkit.e import other\n    from promptkit import f\n", encoding="utf-8")
    assert deps_module.dependencies(package)["a"] == {
        "b": False, "c": False, "d": False, "e": True, "f": True}
