"""`python -m trainer tokenizer --data OUT/files --vocab-size N --out TOK`: train the byte-level BPE.

Streams `content` from the shards' `--split` (default train; `all` for every row) batch by batch into
`tokenizers`' BPE trainer; writes a Hugging Face fast-tokenizer folder (see trainer.tokenization) plus
training_info.json and a one-line metrics.jsonl (documents, characters, vocabulary size, seconds; `loss`
is null: BPE training has none, the key is kept so every command's metrics.jsonl has the same shape).
A split whose documents are all empty is an error (nothing to learn); a vocabulary smaller than
--vocab-size (too little data for that many merges) is a `warning:` line on stderr.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from trainer.cli import positive_int
from trainer.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--data", required=True, help="pipeline output folder, its files/ folder, or a .parquet file")
    parser.add_argument("--vocab-size", type=int, default=49152, help="vocabulary size including bytes and special tokens (default 49152, StarCoder's)")
    parser.add_argument("--out", required=True, help="output folder (Hugging Face tokenizer)")
    parser.add_argument("--split", default="train", help="split to train on: train, valid, test or all (default train)")
    parser.add_argument("--min-frequency", type=positive_int, default=2, help="minimum pair frequency for a merge (default 2)")
    parser.add_argument("--max-docs", type=positive_int, default=None, help="stop after this many documents (default: all)")
    parser.add_argument("--max-chars", type=positive_int, default=100_000, help="characters read per document (default 100000; caps huge generated files)")
    parser.add_argument("--model-max-length", type=positive_int, default=1024, help="model_max_length written to tokenizer_config.json")


def run(args) -> int:
    from trainer.data import find_shards
    from trainer.metrics import MetricsLogger
    from trainer.tokenization import (SPECIAL_TOKENS, iter_contents, save_tokenizer, tokenizer_vocab_size,
                                      train_tokenizer, write_training_info)

    if args.vocab_size < 256 + len(SPECIAL_TOKENS) + 1:
        raise UserError(f"--vocab-size must be at least {256 + len(SPECIAL_TOKENS) + 1} (256 bytes + special tokens)")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"output folder {out} is not empty; choose a new --out")
    shards = find_shards(args.data)
    split = None if args.split == "all" else args.split
    stats = {"docs": 0, "chars": 0}

    def texts():
        for text in iter_contents(shards, split, max_docs=args.max_docs, max_chars=args.max_chars):
            stats["docs"] += 1
            stats["chars"] += len(text)
            yield text

    t0 = time.time()
    tok = train_tokenizer(texts(), args.vocab_size, min_frequency=args.min_frequency)
    if stats["docs"] == 0:
        raise UserError(f"split '{args.split}' has no documents in {args.data}; choose another --split")
    if stats["chars"] == 0:  # BPE would return the bare byte alphabet, a "tokenizer" learned from nothing
        raise UserError(f"the {stats['docs']} documents of split '{args.split}' in {args.data} are all empty; there is nothing "
                        "to learn a vocabulary from (check the pipeline's output or choose another --split)")
    vocab = tokenizer_vocab_size(tok)
    if vocab < args.vocab_size:
        print(f"warning: learned {vocab} tokens, fewer than --vocab-size {args.vocab_size}: {stats['docs']} documents "
              f"({stats['chars']} characters) hold no more pairs seen at least --min-frequency {args.min_frequency} times; "
              "train on more data or ask for fewer tokens", file=sys.stderr)
    save_tokenizer(tok, out, model_max_length=args.model_max_length)
    info = {"data": str(args.data), "split": args.split, "shards": len(shards), **stats,
            "vocab_size": vocab, "requested_vocab_size": args.vocab_size,
            "seconds": round(time.time() - t0, 2)}
    write_training_info(out, info)
    with MetricsLogger(out, True, None, progress=False, tensorboard=False) as log:
        log.log(0, loss=None, **info)
    print(f"tokenizer: {info['vocab_size']} tokens from {stats['docs']} documents -> {out}")
    return 0
