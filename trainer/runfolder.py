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
  as absolute paths; a data path as the folder of shards it names (`OUT` and `OUT/files` are the same
  stage-1 data, `OUT` and `OUT/pairs` the same pairs), worked out again from the saved value, so run
  folders that saved the value as typed compare the same way. The model alias `minilm` stays a name.
  A settings file without a key (an older run) does not block the resume;
  A settings file that is missing or unreadable while a checkpoint exists is refused (nothing could be
  checked);
* with `--resume` and no complete checkpoint yet, the run starts from step 0; with `kind` (both stages
  pass theirs) a non-empty folder must be a run of that kind and its settings are compared too.

Settings files are written with `write_json_atomic` (temporary file + os.replace), their path values
made absolute first (`absolute_paths`).

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


STAGE1, STAGE2 = "stage-1", "stage-2"


def run_kind(path: str | os.PathLike) -> str | None:
    """STAGE1 when `path` is a `pretrain` run folder (it holds run.json), STAGE2 when it is a
    `contrastive` run folder (its config.json is the run's settings, e.g. `init` and `temperature`, not a
    model config), else None. Reads at most one small JSON file."""
    p = Path(path)
    if (p / "run.json").is_file():
        return STAGE1
    record = saved_record(p, "config.json") if (p / "config.json").is_file() else None
    if record is not None and {"init", "temperature", "text_column"} <= set(record):
        return STAGE2
    return None


def model_folder_hint(path: str | os.PathLike) -> str | None:
    """The one-line error for a run folder (or a stage-1 run's config-only `model/`) passed where a
    model folder is expected, saying which folder to pass instead; None for anything else."""
    p = Path(path)
    kind = run_kind(p)
    if kind == STAGE2:
        if (p / "model" / "config.json").is_file():
            return f"{p} is a stage-2 run folder, not a model folder; did you mean {p / 'model'}?"
        return (f"{p} is a stage-2 run folder without an exported model (it ran with --no-export); run its contrastive "
                f"command again with --resume and without --no-export to write {p / 'model'}")
    if kind is None and p.name == "model" and run_kind(p.parent) == STAGE1:
        p, kind = p.parent, STAGE1  # the run's model/ holds only the config written at its start
    if kind == STAGE1:
        return (f"{p} is a stage-1 run folder, not a model folder; export it first with "
                f"`python -m trainer export --checkpoint {p} --out MODEL` and pass MODEL")
    return None


def check_out_dir(out: Path, resume: bool) -> None:
    """Raise UserError when `out` is a file, or a non-empty folder and `resume` is false."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not resume:
        raise UserError(f"output folder {out} is not empty; pass --resume to continue that run or choose a new --out")


PATH = "path"  # a `paths` entry for a plain path (a tokenizer or model folder), as opposed to a data table


def _normal(value: Any, kind: str | None) -> Any:
    """`value` as compared on resume. `kind`: None (not a path), PATH (absolute path), or a pipeline
    table name ("files", "pairs"): the absolute folder of shards, i.e. OUT/<table> when the value is
    a pipeline output folder OUT that has one (as the data readers resolve it)."""
    value = json.loads(json.dumps(value, default=str))  # tuples -> lists, as in the saved JSON
    if kind is None or not isinstance(value, str) or not value:
        return value
    from trainer.encoder import ALIASES  # the packaged-model alias is a name, not a path in the cwd

    if value.lower() in ALIASES:
        return value.lower()
    path = os.path.realpath(os.path.expanduser(value))
    if kind != PATH and os.path.isdir(os.path.join(path, kind)):
        path = os.path.join(path, kind)
    return path


def absolute_paths(record: dict, keys) -> dict:
    """`record` with the path values of `keys` made absolute (against this process's cwd), as run.json /
    config.json store them, so a resume from another directory reads and compares the same paths. The
    packaged-model alias (`minilm`), None and empty values stay as they are."""
    from trainer.encoder import ALIASES

    out = dict(record)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str) and value and value.lower() not in ALIASES:
            out[key] = os.path.abspath(os.path.expanduser(value))
    return out


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON to `path` atomically (temporary file in the same folder, fsync,
    os.replace): a reader or a crash never sees a half-written file. NaN and infinities are refused
    (they are not JSON): callers write None instead."""
    path = Path(path)
    text = json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def settings_differences(saved: dict, new: dict, paths: dict[str, str] | tuple[str, ...] = ()) -> list[str]:
    """`"NAME saved X, now Y"` for every key of `new` that `saved` holds with another value. `paths`
    maps the keys holding paths to PATH or to the pipeline table they read (see `_normal`); a tuple
    of keys means PATH for each."""
    kinds = dict.fromkeys(paths, PATH) if not isinstance(paths, dict) else paths
    diffs = []
    for key, value in new.items():
        if key not in saved:
            continue
        old, now = _normal(saved[key], kinds.get(key)), _normal(value, kinds.get(key))
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
                     paths: dict[str, str] | tuple[str, ...] = (), kind: str | None = None) -> None:
    """Refuse a non-empty `out` without `resume`, and a resume whose settings differ (module docstring).

    `settings_of(record) -> {flag name: value}` extracts the resume-fixed settings from a run record (the
    dict saved in `out/settings_file`); it is applied to the saved record and to `new_record`, this
    invocation's record. `paths` maps the flag names whose values are paths to PATH or to the pipeline
    table a data flag reads (`settings_differences`). With `kind` (STAGE1 or STAGE2), a resume in a non-empty
    folder without a checkpoint is also checked: the folder must be a run of that kind (a wrong --out,
    e.g. the pipeline's output folder, is never written into) and its saved settings must match, since
    the run restarts from step 0 there and replaces what the earlier run left. Call on every rank.
    """
    from trainer.runtime import latest_checkpoint

    message = None
    if rt.is_main:
        try:
            check_out_dir(out, resume)
            has_checkpoint = resume and latest_checkpoint(out) is not None
            fresh_in_old_run = (resume and kind is not None and not has_checkpoint
                                and out.is_dir() and any(out.iterdir()))
            if fresh_in_old_run and run_kind(out) != kind:
                raise UserError(f"--out {out} is not empty and is not a {kind} run folder; choose a new --out")
            if has_checkpoint or fresh_in_old_run:
                saved = saved_record(out, settings_file)
                if saved is None:
                    # without the saved settings nothing could be checked: refuse rather than resume blind
                    raise UserError(f"{out / settings_file} is missing or unreadable, so the settings of the run in {out} "
                                    "cannot be checked before resuming its checkpoint; restore that file (or start a new run "
                                    "in a new --out)")
                else:
                    diffs = settings_differences(settings_of(saved), settings_of(new_record), paths)
                    if diffs:
                        raise UserError(f"--resume with settings that differ from the run in {out} ({'; '.join(diffs)}); "
                                        "pass the run's values again or choose a new --out")
        except UserError as exc:
            message = str(exc)
    message = rt.all_gather_object(message)[0]
    if message is not None:
        raise UserError(message)
