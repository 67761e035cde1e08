"""`python -m trainer pretrain`: stage 1 (full-mask MLM + identifier deobfuscation) on DeepSpeed.

Runs unchanged as one CPU process, under `deepspeed --num_gpus/--num_nodes ...` and under `torchrun`
(trainer.runtime reads the launcher's environment). See trainer.pretrain for the loss and the loop,
trainer.data for sharding and exact resume, docs/trainer.md for examples. Exit code 0 when done, 2 on a
user error, 143 / 130 when SIGTERM / SIGINT stopped the run (after a checkpoint; rerun with --resume).
"""
from __future__ import annotations

import argparse

from trainer.cli import fraction, is_rank0, non_negative_float, non_negative_int, positive_int


def add_arguments(parser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--data", required=True, help="pipeline output folder (uses files/), a folder of shards or a .parquet file")
    g.add_argument("--tokenizer", required=True, help="tokenizer folder (python -m trainer tokenizer), a model folder's "
                   "tokenizer with --init, or 'minilm' (the packaged MiniLM's)")
    g.add_argument("--split", default="train", help="split to train on (default train)")
    g.add_argument("--seq-len", type=positive_int, default=1024, help="packed sequence length (default 1024)")
    g.add_argument("--data-streams", type=non_negative_int, default=0,
                   help="number of data streams S (multiple of ranks x workers; default ranks x workers). Fix it to make "
                        "the global batch independent of the number of ranks")
    g.add_argument("--num-workers", type=non_negative_int, default=0, help="dataloader worker processes per rank (default 0)")
    g.add_argument("--unit-rows", type=positive_int, default=512, help="rows per data unit (default 512)")
    g.add_argument("--shuffle-buffer", type=positive_int, default=4096, help="rows shuffled and packed together (default 4096)")
    g = parser.add_argument_group("objective")
    g.add_argument("--mask-rate", type=float, default=0.15, help="random-masking rate (default 0.15, every chosen token -> <mask>)")
    g.add_argument("--dobf-prob", type=float, default=0.5, help="probability a document uses deobfuscation instead of random masking (default 0.5)")
    g.add_argument("--dobf-name-prob", type=float, default=0.5, help="probability each distinct identifier name is obfuscated (default 0.5)")
    g.add_argument("--dobf-kinds", default="class,function,variable", help="identifier kinds eligible for deobfuscation "
                   "(default class,function,variable)")
    g = parser.add_argument_group("model")
    # --size, --dropout and --model-overrides describe a fresh model: default None, so that passing them
    # with --init (which keeps the folder's architecture and dropout) is refused instead of ignored
    g.add_argument("--size", default=None, choices=["tiny", "small", "base", "large"],
                   help="model preset when training from scratch (default tiny; not with --init)")
    g.add_argument("--init", default=None, help="initialise from a local masked-LM folder (or 'minilm', the packaged "
                   "MiniLM) instead of --size (its tokenizer folder as --tokenizer)")
    g.add_argument("--dropout", type=float, default=None, help="dropout of a fresh model (default 0.1; not with --init)")
    g.add_argument("--model-overrides", default=None, help="change ModernBertConfig fields of a fresh model, e.g. "
                   "num_hidden_layers=4,hidden_size=256 (unknown fields are refused; not with --init)")
    g = parser.add_argument_group("optimisation")
    g.add_argument("--max-steps", type=positive_int, default=1000, help="optimizer steps (default 1000)")
    g.add_argument("--batch-size", type=positive_int, default=8, help="packed sequences per micro-batch per rank (default 8)")
    g.add_argument("--grad-accum", type=positive_int, default=1, help="micro-batches per optimizer step (default 1)")
    g.add_argument("--lr", type=non_negative_float, default=3e-4, help="peak learning rate (default 3e-4)")
    g.add_argument("--warmup-steps", type=non_negative_int, default=100, help="linear warmup steps (default 100)")
    g.add_argument("--schedule", default="linear", choices=["linear", "cosine", "constant"], help="decay after warmup (default linear to 0)")
    g.add_argument("--min-lr-ratio", type=fraction, default=0.0, help="final lr as a fraction of the peak, 0 to 1 (default 0)")
    g.add_argument("--weight-decay", type=non_negative_float, default=0.01, help="AdamW weight decay (default 0.01)")
    g.add_argument("--grad-clip", "--gradient-clipping", dest="grad_clip", type=non_negative_float, default=1.0,
                   help="gradient norm clipping (default 1.0; 0 disables; --gradient-clipping as in contrastive)")
    g.add_argument("--deepspeed-config", default="zero1", help="DeepSpeed JSON (path or name in deploy/deepspeed/: zero0..zero3; "
                   "default zero1)")
    g.add_argument("--seed", type=int, default=0, help="seed of the data order, the corruption and the model (default 0)")
    g = parser.add_argument_group("run")
    g.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl)")
    g.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out (starts fresh when there is none yet) with the "
                        "run's data, model and optimisation settings (checked); without it --out must be new or empty")
    g.add_argument("--save-every", type=positive_int, default=500, help="checkpoint every N steps (default 500; always at the end)")
    g.add_argument("--keep-checkpoints", type=non_negative_int, default=2, help="complete checkpoints kept (default 2; 0 keeps all)")
    g.add_argument("--log-every", type=positive_int, default=10, help="log every N steps (default 10)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--threads", type=non_negative_int, default=0, help="torch intra-op threads per rank (default: torch's choice)")
    g.add_argument("--local_rank", "--local-rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the deepspeed launcher
    g.add_argument("--throttle", type=float, default=0.0, help=argparse.SUPPRESS)
    g.add_argument("--nan-at-step", type=int, default=-1, help=argparse.SUPPRESS)


def config_from_args(args):
    from trainer.modeling import parse_overrides
    from trainer.pretrain import PretrainConfig

    return PretrainConfig(
        data=args.data, tokenizer=args.tokenizer, out=args.out, size=args.size, init=args.init,
        max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum, seq_len=args.seq_len,
        deepspeed_config=args.deepspeed_config, resume=args.resume, lr=args.lr, warmup_steps=args.warmup_steps,
        schedule=args.schedule, min_lr_ratio=args.min_lr_ratio, weight_decay=args.weight_decay,
        grad_clip=args.grad_clip, dropout=args.dropout, model_overrides=parse_overrides(args.model_overrides), mask_rate=args.mask_rate, dobf_prob=args.dobf_prob,
        dobf_name_prob=args.dobf_name_prob, dobf_kinds=tuple(k.strip() for k in args.dobf_kinds.split(",") if k.strip()),
        split=args.split, seed=args.seed, data_streams=args.data_streams, num_workers=args.num_workers,
        unit_rows=args.unit_rows, shuffle_buffer=args.shuffle_buffer, save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints, log_every=args.log_every, progress=not args.no_progress,
        threads=args.threads, throttle=args.throttle, nan_at_step=args.nan_at_step,
    )


def run(args) -> int:
    from trainer.pretrain import run_pretrain

    from trainer.runtime import SIGNAL_EXIT_CODES

    summary = run_pretrain(config_from_args(args))
    if is_rank0():
        print("pretrain: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    # stopped by SIGTERM / SIGINT after saving a checkpoint: 143 / 130, so a scheduler sees an interrupted job
    return SIGNAL_EXIT_CODES.get(summary.get("stopped_by"), 0)
