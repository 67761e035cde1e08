"""`python -m trainer embed`: a Parquet of L2-normalized embeddings for a `pairs` or `files` split.

Output schema: id, lang, repo, path, name, start_line, end_line (null for files), vector
(fixed_size_list<float32>[dim]); schema metadata `codesage.embed` = JSON {model, column, table, dim,
max_len, split, rows, skipped_empty}. Rows are read and written in blocks of --block rows (bounded
memory), order preserved.

--column must be a text column of the table (TEXT_COLUMNS: pairs: summary, docstring, code, code_hard;
files: content); anything else is refused. Rows whose text is null, empty or whitespace-only have
nothing to embed: they are skipped (never given a vector), counted, printed and recorded as
`skipped_empty`; if no row is left the command fails before loading the model.
--max-len defaults to `st_export.doc_max_len` (256 capped at the model's positions), the
`max_seq_length` of exported SentenceTransformer folders, so both give the same vectors.
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
TEXT_COLUMNS = {"pairs": ("summary", "docstring", "code", "code_hard"), "files": ("content",)}


def has_text(text) -> bool:
    """True when `text` is a string with something besides whitespace (the rule contrastive and evaluate use)."""
    return isinstance(text, str) and bool(text.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (or 'minilm')")
    p.add_argument("--data", required=True, help="OUT/pairs or OUT/files (or OUT with --table)")
    p.add_argument("--table", choices=["pairs", "files"], default=None, help="default: guessed from the folder's columns")
    p.add_argument("--split", default="test", help="split to embed ('all' for every split)")
    p.add_argument("--column", default=None, help="text to embed: pairs: code (default), code_hard, summary, docstring; files: content")
    p.add_argument("--out", required=True, help="output .parquet file (must not exist yet unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--max-len", type=positive_int, default=None,
                   help="tokens kept per text (default: 256 capped at the model's positions; equals the exported max_seq_length)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="texts embedded per forward pass")
    p.add_argument("--block", type=positive_int, default=4096, help="rows read, embedded and written per block")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    from trainer.encoder import encode, load_encoder
    from trainer.pairs_data import shard_files
    from trainer.st_export import doc_max_len

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
    valid = TEXT_COLUMNS[table]
    if column not in names:
        raise UserError(f"{args.data} has no column {column!r}; choose --column among the text columns of a {table} table: {', '.join(valid)}")
    ctype = dataset.schema.field(column).type
    if column not in valid or not (pa.types.is_string(ctype) or pa.types.is_large_string(ctype)):
        raise UserError(f"--column {column!r} is not a text column of a {table} table; choose among {', '.join(valid)}")
    wanted = [c for c in LOCATION_COLUMNS if c in names]
    split = None if args.split == "all" else args.split
    if split and "split" not in names:
        raise UserError(f"{args.data} has no split column; pass --split all")
    flt = (ds.field("split") == split) if split else None
    total = dataset.count_rows(filter=flt)
    if total == 0:
        raise UserError(f"split {args.split!r} of {args.data} is empty; choose another --split")
    kept = sum(sum(map(has_text, b.column(0).to_pylist())) for b in dataset.to_batches(columns=[column], filter=flt, batch_size=args.block))
    skipped = total - kept
    if kept == 0:
        raise UserError(f"all {total} rows of split {args.split!r} have an empty {column!r}; nothing to embed, choose another --column or --split")
    encoder, tokenizer, model_dir = load_encoder(args.model)
    dim = int(encoder.backbone.config.hidden_size)
    max_len = args.max_len or doc_max_len(encoder.backbone)
    meta = {"model": str(Path(model_dir).resolve()), "column": column, "table": table, "dim": dim, "max_len": max_len, "split": args.split,
            "rows": kept, "skipped_empty": skipped}
    schema = pa.schema([pa.field(c, pa.string() if c not in ("start_line", "end_line") else pa.int32()) for c in LOCATION_COLUMNS]
                       + [pa.field("vector", pa.list_(pa.float32(), dim))], metadata={b"codesage.embed": json.dumps(meta).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total, desc="embed", unit="row", disable=args.no_progress)
    tmp = out.with_suffix(out.suffix + ".tmp")
    written = 0
    with pq.ParquetWriter(str(tmp), schema) as writer:
        for batch in dataset.to_batches(columns=wanted + [column], filter=flt, batch_size=args.block):
            if batch.num_rows == 0:
                continue
            bar.update(batch.num_rows)
            texts = batch.column(column).to_pylist()
            mask = [has_text(t) for t in texts]
            if not any(mask):
                continue
            if not all(mask):
                batch = batch.filter(pa.array(mask))
                texts = [t for t, m in zip(texts, mask) if m]
            vectors = encode(encoder, tokenizer, texts, max_len=max_len, batch_size=args.batch_size)
            cols = {c: (batch.column(c) if c in wanted else pa.nulls(batch.num_rows)) for c in LOCATION_COLUMNS}
            arrays = [cols[c].cast(schema.field(c).type) for c in LOCATION_COLUMNS]
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vectors).reshape(-1)), dim))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            written += batch.num_rows
    bar.close()
    if written != kept:  # the split changed under us between the count and the embedding
        tmp.unlink(missing_ok=True)
        raise UserError(f"{args.data} changed while embedding ({written} rows with text, {kept} counted before); run embed again")
    tmp.replace(out)
    note = f"; skipped {skipped} rows with an empty {column!r} (recorded as skipped_empty)" if skipped else ""
    print(f"wrote {kept} vectors of dim {dim} ({table}.{column}, split {args.split}, max_len {max_len}) to {out}{note}")
    return 0
