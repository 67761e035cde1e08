"""The distributed execution path, proven on one machine.

Three runs of the FULL pipeline (read -> filters -> exact + near dedup -> parse -> pairs -> writer) on
the same slice of ../shared/corpus/stack-sample must write byte-identical shards (sha256 of every
files/, pairs/ and rejected/ Parquet file):

1. the reference: DirectRunner, one in-process worker;
2. PortableRunner -> Beam's Python job service (in-process `LocalJobServicer`) -> an EXTERNAL
   environment served by Beam's worker pool (`python -m apache_beam.runners.worker.worker_pool_main`,
   started here as a separate process) that forks TWO SDK worker processes. Every DoFn is pickled and
   shipped to those processes, as on Dataflow/Flink/Spark, and each bundle's input is partitioned
   between the two workers;
3. DirectRunner with --direct_running_mode=multi_processing --direct_num_workers=2.

Why a `BeamJob` subclass: Beam's local job service builds its FnApiRunner with one worker per
environment and never reads --direct_num_workers (only `FnApiRunner.run_pipeline`, the DirectRunner's
entry, does). `ParallelBeamJob` sets the runner's worker count from that option so the job service asks
the pool for two workers, the way Flink's/Spark's job servers ask for one worker per task slot.

The slice mixes the first rows of every language with every version of five packages that exist in
two versions in the sample, so exact and near duplicates (and their survivor choice) cross workers.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

HEAD_ROWS = 16
# package prefix (max_stars_repo_name) present in two versions in the sample, per language folder
TWO_VERSION_PACKAGES = {
    "c": "pypi/lz4@",
    "c-sharp": "pypi/clr-loader@",
    "javascript": "npm/express@",
    "python": "pypi/clr-loader@",
    "typescript": "npm/moment@",
}
COMMON_FLAGS = ["--num-shards", "2", "--no-report"]


# ----------------------------------------------------------------------------------------- helpers

def build_slice(stack_sample: Path, dest: Path) -> Path:
    """A Stack-layout folder (data/<lang>/data-00000-of-00001.parquet) with a deterministic slice."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for lang_dir in sorted((stack_sample / "data").iterdir()):
        shards = sorted(lang_dir.glob("*.parquet"))
        parts = [pq.read_table(shards[0]).slice(0, HEAD_ROWS)]
        prefix = TWO_VERSION_PACKAGES.get(lang_dir.name)
        if prefix:
            table = pq.read_table(shards)
            parts.append(table.filter(pc.starts_with(table["max_stars_repo_name"], prefix)))
        out = dest / "data" / lang_dir.name
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(parts), out / "data-00000-of-00001.parquet")
    return dest


def shard_hashes(out_dir: Path) -> dict[str, str]:
    """{relative shard path: sha256} of every Parquet shard under OUT."""
    hashes = {}
    for path in sorted(out_dir.glob("*/part-*.parquet")):
        hashes[str(path.relative_to(out_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def run_pipeline(argv: list[str]) -> None:
    from pipeline.run import run

    run(argv)


def descendants(pid: int) -> set[int]:
    """Live descendant pids of `pid` (Linux /proc; children of every thread)."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(k) for k in children.read_text().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class ProcessWatcher:
    """Samples the descendants of `root` whose command line contains `marker`, every 50 ms."""

    def __init__(self, root: int, marker: str):
        self.root, self.marker, self.seen = root, marker, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            for pid in descendants(self.root):
                if pid not in self.seen and self.marker in cmdline(pid):
                    self.seen.add(pid)
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def print_hashes(title: str, hashes: dict[str, str]) -> None:
    print(f"\n{title}")
    for name, digest in hashes.items():
        print(f"  {digest}  {name}")


# ---------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def slice_dir(stack_sample, tmp_path_factory) -> Path:
    return build_slice(stack_sample, tmp_path_factory.mktemp("stack-slice"))


@pytest.fixture(scope="module")
def reference(slice_dir, tmp_path_factory) -> dict[str, str]:
    """Shard hashes of the plain DirectRunner run (one in-process worker)."""
    out = tmp_path_factory.mktemp("direct") / "out"
    run_pipeline(["--input", str(slice_dir), "--output", str(out), *COMMON_FLAGS, "--runner=DirectRunner"])
    hashes = shard_hashes(out)
    print_hashes("DirectRunner (reference) shard sha256:", hashes)
    # the slice really exercises the dedup stages and produces pairs
    import json

    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert sum(counts["exact_dedup_kept"].values()) < sum(counts["filter_kept"].values())
    assert sum(counts["near_dedup_kept"].values()) < sum(counts["exact_dedup_kept"].values())
    assert sum(counts["pairs"].values()) > 0
    assert any(name.startswith("files/") for name in hashes) and any(name.startswith("pairs/") for name in hashes)
    return hashes


@pytest.fixture
def worker_pool(tmp_path):
    """Beam's worker pool in its own process group; yields (pid, address)."""
    log_path = tmp_path / "worker_pool.log"
    env = dict(os.environ)
    # The pool starts each SDK worker as `python -c ...` from PATH: make that this interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    # Workers import the project like the test does (an editable install, or this checkout).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port=0"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(REPO), start_new_session=True,
        )
    try:
        address = None
        deadline = time.time() + 120
        while address is None and time.time() < deadline:
            match = re.search(r"Started worker pool servicer at port: (\S+)", log_path.read_text())
            if match:
                address = match.group(1)
            elif proc.poll() is not None:
                pytest.fail(f"worker pool exited with {proc.returncode}:\n{log_path.read_text()}")
            else:
                time.sleep(0.2)
        assert address, f"worker pool did not start:\n{log_path.read_text()}"
        yield proc.pid, address, log_path
    finally:
        # SIGTERM the whole group: the pool and any SDK worker it forked.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture
def job_service():
    """Beam's Python job service, in process, honouring --direct_num_workers; yields its endpoint."""
    from apache_beam.options.pipeline_options import DirectOptions
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class ParallelBeamJob(local_job_service.BeamJob):
        def _invoke_runner(self):
            self.set_state(beam_job_api_pb2.JobState.RUNNING)
            options = self.pipeline_options()
            runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
            # Options arrive through a protobuf Struct: numbers may come back as float or str.
            workers = options.view_as(DirectOptions).direct_num_workers or 1
            runner._num_workers = max(1, int(float(workers)))
            return runner.run_via_runner_api(self._pipeline_proto, options)

    servicer = local_job_service.LocalJobServicer(beam_job_type=ParallelBeamJob)
    port = servicer.start_grpc_server(0)
    try:
        yield f"localhost:{port}"
    finally:
        servicer.stop()


# ------------------------------------------------------------------------------------------- tests

@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.timeout(600)
def test_portable_runner_with_two_sdk_worker_processes(slice_dir, reference, worker_pool, job_service, tmp_path):
    pool_pid, pool_address, pool_log = worker_pool
    out = tmp_path / "out"
    argv = [
        "--input", str(slice_dir), "--output", str(out), *COMMON_FLAGS,
        "--runner=PortableRunner", f"--job_endpoint={job_service}",
        "--environment_type=EXTERNAL", f"--environment_config={pool_address}",
        "--direct_num_workers=2",
    ]
    with ProcessWatcher(pool_pid, "SdkHarness") as watcher:
        run_pipeline(argv)
    hashes = shard_hashes(out)
    print_hashes(f"PortableRunner (job service {job_service}, worker pool {pool_address}) shard sha256:", hashes)
    print(f"SDK worker processes forked by the pool: {sorted(watcher.seen)}")

    started = re.findall(r"Starting worker with command", pool_log.read_text())
    assert len(watcher.seen) >= 2, f"expected at least two SDK worker processes, saw {sorted(watcher.seen)}"
    assert len(started) >= 2, pool_log.read_text()[-4000:]
    assert hashes == reference


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.timeout(600)
def test_direct_runner_multi_processing_two_workers(slice_dir, reference, tmp_path):
    out = tmp_path / "out"
    argv = [
        "--input", str(slice_dir), "--output", str(out), *COMMON_FLAGS,
        "--runner=DirectRunner", "--direct_running_mode=multi_processing", "--direct_num_workers=2",
    ]
    with ProcessWatcher(os.getpid(), "sdk_worker_main") as watcher:
        run_pipeline(argv)
    hashes = shard_hashes(out)
    print_hashes("DirectRunner multi_processing x2 shard sha256:", hashes)
    print(f"SDK worker processes: {sorted(watcher.seen)}")
    assert len(watcher.seen) >= 2, f"expected two SDK worker subprocesses, saw {sorted(watcher.seen)}"
    assert hashes == reference
