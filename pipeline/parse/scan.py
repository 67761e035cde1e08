"""Vectorized lexical scan for the occurrences of a file's defined names (numpy).

`Extractor` marks every token of the spec's [identifiers] token regex whose text is a defined
name, outside comment/string/ERROR regions. Splitting the whole text with the regex and
looking every token up costs 0.15-0.5 of a parse; this module finds the same tokens with a few
array passes and touches in Python only the tokens whose hash matches a name. Per byte it costs
about half the split, but its ~50 array calls cost ~75 us per file whatever the size, so the
extractor uses it from 4 KB (SCAN_MIN_BYTES in extract.py).

Supported token regexes (recognized on the parsed regex; any other form makes
`TokenScanner.compile` return None and the caller keeps the regex split):

    [(?<!L)] [P{0,m}] H B* [(?:S(?!F))?]      with L, H, B, S, F character classes, P one char

(`B+` is H = B.) Conditions, checked at compile time, under which the tokens the regex's
left-to-right scan produces are exactly the ones computed here:

- without the lookbehind: H = B and no suffix. A token is a maximal run of B characters
  (greedy B+ always eats the whole run, and the scan reaches every run at its first char since
  no token ends inside a run) extended to the left by min(m, k) of the k P characters before it.
- with the lookbehind: H is a subset of B, B and P are in L, S and B are disjoint. Whether a
  token starts at i then depends on the text only (a position inside a token is always preceded
  by a char of L), so a token is: a maximal B run [j, b) whose first char is in H, preceded by
  exactly k <= m P chars (k > m: every start fails the lookbehind or the head), with the char
  before the P chars not in L; plus one S char at b when the char after it is not in F.
- P, when present, is not in B, H or S; the space (what blanked regions become) is in no class.

Tokens are found on an array of code points (the text's bytes when it is ASCII, UTF-32
otherwise, so indices are str offsets). Each candidate token gets a polynomial hash mod 2^32
(prefix sums of c_t * K^t, normalized by K^-start; K is odd, hence invertible mod 2^32);
tokens whose hash is a defined name's hash are then looked up by their exact text, so a hash
collision can never produce a wrong span, and a name's occurrences are never missed (equal
texts have equal hashes). Character classes are evaluated per code point with the regex
engine itself (ASCII mode for ASCII text, as the regex path does; Unicode mode otherwise, for
the distinct non-ASCII code points of the file only, on which the class relations above are
checked again: a file breaking one returns None and goes through the regex).
"""
from __future__ import annotations

import re
from itertools import compress

try:  # the regex parser and compiler (public as sre_* before 3.11, deprecated names since)
    from re import _compiler as _sre_compile
    from re import _constants as _sre_c
    from re import _parser as _sre_p
except ImportError:  # pragma: no cover (Python 3.10)
    import sre_compile as _sre_compile
    import sre_constants as _sre_c
    import sre_parse as _sre_p

import numpy as np

# 32-bit hashes: half the memory traffic of 64-bit ones; collisions only cost a dict lookup
_HASH = np.uint32
_BITS = 32
_K = 0x9E3779B1  # odd: K^-1 exists mod 2^32
_K_INV = pow(_K, -1, 1 << _BITS)
_MASK = (1 << _BITS) - 1
_SPACE = 32


class _Powers:
    """K^t and K^-t mod 2^32 for t < n, grown on demand (shared by all scanners)."""

    pow = np.ones(1, dtype=_HASH)
    inv = np.ones(1, dtype=_HASH)

    @classmethod
    def get(cls, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(cls.pow) < n:
            size = max(n, 2 * len(cls.pow), 1 << 16)
            cls.pow, cls.inv = _powers(_K, size), _powers(_K_INV, size)
        return cls.pow, cls.inv


def _powers(base: int, size: int) -> np.ndarray:
    out = np.full(size, base, dtype=_HASH)
    out[0] = 1
    with np.errstate(over="ignore"):
        np.cumprod(out, out=out)  # unsigned products wrap mod 2^32
    return out


def text_hash(text: str) -> int:
    """The scanner's hash of a token text (sum of ord(c) * K^t mod 2^32)."""
    h, p = 0, 1
    for ch in text:
        h = (h + ord(ch) * p) & _MASK
        p = (p * _K) & _MASK
    return h


def _hashes(names) -> np.ndarray:
    """text_hash of every name (sorted), in a few array passes over the joined names."""
    joined = "".join(names)
    lengths = np.fromiter(map(len, names), dtype=np.int64, count=len(names))
    ends = np.cumsum(lengths)
    starts = ends - lengths
    if joined.isascii():
        cps = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    else:
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    out = _token_hashes(cps, starts, ends)
    out.sort()
    return out


def _token_hashes(cps: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """text_hash of cps[starts[i]:ends[i]] for every i (prefix sums normalized by K^-start)."""
    n = len(cps)
    pw, inv = _Powers.get(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, dtype=_HASH)
        prefix[0] = 0
        np.cumsum(pw[:n] * cps, dtype=_HASH, out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * inv[starts]


class _Unsupported(Exception):
    pass


class _CharClass:
    """Membership of code points in one parsed class node, in ASCII or Unicode mode."""

    def __init__(self, node, flags: int):
        # the regex engine decides membership: compile the node alone
        sub = _sre_p.SubPattern(_sre_p.State(), [node])
        sub.state.flags = flags
        self._re = _sre_compile.compile(sub, flags)
        self.ascii = np.array([self._re.fullmatch(chr(c)) is not None for c in range(128)])
        self.cache: dict[int, bool] = {}  # non-ASCII code point -> member

    def has(self, ch: str) -> bool:
        return self._re.fullmatch(ch) is not None

    def subset_of(self, other: "_CharClass") -> bool:
        return not np.any(self.ascii & ~other.ascii)


class _Table:
    """Class membership for one file's code points: a lookup table for ASCII, and for the
    file's distinct non-ASCII code points (sorted in `high`) flags computed by the regex
    engine, cached per class across files."""

    def __init__(self, cps: np.ndarray):
        if cps.dtype == np.uint8:
            self.high = None
        else:
            high = np.unique(cps[cps >= 128])
            self.high = high if len(high) else None
        self._flags: dict[int, np.ndarray] = {}

    def flags(self, cls: _CharClass) -> np.ndarray:
        f = self._flags.get(id(cls))
        if f is None:
            cache, has = cls.cache, cls.has
            vals = []
            for u in self.high.tolist():
                v = cache.get(u)
                if v is None:
                    v = cache[u] = has(chr(u))
                vals.append(v)
            f = self._flags[id(cls)] = np.array(vals, dtype=bool)
        return f

    def members(self, cls: _CharClass, x: np.ndarray) -> np.ndarray:
        if self.high is None:
            return cls.ascii.take(x)
        out = np.empty(len(x), dtype=bool)
        low = x < 128
        out[low] = cls.ascii[x[low]]
        hi = ~low
        out[hi] = self.flags(cls)[np.searchsorted(self.high, x[hi])]
        return out

    def relations_hold(self, shape: "_Shape") -> bool:
        """The shape's class relations (checked on ASCII at compile time) on this file's
        non-ASCII code points."""
        if self.high is None or shape.lookbehind is None:
            return True  # B+ shapes have no relation between distinct classes
        head, body, look = self.flags(shape.head), self.flags(shape.body), self.flags(shape.lookbehind)
        if np.any(head & ~body) or np.any(body & ~look):
            return False
        return shape.suffix is None or not np.any(self.flags(shape.suffix) & body)


def _is_class(node) -> bool:
    return node[0] in (_sre_c.IN, _sre_c.LITERAL)


class _Shape:
    """The recognized form of a token regex under one set of flags (see the module doc)."""

    def __init__(self, token: str, flags: int):
        parsed = _sre_p.parse(token, flags)
        if parsed.state.flags & ~(re.ASCII | re.UNICODE):  # IGNORECASE, VERBOSE...: not handled
            raise _Unsupported(token)
        fl = parsed.state.flags
        items = list(parsed.data)
        cc = lambda node: _CharClass(node, fl)  # noqa: E731
        self.lookbehind = self.prefix = self.suffix = self.suffix_not = None
        self.prefix_max = 0
        MR, MAXREPEAT = _sre_c.MAX_REPEAT, _sre_c.MAXREPEAT
        if items and items[0][0] == _sre_c.ASSERT_NOT and items[0][1][0] == -1:
            body = list(items.pop(0)[1][1])
            if len(body) != 1 or not _is_class(body[0]):
                raise _Unsupported(token)
            self.lookbehind = cc(body[0])
        if items and items[0][0] == MR and items[0][1][0] == 0 and items[0][1][1] != MAXREPEAT:
            lo, hi, sub = items[0][1]
            sub = list(sub)
            if len(sub) == 1 and sub[0][0] == _sre_c.LITERAL and hi >= 1:
                items.pop(0)
                self.prefix = chr(sub[0][1])
                self.prefix_max = hi
        if items and items[0][0] == MR and items[0][1][0] == 1 and items[0][1][1] == MAXREPEAT:
            sub = list(items.pop(0)[1][2])
            if len(sub) != 1 or not _is_class(sub[0]):
                raise _Unsupported(token)
            self.head = self.body = cc(sub[0])
        elif (len(items) >= 2 and _is_class(items[0]) and items[1][0] == MR
              and items[1][1][:2] == (0, MAXREPEAT)):
            head = items.pop(0)
            sub = list(items.pop(0)[1][2])
            if len(sub) != 1 or not _is_class(sub[0]):
                raise _Unsupported(token)
            self.head, self.body = cc(head), cc(sub[0])
        else:
            raise _Unsupported(token)
        if items and items[0][0] == MR and items[0][1][:2] == (0, 1):
            sub = list(items.pop(0)[1][2])
            if not sub or not _is_class(sub[0]):
                raise _Unsupported(token)
            self.suffix = cc(sub[0])
            if len(sub) == 2 and sub[1][0] == _sre_c.ASSERT_NOT and sub[1][1][0] == 1:
                look = list(sub[1][1][1])
                if len(look) != 1 or not _is_class(look[0]):
                    raise _Unsupported(token)
                self.suffix_not = cc(look[0])
            elif len(sub) != 1:
                raise _Unsupported(token)
        if items:
            raise _Unsupported(token)
        self._check(token)

    def _check(self, token: str) -> None:
        head, body = self.head, self.body
        classes = [c for c in (self.lookbehind, head, body, self.suffix, self.suffix_not) if c is not None]
        if any(c.ascii[_SPACE] for c in classes) or self.prefix == " ":
            raise _Unsupported(token)
        if not head.subset_of(body):
            raise _Unsupported(token)
        p = self.prefix
        if p is not None and (body.has(p) or head.has(p) or (self.suffix is not None and self.suffix.has(p))):
            raise _Unsupported(token)
        if self.lookbehind is None:
            if self.suffix is not None or head is not body:  # B+ only (H = B as one node)
                raise _Unsupported(token)
        else:
            if not body.subset_of(self.lookbehind) or (p is not None and not self.lookbehind.has(p)):
                raise _Unsupported(token)
            if self.suffix is not None and np.any(self.suffix.ascii & body.ascii):
                raise _Unsupported(token)
        # the relations above are checked on ASCII; for non-ASCII text `TokenScanner.scan`
        # checks them on the file's distinct non-ASCII code points (else: regex fallback)


class TokenScanner:
    """Finds the tokens of one token regex whose text is a defined name (see module doc)."""

    def __init__(self, token: str):
        self.token = token
        self._ascii = _Shape(token, re.ASCII)
        self._unicode = _Shape(token, 0)

    @classmethod
    def compile(cls, token: str) -> "TokenScanner | None":
        """A scanner for `token`, or None when the regex is not of a supported form."""
        try:
            return cls(token)
        except (_Unsupported, re.error, TypeError, ValueError, IndexError, AttributeError):
            return None

    def scan(self, text: str, cps: np.ndarray, names: dict[str, str]) -> list[dict] | None:
        """Occurrences of `names` (token text -> kind) as sorted {start, end, kind}.

        text: the original str; cps: `code_points(...)` of it (excluded regions blanked,
        padded with spaces: text offset t is cps index t + 1). None when the file's non-ASCII
        characters break a class relation the shape relies on (the caller runs the regex)."""
        if not names or len(cps) <= PAD:
            return []
        shape = self._ascii if cps.dtype == np.uint8 else self._unicode
        table = _Table(cps)
        if not table.relations_hold(shape):
            return None
        member = table.members
        isb = member(shape.body, cps)
        # the padding spaces are not body chars: boundaries come in start/end pairs
        edges = np.flatnonzero(isb[1:] != isb[:-1]) + 1
        if not len(edges):
            return []
        j, b = edges[0::2], edges[1::2]  # [j, b): the maximal runs of body chars
        p = shape.prefix
        k = None
        if p is not None:  # k = number of P chars right before the run (the padding stops it)
            pc = ord(p)
            alive = cps[j - 1] == pc
            k = alive.astype(np.int64)
            last = shape.prefix_max if shape.lookbehind is None else shape.prefix_max + 1
            for t in range(2, last + 1):
                alive &= cps[j - t] == pc  # j - t < 0 wraps around, where alive is already False
                k += alive
        start = j if k is None else j - k
        end = b
        if shape.lookbehind is not None:
            keep = ~member(shape.lookbehind, cps[start - 1])
            if shape.head is not shape.body:
                keep &= member(shape.head, cps[j])
            if k is not None:
                keep &= k <= shape.prefix_max
            if shape.suffix is not None:
                suf = member(shape.suffix, cps[b])
                if shape.suffix_not is not None:
                    suf &= ~member(shape.suffix_not, cps[b + 1])
                end = b + suf
            start, end = start[keep], end[keep]
            if not len(start):
                return []
        # hash every candidate token; only those hashing like a name are looked up
        h = _token_hashes(cps, start, end)
        targets = _hashes(list(names))  # sorted
        idx = np.searchsorted(targets, h)
        np.minimum(idx, len(targets) - 1, out=idx)
        hit = np.flatnonzero(targets[idx] == h)
        starts = (start[hit] - 1).tolist()
        ends = (end[hit] - 1).tolist()
        # exact texts (a hash collision gives None), looked up in C: map, not a Python loop
        kinds = list(map(names.get, map(text.__getitem__, map(slice, starts, ends))))
        return [{"start": s, "end": e, "kind": k} for s, e, k in compress(zip(starts, ends, kinds), kinds)]


PAD = 3  # one space before the text, two after (lookbehind/lookahead need no bounds checks)


def code_points(content: str, data: bytes, starts, ends) -> np.ndarray:
    """Code points of `content`, with the byte ranges [starts[i], ends[i]) of `data` (its
    UTF-8 encoding) blanked to spaces, and padded: one space before, two after (text offset t
    is index t + 1). uint8 when the text is ASCII, uint32 otherwise."""
    if len(content) == len(data):  # ASCII: bytes are code points
        buf = bytearray(b" ")
        buf += data
        buf += b"  "
        for s, e in zip(starts, ends):  # one memset each (overlaps just blank twice)
            buf[s + 1:e + 1] = b" " * (e - s)
        return np.frombuffer(buf, dtype=np.uint8)
    if starts:
        content = blank_utf8(data, sorted(zip(starts, ends)))
    return np.frombuffer((" " + content + "  ").encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def blank_utf8(data: bytes, ranges) -> str:
    """The text of `data` with the sorted (possibly overlapping) byte ranges blanked: each range
    becomes as many spaces as it has code points, so str offsets are those of the original."""
    parts = []
    pos = 0
    for s, e in ranges:
        if s < pos:
            if e <= pos:
                continue
            s = pos
        parts.append(data[pos:s])
        parts.append(b" " * len(data[s:e].decode("utf-8", "surrogatepass")))
        pos = e
    parts.append(data[pos:])
    return b"".join(parts).decode("utf-8", "surrogatepass")
