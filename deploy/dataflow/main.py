"""Flex Template entry point (FLEX_TEMPLATE_PYTHON_PY_FILE in deploy/dataflow/Dockerfile).

The template launcher runs this file with the template parameters as `--name=value` flags (see
metadata.json) plus the Dataflow flags it adds itself (project, region, temp location, machine type,
max workers, sdk_container_image). They go to `python -m pipeline` unchanged.

The pipeline finishes on the launching process: after the Beam job succeeds, `pipeline.run` moves the
staged shards into --output and writes manifest.json last (pipeline/write.py, `finalize`). If the
launcher does not wait for the job (a template launcher may hand the job over as soon as it is
submitted), that step would run too early: this wrapper checks that manifest.json exists at the end
and exits non-zero with a message when it does not, instead of reporting success for an output folder
that is incomplete. The direct launch (`launch.sh direct`) always waits and is the tested route.
"""
from __future__ import annotations

import sys


def _manifest_exists(out_dir: str) -> bool:
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(FileSystems.join(out_dir, "manifest.json"))


def main(argv: list[str] | None = None) -> int:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.__main__ import main as pipeline_main
    from pipeline.options import CodesageOptions

    argv = list(sys.argv[1:] if argv is None else argv)
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
