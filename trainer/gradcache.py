"""One stage-2 optimisation step's forward/backward, direct or with gradient caching (GradCache,
Gao et al. 2021), so the contrastive batch size is independent of activation memory.

Length ordering (both paths): each side's rows are sorted by non-pad length (longest first, stable)
before they are cut into groups, and every group is trimmed to its own longest row, so short texts are
not padded to the longest code of the batch. The embeddings are put back in the original row order
before the loss, so pairs stay aligned and the loss is the same function of the same embeddings (a
row's embedding does not depend on its padding or its neighbours; dropout masks are drawn per group).

Direct (chunk_size = 0): t = f(texts), c = f(codes) with each side encoded as `buckets` length-ordered
groups, loss(t, c), one backward. The module runs several times in the graph; the DeepSpeed step equals
the plain PyTorch step at ZeRO-1, 2 and 3 (tests/test_contrastive_train.py).

Cached (chunk_size = k > 0), the exact two-pass scheme:
  1. representation pass, no grad: embed every chunk of k texts and k codes -> T, C (no activations kept);
  2. loss pass: loss(T, C) with T, C as leaves (negatives gathered across ranks inside `loss_fn`);
     backward gives G_T = dloss/dT, G_C = dloss/dC (only the (N, d) embeddings, no encoder graph);
  3. per chunk: re-embed WITH grad under the same RNG state (same dropout masks), backward the surrogate
     sum(f(chunk) * G_chunk), whose parameter gradient is G_chunk . df/dtheta, i.e. that chunk's exact
     share of dloss/dtheta by the chain rule. Gradients accumulate over chunks.
Each backward in step 3 traverses exactly one forward of the module, which is what DeepSpeed's ZeRO
hooks expect ("module used once per backward"); `set_boundary(False/True)` tells the DeepSpeed engine that
only the last chunk's backward ends the accumulation, so `engine.step()` runs once per contrastive batch.
Peak memory: one chunk's activations + the (2N, d) embeddings.
"""
from __future__ import annotations

from typing import Callable

import torch

Batch = dict  # {"input_ids": (B, T) long, "attention_mask": (B, T) long}


def split_batch(batch: Batch, size: int) -> list[Batch]:
    """Chunks of `size` rows, each trimmed to its longest non-pad length (rows arrive right-padded)."""
    n = batch["input_ids"].shape[0]
    out = []
    for start in range(0, n, size):
        mask = batch["attention_mask"][start:start + size]
        width = int(mask.sum(1).max().item()) if mask.numel() else 0
        out.append({k: v[start:start + size, :max(width, 1)] for k, v in batch.items()})
    return out


def length_order(batch: Batch) -> torch.Tensor:
    """Row indices by non-pad length, longest first; ties keep their input order."""
    return torch.argsort(batch["attention_mask"].sum(1), descending=True, stable=True)


def take_rows(batch: Batch, rows: torch.Tensor) -> Batch:
    return {k: v[rows] for k, v in batch.items()}


def inverse_permutation(order: torch.Tensor) -> torch.Tensor:
    inv = torch.empty_like(order)
    inv[order] = torch.arange(order.numel(), device=order.device)
    return inv


def encode_length_ordered(encode: Callable[..., torch.Tensor], batch: Batch, buckets: int) -> torch.Tensor:
    """encode(batch) in the original row order, computed as `buckets` groups of length-sorted rows,
    each trimmed to its own longest row (differentiable; one forward per group)."""
    n = batch["input_ids"].shape[0]
    order = length_order(batch)
    size = -(-n // max(1, min(buckets, n)))
    out = torch.cat([encode(**chunk) for chunk in split_batch(take_rows(batch, order), size)])
    return out[inverse_permutation(order)]


class RandState:
    """Snapshot of the CPU (and current CUDA device) RNG, restorable to replay dropout exactly."""

    def __init__(self):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda)


def step_forward_backward(
    encode: Callable[..., torch.Tensor],
    text: Batch,
    code: Batch,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    chunk_size: int = 0,
    buckets: int = 1,
    backward: Callable[[torch.Tensor], object] = torch.Tensor.backward,
    set_boundary: Callable[[bool], object] | None = None,
) -> torch.Tensor:
    """Run the forward and backward of one contrastive batch; gradients are left in the parameters
    (the caller steps the optimizer). `encode(input_ids=..., attention_mask=...)` -> (B, d);
    `loss_fn(text_emb, code_emb)` -> scalar; `buckets`: length-ordered groups per side on the direct
    path (the cached path's groups are its chunks). Returns the detached loss."""
    if not chunk_size or chunk_size <= 0:
        if set_boundary is not None:
            set_boundary(True)
        loss = loss_fn(encode_length_ordered(encode, text, buckets), encode_length_ordered(encode, code, buckets))
        backward(loss)
        return loss.detach()

    text_order, code_order = length_order(text), length_order(code)
    chunks = split_batch(take_rows(text, text_order), chunk_size) + split_batch(take_rows(code, code_order), chunk_size)
    n_text = -(-text["input_ids"].shape[0] // chunk_size)
    states, reps = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(RandState())
            reps.append(encode(**chunk).detach())
    text_rep = torch.cat(reps[:n_text]).requires_grad_()   # length order, aligned with the chunks
    code_rep = torch.cat(reps[n_text:]).requires_grad_()
    loss = loss_fn(text_rep[inverse_permutation(text_order)], code_rep[inverse_permutation(code_order)])
    loss.backward()
    grads = list(torch.split(text_rep.grad, chunk_size)) + list(torch.split(code_rep.grad, chunk_size))
    after = RandState()
    for i, (chunk, state, grad) in enumerate(zip(chunks, states, grads)):
        if set_boundary is not None:
            set_boundary(i == len(chunks) - 1)
        state.restore()
        out = encode(**chunk)
        backward((out * grad.to(out.dtype)).sum())
    after.restore()  # leave the RNG where a single pass would have left it
    return loss.detach()
