"""Autograd-aware all-gather of embeddings across data-parallel ranks.

Contract. Every rank holds a local batch of n pairs (same n on every rank). `gather_with_grad(x)`
returns cat([x_0, ..., x_{W-1}]) (rank order) on every rank; its backward ALL-REDUCES (sums) the
incoming gradient over ranks and returns this rank's slice.

Scaling. Rank r computes the loss over its own n pairs as anchors against all W*n gathered
candidates, averaged over its n anchors pairs: L_r = (1/n) sum_{i in rank r} l_i. The single-process
loss on the concatenated batch is L = (1/(W n)) sum_i l_i = (1/W) sum_r L_r. Every l_i depends on
every rank's embeddings, so dL/dx_r = (1/W) sum_r' dL_r'/dx_r: the all-reduce-sum in backward gives
sum_r' dL_r'/dx_r, and the data-parallel engine (DDP or DeepSpeed) AVERAGES parameter gradients over
ranks, supplying the 1/W. The result equals the single-process gradient exactly (tested with 2 gloo
ranks in tests/test_contrastive_gather.py).
"""
from __future__ import annotations

import torch
import torch.distributed as dist


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All-gather `x` (n, ...) to (W*n, ...) keeping gradients (see module docstring); identity when
    not running distributed."""
    if not distributed():
        return x
    return _GatherWithGrad.apply(x)


def local_anchor_range(n_local: int) -> tuple[int, int]:
    """The [start, stop) pair range this rank scores in the gathered batch."""
    rank = dist.get_rank() if distributed() else 0
    return rank * n_local, (rank + 1) * n_local
