"""The whole Beam job: read -> filter -> exact dedup -> near dedup -> split -> parse -> write.

`build(p, settings, staging)` adds every stage to pipeline `p` and returns the PCollections
(tests use it with TestPipeline); `run(argv)` is the CLI: parse flags, check the output folder,
plan the inputs, run the job, move the output into place atomically (manifest last), write the
report and return the summary.

Every stage's drops go to one `rejected` PCollection; counts per (stage, language) and per
(stage, reason) are computed from the data inside the job (not only from metrics).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from functools import partial
from typing import Any, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from .counts import (
    NOT_SELECTED_STAGE, CountByStageAndLang, CountRejected, counter_lines, nest_counts, summary_lines,
)
from .dedup import ExactDedup, NearDedup, file_rank, params_from_options
from .dedup.lsh import describe as describe_lsh
from .errors import UserError
from .filtering import ApplyFilters, REJECTED_TAG
from .filters import build_filters
from .languages import MissingGrammarError, SpecError, UnknownLanguageError, all_specs, parse_language_list
from .options import CodesageOptions, all_options_parser, filter_config, options_dict
from .parse import ParseFiles, parse_config_from_options
from .readers import InputPlan, ReadInputs, languages_in_plan, local_input_paths, resolve_inputs, split_patterns
from .readers.common import is_utf8, printable
from .split import split_for
from .write import WriteMetas, WriteTable, check_output, discard_staging, finalize, read_meta, staging_dir_for

log = logging.getLogger("pipeline")
LARGEST_CLUSTERS = 20


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything `build` needs, resolved from the flags (picklable, no Beam objects)."""

    plan: InputPlan
    languages: tuple[str, ...] | None
    max_read_bytes: int
    filters: Any                 # FilterConfig
    dedup: Any                   # NearDedupParams
    parse: Any                   # ParseConfig
    valid_fraction: float
    test_fraction: float
    split_seed: str
    num_shards: int | None
    target_shard_bytes: int


def settings_from_options(options: PipelineOptions) -> Settings:
    opts = options.view_as(CodesageOptions)
    try:
        languages = parse_language_list(opts.languages)
    except UnknownLanguageError as exc:
        raise UserError(str(exc)) from None
    for name in ("valid_fraction", "test_fraction"):
        value = getattr(opts, name)
        if not 0 <= value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
    if opts.valid_fraction + opts.test_fraction >= 1:
        raise UserError("--valid-fraction plus --test-fraction must be below 1 so that some data is left to train on")
    if opts.target_shard_mb <= 0:
        raise UserError(f"--target-shard-mb must be positive, got {opts.target_shard_mb}")
    plan = resolve_inputs(split_patterns(opts.input), languages, opts.max_files_per_tree)
    check_languages(languages_in_plan(plan, languages))
    return Settings(
        plan=plan,
        languages=languages,
        max_read_bytes=opts.max_read_bytes,
        filters=filter_config(opts),
        dedup=params_from_options(opts),
        parse=parse_config_from_options(opts),
        valid_fraction=opts.valid_fraction,
        test_fraction=opts.test_fraction,
        split_seed=opts.split_seed,
        num_shards=opts.num_shards,
        target_shard_bytes=int(opts.target_shard_mb * 2**20),
    )


def check_language_specs() -> None:
    """UserError naming the file when a spec folder cannot be loaded (the registry loads them all)."""
    try:
        all_specs()
    except SpecError as exc:
        raise UserError(str(exc)) from None


def check_languages(languages: Sequence[str]) -> None:
    """UserError, before the job starts, when a language the job may parse has no grammar installed
    or a spec the extractor refuses (a query that does not compile, an unknown capture name, a bad
    [doc] / [identifiers] setting): building each language's Extractor is that check.

    Without this the parse stage would reject every file of that language, one row at a time, and
    the job would end with exit status 0 and nothing of that language written.
    """
    from .parse.extract import Extractor

    for key in languages:
        try:
            Extractor(key)
        except MissingGrammarError as exc:
            raise UserError(f"{exc} (or leave {key} out with --languages)") from None
        except ValueError as exc:
            raise UserError(f"the language spec {key!r} is not usable: {exc}") from None


def add_split(record: dict, valid_fraction: float, test_fraction: float, seed: str) -> dict:
    out = dict(record)
    out["split"] = split_for(record["cluster_id"], valid_fraction, test_fraction, seed)
    return out


def _histogram(items: list) -> dict[str, int]:
    return {str(size): int(n) for size, n in sorted(items)}


def _largest(items: list) -> list[dict]:
    top = items[0] if items else []
    return [
        {"cluster_id": c["cluster_id"], "lang": c.get("lang"), "size": int(c["size"]), "path": c.get("path")}
        for c in top
    ]


def _cluster_of(record: dict) -> tuple[str, int]:
    return str(record["cluster_id"]), int(record["cluster_size"])


def _cluster_order(cluster: dict) -> tuple:
    return (int(cluster["size"]), str(cluster["cluster_id"]))


def build(p: beam.Pipeline, settings: Settings, staging: str) -> dict[str, Any]:
    """Add the whole job to `p`, writing shards and _meta/*.json into `staging`.

    Returns the main PCollections by name (records, filtered, exact, near, split, files, pairs,
    rejected, stats) so that tests can assert on any stage.
    """
    read = p | "Read" >> ReadInputs(settings.plan, settings.languages, settings.max_read_bytes)
    filtered = read["records"] | "Filter" >> ApplyFilters(build_filters(settings.filters), stage="filter")
    exact = filtered["kept"] | "ExactDedup" >> ExactDedup(text_key="content", rank_fn=file_rank, stage="exact_dedup")
    near = exact["kept"] | "NearDedup" >> NearDedup(
        settings.dedup, text_key="content", rank_fn=file_rank, stage="near_dedup", annotate=True
    )
    with_split = near["kept"] | "AssignSplit" >> beam.Map(
        add_split, settings.valid_fraction, settings.test_fraction, settings.split_seed
    )
    parsed = with_split | "Parse" >> ParseFiles(settings.parse)
    files, pairs = parsed["files"], parsed["pairs"]
    rejected = (
        read["rejected"], filtered[REJECTED_TAG], exact["rejected"], near["rejected"], parsed["rejected"]
    ) | "AllRejected" >> beam.Flatten()

    # shards
    target = settings.target_shard_bytes
    shard_infos = (
        files | "WriteFiles" >> WriteTable("files", staging, settings.num_shards, target),
        pairs | "WritePairs" >> WriteTable("pairs", staging, settings.num_shards, target),
        rejected | "WriteRejected" >> WriteTable("rejected", staging, None, target),
    ) | "AllShards" >> beam.Flatten()

    # counts from the data
    stage_counts = p | "CountStages" >> CountByStageAndLang({
        "read": read["records"],
        "filter_kept": filtered["kept"],
        "exact_dedup_kept": exact["kept"],
        "near_dedup_kept": near["kept"],
        "files": files,
        "pairs": pairs,
    })
    # Rows --languages skipped inside Parquet / JSONL files (only a Beam counter before), so that
    # read + rejected.read + read_not_selected accounts for every row the readers saw.
    not_selected_counts = (
        read["not_selected"]
        | "SumNotSelected" >> beam.CombinePerKey(sum)
        | "NotSelectedStage" >> beam.MapTuple(lambda lang, n: ((NOT_SELECTED_STAGE, lang), n))
    )
    rejected_counts = rejected | "CountRejected" >> CountRejected()
    # One entry per cluster, not per kept file: a mega cluster keeps all its files (they share the
    # survivor's cluster_id and size), and counting files made {"3000": 3000} of one cluster.
    cluster_sizes = (
        near["kept"]
        | "ClusterOf" >> beam.Map(_cluster_of)
        | "DistinctClusters" >> beam.Distinct()
        | "ClusterSize" >> beam.MapTuple(lambda _cluster_id, size: size)
        | "CountClusterSizes" >> beam.combiners.Count.PerElement()
    )
    largest = near["clusters"] | "LargestClusters" >> beam.combiners.Top.Of(LARGEST_CLUSTERS, key=_cluster_order)
    # Everything the launcher reads back after the job (_meta/*.json), in one shuffle.
    p | "Meta" >> WriteMetas({
        "shards": (shard_infos, list),
        "counts": ((stage_counts, rejected_counts["by_lang"], not_selected_counts) | "AllCounts" >> beam.Flatten(),
                   nest_counts),
        "reasons": (rejected_counts["by_reason"], nest_counts),
        "cluster_sizes": (cluster_sizes, _histogram),
        "largest_clusters": (largest, _largest),
        "parse_stats": (parsed["stats"], list),
    }, staging)
    return {
        "records": read["records"], "read_rejected": read["rejected"], "filtered": filtered["kept"],
        "exact": exact["kept"], "near": near["kept"], "clusters": near["clusters"], "split": with_split,
        "files": files, "pairs": pairs, "rejected": rejected, "stats": parsed["stats"],
    }


def table4(counts: dict[str, dict[str, int]], stats: list) -> dict[str, dict[str, int]]:
    """The paper's Table 4 shape per language: files, functions, functions_with_docs, pairs."""
    table: dict[str, dict[str, int]] = {}
    langs = set(counts.get("files", {})) | {lang for _, lang, _ in stats}
    for lang in sorted(langs):
        table[lang] = {"files": int(counts.get("files", {}).get(lang, 0)), "functions": 0,
                       "functions_with_docs": 0, "pairs": int(counts.get("pairs", {}).get(lang, 0))}
    for metric, lang, count in stats:
        if metric in ("functions", "functions_with_docs"):
            table[lang][metric] += int(count)
    return table


@dataclasses.dataclass
class RunResult:
    out_dir: str
    manifest: Any
    report: str | None
    seconds: float
    summary: list[str]
    counters: list[str]


DIRECT_RUNNER_NAMES = ("directrunner", "switchingdirectrunner", "direct")


def local_runner(options: PipelineOptions):
    """The runner instance for `options`, or None to let Beam resolve `--runner` itself.

    For Beam's DirectRunner (the default) this is the runner the DirectRunner itself uses for batch
    jobs, Beam's in-process FnApiRunner (built the same way, so `--direct_num_workers` and
    `--direct_running_mode` keep their meaning), minus one step: Beam 2.7x's DirectRunner first
    tries the Prism runner, downloading its binary from GitHub on every run. Offline that costs
    seconds and a leaked temp folder per run; online it silently runs the job on a different
    local runner than the one this project tests (determinism, multi-worker runs). `--runner
    PrismRunner` still selects Prism.
    """
    name = options.view_as(StandardOptions).runner
    if name is not None and (not isinstance(name, str) or name.lower() not in DIRECT_RUNNER_NAMES):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def runner_name(options: PipelineOptions, runner) -> str:
    if runner is not None:
        return "DirectRunner (in-process FnApiRunner)"
    return str(options.view_as(StandardOptions).runner)


def _draw_report(out_dir: str, manifest: dict[str, Any], drawn: list[str]) -> None:
    """Draw report.html before the manifest is written (the manifest stays the last file). A
    failure to draw is a warning: the tables are complete and the page can be drawn again later."""
    from .report import write_report

    log.info("writing the report")
    try:
        drawn.append(write_report(out_dir, manifest=manifest))
    except Exception as exc:  # noqa: BLE001 - never lose a finished job to its report page
        log.warning("the report page could not be drawn (%s: %s); the tables are complete, draw it again with: "
                    "python -m pipeline.report %s", type(exc).__name__, exc, out_dir)


def _reject_unknown_flags(argv: Sequence[str]) -> None:
    """Our flags use dashes; an unknown dashed flag is a typo of ours, not a runner option."""
    _, unknown = all_options_parser().parse_known_args(list(argv))
    for arg in unknown:
        name = arg.split("=", 1)[0]
        if name.startswith("--") and "-" in name[2:]:
            raise UserError(f"unknown option {name}; run `python -m pipeline --help` for the list of options")
        if name.startswith("--"):
            log.warning("passing %s to the runner unchanged (not a known Beam or pipeline option)", name)


def _reject_undecodable_args(argv: Sequence[str]) -> None:
    """UserError for an argument that is not valid UTF-8 (a file name with raw bytes, which Python
    hands over as lone surrogates): Beam encodes every option as UTF-8 for the runner, and such a
    value crashed there with a UnicodeEncodeError traceback. A quoted glob reaches the same path
    (`?` matches one raw byte), so the message suggests one."""
    for arg in argv:
        if is_utf8(arg):
            continue
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        pattern = "".join("?" if not is_utf8(c) else c for c in value)
        raise UserError(
            f"the argument {printable(arg)} is not valid UTF-8, and Beam passes options to the runner as UTF-8; "
            f"for an --input path pass a quoted glob that matches it instead, e.g. --input '{pattern}', "
            "otherwise rename it"
        )


def run(argv: Sequence[str]) -> RunResult:
    argv = list(argv)
    _reject_undecodable_args(argv)
    _reject_unknown_flags(argv)
    check_language_specs()
    options = PipelineOptions(argv)
    opts = options.view_as(CodesageOptions)
    if not opts.output:
        raise UserError("--output is required: pass the folder the pipeline should write, e.g. --output out/")
    # Before planning the inputs and long before anything is deleted (see write.check_output).
    check_output(opts.output, opts.overwrite, local_input_paths(split_patterns(opts.input)))
    settings = settings_from_options(options)
    staging = staging_dir_for(opts.output)
    inputs = settings.plan.describe()
    log.info(
        "input: %d Parquet files (%d row groups, %d rows), %d JSONL files, %d source trees%s; languages: %s",
        inputs["parquet_files"], inputs["parquet_row_groups"], inputs["parquet_rows"], inputs["jsonl_files"],
        len(inputs["trees"]),
        f" ({', '.join(inputs['trees'])})" if inputs["trees"] else "", ", ".join(settings.languages or ("all",)),
    )
    started = time.time()
    try:
        runner = local_runner(options)
        pipeline = beam.Pipeline(runner=runner, options=options)
        build(pipeline, settings, staging)
        log.info("running the job on %s", runner_name(options, runner))
        result = pipeline.run()
        result.wait_until_finish()
        counts = nest_counts(((stage, lang), n) for stage, langs in read_meta(staging, "counts").items()
                             for lang, n in langs.items())
        reasons = read_meta(staging, "reasons")
        stats = [tuple(s) for s in read_meta(staging, "parse_stats")]
        extra = {
            "inputs": settings.plan.describe(),
            "rejection_reasons": reasons,
            "clusters": {
                "size_histogram": read_meta(staging, "cluster_sizes"),
                "largest": read_meta(staging, "largest_clusters"),
            },
            "lsh": describe_lsh(settings.dedup),
            "table4": table4(counts, stats),
            "run": {"seconds": round(time.time() - started, 3),
                    "runner": runner_name(options, runner)},
        }
        log.info("job finished in %.1f s; moving the output into %s", time.time() - started, opts.output)
        reports: list[str] = []
        manifest = finalize(staging, opts.output, options_dict(options), counts, extra, opts.overwrite,
                            before_manifest=None if opts.no_report else partial(_draw_report, drawn=reports))
    except BaseException:
        discard_staging(staging)
        raise
    try:
        counters = counter_lines(result.metrics().query())
    except Exception:  # some runners do not support metrics queries
        counters = []
    report = reports[0] if reports else None
    return RunResult(opts.output, manifest, report, time.time() - started, summary_lines(counts, reasons), counters)
