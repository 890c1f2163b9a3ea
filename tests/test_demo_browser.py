"""The web demo in a real browser: the server as a user starts it, Debian's headless Chromium driven by Playwright.

Uploads a generated mp4, submits a query, waits for the moments table and the saliency plot, screenshots the page
(kept as an artefact: $TRDETR_TEST_ARTIFACTS, default runs/test_artifacts/demo.png), clicks a moment and checks that
the player moved there, then uploads a file that is not a video and checks the one-line message (and that the
server logged no traceback). Needs `apt-get install chromium` and `pip install -e ".[demo]" playwright`; skipped
with the reason otherwise. No browser is downloaded: Playwright drives /usr/bin/chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from tiny_models import save_tiny_run

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUERY = "a red square crosses the frame"

pytestmark = pytest.mark.slow


def write_moving_video(path: Path, seconds: float, fps: int = 15, size: tuple[int, int] = (192, 112)) -> Path:
    """A browser-playable H.264 mp4 (yuv420p, default quality): a red square moving left to right on a gradient."""
    import av

    w, h = size
    n = int(seconds * fps)
    background = np.broadcast_to(np.linspace(40, 200, w, dtype=np.uint8)[None, :, None], (h, w, 3)).copy()
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = background.copy()
            x = int((w - 24) * i / max(1, n - 1))
            img[h // 2 - 12:h // 2 + 12, x:x + 24] = (220, 30, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, tiny_clip_dir):
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} missing (Debian: apt-get install -y chromium)")
    pytest.importorskip("gradio", reason="the demo extra is not installed (pip install -e '.[demo]')")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    ckpt = save_tiny_run(tmp_path / "run")  # random weights, no metrics: the page must say it is untrained
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trdetr_cap.demo", str(ckpt), "--clip_model", str(tiny_clip_dir),
                                 "--port", str(port), "--device", "cpu"], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the demo server exited ({proc.returncode}):\n{log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo server did not answer in 180 s:\n{log.read_text()}")
                time.sleep(0.5)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_upload_query_table_plot_seek_and_bad_video(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, log = server
    video = write_moving_video(tmp_path / "square.mp4", 12.0)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    shot = tmp_path / "demo.png"
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(tmp_path / "profile", executable_path=str(CHROMIUM),
                                                       headless=True, args=CHROMIUM_FLAGS,
                                                       viewport={"width": 1280, "height": 1000})
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)  # the first query encodes the video on one shared CPU thread
            expect.set_options(timeout=120_000)
            page.goto(url)
            expect(page.get_by_text("untrained", exact=False).first).to_be_visible()
            page.locator("#trdetr-player input[type=file]").set_input_files(str(video))
            expect(page.locator("#trdetr-player video")).to_have_count(1)
            page.locator("#trdetr-queries textarea").fill(QUERY)
            page.locator("#trdetr-submit").click()
            rows = page.locator("#trdetr-moments").get_by_role("row").filter(has_text=QUERY)
            expect(rows.first).to_be_visible()
            expect(page.locator("#trdetr-plot img")).to_be_visible()
            expect(page.locator("#trdetr-status")).to_contain_text("12.0 s of video in 6 clips")
            page.wait_for_function("() => { const i = document.querySelector('#trdetr-plot img');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            page.screenshot(path=str(shot), full_page=True)

            # a moment that does not start at 0, so the seek is visible
            starts = [float(rows.nth(i).get_by_role("gridcell").nth(2).inner_text()) for i in range(rows.count())]
            row = next((i for i, s in enumerate(starts) if s > 0), None)
            assert len(starts) == 5 and row is not None, starts
            rows.nth(row).get_by_role("gridcell").nth(2).click()
            page.wait_for_function(f"() => Math.abs(document.querySelector('#trdetr-player video').currentTime"
                                   f" - {starts[row]}) < 1.0")

            page.locator("#trdetr-player button[aria-label='Clear']").first.click()
            page.locator("#trdetr-player input[type=file]").set_input_files(str(bad))
            page.locator("#trdetr-submit").click()
            expect(page.locator("#trdetr-status")).to_contain_text("Cannot read this video")
        finally:
            browser.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    artefacts = Path(os.environ.get("TRDETR_TEST_ARTIFACTS", REPO_ROOT / "runs" / "test_artifacts"))
    artefacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, artefacts / "demo.png")
    assert "Traceback" not in log.read_text()
