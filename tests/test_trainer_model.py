"""Model: block attention confines each packed document; packed masks agree with HF's own masks; vocab checks."""
from __future__ import annotations

import pytest
import torch

from trainer.errors import UserError
from trainer.modeling import build_config, build_model, check_vocab, encode, make_stage1_model
from trainer.packing import build_sequence

SPECIAL = {"pad": 0, "eos": 1, "mask": 2}


def _model(local_attention=8, layers=3):
    torch.manual_seed(0)
    model = build_model("tiny", 100, SPECIAL, seq_len=64, dropout=0.0)
    cfg = model.config
    if layers != cfg.num_hidden_layers or local_attention != cfg.local_attention:
        from transformers import ModernBertForMaskedLM

        cfg = build_config("tiny", 100, SPECIAL, seq_len=64, dropout=0.0)
        cfg.num_hidden_layers = layers
        cfg.layer_types = ["full_attention" if i % 3 == 0 else "sliding_attention" for i in range(layers)]
        cfg.local_attention = local_attention
        torch.manual_seed(0)
        model = ModernBertForMaskedLM(cfg)
    return model.eval()


def _packed(docs, seq_len=48):
    import numpy as np

    pieces = [(np.array(d), np.full(len(d), -100)) for d in docs]
    seq = build_sequence(pieces, seq_len, 0)
    return {k: torch.from_numpy(v)[None] for k, v in seq.items()}


def test_perturbing_one_document_leaves_the_others_unchanged():
    model = _model()
    g = torch.Generator().manual_seed(1)
    docs = [torch.randint(3, 100, (n,), generator=g).tolist() for n in (20, 12, 9)]
    base = _packed(docs)
    changed_docs = [docs[0], [(t * 7) % 97 + 3 for t in docs[1]], docs[2]]
    other = _packed(changed_docs)
    with torch.no_grad():
        h1 = encode(model, base["input_ids"], base["segment_ids"], base["position_ids"])
        h2 = encode(model, other["input_ids"], other["segment_ids"], other["position_ids"])
    seg = base["segment_ids"][0]
    for s in (0, 2):
        assert torch.allclose(h1[0, seg == s], h2[0, seg == s], atol=1e-5)
    assert not torch.allclose(h1[0, seg == 1], h2[0, seg == 1], atol=1e-3)
    # Each document equals that document encoded alone (positions restart per document).
    for s, d in enumerate(docs):
        alone = _packed([d], seq_len=len(d))
        with torch.no_grad():
            h = encode(model, alone["input_ids"], alone["segment_ids"], alone["position_ids"])
        assert torch.allclose(h1[0, seg == s], h[0], atol=1e-5)


def test_block_masks_match_hf_masks_for_a_single_document():
    """With one unpadded document, our per-layer-type masks (global + sliding window) must reproduce
    HF's own mask construction exactly (checks the window convention)."""
    model = _model(local_attention=8, layers=3)
    ids = torch.randint(3, 100, (2, 40), generator=torch.Generator().manual_seed(2))
    seg = torch.zeros_like(ids)
    pos = torch.arange(40)[None].expand(2, -1)
    with torch.no_grad():
        ours = encode(model, ids, seg, pos)
        theirs = model.model(input_ids=ids).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_stage1_loss_counts_only_masked_positions():
    model = make_stage1_model(_model())
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(3, 100, (2, 16), generator=g)
    labels = torch.full_like(ids, -100)
    labels[0, 3] = ids[0, 3]
    labels[1, 7] = ids[1, 7]
    inputs = ids.clone()
    inputs[labels != -100] = 2
    seg = torch.zeros_like(ids)
    pos = torch.arange(16)[None].expand(2, -1)
    with torch.no_grad():
        loss_sum, n, _ = model(inputs, labels, seg, pos)
        logits = model.mlm(input_ids=inputs).logits
    ref = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), reduction="sum")
    assert int(n) == 2 and torch.allclose(loss_sum, ref, atol=1e-4)


def test_vocab_mismatch_is_a_user_error():
    cfg = build_config("tiny", 100, SPECIAL)
    check_vocab(cfg, 100, SPECIAL)
    with pytest.raises(UserError, match="tokenizer has 500 tokens"):
        check_vocab(cfg, 500, SPECIAL)
    with pytest.raises(UserError, match="tokenizer has 10 tokens"):
        check_vocab(build_config("tiny", 5000, SPECIAL), 10, SPECIAL)
    with pytest.raises(UserError, match="mask id"):
        check_vocab(cfg, 100, {**SPECIAL, "mask": 3})


def test_other_encoders_get_block_attention_too():
    """--init with a BERT-style folder: the loop passes a 4D block mask and absolute per-piece positions."""
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(cfg).eval()
    docs = [list(range(3, 23)), list(range(30, 42))]
    a, b = _packed(docs, 40), _packed([docs[0], [7] * 12], 40)
    alone = _packed([docs[0]], 20)
    with torch.no_grad():
        h1 = encode(model, a["input_ids"], a["segment_ids"], a["position_ids"])
        h2 = encode(model, b["input_ids"], b["segment_ids"], b["position_ids"])
        h3 = encode(model, alone["input_ids"], alone["segment_ids"], alone["position_ids"])
    assert torch.allclose(h1[0, :20], h2[0, :20], atol=1e-5)
    assert torch.allclose(h1[0, :20], h3[0], atol=1e-5)
    labels = a["input_ids"].clone()
    labels[:, 5:] = -100
    loss_sum, n, _ = make_stage1_model(model)(a["input_ids"], labels, a["segment_ids"], a["position_ids"])
    assert int(n) == 5 and torch.isfinite(loss_sum)


@pytest.mark.parametrize("size,paper_millions", [("small", 130), ("base", 356), ("large", 1300)])
def test_presets_have_the_papers_parameter_counts(size, paper_millions):
    """design.md section 6's sizes: GLU FFNs at 2/3 of the paper's plain FFN width keep its counts
    (StarCoder's 49,152 tokens plus mask and pad; built on the meta device, no memory)."""
    model = build_model(size, 49152 + 2, {"pad": 0, "mask": 1, "eos": 2}, device="meta")
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - paper_millions) / paper_millions < 0.03, millions
