#!/usr/bin/env bash
# Run the test suite (and ruff) inside .venv/, creating it first if needed. Extra args go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# 2-core machines: one OpenMP thread per process, passive waiting, no thrashing.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OMP_WAIT_POLICY=PASSIVE MKL_NUM_THREADS=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
