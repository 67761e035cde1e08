"""Export a stage-2 encoder as a folder that loads with BOTH `transformers.AutoModel` (config +
safetensors + tokenizer at the root) and `sentence_transformers.SentenceTransformer` (modules.json:
Transformer at the root -> 1_Pooling with mean pooling -> 2_Normalize). No custom code: the backbone is
a native transformers architecture, so nothing needs `trust_remote_code`.

Invariant (tested): SentenceTransformer(folder).encode(x) == normalize(mean_pool(AutoModel(folder)(x)))
== trainer.encoder.encode(x) within float tolerance.
"""
from __future__ import annotations

import json
from pathlib import Path

MODULES = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
]


def export_encoder(backbone, tokenizer, out_dir: str | Path, *, max_seq_length: int = 256, extra: dict | None = None) -> Path:
    """Write the folder; `backbone` is the transformers model (Encoder.backbone), `extra` lands in
    codesage_stage2.json (training options, for provenance)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    hidden = int(backbone.config.hidden_size)
    (out / "modules.json").write_text(json.dumps(MODULES, indent=2) + "\n")
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": int(max_seq_length), "do_lower_case": False}, indent=2) + "\n")
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
    if extra is not None:
        (out / "codesage_stage2.json").write_text(json.dumps(extra, indent=2, default=str) + "\n")
    return out
