"""Training flags for the stage-2 CoSQA benchmarks, declared once: by `python -m trainer contrastive`.

A benchmark declares only its own flags (data, evaluation, output) on an `argparse.ArgumentParser`;
`parse_args` hands every other command-line flag to the trainer's own `add_arguments` parser, whose
defaults are replaced by the benchmark's recipe. So every trainer flag (`--temperature`, `--hn-form`,
`--matryoshka-dims`...) works in a benchmark with the trainer's meaning, and a recipe is one dict.

Contract
- `parse_args(bench, recipe, aliases=None, argv=None) -> (bench_args, ContrastiveConfig)`.
  `bench` must declare `--data`, `--init` and `--out` (the config's data/init/out are filled in by the
  caller, which knows its defaults and run folder: the returned config holds empty strings there).
  `recipe` maps ContrastiveConfig field names to the benchmark's defaults; a key that is no trainer
  field is a programming error (ValueError). `aliases` maps a benchmark's historical flag names to the
  trainer's (`{"--steps": "--max-steps"}`); both `--steps 5` and `--steps=5` forms are renamed.
- Unknown flags end the program with argparse's usage error (exit code 2), naming the benchmark.
- `benchmark_parser(description, recipe, aliases)`: the parser a benchmark adds its own flags to. Its help
  lists the recipe as trainer flags, and it is built with `allow_abbrev=False` (as is the trainer parser
  here), so an abbreviation is never taken by one parser when it was meant for the other.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def benchmark_parser(description: str | None, recipe: dict, aliases: dict | None = None) -> argparse.ArgumentParser:
    """A parser for a benchmark's own flags whose help lists the trainer flags' defaults it changes."""
    lines = ["Every flag of `python -m trainer contrastive` is accepted as well, with that command's meaning",
             "(see its --help). This script's defaults for them:", ""]
    for key, value in recipe.items():
        flag = "--" + key.replace("_", "-")
        lines.append("  " + ((flag if value else "--no-" + flag[2:]) if isinstance(value, bool) else f"{flag} {value}"))
    if aliases:
        lines += ["", "Aliases: " + ", ".join(f"{a} = {t}" for a, t in aliases.items())]
    return argparse.ArgumentParser(description=description, epilog="\n".join(lines), allow_abbrev=False,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _rename(argv: Sequence[str], aliases: dict) -> list[str]:
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        out.append(aliases[name] + eq + value if name in aliases else arg)
    return out


def parse_args(bench: argparse.ArgumentParser, recipe: dict, aliases: dict | None = None,
               argv: Sequence[str] | None = None):
    from trainer.cmd_contrastive import add_arguments, config_from_args
    from trainer.contrastive import ContrastiveConfig

    unknown = set(recipe) - set(ContrastiveConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"recipe keys that are not ContrastiveConfig fields: {sorted(unknown)}")
    argv = _rename(sys.argv[1:] if argv is None else argv, aliases or {})
    bench_args, rest = bench.parse_known_args(argv)
    trainer = argparse.ArgumentParser(prog=bench.prog, add_help=False, allow_abbrev=False,
                                      usage=f"{bench.prog} [benchmark flags] [python -m trainer contrastive flags]")
    add_arguments(trainer)
    trainer.set_defaults(**recipe)
    # data/init/out belong to the benchmark (it declares them); placeholders satisfy the trainer's `required`
    train_args, unknown_flags = trainer.parse_known_args(["--data", "", "--init", "", "--out", ""] + rest)
    if unknown_flags:
        bench.error(f"unrecognized arguments: {' '.join(unknown_flags)} (neither this script's nor "
                    "`python -m trainer contrastive`'s)")
    return bench_args, config_from_args(train_args)
