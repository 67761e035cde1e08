"""The stage-2 training loop (design.md sections 4 and 6).

One step = one contrastive batch of `batch_size` pairs per rank (global batch = batch_size x world):
tokenize texts and codes separately (own max lengths, padded to the longest in the batch), then
`gradcache.step_forward_backward` through the DeepSpeed engine (direct or cached), with the loss
`losses.stage2_loss` over embeddings gathered across ranks by `gather.gather_with_grad` (each rank scores
its own pairs as anchors against every rank's items; see gather.py for why this gives the
single-process gradient), then `engine.step()` (clipping, AdamW, warmup + linear decay).

DeepSpeed's gradient_accumulation_steps is 1: accumulation inside a contrastive batch is GradCache's job
(splitting a batch into independent micro-batches would shrink the set of negatives, which changes the
loss). Checkpoints (runtime.save_checkpoint) store model, optimizer, scheduler, RNG and the step; the
data order is a pure function of (seed, step) (pairs_data.PairStream), so resuming is exact.
A non-finite loss stops the run before the optimizer step, naming the step, leaving the last
checkpoint intact. Logged per step: `loss`, `lr` (the rate that step's update used), `pairs_per_s` and
`epoch` = steps done / steps per epoch (an epoch is floor(pairs / global batch) steps, PairStream), i.e.
the fraction of the training pairs consumed after the step: 1.0 when the first pass is complete.
A resumed run drops metrics.jsonl rows past its checkpoint (trainer.metrics), so each step appears once. The final model is exported to OUT/model (st_export); OUT/report.html (curves) is written
when training ends, also when stopped by --max-minutes. OUT must be new or empty unless `--resume`; a
resume from a checkpoint must keep the settings of `resume_settings` (trainer.runfolder), and a resume
in a folder without a complete checkpoint (--save-every 0, or stopped before the first save) starts
from step 0, as pretrain's does. Checkpoints are written every --save-every steps (default 500, as in
pretrain), at the end, at a --max-minutes stop and at a SIGTERM / SIGINT stop, each step at most once;
a --resume of a run already at --max-steps trains nothing and keeps its summary.json and export.
config.json and summary.json are written atomically, paths absolute, never with NaN.
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trainer.errors import UserError
from trainer.runfolder import PATH, STAGE2, absolute_paths, check_run_folder, fixed_settings, write_json_atomic


@dataclass
class ContrastiveConfig:
    data: str
    init: str
    out: str
    split: str = "train"
    languages: list = field(default_factory=list)
    text_column: str = "summary"
    code_column: str = "code_hard"
    name_queries: float = 0.0          # fraction of texts replaced by a query made from the function name
    name_query_docs: bool = False      # name-query rows: code preceded by its docstring (the name stays hidden)
    text_max_len: int = 64
    code_max_len: int = 256
    batch_size: int = 32
    max_steps: int = 1000
    lr: float = 5e-6
    warmup: int = 500
    weight_decay: float = 0.01
    temperature: float = 0.05
    hard_negatives: bool = True
    gamma_scale: str = "2n-2"
    detach_gamma: bool = True
    hn_form: str = "paper"
    beta: float = 1.0
    negatives: str = "all"             # "all": the paper's 2N-2 texts and codes; "cross": the other side's N-1
    grad_cache_chunk: int = 0
    length_buckets: int = 4            # direct path: each side encoded as this many length-sorted groups
    matryoshka_dims: list = field(default_factory=list)
    deepspeed_config: str = "zero1"
    gradient_clipping: float = 1.0
    save_every: int = 500              # as in pretrain; 0: no checkpoints (then --resume restarts from step 0)
    keep_checkpoints: int = 2          # complete checkpoints kept (0 keeps all), as in pretrain
    threads: int = 0                   # torch intra-op threads per rank (0: torch's choice), as in pretrain
    log_every: int = 1
    seed: int = 0
    resume: bool = False
    max_minutes: float = 0.0
    export: bool = True
    progress: bool = True


# Fields a resumed run may change: length, time budget, logging, checkpointing, export, and the memory/speed
# knobs of the encoding (same loss). The per-rank batch may change with the number of ranks as long as the
# global batch (compared instead) stays: the data order is a function of (seed, step, global batch).
RESUME_MAY_CHANGE = frozenset({"out", "resume", "max_steps", "max_minutes", "save_every", "keep_checkpoints", "threads",
                               "log_every", "progress", "export", "grad_cache_chunk", "length_buckets", "batch_size"})
# path flags, compared as paths on resume; --data as the folder of `pairs` shards it names (OUT = OUT/pairs)
RESUME_PATHS = {"--data": "pairs", "--init": PATH}
GLOBAL_BATCH = "global batch (--batch-size x ranks)"


def resume_settings(record: dict) -> dict:
    """The settings a `--resume` must share with the run it continues, keyed by flag: every
    ContrastiveConfig field not in RESUME_MAY_CHANGE (data, split, languages, text/code columns, max
    lengths, name queries, seed, init model, loss, optimisation, DeepSpeed config) plus the global batch.
    `record` is a config.json dict (asdict(cfg) + world_size + data statistics)."""
    return fixed_settings(record, ContrastiveConfig.__dataclass_fields__, RESUME_MAY_CHANGE,
                          ("batch_size", "world_size"), GLOBAL_BATCH)


def loss_kwargs(cfg: ContrastiveConfig) -> dict:
    return dict(temperature=cfg.temperature, hard_negatives=cfg.hard_negatives, gamma_scale=cfg.gamma_scale,
                detach_gamma=cfg.detach_gamma, hn_form=cfg.hn_form, beta=cfg.beta, negatives=cfg.negatives)


def make_loss_fn(cfg: ContrastiveConfig):
    """loss(text_local, code_local): gathers across ranks (identity on one rank) and scores local anchors."""
    from trainer.gather import gather_with_grad, local_anchor_range
    from trainer.losses import stage2_loss

    kwargs = loss_kwargs(cfg)

    def loss_fn(text, code):
        return stage2_loss(gather_with_grad(text), gather_with_grad(code), matryoshka_dims=cfg.matryoshka_dims,
                           anchors=local_anchor_range(text.shape[0]), **kwargs)

    return loss_fn


def forward_backward(engine, tokenizer, cfg: ContrastiveConfig, loss_fn, texts, codes, device):
    """The loop body before `engine.step()`: tokenize both sides (own max lengths, padded to the
    longest), forward + backward through the engine (direct or GradCache). Returns the detached loss."""
    from trainer.encoder import tokenize
    from trainer.gradcache import step_forward_backward

    tb = {k: v.to(device) for k, v in tokenize(tokenizer, texts, cfg.text_max_len).items()}
    cb = {k: v.to(device) for k, v in tokenize(tokenizer, codes, cfg.code_max_len).items()}
    return step_forward_backward(engine, tb, cb, loss_fn, chunk_size=cfg.grad_cache_chunk, buckets=cfg.length_buckets,
                                 backward=engine.backward, set_boundary=engine.set_gradient_accumulation_boundary)


# Real-valued settings and the range each must lie in: (flag, field, lowest, lowest allowed?). The
# command line refuses them while parsing (trainer.cli); `validate` repeats the check for callers that
# build a ContrastiveConfig themselves (benchmarks), so no run starts with e.g. a temperature of 0, which
# divides every similarity and only surfaces as a NaN loss after the model is built.
REAL_RANGES = (("--temperature", "temperature", 0.0, False), ("--beta", "beta", 0.0, True), ("--lr", "lr", 0.0, True),
               ("--weight-decay", "weight_decay", 0.0, True), ("--grad-clip", "gradient_clipping", 0.0, True),
               ("--max-minutes", "max_minutes", 0.0, True))


def validate(cfg: ContrastiveConfig) -> None:
    """Raise UserError for a setting no run can use (checked before anything is created)."""
    from schemas.contract import PAIRS_CODE_COLUMNS, PAIRS_TEXT_COLUMNS

    for name, attr, low, inclusive in REAL_RANGES:
        value = float(getattr(cfg, attr))
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise UserError(f"{name} must be {'at least' if inclusive else 'above'} {low:g}, got {value:g}")
    if cfg.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {cfg.seed}")
    if cfg.text_column not in PAIRS_TEXT_COLUMNS:
        raise UserError(f"--text-column must be one of {PAIRS_TEXT_COLUMNS}")
    if cfg.code_column not in PAIRS_CODE_COLUMNS:
        raise UserError(f"--code-column must be one of {PAIRS_CODE_COLUMNS}")
    if not 0.0 <= cfg.name_queries <= 1.0:
        raise UserError(f"--name-queries is a fraction in [0, 1], got {cfg.name_queries}")
    if cfg.batch_size < 2:
        raise UserError("--batch-size must be at least 2 (in-batch negatives)")
    if cfg.max_steps < 1:
        raise UserError("--max-steps must be at least 1")
    if cfg.length_buckets < 1:
        raise UserError("--length-buckets must be >= 1 (1 = one padded group per side)")
    if cfg.grad_cache_chunk < 0:
        raise UserError("--grad-cache-chunk must be >= 0 (0 = no caching)")
    dims = [int(d) for d in cfg.matryoshka_dims]
    if any(d < 1 for d in dims) or len(set(dims)) != len(dims):
        raise UserError(f"--matryoshka-dims must be distinct positive sizes, got {','.join(map(str, dims))}")


def check_matryoshka_dims(dims, hidden_size: int) -> None:
    """Every --matryoshka-dims size must fit the embedding (<= the model's hidden size): a larger one
    would have no prefix to train."""
    too_big = [int(d) for d in dims if int(d) > hidden_size]
    if too_big:
        raise UserError(f"--matryoshka-dims {','.join(map(str, too_big))} exceed the model's embedding size {hidden_size}; "
                        f"use sizes up to {hidden_size}")


RECORD_PATHS = ("data", "init", "out")  # config.json stores these as absolute paths (the `minilm` alias stays a name)


def train(cfg: ContrastiveConfig) -> dict:
    """Run stage 2; returns a summary dict (also written to OUT/summary.json on the main rank).
    SIGTERM / SIGINT stop the run after the step in progress (trainer.runtime.StopSignals): checkpoint
    (with --save-every > 0), metrics row, summary.json with `stopped_by`, no export or report (the
    --resume that finishes writes them)."""
    from trainer.runtime import StopSignals

    validate(cfg)
    with StopSignals() as stop:
        return _train(cfg, stop)


def _train(cfg: ContrastiveConfig, stop) -> dict:
    from trainer.runtime import StopSignals, ds_config_for, latest_checkpoint, load_checkpoint, save_checkpoint, setup_runtime

    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)
    rt = setup_runtime(seed=cfg.seed)
    out = Path(cfg.out)
    record = absolute_paths(asdict(cfg), RECORD_PATHS)
    check_run_folder(rt, out, resume=cfg.resume, settings_file="config.json", settings_of=resume_settings,
                     new_record={**record, "world_size": rt.world_size}, paths=RESUME_PATHS, kind=STAGE2)
    import torch

    from trainer.encoder import load_encoder
    from trainer.metrics import MetricsLogger
    from trainer.pairs_data import PairStream

    stream = PairStream.from_pairs(cfg.data, cfg.split, cfg.text_column, cfg.code_column, cfg.batch_size,
                                   rank=rt.rank, world_size=rt.world_size, seed=cfg.seed, languages=cfg.languages or None,
                                   name_queries=cfg.name_queries, name_query_docs=cfg.name_query_docs)
    encoder, tokenizer, model_dir = load_encoder(cfg.init)
    check_matryoshka_dims(cfg.matryoshka_dims, int(encoder.backbone.config.hidden_size))
    encoder.to(rt.device)
    encoder.train()
    ds_config = ds_config_for(cfg.deepspeed_config, cfg.batch_size, 1, rt, gradient_clipping=cfg.gradient_clipping)
    engine, _, scheduler = rt.initialize(encoder, ds_config, lr=cfg.lr, warmup_steps=cfg.warmup,
                                         total_steps=cfg.max_steps, weight_decay=cfg.weight_decay)
    # as in pretrain: --resume continues from the newest complete checkpoint and starts at step 0 when the
    # folder has none yet (a run with --save-every 0, or stopped before its first save), so the same
    # command line works before and after the first checkpoint (requeued jobs)
    start = 0
    if cfg.resume and latest_checkpoint(out) is not None:
        start = int(load_checkpoint(engine, out)["step"])
    elif cfg.resume and rt.is_main:
        print(f"resume: no complete checkpoint in {out} yet; starting from step 0", file=sys.stderr)
        remove_earlier_results(out)
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "config.json", {**record, "init_dir": str(model_dir), "world_size": rt.world_size,
                                                "pairs": len(stream.texts), "dropped_empty": stream.dropped, **stream.meta})
    # a resumed run drops the rows logged after its checkpoint (a killed run's): each step appears once
    logger = MetricsLogger(out, rt.is_main, cfg.max_steps, initial_step=start, progress=cfg.progress, description="stage2",
                           drop_after=start if cfg.resume else None)
    loss_fn = make_loss_fn(cfg)
    t0 = time.time()
    pairs_done, step = 0, start
    last_loss = None
    saved_step = start if start > 0 else None  # the step of the newest checkpoint: never saved twice
    checkpoint = None
    stopped_by = None
    for step in range(start, cfg.max_steps):
        texts, codes = stream.batch(step)
        loss = forward_backward(engine, tokenizer, cfg, loss_fn, texts, codes, rt.device)
        loss_value = rt.all_reduce_sum([loss.item()])[0] / rt.world_size
        if not math.isfinite(loss_value):
            logger.close()
            raise UserError(f"non-finite stage-2 loss {loss_value} at step {step + 1} (epoch {step // stream.steps_per_epoch}, "
                            f"batch {step % stream.steps_per_epoch}); the last checkpoint is intact: lower --lr or check the data")
        lr_used = scheduler.get_last_lr()[0]  # this step's update; engine.step() then advances the scheduler
        engine.step()
        pairs_done += cfg.batch_size * rt.world_size
        last_loss = loss_value
        done = step + 1
        # every rank must stop at the same step (collectives): rank clocks are combined with a sum
        out_of_time = bool(cfg.max_minutes) and rt.all_reduce_sum([float((time.time() - t0) / 60 >= cfg.max_minutes)])[0] > 0
        stopped_by = stop.requested(rt)  # SIGTERM / SIGINT on any rank: every rank stops after this step
        if done % cfg.log_every == 0 or done == cfg.max_steps or out_of_time or stopped_by:
            elapsed = time.time() - t0
            logger.log(done, loss=loss_value, lr=lr_used, pairs_per_s=pairs_done / max(elapsed, 1e-9),
                       epoch=done / stream.steps_per_epoch)
        if cfg.save_every and (done % cfg.save_every == 0 or done == cfg.max_steps or out_of_time or stopped_by):
            checkpoint = save_checkpoint(engine, out, done, {"step": done}, keep=cfg.keep_checkpoints)
            saved_step = done
        if stopped_by:
            logger.write(StopSignals.message(stopped_by, done, checkpoint if saved_step == done else None))
            break
        if out_of_time:
            logger.write(f"time budget of {cfg.max_minutes} min reached at step {done}")
            break
    ran = cfg.max_steps > start  # False: a finished run started again with --resume (nothing to train)
    final_step = step + 1 if ran else start
    elapsed = time.time() - t0
    logger.close()
    if ran:
        summary = {"steps": final_step, "final_loss": last_loss, "seconds": round(elapsed, 2),
                   "pairs_per_s": pairs_done / max(elapsed, 1e-9), "pairs": len(stream.texts), **stream.meta}
    else:
        # nothing ran: keep the summary of the run that trained these steps (not a NaN loss and 0 pairs/s)
        summary = earlier_summary(out, start) or {"steps": start, "final_loss": last_logged_loss(out, start),
                                                  "seconds": None, "pairs_per_s": None, "pairs": len(stream.texts), **stream.meta}
        if rt.is_main:
            print(f"resume: the run in {out} is at step {start} = --max-steps already; nothing to train", file=sys.stderr)
    if stopped_by:
        summary["stopped_by"] = stopped_by
    elif cfg.export and (ran or not (out / "model" / "codesage_stage2.json").is_file()):
        export_model(engine, encoder, tokenizer, out / "model", rt, cfg, summary, record)
    if rt.is_main:
        from trainer.report import report_at_end_of_run

        if ran or not (out / "summary.json").is_file():
            write_json_atomic(out / "summary.json", summary)
        if not stopped_by:
            report_at_end_of_run(str(out))
    rt.barrier()
    return summary


def earlier_summary(out: Path, step: int) -> dict | None:
    """OUT/summary.json when it describes the run at `step` (its `steps`), else None."""
    from trainer.runfolder import saved_record

    saved = saved_record(out, "summary.json")
    return saved if saved is not None and saved.get("steps") == step and not saved.get("stopped_by") else None


def last_logged_loss(out: Path, step: int) -> float | None:
    """The loss metrics.jsonl logged at `step` (None when that row is missing or not a finite number)."""
    loss = None
    try:
        lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("step") == step and isinstance(row.get("loss"), (int, float)):
            loss = float(row["loss"])
    return loss if loss is not None and math.isfinite(loss) else None


EARLIER_RESULTS = ("eval.json", "summary.json", "report.html")


def remove_earlier_results(out: Path) -> None:
    """Before a restart from step 0 in an earlier run's folder: its evaluation, summary, report and
    exported model described that run, not this one (the report would show the old evaluation as this
    run's). The model folder goes only when it is this trainer's export (it holds codesage_stage2.json)."""
    for name in EARLIER_RESULTS:
        (out / name).unlink(missing_ok=True)
    if (out / "model" / "codesage_stage2.json").is_file():
        shutil.rmtree(out / "model")


def export_model(engine, encoder, tokenizer, out_dir: Path, rt, cfg: ContrastiveConfig, summary: dict,
                 record: dict | None = None) -> None:
    """Export on the main rank; under ZeRO-3 every rank first gathers the partitioned parameters. An
    earlier export in `out_dir` (a run restarted or continued with --resume) is replaced as a whole, so
    no file of another model (e.g. an older tokenizer's vocab.txt) is left beside the new one."""
    import deepspeed

    from trainer.st_export import export_encoder

    if rt.is_main and (out_dir / "codesage_stage2.json").is_file():
        shutil.rmtree(out_dir)  # this trainer's earlier export: replaced whole, never mixed with the new one
    params = list(encoder.parameters())
    stage = engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else 0
    if stage == 3:
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            if rt.is_main:
                export_encoder(encoder.backbone, tokenizer, out_dir, train_max_len=cfg.code_max_len, extra={"stage2": record or asdict(cfg), **summary})
    elif rt.is_main:
        export_encoder(encoder.backbone, tokenizer, out_dir, train_max_len=cfg.code_max_len, extra={"stage2": record or asdict(cfg), **summary})
    rt.barrier()
