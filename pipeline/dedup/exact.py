"""Exact dedup: one survivor per normalized-content group.

records -> {"kept", "rejected"}. The key is the sha256 of `shingles.normalize_for_exact(text)`
(BOM dropped, line ends unified to LF, trailing whitespace per line and trailing blank lines
removed). The group's survivor is the smallest `rank_fn(record)` (ties: the text, then the whole
record, `ranking.canonical`, so that the survivor never depends on element order); it gets ``exact_dup_count`` =
the number of input records the group stands for (the sum of the members' own
``exact_dup_count``, 1 when absent, so applying ExactDedup twice keeps the counts right). Every
other member becomes a `rejected` row with reason ``exact_duplicate`` naming the survivor.

Then ids are made unique (`UniqueIds`): after the step above, records sharing an id have different
texts, which only inputs with ids of their own can produce (JSONL or contract-named Parquet; The
Stack's hexsha and the git blob sha are content hashes). Of those, the smallest `rank_fn(record)`
(ties: a hash of the text) is kept and the others are rejected with reason ``duplicate_id``
(kept_id = the id). Every later stage keys on the id (near-dedup signatures, the `files` table),
so a repeated id there would hide near duplicates and write two rows with one id.
Counters (namespace "codesage"): ``{stage}.distinct_texts`` (one per normalized text),
``{stage}.dropped.exact_duplicate``, ``{stage}.dropped.duplicate_id``, ``{stage}.kept`` (what
leaves the stage: the manifest's ``exact_dedup_kept``).
"""
from __future__ import annotations

import hashlib
from typing import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics

from pipeline.records import reject_row

from .packing import pack, unpack
from .ranking import canonical, file_rank
from .shingles import content_key

REJECTED = "rejected"


class _PickSurvivor(beam.DoFn):
    def __init__(self, rank_fn, stage, text_key, namespace):
        self._rank_fn = rank_fn
        self._stage = stage
        self._text_key = text_key
        self._namespace = namespace

    def setup(self):
        # not "kept": UniqueIds may still drop a survivor (duplicate_id); it counts {stage}.kept
        self._kept = Metrics.counter(self._namespace, f"{self._stage}.distinct_texts")
        self._dropped = Metrics.counter(self._namespace, f"{self._stage}.dropped.exact_duplicate")

    def process(self, element):
        _, packed = element
        group = [unpack(data) for data in packed]
        # The rank is a total order on distinct ids; the text breaks ties between equal ids, and the
        # whole record the remaining ones: copies of one file in several repositories share id and
        # text (The Stack's hexsha), and which copy is kept must not depend on arrival order.
        if len(group) > 1:
            group = sorted(group, key=lambda r: (self._rank_fn(r), str(r.get(self._text_key) or ""), canonical(r)))
        survivor = dict(group[0])
        survivor["exact_dup_count"] = sum(int(r.get("exact_dup_count") or 1) for r in group)
        self._kept.inc()
        yield survivor
        for r in group[1:]:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED, reject_row(r, self._stage, "exact_duplicate", kept_id=survivor.get("id"))
            )


class ExactDedup(beam.PTransform):
    """PCollection[record] -> {"kept": records with exact_dup_count, "rejected": reject rows}."""

    def __init__(
        self,
        text_key: str = "content",
        rank_fn: Callable = file_rank,
        stage: str = "exact_dedup",
        namespace: str = "codesage",
    ):
        super().__init__()
        self._text_key = text_key
        self._rank_fn = rank_fn
        self._stage = stage
        self._namespace = namespace

    def expand(self, records):
        text_key = self._text_key
        res = (
            records
            # Only the key is read here; the record crosses the shuffle packed (see packing.py).
            | "KeyByContent" >> beam.Map(lambda r: (content_key(str(r.get(text_key) or "")), pack(r)))
            | "GroupByContent" >> beam.GroupByKey()
            | "PickSurvivor"
            >> beam.ParDo(_PickSurvivor(self._rank_fn, self._stage, text_key, self._namespace)).with_outputs(
                REJECTED, main="kept"
            )
        )
        unique = res.kept | "UniqueIds" >> UniqueIds(text_key, self._rank_fn, self._stage, self._namespace)
        rejected = (res[REJECTED], unique["rejected"]) | "AllRejected" >> beam.Flatten()
        return {"kept": unique["kept"], "rejected": rejected}


def _text_digest(record, text_key: str) -> str:
    return hashlib.sha1(str(record.get(text_key) or "").encode("utf-8", "surrogatepass")).hexdigest()


class _DropRepeatedIds(beam.DoFn):
    def __init__(self, stage, text_key, namespace):
        self._stage = stage
        self._text_key = text_key
        self._namespace = namespace

    def setup(self):
        self._dropped = Metrics.counter(self._namespace, f"{self._stage}.dropped.duplicate_id")
        self._kept = Metrics.counter(self._namespace, f"{self._stage}.kept")

    def process(self, record, losers):
        rid = str(record.get("id"))
        try:  # a multimap side input: a list per key (runners differ on missing keys: [] or KeyError)
            lost = losers[rid]
        except KeyError:
            lost = ()
        if lost and _text_digest(record, self._text_key) in lost:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput(REJECTED, reject_row(record, self._stage, "duplicate_id", kept_id=rid))
        else:
            self._kept.inc()
            yield record


class UniqueIds(beam.PTransform):
    """PCollection[record] -> {"kept": one record per id, "rejected": reject rows ``duplicate_id``}.

    Per id, the record with the smallest (rank_fn(record), sha1 of its text) is kept (independent of
    arrival order); the others are rejected naming the id they repeat. Only (id, rank, digest) tuples
    cross the shuffle; the losers reach the records as a side input, which is empty unless the
    input repeats ids. Records with one id and one text are assumed identical (exact dedup ran)."""

    def __init__(self, text_key: str = "content", rank_fn: Callable = file_rank, stage: str = "exact_dedup",
                 namespace: str = "codesage"):
        super().__init__()
        self._text_key, self._rank_fn, self._stage, self._namespace = text_key, rank_fn, stage, namespace

    def expand(self, records):
        text_key, rank_fn = self._text_key, self._rank_fn

        def losers(element):
            rid, candidates = element
            ranked = sorted(set(candidates))
            for _, digest in ranked[1:]:
                yield rid, digest

        lost = (
            records
            | "KeyById" >> beam.Map(lambda r: (str(r.get("id")), (rank_fn(r), _text_digest(r, text_key))))
            | "GroupById" >> beam.GroupByKey()
            | "Losers" >> beam.FlatMap(losers)
        )
        res = records | "DropRepeatedIds" >> beam.ParDo(
            _DropRepeatedIds(self._stage, text_key, self._namespace), losers=beam.pvalue.AsMultiMap(lost)
        ).with_outputs(REJECTED, main="kept")
        return {"kept": res.kept, "rejected": res[REJECTED]}
