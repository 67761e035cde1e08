"""JSON Lines: one object per line with at least `content` and `path`.

Optional keys: `id` (else the git blob sha1 of content), `lang` (a canonical key or The Stack's
name; else from the path's extension), `repo`, `licenses` (list or a single string), `stars`.
Files are opened through Beam FileSystems (`.gz` / `.bz2` are decompressed by extension); one
element per file. Every line that cannot become a record is a counted `read` reject whose path
is `<file>:<line number>`: invalid JSON, invalid UTF-8, a missing field, an unknown language.
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from ..filtering import REJECTED_TAG
from ..languages import canonical_key, language_for_path
from .common import make_record, read_reject, text_problem

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.bz2", ".ndjson", ".ndjson.gz", ".json", ".json.gz")


def is_jsonl(path: str) -> bool:
    return path.lower().endswith(JSONL_SUFFIXES)


def record_from_object(obj, where: str, languages: tuple[str, ...] | None):
    """(record, None), (None, reject row) or (None, None) when the language is not selected."""
    if not isinstance(obj, dict):
        return None, read_reject(id=None, lang=None, path=where, reason="not_a_json_object")
    content, path = obj.get("content"), obj.get("path")
    given = obj.get("lang")
    lang = (canonical_key(str(given)) if given else None) or (language_for_path(path) if isinstance(path, str) else None)
    ident = obj.get("id") if isinstance(obj.get("id"), str) else None
    if not isinstance(content, str):
        return None, read_reject(id=ident, lang=lang, path=path if isinstance(path, str) else where, reason="missing_field:content")
    if not isinstance(path, str) or not path:
        return None, read_reject(id=ident, lang=lang, path=where, reason="missing_field:path")
    if lang is None:
        return None, read_reject(id=ident, lang=None, path=path, reason=f"unknown_language:{given or path}")
    if languages is not None and lang not in languages:
        return None, None
    problem = text_problem(content)
    if problem is None:
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
            problem = "invalid_utf8"
    if problem is not None:
        return None, read_reject(id=ident, lang=lang, path=path, reason=problem)
    licenses = obj.get("licenses")
    if isinstance(licenses, str):
        licenses = [licenses]
    stars = obj.get("stars")
    record = make_record(
        id=ident, lang=lang, repo=obj.get("repo"), path=path,
        licenses=licenses if isinstance(licenses, list) else None,
        content=content, stars=stars if isinstance(stars, int) and not isinstance(stars, bool) else None,
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
