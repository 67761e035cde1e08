"""CoSQA code-search retrieval (Huang et al. 2021) in its own format.

Input folder: `cosqa-retrieval-dev-500.json` (a JSON list of {idx, doc, code, ..., retrieval_idx}: `doc`
is the query, `retrieval_idx` the index of its gold snippet) and `code_idx_map.txt` (a JSON object
mapping every code snippet of the code base to its index 0..M-1). Every query is scored against the
whole code base; see metrics.CONVENTIONS["cosqa_mrr"].
"""
from __future__ import annotations

import json
from pathlib import Path

from trainer.errors import UserError
from trainer.evaluation.metrics import CONVENTIONS, mrr, ranks_of_gold, recall_at

QUERIES_FILE = "cosqa-retrieval-dev-500.json"
CODEBASE_FILE = "code_idx_map.txt"


def load_cosqa(folder: str | Path, max_queries: int | None = None) -> tuple[list[str], list[str], list[int]]:
    """(queries, code_base in index order, gold index per query)."""
    folder = Path(folder)
    qpath, cpath = folder / QUERIES_FILE, folder / CODEBASE_FILE
    for p in (qpath, cpath):
        if not p.is_file():
            raise UserError(f"{p} not found; --cosqa must be a folder with {QUERIES_FILE} and {CODEBASE_FILE}")
    try:
        items = json.loads(qpath.read_text(encoding="utf-8"))
        code_map = json.loads(cpath.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"CoSQA files in {folder} are not valid JSON ({exc})") from None
    size = len(code_map)
    codes = [""] * size
    for code, idx in code_map.items():
        if not 0 <= int(idx) < size:
            raise UserError(f"{cpath} maps a snippet to index {idx}, outside 0..{size - 1}")
        codes[int(idx)] = code
    queries, gold = [], []
    for item in items:
        if int(item.get("label", 1)) != 1:
            continue  # label 0 = the snippet does not answer the query; not a retrieval target
        if not 0 <= int(item["retrieval_idx"]) < size:
            raise UserError(f"query {item.get('idx')} has retrieval_idx {item['retrieval_idx']} outside the code base")
        queries.append(item["doc"])
        gold.append(int(item["retrieval_idx"]))
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
