"""Small, language-agnostic helpers around tree-sitter: byte/char offsets, bounded parsing,
text surgery on spans. No function here knows about any particular language.

Invariants:
- tree-sitter positions are UTF-8 byte offsets and (row, byte column) points; everything this
  module returns is a Python ``str`` index (code points) into the original content.
- Nothing recurses over the syntax tree: callers use query cursors (iterative, in C) and
  explicit stacks, so deep trees cannot blow the Python stack.
"""
from __future__ import annotations

import bisect
import math
import os
import re

import tree_sitter


class ParseTimeout(Exception):
    """The parser was cancelled: the file needs more parse work than its budget."""


# tree-sitter calls the progress callback once per 100 parser operations (OP_COUNT_PER_PARSER_TIMEOUT_CHECK
# in lib/src/parser.c): a count that depends only on the input and the grammar. The parse budget is
# counted in these checks, never in wall time, so whether a file is rejected does not depend on the
# machine or its load (same input and options -> same output, on any runner). A budget of 1 ms is
# PROGRESS_CHECKS_PER_MS checks: what one core parses in a millisecond (21-29 measured on the Stack
# sample on this project's 2-core machine; about 5 checks per KB of ordinary code).
PROGRESS_CHECKS_PER_MS = 25


def parse_budget_checks(max_parse_ms: float) -> int:
    """The number of progress checks a parse may use under a budget of `max_parse_ms`."""
    return max(1, math.ceil(max_parse_ms * PROGRESS_CHECKS_PER_MS))


def parse_work(parser: tree_sitter.Parser, data: bytes) -> int:
    """The progress checks (units of 100 parser operations) a full parse of `data` takes."""
    view = memoryview(data)
    checks = 0

    def progress(_offset: int, _has_error: bool) -> bool:
        nonlocal checks
        checks += 1
        return False

    parser.parse(lambda offset, _point: view[offset:], progress_callback=progress)
    return checks


def encode(content: str) -> bytes:
    # surrogatepass keeps lone surrogates (possible in decoded Parquet strings) round-trippable
    return content.encode("utf-8", "surrogatepass")


def parse_bounded(parser: tree_sitter.Parser, data: bytes, max_parse_ms: float | None,
                  keep_source: bool = False) -> tree_sitter.Tree:
    """Parse `data` within a work budget of `max_parse_ms` (None: no bound); raises ParseTimeout.

    The budget is deterministic: `parse_budget_checks(max_parse_ms)` progress checks of the
    tree-sitter 0.25+ progress callback (one per 100 parser operations; returning True cancels),
    not wall time, so the same file is accepted or rejected on every machine and under any load.
    The parser is reset after a cancellation so it can be reused for the next file.

    A tree parsed through a read callback keeps no source bytes: `Node.text` and text
    predicates in queries (#eq?, #any-of?, #match?) then crash the binding (0.26.1). With
    keep_source=True the tree is re-parsed from bytes incrementally (old_tree, no edits:
    every subtree is reused, ~10% of a parse) so that it carries its source.
    """
    if not max_parse_ms:
        return parser.parse(data)
    view = memoryview(data)
    left = parse_budget_checks(max_parse_ms)

    def read(offset: int, _point) -> bytes:
        return view[offset:]

    def progress(_offset: int, _has_error: bool) -> bool:
        nonlocal left
        left -= 1
        return left < 0

    try:
        tree = parser.parse(read, progress_callback=progress)
    except ValueError as exc:  # "Parsing failed": cancelled by the progress callback
        parser.reset()
        raise ParseTimeout(str(exc)) from None
    if keep_source:
        tree = parser.parse(data, old_tree=tree)
    return tree


class OffsetMap:
    """Converts tree-sitter (byte, point) positions to Python str indices in O(1) per position
    on ASCII lines and O(column) on lines with non-ASCII characters. The per-line tables of a
    non-ASCII file are built on the first conversion (many files never need one)."""

    __slots__ = ("ascii", "char_starts", "byte_lines", "line_ascii", "_src")

    def __init__(self, content: str, data: bytes):
        self.ascii = len(content) == len(data)
        self._src = None if self.ascii else (content, data)
        self.char_starts = self.byte_lines = self.line_ascii = None

    def _build(self) -> None:
        content, data = self._src
        self._src = None
        lines = content.split("\n")  # tree-sitter rows advance on "\n" only
        starts = [0] * len(lines)
        pos = 0
        for i, line in enumerate(lines):
            starts[i] = pos
            pos += len(line) + 1
        self.char_starts = starts
        self.line_ascii = [line.isascii() for line in lines]
        self.byte_lines = data.split(b"\n")

    def char(self, byte: int, point) -> int:
        if self.ascii:
            return byte
        if self._src is not None:
            self._build()
        row, col = point
        if self.line_ascii[row]:
            return self.char_starts[row] + col
        return self.char_starts[row] + len(self.byte_lines[row][:col].decode("utf-8", "surrogatepass"))

    def start(self, node: tree_sitter.Node) -> int:
        return self.char(node.start_byte, node.start_point)

    def end(self, node: tree_sitter.Node) -> int:
        return self.char(node.end_byte, node.end_point)


class RangeSet:
    """Sorted, merged half-open ranges with a fast membership test (bisect)."""

    def __init__(self, ranges):
        merged: list[list[int]] = []
        for s, e in sorted(ranges):
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1][1] = e
            else:
                merged.append([s, e])
        self.starts = [r[0] for r in merged]
        self.ends = [r[1] for r in merged]

    def __bool__(self) -> bool:
        return bool(self.starts)

    def covers(self, start: int, end: int) -> bool:
        """True when [start, end) overlaps any range."""
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.ends[i] > start:
            return True
        j = i + 1
        return j < len(self.starts) and self.starts[j] < end

    def total(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends))


def remove_spans(text: str, spans: list[tuple[int, int]], stand_ins: dict[int, str] | None = None) -> str:
    """Delete the [start, end) spans from text. A span that is alone on its line(s) (only
    whitespace around it) takes the whole line(s) with it, so no blank line is left behind.
    Spans must be sorted; overlapping or nested spans are merged.

    `stand_ins` maps the start of a span to the text that replaces it instead (`pass` for a
    return that is all its block holds): such a span never takes its line with it. A stand-in
    whose span merged into one starting earlier is dropped with the rest of that span."""
    if not spans:
        return text
    out = []
    pos = 0
    for start, end in zip(*_merged(spans)):
        if start < pos:
            start = pos
            if end <= start:
                continue
        if stand_ins and start in stand_ins:
            out.append(text[pos:start])
            out.append(stand_ins[start])
            pos = end
            continue
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        if line_end == -1:
            line_end = len(text)
        if line_start >= pos and not text[line_start:start].strip() and not text[end:line_end].strip():
            start = line_start
            end = line_end + 1 if line_end < len(text) else line_end
            if line_end == len(text) and start > 0 and start >= pos + 1 and text[start - 1] == "\n":
                start -= 1  # last line removed: drop the newline before it instead
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _merged(spans):
    if len(spans) == 1:  # the common case (a docstring): no sort, no merge
        return (spans[0][0],), (spans[0][1],)
    rs = RangeSet(spans)
    return rs.starts, rs.ends


_NON_TAB = re.compile(r"[^\t]")


def pad_prefix(prefix: str) -> str:
    """The text before a block on its first line, as whitespace of the same width (tabs kept),
    so that the first line dedents like the following ones."""
    return _NON_TAB.sub(" ", prefix) if prefix else ""


def cleandoc(doc: str) -> str:
    """`inspect.cleandoc` as Python 3.10-3.12 define it, on every Python: tabs expanded, the first
    line's leading whitespace and the other lines' common leading whitespace (any Unicode
    whitespace, e.g. U+00A0) removed, leading and trailing blank lines dropped. Python 3.13 counts
    only spaces and tabs, so calling inspect's made the pipeline's output bytes depend on the
    interpreter's version."""
    lines = doc.expandtabs().split("\n")
    margin = None
    for line in lines[1:]:
        content = len(line.lstrip())
        if content:
            indent = len(line) - content
            margin = indent if margin is None else min(margin, indent)
    lines[0] = lines[0].lstrip()
    if margin:
        lines[1:] = [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    start = 0
    while start < len(lines) and not lines[start]:
        start += 1
    return "\n".join(lines[start:])


def dedent_block(text: str) -> str:
    """Remove the whitespace prefix common to all non-blank lines not starting with `#` at column 0
    (like textwrap.dedent, but without its regex passes); drop leading/trailing blank lines and
    trailing spaces.

    The margin is the leading " \t" run of the common prefix of the non-blank lines, which is
    the common prefix of their indentations (found by min/max in C, not per line)."""
    lines = list(map(str.rstrip, text.split("\n")))
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    lines = lines[start:end]
    if not lines:
        return ""
    # lines written at column 0 by convention (C preprocessor `#if`, commented-out code) do not
    # hold the block's margin at 0; they stay where they are
    prefix = os.path.commonprefix([line for line in lines if line and line[0] != "#"] or list(filter(None, lines)))
    n = len(prefix) - len(prefix.lstrip(" \t"))
    if n:
        margin = prefix[:n]
        lines = [line[n:] if line.startswith(margin) else line for line in lines]
    return "\n".join(lines)


def count_nonempty_lines(text: str) -> int:
    return len(list(filter(None, map(str.strip, text.split("\n")))))
