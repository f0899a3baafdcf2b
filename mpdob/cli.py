"""The ``mpdob`` command line: one subcommand per module in ``mpdob.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["build_parser", "main"]

# Subcommand modules; each defines register(subparsers) and sets func=run.
SUBCOMMANDS = ("layers", "run", "train", "reproduce")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mpdob",
        description="Reproduce MP-DOB: CNN partitioning, the offloading game, "
        "learned load balance, and the paper's figures.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"mpdob.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
