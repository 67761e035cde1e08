"""Helpers every reader shares: ids, strict decoding, record construction, read rejects.

Contract of a *file record* leaving a reader (see pipeline/records.py):
    id        The Stack `hexsha` when the input gives one, else the git blob sha1 of the bytes
    lang      canonical language key (pipeline.languages)
    repo      origin repository / tree name (may be None)
    path      path inside `repo`
    licenses  list of SPDX ids (possibly empty; `license_list` turns the input's value into one)
    content   the file decoded as strict UTF-8, unmodified
    size      len(content.encode("utf-8"))
    stars     int in [0, 2**63 - 1] or None (`star_count`: missing, NaN, negative, too large or
              non-numeric values are None)
Anything that cannot become such a record becomes a `rejected` row with stage "read". Rows of
a Parquet or JSONL file whose language `--languages` did not select are neither: readers count
them per language on the tagged output `NOT_SELECTED_TAG` (`not_selected_outputs`), so that the
manifest can account for every row read.

Every str a reader puts into a record or a reject row (id, repo, path, licenses, reason) must be
encodable as UTF-8: Python hands undecodable file names over as lone surrogates (PEP 383) and
JSON may spell them as `\\udcxx` escapes, and Beam's coders and Arrow refuse such strings. Use
`is_utf8` to detect them and `printable` to turn one into a storable string.
"""
from __future__ import annotations

import hashlib
import math
import posixpath
from collections import Counter
from typing import Any, Iterable

import apache_beam as beam

from ..languages import canonical_key, language_for_path
from ..records import reject_row

READ_STAGE = "read"
# Tagged output of the Parquet and JSONL readers: (lang, n) rows skipped because --languages did
# not select their language (see `not_selected_outputs`).
NOT_SELECTED_TAG = "not_selected"
# Largest star count a record may carry: Beam's VarIntCoder (and the Arrow int64 column) stop at
# 2**63 - 1, and a bigger value crashed the job when the record crossed a shuffle.
MAX_STARS = 2**63 - 1

# Directories that are never source: version control metadata and byte-code caches.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "CVS", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache"})


def git_blob_sha1(data: bytes) -> str:
    """The id git gives `data` as a blob: sha1(b"blob <len>\\0" + data), hex."""
    digest = hashlib.sha1(b"blob %d\x00" % len(data))
    digest.update(data)
    return digest.hexdigest()


def decode_strict(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) for valid UTF-8 text, else (None, reason) with reason 'binary' or 'invalid_utf8'.

    A NUL byte marks binary content (source files never contain one; UTF-8 text may legally hold
    U+0000, but in code it signals a binary or a mis-encoded UTF-16 file).
    """
    if b"\x00" in data:
        return None, "binary"
    try:
        return data.decode("utf-8", errors="strict"), None
    except UnicodeDecodeError:
        return None, "invalid_utf8"


def is_utf8(text: str) -> bool:
    """True when `text` can be encoded as UTF-8 (holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with every lone surrogate spelled out as a backslash escape; valid UTF-8 always.

    A file name that is not valid UTF-8 (surrogate-escaped by the OS layer) shows its raw bytes,
    e.g. 'bad\\xff.py'; other lone surrogates (from JSON escapes) show as '\\udcxx'. Valid text
    is returned unchanged.
    """
    if is_utf8(text):
        return text
    raw = text.encode("utf-8", errors="surrogateescape") if _only_escapes(text) else None
    if raw is not None:
        return raw.decode("utf-8", errors="backslashreplace")
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _only_escapes(text: str) -> bool:
    """True when every lone surrogate of `text` is a surrogateescape byte (U+DC80..U+DCFF)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def resolve_language(given: Any, path: Any, default: str | None = None) -> tuple[str | None, str | None]:
    """The canonical language of a record: (key, None), or (None, reason) when it has none.

    Shared by the JSONL and Parquet readers. Order:
      1. an explicit `given` value (a canonical key or The Stack's name) decides; an unknown one is
         `unknown_language:<given>` and the extension is NOT consulted;
      2. else `default` (the Parquet reader's data/<lang>/ folder), when not None;
      3. else the extension of `path` through the language registry; an extension no spec claims is
         `unknown_language:<.ext>` (lower-cased, with its dot);
      4. no value, no default and no extension (or no path): `no_language`.
    Empty or blank `given` values count as absent. Reasons are always valid UTF-8.
    """
    if given is not None and str(given).strip():
        key = canonical_key(str(given))
        if key is None:
            return None, f"unknown_language:{printable(str(given).strip())}"
        return key, None
    if default is not None:
        return default, None
    if isinstance(path, str) and path:
        key = language_for_path(path)
        if key is not None:
            return key, None
        ext = posixpath.splitext(path.replace("\\", "/"))[1].lower()
        if ext:
            return None, f"unknown_language:{printable(ext)}"
    return None, "no_language"


def text_problem(content: str) -> str | None:
    """Reason to reject already-decoded text (Parquet / JSONL inputs), or None."""
    if "\x00" in content:
        return "binary"
    return None


def star_count(value: Any) -> int | None:
    """A repository star count as an int, or None when the input has none usable.

    The Stack's `max_stars_count` is a float column whose missing values are null, or NaN when the
    Parquet file went through pandas; JSONL may hold anything. A finite number >= 0 becomes an int
    (2.0 -> 2); None, NaN, infinities, negatives, booleans, non-numbers and values above
    `MAX_STARS` (2**63 - 1, e.g. 1e30: no int64 holds them) become None, which the survivor ranking
    counts as 0 stars. Both readers use this one rule, so the same value never crashes one reader
    and passes the other.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value <= MAX_STARS else None
    return None


def license_list(value: Any) -> tuple[list[str] | None, str | None]:
    """(licenses, None) for a usable `licenses` value, else (None, reason) for a `read` reject.

    Accepted: None (no licenses: []), one string ("MIT" -> ["MIT"], never iterated into letters),
    or a list/tuple of strings whose None items are dropped ([None, "MIT"] -> ["MIT"]; Parquet
    lists hold nulls). A list item that is not a string, or any other type, is
    `invalid_field:licenses` (str() of it would invent a license such as "1" or "None"); a string
    holding a lone surrogate (a JSON escape) is `invalid_utf8:licenses`.
    """
    if value is None:
        return [], None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return None, "invalid_field:licenses"
    kept = [item for item in items if item is not None]
    if not all(isinstance(item, str) for item in kept):
        return None, "invalid_field:licenses"
    if not all(is_utf8(item) for item in kept):
        return None, "invalid_utf8:licenses"
    return kept, None


def not_selected_outputs(counts: Counter):
    """One tagged (lang, n) element per language whose rows --languages skipped (see NOT_SELECTED_TAG).

    Readers count per file or row group and emit at its end, so the counts cost one element per
    language and input unit, not one per skipped row.
    """
    for lang, n in sorted(counts.items()):
        yield beam.pvalue.TaggedOutput(NOT_SELECTED_TAG, (lang, n))


def make_record(
    *,
    id: str | None,
    lang: str,
    repo: str | None,
    path: str | None,
    licenses: Iterable[str] | None,
    content: str,
    stars: Any = None,
) -> dict:
    """A file record with every read-stage key; id falls back to the git blob sha1.

    `licenses` must already be a list of strings (`license_list`'s result): it is copied, not
    converted, so a bad value can never be mangled into plausible-looking SPDX ids here.
    """
    raw = content.encode("utf-8")
    return {
        "id": id or git_blob_sha1(raw),
        "lang": lang,
        "repo": repo,
        "path": path,
        "licenses": list(licenses or ()),
        "content": content,
        "size": len(raw),
        "stars": star_count(stars),
    }


def read_reject(*, id: str | None, lang: str | None, path: str | None, reason: str) -> dict:
    """A `rejected` row for something that could not be read."""
    return reject_row({"id": id, "lang": lang, "path": path}, READ_STAGE, reason)
