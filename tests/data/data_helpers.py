"""Helpers of the data tests: the tiny synthetic parameters and hand-made feature directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trdetr_cap.data.synthetic import SyntheticParams

# video_signal pinned: the caption-vs-video test below holds for weak video (the generator default may be stronger)
TINY = SyntheticParams(seed=7, n_train=12, n_val=4, min_clips=12, max_clips=20, video_signal=0.1)


def write_npz_dataset(root: Path, videos: dict[str, dict[str, np.ndarray]], texts: dict[int, np.ndarray],
                      rows: list[dict]) -> dict:
    """Write a QVHighlights-layout dataset: videos = {vid: {set_name: (L, D)}}, texts = {qid: (Lq, D)}.

    Returns config overrides pointing at it (video sets in sorted set-name order)."""
    set_names = sorted({s for feats in videos.values() for s in feats})
    for vid, feats in videos.items():
        for name, arr in feats.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            np.savez(root / name / f"{vid}.npz", features=arr)
    (root / "text").mkdir(parents=True, exist_ok=True)
    for qid, arr in texts.items():
        np.savez(root / "text" / f"qid{qid}.npz", last_hidden_state=arr, pooler_output=arr[0])
    (root / "anno.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"dataset": "qvhighlights", "train_path": str(root / "anno.jsonl"), "eval_path": str(root / "anno.jsonl"),
            "v_feat_dirs": [str(root / s) for s in set_names], "t_feat_dir": str(root / "text")}
