"""Java extraction vs `javalang` (the oracle) on The Stack sample's Java files.

For every method and constructor with a body that javalang attaches a Javadoc to, the extractor must
produce a function with the same simple name whose start_line is the line where that Javadoc
starts, whose range contains javalang's declaration line, and whose docstring equals the
Javadoc cleaned by the same rule (markers and leading asterisks removed). Files javalang
cannot parse are skipped (counted). Usage:

    python benchmarks/oracle_java.py [--corpus ../shared/corpus/stack-sample] [--limit N]
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import javalang  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from pipeline.parse.extract import Extractor  # noqa: E402

DEFAULT_CORPUS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..",
                              "shared", "corpus", "stack-sample")


def java_sources(corpus: str, limit: int | None = None) -> list[str]:
    files = sorted(glob.glob(os.path.join(corpus, "data", "java", "*.parquet")))
    out: list[str] = []
    for f in files:
        out.extend(pq.read_table(f, columns=["content"]).column("content").to_pylist())
    return out[:limit] if limit else out


def oracle_methods(source: str):
    """[(name, declaration_line, doc_start_line, raw_javadoc)] or None when javalang fails."""
    try:
        tree = javalang.parse.parse(source)
    except Exception:  # javalang raises many types (JavaSyntaxError, LexerError, StopIteration...)
        return None
    out = []
    for kind in (javalang.tree.MethodDeclaration, javalang.tree.ConstructorDeclaration):
        for _, node in tree.filter(kind):
            if not node.documentation or node.position is None or node.body is None:
                continue  # bodyless (abstract/interface) methods are not functions for pairs
            line = node.position.line
            # the Javadoc's first line: its last occurrence before the declaration line
            cut = _line_offset(source, line)
            at = source.rfind(node.documentation, 0, cut)
            if at < 0:
                continue
            out.append((node.name, line, source.count("\n", 0, at) + 1, node.documentation))
    return out


def _line_offset(source: str, line: int) -> int:
    pos = 0
    for _ in range(line - 1):
        nxt = source.find("\n", pos)
        if nxt < 0:
            return len(source)
        pos = nxt + 1
    return pos


def compare(sources, extractor: Extractor | None = None):
    ex = extractor or Extractor("java", max_parse_ms=None)
    agree = total = skipped = 0
    problems = []
    for i, source in enumerate(sources):
        truth = oracle_methods(source)
        if truth is None:
            skipped += 1
            continue
        if not truth:
            continue
        funcs = ex.extract(source).functions
        for name, line, doc_line, raw in truth:
            total += 1
            expected_doc = Extractor._clean_block(raw, "/**", "*/")
            cands = [f for f in funcs if f.name.rsplit(".", 1)[-1] == name and f.start_line <= line <= f.end_line]
            if not cands:
                problems.append((i, name, line, "missing"))
                continue
            fn = min(cands, key=lambda f: f.end_line - f.start_line)
            if fn.start_line != doc_line:
                problems.append((i, name, line, f"start_line {fn.start_line} != {doc_line}"))
            elif fn.docstring != expected_doc:
                problems.append((i, name, line, f"docstring {fn.docstring!r:.50} != {expected_doc!r:.50}"))
            else:
                agree += 1
    return agree, total, problems, skipped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--show", type=int, default=30)
    args = ap.parse_args(argv)
    sources = java_sources(args.corpus, args.limit or None)
    t0 = time.perf_counter()
    agree, total, problems, skipped = compare(sources)
    print(f"java files={len(sources)} javalang_failed={skipped} documented_methods={total} agree={agree} "
          f"agreement={agree / max(total, 1):.4%} ({time.perf_counter() - t0:.1f}s)")
    for i, name, line, why in problems[: args.show]:
        print(f"  file#{i} line {line} {name}: {why}")
    if len(problems) > args.show:
        print(f"  ... {len(problems) - args.show} more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
