"""Table 4 of the paper on a Stack-layout folder: files, functions, functions with docs, pairs per language.

    python benchmarks/pair_stats.py ../shared/corpus/stack-sample [--no-file-dedup] [--json OUT.json]

Reads `data/<lang>/*.parquet` with pyarrow, runs the pipeline's own stages on the DirectRunner
(ExactDedup and NearDedup on files unless --no-file-dedup, split by cluster, ParseFiles with the
default ParseConfig) and prints per language: files parsed, functions, functions with docs, pairs
kept, and the rejections of every pair rule with the English filter's rejection rate (rejected /
candidates that reached it). With --show-english N it prints N English-filter rejections with their
summaries, to judge the detector by eye.

    python benchmarks/pair_stats.py ../shared/corpus/stack-sample --english-study 0.005,0.015,0.05,0.2

instead measures the English filter alone (no Beam, no dedup): over the distinct summaries of each
language that pass the length rule, the share rejected at each P(en) threshold, with the restricted
label set (the pipeline's detector) and with all of py3langid's labels on the raw text.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import apache_beam as beam  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from pipeline.languages import registry  # noqa: E402
from pipeline.parse import ParseConfig, ParseFiles  # noqa: E402
from pipeline.run import local_runner  # noqa: E402
from pipeline.split import split_for  # noqa: E402

COLUMNS = ["hexsha", "max_stars_repo_name", "max_stars_repo_path", "max_stars_repo_licenses", "content", "size"]


def read_stack(folder: str) -> list[dict]:
    records = []
    for lang_dir in sorted(os.listdir(os.path.join(folder, "data"))):
        lang = registry.canonical_key(lang_dir)
        for path in sorted(glob.glob(os.path.join(folder, "data", lang_dir, "*.parquet"))):
            for row in pq.read_table(path, columns=COLUMNS).to_pylist():
                records.append({
                    "id": row["hexsha"], "lang": lang, "repo": row["max_stars_repo_name"],
                    "path": row["max_stars_repo_path"], "licenses": list(row["max_stars_repo_licenses"] or []),
                    "content": row["content"], "size": int(row["size"]), "stars": None,
                })
    return records


def _with_split(record: dict) -> dict:
    record = dict(record)
    record.setdefault("cluster_id", record["id"])
    record.setdefault("cluster_size", 1)
    record["split"] = split_for(record["cluster_id"])
    record.pop("exact_dup_count", None)
    return record


def run(records: list[dict], config: ParseConfig, file_dedup: bool, out: dict) -> None:
    opts = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"])
    with beam.Pipeline(runner=local_runner(opts), options=opts) as p:
        files = p | beam.Create(records, reshuffle=False)
        if file_dedup:
            from pipeline.dedup import ExactDedup, NearDedup, NearDedupParams

            exact = files | "Exact" >> ExactDedup()
            files = (exact["kept"] | "Near" >> NearDedup(NearDedupParams()))["kept"]
        res = files | beam.Map(_with_split) | ParseFiles(config)

        def sink(name, folder=out["_dir"]):
            # Written to a file: the DoFn runs on a deserialized copy, so closures cannot return data.
            def put(items):
                with open(os.path.join(folder, name + ".json"), "w") as fh:
                    json.dump(items, fh)
            return put

        _ = res["stats"] | "StatsList" >> beam.combiners.ToList() | "StatsOut" >> beam.Map(sink("stats"))
        _ = res["rejected"] | "RejList" >> beam.combiners.ToList() | "RejOut" >> beam.Map(sink("rejected"))
        _ = (
            res["pairs"] | "PairSplits" >> beam.Map(lambda r: ((r["lang"], r["split"]), 1))
            | beam.CombinePerKey(sum) | "SplitList" >> beam.combiners.ToList() | "SplitOut" >> beam.Map(sink("splits"))
        )


def reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def english_study(folder: str, thresholds: list[float]) -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from pipeline.parse.extract import Extractor
    from pipeline.parse.pairs import ParseConfig as _Cfg
    from pipeline.parse.text import EnglishDetector, count_tokens, prose_words, summarize

    cfg = _Cfg()
    full = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    by_lang = collections.defaultdict(set)
    extractors = {}
    for rec in read_stack(folder):
        ex = extractors.get(rec["lang"]) or extractors.setdefault(rec["lang"], Extractor(rec["lang"]))
        for fn in ex.extract(rec["content"]).functions:
            if fn.docstring:
                summary = summarize(fn.docstring)
                if cfg.min_summary_tokens <= count_tokens(summary) <= cfg.max_summary_tokens:
                    by_lang[rec["lang"]].add(summary)
    cols = " | ".join(f"restricted <{t:g} | all labels <{t:g}" for t in thresholds)
    print(f"| lang | summaries | {cols} |")
    print("|---|---:|" + "---:|" * (2 * len(thresholds)))
    lowest = []
    for lang in sorted(by_lang):
        summaries = sorted(by_lang[lang])
        cells = []
        for t in thresholds:
            det = EnglishDetector(min_prob=t)
            restricted = sum(1 for s in summaries if det.verdict(s))
            everything = sum(1 for s in summaries if dict(full.rank(s)).get("en", 0.0) < t)
            cells.append(f"{restricted / len(summaries):.2%} | {everything / len(summaries):.2%}")
        print(f"| {lang} | {len(summaries)} | " + " | ".join(cells) + " |")
        det = EnglishDetector()
        judged = [s for s in summaries if len(prose_words(s)) >= det.min_words]
        lowest += [(det.english_probability(s)[0], lang, s) for s in judged if det.verdict(s) is None]
    print("\nlowest P(en) among the judged summaries (>= 3 prose words) the default detector keeps:")
    for prob, lang, s in sorted(lowest)[:10]:
        print(f"  {prob:.4f} {lang:10} {s[:100]!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--no-file-dedup", dest="file_dedup", action="store_false")
    ap.add_argument("--json", help="write the numbers to this JSON file")
    ap.add_argument("--show-english", type=int, default=0)
    ap.add_argument("--english-study", help="comma-separated P(en) thresholds: measure the English filter only")
    args = ap.parse_args(argv)
    if args.english_study:
        english_study(args.folder, [float(t) for t in args.english_study.split(",")])
        return 0

    t0 = time.perf_counter()
    records = read_stack(args.folder)
    by_id = {r["id"]: r for r in records}
    with tempfile.TemporaryDirectory() as tmp:
        out: dict = {"_dir": tmp}
        run(records, ParseConfig(), args.file_dedup, out)
        for name in ("stats", "rejected", "splits"):
            with open(os.path.join(tmp, name + ".json")) as fh:
                out[name] = json.load(fh)
    seconds = time.perf_counter() - t0

    stats = collections.defaultdict(dict)
    for metric, lang, count in out["stats"]:
        stats[lang][metric] = count
    rejects = collections.defaultdict(collections.Counter)
    for row in out["rejected"]:
        key = row["stage"] if row["stage"] != "pair_filter" else reason_kind(row["reason"])
        rejects[row["lang"]][key] += 1

    langs = sorted(stats)
    print(f"{len(records)} input files, {seconds:.0f} s, file dedup {'on' if args.file_dedup else 'off'}\n")
    print("| lang | files parsed | functions | with docs | pairs | body_lines | empty_hard_positive "
          "| summary_tokens | not English | English reject rate | pair_dedup | parse rejects |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    total = collections.Counter()
    table = {}
    for lang in langs:
        s, r = stats[lang], rejects[lang]
        length = r["summary_tokens<3"] + r["summary_tokens>256"]
        reached = s["functions_with_docs"] - r["body_lines<2"] - r["empty_hard_positive"] - length - r["duplicate_start_line"]
        eng = r["summary_not_english"]
        rate = eng / reached if reached else 0.0
        row = dict(s, body_lines=r["body_lines<2"], empty_hard_positive=r["empty_hard_positive"], summary_tokens=length,
                   not_english=eng, english_reached=reached, english_rate=rate, pair_dedup=r["pair_dedup"],
                   parse_rejects=r["parse"])
        table[lang] = row
        total.update({k: v for k, v in row.items() if k != "english_rate"})
        print(f"| {lang} | {s['files_parsed']} | {s['functions']} | {s['functions_with_docs']} | {s['pairs']} "
              f"| {row['body_lines']} | {row['empty_hard_positive']} | {length} | {eng} | {rate:.2%} "
              f"| {row['pair_dedup']} | {row['parse_rejects']} |")
    rate = total["not_english"] / total["english_reached"] if total["english_reached"] else 0.0
    print(f"| **total** | {total['files_parsed']} | {total['functions']} | {total['functions_with_docs']} | {total['pairs']} "
          f"| {total['body_lines']} | {total['empty_hard_positive']} | {total['summary_tokens']} | {total['not_english']} "
          f"| {rate:.2%} | {total['pair_dedup']} | {total['parse_rejects']} |")
    parse_reasons = collections.Counter(reason_kind(r["reason"]) for r in out["rejected"] if r["stage"] == "parse")
    print("\nparse rejects by reason:", dict(parse_reasons))
    print("pairs by split:", sorted(out["splits"]))

    if args.show_english:
        from pipeline.parse.extract import Extractor
        from pipeline.parse.text import summarize

        shown = 0
        for row in out["rejected"]:
            if not row["reason"].startswith("summary_not_english") or shown >= args.show_english:
                continue
            file_id, line = row["id"].rsplit(":", 1)
            rec = by_id[file_id]
            for fn in Extractor(rec["lang"]).extract(rec["content"]).functions:
                if fn.start_line == int(line):
                    print(f"  {row['lang']:10} {row['reason']:24} {summarize(fn.docstring)[:110]!r}")
                    shown += 1
                    break
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"seconds": seconds, "file_dedup": args.file_dedup, "per_language": table}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
