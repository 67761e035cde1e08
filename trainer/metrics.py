"""Training metrics: JSON lines, a console progress bar and (when installed) TensorBoard.

`MetricsLogger(out_dir, is_main, total_steps)`; `.log(step, **values)` appends one JSON object
`{"step": step, "time": unix_seconds, **values}` to OUT/metrics.jsonl (flushed per line, so a killed run
keeps every logged step), advances a tqdm bar to `step` (its ETA comes from the step rate) showing the
values, and writes scalars to TensorBoard under OUT/tensorboard when `torch.utils.tensorboard` works.
Only the main rank writes anything; other ranks get a no-op logger so calling code needs no `if`.
Non-finite floats are written as strings ("nan", "inf") so every line stays valid JSON.

Resume: `MetricsLogger(..., drop_after=N)` (the checkpoint's step of a resumed run) first rewrites an
existing metrics.jsonl without the rows whose step is > N and without a torn last line (a killed run's
rows past its checkpoint), atomically (temporary file + os.replace), so each step appears once in the
file the report and the export read. TensorBoard gets `purge_step=N+1` (it hides the killed run's events
past N); a restart from step 0 (`drop_after=0`) deletes the earlier run's event files.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLogger:
    """Append-only metrics log for one run (see module docstring)."""

    def __init__(
        self,
        out_dir: str | Path,
        is_main: bool = True,
        total_steps: int | None = None,
        *,
        initial_step: int = 0,
        filename: str = "metrics.jsonl",
        progress: bool = True,
        tensorboard: bool = True,
        description: str = "train",
        drop_after: int | None = None,
    ) -> None:
        self.is_main = is_main
        self.path = Path(out_dir) / filename
        self._file = None
        self._bar = None
        self._tb = None
        if not is_main:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if drop_after is not None:
            drop_rows_after(self.path, drop_after)
        self._file = open(self.path, "a", encoding="utf-8")
        if progress:
            try:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=total_steps, initial=initial_step, desc=description, dynamic_ncols=True,
                    file=sys.stderr, mininterval=1.0, disable=None,
                )
            except ImportError:
                self._bar = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                tb_dir = Path(out_dir) / "tensorboard"
                purge = None
                if drop_after is not None and drop_after > 0:
                    purge = drop_after + 1  # TensorBoard drops the events a killed run wrote past the checkpoint
                elif drop_after == 0:
                    remove_event_files(tb_dir)  # a restart from step 0: the earlier run's curves go
                self._tb = SummaryWriter(log_dir=str(tb_dir), purge_step=purge)
            except Exception:  # tensorboard is optional: missing package or broken install
                self._tb = None
        self._last_step = initial_step

    def log(self, step: int, **values: Any) -> dict:
        """Record `values` at `step`; returns the record written (empty dict on non-main ranks)."""
        if not self.is_main:
            return {}
        record = {"step": int(step), "time": round(time.time(), 3)}
        record.update({k: _jsonable(v) for k, v in values.items()})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._bar is not None:
            self._bar.update(max(0, int(step) - self._last_step))
            shown = {k: v for k, v in record.items() if k not in ("step", "time") and isinstance(v, (int, float))}
            self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in list(shown.items())[:6]}, refresh=False)
        if self._tb is not None:
            for k, v in record.items():
                if k not in ("step", "time") and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, int(step))
        self._last_step = int(step)
        return record

    def write(self, message: str) -> None:
        """Print a line on the main rank without breaking the progress bar."""
        if not self.is_main:
            return
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "MetricsLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def remove_event_files(tb_dir: str | Path) -> int:
    """Delete the TensorBoard event files in `tb_dir` (an earlier run's, before a restart from step 0);
    returns how many."""
    removed = 0
    for f in Path(tb_dir).glob("events.out.tfevents.*"):
        try:
            f.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def drop_rows_after(path: str | Path, step: int) -> int:
    """Rewrite the metrics file at `path` atomically keeping only the JSON rows with "step" <= `step`
    (rows without a step are kept; lines that do not parse, e.g. one torn by a kill, are dropped).
    Returns the number of lines removed; a missing file is left missing."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept, removed = [], 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                removed += 1
                continue
            row_step = record.get("step") if isinstance(record, dict) else None
            if isinstance(row_step, (int, float)) and row_step > step:
                removed += 1
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    if removed:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(kept)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return removed


def read_metrics(path: str | Path) -> list[dict]:
    """All records of a metrics.jsonl (helper for tests and benchmarks)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out
