"""Bad input gets one line and a non-zero exit; bugs keep their traceback.

Library code raises :class:`UserError` (or a subclass) for bad user input, with a one-line message naming the file,
the line and the field. Every command's ``main`` runs through :func:`run_cli`, which prints such an error (and the
other exceptions that mean bad input: a missing or unreadable path, malformed YAML, a truncated archive, Ctrl-C) as
one ``error: ...`` line on stderr and returns a non-zero exit status. ``--debug`` anywhere on the command line (it is
removed before parsing) or ``TRDETR_CAP_DEBUG=1`` re-raises instead, so the full traceback is printed.

Exit status: 2 bad input, 130 interrupted (Ctrl-C), anything else is the command's own (1: some items failed).
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from collections.abc import Callable

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
DEBUG_FLAG = "--debug"
DEBUG_ENV = "TRDETR_CAP_DEBUG"


class UserError(ValueError):
    """Bad user input (a file, a line, a field, a flag value). The message is one line.

    A ``ValueError`` so that callers catching ``ValueError`` (and the DataLoader, which re-raises a worker's exception
    by type) keep working.
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C with a hint on how to continue (e.g. ``--resume RUN_DIR`` for training)."""

    def __init__(self, hint: str = ""):
        super().__init__(hint)
        self.hint = hint


def model_load_error(name: str, what: str, exc: BaseException) -> UserError:
    """A ``from_pretrained(name)`` that failed, as one line: a mistyped local path, or a hub name that cannot be
    fetched (offline, or no such model), rather than transformers' paragraph about internet connections."""
    from pathlib import Path

    if Path(name).exists():
        return UserError(f"{what} {name}: cannot load it ({type(exc).__name__}: {one_line(exc)[:300]})")
    return UserError(f"{what} {name}: no such local directory, and not a model the hub cache or the hub provides "
                     "(offline? mistyped?)")


def _bad_input_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean the input (not the code) is wrong. Imported lazily: yaml/h5py are optional here."""
    types: list[type[BaseException]] = [UserError, ValueError, OSError, EOFError, zipfile.BadZipFile,
                                        UnicodeDecodeError]
    try:
        import yaml

        types.append(yaml.YAMLError)
    except ImportError:  # pragma: no cover - yaml is a core dependency
        pass
    return tuple(types)


def one_line(exc: BaseException) -> str:
    """The exception as one line. A DataLoader worker's re-raised error carries the worker's traceback in its
    message ("Caught X in DataLoader worker process 0. Original Traceback ..."): its last line is the error."""
    msg = str(exc).strip()
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror}"
    if "Original Traceback" in msg:
        last = msg.splitlines()[-1].strip()  # "pkg.module.SomeError: the message"
        m = re.match(r"[\w.]+: (.*)", last)
        msg = m[1] if m else last
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1:  # e.g. yaml's "while parsing ... in FILE, line 3, column 1 / expected ..." blocks
        return " ".join(lines)
    return lines[0]


_debug_run = False  # True while run_cli runs a command given --debug


def debug_enabled(argv: list[str] | None = None) -> bool:
    """``TRDETR_CAP_DEBUG=1``, ``--debug`` in ``argv``, or inside a :func:`run_cli` call that was given ``--debug``."""
    return (_debug_run or os.environ.get(DEBUG_ENV, "") not in ("", "0")
            or (argv is not None and DEBUG_FLAG in argv))


def report_bad_input(exc: BaseException) -> int:
    """For a command's own ``except``: print ``exc`` as one ``error:`` line and return the bad-input status, or
    re-raise it under ``--debug`` / ``TRDETR_CAP_DEBUG=1``."""
    if debug_enabled():
        raise exc
    print(f"error: {one_line(exc)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def yaml_error(path: str | os.PathLike, exc: Exception) -> UserError:
    """A yaml parse error as one line naming the file, line and column (yaml's own names ``<unicode string>``)."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return UserError(f"{path}{where}: malformed YAML ({problem})")


def run_cli(fn: Callable[[list[str]], int], argv: list[str] | None = None, *, interrupt_hint: str = "") -> int:
    """Run ``fn(argv)`` (a command's body: parse, work, print, return the exit status) with the error contract.

    ``argv`` defaults to ``sys.argv[1:]``; ``--debug`` is taken out of it before ``fn`` sees it.
    """
    global _debug_run
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled(argv)
    argv = [a for a in argv if a != DEBUG_FLAG]
    before, _debug_run = _debug_run, debug
    try:
        return fn(argv)
    except KeyboardInterrupt as e:
        if debug:
            raise
        hint = getattr(e, "hint", "") or interrupt_hint
        print(f"interrupted{'; ' + hint if hint else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _bad_input_types() as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        _debug_run = before
