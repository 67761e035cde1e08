"""Helpers every reader shares: ids, strict decoding, record construction, read rejects.

Contract of a *file record* leaving a reader (see pipeline/records.py):
    id        The Stack `hexsha` when the input gives one, else the git blob sha1 of the bytes
    lang      canonical language key (pipeline.languages)
    repo      origin repository / tree name (may be None)
    path      path inside `repo`
    licenses  list of SPDX ids (possibly empty)
    content   the file decoded as strict UTF-8, unmodified
    size      len(content.encode("utf-8"))
    stars     int or None
Anything that cannot become such a record becomes a `rejected` row with stage "read".
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterable

from ..records import reject_row

READ_STAGE = "read"

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


def text_problem(content: str) -> str | None:
    """Reason to reject already-decoded text (Parquet / JSONL inputs), or None."""
    if "\x00" in content:
        return "binary"
    return None


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
    """A file record with every read-stage key; id falls back to the git blob sha1."""
    raw = content.encode("utf-8")
    return {
        "id": id or git_blob_sha1(raw),
        "lang": lang,
        "repo": repo,
        "path": path,
        "licenses": [str(x) for x in (licenses or [])],
        "content": content,
        "size": len(raw),
        "stars": int(stars) if stars is not None else None,
    }


def read_reject(*, id: str | None, lang: str | None, path: str | None, reason: str) -> dict:
    """A `rejected` row for something that could not be read."""
    return reject_row({"id": id, "lang": lang, "path": path}, READ_STAGE, reason)
