"""Pair construction, pair filters and the ParseFiles Beam transform (pipeline.parse.pairs / transform)."""
from __future__ import annotations

import argparse
import pickle

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.errors import UserError
from pipeline.filtering import first_rejection
from pipeline.parse import ParseConfig, ParseFiles, add_parse_arguments, parse_config_from_options
from pipeline.parse.extract import Function
from pipeline.parse.pairs import BODY_LINES, build_pair, pair_filters, to_pair_row
from pipeline.records import PAIR_COLUMNS
from schemas import PAIRS_SCHEMA, validate

# ----------------------------------------------------------------------------- pure pair logic

FILE = {"id": "f1", "lang": "python", "repo": "r", "path": "p.py", "split": "valid"}


def _fn(doc="Add two numbers and return the sum.", body_lines=3, code_hard="t = a + b", start=4):
    return Function(name="M.add", start_line=start, end_line=start + 5, docstring=doc,
                    code="def add(a, b):\n    t = a + b\n    return t", code_hard=code_hard, body_lines=body_lines)


def test_build_pair_and_row_projection():
    cand = build_pair(FILE, _fn())
    assert cand["id"] == "f1:4" and cand["file_id"] == "f1" and cand["split"] == "valid"
    assert cand["summary"] == "Add two numbers and return the sum."
    assert cand[BODY_LINES] == 3
    row = to_pair_row(cand)
    assert tuple(row) == PAIR_COLUMNS
    validate(pa.Table.from_pylist([row], schema=PAIRS_SCHEMA), "pairs")


@pytest.mark.parametrize(
    "fn, reason",
    [
        (_fn(), None),
        (_fn(body_lines=1), "body_lines<2"),
        (_fn(code_hard="  \n"), "empty_hard_positive"),
        (_fn(doc="Adds."), "summary_tokens<3"),
        (_fn(doc="@param a the a"), "summary_tokens<3"),
        (_fn(doc="word " * 257), "summary_tokens>256"),
        (_fn(doc="Devuelve la suma de los dos números enteros."), "summary_not_english:es"),
        (_fn(doc="获取两个数字的总和"), "summary_not_english:zh"),
    ],
)
def test_pair_filters_reasons(fn, reason):
    hit = first_rejection(pair_filters(ParseConfig()), build_pair(FILE, fn))
    assert (hit[1] if hit else None) == reason


def test_filter_thresholds_follow_config_and_filters_pickle():
    cfg = ParseConfig(min_summary_tokens=8, min_body_lines=5, english_filter=False)
    filters = pickle.loads(pickle.dumps(pair_filters(cfg)))
    assert [f.name for f in filters] == ["body_lines", "empty_hard_positive", "summary_length"]
    assert first_rejection(filters, build_pair(FILE, _fn()))[1] == "body_lines<5"
    assert first_rejection(filters, build_pair(FILE, _fn(body_lines=9)))[1] == "summary_tokens<8"
    spanish = _fn(doc="Devuelve la suma de los dos números enteros.", body_lines=9)
    assert first_rejection(filters, build_pair(FILE, spanish)) is None


def test_options_roundtrip_argparse_and_beam():
    parser = argparse.ArgumentParser()
    add_parse_arguments(parser)
    assert parse_config_from_options(parser.parse_args([])) == ParseConfig()
    cfg = parse_config_from_options(parser.parse_args(
        ["--min-summary-tokens", "4", "--no-english-filter", "--no-pair-dedup", "--pair-dedup-threshold", "0.9"]
    ))
    assert (cfg.min_summary_tokens, cfg.english_filter, cfg.pair_dedup, cfg.pair_dedup_threshold) == (4, False, False, 0.9)
    assert pickle.loads(pickle.dumps(cfg)) == cfg

    # The pipeline's own options class: a second PipelineOptions subclass adding the same flags
    # would conflict in Beam's global parser (it collects every subclass's arguments).
    from pipeline.options import CodesageOptions

    opts = PipelineOptions(["--max-summary-tokens", "100", "--english-min-prob", "0.05"]).view_as(CodesageOptions)
    cfg = parse_config_from_options(opts)
    assert (cfg.max_summary_tokens, cfg.english_min_prob, cfg.english_filter) == (100, 0.05, True)
    with pytest.raises(UserError, match="min-summary-tokens"):
        parse_config_from_options(parser.parse_args(["--min-summary-tokens", "300"]))
    with pytest.raises(UserError, match="pair-dedup-threshold"):
        ParseConfig(pair_dedup_threshold=1.0)


# ----------------------------------------------------------------------------- the transform

PY_A = '''import os


def add_numbers(first, second):
    """Add two numbers and return their sum as an integer value.

    Args:
        first: the first number
    """
    total = first + second
    total = int(total)
    return total


def one_liner(x):
    """Return the input value unchanged, for testing purposes."""
    return x


def short_doc(values):
    """Sum."""
    acc = 0
    for v in values:
        acc += v
    return acc


def spanish(values):
    """Devuelve la suma de todos los elementos de la lista de valores."""
    acc = 0
    for v in values:
        acc += v
    return acc


def undocumented(a):
    b = a * 2
    return b


def only_return(a, b):
    """Compute the weighted product of the two arguments given."""
    return (
        a * b
    )
'''

# A vendored copy of add_numbers in another package, below an undocumented helper.
PY_B = '''def helper(z):
    z = z + 1
    return z


def add_numbers(first, second):
    """Add two numbers and return their sum as an integer value.

    Args:
        first: the first number
    """
    total = first + second
    total = int(total)
    return total
'''

PY_BAD = "))) ((( def ::: }}} {{{ ]]] class ;;; ,,, \n" * 20

JAVA = '''package a;

public class Strings {
    /**
     * Returns the reversed copy of the given string, e.g. "cba" for "abc".
     * @param s the input
     * @return the reversed string
     */
    public static String reverse(String s) {
        StringBuilder b = new StringBuilder(s);
        return b.reverse().toString();
    }
}
'''

GO = '''package strs

// Reverse returns the string s with its runes in reverse order.
func Reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}
'''

JS = '''/**
 * Devuelve la suma de todos los elementos del arreglo de entrada.
 * @param {number[]} xs
 */
function sum(xs) {
  let t = 0;
  for (const x of xs) t += x;
  return t;
}
'''

# Ids chosen so that the test-split copy (PY_B) sorts first by id: the train copy must still win.
ID_A, ID_B = "ffff" + "a" * 36, "0000" + "b" * 36


def _record(fid, lang, content, split, path):
    return {
        "id": fid, "lang": lang, "repo": f"pkg/{fid[:4]}@1", "path": path, "licenses": ["MIT"],
        "content": content, "size": len(content.encode()), "cluster_id": fid, "cluster_size": 1, "split": split,
    }


RECORDS = [
    _record(ID_A, "python", PY_A, "train", "a/math.py"),
    _record(ID_B, "python", PY_B, "test", "vendor/math.py"),
    _record("bad1", "python", PY_BAD, "train", "bad.py"),
    _record("java1", "java", JAVA, "valid", "Strings.java"),
    _record("go1", "go", GO, "train", "strs.go"),
    _record("js1", "javascript", JS, "train", "sum.js"),
    _record("cob1", "cobol", "IDENTIFICATION DIVISION.", "train", "x.cbl"),
]


def _check_pairs(rows):
    assert sorted(r["id"] for r in rows) == sorted([f"{ID_A}:4", "java1:4", "go1:3"])
    for row in rows:
        assert tuple(row) == PAIR_COLUMNS  # exactly the contract columns, in order
    table = validate(pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA), "pairs")
    assert table.num_rows == 3
    by_id = {r["id"]: r for r in rows}
    a = by_id[f"{ID_A}:4"]
    assert a["split"] == "train" and a["name"] == "add_numbers" and a["file_id"] == ID_A
    assert a["summary"] == "Add two numbers and return their sum as an integer value."
    assert "return" not in a["code_hard"] and "def add_numbers" not in a["code_hard"]
    assert by_id["java1:4"]["split"] == "valid"
    assert by_id["java1:4"]["summary"] == 'Returns the reversed copy of the given string, e.g. "cba" for "abc".'
    assert by_id["go1:3"]["summary"] == "Reverse returns the string s with its runes in reverse order."


def _check_rejected(rows):
    got = {(r["stage"], r["id"]): r for r in rows}
    reasons = {key: r["reason"] for key, r in got.items()}
    assert reasons[("parse", "bad1")].startswith("syntax_error_ratio>")
    assert reasons[("parse", "cob1")].startswith("unsupported_language:cobol")
    expected_filters = {
        f"{ID_A}:15": "body_lines<2",
        f"{ID_A}:20": "summary_tokens<3",
        f"{ID_A}:28": "summary_not_english:es",
        f"{ID_A}:41": "empty_hard_positive",
        "js1:1": "summary_not_english:es",
    }
    assert {k[1]: v for k, v in reasons.items() if k[0] == "pair_filter"} == expected_filters
    dedup = [r for r in rows if r["stage"] == "pair_dedup"]
    assert [(r["id"], r["kept_id"]) for r in dedup] == [(f"{ID_B}:6", f"{ID_A}:4")]
    assert len(rows) == 2 + 5 + 1
    assert all(r["lang"] and r["path"] for r in rows)


def _check_files(rows):
    assert sorted(r["id"] for r in rows) == sorted([ID_A, ID_B, "java1", "go1", "js1"])
    for r in rows:
        assert set(r) == set(RECORDS[0]) | {"identifiers"}
        spans = r["identifiers"]
        assert spans and all(0 <= s["start"] < s["end"] <= len(r["content"]) for s in spans)
        assert {s["kind"] for s in spans} <= {"class", "function", "variable"}


EXPECTED_STATS = [
    ("files_parsed", "python", 2), ("functions", "python", 8), ("functions_with_docs", "python", 6), ("pairs", "python", 1),
    ("files_parsed", "java", 1), ("functions", "java", 1), ("functions_with_docs", "java", 1), ("pairs", "java", 1),
    ("files_parsed", "go", 1), ("functions", "go", 1), ("functions_with_docs", "go", 1), ("pairs", "go", 1),
    ("files_parsed", "javascript", 1), ("functions", "javascript", 1), ("functions_with_docs", "javascript", 1),
    ("pairs", "javascript", 0),
]


def test_parse_files_end_to_end():
    p = test_pipeline.TestPipeline()
    out = p | beam.Create(RECORDS) | ParseFiles(ParseConfig())
    assert_that(out["pairs"], _check_pairs, label="pairs")
    assert_that(out["rejected"], _check_rejected, label="rejected")
    assert_that(out["files"], _check_files, label="files")
    assert_that(out["stats"], equal_to(EXPECTED_STATS), label="stats")
    result = p.run()
    result.wait_until_finish()

    def counter(name):
        res = result.metrics().query(MetricsFilter().with_namespace("codesage").with_name(name))["counters"]
        return sum(c.committed for c in res)

    assert counter("parse.files") == 5
    assert counter("parse.rejected") == 2
    assert counter("parse.functions") == 11
    assert counter("parse.functions_without_doc") == 2
    assert counter("pairs.candidates") == 9
    assert counter("pair_filter.dropped.english") == 2
    assert counter("pair_filter.dropped.body_lines") == 1
    assert counter("pairs.kept") == 3


def test_parse_files_flags_disable_filters_and_dedup():
    cfg = ParseConfig(english_filter=False, pair_dedup=False, min_body_lines=1)
    with test_pipeline.TestPipeline() as p:
        out = p | beam.Create(RECORDS[:2] + RECORDS[5:6]) | ParseFiles(cfg)
        assert_that(
            out["pairs"] | beam.Map(lambda r: (r["id"], r["split"])),
            equal_to([
                (f"{ID_A}:4", "train"), (f"{ID_A}:28", "train"),
                (f"{ID_B}:6", "test"), ("js1:1", "train"),
            ]),
            label="pairs",
        )
        assert_that(
            out["rejected"] | beam.Map(lambda r: (r["stage"], r["id"], r["reason"])),
            equal_to([
                # body_lines >= 1 now, but `return x` leaves no hard positive.
                ("pair_filter", f"{ID_A}:15", "empty_hard_positive"),
                ("pair_filter", f"{ID_A}:20", "summary_tokens<3"),
                ("pair_filter", f"{ID_A}:41", "empty_hard_positive"),
            ]),
            label="rejected",
        )


# ----------------------------------------------------------------------------- the real corpus

LANGS = ("python", "java", "javascript", "typescript", "go", "ruby", "php", "c", "c-sharp")


def _corpus_records(stack_sample, per_lang=3, max_size=40_000):
    """Per language, the first `per_lang` small files of the first shard that have a documented
    multi-line function (screened with the extractor, so each language is exercised)."""
    import pyarrow.parquet as pq

    from pipeline.parse.extract import Extractor

    records = []
    for lang in LANGS:
        shard = sorted((stack_sample / "data" / lang).glob("*.parquet"))[0]
        table = pq.read_table(shard, columns=["hexsha", "max_stars_repo_path", "content", "size"])
        ex, found = Extractor(lang), 0
        for row in table.to_pylist():
            if row["size"] > max_size:
                continue
            fns = ex.extract(row["content"]).functions
            if any(f.docstring and f.body_lines >= 3 for f in fns):
                split = ("train", "valid", "test")[found % 3]
                records.append(_record(row["hexsha"], lang, row["content"], split, row["max_stars_repo_path"]))
                found += 1
                if found == per_lang:
                    break
    return records


@pytest.mark.corpus
def test_stack_sample_every_language_yields_pairs(stack_sample):
    records = _corpus_records(stack_sample)
    splits = {r["id"]: r["split"] for r in records}

    def check(rows):
        validate(pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA), "pairs")
        assert {r["lang"] for r in rows} == set(LANGS)
        for r in rows:
            assert r["summary"].strip() and r["code"].strip() and r["code_hard"].strip()
            assert r["split"] == splits[r["file_id"]]
            assert r["id"] == f"{r['file_id']}:{r['start_line']}"

    with test_pipeline.TestPipeline() as p:
        out = p | beam.Create(records) | ParseFiles(ParseConfig(pair_dedup=False))
        assert_that(out["pairs"], check, label="pairs")
        assert_that(
            out["stats"] | beam.Filter(lambda s: s[0] == "pairs" and s[2] > 0) | beam.Map(lambda s: s[1]),
            equal_to(list(LANGS)),
            label="stats",
        )
