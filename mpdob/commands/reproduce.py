"""The ``mpdob reproduce`` subcommand: execute the figure notebooks.

``mpdob reproduce [FIGURE ...] [-p NAME VALUE ...] [--force] [--jobs N]
[--quick] [--output-dir DIR]`` runs the notebooks of the chosen figures (all
when none is named) through :func:`mpdob.reproduce.run_figures`. Progress goes
to standard error and one summary line per figure to standard output. Exit
status is 0 on success, 1 when a notebook fails and 2 when a figure number,
a parameter name or an option is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mpdob import reproduce

__all__ = ["parse_value", "register", "run"]

_EXIT_FAILED = 1
_EXIT_INVALID_INPUT = 2


def parse_value(text: str) -> Any:
    """Parse a ``-p`` value as JSON, or keep it as a string when it is not JSON.

    >>> parse_value("5"), parse_value("[10, 20]"), parse_value("data/alt.toml")
    (5, [10, 20], 'data/alt.toml')
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``reproduce`` subcommand to the ``mpdob`` parser."""
    parser = subparsers.add_parser(
        "reproduce",
        help="execute the figure notebooks (Figures 3-9) with papermill",
        description=(
            "Execute the figure notebooks with papermill, in parallel, and skip a "
            "figure whose notebook, package sources, parameter file, lock file and "
            "parameters are unchanged since its last successful run."
        ),
    )
    parser.add_argument(
        "figures",
        metavar="FIGURE",
        type=int,
        nargs="*",
        help="figure numbers to run (default: every figure notebook)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help=(
            "set a notebook parameter for every chosen figure. VALUE is read as JSON "
            "when possible (5, '[10, 20]', '{\"n_channels\": 5}'), else as a string. "
            "Repeat the option for several parameters."
        ),
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="execute even the figures whose cached results are up to date",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="number of notebooks executed at once (default: the number of CPU cores)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="use the quick profile (few runs, short service list) under the -p values",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=reproduce.DEFAULT_OUTPUT_DIR,
        metavar="DIR",
        help="directory of the executed notebooks figN.ipynb (default: book/figures)",
    )
    parser.set_defaults(func=run)
    return parser


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Execute the chosen figure notebooks and return the exit status."""
    available = reproduce.discover_figures()
    unknown = [figure for figure in args.figures if figure not in available]
    if unknown:
        listed = ", ".join(str(figure) for figure in available) or "none"
        print(
            f"mpdob reproduce: no notebook for figure(s) {', '.join(map(str, unknown))}. "
            f"Available figures: {listed}",
            file=sys.stderr,
        )
        return _EXIT_INVALID_INPUT
    if args.jobs is not None and args.jobs < 1:
        print(f"mpdob reproduce: --jobs must be >= 1, but received {args.jobs}", file=sys.stderr)
        return _EXIT_INVALID_INPUT

    parameters = {name: parse_value(value) for name, value in args.parameters}
    try:
        runs = reproduce.run_figures(
            figures=args.figures or None,
            parameters=parameters,
            jobs=args.jobs,
            force=args.force,
            output_dir=args.output_dir,
            profile="quick" if args.quick else "full",
            progress=_print_progress,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"mpdob reproduce: {error}", file=sys.stderr)
        return _EXIT_INVALID_INPUT
    except reproduce.FigureExecutionError as error:
        print(f"mpdob reproduce: {error}", file=sys.stderr)
        return _EXIT_FAILED

    for figure_run in runs:
        if figure_run.cached:
            outcome = "cached"
        else:
            outcome = f"executed in {figure_run.seconds:.1f} s"
        print(f"figure {figure_run.figure}: {outcome} -> {figure_run.executed}")
    return 0
