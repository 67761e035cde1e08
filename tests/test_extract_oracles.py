"""Oracle agreement: Python vs the standard library `ast` over the local stdlib, Java vs
`javalang` over The Stack sample. The full runs are benchmarks/oracle_python.py and
benchmarks/oracle_java.py; these tests use deterministic subsets to stay fast."""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import oracle_java  # noqa: E402
import oracle_python  # noqa: E402


def test_python_agrees_with_ast_on_stdlib_sample():
    root = sysconfig.get_paths()["stdlib"]
    paths = list(oracle_python.iter_files(root))[::15]  # every 15th file, sorted walk: deterministic
    agree, total, problems, files = oracle_python.compare(paths)
    rate = agree / total
    print(f"\npython vs ast: files={files} functions_with_docstring={total} agree={agree} agreement={rate:.4%}")
    for path, key, why in problems[:20]:
        print(f"  {path}:{key[1]} {key[0]}: {why}")
    assert total >= 300
    assert rate >= 0.995


def test_python_oracle_detects_disagreement():
    # the comparison is not vacuous: a wrong extractor result is counted as a disagreement
    class Wrong:
        def extract(self, source):
            from pipeline.parse.extract import Extractor
            res = Extractor("python").extract(source)
            for f in res.functions:
                f.docstring = (f.docstring or "") + "!"
            return res

    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.py")
        with open(p, "w") as fh:
            fh.write('def f():\n    """Doc."""\n    return 1\n')
        agree, total, problems, _ = oracle_python.compare([p], Wrong())
    assert (agree, total, len(problems)) == (0, 1, 1)


@pytest.mark.slow
def test_java_agrees_with_javalang_on_stack_sample(stack_sample):
    sources = oracle_java.java_sources(str(stack_sample), limit=250)
    agree, total, problems, skipped = oracle_java.compare(sources)
    rate = agree / total
    print(f"\njava vs javalang: files={len(sources)} javalang_failed={skipped} documented={total} "
          f"agree={agree} agreement={rate:.4%}")
    for i, name, line, why in problems[:20]:
        print(f"  file#{i} line {line} {name}: {why}")
    assert total >= 300
    assert rate >= 0.98  # measured 100% on all 1,429 files (5,213 methods); floor leaves room for grammar drift
