"""(text, code) pairs: configuration, construction from extracted functions, and the paper's filters.

A *pair candidate* is built for every function that has documentation (`build_pair`): it holds
the `pairs` contract columns plus internal keys (prefixed with ``_``) that the filters read;
`to_pair_row` projects a surviving candidate onto exactly the contract columns. Functions without
documentation are not pairs: they are counted (stats metric ``functions`` minus
``functions_with_docs``, counter ``parse.functions_without_doc``) but not written to `rejected/`,
because they are the majority of all functions and a row each would dwarf the real rejections.

Pair filters (`pair_filters`), applied in this order with `pipeline.filtering.ApplyFilters` at
stage ``pair_filter``; the first that fires names the reason written to `rejected/`:

    body_lines           ``body_lines<2``            body of one line or less (paper)
    empty_hard_positive  ``empty_hard_positive``     nothing but comments left of the body once the
                                                     signature and return statements are removed: no
                                                     hard positive can be built, so no pair
    summary_length       ``summary_tokens<3``        fewer than 3 / more than 256 whitespace tokens
                         ``summary_tokens>256``      (paper); an empty summary counts 0 tokens
    english              ``summary_not_english:xx``  detected language xx (see text.EnglishDetector)

The thresholds in the reasons follow the configuration.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Mapping

from pipeline.errors import UserError
from pipeline.filtering import Filter
from pipeline.records import PAIR_COLUMNS

from .extract import DEFAULT_MAX_DEPTH, DEFAULT_MAX_PARSE_MS
from .text import DEFAULT_ENGLISH_MIN_PROB, EnglishDetector, count_tokens, summarize
from pipeline.option_values import option_values

# ------------------------------------------------------------------------------ configuration


@dataclasses.dataclass(frozen=True)
class ParseConfig:
    """Everything ParseFiles needs; frozen and picklable (shipped to Beam workers).

    min_summary_tokens / max_summary_tokens: inclusive bounds on `count_tokens(summary)`.
    min_body_lines: functions whose body has fewer lines are dropped (paper: 2, i.e. "one line or less").
    english_filter / english_min_prob: see text.EnglishDetector (reject iff P(en) < english_min_prob).
    parse_timeout_ms / max_tree_depth: bounds handed to the extractor (its parse-time budget and the
        deepest function nesting it walks); a file exceeding them is rejected at stage ``parse``.
    pair_dedup / pair_dedup_threshold / pair_dedup_ngram / pair_dedup_num_perm: function-level
        MinHash near-dedup of pairs on their `code` (Jaccard threshold over token n-gram shingles).
    """

    min_summary_tokens: int = 3
    max_summary_tokens: int = 256
    min_body_lines: int = 2
    english_filter: bool = True
    english_min_prob: float = DEFAULT_ENGLISH_MIN_PROB
    parse_timeout_ms: int = int(DEFAULT_MAX_PARSE_MS)
    max_tree_depth: int = DEFAULT_MAX_DEPTH
    pair_dedup: bool = True
    pair_dedup_threshold: float = 0.85
    pair_dedup_ngram: int = 5
    pair_dedup_num_perm: int = 256

    def __post_init__(self):
        problems = []
        if self.min_summary_tokens < 0 or self.max_summary_tokens < self.min_summary_tokens:
            problems.append("need 0 <= --min-summary-tokens <= --max-summary-tokens")
        if self.min_body_lines < 0:
            problems.append("--min-body-lines must be >= 0")
        if not 0.0 <= self.english_min_prob <= 1.0:
            problems.append("--english-min-prob must be within [0, 1]")
        if self.parse_timeout_ms <= 0 or self.max_tree_depth <= 0:
            problems.append("--parse-timeout-ms and --max-tree-depth must be positive")
        if not 0.0 < self.pair_dedup_threshold < 1.0:
            problems.append("--pair-dedup-threshold must be strictly between 0 and 1")
        if self.pair_dedup_ngram < 1 or self.pair_dedup_num_perm < 2:
            problems.append("--pair-dedup-ngram must be >= 1 and --pair-dedup-num-perm >= 2")
        if problems:
            raise UserError("invalid parse options: " + "; ".join(problems) + ".")


_DEFAULTS = ParseConfig()


def add_parse_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the parse/pair flags (dash style) to `parser` (argparse or Beam's PipelineOptions parser)."""
    d = _DEFAULTS
    parser.add_argument("--min-summary-tokens", type=int, default=d.min_summary_tokens,
                        help="drop pairs whose summary has fewer whitespace tokens (paper: 3)")
    parser.add_argument("--max-summary-tokens", type=int, default=d.max_summary_tokens,
                        help="drop pairs whose summary has more whitespace tokens (paper: 256)")
    parser.add_argument("--min-body-lines", type=int, default=d.min_body_lines,
                        help="drop functions whose body has fewer lines (paper: 2 = drop one-liners)")
    parser.add_argument("--no-english-filter", dest="english_filter", action="store_false", default=True,
                        help="keep summaries in any natural language")
    parser.add_argument("--english-min-prob", type=float, default=d.english_min_prob,
                        help="reject a summary when P(English) from py3langid is below this")
    parser.add_argument("--parse-timeout-ms", type=int, default=d.parse_timeout_ms,
                        help="per-file tree-sitter parse budget in milliseconds of one core, counted deterministically in parser "
                             "operations (25 progress checks of 100 operations per ms), never wall time; files that need more "
                             "are rejected at stage parse (parse_timeout)")
    parser.add_argument("--max-tree-depth", type=int, default=d.max_tree_depth,
                        help="deepest function nesting walked; deeper files are rejected at stage parse")
    parser.add_argument("--pair-dedup-threshold", type=float, default=d.pair_dedup_threshold,
                        help="Jaccard threshold of function-level near-dedup of pairs")
    parser.add_argument("--pair-dedup-ngram", type=int, default=d.pair_dedup_ngram,
                        help="token n-gram size of the pair dedup shingles")
    parser.add_argument("--pair-dedup-num-perm", type=int, default=d.pair_dedup_num_perm,
                        help="MinHash permutations of the pair dedup")
    parser.add_argument("--no-pair-dedup", dest="pair_dedup", action="store_false", default=True,
                        help="keep near-duplicate functions as separate pairs")


def parse_config_from_options(opts: Any) -> ParseConfig:
    """ParseConfig from parsed flags: an argparse Namespace, a dict, or Beam PipelineOptions."""
    values = option_values(opts)
    kwargs = {}
    for field in dataclasses.fields(ParseConfig):
        value = values.get(field.name)
        if value is not None:
            kwargs[field.name] = value
    return ParseConfig(**kwargs)


# ------------------------------------------------------------------------------ construction

# Internal keys carried by candidates for the filters; never written.
BODY_LINES = "_body_lines"


def pair_id(file_id: str, start_line: int) -> str:
    return f"{file_id}:{start_line}"


def build_pair(record: Mapping[str, Any], function: Any) -> dict:
    """Pair candidate for a documented `function` (an extract.Function) of file `record`."""
    docstring = function.docstring or ""
    return {
        "id": pair_id(record["id"], function.start_line),
        "file_id": record["id"],
        "lang": record["lang"],
        "repo": record.get("repo"),
        "path": record.get("path"),
        "split": record["split"],
        "name": function.name,
        "start_line": int(function.start_line),
        "end_line": int(function.end_line),
        "docstring": docstring,
        "summary": summarize(docstring),
        "code": function.code,
        "code_hard": function.code_hard,
        BODY_LINES: int(function.body_lines),
    }


def to_pair_row(candidate: Mapping[str, Any]) -> dict:
    """Project a candidate onto exactly the `pairs` contract columns."""
    return {name: candidate.get(name) for name in PAIR_COLUMNS}


# ------------------------------------------------------------------------------ filters
# Module-level callables (not lambdas) so that filters pickle with any runner.


class _BodyLines:
    def __init__(self, minimum: int):
        self.minimum = minimum

    def __call__(self, pair: Mapping[str, Any]) -> str | None:
        return f"body_lines<{self.minimum}" if pair[BODY_LINES] < self.minimum else None


def _empty_hard_positive(pair: Mapping[str, Any]) -> str | None:
    return "empty_hard_positive" if not (pair.get("code_hard") or "").strip() else None


class _SummaryLength:
    def __init__(self, minimum: int, maximum: int):
        self.minimum, self.maximum = minimum, maximum

    def __call__(self, pair: Mapping[str, Any]) -> str | None:
        n = count_tokens(pair.get("summary") or "")
        if n < self.minimum:
            return f"summary_tokens<{self.minimum}"
        if n > self.maximum:
            return f"summary_tokens>{self.maximum}"
        return None


class _English:
    def __init__(self, min_prob: float):
        self.detector = EnglishDetector(min_prob=min_prob)

    def __call__(self, pair: Mapping[str, Any]) -> str | None:
        lang = self.detector.verdict(pair.get("summary") or "")
        return None if lang is None else f"summary_not_english:{lang}"


def pair_filters(config: ParseConfig) -> list[Filter]:
    """The pair filters in application order (see the module docstring)."""
    filters = [
        Filter("body_lines", _BodyLines(config.min_body_lines)),
        Filter("empty_hard_positive", _empty_hard_positive),
        Filter("summary_length", _SummaryLength(config.min_summary_tokens, config.max_summary_tokens)),
    ]
    if config.english_filter:
        filters.append(Filter("english", _English(config.english_min_prob)))
    return filters
