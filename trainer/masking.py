"""Stage-1 corruption of one tokenized document: full-mask MLM or identifier deobfuscation (DOBF).

For each document, with probability `dobf_prob` (default 0.5) DOBF is applied, otherwise random masking:

(a) Random masking ("mlm"): exactly k = round(`mlm_rate` * n) of the n maskable tokens (all tokens but
    special ones such as the appended `</s>`; at least 1 when n > 0) are chosen uniformly without
    replacement, and EVERY chosen token becomes `<mask>` (no 80-10-10: random replacement breaks code).
    Comments and docstrings are maskable in this mode, as in ordinary MLM: the paper's "never masked" rule
    belongs to deobfuscation, and the identifiers spans cannot tell comments apart for (a).

(b) Deobfuscation ("dobf"): the document's `identifiers` spans (character offsets into the content; by
    contract never inside comments, docstrings or strings) are grouped by name (the span's text) and
    restricted to `dobf_kinds`. Selection rule: each distinct name is chosen independently with
    probability `dobf_name_prob` (default 0.5); if none is chosen, one name is drawn uniformly so a DOBF
    example always has a target. EVERY occurrence (span) of a chosen name is masked: each token whose
    character range overlaps the span becomes one `<mask>` (the tokenizer keeps an identifier in one
    pre-token, so these are exactly the name's sub-tokens), and the model predicts the original
    sub-tokens. A document without usable spans falls back to (a).

Labels: the original token id at masked positions, -100 everywhere else. The loss (trainer.pretrain)
is the cross-entropy over masked positions only.

Randomness comes only from the `numpy.random.Generator` passed in, so the data stream can make every
document's corruption a pure function of (seed, stream, epoch, window, document index).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IGNORE_INDEX = -100
MODE_MLM, MODE_DOBF = 0, 1


@dataclass(frozen=True)
class MaskingConfig:
    mask_id: int
    mlm_rate: float = 0.15
    dobf_prob: float = 0.5
    dobf_name_prob: float = 0.5
    dobf_kinds: tuple[str, ...] = ("class", "function", "variable")

    def __post_init__(self):
        for name in ("mlm_rate", "dobf_prob", "dobf_name_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                from trainer.errors import UserError

                raise UserError(f"--{name.replace('_', '-')} must be between 0 and 1, got {v}")


def token_positions_for_spans(offsets: np.ndarray, maskable: np.ndarray, spans: np.ndarray) -> list[np.ndarray]:
    """For each (start, end) char span, the positions of maskable tokens overlapping it.

    `offsets` is (n, 2) char offsets per token, non-decreasing over maskable tokens (special tokens
    carry (0, 0) and are excluded by `maskable`). Overlap means tok_start < end and tok_end > start.
    """
    idx = np.flatnonzero(maskable)
    if idx.size == 0 or len(spans) == 0:
        return [np.empty(0, dtype=np.int64) for _ in range(len(spans))]
    starts = offsets[idx, 0]
    ends = offsets[idx, 1]
    out = []
    for s, e in spans:
        lo = int(np.searchsorted(ends, s, side="right"))
        hi = int(np.searchsorted(starts, e, side="left"))
        sel = idx[lo:hi]
        if sel.size:
            # Zero-width tokens cannot overlap; keep the strict inequality exact at the borders.
            ok = (offsets[sel, 0] < e) & (offsets[sel, 1] > s)
            sel = sel[ok]
        out.append(sel)
    return out


def mask_mlm(ids: np.ndarray, maskable: np.ndarray, rng: np.random.Generator, cfg: MaskingConfig) -> np.ndarray:
    """Positions chosen by random masking (sorted)."""
    cand = np.flatnonzero(maskable)
    if cand.size == 0 or cfg.mlm_rate <= 0:
        return np.empty(0, dtype=np.int64)
    k = max(1, int(round(cfg.mlm_rate * cand.size)))
    return np.sort(rng.choice(cand, size=k, replace=False))


def mask_dobf(
    content: str,
    offsets: np.ndarray,
    maskable: np.ndarray,
    identifiers: list[dict] | None,
    rng: np.random.Generator,
    cfg: MaskingConfig,
) -> np.ndarray:
    """Positions chosen by deobfuscation (sorted, possibly empty when no usable span exists)."""
    if not identifiers:
        return np.empty(0, dtype=np.int64)
    by_name: dict[str, list[tuple[int, int]]] = {}
    for span in identifiers:
        if span["kind"] not in cfg.dobf_kinds:
            continue
        s, e = int(span["start"]), int(span["end"])
        if 0 <= s < e <= len(content):
            by_name.setdefault(content[s:e], []).append((s, e))
    if not by_name:
        return np.empty(0, dtype=np.int64)
    names = sorted(by_name)  # deterministic order for the RNG draws
    chosen = [n for n, u in zip(names, rng.random(len(names))) if u < cfg.dobf_name_prob]
    if not chosen:
        chosen = [names[int(rng.integers(len(names)))]]
    spans = np.array([sp for n in chosen for sp in by_name[n]], dtype=np.int64)
    hits = token_positions_for_spans(offsets, maskable, spans)
    if not hits:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.concatenate(hits))


def corrupt_document(
    ids: np.ndarray,
    offsets: np.ndarray,
    special: np.ndarray,
    content: str,
    identifiers: list[dict] | None,
    rng: np.random.Generator,
    cfg: MaskingConfig,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return (input_ids, labels, mode) for one document (see module docstring)."""
    ids = np.asarray(ids, dtype=np.int64)
    maskable = ~np.asarray(special, dtype=bool)
    mode = MODE_DOBF if rng.random() < cfg.dobf_prob else MODE_MLM
    positions = np.empty(0, dtype=np.int64)
    if mode == MODE_DOBF:
        positions = mask_dobf(content, np.asarray(offsets, dtype=np.int64), maskable, identifiers, rng, cfg)
        if positions.size == 0:
            mode = MODE_MLM
    if mode == MODE_MLM:
        positions = mask_mlm(ids, maskable, rng, cfg)
    labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
    labels[positions] = ids[positions]
    inputs = ids.copy()
    inputs[positions] = cfg.mask_id
    return inputs, labels, mode
