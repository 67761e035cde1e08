"""Exact Jaccard verification of LSH candidates, designed so it cannot disconnect true duplicates.

Shingle sets are represented by their sorted unique 64-bit SHA-1 fingerprints (see minhash.py); two
different shingles share a fingerprint with probability ~2^-64, so the Jaccard of the fingerprint
sets is the exact Jaccard of the shingle sets for all practical purposes.

Per candidate set (the members of one LSH bucket, deduplicated across bands), `verify_members`
grows groups greedily in node order. A new member is compared with the members of each existing
group in turn, stopping at the group's first member with Jaccard >= threshold; it joins (and merges)
every group it matched, emitting one edge per matched group. Hence:

- at most k - 1 edges for k members (each edge merges two groups: the edges form a forest);
- every pair (x, y) of the set with Jaccard >= threshold ends in the same group, because when y is
  processed the group holding x is scanned until a match, and x itself is a match. Verification
  therefore never disconnects true duplicates that LSH brought together (unlike verifying only the
  chain edges x1-x2-x3 or a star to one representative, where one dissimilar middle element or
  representative separates two true duplicates);
- cost: k - 1 comparisons when the set is one family of duplicates (the common case), up to
  k (k - 1) / 2 when all members are mutually dissimilar (LSH false positives, rare by design of
  the S-curve).
"""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard of two sorted unique uint64 arrays (0.0 when both are empty)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def _may_reach(a: np.ndarray, b: np.ndarray, threshold: float) -> bool:
    # Jaccard <= min/max of the set sizes: skip the intersection when that bound is below threshold.
    small, large = sorted((len(a), len(b)))
    return large > 0 and small >= threshold * large


def verify_members(members: Sequence[tuple[Hashable, np.ndarray]], threshold: float) -> tuple[list[tuple], int]:
    """(edges, comparisons) for one candidate set; see the module docstring for the guarantee.

    `members`: (node, sorted unique uint64 fingerprints); processed in node order so the edges are
    a deterministic function of the set.
    """
    members = sorted(members, key=lambda m: m[0])
    groups: list[list[int]] = []
    edges: list[tuple] = []
    comparisons = 0
    for i, (node, fp) in enumerate(members):
        matched: list[int] = []
        for gi, group in enumerate(groups):
            for j in group:
                other_node, other_fp = members[j]
                if not _may_reach(fp, other_fp, threshold):
                    continue
                comparisons += 1
                if jaccard(fp, other_fp) >= threshold:
                    edges.append((other_node, node))
                    matched.append(gi)
                    break
        if not matched:
            groups.append([i])
            continue
        merged = [i]
        for gi in matched:
            merged.extend(groups[gi])
        keep = [g for gi, g in enumerate(groups) if gi not in set(matched)]
        keep.append(sorted(merged))
        groups = keep
    return edges, comparisons


def chain_edges(nodes: Sequence[Hashable]) -> list[tuple]:
    """k - 1 edges linking sorted `nodes` in a chain (the unverified path)."""
    ordered = sorted(set(nodes))
    return list(zip(ordered, ordered[1:]))
