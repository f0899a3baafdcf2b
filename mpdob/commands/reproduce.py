"""The ``mpdob reproduce`` subcommand: execute the figure notebooks.

``mpdob reproduce [FIGURE ...] [-p NAME VALUE ...] [--force] [--jobs N]
[--quick] [--output-dir DIR]`` runs the notebooks of the chosen figures (all
when none is named) through :func:`mpdob.reproduce.run_figures`. Progress goes
to standard error. Standard output gets, per figure, its outcome, the path of
the executed notebook and the paths of its CSV and PNG files. Exit status is 0
on success, 1 when a notebook fails and 2 when a figure number, a parameter
name or value, or an option is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mpdob import reproduce

__all__ = ["parse_value", "register", "run"]

_PROG = "mpdob reproduce"
_EXIT_FAILED = 1
_EXIT_INVALID_INPUT = 2


class _InvalidInput(Exception):
    """A figure number, an option or a parameter value is invalid."""


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
        # argparse expands % in help text, so a literal % in the path is doubled.
        help=(
            "directory of the executed notebooks figN.ipynb "
            f"(default: {reproduce.DEFAULT_OUTPUT_DIR})"
        ).replace("%", "%%"),
    )
    parser.set_defaults(func=run)
    return parser


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _is_integer(value: Any) -> bool:
    # JSON true and false parse to bool, which is a subclass of int.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_parameters(parameters: dict[str, Any]) -> None:
    """Reject parameter values that would only fail inside the notebook's kernel."""
    if "n_runs" in parameters:
        value = parameters["n_runs"]
        if not (_is_integer(value) and value >= 1):
            raise _InvalidInput(f"-p n_runs must be an integer >= 1, got {value!r}")
    if "seed" in parameters:
        value = parameters["seed"]
        if not (_is_integer(value) and value >= 0):
            raise _InvalidInput(f"-p seed must be an integer >= 0, got {value!r}")
    for name in ("output_dir", "params_file"):
        if name in parameters and not isinstance(parameters[name], str):
            raise _InvalidInput(f"-p {name} must be a path (a string), got {parameters[name]!r}")


def _check_options(args: argparse.Namespace, available: dict[int, Path]) -> None:
    unknown = [figure for figure in args.figures if figure not in available]
    if unknown:
        listed = ", ".join(str(figure) for figure in available) or "none"
        raise _InvalidInput(
            f"no notebook for figure(s) {', '.join(map(str, unknown))}. Available figures: {listed}"
        )
    if args.jobs is not None and args.jobs < 1:
        raise _InvalidInput(f"--jobs must be an integer >= 1, got {args.jobs}")


def _results_dir(parameters: dict[str, Any]) -> Path:
    """Return the directory where the notebooks write figN.csv and figN.png.

    A relative ``output_dir`` is taken relative to the current directory, as
    :func:`mpdob.reproduce.run_figures` does, and an empty one means the default.
    """
    output_dir = parameters.get("output_dir")
    if output_dir:
        return Path(output_dir).resolve()
    return reproduce.RESULTS_DIR


def _print_runs(runs: list[reproduce.FigureRun], results_dir: Path) -> None:
    for figure_run in runs:
        if figure_run.cached:
            outcome = "cached"
        else:
            outcome = f"executed in {figure_run.seconds:.1f} s"
        figure = figure_run.figure
        print(f"figure {figure}: {outcome}")
        print(f"  executed notebook: {figure_run.executed}")
        print(
            f"  data and image: {results_dir / f'fig{figure}.csv'}, "
            f"{results_dir / f'fig{figure}.png'}"
        )
    executed = any(not figure_run.cached for figure_run in runs)
    if executed and results_dir == reproduce.RESULTS_DIR:
        print(
            f"The executed figures replaced the book's copies of figN.csv and figN.png in "
            f"{results_dir}. To write a variant elsewhere, pass -p output_dir DIR."
        )


def run(args: argparse.Namespace) -> int:
    """Execute the chosen figure notebooks and return the exit status."""
    parameters = {name: parse_value(value) for name, value in args.parameters}
    try:
        _check_options(args, reproduce.discover_figures())
        _check_parameters(parameters)
    except _InvalidInput as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return _EXIT_INVALID_INPUT

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
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return _EXIT_INVALID_INPUT
    except reproduce.FigureExecutionError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return _EXIT_FAILED

    _print_runs(runs, _results_dir(parameters))
    return 0
