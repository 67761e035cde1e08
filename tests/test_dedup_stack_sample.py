"""Integration: ExactDedup + NearDedup over ../shared/corpus/stack-sample (TypeScript part), checked
against exact 5-gram Jaccard computed here with plain Python sets (independent of MinHash/LSH and of
the fingerprint code used for verification).

- recall: >= 95% of pairs with Jaccard >= 0.85 among files sharing (lang, path basename) end with at
  most one survivor;
- false removals: <= 1% of near-dedup removals have no member of their cluster at Jaccard >= 0.7;
- exact dedup: every exact reject has the same normalized content as its survivor.
"""
from __future__ import annotations

import collections
import itertools
import posixpath

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from pipeline.dedup import ExactDedup, NearDedup, NearDedupParams, file_rank
from pipeline.dedup.shingles import normalize_for_exact, shingles

LANGS = ("typescript",)
COLUMNS = ["hexsha", "max_stars_repo_path", "max_stars_repo_licenses", "max_stars_count", "content"]


def _read(path: str) -> list[dict]:
    lang = path.split("/")[-2]
    return [
        {"id": r["hexsha"], "lang": lang, "path": r["max_stars_repo_path"], "licenses": r["max_stars_repo_licenses"],
         "stars": r["max_stars_count"], "content": r["content"]}
        for r in pq.read_table(path, columns=COLUMNS).to_pylist()
    ]


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def _check(records: list[dict]):
    by_id = {}
    for r in records:
        by_id.setdefault(r["id"], r)

    def matcher(outputs):
        kept = {x[1] for x in outputs if x[0] == "kept"}
        near_rej = [x for x in outputs if x[0] == "near"]
        exact_rej = [x for x in outputs if x[0] == "exact"]
        near_input = kept | {x[1] for x in near_rej}
        assert len(kept) + len(near_rej) + len(exact_rej) == len(records)

        for _, rid, survivor in exact_rej:
            assert normalize_for_exact(by_id[rid]["content"]) == normalize_for_exact(by_id[survivor]["content"])

        sh = {}

        def s(rid):
            if rid not in sh:
                sh[rid] = shingles(by_id[rid]["content"], 5)
            return sh[rid]

        groups = collections.defaultdict(set)
        for rid in near_input:
            r = by_id[rid]
            groups[(r["lang"], posixpath.basename(r["path"]))].add(rid)
        positives = [
            (a, b) for ids in groups.values() for a, b in itertools.combinations(sorted(ids), 2)
            if _jaccard(s(a), s(b)) >= 0.85
        ]
        both_kept = [(a, b) for a, b in positives if a in kept and b in kept]
        assert len(positives) >= 30, f"too few near-duplicate pairs to measure recall: {len(positives)}"
        recall = 1 - len(both_kept) / len(positives)
        assert recall >= 0.95, f"recall {recall:.3f} < 0.95; pairs with two survivors: {both_kept[:5]}"

        clusters = collections.defaultdict(set)
        for _, rid, survivor in near_rej:
            assert survivor in kept, (rid, survivor)
            clusters[survivor].update((rid, survivor))
        assert len(near_rej) >= 30, f"too few near-duplicate removals to measure precision: {len(near_rej)}"
        unsupported = [
            rid for _, rid, survivor in near_rej
            if max(_jaccard(s(rid), s(m)) for m in clusters[survivor] - {rid}) < 0.7
        ]
        assert len(unsupported) <= 0.01 * len(near_rej), f"false removals: {unsupported[:5]} of {len(near_rej)}"

    return matcher


def test_dedup_recall_and_false_removals_on_stack_sample(stack_sample):
    paths = [str(p) for lang in LANGS for p in sorted((stack_sample / "data" / lang).glob("*.parquet"))]
    assert paths, f"no parquet files for {LANGS} under {stack_sample}"
    records = [r for p in paths for r in _read(p)]
    with TestPipeline() as p:
        recs = p | beam.Create(paths) | beam.FlatMap(_read)
        ex = recs | ExactDedup(text_key="content", rank_fn=file_rank, stage="exact_dedup")
        near = ex["kept"] | NearDedup(NearDedupParams(), text_key="content", rank_fn=file_rank, stage="near_dedup")
        tagged = (
            near["kept"] | "K" >> beam.Map(lambda r: ("kept", r["id"], r["cluster_id"])),
            near["rejected"] | "N" >> beam.Map(lambda r: ("near", r["id"], r["kept_id"])),
            ex["rejected"] | "E" >> beam.Map(lambda r: ("exact", r["id"], r["kept_id"])),
        ) | beam.Flatten()
        assert_that(tagged, _check(records))
