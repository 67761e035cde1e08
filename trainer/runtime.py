"""Process runtime shared by every training stage: device, distributed setup, DeepSpeed, checkpoints.

This is the ONE place where device and backend decisions live:

* device: ``cuda:<LOCAL_RANK>`` when CUDA is available, else ``cpu`` (then ``DS_ACCELERATOR=cpu`` is set
  before DeepSpeed is imported, so DeepSpeed does not probe for GPUs);
* backend: NCCL on GPU, gloo on CPU;
* dtype: bf16 on GPUs that support it, fp32 otherwise.

The same code runs as a single process (no launcher variables: rank 0 of 1 over an in-memory store), under
the ``deepspeed`` launcher and under ``torchrun`` (both set RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR /
MASTER_PORT). ``setup_runtime`` creates the torch process group only; DeepSpeed's communication layer
adopts it in the first ``Runtime.initialize``, after the commands' checks, so a refused run does not
print DeepSpeed's start-up lines (nor compile its shared-memory op) before its error.

Checkpoint layout (``save_checkpoint(engine, out_dir, step, client_state)``)::

    OUT/checkpoints/step-00000100/     DeepSpeed files (model, optimizer, scheduler) + client_state
    OUT/checkpoints/step-00000100/rng-rank00000.pt   python / numpy / torch / cuda RNG states of each rank
    OUT/checkpoints/step-00000100/COMPLETE           written last, after every rank finished
    OUT/checkpoints/latest                           name of the newest COMPLETE checkpoint

Every rank writes into ``OUT/checkpoints/.tmp-step-00000100/``; rank 0 adds ``COMPLETE`` after every
rank finished and renames the folder to ``step-00000100`` (atomic), then replaces ``latest`` atomically
(``os.replace``). So a crash (or SIGKILL) in the middle of a save leaves ``latest`` pointing at the
previous good checkpoint, and ``latest_checkpoint`` follows ``latest`` or, when it names nothing
complete, falls back to the newest complete ``step-*`` folder.

``StopSignals`` turns SIGTERM / SIGINT into a request both training loops check after each optimizer
step (agreed across ranks), so a preempted job saves a checkpoint and exits 143 / 130.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainer.errors import UserError

# deploy/deepspeed/*.json, seen from inside the package: in a checkout `trainer/deepspeed_configs` is a
# link to that folder, and a wheel holds the files themselves (package data), so `--deepspeed-config
# zero1` works installed as well as from the source tree
DEEPSPEED_CONFIG_DIR = Path(__file__).resolve().parent / "deepspeed_configs"
CHECKPOINTS = "checkpoints"
LATEST = "latest"
COMPLETE = "COMPLETE"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass
class Runtime:
    """Where this process runs. Build it with `setup_runtime()`."""

    device: Any
    rank: int
    world_size: int
    local_rank: int
    dtype: Any
    backend: str
    _extra: dict = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"

    def barrier(self) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and self.world_size > 1:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few float64 scalars over all ranks (identity on one rank)."""
        import torch
        import torch.distributed as dist

        if self.world_size == 1 or not dist.is_initialized():
            return [float(v) for v in values]
        return all_reduce_sum(values, self.device)

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (a list of one on a single rank)."""
        import torch.distributed as dist

        if self.world_size == 1 or not dist.is_initialized():
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def init_deepspeed_comm(self) -> None:
        """Hand the process group to DeepSpeed's communication layer (idempotent). Deferred from
        `setup_runtime` to the first `initialize`: DeepSpeed builds (on the first run: compiles) its
        shared-memory op there and prints "DeepSpeed ... built successfully", which a run refused by a
        check of its folder, data or model should not print before its error."""
        import deepspeed
        import deepspeed.comm as ds_comm

        if not ds_comm.is_initialized():
            deepspeed.init_distributed(dist_backend=self.backend, auto_mpi_discovery=False, verbose=False,
                                       timeout=self._extra.get("timeout", datetime.timedelta(minutes=30)))

    def initialize(
        self,
        model,
        ds_config: dict,
        *,
        lr: float,
        warmup_steps: int,
        total_steps: int,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.98),
        eps: float = 1e-6,
        schedule: str = "linear",
        min_lr_ratio: float = 0.0,
    ):
        """Wrap `model` in a DeepSpeed engine with torch AdamW and a warmup+decay LambdaLR.

        Optimizer: `torch.optim.AdamW` (decoupled weight decay; no decay on biases and norm weights,
        i.e. parameters with fewer than 2 dimensions), with torch's fused kernel when every parameter
        lives on a device and dtype it supports (`fused_adamw_supported`): the same update, one kernel
        instead of a loop over tensors (on CPU the step of a 22M-parameter model drops ~5x). Schedule (`make_lr_lambda`): linear warmup
        from 0 to `lr` over `warmup_steps`, then linear or cosine decay to `min_lr_ratio * lr` at
        `total_steps`. The engine steps the scheduler once per optimizer step and saves it in checkpoints.
        Returns (engine, optimizer, scheduler); gradient clipping and accumulation come from `ds_config`.
        """
        import deepspeed
        import torch

        self.init_deepspeed_comm()
        decay, no_decay = [], []
        for p in model.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused_adamw_supported(decay + no_decay))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, make_lr_lambda(warmup_steps, total_steps, schedule, min_lr_ratio)
        )
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=model, optimizer=optimizer, lr_scheduler=scheduler, config=ds_config, dist_init_required=False
        )
        if self.world_size == 1 and engine.zero_optimization_stage() == 0:
            # With one rank the stage-0 gradient "all-reduce" flattens every gradient, reduces over a
            # group of one and copies it back: pure overhead (a few % of a CPU step).
            engine.enable_backward_allreduce = False
        return engine, optimizer, scheduler


FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def fused_adamw_supported(params) -> bool:
    """True when torch's fused AdamW handles every tensor: floating point, on CPU or CUDA (torch >= 2.4
    on CPU), so the optimizer never falls back mid-run."""
    import torch

    params = list(params)
    return bool(params) and all(p.device.type in FUSED_ADAMW_DEVICES and torch.is_floating_point(p) for p in params)


def make_lr_lambda(warmup_steps: int, total_steps: int, schedule: str = "linear", min_lr_ratio: float = 0.0):
    """Multiplier of the peak lr at optimizer step s (0-based, the value used for step s+1).

    warmup: (s + 1) / warmup_steps for s < warmup_steps (never exactly 0, so step 1 moves the weights);
    decay: progress p = (s - warmup) / max(1, total - warmup) clipped to [0, 1];
    linear: 1 - (1 - m) p; cosine: m + (1 - m) (1 + cos(pi p)) / 2, with m = min_lr_ratio.
    """
    if schedule not in ("linear", "cosine", "constant"):
        raise UserError(f"unknown lr schedule {schedule!r}; use linear, cosine or constant")

    def fn(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
        if schedule == "linear":
            return 1.0 - (1.0 - min_lr_ratio) * progress
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return fn


def setup_runtime(seed: int | None = None, timeout_minutes: float = 30.0) -> Runtime:
    """Initialise torch.distributed (env:// rendezvous) and return this process's Runtime.

    Without launcher variables the process becomes rank 0 of 1 on a free local port. Seeds python,
    numpy and torch with `seed + rank` when a seed is given (data order does not depend on these RNGs;
    they only drive dropout and similar model-side randomness).
    """
    if not _cuda_available():
        # Must happen before `import deepspeed` anywhere in the process.
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch
    import torch.distributed as dist

    # Launched (deepspeed / torchrun / srun wrapper) means the launcher set the rendezvous variables.
    launched = all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_PORT"))
    if launched:
        rank = int(os.environ["RANK"])
        world_size = int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        os.environ.setdefault("LOCAL_RANK", str(local_rank))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    else:
        rank, world_size, local_rank = 0, 1, 0
        # DeepSpeed's engine asserts LOCAL_RANK is set; alone it does not make a child "launched".
        os.environ.setdefault("LOCAL_RANK", "0")

    if _cuda_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    else:
        device = torch.device("cpu")
        backend = "gloo"
        dtype = torch.float32

    timeout = datetime.timedelta(minutes=timeout_minutes)
    if not dist.is_initialized():
        if launched:
            dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world_size, timeout=timeout)
        else:
            # One process without a launcher: an in-memory store, so no TCP port is opened and no
            # rendezvous variable leaks into child processes (a child `python -m trainer ...` that
            # inherited RANK/MASTER_PORT would try to rendezvous on this process's port).
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1, timeout=timeout)
        # DeepSpeed adopts this group in Runtime.initialize (init_deepspeed_comm), after the run's checks
    if seed is not None:
        seed_everything(seed + rank)
    return Runtime(device=device, rank=rank, world_size=world_size, local_rank=local_rank, dtype=dtype, backend=backend,
                   _extra={"timeout": timeout})


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def resolve_ds_config_path(path_or_name: str | os.PathLike) -> Path:
    """A path, or a name in deploy/deepspeed/ ('zero1' or 'zero1.json')."""
    p = Path(path_or_name)
    if p.is_file():
        return p
    for cand in (DEEPSPEED_CONFIG_DIR / p.name, DEEPSPEED_CONFIG_DIR / f"{p.name}.json"):
        if cand.is_file():
            return cand
    names = sorted(x.stem for x in DEEPSPEED_CONFIG_DIR.glob("*.json"))
    raise UserError(f"DeepSpeed config {str(path_or_name)!r} not found; pass a JSON file or one of {names}")


def ds_config_for(
    path_or_name: str | os.PathLike,
    micro_batch: int,
    grad_accum: int,
    rt: Runtime,
    *,
    gradient_clipping: float | None = None,
    single_rank_stage0: bool = True,
) -> dict:
    """Load a DeepSpeed JSON config and fill in what the run decides.

    Sets train_micro_batch_size_per_gpu, gradient_accumulation_steps and train_batch_size
    (= micro * accum * world size), gradient_clipping when given, and bf16/fp16 according to the
    device: on CPU both are disabled (fp32). Any "auto" left is resolved the same way. A config that
    needs a GPU (fp16, NVMe or CPU-Adam offload of a GPU optimizer) on a machine without one raises
    UserError.

    With one rank (`rt.world_size == 1`) and `single_rank_stage0`, ZeRO stage 1 or 2 without
    optimizer offload runs as stage 0: those stages partition optimizer state and gradients
    across data-parallel ranks, and with one rank there is nothing to partition, so the update
    is the same while their flat buffers, bucketed gradient hooks and reductions cost about
    2x the optimizer step on CPU (`benchmarks/contrastive.py`). Stage 3 and any offload are kept
    (on one GPU they are how a model that does not fit is trained). Checkpoints record the
    effective stage and the exporter reads it from there.
    """
    path = resolve_ds_config_path(path_or_name)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read DeepSpeed config {path}: {exc}") from None
    cfg["train_micro_batch_size_per_gpu"] = int(micro_batch)
    cfg["gradient_accumulation_steps"] = int(grad_accum)
    cfg["train_batch_size"] = int(micro_batch) * int(grad_accum) * rt.world_size
    if gradient_clipping is not None:
        cfg["gradient_clipping"] = float(gradient_clipping)
    elif cfg.get("gradient_clipping") == "auto":
        cfg["gradient_clipping"] = 1.0
    needs_gpu = bool(cfg.get("requires_gpu")) or _enabled(cfg.get("fp16"))
    zero = cfg.get("zero_optimization") or {}
    offloaded = any((zero.get(k) or {}).get("device") not in (None, "none") for k in ("offload_optimizer", "offload_param"))
    if single_rank_stage0 and rt.world_size == 1 and int(zero.get("stage", 0)) in (1, 2) and not offloaded:
        cfg["zero_optimization"] = zero = {"stage": 0}
    for key in ("offload_optimizer", "offload_param"):
        if (zero.get(key) or {}).get("device") == "nvme":
            needs_gpu = True
    if not rt.on_gpu:
        if needs_gpu:
            raise UserError(
                f"DeepSpeed config {path.name} needs a GPU (fp16 or NVMe offload) but none is available; "
                "use deploy/deepspeed/zero1.json, zero2.json or zero3.json on CPU"
            )
        cfg["bf16"] = {"enabled": False}
        cfg.pop("fp16", None)
    else:
        import torch

        if _enabled(cfg.get("bf16"), auto_value=True) and rt.dtype == torch.bfloat16:
            cfg["bf16"] = {**(cfg.get("bf16") or {}), "enabled": True}
        else:
            cfg["bf16"] = {"enabled": False}
    cfg.pop("requires_gpu", None)
    cfg.pop("comment", None)
    return cfg


def _enabled(section: Any, auto_value: bool = False) -> bool:
    if not isinstance(section, dict):
        return False
    value = section.get("enabled", False)
    return auto_value if value == "auto" else bool(value)


# --------------------------------------------------------------------------------------------- checkpoints


def _rng_state() -> dict:
    import torch

    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_tag(step: int) -> str:
    return f"step-{step:08d}"


def _rank_of_engine() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def save_checkpoint(engine, out_dir: str | os.PathLike, step: int, client_state: dict, keep: int = 0) -> Path:
    """Save model, optimizer, scheduler, every rank's RNG states and `client_state` (collective call).

    Every rank writes into a temporary folder (`checkpoints/.tmp-step-NNNNNNNN`); after a collective
    check that every rank succeeded, rank 0 writes the COMPLETE marker there and renames the folder to
    `step-NNNNNNNN`, then replaces `latest`. So `step-*` folders are always complete, and the checkpoint
    `latest` names is never missing: when a complete folder of the same step exists already (a step
    saved twice), `latest` names the temporary folder while the old one is replaced, and
    `latest_checkpoint` falls back to the newest complete `step-*` folder if it ever names a folder that
    is gone. An OSError on any rank (e.g. a full disk) removes the temporary folder and raises a
    one-line UserError naming the last good checkpoint. `keep` > 0 deletes all but the newest `keep`
    complete checkpoints afterwards. Returns the checkpoint folder.
    """
    import torch
    import torch.distributed as dist

    rank, world = _rank_of_engine()
    root = Path(out_dir) / CHECKPOINTS
    tag = checkpoint_tag(step)
    folder = root / tag
    tmp_tag = f"{TMP_PREFIX}{tag}"
    tmp = root / tmp_tag
    previous = latest_checkpoint(out_dir)
    error = None
    try:
        if rank == 0:
            if tmp.exists():  # leftover of a save that crashed before its rename
                shutil.rmtree(tmp)
            root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error = exc
    if _any_rank_failed(error is not None, world):
        _failed_save(tmp, rank, previous, error)
    try:
        engine.save_checkpoint(str(root), tag=tmp_tag, client_state={"codesage": client_state, "step": step}, save_latest=False)
        rng_tmp = tmp / f".rng-rank{rank:05d}.pt.tmp"
        torch.save(_rng_state(), rng_tmp)
        os.replace(rng_tmp, tmp / f"rng-rank{rank:05d}.pt")
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as RuntimeError
        error = exc
    if _any_rank_failed(error is not None, world):
        _failed_save(tmp, rank, previous, error)
    error = None
    if rank == 0:
        try:
            (tmp / COMPLETE).write_text(json.dumps({"step": step, "world_size": world,
                                                    "zero_stage": int(engine.zero_optimization_stage())}) + "\n")
            _fsync_dir(tmp)
            aside = root / f"{OLD_PREFIX}{tag}"
            if folder.exists():
                # the same step saved again: the old copy is renamed aside (never deleted in place, so
                # no step-* folder is ever a half-deleted one with its COMPLETE marker) and removed last
                # (`latest` names the new complete copy meanwhile; once that is renamed, the fallback
                # of latest_checkpoint finds it as the newest complete step-* folder)
                _write_latest(root, tmp_tag)
                if aside.exists():
                    shutil.rmtree(aside)
                os.replace(folder, aside)
            os.replace(tmp, folder)
            _fsync_dir(root)
            _write_latest(root, tag)
            if aside.exists():
                shutil.rmtree(aside, ignore_errors=True)
        except OSError as exc:
            error = exc
    # every rank learns whether rank 0's commit worked (else the others would run on into the next
    # step's collectives while rank 0 raised)
    if _any_rank_failed(error is not None, world):
        _failed_save(tmp, rank, previous, error)
    if rank == 0:
        # leftovers of crashed saves (temporary and set-aside folders) that `latest` does not name
        named = (root / LATEST).read_text().strip() if (root / LATEST).is_file() else ""
        for stale in [*root.glob(f"{TMP_PREFIX}step-*"), *root.glob(f"{OLD_PREFIX}step-*")]:
            if stale.name != named:
                shutil.rmtree(stale, ignore_errors=True)
        if keep > 0:
            complete = sorted(p for p in root.glob("step-*") if (p / COMPLETE).exists())
            for old in complete[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    if world > 1:
        dist.barrier()
    return folder


TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


def _write_latest(root: Path, name: str) -> None:
    tmp_latest = root / f".{LATEST}.tmp"
    tmp_latest.write_text(name + "\n")
    os.replace(tmp_latest, root / LATEST)
    _fsync_dir(root)


def all_reduce_sum(values: list[float], device=None) -> list[float]:
    """Sum a few float64 scalars over the initialised process group, on `device` (default: the
    current CUDA device under NCCL, else the CPU)."""
    import torch
    import torch.distributed as dist

    if device is None:
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def _any_rank_failed(failed: bool, world: int) -> bool:
    """True on every rank when any rank failed (a collective when there are several ranks)."""
    if world == 1:
        return failed
    return all_reduce_sum([1.0 if failed else 0.0])[0] > 0


def _failed_save(tmp: Path, rank: int, previous: Path | None, error: Exception | None) -> None:
    """Remove the partial checkpoint (rank 0) and raise the one-line error of a failed save."""
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    reason = (f"{getattr(error, 'strerror', None) or error}" if error is not None
              else "another rank could not write its part")
    if error is not None and getattr(error, "filename", None):
        reason += f" ({error.filename})"
    last = f"the last good checkpoint is {previous}" if previous is not None else "there is no earlier complete checkpoint"
    raise UserError(f"could not write the checkpoint {tmp.parent / tmp.name[len(TMP_PREFIX):]}: {reason}; the partial "
                    f"checkpoint was removed and {last}: free space (or fix the folder) and rerun with --resume")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def latest_checkpoint(out_or_ckpt: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under a run folder (or the folder itself if it is one).

    Follows `latest`; when it is missing or names a folder that is gone or incomplete (a copied or
    damaged run folder), the newest `step-*` folder with its COMPLETE marker is used instead, so a
    broken pointer never makes `--resume` restart from step 0 while complete checkpoints exist."""
    p = Path(out_or_ckpt)
    if (p / COMPLETE).exists():
        return p
    for root in (p / CHECKPOINTS, p):
        pointer = root / LATEST
        if pointer.is_file():
            try:
                name = pointer.read_text().strip()
            except OSError:
                name = ""
            folder = root / name
            if name and (folder / COMPLETE).exists():
                return folder
    for root in (p / CHECKPOINTS, p):
        if root.is_dir():
            complete = sorted(f for f in root.glob("step-*") if (f / COMPLETE).is_file())
            if complete:
                return complete[-1]
    return None


def check_world_change(folder, saved_world: int, saved_stage: int | None, world: int, stage: int) -> None:
    """A resume may change the number of ranks only when neither run partitions optimizer state.

    ZeRO stages 1-3 split the optimizer state (and stage 3 the weights) into one file per rank, and
    DeepSpeed cannot re-partition them on load (its "universal checkpoint" conversion is a separate
    offline step). So a checkpoint saved by N ranks resumes on M != N ranks only if both runs ran at
    effective stage 0 (`--deepspeed-config zero0`, or zero1/zero2 on one rank, which run as stage 0).
    Checkpoints written before the stage was recorded count as partitioned. Raises UserError before
    anything is loaded; the run folder is untouched."""
    if saved_world == world or (saved_stage == 0 and stage == 0):
        return
    saved_desc = f"ZeRO stage {saved_stage}" if saved_stage is not None else "an unrecorded ZeRO stage"
    raise UserError(
        f"the checkpoint {folder} was saved by {saved_world} rank(s) at {saved_desc}, this run has {world} rank(s) at "
        f"ZeRO stage {stage}: DeepSpeed cannot re-partition ZeRO optimizer state on load, so resume with {saved_world} "
        "rank(s) (same global batch), or train with --deepspeed-config zero0 from the start to change the rank count"
    )


def load_checkpoint(engine, ckpt_dir: str | os.PathLike) -> dict:
    """Restore model, optimizer, scheduler, this rank's RNG states; return the saved client_state.

    `ckpt_dir` is a run folder (follows checkpoints/latest) or one complete checkpoint folder.
    """
    import torch

    folder = latest_checkpoint(ckpt_dir)
    if folder is None:
        raise UserError(f"no complete checkpoint found in {ckpt_dir}; start without --resume or point to a run folder")
    rank, world = _rank_of_engine()
    saved = json.loads((folder / COMPLETE).read_text())
    saved_world = saved.get("world_size", world)
    check_world_change(folder, saved_world, saved.get("zero_stage"), world, int(engine.zero_optimization_stage()))
    load_path, client = engine.load_checkpoint(str(folder.parent), tag=folder.name)
    if load_path is None:
        raise UserError(f"DeepSpeed could not load the checkpoint in {folder}")
    rng_file = folder / f"rng-rank{rank:05d}.pt"
    if saved_world == world and rng_file.exists():
        _set_rng_state(torch.load(rng_file, weights_only=True))
    state = dict((client or {}).get("codesage", {}))
    state.setdefault("step", (client or {}).get("step", 0))
    return state


# --------------------------------------------------------------------------------------------- signals

SIGNAL_EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}  # 128 + the signal's number, as a shell reports a kill


class StopSignals:
    """SIGTERM / SIGINT as a stop request for a training loop (both stages use it).

    `with StopSignals() as stop:` installs handlers (main thread only; the previous ones come back on
    exit) that record the first signal; a second signal ends the process at once (exit 128 + its
    number). The loop calls `stop.requested(rt)` after each optimizer step: the name of the signal
    ("SIGTERM" or "SIGINT") or None, agreed over all ranks (a sum of flags when there are several, so
    every rank stops after the same step even if only some received the signal). The loop then saves a
    checkpoint, writes its metrics and prints `stop.message(step, tag)`; the command exits with
    `SIGNAL_EXIT_CODES[name]` (143 / 130)."""

    NAMES = ("SIGTERM", "SIGINT")
    REPEAT_GRACE_S = 5.0  # a signal repeated within this is the same request (launchers forward it)

    def __init__(self) -> None:
        self.received: str | None = None
        self._first_at = 0.0
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        import signal
        import sys

        name = signal.Signals(signum).name
        now = time.monotonic()
        if self.received is not None:
            if now - self._first_at < self.REPEAT_GRACE_S:
                # Slurm signals every process of the step and torchrun forwards it again: one request
                return
            print(f"{name} again: exiting at once (no checkpoint)", file=sys.stderr, flush=True)
            os._exit(128 + int(signum))
        self.received = name
        self._first_at = now
        print(f"{name} received: stopping after this step (a checkpoint is written first; send it again to exit at once)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "StopSignals":
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                sig = getattr(signal, name)
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def requested(self, rt) -> str | None:
        """The signal every rank stops for after this step, or None (collective when world size > 1)."""
        flags = [1.0 if self.received == name else 0.0 for name in self.NAMES]
        if rt.world_size > 1:
            flags = rt.all_reduce_sum(flags)
        return next((name for name, f in zip(self.NAMES, flags) if f > 0), None)

    @staticmethod
    def message(name: str, step: int, checkpoint: Path | None) -> str:
        where = f"checkpoint {checkpoint.name} written" if checkpoint is not None else "no checkpoint written (--save-every 0)"
        return f"stopped by {name} at step {step}; {where}; rerun with --resume"
