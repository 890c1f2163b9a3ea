"""scripts/captions.sh: the InternVL2 captioner's own environment is created (once, reused after) and can run the
backend's code: the transformers range, the modules InternVL2's remote code imports, and this package's CLI.

Generation itself needs the 16 GB weights and a GPU, so it is not run here. The environment is the real one
(``.venv-captioner/`` at the repository root, or ``$CAPTIONER_VENV``): the first run installs it (torch + torchvision,
several GB, from the local wheel cache where there is one), later runs only check it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "captions.sh"

pytestmark = pytest.mark.slow


def captions_sh(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_usage_and_backends_outside_its_scope():
    usage = captions_sh()
    assert usage.returncode == 2 and "bash scripts/captions.sh VIDEOS... --out captions.jsonl" in usage.stderr
    other = captions_sh("--cap_backend", "transformers", "v.mp4", "--out", "c.jsonl")
    assert other.returncode == 2 and "runs in the project's own environment" in other.stderr


def test_internvl2_environment_is_created_once_and_runs_the_backend_code(tmp_path):
    first = captions_sh("--setup-only")
    assert first.returncode == 0, first.stdout + first.stderr
    venv = Path(os.environ.get("CAPTIONER_VENV", REPO_ROOT / ".venv-captioner"))
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import transformers, trdetr_cap.captions.backends as b; b.check_internvl2_environment(); "
         "from trdetr_cap.cli import build_parser; "
         "a = build_parser().parse_args(['captions', 'generate', 'v.mp4', '--out', 'c.jsonl']); "
         "print(transformers.__version__, b.InternVL2RemoteBackend.__name__)"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert probe.returncode == 0, probe.stderr
    version, name = probe.stdout.split()
    major, minor, patch = (int(x) for x in re.findall(r"\d+", version)[:3])
    assert (major, minor, patch) >= (4, 37, 2) and (major, minor) <= (4, 49) and name == "InternVL2RemoteBackend"
    # this package inside it is the working tree (editable), not a copy
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import trdetr_cap; print(trdetr_cap.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert Path(where.stdout.strip()).parent == REPO_ROOT / "trdetr_cap"
    assert (venv / "freeze.txt").read_text().count("transformers==") == 1
    again = captions_sh("--setup-only")
    assert again.returncode == 0 and "installing" not in again.stdout + again.stderr  # reused as it is
