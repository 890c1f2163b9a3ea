"""The web demo's work without a browser: queries -> table rows and plots, the cache, messages, notes, the page.

Real components throughout: a tiny TR-DETR checkpoint (tests/tiny_models.py), the tiny random CLIP, a generated mp4.
The page in a real browser is tests/test_demo_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import save_tiny_run

from trdetr_cap.retriever import MomentRetriever
from trdetr_cap.testing import write_test_video
from trdetr_cap.web import model_notes, parse_queries, run_queries


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("web")
    return MomentRetriever.from_checkpoint(save_tiny_run(root), clip_model=str(tiny_clip_dir), device="cpu")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("web_video") / "walk.mp4", 9.0)


def test_queries_give_rows_and_one_plot_each(retriever, video, tmp_path):
    steps = []
    res = run_queries(retriever, video, "a person walks in\n\n  the door opens  \n", top_k=3, plot_dir=tmp_path,
                      progress=lambda fraction, desc: steps.append((fraction, desc)))
    assert [r[:2] for r in res.rows] == [["a person walks in", 1], ["a person walks in", 2], ["a person walks in", 3],
                                         ["the door opens", 1], ["the door opens", 2], ["the door opens", 3]]
    expected = retriever.predict("the door opens", video, top_k=3)["moments"]
    assert [r[2:] for r in res.rows[3:]] == [[round(s, 2), round(e, 2), round(c, 4)] for s, e, c in expected]
    assert list(res.plots) == ["a person walks in", "the door opens"]
    assert res.first_plot == res.plots["a person walks in"]
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in res.plots.values())
    assert len(set(res.plots.values())) == 2
    assert "encoding the video" in steps[0][1] and [d for _, d in steps[1:]] == ["query 1/2", "query 2/2"]
    assert "9.0 s of video in 5 clips" in res.status and res.captions == []


def test_the_video_is_encoded_once_across_submissions(retriever, video, tmp_path):
    run_queries(retriever, video, "first", plot_dir=tmp_path)
    encoded = retriever.encode_video(video)
    calls = []
    original = retriever.clip.encode_video
    retriever.clip.encode_video = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        run_queries(retriever, video, "second\nthird", plot_dir=tmp_path)
    finally:
        retriever.clip.encode_video = original
    assert calls == [] and retriever.encode_video(video) is encoded


def test_unreadable_video_and_empty_inputs_are_messages(retriever, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    res = run_queries(retriever, bad, "a query", plot_dir=tmp_path)
    assert res.rows == [] and res.plots == {}
    assert res.status.startswith("Cannot read this video: cannot open video") and "\n" not in res.status
    assert run_queries(retriever, None, "q").status.startswith("Upload a video")
    assert run_queries(retriever, bad, " \n ").status.startswith("Type a query")
    assert parse_queries("a\n\n b \n") == ["a", "b"]


def test_long_video_runs_in_sliding_windows(retriever, tmp_path):
    long_video = write_test_video(tmp_path / "long.mp4", 9.0)
    retriever.cfg.data.max_v_l = 3  # 5 clips -> windows [0, 3), [1, 4), [2, 5)
    try:
        res = run_queries(retriever, long_video, "q", top_k=20, plot_dir=tmp_path)
    finally:
        retriever.cfg.data.max_v_l = 75
    assert "sliding windows" in res.status and res.rows
    assert all(0 <= r[2] <= r[3] <= 9.0 for r in res.rows)


def test_notes_say_when_the_model_is_untrained_or_lacks_captions(retriever):
    assert "synthetic" in model_notes(retriever, trained_on_synthetic=True, has_metrics=True)[0]
    assert "untrained" in model_notes(retriever, trained_on_synthetic=False, has_metrics=False)[0]
    assert model_notes(retriever, False, True) == ["This model does not use captions."]
    retriever.uses_captions = True
    try:
        assert "no captioner was given" in model_notes(retriever, False, True)[0]
    finally:
        retriever.uses_captions = False


def test_the_page_is_built_with_its_parts(retriever, video):
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    from trdetr_cap.web import build_demo

    demo = build_demo(retriever, "tiny", ["a note"], examples=[str(video)])
    ids = {c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    assert {"trdetr-player", "trdetr-queries", "trdetr-submit", "trdetr-moments", "trdetr-plot"} <= ids


def test_demo_command_errors_are_one_line(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    from trdetr_cap.commands.demo import main

    assert main([str(tmp_path / "missing.ckpt")]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main([str(tmp_path), "--examples", str(tmp_path / "nowhere")]) == 2
    assert "--examples" in capsys.readouterr().err


def test_old_plots_are_pruned(tmp_path):
    import os
    import time

    from trdetr_cap.web import prune_files

    old, new = tmp_path / "old.png", tmp_path / "new.png"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    prune_files(tmp_path, max_age_s=3600)
    assert not old.exists() and new.exists()
