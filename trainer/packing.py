"""Packing documents into fixed-length sequences with block (per-document) attention.

* `split_long`: a document longer than the context is cut into consecutive pieces of at most `seq_len`
  tokens; each piece is its own segment (the model never sees two pieces of one document together).
* `best_fit_decreasing`: bin packing of piece lengths into bins of `seq_len`: pieces sorted by length
  (longest first, ties by index), each placed into the open bin with the least remaining room that
  fits, else a new bin. Deterministic. Leftover room becomes padding.
* `build_sequence`: concatenates a bin's pieces into input_ids / labels / segment_ids / position_ids.
  segment_ids number the pieces 0, 1, ... inside the sequence; padding has segment id -1 and label
  -100. position_ids restart at 0 for every piece (rotary / absolute positions are per document).
* `block_attention_mask`: boolean (B, 1, L, L) mask, True = may attend: query i attends key j iff
  seg[i] == seg[j] (padding attends only padding, so no softmax row is empty), optionally also
  |i - j| <= window (ModernBERT's local-attention layers, HF's bidirectional sliding semantics).

Packing efficiency = non-padding tokens / all tokens.
"""
from __future__ import annotations

import bisect

import numpy as np

from trainer.masking import IGNORE_INDEX

PAD_SEGMENT = -1


def split_long(length: int, seq_len: int) -> list[tuple[int, int]]:
    """[start, stop) token ranges of the pieces of a document of `length` tokens."""
    return [(s, min(length, s + seq_len)) for s in range(0, length, seq_len)] if length > 0 else []


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` grouped into bins of total length <= capacity (see module docstring)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[tuple[int, int]] = []  # sorted (remaining, bin index)
    for i in order:
        n = lengths[i]
        if n > capacity:
            raise ValueError(f"piece of {n} tokens exceeds capacity {capacity}; split it first")
        k = bisect.bisect_left(room, (n, -1))
        if k < len(room):
            rem, b = room.pop(k)
            bins[b].append(i)
            rem -= n
        else:
            b = len(bins)
            bins.append([i])
            rem = capacity - n
        if rem > 0:
            bisect.insort(room, (rem, b))
    return bins


def build_sequence(pieces: list[tuple[np.ndarray, np.ndarray]], seq_len: int, pad_id: int) -> dict[str, np.ndarray]:
    """One packed sequence from (input_ids, labels) pieces whose lengths sum to <= seq_len."""
    input_ids = np.full(seq_len, pad_id, dtype=np.int64)
    labels = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
    segment_ids = np.full(seq_len, PAD_SEGMENT, dtype=np.int64)
    position_ids = np.zeros(seq_len, dtype=np.int64)
    at = 0
    for seg, (ids, lab) in enumerate(pieces):
        n = len(ids)
        input_ids[at : at + n] = ids
        labels[at : at + n] = lab
        segment_ids[at : at + n] = seg
        position_ids[at : at + n] = np.arange(n)
        at += n
    if at > seq_len:
        raise ValueError("pieces exceed the sequence length")
    position_ids[at:] = np.arange(seq_len - at)
    return {"input_ids": input_ids, "labels": labels, "segment_ids": segment_ids, "position_ids": position_ids}


def block_attention_mask(segment_ids, window: int | None = None):
    """Boolean attention mask (B, 1, L, L) from segment ids (torch tensor (B, L))."""
    import torch

    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    if window is not None:
        L = segment_ids.shape[1]
        pos = torch.arange(L, device=segment_ids.device)
        same = same & ((pos[:, None] - pos[None, :]).abs() <= window)
    return same[:, None, :, :]


def packing_efficiency(segment_ids: np.ndarray) -> float:
    seg = np.asarray(segment_ids)
    return float((seg != PAD_SEGMENT).sum() / max(1, seg.size))
