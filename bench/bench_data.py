"""Data-loading speed: per-sample npz reads (the original: np.load every sample, every epoch) vs the packed, preloaded
store, on the same synthetic data in the same run.

    OMP_NUM_THREADS=1 python bench/bench_data.py [--data data/synthetic] [--epochs 3] [--bsz 32]

Each path runs in its own child process (so each peak RSS is its own), ``--repeats`` times interleaved (best
reported): build the dataset, run one untimed warm-up epoch, then time ``--epochs`` shuffled epochs through a
DataLoader (num_workers 0, the CPU default) with the real collate.
Prints batches/s per path (steady state, and including the one-time preload), the ratio, peak RSS and /proc/loadavg.
The npz files sit in the page cache after generation, so the baseline pays no disk latency: the ratio is a floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import loadavg

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_path(data: Path, packed: Path, mode: str, epochs: int, bsz: int) -> dict:
    """Time one loading path in this process: {"build_s", "batches", "loop_s", "peak_rss_mb"}."""
    import torch
    from torch.utils.data import DataLoader

    from trdetr_cap.config import load_config
    from trdetr_cap.data import build_dataset, collate
    from trdetr_cap.data.synthetic import synthetic_overrides

    torch.manual_seed(0)
    overrides = synthetic_overrides(data)
    if mode == "npz":
        overrides["preload"] = "never"
    else:
        overrides.update(preload="always", v_feat_dirs=[str(packed / "slowfast_features.h5"),
                                                        str(packed / "clip_features.h5")],
                         t_feat_dir=str(packed / "clip_text_features.h5"))
    t0 = time.perf_counter()
    dataset = build_dataset(load_config(overrides=overrides), "train")
    build_s = time.perf_counter() - t0
    loader = DataLoader(dataset, batch_size=bsz, shuffle=True, collate_fn=collate, num_workers=0)
    for _batch in loader:  # warm-up epoch, not timed (first-touch allocations; the page cache for npz)
        pass
    n_batches = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for _batch in loader:
            n_batches += 1
    loop_s = time.perf_counter() - t0
    return {"mode": mode, "build_s": build_s, "batches": n_batches, "loop_s": loop_s,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO_ROOT / "data" / "synthetic"), help="synthetic dataset directory")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--bsz", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2, help="runs per path, interleaved; the best is reported")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="packed store dtype")
    parser.add_argument("--child", choices=("npz", "packed"), help=argparse.SUPPRESS)
    parser.add_argument("--packed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_path(Path(args.data), Path(args.packed), args.child, args.epochs, args.bsz)))
        return 0

    from trdetr_cap.data.pack import pack_directory
    from trdetr_cap.data.synthetic import generate

    data = generate(args.data)
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        t0 = time.perf_counter()
        for name in ("slowfast_features", "clip_features", "clip_text_features"):
            pack_directory(data / name, Path(tmp) / f"{name}.h5", dtype=args.dtype, progress=False)
        pack_s = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {"npz": [], "packed": []}
        for _ in range(args.repeats):  # interleaved, best of N: the machine is shared, load drifts
            for mode in runs:
                cmd = [sys.executable, __file__, "--data", str(data), "--packed", tmp, "--child", mode,
                       "--epochs", str(args.epochs), "--bsz", str(args.bsz)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ)
                runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
        results = {mode: min(rs, key=lambda r: r["loop_s"]) for mode, rs in runs.items()}

    print(f"data: {data} (train split), bsz {args.bsz}, {args.epochs} epochs, num_workers 0, best of "
          f"{args.repeats}; packing ({args.dtype}) took {pack_s:.1f} s (once)")
    for mode, r in results.items():
        steady = r["batches"] / r["loop_s"]
        total = r["batches"] / (r["loop_s"] + r["build_s"])
        print(f"{mode:>6}: {steady:8.1f} batches/s steady, {total:8.1f} incl. dataset build ({r['build_s']:.2f} s), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
    npz, packed = results["npz"], results["packed"]
    ratio = (packed["batches"] / packed["loop_s"]) / (npz["batches"] / npz["loop_s"])
    ratio_total = ((packed["batches"] / (packed["loop_s"] + packed["build_s"]))
                   / (npz["batches"] / (npz["loop_s"] + npz["build_s"])))
    print(f"ratio packed/npz: {ratio:.1f}x steady, {ratio_total:.1f}x including the preload")
    print(f"loadavg: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
