"""Atomic file writes and jsonl reading. Every output file of the project goes through these (temp file + rename)."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it races with other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())  # no dots: the name parses back unambiguously


def _temp_prefix(name: str) -> str:
    # host and pid in the name: a later write can tell a dead writer's leftover from a live writer's file
    return f".{name}.{_HOST}.{os.getpid()}."


def _temp_pattern(name: str | None, suffix: str | None) -> re.Pattern:
    """Temp names this module makes: ``.NAME.HOST.PID.XXXXXXXX[SUFFIX].tmp`` (and ``.NAME.XXXXXXXX[SUFFIX].tmp``, the
    pid-less form of earlier versions). ``None`` matches any name / suffix."""
    n = re.escape(name) if name is not None else r"[^/]+?"
    sfx = re.escape(suffix) if suffix is not None else r"(?:\.[A-Za-z0-9]+)?"
    return re.compile(rf"\.{n}\.(?:(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.)?[A-Za-z0-9_]{{8}}{sfx}\.tmp")


def _writer_alive(host: str | None, pid: str | None) -> bool:
    if host is None:  # pid-less leftover of an earlier version: nothing can still be writing it
        return False
    if host != _HOST:  # another machine's writer on a shared disk: leave it alone
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(directory: str | Path, name: str | None = None, suffix: str | None = None) -> list[Path]:
    """Delete the temp files a killed writer left in ``directory`` (only this module's temp-name pattern, only from
    dead processes of this host); returns what was removed. ``name`` restricts it to one target file's temps."""
    directory = Path(directory)
    pattern = _temp_pattern(name, suffix)
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _writer_alive(m["host"], m["pid"]):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temp path in the target's directory; on success rename it over ``path``, on error delete it.

    The file gets the mode the umask gives a new file (0666 & ~umask), not mkstemp's 0600: others on a shared disk
    can read runs and features. Leftover temps of a killed earlier write of the same file are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name, suffix)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, writer: Callable[[BinaryIO], None]) -> None:
    """Call ``writer(fileobj)`` on a temp file, fsync, then rename over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def iter_jsonl_objects(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for every non-blank line of a jsonl file.

    A line that is not JSON, or not a JSON object, raises ``error`` naming the file and the line.
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise error(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def read_jsonl(path: str | Path) -> list[dict]:
    """All objects of a jsonl file; a bad line raises ValueError naming the file and 1-based line number."""
    return [row for _, row in iter_jsonl_objects(path)]
