"""Integration over ../shared/corpus/stack-sample: every one of the nine languages yields
documented functions with non-empty docstring, code and code_hard, and code_hard holds
neither the signature line nor a return statement."""
from __future__ import annotations

import glob
import os
import re

import pyarrow.parquet as pq
import pytest

from pipeline.languages import registry
from pipeline.parse.extract import Extractor

NINE = ["c", "c-sharp", "go", "java", "javascript", "php", "python", "ruby", "typescript"]
MAX_FILES = 120
RETURN_STMT = re.compile(r"^\s*return\b(?!\s*[=:(.,])", re.M)  # a statement, not a `return` key/name
# comments and string literals may say "return"; blank them (crudely, any language) before looking
NOT_CODE = re.compile(r'/\*.*?\*/|//[^\n]*|#[^\n]*|""".*?"""|\'\'\'.*?\'\'\'|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`',
                      re.S)


def _contents(stack_sample, key):
    files = sorted(glob.glob(os.path.join(str(stack_sample), "data", key, "*.parquet")))
    assert files, f"no parquet files for {key}"
    return pq.read_table(files[0], columns=["content"]).column("content").to_pylist()[:MAX_FILES]


@pytest.mark.parametrize("key", NINE)
def test_language_yields_documented_functions(stack_sample, key):
    assert registry.canonical_key(key) == key
    ex = Extractor(key)
    documented = 0
    for content in _contents(stack_sample, key):
        res = ex.extract(content)
        for s in res.identifiers[:50]:
            assert 0 <= s["start"] < s["end"] <= len(content)
        for fn in res.functions:
            if not fn.docstring or fn.body_lines < 2:
                continue
            assert fn.code.strip() and fn.docstring.strip(), fn.name
            if not fn.code_hard.strip():
                continue  # e.g. a body that is one multi-line return: no hard positive (the pair is dropped)
            documented += 1
            simple = re.escape(fn.name.rsplit(".", 1)[-1])
            sig = next((l for l in fn.code.split("\n") if re.search(rf"(?<![\w$]){simple}(?![\w$])", l)), None)
            assert sig is not None, (fn.name, fn.code[:200])
            hard_lines = {l.strip() for l in fn.code_hard.split("\n")}
            assert sig.strip() not in hard_lines, (key, fn.name, sig)
            assert not RETURN_STMT.search(NOT_CODE.sub(" ", fn.code_hard)), (key, fn.name, fn.code_hard)
    print(f"{key}: {documented} documented functions with bodies of 2+ lines")
    assert documented >= 5
