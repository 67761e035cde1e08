"""Encoder models for stage 1: native `transformers` ModernBERT built from a size preset, or any local folder.

Why ModernBERT (docs/trainer.md has the long form): it is a native transformers masked-LM
(`ModernBertForMaskedLM`, loads with AutoModel / AutoModelForMaskedLM / sentence-transformers without
remote code), pre-LayerNorm (stable at the paper's learning rates), rotary positions (position ids can
restart per packed document, no learned position table to outgrow), GeGLU FFN, no biases, SDPA / flash /
flex attention, and its forward accepts a ready per-layer-type attention-mask mapping, so block-diagonal
(per-document) attention for packed sequences is native and exact. Tied input/output embeddings.

Presets (`PRESETS`): the paper's dimensions (design.md section 6). ModernBERT's GLU FFN of width i has
3*h*i weights where the paper's plain FFN of width F has 2*h*F, so `intermediate_size` is 2F/3 rounded to
a multiple of 64 (4096 -> 2752, 8192 -> 5504, as LLaMA sizes its SwiGLU): the presets then have the
paper's parameter counts (small 127M vs 130M, base 355M vs 356M, large 1.32B vs 1.3B with a 49,154-token
vocabulary; `tests/test_trainer_model.py`) and FLOPs per token. Every third layer is global attention and the others use
ModernBERT's local window (`local_attention`, default 128 tokens), the ModernBERT recipe; packing masks
respect both (trainer.packing.block_attention_mask).

Other encoders (`--init`: BERT, RoBERTa, ...) get one 4D block mask and per-piece positions plus their
table's offset (`position_offset`: RoBERTa-style tables start at padding_idx + 1); `check_seq_len` refuses
a --seq-len their learned position table cannot cover. `check_overrides` validates --model-overrides
against ModernBertConfig's fields.

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
    "small": dict(num_hidden_layers=6, hidden_size=1024, num_attention_heads=8, intermediate_size=2752),
    "base": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=8, intermediate_size=2752),
    "large": dict(num_hidden_layers=24, hidden_size=2048, num_attention_heads=16, intermediate_size=5504),
}

VOCAB_MULTIPLE = 64  # embedding rows are padded to a multiple of 64 (faster matmuls)


def padded_vocab(n: int, multiple: int = VOCAB_MULTIPLE) -> int:
    return ((n + multiple - 1) // multiple) * multiple


# Config fields the trainer sets itself, with the flag (or source) that decides them: --model-overrides
# may not set them.
RESERVED_FIELDS = {
    "vocab_size": "the tokenizer", "pad_token_id": "the tokenizer", "eos_token_id": "the tokenizer",
    "bos_token_id": "the tokenizer", "cls_token_id": "the tokenizer", "sep_token_id": "the tokenizer",
    "mask_token_id": "the tokenizer", "max_position_embeddings": "--seq-len", "attention_dropout": "--dropout",
    "embedding_dropout": "--dropout", "mlp_dropout": "--dropout", "tie_word_embeddings": "the trainer (tied embeddings)",
    "classifier_pooling": "the trainer (mean pooling)",
    "dtype": "the DeepSpeed config and the device (training runs in fp32 on CPU, bf16 where configured)",
    "torch_dtype": "the DeepSpeed config and the device (training runs in fp32 on CPU, bf16 where configured)",
}


def check_overrides(overrides: dict | None) -> dict:
    """--model-overrides validated against ModernBertConfig: every key must be a field of the config
    (an unknown key raises UserError listing close matches) that the trainer does not set itself
    (`RESERVED_FIELDS`), with a value of the field's type (an int is accepted for a float field and
    converted). Returns the overrides with converted values."""
    import difflib

    from transformers import ModernBertConfig

    defaults = ModernBertConfig().to_dict()
    out = {}
    for key, value in (overrides or {}).items():
        if key in RESERVED_FIELDS:
            raise UserError(f"--model-overrides cannot set {key}: {RESERVED_FIELDS[key]} decides it")
        if key not in defaults or key.startswith("_"):
            close = difflib.get_close_matches(key, [k for k in defaults if not k.startswith("_")], n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else "; see transformers.ModernBertConfig for the fields"
            raise UserError(f"--model-overrides: ModernBertConfig has no field {key!r}{hint}")
        default = defaults[key]
        if isinstance(default, bool) or isinstance(value, bool):
            ok = isinstance(default, bool) and isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float))
            value = float(value) if ok else value
        elif isinstance(default, int):
            ok = isinstance(value, int)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:  # None, lists, dicts: passed as given, checked by the config and the model
            ok = True
        if not ok:
            raise UserError(f"--model-overrides {key}={value!r}: expected a value like {default!r} ({type(default).__name__})")
        out[key] = value
    return out


def build_config(size: str, vocab_size: int, special: dict[str, int], seq_len: int = 1024, dropout: float = 0.1,
                 attn_implementation: str = "sdpa", overrides: dict | None = None):
    """ModernBertConfig of a preset for a tokenizer of `vocab_size` tokens with `special` ids;
    `overrides` replaces preset fields (e.g. {"num_hidden_layers": 4}), validated by `check_overrides`.
    A configuration transformers refuses (e.g. a hidden size that is not a multiple of the heads, checked
    here up front) raises UserError."""
    from transformers import ModernBertConfig

    if size not in PRESETS:
        raise UserError(f"unknown --size {size!r}; choose one of {sorted(PRESETS)}")
    fields = {**PRESETS[size], **check_overrides(overrides)}
    hidden, heads = fields.get("hidden_size"), fields.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and (heads < 1 or hidden < 1 or hidden % heads):
        raise UserError(f"hidden_size {hidden} must be a positive multiple of num_attention_heads {heads} (--size {size} "
                        "with --model-overrides)")
    try:
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
            **fields,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"invalid model configuration (--size {size}, --model-overrides): {_one_line(exc)}") from None
    cfg._attn_implementation = attn_implementation
    return cfg


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def build_model(size: str, vocab_size: int, special: dict[str, int], seq_len: int = 1024, dropout: float = 0.1,
                overrides: dict | None = None, device=None):
    """A freshly initialised ModernBertForMaskedLM of preset `size` (fp32). `device="meta"` builds the
    module structure without weights (a cheap check that the configuration builds). Configuration
    errors raise UserError (one line)."""
    import torch
    from transformers import ModernBertForMaskedLM

    cfg = build_config(size, vocab_size, special, seq_len, dropout, overrides=overrides)
    try:
        if device is None:
            return ModernBertForMaskedLM(cfg)
        with torch.device(device):
            return ModernBertForMaskedLM(cfg)
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise UserError(f"cannot build a --size {size} model with --model-overrides {overrides or {}}: {_one_line(exc)}") from None


def _refuse_run_folder(path: Path) -> None:
    """A run folder given as --init: one line naming the model folder to pass instead (a stage-1 run
    continues with --resume, or starts another run from its export)."""
    from trainer.runfolder import model_folder_hint

    hint = model_folder_hint(path)
    if hint:
        raise UserError(f"--init {hint}")


def load_init_config(path: str | os.PathLike):
    """The config of a local --init model folder (no weights loaded)."""
    from transformers import AutoConfig

    p = Path(path)
    _refuse_run_folder(p)
    if not (p / "config.json").is_file():
        raise UserError(f"--init {p} is not a model folder (no config.json)")
    try:
        return AutoConfig.from_pretrained(str(p), trust_remote_code=False, local_files_only=True)
    except (ValueError, OSError, KeyError) as exc:
        raise UserError(f"cannot read the model config in {p}: {_one_line(exc)}") from None


def init_skeleton(config):
    """The masked-LM of `config` built on the meta device (structure only, no memory, no weights): lets
    `position_limit` inspect an --init model before it is loaded."""
    import torch
    from transformers import AutoModelForMaskedLM

    try:
        with torch.device("meta"):
            return AutoModelForMaskedLM.from_config(config, trust_remote_code=False)
    except (ValueError, TypeError, KeyError, RuntimeError, OSError) as exc:
        raise UserError(f"the --init model ({getattr(config, 'model_type', '?')}) has no masked-LM class in transformers: "
                        f"{_one_line(exc)}") from None


def _position_table(model):
    import torch

    embeddings = getattr(model.base_model, "embeddings", None)
    table = getattr(embeddings, "position_embeddings", None)
    return table if isinstance(table, torch.nn.Embedding) else None


def position_offset(model) -> int:
    """What the model adds to a token's position before looking up its learned position embedding:
    padding_idx + 1 when the position table has a padding row (RoBERTa-style: positions start at
    pad_token_id + 1), else 0 (BERT-style tables, rotary models)."""
    table = _position_table(model)
    if table is None or table.padding_idx is None:
        return 0
    return int(table.padding_idx) + 1


def position_limit(model) -> int | None:
    """The longest sequence the model's learned position table covers (its rows minus
    `position_offset`), or None when positions are not a learned table (rotary: ModernBERT)."""
    table = _position_table(model)
    if table is None:
        return None
    return int(table.num_embeddings) - position_offset(model)


def check_seq_len(model, seq_len: int) -> None:
    """UserError when packed sequences of `seq_len` tokens (positions 0 .. seq_len-1, plus the
    model's `position_offset`) do not fit the model's learned position table."""
    limit = position_limit(model)
    if limit is not None and seq_len > limit:
        raise UserError(f"--seq-len {seq_len} exceeds the {limit} positions of the --init model "
                        f"({getattr(model.config, 'model_type', '?')}); use --seq-len {limit} or less")


def load_init(path: str | os.PathLike):
    """A masked-LM from a local folder (no remote code, no hub access)."""
    from transformers import AutoModelForMaskedLM

    p = Path(path)
    _refuse_run_folder(p)
    if not (p / "config.json").is_file():
        raise UserError(f"--init {p} is not a model folder (no config.json)")
    try:
        return AutoModelForMaskedLM.from_pretrained(str(p), trust_remote_code=False, local_files_only=True, attn_implementation="sdpa")
    except (ValueError, OSError, KeyError) as exc:
        raise UserError(f"cannot load a masked-LM from {p}: {_one_line(exc)}") from None


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
    """Last hidden states (B, L, H) of the encoder under block attention. `position_ids` count from 0
    in every packed piece; the model's `position_offset` is added (RoBERTa-style tables)."""
    base = model.base_model
    offset = position_offset(model)
    if offset:
        position_ids = position_ids + offset
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
