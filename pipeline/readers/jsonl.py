"""JSON Lines: one object per line with at least `content` and `path`.

Optional keys: `id` (else the git blob sha1 of content), `lang` (a canonical key or The Stack's
name), `repo`, `licenses` (a list of strings, null items dropped, or a single string), `stars`.
The language is `common.resolve_language`: an explicit `lang` decides (an unknown value is
rejected as `unknown_language:<lang>` even when the extension is known); without one, the path's
extension (`unknown_language:<.ext>` or `no_language` when that fails).
Files are opened through Beam FileSystems; `.gz` / `.bz2` files (by extension) are decompressed
with Python's gzip / bz2 modules, which, unlike Beam's decompressor, raise at a premature end.
One element per file. Every line that cannot become a record is a counted `read` reject whose
path is always `<file>:<line number>` (1-based, blank lines counted), so it can be found in the
input: invalid JSON or JSON nested too deeply for the parser (`invalid_json`), invalid UTF-8 in
the line (`invalid_utf8`), not an object (`not_a_json_object`), a missing or non-string field
(`missing_field:content`, `missing_field:path`), a string field holding a lone surrogate escape
(`invalid_utf8` for content, `invalid_utf8:<field>` for id, path, repo, licenses), a field of the
wrong type (`invalid_field:repo`, `invalid_field:licenses`, the latter also for a list item that
is not a string), NUL in content (`binary`), an unknown language.
The reject's `id` is the line's `id` when it is a valid string, and its `lang` the resolved
language when there is one.

A file that fails part-way is one more counted reject at `<file>:<line being read>`, and the
records before it are kept: `unreadable_file:<error>` when it cannot be opened,
`truncated_compressed_file` when a .gz / .bz2 ends before its end-of-stream marker, and
`corrupt_file:<error>` for any other read or decompression error (e.g. `corrupt_file:zlib.error`).
Lines whose language --languages did not select are counted per language on NOT_SELECTED_TAG.
"""
from __future__ import annotations

import bz2
import contextlib
import gzip
import json
import zlib
from collections import Counter

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from ..filtering import REJECTED_TAG
from .common import (
    is_utf8, license_list, make_record, not_selected_outputs, read_reject, resolve_language, text_problem,
)

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".ndjson", ".ndjson.gz", ".json", ".json.gz")


# What reading a file can raise: OSError (gzip.BadGzipFile, bz2's "Invalid data stream", permission
# and I/O errors), EOFError (a compressed stream that ends early) and zlib.error (corrupt deflate data).
_FILE_ERRORS = (OSError, EOFError, zlib.error)


def is_jsonl(path: str) -> bool:
    return path.lower().endswith(JSONL_SUFFIXES)


def open_lines(path: str, stack: contextlib.ExitStack):
    """A binary file object with `readline` over the decompressed bytes of `path`.

    The raw bytes come through Beam FileSystems (any scheme). Decompression is Python's own: Beam's
    decompressor returns what it has when a .gz ends early, so a truncated file lost its tail
    silently, while gzip / bz2 raise EOFError there.
    """
    raw = stack.enter_context(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED))
    lower = path.lower()
    if lower.endswith(".gz"):
        return stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
    if lower.endswith(".bz2"):
        return stack.enter_context(bz2.BZ2File(raw, mode="rb"))
    return raw


def _error_name(exc: BaseException) -> str:
    """`PermissionError`, `BadGzipFile`, ...; module-qualified when the class is just `error`."""
    name = type(exc).__name__
    return f"{type(exc).__module__}.{name}" if name == "error" else name


def file_error_reason(exc: BaseException, opened: bool) -> str:
    """The reject reason for a JSONL file that failed: before opening, at a premature end, or else."""
    if isinstance(exc, EOFError):
        return "truncated_compressed_file"
    return f"corrupt_file:{_error_name(exc)}" if opened else f"unreadable_file:{_error_name(exc)}"


def parse_line(line: bytes, where: str, languages: tuple[str, ...] | None, unselected: Counter | None = None):
    """`record_from_object` of one JSONL line, with the line's own decoding and JSON errors as rejects."""
    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        return None, read_reject(id=None, lang=None, path=where, reason="invalid_utf8")
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the parser's stack (e.g. 100000 '['); it is a
        # RuntimeError, not a ValueError, and crashed the job.
        return None, read_reject(id=None, lang=None, path=where, reason="invalid_json")
    return record_from_object(obj, where, languages, unselected)


def record_from_object(obj, where: str, languages: tuple[str, ...] | None, unselected: Counter | None = None):
    """(record, None), (None, reject row) or (None, None) when the language is not selected.

    `where` (`<file>:<line>`) is the path of every reject row, never the object's own `path`.
    A line skipped because --languages did not select its language is counted in `unselected`
    (when given) under that language, for the manifest.
    """
    def reject(reason: str, lang: str | None = None, ident: str | None = None):
        return None, read_reject(id=ident, lang=lang, path=where, reason=reason)

    if not isinstance(obj, dict):
        return reject("not_a_json_object")
    ident = obj.get("id")
    if isinstance(ident, str) and not is_utf8(ident):
        return reject("invalid_utf8:id")
    ident = ident if isinstance(ident, str) and ident else None
    content, path = obj.get("content"), obj.get("path")
    if not isinstance(content, str):
        return reject("missing_field:content", ident=ident)
    if not isinstance(path, str) or not path:
        return reject("missing_field:path", ident=ident)
    if not is_utf8(path):
        return reject("invalid_utf8:path", ident=ident)
    lang, reason = resolve_language(obj.get("lang"), path)
    if reason is not None:
        return reject(reason, ident=ident)
    if languages is not None and lang not in languages:
        if unselected is not None:
            unselected[lang] += 1
        return None, None
    repo = obj.get("repo")
    if repo is not None and not isinstance(repo, str):
        return reject("invalid_field:repo", lang, ident)
    if repo is not None and not is_utf8(repo):
        return reject("invalid_utf8:repo", lang, ident)
    licenses, reason = license_list(obj.get("licenses"))
    if reason is not None:
        return reject(reason, lang, ident)
    problem = text_problem(content)
    if problem is None and not is_utf8(content):  # lone surrogates from \ud800-style escapes
        problem = "invalid_utf8"
    if problem is not None:
        return reject(problem, lang, ident)
    record = make_record(
        id=ident, lang=lang, repo=repo, path=path, licenses=licenses, content=content, stars=obj.get("stars"),
    )
    return record, None


class ReadJsonlFile(beam.DoFn):
    """A JSONL path -> file records (main) and `read` reject rows (REJECTED_TAG)."""

    def __init__(self, languages: tuple[str, ...] | None):
        self._languages = languages

    def setup(self):
        self._read = Metrics.counter("codesage", "read.records")
        self._rejected = Metrics.counter("codesage", "read.rejected")
        self._unselected = Metrics.counter("codesage", "read.not_selected_language")

    def process(self, path: str):
        unselected: Counter = Counter()
        lineno, opened = 0, False
        try:
            with contextlib.ExitStack() as stack:
                fh = open_lines(path, stack)
                opened = True
                for lineno, line in enumerate(iter(fh.readline, b""), start=1):
                    if line.strip():
                        yield from self._line(line, f"{path}:{lineno}", unselected)
        except _FILE_ERRORS as exc:
            # The records before the failure stay; the rest of the file is this one reject.
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(REJECTED_TAG, read_reject(
                id=None, lang=None, path=f"{path}:{lineno + 1}", reason=file_error_reason(exc, opened)))
        yield from not_selected_outputs(unselected)

    def _line(self, line: bytes, where: str, unselected: Counter):
        record, reject = parse_line(line, where, self._languages, unselected)
        if reject is not None:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(REJECTED_TAG, reject)
        elif record is not None:
            self._read.inc()
            yield record
        else:
            self._unselected.inc()
