"""Arrow schemas of the pipeline's output tables (design.md section 3, schema version 1).

These schemas are the data contract between `pipeline` (which writes them) and `trainer`
(which reads them). Column order, names and types are part of the contract; changing any
of them requires bumping `SCHEMA_VERSION`.
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

IDENTIFIER_KINDS = ("class", "function", "variable")
SPLITS = ("train", "valid", "test")
REJECT_STAGES = ("read", "filter", "exact_dedup", "near_dedup", "parse", "pair_filter", "pair_dedup")

IDENTIFIER_SPAN = pa.struct(
    [
        pa.field("start", pa.int32(), nullable=False),
        pa.field("end", pa.int32(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
    ]
)

FILES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("repo", pa.string()),
        pa.field("path", pa.string()),
        pa.field("licenses", pa.list_(pa.string())),
        pa.field("content", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("identifiers", pa.list_(IDENTIFIER_SPAN)),
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("cluster_size", pa.int32(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
    ],
    metadata={b"codesage.schema_version": str(SCHEMA_VERSION).encode(), b"codesage.table": b"files"},
)

PAIRS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("file_id", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("repo", pa.string()),
        pa.field("path", pa.string()),
        pa.field("split", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("start_line", pa.int32(), nullable=False),
        pa.field("end_line", pa.int32(), nullable=False),
        pa.field("docstring", pa.string()),
        pa.field("summary", pa.string()),
        pa.field("code", pa.string(), nullable=False),
        pa.field("code_hard", pa.string()),
    ],
    metadata={b"codesage.schema_version": str(SCHEMA_VERSION).encode(), b"codesage.table": b"pairs"},
)

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("path", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("kept_id", pa.string()),
    ],
    metadata={b"codesage.schema_version": str(SCHEMA_VERSION).encode(), b"codesage.table": b"rejected"},
)

SCHEMAS = {"files": FILES_SCHEMA, "pairs": PAIRS_SCHEMA, "rejected": REJECTED_SCHEMA}

# Columns the trainer reads from each table (readers pass these to pyarrow so that
# unneeded columns, e.g. `content` for stage 2, are never decoded).
PRETRAIN_COLUMNS = ("id", "lang", "content", "identifiers", "split")
TOKENIZER_COLUMNS = ("content", "split")
PAIRS_TEXT_COLUMNS = ("summary", "docstring")
PAIRS_CODE_COLUMNS = ("code_hard", "code")


def schema_for(table: str) -> pa.Schema:
    """Return the Arrow schema of `table` ('files', 'pairs' or 'rejected')."""
    try:
        return SCHEMAS[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}; expected one of {sorted(SCHEMAS)}") from None
