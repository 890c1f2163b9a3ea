#!/usr/bin/env bash
# Train TR-DETR (python -m trdetr_cap.train); extra arguments are passed through.
#   bash scripts/train.sh                       # built-in synthetic dataset: generated once under data/synthetic,
#                                               # a few minutes on 2 CPU cores, prints the val metrics
#   bash scripts/train.sh --config configs/qvhighlights.yaml --out runs/qvh
#   bash scripts/train.sh --config configs/qvhighlights.yaml --config configs/captions/recommended.yaml  # overlays
#   bash scripts/train.sh --resume runs/qvh     # continue a killed run
# Without --config (and without --resume) the synthetic config is used.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
py="$root/.venv/bin/python"
# OpenMP threads that spin while waiting thrash a small machine shared with anything else
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

has_flag() {
  local want="$1"; shift
  for a in "$@"; do
    [ "$a" = "$want" ] && return 0
  done
  return 1
}

args=("$@")
if ! has_flag --config "$@" && ! has_flag --resume "$@"; then
  "$py" -m trdetr_cap.data.synthetic --out data/synthetic
  args=(--config configs/synthetic.yaml "${args[@]}")
  # The built-in demo's own run directory (runs/synthetic) is replaced on a rerun, so the quickstart can be repeated;
  # a run given its own --out is protected as usual (refused unless --resume or --overwrite).
  has_flag --out "$@" || args+=(--overwrite)
  # The built-in demo runs on one thread: its numbers then repeat exactly from run to run (results depend on the
  # thread count through float summation order), and 2-core machines do not thrash. Override with OMP_NUM_THREADS.
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi
exec "$py" -m trdetr_cap.train "${args[@]}"
