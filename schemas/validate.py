"""Validation of a table against the contract, with errors that name the offending column."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .contract import IDENTIFIER_KINDS, REJECT_STAGES, SCHEMA_VERSION, SCHEMAS, SPLITS, schema_for


class SchemaError(ValueError):
    """A table does not match the contract. `column` names the first offending column."""

    def __init__(self, table: str, column: str | None, problem: str):
        self.table, self.column, self.problem = table, column, problem
        where = f"column {column!r}" if column else "table"
        super().__init__(f"{table}: {where}: {problem}")


def _check_values(name: str, table: pa.Table, kind: str) -> None:
    def bad_values(col: pa.ChunkedArray, allowed: tuple[str, ...]) -> list[str]:
        mask = pc.invert(pc.is_in(col, value_set=pa.array(allowed)))
        mask = pc.fill_null(mask, True)
        return sorted(set(pc.filter(col, mask).to_pylist()), key=str)[:5]

    if kind in ("files", "pairs"):
        bad = bad_values(table.column("split"), SPLITS)
        if bad:
            raise SchemaError(kind, "split", f"values {bad} not in {list(SPLITS)}")
    if kind == "rejected":
        bad = bad_values(table.column("stage"), REJECT_STAGES)
        if bad:
            raise SchemaError(kind, "stage", f"values {bad} not in {list(REJECT_STAGES)}")
    if kind == "files" and table.num_rows:
        flat = pc.list_flatten(table.column("identifiers"))
        if len(flat):
            kinds = pc.struct_field(flat, "kind")
            bad = sorted(set(kinds.to_pylist()) - set(IDENTIFIER_KINDS), key=str)[:5]
            if bad:
                raise SchemaError(kind, "identifiers", f"kind values {bad} not in {list(IDENTIFIER_KINDS)}")
            starts = pc.struct_field(flat, "start")
            ends = pc.struct_field(flat, "end")
            if pc.any(pc.greater(starts, ends)).as_py() or pc.any(pc.less(starts, 0)).as_py():
                raise SchemaError(kind, "identifiers", "span with start > end or start < 0")
            # Spans index `content` in Python str (code point) offsets.
            lengths = pc.utf8_length(table.column("content"))
            for content_len, spans in zip(lengths.to_pylist(), table.column("identifiers").to_pylist()):
                if spans and max(s["end"] for s in spans) > content_len:
                    raise SchemaError(kind, "identifiers", "span end past the end of content")


def version_problem(schema: pa.Schema) -> str | None:
    """None when `schema`'s metadata names this code's schema version (or no version: tables
    written by other tools); else the problem, e.g. "written with schema version 2, this code
    implements version 1". Readers call it before trusting any column's meaning."""
    version = (schema.metadata or {}).get(b"codesage.schema_version")
    if version is None or version.decode("utf-8", "replace") == str(SCHEMA_VERSION):
        return None
    return (f"written with schema version {version.decode('utf-8', 'replace')}, "
            f"this code implements version {SCHEMA_VERSION}")


def _kind_and_version(table: pa.Table, kind: str | None) -> str:
    """The table kind to check: `kind`, else the one the table's schema metadata names (every shard
    the pipeline writes carries `codesage.table` and `codesage.schema_version`). A table stamped with
    another schema version than this code's is refused whatever its columns."""
    meta = table.schema.metadata or {}
    stamped = meta.get(b"codesage.table", b"").decode("utf-8", "replace") or None
    if kind is None:
        if stamped is None:
            raise SchemaError("table", None, "no kind given and its metadata names none (codesage.table); "
                              f"pass kind, one of {sorted(SCHEMAS)}")
        kind = stamped
    if kind not in SCHEMAS:
        raise SchemaError(str(kind), None, f"unknown kind; one of {sorted(SCHEMAS)}")
    problem = version_problem(table.schema)
    if problem:
        raise SchemaError(kind, None, problem)
    return kind


def validate(table: pa.Table, kind: str | None = None) -> pa.Table:
    """Check `table` against the `kind` schema ('files', 'pairs', 'rejected'; default: the kind its
    metadata names, as every shard the pipeline writes has it).

    Checks, in order: the schema version in the metadata, if any, is this code's; every contract column is present; each column has the contract type;
    non-nullable columns hold no nulls; enumerated values (split, stage, identifier kind)
    are legal. Extra columns are an error too (the contract is closed). Returns the table
    cast to the exact contract schema (same column order, with schema metadata), so writers
    can call `validate` as the last step before writing. Raises `SchemaError` naming the
    first offending column.
    """
    kind = _kind_and_version(table, kind)
    schema = schema_for(kind)
    names = set(table.column_names)
    for field in schema:
        if field.name not in names:
            raise SchemaError(kind, field.name, "missing")
    extra = [n for n in table.column_names if schema.get_field_index(n) < 0]
    if extra:
        raise SchemaError(kind, extra[0], "not part of the contract")
    for field in schema:
        col = table.column(field.name)
        if pa.types.is_null(col.type) and field.nullable:
            continue  # an all-null column built from Python None casts losslessly
        if not col.type.equals(field.type):
            raise SchemaError(kind, field.name, f"type {col.type} but the contract says {field.type}")
        if not field.nullable and col.null_count:
            raise SchemaError(kind, field.name, f"{col.null_count} null value(s) in a non-nullable column")
    table = table.select([f.name for f in schema]).cast(schema)
    _check_values(kind, table, kind)
    return table
