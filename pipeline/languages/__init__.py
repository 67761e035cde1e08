"""Language support as data: see registry.py and specs/<key>/spec.toml."""
from .registry import (
    LanguageSpec,
    MissingGrammarError,
    UnknownLanguageError,
    all_specs,
    canonical_key,
    get,
    language_for_path,
    parse_language_list,
)

__all__ = [
    "LanguageSpec", "MissingGrammarError", "UnknownLanguageError", "all_specs", "canonical_key",
    "get", "language_for_path", "parse_language_list",
]
