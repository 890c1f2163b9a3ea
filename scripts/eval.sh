#!/usr/bin/env bash
# Run a trained checkpoint on an annotation split and write the submission (and metrics when the split is labelled).
#   bash scripts/eval.sh CKPT SPLIT_JSONL [--out DIR] [--v_feat_dirs A B --t_feat_dir T --nms_thd 0.7 --device cuda]
# Features and post-processing come from the checkpoint's config unless overridden (trdetr-cap predict --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$#" -lt 2 ]; then
  echo "usage: bash scripts/eval.sh CKPT SPLIT_JSONL [--out DIR] [feature-path / post-processing flags]" >&2
  exit 2
fi
bash "$root/scripts/setup.sh"
exec "$root/.venv/bin/python" -m trdetr_cap.predict "$@"
