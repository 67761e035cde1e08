"""Ranking metrics. Every function states its convention; `CONVENTIONS` holds the sentences printed
beside the numbers.

Ranks are 1-based. Ties are broken AGAINST the gold item: its rank is the number of candidates scoring
greater than or equal to it (itself included). Dense float scores almost never tie; BM25 gives a query
without a shared token 0 everywhere, which must not count as a hit.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

CONVENTIONS = {
    "cosqa_mrr": "CoSQA dev: each of the queries ranks the WHOLE code base (code_idx_map.txt, code with its docstring, as CoSQA ships it); "
                 "MRR = mean of 1/rank of the gold snippet, ranks past 1000 score 0; ties count against the gold item",
    "pairs_mrr": "held-out pairs: text (summary) of each query pair ranks the code column of EVERY pair in the split (pool = the split); "
                 "MRR = mean 1/rank of the query's own code, ranks past 1000 score 0; ties count against the gold item",
    "pairs_recall": "recall@k = share of queries whose own code ranks <= k in the same pool",
    "c2c_map": "code-to-code: groups = pairs of the split with the same language, the same function name (last component, lower-cased) "
               "and the same summary (lower-cased, whitespace-normalized) from DIFFERENT files, >= 2 members; pair-level near-dedup already removed "
               "near-duplicate code, so a group is independent implementations documented as doing the same thing. Query = the hard-positive "
               "body (code_hard: no signature, no docstring, no returns, so neither the shared name nor the summary leak); pool = every other "
               "pair's body in the split; AP over the full ranking, MAP = mean over queries",
}


def ranks_of_gold(scores: np.ndarray, gold: Sequence[int]) -> np.ndarray:
    """scores (Q, D), gold[q] the index of query q's relevant item -> 1-based ranks (Q,)."""
    gold = np.asarray(gold)
    gold_scores = scores[np.arange(len(gold)), gold]
    return (scores >= gold_scores[:, None]).sum(axis=1)


def mrr(ranks: Iterable[int], cutoff: int = 1000) -> float:
    """Mean reciprocal rank; a rank past `cutoff` contributes 0."""
    r = np.asarray(list(ranks), dtype=np.float64)
    if r.size == 0:
        return float("nan")
    return float(np.where(r <= cutoff, 1.0 / r, 0.0).mean())


def recall_at(ranks: Iterable[int], k: int) -> float:
    r = np.asarray(list(ranks))
    return float((r <= k).mean()) if r.size else float("nan")


def average_precision(scores: np.ndarray, relevant: Sequence[int], exclude: int | None = None) -> float:
    """AP of one query over the full ranking of `scores` (D,) with the item `exclude` (the query
    itself) removed: mean over relevant items of precision at their rank (ties against relevant items)."""
    s = scores.astype(np.float64).copy()
    if exclude is not None:
        s[exclude] = -np.inf
    rel = np.asarray([r for r in relevant if r != exclude])
    if rel.size == 0:
        return float("nan")
    rel_scores = np.sort(s[rel])[::-1]
    # rank of the j-th best relevant item = #items scoring >= it (ties resolved against it)
    ranks = (s[None, :] >= rel_scores[:, None]).sum(axis=1)
    return float((np.arange(1, rel.size + 1) / ranks).mean())
