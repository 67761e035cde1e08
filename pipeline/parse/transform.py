"""ParseFiles: the Beam transform from split file records to files + pairs + rejects + Table 4 stats.

    out = files_with_split | ParseFiles(config)

Input records carry id, lang, repo, path, licenses, content, size, cluster_id, cluster_size, split.
Outputs (a dict of PCollections):

    files     the input records that parsed, each + "identifiers" (list of {"start","end","kind"})
    pairs     rows with exactly the `pairs` contract columns; id = "<file_id>:<start_line>",
              split inherited from the file
    rejected  `rejected` rows: stage "parse" (the file: unsupported language, extractor error such as
              a timeout or a too-deep tree, reason = the extractor's message), "pair_filter" (the pair,
              reason per rule, see pairs.py), "pair_dedup" (the pair, kept_id = surviving pair id)
    stats     (metric, lang, count) for metric in files_parsed, functions, functions_with_docs,
              pairs (kept after filters and dedup): the shape of the paper's Table 4. Every language
              that had a parsed file has all four rows (zeros included).

A file that fails to parse leaves the `files` output (it is in `rejected/` instead): without a
syntax tree it has neither identifiers for deobfuscation nor pairs, and a file the extractor cannot
bound in time or depth is almost always generated or minified code.

Invariants: every input file is in exactly one of files / rejected(stage parse); every documented
function (pair candidate) ends in exactly one of pairs / rejected(pair_filter) / rejected(pair_dedup),
except candidates sharing a start line with an earlier candidate of the same file, which are rejected
at pair_filter with reason ``duplicate_start_line`` (pair ids must be unique).
Counters (namespace "codesage"): parse.files, parse.rejected, parse.functions,
parse.functions_with_docs, parse.functions_without_doc, parse.functions_skipped_syntax_error
(functions the extractor dropped because their own subtree has a syntax error),
parse.files_with_syntax_errors (parsed despite local errors), pairs.candidates,
pairs.duplicate_start_line, pairs.kept, plus the
``pair_filter.*`` counters of ApplyFilters and the ``pair_dedup.*`` counters of NearDedup.
"""
from __future__ import annotations

from typing import Any, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.filtering import ApplyFilters, REJECTED_TAG
from pipeline.records import reject_row

from .pairs import ParseConfig, build_pair, pair_filters, to_pair_row

NAMESPACE = "codesage"
PAIRS_TAG = "pairs"
STATS_TAG = "stats"
STAT_METRICS = ("files_parsed", "functions", "functions_with_docs", "pairs")


def pair_rank(pair: Mapping[str, Any]) -> tuple:
    """Survivor order of pair near-dedup (smallest wins): training split first, then the pair id.

    Preferring train keeps the most training signal; among equals the id makes the choice
    deterministic. Module-level so that it pickles.
    """
    return (0 if pair.get("split") == "train" else 1, str(pair.get("id")))


class _ParseDoFn(beam.DoFn):
    """One tree-sitter parse per file; emits the file, pair candidates, parse rejects and stats."""

    def __init__(self, config: ParseConfig):
        self._config = config

    def setup(self):
        self._extractors: dict[str, Any] = {}
        counter = lambda name: Metrics.counter(NAMESPACE, name)  # noqa: E731
        self._files = counter("parse.files")
        self._rejected = counter("parse.rejected")
        self._functions = counter("parse.functions")
        self._with_docs = counter("parse.functions_with_docs")
        self._without_doc = counter("parse.functions_without_doc")
        self._candidates = counter("pairs.candidates")
        self._same_line = counter("pairs.duplicate_start_line")
        self._skipped = counter("parse.functions_skipped_syntax_error")
        self._with_syntax_errors = counter("parse.files_with_syntax_errors")

    def _extractor(self, lang: str):
        ex = self._extractors.get(lang)
        if ex is None:
            from .extract import Extractor

            ex = Extractor(lang, max_parse_ms=self._config.parse_timeout_ms, max_depth=self._config.max_tree_depth)
            self._extractors[lang] = ex
        return ex

    def _reject(self, record, reason):
        self._rejected.inc()
        return beam.pvalue.TaggedOutput(REJECTED_TAG, reject_row(record, "parse", reason))

    def process(self, record):
        lang = record.get("lang")
        try:
            ex = self._extractor(lang)
        except Exception as exc:  # unknown language or missing grammar: a recorded rejection
            yield self._reject(record, f"unsupported_language:{lang}: {exc}".strip())
            return
        try:
            res = ex.extract(record["content"])
        except Exception as exc:  # never crash the job on one file; say what happened
            yield self._reject(record, f"extract_failed:{type(exc).__name__}: {exc}")
            return
        if res.error:
            yield self._reject(record, str(res.error))
            return
        self._files.inc()
        out = dict(record)
        out["identifiers"] = list(res.identifiers)
        yield out

        n_docs = 0
        seen_lines: set[int] = set()
        for function in res.functions:
            doc = function.docstring
            if not doc or not doc.strip():
                continue
            n_docs += 1
            try:
                candidate = build_pair(record, function)
            except Exception as exc:  # a cleaning bug must not stop the job: record it
                stub = {"id": f"{record['id']}:{function.start_line}", "lang": lang, "path": record.get("path")}
                yield beam.pvalue.TaggedOutput(
                    REJECTED_TAG, reject_row(stub, "pair_filter", f"summary_failed:{type(exc).__name__}")
                )
                continue
            if function.start_line in seen_lines:
                self._same_line.inc()
                yield beam.pvalue.TaggedOutput(
                    REJECTED_TAG, reject_row(candidate, "pair_filter", "duplicate_start_line")
                )
                continue
            seen_lines.add(function.start_line)
            self._candidates.inc()
            yield beam.pvalue.TaggedOutput(PAIRS_TAG, candidate)
        n_funcs = len(res.functions)
        # Functions whose own subtree has a syntax error are not extracted; count them so that
        # the loss is visible (they are not in `functions` of the stats either).
        self._skipped.inc(getattr(res, "skipped_functions", 0) or 0)
        if getattr(res, "syntax_errors", 0):
            self._with_syntax_errors.inc()
        self._functions.inc(n_funcs)
        self._with_docs.inc(n_docs)
        self._without_doc.inc(n_funcs - n_docs)
        for metric, count in (("files_parsed", 1), ("functions", n_funcs), ("functions_with_docs", n_docs), ("pairs", 0)):
            yield beam.pvalue.TaggedOutput(STATS_TAG, ((metric, lang), count))


class _CountKept(beam.DoFn):
    def setup(self):
        self._kept = Metrics.counter(NAMESPACE, "pairs.kept")

    def process(self, pair):
        self._kept.inc()
        yield (("pairs", pair["lang"]), 1)


def _flatten_stat(kv):
    (metric, lang), count = kv
    return (metric, lang, int(count))


class ParseFiles(beam.PTransform):
    """PCollection[file record with split] -> {"files", "pairs", "rejected", "stats"}."""

    def __init__(self, config: ParseConfig | None = None, label: str | None = None):
        super().__init__(label)
        self._config = config or ParseConfig()

    def expand(self, files):
        cfg = self._config
        parsed = files | "Parse" >> beam.ParDo(_ParseDoFn(cfg)).with_outputs(
            PAIRS_TAG, REJECTED_TAG, STATS_TAG, main="files"
        )
        filtered = parsed[PAIRS_TAG] | "PairFilters" >> ApplyFilters(pair_filters(cfg), stage="pair_filter")
        candidates = filtered["kept"]
        rejected = [parsed[REJECTED_TAG], filtered[REJECTED_TAG]]
        if cfg.pair_dedup:
            from pipeline.dedup import NearDedup, NearDedupParams

            params = NearDedupParams(
                ngram=cfg.pair_dedup_ngram, num_perm=cfg.pair_dedup_num_perm, threshold=cfg.pair_dedup_threshold
            )
            deduped = candidates | "PairDedup" >> NearDedup(
                params, text_key="code", rank_fn=pair_rank, stage="pair_dedup", annotate=False
            )
            candidates = deduped["kept"]
            rejected.append(deduped["rejected"])
        pairs = candidates | "PairRows" >> beam.Map(to_pair_row)
        kept_counts = pairs | "CountPairs" >> beam.ParDo(_CountKept())
        stats = (
            (parsed[STATS_TAG], kept_counts)
            | "FlattenStats" >> beam.Flatten()
            | "SumStats" >> beam.CombinePerKey(sum)
            | "StatRows" >> beam.Map(_flatten_stat)
        )
        return {
            "files": parsed["files"],
            "pairs": pairs,
            "rejected": tuple(rejected) | "FlattenRejected" >> beam.Flatten(),
            "stats": stats,
        }
