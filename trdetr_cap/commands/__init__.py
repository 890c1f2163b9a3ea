"""The subcommands of ``trdetr-cap``, one module each: ``add_arguments(parser)``, ``run(args) -> int`` and
``main(argv)`` (the older ``python -m trdetr_cap.<x>`` entry points call it). Thin: parse, call the library, print.
Heavy libraries (torch, transformers) are imported inside ``run`` so that parsing and its errors stay fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from trdetr_cap.errors import run_cli


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (``prog: error: ... (see prog --help)``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def parse_with_passthrough(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv`` up to a ``--``; what follows it becomes ``args.train_flags`` for a command that takes flags
    through (its parser sets a ``train_flags`` default), and is an error for any other."""
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    if cut < len(argv):
        if not hasattr(args, "train_flags"):
            parser.error(f"unexpected arguments after --: {' '.join(argv[cut + 1:])}")
        args.train_flags = argv[cut + 1:]
    return args


def command_main(prog: str, doc: str | None, add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int], argv: list[str] | None) -> int:
    """A command as its own program (``python -m trdetr_cap.<x>``): parse ``argv`` and run it."""
    parser = OneLineErrorParser(prog=prog, description=(doc or "").split("\n\n")[0])
    add_arguments(parser)
    return run_cli(lambda args: run(parse_with_passthrough(parser, args)), argv)
