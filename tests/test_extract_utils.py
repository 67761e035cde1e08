"""The language-agnostic helpers of pipeline/parse/ts_utils.py."""
from __future__ import annotations

import textwrap

import pytest

from pipeline.parse.ts_utils import OffsetMap, RangeSet, dedent_block, encode, pad_prefix, remove_spans


def test_offset_map_converts_bytes_to_str_indices():
    content = "ab\né日x = 1\n\tz"
    data = encode(content)
    om = OffsetMap(content, data)
    assert not om.ascii
    for i, ch in enumerate(content):
        b = len(encode(content[:i]))
        row = content.count("\n", 0, i)
        col = b - len(encode(content[: content.rfind("\n", 0, i) + 1]))
        assert om.char(b, (row, col)) == i, ch
    ascii_map = OffsetMap("abc", b"abc")
    assert ascii_map.ascii and ascii_map.char(2, (0, 2)) == 2


def test_remove_spans_drops_lines_left_blank():
    text = "a = 1\n    return a\nb = 2  # keep\nif x: return y\n"
    s1 = text.index("return a")
    s2 = text.index("return y")
    out = remove_spans(text, [(s1, s1 + len("return a")), (s2, s2 + len("return y"))])
    assert out == "a = 1\nb = 2  # keep\nif x: \n"
    assert remove_spans("x\nreturn z", [(2, 10)]) == "x"
    assert remove_spans("abc", []) == "abc"


def test_remove_spans_stand_ins_replace_a_span_and_keep_its_line():
    text = "if a:\n    return 1\nx = 2\nreturn x"
    s1, s2 = text.index("return 1"), text.index("return x")
    spans = [(s1, s1 + len("return 1")), (s2, len(text))]
    assert remove_spans(text, spans, {s1: "pass"}) == "if a:\n    pass\nx = 2"
    # a stand-in inside a span that starts earlier goes with that span
    assert remove_spans(text, [(0, s1 + 3), (s1, s1 + len("return 1"))], {s1: "pass"}) == "x = 2\nreturn x"


@pytest.mark.parametrize("text", [
    "    a\n      b\n\n    c\n",
    "\tif x:\n\t\ty\n",
    "  a\n    b  \n",
    "a\n  b\n",
])
def test_dedent_block_matches_textwrap(text):
    expected = textwrap.dedent(text).strip("\n")
    expected = "\n".join(l.rstrip() for l in expected.split("\n"))
    assert dedent_block(text) == expected


def test_pad_prefix_and_rangeset():
    assert pad_prefix("\tfoo = ") == "\t      "
    rs = RangeSet([(10, 20), (15, 30), (40, 50)])
    assert (rs.starts, rs.ends) == ([10, 40], [30, 50])
    assert rs.covers(29, 31) and rs.covers(5, 11) and not rs.covers(30, 40) and rs.total() == 30


def test_function_text_layout_on_crlf_source():
    """docs/pairs.md: code/code_hard are dedented, trailing whitespace (so CR of CRLF) is stripped,
    lines end in LF; line numbers still locate the function in the unmodified file."""
    from pipeline.parse.extract import Extractor

    content = ('class A:\r\n    def f(self, x):  \r\n        """Doc here."""\r\n'
               '        y = x\r\n        return y\r\n')
    (fn,) = Extractor("python").extract(content).functions
    assert fn.code == "def f(self, x):\n    y = x\n    return y"
    assert fn.code_hard == "y = x"
    lines = content.split("\r\n")
    assert lines[fn.start_line - 1].strip().startswith("def f") and lines[fn.end_line - 1].strip() == "return y"


def test_dedent_block_ignores_column_0_hash_lines():
    # C# / C preprocessor lines sit at column 0 by convention; they kept whole methods indented
    from pipeline.parse.ts_utils import dedent_block

    assert dedent_block("        a();\n#if DEBUG\n        b();\n#endif\n        c();") == "a();\n#if DEBUG\nb();\n#endif\nc();"
    assert dedent_block("    x = 1\n# commented out\n    y = 2") == "x = 1\n# commented out\ny = 2"
    assert dedent_block("#a\n#b") == "#a\n#b"
    assert dedent_block("#a\n  b\n    c") == "#a\nb\n  c"


def test_cleandoc_is_pythons_3_10_to_3_12_on_every_python():
    """Python 3.13's inspect.cleandoc counts only spaces and tabs as indentation; the pipeline's
    bytes must not depend on the interpreter, so ours keeps 3.10-3.12's rule everywhere."""
    import inspect
    import random
    import sys

    from pipeline.parse.ts_utils import cleandoc

    assert cleandoc("First.\n    \xa0Utilities #\n    \xa0more") == "First.\nUtilities #\nmore"
    assert cleandoc("x\n  a\n   b\n") == "x\na\n b"
    if sys.version_info < (3, 13):
        rng = random.Random(0)
        for _ in range(3000):
            doc = "".join(rng.choice(["a", " ", "\t", "\n", "\xa0", "\u3000", "b"]) for _ in range(rng.randint(0, 30)))
            assert cleandoc(doc) == inspect.cleandoc(doc), repr(doc)
