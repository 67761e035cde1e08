"""Stage-2 throughput: our loop body (tokenize, forward/backward through the DeepSpeed engine with the
gamma-weighted symmetric loss, engine.step) vs sentence-transformers' MultipleNegativesRankingLoss in a
minimal manual loop (model.tokenize, loss, backward, AdamW step: no Trainer overhead, the strongest form
of the baseline) on the same model (the packaged MiniLM unless --model), the same pairs and batch,
the same max length on both sides. Rounds alternate between the two so load changes on a shared
machine hit both alike. Prints pairs/s of each and the ratio ours / baseline.

    python benchmarks/contrastive.py --batch-size 16 --steps 4 --rounds 3
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_pairs(path, n, seed=0):
    from trainer.pairs_data import read_pairs

    t = read_pairs(path, "train", ["summary", "code_hard"])
    rows = [(a, b) for a, b in zip(t.column("summary").to_pylist(), t.column("code_hard").to_pylist()) if a and b]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="pipeline pairs (OUT/pairs); default: built by stage2_data.default_pairs")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per round and system")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--length-buckets", type=int, default=None, help="our --length-buckets (default: the trainer's)")
    args = ap.parse_args()
    if args.data is None:
        from stage2_data import default_pairs

        args.data = default_pairs()

    from trainer.runtime import ds_config_for, setup_runtime

    rt = setup_runtime(seed=0)
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    from trainer.contrastive import ContrastiveConfig, forward_backward, make_loss_fn
    from trainer.encoder import load_encoder, resolve_model_dir

    pairs = load_pairs(args.data, args.batch_size * args.steps)
    batches = [pairs[i:i + args.batch_size] for i in range(0, len(pairs), args.batch_size)]
    cfg = ContrastiveConfig(data=args.data, init=args.model, out="", text_max_len=args.max_len, code_max_len=args.max_len,
                            batch_size=args.batch_size, lr=1e-5, warmup=0)
    if args.length_buckets is not None:
        cfg.length_buckets = args.length_buckets
    encoder, tokenizer, _ = load_encoder(args.model)
    encoder.train()
    engine, _, _ = rt.initialize(encoder, ds_config_for("zero1", args.batch_size, 1, rt), lr=1e-5, warmup_steps=0,
                                 total_steps=10**6, weight_decay=0.01)
    loss_fn = make_loss_fn(cfg)

    st = SentenceTransformer(str(resolve_model_dir(args.model)), device="cpu")
    st.max_seq_length = args.max_len
    st.train()
    mnrl = MultipleNegativesRankingLoss(st, scale=1.0 / cfg.temperature)
    # fused: what sentence-transformers' trainer uses by default (transformers' optim default is
    # adamw_torch_fused on torch >= 2.8), and what our runtime picks, so the optimizer kernel is not the difference
    st_opt = torch.optim.AdamW(st.parameters(), lr=1e-5, weight_decay=0.01, fused=True)

    def ours():
        for b in batches:
            forward_backward(engine, tokenizer, cfg, loss_fn, [t for t, _ in b], [c for _, c in b], rt.device)
            engine.step()

    def baseline():
        for b in batches:
            feats = [st.tokenize([t for t, _ in b]), st.tokenize([c for _, c in b])]
            loss = mnrl(feats, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(st.parameters(), 1.0)
            st_opt.step()
            st_opt.zero_grad(set_to_none=True)

    ours(), baseline()  # warm-up (allocator, kernels)
    times = {"ours": 0.0, "st_mnrl": 0.0}
    for r in range(args.rounds):
        for name, fn in (("ours", ours), ("st_mnrl", baseline)) if r % 2 == 0 else (("st_mnrl", baseline), ("ours", ours)):
            t0 = time.perf_counter()
            fn()
            times[name] += time.perf_counter() - t0
    n = args.rounds * len(batches) * args.batch_size
    ours_rate, base_rate = n / times["ours"], n / times["st_mnrl"]
    print(f"model {args.model}, batch {args.batch_size}, max_len {args.max_len}, {args.rounds} rounds x {len(batches)} steps, torch threads {torch.get_num_threads()}")
    print(f"ours (gamma-weighted symmetric loss, 2N-2 negatives, DeepSpeed engine, effective ZeRO stage "
          f"{engine.zero_optimization_stage()} of the trainer's zero1 default on one rank, "
          f"{cfg.length_buckets} length buckets per side): {ours_rate:8.2f} pairs/s")
    print(f"sentence-transformers MultipleNegativesRankingLoss (manual loop):       {base_rate:8.2f} pairs/s")
    print(f"ratio ours / baseline: {ours_rate / base_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
