#!/usr/bin/env bash
# Caption videos with the default captioner (InternVL2-8B through its remote code) in its own environment.
#   bash scripts/captions.sh VIDEOS... --out captions.jsonl [captions generate flags: --shard 0/4 --device cuda ...]
#   bash scripts/captions.sh --cap_backend vllm VIDEOS... --out captions.jsonl     # vLLM, in .venv-captioner-vllm/
#   bash scripts/captions.sh --setup-only [--cap_backend vllm]                     # make / check the environment only
# InternVL2's remote code needs 4.37.2 <= transformers <= 4.49, which this project's .venv (transformers 5.x) cannot
# hold. The environment is created once and reused: the pins in scripts/captioner/<backend>.txt resolved by pip,
# then this package with `pip install --no-deps -e .` and its other requirements except torch and transformers, so
# nothing of the captioner's stack is replaced (`pip freeze` of the result: <venv>/freeze.txt). The other backends
# (--cap_backend transformers, -hf checkpoints) run in the project's own .venv: trdetr-cap captions generate.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

backend=internvl2
setup_only=0
args=()
prev=""
for a in "$@"; do
  if [ "$prev" = "--cap_backend" ]; then backend="$a"; fi
  case "$a" in
    --cap_backend=*) backend="${a#--cap_backend=}" ;;
    --setup-only) setup_only=1; prev="$a"; continue ;;
  esac
  args+=("$a")
  prev="$a"
done
case "$backend" in
  internvl2) venv="${CAPTIONER_VENV:-$root/.venv-captioner}" ;;
  vllm) venv="${CAPTIONER_VENV:-$root/.venv-captioner-vllm}" ;;
  *) echo "error: scripts/captions.sh runs --cap_backend internvl2 or vllm; --cap_backend $backend runs in" \
          "the project's own environment: .venv/bin/trdetr-cap captions generate ..." >&2; exit 2 ;;
esac
pins="$root/scripts/captioner/$backend.txt"
if [ "$setup_only" = 0 ] && [ "${#args[@]}" = 0 ]; then
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

vpy="$venv/bin/python"
stamp="$venv/.trdetr_cap_captioner"
want="$(cat "$pins" "$root/requirements.txt" "$root/setup.py" | sha1sum | cut -c1-16)"
if [ "$backend" = internvl2 ]; then
  check=(-c "from trdetr_cap.captions.backends import check_internvl2_environment; check_internvl2_environment()")
else
  check=(-c "import vllm, trdetr_cap.captions.backends")
fi
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$vpy" "${check[@]}" 2>/dev/null; }; then
  [ -x "$vpy" ] || { echo "[captions] creating $venv ($backend)"; "${PYTHON:-python3}" -m venv "$venv"; }
  log="$venv/setup.log"
  pipq() { "$vpy" -m pip install -q "$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2
           echo "[captions] pip install $* failed (log: $log)" >&2; exit 1; }; }
  echo "[captions] installing the $backend stack (scripts/captioner/$backend.txt; log: $log)"
  pipq --upgrade pip
  pipq -r "$pins"
  # this package without its pins (they would replace the captioner's transformers / torch), then the rest of its
  # requirements
  pipq --no-deps -e "$root"
  grep -vE '^[[:space:]]*(#|$|torch|transformers)' "$root/requirements.txt" > "$venv/requirements-rest.txt"
  pipq -r "$venv/requirements-rest.txt"
  "$vpy" -m pip freeze --exclude-editable > "$venv/freeze.txt"
  "$vpy" "${check[@]}"
  echo "$want" > "$stamp"
  echo "[captions] ready: $venv ($("$vpy" -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")'))"
fi
[ "$setup_only" = 1 ] && exit 0
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
exec "$vpy" -m trdetr_cap captions generate "${args[@]}"
