"""Reading the pipeline's `pairs` table (design.md section 3) for stage 2, evaluation and embedding.

Contract
- `read_pairs(path, split, columns)`: a folder of Parquet shards (OUT/pairs, or OUT with a pairs/
  subfolder), or one .parquet file; rows of `split` only (None = all); only `columns` (+ split) are
  decoded. Raises UserError naming a missing column (or the pipeline's other table, e.g. OUT/files
  given for OUT/pairs), an empty folder, a requested language no row has (listing those present), or
  an empty split.
- `PairStream`: the training order. The rows (two string columns, kept in memory) are permuted per epoch
  by a seeded generator; global batch b of epoch e is rows perm_e[b*G:(b+1)*G] with G = batch * world, and
  rank r takes its slice [r*batch:(r+1)*batch], so ranks never overlap. The position is the global
  step, so resuming at step s reproduces exactly the batches an uninterrupted run would have seen.
  Rows with an empty text or code are dropped and counted (`dropped`). With `name_queries` > 0 that
  fraction of the rows get a search-style query made from their function's name as text
  (trainer/name_queries.py); `meta["name_query_rows"]` counts them. With `name_query_docs` those rows'
  code is preceded by the function's docstring as a doc comment (never for summary rows).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trainer.errors import UserError


def shard_files(path: str | os.PathLike, table: str = "pairs") -> list[str]:
    p = Path(path)
    if (p / table).is_dir():
        p = p / table
    files = [str(p)] if p.is_file() else sorted(glob.glob(str(p / "*.parquet")))
    if not files:
        raise UserError(f"no Parquet shards in {p}; pass the pipeline's OUT/{table} folder")
    from trainer.data import check_schema_version

    for f in files:  # footers only; a dataset would read just the first file's metadata
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowException, OSError) as exc:
            raise UserError(f"cannot read shard {f} ({type(exc).__name__}: {exc}); re-create it or remove it") from None
        check_schema_version(f, schema)
    return files


def read_table(path: str | os.PathLike, split: str | None, columns: Sequence[str], table: str = "pairs",
               languages: Sequence[str] | None = None) -> pa.Table:
    files = shard_files(path, table)
    dataset = ds.dataset(files, format="parquet")
    names = set(dataset.schema.names)
    wanted = list(dict.fromkeys(list(columns) + (["split"] if split else []) + (["lang"] if languages else [])))
    missing = [c for c in wanted if c not in names]
    if missing:
        from trainer.data import table_kind, wrong_table_message

        message = wrong_table_message(Path(files[0]).parent, table_kind(dataset.schema), table)
        if message:
            raise UserError(message)
        raise UserError(f"{path} has no column(s) {', '.join(missing)}; these shards are not a schema-v1 {table} table (re-run the pipeline)")
    if languages:
        check_languages(dataset, languages, path)
    flt = (ds.field("split") == split) if split else None
    if languages:
        by_lang = ds.field("lang").isin(list(languages))
        flt = by_lang if flt is None else (flt & by_lang)
    result = dataset.to_table(columns=list(dict.fromkeys(columns)), filter=flt)
    if result.num_rows == 0:
        where = f" for languages {','.join(languages)}" if languages else ""
        raise UserError(f"split {split!r} of {path} is empty{where}; choose another --split or check the pipeline's split fractions")
    return result


def check_languages(dataset, languages: Sequence[str], path) -> None:
    """UserError when a requested language key occurs in no row of `dataset` (any split), listing the
    keys that do. The trainer knows no language registry (it never imports the pipeline): the data's
    own `lang` column is the list of what can be asked for."""
    import pyarrow.compute as pc

    present = sorted(v for v in pc.unique(dataset.to_table(columns=["lang"]).column("lang")).to_pylist() if v)
    unknown = [lang for lang in languages if lang not in present]
    if unknown:
        raise UserError(f"--languages {','.join(unknown)}: not a language of the pairs in {path} (present: "
                        f"{', '.join(present) or 'none'}); choose among those")


def read_pairs(path, split: str | None, columns: Sequence[str], languages: Sequence[str] | None = None) -> pa.Table:
    return read_table(path, split, columns, "pairs", languages)


@dataclass
class PairStream:
    texts: list[str]
    codes: list[str]
    batch_size: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    dropped: int = 0
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_pairs(cls, path, split: str | None, text_column: str, code_column: str, batch_size: int, *, rank=0, world_size=1, seed=0,
                   languages: Sequence[str] | None = None, name_queries: float = 0.0, name_query_docs: bool = False):
        columns = [text_column, code_column]
        if name_queries > 0:
            columns += ["name", "lang", "docstring"] if name_query_docs else ["name", "lang"]
        t = read_pairs(path, split, columns, languages)
        texts, codes = t.column(text_column).to_pylist(), t.column(code_column).to_pylist()
        meta = {}
        if name_queries > 0:
            from trainer.name_queries import apply_name_queries, with_doc_comment

            langs = t.column("lang").to_pylist()
            texts, replaced = apply_name_queries(texts, t.column("name").to_pylist(), langs, name_queries, seed)
            meta["name_query_rows"] = len(replaced)
            if name_query_docs:
                docs = t.column("docstring").to_pylist()
                for i in replaced:
                    if codes[i] and codes[i].strip():
                        codes[i] = with_doc_comment(codes[i], docs[i], langs[i] or "")
        keep = [i for i, (a, b) in enumerate(zip(texts, codes)) if a and a.strip() and b and b.strip()]
        if len(keep) < batch_size * world_size:
            raise UserError(
                f"split {split!r} has {len(keep)} usable ({text_column}, {code_column}) pairs, fewer than one global batch "
                f"({batch_size} x {world_size} ranks); lower --batch-size or use more data")
        return cls([texts[i] for i in keep], [codes[i] for i in keep], batch_size, rank, world_size, seed, len(texts) - len(keep), meta)

    @property
    def steps_per_epoch(self) -> int:
        return len(self.texts) // (self.batch_size * self.world_size)

    def batch(self, step: int) -> tuple[list[str], list[str]]:
        """This rank's (texts, codes) for global step `step` (0-based)."""
        epoch, b = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.texts))
        g = self.batch_size * self.world_size
        rows = perm[b * g + self.rank * self.batch_size: b * g + (self.rank + 1) * self.batch_size]
        return [self.texts[i] for i in rows], [self.codes[i] for i in rows]


def write_pairs(rows: list[dict], out_dir: str | os.PathLike, shards: int = 1) -> Path:
    """Write schema-valid `pairs` shards (for tests, benchmarks and demos): each row needs at least
    text/code columns; missing contract columns get neutral values. Returns the folder."""
    from schemas.contract import PAIRS_SCHEMA
    from schemas.validate import validate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    full = []
    for i, r in enumerate(rows):
        row = {"id": f"f{i}:1", "file_id": f"f{i}", "lang": "python", "repo": "synthetic", "path": f"m{i}.py",
               "split": "train", "name": f"fn{i}", "start_line": 1, "end_line": 3, "docstring": r.get("summary"),
               "summary": None, "code": "", "code_hard": None}
        row.update(r)
        full.append(row)
    for s in range(shards):
        part = full[s::shards]
        table = validate(pa.Table.from_pylist(part, schema=PAIRS_SCHEMA), "pairs")
        pq.write_table(table, out / f"part-{s:05d}-of-{shards:05d}.parquet")
    return out
