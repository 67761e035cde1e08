"""Exact dedup: one survivor per normalized-content group.

records -> {"kept", "rejected"}. The key is the sha256 of `shingles.normalize_for_exact(text)`
(BOM dropped, line ends unified to LF, trailing whitespace per line and trailing blank lines
removed). The group's survivor is the smallest `rank_fn(record)` (ties: the text, then the whole
record, `ranking.canonical`, so that the survivor never depends on element order); it gets ``exact_dup_count`` =
the number of input records the group stands for (the sum of the members' own
``exact_dup_count``, 1 when absent, so applying ExactDedup twice keeps the counts right). Every
other member becomes a `rejected` row with reason ``exact_duplicate`` naming the survivor.
Counters (namespace "codesage"): ``{stage}.kept``, ``{stage}.dropped.exact_duplicate``.
"""
from __future__ import annotations

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
        self._kept = Metrics.counter(self._namespace, f"{self._stage}.kept")
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
        return {"kept": res.kept, "rejected": res[REJECTED]}
