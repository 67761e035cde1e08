"""Training report of one run folder: `RUN/report.html` plus PNGs beside the checkpoints.

`write_training_report(run_dir)` reads `RUN/metrics.jsonl` (one JSON object per logged step, at
least `step` and `loss`; optional learning rate, throughput and any other numeric field) and, if
present, an evaluation JSON (`RUN/eval.json`, `RUN/evaluation.json`, or any `RUN/*.json` written
by `python -m trainer evaluate`), and writes:

    RUN/loss.png         every field whose name ends in "loss", against step
    RUN/lr.png           learning rate against step
    RUN/throughput.png   tokens/s (or pairs/s, samples/s) against step
    RUN/other.png        the remaining numeric fields, one panel each
    RUN/report.html      the plots, a final-values table and the evaluation results

Only the plots whose data exists are written. The page uses relative `src` paths to the PNGs (the
folder is the unit you copy around) and no script or external resource.

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


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(rows):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        xs.append(float(row.get("step", i)))
        ys.append(float(value))
    return xs, ys


def _numeric_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for k, v in row.items():
            if k not in SKIP_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


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
        yield prefix, ", ".join(str(v) for v in value)
    elif isinstance(value, list):
        for i, v in enumerate(value[:50]):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _plot(path: str, panels: list[tuple[str, list[tuple[str, list[float], list[float]]], bool]]) -> None:
    """panels: (title, [(label, xs, ys)], log_y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, lines, log_y) in zip(axes.flat, panels):
        for label, xs, ys in lines:
            line, = ax.plot(xs, ys, lw=1.0, label=label, marker="." if len(xs) < 30 else None,
                            alpha=0.5 if len(ys) >= 20 else 1.0)
            if len(ys) >= 20:  # noisy per-step values: draw a trailing mean over ~5% of the run on top
                w = max(2, len(ys) // 20)
                smooth = [sum(ys[max(0, i - w + 1):i + 1]) / (i + 1 - max(0, i - w + 1)) for i in range(len(ys))]
                ax.plot(xs, smooth, lw=2.0, color=line.get_color())
        values = [y for _, _, ys in lines for y in ys]
        if log_y and values and min(values) > 0 and max(values) / min(values) > 20:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=96)
    plt.close(fig)


def write_training_report(run_dir: str, eval_json: str | None = None, title: str | None = None) -> str:
    """Write RUN/report.html (+ PNGs) for the run in `run_dir`; return the page's path.

    Raises FileNotFoundError when the run has no metrics.jsonl.
    """
    run_dir = os.fspath(run_dir)
    metrics_path = os.path.join(run_dir, METRICS_NAME)
    if not os.path.isfile(metrics_path):
        raise FileNotFoundError(f"{run_dir} has no {METRICS_NAME}; point the report at a training run folder")
    rows = read_metrics(metrics_path)
    keys = _numeric_keys(rows)
    loss_keys = [k for k in keys if k.endswith("loss")]
    lr_keys = [k for k in keys if k in LR_KEYS]
    tp_keys = [k for k in keys if k in THROUGHPUT_KEYS]
    other_keys = [k for k in keys if k not in set(loss_keys) | set(lr_keys) | set(tp_keys)]

    images: list[tuple[str, str]] = []

    def plot(name: str, caption: str, panels) -> None:
        panels = [p for p in panels if any(xs for _, xs, _ in p[1])]
        if panels:
            _plot(os.path.join(run_dir, name), panels)
            images.append((name, caption))

    plot("loss.png", "Loss", [("loss", [(k, *_series(rows, k)) for k in loss_keys], True)])
    plot("lr.png", "Learning rate", [("learning rate", [(k, *_series(rows, k)) for k in lr_keys], False)])
    plot("throughput.png", "Throughput", [(k, [(k, *_series(rows, k))], False) for k in tp_keys])
    plot("other.png", "Other logged metrics", [(k, [(k, *_series(rows, k))], False) for k in other_keys[:12]])

    last = rows[-1] if rows else {}
    final_rows = []
    for k in keys:
        xs, ys = _series(rows, k)
        if ys:
            final_rows.append((k, ys[0], ys[-1], min(ys), len(ys)))

    eval_json = eval_json or find_eval_json(run_dir)
    eval_html = "<p>No evaluation results in this run folder.</p>"
    if eval_json and os.path.isfile(eval_json):
        with open(eval_json, encoding="utf-8") as fh:
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                data = {"error": f"unreadable evaluation JSON: {exc}"}
        items = list(_flatten(data))
        eval_html = (f'<p class="muted">from {html.escape(os.path.basename(eval_json))}</p><table><tr><th>key</th>'
                     "<th>value</th></tr>" + "".join(
                         f'<tr><td class="l">{html.escape(k)}</td><td class="l">{html.escape(_fmt(v))}</td></tr>'
                         for k, v in items) + "</table>")

    title = title or f"Training run: {os.path.basename(os.path.abspath(run_dir))}"
    steps = [r.get("step") for r in rows if isinstance(r.get("step"), (int, float))]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 0 auto; padding: 1rem 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }}
th, td {{ border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }} th {{ background: #f3f3f3; }}
td.l {{ text-align: left; }} img {{ max-width: 100%; border: 1px solid #eee; }} .muted {{ color: #777; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">{len(rows)} logged steps{f", steps {int(min(steps))} to {int(max(steps))}" if steps else ""}; last entry: {html.escape(json.dumps(last, default=str)[:300])}</p>
<section id="curves"><h2>Curves</h2>
{"".join(f'<figure><img src="{n}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>' for n, c in images) or "<p>No numeric metrics were logged.</p>"}
</section>
<section id="final"><h2>Metrics: first, last, minimum</h2>
<table><tr><th>metric</th><th>first</th><th>last</th><th>min</th><th>points</th></tr>
{"".join(f'<tr><td class="l">{html.escape(k)}</td><td>{_fmt(a)}</td><td>{_fmt(b)}</td><td>{_fmt(c)}</td><td>{n}</td></tr>' for k, a, b, c, n in final_rows)}
</table></section>
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
    if isinstance(value, float):
        return f"{value:.4g}"
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
