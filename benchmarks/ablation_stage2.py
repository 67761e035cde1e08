"""Stage-2 ablation (the paper's Table 6 idea at toy scale): the same init, data order, batch, lr and
number of steps per row; only the objective changes.

    row                         hard negatives (gamma)   code side
    plain InfoNCE               off                      code       (function with signature and returns)
    + hard negatives            on                       code
    + hard positives            off                      code_hard  (body without signature and returns)
    both (the paper's recipe)   on                       code_hard

Each row is evaluated on CoSQA dev (whole code base, MRR, ranks past 1000 score 0) and on the held-out
pairs split (summary -> code and summary -> code_hard over the split's pool, MRR). The zero-shot init is
printed as the reference. Numbers are whatever this run measures.

    python benchmarks/ablation_stage2.py --steps 40 --batch-size 32
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[2] / "shared"

ROWS = [
    ("plain InfoNCE", False, "code"),
    ("+ hard negatives", True, "code"),
    ("+ hard positives", False, "code_hard"),
    ("both (paper)", True, "code_hard"),
]


def evaluate(model, args, rows_test):
    from trainer.evaluation.cosqa import evaluate_cosqa
    from trainer.evaluation.pairs_eval import evaluate_pair_retrieval
    from trainer.evaluation.retrievers import DenseRetriever

    r = DenseRetriever(model, doc_max_len=args.eval_code_max_len, progress=False)
    out = {}
    if not args.no_cosqa:
        out["cosqa"] = evaluate_cosqa(r, args.cosqa, args.cosqa_queries)["mrr"]
    if rows_test is not None:
        out["pairs->code"] = evaluate_pair_retrieval(r, rows_test, "code", args.pair_queries)["mrr"]
        out["pairs->code_hard"] = evaluate_pair_retrieval(r, rows_test, "code_hard", args.pair_queries)["mrr"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="pipeline pairs (OUT/pairs); default: built by stage2_data.default_pairs")
    ap.add_argument("--cosqa", default=str(SHARED / "eval" / "cosqa"))
    ap.add_argument("--init", default="minilm")
    ap.add_argument("--out", default="/tmp/e_ablation")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--code-max-len", type=int, default=128)
    ap.add_argument("--eval-code-max-len", type=int, default=256)
    ap.add_argument("--eval-split", default="test")
    ap.add_argument("--pair-queries", type=int, default=None)
    ap.add_argument("--cosqa-queries", type=int, default=None)
    ap.add_argument("--no-cosqa", action="store_true")
    ap.add_argument("--rows", default="0,1,2,3", help="which rows to run (indices)")
    args = ap.parse_args()
    if args.data is None:
        from stage2_data import default_pairs

        args.data = default_pairs()

    from trainer.contrastive import ContrastiveConfig, train
    from trainer.evaluation.pairs_eval import load_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_test = load_split(args.data, args.eval_split)
    results = {"zero_shot": evaluate(args.init, args, rows_test)}
    print("zero-shot", results["zero_shot"], flush=True)
    for i in [int(x) for x in args.rows.split(",")]:
        name, hn, column = ROWS[i]
        t0 = time.time()
        # the row's run folder belongs to this script: a re-run replaces it (train() refuses a used folder)
        shutil.rmtree(out / f"row{i}", ignore_errors=True)
        cfg = ContrastiveConfig(data=args.data, init=args.init, out=str(out / f"row{i}"), batch_size=args.batch_size, lr=args.lr,
                                warmup=args.warmup, max_steps=args.steps, code_column=column, hard_negatives=hn,
                                code_max_len=args.code_max_len, progress=False, log_every=5)
        summary = train(cfg)
        results[name] = {**evaluate(str(out / f"row{i}" / "model"), args, rows_test), "final_loss": summary["final_loss"],
                         "train_s": summary["seconds"], "total_s": round(time.time() - t0, 1)}
        print(name, results[name], flush=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
    metrics = [k for k in ("cosqa", "pairs->code", "pairs->code_hard") if k in results["zero_shot"]]
    print(f"\nStage-2 ablation: {args.steps} steps x {args.batch_size} pairs per row, lr {args.lr}, init {args.init}; "
          f"MRR (CoSQA: whole code base; pairs: {args.eval_split} split pool; ranks past 1000 score 0)")
    print(f"{'row':<20}" + "".join(f"{m:>18}" for m in metrics) + f"{'final loss':>12}")
    for name, r in results.items():
        loss = f"{r['final_loss']:12.4f}" if "final_loss" in r else f"{'':>12}"
        print(f"{name:<20}" + "".join(f"{r[m]:18.4f}" for m in metrics) + loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
