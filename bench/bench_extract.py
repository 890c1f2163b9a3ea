"""Feature-extraction throughput and per-query inference latency, on a generated video.

    .venv/bin/python bench/bench_extract.py [--seconds 60] [--size 640x360] [--clip_model DIR_OR_NAME]
        [--slowfast_ckpt PATH] [--device cpu] [--threads 2] [--queries 5]

Extraction (clips/s, one clip = 2 s of video): decoding alone (one 224 crop per clip, the CLIP sampling), CLIP
extraction end to end (decode + crop + image encoder), and SlowFast (32 frames per clip) when ``--slowfast_ckpt``
is given (a random one with ``--slowfast_random``). Without ``--clip_model`` a tiny random CLIP (1 vision layer)
is built, so the number is decoding-bound; pass a real model for the real cost. Inference: seconds per query
with the video's features cached (``MomentRetriever.predict`` after the first call) against re-encoding the video for
every query (a fresh cache), on a tiny random TR-DETR checkpoint of the default QVHighlights width; the ratio is the
speed-up from caching. Timings swing with machine load: /proc/loadavg is printed beside every figure.

Results: docs/measurements.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from bench_common import loadavg

from trdetr_cap.config import Config
from trdetr_cap.engine.checkpoint import save_checkpoint
from trdetr_cap.models import build_model
from trdetr_cap.retriever import MomentRetriever
from trdetr_cap.testing import save_tiny_clip
from trdetr_cap.video.clip import ClipFeatureExtractor
from trdetr_cap.video.decode import clip_frame_times, num_clips, probe_video, sample_frames


def write_bench_video(path: Path, seconds: float, width: int, height: int) -> Path:
    """H.264 (crf 23) with moving texture, so decoding costs what a real video's does (flat frames decode for free)."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=30, options={"crf": "23", "preset": "veryfast"})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(int(seconds * 30)):
        shift = (i * 4) % width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, shift:shift + width]), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def timed(fn, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_extraction(video: Path, clip: ClipFeatureExtractor, slowfast, repeats: int) -> None:
    n = num_clips(probe_video(video).duration)
    t_decode = timed(lambda: list(sample_frames(video, clip_frame_times(n), clip.crop, "before")), repeats)
    print(f"decode + 224 crop: {n / t_decode:8.1f} clips/s   ({n} clips in {t_decode:.2f} s)   load {loadavg()}")
    t_clip = timed(lambda: clip.encode_video(video), repeats)
    print(f"CLIP extraction:   {n / t_clip:8.1f} clips/s   ({n} clips in {t_clip:.2f} s)   load {loadavg()}")
    if slowfast is not None:
        t_sf = timed(lambda: slowfast.encode_video(video), 1)
        print(f"SlowFast ({slowfast.crop_size}px): {n / t_sf:8.2f} clips/s   ({n} clips in {t_sf:.2f} s)   "
              f"load {loadavg()}")


def bench_inference(video: Path, clip_model: str, workdir: Path, device: str, n_queries: int) -> None:
    cfg = Config()
    cfg.data.v_feat_dirs = ["clip_features"]
    cfg.model.v_feat_dim = 512 + 2
    cfg.post.max_duration = None  # clamp to the video's duration
    model, _ = build_model(cfg)
    ckpt = workdir / "tiny_trdetr.ckpt"
    save_checkpoint(ckpt, model=model, optimizer=None, lr_scheduler=None, epoch=0, config=cfg.to_dict())
    retriever = MomentRetriever.from_checkpoint(ckpt, clip_model=clip_model, device=device)
    queries = [f"query number {i} about a person doing something" for i in range(n_queries)]
    retriever.predict(queries[0], video)  # warm-up; fills the cache

    start = time.perf_counter()
    for q in queries:
        retriever.predict(q, video)
    cached = (time.perf_counter() - start) / n_queries

    start = time.perf_counter()
    for q in queries:
        retriever._videos.clear()  # re-encode every time: what a tool without a cache does
        retriever.predict(q, video)
    fresh = (time.perf_counter() - start) / n_queries
    print(f"inference per query: cached {cached * 1000:.1f} ms, re-encoding {fresh * 1000:.1f} ms, "
          f"ratio {fresh / cached:.1f}x   load {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--size", default="640x360", help="generated video WxH")
    parser.add_argument("--clip_model", default="", help="default: a tiny random CLIP")
    parser.add_argument("--slowfast_ckpt", default="")
    parser.add_argument("--slowfast_random", action="store_true", help="time SlowFast with random weights")
    parser.add_argument("--slowfast_crop_size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"start: load {loadavg()}, torch threads {args.threads}, device {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        width, height = (int(v) for v in args.size.split("x"))
        video = write_bench_video(workdir / "bench.mp4", args.seconds, width, height)
        clip_model = args.clip_model or str(save_tiny_clip(workdir / "tiny_clip", image_size=224))
        clip = ClipFeatureExtractor(clip_model, args.device)
        slowfast = None
        if args.slowfast_ckpt or args.slowfast_random:
            from trdetr_cap.video.slowfast import SlowFastExtractor, SlowFastR50

            path = args.slowfast_ckpt
            if not path:
                path = workdir / "slowfast_random.pyth"
                torch.save({"model_state": SlowFastR50().state_dict()}, path)
            slowfast = SlowFastExtractor(path, args.device, batch_size=4, crop_size=args.slowfast_crop_size)
        print(f"video: {args.seconds:.0f} s, {width}x{height} at 30 fps; CLIP {clip_model}")
        bench_extraction(video, clip, slowfast, args.repeats)
        bench_inference(video, clip_model, workdir, args.device, args.queries)


if __name__ == "__main__":
    main()
