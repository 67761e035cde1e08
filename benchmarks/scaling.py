"""Pipeline scaling on one machine, and the shuffle volume per stage (for docs/running-at-scale.md).

1. Throughput: the full `python -m pipeline` (fresh interpreter per run, --no-report) on the same input
   with the DirectRunner in multi_processing mode and 1 then 2 SDK worker processes. Prints wall time,
   CPU seconds, input MB/s and the ratio 2-workers / 1-worker (target >= 1.6 on 2 idle cores). With
   --repeat N the configurations are interleaved (1, 2, 1, 2, ...) and the fastest run of each counts,
   which is the usual way to read a noisy shared machine. The load average is printed with the result:
   on a machine shared with other jobs the ratio measures the contention as much as the pipeline.
   The runner process's CPU (the DirectRunner does not parallelize it) is split into its fixed part
   before the first bundle and its part while the stages run; the CPU shares are robust to other
   jobs on the machine, the wall times are not. The default slice (1000 rows per language, 63.9 MB of
   content) is large enough that the fixed per-run costs (interpreter start, building and
   translating the job, starting the workers) do not dominate.
   Both runs' shard sha256s are compared too (the output must not depend on the worker count).

2. Shuffle volume (--shuffle): the job is built once more with every GroupByKey's input measured: each
   element is encoded with that PCollection's own Beam coder and its byte size summed (a Counter per
   GroupByKey). That is the data a distributed runner writes to its shuffle, before any combiner lifting
   (Combine transforms shuffle less on a runner that lifts combiners; the table marks them). Printed per
   stage and as bytes per input byte, i.e. the shuffle volume per TB of input content.

Usage:
    python benchmarks/scaling.py                        # 1000 rows per language of ../shared/corpus/stack-sample
    python benchmarks/scaling.py --rows-per-language 200 --repeat 2 --shuffle
    python benchmarks/scaling.py --input DIR_OR_GLOB --workers 1,2,4
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "corpus" / "stack-sample"
ROW_GROUP = 100


def build_slice(rows_per_language: int, dest: Path) -> tuple[Path, int, int]:
    """First N rows of each language (its shards in name order), Stack layout; returns (folder, files, bytes).

    A language with fewer than N rows in the sample contributes all of them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not (SAMPLE / "data").is_dir():
        sys.exit(f"error: {SAMPLE} not found; pass --input")
    files = size = 0
    for lang_dir in sorted((SAMPLE / "data").iterdir()):
        tables, rows = [], 0
        for shard in sorted(lang_dir.glob("*.parquet")):
            if rows >= rows_per_language:
                break
            table = pq.read_table(shard).slice(0, rows_per_language - rows)
            tables.append(table)
            rows += table.num_rows
        table = pa.concat_tables(tables)
        out = dest / "data" / lang_dir.name
        out.mkdir(parents=True, exist_ok=True)
        # Row groups of ROW_GROUP rows: the reader splits its work by row group, so the read and filter
        # stage has parts to share between workers, as on a real multi-file input.
        pq.write_table(table, out / "data-00000-of-00001.parquet", row_group_size=ROW_GROUP)
        files += table.num_rows
        size += sum(table["size"].to_pylist())
    return dest, files, size


def shard_hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.glob("*/part-*.parquet"))}


# Runs `python -m pipeline`'s main and reports the CPU of the runner process itself (RUSAGE_SELF: reading
# plans, the FnApiRunner, every GroupByKey, the gRPC data plane) apart from its SDK worker processes, and
# splits the runner's CPU at the FnApiRunner's run_stages (the bundles): before it, the fixed cost of a run
# (imports, building and translating the job, starting the workers); inside it, what the runner spends
# while the stages execute (shuffle buffers, data plane, per-bundle control), which grows with the input.
_CHILD = (
    "import resource, sys, time\n"
    "from apache_beam.runners.portability.fn_api_runner import fn_runner\n"
    "from pipeline.__main__ import main\n"
    "marks = []\n"
    "original = fn_runner.FnApiRunner.run_stages\n"
    "def run_stages(self, *args, **kwargs):\n"
    "    marks.append(time.process_time())\n"
    "    try:\n"
    "        return original(self, *args, **kwargs)\n"
    "    finally:\n"
    "        marks.append(time.process_time())\n"
    "fn_runner.FnApiRunner.run_stages = run_stages\n"
    "rc = main(sys.argv[1:])\n"
    "s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "stages = marks[-1] - marks[0] if len(marks) >= 2 else float('nan')\n"
    "sys.stderr.write(f'@@cpu {s.ru_utime + s.ru_stime} {c.ru_utime + c.ru_stime} {stages}\\n')\n"
    "sys.exit(rc)\n"
)


def timed_run(input_path: str, out: Path, workers: int, extra: list[str]) -> tuple[float, float, float, float]:
    """(wall s, CPU s of the runner process, of which inside run_stages, CPU s of its SDK workers) of one run."""
    argv = [sys.executable, "-c", _CHILD, "--input", input_path, "--output", str(out), "--overwrite",
            "--no-report", "--runner=DirectRunner", "--direct_running_mode=multi_processing",
            f"--direct_num_workers={workers}", *extra]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=str(REPO))
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"pipeline failed:\n{proc.stderr[-4000:]}")
    runner_cpu, workers_cpu, stages_cpu = map(float, proc.stderr.rsplit("@@cpu ", 1)[1].split()[:3])
    return wall, runner_cpu, stages_cpu, workers_cpu


# ------------------------------------------------------------------------------------ shuffle volume

def measure_shuffle(input_path: str, extra: list[str]) -> list[tuple[str, int, int]]:
    """[(GroupByKey label, elements, encoded bytes)] of one DirectRunner run of the whole job."""
    import apache_beam as beam
    from apache_beam import coders
    from apache_beam.metrics import Metrics
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.run import build, local_runner, settings_from_options

    class Measure(beam.DoFn):
        def __init__(self, name: str, coder):
            self.name, self.coder = name, coder

        def setup(self):
            self.bytes = Metrics.counter("shuffle_bytes", self.name)
            self.elements = Metrics.counter("shuffle_elements", self.name)

        def process(self, element):
            self.bytes.inc(len(self.coder.encode(element)))
            self.elements.inc()
            yield element

    original_apply = beam.Pipeline.apply
    measured = []

    def apply(self, transform, pvalueish=None, label=None):
        # Beam's apply re-enters itself for a labelled transform: measure each GroupByKey once.
        if (isinstance(transform, beam.GroupByKey) and isinstance(pvalueish, beam.pvalue.PCollection)
                and not getattr(transform, "_shuffle_measured", False)):
            transform._shuffle_measured = True
            parent = self._current_transform().full_label
            name = f"{parent}/{label or transform.label}"
            coder = coders.registry.get_coder(pvalueish.element_type)
            measured.append(name)
            pvalueish = original_apply(self, beam.ParDo(Measure(name, coder)), pvalueish, f"MeasureShuffle{len(measured)}")
        return original_apply(self, transform, pvalueish, label)

    with tempfile.TemporaryDirectory() as tmp:
        options = PipelineOptions(["--input", input_path, "--output", str(Path(tmp) / "out"),
                                   "--no-report", "--runner=DirectRunner", *extra])
        settings = settings_from_options(options)
        beam.Pipeline.apply = apply
        try:
            p = beam.Pipeline(runner=local_runner(options), options=options)
            build(p, settings, str(Path(tmp) / "staging"))
        finally:
            beam.Pipeline.apply = original_apply
        result = p.run()
        result.wait_until_finish()
        counters = result.metrics().query()["counters"]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for c in counters:
        value = int(c.committed if c.committed is not None else c.attempted or 0)
        if c.key.metric.namespace == "shuffle_bytes":
            totals[c.key.metric.name][1] += value
        elif c.key.metric.namespace == "shuffle_elements":
            totals[c.key.metric.name][0] += value
    return sorted(((name, e, b) for name, (e, b) in totals.items()), key=lambda row: -row[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", help="pipeline --input (default: a slice of ../shared/corpus/stack-sample)")
    parser.add_argument("--rows-per-language", type=int, default=1000,
                        help="slice size when --input is not given (default %(default)s: 8,861 files, 63.9 MB of content)")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (first one is the baseline)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per worker count; the fastest counts")
    parser.add_argument("--shuffle", action="store_true", help="also measure the bytes entering every GroupByKey")
    parser.add_argument("--shuffle-only", action="store_true", help="only the shuffle measurement (implies --shuffle)")
    parser.add_argument("--num-shards", default="2")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = ["--num-shards", args.num_shards]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.input:
            input_path, files, size = args.input, None, None
        else:
            folder, files, size = build_slice(args.rows_per_language, tmp / "slice")
            input_path = str(folder)
        workers = [] if args.shuffle_only else [int(w) for w in args.workers.split(",")]
        print(f"input: {input_path}" + (f" ({files} files, {size / 1e6:.2f} MB of content)" if size else ""))
        same = True
        if workers:
            print(f"machine: {os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.2f}")
            best: dict[int, tuple[float, float]] = {}
            hashes: dict[int, dict[str, str]] = {}
            for attempt in range(args.repeat):
                for w in workers:
                    out = tmp / f"out-{w}"
                    wall, runner_cpu, stages_cpu, workers_cpu = timed_run(input_path, out, w, extra)
                    print(f"  run {attempt + 1}: {w} worker(s): {wall:7.1f} s wall, CPU {runner_cpu:6.1f} s runner "
                          f"process ({runner_cpu - stages_cpu:.1f} s before the first bundle, {stages_cpu:.1f} s "
                          f"during the stages) + {workers_cpu:6.1f} s SDK workers", flush=True)
                    if w not in best or wall < best[w][0]:
                        best[w] = (wall, runner_cpu + workers_cpu, runner_cpu, stages_cpu)
                    hashes[w] = shard_hashes(out)
            print(f"load average after: {os.getloadavg()[0]:.2f}")
            base = workers[0]
            print(f"\n{'workers':>7} {'wall s':>8} {'CPU s':>8} {'runner%':>8} {'setup%':>7} {'stages%':>8} "
                  f"{'MB/s':>8} {'vs ' + str(base):>8}")
            for w in workers:
                wall, cpu, runner_cpu, stages_cpu = best[w]
                rate = f"{size / 1e6 / wall:8.3f}" if size else f"{'-':>8}"
                print(f"{w:>7} {wall:8.1f} {cpu:8.1f} {100 * runner_cpu / cpu:7.0f}% "
                      f"{100 * (runner_cpu - stages_cpu) / cpu:6.0f}% {100 * stages_cpu / cpu:7.0f}% "
                      f"{rate} {best[base][0] / wall:7.2f}x")
            print("runner% = CPU share of the runner process, which the DirectRunner does not parallelize "
                  "(Amdahl: speed-up <= 1 / (runner% + (1 - runner%) / workers)); setup% = its share before the "
                  "first bundle (imports, building and translating the job: fixed per run, runs alone), "
                  "stages% = its share while the stages run (grows with the input).")
            same = all(hashes[w] == hashes[base] for w in workers)
            print(f"shards identical across worker counts: {same}")

        if args.shuffle or args.shuffle_only:
            print("\nbytes entering each GroupByKey (Beam coder of the PCollection; before combiner lifting):")
            rows = measure_shuffle(input_path, extra)
            total = sum(b for _, _, b in rows)
            for name, elements, nbytes in rows:
                per_tb = f"{nbytes / size:8.3f} TB/TB" if size else ""
                print(f"  {nbytes / 1e6:9.2f} MB {elements:9d} el  {per_tb}  {name}")
            if size:
                print(f"  total {total / 1e6:.2f} MB for {size / 1e6:.2f} MB of input content: "
                      f"{total / size:.3f} bytes shuffled per input byte (~{total / size:.2f} TB per TB)")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
