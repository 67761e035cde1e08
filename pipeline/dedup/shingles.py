"""Code tokens, shingles and the content normalization used by exact dedup.

Tokens come from one regex, ``\\w+|[^\\w\\s]+``: a token is either a maximal run of word characters
(identifiers, keywords, numbers; Unicode-aware) or a maximal run of non-space punctuation
(operators and brackets such as ``+=``, ``){``, ``->``). Whitespace only separates tokens, so the
token stream never contains an empty token. (BigCode's ``re.split("[^A-Za-z_0-9]")`` yields one
empty string per extra separator character, so runs of spaces and punctuation become shared
shingles made of empty strings and inflate the similarity of unrelated files.)

A shingle is ``n`` consecutive tokens joined by one space and UTF-8 encoded. Tokens never contain
whitespace, so the encoding is injective. The *set* of shingles is what MinHash and the exact
Jaccard verification see. A document with fewer than ``n`` tokens has no shingle; callers send it
to an exact path keyed by `token_sequence_key` instead of treating it as an empty set (empty sets
would all collide into one giant cluster).
"""
from __future__ import annotations

import hashlib
import re

TOKEN_RE = re.compile(r"\w+|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    """Code tokens of `text` in order; never an empty token."""
    return TOKEN_RE.findall(text)


def shingles_from_tokens(tokens: list[str], n: int) -> set[bytes]:
    """The set of n-gram shingles (UTF-8 bytes, tokens joined by one space); empty if len < n."""
    if n < 1:
        raise ValueError(f"shingle size must be >= 1, got {n}")
    if len(tokens) < n:
        return set()
    # Encode once and join byte slices (tokens hold no whitespace, so the split is exact): ~25%
    # faster than encoding every joined shingle.
    enc = " ".join(tokens).encode("utf-8", "surrogatepass").split(b" ")
    m = len(enc) - n + 1
    return set(map(b" ".join, zip(*(enc[k : m + k] for k in range(n)))))


def shingles(text: str, n: int = 5) -> set[bytes]:
    """The set of n-gram shingles of `text` (see module docstring)."""
    return shingles_from_tokens(tokenize(text), n)


def token_sequence_key(tokens: list[str]) -> str:
    """Hex digest identifying the exact token sequence (used for documents too short to shingle)."""
    h = hashlib.blake2b(digest_size=16)
    for t in tokens:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def normalize_for_exact(text: str) -> str:
    """Content normalization for exact dedup.

    - a leading UTF-8 byte-order mark (U+FEFF) is removed;
    - CRLF and lone CR line ends become LF;
    - trailing spaces and tabs (and other trailing whitespace) are removed from every line;
    - trailing empty lines at the end of the file are removed.

    Everything else (indentation, blank lines inside the file, case, comments) is significant.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def content_key(text: str) -> str:
    """sha256 hex digest of the normalized content."""
    return hashlib.sha256(normalize_for_exact(text).encode("utf-8", "surrogatepass")).hexdigest()
