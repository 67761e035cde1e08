"""Held-out pair retrieval and code-to-code MAP on a `pairs` split (conventions in metrics.CONVENTIONS)."""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from trainer.evaluation.metrics import CONVENTIONS, average_precision, mrr, ranks_of_gold, recall_at
from trainer.pairs_data import read_pairs

COLUMNS = ["id", "file_id", "lang", "name", "summary", "code", "code_hard"]


def load_split(path, split: str):
    t = read_pairs(path, split, COLUMNS)
    return {c: t.column(c).to_pylist() for c in COLUMNS}


def evaluate_pair_retrieval(retriever, rows: dict, code_column: str, max_queries: int | None = None) -> dict:
    """Queries: `summary`; pool: `code_column` of every row of the split with a non-empty value."""
    keep = [i for i, (s, c) in enumerate(zip(rows["summary"], rows[code_column])) if c and c.strip()]
    pool = [rows[code_column][i] for i in keep]
    queries_idx = [j for j, i in enumerate(keep) if rows["summary"][i] and rows["summary"][i].strip()]
    if max_queries:
        queries_idx = queries_idx[:max_queries]
    if len(pool) < 2 or not queries_idx:
        return {"mrr": None, "queries": len(queries_idx), "pool": len(pool), "convention": CONVENTIONS["pairs_mrr"],
                "note": "too few usable pairs in this split"}
    queries = [rows["summary"][keep[j]] for j in queries_idx]
    ranks = ranks_of_gold(retriever.scores(queries, pool), queries_idx)
    return {
        "mrr": mrr(ranks, 1000), "recall@1": recall_at(ranks, 1), "recall@10": recall_at(ranks, 10),
        "queries": len(queries), "pool": len(pool),
        "convention": CONVENTIONS["pairs_mrr"] + "; " + CONVENTIONS["pairs_recall"],
    }


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").strip().lower())


def code_groups(rows: dict) -> list[list[int]]:
    """Row groups per metrics.CONVENTIONS['c2c_map'] (only rows with a non-empty code_hard)."""
    by_key: dict[tuple, list[int]] = defaultdict(list)
    for i in range(len(rows["id"])):
        if not (rows["code_hard"][i] and rows["code_hard"][i].strip() and rows["summary"][i]):
            continue
        name = (rows["name"][i] or "").rsplit(".", 1)[-1].lower()
        if not name:
            continue
        by_key[(rows["lang"][i], name, _norm(rows["summary"][i]))].append(i)
    groups = []
    for members in by_key.values():
        seen_files, distinct = set(), []
        for i in members:  # one member per file: several methods of one file are not independent
            if rows["file_id"][i] not in seen_files:
                seen_files.add(rows["file_id"][i])
                distinct.append(i)
        if len(distinct) >= 2:
            groups.append(distinct)
    return groups


def evaluate_code_to_code(retriever, rows: dict, max_queries: int | None = None) -> dict:
    groups = code_groups(rows)
    if not groups:
        return {"map": None, "queries": 0, "groups": 0, "convention": CONVENTIONS["c2c_map"], "note": "no groups in this split"}
    pool_idx = [i for i in range(len(rows["id"])) if rows["code_hard"][i] and rows["code_hard"][i].strip()]
    position = {row: j for j, row in enumerate(pool_idx)}
    pool = [rows["code_hard"][i] for i in pool_idx]
    queries = [(i, g) for g in groups for i in g]
    if max_queries:
        queries = queries[:max_queries]
    texts = [rows["code_hard"][i] for i, _ in queries]
    scorer = getattr(retriever, "code_scores", retriever.scores)
    scores = scorer(texts, pool)
    aps = [average_precision(scores[q], [position[m] for m in g], exclude=position[i]) for q, (i, g) in enumerate(queries)]
    return {"map": float(np.mean(aps)), "queries": len(queries), "groups": len(groups), "pool": len(pool),
            "convention": CONVENTIONS["c2c_map"]}
