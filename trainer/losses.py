"""Stage-2 contrastive loss (CodeSage, ICLR 2024, section 3.2) as one pure function.

Notation. A batch holds N (text, code) pairs. `text[i]` and `code[i]` are the mean-pooled encoder
outputs; z = normalize(cat(text, code)) has 2N rows, and the partner of row a is p(a) = (a + N) mod 2N.
With s(a, b) = z_a . z_b (cosine) and temperature tau, for every anchor a (texts AND codes are anchors,
which is the paper's symmetric loss) the negatives are the other 2N-2 rows K(a) = {k : k != a, k != p(a)}
(negatives="all", the paper), or only the other modality's N-1 non-partners, K(a) = {k : k on the other
side of a, k != p(a)} (negatives="cross": CLIP's symmetric loss, i.e. sentence-transformers'
MultipleNegativesSymmetricRankingLoss; texts never repel texts, codes never repel codes):

    L_a = -log [ exp(s_ap / tau) / ( exp(s_ap / tau) + sum_{k in K(a)} w_ak exp(s_ak / tau) ) ]

    weighting off (plain InfoNCE):      w_ak = 1
    paper (hn_form="paper"):            w_ak = c * gamma_ak,  gamma_ak = softmax_{k in K(a)}( s_ak / tau )
    Robinson (hn_form="robinson"):      w_ak = |K(a)| * softmax_{k in K(a)}( beta * s_ak / tau )

    c = 1     for gamma_scale="unit"  (the paper as printed: the gamma sum to 1 over the negatives)
    c = |K(a)| for gamma_scale="2n-2" (2N-2, or N-1 with negatives="cross"; the name keeps the paper's
              case. Robinson et al. 2021: weights with mean 1; the default, because
              then uniform weights recover plain InfoNCE exactly, while with c = 1 the denominator holds
              the weighted MEAN of the negatives, i.e. InfoNCE shifted by log(2N-2) with one negative's mass)

    detach_gamma=True (default): w_ak is a constant in the backward pass (importance weights of a
    sampling distribution, as in importance sampling); False lets gradients flow through gamma too.

    loss = (1/|P|) * sum_{i in P} ( L_text_i + L_code_i )

where P is the set of pairs whose two anchors this call scores (all N by default; a slice when the
batch was gathered from several ranks, see trainer/gather.py). Each pair contributes both directions
(text -> code and code -> text), summed, then averaged over pairs (design.md section 6).

In log space the weighted denominator is logsumexp over [s_ap/tau, s_ak/tau + log w_ak], which is exact
and stable for tau = 0.05 (logits up to 20).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

GAMMA_SCALES = ("unit", "2n-2")
NEGATIVES = ("all", "cross")
HN_FORMS = ("paper", "robinson")


def contrastive_loss(
    text: torch.Tensor,
    code: torch.Tensor,
    *,
    temperature: float = 0.05,
    hard_negatives: bool = True,
    gamma_scale: str = "2n-2",
    detach_gamma: bool = True,
    hn_form: str = "paper",
    beta: float = 1.0,
    anchors: tuple[int, int] | None = None,
    negatives: str = "all",
) -> torch.Tensor:
    """The formula in the module docstring. `text`, `code`: (N, d) un-normalized embeddings, row i of
    each forming pair i. `anchors`: optional half-open range [start, stop) of pairs whose anchors are
    scored (negatives are always all 2N-2 other rows). Returns a scalar tensor. N must be >= 2."""
    if text.shape != code.shape or text.dim() != 2:
        raise ValueError(f"text and code must both be (N, d); got {tuple(text.shape)} and {tuple(code.shape)}")
    if gamma_scale not in GAMMA_SCALES:
        raise ValueError(f"gamma_scale must be one of {GAMMA_SCALES}")
    if hn_form not in HN_FORMS:
        raise ValueError(f"hn_form must be one of {HN_FORMS}")
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}")
    n = text.shape[0]
    if n < 2:
        raise ValueError("the contrastive loss needs at least 2 pairs (in-batch negatives)")
    start, stop = anchors if anchors is not None else (0, n)
    z = F.normalize(torch.cat([text, code]).float(), dim=-1)
    rows = torch.cat([torch.arange(start, stop), torch.arange(start + n, stop + n)]).to(z.device)
    logits = z[rows] @ z.T / temperature                                 # (2|P|, 2N)
    partner = (rows + n) % (2 * n)
    ar = torch.arange(rows.numel(), device=z.device)
    positive = logits[ar, partner]
    not_negative = torch.zeros_like(logits, dtype=torch.bool)
    not_negative[ar, rows] = True
    not_negative[ar, partner] = True
    if negatives == "cross":  # the anchor's own side: rows < n are texts, rows >= n are codes
        same_side = (rows[:, None] >= n) == (torch.arange(2 * n, device=z.device)[None, :] >= n)
        not_negative |= same_side
    neg_logits = logits.masked_fill(not_negative, float("-inf"))
    if hard_negatives:
        sharp = neg_logits * beta if hn_form == "robinson" else neg_logits
        log_w = torch.log_softmax(sharp, dim=-1)                        # log gamma; -inf off the negatives
        if hn_form == "robinson" or gamma_scale == "2n-2":
            size = 2.0 * n - 2.0 if negatives == "all" else n - 1.0     # |K(a)|
            log_w = log_w + torch.log(torch.tensor(size, device=z.device))
        if detach_gamma:
            log_w = log_w.detach()
        neg_logits = neg_logits + log_w
    denominator = torch.logsumexp(torch.cat([positive[:, None], neg_logits], dim=1), dim=1)
    per_anchor = denominator - positive
    return per_anchor.sum() / max(stop - start, 1)


def matryoshka_loss(text: torch.Tensor, code: torch.Tensor, dims: Sequence[int], **kwargs) -> torch.Tensor:
    """Matryoshka representation loss (Kusupati et al. 2022; CodeSage V2): the mean of
    `contrastive_loss` over the leading `dims` coordinates of the embeddings (each prefix re-normalized
    inside `contrastive_loss`). The full size is always included. Every dim must be in 1..d (d = the
    embedding size), else ValueError (nothing is dropped silently). Same keyword arguments."""
    full = text.shape[-1]
    bad = [int(d) for d in dims if not 0 < int(d) <= full]
    if bad:
        raise ValueError(f"matryoshka dims {bad} outside 1..{full} (the embedding size)")
    sizes = sorted({int(d) for d in dims} | {full})
    losses = [contrastive_loss(text[:, :d], code[:, :d], **kwargs) for d in sizes]
    return torch.stack(losses).mean()


def stage2_loss(text: torch.Tensor, code: torch.Tensor, matryoshka_dims: Sequence[int] | None = None, **kwargs) -> torch.Tensor:
    """`matryoshka_loss` when dims are given, else `contrastive_loss`."""
    if matryoshka_dims:
        return matryoshka_loss(text, code, matryoshka_dims, **kwargs)
    return contrastive_loss(text, code, **kwargs)
