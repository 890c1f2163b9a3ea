"""Reading back what a saved matplotlib png shows: the axes boxes (from their black spines) and colours at data
coordinates, so plot tests check where things are drawn, not only that a file exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (153, 153, 153)  # matplotlib colour "0.6"
C0, C1 = (31, 119, 180), (255, 127, 14)  # tab10 blue, orange


def load_rgb(path: str | Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def tint(rgb: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    """``rgb`` drawn with ``alpha`` over white."""
    return tuple(round(alpha * c + (1 - alpha) * 255) for c in rgb)


def _runs(indices: np.ndarray) -> list[int]:
    """Centres of runs of consecutive indices (a spine is 1-2 pixels wide)."""
    groups = np.split(indices, np.where(np.diff(indices) > 1)[0] + 1) if len(indices) else []
    return [int(g.mean().round()) for g in groups]


def axes_boxes(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) pixel box of each axes, left to right, from the long dark lines of the spines."""
    dark = image.sum(-1) < 150
    cols = _runs(np.where(dark.sum(0) >= 0.6 * dark.sum(0).max())[0])
    rows = _runs(np.where(dark.sum(1) >= 0.6 * dark.sum(1).max())[0])
    assert len(cols) % 2 == 0 and len(rows) == 2, (cols, rows)
    top, bottom = rows
    return [(cols[i], top, cols[i + 1], bottom) for i in range(0, len(cols), 2)]


class Axes:
    """Data -> pixel mapping of one axes box, given its x range and (optionally) y range."""

    def __init__(self, box: tuple[int, int, int, int], xlim: tuple[float, float],
                 ylim: tuple[float, float] = (0.0, 1.0)):
        self.left, self.top, self.right, self.bottom = box
        self.xlim, self.ylim = xlim, ylim

    def col(self, x: float) -> int:
        return round(self.left + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (self.right - self.left))

    def row(self, y: float) -> int:
        return round(self.bottom - (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (self.bottom - self.top))


def near(pixel: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return bool(np.abs(pixel - np.asarray(rgb)).max() <= tol)


def bar_height(image: np.ndarray, axes: Axes, x: float) -> int:
    """Pixels of the (greyish, darker than any tint) saliency bar in the column of ``x``, above the bottom spine."""
    column = image[axes.top + 2:axes.bottom - 1, axes.col(x)]
    return int((column.sum(-1) < 550).sum())


def black_pixels(image: np.ndarray, axes: Axes, x: float) -> int:
    """Near-black pixels inside the axes box in the column of ``x`` (a ground-truth band is black; spines excluded)."""
    column = image[axes.top + 2:axes.bottom - 1, axes.col(x)]
    return int((column.sum(-1) < 100).sum())


def colour_rows(image: np.ndarray, box: tuple[int, int, int, int], x0: float, x1: float,
                rgb: tuple[int, int, int], tol: int = 30) -> np.ndarray:
    """Rows of the pixels of colour ``rgb`` in the columns between fractions ``x0`` and ``x1`` of ``box``'s width."""
    left, top, right, bottom = box
    c0, c1 = round(left + x0 * (right - left)), round(left + x1 * (right - left))
    patch = image[top + 2:bottom - 1, c0:c1]
    rows, _ = np.nonzero(np.abs(patch - np.asarray(rgb)).max(-1) <= tol)
    return rows + top + 2
