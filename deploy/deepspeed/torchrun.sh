#!/usr/bin/env bash
# Multi-node training with torchrun: run this script ONCE PER NODE (by hand, by srun in slurm.sbatch,
# or by your cluster's job system); torchrun starts one process per GPU and the nodes meet at the
# c10d rendezvous on RDZV_HOST. Everything after the parameters is passed to `python -m trainer`.
#
#   NNODES=2 GPUS_PER_NODE=8 RDZV_HOST=gpu-node-0 deploy/deepspeed/torchrun.sh \
#       pretrain --data /shared/codesage/python-v1 --tokenizer /shared/codesage/tokenizer \
#       --out /shared/runs/stage1 --size small --seq-len 1024 --batch-size 16 --grad-accum 8 \
#       --data-streams 128 --num-workers 4 --max-steps 250000 --lr 3e-4 --warmup-steps 5000 \
#       --deepspeed-config zero2 --resume
#
# Environment: NNODES (default 1), GPUS_PER_NODE (default: nvidia-smi's count, else 1),
# RDZV_HOST (default localhost), RDZV_PORT (default 29500), RDZV_ID (a job id shared by all nodes,
# default codesage), DRY_RUN=1 prints the command. The trainer reads RANK / WORLD_SIZE / LOCAL_RANK /
# MASTER_ADDR from torchrun, uses NCCL on GPUs (gloo on CPU) and DeepSpeed with --deepspeed-config.
# Keep --data-streams fixed (a multiple of ranks x --num-workers) to keep the global batch and
# exact resume independent of the number of nodes.
set -euo pipefail
if [ $# -eq 0 ]; then sed -n '2,20p' "$0"; exit 2; fi
NNODES="${NNODES:-1}"
if [ -z "${GPUS_PER_NODE:-}" ]; then
  GPUS_PER_NODE="$(nvidia-smi -L 2>/dev/null | wc -l || true)"
  [ "${GPUS_PER_NODE:-0}" -gt 0 ] || GPUS_PER_NODE=1
fi
RDZV_HOST="${RDZV_HOST:-localhost}"; RDZV_PORT="${RDZV_PORT:-29500}"; RDZV_ID="${RDZV_ID:-codesage}"
PYTHON="${PYTHON:-python}"
cmd=("$PYTHON" -m torch.distributed.run
  --nnodes="$NNODES" --nproc_per_node="$GPUS_PER_NODE"
  --rdzv_backend=c10d --rdzv_endpoint="$RDZV_HOST:$RDZV_PORT" --rdzv_id="$RDZV_ID"
  --max_restarts=0
  -m trainer "$@")
if [ "${DRY_RUN:-0}" = 1 ]; then printf '%q ' "${cmd[@]}"; printf '\n'; else exec "${cmd[@]}"; fi
