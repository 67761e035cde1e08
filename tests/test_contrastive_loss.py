"""The stage-2 loss against a naive per-anchor loop written straight from the paper's formula."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import contrastive_loss, matryoshka_loss


def naive_loss(text, code, tau=0.05, hard=True, scale="2n-2", detach=True, form="paper", beta=1.0, anchors=None,
               negatives="all"):
    n = text.shape[0]
    z = [F.normalize(v, dim=0) for v in torch.cat([text, code]).double()]
    start, stop = anchors or (0, n)
    total = 0.0
    for a in list(range(start, stop)) + list(range(start + n, stop + n)):
        p = (a + n) % (2 * n)
        if negatives == "all":
            negs = [k for k in range(2 * n) if k not in (a, p)]
        else:  # the other modality only
            negs = [k for k in range(2 * n) if k != p and (k >= n) != (a >= n)]
        assert len(negs) == (2 * n - 2 if negatives == "all" else n - 1)
        pos = torch.exp(torch.dot(z[a], z[p]) / tau)
        terms = [torch.exp(torch.dot(z[a], z[k]) / tau) for k in negs]
        if hard:
            sharp = beta if form == "robinson" else 1.0
            raw = [torch.exp(sharp * torch.dot(z[a], z[k]) / tau) for k in negs]
            norm = sum(raw)
            c = len(negs) if (form == "robinson" or scale == "2n-2") else 1.0
            weights = [c * r / norm for r in raw]
            if detach:
                weights = [w.detach() for w in weights]
        else:
            weights = [1.0] * len(negs)
        denom = pos + sum(w * t for w, t in zip(weights, terms))
        total = total - torch.log(pos / denom)
    return total / (stop - start)


CASES = [
    dict(hard=False),
    dict(hard=True, scale="2n-2", detach=True),
    dict(hard=True, scale="unit", detach=True),
    dict(hard=True, scale="2n-2", detach=False),
    dict(hard=True, scale="unit", detach=False),
    dict(hard=True, form="robinson", beta=0.5, detach=True),
    dict(hard=True, form="robinson", beta=2.0, detach=False),
    dict(hard=True, anchors=(1, 4)),
    dict(hard=False, negatives="cross"),
    dict(hard=True, negatives="cross", scale="2n-2", detach=True),
    dict(hard=True, negatives="cross", scale="unit", detach=False),
    dict(hard=True, negatives="cross", form="robinson", beta=2.0, anchors=(1, 4)),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_naive_loop_values_and_gradients(case):
    torch.manual_seed(0)
    n, d = 6, 8
    text = torch.randn(n, d, dtype=torch.float64)
    code = (text + 0.7 * torch.randn(n, d, dtype=torch.float64))
    t1, c1 = text.clone().requires_grad_(), code.clone().requires_grad_()
    t2, c2 = text.clone().requires_grad_(), code.clone().requires_grad_()
    kwargs = dict(
        hard_negatives=case.get("hard", True), gamma_scale=case.get("scale", "2n-2"),
        detach_gamma=case.get("detach", True), hn_form=case.get("form", "paper"), beta=case.get("beta", 1.0),
        anchors=case.get("anchors"), negatives=case.get("negatives", "all"),
    )
    ours = contrastive_loss(t1.float(), c1.float(), **kwargs)
    ref = naive_loss(t2, c2, **case)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-4, abs=1e-4)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(t1.grad, t2.grad, rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(c1.grad, c2.grad, rtol=1e-3, atol=1e-5)


def test_detach_changes_gradient_but_not_value():
    torch.manual_seed(1)
    text, code = torch.randn(5, 4), torch.randn(5, 4)
    grads = []
    values = []
    for detach in (True, False):
        t = text.clone().requires_grad_()
        loss = contrastive_loss(t, code, detach_gamma=detach)
        loss.backward()
        values.append(loss.item())
        grads.append(t.grad)
    assert values[0] == pytest.approx(values[1])
    assert not torch.allclose(grads[0], grads[1])


def test_uniform_similarities_give_log_of_candidates():
    # all embeddings identical: every logit equal, so L_a = log(2N-1) per anchor (2N-2 negatives + positive)
    n = 4
    text = torch.ones(n, 3)
    loss = contrastive_loss(text, text.clone(), hard_negatives=False)
    assert loss.item() == pytest.approx(2 * math.log(2 * n - 1), rel=1e-5)
    # with unit-scaled gamma the negatives' mass is their mean: L_a = log 2
    loss = contrastive_loss(text, text.clone(), hard_negatives=True, gamma_scale="unit")
    assert loss.item() == pytest.approx(2 * math.log(2), rel=1e-5)


def test_matryoshka_is_mean_over_prefixes():
    torch.manual_seed(2)
    text, code = torch.randn(4, 8), torch.randn(4, 8)
    expected = (contrastive_loss(text[:, :2], code[:, :2]) + contrastive_loss(text[:, :4], code[:, :4]) + contrastive_loss(text, code)) / 3
    assert matryoshka_loss(text, code, [2, 4]).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError):
        contrastive_loss(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError):
        contrastive_loss(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError):
        contrastive_loss(torch.randn(3, 4), torch.randn(3, 4), gamma_scale="half")
