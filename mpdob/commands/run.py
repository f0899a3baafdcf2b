"""The ``mpdob run`` subcommand: one slot of one strategy, with its outcome.

``mpdob run --services N --seed S [--strategy NAME] [--params FILE]
[--set KEY=VALUE ...] [--json]`` draws a scenario of N services from the
seed, runs the strategy on it and prints the system-wide QoS, the number of
offloading services, the offloading rate, the rounds and the wall time. The
offloading rate is the offloaded share of the tail FLOP for MP-DOB and the
share of offloading services for the whole-task baselines. One numpy
Generator, seeded by S, draws the scenario and then drives the strategy.
``--json`` prints one JSON object that contains every per-service input, so
any other decision profile can be priced again with
``mpdob.system.evaluate(Workload.from_dict(obj["workload"]), channel)``.
Exit status is 0 on success, 1 when the strategy cannot be imported and 2
when an option or a parameter is invalid.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

import numpy as np

from mpdob.commands._params_options import add_params_options, params_from_args
from mpdob.params import (
    ParameterError,
    as_generator,
)
from mpdob.scenario import generate_scenario
from mpdob.strategies import GAME_STRATEGIES, MPDOB, STRATEGIES, StrategyResult, run_strategy

__all__ = ["register", "run", "main"]

_PROG = "mpdob run"
_EXIT_INVALID_INPUT = 2
_EXIT_FAILED = 1
DEFAULT_STRATEGY = "mpdob"
# Plain text for the terminal: argparse prints it as-is, so no reST markup.
_DESCRIPTION = (
    "Draw a scenario of N services from the seed, run one strategy on it and print "
    "the system-wide QoS, the offloading services, the offloading rate, the rounds "
    "of decision updates and the wall time. Exit status is 0 on success, 1 when the "
    "strategy cannot be imported and 2 when an option or a parameter is invalid."
)


class _InvalidInput(Exception):
    """An option or parameter is invalid. The message is printed as-is."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--services",
        type=int,
        required=True,
        metavar="N",
        help="number of services N in the slot, >= 1",
    )
    parser.add_argument(
        "--seed",
        type=int,
        required=True,
        metavar="S",
        help="seed of the run's random generator, >= 0",
    )
    parser.add_argument(
        "--strategy",
        default=DEFAULT_STRATEGY,
        metavar="NAME",
        help=f"one of {', '.join(sorted(STRATEGIES))} (default: {DEFAULT_STRATEGY})",
    )
    add_params_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a summary"
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``run`` subcommand to an argparse subparsers object.

    Returns the new subparser, whose ``func`` default is :func:`run`.
    """
    parser = subparsers.add_parser(
        "run",
        help="run one strategy on one seeded slot and print its QoS",
        description=_DESCRIPTION,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _load(args: argparse.Namespace):
    """Validate the options and return the parameters."""
    if args.strategy not in STRATEGIES:
        raise _InvalidInput(
            f"unknown strategy {args.strategy!r}; accepted strategies: "
            + ", ".join(sorted(STRATEGIES))
        )
    if args.services < 1:
        raise _InvalidInput(f"--services must be an integer >= 1, got {args.services}")
    if args.seed < 0:
        raise _InvalidInput(f"--seed must be an integer >= 0, got {args.seed}")
    try:
        return params_from_args(args)
    except ParameterError as exc:
        # The message already names the invalid parameter(s), so it is not prefixed.
        raise _InvalidInput(str(exc)) from exc
    except FileNotFoundError as exc:
        raise _InvalidInput(f"{exc}; pass an existing TOML file with --params") from exc


def _json_ready(value: Any) -> Any:
    """Convert numpy values to JSON types; non-finite floats become None."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _extra_for_json(result: StrategyResult) -> dict:
    """Keep the strategy's details that are plain numbers, strings or arrays."""
    kept = {}
    for key, value in result.extra.items():
        if isinstance(value, np.ndarray | int | float | str | bool | tuple | list):
            kept[key] = value
    return kept


def _report(args, params, result: StrategyResult, wall_time_s: float) -> dict:
    report = {
        "params": params.source,
        "strategy": result.name,
        "seed": args.seed,
        "services": args.services,
        "workload": result.workload.to_dict(),
        "channel": result.channel,
        "f_cloud_flops": result.f_cloud_flops,
        "qos": result.qos,
        "system_qos": result.system_qos,
        "n_offloading": result.n_offloading,
        "offloading_rate": result.offloading_rate,
        "offloading_rate_basis": _offloading_rate_basis(result.name),
        "rounds": result.rounds,
        "wall_time_s": wall_time_s,
        "extra": _extra_for_json(result),
    }
    game = result.extra.get("game")
    if result.name in GAME_STRATEGIES and game is not None:
        report["history"] = {
            "qos": game.qos_history,
            "potential_printed": game.potential_printed_history,
            "potential_corrected": game.potential_corrected_history,
        }
    return _json_ready(report)


def _offloading_rate_basis(strategy: str) -> str:
    """Name what ``StrategyResult.offloading_rate`` is a share of for ``strategy``.

    MP-DOB and its variants split each service at the partition point, so their
    rate is the offloaded share of the tail FLOP. The whole-task baselines
    offload entire services, so theirs is the share of offloading services.
    """
    if issubclass(STRATEGIES[strategy], MPDOB):
        return "tail_flop"
    return "services"


_OFFLOADING_RATE_LABELS = {
    "tail_flop": "of the tail FLOP (the layers after the partition point) sent to the cloud",
    "services": "of the services offloaded whole to the cloud",
}


def _summary(report: dict) -> str:
    rate_label = _OFFLOADING_RATE_LABELS[report["offloading_rate_basis"]]
    return "\n".join(
        [
            f"strategy {report['strategy']}, N = {report['services']} services, "
            f"seed {report['seed']}",
            f"system-wide QoS: {report['system_qos']:.6g}",
            f"offloading services: {report['n_offloading']} of {report['services']}",
            f"offloading rate: {report['offloading_rate']:.2%} {rate_label}",
            f"rounds: {report['rounds']}",
            f"wall time of the strategy: {report['wall_time_s']:.3f} s",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Run the strategy on a seeded slot, print the outcome and return the exit status.

    Returns 0 on success. Returns 2 after printing a message on stderr when
    the strategy name, N, the seed, the parameter file or a ``--set``
    override is invalid. Returns 1 when the strategy cannot be imported,
    for example MP-DOB while ``mpdob.pipeline`` is missing.
    """
    try:
        params = _load(args)
    except _InvalidInput as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return _EXIT_INVALID_INPUT

    rng = as_generator(args.seed)
    scenario = generate_scenario(params, args.services, rng)
    start = time.perf_counter()
    try:
        result = run_strategy(args.strategy, scenario, rng)
    except ImportError as exc:
        print(f"{_PROG}: error: strategy {args.strategy!r} failed: {exc}", file=sys.stderr)
        return _EXIT_FAILED
    wall_time_s = time.perf_counter() - start

    report = _report(args, params, result, wall_time_s)
    if args.json:
        print(json.dumps(report, allow_nan=False))
    else:
        print(_summary(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand as a standalone program (``python -m mpdob.commands.run``)."""
    parser = argparse.ArgumentParser(prog=_PROG, description=_DESCRIPTION)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
