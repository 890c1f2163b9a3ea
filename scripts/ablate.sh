#!/usr/bin/env bash
# Train every variant of a variants file over several seeds and write the table of their best val metrics.
#   bash scripts/ablate.sh configs/ablations/fixes.yaml                  # the built-in synthetic data
#   SEEDS="1 2 3" JOBS=2 OUT=runs/abl bash scripts/ablate.sh FILE --config configs/qvhighlights.yaml --device cuda
# Env: OUT (default runs/ablate_<file name>), SEEDS (default "2017 2018 2019"), JOBS (runs at a time, default 1).
# Extra arguments go to every run. Finished runs are skipped when re-run; the table is OUT/ablation.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "$#" -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: bash scripts/ablate.sh VARIANTS.yaml [train flags]   (e.g. configs/ablations/fixes.yaml)" >&2
  exit 2
fi
variants="$1"; shift
bash scripts/setup.sh
py="$root/.venv/bin/python"
if [[ " $* " != *" --config "* ]]; then
  "$py" -m trdetr_cap.data.synthetic --out data/synthetic  # the variants files default to the synthetic config
fi
read -r -a seeds <<< "${SEEDS:-2017 2018 2019}"
name="$(basename "$variants" .yaml)"
exec "$py" -m trdetr_cap.engine.ablation run "$variants" --out "${OUT:-runs/ablate_$name}" --seeds "${seeds[@]}" \
  --jobs "${JOBS:-1}" --title "Ablation $variants: $* (seeds ${seeds[*]})" -- "$@"
