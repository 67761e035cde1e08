"""`python -m pipeline --input ... --output OUT [Beam options]`: the data pipeline's CLI.

Prints a UserError as one line (exit status 2), and on success a summary of what each stage
kept and dropped, the Beam counters, and where the output is.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from .errors import UserError


class _DefaultsHelp(argparse.HelpFormatter):
    """Appends "(default: X)" to a flag's help unless the help already speaks of its default or
    there is none to show (None, or an on/off switch that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings
                or isinstance(action, argparse._StoreFalseAction)):  # --no-x: "(default: True)" reads as "on"
            return text
        return f"{text} (default: %(default)s)"


def _prog() -> str:
    """How the user started us: `python -m pipeline`, or the installed `codesage-pipeline` script."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m pipeline" if name in ("", "__main__.py", "-c") else name


def _help() -> str:
    from .options import CodesageOptions

    parser = argparse.ArgumentParser(
        prog=_prog(),
        formatter_class=_DefaultsHelp,
        description="Read code (The Stack Parquet, JSONL, source trees; default: this Python's standard library), "
                    "filter, deduplicate, parse, and write sharded Parquet + manifest.json + report.html.",
        epilog="Every Apache Beam option is accepted too and passed to the runner unchanged, e.g. "
               "--runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing, "
               "or Dataflow's --runner=DataflowRunner --project=... --region=... --temp_location=gs://... "
               "See docs/pipeline.md.",
    )
    CodesageOptions._add_argparse_args(parser)
    return parser.format_help()


def _user_error(exc: BaseException) -> UserError | None:
    """The UserError behind `exc` (runners wrap exceptions raised inside the job), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, UserError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _DropImportNoise(logging.Filter):
    """Beam's GCP module warns on import when optional Google client libraries are absent; that
    says nothing about this run (gs:// support needs `pip install apache-beam[gcp]` anyway)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def _print_to_stdout(text: str) -> None:
    """print, except that a reader who went away (`--help | head`) is not an error: nothing is left
    to tell them. stdout then goes to devnull so the exit-time flush is quiet too. Only these prints
    are covered, so a BrokenPipeError of the run itself still fails it."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger().addFilter(_DropImportNoise())
    if "-h" in argv or "--help" in argv:
        _print_to_stdout(_help())
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pipeline").setLevel(logging.INFO)
    from .run import run

    try:
        result = run(argv)
    except KeyboardInterrupt:
        print("interrupted; the output folder was not changed", file=sys.stderr)
        return 130
    except Exception as exc:
        user = _user_error(exc)
        if user is None:
            raise
        print(f"error: {user}", file=sys.stderr)
        return 2
    lines = [f"pipeline finished in {result.seconds:.1f} s", *(f"  {line}" for line in result.summary)]
    if result.counters:
        lines += ["Beam counters (namespace codesage, by stage):", *(f"  {line}" for line in result.counters)]
    lines.append(f"output: {result.out_dir} ({len(result.manifest.shards)} shards; manifest.json"
                 + (f"; report {result.report}" if result.report else "") + ")")
    _print_to_stdout("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
