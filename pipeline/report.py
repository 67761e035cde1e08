"""The pipeline's data-quality report: `OUT/report.html`, a static page.

`write_report(out_dir)` reads a finished output folder (manifest.json plus the files/, pairs/ and
rejected/ shards) and writes one self-contained HTML page: inline CSS, plots as base64 PNG data
URIs, no script, no external resource, so it opens from disk or a bucket without a server.

Sections (each a `<section id=...>` with an `<h2>`; tests look for these ids):
    summary       options of the run and totals
    counts        per-language counts per stage, and the paper's Table 4 shape
                  (files, functions, functions with docs, pairs)
    rejections    rejected rows counted by stage and reason
    clusters      near-duplicate cluster-size histogram and the largest clusters
    lsh           the S-curve of the LSH parameters used (a note instead when near dedup was off)
    lengths       docstring / summary / code / code_hard length distributions
    examples      a few seeded random (summary, code_hard) pairs per language, HTML-escaped

Memory: shards are never loaded whole. Every scan reads only the columns it needs, batch by
batch (`ParquetFile.iter_batches`); length distributions stop after `max_length_rows` rows spread
over all shards; example pairs are chosen by reservoir sampling over the `lang` column and then
only the row groups holding the chosen rows are read.
"""
from __future__ import annotations

import datetime as _dt
import glob
import heapq
import html
import json
import os
import random
from collections import Counter, defaultdict
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import report_plots

REPORT_NAME = "report.html"
SECTIONS = (
    ("summary", "Run summary"),
    ("counts", "Counts per language and stage"),
    ("rejections", "Reasons for rejection"),
    ("clusters", "Near-duplicate clusters"),
    ("lsh", "LSH S-curve"),
    ("lengths", "Length distributions"),
    ("examples", "Example pairs"),
)
LENGTH_COLUMNS = ("docstring", "summary", "code", "code_hard")
TABLE4_COLUMNS = ("files", "functions", "functions_with_docs", "pairs")
BATCH_ROWS = 8192

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1rem 2rem; color: #222; background: #fff; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img.plot { display: block; max-width: 100%; height: auto; border: 1px solid #eee; margin: .5rem 0; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .5rem; overflow-x: auto;
      font-size: .78rem; max-height: 18rem; }
.example { border-left: 4px solid #9467bd; padding-left: .8rem; margin: .8rem 0; }
.muted { color: #777; font-size: .85rem; }
"""


# ---------------------------------------------------------------------------------------------
# reading helpers (bounded memory)


def _read_manifest(out_dir: str) -> dict[str, Any]:
    path = os.path.join(out_dir, "manifest.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{out_dir} has no manifest.json; run the pipeline to completion first")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _shards(out_dir: str, manifest: dict[str, Any], table: str) -> list[str]:
    """Shard paths of `table`, from the manifest when it lists them, else by glob."""
    listed = [s["path"] for s in manifest.get("shards", []) if s.get("table") == table]
    if listed:
        return [os.path.join(out_dir, p) for p in sorted(listed)]
    return sorted(glob.glob(os.path.join(out_dir, table, "*.parquet")))


def _has_columns(path: str, columns: Iterable[str]) -> list[str]:
    names = set(pq.ParquetFile(path).schema_arrow.names)
    return [c for c in columns if c in names]


def _batches(paths: list[str], columns: list[str], max_rows_per_shard: int | None = None) -> Iterator[pa.RecordBatch]:
    for path in paths:
        cols = _has_columns(path, columns)
        if not cols:
            continue
        seen = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=cols):
            if max_rows_per_shard is not None and seen >= max_rows_per_shard:
                break
            if max_rows_per_shard is not None and seen + batch.num_rows > max_rows_per_shard:
                batch = batch.slice(0, max_rows_per_shard - seen)
            seen += batch.num_rows
            yield batch


def rejection_counts(paths: list[str]) -> Counter:
    """Counter of (stage, reason) over the rejected shards, reading only those two columns."""
    counts: Counter = Counter()
    for batch in _batches(paths, ["stage", "reason"]):
        table = pa.Table.from_batches([batch])
        grouped = table.group_by(["stage", "reason"]).aggregate([([], "count_all")])
        for stage, reason, n in zip(grouped["stage"].to_pylist(), grouped["reason"].to_pylist(),
                                    grouped["count_all"].to_pylist()):
            counts[(stage, reason)] += n
    return counts


def cluster_stats(paths: list[str], top: int = 20) -> tuple[dict[int, int], list[dict[str, Any]]]:
    """(size -> number of clusters, the `top` largest clusters of >= 2 files) from the files shards.

    Each surviving file is its cluster's survivor and carries the cluster's size, so counting
    `cluster_size` over `files` counts clusters, not files.
    """
    hist: Counter = Counter()
    heap: list[tuple[int, str, dict[str, Any]]] = []
    for batch in _batches(paths, ["cluster_id", "cluster_size", "lang", "path"]):
        sizes = batch.column(batch.schema.get_field_index("cluster_size"))
        vc = pc.value_counts(sizes)
        for item in vc.to_pylist():
            hist[int(item["values"])] += int(item["counts"])
        # Only rows that could enter the top list are turned into Python objects.
        # a cluster of one file is not a duplicate cluster: only sizes >= 2 are listed
        floor = max(2, heap[0][0]) if len(heap) >= top else 2
        idx = pc.indices_nonzero(pc.greater_equal(sizes, floor)).to_pylist()
        if not idx:
            continue
        rows = batch.take(pa.array(idx)).to_pylist()
        for row in rows:
            item = (int(row["cluster_size"]), str(row.get("cluster_id")), row)
            if len(heap) < top:
                heapq.heappush(heap, item)
            elif item[:2] > heap[0][:2]:
                heapq.heapreplace(heap, item)
    largest = [dict(row, size=size) for size, _, row in sorted(heap, key=lambda t: (-t[0], t[1]))]
    return dict(hist), largest


def length_samples(paths: list[str], max_rows: int) -> dict[str, np.ndarray]:
    """Character lengths of the text and code columns of up to `max_rows` pairs.

    Rows are taken from the start of every shard in equal shares; shards are written in a
    deterministic but content-unrelated order, so this is a fair sample without a full scan.
    Lengths are computed in Arrow (`utf8_length`), the strings never become Python objects.
    """
    per_shard = max(1, max_rows // max(1, len(paths)))
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for batch in _batches(paths, list(LENGTH_COLUMNS), max_rows_per_shard=per_shard):
        for name in batch.schema.names:
            lengths = pc.utf8_length(batch.column(batch.schema.get_field_index(name)))
            parts[name].append(np.asarray(lengths.fill_null(0).to_numpy(zero_copy_only=False)))
    return {name: np.concatenate(parts[name]) for name in LENGTH_COLUMNS if parts.get(name)}


def sample_pairs(paths: list[str], per_lang: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Up to `per_lang` uniformly random pairs per language (seeded reservoir sampling).

    Pass 1 reads only `lang`; pass 2 reads, per shard, only the row groups holding chosen rows.
    """
    rng = random.Random(seed)
    reservoirs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    seen: Counter = Counter()
    for shard_index, path in enumerate(paths):
        offset = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=["lang"]):
            for i, lang in enumerate(batch.column(0).to_pylist()):
                seen[lang] += 1
                slot = (shard_index, offset + i)
                if len(reservoirs[lang]) < per_lang:
                    reservoirs[lang].append(slot)
                else:
                    j = rng.randrange(seen[lang])
                    if j < per_lang:
                        reservoirs[lang][j] = slot
            offset += batch.num_rows
    wanted: dict[int, set[int]] = defaultdict(set)
    for slots in reservoirs.values():
        for shard_index, row in slots:
            wanted[shard_index].add(row)
    columns = ["id", "lang", "path", "name", "summary", "code_hard"]
    picked: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for shard_index, rows in sorted(wanted.items()):
        pf = pq.ParquetFile(paths[shard_index])
        cols = [c for c in columns if c in pf.schema_arrow.names]
        start = 0
        for rg in range(pf.num_row_groups):
            n = pf.metadata.row_group(rg).num_rows
            local = sorted(r - start for r in rows if start <= r < start + n)
            if local:
                table = pf.read_row_group(rg, columns=cols).take(pa.array(local))
                for row in table.to_pylist():
                    picked[row["lang"]].append(row)
            start += n
    return {lang: sorted(rows, key=lambda r: str(r.get("id"))) for lang, rows in sorted(picked.items())}


# ---------------------------------------------------------------------------------------------
# HTML building


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(header: list[str], rows: list[list[Any]], left_cols: int = 1) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="l"' if i < left_cols else ""
        text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else _e(v)
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(plot_id: str, uri: str, alt: str) -> str:
    return f'<img class="plot" id="plot-{plot_id}" alt="{_e(alt)}" src="{uri}">'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


def _stage_order(counts: dict[str, dict[str, int]]) -> list[str]:
    """Stages in pipeline order when recognisable, else as recorded."""
    order = ["read", "filter", "exact_dedup", "near_dedup", "split", "parse", "pairs", "pair_filter", "pair_dedup", "write"]

    def rank(stage: str) -> tuple[int, str]:
        for i, prefix in enumerate(order):
            if stage == prefix or stage.startswith(prefix + "_") or stage.startswith(prefix + "."):
                return i, stage
        return len(order), stage

    return sorted(counts, key=rank)


def _table4(manifest: dict[str, Any]) -> dict[str, dict[str, int]] | None:
    for key in ("table4", "tables"):
        value = manifest.get(key)
        if isinstance(value, dict) and value:
            return value
    return None


def _summary_section(manifest: dict[str, Any], totals: dict[str, int]) -> str:
    options = manifest.get("options", {})
    flat: dict[str, Any] = {}
    for k, v in options.items():  # one level of nesting, e.g. {"pipeline": {...}, "beam": {...}}
        if isinstance(v, dict) and v:
            flat.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            flat[k] = v
    rows = [[k, json.dumps(v, default=str) if not isinstance(v, str) else v] for k, v in sorted(flat.items())]
    shard_rows = [[t, n] for t, n in totals.items()]
    return (
        f'<p class="muted">schema version {_e(manifest.get("schema_version"))}; report written '
        f'{_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}</p>'
        "<h3>Rows written</h3>" + _table(["table", "rows"], shard_rows)
        + f"<details><summary>Options of the run ({len(rows)})</summary>"
        + _table(["option", "value"], rows, left_cols=2) + "</details>"
    )


def _counts_section(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {}) or {}
    parts = []
    rejected_stages = [s for s in counts if s.startswith("rejected")]
    counts_rejected = {s: counts[s] for s in rejected_stages}
    counts = {s: v for s, v in counts.items() if s not in counts_rejected}
    if counts:
        stages = _stage_order(counts)
        langs = sorted({lang for per in counts.values() for lang in per})
        rows = [[lang] + [int(counts[s].get(lang, 0)) for s in stages] for lang in langs]
        rows.append(["total"] + [int(sum(counts[s].values())) for s in stages])
        parts.append("<p>Rows remaining (or counted) after each stage, per language, from the manifest.</p>")
        parts.append(_table(["language"] + stages, rows))
        if langs:
            parts.append(_img("counts", report_plots.stage_bars(counts, stages, langs), "rows per language per stage"))
    else:
        parts.append("<p>The manifest records no per-stage counts.</p>")
    if counts_rejected:
        langs = sorted({lang for per in counts_rejected.values() for lang in per})
        stages = sorted(counts_rejected)
        parts.append("<h3>Rejected rows per language and stage</h3>")
        parts.append(_table(["language"] + stages, [[lang] + [int(counts_rejected[s].get(lang, 0)) for s in stages]
                                                     for lang in langs]))
    t4 = _table4(manifest)
    parts.append("<h3>Table 4 shape (files, functions, functions with docs, pairs)</h3>")
    if t4:
        langs = sorted(t4)
        cols = [c for c in TABLE4_COLUMNS if any(c in t4[lang] for lang in langs)]
        cols += sorted({c for lang in langs for c in t4[lang]} - set(cols))
        rows = [[lang] + [t4[lang].get(c, 0) for c in cols] for lang in langs]
        rows.append(["total"] + [sum(int(t4[lang].get(c, 0) or 0) for lang in langs) for c in cols])
        parts.append(_table(["language"] + cols, rows))
    else:
        parts.append("<p>The manifest has no per-language function table.</p>")
    return "\n".join(parts)


def _rejections_section(counts: Counter) -> str:
    if not counts:
        return "<p>No rows were rejected.</p>"
    by_stage: Counter = Counter()
    for (stage, _), n in counts.items():
        by_stage[stage] += n
    top = counts.most_common(40)
    parts = [
        _table(["stage", "rejected"], [[s, n] for s, n in by_stage.most_common()]),
        _img("rejections", report_plots.rejection_bars([(f"{s}: {r}", n) for (s, r), n in top]), "rejections"),
        _table(["stage", "reason", "rejected"], [[s, r, n] for (s, r), n in top], left_cols=2),
    ]
    if len(counts) > len(top):
        parts.append(f'<p class="muted">{len(counts) - len(top)} rarer (stage, reason) combinations not shown.</p>')
    return "\n".join(parts)


def _clusters_section(manifest: dict[str, Any], files: list[str]) -> str:
    info = manifest.get("clusters") if isinstance(manifest.get("clusters"), dict) else {}
    hist = info.get("size_histogram") or info.get("histogram")
    largest = info.get("largest")
    if not hist or largest is None:
        computed_hist, computed_largest = cluster_stats(files)
        hist = hist or computed_hist
        largest = largest if largest is not None else computed_largest
    hist = {int(k): int(v) for k, v in hist.items()}
    if not hist:
        return "<p>No files survived, so there are no clusters.</p>"
    clusters = sum(hist.values())
    dup_clusters = sum(v for k, v in hist.items() if k > 1)
    files_in = sum(k * v for k, v in hist.items())
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    removed = {stage: sum((counts.get(f"rejected.{stage}") or {}).values()) for stage in ("exact_dedup", "near_dedup")}
    parts = [
        f"<p>{clusters:,} clusters over {files_in:,} input files; {dup_clusters:,} clusters hold more than one "
        f"file (one survivor each; the others are in <code>rejected/</code>: {removed['exact_dedup']:,} with stage "
        f"exact_dedup, identical after normalization, and {removed['near_dedup']:,} with stage near_dedup).</p>",
        _img("clusters", report_plots.cluster_histogram(hist), "cluster-size histogram"),
        "<h3>Largest clusters</h3>",
    ]
    rows = []
    for c in largest[:20]:
        rows.append([c.get("cluster_id", ""), c.get("lang", ""), c.get("path", ""), int(c.get("size", c.get("cluster_size", 0)))])
    parts.append(_table(["cluster (survivor id)", "language", "survivor path", "size"], rows, left_cols=3))
    return "\n".join(parts)


def _lsh_section(manifest: dict[str, Any]) -> str:
    """The S-curve and parameter table; a short note when near dedup was disabled
    (`lsh == {"enabled": false}`, --no-near-dedup) or the manifest has no LSH block."""
    lsh = manifest.get("lsh") or manifest.get("options", {}).get("lsh")
    if isinstance(lsh, dict) and lsh.get("enabled") is False:
        return ("<p>Near dedup was disabled for this run (<code>--no-near-dedup</code>): no LSH parameters "
                "were used and no file was removed as a near duplicate.</p>")
    if not isinstance(lsh, dict) or "b" not in lsh or "r" not in lsh:
        return "<p>The manifest records no LSH parameters (near dedup was not run).</p>"
    b, r = int(lsh["b"]), int(lsh["r"])
    threshold = float(lsh.get("threshold", 0.0))
    points = lsh.get("s_curve") or lsh.get("points") or lsh.get("curve")
    if isinstance(points, dict):
        points = sorted((float(k), float(v)) for k, v in points.items())
    elif points:
        points = [(p["s"], p.get("p_candidate", p.get("p"))) if isinstance(p, dict) else tuple(p) for p in points]
    rows = [[k, json.dumps(v) if isinstance(v, (list, dict)) else v] for k, v in sorted(lsh.items())
            if k not in ("s_curve", "points", "curve")]
    return "\n".join([
        f"<p>Two files with Jaccard similarity <i>s</i> share at least one of b={b} bands of r={r} "
        f"MinHash rows with probability 1&minus;(1&minus;s<sup>{r}</sup>)<sup>{b}</sup>; target threshold "
        f"{threshold:g}.</p>",
        _img("lsh", report_plots.s_curve(b, r, threshold, points), "LSH S-curve"),
        _table(["parameter", "value"], rows, left_cols=2),
    ])


def _lengths_section(pairs: list[str], max_rows: int) -> str:
    lengths = length_samples(pairs, max_rows)
    if not lengths or not any(v.size for v in lengths.values()):
        return "<p>No pairs were written.</p>"
    rows = []
    for name, v in lengths.items():
        q = np.percentile(v, [5, 50, 95]) if v.size else [0, 0, 0]
        rows.append([name, int(v.size), f"{q[0]:.0f}", f"{q[1]:.0f}", f"{q[2]:.0f}", int(v.max()) if v.size else 0])
    n = max(v.size for v in lengths.values())
    return "\n".join([
        f"<p>Lengths in characters over {n:,} pairs (at most {max_rows:,}, spread over every shard).</p>",
        _img("lengths", report_plots.length_histograms(lengths), "length distributions"),
        _table(["column", "pairs", "p5", "median", "p95", "max"], rows),
    ])


def _examples_section(pairs: list[str], per_lang: int, seed: int) -> str:
    if not pairs:
        return "<p>No pairs were written.</p>"
    chosen = sample_pairs(pairs, per_lang, seed)
    if not chosen:
        return "<p>No pairs were written.</p>"
    parts = [f'<p class="muted">{per_lang} random pairs per language (seed {seed}): the summary (text side) '
             "and code_hard (code side: body without signature and return statements).</p>"]
    for lang, rows in chosen.items():
        parts.append(f'<h3 id="examples-{_e(lang)}">{_e(lang)}</h3>')
        for row in rows:
            parts.append(
                '<div class="example">'
                f'<p class="muted">{_e(row.get("path"))} &middot; {_e(row.get("name"))}</p>'
                f'<p><b>summary:</b> {_e(row.get("summary"))}</p>'
                f'<pre>{_e(row.get("code_hard"))}</pre></div>'
            )
    return "\n".join(parts)


def write_report(out_dir: str, *, manifest: dict[str, Any] | None = None, seed: int = 0, examples_per_lang: int = 3,
                 max_length_rows: int = 200_000) -> str:
    """Write `out_dir/report.html` from a finished output folder; return its path.

    Reads manifest.json (or takes `manifest`, its content, when the pipeline draws the page just
    before writing it) and the shards it lists (bounded memory, see module docstring). The page
    is written to a temporary name and renamed, so a crash never leaves a half-written report.
    """
    out_dir = os.fspath(out_dir)
    if manifest is None:
        manifest = _read_manifest(out_dir)
    files = _shards(out_dir, manifest, "files")
    pairs = _shards(out_dir, manifest, "pairs")
    rejected = _shards(out_dir, manifest, "rejected")
    totals: dict[str, int] = {}
    for table, paths in (("files", files), ("pairs", pairs), ("rejected", rejected)):
        totals[table] = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)

    bodies = {
        "summary": _summary_section(manifest, totals),
        "counts": _counts_section(manifest),
        "rejections": _rejections_section(rejection_counts(rejected)),
        "clusters": _clusters_section(manifest, files),
        "lsh": _lsh_section(manifest),
        "lengths": _lengths_section(pairs, max_length_rows),
        "examples": _examples_section(pairs, examples_per_lang, seed),
    }
    nav = " &middot; ".join(f'<a href="#{k}">{_e(t)}</a>' for k, t in SECTIONS)
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Pipeline report</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Pipeline report: {_e(os.path.basename(os.path.abspath(out_dir)))}</h1>",
        f"<nav>{nav}</nav>",
        *(_section(k, t, bodies[k]) for k, t in SECTIONS),
        "</body></html>",
    ])
    path = os.path.join(out_dir, REPORT_NAME)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.report OUT`: (re)write the report of a finished output folder."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=main.__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples-per-language", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        path = write_report(args.out_dir, seed=args.seed, examples_per_lang=args.examples_per_language)
    except FileNotFoundError as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
