"""Ground truth for near-dedup quality: exact n-gram Jaccard, recall and false removals.

Used by the integration test and benchmarks/dedup.py; independent of MinHash and LSH (it only
shares the tokenizer/shingles definition, which is what "exact 5-gram Jaccard" means here).

- candidate pairs: all pairs of records sharing (lang, path basename) -- the natural places
  where versions of one package put the same file -- optionally plus brute force over a sample;
- recall: among pairs with exact Jaccard >= `high` (0.85), the fraction that did not end with two
  survivors (at most one of the two is kept);
- false removals: removed records with no member of their cluster (the survivor and the records
  removed in its favour) at exact Jaccard >= `low` (0.7).
"""
from __future__ import annotations

import collections
import itertools
import posixpath
from typing import Iterable, Mapping, Sequence

import numpy as np

from .minhash import fingerprints
from .shingles import shingles
from .verify import jaccard


class FingerprintCache:
    """Shingle fingerprints per id, computed once."""

    def __init__(self, texts: Mapping[str, str], ngram: int = 5):
        self._texts = texts
        self._ngram = ngram
        self._fps: dict[str, np.ndarray] = {}

    def __call__(self, rid: str) -> np.ndarray:
        fp = self._fps.get(rid)
        if fp is None:
            fp = self._fps[rid] = fingerprints(shingles(self._texts[rid], self._ngram))
        return fp

    def jaccard(self, a: str, b: str) -> float:
        return jaccard(self(a), self(b))


def basename_pairs(records: Iterable[Mapping]) -> list[tuple[str, str]]:
    """All (id, id) pairs (sorted ids) of records sharing lang and path basename."""
    groups: dict[tuple, list[str]] = collections.defaultdict(list)
    for r in records:
        groups[(r.get("lang"), posixpath.basename(str(r.get("path") or "")))].append(str(r["id"]))
    pairs = []
    for ids in groups.values():
        pairs.extend(tuple(sorted(p)) for p in itertools.combinations(sorted(set(ids)), 2))
    return pairs


def evaluate(
    records: Sequence[Mapping],
    kept_ids: Iterable[str],
    rejected: Iterable[Mapping],
    text_key: str = "content",
    ngram: int = 5,
    high: float = 0.85,
    low: float = 0.7,
    extra_pairs: Iterable[tuple[str, str]] = (),
) -> dict:
    """Recall and false-removal figures of a near-dedup result over `records` (its input).

    `kept_ids`: ids of the surviving records; `rejected`: the near-dedup reject rows (with kept_id).
    """
    texts = {str(r["id"]): str(r.get(text_key) or "") for r in records}
    fps = FingerprintCache(texts, ngram)
    kept = set(kept_ids)
    rejected = [r for r in rejected if r.get("kept_id") is not None]
    pairs = sorted(set(basename_pairs(records)) | {tuple(sorted(p)) for p in extra_pairs})
    positives = [(a, b) for a, b in pairs if fps.jaccard(a, b) >= high]
    both_kept = [(a, b) for a, b in positives if a in kept and b in kept]

    clusters: dict[str, set[str]] = collections.defaultdict(set)
    for r in rejected:
        clusters[r["kept_id"]].update((r["id"], r["kept_id"]))
    false_removals = []
    for r in rejected:
        members = clusters[r["kept_id"]] - {r["id"]}
        best = max((fps.jaccard(r["id"], m) for m in members), default=0.0)
        if best < low:
            false_removals.append((r["id"], r["kept_id"], best))
    removed = len(rejected)
    return {
        "pairs_checked": len(pairs),
        "positive_pairs": len(positives),
        "positive_pairs_both_kept": len(both_kept),
        "recall": (1.0 - len(both_kept) / len(positives)) if positives else 1.0,
        "removed": removed,
        "false_removals": len(false_removals),
        "false_removal_rate": (len(false_removals) / removed) if removed else 0.0,
        "precision": (1.0 - len(false_removals) / removed) if removed else 1.0,
        "examples_both_kept": both_kept[:5],
        "examples_false_removals": false_removals[:5],
    }
