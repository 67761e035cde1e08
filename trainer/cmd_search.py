"""`python -m trainer search`: embed a query with the model and print the top-k rows of an index
written by `embed` (cosine score, path:start-end, name).

Contract: --index must be a Parquet file written by `embed` (its `codesage.embed` metadata and a
fixed-size float `vector` column of the recorded dimension); anything else is a one-line error. The
model defaults to the one recorded in the index; a --model that resolves to another folder still
searches, with a one-line warning on stderr (vectors of two models are not comparable even when their
width agrees); a different width is an error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainer.cli import positive_int
from trainer.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="natural-language query (or code)")
    p.add_argument("--model", default=None, help="model folder (default: the one recorded in the index)")
    p.add_argument("--index", required=True, help="Parquet written by `python -m trainer embed`")
    p.add_argument("--top-k", type=positive_int, default=10, help="rows to print (default 10)")
    p.add_argument("--max-len", type=positive_int, default=64, help="query tokens kept (default 64)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def load_index(path: str | Path):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():  # e.g. OUT/pairs: the data, not the index embed wrote from it
        raise UserError(f"--index {path} is a folder; pass the .parquet file written by `python -m trainer embed ... --out FILE`")
    if not path.is_file():
        raise UserError(f"index {path} not found; build it with `python -m trainer embed ... --out {path}`")
    not_index = f"{path} is not a Parquet file written by `python -m trainer embed`; build an index with `python -m trainer embed ... --out FILE`"
    try:
        schema = pq.read_schema(str(path))
    except (pa.ArrowException, OSError):
        raise UserError(not_index) from None
    raw = (schema.metadata or {}).get(b"codesage.embed")
    try:
        meta = json.loads(raw) if raw is not None else None
        dim = int(meta["dim"]) if isinstance(meta, dict) else None
    except (ValueError, KeyError, TypeError):
        dim = None
    vtype = schema.field("vector").type if "vector" in schema.names else None
    if (dim is None or "model" not in meta or vtype is None or not pa.types.is_fixed_size_list(vtype)
            or vtype.list_size != dim or not pa.types.is_floating(vtype.value_type)):
        raise UserError(not_index + " (no codesage.embed metadata or no vector column of the recorded dimension)")
    try:
        table = pq.read_table(str(path))
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"{path} could not be read ({exc}); rebuild it with `python -m trainer embed`") from None
    if table.num_rows == 0:
        raise UserError(f"index {path} holds no rows; embed a split with rows")
    if table.column("vector").null_count:
        raise UserError(not_index + " (it has rows without a vector)")
    vectors = table.column("vector").combine_chunks().values.to_numpy(zero_copy_only=False).reshape(table.num_rows, meta["dim"])
    return table.drop(["vector"]).to_pylist(), np.asarray(vectors, dtype=np.float32), meta


def search(model, tokenizer, query: str, rows, vectors, top_k: int, max_len: int = 64) -> list[dict]:
    import numpy as np

    from trainer.encoder import encode

    q = encode(model, tokenizer, [query], max_len=max_len)[0]
    scores = vectors @ q
    top = np.argsort(-scores, kind="stable")[:top_k]
    return [{"rank": r + 1, "score": float(scores[i]), **rows[i]} for r, i in enumerate(top)]


def run(args) -> int:
    from trainer.encoder import load_encoder

    if not args.query.strip():
        raise UserError("the query is empty; pass some text to search for")
    rows, vectors, meta = load_index(args.index)
    encoder, tokenizer, model_dir = load_encoder(args.model or meta["model"])
    if int(encoder.backbone.config.hidden_size) != vectors.shape[1]:
        raise UserError(f"the model's size {encoder.backbone.config.hidden_size} differs from the index's {vectors.shape[1]}; search with the model that built the index")
    if args.model and Path(model_dir).resolve() != Path(meta["model"]).resolve():
        print(f"warning: --model resolves to {Path(model_dir).resolve()} but the index was embedded with {meta['model']}; "
              "the scores compare vectors of two different models (omit --model to use the index's)", file=sys.stderr)
    hits = search(encoder, tokenizer, args.query, rows, vectors, args.top_k, args.max_len)
    for h in hits:
        if args.json:
            print(json.dumps(h))
        else:
            lines = f":{h['start_line']}-{h['end_line']}" if h.get("start_line") is not None else ""
            print(f"{h['rank']:>3}  {h['score']:.4f}  {h.get('path') or h.get('id')}{lines}  {h.get('name') or ''}")
    return 0
