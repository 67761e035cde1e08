"""Throughput of our stage-1 loop vs Hugging Face `Trainer` + `DataCollatorForLanguageModeling`.

Same model (ModernBertForMaskedLM, same config and init seed), same data (the `files` shards' train split,
same tokenizer), same batch (B sequences of at most L tokens per step), same optimizer settings, same
number of torch threads, run one after the other in this process on this CPU.

* ours: `trainer.pretrain.run_pretrain` (DeepSpeed ZeRO-1 engine, packed sequences with block attention,
  logits only at masked positions, MLM + DOBF corruption streamed from Parquet);
* baseline: documents tokenized up front (not timed), truncated to L, `DataCollatorForLanguageModeling`
  (15% masking, dynamic padding to the longest sequence of the batch), `Trainer` on CPU.

Throughput = real (non-pad) input tokens per second over the steps after `--skip` warm-up steps
(ours: from metrics.jsonl, which times every step including data streaming; baseline: a callback timing
the same steps, counting the non-pad tokens of the batches the collator produced). Also prints
packing efficiency (non-pad share of our sequences) and padding efficiency of the baseline batches.

    python benchmarks/pretrain.py --data /tmp/stdlib-out --tokenizer /tmp/stdlib-train/tokenizer
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_ours(args, overrides, work: Path) -> dict:
    from trainer.metrics import read_metrics
    from trainer.pretrain import PretrainConfig, run_pretrain

    out = work / "ours"
    cfg = PretrainConfig(data=args.data, tokenizer=args.tokenizer, out=str(out), size="tiny", model_overrides=overrides,
                         max_steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                         warmup_steps=2, dropout=0.0, save_every=10**9, log_every=1, progress=False,
                         seed=args.seed, threads=args.threads)
    run_pretrain(cfg)
    recs = [r for r in read_metrics(out / "metrics.jsonl") if r["step"] > args.skip]
    tokens = sum(r["tokens_per_s"] * r["seconds"] for r in recs)
    seconds = sum(r["seconds"] for r in recs)
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "steps": len(recs),
            "packing_efficiency": sum(r["packing_efficiency"] for r in recs) / len(recs),
            "final_loss": recs[-1]["loss"]}


def run_hf(args, overrides, work: Path) -> dict:
    import torch
    from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainerCallback,
                              TrainingArguments)

    from trainer.data import find_shards
    from trainer.modeling import build_model
    from trainer.tokenization import iter_contents, load_tokenizer, special_ids, tokenizer_vocab_size

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    need = args.steps * args.batch_size
    docs = []
    for text in iter_contents(find_shards(args.data), "train"):
        docs.append({"input_ids": tok(text, truncation=True, max_length=args.seq_len)["input_ids"]})
        if len(docs) >= need:
            break
    while len(docs) < need:
        docs.extend(docs[: need - len(docs)])
    raw = load_tokenizer(args.tokenizer)
    torch.manual_seed(args.seed)
    model = build_model("tiny", tokenizer_vocab_size(raw), special_ids(raw), seq_len=args.seq_len, dropout=0.0, overrides=overrides)
    base = DataCollatorForLanguageModeling(tok, mlm=True, mlm_probability=0.15)
    counts: list[tuple[int, int]] = []

    def collate(features):
        batch = base(features)
        counts.append((int(batch["attention_mask"].sum()), int(batch["attention_mask"].numel())))
        return batch

    times: dict[int, float] = {}

    class Timer(TrainerCallback):
        def on_train_begin(self, a, state, control, **kw):
            torch.set_num_threads(args.threads)  # accelerate may have changed it

        def on_step_begin(self, a, state, control, **kw):
            times.setdefault(state.global_step, time.perf_counter())

        def on_step_end(self, a, state, control, **kw):
            times[state.global_step] = time.perf_counter()

    targs = TrainingArguments(output_dir=str(work / "hf"), per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                              learning_rate=args.lr, warmup_steps=2, weight_decay=0.01, max_grad_norm=1.0,
                              use_cpu=True, report_to=[], save_strategy="no", logging_steps=10**9,
                              dataloader_num_workers=0, seed=args.seed, disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=docs, data_collator=collate, callbacks=[Timer()])
    trainer.train()
    seconds = times[args.steps] - times[args.skip]
    measured = counts[args.skip : args.steps]
    tokens = sum(c[0] for c in measured)
    return {"tokens_per_s": tokens / seconds, "seconds": seconds, "steps": len(measured),
            "padding_efficiency": tokens / max(1, sum(c[1] for c in measured))}


def main() -> int:
    ap = argparse.ArgumentParser(description="stage-1 throughput: ours vs HF Trainer")
    ap.add_argument("--data", default="/tmp/stdlib-out")
    ap.add_argument("--tokenizer", default="/tmp/stdlib-train/tokenizer")
    ap.add_argument("--steps", type=int, default=14)
    ap.add_argument("--skip", type=int, default=4, help="warm-up steps not timed")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not os.path.isdir(args.data) or not os.path.isfile(os.path.join(args.tokenizer, "tokenizer.json")):
        print(f"error: needs the pipeline's output (--data, now {args.data}) and a tokenizer folder trained on it "
              f"(--tokenizer, now {args.tokenizer}): python -m pipeline --output OUT && python -m trainer tokenizer "
              "--data OUT --out TOK, then python benchmarks/pretrain.py --data OUT --tokenizer TOK", file=sys.stderr)
        return 2
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # accelerate resets threads when this is unset
    import torch

    torch.set_num_threads(args.threads)
    overrides = {"num_hidden_layers": args.layers, "hidden_size": args.hidden, "num_attention_heads": args.heads,
                 "intermediate_size": args.ffn}
    with tempfile.TemporaryDirectory() as tmp:
        # Baseline first: our run initialises torch.distributed, which would make accelerate wrap the
        # baseline model in DDP.
        hf = run_hf(args, overrides, Path(tmp))
        ours = run_ours(args, overrides, Path(tmp))
    result = {"model": overrides, "batch_size": args.batch_size, "seq_len": args.seq_len, "threads": args.threads,
              "ours": ours, "hf_trainer": hf, "speedup_tokens_per_s": ours["tokens_per_s"] / hf["tokens_per_s"]}
    print(json.dumps(result, indent=2))
    print(f"ours {ours['tokens_per_s']:.0f} tok/s vs HF Trainer {hf['tokens_per_s']:.0f} tok/s: "
          f"{result['speedup_tokens_per_s']:.2f}x; packing efficiency {ours['packing_efficiency']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
