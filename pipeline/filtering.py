"""One generic transform that applies record filters, counts every decision and routes rejects.

A *filter* is a pure function of one record returning None (keep) or a reason string (drop),
e.g. ``"max_line_length>1000"``. Filters know nothing about Beam; `ApplyFilters` does the
bookkeeping for all of them: a `Metrics.counter` per (stage, filter) for drops, one for keeps,
and a `rejected` row (tagged output) per dropped record. The first filter that fires decides.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from .records import reject_row

REJECTED_TAG = "rejected"

FilterFn = Callable[[Mapping[str, Any]], "str | None"]


@dataclasses.dataclass(frozen=True)
class Filter:
    """A named pure predicate. `fn(record)` returns None to keep, or a reason to drop."""

    name: str
    fn: FilterFn

    def __call__(self, record: Mapping[str, Any]) -> str | None:
        return self.fn(record)


def first_rejection(filters: Sequence[Filter], record: Mapping[str, Any]) -> tuple[str, str] | None:
    """(filter name, reason) of the first filter that drops `record`, or None."""
    for flt in filters:
        reason = flt(record)
        if reason is not None:
            return flt.name, reason
    return None


class _FilterDoFn(beam.DoFn):
    def __init__(self, filters: Sequence[Filter], stage: str, namespace: str):
        self._filters = tuple(filters)
        self._stage = stage
        self._namespace = namespace

    def setup(self):
        self._kept = Metrics.counter(self._namespace, f"{self._stage}.kept")
        self._dropped = {
            f.name: Metrics.counter(self._namespace, f"{self._stage}.dropped.{f.name}") for f in self._filters
        }

    def process(self, record):
        hit = first_rejection(self._filters, record)
        if hit is None:
            self._kept.inc()
            yield record
            return
        name, reason = hit
        self._dropped[name].inc()
        yield beam.pvalue.TaggedOutput(REJECTED_TAG, reject_row(record, self._stage, reason))


class ApplyFilters(beam.PTransform):
    """PCollection[record] -> DoOutputsTuple with main output (kept) and `rejected` rows.

    Usage::

        result = records | ApplyFilters(filters, stage="filter")
        kept, rejected = result[None], result[REJECTED_TAG]
    """

    def __init__(self, filters: Sequence[Filter], stage: str, namespace: str = "codesage", label: str | None = None):
        super().__init__(label)
        self._filters = tuple(filters)
        self._stage = stage
        self._namespace = namespace

    def expand(self, records):
        return records | beam.ParDo(_FilterDoFn(self._filters, self._stage, self._namespace)).with_outputs(
            REJECTED_TAG, main="kept"
        )
