"""The run folder (`--out`) of a training command (`pretrain`, `contrastive`): one run per folder.

`check_run_folder(rt, out, resume=..., settings_file=..., settings=...)`, called by every rank before
anything is written:

* without `--resume`, `out` must not exist or be an empty folder: a second run never overwrites or
  appends to another run's model, metrics and checkpoints;
* with `--resume` and a complete checkpoint in `out`, the settings saved by that run
  (`out/<settings_file>`, written at its start) must equal `settings` for every key both hold. The caller
  passes only the settings that fix the data order, the model or the optimisation, keyed by the flag a
  user would change (e.g. `--seq-len`); knobs that legitimately change on resume (max steps, time budget,
  logging, checkpoint interval, memory/speed options) are simply not passed. Path values are compared
  as absolute paths. A settings file without a key (an older run) does not block the resume.

The main rank decides and every rank raises the same `UserError` (one sentence naming each differing
setting with its saved and new value), so no rank waits for a peer that stopped.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from trainer.errors import UserError


def flag(field_name: str) -> str:
    """The command-line flag of a config field: `seq_len` -> `--seq-len`."""
    return "--" + field_name.replace("_", "-")


def fixed_settings(record: dict, fields, may_change, batch_factors: tuple[str, ...], batch_label: str) -> dict:
    """The settings of a run record (run.json / config.json dict) that a `--resume` must keep, keyed by
    flag: every key in `fields` (the config dataclass's fields) not in `may_change`, plus the global
    batch under `batch_label`, the product of the `batch_factors` keys (when all are integers)."""
    out = {flag(k): v for k, v in record.items() if k in fields and k not in may_change}
    if all(isinstance(record.get(k), int) for k in batch_factors):
        out[batch_label] = math.prod(record[k] for k in batch_factors)
    return out


def check_out_dir(out: Path, resume: bool) -> None:
    """Raise UserError when `out` is a file, or a non-empty folder and `resume` is false."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not resume:
        raise UserError(f"output folder {out} is not empty; pass --resume to continue that run or choose a new --out")


def _normal(value: Any, is_path: bool) -> Any:
    value = json.loads(json.dumps(value, default=str))  # tuples -> lists, as in the saved JSON
    if is_path and isinstance(value, str) and value:
        return os.path.abspath(value)
    return value


def settings_differences(saved: dict, new: dict, paths: tuple[str, ...] = ()) -> list[str]:
    """`"NAME saved X, now Y"` for every key of `new` that `saved` holds with another value."""
    diffs = []
    for key, value in new.items():
        if key not in saved:
            continue
        old, now = _normal(saved[key], key in paths), _normal(value, key in paths)
        if old != now:
            diffs.append(f"{key} saved {json.dumps(old)}, now {json.dumps(now)}")
    return diffs


def saved_record(out: Path, settings_file: str) -> dict | None:
    """The run's saved settings (`out/settings_file`, e.g. run.json) as a dict, or None when the file is
    missing or is not a JSON object."""
    try:
        saved = json.loads((Path(out) / settings_file).read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def check_run_folder(rt, out: Path, *, resume: bool, settings_file: str, settings_of, new_record: dict,
                     paths: tuple[str, ...] = ()) -> None:
    """Refuse a non-empty `out` without `resume`, and a resume whose settings differ (module docstring).

    `settings_of(record) -> {flag name: value}` extracts the resume-fixed settings from a run record (the
    dict saved in `out/settings_file`); it is applied to the saved record and to `new_record`, this
    invocation's record. `paths` lists the flag names whose values are paths. Call on every rank.
    """
    from trainer.runtime import latest_checkpoint

    message = None
    if rt.is_main:
        try:
            check_out_dir(out, resume)
            if resume and latest_checkpoint(out) is not None:
                saved = saved_record(out, settings_file)
                if saved is not None:
                    diffs = settings_differences(settings_of(saved), settings_of(new_record), paths)
                    if diffs:
                        raise UserError(f"--resume with settings that differ from the run in {out} ({'; '.join(diffs)}); "
                                        "pass the run's values again or choose a new --out")
        except UserError as exc:
            message = str(exc)
    message = rt.all_gather_object(message)[0]
    if message is not None:
        raise UserError(message)
