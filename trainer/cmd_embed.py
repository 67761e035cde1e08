"""`python -m trainer embed`: a Parquet of L2-normalized embeddings for a `pairs` or `files` split.

Output schema: id, lang, repo, path, name, start_line, end_line (null for files), vector
(fixed_size_list<float32>[dim]); schema metadata `codesage.embed` = JSON {model, column, table, dim,
max_len, split}. Rows are read and written in blocks of --block rows (bounded memory), order preserved.
An existing --out is refused unless --overwrite; the file is written beside it and renamed at the end, so
an interrupted run never leaves a half-written index under that name.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from trainer.cli import positive_int
from trainer.errors import UserError

LOCATION_COLUMNS = ["id", "lang", "repo", "path", "name", "start_line", "end_line"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (or 'minilm')")
    p.add_argument("--data", required=True, help="OUT/pairs or OUT/files (or OUT with --table)")
    p.add_argument("--table", choices=["pairs", "files"], default=None, help="default: guessed from the folder's columns")
    p.add_argument("--split", default="test", help="split to embed ('all' for every split)")
    p.add_argument("--column", default=None, help="text to embed: pairs: code (default), code_hard, summary, docstring; files: content")
    p.add_argument("--out", required=True, help="output .parquet file (must not exist yet unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--max-len", type=positive_int, default=256)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--block", type=positive_int, default=4096, help="rows read, embedded and written per block")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    from trainer.encoder import encode, load_encoder
    from trainer.pairs_data import shard_files

    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; pass the path of a .parquet file")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    table = args.table
    if table is None:
        base = Path(args.data)
        table = "files" if (base.name == "files" or (base / "files").is_dir() and not (base / "pairs").is_dir()) else "pairs"
    column = args.column or ("code" if table == "pairs" else "content")
    dataset = ds.dataset(shard_files(args.data, table), format="parquet")
    names = set(dataset.schema.names)
    wanted = [c for c in LOCATION_COLUMNS if c in names]
    if column not in names:
        raise UserError(f"{args.data} has no column {column!r}; choose --column among {sorted(names)}")
    split = None if args.split == "all" else args.split
    if split and "split" not in names:
        raise UserError(f"{args.data} has no split column; pass --split all")
    flt = (ds.field("split") == split) if split else None
    total = dataset.count_rows(filter=flt)
    if total == 0:
        raise UserError(f"split {args.split!r} of {args.data} is empty; choose another --split")
    encoder, tokenizer, model_dir = load_encoder(args.model)
    dim = int(encoder.backbone.config.hidden_size)
    meta = {"model": str(Path(model_dir).resolve()), "column": column, "table": table, "dim": dim, "max_len": args.max_len, "split": args.split}
    schema = pa.schema([pa.field(c, pa.string() if c not in ("start_line", "end_line") else pa.int32()) for c in LOCATION_COLUMNS]
                       + [pa.field("vector", pa.list_(pa.float32(), dim))], metadata={b"codesage.embed": json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total, desc="embed", unit="row", disable=args.no_progress)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with pq.ParquetWriter(str(tmp), schema) as writer:
        for batch in dataset.to_batches(columns=wanted + [column], filter=flt, batch_size=args.block):
            if batch.num_rows == 0:
                continue
            texts = batch.column(column).to_pylist()
            vectors = encode(encoder, tokenizer, texts, max_len=args.max_len, batch_size=args.batch_size)
            cols = {c: (batch.column(c) if c in wanted else pa.nulls(batch.num_rows)) for c in LOCATION_COLUMNS}
            arrays = [cols[c].cast(schema.field(c).type) for c in LOCATION_COLUMNS]
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors).reshape(-1)), dim))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            bar.update(batch.num_rows)
    bar.close()
    tmp.replace(out)
    print(f"wrote {total} vectors of dim {dim} ({table}.{column}, split {args.split}) to {out}")
    return 0
