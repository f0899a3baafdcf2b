"""The ``--params`` and ``--set`` options of the subcommands that load parameters."""

from __future__ import annotations

import argparse

from mpdob.params import DEFAULT_PARAMS_PATH, Params, load_params, parse_override

__all__ = ["add_params_options", "params_from_args"]


def add_params_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--params FILE`` and the repeatable ``--set NAME=VALUE`` to ``parser``."""
    parser.add_argument(
        "--params",
        default=None,
        metavar="FILE",
        # argparse expands % in help text, so a literal % in the path is doubled.
        help=f"parameter file in TOML (default: {DEFAULT_PARAMS_PATH})".replace("%", "%%"),
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="overrides",
        help="override one parameter, in the unit of the parameter file (repeatable)",
    )


def params_from_args(args: argparse.Namespace) -> Params:
    """Load the parameter file of ``args.params`` with the ``--set`` overrides applied.

    Raises
    ------
    mpdob.params.ParameterError
        If an override or a parameter is invalid.
    FileNotFoundError
        If the parameter file does not exist.
    """
    overrides = dict(parse_override(text) for text in args.overrides)
    return load_params(args.params, overrides)
