#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv/ at the repo root and install trdetr_cap into it.
#   CPU machine: torch==2.13.0 (on the project's dev machines this wheel lies on local disk).
#   NVIDIA box (nvidia-smi present): the normal CUDA build of torch from PyPI.
# Idempotent: a second run only checks that everything imports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv"
  "$py" -m venv "$venv"
fi
vpy="$venv/bin/python"
stamp="$venv/.trdetr_cap_installed"
want="$(cat setup.py requirements.txt | sha1sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$vpy" -c "import torch, trdetr_cap" 2>/dev/null; then
  exit 0
fi
log="$venv/setup.log"
# pip's output goes to a log (it is long and full of index warnings); shown only when a step fails.
pipq() { "$vpy" -m pip install -q "$@" >>"$log" 2>&1 || { tail -n 40 "$log" >&2; echo "[setup] pip install $* failed (log: $log)" >&2; exit 1; }; }
pipq --upgrade pip
if ! "$vpy" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    echo "[setup] NVIDIA GPU found: installing the CUDA build of torch"
    pipq "torch>=2.2"
  else
    echo "[setup] no GPU: installing CPU torch 2.13.0"
    pipq "torch==2.13.0"
  fi
fi
echo "[setup] installing trdetr_cap and its requirements"
pipq -e ".[dev]"
echo "$want" > "$stamp"
echo "[setup] ready: $venv"
