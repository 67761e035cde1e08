"""JSON Lines: one object per line with at least `content` and `path`.

Optional keys: `id` (else the git blob sha1 of content), `lang` (a canonical key or The Stack's
name), `repo`, `licenses` (list or a single string), `stars`. The language is
`common.resolve_language`: an explicit `lang` decides (an unknown value is rejected as
`unknown_language:<lang>` even when the extension is known); without one, the path's extension
(`unknown_language:<.ext>` or `no_language` when that fails).
Files are opened through Beam FileSystems (`.gz` / `.bz2` are decompressed by extension); one
element per file. Every line that cannot become a record is a counted `read` reject whose path
is always `<file>:<line number>` (1-based, blank lines counted), so it can be found in the input:
invalid JSON (`invalid_json`), invalid UTF-8 in the line (`invalid_utf8`), not an object
(`not_a_json_object`), a missing or non-string field (`missing_field:content`,
`missing_field:path`), a string field holding a lone surrogate escape (`invalid_utf8` for
content, `invalid_utf8:<field>` for id, path, repo, licenses), a field of the wrong type
(`invalid_field:repo`, `invalid_field:licenses`), NUL in content (`binary`), an unknown language.
The reject's `id` is the line's `id` when it is a valid string, and its `lang` the resolved
language when there is one.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from ..filtering import REJECTED_TAG
from .common import is_utf8, make_record, read_reject, resolve_language, text_problem

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".ndjson", ".ndjson.gz", ".json", ".json.gz")


def is_jsonl(path: str) -> bool:
    return path.lower().endswith(JSONL_SUFFIXES)


def record_from_object(obj, where: str, languages: tuple[str, ...] | None):
    """(record, None), (None, reject row) or (None, None) when the language is not selected.

    `where` (`<file>:<line>`) is the path of every reject row, never the object's own `path`.
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
        return None, None
    repo = obj.get("repo")
    if repo is not None and not isinstance(repo, str):
        return reject("invalid_field:repo", lang, ident)
    if repo is not None and not is_utf8(repo):
        return reject("invalid_utf8:repo", lang, ident)
    licenses = obj.get("licenses")
    if isinstance(licenses, str):
        licenses = [licenses]
    if licenses is not None and not isinstance(licenses, list):
        return reject("invalid_field:licenses", lang, ident)
    if licenses and not all(is_utf8(x) for x in licenses if isinstance(x, str)):
        return reject("invalid_utf8:licenses", lang, ident)
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
        with FileSystems.open(path) as fh:
            for lineno, line in enumerate(iter(fh.readline, b""), start=1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    obj = json.loads(line)
                except UnicodeDecodeError:
                    record, reject = None, read_reject(id=None, lang=None, path=where, reason="invalid_utf8")
                except ValueError:
                    record, reject = None, read_reject(id=None, lang=None, path=where, reason="invalid_json")
                else:
                    record, reject = record_from_object(obj, where, self._languages)
                if reject is not None:
                    self._rejected.inc()
                    yield beam.pvalue.TaggedOutput(REJECTED_TAG, reject)
                elif record is not None:
                    self._read.inc()
                    yield record
                else:
                    self._unselected.inc()
