"""Pure tree-sitter extraction: one parse per file -> functions (with docs, code, hard code) and
identifier spans for deobfuscation. No Beam here; the DoFn in transform.py calls `Extractor`.

The extractor is generic: every language difference lives in the language's spec folder
(pipeline/languages/specs/<key>/: spec.toml [functions], [doc], [parse] tables and the .scm
queries). See docs/adding-a-language.md for the capture names and settings.

Contract of `Extractor(lang).extract(content) -> FileExtraction`:
- `error` is None or a reason (`parse_timeout`, `syntax_error_ratio>R`, `max_depth_exceeded`);
  with an error, `functions` and `identifiers` are empty.
- `identifiers`: sorted, non-overlapping {start, end, kind} with str (code point) offsets into
  `content`; kind in class/function/variable; never inside comments, string literals or
  unparsed regions. A name is marked iff the file defines it (class, function, parameter,
  variable, attribute assignment): every occurrence of such a name gets the kind of its
  definition (class > function > variable when a name has several roles). Names the file only
  uses (builtins like `print`, library calls) are not marked, as in the paper's example.
  Occurrences come from the spec's [identifiers] token regex (lexical scan) or, without it,
  from the @reference captures.
- `functions`: every function/method with a body, nested ones included, whose definition
  subtree has no syntax error. Line numbers are 1-based inclusive and include the doc comment
  above (and decorators/attributes). `code` is the function without its documentation;
  `code_hard` the body without the signature and with every return statement removed;
  `body_lines` the non-empty lines of the body (documentation excluded, returns kept).
  code/code_hard/body_lines are computed on first access (see `Function`).

Cost per file: one bounded parse, one query traversal (all of the spec's queries compiled together,
read with `captures()`), one identifier scan of the text with comments/strings blanked (numpy
passes from SCAN_MIN_BYTES, see pipeline/parse/scan.py; a regex split below), and Python work
proportional to functions and defined-name occurrences (texts of a function only when read). The
cyclic garbage collector is paused while one file is extracted (its allocations are acyclic).
`python benchmarks/parse.py --breakdown` prints these parts in units of a parse. Not thread-safe: use one
Extractor per thread (the DoFn builds one per language in setup).
"""
from __future__ import annotations

import ast
import bisect
import dataclasses
import gc
import re
import warnings
from itertools import accumulate, compress, count, repeat
from operator import attrgetter, methodcaller, neg
from typing import Any, NamedTuple

import tree_sitter

from pipeline.languages import registry
from pipeline.parse.scan import TokenScanner, blank_utf8, code_points
from pipeline.parse.ts_utils import (
    OffsetMap,
    ParseTimeout,
    RangeSet,
    cleandoc,
    count_nonempty_lines,
    dedent_block,
    encode,
    pad_prefix,
    parse_bounded,
    remove_spans,
)

KINDS = ("class", "function", "variable")  # strongest role first
# every capture name the extractor reads (docs/adding-a-language.md, "Query capture names")
KNOWN_CAPTURES = frozenset({"function", "name", "body", "qualifier", "scope", "return", "exclude", "reference",
                            *(f"definition.{kind}" for kind in KINDS)})
_ROW_COL = re.compile(r"row (\d+), column (\d+)")
# per-node reads as C-level maps (list(map(_START, nodes))): no Python frame per node
_START = attrgetter("start_byte")
_END = attrgetter("end_byte")
_POSITION = attrgetter("start_byte", "end_byte")
_DECODE = methodcaller("decode", "utf-8", "surrogatepass")


DEFAULT_MAX_PARSE_MS = 2000.0
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ERROR_RATIO = 0.5
# the numpy scan (pipeline/parse/scan.py) costs ~50 array calls per file whatever its size and
# about half the regex split per byte: it wins from about 4 KB (measured on the Stack sample)
SCAN_MIN_BYTES = 4096


def _node_bytes(data: bytes, nodes) -> list[bytes]:
    """data[n.start_byte:n.end_byte] for every node."""
    return list(map(data.__getitem__, map(slice, map(_START, nodes), map(_END, nodes))))


class Function:
    """One extracted function. name/start_line/end_line/docstring are computed eagerly; code,
    code_hard and body_lines on first access (the pipeline only needs them for documented
    functions, about a quarter of all), then cached. Equality and repr cover every field."""

    __slots__ = ("name", "start_line", "end_line", "docstring", "_code", "_code_hard", "_body_lines", "_make")
    FIELDS = ("name", "start_line", "end_line", "docstring", "code", "code_hard", "body_lines")

    def __init__(self, name: str, start_line: int, end_line: int, docstring: str | None,
                 code: str | None = None, code_hard: str | None = None, body_lines: int | None = None,
                 make=None):
        self.name = name
        self.start_line = start_line
        self.end_line = end_line
        self.docstring = docstring
        self._code, self._code_hard, self._body_lines = code, code_hard, body_lines
        self._make = make  # () -> (code, code_hard, body_lines)

    def _materialize(self) -> None:
        if self._make is not None:
            self._code, self._code_hard, self._body_lines = self._make()
            self._make = None

    @property
    def code(self) -> str:
        self._materialize()
        return self._code

    @property
    def code_hard(self) -> str:
        self._materialize()
        return self._code_hard

    @property
    def body_lines(self) -> int:
        self._materialize()
        return self._body_lines

    def to_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.FIELDS}

    def __eq__(self, other) -> bool:
        return isinstance(other, Function) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Function({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"


@dataclasses.dataclass
class FileExtraction:
    functions: list[Function]
    identifiers: list[dict]
    error: str | None = None
    syntax_errors: int = 0        # ERROR/MISSING regions in the tree (the file may still be usable)
    skipped_functions: int = 0    # functions dropped because their own subtree has a syntax error


def _decode_none(text: str) -> str | None:
    return text


def _decode_python_literal(text: str) -> str | None:
    """Evaluate a string literal without executing anything (ast.literal_eval only builds
    constants); non-str results (bytes, f-strings) mean "not a docstring", as for `ast`."""
    quote = text[:3] if text[:3] in ('"""', "'''") else text[:1]
    if (quote in ('"""', "'''", '"', "'") and len(text) >= 2 * len(quote) and text.endswith(quote)
            and text.isascii() and "\\" not in text and "\r" not in text and "\x00" not in text
            and quote not in text[len(quote):-len(quote)] and (len(quote) == 1 and "\n" not in text or len(quote) == 3 and text[-4] != quote[0])):
        # a plain literal without prefix, escapes or CR: its value is its inside (no compile)
        return text[len(quote):-len(quote)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return _valid_unicode(value) if isinstance(value, str) else None


def _valid_unicode(text: str) -> str:
    """`text` with escaped surrogates made encodable: a "\\ud83d\\ude00" pair becomes its
    character, a lone surrogate U+FFFD. A str holding one cannot be written as UTF-8 (Beam's
    coders and Parquet both fail on it), and only a literal's escapes can produce one."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# String decoders a spec may name in [doc] decoder (the only code-level hook, chosen by data).
DECODERS = {"none": _decode_none, "python_literal": _decode_python_literal}


@dataclasses.dataclass(frozen=True)
class DocStyle:
    """[doc] table of a spec. style = "comment_above" | "body_string"."""

    style: str
    comment_types: frozenset
    block_markers: tuple          # ((open, close), ...) block doc comments, e.g. ("/**", "*/")
    line_prefixes: tuple          # line doc comment prefixes, longest first, e.g. ("///",)
    reject_prefixes: tuple        # comments starting with these are never docs (e.g. "//!", "#!")
    blank_line_breaks: bool       # a blank line between the doc and the function detaches it
    blank_line_openers: tuple     # ...unless the doc's first line is one of these (RDoc's "##")
    skip_types: frozenset         # siblings between doc and function that belong to the function
    skip_non_doc_comments: bool   # plain comments between the doc and the function are skipped
    statement_types: frozenset    # body_string: the wrapping statement of the docstring
    string_types: frozenset       # body_string: the string literal node types
    decoder: str

    @classmethod
    def from_settings(cls, d: dict[str, Any]) -> "DocStyle":
        style = d.get("style", "comment_above")
        if style not in ("comment_above", "body_string"):
            raise ValueError(f"[doc] style must be comment_above or body_string, not {style!r}")
        decoder = d.get("decoder", "none")
        if decoder not in DECODERS:
            raise ValueError(f"[doc] decoder must be one of {sorted(DECODERS)}, not {decoder!r}")
        return cls(
            style=style,
            comment_types=frozenset(d.get("comment_types", ["comment"])),
            block_markers=tuple(tuple(m) for m in d.get("block_markers", [])),
            line_prefixes=tuple(sorted(d.get("line_prefixes", []), key=len, reverse=True)),
            reject_prefixes=tuple(d.get("reject_prefixes", [])),
            blank_line_breaks=bool(d.get("blank_line_breaks", True)),
            blank_line_openers=tuple(d.get("blank_line_openers", [])),
            skip_types=frozenset(d.get("skip_types", [])),
            skip_non_doc_comments=bool(d.get("skip_non_doc_comments", False)),
            statement_types=frozenset(d.get("statement_types", [])),
            string_types=frozenset(d.get("string_types", [])),
            decoder=decoder,
        )


_LONE_CR = re.compile(r"\r(?!\n)")
# a line of code_hard that starts like code rather than like a comment (#, //, /*, *, --): a text
# with one is not comments alone (a block comment's bare continuation line is missed, so such a
# rare code_hard stays as it was)
# a line comment may hide the text that ends a line (`if (a) // done;`)
_COMMENT_MARK = re.compile(r"//|#|/\*")
_CODE_LINE_START = re.compile(r"^[ \t]*(?:\w|[$@({\[])", re.MULTILINE)
# the decoration of block comment lines (*, ** in Lua), at the start of every line
_STAR_LINES = re.compile(r"^[ \t]*\*+(?!/) ?", re.MULTILINE)


class Extractor:
    """Per-language extractor: builds the parser and compiles the queries once."""

    def __init__(self, lang_key: str, max_parse_ms: float | None = DEFAULT_MAX_PARSE_MS,
                 max_depth: int = DEFAULT_MAX_DEPTH, max_error_ratio: float | None = None):
        spec = registry.get(lang_key)
        self.spec = spec
        self.lang_key = spec.key
        self.language = spec.ts_language()
        self.parser = tree_sitter.Parser(self.language)
        self.max_parse_ms = max_parse_ms
        self.max_depth = max_depth
        fn_settings = spec.settings.get("functions", {})
        parse_settings = spec.settings.get("parse", {})
        self.max_error_ratio = (max_error_ratio if max_error_ratio is not None
                                else float(parse_settings.get("max_error_ratio", DEFAULT_MAX_ERROR_RATIO)))
        self.wrapper_types = frozenset(fn_settings.get("wrapper_types", []))
        self.body_delimiters = tuple(fn_settings.get("body_delimiters", []))
        self.doc = DocStyle.from_settings(spec.settings.get("doc", {}))
        # a return that is all a control statement or block holds gets a stand-in in code_hard
        # (the placeholder) instead of leaving the statement without a body (see _texts)
        ret_settings = spec.settings.get("returns", {})
        self.bare_return_parents = frozenset(ret_settings.get("bare_parent_types", []))
        self.sole_return_parents = frozenset(ret_settings.get("sole_statement_parent_types", []))
        self.return_placeholder = ret_settings.get("placeholder", ";")
        for key, types in (("bare_parent_types", self.bare_return_parents),
                           ("sole_statement_parent_types", self.sole_return_parents)):
            unknown = sorted(t for t in types if self.language.id_for_node_kind(t, True) is None)
            if unknown:
                raise ValueError(f"spec {spec.key!r}: [returns] {key} names no node type of the grammar: "
                                 f"{', '.join(unknown)}")
        if not isinstance(self.return_placeholder, str) or not self.return_placeholder.strip():
            raise ValueError(f"spec {spec.key!r}: [returns] placeholder must be a non-empty string "
                             "(an empty statement of the language, such as ; or pass)")
        token = spec.settings.get("identifiers", {}).get("token")
        self.reserved = frozenset(w.encode("utf-8") for w in spec.settings.get("identifiers", {}).get("reserved", []))
        # PHP's `$`: a reserved word right after it is a variable (`$class`, `$list`), elsewhere a keyword
        self.sigil = spec.settings.get("identifiers", {}).get("sigil", "")
        if not isinstance(self.sigil, str) or len(self.sigil) > 1 or self.sigil.isalnum() or self.sigil == "_":
            raise ValueError(f"spec {spec.key!r}: [identifiers] sigil must be one punctuation character, "
                             f"got {self.sigil!r}")
        # occurrences of defined names: a lexical scan of this token regex outside comments,
        # strings and ERROR regions (fast), or, without it, the @reference captures (exact)
        self.token_re = re.compile(token) if token else None
        if self.token_re is not None and self.token_re.groups:
            raise ValueError(f"spec {spec.key!r}: [identifiers] token must not have capturing groups; use (?:...)")
        # split() with one capturing group alternates [gap, token, gap, token, ..., gap]
        self.token_split = re.compile(f"({token})") if token else None
        # on pure-ASCII text every class (\w, \d, [^\W\d]...) matches the same characters in
        # ASCII mode, which the regex engine runs about a third faster
        self.token_split_ascii = re.compile(f"({token})", re.ASCII) if token else None
        # the same tokens found with numpy passes (None: a regex form it does not handle)
        self.scanner = TokenScanner.compile(token) if token else None
        self._decode = DECODERS[self.doc.decoder]
        for required in ("functions", "returns", "identifiers"):
            if required not in spec.queries:
                raise ValueError(f"spec {spec.key!r} lacks the [queries] {required} entry")
        # all queries are compiled into one, so each file is traversed once (a traversal costs
        # about a quarter of a parse); matches are told apart by their capture names
        self.q_all = self._query(*[n for n in ("functions", "scopes", "returns", "identifiers")
                                   if n in spec.queries])
        # text predicates (#any-of? ...) need the tree to carry its source (see parse_bounded)
        self.needs_source = any("(#" in src for src in spec.queries.values())

    def _query(self, *names: str) -> tree_sitter.Query:
        for name in names:  # compile each alone first so an error names its file
            try:
                tree_sitter.Query(self.language, self.spec.queries[name])
            except (tree_sitter.QueryError, ValueError) as exc:
                # tree-sitter counts rows and columns from 0; an editor shows lines from 1
                where = _ROW_COL.sub(lambda m: f"line {int(m[1]) + 1}, column {int(m[2]) + 1}", str(exc))
                raise ValueError(f"{self.spec.key}/{name}.scm: {where}") from None
        query = tree_sitter.Query(self.language, "\n".join(self.spec.queries[n] for n in names))
        unknown = sorted({query.capture_name(i) for i in range(query.capture_count)} - KNOWN_CAPTURES)
        unknown = [c for c in unknown if not c.startswith("_")]
        if unknown:
            raise ValueError(f"{self.spec.key}: unknown capture name(s) {', '.join('@' + c for c in unknown)}; the extractor "
                             f"reads {', '.join('@' + c for c in sorted(KNOWN_CAPTURES))} (names starting with _ are "
                             "free for predicates; see docs/adding-a-language.md)")
        return query

    def _text(self, node) -> str:
        # Node.text is unusable here: trees parsed through a read callback keep no source bytes
        return self._data[node.start_byte:node.end_byte].decode("utf-8", "surrogatepass")

    # ------------------------------------------------------------------ entry point
    def extract(self, content: str) -> FileExtraction:
        # A file allocates thousands of short-lived objects (nodes, tuples, dicts) and no
        # reference cycle: the cyclic collector's passes over them were ~9% of extraction.
        # It is paused for one file at a time (never left off; untouched if already off).
        if not gc.isenabled():
            return self._extract(content)
        gc.disable()
        try:
            return self._extract(content)
        finally:
            gc.enable()

    def _extract(self, content: str) -> FileExtraction:
        if "\r" in content and _LONE_CR.search(content):
            # classic Mac line ends: grammars (tree-sitter-python among them) take a lone CR for
            # a space, so the whole file would be one line of syntax errors; `ast` and editors
            # read it as a line break. Same length, so every offset into `content` stays valid.
            content = _LONE_CR.sub("\n", content)
        data = encode(content)
        self._data = data
        try:
            tree = parse_bounded(self.parser, data, self.max_parse_ms, self.needs_source)
        except ParseTimeout:
            return FileExtraction([], [], error="parse_timeout")
        root = tree.root_node
        offsets = OffsetMap(content, data)

        error_nodes, n_errors = _unparsed_regions(root) if root.has_error else ([], 0)
        error_ranges = RangeSet((n.start_byte, n.end_byte) for n in error_nodes)
        if data and error_ranges.total() / len(data) > self.max_error_ratio:
            return FileExtraction([], [], error=f"syntax_error_ratio>{self.max_error_ratio:g}",
                                  syntax_errors=n_errors)

        candidates, scopes, token_caps = self._collect(root)
        names = self._qualified_names(scopes, candidates)
        if names is None:
            return FileExtraction([], [], error="max_depth_exceeded", syntax_errors=n_errors)

        returns = token_caps.get("return", [])
        # sorted on first use: only documented functions need them
        spans = _BodySpans(_NodeSpans(returns), _NodeSpans(token_caps.get("exclude", ()), types=self.doc.comment_types))

        functions: list[Function] = []
        skipped = 0
        any_error = root.has_error  # else no subtree has one: no per-function test
        for cand, qualname in zip(candidates, names):
            if any_error and cand["function"].has_error:
                skipped += 1
                continue
            fn = self._build_function(content, data, offsets, cand, qualname, spans)
            if fn is not None:
                functions.append(fn)
        functions.sort(key=lambda f: (f.start_line, f.end_line, f.name))

        identifiers = self._identifiers(token_caps, content, data, offsets, error_ranges, error_nodes)
        return FileExtraction(functions, identifiers, None, n_errors, skipped)

    # ------------------------------------------------------------------ functions
    def _collect(self, root) -> tuple[list[dict], list[tuple], dict[str, list]]:
        """One traversal: (function candidates, scopes, other captures by name).

        Uses `captures()` (one dict of node lists; about half the cost of `matches()`, which
        builds a dict per match and there is one match per identifier definition) and
        regroups the function/scope captures by range containment: every @name, @body and
        @qualifier belongs to the innermost @function or @scope node containing it (it is a
        descendant of its own match's node, and no other function or scope node sits between
        them). A function node matched several times (`const a = () => 1, b = () => 2`) owns
        its names and bodies in document order, k-th with k-th. When that pairing is not
        one-to-one, the file falls back to `matches()` (exact grouping)."""
        caps = tree_sitter.QueryCursor(self.q_all).captures(root)
        fnodes = caps.pop("function", [])
        snodes = caps.pop("scope", [])
        members = {m: caps.pop(m, []) for m in ("name", "body", "qualifier")}
        if not fnodes and not snodes:
            return [], [], caps
        # (start, -end, role, index): containers (roles 0, 1) sort before their members (2-4)
        # at equal ranges; the per-node reads run in C (map over attrgetter), not per node
        lists = (fnodes, snodes, members["name"], members["body"], members["qualifier"])
        items = []
        for role, nodes in enumerate(lists):
            if nodes:
                items += zip(map(_START, nodes), map(neg, map(_END, nodes)), repeat(role), count())
        items.sort()
        stack: list[tuple[int, list]] = []  # (end, container)
        containers = []  # [role, node, names, bodies, qualifiers]
        prev = None
        for item in items:
            start, neg_end, role, idx = item
            key = item[:3]
            if key == prev:  # the same range captured again in the same role: keep the first
                continue
            prev = key
            while stack and stack[-1][0] <= start:
                stack.pop()
            if role < 2:
                c = [role, lists[role][idx], [], [], []]
                containers.append(c)
                stack.append((-neg_end, c))
            elif not stack:
                return self._collect_matches(root)
            else:
                stack[-1][1][role].append(lists[role][idx])
        out = []
        scopes = []
        for role, node, names, bodies, quals in containers:
            if role == 1:
                if names:
                    scopes.append((node, names[0]))
                continue
            if len(names) != len(bodies) or len(quals) > 1 or (quals and len(names) > 1):
                return self._collect_matches(root)
            q = quals[0] if quals else None
            for name, body in zip(names, bodies):
                out.append({"function": node, "name": name, "body": body, "qualifier": q})
        # containers were visited in (start, -end) order, as the callers expect
        return out, scopes, caps

    def _collect_matches(self, root) -> tuple[list[dict], list[tuple], dict[str, list]]:
        """The exact, slower grouping: one dict per match."""
        seen = set()
        out = []
        scopes = []
        other: dict[str, list] = {}
        for _, caps in tree_sitter.QueryCursor(self.q_all).matches(root):
            if "function" not in caps:
                if "scope" in caps:
                    if "name" in caps:
                        scopes.append((caps["scope"][0], caps["name"][0]))
                    continue
                for capture, nodes in caps.items():
                    if capture in other:
                        other[capture].extend(nodes)
                    else:
                        other[capture] = list(nodes)
                continue
            if "name" not in caps or "body" not in caps:
                continue
            node = caps["function"][0]
            key = (node.start_byte, node.end_byte, caps["name"][0].start_byte)
            if key in seen:  # several patterns may match one definition
                continue
            seen.add(key)
            out.append({"function": node, "name": caps["name"][0], "body": caps["body"][0],
                        "qualifier": caps.get("qualifier", [None])[0]})
        out.sort(key=lambda c: (c["function"].start_byte, -c["function"].end_byte))
        return out, scopes, other

    def _qualified_names(self, scopes, candidates) -> list[str] | None:
        """Qualified names by range containment over scopes (classes, modules, impls...) and
        the functions themselves, with an explicit stack; None when nesting > max_depth."""
        data = self._data
        # (start, -end, order, name, candidate_index), built with C-level maps
        items = []
        if scopes:
            nodes = [sc for sc, _ in scopes]
            items += zip(map(_START, nodes), map(neg, map(_END, nodes)), repeat(0),
                         map(_DECODE, _node_bytes(data, [n for _, n in scopes])), repeat(-1))
        fnames = list(map(_DECODE, _node_bytes(data, [c["name"] for c in candidates])))
        for i, c in enumerate(candidates):
            if c["qualifier"] is not None:
                fnames[i] = self._text(c["qualifier"]) + "." + fnames[i]
        nodes = [c["function"] for c in candidates]
        items += zip(map(_START, nodes), map(neg, map(_END, nodes)), repeat(1), fnames, count())
        items.sort()
        names = [""] * len(candidates)
        stack: list[tuple[int, str]] = []  # (end_byte, name)
        for start, neg_end, _, name, idx in items:
            while stack and stack[-1][0] <= start:
                stack.pop()
            if idx >= 0:
                names[idx] = ".".join([s[1] for s in stack] + [name])
            stack.append((-neg_end, name))
            if len(stack) > self.max_depth:
                return None
        return names

    def _outer_node(self, node):
        """The function node widened to its wrappers (decorated_definition, export_statement...)."""
        if not self.wrapper_types:  # Node.parent walks down from the root: skip it when useless
            return node
        parent = node.parent
        while parent is not None and parent.type in self.wrapper_types:
            node = parent
            parent = node.parent
        return node

    def _comment_doc(self, node):
        """(first_doc_node, doc_text) for the comment block directly above `node`, else (None, None).

        Walks previous siblings (climbing to the parent when `node` opens its parent, e.g. a
        Ruby body_statement), skipping [doc] skip_types (attributes), never recursing."""
        doc = self.doc
        cur = node
        first_row = node.start_point[0]
        while True:
            prev = cur.prev_sibling
            while prev is not None and prev.type in doc.skip_types:
                first_row = prev.start_point[0]
                prev = prev.prev_sibling
            if prev is not None:
                break
            parent = cur.parent
            if parent is None or parent.start_byte != cur.start_byte:
                return None, None, first_row
            cur = parent
        comments = []
        expect_row = first_row
        while prev is not None and prev.type in doc.comment_types:
            end_row = prev.end_point[0]
            if prev.end_point[1] == 0 and end_row > prev.start_point[0]:
                end_row -= 1  # line comments that include their newline
            gap = expect_row - end_row
            if gap < 0:
                break
            if gap > 1 and doc.blank_line_breaks and (comments or not self._opened_across_blank_lines(prev)):
                break
            before = prev.prev_sibling
            if before is not None and before.end_point[0] == prev.start_point[0] and before.type not in doc.comment_types:
                break  # a trailing comment of the previous statement
            comments.append(prev)
            expect_row = prev.start_point[0]
            prev = before
        if not comments:
            return None, None, first_row
        for k, comment in enumerate(comments):
            text = self._text(comment)
            if text.startswith(doc.reject_prefixes):  # a tuple: tested in C
                found = None
            else:
                found = self._doc_at(comments, k, text)
            if found is not None:
                return found[0], found[1], first_row
            if not doc.skip_non_doc_comments:
                break
        return None, None, first_row

    def _opened_across_blank_lines(self, last) -> bool:
        """Whether the run of whole-line comments ending with `last` starts with a line that is
        exactly one of the spec's blank_line_openers: RDoc's explicit `##` doc marker, after which
        a blank line before the method is the house style (RubyGems, RDoc itself) and does not
        detach the documentation."""
        openers = self.doc.blank_line_openers
        if not openers:
            return False
        comment_types = self.doc.comment_types
        cur = last
        while True:
            prev = cur.prev_sibling
            if (prev is None or prev.type not in comment_types
                    or prev.end_point[0] + (prev.end_point[1] > 0) != cur.start_point[0]
                    or (prev.prev_sibling is not None and prev.prev_sibling.end_point[0] == prev.start_point[0])):
                break
            cur = prev
        return self._text(cur).rstrip() in openers

    def _doc_at(self, comments, k, text):
        """(first_node, text) when comments[k] starts a doc comment (block, or a run of line
        comments going upwards), else None."""
        doc = self.doc
        for opener, closer in doc.block_markers:
            if text.startswith(opener) and not text.startswith(opener + closer[-1:]):
                return comments[k], self._clean_block(text, opener, closer)
        prefix = next((p for p in doc.line_prefixes if text.startswith(p)), None)
        if prefix is None:
            return None
        run = []
        taken = 0
        stops = tuple(r for r in doc.reject_prefixes if len(r) > len(prefix)) + tuple(o for o, _ in doc.block_markers)
        for c in comments[k:]:
            t = self._text(c)
            if not t.startswith(prefix) or t.startswith(stops):
                break
            taken += 1
            line = t[len(prefix):].rstrip()
            if line and not line.strip(prefix):
                # a rule of the marker itself (RDoc's `##` opener, `###`, `//////` banners) is
                # comment decoration, like the delimiters: part of the doc, not of its text
                continue
            run.append(line)
        run.reverse()
        return comments[k + taken - 1], cleandoc("\n".join(run))

    @staticmethod
    def _clean_block(text: str, opener: str, closer: str) -> str:
        body = text[len(opener):]
        if body.endswith(closer):
            body = body[: -len(closer)]
        first, sep, rest = body.partition("\n")
        if sep:  # one multi-line regex pass instead of one per line
            body = first + sep + _STAR_LINES.sub("", rest)
        return cleandoc("\n".join(map(str.rstrip, body.split("\n"))))

    def _body_doc(self, body):
        """(statement_node, doc_text) when the body's first statement is a string literal."""
        doc = self.doc
        first = None
        for i in range(body.named_child_count):  # no list of every statement of the body
            child = body.named_child(i)
            if child.type not in doc.comment_types:
                first = child
                break
        if first is None or first.type not in doc.statement_types or first.named_child_count != 1:
            return None, None
        literal = first.named_child(0)
        if literal.type not in doc.string_types:
            return None, None
        value = self._decode(self._text(literal))
        if value is None:
            return None, None
        return first, cleandoc(value)

    def _build_function(self, content, data, offsets, cand, qualname, spans) -> Function | None:
        fnode = cand["function"]
        body = cand["body"]
        outer = self._outer_node(fnode)
        doc_node = None
        docstring = None
        doc_stmt = None
        start_row = outer.start_point[0]
        if self.doc.style == "comment_above":
            doc_node, docstring, first_row = self._comment_doc(outer)
            start_row = min(start_row, first_row)
            code_start_node_row = first_row
            if doc_node is not None:
                start_row = doc_node.start_point[0]
        else:
            doc_stmt, docstring = self._body_doc(body)
            code_start_node_row = start_row
        last = self._last_code_leaf(outer)
        end_row = last.end_point[0]
        if last.end_point[1] == 0 and end_row > outer.start_point[0]:
            end_row -= 1

        def make(content=content, offsets=offsets, outer=outer, last=last, body=body, doc_stmt=doc_stmt,
                 row=code_start_node_row, spans=spans):
            return self._texts(content, offsets, outer, last, body, doc_stmt, row, spans)

        return Function(qualname, start_row + 1, end_row + 1, docstring, make=make)

    def _texts(self, content, offsets, outer, last, body, doc_stmt, code_start_row, spans):
        """(code, code_hard, body_lines) of one function."""
        # code: from the first line of the function (attributes included) to its end
        code_start, pad = self._code_start(content, offsets, outer,
                                           self._row_start_char(content, offsets, outer, code_start_row))
        code_end = offsets.end(last)
        comment_end = self._comment_after(content, offsets, outer, last.end_byte, code_end, last.end_point[0])
        if comment_end is not None:
            code_end = comment_end
        base = code_start - len(pad)
        fn_text = pad + content[code_start:code_end]
        removals = []
        if doc_stmt is not None:
            removals.append((offsets.start(doc_stmt) - base, offsets.end(doc_stmt) - base))
        code = dedent_block(remove_spans(fn_text, removals))

        # body: delimiters stripped, documentation and returns removed
        b_start, b_end = offsets.start(body), min(offsets.end(body), code_end)
        lead, trail = b_start, b_end
        if len(self.body_delimiters) == 2:
            open_, close = self.body_delimiters
            if (content.startswith(open_, b_start) and content.endswith(close, 0, b_end)
                    and b_end - b_start >= len(open_) + len(close)):
                lead, trail = b_start + len(open_), b_end - len(close)
        line_start = content.rfind("\n", 0, lead) + 1
        prefix = content[line_start:lead]
        if prefix.strip():
            # the body starts on a line of signature text (`= () -> { a();`, `fun f() = a +`):
            # its first line takes that line's indentation, as the lines after it are indented
            # against it, not against the column of the `{` or `=`
            while lead < trail and content[lead] in " \t":
                lead += 1
            pad = prefix[:len(prefix) - len(prefix.lstrip(" \t"))]
        else:
            pad = pad_prefix(prefix)
        base = lead - len(pad)
        inner = pad + content[lead:trail]
        doc_removals = []
        if doc_stmt is not None:
            doc_removals.append((offsets.start(doc_stmt) - base, offsets.end(doc_stmt) - base))
        lo, hi = body.start_byte, body.end_byte
        ret_removals = []
        stand_ins = {}
        return_spans = spans.returns.get()
        i = _first_at_or_after(return_spans, lo)
        while i < len(return_spans) and return_spans[i][0] < hi:
            s, e, sp, ep, node = return_spans[i]
            if e <= hi:
                ret_end = offsets.char(e, ep)
                ret_start = offsets.char(s, sp)
                if self._stands_alone(content, ret_start, node, body):
                    # all that `if (c) return 1;` or `if a:\n    return 1` has for a body: removed
                    # outright, the header would take the next statement as its body (or have none);
                    # the placeholder (`;`, `pass`) stands in. A trailing comment stays.
                    ret_removals.append((ret_start - base, ret_end - base))
                    stand_ins[ret_start - base] = self.return_placeholder
                else:
                    ret_end = self._comment_after(content, offsets, outer, e, ret_end, ep[0]) or ret_end
                    ret_removals.append((ret_start - base, ret_end - base))
            i += 1
        body_lines = count_nonempty_lines(remove_spans(inner, doc_removals))
        removals = sorted(doc_removals + ret_removals)
        code_hard = dedent_block(remove_spans(inner, removals, stand_ins))
        if code_hard and not _CODE_LINE_START.search(code_hard):
            # (tested exactly only when no line starts like code: the test needs the file's comment spans)
            # comments alone are no hard positive (`// NaN is not equal to itself` over `return x != x`):
            # code_hard becomes "" and the pair an empty_hard_positive reject
            comments = spans.comments.get()
            comment_removals = []
            j = _first_at_or_after(comments, lo)
            while j < len(comments) and comments[j][0] < hi:
                s, e, sp, ep, _ = comments[j]
                start = offsets.char(s, sp)
                if e <= hi and start >= lead:
                    comment_removals.append((start - base, offsets.char(e, ep) - base))
                j += 1
            if comment_removals and not remove_spans(inner, sorted(removals + comment_removals), stand_ins).strip():
                code_hard = ""
        return code, code_hard, body_lines

    def _stands_alone(self, content: str, start: int, node, body) -> bool:
        """The return at `start` is all its control statement or block holds, so removing it
        would leave that statement without a body:
        - bare: its parent is one of the spec's bare_parent_types (`if (c) return 1;`, braceless).
          After `{`, `;` or `}` (outside a comment) it is a statement of a block: no parent
          lookup (Node.parent walks down from the root);
        - sole: its parent is one of the spec's sole_statement_parent_types (Python's `block`)
          other than the function's own body, and holds no other statement (comments aside).
          Only after `:` and on the line after one (skipping blank lines), where a Python block
          can start, is the parent looked up."""
        if self.bare_return_parents:
            before = content[max(0, start - 256):start].rstrip()
            if not before:
                return False
            if before[-1] in "{;}" and not _COMMENT_MARK.search(before, before.rfind("\n") + 1):
                return False  # (`if (a) // done;` ends in ";" inside a comment: looked up)
            parent = node.parent
            return parent is not None and parent.type in self.bare_return_parents
        if self.sole_return_parents:
            if not _after_colon_line(content, start):
                return False
            parent = node.parent
            if (parent is None or parent.type not in self.sole_return_parents
                    or (parent.start_byte == body.start_byte and parent.end_byte == body.end_byte)):
                return False
            comment_types = self.doc.comment_types
            return all(kid.start_byte == node.start_byte or kid.type in comment_types
                       for kid in parent.named_children)
        return False

    def _code_start(self, content, offsets, outer, code_start):
        """(start, pad) of `code`: its first character and the whitespace standing in for the text
        before it on its first line, so that the block dedents as it reads in the file.

        Only whitespace before it: that whitespace. Non-doc comments on the same line
        (`/*package*/ static int f(`) are source of the function: `code` starts at them. Other code
        before it (`exports.f = function () {`): the line's own indentation, so the first line
        dedents like the body instead of keeping the width of text that is not part of it.
        Works on `content` only (runs lazily, after other files were extracted)."""
        line_start = content.rfind("\n", 0, code_start) + 1
        prefix = content[line_start:code_start]
        if not prefix.strip():
            return code_start, pad_prefix(prefix)
        doc = self.doc
        doc_openers = tuple(o for o, _ in doc.block_markers) + doc.line_prefixes
        start = code_start
        row = outer.start_point[0]
        prev = outer.prev_sibling
        while (prev is not None and prev.type in doc.comment_types
               and prev.start_point[0] == row and prev.end_point[0] == row):
            text = content[offsets.start(prev):offsets.end(prev)]
            if doc_openers and text.startswith(doc_openers):
                break  # a doc comment on the function's line is documentation, never code
            start = offsets.start(prev)
            prev = prev.prev_sibling
        if not content[line_start:start].strip():
            return start, pad_prefix(content[line_start:start])
        return code_start, prefix[:len(prefix) - len(prefix.lstrip(" \t"))]

    def _comment_after(self, content, offsets, outer, byte_end: int, char_end: int, row: int) -> int | None:
        """End (str offset) of a comment that starts after only spaces/tabs from `char_end`
        (`byte_end` in bytes) on line `row` and ends on that line inside `outer`, else None.

        Used for the function's last line (`return rv  # type: ignore` is part of the code:
        `_last_code_leaf` skips trailing comments, since comments on the lines after a body
        belong to what follows) and for a removed return statement (its comment goes with it)."""
        line_end = content.find("\n", char_end)
        rest = content[char_end:line_end if line_end >= 0 else len(content)]
        gap = len(rest) - len(rest.lstrip(" \t"))
        if gap == len(rest):
            return None
        b = byte_end + gap  # spaces and tabs are one byte each
        if b >= outer.end_byte:
            return None
        node = outer.descendant_for_byte_range(b, b + 1)
        if (node is None or node.type not in self.doc.comment_types or node.start_byte != b
                or node.end_byte > outer.end_byte or node.end_point[0] != row):
            return None
        return offsets.end(node)

    def _last_code_leaf(self, node):
        """The last descendant that is not a trailing comment: indentation-based grammars put
        comments that follow a body inside its block; they are not part of the function."""
        comment_types = self.doc.comment_types
        end = node.end_byte
        if end > node.start_byte:
            # usual case, answered in C: the leaf ending the node is not a comment
            leaf = node.descendant_for_byte_range(end - 1, end)
            if (leaf is not None and leaf.end_byte == end and leaf.child_count == 0
                    and leaf.type not in comment_types):
                return leaf
        cur = node
        while True:
            # child(i) from the end: no list of every child (a class body has hundreds)
            i = cur.child_count - 1
            kid = cur.child(i) if i >= 0 else None
            while kid is not None and kid.type in comment_types:
                i -= 1
                kid = cur.child(i) if i >= 0 else None
            if kid is None:
                return cur
            cur = kid

    @staticmethod
    def _row_start_char(content, offsets, outer, row) -> int:
        if row >= outer.start_point[0]:
            return offsets.start(outer)
        # an attribute line above the function: start at the first non-blank of that line,
        # walking back line by line from the function (cost: the distance, not the file)
        pos = offsets.start(outer)
        for _ in range(outer.start_point[0] - row + 1):
            pos = content.rfind("\n", 0, pos)
        pos += 1
        while pos < len(content) and content[pos] in " \t":
            pos += 1
        return pos

    # ------------------------------------------------------------------ identifiers
    def _identifiers(self, caps, content: str, data: bytes, offsets: OffsetMap,
                     error_ranges: RangeSet, error_nodes) -> list[dict]:
        kinds = self.defined_names(caps, data)
        if not kinds:
            return []
        sigil_only = None
        if self.sigil and self.reserved and not self.reserved.isdisjoint(kinds):
            # a reserved word defined through the sigil (`$class`): marked only right after it
            sigil_only = set(map(_DECODE, self.reserved.intersection(kinds)))
        if self.token_re is not None:
            out = self._scan_identifiers(caps, content, data, offsets, error_nodes, kinds)
        else:
            out = self._reference_identifiers(caps, content, data, offsets, error_ranges, kinds)
        if sigil_only:
            sigil = self.sigil
            out = [d for d in out if content[d["start"] - 1:d["start"]] == sigil
                   or content[d["start"]:d["end"]] not in sigil_only]
        return out

    def _reference_identifiers(self, caps, content: str, data: bytes, offsets: OffsetMap,
                               error_ranges: RangeSet, kinds: dict[bytes, str]) -> list[dict]:
        """Occurrences of the defined names among the @reference and @definition captures outside
        comments, strings and ERROR regions (specs without a token regex)."""
        excluded = RangeSet([(n.start_byte, n.end_byte) for n in caps.get("exclude", ())]
                            + list(zip(error_ranges.starts, error_ranges.ends)))
        ex_starts, ex_ends = excluded.starts, excluded.ends
        bisect_right = bisect.bisect_right
        ascii_text = offsets.ascii
        char = offsets.char
        spans = {}
        for group in ("reference", "definition.class", "definition.function", "definition.variable"):
            for n in caps.get(group, ()):
                s = n.start_byte
                if s in spans:
                    continue
                e = n.end_byte
                kind = kinds.get(data[s:e])
                if kind is None:
                    continue
                if ex_starts:  # inside a comment, string or ERROR region?
                    i = bisect_right(ex_starts, s) - 1
                    if (i >= 0 and ex_ends[i] > s) or (i + 1 < len(ex_starts) and ex_starts[i + 1] < e):
                        continue
                if ascii_text:
                    spans[s] = (s, e, kind)
                else:
                    spans[s] = (char(s, n.start_point), char(e, n.end_point), kind)
        out = []
        last_end = -1
        for s in sorted(spans):
            cs, ce, kind = spans[s]
            if cs < last_end:
                continue
            out.append({"start": cs, "end": ce, "kind": kind})
            last_end = ce
        return out

    def defined_names(self, caps, data: bytes) -> dict[bytes, str]:
        """The file's defined names (UTF-8 bytes) -> kind of their strongest role; the spec's
        reserved words are never names (a macro misparse defining `if`: every keyword of that
        spelling would be marked), except in a spec with a sigil, where they stay and
        `_identifiers` marks them only right after it (PHP's `$class`, not the `class` keyword)."""
        kinds: dict[bytes, str] = {}
        for kind in reversed(KINDS):  # weakest role first: class overrides function overrides variable
            nodes = caps.get("definition." + kind)
            if nodes:
                kinds.update(dict.fromkeys(_node_bytes(data, nodes), kind))
        if self.reserved and not self.sigil and not self.reserved.isdisjoint(kinds):
            for word in self.reserved.intersection(kinds):
                del kinds[word]
        return kinds

    def _scan_identifiers(self, caps, content, data, offsets, error_nodes, kinds) -> list[dict]:
        """Lexical occurrences of the defined names: the token regex runs over a copy of the
        text where comment, string and ERROR regions are blanked with spaces (same length, so
        str offsets are unchanged), hence no token can fall inside them and no per-token range
        test is needed. Everything per token runs in C (split, map, accumulate, compress, zip);
        Python only builds the output dicts of the defined-name occurrences. Files of
        SCAN_MIN_BYTES or more go through the numpy scanner instead (same tokens, see
        pipeline/parse/scan.py) when the spec's regex has a form it handles."""
        names = dict(zip(map(_DECODE, kinds), kinds.values()))
        nodes = caps.get("exclude", [])
        if error_nodes:
            nodes = nodes + error_nodes
        starts = list(map(_START, nodes))
        ends = list(map(_END, nodes))
        if self.scanner is not None and len(data) >= SCAN_MIN_BYTES:
            found = self.scanner.scan(content, code_points(content, data, starts, ends), names)
            if found is not None:
                return found
        ranges = list(zip(starts, ends))
        if not ranges:
            masked = content
        elif offsets.ascii:  # byte offsets are str offsets
            buf = bytearray(data)
            for s, e in ranges:  # overlapping ranges just blank twice
                buf[s:e] = b" " * (e - s)
            masked = buf.decode("ascii")
        else:
            masked = blank_utf8(data, sorted(ranges))
        # split() with one capturing group alternates [gap, token, gap, token, ..., gap]
        parts = (self.token_split_ascii if offsets.ascii else self.token_split).split(masked)
        kinds_seq = list(map(names.get, parts[1::2]))
        ends = list(accumulate(map(len, parts)))
        return [{"start": s, "end": e, "kind": k}
                for s, e, k in compress(zip(ends[0::2], ends[1::2], kinds_seq), kinds_seq)]


def _after_colon_line(content: str, start: int, max_lines: int = 20) -> bool:
    """Whether a `:` stands on the line of `start` before it, or on the nearest line above that
    is neither blank nor a `#` comment: where a Python block (`if a: return 1`, `else:`) can
    open. A cheap, loose test (a `:` in a dict literal passes too); the tree decides."""
    pos = start
    line_start = content.rfind("\n", 0, pos) + 1
    line = content[line_start:pos]
    for _ in range(max_lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return ":" in stripped
        if line_start == 0:
            return False
        pos = line_start - 1
        line_start = content.rfind("\n", 0, pos) + 1
        line = content[line_start:pos]
    return False


def _unparsed_regions(root) -> tuple[list, int]:
    """(nodes that did not parse, number of ERROR/MISSING nodes).

    Walks only the has_error paths, with an explicit stack. Inside an ERROR node, complete
    subtrees without errors (a whole class the parser recovered) count as parsed; the tokens
    and fragments around them are the unparsed regions. Error recovery in some grammars
    (Ruby) wraps a whole file in one ERROR node around perfectly good code."""
    regions = []
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        is_error = node.type == "ERROR"
        if is_error or node.is_missing:
            count += 1
        for child in node.children:
            if child.has_error:
                stack.append(child)
            elif is_error and not (child.is_named and child.child_count):
                regions.append(child)
    return regions, count


class _NodeSpans:
    """Nodes as (start_byte, end_byte, start_point, end_point, node) sorted by position, built on
    the first `get()` (only documented functions need them); `types` keeps the nodes of those
    types (None: all)."""

    __slots__ = ("_nodes", "_types", "_spans")

    def __init__(self, nodes, types=None):
        self._nodes = nodes
        self._types = types
        self._spans = None

    def get(self) -> list[tuple]:
        if self._spans is None:
            nodes = self._nodes
            if self._types is not None:
                nodes = [n for n in nodes if n.type in self._types]
            nodes = sorted(nodes, key=_POSITION)  # nodes themselves never compared
            self._spans = [(n.start_byte, n.end_byte, n.start_point, n.end_point, n) for n in nodes]
            self._nodes = None
        return self._spans


class _BodySpans(NamedTuple):
    """A file's return statements and comments, for the bodies of its documented functions."""

    returns: _NodeSpans
    comments: _NodeSpans


def _first_at_or_after(spans, lo) -> int:
    return bisect.bisect_left(spans, (lo,))
