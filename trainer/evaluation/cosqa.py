"""CoSQA code-search retrieval (Huang et al. 2021) in its own format.

Input folder: `cosqa-retrieval-dev-500.json` (a JSON list of {idx, doc, code, ..., retrieval_idx}: `doc`
is the query, `retrieval_idx` the index of its gold snippet, optional `label` where 0 means "not an
answer", such items are skipped) and `code_idx_map.txt` (a JSON object mapping every code snippet of the
code base to its index 0..M-1, each index exactly once). Every query is scored against the whole code
base; see metrics.CONVENTIONS["cosqa_mrr"].

Contract: `load_cosqa` checks that shape and raises `UserError` naming the file and the first problem
(wrong JSON type, missing or non-integer `retrieval_idx`, empty `doc`, index out of range, an index used
twice or missing); it never returns a partly filled code base.
"""
from __future__ import annotations

import json
from pathlib import Path

from trainer.errors import UserError
from trainer.evaluation.metrics import CONVENTIONS, mrr, ranks_of_gold, recall_at

QUERIES_FILE = "cosqa-retrieval-dev-500.json"
CODEBASE_FILE = "code_idx_map.txt"
QUERIES_SHAPE = "a JSON list of objects with 'doc' (the query) and 'retrieval_idx' (its gold snippet's index)"
CODEBASE_SHAPE = "a JSON object mapping each code snippet to its index 0..M-1"


def _as_index(value) -> int | None:
    """`value` as an int if it is a JSON integer (or a string holding one), else None (bools are not indexes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def load_cosqa(folder: str | Path, max_queries: int | None = None) -> tuple[list[str], list[str], list[int]]:
    """(queries, code_base in index order, gold index per query); UserError on a missing file or a
    file not in CoSQA's format (see the module docstring)."""
    folder = Path(folder)
    qpath, cpath = folder / QUERIES_FILE, folder / CODEBASE_FILE
    for p in (qpath, cpath):
        if not p.is_file():
            raise UserError(f"{p} not found; --cosqa must be a folder with {QUERIES_FILE} and {CODEBASE_FILE}")
    loaded = []
    for p in (qpath, cpath):
        try:
            loaded.append(json.loads(p.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{p} is not valid UTF-8 JSON ({exc})") from None
    items, code_map = loaded
    if not isinstance(code_map, dict):
        raise UserError(f"{cpath} holds a JSON {type(code_map).__name__}, not CoSQA's format: {CODEBASE_SHAPE}")
    size = len(code_map)
    if size == 0:
        raise UserError(f"{cpath} maps no code snippet; expected {CODEBASE_SHAPE}")
    codes: list[str | None] = [None] * size
    for code, raw in code_map.items():
        idx = _as_index(raw)
        if idx is None:
            raise UserError(f"{cpath} maps a snippet to {raw!r}, not an integer index; expected {CODEBASE_SHAPE}")
        if not 0 <= idx < size:
            raise UserError(f"{cpath} maps a snippet to index {idx}, outside 0..{size - 1}")
        if codes[idx] is not None:
            raise UserError(f"{cpath} maps two snippets to index {idx}; each index 0..{size - 1} must be used exactly once")
        codes[idx] = code
    if not isinstance(items, list):
        raise UserError(f"{qpath} holds a JSON {type(items).__name__}, not CoSQA's format: {QUERIES_SHAPE}")
    queries, gold = [], []
    for n, item in enumerate(items):
        where = f"{qpath} item {n}" + (f" ({item.get('idx')})" if isinstance(item, dict) and item.get("idx") is not None else "")
        if not isinstance(item, dict):
            raise UserError(f"{where} is a JSON {type(item).__name__}, not an object; expected {QUERIES_SHAPE}")
        label = _as_index(item.get("label", 1))
        if label is None:
            raise UserError(f"{where} has label {item.get('label')!r}; expected 0 or 1")
        if label != 1:
            continue  # label 0 = the snippet does not answer the query; not a retrieval target
        if "retrieval_idx" not in item:
            raise UserError(f"{where} has no 'retrieval_idx'; expected {QUERIES_SHAPE}")
        idx = _as_index(item["retrieval_idx"])
        if idx is None:
            raise UserError(f"{where} has retrieval_idx {item['retrieval_idx']!r}, not an integer")
        if not 0 <= idx < size:
            raise UserError(f"{where} has retrieval_idx {idx} outside the code base 0..{size - 1}")
        doc = item.get("doc")
        if not isinstance(doc, str) or not doc.strip():
            raise UserError(f"{where} has no query text in 'doc' (got {doc!r}); expected {QUERIES_SHAPE}")
        queries.append(doc)
        gold.append(idx)
    if max_queries:
        queries, gold = queries[:max_queries], gold[:max_queries]
    if not queries:
        raise UserError(f"{qpath} holds no labelled queries")
    return queries, codes, gold


def evaluate_cosqa(retriever, folder, max_queries: int | None = None) -> dict:
    queries, codes, gold = load_cosqa(folder, max_queries)
    ranks = ranks_of_gold(retriever.scores(queries, codes), gold)
    return {
        "mrr": mrr(ranks, 1000),
        "recall@1": recall_at(ranks, 1), "recall@10": recall_at(ranks, 10),
        "queries": len(queries), "pool": len(codes),
        "convention": CONVENTIONS["cosqa_mrr"],
    }
