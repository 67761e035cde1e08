"""Acceptance run: a `tiny` stage-1 model trained for a few minutes on the pipeline's output of the local
Python standard library; prints the masked-token loss curve and the held-out loss against a unigram
baseline scored on the same masked positions.

    python -m pipeline --output /tmp/stdlib-out            # the pipeline's stdlib run (helper B's CLI)
    python benchmarks/pretrain_stdlib.py --data /tmp/stdlib-out --work /tmp/stdlib-train

Steps: tokenizer (train split) -> `pretrain` (in-process, same code as the CLI) -> `export` ->
held-out masked loss on the valid and test splits (fixed-seed corruption, the training objective) of the
exported model, of the untrained initial model, and of an add-one unigram model fitted on the train split.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _step(rc: int) -> None:
    """Stop with the step's own exit status: its error line is already printed."""
    if rc != 0:
        raise SystemExit(rc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/tmp/stdlib-out")
    ap.add_argument("--work", default="/tmp/stdlib-train")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--max-steps", type=int, default=1200)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup-steps", type=int, default=100)
    ap.add_argument("--eval-splits", default="valid,test")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"error: --data {args.data} does not exist; make it with python -m pipeline --output {args.data} "
              "(or pass the output folder of an earlier run)", file=sys.stderr)
        return 2

    import torch
    from transformers import AutoModelForMaskedLM

    torch.set_num_threads(args.threads)

    from trainer.__main__ import main as cli
    from trainer.metrics import read_metrics
    from trainer.modeling import build_model
    from trainer.pretrain import heldout_masked_loss, unigram_log_probs
    from trainer.tokenization import load_tokenizer, special_ids, tokenizer_vocab_size

    work = Path(args.work)
    tok_dir, run_dir, model_dir = work / "tokenizer", work / "run", work / "model"
    t0 = time.time()
    if not (tok_dir / "tokenizer.json").exists():
        _step(cli(["tokenizer", "--data", args.data, "--vocab-size", str(args.vocab_size), "--out", str(tok_dir)]))
    t_tok = time.time() - t0
    t0 = time.time()
    rc = cli(["pretrain", "--data", args.data, "--tokenizer", str(tok_dir), "--out", str(run_dir), "--size", "tiny",
              "--max-steps", str(args.max_steps), "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
              "--lr", str(args.lr), "--warmup-steps", str(args.warmup_steps), "--log-every", "50",
              "--save-every", str(args.max_steps), "--dropout", "0.0", "--no-progress", "--threads", str(args.threads)]
             + (["--resume"] if run_dir.exists() else []))
    _step(rc)
    t_train = time.time() - t0
    if not (model_dir / "model.safetensors").exists():
        _step(cli(["export", "--checkpoint", str(run_dir), "--out", str(model_dir)]))

    curve = [(r["step"], round(r["loss"], 4)) for r in read_metrics(run_dir / "metrics.jsonl")]
    tok = load_tokenizer(tok_dir)
    uni = unigram_log_probs(args.data, str(tok_dir), split="train")
    trained = AutoModelForMaskedLM.from_pretrained(str(model_dir))
    initial = build_model("tiny", tokenizer_vocab_size(tok), special_ids(tok), seq_len=args.seq_len, dropout=0.0)
    results = {}
    for split in [s for s in args.eval_splits.split(",") if s]:
        ours = heldout_masked_loss(trained, args.data, str(tok_dir), split=split, seq_len=args.seq_len, unigram_log_probs=uni)
        init = heldout_masked_loss(initial, args.data, str(tok_dir), split=split, seq_len=args.seq_len)
        results[split] = {"masked_tokens": ours["masked_tokens"], "trained_loss": round(ours["loss"], 4),
                          "trained_accuracy": round(ours["accuracy"], 4), "unigram_loss": round(ours["unigram_loss"], 4),
                          "initial_loss": round(init["loss"], 4)}
    summary = {"data": args.data, "tokenizer_seconds": round(t_tok, 1), "train_seconds": round(t_train, 1),
               "steps": args.max_steps, "seq_len": args.seq_len, "batch_size": args.batch_size,
               "loss_curve_first_last": [curve[0], curve[-1]], "loss_curve": curve, "heldout": results}
    print(json.dumps(summary, indent=2))
    ok = curve[-1][1] < curve[0][1] and all(r["trained_loss"] < r["unigram_loss"] for r in results.values())
    print("PASS: loss falls and the model beats the unigram baseline on held-out splits" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
