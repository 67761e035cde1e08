"""Language support as data: see registry.py and specs/<key>/spec.toml."""
from .registry import (
    LanguageSpec,
    MissingGrammarError,
    SpecError,
    UnknownLanguageError,
    all_specs,
    canonical_key,
    get,
    language_for_path,
    parse_language_list,
)

__all__ = [
    "LanguageSpec", "MissingGrammarError", "SpecError", "UnknownLanguageError", "all_specs", "canonical_key",
    "get", "language_for_path", "parse_language_list",
]
