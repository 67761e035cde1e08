"""Python extraction vs the standard library `ast` (the oracle) over a directory of .py files.

For every function/method (lambdas assigned to names excluded: ast gives them no docstring)
that has a docstring according to `ast.get_docstring(clean=True)`, the extractor must produce
a function with the same qualified name (Class.method, outer.inner), the same line range
(first decorator line .. end_lineno, ast's convention) and the same docstring text.
Agreement = matched / oracle functions. Usage:

    python benchmarks/oracle_python.py [--root DIR] [--sample N] [--show 20]

Without --root, the running interpreter's standard library (sysconfig "stdlib") is used.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import sysconfig
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipeline.parse.extract import Extractor  # noqa: E402


def oracle_functions(source: str) -> dict[tuple[str, int], tuple[int, str]] | None:
    """(qualname, start_line) -> (end_line, docstring) for functions with a docstring."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
    out = {}
    stack = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                qual = f"{prefix}.{child.name}" if prefix else child.name
                if not isinstance(child, ast.ClassDef):
                    doc = ast.get_docstring(child, clean=True)
                    if doc is not None:
                        start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                        out[(qual, start)] = (child.end_lineno, doc)
                stack.append((child, qual))
            else:
                stack.append((child, prefix))
    return out


def iter_files(root: str):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "__pycache__"))
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def compare(paths, extractor: Extractor | None = None):
    """Returns (agree, total, disagreements list, files_compared)."""
    ex = extractor or Extractor("python", max_parse_ms=None)
    agree = total = files = 0
    problems = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                source = fh.read()
        except (UnicodeDecodeError, OSError):
            continue
        truth = oracle_functions(source)
        if truth is None or not truth:
            continue
        files += 1
        got = {}
        for fn in ex.extract(source).functions:
            got.setdefault((fn.name, fn.start_line), fn)
        for key, (end, doc) in truth.items():
            total += 1
            fn = got.get(key)
            if fn is None:
                problems.append((path, key, "missing"))
            elif fn.end_line != end:
                problems.append((path, key, f"end_line {fn.end_line} != {end}"))
            elif fn.docstring != doc:
                problems.append((path, key, f"docstring {fn.docstring!r:.60} != {doc!r:.60}"))
            else:
                agree += 1
    return agree, total, problems, files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--sample", type=int, default=0, help="every k-th file only (0: all)")
    ap.add_argument("--show", type=int, default=30)
    args = ap.parse_args(argv)
    paths = list(iter_files(args.root))
    if args.sample:
        paths = paths[:: args.sample]
    t0 = time.perf_counter()
    agree, total, problems, files = compare(paths)
    dt = time.perf_counter() - t0
    print(f"root={args.root} files={files} functions_with_docstring={total} agree={agree} "
          f"agreement={agree / max(total, 1):.4%} ({dt:.1f}s)")
    for path, key, why in problems[: args.show]:
        print(f"  {os.path.relpath(path, args.root)}:{key[1]} {key[0]}: {why}")
    if len(problems) > args.show:
        print(f"  ... {len(problems) - args.show} more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
