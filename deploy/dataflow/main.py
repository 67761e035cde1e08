"""Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE in deploy/dataflow/Dockerfile).

The template launcher runs this file with every template parameter `name=value` as a `--name=value`
flag (see metadata.json) plus the Dataflow flags it adds itself (project, region, temp location,
machine type, max workers, sdk_container_image). `flex_argv` turns that back into the argv
`python -m pipeline` expects; the encoding, shared with `launch.sh flex-run`, is:

* a flag that takes a value (`--num-shards 4`, `--languages=python,java`) is the parameter
  `num-shards=4`; it reaches the pipeline as `--num-shards=4`, value unchanged (any characters);
* a flag that takes no value (`--no-report`, `--overwrite`, `--no-verify`, Beam's
  `--no_use_public_ips`, ...) is the parameter `no-report=true` (an empty value means the same);
  it reaches the pipeline as the bare flag `--no-report`. `no-report=false` drops the flag; any
  other value is an error (exit 2), since argparse would refuse `--no-report=VALUE` anyway.

Whether a flag takes a value is decided by the pipeline's own parser (our flags and every Beam
option class), never by the value, so a value-taking flag may still be given the text `true`.
Flags the parser does not know are passed through unchanged.

The pipeline finishes on the launching process: after the Beam job succeeds, `pipeline.run` moves the
staged shards into --output and writes manifest.json last (pipeline/write.py, `finalize`). If the
launcher does not wait for the job (a template launcher may hand the job over as soon as it is
submitted), that step would run too early: this wrapper checks that manifest.json exists at the end
and exits non-zero with a message when it does not, instead of reporting success for an output folder
that is incomplete. The direct launch (`launch.sh direct`) always waits and is the tested route.
"""
from __future__ import annotations

import sys
from typing import Sequence

BARE_FLAG_VALUES = ("true", "")   # parameter values meaning "give the flag without a value"
OMIT_FLAG_VALUES = ("false",)     # parameter values meaning "leave the flag out"


def _no_value_flags() -> set[str]:
    """Option strings (`--no-report`, `--no_use_public_ips`, ...) of every pipeline and Beam flag that
    takes no value (argparse nargs == 0: store_true / store_false / store_const / count)."""
    from pipeline.options import all_options_parser

    parser = all_options_parser()
    return {opt for action in parser._actions if action.nargs == 0 for opt in action.option_strings
            if opt.startswith("--")}


def flex_argv(argv: Sequence[str]) -> list[str]:
    """The `python -m pipeline` argv for the template launcher's argv (see the module docstring).

    `--name=V` for a flag that takes no value becomes `--name` when V is `true` or empty (case
    insensitive) and is dropped when V is `false`; every other element is returned unchanged, in
    order. Raises pipeline.errors.UserError for `--name=V` with any other V on such a flag.
    """
    from pipeline.errors import UserError

    no_value = _no_value_flags()
    out = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if not sep or name not in no_value:
            out.append(arg)
        elif value.lower() in BARE_FLAG_VALUES:
            out.append(name)
        elif value.lower() in OMIT_FLAG_VALUES:
            continue
        else:
            raise UserError(f"{name} takes no value; give the template parameter {name[2:]}=true "
                            f"(or {name[2:]}=false to leave it out), not {name[2:]}={value}")
    return out


def _manifest_exists(out_dir: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(FileSystems.join(out_dir, "manifest.json"))


def main(argv: list[str] | None = None) -> int:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.__main__ import main as pipeline_main
    from pipeline.options import CodesageOptions

    from pipeline.errors import UserError

    try:
        argv = flex_argv(sys.argv[1:] if argv is None else argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = pipeline_main(argv)
    if status != 0:
        return status
    out_dir = PipelineOptions(argv).view_as(CodesageOptions).output
    if not _manifest_exists(out_dir):
        print(f"error: the job ended but {out_dir}/manifest.json is missing, so the output is not complete; "
              "launch with deploy/dataflow/launch.sh direct, which waits for the job and finalizes the output",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
