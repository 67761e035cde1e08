"""GradCache gives the gradient of the uncached computation."""
from __future__ import annotations

import torch
from transformers import BertConfig, BertModel

from trainer.encoder import Encoder
from trainer.gradcache import encode_length_ordered, length_order, split_batch, step_forward_backward
from trainer.losses import contrastive_loss


def tiny_encoder(dropout=0.0, seed=0):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=0.0, max_position_embeddings=64)
    return Encoder(BertModel(cfg))


def random_batch(n, max_len, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, max_len + 1, (n,), generator=g)
    ids = torch.randint(5, 100, (n, max_len), generator=g)
    mask = (torch.arange(max_len)[None, :] < lengths[:, None]).long()
    return {"input_ids": ids * mask, "attention_mask": mask}


def grads(model):
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def run(model, chunk, text, code):
    model.zero_grad()
    loss = step_forward_backward(model, text, code, lambda t, c: contrastive_loss(t, c), chunk_size=chunk)
    return loss, grads(model)


def test_cached_gradient_equals_direct():
    model = tiny_encoder()
    text, code = random_batch(10, 6, 1), random_batch(10, 20, 2)
    loss0, g0 = run(model, 0, text, code)
    for chunk in (3, 4, 10):
        loss1, g1 = run(model, chunk, text, code)
        assert abs(loss0.item() - loss1.item()) < 1e-5
        assert len(g0) == len(g1)
        for a, b in zip(g0, g1):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_dropout_replayed_in_second_pass():
    # with dropout on and one chunk per side the masks of both passes must coincide with the direct run
    model = tiny_encoder(dropout=0.3)
    model.train()
    text, code = random_batch(6, 5, 3), random_batch(6, 9, 4)
    torch.manual_seed(7)
    loss0, g0 = run(model, 0, text, code)
    torch.manual_seed(7)
    loss1, g1 = run(model, 6, text, code)
    assert abs(loss0.item() - loss1.item()) < 1e-5
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_split_batch_trims_padding():
    batch = {"input_ids": torch.ones(4, 10, dtype=torch.long),
             "attention_mask": torch.tensor([[1] * 3 + [0] * 7, [1] * 2 + [0] * 8, [1] * 9 + [0], [1] * 4 + [0] * 6])}
    parts = split_batch(batch, 2)
    assert [p["input_ids"].shape for p in parts] == [torch.Size([2, 3]), torch.Size([2, 9])]


def test_length_buckets_give_the_unbucketed_loss_and_gradient():
    model = tiny_encoder()
    text, code = random_batch(10, 6, 5), random_batch(10, 20, 6)
    model.zero_grad()
    loss0 = step_forward_backward(model, text, code, lambda t, c: contrastive_loss(t, c), buckets=1)
    g0 = grads(model)
    for buckets in (2, 3, 10, 50):
        model.zero_grad()
        loss1 = step_forward_backward(model, text, code, lambda t, c: contrastive_loss(t, c), buckets=buckets)
        assert abs(loss0.item() - loss1.item()) < 1e-5
        for a, b in zip(g0, grads(model)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_length_ordered_encoding_keeps_row_order_and_trims_each_group():
    model = tiny_encoder().eval()
    batch = random_batch(9, 16, 8)
    widths = []

    def recording(**b):
        widths.append(b["input_ids"].shape[1])
        return model(**b)

    with torch.no_grad():
        plain = model(**batch)
        ordered = encode_length_ordered(recording, batch, 3)
    torch.testing.assert_close(ordered, plain, rtol=1e-5, atol=1e-6)  # row i is still row i
    lengths = sorted(batch["attention_mask"].sum(1).tolist(), reverse=True)
    assert widths == [lengths[0], lengths[3], lengths[6]]  # each group padded only to its own longest row
    assert (length_order(batch) == torch.argsort(batch["attention_mask"].sum(1), descending=True, stable=True)).all()


def test_cached_path_sorts_chunks_by_length():
    # chunks are cut from length-sorted rows, and the loss still pairs row i with row i
    model = tiny_encoder()
    text, code = random_batch(8, 6, 9), random_batch(8, 20, 10)
    widths = []

    def recording(**b):
        widths.append(b["input_ids"].shape[1])
        return model(**b)

    model.zero_grad()
    loss0 = step_forward_backward(model, text, code, lambda t, c: contrastive_loss(t, c), buckets=1)
    g0 = grads(model)
    model.zero_grad()
    loss1 = step_forward_backward(recording, text, code, lambda t, c: contrastive_loss(t, c), chunk_size=3)
    assert abs(loss0.item() - loss1.item()) < 1e-5
    for a, b in zip(g0, grads(model)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    first_pass = widths[:len(widths) // 2]
    text_w, code_w = first_pass[:3], first_pass[3:]
    assert text_w == sorted(text_w, reverse=True) and code_w == sorted(code_w, reverse=True)
