"""A broken language spec is a one-line error naming the file, before any job starts: never a
traceback, never a run that rejects every file of that language and exits 0.
(docs/adding-a-language.md; registry.SpecError, Extractor's query and capture checks,
run.check_language_specs / run.check_languages.)"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.languages import registry
from pipeline.parse.extract import Extractor


def _clear_caches():
    for fn in (registry._registry, registry._by_extension, registry._by_stack_name):
        fn.cache_clear()


@pytest.fixture
def specs(tmp_path: Path, monkeypatch) -> Path:
    """A private copy of every shipped spec that a test may break; the registry reads it."""
    folder = tmp_path / "specs"
    shutil.copytree(registry.SPECS_DIR, folder)
    monkeypatch.setattr(registry, "SPECS_DIR", str(folder))
    _clear_caches()
    yield folder
    _clear_caches()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text('def f(x):\n    """Add one."""\n    y = x + 1\n    return y\n')
    return src


def _run(tree: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    status = main(["--input", str(tree), "--output", str(tmp_path / "out"), "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    return status, (err[-1] if err else "")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_query_with_an_unknown_node_type_stops_the_run(specs, tree, tmp_path, capsys):
    _edit(specs / "python" / "functions.scm", "(function_definition", "(function_definitionn")
    with pytest.raises(ValueError, match=r"python/functions\.scm: .*line \d+, column \d+"):
        Extractor("python")
    status, last = _run(tree, tmp_path, capsys)
    assert status == 2
    assert last.startswith("error: the language spec 'python' is not usable: python/functions.scm")
    assert not (tmp_path / "out").exists()


def test_query_error_position_counts_lines_from_one(specs):
    scm = specs / "python" / "returns.scm"
    lines = scm.read_text().splitlines()
    lines.append("(no_such_node_type) @return")
    scm.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"line {len(lines)}, column 2"):
        Extractor("python")


def test_misspelled_capture_name_stops_the_run(specs, tree, tmp_path, capsys):
    _edit(specs / "python" / "functions.scm", "(block) @body", "(block) @bodyy")
    with pytest.raises(ValueError, match=r"unknown capture name\(s\) @bodyy"):
        Extractor("python")
    status, last = _run(tree, tmp_path, capsys)
    assert status == 2 and "@bodyy" in last


def test_bad_doc_setting_stops_the_run(specs, tree, tmp_path, capsys):
    _edit(specs / "python" / "spec.toml", 'style = "body_string"', 'style = "body-string"')
    status, last = _run(tree, tmp_path, capsys)
    assert status == 2 and "[doc] style must be comment_above or body_string" in last


@pytest.mark.parametrize("old,new,message", [
    ('extensions = [', 'extension = [', "lacks the required field 'extensions'"),
    ('key = "ruby"', 'key = "ruby', "is not valid TOML"),
    ('returns = "returns.scm"', 'returns = "return.scm"', "[queries] returns = 'return.scm' cannot be read"),
])
def test_spec_toml_mistakes_are_one_line_errors_naming_the_file(specs, tree, tmp_path, capsys, old, new, message):
    # a broken spec of another language (ruby) stops a python run too: the registry loads every spec
    _edit(specs / "ruby" / "spec.toml", old, new)
    status, last = _run(tree, tmp_path, capsys)
    assert status == 2
    assert last.startswith("error: ") and str(specs / "ruby" / "spec.toml") in last and message in last


def test_the_shipped_specs_pass_every_check():
    for key in registry.all_specs():
        Extractor(key)


def test_grammar_pins_agree_with_the_installed_wheels_and_pyproject():
    """spec.toml's [grammar] version is what runs (the installed wheel) and what pyproject pins."""
    import importlib.metadata

    from pipeline.languages.registry import tomllib
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["pipeline"]
    for key in registry.all_specs():
        spec = registry.get(key)
        assert f"{spec.grammar_package}=={spec.grammar_version}" in deps, key
        assert importlib.metadata.version(spec.grammar_package) == spec.grammar_version, key
