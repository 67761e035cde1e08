"""`python -m trainer contrastive`: stage 2 (see trainer/contrastive.py and docs/stage2.md)."""
from __future__ import annotations

import argparse

from trainer.cli import is_rank0, non_negative_float, non_negative_int, positive_float, positive_int
from trainer.contrastive import ContrastiveConfig, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = ContrastiveConfig(data="", init="", out="")
    p.add_argument("--data", required=True, help="the pipeline's OUT/pairs folder (or OUT)")
    p.add_argument("--init", required=True, help="model folder to start from: a stage-1 export, any local HF/sentence-transformers folder, or 'minilm'")
    p.add_argument("--out", required=True, help="run folder: metrics.jsonl, checkpoints/, model/ (final export)")
    p.add_argument("--split", default=d.split, help="split of the pairs to train on")
    p.add_argument("--languages", type=lambda s: [x.strip() for x in s.split(",") if x.strip()], default=d.languages,
                   help="comma-separated language keys to train on (default: all), e.g. python")
    p.add_argument("--text-column", default=d.text_column, choices=["summary", "docstring"],
                   help="text side of each pair: the docstring's summary or the whole docstring")
    p.add_argument("--code-column", default=d.code_column, choices=["code_hard", "code"],
                   help="code_hard = the paper's hard positive (body without signature and returns)")
    # a plain float: contrastive.validate refuses values outside [0, 1] (one line, exit 2) for every caller
    p.add_argument("--name-queries", type=float, default=d.name_queries, metavar="FRACTION",
                   help="replace this fraction of the texts by a search-style query made from the function's name "
                        "(CodeSearchNet's trick; use with --code-column code_hard, where the name is not in the code). Default 0")
    p.add_argument("--name-query-docs", action=argparse.BooleanOptionalAction, default=d.name_query_docs,
                   help="for the name-query rows, put the function's docstring (as a doc comment) before the code, as code-search "
                        "indexes hold snippets; summary rows never get it")
    p.add_argument("--text-max-len", type=positive_int, default=d.text_max_len, help="tokens kept per text")
    p.add_argument("--code-max-len", type=positive_int, default=d.code_max_len, help="tokens kept per code")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="pairs per rank per step (negatives: 2N-2 over all ranks)")
    p.add_argument("--max-steps", type=positive_int, default=d.max_steps, help="optimizer steps (the length of the lr schedule)")
    p.add_argument("--max-minutes", type=non_negative_float, default=d.max_minutes,
                   help="stop after this wall time (0 = no limit); the schedule still spans --max-steps")
    p.add_argument("--lr", type=non_negative_float, default=d.lr, help="peak learning rate (paper: 5e-6)")
    p.add_argument("--warmup", type=non_negative_int, default=d.warmup, help="linear warmup steps (paper: 500)")
    p.add_argument("--weight-decay", type=non_negative_float, default=d.weight_decay, help="AdamW weight decay (matrices only)")
    p.add_argument("--temperature", type=positive_float, default=d.temperature,
                   help="softmax temperature tau of the InfoNCE loss (above 0; paper: 0.05)")
    p.add_argument("--hard-negatives", action=argparse.BooleanOptionalAction, default=d.hard_negatives,
                   help="the paper's gamma weights on the 2N-2 negatives (off = plain InfoNCE)")
    p.add_argument("--gamma-scale", choices=["unit", "2n-2"], default=d.gamma_scale,
                   help="2n-2 (default): weights with mean 1, uniform weights = InfoNCE; unit: gamma sums to 1 as printed in the paper")
    p.add_argument("--detach-gamma", action=argparse.BooleanOptionalAction, default=d.detach_gamma,
                   help="treat the weights as constants in backward (default: yes)")
    p.add_argument("--negatives", choices=["all", "cross"], default=d.negatives,
                   help="all (default, the paper): the 2N-2 other texts and codes; cross: only the other modality's N-1 "
                        "(CLIP's symmetric loss: texts never repel texts)")
    p.add_argument("--hn-form", choices=["paper", "robinson"], default=d.hn_form,
                   help="hard-negative weights: paper (softmax of s/tau) or robinson (softmax of beta s/tau)")
    p.add_argument("--beta", type=non_negative_float, default=d.beta,
                   help="concentration of Robinson's form (weights ~ exp(beta s / tau); 0 or more, 0 = uniform weights)")
    p.add_argument("--length-buckets", type=positive_int, default=d.length_buckets,
                   help="direct path: sort each side of a batch by length and encode it as this many groups, each padded "
                        "only to its own longest row (same loss, less padding; 1 = one group)")
    p.add_argument("--grad-cache-chunk", type=non_negative_int, default=d.grad_cache_chunk, help="GradCache chunk size (0 = direct, no caching)")
    p.add_argument("--matryoshka-dims", type=lambda s: [positive_int(x) for x in s.split(",") if x], default=d.matryoshka_dims,
                   help="comma-separated nested embedding sizes, e.g. 64,128,256 (the full size is always included; default: none, the full size only)")
    p.add_argument("--deepspeed-config", default=d.deepspeed_config, help="a JSON file or a name in deploy/deepspeed (zero1, zero2, zero3)")
    p.add_argument("--gradient-clipping", "--grad-clip", dest="gradient_clipping", type=non_negative_float, default=d.gradient_clipping,
                   help="gradient norm clipping (default %(default)s; 0 disables; --grad-clip as in pretrain)")
    p.add_argument("--save-every", type=non_negative_int, default=d.save_every,
                   help="checkpoint every N steps and at the end (also when stopped by --max-minutes or SIGTERM), so --resume "
                        "continues an interrupted run exactly (default %(default)s, as in pretrain; 0: no checkpoints at all, "
                        "and --resume then restarts the run from step 0)")
    p.add_argument("--keep-checkpoints", type=non_negative_int, default=d.keep_checkpoints,
                   help="complete checkpoints kept (default %(default)s; 0 keeps all), as in pretrain")
    p.add_argument("--threads", type=non_negative_int, default=d.threads,
                   help="torch intra-op threads per rank (default: torch's choice), as in pretrain")
    p.add_argument("--log-every", type=positive_int, default=d.log_every, help="log every N steps")
    p.add_argument("--seed", type=non_negative_int, default=d.seed, help="seed of the data order, the name queries and the model's randomness")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out (starts fresh when there is "
                        "none yet, e.g. with --save-every 0) with the run's data, model and optimisation settings (checked); "
                        "without it --out must be new or empty")
    p.add_argument("--no-export", dest="export", action="store_false", help="do not write the final model to OUT/model")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--local_rank", type=int, default=None, help=argparse.SUPPRESS)  # set by the deepspeed launcher


def config_from_args(args: argparse.Namespace) -> ContrastiveConfig:
    """The config of parsed `add_arguments` flags (other attributes of `args` are ignored)."""
    fields = ContrastiveConfig.__dataclass_fields__
    return ContrastiveConfig(**{k: v for k, v in vars(args).items() if k in fields})


def run(args) -> int:
    from trainer.runtime import SIGNAL_EXIT_CODES

    cfg = config_from_args(args)
    summary = train(cfg)
    code = SIGNAL_EXIT_CODES.get(summary.get("stopped_by"), 0)  # 143 / 130: stopped by SIGTERM / SIGINT
    if not is_rank0():  # every rank returns a summary; rank 0 speaks for the run
        return code
    loss, rate = summary.get("final_loss"), summary.get("pairs_per_s")
    loss_text = f"final loss {loss:.4f}" if isinstance(loss, (int, float)) else "final loss n/a"
    rate_text = f", {rate:.1f} pairs/s" if isinstance(rate, (int, float)) else ""
    status = f"stopped by {summary['stopped_by']}" if summary.get("stopped_by") else "done"
    print(f"stage 2 {status}: {summary['steps']} steps, {loss_text}{rate_text} -> {cfg.out}")
    return code
