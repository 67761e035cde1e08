"""Training report of one run folder: `RUN/report.html` plus PNGs beside the checkpoints.

`write_training_report(run_dir)` reads `RUN/metrics.jsonl` (one JSON object per log entry, at least
`step` and `loss`; optional learning rate, throughput and any other numeric field), the run's settings
and end-of-run record when present (`RUN/run.json` of `pretrain`, `RUN/config.json` + `RUN/summary.json`
of `contrastive`) and, if present, an evaluation JSON (`RUN/eval.json`, `RUN/evaluation.json`, or any
`RUN/*.json` written by `python -m trainer evaluate`), and writes:

    RUN/loss.png         every field whose name ends in "loss", against step
    RUN/lr.png           learning rate against step
    RUN/throughput.png   tokens/s (or pairs/s, samples/s) against step
    RUN/other.png        the remaining numeric fields, one panel each
    RUN/report.html      the plots, a table of first/last/min/max values and the evaluation results

Only the plots whose data exists are written. Every panel has a y label with its unit; noisy curves
with 20+ points get a trailing mean drawn over the raw line (both in the legend); a value logged as
null (e.g. stage 1's dobf_share in a window where no document starts) breaks its line and is counted.

Window sums: `pretrain` logs every `log_every` steps, and `masked_tokens` and `seconds` are sums over
the steps since the previous entry (the last window of a run may be shorter, e.g. steps 71-72 of a
5-step window). The plots and the table show these per step: the sum divided by the steps its window
covers, taken from the step numbers (the window of an entry starts right after the previous entry).

The page header says how the run ended: "completed all N steps", or "stopped at step S of N" with the
reason when the run folder records it (contrastive's --max-minutes time limit).

The page uses relative `src` paths to the PNGs (the folder is the unit you copy around), no script or
external resource, and escapes every value it prints.

`pretrain` and `contrastive` call `report_at_end_of_run(RUN)` when training ends (also when stopped by
their time budget): the page is written by the main rank, and a failure to draw it is a warning, never a
lost run. By hand: `write_training_report(run_dir)`, or from a shell: `python -m trainer.report RUN`.
"""
from __future__ import annotations

import html
import json
import math
import os
from typing import Any, Iterable

REPORT_NAME = "report.html"
METRICS_NAME = "metrics.jsonl"
LR_KEYS = ("lr", "learning_rate")
THROUGHPUT_KEYS = ("tokens_per_s", "tokens_per_sec", "tokens/s", "tok_per_s", "pairs_per_s", "pairs/s",
                   "samples_per_s", "samples/s", "throughput")
SKIP_KEYS = {"step", "epoch", "time", "elapsed", "elapsed_s", "timestamp", "wall_time", "rank"}
EVAL_NAMES = ("eval.json", "evaluation.json", "results.json")
# pretrain's fields that are sums over a logging window (trainer/pretrain.py): shown per step
WINDOW_SUM_KEYS = ("masked_tokens", "seconds")
# throughput fields that are running averages since the start of the run (trainer/contrastive.py)
RUNNING_AVERAGE_KEYS = ("pairs_per_s",)
SMALL_POOL = 100  # evaluation pools smaller than this get a warning

# key -> (y label with unit, one sentence for the table); the loss's unit depends on the kind of run
METRIC_INFO = {
    "accuracy": ("share of masked tokens (0-1)", "masked tokens predicted correctly, over the logging window"),
    "packing_efficiency": ("share of slots (0-1)", "sequence slots holding tokens rather than padding, over the window"),
    "dobf_share": ("share of documents (0-1)",
                   "documents started in the window that were deobfuscated; null when no document starts in the window"),
    "masked_tokens": ("masked tokens per step", "tokens the loss is computed on"),
    "seconds": ("seconds per step", "wall-clock time"),
    "tokens_per_s": ("tokens / s", "non-padding tokens per second"),
    "tokens_per_sec": ("tokens / s", "tokens per second"),
    "pairs_per_s": ("pairs / s", "(text, code) pairs per second, a running average since the run (or its resume) started"),
    "samples_per_s": ("samples / s", "samples per second"),
    "lr": ("learning rate", "learning rate the optimizer update of the logged step used"),
    "learning_rate": ("learning rate", "learning rate at the logged step"),
}
LOSS_UNITS = {"pretrain": "nats per masked token", "contrastive": "nats per pair, text->code + code->text"}
EVAL_METRICS = {"mrr": "MRR", "map": "MAP", "recall@1": "R@1", "recall@5": "R@5", "recall@10": "R@10",
                "recall@100": "R@100", "ndcg@10": "nDCG@10"}
EVAL_COUNTS = ("queries", "pool", "groups")


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl; a torn last line (a run killed mid-write) is ignored."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _row_steps(rows: list[dict[str, Any]]) -> list[float]:
    return [float(row["step"]) if _is_number(row.get("step")) else float(i) for i, row in enumerate(rows)]


def window_lengths(rows: list[dict[str, Any]]) -> list[int]:
    """Steps each entry's window covers: its step minus the previous entry's (the first: its own step)."""
    steps = _row_steps(rows)
    out, previous = [], 0.0
    for step in steps:
        out.append(max(1, int(round(step - previous))))
        previous = step
    return out


def _series(rows: list[dict[str, Any]], key: str, per_step: bool = False) -> tuple[list[float], list[float], int]:
    """(steps, values, nulls) of `key`: entries without the key are skipped; a null or non-finite value is
    kept as NaN (a gap in the line) and counted. `per_step` divides each value by its window's steps."""
    xs, ys, nulls = [], [], 0
    windows = window_lengths(rows) if per_step else None
    for i, (row, step) in enumerate(zip(rows, _row_steps(rows))):
        if key not in row:
            continue
        value = row[key]
        xs.append(step)
        if _is_number(value):
            ys.append(float(value) / (windows[i] if windows else 1))
        else:
            ys.append(math.nan)
            nulls += 1
    return xs, ys, nulls


def _numeric_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for k, v in row.items():
            if k not in SKIP_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_settings(run_dir: str) -> tuple[str | None, dict[str, Any], dict[str, Any]]:
    """(kind, settings, summary) of a run folder: pretrain's run.json, or contrastive's config.json and
    summary.json (its end-of-run record); kind is "pretrain", "contrastive" or None."""
    pre = _read_json(os.path.join(run_dir, "run.json"))
    if "max_steps" in pre:
        return "pretrain", pre, {}
    con = _read_json(os.path.join(run_dir, "config.json"))
    if "max_steps" in con:
        return "contrastive", con, _read_json(os.path.join(run_dir, "summary.json"))
    return None, {}, {}


def run_status(rows: list[dict[str, Any]], settings: dict[str, Any], summary: dict[str, Any]) -> str:
    """How the run ended: "completed all N steps" or "stopped at step S of N (reason)"."""
    steps = [s for s, row in zip(_row_steps(rows), rows) if _is_number(row.get("step"))]
    last = summary.get("steps") if _is_number(summary.get("steps")) else (max(steps) if steps else None)
    planned = settings.get("max_steps")
    if not _is_number(planned) or last is None:
        return f"last logged step {int(last)}" if last is not None else "no step logged"
    last, planned = int(last), int(planned)
    if last >= planned:
        return f"completed all {planned} steps"
    minutes = settings.get("max_minutes")
    if summary and _is_number(minutes) and minutes > 0:
        return f"stopped at step {last} of {planned} (time limit: --max-minutes {minutes:g})"
    if summary:
        return f"stopped at step {last} of {planned}"
    return (f"stopped at step {last} of {planned} (no end-of-run record: interrupted, stopped at a checkpoint, "
            "or still running)")


def find_eval_json(run_dir: str) -> str | None:
    """The evaluation JSON of a run: a conventional name first, else any JSON mentioning MRR."""
    for name in EVAL_NAMES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            return path
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        if name.endswith(".json") and os.path.isfile(path) and os.path.getsize(path) < 5_000_000:
            with open(path, encoding="utf-8", errors="replace") as fh:
                if "mrr" in fh.read().lower():
                    return path
    return None


def _flatten(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and len(value) <= 20 and all(not isinstance(v, (dict, list)) for v in value):
        yield prefix, ", ".join(_fmt(v) for v in value)
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def trailing_mean(ys: list[float], w: int) -> list[float]:
    """Mean of the finite values among the last `w` points (NaN where the point itself is NaN)."""
    out = []
    for i, y in enumerate(ys):
        window = [v for v in ys[max(0, i - w + 1):i + 1] if math.isfinite(v)]
        out.append(sum(window) / len(window) if math.isfinite(y) and window else math.nan)
    return out


def _plot(path: str, panels: list[dict[str, Any]]) -> None:
    """panels: dicts with title, ylabel, lines [(label, xs, ys)], log_y, smooth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels):
        lines = panel["lines"]
        legend = len(lines) > 1
        for label, xs, ys in lines:
            finite = sum(1 for y in ys if math.isfinite(y))
            smooth = panel.get("smooth", True) and finite >= 20
            prefix = f"{label}: " if len(lines) > 1 else ""
            # NaN values (logged as null) break the line instead of joining its neighbours
            line, = ax.plot(xs, ys, lw=1.0, label=f"{prefix}raw" if smooth else label,
                            marker="." if len(xs) < 30 else None, alpha=0.5 if smooth else 1.0)
            if smooth:  # noisy per-step values: a trailing mean over ~5% of the run on top
                w = max(2, len(ys) // 20)
                ax.plot(xs, trailing_mean(ys, w), lw=2.0, color=line.get_color(),
                        label=f"{prefix}trailing mean of {w} points")
                legend = True
        values = [y for _, _, ys in lines for y in ys if math.isfinite(y)]
        if panel.get("log_y") and values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(panel["ylabel"], fontsize=8)
        ax.grid(alpha=0.3)
        if legend:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=96)
    plt.close(fig)


def _metric_label(key: str, kind: str | None) -> tuple[str, str]:
    """(y label with unit, description) of a logged field."""
    if key.endswith("loss"):
        unit = LOSS_UNITS.get(kind or "") if key == "loss" else None
        return (f"loss ({unit})" if unit else "loss (as logged)"), (
            {"pretrain": "masked-LM + deobfuscation cross-entropy, mean over the window's masked tokens",
             "contrastive": "contrastive loss of the step's batch"}.get(kind or "", "") if key == "loss" else "")
    return METRIC_INFO.get(key, (key, ""))


def write_training_report(run_dir: str, eval_json: str | None = None, title: str | None = None) -> str:
    """Write RUN/report.html (+ PNGs) for the run in `run_dir`; return the page's path.

    Raises FileNotFoundError when the run has no metrics.jsonl.
    """
    run_dir = os.fspath(run_dir)
    metrics_path = os.path.join(run_dir, METRICS_NAME)
    if not os.path.isfile(metrics_path):
        raise FileNotFoundError(f"{run_dir} has no {METRICS_NAME}; point the report at a training run folder")
    rows = read_metrics(metrics_path)
    kind, settings, summary = run_settings(run_dir)
    keys = _numeric_keys(rows)
    loss_keys = [k for k in keys if k.endswith("loss")]
    lr_keys = [k for k in keys if k in LR_KEYS]
    tp_keys = [k for k in keys if k in THROUGHPUT_KEYS]
    other_keys = [k for k in keys if k not in set(loss_keys) | set(lr_keys) | set(tp_keys)]

    windows = window_lengths(rows)
    windowed = any(w > 1 for w in windows)
    per_step = {k for k in keys if windowed and k in WINDOW_SUM_KEYS}
    series = {k: _series(rows, k, per_step=k in per_step) for k in keys}

    def name(k: str) -> str:
        return f"{k} per step" if k in per_step else k

    def title_of(k: str) -> str:
        if k in RUNNING_AVERAGE_KEYS:
            return f"{k}: running average since the start"
        if k in per_step:
            return f"{k} per step (window sum / steps in window)"
        if k in tp_keys and windowed:
            return f"{k}: mean over each logging window"
        return k

    images: list[tuple[str, str]] = []

    def plot(file: str, caption: str, panels: list[dict[str, Any]]) -> None:
        panels = [p for p in panels if any(xs for _, xs, _ in p["lines"])]
        if panels:
            _plot(os.path.join(run_dir, file), panels)
            images.append((file, caption))

    def lines(ks: list[str]) -> list[tuple[str, list[float], list[float]]]:
        return [(k, series[k][0], series[k][1]) for k in ks]

    loss_labels = {_metric_label(k, kind)[0] for k in loss_keys}
    plot("loss.png", "Loss", [{"title": "loss", "lines": lines(loss_keys), "log_y": True,
                               "ylabel": loss_labels.pop() if len(loss_labels) == 1 else "loss (as logged)"}])
    plot("lr.png", "Learning rate", [{"title": "learning rate", "lines": lines(lr_keys), "smooth": False,
                                      "ylabel": "learning rate (no unit)"}])
    plot("throughput.png", "Throughput", [{"title": title_of(k), "lines": lines([k]), "ylabel": _metric_label(k, kind)[0],
                                           "smooth": k not in RUNNING_AVERAGE_KEYS} for k in tp_keys])
    plot("other.png", "Other logged metrics", [{"title": title_of(k), "lines": lines([k]), "ylabel": _metric_label(k, kind)[0]}
                                               for k in other_keys[:12]])

    table_rows = []
    for k in keys:
        _, ys, nulls = series[k]
        finite = [y for y in ys if math.isfinite(y)]
        if finite:
            unit, about = _metric_label(k, kind)
            if k in RUNNING_AVERAGE_KEYS:
                about = about or "running average since the start"
            table_rows.append((name(k), unit, about, finite[0], finite[-1], min(finite), max(finite), len(finite), nulls))

    # the logging cadence, from the step numbers (the settings may have changed on a resume): the most
    # common window, the last one excluded (a run's last window may be shorter)
    body = windows[:-1] or windows
    log_every = max(sorted(set(body)), key=body.count) if rows else 1
    notes = []
    if per_step:
        short = windows[-1] < log_every and len(windows) > 1
        last_step = int(_row_steps(rows)[-1])
        notes.append(
            f"{' and '.join(sorted(per_step))} are logged as sums over each logging window (every {int(log_every)} steps"
            + (f"; the last window, steps {last_step - windows[-1] + 1} to {last_step}, covers {windows[-1]}" if short else "")
            + "); the curves and the table show them per step: the window's sum divided by the steps it covers "
              "(from the step numbers).")
    null_keys = [(name(k), series[k][2], len(series[k][0])) for k in keys if series[k][2]]
    if null_keys:
        notes.append("Null values break their line (no value is drawn across the gap): "
                     + "; ".join(f"{k}: {n} of {total} entries null" for k, n, total in null_keys) + ".")
    if any(k in RUNNING_AVERAGE_KEYS for k in keys):
        notes.append(", ".join(k for k in keys if k in RUNNING_AVERAGE_KEYS)
                     + " is a running average since the run (or its resume) started, not the rate of each step.")

    eval_json = eval_json or find_eval_json(run_dir)
    eval_html = "<p>No evaluation results in this run folder.</p>"
    if eval_json and os.path.isfile(eval_json):
        with open(eval_json, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                data = {"error": f"unreadable evaluation JSON: {exc}"}
        eval_html = _eval_html(data, run_dir, eval_json)

    title = title or f"Training run: {os.path.basename(os.path.abspath(run_dir))}"
    steps = [r.get("step") for r in rows if _is_number(r.get("step"))]
    cadence = "" if len(rows) < 2 else f" (every {log_every} steps)" if log_every > 1 else " (every step)"
    status = run_status(rows, settings, summary)
    last = rows[-1] if rows else {}
    header = (f"{html.escape(status[:1].upper() + status[1:])}. {len(rows)} log entries{cadence}"
              + (f", steps {int(min(steps))} to {int(max(steps))}" if steps else "") + ".")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1rem 2rem; color: #222; }}
@media (max-width: 600px) {{ body {{ padding: .5rem .75rem; }} }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }}
th, td {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; vertical-align: top; }} th {{ background: #f3f3f3; }}
td {{ white-space: nowrap; }} th.l, td.l {{ text-align: left; white-space: normal; }} tr.task th {{ background: #e8eef6; }} td.path {{ word-break: break-all; min-width: 8rem; }} td.w {{ min-width: 14rem; }} td.u {{ min-width: 9rem; }}
img {{ max-width: 100%; border: 1px solid #eee; }} .muted {{ color: #777; }} .warn {{ color: #8a4b00; }}
figure {{ margin: 1rem 0; }} ol.conv li {{ margin-bottom: .4rem; font-size: .85rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p id="status">{header}</p>
<p class="muted">last entry: {html.escape(json.dumps(last, default=str)[:300])}</p>
<section id="curves"><h2>Curves</h2>
{"".join(f'<p class="muted">{html.escape(n)}</p>' for n in notes)}
{"".join(f'<figure><img src="{n}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>' for n, c in images) or "<p>No numeric metrics were logged.</p>"}
</section>
<section id="final"><h2>Metrics: first, last, min, max</h2>
<p class="muted">Over the log entries with a value; "null" counts entries that logged the metric as null (or non-finite).</p>
<div style="overflow-x:auto"><table><tr><th class="l">metric</th><th class="l">unit</th><th>first</th><th>last</th><th>min</th><th>max</th><th>points</th><th>null</th><th class="l">meaning</th></tr>
{"".join(f'<tr><td class="l">{html.escape(k)}</td><td class="l u">{html.escape(u)}</td><td>{_fmt(a)}</td><td>{_fmt(b)}</td><td>{_fmt(lo)}</td><td>{_fmt(hi)}</td><td>{n}</td><td>{z}</td><td class="l w">{html.escape(about)}</td></tr>' for k, u, about, a, b, lo, hi, n, z in table_rows)}
</table></div></section>
<section id="evaluation"><h2>Evaluation</h2>
{eval_html}
</section>
</body></html>
"""
    path = os.path.join(run_dir, REPORT_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    return path


def _system_name(system: str, run_dir: str) -> str:
    """BM25, "this run's model" for a model inside the run folder (also when the folder was moved or
    copied since: same folder name, and the model's folder is in it), else the name as evaluated."""
    if system.lower() == "bm25":
        return "BM25"
    if not os.path.isabs(system):
        return system
    try:
        rel = os.path.relpath(os.path.realpath(system), os.path.realpath(run_dir))
    except ValueError:  # another drive (Windows)
        rel = os.pardir
    if rel.startswith(os.pardir):
        parent, leaf = os.path.split(os.path.normpath(system))
        if os.path.basename(parent) == os.path.basename(os.path.abspath(run_dir)) and os.path.isdir(os.path.join(run_dir, leaf)):
            rel = leaf
    if not rel.startswith(os.pardir):
        return f"this run's {rel}" if rel != os.curdir else "this run"
    return system


def random_mrr(pool: int) -> float:
    """Expected MRR of a uniformly random ranking of `pool` items with one gold item: H(pool) / pool."""
    return sum(1.0 / k for k in range(1, pool + 1)) / pool


def _eval_html(data: Any, run_dir: str, eval_path: str) -> str:
    """The evaluation section: `trainer evaluate`'s {"split", "systems": {system: {task: result}}} as one
    table (tasks as row groups, systems as rows, metrics as columns), each convention written once; any
    other JSON as a key/value list."""
    where = os.path.relpath(os.path.abspath(eval_path), os.path.abspath(run_dir))
    source = f'<p class="muted">from {html.escape(where)} (relative to the run folder)'
    systems = data.get("systems") if isinstance(data, dict) else None
    if not isinstance(systems, dict) or not systems or not all(isinstance(t, dict) for t in systems.values()):
        items = list(_flatten(data))
        return (source + '</p><div style="overflow-x:auto"><table><tr><th class="l">key</th><th class="l">value</th></tr>'
                + "".join(f'<tr><td class="l">{html.escape(k)}</td><td class="l">{html.escape(_fmt(v))}</td></tr>'
                          for k, v in items) + "</table></div>")
    split = data.get("split")
    extra = {k: v for k, v in data.items() if k not in ("split", "systems")}
    tasks: dict[str, None] = {}
    metrics: dict[str, None] = {}
    counts: dict[str, None] = {}
    for per_task in systems.values():
        for task, result in per_task.items():
            tasks.setdefault(task, None)
            for k, v in (result.items() if isinstance(result, dict) else ()):
                if k in EVAL_COUNTS:
                    counts.setdefault(k, None)
                elif (v is None or _is_number(v)) and k not in ("convention", "note"):
                    metrics.setdefault(k, None)
    metric_cols = sorted(metrics, key=lambda m: (list(EVAL_METRICS).index(m) if m in EVAL_METRICS else len(EVAL_METRICS)))
    count_cols = [c for c in EVAL_COUNTS if c in counts]
    baseline = next((s for s in systems if s.lower() == "bm25"), None)
    conventions: dict[str, int] = {}
    small: list[tuple[str, int, list[str]]] = []

    head = ('<tr><th class="l">system</th>' + "".join(f"<th>{html.escape(EVAL_METRICS.get(m, m))}</th>" for m in metric_cols)
            + "".join(f"<th>{html.escape(c)}</th>" for c in count_cols)
            + (f"<th>vs {html.escape(_system_name(baseline, run_dir))}</th>" if baseline else "")
            + '<th class="l">note</th></tr>')
    body = []
    width = 2 + len(metric_cols) + len(count_cols) + (1 if baseline else 0)
    for task in tasks:
        results = {s: per_task.get(task) for s, per_task in systems.items() if isinstance(per_task.get(task), dict)}
        refs = []
        for r in results.values():
            text = r.get("convention")
            if isinstance(text, str) and text:
                number = conventions.setdefault(text, len(conventions) + 1)
                if number not in refs:
                    refs.append(number)
        ref = f" - convention {', '.join(f'[{n}]' for n in refs)}" if refs else ""
        body.append(f'<tr class="task"><th class="l" colspan="{width}">{html.escape(task)}{ref}</th></tr>')
        primary = next((m for m in metric_cols if any(_is_number(r.get(m)) for r in results.values())), None)
        base = results.get(baseline, {}).get(primary) if baseline and primary else None
        pools = sorted({int(r["pool"]) for r in results.values() if _is_number(r.get("pool"))})
        if pools and pools[0] < SMALL_POOL:
            small.append((task, pools[0], [m for m in metric_cols if any(_is_number(r.get(m)) for r in results.values())]))
        for system, r in results.items():
            shown = _system_name(system, run_dir)
            tip = f' title="{html.escape(system)}"' if shown != system else ""
            cells = [f'<td class="l path"{tip}>{html.escape(shown)}</td>']
            for m in metric_cols:
                cells.append(f"<td>{_fmt_eval(r[m]) if m in r else ''}</td>")
            for c in count_cols:
                v = r.get(c)
                flag = c == "pool" and _is_number(v) and v < SMALL_POOL
                cells.append(f'<td{" class=warn" if flag else ""}>{_fmt_eval(v) if c in r else ""}{" *" if flag else ""}</td>')
            if baseline:
                v = r.get(primary) if primary else None
                delta = (f"{v - base:+.4f} {EVAL_METRICS.get(primary, primary)}" if system != baseline and _is_number(v)
                         and _is_number(base) else "")
                cells.append(f"<td>{html.escape(delta)}</td>")
            cells.append(f'<td class="l w">{html.escape(_fmt_eval(r["note"])) if "note" in r else ""}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
    lines = [source + (f"; split <b>{html.escape(_fmt_eval(split))}</b>" if split is not None else "") + ".</p>"]
    lines.append('<div style="overflow-x:auto"><table>' + head + "".join(body) + "</table></div>")
    lines.append('<p class="muted">n/a: not computable for this split (see the note). '
                 + (f'"vs {html.escape(_system_name(baseline, run_dir))}": the difference in the task\'s first metric. '
                    if baseline else "") + "</p>")
    grouped: dict[tuple[int, str], list[str]] = {}  # (pool, chance scores) -> tasks: one sentence each
    for task, pool, ms in small:
        chance = []
        if "mrr" in ms:
            chance.append(f"MRR {random_mrr(pool):.3f}")
        for m in ms:
            if m.startswith("recall@") and m[7:].isdigit():
                chance.append(f"{EVAL_METRICS.get(m, m)} {min(int(m[7:]), pool) / pool:.3f}")
        grouped.setdefault((pool, ", ".join(chance)), []).append(task)
    for (pool, chance), names in grouped.items():
        lines.append(f'<p class="warn">* Small pool: {html.escape(" and ".join(names))} '
                     f"{'rank' if len(names) > 1 else 'ranks'} among only {pool} items (fewer than {SMALL_POOL}), so "
                     "scores are coarse and easy to reach"
                     + (f"; a random ranking scores {html.escape(chance)}" if chance else "")
                     + ". Hold out more pairs for a meaningful comparison.</p>")
    if conventions:
        lines.append("<h3>Conventions</h3><ol class=\"conv\">" + "".join(
            f"<li>{html.escape(text)}</li>" for text in conventions) + "</ol>")
    if extra:
        lines.append('<div style="overflow-x:auto"><table><tr><th class="l">other field</th><th class="l">value</th></tr>'
                     + "".join(f'<tr><td class="l">{html.escape(k)}</td><td class="l">{html.escape(_fmt_eval(v))}</td></tr>'
                               for k, v in _flatten(extra)) + "</table></div>")
    return "\n".join(lines)


def report_at_end_of_run(run_dir: str, eval_json: str | None = None) -> str | None:
    """Write RUN/report.html as a training command's last act (main rank); return its path, or None.

    Never raises: the model and checkpoints are saved before this is called, so a report that cannot be
    drawn (matplotlib missing, a full disk, odd metrics) is one `warning: ...` line on stderr saying how
    to retry, and the command still succeeds.
    """
    import sys

    try:
        return write_training_report(run_dir, eval_json)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        detail = " ".join(str(exc).split()) or type(exc).__name__
        print(f"warning: the training report of {run_dir} could not be written ({type(exc).__name__}: {detail}); "
              f"the run itself is complete, retry with `python -m trainer.report {run_dir}`", file=sys.stderr, flush=True)
        return None


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and abs(value) >= 1e4:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _fmt_eval(value: Any) -> str:
    """Scores with 4 decimals (comparable down a column), counts as integers, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    """`python -m trainer.report RUN [--eval FILE]`: (re)write a run's training report."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trainer.report", description=main.__doc__)
    parser.add_argument("run_dir")
    parser.add_argument("--eval", dest="eval_json", default=None)
    args = parser.parse_args(argv)
    try:
        print(f"training report written to {write_training_report(args.run_dir, args.eval_json)}")
    except FileNotFoundError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
