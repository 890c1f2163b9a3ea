#!/usr/bin/env bash
# GPU readiness in one run (< 8 min on a CUDA machine): CPU-vs-CUDA agreement, bf16 autocast, torch.compile,
# 1-process DDP (gloo, NCCL), the caption backends that need no hub weights, and training throughput on a
# QVHighlights-sized synthetic set with the 200-epoch time it implies. Without CUDA: the CPU parts, exit 0.
#   bash bench/gpu_check.sh [--skip_throughput] [--train_queries N]      (details: bench/gpu_check.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec timeout "${GPU_CHECK_TIMEOUT:-470}" "$root/.venv/bin/python" bench/gpu_check.py "$@"
