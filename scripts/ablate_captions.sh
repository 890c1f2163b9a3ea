#!/usr/bin/env bash
# Caption ablation (configs/ablations/captions.yaml): every caption-fusion variant over the same seeds, table in
# $OUT/ablation.md (mean ± sample std over seeds).
#   bash scripts/ablate_captions.sh                      # built-in synthetic dataset (captions carry signal there)
#   SEEDS="1 2 3 4 5" JOBS=2 OUT=runs/abl_qvh CAP_FEAT_PATH=data/qvhighlights/captions/caption_features.h5 \
#     bash scripts/ablate_captions.sh --config configs/qvhighlights.yaml
# Extra arguments go to every run (e.g. --n_epoch 20 --device cuda). Finished runs are skipped when re-run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ " $* " == *" --config "* ]] && [ -z "${CAP_FEAT_PATH:-}" ]; then
  echo "ablate_captions.sh: set CAP_FEAT_PATH to the caption features of this dataset" >&2
  exit 2
fi
OUT="${OUT:-runs/ablate_captions}" exec bash "$root/scripts/ablate.sh" "$root/configs/ablations/captions.yaml" "$@"
