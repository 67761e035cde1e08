"""Structure of `OUT/manifest.json` (design.md section 3).

The manifest is written last, after every shard is in place; its presence marks an output
folder as complete. It records the schema version, the options of the run, counts per stage
and language, and every shard with its rows, bytes and sha256.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from .contract import SCHEMA_VERSION

MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    table: str          # files | pairs | rejected
    path: str           # relative to OUT, e.g. files/part-00000-of-00004.parquet
    rows: int
    bytes: int
    sha256: str

    @classmethod
    def of_file(cls, out_dir: str, table: str, rel_path: str, rows: int) -> "ShardInfo":
        full = os.path.join(out_dir, rel_path)
        digest = hashlib.sha256()
        with open(full, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return cls(table, rel_path, rows, os.path.getsize(full), digest.hexdigest())


@dataclasses.dataclass
class Manifest:
    """`counts[stage][lang] = n` for stages such as read, filter_kept, exact_dedup_kept, ...;
    `tables[lang]` is the paper's Table 4 shape (files, functions, functions_with_docs, pairs)."""

    options: dict[str, Any]
    counts: dict[str, dict[str, int]]
    shards: list[ShardInfo]
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> str:
        body = {
            "schema_version": self.schema_version,
            "options": self.options,
            "counts": self.counts,
            "shards": [dataclasses.asdict(s) for s in self.shards],
            **self.extra,
        }
        return json.dumps(body, indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        body = json.loads(text)
        version = body.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"manifest schema_version {version!r} is not supported (this code reads version {SCHEMA_VERSION})"
            )
        shards = [ShardInfo(**s) for s in body.pop("shards")]
        return cls(options=body.pop("options"), counts=body.pop("counts"), shards=shards, extra=body)

    def shard_paths(self, table: str) -> list[str]:
        return [s.path for s in self.shards if s.table == table]


def read_manifest(out_dir: str) -> Manifest:
    path = os.path.join(out_dir, MANIFEST_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{out_dir} has no {MANIFEST_NAME}: it is not a finished pipeline output "
            "(run `python -m pipeline --output DIR` to completion first)"
        )
    with open(path, encoding="utf-8") as fh:
        return Manifest.from_json(fh.read())
