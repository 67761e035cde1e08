"""Acceptance run for stage 2: fine-tune the packaged MiniLM on the pipeline's pairs for a wall-clock
budget and compare CoSQA dev MRR of BM25, the zero-shot MiniLM and the fine-tuned MiniLM, side by side,
all through `trainer.evaluation` (queries vs the whole 6,267-snippet code base, ranks past 1000 score 0).

    python benchmarks/cosqa_finetune.py --minutes 20 --out /tmp/e_ft

The defaults are the best recipe measured (docs/stage2.md, fifth session): 50 steps of 32 pairs at
lr 1e-5, 75% of the texts replaced by queries made from function names (`--name-queries 0.75
--name-query-docs`), `code_hard`, cross-modal negatives. Over seeds 0-3 it scored 0.5370-0.5432 against
zero-shot 0.5412 (mean 0.0017 below); longer runs drift further below.

Every `python -m trainer contrastive` flag is accepted too, with that command's meaning and the recipe
above as its defaults (benchmarks/stage2_cli.py); `--minutes` is `--max-minutes`. Every number printed
is measured by this run (the zero-shot JSON is reused only with --reuse-zero-shot).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(__file__).resolve().parents[2] / "shared"


def cosqa(retriever, folder, max_queries=None):
    from trainer.evaluation.cosqa import evaluate_cosqa

    t0 = time.time()
    r = evaluate_cosqa(retriever, folder, max_queries)
    r["seconds"] = round(time.time() - t0, 1)
    return r


RECIPE = {"max_steps": 50, "max_minutes": 20.0, "batch_size": 32, "lr": 1e-5, "warmup": 5, "text_max_len": 64,
          "code_max_len": 128, "negatives": "cross", "code_column": "code_hard", "name_queries": 0.75,
          "name_query_docs": True, "seed": 0, "log_every": 5}
ALIASES = {"--minutes": "--max-minutes"}  # the training wall-clock budget (evaluation not included)


def main() -> int:
    from stage2_cli import benchmark_parser, parse_args

    ap = benchmark_parser(__doc__.split("\n\n")[0], RECIPE, ALIASES)
    ap.add_argument("--data", default=None, help="pipeline pairs (OUT/pairs); default: built by stage2_data.default_pairs")
    ap.add_argument("--cosqa", default=str(SHARED / "eval" / "cosqa"))
    ap.add_argument("--init", default="minilm")
    ap.add_argument("--out", default="/tmp/e_ft")
    ap.add_argument("--eval-code-max-len", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    ap.add_argument("--reuse-zero-shot", action="store_true", help="reuse OUT/zero_shot.json (read after training) from an earlier run of this script")
    args, cfg = parse_args(ap, RECIPE, ALIASES)
    if args.data is None:
        from stage2_data import default_pairs

        args.data = default_pairs()

    if args.threads:
        # set before torch is imported: DeepSpeed/accelerate re-read OMP_NUM_THREADS when they initialize
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from trainer.contrastive import train
    from trainer.evaluation.retrievers import BM25Retriever, DenseRetriever

    if args.threads:
        torch.set_num_threads(args.threads)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"bm25": cosqa(BM25Retriever(), args.cosqa)}
    zs_file = out / "zero_shot.json"
    if not args.reuse_zero_shot:
        results["zero_shot"] = cosqa(DenseRetriever(args.init, doc_max_len=args.eval_code_max_len, progress=True), args.cosqa)
        zs_file.write_text(json.dumps(results["zero_shot"], indent=2))
    # OUT/run belongs to this script: a re-run replaces it (train() refuses a used folder)
    shutil.rmtree(out / "run", ignore_errors=True)
    cfg = replace(cfg, data=args.data, init=args.init, out=str(out / "run"))
    summary = train(cfg)
    if args.threads:
        torch.set_num_threads(args.threads)  # the engine's initialization may have reset it
    results["fine_tuned"] = cosqa(DenseRetriever(str(out / "run" / "model"), doc_max_len=args.eval_code_max_len, progress=True), args.cosqa)
    results["training"] = summary
    results["config"] = asdict(cfg)
    if args.reuse_zero_shot:  # read after training, so a separate zero-shot run may still be writing it when this starts
        if not zs_file.exists():
            raise SystemExit(f"--reuse-zero-shot: {zs_file} does not exist; run once without the flag")
        results["zero_shot"] = json.loads(zs_file.read_text())
    (out / "results.json").write_text(json.dumps(results, indent=2))

    print(f"\nCoSQA dev ({results['bm25']['queries']} queries vs {results['bm25']['pool']} snippets; MRR, ranks past 1000 score 0)")
    print(f"{'system':<44} {'MRR':>7} {'R@1':>7} {'R@10':>7}")
    for key, label in (("bm25", "BM25 (bm25s, code tokens)"), ("zero_shot", f"{args.init} zero-shot"),
                       ("fine_tuned", f"{args.init} + stage 2, {summary['steps']} steps ({summary['seconds'] / 60:.1f} min)")):
        r = results[key]
        print(f"{label:<44} {r['mrr']:7.4f} {r['recall@1']:7.4f} {r['recall@10']:7.4f}")
    print(f"training: {summary['steps']} steps x {cfg.batch_size} pairs ({summary['pairs']} train pairs), {summary['pairs_per_s']:.2f} pairs/s, "
          f"final loss {summary['final_loss']:.4f}; text {cfg.text_column} (name queries {summary.get('name_query_rows', 0)}), code {cfg.code_column}, lr {cfg.lr}, warmup {cfg.warmup}, "
          f"hard negatives {cfg.hard_negatives}, negatives {cfg.negatives}, max len {cfg.text_max_len}/{cfg.code_max_len}, seed {cfg.seed}, torch threads {torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
