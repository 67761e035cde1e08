"""`python -m trainer search`: embed a query with the model and print the top-k rows of an index
written by `embed` (cosine score, path:start-end, name)."""
from __future__ import annotations

import argparse
import json
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
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise UserError(f"index {path} not found; build it with `python -m trainer embed ... --out {path}`")
    table = pq.read_table(str(path))
    raw = (table.schema.metadata or {}).get(b"codesage.embed")
    if raw is None or "vector" not in table.column_names:
        raise UserError(f"{path} is not an index written by `python -m trainer embed`")
    meta = json.loads(raw)
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
    hits = search(encoder, tokenizer, args.query, rows, vectors, args.top_k, args.max_len)
    for h in hits:
        if args.json:
            print(json.dumps(h))
        else:
            lines = f":{h['start_line']}-{h['end_line']}" if h.get("start_line") is not None else ""
            print(f"{h['rank']:>3}  {h['score']:.4f}  {h.get('path') or h.get('id')}{lines}  {h.get('name') or ''}")
    return 0
