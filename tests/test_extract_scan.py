"""The vectorized name scan (pipeline/parse/scan.py) must find exactly the tokens the regex
split finds, for every spec's token regex, on ASCII and non-ASCII text, with blanked ranges."""
from __future__ import annotations

import random
import re
from itertools import accumulate

import numpy as np
import pytest

from pipeline.languages import registry
from pipeline.parse import scan as scan_mod
from pipeline.parse.scan import TokenScanner, code_points, text_hash

SPEC_TOKENS = sorted({s.settings["identifiers"]["token"] for s in map(registry.get, registry.all_specs())
                      if s.settings.get("identifiers", {}).get("token")})

# characters around which the regexes behave differently: word chars, prefixes, suffixes,
# lookbehind/lookahead chars, non-ASCII letters and digits, separators
ALPHABET = list("aZ_1@@$#\\?!=~ .\n") + ["\u00e9", "\u0663", "\u4e2d", "\u00b2"]


def reference(token: str, text: str, names: dict[str, str]) -> list[dict]:
    """What the regex path computes: split the text, look every token up."""
    split = re.compile(f"({token})", re.ASCII if text.isascii() else 0)
    parts = split.split(text)
    ends = list(accumulate(map(len, parts)))
    out = []
    for i in range(1, len(parts), 2):
        kind = names.get(parts[i])
        if kind is not None:
            out.append({"start": ends[i - 1], "end": ends[i], "kind": kind})
    return out


def blank(text: str, ranges) -> str:
    chars = list(text)
    for s, e in ranges:
        chars[s:e] = [" "] * (e - s)
    return "".join(chars)


def test_every_spec_token_is_supported():
    # the fast path is the one benchmarked; a spec falling back to the regex must be deliberate
    assert SPEC_TOKENS
    for token in SPEC_TOKENS:
        assert TokenScanner.compile(token) is not None, token


@pytest.mark.parametrize("token", SPEC_TOKENS)
def test_scan_matches_regex_split(token):
    scanner = TokenScanner.compile(token)
    rng = random.Random(token)
    for trial in range(400):
        ascii_only = trial % 2 == 0
        alphabet = [c for c in ALPHABET if c.isascii()] if ascii_only else ALPHABET
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        data = text.encode("utf-8")
        # blank a few byte ranges on character boundaries (what comments/strings become)
        bounds = sorted({0, len(text)} | {rng.randint(0, len(text)) for _ in range(4)})
        char_ranges = [(s, e) for s, e in zip(bounds, bounds[1:]) if rng.random() < 0.3]
        byte_of = [len(text[:i].encode("utf-8")) for i in range(len(text) + 1)]
        byte_ranges = [(byte_of[s], byte_of[e]) for s, e in char_ranges]
        masked = blank(text, char_ranges)
        tokens = re.findall(token, masked)
        names = {t: rng.choice(["class", "function", "variable"]) for t in tokens if rng.random() < 0.6}
        names.update({"a": "variable", "@a": "variable", "a?": "function", "#a": "class"})
        cps = code_points(text, data, [s for s, _ in byte_ranges], [e for _, e in byte_ranges])
        assert "".join(map(chr, cps.tolist())) == " " + masked + "  "
        got = scanner.scan(text, cps, names)
        assert got is not None
        assert got == reference(token, masked, names), (token, masked, names)


def test_vectorized_hashes_match_the_reference():
    names = ["a", "beta", "x_1", "\u00e9t\u00e9", "\u4e2d\u6587", "@ivar", "q?"]
    assert scan_mod._hashes(names).tolist() == sorted(text_hash(n) for n in names)


def test_hash_collisions_never_produce_spans(monkeypatch):
    scanner = TokenScanner.compile(r"\w+")
    text = "alpha beta gamma"
    cps = code_points(text, text.encode(), [], [])
    assert scanner.scan(text, cps, {"beta": "variable"}) == [{"start": 6, "end": 10, "kind": "variable"}]
    # force every name to hash like "gamma": the exact text lookup must reject the token
    monkeypatch.setattr(scan_mod, "_hashes", lambda names: np.array([text_hash("gamma")], dtype=scan_mod._HASH))
    assert scanner.scan(text, cps, {"delta": "variable"}) == []
    assert scanner.scan(text, cps, {"gamma": "class"}) == [{"start": 11, "end": 16, "kind": "class"}]


def test_unsupported_forms_fall_back():
    for token in (r"\w{3}", r"[a-z]\w*", r"(?i)\w+", r"(\w+)", r"\w+|\d+", r"[\w ]+"):
        assert TokenScanner.compile(token) is None, token
