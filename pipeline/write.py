"""Deterministic sharded Parquet writer and the atomic finish (manifest written last).

Layout of a finished output folder OUT:

    OUT/files/part-NNNNN-of-MMMMM.parquet      one row per surviving file
    OUT/pairs/part-NNNNN-of-MMMMM.parquet      one row per (text, code) pair
    OUT/rejected/part-NNNNN-of-MMMMM.parquet   one row per dropped file or pair
    OUT/manifest.json                          written last: its presence means "complete"

Determinism (same input + options -> byte-identical shards, on any runner):
  * a row's shard is a stable hash of its key (`shard_of`: sha256 of the id), never of arrival
    order or worker; the shard count comes from a flag or from the data (total bytes / target);
  * rows inside a shard are sorted by every column (`sort_key`), a total order;
  * every shard index 0..M-1 is written, empty ones included, so the set is always complete;
  * pyarrow writes with fixed options (`PARQUET_OPTIONS`) and no timestamps.

Atomicity: the job writes into a staging folder `.<name>.tmp-<uuid>` beside OUT. `finalize`
runs on the launcher after the job succeeded: it removes an old OUT (manifest first, so an old
output never looks complete while it is being replaced), renames the staging folder to OUT (one
rename on local disks) and writes manifest.json last. A crash at any point leaves no
manifest.json, hence no OUT that looks complete. On object stores (gs://, s3://) the same steps
run through Beam FileSystems (copy + delete per file); only local disks were tested.

Safety of --overwrite (local OUT only; `check_output`, checked again in `finalize` before anything
is deleted): OUT must not equal, contain or lie inside a local input, and an existing OUT may hold
only what the pipeline itself writes (`foreign_entries`): files/, pairs/, rejected/ with
part-NNNNN-of-MMMMM.parquet shards, manifest.json, report.html, report.html.tmp (the report's
temporary name) and _meta/*.json (the launcher's metadata, normally only in the staging folder).
Anything else is named in a UserError and nothing is removed. Remote OUTs (gs://, s3://) are
replaced without these checks.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import uuid
from typing import Any, Callable, Iterable, Mapping

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import MANIFEST_NAME, Manifest, ShardInfo, schema_for, validate

from .dedup.packing import pack, unpack
from .errors import UserError

TABLES = ("files", "pairs", "rejected")
META_DIR = "_meta"
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 8192,
    "version": "2.6",
    "data_page_version": "1.0",
    "store_schema": True,
}
DEFAULT_TARGET_SHARD_BYTES = 64 * 1024 * 1024
REPORT_NAME = "report.html"          # = pipeline.report.REPORT_NAME (not imported: report is heavy)
# Top-level files of OUT the pipeline writes: the manifest, the report and its temporary name.
OWN_FILES = frozenset({MANIFEST_NAME, REPORT_NAME, REPORT_NAME + ".tmp"})
_SHARD_FILE = re.compile(r"part-\d{5}-of-\d{5}\.parquet")


# ---------------------------------------------------------------------------- paths

def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)


def shard_name(table: str, index: int, count: int) -> str:
    return f"{table}/part-{index:05d}-of-{count:05d}.parquet"


def staging_dir_for(out_dir: str) -> str:
    """A fresh staging folder beside `out_dir` (same parent, so the final rename is atomic)."""
    out_dir = out_dir.rstrip("/") if is_remote(out_dir) else os.path.abspath(out_dir)
    if is_remote(out_dir):
        return f"{out_dir}.tmp-{uuid.uuid4().hex}"
    parent, name = os.path.split(out_dir)
    return os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex}")


def _exists_nonempty(path: str) -> bool:
    if is_remote(path):
        found = FileSystems.match([path.rstrip("/") + "/**"])[0].metadata_list
        return bool(found)
    if not os.path.exists(path):
        return False
    if not os.path.isdir(path):
        raise UserError(f"--output {path} is a file, not a folder; choose a folder path")
    return bool(os.listdir(path))


def foreign_entries(out_dir: str) -> list[str]:
    """Entries of the local folder `out_dir` that the pipeline does not write, as sorted relative paths.

    Own entries: the `OWN_FILES` (as files), the table folders files/, pairs/, rejected/ holding only
    part-NNNNN-of-MMMMM.parquet files, and _meta/ holding only *.json files. A folder entry that is
    itself foreign is reported as 'name/'. An absent folder has none.
    """
    if not os.path.isdir(out_dir):
        return []
    foreign = []
    for name in sorted(os.listdir(out_dir)):
        full = os.path.join(out_dir, name)
        is_dir = os.path.isdir(full) and not os.path.islink(full)
        if name in OWN_FILES and os.path.isfile(full) and not os.path.islink(full):
            continue
        if name in (*TABLES, META_DIR) and is_dir:
            own = _SHARD_FILE.fullmatch if name in TABLES else (lambda n: n.endswith(".json"))
            for child in sorted(os.listdir(full)):
                child_path = os.path.join(full, child)
                if not (own(child) and os.path.isfile(child_path) and not os.path.islink(child_path)):
                    foreign.append(f"{name}/{child}" + ("/" if os.path.isdir(child_path) else ""))
            continue
        foreign.append(name + ("/" if is_dir else ""))
    return foreign


def _overlap(out_dir: str, path: str) -> str | None:
    """How local `out_dir` relates to input `path` ('is', 'contains', 'is inside'), or None."""
    out_real, path_real = os.path.realpath(out_dir), os.path.realpath(path)
    if out_real == path_real:
        return "is"
    common = os.path.commonpath([out_real, path_real])
    if common == out_real:
        return "contains"
    if common == path_real:
        return "is inside"
    return None


def check_output(out_dir: str, overwrite: bool, inputs: Iterable[str] = ()) -> None:
    """UserError, before the job, unless OUT may be written (and with --overwrite, replaced).

    Local OUT (any of these is refused, whatever --overwrite says, so nothing is ever deleted):
      * OUT equals, contains or lies inside one of the local `inputs` (files or folders; the
        output would replace or be mixed with what the job reads);
      * OUT exists and is a file;
      * OUT is not empty and --overwrite is not given;
      * OUT is not empty, --overwrite is given and OUT holds entries the pipeline does not write
        (`foreign_entries`; the message names them).
    Remote OUT: only the not-empty-without---overwrite rule.
    """
    if not is_remote(out_dir):
        for path in inputs:
            relation = _overlap(out_dir, path)
            if relation is not None:
                raise UserError(
                    f"the output folder {out_dir} {relation} the input {path}; choose an --output outside every --input"
                )
    if _exists_nonempty(out_dir):
        if not overwrite:
            raise UserError(
                f"the output folder {out_dir} is not empty; pass --overwrite to replace it or choose another folder"
            )
        _refuse_foreign(out_dir)


def _refuse_foreign(out_dir: str) -> None:
    """UserError naming what --overwrite would delete that the pipeline did not write (local OUT)."""
    if is_remote(out_dir):
        return
    foreign = foreign_entries(out_dir)
    if foreign:
        shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
        raise UserError(
            f"--overwrite would delete {shown} in {out_dir}, which the pipeline did not write; move "
            "them away or choose another --output (--overwrite only replaces a previous output folder)"
        )


# ---------------------------------------------------------------------------- in the job

def shard_of(key: str, num_shards: int) -> int:
    """Stable shard index of `key` (first 8 bytes of sha256, mod num_shards)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % num_shards


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def sort_key(row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple:
    """Total order of rows: every column in contract order, None before any value."""
    return tuple((row.get(c) is not None, _text(row.get(c))) for c in columns)


def shard_key(table: str, row: Mapping[str, Any]) -> str:
    if table == "rejected":
        return "\x1f".join(_text(row.get(c)) for c in ("id", "stage", "reason", "path", "lang", "kept_id"))
    return _text(row.get("id"))


def row_weight(table: str, row: Mapping[str, Any]) -> int:
    """Approximate stored bytes of a row, to choose a shard count from a target shard size."""
    if table == "files":
        return int(row.get("size") or 0) + 200
    if table == "pairs":
        return sum(len(row.get(c) or "") for c in ("code", "code_hard", "docstring", "summary")) + 200
    return 200


def encode_shard(table: str, rows: Iterable[Mapping[str, Any]]) -> tuple[bytes, int]:
    """Rows -> (Parquet bytes, row count): projected on the contract, sorted, validated."""
    schema = schema_for(table)
    columns = tuple(schema.names)
    projected = sorted(({c: r.get(c) for c in columns} for r in rows), key=lambda r: sort_key(r, columns))
    arrow = validate(pa.Table.from_pylist(projected, schema=schema), table)
    sink = io.BytesIO()
    pq.write_table(arrow, sink, **PARQUET_OPTIONS)
    return sink.getvalue(), arrow.num_rows


def write_bytes(path: str, data: bytes) -> None:
    if not is_remote(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        fh.write(data)


def _write_shard(element, table: str, staging: str) -> dict:
    index, grouped = element
    count = grouped["count"][0]
    data, rows = encode_shard(table, (unpack(packed) for packed in grouped["rows"]))
    rel = shard_name(table, index, count)
    write_bytes(join(staging, *rel.split("/")), data)
    return {"table": table, "path": rel, "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class WriteTable(beam.PTransform):
    """PCollection[row dict] -> PCollection[shard info dict], every shard of `table` written.

    Shard count: `num_shards` when given, else ceil(sum(row_weight) / target_shard_bytes), >= 1.
    """

    def __init__(self, table: str, staging: str, num_shards: int | None = None,
                 target_shard_bytes: int = DEFAULT_TARGET_SHARD_BYTES, label: str | None = None):
        super().__init__(label)
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        self._table, self._staging = table, staging
        self._num_shards, self._target = num_shards, target_shard_bytes

    def expand(self, rows):
        table = self._table
        if self._num_shards:
            count = rows.pipeline | "ShardCount" >> beam.Create([int(self._num_shards)])
        else:
            target = self._target
            count = (
                rows
                | "Weigh" >> beam.Map(lambda r: row_weight(table, r))
                | "TotalWeight" >> beam.CombineGlobally(sum)
                | "ShardCount" >> beam.Map(lambda total: max(1, math.ceil(total / target)))
            )
        # Rows cross the shuffle projected on the contract and packed (compressed opaque bytes, see
        # pipeline/dedup/packing.py): the grouping only needs the shard index, and these rows are the
        # largest shuffle of the job. encode_shard projects again, so the shards are unchanged.
        columns = tuple(schema_for(table).names)
        keyed = rows | "KeyByShard" >> beam.Map(
            lambda r, n: (shard_of(shard_key(table, r), n), pack({c: r.get(c) for c in columns})),
            n=beam.pvalue.AsSingleton(count),
        )
        slots = count | "EveryShard" >> beam.FlatMap(lambda n: [(i, n) for i in range(n)])
        return (
            {"rows": keyed, "count": slots}
            | "GroupShards" >> beam.CoGroupByKey()
            | "WriteShard" >> beam.Map(_write_shard, table, self._staging)
        )


def _write_json(value: Any, path: str) -> None:
    write_bytes(path, json.dumps(value, sort_keys=True, indent=1, default=str).encode("utf-8"))


class WriteMetas(beam.PTransform):
    """{name: (PCollection[x], finish)} -> staging/_meta/<name>.json holding `finish(list of x)` each.

    One shuffle for all of them instead of one combine per name: every stage costs the runner a
    fixed overhead whatever its size (on the DirectRunner, building, translating and scheduling
    it), and these lists are small. Each name gets a seed element so that an empty PCollection
    still writes `finish([])`.
    """

    def __init__(self, metas: Mapping[str, tuple[Any, Any]], staging: str, label: str | None = None):
        super().__init__(label)
        self._metas, self._staging = dict(metas), staging

    def expand(self, pbegin):
        finishes = {name: finish for name, (_, finish) in self._metas.items()}
        paths = {name: join(self._staging, META_DIR, f"{name}.json") for name in self._metas}
        seeds = pbegin | "Seeds" >> beam.Create([(name, (False, None)) for name in sorted(self._metas)])
        tagged = [
            pcoll | f"Tag_{name}" >> beam.Map(lambda x, n=name: (n, (True, x)))
            for name, (pcoll, _) in sorted(self._metas.items())
        ]

        def write(element):
            name, values = element
            _write_json(finishes[name]([x for real, x in values if real]), paths[name])

        return (
            [seeds, *tagged]
            | "Flatten" >> beam.Flatten()
            | "GroupByName" >> beam.GroupByKey()
            | "Write" >> beam.Map(write)
        )


# ---------------------------------------------------------------------------- on the launcher

def read_meta(staging: str, name: str) -> Any:
    with FileSystems.open(join(staging, META_DIR, f"{name}.json"), compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return json.loads(fh.read().decode("utf-8"))


def _remove_tree(path: str) -> None:
    if is_remote(path):
        found = [m.path for m in FileSystems.match([path.rstrip("/") + "/**"])[0].metadata_list]
        if found:
            FileSystems.delete(found)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def _replace_old_output(out_dir: str) -> None:
    manifest = join(out_dir, MANIFEST_NAME)
    if is_remote(out_dir):
        if FileSystems.exists(manifest):
            FileSystems.delete([manifest])
    elif os.path.exists(manifest):
        os.remove(manifest)
    _remove_tree(out_dir)


def _move_into_place(staging: str, out_dir: str, shards: list[ShardInfo]) -> None:
    if is_remote(out_dir):
        sources = [join(staging, *s.path.split("/")) for s in shards]
        FileSystems.rename(sources, [join(out_dir, *s.path.split("/")) for s in shards])
        _remove_tree(staging)
        return
    out_dir = os.path.abspath(out_dir)
    if os.path.isdir(out_dir):
        os.rmdir(out_dir)  # empty (checked at start; a non-empty one was removed above)
    os.rename(staging, out_dir)


def finalize(staging: str, out_dir: str, options: dict[str, Any], counts: dict[str, dict[str, int]],
             extra: dict[str, Any], overwrite: bool,
             before_manifest: Callable[[str, dict[str, Any]], None] | None = None) -> Manifest:
    """Move the staged shards to OUT and write manifest.json last. Returns the manifest.

    Shards are taken from the staging folder's `_meta/shards.json` (rows, bytes, sha256
    computed by the writers); the set must be complete for each table (0..M-1).
    `before_manifest(out_dir, manifest_dict)` runs when the shards are in place and the manifest
    is not yet written (the report page is drawn there, so that the manifest stays the last file
    and its presence still means the output is complete).
    """
    shard_dicts = read_meta(staging, "shards")
    shards = sorted((ShardInfo(**d) for d in shard_dicts), key=lambda s: (TABLES.index(s.table), s.path))
    for table in TABLES:
        names = [s.path for s in shards if s.table == table]
        if not names:
            raise RuntimeError(f"internal error: no {table} shard was written")
        count = int(names[0].rsplit("-of-", 1)[1].split(".")[0])
        expected = [shard_name(table, i, count) for i in range(count)]
        if names != expected:
            raise RuntimeError(f"internal error: incomplete {table} shard set: {names}")
    replace = _exists_nonempty(out_dir)
    if replace and not overwrite:  # something appeared while the job ran
        raise UserError(f"the output folder {out_dir} is not empty; pass --overwrite or choose another folder")
    if replace:
        _refuse_foreign(out_dir)  # something foreign appeared while the job ran
    _remove_tree(join(staging, META_DIR))
    if replace:
        _replace_old_output(out_dir)
    _move_into_place(staging, out_dir, shards)
    manifest = Manifest(options=options, counts=counts, shards=shards, extra=extra)
    text = manifest.to_json()
    if before_manifest is not None:
        before_manifest(out_dir, json.loads(text))
    write_bytes(join(out_dir, MANIFEST_NAME), text.encode("utf-8"))
    return manifest


def discard_staging(staging: str) -> None:
    """Best-effort removal of a failed run's staging folder."""
    try:
        _remove_tree(staging)
    except OSError:
        pass
