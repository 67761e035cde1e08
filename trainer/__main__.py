"""Command-line entry point. Each command lives in its own module exposing
`add_arguments(parser)` and `run(args) -> int | None`; modules are imported only when their
command runs, so `--help` stays fast and a missing optional dependency only breaks its command.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from trainer.cli import Parser
from trainer.errors import UserError

COMMANDS = {
    "tokenizer": ("trainer.cmd_tokenizer", "train the byte-level BPE tokenizer on OUT/files"),
    "pretrain": ("trainer.cmd_pretrain", "stage 1: masked LM + identifier deobfuscation"),
    "export": ("trainer.cmd_export", "export a checkpoint as a Hugging Face model folder"),
    "contrastive": ("trainer.cmd_contrastive", "stage 2: bimodal contrastive learning on OUT/pairs"),
    "evaluate": ("trainer.cmd_evaluate", "CoSQA / held-out pair retrieval / code-to-code MAP, with baselines"),
    "embed": ("trainer.cmd_embed", "write a Parquet of embeddings for a pairs or files split"),
    "search": ("trainer.cmd_search", "top-k search of an embedding index"),
    "demo": ("trainer.cmd_demo", "end-to-end demo on the local Python standard library"),
}


def _drop_local_rank(argv: list[str]) -> list[str]:
    """The deepspeed launcher inserts `--local_rank=N` before the command; LOCAL_RANK is in the
    environment too, so the flag is dropped here."""
    out, skip = [], False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg.startswith(("--local_rank=", "--local-rank=")):
            continue
        if arg in ("--local_rank", "--local-rank") and i + 1 < len(argv) and argv[i + 1].isdigit():
            skip = True
            continue
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = _drop_local_rank(list(sys.argv[1:] if argv is None else argv))
    parser = argparse.ArgumentParser(prog="python -m trainer", description="CodeSage-style trainer: tokenizer, stage 1, stage 2, export, evaluation, embedding, search")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.print_help()
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    cmd_parser = Parser(prog=f"python -m trainer {name}", description=COMMANDS[name][1])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
