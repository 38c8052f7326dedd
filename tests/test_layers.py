"""Lower layers never import upper ones: llm, embedders, store and retrieval stand on their own."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "promptkit"
LOWER = ("llm", "embedders", "store", "retrieval")
UPPER = ("promptkit.testing", "promptkit.evaluation", "promptkit.experiments", "promptkit.cli")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layer_imports_no_upper_layer(layer):
    offenders = [f"{path.relative_to(PKG.parent)} imports {name}"
                 for path in sorted((PKG / layer).rglob("*.py"))
                 for name in sorted(imported_modules(path))
                 if name.startswith(UPPER)]
    assert offenders == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from promptkit.testing.fakes import HashEmbedder\n")
    assert "promptkit.testing.fakes" in imported_modules(module)


def test_lazy_package_names_are_not_shadowed_by_submodules():
    # Importing a submodule binds its name on the package, so a lazily exported function that
    # shares a submodule's name (evaluation.compare once was) turns into that module as soon
    # as anything imports the submodule.
    import importlib

    clashes = []
    for init in sorted(PKG.rglob("__init__.py")):
        package = importlib.import_module(".".join(init.parent.relative_to(PKG.parent).parts))
        lazy = set(getattr(package, "_LAZY", {}))
        submodules = {p.stem for p in init.parent.glob("*.py")} | {
            p.name for p in init.parent.iterdir() if (p / "__init__.py").exists()}
        clashes += [f"{package.__name__}.{name}" for name in sorted(lazy & submodules)]
    assert clashes == []


def test_the_public_names_resolve_from_the_top_package():
    import promptkit
    import promptkit.testing

    for name in promptkit.__all__:
        assert getattr(promptkit, name) is not None, name
    assert issubclass(promptkit.UserError, promptkit.PromptkitError)
    assert issubclass(promptkit.BackendError, promptkit.PromptkitError)
    for name in promptkit.testing.__all__:
        assert getattr(promptkit.testing, name) is not None, name
