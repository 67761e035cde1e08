"""`python -m trainer demo --out DIR`: the whole system, end to end, on this machine's Python stdlib.

What it runs, each step as a subprocess of the real command-line tools (the exact command is
printed, so every step can be re-run alone):

    1. data        python -m pipeline --output DIR/data [--max-files-per-tree N]
    2. tokenizer   python -m trainer tokenizer --data DIR/data/files --out DIR/tokenizer
    3. stage 1     python -m trainer pretrain  ... --out DIR/stage1        (bounded by time)
    4. export      python -m trainer export --checkpoint DIR/stage1 --out DIR/stage1-model
    5. stage 2     python -m trainer contrastive --init DIR/stage1-model --out DIR/stage2 (bounded)
    6. evaluate    python -m trainer evaluate --model DIR/stage2/model --pairs DIR/data/pairs --bm25
                   [--cosqa ../shared/eval/cosqa] --json DIR/eval.json
                   (copied to DIR/stage2/eval.json for the stage-2 training report)

and ends with where everything is and a results table (counts per stage, losses, MRR against BM25).
The pipeline runs as a subprocess because the trainer never imports Beam.

Time: `--minutes-budget` (default 12) is the whole demo's target. The data and tokenizer steps
take what they take (the input is capped so they stay short on 2 cores); what is left, minus a
reserve for export and evaluation, is split between the two training stages. Stage 2 gets it as
`--max-minutes`; stage 1 checkpoints often and, when its share is used up, the demo stops it
(SIGTERM) at its last complete checkpoint (checkpoints are atomic, so this is safe), and the
export reads that checkpoint. Step counts are planned for an unloaded machine, so a fast machine
finishes them early and a loaded one is cut by time.

Re-running on the same `--out` reuses a step that finished (its output is complete) if it was made
with the same settings (each finished step records them, with its command, in DIR/.demo-steps/);
a step whose settings changed (e.g. another `--test-fraction`) is redone, and so is every step
after a step that ran. Only the step counts and time limits that the demo derives from the time
budget are not settings: a finished training stage is reused under another `--minutes-budget`.
`--fresh` starts over. A non-empty folder that is not a demo folder is refused. Right after the
data step the demo checks that the pairs' train and test splits are not empty, so a too small
input fails before any training.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from trainer.cli import fraction, non_negative_float, non_negative_int, positive_float, positive_int
from trainer.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_COSQA = REPO_ROOT.parent / "shared" / "eval" / "cosqa"
MARKER = "demo.json"
STAMPS = ".demo-steps"  # DIR/.demo-steps/<step>.json: the settings and command of a finished step
# flags whose values the demo derives from the time budget: not part of a step's settings
BUDGET_FLAGS = frozenset({"--max-steps", "--warmup-steps", "--warmup", "--save-every", "--log-every", "--max-minutes"})
# Seconds per optimizer step of the demo's defaults (tiny model, 16 x 256 tokens; 16 pairs) on an
# unloaded 2-core CPU, used only to plan the step counts; the time limits are what bound the run.
STAGE_ORDER = ["read", "filter_kept", "exact_dedup_kept", "near_dedup_kept", "files", "pairs"]
STAGE1_SECONDS_PER_STEP = 1.0
STAGE2_SECONDS_PER_STEP = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes (default %(default)s)")
    parser.add_argument("--minutes-budget", type=positive_float, default=12.0,
                        help="target wall-clock minutes for the whole demo (default %(default)s)")
    parser.add_argument("--max-files", type=non_negative_int, default=1500,
                        help="deterministic cap on stdlib files read by the pipeline, to fit the budget; 0 = all (default %(default)s)")
    parser.add_argument("--input", action="append", default=None,
                        help="pipeline input instead of the local Python standard library (repeatable)")
    parser.add_argument("--stage2-lr", type=non_negative_float, default=1e-4,
                        help="stage-2 peak learning rate (default %(default)s: the paper's 5e-6 suits a fully pretrained "
                             "model, not the demo's minutes-old tiny one)")
    parser.add_argument("--test-fraction", type=fraction, default=0.05,
                        help="fraction of near-duplicate clusters held out for evaluation (default %(default)s)")
    parser.add_argument("--vocab-size", type=positive_int, default=8192, help="tokenizer vocabulary (default %(default)s)")
    parser.add_argument("--size", default="tiny", help="model size preset for stage 1 (default %(default)s)")
    parser.add_argument("--seq-len", type=positive_int, default=256, help="stage-1 sequence length (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="batch size of both stages (default %(default)s)")
    parser.add_argument("--cosqa", default=None,
                        help=f"CoSQA folder to evaluate on (default {DEFAULT_COSQA} when it exists)")
    parser.add_argument("--no-cosqa", action="store_true", help="skip the CoSQA evaluation even when the folder exists")
    parser.add_argument("--fresh", action="store_true", help="delete a previous demo in --out and start over")


# ---------------------------------------------------------------------------------------------
# steps


@dataclass
class Step:
    key: str
    words: str                       # what happens, for a user
    command: list[str]
    done: Callable[[], bool]         # is its output already complete?
    estimate_s: float                # expected duration, for the ETA line
    # Wall-clock limit: past it the step is stopped with SIGTERM as soon as done() holds (for
    # stage 1: a complete checkpoint exists; checkpoints are atomic, so stopping is safe).
    time_limit_s: float | None = None
    # The step's own output (folder or file): what an earlier attempt left there (unfinished, or made with
    # other settings) is removed before the step runs again, since the commands refuse a non-empty --out.
    output: Path | None = None

    def __post_init__(self) -> None:
        self.command = [str(c) for c in self.command]

    def settings(self) -> list[str]:
        """The command's arguments without the interpreter and the budget-derived flags (and their values)."""
        args, out = self.command[1:], []
        skip = False
        for a in args:
            if skip:
                skip = False
            elif a in BUDGET_FLAGS:
                skip = True
            else:
                out.append(a)
        return out


def _fmt_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _py(*args: Any) -> list[str]:
    return [sys.executable, "-m", *[str(a) for a in args]]


def _check_out(out: Path, fresh: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder path that does not exist yet")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise UserError(f"--out {out} is not empty and is not a previous demo; pass a new or empty folder")
        if fresh:
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps({"started": time.time(), "argv": sys.argv[1:]}))


def _has(path: Path) -> Callable[[], bool]:
    return lambda: path.exists()


def _stamp(out: Path, key: str) -> dict | None:
    try:
        return json.loads((out / STAMPS / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _reusable(out: Path, step: Step, log) -> dict | None:
    """The step's record when its output is complete and was made with the settings of this run, else None."""
    if not step.done():
        return None
    stamp = _stamp(out, step.key)
    if stamp is None:
        log("    its output exists but the step did not finish in a previous run of the demo (or predates its "
            "settings records): redoing it")
        return None
    if stamp.get("settings") != step.settings():
        log(f"    its output was made with other settings: {shlex.join(stamp.get('command', []))}; redoing it")
        return None
    return stamp


def _run_step(i: int, n: int, step: Step, env: dict[str, str], log, out: Path, upstream_ran: bool) -> float | None:
    """Run one step, or reuse its output (returns None) when it is reusable and no earlier step ran."""
    now = dt.datetime.now(dt.timezone.utc)
    log(f"\n=== step {i}/{n}: {step.words}")
    stamp = None if upstream_ran else _reusable(out, step, log)
    if stamp is not None:
        log(f"    already done in a previous run of the demo with the same settings: reusing its output, made by\n"
            f"    {shlex.join(stamp['command'])}")
        return None
    log(f"    command: {shlex.join(step.command)}")
    (out / STAMPS / f"{step.key}.json").unlink(missing_ok=True)
    if step.output is not None and (step.output.exists() or step.output.is_symlink()):
        log(f"    removing {step.output}: the output of an earlier run (unfinished, or made with other settings "
            "or inputs)")
        if step.output.is_dir() and not step.output.is_symlink():
            shutil.rmtree(step.output)
        else:
            step.output.unlink()
    finish = now + dt.timedelta(seconds=step.estimate_s)
    log(f"    expected to take about {_fmt_duration(step.estimate_s)} (ETA {finish:%H:%M:%S} UTC)")
    start = time.monotonic()
    stop = threading.Event()

    def heartbeat() -> None:  # the pipeline has no progress bar of its own; say it is alive
        while not stop.wait(45):
            elapsed = time.monotonic() - start
            left = step.estimate_s - elapsed
            tail = f"about {_fmt_duration(left)} left" if left > 0 else "taking longer than estimated"
            log(f"    ... {step.key} still running: {_fmt_duration(elapsed)} elapsed, {tail}")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    stopped_by_budget = False
    proc = subprocess.Popen(step.command, env=env, cwd=str(REPO_ROOT))
    try:
        while proc.poll() is None:
            time.sleep(0.5)
            if step.time_limit_s is not None and time.monotonic() - start > step.time_limit_s and step.done():
                log(f"    {step.key}: time budget of {_fmt_duration(step.time_limit_s)} used up; stopping it at its "
                    "last complete checkpoint")
                stopped_by_budget = True
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    except BaseException:  # Ctrl-C or an error in the demo itself: never leave the child running
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    finally:
        stop.set()
    elapsed = time.monotonic() - start
    if proc.returncode != 0 and not stopped_by_budget:
        raise UserError(
            f"step {i} ({step.key}) failed with exit code {proc.returncode} after {_fmt_duration(elapsed)}; "
            f"read its message above, fix it and re-run the demo (finished steps are reused)"
        )
    if not step.done():
        raise UserError(f"step {i} ({step.key}) finished but its output is missing; re-run with --fresh")
    (out / STAMPS).mkdir(exist_ok=True)
    (out / STAMPS / f"{step.key}.json").write_text(json.dumps({"settings": step.settings(), "command": step.command}))
    log(f"    done in {_fmt_duration(elapsed)}")
    return elapsed


def check_pair_splits(pairs: Path, splits: tuple[str, ...] = ("train", "test")) -> None:
    """Fail before training when the data step left a split the later steps need empty."""
    from trainer.pairs_data import read_table

    for split in splits:
        try:
            read_table(pairs, split, ["split"])
        except UserError:
            raise UserError(
                f"the data step put no pair into the {split!r} split of {pairs}; training and evaluation need both "
                "'train' and 'test' pairs: pass more input (--max-files, --input) or a larger --test-fraction "
                "and re-run the demo"
            ) from None


# ---------------------------------------------------------------------------------------------
# results


def _metrics(run: Path) -> list[dict[str, Any]]:
    from trainer.report import read_metrics

    path = run / "metrics.jsonl"
    return read_metrics(str(path)) if path.exists() else []


def _loss_summary(run: Path) -> str:
    rows = [r for r in _metrics(run) if isinstance(r.get("loss"), (int, float))]
    if not rows:
        return "n/a"
    first, last = rows[0], rows[-1]
    return f"{first['loss']:.3f} -> {last['loss']:.3f} over {int(last.get('step', len(rows)))} steps"


def _find_mrr(data: Any, path: str = "") -> list[tuple[str, float]]:
    """Every (dotted key, value) whose key mentions mrr, in document order."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{path}.{k}" if path else str(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and "mrr" in str(k).lower():
                found.append((key, float(v)))
            else:
                found.extend(_find_mrr(v, key))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found.extend(_find_mrr(v, f"{path}[{i}]"))
    return found


def _eval_lines(data: dict) -> list[str]:
    """MRR per task (rows) and system (columns) from `trainer evaluate`'s JSON."""
    systems = data.get("systems") if isinstance(data, dict) else None
    if not isinstance(systems, dict) or not systems:
        return ["evaluation (MRR):"] + [f"  {k:<48} {v:.4f}" for k, v in _find_mrr(data)]
    names = list(systems)
    short = {n: ("BM25" if n == "bm25" else ("demo model" if n.rstrip("/").endswith("stage2/model") else Path(n).name))
             for n in names}
    tasks: dict[str, None] = {}
    for per_task in systems.values():
        for task in per_task:
            tasks.setdefault(task, None)
    lines = [f"evaluation (split {data.get('split')}; conventions in eval.json):",
             f"  {'task':<30} {'metric':<6} " + " ".join(f"{short[n]:>12}" for n in names)]
    for task in tasks:
        metric = "map" if any("map" in systems[n].get(task, {}) for n in names) and not any(
            "mrr" in systems[n].get(task, {}) for n in names) else "mrr"
        cells = []
        for n in names:
            value = systems[n].get(task, {}).get(metric)
            cells.append(f"{value:>12.4f}" if isinstance(value, (int, float)) else f"{'n/a':>12}")
        lines.append(f"  {task:<30} {metric:<6} " + " ".join(cells))
    return lines


def results_table(out: Path) -> str:
    """The final table: counts per stage, Table-4 totals, losses and MRR rows."""
    lines = []
    manifest_path = out / "data" / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        lines.append("pipeline (rows per stage, all languages):")
        counts = manifest.get("counts", {})
        for stage in sorted(counts, key=lambda k: (k.startswith("rejected"), STAGE_ORDER.index(k) if k in STAGE_ORDER else 99, k)):
            per_lang = counts[stage]
            total = sum(int(v) for v in per_lang.values()) if isinstance(per_lang, dict) else per_lang
            lines.append(f"  {stage:<28} {total:>10,}")
        t4 = manifest.get("table4") or manifest.get("tables") or {}
        if isinstance(t4, dict) and t4:
            cols = sorted({c for row in t4.values() for c in row})
            lines.append("  per language: " + ", ".join(cols))
            for lang, row in sorted(t4.items()):
                lines.append(f"    {lang:<12} " + "  ".join(f"{c}={row.get(c, 0)}" for c in cols))
    lines.append("training:")
    lines.append(f"  stage 1 loss (MLM + deobfuscation)  {_loss_summary(out / 'stage1')}")
    lines.append(f"  stage 2 loss (contrastive)          {_loss_summary(out / 'stage2')}")
    eval_path = out / "eval.json"
    if eval_path.exists():
        lines.extend(_eval_lines(json.loads(eval_path.read_text())))
    return "\n".join(lines)


def write_run_reports(stage1: Path, stage2: Path, eval_json: Path) -> list[str]:
    """The training reports of both stages; returns the pages written or found up to date.

    pretrain and contrastive write their own report.html when training ends. Stage 1 is redrawn only when
    the demo stopped it at a checkpoint (SIGTERM: no report, or one older than its metrics). Stage 2 is
    redrawn to add the evaluation, which runs after it: DIR/eval.json is first copied into the stage-2
    run folder (STAGE2/eval.json), so the folder is self-contained and `python -m trainer.report STAGE2`
    rebuilds the same page.
    """
    from trainer.report import report_at_end_of_run

    run_eval = stage2 / "eval.json"
    if eval_json.is_file() and stage2.is_dir():
        shutil.copyfile(eval_json, run_eval)
    reports = []
    for run_dir, ev in ((stage1, None), (stage2, run_eval if run_eval.is_file() else None)):
        metrics, page = run_dir / "metrics.jsonl", run_dir / "report.html"
        if not metrics.exists():
            continue
        if run_dir == stage1 and page.exists() and page.stat().st_mtime >= metrics.stat().st_mtime:
            reports.append(str(page))
        elif (path := report_at_end_of_run(str(run_dir), str(ev) if ev else None)) is not None:
            reports.append(path)
    return reports


# ---------------------------------------------------------------------------------------------


def _ran(timings: list[tuple[str, float | None]]) -> bool:
    """Did any earlier step run (not reused)? Then every later step is redone on its new output."""
    return any(t is not None for _, t in timings)


def _stage_seconds(budget_s: float, elapsed_s: float, reserve_s: float) -> tuple[float, float]:
    """Split what is left of the budget between stage 1 (55%) and stage 2 (45%), at least 10 s each."""
    left = budget_s - elapsed_s - reserve_s
    return max(10.0, 0.55 * left), max(10.0, 0.45 * left)


def run(args: argparse.Namespace) -> int:
    try:
        return _demo(args)
    except KeyboardInterrupt:
        raise UserError(f"interrupted; run the same command again to continue (finished steps in {args.out} "
                        "are reused)") from None


def _demo(args: argparse.Namespace) -> int:
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    t0 = time.monotonic()
    out = Path(args.out).resolve()
    _check_out(out, args.fresh)
    cosqa = Path(args.cosqa) if args.cosqa else (DEFAULT_COSQA if DEFAULT_COSQA.is_dir() else None)
    if args.no_cosqa:
        cosqa = None
    if cosqa is not None and not cosqa.is_dir():
        raise UserError(f"--cosqa {cosqa} is not a folder; pass the folder holding CoSQA's JSON files or leave it out")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1")
    budget_s = 60.0 * args.minutes_budget
    data, tok = out / "data", out / "tokenizer"
    stage1, model1, stage2 = out / "stage1", out / "stage1-model", out / "stage2"
    eval_json = out / "eval.json"
    source = "the inputs you passed" if args.input else "this machine's Python standard library (no download)"
    log(f"CodeSage demo: data pipeline -> tokenizer -> stage 1 -> stage 2 -> evaluation on {source}.")
    log(f"Everything goes to {out}; target time {args.minutes_budget:g} minutes.")

    # 5% of near-duplicate clusters held out as test: enough pairs for a meaningful retrieval pool
    pipeline_cmd = _py("pipeline", "--output", data, "--test-fraction", args.test_fraction)
    for pattern in args.input or ():
        pipeline_cmd += ["--input", pattern]
    if args.max_files:
        pipeline_cmd += ["--max-files-per-tree", args.max_files]
    n_files = args.max_files or 5000
    steps_before = [
        Step("data", "data pipeline: read, filter, deduplicate, parse into (summary, code) pairs, write Parquet + report",
             pipeline_cmd, _has(data / "manifest.json"), estimate_s=30 + 0.12 * n_files, output=data),
        Step("tokenizer", f"train a byte-level BPE tokenizer ({args.vocab_size} tokens) on the files table",
             _py("trainer", "tokenizer", "--data", data / "files", "--vocab-size", args.vocab_size, "--out", tok),
             _has(tok / "tokenizer.json"), estimate_s=30, output=tok),
    ]
    n = 6
    timings: list[tuple[str, float | None]] = []
    for i, step in enumerate(steps_before, 1):
        timings.append((step.key, _run_step(i, n, step, env, log, out, _ran(timings))))
        if step.key == "data":
            check_pair_splits(data / "pairs")

    eval_s = 150.0 if cosqa else 45.0  # CoSQA embeds its 6,267-snippet code base
    reserve_s = min(30.0 + eval_s, 0.3 * budget_s)  # export + evaluation + reports
    s1, s2 = _stage_seconds(budget_s, time.monotonic() - t0, reserve_s)
    # Planned steps at the rate of an unloaded 2-core machine; a slower machine is stopped by time
    # (stage 1 at its last checkpoint, stage 2 by its own --max-minutes), a faster one finishes early.
    steps1 = max(20, int(s1 / STAGE1_SECONDS_PER_STEP))
    steps2 = max(20, int(s2 / STAGE2_SECONDS_PER_STEP))
    save1 = max(5, min(50, steps1 // 20))
    steps_after = [
        Step("stage1", f"stage 1 pretraining of a '{args.size}' encoder (masked LM + identifier deobfuscation): "
                       f"up to {steps1} steps, stopped at a checkpoint after {_fmt_duration(s1)} if not done",
             _py("trainer", "pretrain", "--data", data / "files", "--tokenizer", tok, "--size", args.size,
                 "--seq-len", args.seq_len, "--batch-size", args.batch_size, "--max-steps", steps1,
                 "--warmup-steps", max(1, steps1 // 10), "--save-every", save1, "--log-every", max(1, min(5, save1)),
                 "--out", stage1),
             _has(stage1 / "checkpoints" / "latest"), estimate_s=s1, time_limit_s=s1, output=stage1),
        Step("export", "export the stage-1 checkpoint as a Hugging Face model folder",
             _py("trainer", "export", "--checkpoint", stage1, "--out", model1),
             _has(model1 / "config.json"), estimate_s=20, output=model1),
        Step("stage2", f"stage 2 contrastive training on (summary, code_hard) pairs from the stage-1 model "
                       f"for {_fmt_duration(s2)}",
             _py("trainer", "contrastive", "--data", data / "pairs", "--init", model1, "--batch-size", args.batch_size,
                 "--max-steps", steps2, "--warmup", max(1, steps2 // 10), "--lr", args.stage2_lr,
                 "--max-minutes", f"{s2 / 60:.2f}",
                 "--out", stage2),
             _has(stage2 / "model" / "config.json"), estimate_s=s2 + 20, output=stage2),
        Step("evaluate", "evaluate: held-out pair retrieval (summary -> code_hard, MRR) against BM25"
                         + (" and CoSQA" if cosqa else ""),
             _py("trainer", "evaluate", "--model", stage2 / "model", "--pairs", data / "pairs", "--split", "test",
                 "--bm25", *(["--cosqa", cosqa] if cosqa else []), "--json", eval_json),
             _has(eval_json), estimate_s=eval_s, output=eval_json),
    ]
    for i, step in enumerate(steps_after, len(steps_before) + 1):
        timings.append((step.key, _run_step(i, n, step, env, log, out, _ran(timings))))

    reports = write_run_reports(stage1, stage2, eval_json)

    total = time.monotonic() - t0
    log("\n=== done in " + _fmt_duration(total))
    log("where everything is:")
    for label, path in (("data (Parquet shards + manifest)", data), ("data-quality report", data / "report.html"),
                        ("tokenizer", tok), ("stage-1 run", stage1), ("stage-1 model", model1),
                        ("stage-2 run (model in ./model)", stage2), ("evaluation", eval_json),
                        *(("training report", Path(p)) for p in reports)):
        log(f"  {label:<34} {path}")
    log("time per step: " + ", ".join(f"{k} {'reused' if t is None else _fmt_duration(t)}" for k, t in timings))
    log("\nresults:")
    log(results_table(out))
    return 0
