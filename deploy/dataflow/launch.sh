#!/usr/bin/env bash
# Run `python -m pipeline` on Google Cloud Dataflow.
#
#   deploy/dataflow/launch.sh direct      [parameters] [-- extra pipeline flags]   # submit from here and wait (tested route)
#   deploy/dataflow/launch.sh flex-build  [parameters]                             # write the Flex Template spec to --template
#   deploy/dataflow/launch.sh flex-run    [parameters] [-- extra pipeline flags]   # launch that template
#
# Parameters (flags, or the environment variable in brackets):
#   --project P            GCP project id                                   [PROJECT]        required
#   --region R             Dataflow region, e.g. us-central1                [REGION]         required
#   --temp-location T      gs:// folder for temporary files                 [TEMP_LOCATION]  required
#   --staging-location S   gs:// folder for staged artifacts (default: T/staging) [STAGING_LOCATION]
#   --input I              The Stack folder / Parquet glob / JSONL on gs:// [INPUT]          required
#   --output O             gs:// output folder (files/, pairs/, rejected/, manifest.json) [OUTPUT] required
#   --machine-type M       worker machine type (default n2-standard-4)      [MACHINE_TYPE]
#   --max-workers N        autoscaling ceiling (default 50)                 [MAX_WORKERS]
#   --languages L          comma-separated keys, e.g. python,java (default all) [LANGUAGES]
#   --image IMG            worker image built from deploy/dataflow/Dockerfile [IMAGE]        required
#   --job-name J           Dataflow job name (default codesage-<utc time>)  [JOB_NAME]
#   --template GS          Flex Template spec path (flex-* only)            [TEMPLATE]
#   --dry-run              print the command instead of running it
#
# The image holds the project and its tree-sitter grammar wheels, so workers install nothing at start
# (`--sdk_location=container` also stops the launcher from staging an SDK tarball). Any flag after `--`
# goes to the pipeline unchanged (our flags: `python -m pipeline --help`; Beam's: --num_workers,
# --disk_size_gb, --service_account_email, --subnetwork, --no_use_public_ips, ...). In flex-run they
# become template parameters, which main.py (the template's entry point) turns back into the same flags:
#   --name value, --name=value  ->  name=value   (reaches the pipeline as --name=value)
#   --name (no value follows)   ->  name=true    (reaches the pipeline as the bare flag --name)
# A flag is bare when the next word is another --flag or there is none; write --name=value for a value
# that itself starts with --. Values keep every character (the list separator is one that no parameter
# contains). Declare extra parameters in metadata.json if the service rejects them.
# Worked example (The Stack's Python subset): deploy/dataflow/README.md.
set -euo pipefail

mode="${1:-}"
case "$mode" in
  direct|flex-build|flex-run) shift ;;
  -h|--help|"") sed -n '2,33p' "$0"; exit 0 ;;
  *) echo "error: unknown mode '$mode' (expected direct, flex-build or flex-run)" >&2; exit 2 ;;
esac

PROJECT="${PROJECT:-}"; REGION="${REGION:-}"; TEMP_LOCATION="${TEMP_LOCATION:-}"
STAGING_LOCATION="${STAGING_LOCATION:-}"; INPUT="${INPUT:-}"; OUTPUT="${OUTPUT:-}"
MACHINE_TYPE="${MACHINE_TYPE:-n2-standard-4}"; MAX_WORKERS="${MAX_WORKERS:-50}"
LANGUAGES="${LANGUAGES:-}"; IMAGE="${IMAGE:-}"; TEMPLATE="${TEMPLATE:-}"
JOB_NAME="${JOB_NAME:-codesage-$(date -u +%Y%m%d-%H%M%S)}"
PYTHON="${PYTHON:-python}"
DRY_RUN=0
EXTRA=()

while [ $# -gt 0 ]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --temp-location) TEMP_LOCATION="$2"; shift 2 ;;
    --staging-location) STAGING_LOCATION="$2"; shift 2 ;;
    --input) INPUT="$2"; shift 2 ;;
    --output) OUTPUT="$2"; shift 2 ;;
    --machine-type) MACHINE_TYPE="$2"; shift 2 ;;
    --max-workers) MAX_WORKERS="$2"; shift 2 ;;
    --languages) LANGUAGES="$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --job-name) JOB_NAME="$2"; shift 2 ;;
    --template) TEMPLATE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "error: unknown parameter $1 (pipeline flags go after --)" >&2; exit 2 ;;
  esac
done

need() { [ -n "$2" ] || { echo "error: $1 is required (flag $1 or its environment variable); see $0 --help" >&2; exit 2; }; }
need --project "$PROJECT"; need --region "$REGION"; need --image "$IMAGE"
STAGING_LOCATION="${STAGING_LOCATION:-${TEMP_LOCATION%/}/staging}"

run() {
  if [ "$DRY_RUN" = 1 ]; then printf '%q ' "$@"; printf '\n'; else "$@"; fi
}

case "$mode" in
  direct)
    need --temp-location "$TEMP_LOCATION"; need --input "$INPUT"; need --output "$OUTPUT"
    args=(
      --runner=DataflowRunner
      --project="$PROJECT" --region="$REGION"
      --temp_location="$TEMP_LOCATION" --staging_location="$STAGING_LOCATION"
      --job_name="$JOB_NAME"
      --machine_type="$MACHINE_TYPE" --max_num_workers="$MAX_WORKERS"
      --sdk_container_image="$IMAGE" --sdk_location=container
      --input="$INPUT" --output="$OUTPUT"
    )
    [ -n "$LANGUAGES" ] && args+=(--languages="$LANGUAGES")
    run "$PYTHON" -m pipeline "${args[@]}" ${EXTRA[@]+"${EXTRA[@]}"}  # bash < 4.4: empty array unbound under set -u
    ;;
  flex-build)
    need --template "$TEMPLATE"
    run gcloud dataflow flex-template build "$TEMPLATE" \
      --image "$IMAGE" --sdk-language PYTHON \
      --metadata-file "$(dirname "$0")/metadata.json" --project "$PROJECT"
    ;;
  flex-run)
    need --template "$TEMPLATE"; need --temp-location "$TEMP_LOCATION"; need --input "$INPUT"; need --output "$OUTPUT"
    params=("input=$INPUT" "output=$OUTPUT" "sdk_container_image=$IMAGE" "sdk_location=container")
    [ -n "$LANGUAGES" ] && params+=("languages=$LANGUAGES")
    # Extra flags -> name=value parameters (encoding in the header; decoded by main.py's flex_argv).
    n=${#EXTRA[@]}; i=0
    while [ "$i" -lt "$n" ]; do
      flag="${EXTRA[$i]}"; i=$((i + 1))
      case "$flag" in
        --?*) flag="${flag#--}" ;;
        *) echo "error: expected a --flag after --, got '$flag' (write --name value, --name=value or --name)" >&2; exit 2 ;;
      esac
      case "$flag" in
        =*) echo "error: flag --$flag has no name" >&2; exit 2 ;;
        *=*) key="${flag%%=*}"; value="${flag#*=}" ;;
        *) key="$flag"
           if [ "$i" -lt "$n" ] && [[ "${EXTRA[$i]}" != --* ]]; then value="${EXTRA[$i]}"; i=$((i + 1))
           else value=true; fi ;;
      esac
      params+=("$key=$value")
    done
    # gcloud's `^D^` prefix makes D the list separator: pick a character no parameter contains, so
    # values keep their commas (python,java), tildes and the rest.
    delim=""
    for c in '~' '|' '#' '@' ';' '!' '%' '+' '*'; do
      hit=0
      for p in "${params[@]}"; do [[ "$p" == *"$c"* ]] && { hit=1; break; }; done
      [ "$hit" = 0 ] && { delim="$c"; break; }
    done
    [ -n "$delim" ] || { echo "error: the parameters use every list separator gcloud could take (~|#@;!%+*); shorten them" >&2; exit 2; }
    joined="$(IFS="$delim"; printf '%s' "${params[*]}")"
    run gcloud dataflow flex-template run "$JOB_NAME" \
      --template-file-gcs-location "$TEMPLATE" --project "$PROJECT" --region "$REGION" \
      --temp-location "$TEMP_LOCATION" --staging-location "$STAGING_LOCATION" \
      --worker-machine-type "$MACHINE_TYPE" --max-workers "$MAX_WORKERS" \
      --parameters "^$delim^$joined"
    ;;
esac
