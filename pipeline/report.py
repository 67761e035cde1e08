"""The pipeline's data-quality report: `OUT/report.html`, a static page.

`write_report(out_dir)` reads a finished output folder (manifest.json plus the files/, pairs/ and
rejected/ shards) and writes one self-contained HTML page: inline CSS, plots as base64 PNG data
URIs, no script, no external resource, so it opens from disk or a bucket without a server.

Sections (each a `<section id=...>` with an `<h2>`; tests look for these ids):
    summary       what was read (the manifest's `inputs`), the run (runner, seconds), rows
                  written, the train/valid/test split of files and pairs, options of the run
    counts        per-language counts per stage, and the paper's Table 4 shape
                  (files, functions, functions with docs, pairs)
    rejections    rejected rows counted by stage and reason, each reason explained
    clusters      near-duplicate cluster-size histogram and the largest clusters (exact-duplicate
                  clusters only when near dedup was off: the heading says so)
    lsh           the S-curve of the LSH parameters used (a note instead when near dedup was off)
    lengths       docstring / summary / code / code_hard length distributions
    examples      a few seeded random (summary, code_hard) pairs per language, HTML-escaped

Layout: every table sits in a horizontally scrollable box and long cells (paths, ids, reasons)
wrap, so the page never scrolls sideways on a narrow screen. Codes (reject reasons, count names,
LSH fields) are explained next to them; docs/pipeline.md and docs/pairs.md have the full rules.

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
import re
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
SPLITS = ("train", "valid", "test")
TABLE4_COLUMNS = ("files", "functions", "functions_with_docs", "pairs")
BATCH_ROWS = 8192

CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1rem 2rem; color: #222; background: #fff; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
td.w { overflow-wrap: anywhere; min-width: 8rem; }
td.m { text-align: left; color: #444; min-width: 12rem; }
td.id { white-space: nowrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .78rem; }
img { max-width: 100%; height: auto; }
img.plot { display: block; max-width: 100%; height: auto; border: 1px solid #eee; margin: .5rem 0; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .5rem; overflow-x: auto;
      font-size: .78rem; max-height: 18rem; tab-size: 4; -moz-tab-size: 4; }
p, li, dd { overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
.example { border-left: 4px solid #9467bd; padding-left: .8rem; margin: .8rem 0; }
.muted { color: #777; font-size: .85rem; }
@media (max-width: 600px) {
  body { padding: .5rem .75rem; } h1 { font-size: 1.3rem; }
  td.id { white-space: normal; overflow-wrap: anywhere; min-width: 4.5rem; }
  td.w, td.m { min-width: 4.5rem; }
}
"""


# ---------------------------------------------------------------------------------------------
# what the codes mean (docs/pipeline.md, docs/pairs.md and docs/dedup.md have the full rules)

# (regex over the reason, explanation); the first match wins; groups are substituted into the
# text with str.format (group 1 as {0}, ...). Order: specific before general.
REASON_MEANINGS: tuple[tuple[str, str], ...] = (
    # read
    (r"invalid_utf8$", "not valid UTF-8 text"),
    (r"invalid_utf8:(.+)$", "the {0} field is not valid UTF-8"),
    (r"binary$", "binary content (holds a NUL byte)"),
    (r"no_language$", "no language could be told from the path or the row"),
    (r"unknown_language:(.+)$", "language {0} is not one the pipeline knows"),
    (r"invalid_field:(.+)$", "the {0} field has an unusable value"),
    (r"missing_content$", "the row has no content"),
    (r"invalid_json$", "a JSONL line that is not valid JSON (or nests deeper than the parser can)"),
    (r"not_a_json_object$", "a JSONL line that is valid JSON but not an object"),
    (r"missing_field:(.+)$", "a JSONL line without a string {0} field"),
    (r"undecodable_path$", "a file name that is not valid UTF-8 (shown with \\xNN escapes)"),
    (r"symlink_outside_tree$", "a link to a file outside the source tree, never read"),
    (r"truncated_compressed_file$", "a .gz or .bz2 input that ends before its end-of-stream marker; the path names "
                                    "the line reached"),
    (r"symlinked_directory$", "a symbolic link to a folder, not followed"),
    (r"not_a_regular_file$", "not a regular file (a named pipe, socket or device, or a link to one)"),
    (r"unreadable_directory:(.+)$", "a folder that could not be listed ({0})"),
    (r"unreadable:(.+)$", "a file that could not be read ({0})"),
    (r"unreadable_file:(.+)$", "an input file that could not be opened ({0})"),
    (r"corrupt_file:(.+)$", "an input file that stopped decoding part-way ({0}); the path names the line"),
    (r"too_large_to_read>(\d+)$", "larger than {0} bytes (--max-read-bytes), not loaded"),
    (r"corrupt_parquet_row_group:?\s*(.*)$", "a Parquet row group that failed to decode ({0}); the path says how "
                                             "many of its rows were not read (rows_not_read)"),
    # filter
    (r"size<1$", "empty file (smaller than 1 byte, --min-bytes)"),
    (r"size<(\d+)$", "file smaller than {0} bytes (--min-bytes)"),
    (r"size>(\d+)$", "file larger than {0} bytes (--max-bytes)"),
    (r"max_line_length>(.+)$", "a line longer than {0} characters (--max-line-length)"),
    (r"avg_line_length>(.+)$", "mean line length above {0} characters (--max-avg-line-length)"),
    (r"alphanum_fraction<(.+)$", "less than {0} of the characters are letters or digits (--min-alphanum-fraction)"),
    (r"auto_generated:(.+)$", "generated code: the marker \u201c{0}\u201d is in the first lines (--autogen-lines)"),
    (r"decontaminated:sha256$", "the file's normalized content is on the --decontaminate list"),
    (r"decontaminated:snippet$", "the file contains a snippet of the --decontaminate list"),
    # dedup
    (r"exact_duplicate$", "identical to the kept file (kept_id) after whitespace normalization"),
    (r"duplicate_id$", "another record with the same id but a different text was kept"),
    (r"near_duplicate jaccard>=(.+)$", "near duplicate of the kept item (kept_id): Jaccard similarity of their "
                                       "shingle sets at least {0}, found by MinHash LSH and verified"),
    (r"near_duplicate minhash_lsh>=([^ ]+).*$", "near duplicate of the kept item (kept_id) by the MinHash estimate "
                                                "(at least {0}), not verified (--no-verify)"),
    (r"near_duplicate.*$", "near duplicate of the kept item (kept_id)"),
    # parse
    (r"parse_timeout$", "parsing ran out of its budget (--parse-timeout-ms)"),
    (r"max_depth_exceeded$", "syntax tree deeper than --max-tree-depth"),
    (r"syntax_error_ratio>(.+)$", "syntax errors cover more than {0} of the file"),
    (r"unsupported_language:([^:]+).*$", "no parser for {0}"),
    (r"extract_failed:([^:]+).*$", "extraction raised {0} on this file (a bug: please report it with the file)"),
    (r"summary_failed:(.+)$", "summary cleaning raised {0} on this docstring (a bug: please report it)"),
    # pair_filter
    (r"body_lines<(\d+)$", "function body shorter than {0} non-empty lines (documentation does not count; "
                           "--min-body-lines)"),
    (r"empty_hard_positive$", "nothing but comments is left once the signature and return statements are "
                              "removed: code_hard would be empty"),
    (r"summary_tokens<(\d+)$", "summary shorter than {0} tokens (--min-summary-tokens)"),
    (r"summary_tokens>(\d+)$", "summary longer than {0} tokens (--max-summary-tokens)"),
    (r"summary_not_english:(.+)$", "the summary reads as language \u201c{0}\u201d, not English (--english-min-prob)"),
    (r"duplicate_start_line$", "two documented functions of one file start on the same line; the first is kept"),
)

STAGE_MEANINGS = {
    "read": "reading the inputs",
    "filter": "file filters (size, line lengths, alphanumeric share, generated code, decontamination)",
    "exact_dedup": "exact dedup of files",
    "near_dedup": "near dedup of files (MinHash LSH)",
    "parse": "parsing files into functions",
    "pair_filter": "filters on (summary, code) pairs",
    "pair_dedup": "near dedup of pairs, on their code",
}

COUNT_MEANINGS = {
    "read": "files (tree files, Parquet rows, JSONL lines) read successfully",
    "read_not_selected": "Parquet / JSONL rows skipped because --languages did not select their language",
    "filter_kept": "files that passed every file filter (they enter dedup)",
    "exact_dedup_kept": "files left after exact dedup",
    "near_dedup_kept": "files left after near dedup: one per cluster",
    "files": "rows written to files/: the near-dedup survivors that parsed",
    "pairs": "(summary, code) pairs written to pairs/, after the pair filters and pair dedup",
}

LSH_MEANINGS = {
    "enabled": "near dedup ran",
    "b": "bands: a pair is a candidate when all rows of at least one band agree",
    "r": "MinHash rows per band",
    "num_perm": "MinHash permutations (b\u00d7r of them are used)",
    "threshold": "Jaccard similarity the (b, r) choice is tuned for (--dedup-threshold)",
    "ngram": "tokens per shingle",
    "seed": "MinHash seed",
    "fp_weight": "weight of false positives when choosing (b, r)",
    "fn_weight": "weight of false negatives when choosing (b, r)",
    "verify": "candidates are confirmed by their exact Jaccard similarity",
    "verify_threshold": "exact Jaccard similarity a verified candidate needs",
    "false_positive_area": "area under the S-curve below the threshold: chance mass of "
                           "dissimilar pairs becoming candidates",
    "false_negative_area": "area above the S-curve beyond the threshold: chance mass of "
                           "similar pairs being missed",
}


def reason_meaning(reason: str) -> str:
    """A short explanation of a reject reason ('' when the family is unknown)."""
    for pattern, text in REASON_MEANINGS:
        m = re.match(pattern, reason or "")
        if m:
            return text.format(*m.groups())
    return ""


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
    for batch in _batches(paths, ["cluster_id", "cluster_size", "lang", "repo", "path"]):
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


def split_counts(paths: list[str]) -> Counter:
    """Counter of the `split` column over shards, reading only that column."""
    counts: Counter = Counter()
    for batch in _batches(paths, ["split"]):
        for item in pc.value_counts(batch.column(0)).to_pylist():
            counts[item["values"]] += int(item["counts"])
    return counts


def repos_of(paths: list[str], ids: Iterable[str]) -> dict[str, str]:
    """{id: repo} for the given file ids, scanning only the `id` and `repo` columns."""
    wanted = pa.array(sorted({str(i) for i in ids}), type=pa.string())
    found: dict[str, str] = {}
    if not len(wanted):
        return found
    for batch in _batches(paths, ["id", "repo"]):
        if batch.num_columns < 2:
            continue
        ids_col = batch.column(batch.schema.get_field_index("id")).cast(pa.string())
        idx = pc.indices_nonzero(pc.is_in(ids_col, value_set=wanted)).to_pylist()
        if idx:
            for row in batch.take(pa.array(idx)).to_pylist():
                if row.get("repo"):
                    found[str(row["id"])] = str(row["repo"])
    return found


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


def _plural(n: int, singular: str, plural: str | None = None) -> str:
    """'1 cluster', '2 clusters', '1,234 files'."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def _table(header: list[str], rows: list[list[Any]], left_cols: int = 1, wrap_cols: Iterable[int] = (),
           note_cols: Iterable[int] = (), id_cols: Iterable[int] = ()) -> str:
    """An HTML table in a horizontally scrollable box (a wide table never widens the page).

    Ints get thousands separators; everything else is escaped text. `wrap_cols` are long-text
    columns (paths, reasons, values) that may break anywhere; `id_cols` hold hashes, kept on one
    line on a wide screen and broken on a narrow one; `note_cols` are explanations.
    """
    wrap, note, ids = set(wrap_cols), set(note_cols), set(id_cols)

    def cell(tag: str, i: int, v: Any) -> str:
        classes = ["l"] if i < left_cols or i in note else []
        if tag == "td" and i in wrap:
            classes.append("w")
        if tag == "td" and i in ids:
            classes.append("id")
        if tag == "td" and i in note:
            classes.append("m")
        cls = f' class="{" ".join(classes)}"' if classes else ""
        text = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else _e(v)
        if tag == "td" and i in wrap:
            text = _soft_breaks(text)
        return f"<{tag}{cls}>{text}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _soft_breaks(escaped: str) -> str:
    """Break opportunities (<wbr>) after '/', ':', '@' and '=' in already escaped text, so a
    squeezed path or reason wraps at a separator before overflow-wrap breaks it anywhere."""
    return re.sub(r"([/:@=])(?=.)", r"\1<wbr>", escaped)


def _value(v: Any) -> str:
    """A manifest value as the options table shows it: JSON (true, null, [..]), floats to 4
    significant digits (0.026021727000221366 -> 0.02602), strings as they are."""
    if isinstance(v, str):
        return v
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v, default=str)


def _img(plot_id: str, uri: str, alt: str) -> str:
    return f'<img class="plot" id="plot-{plot_id}" alt="{_e(alt)}" src="{uri}">'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}">\n<h2>{_e(title)}</h2>\n{body}\n</section>'


# `files` (rows written to files/, the near-dedup survivors that parsed) ranks right after
# near_dedup_kept and before `pairs`.
STAGE_ORDER = ("read", "filter", "exact_dedup", "near_dedup", "split", "parse", "files", "pairs", "pair_filter",
               "pair_dedup", "write")


def _stage_rank(stage: str) -> tuple[int, str]:
    for i, prefix in enumerate(STAGE_ORDER):
        if stage == prefix or stage.startswith(prefix + "_") or stage.startswith(prefix + "."):
            return i, stage
    return len(STAGE_ORDER), stage


def _stage_order(counts: Iterable[str]) -> list[str]:
    """Stages in pipeline order when recognisable, else as recorded (alphabetically)."""
    return sorted(counts, key=_stage_rank)


def _table4(manifest: dict[str, Any]) -> dict[str, dict[str, int]] | None:
    for key in ("table4", "tables"):
        value = manifest.get(key)
        if isinstance(value, dict) and value:
            return value
    return None


def _lang_total(counts: dict[str, Any], stage: str) -> int | None:
    per = counts.get(stage)
    return int(sum(per.values())) if isinstance(per, dict) else None


def _inputs_part(manifest: dict[str, Any]) -> str:
    """What was read: the manifest's `inputs` block and the read counts per language."""
    inputs = manifest.get("inputs") if isinstance(manifest.get("inputs"), dict) else {}
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    parts = ["<h3>What was read</h3>"]
    options = manifest.get("options", {}) or {}
    opts = options.get("pipeline") if isinstance(options.get("pipeline"), dict) else options
    given = opts.get("input") if isinstance(opts, dict) else None
    if inputs:
        rows: list[list[Any]] = []
        if given:
            rows.append(["--input", ", ".join(map(str, given)) if isinstance(given, list) else str(given)])
        trees = inputs.get("trees") or []
        if isinstance(trees, str):
            trees = [trees]
        for i, tree in enumerate(trees):
            rows.append(["source tree" if len(trees) == 1 else f"source tree {i + 1}", tree])
        if inputs.get("parquet_files") or inputs.get("parquet_row_groups") or inputs.get("parquet_rows"):
            text = f"{int(inputs.get('parquet_files') or 0):,}"
            extra = []
            if "parquet_row_groups" in inputs:
                extra.append(_plural(int(inputs.get("parquet_row_groups") or 0), "row group"))
            if "parquet_rows" in inputs:
                extra.append(_plural(int(inputs.get("parquet_rows") or 0), "row") + " as their footers say")
            rows.append(["Parquet files", text + (f" ({', '.join(extra)})" if extra else "")])
        if inputs.get("jsonl_files"):
            rows.append(["JSONL files", int(inputs["jsonl_files"])])
        known = {"trees", "parquet_files", "parquet_row_groups", "parquet_rows", "jsonl_files"}
        for key in sorted(set(inputs) - known):  # anything newer, shown as it is
            rows.append([key, _value(inputs[key])])
        if not rows:
            rows.append(["inputs", "none (no tree, Parquet or JSONL file matched)"])
        parts.append(_table(["input", "what"], rows, left_cols=2, wrap_cols=(1,)))
    else:
        parts.append("<p>The manifest does not record the inputs.</p>")
    read = counts.get("read") if isinstance(counts.get("read"), dict) else {}
    rejected = counts.get("rejected.read") if isinstance(counts.get("rejected.read"), dict) else {}
    skipped = counts.get("read_not_selected") if isinstance(counts.get("read_not_selected"), dict) else None
    if read or rejected or skipped:
        langs = sorted(set(read) | set(rejected) | set(skipped or {}))
        header = ["language", "read", "rejected at read"]
        if skipped is not None:
            header.append("not selected (--languages)")
        header.append("seen")
        rows = []
        for lang in langs + ["total"]:
            pick = (lambda d: int(sum(d.values()))) if lang == "total" else (lambda d: int(d.get(lang, 0)))
            row = [lang, pick(read), pick(rejected)] + ([pick(skipped)] if skipped is not None else [])
            rows.append(row + [sum(row[1:])])
        parts.append("<p>Rows the readers saw, per language: <i>read</i> went on to the filters, <i>rejected at "
                     "read</i> are in <code>rejected/</code> with stage read"
                     + (", <i>not selected</i> are Parquet / JSONL rows of languages --languages left out"
                        if skipped is not None else "")
                     + ". A source-tree file is one row.</p>")
        parts.append(_table(header, rows))
    return "\n".join(parts)


def _split_part(manifest: dict[str, Any], files: list[str], pairs: list[str]) -> str:
    """Train / valid / test counts of files and pairs: the manifest's `splits` block when it has
    one ({"files": {split: n}, "pairs": {split: n}}), else the shards' `split` column."""
    given = manifest.get("splits") if isinstance(manifest.get("splits"), dict) else {}
    per_table = {}
    for table, paths in (("files", files), ("pairs", pairs)):
        value = given.get(table)
        per_table[table] = Counter({str(k): int(v) for k, v in value.items()}) if isinstance(value, dict) \
            else split_counts(paths)
    names = [n for n in SPLITS if any(n in c for c in per_table.values())]
    names += sorted({n for c in per_table.values() for n in c} - set(names), key=str)
    if not names:
        return ("<h3>Train / valid / test split</h3><p>No split to show: no files or pairs were written, or their "
                "shards have no split column.</p>")

    def share(n: int, total: int) -> str:
        return f"{100.0 * n / total:.1f}%" if total else "-"

    totals = {t: sum(c.values()) for t, c in per_table.items()}
    rows = [[name, per_table["files"].get(name, 0), share(per_table["files"].get(name, 0), totals["files"]),
             per_table["pairs"].get(name, 0), share(per_table["pairs"].get(name, 0), totals["pairs"])]
            for name in names]
    rows.append(["total", totals["files"], share(totals["files"], totals["files"]), totals["pairs"],
                 share(totals["pairs"], totals["pairs"])])
    options = manifest.get("options", {}) or {}
    opts = options.get("pipeline", options) if isinstance(options.get("pipeline"), dict) else options
    fractions = ""
    if "valid_fraction" in opts or "test_fraction" in opts:
        fractions = (f" (--valid-fraction {_value(opts.get('valid_fraction'))}, --test-fraction "
                     f"{_value(opts.get('test_fraction'))} of the clusters)")
    return ("<h3>Train / valid / test split</h3>"
            f"<p>The split is drawn per duplicate cluster{_e(fractions)}, so a file, its duplicates "
            "and all its pairs share one split.</p>"
            + _table(["split", "files", "share", "pairs", "share"], rows))


def _summary_section(manifest: dict[str, Any], totals: dict[str, int], files: list[str] | None = None,
                     pairs: list[str] | None = None) -> str:
    options = manifest.get("options", {})
    flat: dict[str, Any] = {}
    for k, v in options.items():  # one level of nesting, e.g. {"pipeline": {...}, "beam": {...}}
        if isinstance(v, dict) and v:
            flat.update({f"{k}.{k2}": v2 for k2, v2 in v.items()})
        else:
            flat[k] = v
    rows = [[k, json.dumps(v, default=str) if not isinstance(v, str) else v] for k, v in sorted(flat.items())]
    shard_rows = [[t, n] for t, n in totals.items()]
    run = manifest.get("run") if isinstance(manifest.get("run"), dict) else {}
    run_rows: list[list[Any]] = []
    if run.get("runner"):
        run_rows.append(["runner", run["runner"]])
    if isinstance(run.get("seconds"), (int, float)):
        seconds = float(run["seconds"])
        run_rows.append(["wall time", f"{seconds:,.1f} s" + (f" ({seconds / 60:.1f} min)" if seconds >= 120 else "")])
    for key in sorted(set(run) - {"runner", "seconds"}):
        run_rows.append([key, _value(run[key])])
    return (
        f'<p class="muted">schema version {_e(manifest.get("schema_version"))}; report written '
        f'{_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}</p>'
        + ("<h3>Run</h3>" + _table(["run", "value"], run_rows, left_cols=2, wrap_cols=(1,)) if run_rows else "")
        + _inputs_part(manifest)
        + "<h3>Rows written</h3>" + _table(["table", "rows"], shard_rows)
        + _split_part(manifest, files or [], pairs or [])
        + f"<details><summary>Options of the run ({len(rows)})</summary>"
        + _table(["option", "value"], rows, left_cols=2, wrap_cols=(0, 1)) + "</details>"
    )


def _counts_section(manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {}) or {}
    parts = []
    rejected_stages = [s for s in counts if s.startswith("rejected")]
    counts_rejected = {s: counts[s] for s in rejected_stages}
    # read_not_selected counts rows skipped at read, not rows remaining: it is shown with the
    # inputs in the summary, not as a stage here.
    counts = {s: v for s, v in counts.items() if s not in counts_rejected and s != "read_not_selected"}
    if counts:
        stages = _stage_order(counts)
        langs = sorted({lang for per in counts.values() for lang in per})
        rows = [[lang] + [int(counts[s].get(lang, 0)) for s in stages] for lang in langs]
        rows.append(["total"] + [int(sum(counts[s].values())) for s in stages])
        parts.append("<p>Rows remaining (or counted) after each stage, per language, from the manifest.</p>")
        parts.append(_table(["language"] + stages, rows))
        explained = [[stage, COUNT_MEANINGS[stage]] for stage in stages if stage in COUNT_MEANINGS]
        if explained:
            parts.append(_table(["column", "counts"], explained, left_cols=1, note_cols=(1,)))
        if langs:
            parts.append(_img("counts", report_plots.stage_bars(counts, stages, langs), "rows per language per stage"))
    else:
        parts.append("<p>The manifest records no per-stage counts.</p>")
    if counts_rejected:
        langs = sorted({lang for per in counts_rejected.values() for lang in per})
        stages = sorted(counts_rejected, key=lambda st: _stage_rank(st.split(".", 1)[-1]))
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
        _table(["stage", "rejected", "stage does"],
               [[s, n, STAGE_MEANINGS.get(s, "")] for s, n in by_stage.most_common()], note_cols=(2,)),
        _img("rejections", report_plots.rejection_bars([(f"{s}: {r}", n) for (s, r), n in top]), "rejections"),
        _table(["stage", "reason", "rejected", "meaning"], [[s, r, n, reason_meaning(r)] for (s, r), n in top],
               left_cols=2, wrap_cols=(1,), note_cols=(3,)),
        '<p class="muted">Each rejected row is in <code>rejected/</code> with its stage and reason (and, for '
        "duplicates, the kept row's id in <code>kept_id</code>). The full rules and their flags are in "
        "docs/pipeline.md (reading, file filters, dedup) and docs/pairs.md (parse, pair filters, pair dedup) "
        "of the repository.</p>",
    ]
    if len(counts) > len(top):
        parts.append(f'<p class="muted">{_plural(len(counts) - len(top), "rarer (stage, reason) combination")} '
                     "not shown.</p>")
    return "\n".join(parts)


def _near_dedup_off(manifest: dict[str, Any]) -> bool:
    """True when the run had near dedup disabled (--no-near-dedup)."""
    lsh = manifest.get("lsh")
    if isinstance(lsh, dict) and lsh.get("enabled") is False:
        return True
    options = manifest.get("options", {}) or {}
    opts = options.get("pipeline") if isinstance(options.get("pipeline"), dict) else options
    return bool(isinstance(opts, dict) and opts.get("no_near_dedup"))


CLUSTERS_TITLE_EXACT_ONLY = "Duplicate clusters (exact only: near dedup was off)"


def _clusters_section(manifest: dict[str, Any], files: list[str], top: int = 20) -> str:
    info = manifest.get("clusters") if isinstance(manifest.get("clusters"), dict) else {}
    hist = info.get("size_histogram") or info.get("histogram")
    largest = info.get("largest")
    if not hist or largest is None:
        computed_hist, computed_largest = cluster_stats(files, top=top)
        hist = hist or computed_hist
        largest = largest if largest is not None else computed_largest
    hist = {int(k): int(v) for k, v in hist.items()}
    if not hist:
        return "<p>No files survived, so there are no clusters.</p>"
    near_off = _near_dedup_off(manifest)
    clusters = sum(hist.values())
    dup_clusters = sum(v for k, v in hist.items() if k > 1)
    members = sum(k * v for k, v in hist.items())
    counts = manifest.get("counts") if isinstance(manifest.get("counts"), dict) else {}
    removed = {stage: sum((counts.get(f"rejected.{stage}") or {}).values()) for stage in ("exact_dedup", "near_dedup")}
    passed = _lang_total(counts, "filter_kept")
    # Every file that passed the filters enters dedup and belongs to exactly one cluster (its
    # own when it has no duplicate), so the cluster sizes add up to filter_kept; when they do not
    # (a duplicate_id reject belongs to no cluster) the sentence says both numbers.
    if passed is None or passed == members:
        over = f"the {_plural(members, 'file')} that passed the filters"
    else:
        over = f"{_plural(members, 'file')} in clusters ({passed:,} passed the filters)"
    verb = "holds" if dup_clusters == 1 else "hold"
    if near_off:
        sentence = (
            f"<p>Near dedup was off for this run (<code>--no-near-dedup</code>): these clusters are groups of "
            f"files identical after whitespace normalization (exact dedup) only. {_plural(clusters, 'cluster')} "
            f"over {over}; {dup_clusters:,} {'cluster' if dup_clusters == 1 else 'clusters'} {verb} more than one "
            f"file (one survivor each; the others are in <code>rejected/</code>: {removed['exact_dedup']:,} with "
            f"stage exact_dedup).</p>")
    else:
        sentence = (
            f"<p>{_plural(clusters, 'cluster')} over {over}; {dup_clusters:,} "
            f"{'cluster' if dup_clusters == 1 else 'clusters'} {verb} more than one "
            f"file (one survivor each; the others are in <code>rejected/</code>: {removed['exact_dedup']:,} with stage "
            f"exact_dedup, identical after normalization, and {removed['near_dedup']:,} with stage near_dedup).</p>")
    parts = [
        sentence,
        _img("clusters", report_plots.cluster_histogram(hist, "exact-duplicate" if near_off else "near-duplicate"),
             "cluster-size histogram"),
    ]
    shown = [c for c in largest if int(c.get("size", c.get("cluster_size", 0)) or 0) > 1][:top]
    if not shown:
        parts.append("<h3>Largest clusters</h3><p>No cluster holds more than one file.</p>")
        return "\n".join(parts)
    parts.append(f"<h3>Largest clusters (top {len(shown):,} of {_plural(dup_clusters, 'cluster')} with more than "
                 "one file)</h3>")
    # The manifest's largest clusters carry no repo: look the survivors up in files/ (two columns).
    repos = {str(c.get("cluster_id")): c["repo"] for c in shown if c.get("repo")}
    missing = [str(c.get("cluster_id")) for c in shown if str(c.get("cluster_id")) not in repos]
    if missing and files:
        repos.update(repos_of(files, missing))
    show_repo = any(repos.values())
    rows = []
    for c in shown:
        cid = str(c.get("cluster_id", ""))
        row = [cid, c.get("lang", "")]
        if show_repo:
            row.append(repos.get(cid, ""))
        rows.append(row + [c.get("path", ""), int(c.get("size", c.get("cluster_size", 0)))])
    header = ["cluster (survivor id)", "language"] + (["repo"] if show_repo else []) + ["survivor path", "size"]
    parts.append(_table(header, rows, left_cols=len(header) - 1, id_cols=(0,),
                        wrap_cols=(len(header) - 2,) + ((2,) if show_repo else ())))
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
    rows = [[k, _value(v), LSH_MEANINGS.get(k, "")] for k, v in sorted(lsh.items())
            if k not in ("s_curve", "points", "curve")]
    return "\n".join([
        f"<p>Two files with Jaccard similarity <i>s</i> share at least one of b={b} bands of r={r} "
        f"MinHash rows with probability 1&minus;(1&minus;s<sup>{r}</sup>)<sup>{b}</sup>; target threshold "
        f"{threshold:g}.</p>",
        _img("lsh", report_plots.s_curve(b, r, threshold, points), "LSH S-curve"),
        _table(["parameter", "value", "meaning"], rows, left_cols=2, note_cols=(2,)),
    ])


def _lengths_section(pairs: list[str], max_rows: int) -> str:
    lengths = length_samples(pairs, max_rows)
    if not lengths or not any(v.size for v in lengths.values()):
        return "<p>No pairs were written.</p>"
    rows = []
    for name, v in lengths.items():
        q = np.percentile(v, [5, 50, 95]) if v.size else [0, 0, 0]
        # every number as an int, so all columns get thousands separators alike
        rows.append([name, int(v.size), *(int(round(float(x))) for x in q), int(v.max()) if v.size else 0])
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
    parts = [f'<p class="muted">{_plural(per_lang, "random pair")} per language (seed {seed}): the summary '
             "(text side: the first sentence of the cleaned docstring) and code_hard (code side: the function "
             "without its docstring or doc comment, its signature and its return statements).</p>"]
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

    name = os.path.basename(os.path.normpath(os.path.abspath(out_dir))) or out_dir
    titles = dict(SECTIONS)
    if _near_dedup_off(manifest):
        titles["clusters"] = CLUSTERS_TITLE_EXACT_ONLY
    bodies = {
        "summary": _summary_section(manifest, totals, files, pairs),
        "counts": _counts_section(manifest),
        "rejections": _rejections_section(rejection_counts(rejected)),
        "clusters": _clusters_section(manifest, files),
        "lsh": _lsh_section(manifest),
        "lengths": _lengths_section(pairs, max_length_rows),
        "examples": _examples_section(pairs, examples_per_lang, seed),
    }
    nav = " &middot; ".join(f'<a href="#{k}">{_e(titles[k])}</a>' for k, _ in SECTIONS)
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pipeline report: {_e(name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Pipeline report: {_e(name)}</h1>",
        f"<nav>{nav}</nav>",
        *(_section(k, titles[k], bodies[k]) for k, _ in SECTIONS),
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
