#!/usr/bin/env bash
# Caption ablation: train every caption-fusion variant with the same seeds and write a markdown table of the best
# val metrics (mean ± sample std over seeds) to $OUT/ablation.md.
#   bash scripts/ablate_captions.sh                      # built-in synthetic dataset (captions carry signal there)
#   SEEDS="1 2 3 4 5" OUT=runs/abl_qvh CAP_FEAT_PATH=data/qvhighlights/captions/caption_features.h5 \
#     bash scripts/ablate_captions.sh --config configs/qvhighlights.yaml
# Extra arguments go to every run (e.g. --n_epoch 20 --device cuda). Finished runs are skipped when re-run.
# Variants: baseline (video only), a_early (gated early fusion), b_cross (caption cross-attention),
# c_prior (caption-query similarity prior), d_align (caption-clip alignment loss), combo (the recommended one,
# as configs/qvhighlights_cap.yaml).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
py="$root/.venv/bin/python"
read -r -a seeds <<< "${SEEDS:-2017 2018 2019}"
out="${OUT:-runs/ablate_captions}"

base=()
if [[ " $* " != *" --config "* ]]; then
  "$py" -m trdetr_cap.data.synthetic --out data/synthetic
  base=(--config configs/synthetic.yaml)
  cap="${CAP_FEAT_PATH:-data/synthetic/caption_features.h5}"
else
  cap="${CAP_FEAT_PATH:?set CAP_FEAT_PATH to the caption features of this dataset}"
fi

mkdir -p "$out"
off=(--cap_early_fusion none --cap_cross_attn false --cap_sim_prior false --cap_align_loss_coef 0)
declare -A variant
variant[baseline]="--cap_feat_path="
variant[a_early]="--cap_feat_path=$cap --cap_early_fusion=gated"
variant[b_cross]="--cap_feat_path=$cap --cap_cross_attn=true"
variant[c_prior]="--cap_feat_path=$cap --cap_sim_prior=true"
variant[d_align]="--cap_feat_path=$cap --cap_align_loss_coef=0.5"
variant[combo]="--cap_feat_path=$cap --cap_early_fusion=gated --cap_cross_attn=true --cap_sim_prior=true"

for name in baseline a_early b_cross c_prior d_align combo; do
  read -r -a flags <<< "${variant[$name]}"
  for seed in "${seeds[@]}"; do
    dir="$out/$name/seed$seed"
    if [ -f "$dir/best_val_metrics.json" ] && grep -q "INFO done" "$dir/train.log" 2>/dev/null; then
      echo "[ablate] $dir done, skipping"
      continue
    fi
    rm -rf "$dir"
    echo "[ablate] $name seed $seed -> $dir"
    "$py" -m trdetr_cap.train "${base[@]}" "$@" "${off[@]}" "${flags[@]}" --seed "$seed" --results_dir "$dir" \
      > /dev/null 2> "$out/$name.seed$seed.stderr" || { echo "[ablate] $dir failed: see $out/$name.seed$seed.stderr"; exit 1; }
  done
done
"$py" -m trdetr_cap.engine.ablation "$out" --title "Caption ablation: ${base[*]} $* (seeds ${seeds[*]})"
