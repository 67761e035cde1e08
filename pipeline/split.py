"""Train/valid/test assignment by near-duplicate cluster (never by row).

The split is a pure, deterministic function of `cluster_id` (and a seed), so every member of a
cluster, and every pair extracted from a file of that cluster, lands in the same split, on any
runner, in any run.
"""
from __future__ import annotations

import hashlib


def split_for(cluster_id: str, valid_fraction: float = 0.01, test_fraction: float = 0.01, seed: str = "codesage") -> str:
    """'train', 'valid' or 'test' for `cluster_id`.

    u = first 8 bytes of sha256(seed + ':' + cluster_id) / 2**64 is uniform on [0, 1);
    u < test_fraction -> test; u < test_fraction + valid_fraction -> valid; else train.
    """
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError("valid_fraction and test_fraction must be >= 0 and sum to less than 1")
    digest = hashlib.sha256(f"{seed}:{cluster_id}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + valid_fraction:
        return "valid"
    return "train"
