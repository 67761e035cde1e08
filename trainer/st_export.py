"""Export a stage-2 encoder as a folder that loads with BOTH `transformers.AutoModel` (config +
safetensors + tokenizer at the root) and `sentence_transformers.SentenceTransformer` (modules.json:
Transformer at the root -> 1_Pooling with mean pooling -> 2_Normalize). No custom code: the backbone is
a native transformers architecture, so nothing needs `trust_remote_code`.

Document length rule (one number for every consumer): `doc_max_len(model)` = DOC_MAX_LEN (256) capped
at the positions the model can embed. It is the folder's `sentence_bert_config.json` `max_seq_length`
and the default length of `embed --max-len` and `evaluate --code-max-len`. The length the model was
TRAINED at (stage 2 `--code-max-len`, often shorter) is recorded for provenance only; it is not an
inference limit, because truncating code there would make SentenceTransformer's vectors differ from
`embed`'s for every longer snippet.

Invariant (tested): SentenceTransformer(folder).encode(x) == normalize(mean_pool(AutoModel(folder)(x)))
== trainer.encoder.encode(x, max_len=doc_max_len(model)) within float tolerance, also for texts
longer than the training length.
"""
from __future__ import annotations

import json
from pathlib import Path

DOC_MAX_LEN = 256

MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]


def position_limit(model) -> int | None:
    """Tokens `model` can embed: its learned position table's rows minus the RoBERTa-style padding
    offset (`modeling.position_limit`), else, for rotary models such as ModernBERT, the config's
    `max_position_embeddings`; None when neither states a limit."""
    from trainer.modeling import position_limit as table_limit

    limit = table_limit(model)
    if limit is None:
        limit = getattr(model.config, "max_position_embeddings", None)
    return limit if isinstance(limit, int) and limit > 0 else None


def doc_max_len(model) -> int:
    """The document length used by export, `embed` and `evaluate` by default: min(DOC_MAX_LEN, position limit)."""
    limit = position_limit(model)
    return DOC_MAX_LEN if limit is None else min(DOC_MAX_LEN, limit)


def export_encoder(backbone, tokenizer, out_dir: str | Path, *, train_max_len: int | None = None,
                   extra: dict | None = None) -> Path:
    """Write the folder; `backbone` is the transformers model (Encoder.backbone).

    The SentenceTransformer `max_seq_length` is always `doc_max_len(backbone)` (module docstring).
    `train_max_len` is the training code length, recorded
    in codesage_stage2.json under "export" together with the chosen length and its rule; `extra`
    (training options, for provenance) fills the rest of codesage_stage2.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    hidden = int(backbone.config.hidden_size)
    seq_len = doc_max_len(backbone)
    (out / "modules.json").write_text(json.dumps(MODULES, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": seq_len, "do_lower_case": False}, indent=2) + "\n")
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2) + "\n")
    (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "config_sentence_transformers.json").write_text(json.dumps({"similarity_fn_name": "cosine", "prompts": {}, "default_prompt_name": None}, indent=2) + "\n")
    provenance = dict(extra or {})
    provenance["export"] = {
        "max_seq_length": seq_len,
        "rule": f"min({DOC_MAX_LEN}, position limit {position_limit(backbone)}); the default of embed --max-len and evaluate --code-max-len",
        "train_max_len": None if train_max_len is None else int(train_max_len),
    }
    (out / "codesage_stage2.json").write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    return out
