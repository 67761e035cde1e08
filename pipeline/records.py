"""Shapes of the records that flow through the Beam pipeline.

A *file record* is a plain dict (cheap to pickle, runner-agnostic) with the keys of the
`files` contract that exist at that stage:

    read:        id, lang, repo, path, licenses, content, size, stars (int | None)
    near dedup:  + cluster_id, cluster_size
    split:       + split
    parse:       + identifiers  (list of {"start", "end", "kind"})

A *pair record* has the keys of the `pairs` contract. A *reject row* has the keys of the
`rejected` contract; build it with `reject_row` so every stage fills it the same way.
"""
from __future__ import annotations

from typing import Any, Mapping

from schemas import FILES_SCHEMA, PAIRS_SCHEMA, REJECT_STAGES

FILE_COLUMNS = tuple(FILES_SCHEMA.names)
PAIR_COLUMNS = tuple(PAIRS_SCHEMA.names)


def reject_row(record: Mapping[str, Any], stage: str, reason: str, kept_id: str | None = None) -> dict:
    """The `rejected` row for `record` dropped at `stage` because of `reason`.

    `kept_id` names the survivor when the record was removed as a duplicate.
    """
    if stage not in REJECT_STAGES:
        raise ValueError(f"unknown reject stage {stage!r}; expected one of {REJECT_STAGES}")
    return {
        "id": record.get("id"),
        "lang": record.get("lang"),
        "path": record.get("path"),
        "stage": stage,
        "reason": reason,
        "kept_id": kept_id,
    }


def to_files_row(record: Mapping[str, Any]) -> dict:
    """Project a file record onto the `files` contract columns (drops internal keys)."""
    return {name: record.get(name) for name in FILE_COLUMNS}
