"""Helpers shared by the bench scripts (run as ``python bench/<name>.py``, so this directory is on sys.path)."""

from __future__ import annotations

from pathlib import Path


def loadavg() -> str:
    """The machine's /proc/loadavg line, printed beside every timing (or "n/a" where there is none)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"
