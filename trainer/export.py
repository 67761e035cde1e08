"""Export a DeepSpeed checkpoint of a stage-1 run as a Hugging Face model folder.

Input: a stage-1 run folder (follows checkpoints/latest) or one complete checkpoint folder
(RUN/checkpoints/step-NNNNNNNN, the step zero-padded to 8 digits). The run folder provides the model
config (OUT/model/config.json) and the tokenizer (OUT/tokenizer/), or pass them. A path that does not
exist is named with the run's complete checkpoints; a stage-2 run folder or checkpoint is refused (its
model is exported in RUN/model by `contrastive` itself).

Weights:
* ZeRO stage 0: the `module` state dict of mp_rank_00_model_states.pt (read with weights_only=True);
* ZeRO stages 1-3: DeepSpeed's fp32 consolidation (`get_fp32_state_dict_from_zero_checkpoint`), which
  merges the fp32 master partitions of every rank (for ZeRO-3 the `module` entry is empty). Note that it
  unpickles the checkpoint's own files (DeepSpeed's format needs it): export only checkpoints you wrote.

The "mlm." prefix of the training wrapper is stripped. The consolidation stores a tied parameter once,
so the decoder weight may be missing: the model is built from its config, loaded with strict=False,
every missing key must be a tied one, and `tie_weights()` re-links it; the function checks that the
output embedding IS the input embedding afterwards (and that nothing else is missing or unexpected).
Output: config.json, model.safetensors, the tokenizer files, export.json and metrics.jsonl, written into a
temporary sibling folder (`.MODEL.export-tmp-PID`) renamed to MODEL at the end, so a failed export leaves
nothing a retry would refuse. Lines of the run's metrics.jsonl that do not parse (a torn last line) are
skipped.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from trainer.errors import UserError

PREFIX = "mlm."


def _checkpoint_state_dict(folder: Path) -> dict:
    import torch

    model_files = sorted(folder.glob("*model_states.pt"))
    if not model_files:
        raise UserError(f"no DeepSpeed model states in {folder}; pass a run folder or a checkpoint folder")
    meta = torch.load(model_files[0], map_location="cpu", weights_only=True)
    stage = int(((meta.get("ds_config") or {}).get("zero_optimization") or {}).get("stage", 0))
    if stage == 0:
        state = meta["module"]
    else:
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        state = get_fp32_state_dict_from_zero_checkpoint(str(folder.parent), tag=folder.name)
    return {k[len(PREFIX):] if k.startswith(PREFIX) else k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _tied_keys(model) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied) if isinstance(tied, (dict, list, tuple, set)) else set()


def load_exported_check(model) -> None:
    inp = model.get_input_embeddings().weight
    outp = model.get_output_embeddings().weight
    if getattr(model.config, "tie_word_embeddings", False) and inp.data_ptr() != outp.data_ptr():
        raise UserError("exported model lost its tied embeddings; report this as a bug")


def _complete_checkpoints(root: Path) -> list[str]:
    """Names of the complete checkpoint folders (step-NNNNNNNN with a COMPLETE marker) in `root`."""
    from trainer.runtime import COMPLETE

    return sorted(p.name for p in root.glob("step-*") if (p / COMPLETE).is_file()) if root.is_dir() else []


def _checkpoints_note(root: Path, asked: str | None = None) -> str:
    """`; complete checkpoints in ROOT: a, b` (naming the zero-padded form of a `step-N` the user typed),
    or `` when `root` holds none."""
    import re

    from trainer.runtime import checkpoint_tag

    names = _complete_checkpoints(root)
    if not names:
        return ""
    typed = re.fullmatch(r"step-(\d+)", asked or "")  # e.g. step-25 for step-00000025
    padded = checkpoint_tag(int(typed.group(1))) if typed else None
    hint = f"; did you mean {root / padded}?" if padded in names else ""
    return f"; complete checkpoints in {root}: {', '.join(names)}{hint}"


def _stage2_run(src: Path) -> Path | None:
    """The stage-2 (contrastive) run folder `src` is, or holds the checkpoint `src` of; None otherwise."""
    from trainer.runfolder import STAGE2, run_kind
    from trainer.runtime import CHECKPOINTS

    for run in (src, src.parent.parent if src.parent.name == CHECKPOINTS else None):
        if run is not None and run_kind(run) == STAGE2:
            return run
    return None


def find_checkpoint(checkpoint: str | Path) -> Path:
    """The complete checkpoint folder `checkpoint` names (a stage-1 run folder: its newest; or one
    checkpoint folder). UserError, in one line, for a path that does not exist (listing the run's
    complete checkpoints), an incomplete one, or a stage-2 run (already exported in RUN/model)."""
    from trainer.runtime import CHECKPOINTS, latest_checkpoint

    src = Path(checkpoint)
    run2 = _stage2_run(src)
    if run2 is not None:
        raise UserError(_stage2_message(run2))
    if not src.exists():
        root = src.parent if src.parent.name == CHECKPOINTS else src.parent / CHECKPOINTS
        raise UserError(f"checkpoint {src} does not exist{_checkpoints_note(root, src.name)}")
    folder = latest_checkpoint(src)
    if folder is None:
        root = src / CHECKPOINTS if (src / CHECKPOINTS).is_dir() else src.parent
        raise UserError(f"no complete checkpoint in {src}; pass a run folder of `python -m trainer pretrain` or a complete "
                        f"checkpoint folder{_checkpoints_note(root)}")
    return folder


def _stage2_message(run: Path) -> str:
    model = run / "model"
    if (model / "config.json").is_file():
        where = f"is already exported in {model}"
    else:  # --no-export: a resume without it exports (after training from step 0 when there is no checkpoint)
        where = f"is written to {model} at the end of training (this run used --no-export; run its command again with --resume and without it)"
    return f"{run} is a stage-2 (contrastive) run, whose model {where}; `export` is for stage-1 (pretrain) runs"


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, config_dir: str | Path | None = None,
                      tokenizer_dir: str | Path | None = None) -> dict:
    """Write the HF folder; returns a summary (parameters, tied, step, source)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModelForMaskedLM

    folder = find_checkpoint(checkpoint)
    run_dir = folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent
    config_dir = Path(config_dir) if config_dir else run_dir / "model"
    tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else run_dir / "tokenizer"
    if not (config_dir / "config.json").is_file():
        raise UserError(f"no model config at {config_dir}/config.json; pass --config")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"output folder {out} is not empty; choose a new --out")

    config = AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    model = AutoModelForMaskedLM.from_config(config)
    state = _checkpoint_state_dict(folder)
    result = model.load_state_dict(state, strict=False)
    tied = _tied_keys(model)
    missing = [k for k in result.missing_keys if k not in tied]
    if result.unexpected_keys and all(k.startswith("backbone.") for k in result.unexpected_keys):
        # a stage-2 checkpoint (trainer.encoder.Encoder wraps the model as `backbone`) outside its run folder
        raise UserError(f"{folder} is a stage-2 (contrastive) checkpoint, whose run writes its model to RUN/model; "
                        "`export` is for stage-1 (pretrain) runs")
    if missing or result.unexpected_keys:
        raise UserError(f"checkpoint does not match the model config: missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}")
    model.tie_weights()
    load_exported_check(model)
    # written into a temporary sibling folder renamed at the end: a failed export leaves no half-written
    # --out behind (which a retry would refuse as not empty)
    tmp = out.parent / f".{out.name}.export-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        summary = _write_export(model, config, result, folder, run_dir, tokenizer_dir, tmp)
        if out.exists():
            out.rmdir()  # empty (checked above); os.replace cannot replace it on every platform
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _last_logged_loss(metrics: Path, step: int):
    """The loss metrics.jsonl logged at `step`, or None; lines that do not parse (e.g. the torn last
    line of a killed run) are skipped, as the report does."""
    loss = None
    if not metrics.is_file():
        return None
    for line in metrics.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and rec.get("step") == step and "loss" in rec:
            loss = rec["loss"]
    return loss


def _write_export(model, config, result, folder: Path, run_dir: Path, tokenizer_dir: Path, out: Path) -> dict:
    model.save_pretrained(str(out), safe_serialization=True)
    if tokenizer_dir.is_dir():
        for f in tokenizer_dir.iterdir():
            if f.is_file() and f.name not in ("metrics.jsonl", "training_info.json"):
                shutil.copy2(f, out / f.name)
    done = json.loads((folder / "COMPLETE").read_text())
    summary = {"source": str(folder), "step": int(done.get("step", 0)), "parameters": sum(p.numel() for p in model.parameters()),
               "tied_embeddings": bool(getattr(config, "tie_word_embeddings", False)),
               "missing_tied_keys": sorted(result.missing_keys)}
    (out / "export.json").write_text(json.dumps(summary, indent=2) + "\n")
    loss = _last_logged_loss(run_dir / "metrics.jsonl", summary["step"])
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": summary["step"], "loss": loss, "parameters": summary["parameters"]}) + "\n")
    return summary
