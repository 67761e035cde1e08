"""Counts computed from the data inside the job (not only from metrics, which some portable
runners drop), and the plain-words summary printed at the end of a run.

`counts[stage][lang] = n`, where stage is one of
    read                  files read successfully
    read_not_selected     rows of Parquet / JSONL files skipped because --languages did not select
                          their language, so that read + rejected.read + read_not_selected is
                          every tree file, Parquet row and non-blank JSONL line the readers saw
                          (a failing row group or JSONL file is one reject). Files never opened
                          are not in it: tree files of other languages are not listed, and
                          Parquet files under an unselected data/<lang>/ folder are dropped at
                          planning.
    filter_kept           files that passed every filter
    exact_dedup_kept      files left after exact dedup
    near_dedup_kept       files left after near dedup (one per near-duplicate cluster)
    files                 rows written to files/
    pairs                 rows written to pairs/
    rejected.<stage>      rows written to rejected/ by that stage (read, filter, exact_dedup, ...)
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

import apache_beam as beam

UNKNOWN_LANG = "unknown"
NOT_SELECTED_STAGE = "read_not_selected"
PIPELINE_ORDER = ("read", "filter", "exact_dedup", "near_dedup", "parse", "pairs", "pair_filter", "pair_dedup")


def nest_counts(items: Iterable[tuple[tuple[str, str], int]]) -> dict[str, dict[str, int]]:
    """[((stage, lang), n)] -> {stage: {lang: n}} with sorted keys."""
    nested: dict[str, dict[str, int]] = defaultdict(dict)
    for (stage, lang), n in items:
        nested[stage][lang] = nested[stage].get(lang, 0) + int(n)
    return {stage: dict(sorted(langs.items())) for stage, langs in sorted(nested.items())}


class CountByStageAndLang(beam.PTransform):
    """{stage label: PCollection[record]} -> PCollection of ((stage, lang), n)."""

    def __init__(self, stages: Mapping[str, Any], label: str | None = None):
        super().__init__(label)
        self._stages = dict(stages)

    def expand(self, pbegin):
        tagged = [
            pcoll | f"Tag_{stage}" >> beam.Map(lambda r, s=stage: (s, r.get("lang") or UNKNOWN_LANG))
            for stage, pcoll in self._stages.items()
        ]
        return tagged | "AllTagged" >> beam.Flatten() | "CountStageLang" >> beam.combiners.Count.PerElement()


class CountRejected(beam.PTransform):
    """PCollection[reject row] -> ((f"rejected.{stage}", lang), n) and ((stage, reason), n) pairs.

    Output: dict with "by_lang" and "by_reason" PCollections.
    """

    def expand(self, rejected):
        by_lang = (
            rejected
            | "StageLang" >> beam.Map(lambda r: (f"rejected.{r['stage']}", r.get("lang") or UNKNOWN_LANG))
            | "CountStageLang" >> beam.combiners.Count.PerElement()
        )
        by_reason = (
            rejected
            | "StageReason" >> beam.Map(lambda r: (r["stage"], r["reason"]))
            | "CountStageReason" >> beam.combiners.Count.PerElement()
        )
        return {"by_lang": by_lang, "by_reason": by_reason}


def total(counts: Mapping[str, Mapping[str, int]], stage: str) -> int:
    return sum(counts.get(stage, {}).values())


def _reasons_text(reasons: Mapping[str, int], limit: int = 6) -> str:
    ordered = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{reason} {n}" for reason, n in ordered[:limit])
    if len(ordered) > limit:
        text += f", and {len(ordered) - limit} more reasons"
    return text


def summary_lines(counts: Mapping[str, Mapping[str, int]], reasons: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Per-stage sentences a user understands, from the data counts."""
    lines = []
    read_rejects = reasons.get("read", {})
    skipped = total(counts, NOT_SELECTED_STAGE)
    lines.append(
        f"read: {total(counts, 'read')} files"
        + (f"; {sum(read_rejects.values())} could not be read ({_reasons_text(read_rejects)})" if read_rejects else "")
        + (f"; {skipped} rows of languages not selected by --languages skipped" if skipped else "")
    )
    previous = total(counts, "read")
    for stage, label in (("filter", "filters"), ("exact_dedup", "exact dedup"), ("near_dedup", "near dedup")):
        kept_key = f"{stage}_kept"
        if kept_key not in counts and stage not in reasons:
            continue
        kept = total(counts, kept_key)
        dropped = reasons.get(stage, {})
        line = f"{label}: kept {kept} of {previous}"
        if dropped:
            line += f", removed {sum(dropped.values())} ({_reasons_text(dropped)})"
        lines.append(line)
        previous = kept
    for stage in ("parse", "pair_filter", "pair_dedup"):
        if reasons.get(stage):
            lines.append(f"{stage.replace('_', ' ')}: removed {sum(reasons[stage].values())} ({_reasons_text(reasons[stage])})")
    by_lang = counts.get("files", {})
    langs = ", ".join(f"{lang} {n}" for lang, n in sorted(by_lang.items(), key=lambda kv: (-kv[1], kv[0])))
    lines.append(f"written: {total(counts, 'files')} files ({langs or 'none'}), {total(counts, 'pairs')} pairs")
    return lines


def counter_lines(metric_results) -> list[str]:
    """Beam counters grouped by stage, one line each: 'filter: kept 1755, dropped.size 28'.

    Uses committed values, or attempted ones on runners that do not commit metrics. Counters of
    our namespace ("codesage") are named <stage>.<what>; others are shown as namespace/name.
    """
    merged: dict[tuple[str, str], int] = defaultdict(int)
    for result in metric_results.get("counters", []):
        value = result.committed if result.committed is not None else result.attempted
        merged[(result.key.metric.namespace, result.key.metric.name)] += int(value or 0)
    groups: dict[str, list[str]] = defaultdict(list)
    for (namespace, name), value in sorted(merged.items()):
        if namespace == "codesage" and "." in name:
            stage, what = name.split(".", 1)
        else:
            stage, what = namespace, name
        groups[stage].append(f"{what} {value}")
    order = {stage: i for i, stage in enumerate(PIPELINE_ORDER)}
    ranked = sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    return [f"{stage}: {', '.join(items)}" for stage, items in ranked]
