"""Cross-rank negatives: 2 gloo ranks, each with half the batch, give the single-process gradient."""
from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainer.gather import gather_with_grad, local_anchor_range
from trainer.losses import contrastive_loss


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 5))


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)


def _worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = _model()
    text, code = _data()
    n = text.shape[0] // world
    t = model(text[rank * n:(rank + 1) * n])
    c = model(code[rank * n:(rank + 1) * n])
    loss = contrastive_loss(gather_with_grad(t), gather_with_grad(c), anchors=local_anchor_range(n))
    loss.backward()
    # what DDP / DeepSpeed do: average parameter gradients over ranks
    grads = []
    for p in model.parameters():
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        grads.append(p.grad / world)
    losses = [torch.zeros(()) for _ in range(world)]
    dist.all_gather(losses, loss.detach())
    if rank == 0:
        torch.save({"grads": grads, "loss": torch.stack(losses).mean()}, os.path.join(out_dir, "dist.pt"))
    dist.destroy_process_group()


def test_two_gloo_ranks_match_single_process(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    got = torch.load(tmp_path / "dist.pt", weights_only=True)
    model = _model()
    text, code = _data()
    loss = contrastive_loss(model(text), model(code))
    loss.backward()
    assert abs(got["loss"].item() - loss.item()) < 1e-5
    for g, p in zip(got["grads"], model.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)
