"""`python -m trainer export --checkpoint RUN_OR_CKPT --out MODEL`: Hugging Face folder from a checkpoint.

The folder loads with `AutoModel.from_pretrained` / `AutoModelForMaskedLM.from_pretrained` (no remote
code) and contains the tokenizer; see trainer.export for ZeRO consolidation and tied weights.
"""
from __future__ import annotations


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="run folder of `pretrain` (newest checkpoint) or one checkpoint folder, "
                        "RUN/checkpoints/step-NNNNNNNN (the step zero-padded to 8 digits)")
    parser.add_argument("--out", required=True, help="output model folder (must be new or empty)")
    parser.add_argument("--config", default=None, help="model config folder (default RUN/model)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default RUN/tokenizer)")


def run(args) -> int:
    from trainer.export import export_checkpoint

    summary = export_checkpoint(args.checkpoint, args.out, config_dir=args.config, tokenizer_dir=args.tokenizer)
    print(f"export: step {summary['step']}, {summary['parameters']} parameters, tied={summary['tied_embeddings']} -> {args.out}")
    return 0
