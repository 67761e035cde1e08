"""Streaming stage-1 data: Parquet shards -> tokenized, corrupted, packed sequences.

Inputs: `files` shards of the data contract (schemas.FILES_SCHEMA; columns `content`, `identifiers`,
`split` are read, nothing else is decoded). Nothing is ever loaded whole: rows are read one row group
at a time.

Units, streams and sharding
    `plan_units` reads only the `split` column and cuts the rows of the requested split into *units*:
    contiguous chunks of at most `unit_rows` rows of one row group (more, smaller units when there are
    fewer units than streams). Every epoch the units are permuted (seed, epoch) and dealt round-robin to
    S *data streams*: stream s gets permuted units s, s+S, s+2S, ... Rank r of W owns the streams
    r, r+W, r+2W, ... and its dataloader worker w of N owns every N-th of those, so no unit is read twice
    in an epoch and no two (rank, worker) pairs overlap. S must be a multiple of W*N.
    A rank emits one sequence from each of its streams in turn (the DataLoader interleaves its workers
    in the same order), hence for a fixed S the multiset of sequences in global batch t is the same
    for every world size: 1 rank with batch 2B sees exactly what 2 ranks with batch B see together.

Shuffling and packing (per stream)
    A stream reads a *window* of `window_units` units (the shuffle buffer), shuffles its documents with a
    generator seeded by (seed, stream, epoch, window), tokenizes them (the tokenizer appends `</s>`),
    corrupts each document (trainer.masking, generator seeded by (seed, stream, epoch, window, doc)),
    cuts documents longer than `seq_len` into pieces, packs the pieces by best-fit decreasing
    (trainer.packing) and yields the packed sequences in a seeded random order. Streams cycle forever,
    epoch after epoch (`infinite=False` stops after one epoch, for evaluation).

Exact resume
    Every yielded item carries `pos` = (stream, epoch, window, next_index). The trainer records the last
    `pos` it consumed per stream and the number of items each rank consumed; `PackedStream(positions=...,
    start_offset=items)` restarts each stream at its window, skips to `next_index` and continues the
    round-robin over streams at the stream whose turn it was. Since all randomness is a function of those coordinates, the resumed stream
    is identical to the uninterrupted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from trainer.errors import UserError
from trainer.masking import MODE_DOBF, MaskingConfig, corrupt_document
from trainer.packing import best_fit_decreasing, build_sequence, split_long

_SALT_UNITS, _SALT_DOCS, _SALT_SEQS, _SALT_MASK = 11, 23, 37, 53


# --------------------------------------------------------------------------------------------- shards


def find_shards(data: str | Path, table: str = "files") -> list[Path]:
    """Parquet shards under `data`: a pipeline output folder (uses OUT/<table>/), a folder of shards,
    a glob pattern, or one .parquet file. Sorted by name so every rank sees the same list."""
    p = Path(data)
    if p.is_file():
        return [p]
    if any(ch in str(data) for ch in "*?["):
        import glob

        shards = sorted(Path(x) for x in glob.glob(str(data)) if x.endswith(".parquet"))
        if not shards:
            raise UserError(f"no .parquet shards match {data}; check --data")
        return shards
    if not p.exists():
        raise UserError(f"data path {p} does not exist; pass the pipeline output folder or its {table}/ folder")
    folder = p / table if (p / table).is_dir() else p
    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        raise UserError(f"no .parquet shards in {folder}; run `python -m pipeline` first or check --data")
    return shards


# A column only one of the pipeline's tables has, to recognise shards whose metadata names no table.
TABLE_MARKERS = (("files", "content"), ("pairs", "code_hard"), ("rejected", "reason"))


def table_kind(schema) -> str | None:
    """Which of the pipeline's tables (files, pairs, rejected) a shard's Arrow schema belongs to: the
    `codesage.table` its metadata names, else the table whose marker column it has; None if neither."""
    stamped = (schema.metadata or {}).get(b"codesage.table")
    if stamped:
        return stamped.decode("utf-8", "replace")
    return next((kind for kind, column in TABLE_MARKERS if column in schema.names), None)


def wrong_table_message(where, found: str | None, wanted: str) -> str | None:
    """The one-line error for shards of the pipeline's `found` table given where its `wanted` table is
    expected (e.g. OUT/pairs passed to pretrain), or None when `found` is no other pipeline table."""
    if found is None or found == wanted or found not in dict(TABLE_MARKERS):
        return None
    return (f"{where} holds the pipeline's {found} table, not its {wanted} table; pass the pipeline output folder "
            f"or its {wanted}/ folder")


def check_schema_version(path, schema) -> None:
    """UserError when shard `path` (Arrow `schema`) was written with another schema version of the
    contract than this code reads: its columns may keep their names and change their meaning."""
    from schemas import version_problem

    problem = version_problem(schema)
    if problem:
        raise UserError(f"shard {path} was {problem}; re-run this version's pipeline, or train with the "
                        "version that wrote it")


def open_shard(path: str | Path, needs: tuple[str, ...] = ()):
    """Open a shard (pyarrow.parquet.ParquetFile), checking it is readable and has `needs` columns
    (a shard of the pipeline's pairs table, which has none of them, is named as such)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(str(path))
    except Exception as exc:  # pyarrow raises several types for corrupt/truncated files
        raise UserError(f"cannot read shard {path} ({type(exc).__name__}: {exc}); re-create it or remove it from --data") from None
    check_schema_version(path, pf.schema_arrow)
    names = set(pf.schema_arrow.names)
    if any(column not in names for column in needs):
        message = wrong_table_message(Path(path).parent, table_kind(pf.schema_arrow), "files")
        if message:
            raise UserError(message)
    for column in needs:
        if column not in names:
            raise UserError(
                f"shard {path} has no '{column}' column; re-run the pipeline (schema version 1) to produce it"
                + (" or pass --dobf-prob 0" if column == "identifiers" else "")
            )
    return pf


@dataclass(frozen=True)
class Unit:
    """Chunk `chunk` of `n_chunks` of the split's rows inside one row group of one shard."""

    shard: int
    row_group: int
    chunk: int
    n_chunks: int
    rows: int


def plan_units(shards: list[Path], split: str | None, streams: int, unit_rows: int = 512, needs: tuple[str, ...] = ("content",)) -> list[Unit]:
    """Cut the rows of `split` (all rows when None) into at least `streams` units (see module doc)."""
    counts: list[tuple[int, int, int]] = []  # (shard, row_group, rows of split)
    for si, path in enumerate(shards):
        pf = open_shard(path, needs=needs + (("split",) if split else ()))
        for rg in range(pf.num_row_groups):
            try:
                if split:
                    col = pf.read_row_group(rg, columns=["split"]).column(0)
                    import pyarrow.compute as pc

                    n = int(pc.sum(pc.equal(col, split)).as_py() or 0)
                else:
                    n = pf.metadata.row_group(rg).num_rows
            except Exception as exc:
                raise UserError(f"cannot read row group {rg} of shard {path} ({exc}); re-create the shard") from None
            if n:
                counts.append((si, rg, n))
    total = sum(n for _, _, n in counts)
    where = f"split '{split}'" if split else "the data"
    if total == 0:
        raise UserError(f"{where} has no rows in {shards[0].parent}; choose another --split or check the pipeline's split fractions")
    if total < streams:
        raise UserError(f"{where} has {total} rows, fewer than the {streams} data streams; use fewer ranks/workers or --data-streams")
    size = max(1, unit_rows)
    while True:
        n_units = sum(math.ceil(n / size) for _, _, n in counts)
        if n_units >= streams or size == 1:
            break
        size = max(1, size // 2)
    units = []
    for si, rg, n in counts:
        k = math.ceil(n / size)
        bounds = np.array_split(np.arange(n), k)
        for c in range(k):
            units.append(Unit(si, rg, c, k, len(bounds[c])))
    return units


# --------------------------------------------------------------------------------------------- dataset


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def _torch_iterable_base():
    try:
        from torch.utils.data import IterableDataset

        return IterableDataset
    except ImportError:  # numpy-only use (benchmarks of packing); never in training
        return object


class PackedStream(_torch_iterable_base()):
    """Infinite (or one-epoch) iterator of packed stage-1 sequences for one rank (see module doc).

    Items are dicts of int64 numpy arrays `input_ids`, `labels`, `segment_ids`, `position_ids` (length
    seq_len) plus `pos` (stream, epoch, window, next_index), `n_docs`, `n_dobf` (documents in DOBF mode).
    """

    def __init__(
        self,
        shards: list[Path],
        units: list[Unit],
        tokenizer_path: str | Path,
        masking: MaskingConfig,
        *,
        seq_len: int = 1024,
        streams: int = 1,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        window_units: int = 8,
        split: str | None = "train",
        positions: dict | None = None,
        infinite: bool = True,
        pad_id: int = 0,
        start_offset: int = 0,
    ) -> None:
        super().__init__()
        if streams % world_size:
            raise UserError(f"--data-streams ({streams}) must be a multiple of the world size ({world_size})")
        self.shards = [Path(s) for s in shards]
        self.units = list(units)
        self.tokenizer_path = str(tokenizer_path)
        self.masking = masking
        self.seq_len = seq_len
        self.streams = streams
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.window_units = max(1, window_units)
        self.split = split
        self.positions = {int(k): tuple(v) for k, v in (positions or {}).items()}
        self.infinite = infinite
        self.pad_id = pad_id
        self.start_offset = start_offset
        self._tok = None
        self._files: dict[int, object] = {}

    # -- partitioning
    def rank_streams(self) -> list[int]:
        """This rank's streams in emission order: r, r+W, ... rotated left by `start_offset` (the number
        of items the rank already consumed, so a resumed rank continues the round-robin where it stopped)."""
        mine = list(range(self.rank, self.streams, self.world_size))
        k = self.start_offset % len(mine)
        return mine[k:] + mine[:k]

    def worker_streams(self, worker: int, n_workers: int) -> list[int]:
        mine = self.rank_streams()
        if len(mine) % n_workers:
            raise UserError(
                f"each rank owns {len(mine)} data streams, not a multiple of {n_workers} dataloader workers; "
                "set --data-streams to a multiple of world size x workers"
            )
        return mine[worker::n_workers]

    def units_of(self, stream: int, epoch: int) -> list[Unit]:
        perm = _rng(self.seed, epoch, _SALT_UNITS).permutation(len(self.units))
        return [self.units[i] for i in perm[stream :: self.streams]]

    # -- reading
    def _tokenizer(self):
        if self._tok is None:
            from trainer.tokenization import load_tokenizer

            self._tok = load_tokenizer(self.tokenizer_path)
            self._tok.no_truncation()
            self._tok.no_padding()
        return self._tok

    def _read_unit(self, unit: Unit) -> tuple[list[str], list]:
        pf = self._files.get(unit.shard)
        if pf is None:
            if len(self._files) > 8:
                self._files.clear()
            needs = ("content",) + (("identifiers",) if self.masking.dobf_prob > 0 else ())
            pf = self._files[unit.shard] = open_shard(self.shards[unit.shard], needs=needs)
        cols = ["content"] + (["identifiers"] if "identifiers" in pf.schema_arrow.names else []) + (["split"] if self.split else [])
        try:
            table = pf.read_row_group(unit.row_group, columns=cols)
        except Exception as exc:
            raise UserError(f"cannot read row group {unit.row_group} of {self.shards[unit.shard]} ({exc}); re-create the shard") from None
        if self.split:
            import pyarrow.compute as pc

            table = table.filter(pc.equal(table.column("split"), self.split))
        rows = np.array_split(np.arange(table.num_rows), unit.n_chunks)[unit.chunk]
        if rows.size == 0:
            return [], []
        table = table.slice(int(rows[0]), int(rows.size))
        contents = table.column("content").to_pylist()
        idents = table.column("identifiers").to_pylist() if "identifiers" in table.column_names else [None] * len(contents)
        return contents, idents

    def window_sequences(self, stream: int, epoch: int, window: int, units: list[Unit]) -> list[dict]:
        """All packed sequences of one window, in their (seeded) emission order."""
        contents: list[str] = []
        idents: list = []
        for unit in units:
            c, i = self._read_unit(unit)
            contents.extend(c)
            idents.extend(i)
        order = _rng(self.seed, stream, epoch, window, _SALT_DOCS).permutation(len(contents))
        contents = [contents[i] for i in order]
        idents = [idents[i] for i in order]
        encodings = self._tokenizer().encode_batch(contents) if contents else []
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        piece_doc_mode: list[int] = []
        for d, (enc, text, spans) in enumerate(zip(encodings, contents, idents)):
            ids = np.asarray(enc.ids, dtype=np.int64)
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
            special = np.asarray(enc.special_tokens_mask, dtype=bool)
            rng = _rng(self.seed, stream, epoch, window, d, _SALT_MASK)
            inputs, labels, mode = corrupt_document(ids, offsets, special, text, spans, rng, self.masking)
            for k, (a, b) in enumerate(split_long(len(ids), self.seq_len)):
                pieces.append((inputs[a:b], labels[a:b]))
                piece_doc_mode.append(mode if k == 0 else -1)
        bins = best_fit_decreasing([len(p[0]) for p in pieces], self.seq_len)
        seq_order = _rng(self.seed, stream, epoch, window, _SALT_SEQS).permutation(len(bins))
        out = []
        for b in seq_order:
            members = sorted(bins[b])
            item = build_sequence([pieces[i] for i in members], self.seq_len, self.pad_id)
            item["n_docs"] = np.int64(sum(1 for i in members if piece_doc_mode[i] >= 0))
            item["n_dobf"] = np.int64(sum(1 for i in members if piece_doc_mode[i] == MODE_DOBF))
            out.append(item)
        return out

    def iter_stream(self, stream: int) -> Iterator[dict]:
        epoch, window, index = self.positions.get(stream, (0, 0, 0))
        while True:
            units = self.units_of(stream, epoch)
            windows = [units[i : i + self.window_units] for i in range(0, len(units), self.window_units)]
            while window < len(windows):
                seqs = self.window_sequences(stream, epoch, window, windows[window])
                for i in range(index, len(seqs)):
                    item = seqs[i]
                    item["pos"] = np.array([stream, epoch, window, i + 1], dtype=np.int64)
                    yield item
                window, index = window + 1, 0
            if not self.infinite:
                return
            epoch, window, index = epoch + 1, 0, 0

    def __iter__(self) -> Iterator[dict]:
        try:
            from torch.utils.data import get_worker_info

            info = get_worker_info()
        except ImportError:
            info = None
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:  # a forked worker must not share the parent's tokenizer or file handles
            self._tok, self._files = None, {}
        iters = [self.iter_stream(s) for s in self.worker_streams(worker, n_workers)]
        # Round-robin over streams; a finished (finite) stream drops out.
        while iters:
            alive = []
            for it in iters:
                try:
                    yield next(it)
                    alive.append(it)
                except StopIteration:
                    pass
            iters = alive


def collate(items: list[dict]):
    """Stack items into int64 torch tensors (B, L) plus per-item `pos` (B, 4)."""
    import torch

    out = {}
    for key in ("input_ids", "labels", "segment_ids", "position_ids", "pos"):
        # Items arrive as numpy arrays (no workers) or tensors (DataLoader workers convert them).
        out[key] = torch.from_numpy(np.stack([np.asarray(it[key], dtype=np.int64) for it in items]))
    out["n_docs"] = int(sum(int(it["n_docs"]) for it in items))
    out["n_dobf"] = int(sum(int(it["n_dobf"]) for it in items))
    return out


def make_loader(dataset: PackedStream, num_workers: int = 0, prefetch_factor: int = 4):
    """A DataLoader yielding single items in the dataset's stream round-robin order.

    It has a generator of its own: a DataLoader iterator otherwise draws its base seed from the
    global torch RNG when it starts, i.e. after a resume has restored that RNG, which would shift
    every later dropout mask (the data itself does not depend on the seed it draws)."""
    import torch
    from torch.utils.data import DataLoader

    kwargs = dict(batch_size=None, num_workers=num_workers, generator=torch.Generator().manual_seed(0))
    if num_workers > 0:
        kwargs.update(prefetch_factor=prefetch_factor, persistent_workers=False, worker_init_fn=ignore_stop_signals)
    return DataLoader(dataset, **kwargs)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader workers ignore SIGTERM / SIGINT: torchrun and Slurm signal the rank's whole process
    group, and a worker killed by it fails the rank's next batch before the rank (which handles the
    signal, trainer.runtime.StopSignals) can save its checkpoint. The rank ends its workers itself."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def batches(items: Iterator[dict], batch_size: int) -> Iterator[dict]:
    """Group consecutive items into collated micro-batches of `batch_size` (last partial one dropped
    for infinite streams, kept for finite ones)."""
    buf: list[dict] = []
    for item in items:
        buf.append(item)
        if len(buf) == batch_size:
            yield collate(buf)
            buf = []
    if buf:
        yield collate(buf)


def merge_positions(per_rank: list[dict]) -> dict:
    """Union of per-rank {stream: (epoch, window, next_index)} maps (streams are disjoint across ranks)."""
    out: dict[str, list[int]] = {}
    for positions in per_rank:
        for k, v in positions.items():
            out[str(int(k))] = [int(x) for x in v]
    return out
