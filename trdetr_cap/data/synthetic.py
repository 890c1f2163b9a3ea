"""A small, seeded, learnable QVHighlights-format dataset: ``python -m trdetr_cap.data.synthetic --out DIR``.

Generative model (all vectors drawn once per dataset from ``seed``; D = 512 text/CLIP, 2304 SlowFast):

* K concepts (nouns such as "dog", "guitar"). Concept k has a text direction t_k (unit, text space), an image
  direction i_k = normalise(0.6 t_k + 0.8 r_k) (CLIP-like: partly aligned with the text) and a motion direction
  m_k (unit, SlowFast space). Every other word has its own random unit text vector.
* A video of L clips (2 s each, L uniform in [min_clips, max_clips], duration = 2 L s) is a sequence of segments of
  3..12 clips; each segment shows one of the video's 3-4 concepts or nothing (background). A clip's intensity u
  (0.5..1) is a bump peaking mid-segment.
* Video features: clip row = b_v + a_v u i_k + n, SlowFast row = b_sf + a_sf u m_k + n', where b_* is a per-video
  appearance vector (norm 1) and n, n' isotropic Gaussian noise of norm ~1: the concept is a small component of
  each row (a_v = 0.5, a_sf = 0.05 by default), so the answer is in the video, but noisily.
* Captions: each clip's caption names its concept ("a clip showing a dog ...") or a background phrase; with
  probability ``caption_error`` a concept clip's caption names a wrong concept. Caption features (D = 512, the text
  space) = the named concept's t_k (or the background vector) + noise of norm ``caption_noise``: a cleaner signal
  than the video's, but sometimes wrong, and blind to the intensity u.
* A query asks for one of its video's concepts ("someone shows the dog"). Token features (the CLIP
  ``last_hidden_state`` layout, one row per token incl. start/end) = word vector + 0.3 t_k (context) + noise.
  Relevant clips = every clip of that concept's segments; windows = their maximal runs, in seconds;
  saliency_scores: three annotators, each round(1 + 3 (u - 0.5) / 0.5 + N(0, 0.6)) clipped to 0..4.
* Videos are split between train and val (no video in both), ``queries_per_video`` queries per video.

Captions-matter benchmark (``--siblings --function_words N --query_context 0``, off by default; the default data
above is unchanged, draw for draw):

* ``siblings``: the concepts come in pairs of siblings (dog / puppy, guitar / violin, ...; ``SIBLING_CONCEPTS``).
  Both siblings of a pair share one image direction i = normalise(0.6 normalise(t_a + t_b) + 0.8 r) and one motion
  direction, so the video features cannot tell them apart; their text directions t_a, t_b stay distinct, so the
  captions (which name the clip's own concept) and the query do. Every video shows both siblings of 2 pairs, each
  in its own segments, and a query asks for one of them: a video-only model can find the pair's segments but must
  guess between the siblings; a caption-aware one can tell them apart.
* ``function_words``: each query gets that many extra function words ("the", "of", "while", ...), each with its
  own random text vector, inserted at random places; with ``query_context`` 0 the concept is carried by the single
  content word only, so a model that weighs all tokens alike dilutes it (word importance matters).
* ``caption_features_shuffled.h5`` (written in siblings mode): every video gets the caption rows of another video
  (a random derangement, repeated cyclically to its own length): captions with no information about the video,
  for the robustness row.

So a query is answered by matching its concept to the clips: through the weak video signal, or through the captions
(near-exact but with ``caption_error`` of the clips mislabelled); a caption-aware model should beat a video-only one.
The default a_v = 0.5 makes the video signal learnable by configs/synthetic.yaml in a few CPU minutes; captions
still carry the concept more directly (docs/measurements.md has the probe numbers).

Layout written under DIR (complete or not at all: built in a temp dir and renamed; a manifest.json with the
parameters lets a second call with the same ones return at once):
    train.jsonl val.jsonl  slowfast_features/{vid}.npz  clip_features/{vid}.npz  clip_text_features/qid{qid}.npz
    captions.jsonl  caption_features.h5  manifest.json
"""

from __future__ import annotations

from trdetr_cap.errors import report_bad_input, run_cli
import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trdetr_cap.data.captions import write_caption_features, write_captions_jsonl
from trdetr_cap.utils.io import atomic_write_json, atomic_write_jsonl, current_umask

FORMAT_VERSION = 1
CLIP_LEN = 2.0
TEXT_DIM, CLIP_DIM, SLOWFAST_DIM = 512, 512, 2304
CONCEPTS = ("dog", "guitar", "beach", "kitchen", "car", "snow", "crowd", "cake", "bicycle", "laptop", "horse", "fire",
            "boat", "garden", "painting", "basketball")
QUERY_TEMPLATES = ("someone shows the {c}", "a person walks toward the {c}", "the {c} appears on screen",
                   "a vlogger talks about the {c}", "we see a {c} up close")
# siblings mode: pairs (2j, 2j + 1) that look alike in the video and differ in words
SIBLING_CONCEPTS = ("dog", "puppy", "guitar", "violin", "beach", "lake", "kitchen", "bakery", "car", "truck", "snow",
                    "rain", "crowd", "audience", "cake", "pie")
FUNCTION_WORDS = ("the", "a", "of", "while", "and", "then", "there", "is", "with", "for", "at", "some", "it", "on")
CAPTION_TEMPLATES = ("a clip showing a {c}", "there is a {c} in the scene", "a {c} in view while someone talks")
BACKGROUND_CAPTIONS = ("a person talks to the camera", "an empty room", "a blurry transition")


@dataclass(frozen=True)
class SyntheticParams:
    seed: int = 2017
    n_train: int = 300  # queries
    n_val: int = 100
    queries_per_video: int = 2
    n_concepts: int = 12
    min_clips: int = 30
    max_clips: int = 75
    video_signal: float = 0.5  # a_v: concept amplitude in the CLIP rows (noise norm ~1)
    motion_signal: float = 0.05  # a_sf: concept amplitude in the SlowFast rows
    caption_noise: float = 0.5  # noise norm in caption features (signal norm 1)
    caption_error: float = 0.2  # fraction of concept clips whose caption names a wrong concept
    text_noise: float = 0.3  # noise norm in query tokens
    query_context: float = 0.3  # amplitude of the concept direction added to every query token
    siblings: bool = False  # sibling concepts the video confuses and the captions tell apart (module docstring)
    function_words: int = 0  # extra function words per query, at random places


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class _World:
    """The dataset-wide vectors: concept directions in each space and word vectors."""

    def __init__(self, p: SyntheticParams, rng: np.random.Generator):
        k = p.n_concepts
        self.text = _unit(rng.standard_normal((k, TEXT_DIM)))
        image_noise = _unit(rng.standard_normal((k, CLIP_DIM)))
        self.image = _unit(0.6 * self.text + 0.8 * image_noise)
        self.motion = _unit(rng.standard_normal((k, SLOWFAST_DIM)))
        self.background = _unit(rng.standard_normal(TEXT_DIM))
        words = sorted({w for t in QUERY_TEMPLATES for w in t.replace("{c}", "").split()} | {"<sos>", "<eos>"})
        self.words = {w: _unit(rng.standard_normal(TEXT_DIM)) for w in words}
        self.names = SIBLING_CONCEPTS if p.siblings else CONCEPTS
        if p.siblings:  # both siblings of a pair: one image and one motion direction (no extra draws)
            pair_text = _unit(self.text[0::2] + self.text[1::2])
            pair_image = _unit(0.6 * pair_text + 0.8 * image_noise[0::2])
            self.image = np.repeat(pair_image, 2, axis=0)
            self.motion = np.repeat(self.motion[0::2], 2, axis=0)
        if p.function_words:
            extra = sorted(set(FUNCTION_WORDS) - set(self.words))
            self.words.update({w: _unit(rng.standard_normal(TEXT_DIM)) for w in extra})


def _noise(rng: np.random.Generator, shape: tuple[int, ...], norm: float) -> np.ndarray:
    """Isotropic Gaussian rows of expected norm ~``norm``."""
    return rng.standard_normal(shape) * (norm / np.sqrt(shape[-1]))


def _segments(rng: np.random.Generator, n_clips: int, concepts: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-clip concept (-1 = background), intensity u in [0.5, 1], and the concepts shown (each at least once,
    in random places)."""
    lengths = []
    while sum(lengths) < n_clips:
        lengths.append(min(int(rng.integers(3, 13)), n_clips - sum(lengths)))
    shown = concepts[: len(lengths)]
    extra = [int(rng.choice(shown + [-1, -1])) for _ in range(len(lengths) - len(shown))]
    assignment = [int(c) for c in rng.permutation(np.array(shown + extra))]
    labels, intensity = np.full(n_clips, -1), np.zeros(n_clips)
    start = 0
    for length, concept in zip(lengths, assignment, strict=True):
        labels[start:start + length] = concept
        intensity[start:start + length] = 0.5 + 0.5 * np.sin(np.pi * (np.arange(length) + 0.5) / length)
        start += length
    return labels, intensity, shown


def _runs(clip_ids: list[int]) -> list[list[int]]:
    """Maximal runs of consecutive clip ids -> windows [st, ed] in seconds."""
    windows, run_start = [], clip_ids[0]
    for prev, cur in zip(clip_ids, clip_ids[1:] + [None], strict=True):
        if cur != prev + 1:
            windows.append([int(run_start * CLIP_LEN), int((prev + 1) * CLIP_LEN)])
            run_start = cur
    return windows


def _write_npz(path: Path, **arrays: np.ndarray) -> None:
    # a plain write: the whole dataset is built in a temp directory that is renamed into place when complete
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _make_video(p: SyntheticParams, w: _World, rng: np.random.Generator, index: int, out: Path,
                first_qid: int) -> tuple[list[dict], dict, np.ndarray]:
    """Write one video's features and query features; return (annotation rows, caption row, caption features)."""
    n_clips = int(rng.integers(p.min_clips, p.max_clips + 1))
    if p.siblings:  # two pairs, both siblings of each
        pairs = rng.choice(p.n_concepts // 2, size=2, replace=False)
        present = [int(2 * q + s) for q in pairs for s in (0, 1)]
    else:
        present = [int(c) for c in rng.choice(p.n_concepts, size=int(rng.integers(3, 5)), replace=False)]
    labels, u, present = _segments(rng, n_clips, present)
    vid = f"syn{index:05d}_0.0_{n_clips * CLIP_LEN:.1f}"
    on = labels >= 0
    amp = np.where(on, u, 0.0)[:, None]
    safe = np.where(on, labels, 0)
    clip = (_unit(rng.standard_normal(CLIP_DIM)) + p.video_signal * amp * w.image[safe]
            + _noise(rng, (n_clips, CLIP_DIM), 1.0))
    sf = (_unit(rng.standard_normal(SLOWFAST_DIM)) + p.motion_signal * amp * w.motion[safe]
          + _noise(rng, (n_clips, SLOWFAST_DIM), 1.0))
    _write_npz(out / "slowfast_features" / f"{vid}.npz", features=sf.astype(np.float32))
    _write_npz(out / "clip_features" / f"{vid}.npz", features=clip.astype(np.float32))

    # captions: the clip's concept, or (with probability caption_error) a wrong one; background clips get a phrase
    named = labels.copy()
    wrong = on & (rng.random(n_clips) < p.caption_error)
    shift = rng.integers(1, p.n_concepts, size=n_clips)
    named[wrong] = (labels[wrong] + shift[wrong]) % p.n_concepts
    cap_vec = np.where((named >= 0)[:, None], w.text[np.where(named >= 0, named, 0)], w.background)
    cap_feat = cap_vec + _noise(rng, (n_clips, TEXT_DIM), p.caption_noise)
    texts = [CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))].format(c=w.names[c]) if c >= 0
             else BACKGROUND_CAPTIONS[int(rng.integers(len(BACKGROUND_CAPTIONS)))] for c in named]
    caption_row = {"vid": vid, "clip_len": CLIP_LEN, "captions": texts}

    rows = []
    asked = rng.choice(present, size=min(p.queries_per_video, len(present)), replace=False)
    for j, concept in enumerate(int(c) for c in asked):
        qid = first_qid + j
        template = QUERY_TEMPLATES[int(rng.integers(len(QUERY_TEMPLATES)))]
        body = template.format(c=w.names[concept]).split()
        for _ in range(p.function_words):
            body.insert(int(rng.integers(len(body) + 1)), FUNCTION_WORDS[int(rng.integers(len(FUNCTION_WORDS)))])
        words = ["<sos>"] + body + ["<eos>"]
        vecs = np.stack([w.text[concept] if t == w.names[concept] else w.words[t] for t in words])
        tokens = vecs + p.query_context * w.text[concept] + _noise(rng, vecs.shape, p.text_noise)
        _write_npz(out / "clip_text_features" / f"qid{qid}.npz", last_hidden_state=tokens.astype(np.float32),
                   pooler_output=tokens[-1].astype(np.float32))
        clip_ids = [int(i) for i in np.flatnonzero(labels == concept)]
        level = 1 + 3 * (u[clip_ids] - 0.5) / 0.5
        scores = np.clip(np.rint(level[:, None] + rng.normal(0, 0.6, (len(clip_ids), 3))), 0, 4).astype(int)
        rows.append({"qid": qid, "query": " ".join(words[1:-1]), "duration": int(n_clips * CLIP_LEN), "vid": vid,
                     "relevant_windows": _runs(clip_ids), "relevant_clip_ids": clip_ids,
                     "saliency_scores": scores.tolist()})
    return rows, caption_row, cap_feat.astype(np.float32)


def _build(p: SyntheticParams, out: Path) -> None:
    """Write the whole dataset into ``out`` (an empty directory)."""
    if p.n_concepts > len(CONCEPTS) or p.n_concepts < 4:
        raise ValueError(f"n_concepts must be in 4..{len(CONCEPTS)}, got {p.n_concepts}")
    if p.siblings and p.n_concepts % 2:
        raise ValueError(f"siblings mode needs an even n_concepts (pairs), got {p.n_concepts}")
    if p.function_words < 0:
        raise ValueError(f"function_words must be >= 0, got {p.function_words}")
    if not 3 <= p.min_clips <= p.max_clips:
        raise ValueError(f"need 3 <= min_clips <= max_clips, got {p.min_clips}, {p.max_clips}")
    rng = np.random.default_rng(p.seed)
    world = _World(p, rng)
    for sub in ("slowfast_features", "clip_features", "clip_text_features"):
        (out / sub).mkdir(parents=True)
    splits: dict[str, list[dict]] = {"train": [], "val": []}
    caption_rows, caption_feats = [], {}
    qid, index = 0, 0
    for split, n_queries in (("train", p.n_train), ("val", p.n_val)):
        while len(splits[split]) < n_queries:
            rows, cap_row, cap_feat = _make_video(p, world, rng, index, out, qid)
            rows = rows[: n_queries - len(splits[split])]
            splits[split].extend(rows)
            caption_rows.append(cap_row)
            caption_feats[cap_row["vid"]] = cap_feat
            qid += len(rows)
            index += 1
    for split, rows in splits.items():
        atomic_write_jsonl(out / f"{split}.jsonl", rows)
    write_captions_jsonl(out / "captions.jsonl", caption_rows)
    write_caption_features(out / "caption_features.h5", caption_feats, encoder="synthetic", clip_len=CLIP_LEN,
                           dtype="float32")
    if p.siblings:
        write_caption_features(out / "caption_features_shuffled.h5", _shuffled(caption_feats, p.seed),
                               encoder="synthetic-shuffled", clip_len=CLIP_LEN, dtype="float32")
    atomic_write_json(out / "manifest.json", _manifest(p, {k: len(v) for k, v in splits.items()}, index))


def _shuffled(features: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Each video gets another video's caption rows (a derangement), repeated cyclically to its own length."""
    vids = sorted(features)
    rng = np.random.default_rng([seed, 1])  # its own stream: the dataset's draws are untouched
    order = rng.permutation(len(vids))
    donor = {vids[order[i]]: vids[order[(i + 1) % len(vids)]] for i in range(len(vids))}
    return {vid: np.resize(features[donor[vid]], features[vid].shape) for vid in vids}


def _manifest(p: SyntheticParams, counts: dict[str, int] | None = None, n_videos: int | None = None) -> dict:
    return {"generator": "trdetr_cap.data.synthetic", "format_version": FORMAT_VERSION,
            "params": dataclasses.asdict(p), "queries": counts, "videos": n_videos}


def _is_complete(out: Path, p: SyntheticParams) -> bool:
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("format_version") == FORMAT_VERSION and manifest.get("params") == dataclasses.asdict(p)


def generate(out: str | Path, params: SyntheticParams | None = None, force: bool = False) -> Path:
    """Make sure ``out`` holds the synthetic dataset for ``params``; returns ``out``.

    Skips all work when ``out/manifest.json`` records the same parameters. A directory that exists without a
    synthetic manifest is never overwritten (ValueError).
    """
    p, out = params or SyntheticParams(), Path(out)
    if not force and _is_complete(out, p):
        return out
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ValueError(f"{out} exists and is not a synthetic dataset directory (no manifest.json); not overwriting")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp's 0700 would keep the dataset from everyone else
    try:
        _build(p, tmp)
        if not force and _is_complete(out, p):  # another process finished the same dataset meanwhile
            return out
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            try:
                os.replace(tmp, out)
            except OSError:  # lost a race to a concurrent generator: fine if it wrote the same parameters
                if not _is_complete(out, p):
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def synthetic_overrides(root: str | Path) -> dict:
    """Flat config overrides (``load_config(overrides=...)``) that point the data section at a generated dataset."""
    root = Path(root)
    return {"dataset": "qvhighlights", "train_path": str(root / "train.jsonl"), "eval_path": str(root / "val.jsonl"),
            "v_feat_dirs": [str(root / "slowfast_features"), str(root / "clip_features")],
            "t_feat_dir": str(root / "clip_text_features"), "cap_feat_path": str(root / "caption_features.h5"),
            "clip_len": CLIP_LEN}


if __name__ == "__main__":
    from trdetr_cap.commands.synth import main

    raise SystemExit(main())
