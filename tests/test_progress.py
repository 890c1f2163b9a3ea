"""Progress output: tqdm on a terminal, a bounded number of plain lines (no carriage-return frames) elsewhere."""

from __future__ import annotations

import io

import numpy as np
import pytest
from tqdm import tqdm

from trdetr_cap.utils.progress import parse_interval, progress


class FakeClock:
    """Advances ``step`` seconds per call."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_parse_interval():
    assert parse_interval("30s") == (30.0, None) and parse_interval("2.5") == (2.5, None)
    assert parse_interval("10%") == (None, 10.0) and parse_interval("off") == (None, None)
    for bad in ("-1s", "0%", "150%", "soon"):
        with pytest.raises(ValueError, match="TRDETR_CAP_PROGRESS"):
            parse_interval(bad)


def test_time_interval_lines_then_a_closing_line():
    out = io.StringIO()
    # the clock is read once at the start and once per item: item n finishes at (n + 1) seconds
    items = list(progress(range(100), "work", unit="item", interval="10s", stream=out, clock=FakeClock(1.0)))
    assert items == list(range(100))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # lines when >= 10 s passed since the last one: after items 10, 20, ..., 90 (item 100 is the end) + "done"
    assert [line.split(" ", 2)[1] for line in lines[:-1]] == [f"{n}/100" for n in range(10, 100, 10)]
    assert lines[0] == "work: 10/100 item (10%), 10 s elapsed, 1 item/s, eta 1 min 30 s"
    assert lines[-1] == "work: done, 100 item in 1 min 40 s (1 item/s)"


def test_percent_interval_and_unknown_total():
    out = io.StringIO()
    list(progress(range(50), "p", interval="25%", stream=out, clock=FakeClock(0.001)))
    assert [line.split(" ")[1] for line in out.getvalue().splitlines()] == ["13/50", "25/50", "38/50", "done,"]
    out = io.StringIO()  # no len(): a percentage cannot apply, the default time interval does
    list(progress(iter(range(200)), "gen", interval="10%", stream=out, clock=FakeClock(1.0)))
    lines = out.getvalue().splitlines()
    assert lines[0] == "gen: 30 it, 30 s elapsed, 1 it/s" and lines[-1].startswith("gen: done, 200 it in")
    assert len(lines) == 200 // 30 + 1


def test_short_loop_prints_nothing_off_prints_nothing_disable_passes_through():
    out = io.StringIO()
    assert list(progress(range(5), "quick", interval="30s", stream=out, clock=FakeClock(1.0))) == list(range(5))
    assert list(progress(range(5), "quiet", interval="off", stream=out, clock=FakeClock(100.0))) == list(range(5))
    assert out.getvalue() == ""
    data = [1, 2]
    assert progress(data, "x", disable=True) is data


def test_terminal_gets_tqdm():
    bar = progress(range(3), "bar", stream=Terminal())
    assert isinstance(bar, tqdm) and bar.total == 3
    assert list(bar) == [0, 1, 2]


def test_pack_in_process_prints_bounded_lines(tmp_path, capsys, monkeypatch):
    from trdetr_cap.commands.pack import main

    src = tmp_path / "clip_features"
    src.mkdir()
    for i in range(40):
        np.savez(src / f"v{i:02d}.npz", features=np.ones((3, 4), np.float32))
    monkeypatch.setenv("TRDETR_CAP_PROGRESS", "20%")
    assert main([str(src), "--out", str(tmp_path / "f.h5")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split(" ")[2] for line in err.splitlines()] == ["8/40", "16/40", "24/40", "32/40", "done,"]
