"""A quick CoSQA probe for stage-2 settings: zero-shot vs a short fine-tune, on a fixed sub-pool.

The acceptance run (benchmarks/cosqa_finetune.py) costs ~25 minutes of both cores; this one costs ~5.
It scores CoSQA's 500 dev queries against a fixed sub-pool (every gold snippet plus every 4th snippet of
the code base, ~1,900 in all, chosen before any model is seen) with the zero-shot model and with the
same model after `--steps` steps of `trainer.contrastive.train`, in the same process. Use it to see the
direction a setting moves CoSQA in, not for the acceptance figure (sub-pool MRR is higher than
whole-pool MRR: fewer distractors).

    python benchmarks/cosqa_proxy.py --steps 50 --batch-size 32 --lr 1e-5 --code-column code

Every `python -m trainer contrastive` flag is accepted, with that command's meaning and this probe's
defaults (RECIPE; benchmarks/stage2_cli.py); `--steps` is `--max-steps`. Appends one JSON line per run
to OUT/results.jsonl.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[2] / "shared"
EVERY = 4  # every EVERY-th snippet of the code base joins the gold snippets in the sub-pool


def sub_pool(folder):
    """(queries, pool, gold positions in pool): gold snippets + every EVERY-th snippet, in index order."""
    from trainer.evaluation.cosqa import load_cosqa

    queries, codes, gold = load_cosqa(folder)
    keep = sorted(set(gold) | set(range(0, len(codes), EVERY)))
    position = {c: i for i, c in enumerate(keep)}
    return queries, [codes[i] for i in keep], [position[g] for g in gold]


def score(model, queries, pool, gold, doc_max_len):
    from trainer.evaluation.metrics import mrr, ranks_of_gold, recall_at
    from trainer.evaluation.retrievers import DenseRetriever

    ranks = ranks_of_gold(DenseRetriever(model, doc_max_len=doc_max_len).scores(queries, pool), gold)
    return {"mrr": round(mrr(ranks, 1000), 4), "recall@1": round(recall_at(ranks, 1), 4)}


# the probe's historical defaults (code column `code`, no name queries); any trainer flag overrides them
RECIPE = {"max_steps": 50, "batch_size": 32, "lr": 1e-5, "warmup": 5, "text_max_len": 64, "code_max_len": 128,
          "negatives": "cross", "code_column": "code", "log_every": 10, "progress": False}
ALIASES = {"--steps": "--max-steps"}


def main() -> int:
    from stage2_cli import benchmark_parser, parse_args

    ap = benchmark_parser(__doc__.split("\n\n")[0], RECIPE, ALIASES)
    ap.add_argument("--data", default=None, help="pipeline pairs (OUT/pairs); default: built by stage2_data.default_pairs")
    ap.add_argument("--cosqa", default=str(SHARED / "eval" / "cosqa"))
    ap.add_argument("--init", default="minilm")
    ap.add_argument("--out", default="/tmp/cosqa_proxy")
    ap.add_argument("--eval-code-max-len", type=int, default=256)
    ap.add_argument("--skip-zero-shot", action="store_true", help="only the fine-tuned score")
    args, cfg = parse_args(ap, RECIPE, ALIASES)
    if args.data is None:
        from stage2_data import default_pairs

        args.data = default_pairs()
    from trainer.contrastive import train

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    queries, pool, gold = sub_pool(args.cosqa)
    result = {"pool": len(pool), "queries": len(queries)}
    if not args.skip_zero_shot:
        result["zero_shot"] = score(args.init, queries, pool, gold, args.eval_code_max_len)
    run = out / f"run-{int(time.time())}"
    cfg = replace(cfg, data=args.data, init=args.init, out=str(run))
    summary = train(cfg)
    result["fine_tuned"] = score(str(run / "model"), queries, pool, gold, args.eval_code_max_len)
    result["training"] = {k: summary[k] for k in ("steps", "final_loss", "pairs_per_s", "seconds")}
    result["args"] = vars(args)
    result["config"] = asdict(cfg)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    print(f"CoSQA dev sub-pool ({len(queries)} queries vs {len(pool)} snippets: gold + every {EVERY}th)")
    for key in ("zero_shot", "fine_tuned"):
        if key in result:
            print(f"{key:<12} MRR {result[key]['mrr']:.4f}  R@1 {result[key]['recall@1']:.4f}")
    print(f"{summary['steps']} steps x {cfg.batch_size} pairs, lr {cfg.lr}, {cfg.text_column} (name queries {summary.get('name_query_rows', 0)}) -> {cfg.code_column}, "
          f"negatives {cfg.negatives}, hard negatives {cfg.hard_negatives}, {summary['pairs_per_s']:.2f} pairs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
