"""Pack a released feature directory into one HDF5 file (one dataset per vid / qid; atomic and resumable). The
layout is detected from the file names (override with --dataset / --role)."""

from __future__ import annotations

import argparse
import sys

from trdetr_cap.commands import command_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from trdetr_cap.data.pack import ROLES

    parser.add_argument("src", help="feature directory in the released layout")
    parser.add_argument("--out", required=True, help="output .h5 file")
    parser.add_argument("--dataset", choices=("qvhighlights", "charades", "tvsum"), default=None,
                        help="default: detected from the file names")
    parser.add_argument("--role", choices=ROLES, default=None, help="default: detected from the file names")
    parser.add_argument("--store_dtype", choices=("float16", "float32"), default="float16",
                        help="stored precision; float32 keeps the original's numbers bit-exact (default: float16)")
    parser.add_argument("--compression", choices=("none", "gzip", "lzf"), default="none", help="(default: none)")


def run(args: argparse.Namespace) -> int:
    from trdetr_cap.data.features import FeatureError
    from trdetr_cap.data.pack import pack_directory

    if not args.out.endswith(".h5"):
        print("error: --out must end in .h5 (that is how the dataset recognises a packed store)", file=sys.stderr)
        return 2
    try:
        out = pack_directory(args.src, args.out, args.dataset, args.role, args.store_dtype,
                             None if args.compression == "none" else args.compression)
    except (FeatureError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"packed {args.src} -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command_main("python -m trdetr_cap.data.pack", __doc__, add_arguments, run, argv)
