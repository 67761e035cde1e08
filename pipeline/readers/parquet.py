"""The Stack v1 Parquet layout (`data/<lang>/*.parquet`) and any Parquet with the same columns.

Planning (at pipeline construction, on the launcher) reads each file's footer through Beam
FileSystems, so `gs://` / `s3://` work, and yields one `ParquetPart` per (file, row group); the
job then reads the parts in parallel. Only the columns the contract needs are read:

    contract   The Stack column (fallback: the contract name)
    id         hexsha                  (else the git blob sha1 of content)
    lang       lang                    (else the data/<lang> directory name, else the path's extension)
    repo       max_stars_repo_name     (repo)
    path       max_stars_repo_path     (path)
    licenses   max_stars_repo_licenses (licenses)
    stars      max_stars_count         (stars)
    content    content                 required: a file without it is a UserError

The language is `common.resolve_language`, the same rule as the JSONL reader: a non-empty `lang`
value decides (an unknown one is the reject `unknown_language:<lang>`); without one (no column or
a null), the data/<lang>/ folder; else the extension of `path` (`unknown_language:<.ext>`, or
`no_language` without a path or extension). So a plain table with the contract's columns and no
`lang` works.

Column types are checked at planning, so a file the job cannot use stops it before it starts
(a UserError naming the file and the column) instead of crashing it at the end: `id`, `lang`,
`repo` and `path` must be text, i.e. string or binary (binary is decoded per row as strict UTF-8;
a row whose bytes are not UTF-8 is the reject `invalid_utf8:<key>`, e.g. `invalid_utf8:path`),
or an all-null column; integers are refused rather than turned into ids or paths that were never
in the data. `content` must be string or binary. `licenses` is a list of strings or a single
string (`common.license_list`: nulls inside the list are dropped, other item types are the row
reject `invalid_field:licenses`); `stars` goes through `common.star_count`.

A footer that cannot be read is a UserError naming the file; a row group that fails to decode
mid-job (including a string column holding invalid UTF-8) becomes one counted `read` reject
`corrupt_parquet_row_group: <error>` whose path `<file>#row_group=<i>,rows_not_read=<n>` says how
many of its rows were lost (the job goes on; `n` counts the rows of the batches not decoded
before the failure). The planned row count (`InputPlan.describe()["parquet_rows"]`, the
manifest's `inputs.parquet_rows`) makes such losses visible next to the read counts. Rows whose
language --languages did not select are counted per language on NOT_SELECTED_TAG.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import posixpath
from collections import Counter
from typing import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from ..errors import UserError
from ..filtering import REJECTED_TAG
from ..languages import canonical_key
from .common import (
    decode_strict, license_list, make_record, not_selected_outputs, printable, read_reject, resolve_language,
)

# contract key -> candidate column names, first present wins
COLUMN_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("hexsha", "id"),
    "lang": ("lang",),
    "repo": ("max_stars_repo_name", "repo"),
    "path": ("max_stars_repo_path", "path"),
    "licenses": ("max_stars_repo_licenses", "licenses"),
    "stars": ("max_stars_count", "stars"),
    "content": ("content",),
}
BATCH_ROWS = 256
# Contract keys whose column must hold text (see `_text_kind`); content is checked on its own.
TEXT_KEYS = ("id", "lang", "repo", "path")


@dataclasses.dataclass(frozen=True)
class ParquetPart:
    """One row group of one Parquet file: the unit of parallel reading."""

    path: str
    row_group: int
    num_rows: int
    dir_lang: str | None                    # language implied by data/<lang>/, if any
    columns: tuple[tuple[str, str], ...]    # (contract key, column name) pairs to read


def dir_language(path: str) -> str | None:
    """Canonical key of the directory holding `path` (The Stack's data/<lang>/), or None."""
    parent = posixpath.basename(posixpath.dirname(path.replace("\\", "/")))
    return canonical_key(parent) if parent else None


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _text_kind(arrow_type: pa.DataType) -> str | None:
    """'text' (read as str), 'binary' (bytes, decoded per row) or None (cannot be read as text).

    A dictionary-encoded column counts as its values' type; an all-null column as text.
    """
    if pa.types.is_dictionary(arrow_type):
        return _text_kind(arrow_type.value_type)
    if pa.types.is_null(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if getattr(pa.types, "is_string_view", lambda t: False)(arrow_type):
        return "text"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    if getattr(pa.types, "is_binary_view", lambda t: False)(arrow_type):
        return "binary"
    return None


def _check_column_types(path: str, schema: pa.Schema, columns: list[tuple[str, str]]) -> None:
    """UserError naming the file and column when a contract column has a type the reader cannot use.

    Without it an int64 `hexsha` passed the reader and crashed the writer at the end of the job
    with an Arrow error naming neither file nor column, and `content` as int64 or list<string>
    became a row-group reject per row group.
    """
    for key, name in columns:
        arrow_type = schema.field(name).type
        if key == "content" and _text_kind(arrow_type) not in ("text", "binary"):
            raise UserError(
                f"the Parquet file {path} has a `{name}` column of type {arrow_type}; it must be string "
                "(or binary holding UTF-8)"
            )
        if key in TEXT_KEYS and _text_kind(arrow_type) is None:
            raise UserError(
                f"the Parquet file {path} has a `{name}` column ({key}) of type {arrow_type}, which cannot be "
                "read as text; store it as string (or binary holding UTF-8), or leave the column out"
            )


def _plan_file(path: str) -> list[ParquetPart]:
    try:
        with _open(path) as fh:
            meta = pq.ParquetFile(fh).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for corrupt or missing files
        raise UserError(f"cannot read the Parquet file {path} ({exc}); fix or remove it from --input") from None
    names = set(schema.names)
    repeated = sorted(n for n in names if schema.names.count(n) > 1)
    if repeated:
        raise UserError(f"the Parquet file {path} has more than one column named {', '.join(repeated)}; "
                        "write it with unique column names")
    if "content" not in names:
        raise UserError(
            f"the Parquet file {path} has no `content` column (columns: {', '.join(schema.names)}); "
            "pass The Stack's layout or a table with `content` and `path` columns"
        )
    columns = []
    for key, candidates in COLUMN_CANDIDATES.items():
        for name in candidates:
            if name in names:
                columns.append((key, name))
                break
    _check_column_types(path, schema, columns)
    dir_lang = dir_language(path)
    return [
        ParquetPart(path, i, meta.row_group(i).num_rows, dir_lang, tuple(columns))
        for i in range(meta.num_row_groups)
    ]


def plan_parquet(paths: Iterable[str], languages: tuple[str, ...] | None, threads: int = 16) -> list[ParquetPart]:
    """Footers of `paths` -> parts, skipping files whose data/<lang>/ directory is not selected."""
    selected = []
    for path in paths:
        lang = dir_language(path)
        if languages is not None and lang is not None and lang not in languages:
            continue
        selected.append(path)
    # Footer reads are latency-bound on object stores; a few threads hide it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(threads, len(selected) or 1))) as pool:
        planned = list(pool.map(_plan_file, selected))
    return [part for parts in planned for part in parts]


class ReadParquetPart(beam.DoFn):
    """ParquetPart -> file records (main) and `read` reject rows (REJECTED_TAG)."""

    def __init__(self, languages: tuple[str, ...] | None):
        self._languages = frozenset(languages) if languages else None

    def setup(self):
        self._read = Metrics.counter("codesage", "read.records")
        self._rejected = Metrics.counter("codesage", "read.rejected")
        self._unselected = Metrics.counter("codesage", "read.not_selected_language")

    def process(self, part: ParquetPart):
        keys = dict(part.columns)
        unselected: Counter = Counter()
        done = 0   # rows of the batches fully handled, for the reject of a failing row group
        try:
            with _open(part.path) as fh:
                batches = pq.ParquetFile(fh).iter_batches(
                    batch_size=BATCH_ROWS, row_groups=[part.row_group], columns=[c for _, c in part.columns]
                )
                for batch in batches:
                    yield from self._rows(part, keys, batch, unselected)
                    done += batch.num_rows
        except (OSError, pa.ArrowException, UnicodeDecodeError) as exc:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED_TAG,
                read_reject(
                    id=None, lang=part.dir_lang,
                    path=f"{part.path}#row_group={part.row_group},rows_not_read={max(part.num_rows - done, 0)}",
                    reason=f"corrupt_parquet_row_group: {type(exc).__name__}",
                ),
            )
        yield from not_selected_outputs(unselected)

    def _rows(self, part: ParquetPart, keys: dict[str, str], batch: pa.RecordBatch, unselected: Counter):
        cols = {key: batch.column(name) for key, name in keys.items()}
        # Content goes through bytes so that invalid UTF-8 in one row rejects that row only.
        content = cols.pop("content")
        if pa.types.is_dictionary(content.type):
            content = content.dictionary_decode()
        if _text_kind(content.type) == "text":
            content = content.cast(pa.large_binary() if pa.types.is_large_string(content.type) else pa.binary())
        try:
            values = {key: col.to_pylist() for key, col in cols.items()}
            raw_contents = content.to_pylist()
        except (ValueError, OverflowError) as exc:
            # values Python cannot hold (e.g. a date column as stars, out of datetime's range): the row
            # group's reject, like any other decoding failure (not caught around the yields, where a
            # downstream error would be mistaken for bad input)
            raise pa.ArrowInvalid(f"{type(exc).__name__}: {exc}") from exc
        for i, raw in enumerate(raw_contents):
            row, reason = decode_text_fields({key: vals[i] for key, vals in values.items()})
            # An explicit `lang` value decides (an unknown one is a reject); else data/<lang>/; else
            # the path's extension.
            lang, lang_reason = resolve_language(row.get("lang"), row.get("path"), part.dir_lang)
            reason = reason or lang_reason
            if reason is None and self._languages is not None and lang not in self._languages:
                self._unselected.inc()
                unselected[lang] += 1
                continue
            text = None
            if reason is None:
                text, reason = decode_strict(raw) if raw is not None else (None, "missing_content")
            licenses, licenses_reason = license_list(row.get("licenses"))
            reason = reason or licenses_reason
            if reason is not None:
                self._rejected.inc()
                yield beam.pvalue.TaggedOutput(
                    REJECTED_TAG, read_reject(id=row.get("id"), lang=lang, path=row.get("path"), reason=reason)
                )
                continue
            self._read.inc()
            yield make_record(
                id=row.get("id"), lang=lang, repo=row.get("repo"), path=row.get("path"),
                licenses=licenses, content=text, stars=row.get("stars"),
            )


def decode_text_fields(row: dict) -> tuple[dict, str | None]:
    """`row` with its binary text fields (id, lang, repo, path) decoded as strict UTF-8, and the
    reject reason `invalid_utf8:<key>` of the first that is not UTF-8 (else None).

    A field that fails stays in the row printable (`\\xNN` escapes) so the reject can name the
    row, except `id`, which becomes None (an escaped id would look like a real one).
    """
    out, reason = dict(row), None
    for key in TEXT_KEYS:
        value = out.get(key)
        if not isinstance(value, bytes):
            continue
        try:
            out[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            out[key] = None if key == "id" else printable(value.decode("utf-8", errors="surrogateescape"))
            reason = reason or f"invalid_utf8:{key}"
    return out, reason
