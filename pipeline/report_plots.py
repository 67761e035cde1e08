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
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"LSH S-curve: b={b} bands x r={r} rows")
    return _to_data_uri(fig)


def cluster_histogram(size_counts: Mapping[int, int]) -> str:
    """Bar chart of how many clusters have each size (log-scaled counts)."""
    sizes = sorted(int(k) for k in size_counts)
    counts = [int(size_counts[k]) if k in size_counts else int(size_counts[str(k)]) for k in sizes]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    positions = np.arange(len(sizes))
    ax.bar(positions, counts, color="#2ca02c")
    step = max(1, len(sizes) // 20)
    ax.set_xticks(positions[::step])
    ax.set_xticklabels([str(s) for s in sizes][::step], fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("cluster size (input files per near-duplicate cluster)")
    ax.set_ylabel("clusters")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Near-duplicate cluster sizes")
    return _to_data_uri(fig)


def rejection_bars(rows: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per 'stage: reason' label."""
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _ in rows]
    values = [n for _, n in rows]
    fig, ax = plt.subplots(figsize=(FIGSIZE[0], max(2.0, 0.28 * len(rows) + 1.0)))
    y = np.arange(len(rows))
    ax.barh(y, values, color="#ff7f0e")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
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
    """Grouped bars: for each language, the count after each stage (log scale)."""
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] * 1.4, FIGSIZE[1]))
    width = 0.8 / max(1, len(stages))
    x = np.arange(len(langs))
    cmap = plt.get_cmap("viridis")
    for i, stage in enumerate(stages):
        values = [max(int(counts.get(stage, {}).get(lang, 0)), 0) for lang in langs]
        ax.bar(x + i * width, values, width, label=stage, color=cmap(i / max(1, len(stages) - 1)))
    ax.set_xticks(x + 0.4 - width / 2)
    ax.set_xticklabels(langs, fontsize=8)
    ax.set_yscale("symlog")
    ax.set_ylabel("rows")
    ax.legend(fontsize=7, ncol=min(4, len(stages)))
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Rows per language after each stage")
    return _to_data_uri(fig)
