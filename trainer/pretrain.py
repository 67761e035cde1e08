"""Stage-1 training loop: MLM + deobfuscation on packed sequences, under DeepSpeed.

One optimizer step = `grad_accum` micro-batches of `batch_size` packed sequences on each of W ranks.
The loss of a step is the mean cross-entropy over ALL masked tokens of the global batch:

    L = (1 / M) * sum_{ranks r} sum_{micro-batches m} sum_{masked i} CE_i,    M = total masked tokens

Each rank knows M before its first backward (the step's micro-batches are fetched up front and the
masked counts all-reduced), and back-propagates loss_sum(r, m) * W * grad_accum / M; DeepSpeed divides by
grad_accum and averages gradients over the W ranks, so the applied gradient is exactly dL. Hence
W ranks with batch B equal 1 rank with batch W*B (same data streams, trainer.data), up to float
summation order.

Per step: warmup + decay learning rate (trainer.runtime.make_lr_lambda), gradient clipping (DeepSpeed
`gradient_clipping`), AdamW. A non-finite loss on any rank stops the run before its backward with
`TrainingDiverged` naming the step and the batch's data positions; the last checkpoint is untouched.
Checkpoints every `save_every` steps (and at the end) hold model, optimizer, scheduler, RNG and the
data position of every stream (trainer.runtime.save_checkpoint), so `--resume` continues exactly.
Logged `lr` is the learning rate the logged step's optimizer update used. A resumed run first drops the
metrics.jsonl rows past its checkpoint (a killed run's), so every step is logged once.
Every setting is checked (`preflight`) before the run folder is written.

Run folder: OUT/run.json (arguments, paths made absolute), OUT/model/config.json (model config),
OUT/tokenizer/ (copy: replaced on every start from step 0; a resume from a checkpoint with a --tokenizer
whose files differ from it is refused), OUT/metrics.jsonl, OUT/checkpoints/, OUT/report.html (curves,
written when training ends). OUT must be new or empty unless `--resume`; a resume must keep the settings of
`resume_settings` (trainer.runfolder), and a resume without a checkpoint only restarts a stage-1 run folder.

SIGTERM / SIGINT (trainer.runtime.StopSignals): the step in progress finishes, a checkpoint is saved, the
step is logged, one line says where it stopped, and the command exits 143 / 130.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from trainer.errors import UserError
from trainer.runfolder import (PATH, STAGE1, absolute_paths, check_run_folder, fixed_settings, saved_record,
                                write_json_atomic)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass
class PretrainConfig:
    data: str
    tokenizer: str
    out: str
    size: str | None = None            # preset of a fresh model (None: "tiny"); must stay None with --init
    init: str | None = None
    max_steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    seq_len: int = 1024
    deepspeed_config: str = "zero1"
    resume: bool = False
    lr: float = 3e-4
    warmup_steps: int = 100
    schedule: str = "linear"
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    dropout: float | None = None       # of a fresh model (None: 0.1); must stay None with --init
    model_overrides: dict = field(default_factory=dict)
    mask_rate: float = 0.15
    dobf_prob: float = 0.5
    dobf_name_prob: float = 0.5
    dobf_kinds: tuple[str, ...] = ("class", "function", "variable")
    split: str = "train"
    seed: int = 0
    data_streams: int = 0
    num_workers: int = 0
    unit_rows: int = 512
    shuffle_buffer: int = 4096
    save_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    progress: bool = True
    threads: int = 0
    # Test hooks (hidden flags): sleep after each step; inject a NaN loss at a step.
    throttle: float = 0.0
    nan_at_step: int = -1
    extra: dict = field(default_factory=dict)


# Fields a resumed run may change: length, logging, checkpointing, speed and test knobs. The per-rank
# batch and accumulation may change too as long as the global batch (compared instead) stays the same:
# with the same data streams that is the same data order and the same loss (trainer.data).
RESUME_MAY_CHANGE = frozenset({"out", "resume", "max_steps", "save_every", "keep_checkpoints", "log_every", "progress",
                               "threads", "num_workers", "throttle", "nan_at_step", "extra", "batch_size", "grad_accum"})
# path flags, compared as paths on resume; --data as the folder of `files` shards it names (OUT = OUT/files)
RESUME_PATHS = {"--data": "files", "--tokenizer": PATH, "--init": PATH}
GLOBAL_BATCH = "global batch (--batch-size x --grad-accum x ranks)"


def resume_settings(record: dict) -> dict:
    """The settings a `--resume` must share with the run it continues, keyed by flag: every PretrainConfig
    field not in RESUME_MAY_CHANGE (data, tokenizer, split, seed, --seq-len, data streams as resolved,
    shuffling, objective, model, optimisation) plus the global batch. `record` is a run.json dict
    (asdict(cfg) + world_size + the resolved data_streams)."""
    return fixed_settings(record, PretrainConfig.__dataclass_fields__, RESUME_MAY_CHANGE,
                          ("batch_size", "grad_accum", "world_size"), GLOBAL_BATCH)


DEFAULT_SIZE, DEFAULT_DROPOUT = "tiny", 0.1


def resolve_config(cfg: PretrainConfig) -> tuple[PretrainConfig, list[str]]:
    """Flag checks that need no file: returns (cfg with the fresh-model defaults filled in, problems).

    Problems (one clause each): a negative (or NaN) --lr, --weight-decay or --grad-clip, rates and
    --min-lr-ratio outside [0, 1] (named by their flags), nothing to learn
    (`--mask-rate 0` and `--dobf-prob 0`), unknown or no `--dobf-kinds` with deobfuscation on, a
    `--seq-len` below 8, and `--size`, `--dropout` or `--model-overrides` together with `--init` (an
    --init model keeps its own architecture and dropout, so these would be ignored). Without --init, a
    size/dropout left None becomes "tiny"/0.1; with --init both stay None (run.json records null)."""
    from schemas.contract import IDENTIFIER_KINDS

    problems = []
    if cfg.seq_len < 8:
        problems.append("--seq-len must be at least 8")
    # the command line refuses these while parsing (trainer.cli); repeated for callers building a config
    for flag_name, value in (("--lr", cfg.lr), ("--weight-decay", cfg.weight_decay), ("--grad-clip", cfg.grad_clip)):
        if not value >= 0.0 or value == float("inf"):
            problems.append(f"{flag_name} must be 0 or more, got {value}")
    for flag_name, value in (("--mask-rate", cfg.mask_rate), ("--dobf-prob", cfg.dobf_prob), ("--dobf-name-prob", cfg.dobf_name_prob),
                             ("--min-lr-ratio", cfg.min_lr_ratio)):
        if not 0.0 <= value <= 1.0:
            problems.append(f"{flag_name} must be between 0 and 1, got {value}")
    if cfg.mask_rate == 0 and cfg.dobf_prob == 0:
        problems.append("--mask-rate 0 with --dobf-prob 0 leaves nothing to predict (no token is ever masked); "
                        "raise one of them")
    unknown = [k for k in cfg.dobf_kinds if k not in IDENTIFIER_KINDS]
    if unknown:
        problems.append(f"--dobf-kinds {','.join(unknown)} not among {','.join(IDENTIFIER_KINDS)}")
    elif cfg.dobf_prob > 0 and not cfg.dobf_kinds:
        problems.append("--dobf-kinds is empty while --dobf-prob is above 0; name kinds or pass --dobf-prob 0")
    if cfg.init:
        given = [f for f, v in (("--size", cfg.size), ("--dropout", cfg.dropout), ("--model-overrides", cfg.model_overrides))
                 if v is not None and v != {}]
        if given:
            problems.append(f"{' and '.join(given)} cannot be combined with --init (the --init model keeps its own "
                            "architecture and dropout); drop them or train from scratch without --init")
        return replace(cfg, size=None, dropout=None, model_overrides={}), problems
    dropout = DEFAULT_DROPOUT if cfg.dropout is None else cfg.dropout
    if not 0.0 <= dropout < 1.0:
        problems.append(f"--dropout must be in [0, 1), got {dropout}")
    return replace(cfg, size=cfg.size or DEFAULT_SIZE, dropout=dropout), problems


def resolve_model_aliases(cfg: PretrainConfig) -> PretrainConfig:
    """`--init` and `--tokenizer` may name the packaged MiniLM (`minilm`, as in stage 2, evaluate and
    search: trainer.encoder.ALIASES); both become its folder, which run.json then records."""
    from trainer.encoder import ALIASES, packaged_minilm_dir

    def resolve(value):
        return str(packaged_minilm_dir()) if value is not None and str(value).lower() in ALIASES else value

    return replace(cfg, init=resolve(cfg.init), tokenizer=resolve(cfg.tokenizer))


def preflight(cfg: PretrainConfig) -> tuple[PretrainConfig, dict]:
    """Every check of the settings before the run folder is touched: `resolve_model_aliases`, `resolve_config`, the tokenizer
    (its pad, mask and end-of-document tokens, `tokenization.special_ids`), the model (a fresh preset
    with --model-overrides builds; an --init folder's vocabulary matches the tokenizer and its learned
    position table, if any, covers --seq-len, `modeling.check_seq_len`). Raises one UserError naming
    every problem found; returns (resolved cfg, {"special": ids, "vocab": tokenizer size}). Pure: every
    rank computes the same answer."""
    from trainer.modeling import build_model, check_seq_len, check_vocab, init_skeleton, load_init_config
    from trainer.tokenization import load_tokenizer, special_ids, tokenizer_vocab_size

    cfg, problems = resolve_config(resolve_model_aliases(cfg))
    tok = load_tokenizer(cfg.tokenizer)
    vocab = tokenizer_vocab_size(tok)
    special = None
    try:
        special = special_ids(tok, cfg.tokenizer)
    except UserError as exc:
        problems.append(str(exc))
    if special is not None and not problems:
        try:
            if cfg.init:
                config = load_init_config(cfg.init)
                check_vocab(config, vocab, special)
                check_seq_len(init_skeleton(config), cfg.seq_len)
            else:
                build_model(cfg.size, vocab, special, seq_len=cfg.seq_len, dropout=cfg.dropout, overrides=cfg.model_overrides, device="meta")
        except UserError as exc:
            problems.append(str(exc))
    elif special is not None and cfg.init:
        # also report a vocabulary mismatch of the --init folder with the flag problems (one round trip)
        try:
            check_vocab(load_init_config(cfg.init), vocab, special)
        except UserError as exc:
            problems.append(str(exc))
    if problems:
        raise UserError("; ".join(problems))
    return cfg, {"special": special, "vocab": vocab}


def data_streams(cfg: PretrainConfig, world_size: int, out: Path | None = None) -> int:
    """The number of data streams S: --data-streams; else, when resuming a run with a checkpoint, the
    run's own S (from run.json: the data order is fixed by S, so ranks and workers may change as long as
    they divide it); else ranks x dataloader workers."""
    if cfg.data_streams:
        return cfg.data_streams
    if cfg.resume and out is not None:
        from trainer.runtime import latest_checkpoint

        saved = (saved_record(out, "run.json") if latest_checkpoint(out) is not None else None) or {}
        if isinstance(saved.get("data_streams"), int) and saved["data_streams"] > 0:
            return saved["data_streams"]
    return world_size * max(1, cfg.num_workers)


def check_data_streams(cfg: PretrainConfig, streams: int, world_size: int) -> None:
    """S must be a multiple of ranks x workers (each (rank, worker) reads whole streams)."""
    workers = max(1, cfg.num_workers)
    if streams % (world_size * workers) == 0:
        return
    if cfg.data_streams:
        raise UserError(f"--data-streams {streams} must be a multiple of world size x workers ({world_size} x {workers})")
    raise UserError(
        f"this run reads {streams} data streams (run.json), not a multiple of world size x workers ({world_size} x {workers}); "
        f"resume with ranks x --num-workers dividing {streams} (to vary workers, start a run with --data-streams a multiple "
        "of ranks x every worker count you may use)"
    )


def build_stage1(cfg: PretrainConfig, special: dict, vocab: int):
    """The masked-LM (fresh preset or --init folder), vocabulary- and position-checked."""
    from trainer.modeling import build_model, check_seq_len, check_vocab, load_init

    if cfg.init:
        mlm = load_init(cfg.init)
        check_seq_len(mlm, cfg.seq_len)
    else:
        mlm = build_model(cfg.size or DEFAULT_SIZE, vocab, special, seq_len=cfg.seq_len,
                          dropout=DEFAULT_DROPOUT if cfg.dropout is None else cfg.dropout, overrides=cfg.model_overrides)
    check_vocab(mlm.config, vocab, special)
    return mlm


def nothing_to_learn(cfg: PretrainConfig, step: int) -> UserError:
    """The error for a first step without a single masked token in the whole global batch: the loss
    would be 0 and nothing would be learned for as long as the data looks like this (empty documents
    pack into sequences of end-of-document tokens, which are never masked). Later steps are not checked:
    one unlucky batch of tiny documents mid-run is harmless."""
    return UserError(f"nothing to learn from: step {step} holds no masked token in its {cfg.batch_size * cfg.grad_accum} "
                     f"sequences per rank, so the documents of split '{cfg.split}' in {cfg.data} are empty or too short to "
                     f"mask at --mask-rate {cfg.mask_rate:g}; check the pipeline's output or choose another --split")


RECORD_PATHS = ("data", "tokenizer", "init", "out")  # run.json stores these as absolute paths


def run_pretrain(cfg: PretrainConfig) -> dict:
    """Train; returns a summary dict (final step, last loss, tokens/s, packing efficiency, out; plus
    `stopped_by` = "SIGTERM" / "SIGINT" when a signal stopped the run). Every user error (`preflight`,
    the run folder, the tokenizer of a resumed run, the data streams, the data) is raised before the run
    folder is written."""
    from trainer.runtime import StopSignals, setup_runtime

    out = Path(cfg.out)
    with StopSignals() as stop:
        cfg, info = preflight(cfg)
        if cfg.threads > 0:
            import torch

            torch.set_num_threads(cfg.threads)
        rt = setup_runtime(seed=cfg.seed)
        streams = data_streams(cfg, rt.world_size, out)
        record = absolute_paths({**asdict(cfg), "world_size": rt.world_size, "data_streams": streams}, RECORD_PATHS)
        check_run_folder(rt, out, resume=cfg.resume, settings_file="run.json", settings_of=resume_settings,
                         new_record=record, paths=RESUME_PATHS, kind=STAGE1)
        check_tokenizer(rt, cfg, out)
        check_data_streams(cfg, streams, rt.world_size)
        try:
            return _train(cfg, rt, out, streams, info, record, stop)
        finally:
            rt.barrier()


def _tokenizer_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each tokenizer file (`tokenization.TOKENIZER_FILES`) of `folder`, by name."""
    import hashlib

    from trainer.tokenization import TOKENIZER_FILES

    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in TOKENIZER_FILES if (folder / n).is_file()}


def check_tokenizer(rt, cfg: PretrainConfig, out: Path) -> None:
    """A resume from a checkpoint must use the tokenizer the run was trained with: the files of
    --tokenizer must equal the run's copy in OUT/tokenizer (same names, same bytes), else one UserError
    (a tokenizer retrained at the same path would silently change every token id). A run without a
    copy is not checked. Collective: the main rank decides, every rank raises."""
    from trainer.runtime import latest_checkpoint

    message = None
    saved = out / "tokenizer"
    if rt.is_main and cfg.resume and saved.is_dir() and latest_checkpoint(out) is not None and Path(cfg.tokenizer).is_dir():
        now, then = _tokenizer_hashes(Path(cfg.tokenizer)), _tokenizer_hashes(saved)
        if now != then:
            differ = sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n))
            message = (f"--tokenizer {cfg.tokenizer} is not the tokenizer the run in {out} was trained with ({', '.join(differ)} "
                       f"differ from {saved}); resume with that tokenizer or start a new run in a new --out")
    message = rt.all_gather_object(message)[0]
    if message is not None:
        raise UserError(message)


def _train(cfg: PretrainConfig, rt, out: Path, streams: int, info: dict, record: dict, stop) -> dict:
    import torch

    from trainer.data import PackedStream, batches, find_shards, make_loader, merge_positions, plan_units
    from trainer.masking import MaskingConfig
    from trainer.metrics import MetricsLogger
    from trainer.modeling import make_stage1_model
    from trainer.runtime import StopSignals, ds_config_for, latest_checkpoint, load_checkpoint, save_checkpoint
    from trainer.tokenization import copy_tokenizer_files

    special, vocab = info["special"], info["vocab"]
    masking = MaskingConfig(mask_id=special["mask"], mlm_rate=cfg.mask_rate, dobf_prob=cfg.dobf_prob,
                            dobf_name_prob=cfg.dobf_name_prob, dobf_kinds=tuple(cfg.dobf_kinds))
    shards = find_shards(cfg.data)
    workers = max(0, cfg.num_workers)
    needs = ("content",) + (("identifiers",) if cfg.dobf_prob > 0 else ())
    units = plan_units(shards, cfg.split, streams, cfg.unit_rows, needs=needs)

    mlm = build_stage1(cfg, special, vocab)
    model = make_stage1_model(mlm)
    ds_config = ds_config_for(cfg.deepspeed_config, cfg.batch_size, cfg.grad_accum, rt, gradient_clipping=cfg.grad_clip)
    engine, _, scheduler = rt.initialize(
        model, ds_config, lr=cfg.lr, warmup_steps=cfg.warmup_steps, total_steps=cfg.max_steps,
        weight_decay=cfg.weight_decay, schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio,
    )

    start_step, positions = 0, {}
    if cfg.resume and latest_checkpoint(out) is not None:
        state = load_checkpoint(engine, out)
        start_step = int(state.get("step", 0))
        positions = {int(k): tuple(v) for k, v in state.get("positions", {}).items()}
        if state.get("data_streams", streams) != streams:
            raise UserError(f"the checkpoint used {state.get('data_streams')} data streams; resume with --data-streams {state.get('data_streams')}")
    elif cfg.resume and rt.is_main:
        print(f"resume: no complete checkpoint in {out} yet; starting from step 0", file=sys.stderr)
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "run.json", record)
        mlm.config.save_pretrained(str(out / "model"))
        tok_src = Path(cfg.tokenizer)
        if tok_src.is_dir() and (start_step == 0 or not (out / "tokenizer").exists()):
            # only the tokenizer's files: --tokenizer may be a model folder (with --init), whose weights and
            # config must not reach the export. A start from step 0 replaces an earlier run's copy whole
            # (a resume from a checkpoint keeps it: check_tokenizer made sure --tokenizer is the same)
            tmp_tok = out / ".tokenizer.tmp"
            shutil.rmtree(tmp_tok, ignore_errors=True)
            copy_tokenizer_files(tok_src, tmp_tok)
            shutil.rmtree(out / "tokenizer", ignore_errors=True)
            os.replace(tmp_tok, out / "tokenizer")
    rt.barrier()

    dataset = PackedStream(
        shards, units, cfg.tokenizer, masking, seq_len=cfg.seq_len, streams=streams, rank=rt.rank,
        world_size=rt.world_size, seed=cfg.seed, window_units=max(1, cfg.shuffle_buffer // max(1, cfg.unit_rows)),
        split=cfg.split, positions=positions, pad_id=special["pad"],
        start_offset=start_step * cfg.batch_size * cfg.grad_accum,
    )
    loader = make_loader(dataset, num_workers=workers)
    micro_batches = batches(iter(loader), cfg.batch_size)
    consumed = {s: positions.get(s, (0, 0, 0)) for s in dataset.rank_streams()}

    # a resumed run drops the rows a killed run logged after its checkpoint: each step appears once
    logger = MetricsLogger(out, rt.is_main, cfg.max_steps, initial_step=start_step, progress=cfg.progress, description="pretrain",
                           drop_after=start_step if cfg.resume else None)
    engine.train()
    window = {"loss": 0.0, "masked": 0.0, "correct": 0.0, "tokens": 0.0, "slots": 0.0, "docs": 0.0, "dobf": 0.0}
    t_window = time.perf_counter()
    last = {"step": start_step}
    step = start_step
    stopped_by = None
    try:
        for step in range(start_step + 1, cfg.max_steps + 1):
            # the lr this step's optimizer update uses (the engine steps the scheduler after the update)
            lr_used = scheduler.get_last_lr()[0] if scheduler is not None else cfg.lr
            micro = [next(micro_batches) for _ in range(cfg.grad_accum)]
            local_masked = sum(int((mb["labels"] != -100).sum()) for mb in micro)
            (global_masked,) = rt.all_reduce_sum([local_masked])
            if start_step == 0 and step == 1 and global_masked == 0:  # a fresh start only (see nothing_to_learn)
                raise nothing_to_learn(cfg, step)
            scale = rt.world_size * cfg.grad_accum / max(global_masked, 1.0)
            step_loss = step_correct = 0.0
            for k, mb in enumerate(micro):
                loss_sum, n_masked, n_correct = engine(
                    mb["input_ids"].to(rt.device), mb["labels"].to(rt.device),
                    mb["segment_ids"].to(rt.device), mb["position_ids"].to(rt.device),
                )
                if step == cfg.nan_at_step:
                    loss_sum = loss_sum * float("nan")
                (bad,) = rt.all_reduce_sum([0.0 if torch.isfinite(loss_sum).item() else 1.0])
                if bad:
                    where = ", ".join(f"stream {p[0]} epoch {p[1]} window {p[2]} seq {p[3] - 1}" for p in mb["pos"].tolist())
                    raise TrainingDiverged(
                        f"non-finite loss at step {step}, micro-batch {k} (data: {where}); the last good checkpoint "
                        f"in {out / 'checkpoints'} is intact: lower --lr or raise --warmup-steps and --resume"
                    )
                engine.backward(loss_sum * scale)
                engine.step()
                step_loss += float(loss_sum.detach())
                step_correct += float(n_correct)
                for p in mb["pos"].tolist():
                    consumed[int(p[0])] = (int(p[1]), int(p[2]), int(p[3]))
            seg = torch.cat([mb["segment_ids"] for mb in micro])
            window["loss"] += step_loss
            window["masked"] += local_masked
            window["correct"] += step_correct
            window["tokens"] += float((seg != -1).sum())
            window["slots"] += float(seg.numel())
            window["docs"] += sum(mb["n_docs"] for mb in micro)
            window["dobf"] += sum(mb["n_dobf"] for mb in micro)

            stopped_by = stop.requested(rt)  # SIGTERM / SIGINT on any rank: every rank stops after this step
            if step % cfg.log_every == 0 or step == cfg.max_steps or stopped_by:
                keys = list(window)
                totals = dict(zip(keys, rt.all_reduce_sum([window[k] for k in keys])))
                elapsed = time.perf_counter() - t_window
                last = logger.log(
                    step,
                    loss=totals["loss"] / max(totals["masked"], 1.0),
                    accuracy=totals["correct"] / max(totals["masked"], 1.0),
                    lr=lr_used,
                    tokens_per_s=totals["tokens"] / max(elapsed, 1e-9),
                    packing_efficiency=totals["tokens"] / max(totals["slots"], 1.0),
                    masked_tokens=int(totals["masked"]),
                    # documents are counted at their first piece; a window of later pieces only (long
                    # documents, few steps) has none, and its share is unknown (null), not 0
                    dobf_share=totals["dobf"] / totals["docs"] if totals["docs"] else None,
                    seconds=round(elapsed, 3),
                ) or {"step": step}
                window = dict.fromkeys(window, 0.0)
                t_window = time.perf_counter()

            if step % cfg.save_every == 0 or step == cfg.max_steps or stopped_by:
                merged = merge_positions(rt.all_gather_object({s: list(v) for s, v in consumed.items()}))
                folder = save_checkpoint(engine, out, step, {"positions": merged, "data_streams": streams, "step": step},
                                         keep=cfg.keep_checkpoints)
            if stopped_by:
                logger.write(StopSignals.message(stopped_by, step, folder))
                break
            if cfg.throttle:
                time.sleep(cfg.throttle)
    finally:
        logger.close()
    if rt.is_main:
        from trainer.report import report_at_end_of_run

        report_at_end_of_run(str(out))
    summary = {"out": str(out), "step": step, **{k: v for k, v in last.items() if k != "time"}}
    if stopped_by:
        summary["stopped_by"] = stopped_by
    return summary


# --------------------------------------------------------------------------------------------- evaluation


def heldout_masked_loss(mlm, data: str, tokenizer: str, *, split: str = "valid", seq_len: int = 1024,
                        batch_size: int = 8, seed: int = 1234, masking=None, unigram_log_probs=None,
                        max_batches: int | None = None) -> dict:
    """Mean masked-token cross-entropy of `mlm` over one deterministic pass of `split`.

    The corruption is the training objective's (same MaskingConfig, fixed seed), so the number is the
    stage-1 loss on unseen files. When `unigram_log_probs` (V,) is given, the same masked targets are
    also scored by that unigram model: loss_unigram = mean_i -log p_unigram(target_i).
    """
    import numpy as np
    import torch

    from trainer.data import PackedStream, batches, find_shards, plan_units
    from trainer.masking import MaskingConfig
    from trainer.modeling import make_stage1_model
    from trainer.tokenization import load_tokenizer, special_ids

    special = special_ids(load_tokenizer(tokenizer), tokenizer)
    masking = masking or MaskingConfig(mask_id=special["mask"])
    shards = find_shards(data)
    units = plan_units(shards, split, 1, needs=("content",) + (("identifiers",) if masking.dobf_prob > 0 else ()))
    ds = PackedStream(shards, units, tokenizer, masking, seq_len=seq_len, streams=1, seed=seed, split=split,
                      infinite=False, pad_id=special["pad"], window_units=len(units))
    model = make_stage1_model(mlm).eval()
    total = masked = correct = uni = 0.0
    with torch.no_grad():
        for k, b in enumerate(batches(iter(ds), batch_size)):
            if max_batches is not None and k >= max_batches:
                break
            loss_sum, n, c = model(b["input_ids"], b["labels"], b["segment_ids"], b["position_ids"])
            total += float(loss_sum)
            masked += float(n)
            correct += float(c)
            if unigram_log_probs is not None:
                targets = b["labels"][b["labels"] != -100].numpy()
                uni += float(-np.asarray(unigram_log_probs)[targets].sum())
    out = {"split": split, "masked_tokens": int(masked), "loss": total / max(masked, 1.0), "accuracy": correct / max(masked, 1.0)}
    if unigram_log_probs is not None:
        out["unigram_loss"] = uni / max(masked, 1.0)
    return out


def unigram_log_probs(data: str, tokenizer: str, *, split: str = "train", vocab_size: int | None = None):
    """Add-one smoothed unigram log-probabilities of token ids over `split` (streamed), shape (V,)."""
    import numpy as np

    from trainer.data import find_shards
    from trainer.tokenization import iter_contents, load_tokenizer, tokenizer_vocab_size

    tok = load_tokenizer(tokenizer)
    v = vocab_size or tokenizer_vocab_size(tok)
    counts = np.ones(v, dtype=np.float64)
    texts: list[str] = []

    def flush():
        for enc in tok.encode_batch(texts):
            np.add.at(counts, np.asarray(enc.ids[:-1] if enc.ids else [], dtype=np.int64), 1.0)
        texts.clear()

    for text in iter_contents(find_shards(data), split):
        texts.append(text)
        if len(texts) >= 256:
            flush()
    flush()
    return np.log(counts / counts.sum())
