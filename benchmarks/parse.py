"""Extraction throughput vs the parse-only tree-sitter ceiling, same files, same process.

For each language of The Stack sample: the ceiling is `Parser.parse(bytes)` alone (what any
tree-sitter extraction must pay); extraction is `Extractor.extract(content)` (bounded parse,
functions, docs, hard positives, identifier spans: everything the pipeline asks of a file).
Both run single-threaded, so MB/s is per core. Ratio = extraction MB/s / parse-only MB/s
(target >= 0.6). Usage:

    python benchmarks/parse.py [--corpus ../shared/corpus/stack-sample] [--limit-mb 2] [--repeat 1] [--breakdown]
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow.parquet as pq  # noqa: E402
import tree_sitter  # noqa: E402

from pipeline.languages import registry  # noqa: E402
from pipeline.parse.extract import Extractor, _unparsed_regions  # noqa: E402
from pipeline.parse.ts_utils import OffsetMap  # noqa: E402

DEFAULT_CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                              "shared", "corpus", "stack-sample")


def load(corpus: str, lang_dir: str, limit_bytes: int) -> list[str]:
    out, size = [], 0
    for f in sorted(glob.glob(os.path.join(corpus, "data", lang_dir, "*.parquet"))):
        for text in pq.read_table(f, columns=["content"]).column("content").to_pylist():
            if limit_bytes and size >= limit_bytes:
                return out
            out.append(text)
            size += len(text.encode("utf-8", "surrogatepass"))
    return out


def best_of(repeat: int, fn) -> float:
    return min(_timed(fn) for _ in range(repeat))


def _timed(fn) -> float:
    # CPU time of this process: MB/s per core, robust to other jobs sharing the machine
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--languages", default="", help="comma list (default: every language in the corpus)")
    ap.add_argument("--limit-mb", type=float, default=2.0, help="per language (0: all files)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs of each side")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time the extraction's C-level parts alone (the query traversal over "
                         "pre-parsed trees, the identifier token split) and print where extraction time goes")
    args = ap.parse_args(argv)
    data_dir = os.path.join(args.corpus, "data")
    if not os.path.isdir(data_dir):
        print(f"no corpus at {args.corpus} (expected data/<lang>/*.parquet)", file=sys.stderr)
        return 2
    wanted = registry.parse_language_list(args.languages or None)
    rows = []
    breakdown = []
    tot_bytes = tot_parse = tot_extract = 0.0
    print(f"{'language':<12}{'files':>7}{'MB':>8}{'parse MB/s':>12}{'extract MB/s':>14}{'ratio':>8}"
          f"{'functions':>11}{'with doc':>10}{'ids':>9}{'errors':>8}")
    for lang_dir in sorted(os.listdir(data_dir)):
        key = registry.canonical_key(lang_dir)
        if key is None or (wanted and key not in wanted):
            continue
        texts = load(args.corpus, lang_dir, int(args.limit_mb * 1e6))
        blobs = [t.encode("utf-8", "surrogatepass") for t in texts]
        mb = sum(map(len, blobs)) / 1e6
        parser = tree_sitter.Parser(registry.get(key).ts_language())
        extractor = Extractor(key)

        def parse_only():
            for b in blobs:
                parser.parse(b)

        results = []

        def extract_all():
            # what the pipeline does per file: extract, then read the texts of documented functions
            results.clear()
            for t in texts:
                res = extractor.extract(t)
                for f in res.functions:
                    if f.docstring:
                        f.code, f.code_hard, f.body_lines  # noqa: B018 (materialize)
                results.append(res)

        # the two sides alternate (parse, extract, parse, extract...) so that a change in the
        # machine's load during the run weighs on both alike; each keeps its best run
        t_parse = t_extract = float("inf")
        for _ in range(args.repeat):
            t_parse = min(t_parse, _timed(parse_only))
            t_extract = min(t_extract, _timed(extract_all))
        if args.breakdown:
            breakdown.append((key, t_parse, t_extract) + _parts(extractor, texts, blobs, args.repeat))
        n_fn = sum(len(r.functions) for r in results)
        n_doc = sum(1 for r in results for f in r.functions if f.docstring)
        n_id = sum(len(r.identifiers) for r in results)
        n_err = sum(1 for r in results if r.error)
        print(f"{key:<12}{len(texts):>7}{mb:>8.2f}{mb / t_parse:>12.2f}{mb / t_extract:>14.2f}"
              f"{t_parse / t_extract:>8.2f}{n_fn:>11}{n_doc:>10}{n_id:>9}{n_err:>8}")
        rows.append(key)
        tot_bytes += mb
        tot_parse += t_parse
        tot_extract += t_extract
    if not rows:
        print("no language of the corpus selected", file=sys.stderr)
        return 2
    print(f"{'all':<12}{'':>7}{tot_bytes:>8.2f}{tot_bytes / tot_parse:>12.2f}{tot_bytes / tot_extract:>14.2f}"
          f"{tot_parse / tot_extract:>8.2f}")
    print("parse = tree_sitter.Parser.parse(bytes) only (ceiling); extract = Extractor.extract(str) + code/code_hard/body_lines of documented functions; "
          "single thread (per core); ratio = extract/parse throughput, target >= 0.6")
    if breakdown:
        print("\nwhere extraction time goes, in units of one parse-only pass over the same files:")
        print(f"{'language':<12}{'parse':>8}{'query':>8}{'scan':>8}{'python':>8}{'total':>8}")
        for key, t_parse, t_extract, t_query, t_scan in breakdown:
            rest = t_extract - t_parse - t_query - t_scan
            print(f"{key:<12}{1:>8.2f}{t_query / t_parse:>8.2f}{t_scan / t_parse:>8.2f}"
                  f"{rest / t_parse:>8.2f}{t_extract / t_parse:>8.2f}")
        print("query = QueryCursor(all queries).captures(root) on pre-parsed trees; scan = the identifier "
              "occurrence scan as extraction runs it (numpy token finder from 4 KB, regex split below, "
              "output dicts included) on prepared inputs; python = the rest (extract total - parse - query - "
              "scan; the bounded parse inside extraction is counted as one parse)")
    return 0


def _parts(extractor, texts, blobs, repeat) -> tuple[float, float]:
    """CPU seconds of two parts of extraction run alone: (query traversal, identifier scan).

    The scan is timed as extraction runs it (`_scan_identifiers`: numpy token finder for files of
    SCAN_MIN_BYTES or more, regex split below, output dicts included) on inputs prepared
    beforehand (captures, defined names, unparsed regions)."""
    roots = [extractor.parser.parse(b).root_node for b in blobs]
    query = extractor.q_all
    t_query = best_of(repeat, lambda: [tree_sitter.QueryCursor(query).captures(r) for r in roots])
    t_scan = 0.0
    if extractor.token_re is not None:
        jobs = []
        for text, data, root in zip(texts, blobs, roots):
            caps = tree_sitter.QueryCursor(query).captures(root)
            kinds = extractor.defined_names(caps, data)
            if kinds:
                errors = _unparsed_regions(root)[0] if root.has_error else []
                jobs.append((caps, text, data, OffsetMap(text, data), errors, kinds))
        t_scan = best_of(repeat, lambda: [extractor._scan_identifiers(*job) for job in jobs])
    return t_query, t_scan


if __name__ == "__main__":
    raise SystemExit(main())
