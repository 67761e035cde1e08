"""The language registry: the only place languages are listed.

Each language is a folder `specs/<key>/` holding `spec.toml` (data) and tree-sitter query files
(`*.scm`). Adding a language means adding such a folder and its grammar package; no Python code
changes. The registry is loaded lazily and cached; it imports no grammar package until a
parser is asked for (`LanguageSpec.ts_language()`).

spec.toml fields (see docs/adding-a-language.md for the full reference):
    key            canonical key used in the `lang` column (e.g. "c-sharp")
    stack_names    The Stack's `lang` values and data/<dir> names that map to this key
    extensions     file extensions (with the dot) that a source-tree reader maps to this key
    [grammar]      package (pip distribution), module (import name), version (pinned),
                   function (the module attribute returning the language pointer)
    [queries]      name -> .scm file in the same folder
    [doc]          documentation style parameters
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, published as tomli before it joined the standard library
    import tomli as tomllib

SPECS_DIR = os.path.join(os.path.dirname(__file__), "specs")


class UnknownLanguageError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want a sentence
        return str(self.args[0])


class MissingGrammarError(ImportError):
    pass


class SpecError(ValueError):
    """A spec folder that cannot be loaded; the message names the file and what to fix."""


@dataclasses.dataclass(frozen=True)
class LanguageSpec:
    key: str
    stack_names: tuple[str, ...]
    extensions: tuple[str, ...]
    grammar_package: str
    grammar_module: str
    grammar_version: str
    grammar_function: str
    folder: str
    queries: dict[str, str]          # name -> query source text
    settings: dict[str, Any]         # every other table of spec.toml, e.g. [doc]

    def ts_language(self):
        """The tree_sitter.Language of this spec; raises MissingGrammarError with a fix."""
        import tree_sitter

        try:
            module = importlib.import_module(self.grammar_module)
        except ImportError as exc:
            raise MissingGrammarError(
                f"the grammar package for {self.key!r} is not installed: run "
                f"`pip install {self.grammar_package}=={self.grammar_version}`"
            ) from exc
        return tree_sitter.Language(getattr(module, self.grammar_function)())


def _load_spec(folder: str) -> LanguageSpec:
    """The spec in `folder`; SpecError naming the file for unparsable TOML, a missing required field
    (key, extensions, [grammar] package/module/version) or a [queries] file that cannot be read."""
    toml_path = os.path.join(folder, "spec.toml")
    try:
        with open(toml_path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{toml_path} is not valid TOML: {exc}") from None
    try:
        grammar = data.pop("grammar")
        key = data.pop("key")
        extensions = data.pop("extensions")
        grammar_fields = (grammar["package"], grammar["module"], grammar["version"])
    except KeyError as exc:
        raise SpecError(f"{toml_path} lacks the required field {exc.args[0]!r} (see docs/adding-a-language.md)") from None
    queries = {}
    for name, filename in data.pop("queries", {}).items():
        query_path = os.path.join(folder, filename)
        try:
            with open(query_path, encoding="utf-8") as fh:
                queries[name] = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{toml_path}: [queries] {name} = {filename!r} cannot be read ({type(exc).__name__})") from None
    return LanguageSpec(
        key=key,
        stack_names=tuple(data.pop("stack_names", [])),
        extensions=tuple(e.lower() for e in extensions),
        grammar_package=grammar_fields[0],
        grammar_module=grammar_fields[1],
        grammar_version=grammar_fields[2],
        grammar_function=grammar.get("function", "language"),
        folder=folder,
        queries=queries,
        settings=data,
    )


@functools.lru_cache(maxsize=None)
def _registry() -> dict[str, LanguageSpec]:
    specs = {}
    for name in sorted(os.listdir(SPECS_DIR)):
        folder = os.path.join(SPECS_DIR, name)
        if os.path.isfile(os.path.join(folder, "spec.toml")):
            spec = _load_spec(folder)
            if spec.key in specs:
                raise SpecError(f"language key {spec.key!r} defined twice ({folder})")
            specs[spec.key] = spec
    return specs


def all_specs() -> dict[str, LanguageSpec]:
    """Every registered language, by canonical key (sorted)."""
    return dict(_registry())


def get(key: str) -> LanguageSpec:
    try:
        return _registry()[key]
    except KeyError:
        raise UnknownLanguageError(
            f"unknown language {key!r}; known languages: {', '.join(sorted(_registry()))}"
        ) from None


@functools.lru_cache(maxsize=None)
def _by_extension() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in _registry().values():
        for ext in spec.extensions:
            table.setdefault(ext, spec.key)
    return table


def language_for_path(path: str) -> str | None:
    """Canonical key for a file path by its extension, or None if no spec claims it."""
    ext = os.path.splitext(path)[1].lower()
    return _by_extension().get(ext) if ext else None


@functools.lru_cache(maxsize=None)
def _by_stack_name() -> dict[str, str]:
    table: dict[str, str] = {}
    for spec in _registry().values():
        for name in (spec.key, *spec.stack_names):
            table[name.lower()] = spec.key
    return table


def canonical_key(name: str) -> str | None:
    """Map The Stack's `lang` value or data/<dir> name (e.g. 'C#', 'c-sharp') to a key."""
    return _by_stack_name().get(name.strip().lower())


def parse_language_list(text: str | None) -> tuple[str, ...] | None:
    """'python,java' -> ('java', 'python'); None -> None (all languages). Unknown keys raise, and so
    does a list that names no language ('', ','): an empty `--languages "$LANGS"` from an unset
    shell variable must not quietly mean every language."""
    if text is None:
        return None
    keys = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key = canonical_key(part)
        if key is None:
            raise UnknownLanguageError(
                f"--languages: unknown language {part!r}; known languages: {', '.join(sorted(_registry()))}"
            )
        keys.append(key)
    if not keys:
        raise UnknownLanguageError(f"--languages {text!r} names no language; leave the flag out to keep every language")
    return tuple(sorted(set(keys)))
