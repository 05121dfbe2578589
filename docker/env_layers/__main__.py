"""`python FOLDER/env_layers COMMAND` (or `python -m env_layers COMMAND`): the
commands the package's docstring lists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # the folder run as a script: import the rest as the package it is (PEP 366)
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    __package__ = "env_layers"

from . import __doc__ as overview
from . import places
from .cache import prefetch
from .check import check
from .install import install, install_dev
from .layers import LAYER_COUNT, split


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="env_layers", description=(overview or "").split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    split_command = commands.add_parser("split", help="the lock's entries by layer into OUT_DIR/1.txt ..")
    split_command.add_argument("lock", type=Path)
    split_command.add_argument("out_dir", type=Path)
    split_command.add_argument("how", choices=("split", "single"))
    commands.add_parser("prefetch", help="every wheel of the lock, hash-checked").add_argument("lock", type=Path)
    layer = commands.add_parser("install", help=f"install layer N (1-{LAYER_COUNT}) into the venv")
    layer.add_argument("number", type=int, choices=range(1, LAYER_COUNT + 1), metavar="N")
    commands.add_parser("install-dev", help="a dev lock on top of the runtime").add_argument("lock", type=Path)
    commands.add_parser("check", help="pip check of the venv, judged by the build's rule")
    return top


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as error:  # argparse has printed the usage and what was wrong (or the help)
        return int(error.code or 0)
    if args.command == "split":
        split(args.lock, args.out_dir, single=args.how == "single")
    elif args.command == "prefetch":
        prefetch(args.lock)
    elif args.command == "install":
        install(
            places.LAYERS_DIR / f"{args.number}.txt",
            places.WHEEL_RECORDS / f"{args.number}.txt",
            f"layer {args.number}",
        )
    elif args.command == "install-dev":
        install_dev(args.lock)
    else:
        check()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
