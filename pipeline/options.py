"""Command-line options of `python -m pipeline`, as a Beam `PipelineOptions` subclass.

Because `CodesageOptions` is a PipelineOptions view, every Beam flag (`--runner`,
`--direct_num_workers`, `--direct_running_mode`, Dataflow's `--project`/`--region`/..., portable
`--job_endpoint`/`--environment_type`) is parsed by Beam itself and reaches the runner untouched;
our flags use dashes, Beam's use underscores. The dedup and parse stages add their own flags
through `add_dedup_arguments` / `add_parse_arguments`.
"""
from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

from .filters import FilterConfig
from .readers import DEFAULT_MAX_READ_BYTES
from .write import DEFAULT_TARGET_SHARD_BYTES


def _positive_int(text: str) -> int:
    import argparse

    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def add_core_arguments(parser) -> None:
    """Our own flags (inputs, output, filters, sharding, split). See docs/pipeline.md."""
    defaults = FilterConfig()
    g = parser
    g.add_argument("--input", action="append", default=None, metavar="GLOB",
                   help="Input: The Stack folder (data/<lang>/*.parquet), Parquet/JSONL files, or source trees. "
                        "Repeatable and comma-separated; globs allowed. Default: this Python's standard library.")
    g.add_argument("--output", default=None, metavar="DIR", help="Output folder (required).")
    g.add_argument("--overwrite", action="store_true", default=False,
                   help="Replace a non-empty --output folder.")
    g.add_argument("--languages", default=None, metavar="LIST",
                   help="Comma-separated canonical language keys to keep, e.g. python,java (default: all).")
    g.add_argument("--max-files-per-tree", type=_positive_int, default=None, metavar="N",
                   help="Read at most N files of each source tree (a deterministic sample by path hash).")
    g.add_argument("--max-read-bytes", type=_positive_int, default=DEFAULT_MAX_READ_BYTES, metavar="BYTES",
                   help="Source-tree files larger than this are rejected at read without being loaded.")
    # filters
    g.add_argument("--min-bytes", type=int, default=defaults.min_bytes, help="Drop files smaller than this (UTF-8 bytes).")
    g.add_argument("--max-bytes", type=int, default=defaults.max_bytes, help="Drop files larger than this (UTF-8 bytes).")
    g.add_argument("--max-line-length", type=int, default=defaults.max_line_length,
                   help="Drop files whose longest line is longer (characters).")
    g.add_argument("--max-avg-line-length", type=float, default=defaults.max_avg_line_length,
                   help="Drop files whose mean line length is larger.")
    g.add_argument("--min-alphanum-fraction", type=float, default=defaults.min_alphanum_fraction,
                   help="Drop files whose fraction of alphanumeric characters is smaller.")
    g.add_argument("--autogen-lines", type=int, default=defaults.autogen_lines,
                   help="Look for auto-generated markers in this many first lines (0 disables the filter).")
    g.add_argument("--decontaminate", default=None, metavar="FILE",
                   help="Exclude files listed in FILE (sha256 of normalized content, or JSONL content/snippet).")
    # sharding
    g.add_argument("--num-shards", type=_positive_int, default=None, metavar="N",
                   help="Shards for files/ and pairs/ (default: from --target-shard-mb).")
    g.add_argument("--target-shard-mb", type=float, default=DEFAULT_TARGET_SHARD_BYTES / 2**20, metavar="MB",
                   help="Target shard size used when --num-shards is not given.")
    # split
    g.add_argument("--valid-fraction", type=float, default=0.01, help="Fraction of near-duplicate clusters in valid.")
    g.add_argument("--test-fraction", type=float, default=0.01, help="Fraction of near-duplicate clusters in test.")
    g.add_argument("--split-seed", default="codesage", help="Seed of the cluster -> split hash.")
    g.add_argument("--no-report", action="store_true", default=False, help="Do not write OUT/report.html.")


def add_stage_arguments(parser) -> None:
    """Flags of the dedup and parse stages (owned by their packages)."""
    from .dedup import add_dedup_arguments
    from .parse import add_parse_arguments

    add_dedup_arguments(parser)
    add_parse_arguments(parser)


class CodesageOptions(PipelineOptions):
    """All pipeline flags; read with `options.view_as(CodesageOptions)`."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        add_core_arguments(parser)
        add_stage_arguments(parser)


def all_options_parser():
    """An argparse parser holding every registered Beam option class plus ours (CodesageOptions),
    without abbreviations: what `PipelineOptions` would accept. One definition for the typo check
    (run._reject_unknown_flags), the Flex Template entry point and the deploy tests."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes = {}
    for cls in PipelineOptions.__subclasses__():  # a class re-registered on reload counts once
        classes.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)
    return parser


def filter_config(opts: CodesageOptions) -> FilterConfig:
    return FilterConfig(
        min_bytes=opts.min_bytes,
        max_bytes=opts.max_bytes,
        max_line_length=opts.max_line_length,
        max_avg_line_length=opts.max_avg_line_length,
        min_alphanum_fraction=opts.min_alphanum_fraction,
        autogen_lines=opts.autogen_lines,
        decontaminate=opts.decontaminate,
    )


def options_dict(options: PipelineOptions) -> dict[str, Any]:
    """Our flags (all, with defaults) plus the Beam flags the user set, for the manifest."""
    import argparse

    ours = argparse.ArgumentParser(add_help=False)
    CodesageOptions._add_argparse_args(ours)
    names = [a.dest for a in ours._actions if a.dest != "help"]
    view = options.view_as(CodesageOptions)
    values = {name: getattr(view, name) for name in names}
    beam_set = {k: v for k, v in options.get_all_options(drop_default=True).items() if k not in values}
    return {"pipeline": values, "beam": beam_set}
