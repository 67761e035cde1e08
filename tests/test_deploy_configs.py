"""The deploy/ files cannot run here (no Docker, no cloud, no GPUs): check everything that can be
checked locally. Every JSON/YAML parses; every flag a launch script or manifest hands to
`python -m pipeline` is a real pipeline or Beam flag (parsed with the same option classes the
pipeline uses); the portable-runner manifests use the environment the local proof
(tests/test_portable_runner.py) runs; the DeepSpeed files parse with DeepSpeed's, torchrun's and the
trainer's own parsers.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


# ----------------------------------------------------------------------------------------- helpers

def pipeline_parser():
    """An argparse parser holding every Beam option class plus the pipeline's own flags."""
    from pipeline.options import all_options_parser

    return all_options_parser()


def assert_pipeline_flags(argv: list[str]):
    """Every element of argv is a known flag (or its value); returns the PipelineOptions."""
    from apache_beam.options.pipeline_options import PipelineOptions

    _, unknown = pipeline_parser().parse_known_args(argv)
    assert unknown == [], f"not pipeline/Beam flags: {unknown}"
    return PipelineOptions(argv)


def dry_run(script: Path, *args: str, env: dict | None = None) -> list[str]:
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=full_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return shlex.split(proc.stdout.strip())


def after_module(argv: list[str], module: str) -> list[str]:
    """The arguments after `-m MODULE` (or `--module MODULE`)."""
    for i in range(len(argv) - 1):
        if argv[i] in ("-m", "--module") and argv[i + 1] == module:
            return argv[i + 2:]
    raise AssertionError(f"no -m {module} in {argv}")


def yaml_docs(path: Path) -> list[dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    for doc in docs:
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        assert doc["metadata"].get("name"), doc
    return docs


def by_kind_name(docs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def containers(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["spec"]["template"]["spec"]["containers"]}


def beam_version() -> str:
    import apache_beam

    return apache_beam.__version__


# ---------------------------------------------------------------------------------------- Dataflow

DATAFLOW_PARAMS = [
    "--project", "my-project", "--region", "us-central1", "--temp-location", "gs://b/tmp",
    "--input", "gs://b/the-stack-dedup/data/python/*.parquet", "--output", "gs://b/out",
    "--machine-type", "n2-highmem-4", "--max-workers", "7", "--languages", "python,java",
    "--image", "us-docker.pkg.dev/p/r/codesage:v1", "--job-name", "codesage-test",
]


def test_dataflow_direct_launch_passes_only_real_flags():
    from apache_beam.options.pipeline_options import (
        GoogleCloudOptions, SetupOptions, StandardOptions, WorkerOptions,
    )
    from pipeline.options import CodesageOptions

    argv = dry_run(DEPLOY / "dataflow" / "launch.sh", "direct", "--dry-run", *DATAFLOW_PARAMS,
                   "--", "--num-shards", "8", "--disk_size_gb=100")
    options = assert_pipeline_flags(after_module(argv, "pipeline"))
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    gcp = options.view_as(GoogleCloudOptions)
    assert (gcp.project, gcp.region, gcp.temp_location, gcp.staging_location, gcp.job_name) == (
        "my-project", "us-central1", "gs://b/tmp", "gs://b/tmp/staging", "codesage-test")
    worker = options.view_as(WorkerOptions)
    assert (worker.machine_type, worker.max_num_workers, worker.disk_size_gb) == ("n2-highmem-4", 7, 100)
    assert worker.sdk_container_image == "us-docker.pkg.dev/p/r/codesage:v1"
    assert options.view_as(SetupOptions).sdk_location == "container"
    assert not options.view_as(SetupOptions).save_main_session
    ours = options.view_as(CodesageOptions)
    assert (ours.input, ours.output, ours.languages, ours.num_shards) == (
        ["gs://b/the-stack-dedup/data/python/*.parquet"], "gs://b/out", "python,java", 8)


def flex_main():
    """deploy/dataflow/main.py (the Flex Template entry point) as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("flex_main", DEPLOY / "dataflow" / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flex_parameters(argv: list[str]) -> list[tuple[str, str]]:
    """The (name, value) template parameters of a `gcloud dataflow flex-template run` argv, split
    the way gcloud splits `--parameters ^D^a=1Db=2` (D: the alternate list separator)."""
    value = argv[argv.index("--parameters") + 1]
    match = re.match(r"\^(.)\^", value)
    assert match, value
    return [tuple(item.split("=", 1)) for item in value[3:].split(match.group(1))]


def template_launcher_argv(params: list[tuple[str, str]]) -> list[str]:
    """What the Flex Template launcher hands main.py: every parameter name=value as --name=value."""
    return [f"--{name}={value}" for name, value in params]


def test_dataflow_flex_run_parameters_are_pipeline_flags():
    argv = dry_run(DEPLOY / "dataflow" / "launch.sh", "flex-run", "--dry-run", *DATAFLOW_PARAMS,
                   "--template", "gs://b/t.json", "--", "--num-shards=8", "--no-report")
    assert argv[:4] == ["gcloud", "dataflow", "flex-template", "run"]
    params = dict(flex_parameters(argv))
    assert params["languages"] == "python,java" and params["input"].endswith("*.parquet")
    assert_pipeline_flags(flex_main().flex_argv(template_launcher_argv(list(params.items()))))
    for flag in ("--worker-machine-type", "--max-workers", "--region", "--temp-location", "--staging-location"):
        assert flag in argv


def test_dataflow_flex_run_extra_flags_round_trip():
    """`-- --num-shards 4 --no-report` (space-separated value, bare boolean) reaches the pipeline as
    exactly those flags: launch.sh encodes, the template launcher adds `--`, main.py's flex_argv decodes."""
    from apache_beam.options.pipeline_options import WorkerOptions
    from pipeline.options import CodesageOptions

    base = ["--project", "P", "--region", "R", "--temp-location", "gs://B/tmp", "--input", "gs://B/in",
            "--output", "gs://B/out", "--image", "IMG", "--template", "gs://B/t.json"]
    argv = dry_run(DEPLOY / "dataflow" / "launch.sh", "flex-run", "--dry-run", *base,
                   "--", "--num-shards", "4", "--no-report")
    params = flex_parameters(argv)
    assert ("num-shards", "4") in params and ("no-report", "true") in params
    assert [name for name, _ in params].count("4") == 0 and len(params) == 6
    flags = flex_main().flex_argv(template_launcher_argv(params))
    assert "--no-report" in flags and "--num-shards=4" in flags
    ours = assert_pipeline_flags(flags).view_as(CodesageOptions)
    assert (ours.num_shards, ours.no_report, ours.input, ours.output) == (4, True, ["gs://B/in"], "gs://B/out")

    # every spelling; values with the gcloud separators (~ and ,) and '=' survive; Beam booleans too
    argv = dry_run(DEPLOY / "dataflow" / "launch.sh", "flex-run", "--dry-run", *base,
                   "--languages", "python,java", "--input", "gs://B/a~b,c/*.parquet",
                   "--", "--split-seed", "x~y,z=1", "--no-near-dedup", "--overwrite", "--num-shards=2",
                   "--no-pair-dedup", "--no-verify", "--decontaminate=gs://B/d~1.jsonl", "--no_use_public_ips")
    options = assert_pipeline_flags(flex_main().flex_argv(template_launcher_argv(flex_parameters(argv))))
    ours = options.view_as(CodesageOptions)
    assert ours.input == ["gs://B/a~b,c/*.parquet"] and ours.languages == "python,java"
    assert (ours.split_seed, ours.decontaminate, ours.num_shards) == ("x~y,z=1", "gs://B/d~1.jsonl", 2)
    assert ours.no_near_dedup and ours.overwrite and ours.no_verify and ours.pair_dedup is False
    assert options.view_as(WorkerOptions).use_public_ips is False


def test_flex_argv_encoding_of_flags_without_a_value():
    from pipeline.errors import UserError

    flex_argv = flex_main().flex_argv
    assert flex_argv(["--no-report=true", "--overwrite=", "--no-verify=false", "--split-seed=true",
                      "--output=gs://b/o", "--unknown_beam_flag=true"]) == [
        "--no-report", "--overwrite", "--split-seed=true", "--output=gs://b/o", "--unknown_beam_flag=true"]
    with pytest.raises(UserError, match="--no-report takes no value"):
        flex_argv(["--no-report=yes"])


def test_dataflow_flex_run_rejects_a_stray_word():
    proc = subprocess.run(["bash", str(DEPLOY / "dataflow" / "launch.sh"), "flex-run", "--dry-run",
                           *DATAFLOW_PARAMS, "--template", "gs://b/t.json", "--", "stray"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: expected a --flag after --")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dataflow_launch_requires_its_parameters():
    proc = subprocess.run(["bash", str(DEPLOY / "dataflow" / "launch.sh"), "direct", "--dry-run", "--project", "p"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--region is required" in proc.stderr
    proc = subprocess.run(["bash", str(DEPLOY / "dataflow" / "launch.sh"), "direct", "--bogus", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown parameter --bogus" in proc.stderr


def test_dataflow_metadata_declares_pipeline_flags():
    meta = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    assert meta["sdk_info"]["language"] == "PYTHON" and meta["name"]
    names = [p["name"] for p in meta["parameters"]]
    assert {"input", "output", "languages"} <= set(names)
    for param in meta["parameters"]:
        assert param["label"] and param["helpText"]
        for regex in param.get("regexes", []):
            re.compile(regex)
    assert_pipeline_flags([f"--{name}=x" for name in names])
    assert not [p for p in meta["parameters"] if not p["isOptional"] and p["name"] not in ("input", "output")]


def test_dataflow_dockerfile_matches_installed_beam_and_copies_what_exists():
    text = (DEPLOY / "dataflow" / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.M))
    assert args["BEAM_VERSION"] == beam_version(), "rebuild the worker image for the installed Beam version"
    assert re.search(r"^FROM apache/beam_python\$\{PY_VERSION\}_sdk:\$\{BEAM_VERSION\}$", text, flags=re.M)
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in text
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/codesage/main.py" in text
    assert "COPY deploy/dataflow/main.py ./main.py" in text
    # the image must load every grammar at build time
    assert "ts_language()" in text
    ignore = [l for l in (DEPLOY / "dataflow" / "Dockerfile.dockerignore").read_text().splitlines()
              if l and not l.startswith("#")]
    assert ignore[0] == "*", "the build context is an allow-list"
    for source in ("pyproject.toml", "schemas", "pipeline", "deploy/dataflow/main.py"):
        assert f"!{source}" in ignore
    # everything copied is in the build context, including the files pyproject's build reads
    copied = [src for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M) for src in line.split()[:-1]]
    assert not [src for src in copied if f"!{src}" not in ignore], "the .dockerignore allow-list drops a COPY source"
    for name in tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("license-files", []):
        assert name in copied, f"pip cannot build the project without {name}"
    build = yaml.safe_load((DEPLOY / "dataflow" / "cloudbuild.yaml").read_text())
    assert build["steps"][0]["args"][:3] == ["build", "-f", "deploy/dataflow/Dockerfile"]


def test_flex_main_fails_when_the_output_was_not_finalized(tmp_path, monkeypatch):
    """main.py reports an incomplete output (no manifest.json) instead of success."""
    module = flex_main()
    import pipeline.__main__ as cli

    monkeypatch.setattr(cli, "main", lambda argv: 0)
    out = tmp_path / "out"
    out.mkdir()
    assert module.main(["--output", str(out)]) == 3
    (out / "manifest.json").write_text("{}")
    assert module.main(["--output", str(out)]) == 0


# ------------------------------------------------------------------------------------ Flink / Spark

LOCAL_PROOF_ENVIRONMENT = "--environment_type=EXTERNAL"


@pytest.mark.parametrize("runner", ["flink", "spark"])
def test_portable_k8s_manifests(runner):
    from apache_beam.options.pipeline_options import PortableOptions, StandardOptions
    from pipeline.options import CodesageOptions

    docs = by_kind_name(yaml_docs(DEPLOY / runner / "k8s.yaml"))
    workers = docs[("Deployment", "flink-taskmanager" if runner == "flink" else "spark-worker")]
    pool = containers(workers)["beam-worker-pool"]
    assert pool["args"] == ["--worker_pool"]
    pool_port = {p["name"]: p["containerPort"] for p in pool["ports"]}["worker-pool"]

    server = containers(docs[("Deployment", "beam-job-server")])["job-server"]
    image, tag = server["image"].rsplit(":", 1)
    assert tag == beam_version()
    server_args = dict(a.lstrip("-").split("=", 1) for a in server["args"])
    service_ports = {p["name"]: p["port"] for p in docs[("Service", "beam-job-server")]["spec"]["ports"]}
    assert int(server_args["job-port"]) == service_ports["job"]
    assert int(server_args["artifact-port"]) == service_ports["artifact"]
    assert server_args["artifacts-dir"].startswith("/data/")

    job = docs[("Job", "codesage-pipeline")]["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["python", "-m", "pipeline"]
    options = assert_pipeline_flags(job["args"])
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    portable = options.view_as(PortableOptions)
    assert LOCAL_PROOF_ENVIRONMENT in job["args"]
    assert portable.environment_config == f"localhost:{pool_port}"
    assert portable.job_endpoint == f"beam-job-server:{service_ports['job']}"
    ours = options.view_as(CodesageOptions)
    assert ours.input[0].startswith("/data/") and ours.output.startswith("/data/")
    for name in ("beam-worker-pool",):
        assert {"name": "data", "mountPath": "/data"} in containers(workers)[name]["volumeMounts"]

    if runner == "flink":
        from apache_beam.options.pipeline_options import FlinkRunnerOptions

        flink_version = re.search(r"beam_flink([\d.]+)_job_server", image).group(1)
        assert flink_version in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
        for name in ("flink-jobmanager", "flink-taskmanager"):
            flink_image = next(iter(containers(docs[("Deployment", name)]).values()))["image"]
            assert flink_image.startswith(f"flink:{flink_version}")
        assert server_args["flink-master"] == "flink-jobmanager:8081"
    else:
        assert image == "apache/beam_spark3_job_server"
        assert server_args["spark-master-url"] == "spark://spark-master:7077"


def test_the_local_proof_runs_the_same_environment():
    """The manifests' environment is the one tests/test_portable_runner.py proves locally."""
    proof = (REPO / "tests" / "test_portable_runner.py").read_text()
    assert f'"{LOCAL_PROOF_ENVIRONMENT}"' in proof
    assert "apache_beam.runners.worker.worker_pool_main" in proof
    assert '"--runner=PortableRunner"' in proof


@pytest.mark.parametrize("runner", ["flink", "spark"])
def test_portable_submit_scripts(runner):
    from apache_beam.options.pipeline_options import PortableOptions

    argv = dry_run(DEPLOY / runner / "submit.sh", "--dry-run", "--job-endpoint", "js:8099",
                   "--input", "gs://b/in/*.parquet", "--output", "gs://b/out", "--languages", "python",
                   "--", "--num-shards", "16")
    flags = after_module(argv, "pipeline")
    options = assert_pipeline_flags(flags)
    assert LOCAL_PROOF_ENVIRONMENT in flags
    portable = options.view_as(PortableOptions)
    assert (portable.job_endpoint, portable.environment_config) == ("js:8099", "localhost:50000")


# ---------------------------------------------------------------------------------------- DeepSpeed

def pretrain_parser():
    import argparse

    from trainer import cmd_pretrain

    parser = argparse.ArgumentParser()
    cmd_pretrain.add_arguments(parser)
    return parser


def test_hostfile_parses_with_deepspeed():
    from deepspeed.launcher.runner import fetch_hostfile, parse_args

    pool = fetch_hostfile(str(DEPLOY / "deepspeed" / "hostfile.example"))
    assert pool and all(slots > 0 for slots in pool.values())
    # the command documented in its header
    text = (DEPLOY / "deepspeed" / "hostfile.example").read_text()
    command = " ".join(line.lstrip("# ").rstrip("\\ ") for line in text.splitlines() if line.startswith("#   "))
    argv = shlex.split(command)
    assert argv[0] == "deepspeed"
    ds = parse_args(argv[1:])
    assert ds.module and ds.no_local_rank and ds.user_script == "trainer"
    assert Path(ds.hostfile).resolve() == (DEPLOY / "deepspeed" / "hostfile.example").resolve()
    args = pretrain_parser().parse_args(ds.user_args[1:])
    assert ds.user_args[0] == "pretrain" and args.resume
    assert (DEPLOY / "deepspeed" / f"{args.deepspeed_config}.json").exists()


def test_torchrun_script_and_slurm_batch():
    from torch.distributed.run import get_args_parser

    script = DEPLOY / "deepspeed" / "torchrun.sh"
    argv = dry_run(script, "pretrain", "--data", "d", "--tokenizer", "t", "--out", "o",
                   env={"DRY_RUN": "1", "NNODES": "2", "GPUS_PER_NODE": "8", "RDZV_HOST": "gpu-node-0"})
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    run = get_args_parser().parse_args(argv[3:])
    assert (run.nnodes, run.nproc_per_node, run.rdzv_backend, run.rdzv_endpoint) == ("2", "8", "c10d", "gpu-node-0:29500")
    assert run.module and run.training_script == "trainer"
    pretrain_parser().parse_args(run.training_script_args[1:])

    sbatch = (DEPLOY / "deepspeed" / "slurm.sbatch").read_text()
    assert subprocess.run(["bash", "-n", str(DEPLOY / "deepspeed" / "slurm.sbatch")]).returncode == 0
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(\S+))?", sbatch, flags=re.M))
    assert directives["ntasks-per-node"] == "1" and int(directives["nodes"]) >= 2
    joined = sbatch.replace("\\\n", " ")
    line = next(l for l in joined.splitlines() if "torchrun.sh pretrain" in l)
    srun = shlex.split(line)
    args = pretrain_parser().parse_args(srun[srun.index("deploy/deepspeed/torchrun.sh") + 2:])
    assert args.resume and (DEPLOY / "deepspeed" / f"{args.deepspeed_config}.json").exists()
    ranks = int(directives["nodes"]) * int(directives["gpus-per-node"])
    assert args.data_streams % (ranks * max(args.num_workers, 1)) == 0
    assert ranks * args.batch_size * args.grad_accum == 2048  # the paper's stage-1 batch
