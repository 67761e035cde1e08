"""Encoder models for stage 1: native `transformers` ModernBERT built from a size preset, or any local folder.

Why ModernBERT (docs/trainer.md has the long form): it is a native transformers masked-LM
(`ModernBertForMaskedLM`, loads with AutoModel / AutoModelForMaskedLM / sentence-transformers without
remote code), pre-LayerNorm (stable at the paper's learning rates), rotary positions (position ids can
restart per packed document, no learned position table to outgrow), GeGLU FFN, no biases, SDPA / flash /
flex attention, and its forward accepts a ready per-layer-type attention-mask mapping, so block-diagonal
(per-document) attention for packed sequences is native and exact. Tied input/output embeddings.

Presets (`PRESETS`): the paper's dimensions (design.md section 6). `intermediate_size` is ModernBERT's
GLU width (the FFN "4096" of the paper's table). Every third layer is global attention and the others use
ModernBERT's local window (`local_attention`, default 128 tokens), the ModernBERT recipe; packing masks
respect both (trainer.packing.block_attention_mask).

`Stage1Model` wraps a masked-LM and returns the summed cross-entropy over masked positions and their
count, computing vocabulary logits only at masked positions (ModernBERT's sparse-prediction idea):

    loss_sum = sum_{i: labels_i != -100} -log softmax(W h_i)[labels_i]
"""
from __future__ import annotations

import os
from pathlib import Path

from trainer.errors import UserError
from trainer.masking import IGNORE_INDEX

PRESETS: dict[str, dict] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128, local_attention=64),
    "small": dict(num_hidden_layers=6, hidden_size=1024, num_attention_heads=8, intermediate_size=4096),
    "base": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=8, intermediate_size=4096),
    "large": dict(num_hidden_layers=24, hidden_size=2048, num_attention_heads=16, intermediate_size=8192),
}

VOCAB_MULTIPLE = 64  # embedding rows are padded to a multiple of 64 (faster matmuls)


def padded_vocab(n: int, multiple: int = VOCAB_MULTIPLE) -> int:
    return ((n + multiple - 1) // multiple) * multiple


def build_config(size: str, vocab_size: int, special: dict[str, int], seq_len: int = 1024, dropout: float = 0.1,
                 attn_implementation: str = "sdpa", overrides: dict | None = None):
    """ModernBertConfig of a preset for a tokenizer of `vocab_size` tokens with `special` ids;
    `overrides` replaces preset fields (e.g. {"num_hidden_layers": 4})."""
    from transformers import ModernBertConfig

    if size not in PRESETS:
        raise UserError(f"unknown --size {size!r}; choose one of {sorted(PRESETS)}")
    cfg = ModernBertConfig(
        vocab_size=padded_vocab(vocab_size),
        max_position_embeddings=max(seq_len, 512),
        pad_token_id=special["pad"],
        eos_token_id=special["eos"],
        bos_token_id=special["eos"],
        cls_token_id=special["eos"],
        sep_token_id=special["eos"],
        mask_token_id=special["mask"],
        attention_dropout=dropout,
        embedding_dropout=dropout,
        mlp_dropout=dropout,
        tie_word_embeddings=True,
        classifier_pooling="mean",
        **{**PRESETS[size], **(overrides or {})},
    )
    cfg._attn_implementation = attn_implementation
    return cfg


def build_model(size: str, vocab_size: int, special: dict[str, int], seq_len: int = 1024, dropout: float = 0.1,
                overrides: dict | None = None):
    """A freshly initialised ModernBertForMaskedLM of preset `size` (fp32)."""
    from transformers import ModernBertForMaskedLM

    cfg = build_config(size, vocab_size, special, seq_len, dropout, overrides=overrides)
    return ModernBertForMaskedLM(cfg)


def load_init(path: str | os.PathLike):
    """A masked-LM from a local folder (no remote code, no hub access)."""
    from transformers import AutoModelForMaskedLM

    p = Path(path)
    if not (p / "config.json").is_file():
        raise UserError(f"--init {p} is not a model folder (no config.json)")
    try:
        return AutoModelForMaskedLM.from_pretrained(str(p), trust_remote_code=False, local_files_only=True, attn_implementation="sdpa")
    except (ValueError, OSError, KeyError) as exc:
        raise UserError(f"cannot load a masked-LM from {p}: {exc}") from None


def check_vocab(model_config, tokenizer_size: int, special: dict[str, int]) -> None:
    """Tokenizer and model must agree: every token id has an embedding row, the embedding is at most
    padded to the next multiple of 128 beyond the tokenizer, and pad/mask ids match when the config sets them."""
    vocab = int(model_config.vocab_size)
    if tokenizer_size > vocab or vocab > padded_vocab(tokenizer_size, 128):
        raise UserError(
            f"tokenizer has {tokenizer_size} tokens but the model's vocabulary has {vocab}; "
            "use the tokenizer the model was trained with (its folder) or train from scratch with --size"
        )
    for key, attr in (("pad", "pad_token_id"), ("mask", "mask_token_id")):
        mid = getattr(model_config, attr, None)
        if mid is not None and mid != special[key]:
            raise UserError(f"tokenizer {key} id {special[key]} differs from the model's {attr} {mid}; use the model's own tokenizer")


def _attention_inputs(model, segment_ids, position_ids):
    """Per-layer-type block masks (ModernBERT) or one 4D block mask (other encoders)."""
    import torch

    from trainer.packing import block_attention_mask

    cfg = model.config
    full = block_attention_mask(segment_ids)
    if getattr(cfg, "model_type", "") == "modernbert":
        masks = {"full_attention": full}
        if "sliding_attention" in set(cfg.layer_types):
            masks["sliding_attention"] = block_attention_mask(segment_ids, window=cfg.sliding_window)
        return masks
    return full.to(torch.bool)


def encode(model, input_ids, segment_ids, position_ids):
    """Last hidden states (B, L, H) of the encoder under block attention."""
    base = model.base_model
    out = base(input_ids=input_ids, attention_mask=_attention_inputs(model, segment_ids, position_ids), position_ids=position_ids)
    return out.last_hidden_state


def mlm_logits_at(model, hidden):
    """Vocabulary logits for selected hidden states (N, H) -> (N, V)."""
    if getattr(model.config, "model_type", "") == "modernbert":
        return model.decoder(model.head(hidden))
    head = model.get_output_embeddings()
    # Generic encoders: run their full MLM head (transform + decoder) on the selected states.
    for name in ("cls", "lm_head"):
        if hasattr(model, name):
            return getattr(model, name)(hidden)
    return head(hidden)


def make_stage1_model(mlm):
    """Wrap a masked-LM into the module DeepSpeed trains (see `Stage1Model`)."""
    import torch

    class Stage1Model(torch.nn.Module):
        """forward(input_ids, labels, segment_ids, position_ids) -> (loss_sum, n_masked, n_correct)."""

        def __init__(self, mlm):
            super().__init__()
            self.mlm = mlm

        @property
        def config(self):
            return self.mlm.config

        def forward(self, input_ids, labels, segment_ids, position_ids):
            hidden = encode(self.mlm, input_ids, segment_ids, position_ids)
            sel = labels != IGNORE_INDEX
            targets = labels[sel]
            logits = mlm_logits_at(self.mlm, hidden[sel]).float()
            loss_sum = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
            n_correct = (logits.argmax(-1) == targets).sum()
            return loss_sum, sel.sum(), n_correct

    return Stage1Model(mlm)


def parse_overrides(text: str | None) -> dict:
    """"key=value,key=value" -> dict with int/float/bool/str values (for --model-overrides)."""
    out: dict = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise UserError(f"--model-overrides expects key=value pairs, got {item!r}")
        key, value = (x.strip() for x in item.split("=", 1))
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = {"true": True, "false": False}.get(value.lower(), value)
    return out
