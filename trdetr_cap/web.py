"""The web demo (Gradio, ``pip install -e ".[demo]"``): a video and text queries in, moments and highlights out.

:func:`run_queries` is the page's work without any web part (tested directly): encode the video once through
``MomentRetriever`` (cached across queries and submissions; long videos in its sliding windows), predict each query,
draw each query's saliency plot. :func:`build_demo` lays out the page around it: the video player, the queries, the
top moments as a table whose rows seek the player (and show that query's plot), the plot, the captions per clip or a
note why there are none, and notes on the model (untrained / synthetic). An unreadable video is a one-line message
on the page, never a traceback on the page or in the log.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trdetr_cap.video.decode import VideoDecodeError

MOMENT_COLUMNS = ["query", "rank", "start (s)", "end (s)", "score"]
CAPTION_COLUMNS = ["start (s)", "end (s)", "caption"]
# seeks the player to the number it is given (the start of the clicked moment) and starts playing
SEEK_JS = """(t) => {
  const v = document.querySelector('#trdetr-player video');
  if (v && t !== null && t >= 0) { v.currentTime = t; v.play().catch(() => {}); }
  return t;
}"""


@dataclass
class DemoResult:
    """What one submission shows: the moments table rows, one plot per query, the captions, a status line."""

    rows: list[list[Any]] = field(default_factory=list)
    plots: dict[str, str] = field(default_factory=dict)  # query -> png path
    captions: list[list[Any]] = field(default_factory=list)
    status: str = ""

    @property
    def first_plot(self) -> str | None:
        return next(iter(self.plots.values()), None)


def parse_queries(text: str) -> list[str]:
    """One query per non-empty line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def model_notes(retriever, trained_on_synthetic: bool, has_metrics: bool) -> list[str]:
    """What a user must know before trusting the page's numbers."""
    notes = []
    if trained_on_synthetic:
        notes.append("This model was trained on the built-in **synthetic** features, not on real videos: it is "
                     "effectively untrained here, the page works but its moments and saliency mean nothing.")
    elif not has_metrics:
        notes.append("No validation metrics were found with this model: it may be **untrained** (random weights), "
                     "in which case its moments mean nothing.")
    if not retriever.uses_captions:
        notes.append("This model does not use captions.")
    elif retriever.caption_backend is None:
        notes.append("This model reads captions, but no captioner was given (`--caption_model`): its caption rows "
                     "are masked out, expect weaker results.")
    return notes


def caption_rows(captions: list[str] | None, stride: float) -> list[list[Any]]:
    """[[start_s, end_s, caption], ...], one row per caption (one every ``stride`` seconds)."""
    return [[round(i * stride, 2), round((i + 1) * stride, 2), text] for i, text in enumerate(captions or [])]


def run_queries(retriever, video: str | Path | None, queries_text: str, top_k: int = 5,
                plot_dir: str | Path | None = None,
                progress: Callable[[float, str], None] | None = None) -> DemoResult:
    """Encode ``video`` (once: cached by the retriever), predict every query, draw one plot per query."""
    from trdetr_cap.plots import plot_result

    report = progress or (lambda _fraction, _desc: None)
    queries = parse_queries(queries_text)
    if not video:
        return DemoResult(status="Upload a video (or pick an example) first.")
    if not queries:
        return DemoResult(status="Type a query (one per line).")
    report(0.0, "decoding and encoding the video (once per video; queries after it are fast)")
    try:
        encoded = retriever.encode_video(video)
    except VideoDecodeError as e:
        return DemoResult(status=f"Cannot read this video: {str(e).split(': ', 1)[-1]}")
    plot_dir = Path(plot_dir or tempfile.mkdtemp(prefix="trdetr_cap_demo_"))
    result = DemoResult()
    for i, query in enumerate(queries):
        report(0.5 + 0.5 * i / len(queries), f"query {i + 1}/{len(queries)}")
        pred = retriever.predict(query, video, top_k=top_k)
        for rank, (st, ed, score) in enumerate(pred["moments"], 1):
            result.rows.append([query, rank, round(st, 2), round(ed, 2), round(score, 4)])
        with tempfile.NamedTemporaryFile(dir=plot_dir, prefix="plot_", suffix=".png", delete=False) as f:
            result.plots[query] = str(plot_result(pred, f.name))
    result.captions = caption_rows(encoded["captions"], retriever.cfg.captioner.cap_stride)
    n_clips = len(encoded["video_sets"][0])
    result.status = (f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'}, {encoded['duration']:.1f} s of video "
                     f"in {n_clips} clips of {retriever.cfg.data.clip_len:g} s"
                     + (f" (longer than {retriever.cfg.data.max_v_l} clips: sliding windows)"
                        if n_clips > retriever.cfg.data.max_v_l else "")
                     + ". Click a moment to play it.")
    return result


def prune_files(folder: Path, max_age_s: float) -> None:
    """Delete the files in ``folder`` older than ``max_age_s`` seconds (a long-running server's old plots)."""
    import time

    cutoff = time.time() - max_age_s
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def example_videos(folder: str | Path | None) -> list[str]:
    """The video files of ``folder`` (sorted), for the page's examples."""
    if not folder:
        return []
    from trdetr_cap.video.decode import list_videos

    if not Path(folder).is_dir():
        raise FileNotFoundError(f"--examples {folder}: no such directory")
    return [str(p) for p in list_videos([folder])]


def build_demo(retriever, title: str = "trdetr_cap", notes: list[str] | None = None, examples: list[str] | None = None,
               top_k: int = 5):
    """The Gradio Blocks page around ``retriever`` (a ``MomentRetriever``)."""
    import gradio as gr

    plot_dir = Path(tempfile.mkdtemp(prefix="trdetr_cap_demo_"))

    def submit(video, queries_text, k, state, progress=gr.Progress()):  # noqa: B008 - gradio's injection idiom
        prune_files(plot_dir, max_age_s=3600)  # gradio serves its own copies; ours only need to outlive one request
        res = run_queries(retriever, video, queries_text, int(k), plot_dir,
                          lambda fraction, desc: progress(fraction, desc=desc))
        caption_note = ("" if res.captions or not res.rows else
                        "No captions: " + ("this model does not use them." if not retriever.uses_captions else
                                           "no captioner was given (`--caption_model`)."))
        return (res.rows, res.first_plot, res.captions, caption_note, f"**{res.status}**", res.plots)

    def select(plots, evt: gr.SelectData):  # annotations evaluated (no __future__ import): gradio reads this one
        row = evt.row_value if evt.row_value else None
        if not row:
            return -1.0, gr.update()
        return float(row[2]), plots.get(row[0], gr.update())

    with gr.Blocks(title=f"{title} demo") as demo:
        gr.Markdown(f"## {title}: moment retrieval and highlight detection\nUpload a video, type one or more queries "
                    "(one per line), press **Find moments**. Click a row of the table to play that moment.")
        for note in notes or []:
            gr.Markdown(f"> {note}")
        plots = gr.State({})
        with gr.Row():
            with gr.Column(scale=1):
                video = gr.Video(label="video", sources=["upload"], elem_id="trdetr-player")
                if examples:
                    gr.Examples(examples=[[p] for p in examples], inputs=[video], label="examples")
                queries = gr.Textbox(label="queries (one per line)", lines=3, elem_id="trdetr-queries",
                                     placeholder="a man opens the fridge")
                k = gr.Slider(1, 20, value=top_k, step=1, label="moments per query")
                button = gr.Button("Find moments", variant="primary", elem_id="trdetr-submit")
            with gr.Column(scale=1):
                status = gr.Markdown(elem_id="trdetr-status")
                table = gr.Dataframe(headers=MOMENT_COLUMNS, label="top moments (click to play)", interactive=False,
                                     elem_id="trdetr-moments")
        with gr.Row():
            plot = gr.Image(label="saliency per clip and the top windows", type="filepath", interactive=False,
                            elem_id="trdetr-plot", scale=2)
            with gr.Column(scale=1):
                caption_table = gr.Dataframe(headers=CAPTION_COLUMNS, label="captions per clip", interactive=False,
                                             elem_id="trdetr-captions", wrap=True, visible=retriever.uses_captions)
                caption_note = gr.Markdown()
        seek = gr.Number(value=-1, visible=False)
        button.click(submit, [video, queries, k, plots], [table, plot, caption_table, caption_note, status, plots])
        table.select(select, [plots], [seek, plot])
        seek.change(None, [seek], [seek], js=SEEK_JS)
    return demo


def launch(demo, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve ``demo`` until interrupted (bound to ``host``; 127.0.0.1 keeps it on this machine)."""
    demo.queue().launch(server_name=host, server_port=port, show_error=False, inbrowser=False)
