"""``trdetr-cap`` (also ``python -m trdetr_cap``): one command line, one subcommand per job.

Each subcommand is a module ``trdetr_cap.commands.<module>`` with ``add_arguments(parser)``, ``run(args) -> int``
and ``main(argv)`` (what the older ``python -m trdetr_cap.<x>`` entry points call). Conventions: the subject file is
positional, outputs are ``--out``, flags are snake_case with one name per config field, help text comes from the
config fields. Register a new command with one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from trdetr_cap.commands import OneLineErrorParser, parse_with_passthrough
from trdetr_cap.errors import run_cli

# name -> (module under trdetr_cap.commands, one-line summary). Commands import their heavy libraries inside run(),
# so building every parser stays cheap (a bad flag fails in well under a second).
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a model: config overlays + flags -> run directory"),
    "predict": ("predict", "run a checkpoint on an annotation split -> submission (+ metrics)"),
    "eval": ("eval", "score a submission against annotations (official metrics)"),
    "infer": ("infer", "moments and saliency for raw videos and text queries"),
    "extract": ("extract", "CLIP / SlowFast features of videos and queries"),
    "captions": ("captions", "caption videos with a multimodal LLM, merge shards, embed captions"),
    "import-checkpoint": ("import_checkpoint", "convert an original TR-DETR checkpoint"),
    "pack": ("pack", "pack a feature directory into one HDF5 file"),
    "synth": ("synth", "generate the built-in synthetic dataset"),
    "ablate": ("ablate", "train config variants over seeds and tabulate them"),
    "viz": ("viz", "plot predictions against the ground truth"),
    "export": ("export", "a checkpoint -> a shareable model folder (safetensors, config, model card)"),
    "demo": ("demo", "a web page (Gradio) to try a model on your own videos"),
}


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f"trdetr_cap.commands.{COMMANDS[name][0]}")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="trdetr-cap", description="Video moment retrieval and highlight detection: "
                                "TR-DETR with caption-guided fusion.",
                                epilog="trdetr-cap COMMAND --help shows a command's options.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)
    for name, (_, summary) in COMMANDS.items():
        module = command_module(name)
        command = sub.add_parser(name, help=summary, description=(module.__doc__ or summary).split("\n\n")[0],
                                 prog=f"trdetr-cap {name}")
        module.add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    def dispatch(argv: list[str]) -> int:
        args = parse_with_passthrough(build_parser(), argv)
        return command_module(args.command).run(args)

    return run_cli(dispatch, argv)


if __name__ == "__main__":
    sys.exit(main())
