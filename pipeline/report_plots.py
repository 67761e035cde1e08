"""Plots for the pipeline's data-quality report, as base64 PNG data URIs.

Each function takes plain numbers (already aggregated, never whole tables) and returns a
`data:image/png;base64,...` string that the report inlines in an `<img>`, so the page needs no
server and no external resource. matplotlib runs on the Agg backend (no display needed).
"""
from __future__ import annotations

import base64
import io
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402

FIGSIZE = (7.0, 3.6)
DPI = 96


def _to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def s_curve(b: int, r: int, threshold: float, points: Sequence[Sequence[float]] | None = None) -> str:
    """Probability that two items of Jaccard similarity s become candidates: 1 - (1 - s^r)^b.

    `points` (s, p) from the manifest are drawn as markers on top of the analytic curve, so a
    disagreement between what the pipeline recorded and the formula is visible.
    """
    s = np.linspace(0.0, 1.0, 201)
    p = 1.0 - (1.0 - s ** r) ** b
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.plot(s, p, color="#1f77b4", lw=2, label=f"1-(1-s^{r})^{b}")
    if points:
        xs, ys = zip(*[(float(x), float(y)) for x, y in points])
        ax.plot(xs, ys, "o", color="#d62728", ms=4, label="manifest points")
    ax.axvline(threshold, color="#555", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set_xlabel("Jaccard similarity of two files' shingle sets")
    ax.set_ylabel("P(candidate pair)")
    # a margin on every side, so the markers at s=0 and s=1 (p=0, p=1) are drawn whole
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.04, 1.06)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"LSH S-curve: b={b} bands x r={r} rows")
    return _to_data_uri(fig)


# Log-scaled bar charts start at 0.5, below the smallest possible count (1): a bar's length then
# grows with its count from a fixed origin (matplotlib's automatic limits start anywhere, so a
# count of 2 could be a sliver and an all-ones chart spans 10^-1..10^1). The count is printed on
# every bar, since log lengths are hard to read.
LOG_BASE = 0.5


def _log_headroom(largest: int) -> float:
    """Upper limit of a log axis: room above the largest bar for its label."""
    return max(2.0, float(largest) * 3.0)


def _count_labels(ax, container, values: Sequence[int], fontsize: int = 7) -> None:
    ax.bar_label(container, labels=[f"{int(v):,}" for v in values], padding=2, fontsize=fontsize)


def cluster_histogram(size_counts: Mapping[int, int], kind: str = "near-duplicate") -> str:
    """Bar chart of how many clusters have each size (log-scaled counts from 0.5, labelled).

    `kind` names the clusters in the title and axis label ("exact-duplicate" when near dedup
    was off)."""
    sizes = sorted(int(k) for k in size_counts)
    counts = [int(size_counts[k]) if k in size_counts else int(size_counts[str(k)]) for k in sizes]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    positions = np.arange(len(sizes))
    bars = ax.bar(positions, counts, color="#2ca02c")
    step = max(1, len(sizes) // 20)
    ax.set_xticks(positions[::step])
    ax.set_xticklabels([str(s) for s in sizes][::step], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(LOG_BASE, _log_headroom(max(counts, default=1)))
    _count_labels(ax, bars, counts, fontsize=7 if len(sizes) <= 30 else 5)
    ax.set_xlabel(f"cluster size (files per {kind} cluster)")
    ax.set_ylabel("clusters")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(f"{kind[:1].upper()}{kind[1:]} cluster sizes")
    return _to_data_uri(fig)


def rejection_bars(rows: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per 'stage: reason' label."""
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _ in rows]
    values = [n for _, n in rows]
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], max(2.0, 0.28 * len(rows) + 1.0)))
    y = np.arange(len(rows))
    bars = ax.barh(y, values, color="#ff7f0e")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(LOG_BASE, _log_headroom(max(values, default=1)))
    _count_labels(ax, bars, values)
    ax.set_xlabel("rejected rows")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Rejections by stage and reason")
    return _to_data_uri(fig)


def length_histograms(lengths: Mapping[str, np.ndarray]) -> str:
    """One log-x histogram panel per column name, lengths in characters."""
    names = list(lengths)
    fig, axes = plt.subplots(1, len(names), figsize=(FIGSIZE[0] * 1.4, 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = np.asarray(lengths[name], dtype=np.float64)
        values = values[values > 0]
        if values.size:
            bins = np.logspace(0, np.log10(max(values.max(), 10.0)) + 0.05, 40)
            ax.hist(values, bins=bins, color="#9467bd")
            ax.axvline(np.median(values), color="#222", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{name} (median {np.median(values) if values.size else 0:.0f})", fontsize=9)
        ax.set_xlabel("characters", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("pairs")
    return _to_data_uri(fig)


def stage_bars(counts: Mapping[str, Mapping[str, int]], stages: Sequence[str], langs: Sequence[str]) -> str:
    """Grouped bars: for each language, the count after each stage (symlog scale).

    The legend sits outside the axes, right of them, so it never covers a bar, and the y axis
    leaves headroom above the tallest bar.
    """
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 1.4, FIGSIZE[1]))
    width = 0.8 / max(1, len(stages))
    x = np.arange(len(langs))
    cmap = plt.get_cmap("viridis")
    tallest = 0
    for i, stage in enumerate(stages):
        values = [max(int(counts.get(stage, {}).get(lang, 0)), 0) for lang in langs]
        tallest = max([tallest, *values])
        ax.bar(x + i * width, values, width, label=stage, color=cmap(i / max(1, len(stages) - 1)))
    ax.set_xticks(x + 0.4 - width / 2)
    ax.set_xticklabels(langs, fontsize=8)
    ax.set_yscale("symlog")
    ax.set_ylim(0, max(2.0, tallest * 2.0))
    ax.set_ylabel("rows")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, title="stage",
              title_fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Rows per language after each stage")
    return _to_data_uri(fig)
