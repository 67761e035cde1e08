#!/usr/bin/env bash
# Submit `python -m pipeline` to a Flink cluster through Beam's portable Flink job server.
#
#   deploy/flink/submit.sh --input I --output O [--languages L] [--job-endpoint H:P]
#                          [--worker-pool H:P] [--parallelism N] [--dry-run] [-- extra pipeline flags]
#
# Before: a Flink 1.19 cluster, the job server and one worker pool per TaskManager host (README.md):
#   docker run --net=host apache/beam_flink1.19_job_server:2.77.0 --flink-master=FLINK_HOST:8081
#   docker run --net=host CODESAGE_IMAGE --worker_pool        # or, in the project venv on that host:
#   python -m apache_beam.runners.worker.worker_pool_main --service_port=50000
# --worker-pool is resolved by each TaskManager, hence the default localhost:50000 (a pool on every
# TaskManager host / a sidecar in every TaskManager pod). --input/--output must be visible to the
# workers AND to this launcher (gs://, s3://, or a shared mount): the launcher plans the input and
# finalizes the output (manifest.json last) after the job succeeds.
set -euo pipefail
JOB_ENDPOINT="${JOB_ENDPOINT:-localhost:8099}"; WORKER_POOL="${WORKER_POOL:-localhost:50000}"
PARALLELISM="${PARALLELISM:-8}"; INPUT="${INPUT:-}"; OUTPUT="${OUTPUT:-}"; LANGUAGES="${LANGUAGES:-}"
PYTHON="${PYTHON:-python}"; DRY_RUN=0; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --input) INPUT="$2"; shift 2 ;;
    --output) OUTPUT="$2"; shift 2 ;;
    --languages) LANGUAGES="$2"; shift 2 ;;
    --job-endpoint) JOB_ENDPOINT="$2"; shift 2 ;;
    --worker-pool) WORKER_POOL="$2"; shift 2 ;;
    --parallelism) PARALLELISM="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "error: unknown parameter $1 (pipeline flags go after --)" >&2; exit 2 ;;
  esac
done
[ -n "$INPUT" ] && [ -n "$OUTPUT" ] || { echo "error: --input and --output are required; see $0 --help" >&2; exit 2; }
cmd=("$PYTHON" -m pipeline
  --runner=PortableRunner --job_endpoint="$JOB_ENDPOINT"
  --environment_type=EXTERNAL --environment_config="$WORKER_POOL"
  --parallelism="$PARALLELISM"
  --input="$INPUT" --output="$OUTPUT")
[ -n "$LANGUAGES" ] && cmd+=(--languages="$LANGUAGES")
cmd+=(${EXTRA[@]+"${EXTRA[@]}"})  # bash < 4.4 (macOS) calls an empty array unbound under set -u
if [ "$DRY_RUN" = 1 ]; then printf '%q ' "${cmd[@]}"; printf '\n'; else exec "${cmd[@]}"; fi
