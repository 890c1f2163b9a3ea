"""Progress of long loops: a tqdm bar on a terminal, a plain line at intervals anywhere else.

A tqdm bar whose stream is a file (``train.sh > train.log 2>&1``, CI) writes one carriage-return frame per refresh,
so a single log line ends up holding hundreds of frames. Off a terminal, ``progress`` prints instead one ordinary
line per interval and one closing line, e.g.::

    train epoch 3: 120/450 batch (27%), 31 s elapsed, 3.9 batch/s, eta 1 min 25 s
    train epoch 3: done, 450 batch in 1 min 56 s (3.9 batch/s)

The interval is ``TRDETR_CAP_PROGRESS`` (``30s`` by default; ``10%`` prints at every tenth of the loop instead,
``off`` prints nothing). With a time interval, a loop that ends before its first interval prints nothing at all, so
short loops (an epoch of a small run) add no lines to the log.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

T = TypeVar("T")

ENV_VAR = "TRDETR_CAP_PROGRESS"
DEFAULT_INTERVAL = "30s"


def parse_interval(spec: str) -> tuple[float | None, float | None]:
    """``"30s"`` or ``"30"`` -> (30.0, None) seconds; ``"10%"`` -> (None, 10.0) percent; ``"off"`` -> (None, None)."""
    text = spec.strip().lower()
    if text in ("off", "0", "none", ""):
        return None, None
    try:
        if text.endswith("%"):
            value = float(text[:-1])
            if not 0 < value <= 100:
                raise ValueError
            return None, value
        value = float(text[:-1] if text.endswith("s") else text)
        if value <= 0:
            raise ValueError
        return value, None
    except ValueError:
        raise ValueError(f"{ENV_VAR}={spec!r}: expected seconds (30s), a percentage (10%) or off") from None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def progress(
    iterable: Iterable[T],
    desc: str = "",
    total: int | None = None,
    unit: str = "it",
    *,
    disable: bool = False,
    leave: bool = False,
    interval: str | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterable[T]:
    """``iterable`` wrapped for progress: tqdm when ``stream`` (default stderr) is a terminal, else periodic lines.

    ``total`` defaults to ``len(iterable)`` when it has one. ``interval`` overrides ``TRDETR_CAP_PROGRESS``.
    ``clock`` is for tests.
    """
    if disable:
        return iterable
    stream = stream if stream is not None else sys.stderr
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, dynamic_ncols=True, file=stream)
    every_s, every_pct = parse_interval(interval if interval is not None else os.environ.get(ENV_VAR,
                                                                                           DEFAULT_INTERVAL))
    if every_pct is not None and not total:
        every_s, every_pct = parse_interval(DEFAULT_INTERVAL)  # a percentage of an unknown total: fall back
    if every_s is None and every_pct is None:
        return iterable
    return _lines(iterable, desc, total, unit, every_s, every_pct, stream, clock)


def _lines(iterable: Iterable[T], desc: str, total: int | None, unit: str, every_s: float | None,
           every_pct: float | None, stream: TextIO, clock: Callable[[], float]) -> Iterator[T]:
    prefix = f"{desc}: " if desc else ""
    start = last = clock()
    next_pct = every_pct
    n = printed = 0
    for item in iterable:
        yield item
        n += 1
        if total is not None and n >= total:
            continue  # the closing line reports the end
        now = clock()
        if not (100.0 * n / total >= next_pct if every_pct is not None else now - last >= every_s):
            continue
        elapsed = now - start
        rate = n / elapsed if elapsed > 0 else float("inf")
        if total is not None:
            eta = (total - n) / rate if rate > 0 else float("inf")
            line = (f"{prefix}{n}/{total} {unit} ({100.0 * n / total:.0f}%), {_duration(elapsed)} elapsed, "
                    f"{rate:.3g} {unit}/s, eta {_duration(eta)}")
        else:
            line = f"{prefix}{n} {unit}, {_duration(elapsed)} elapsed, {rate:.3g} {unit}/s"
        print(line, file=stream, flush=True)
        printed += 1
        last = now
        if every_pct is not None:
            while next_pct <= 100.0 * n / total:
                next_pct += every_pct
    if printed:
        elapsed = clock() - start
        rate = f" ({n / elapsed:.3g} {unit}/s)" if elapsed > 0 else ""
        print(f"{prefix}done, {n} {unit} in {_duration(elapsed)}{rate}", file=stream, flush=True)
