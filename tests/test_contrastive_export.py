"""The stage-2 export loads in AutoModel and SentenceTransformer and both give our embeddings."""
from __future__ import annotations

import numpy as np
import torch
from transformers import AutoModel, BertConfig, BertModel

from trainer.encoder import Encoder, encode, load_encoder, load_tokenizer, packaged_minilm_dir, mean_pool
from trainer.st_export import export_encoder


def test_export_loads_in_automodel_and_sentence_transformers(tmp_path):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    tok = load_tokenizer(packaged_minilm_dir())
    backbone = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64))
    out = export_encoder(backbone, tok, tmp_path / "model", train_max_len=64, extra={"run": "test"})
    texts = ["sort a list in place", "def add(a, b):\n    total = a + b", "x"]
    ours = encode(Encoder(backbone), tok, texts, max_len=64)

    auto = AutoModel.from_pretrained(str(out)).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        pooled = mean_pool(auto(**batch).last_hidden_state, batch["attention_mask"])
    via_auto = torch.nn.functional.normalize(pooled, dim=-1).numpy()

    st = SentenceTransformer(str(out), device="cpu", trust_remote_code=False)
    via_st = st.encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(via_auto, ours, atol=1e-5)
    np.testing.assert_allclose(via_st, ours, atol=1e-5)
    assert np.allclose(np.linalg.norm(via_st, axis=1), 1.0, atol=1e-5)

    reloaded, _, _ = load_encoder(out)
    np.testing.assert_allclose(encode(reloaded, tok, texts, max_len=64), ours, atol=1e-5)
