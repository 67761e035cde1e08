"""LSH banding: (b, r) from a Jaccard threshold, band keys, and the S-curve for the manifest.

A signature of ``num_perm`` values is cut into ``b`` bands of ``r`` rows (``b * r <= num_perm``; the
remaining rows are unused, as in datasketch). Two documents become *candidates* when they agree on
all ``r`` values of at least one band, which happens with probability

    P(candidate | Jaccard s) = 1 - (1 - s^r)^b          (the S-curve)

datasketch's rule picks (b, r) minimising  fp_weight * FP + fn_weight * FN  with
FP = integral_0^t P(s) ds  and  FN = integral_t^1 (1 - P(s)) ds.  We call datasketch's own
``_optimal_param`` so the choice is the one a datasketch user gets from ``MinHashLSH(threshold,
num_perm, weights)``.
"""
from __future__ import annotations

import functools
import hashlib

import numpy as np


@functools.lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(b, r) minimising the weighted false positive/negative areas (datasketch's rule)."""
    from datasketch.lsh import _optimal_param

    b, r = _optimal_param(threshold, num_perm, fp_weight, fn_weight)
    return int(b), int(r)


def candidate_probability(s, b: int, r: int):
    """P(candidate | Jaccard s) = 1 - (1 - s^r)^b (scalar or array)."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** r) ** b


def error_areas(threshold: float, b: int, r: int) -> tuple[float, float]:
    """(false positive area, false negative area) as datasketch integrates them."""
    from datasketch.lsh import _false_negative_probability, _false_positive_probability

    return float(_false_positive_probability(threshold, b, r)), float(_false_negative_probability(threshold, b, r))


def band_keys(signature: np.ndarray, b: int, r: int) -> list[bytes]:
    """One key per band: band index (2 bytes) + 16-byte BLAKE2b of the band's little-endian values.

    Hashing keeps shuffle keys small (18 bytes instead of 4 r); a false collision needs a 128-bit
    hash collision. The band index keeps equal values in different bands apart.
    """
    sig = np.ascontiguousarray(signature, dtype="<u4")
    keys = []
    for i in range(b):
        digest = hashlib.blake2b(sig[i * r : (i + 1) * r].tobytes(), digest_size=16).digest()
        keys.append(i.to_bytes(2, "big") + digest)
    return keys


def describe(params) -> dict:
    """JSON-able description of the near-dedup LSH setting for the manifest.

    When near dedup is off (`params.enabled` false, --no-near-dedup) the result is exactly
    {"enabled": False}: no parameters are described because none were used.
    Otherwise the keys are: enabled (True), b, r, num_perm, threshold, ngram, fp_weight, fn_weight,
    seed, verify, verify_threshold, false_positive_area, false_negative_area (datasketch's integrals
    for this (b, r)) and s_curve: [{"s": s, "p_candidate": 1 - (1 - s^r)^b} for s = 0.00, 0.05, ..., 1.00].
    """
    if not getattr(params, "enabled", True):
        return {"enabled": False}
    b, r = params.band_params()
    fp, fn = error_areas(params.threshold, b, r)
    grid = [round(0.05 * i, 2) for i in range(21)]
    return {
        "enabled": True,
        "b": b,
        "r": r,
        "num_perm": params.num_perm,
        "threshold": params.threshold,
        "ngram": params.ngram,
        "seed": params.seed,
        "fp_weight": params.fp_weight,
        "fn_weight": params.fn_weight,
        "verify": params.verify,
        "verify_threshold": params.effective_verify_threshold(),
        "false_positive_area": fp,
        "false_negative_area": fn,
        "s_curve": [{"s": s, "p_candidate": float(candidate_probability(s, b, r))} for s in grid],
    }
