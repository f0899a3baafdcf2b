"""The ``mpdob train`` subcommand: train the delta and load-balance MLPs and store them.

``mpdob train [--seed S] [--params FILE] [--set NAME=VALUE ...] [--output DIR] [--json]``
trains both models of :mod:`mpdob.learn` on freshly drawn slots, writes the
bundle where :func:`mpdob.learn.get_models` looks for it and prints the
held-out metrics. Exit status is 0 on success and 2 when an option or the
parameter file is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from mpdob.commands._params_options import add_params_options, params_from_args
from mpdob.learn import (
    DEFAULT_BALANCE_SCENARIOS,
    DEFAULT_CACHE_DIR,
    DEFAULT_DELTA_SCENARIOS,
    DEFAULT_TEST_SCENARIOS,
    bundle_path,
    bundle_summary,
    save_bundle,
    train_models,
)
from mpdob.params import ParameterError

__all__ = ["register", "run", "main"]

_PROG = "mpdob train"
_EXIT_INVALID_INPUT = 2
# Plain text for the terminal: argparse prints it as-is, so no reST markup.
_DESCRIPTION = (
    "Train the segmentation-rate (delta) and load-balance MLPs on freshly drawn "
    "slots, store the bundle (by default where MP-DOB looks for it) and print the "
    "held-out metrics. Exit status is 0 on success and 2 when an option or the parameter "
    "file is invalid."
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the training run, >= 0 (default: 0)",
    )
    add_params_options(parser)
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help=f"directory for the model bundle (default: {DEFAULT_CACHE_DIR})",
    )
    parser.add_argument(
        "--delta-scenarios",
        type=int,
        default=DEFAULT_DELTA_SCENARIOS,
        metavar="K",
        help=f"training slots of the delta regressor, >= 1 (default: {DEFAULT_DELTA_SCENARIOS})",
    )
    parser.add_argument(
        "--balance-scenarios",
        type=int,
        default=DEFAULT_BALANCE_SCENARIOS,
        metavar="K",
        help=f"training slots of the load balancer, >= 1 (default: {DEFAULT_BALANCE_SCENARIOS})",
    )
    parser.add_argument(
        "--test-scenarios",
        type=int,
        default=DEFAULT_TEST_SCENARIOS,
        metavar="K",
        help=f"held-out slots per assignment, >= 1 (default: {DEFAULT_TEST_SCENARIOS})",
    )
    parser.add_argument("--json", action="store_true", help="print the metadata as one JSON object")


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand to an argparse subparsers object and return it."""
    parser = subparsers.add_parser(
        "train",
        help="train the segmentation-rate and load-balance MLPs and store them",
        description=_DESCRIPTION,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _format_report(summary: dict, path: Path, seconds: float) -> str:
    metrics = summary["metrics"]
    delta = metrics["delta"]
    lines = [
        f"stored {path}",
        f"seed {summary['seed']}, latency reading {summary['latency_reading']}, "
        f"trained and measured in {seconds:.1f} s "
        f"(fit: delta {summary['seconds_fit_delta']:.1f} s, "
        f"load balance {summary['seconds_fit_balance']:.1f} s)",
        f"converged: delta {summary['converged']['delta']}, "
        f"load balance {summary['converged']['balance']}",
        f"delta regressor on {delta['n_services']} held-out services: R^2 = {delta['r2']:.4f}",
        "  mean QoS lost per service against the exact delta "
        f"(relative to total |Q|): learned {delta['qos_loss_learned']:.5f} "
        f"({delta['qos_loss_learned_relative']:.2%}), "
        f"always 0 {delta['qos_loss_zero']:.5f} ({delta['qos_loss_zero_relative']:.2%}), "
        f"always 1 {delta['qos_loss_one']:.5f} ({delta['qos_loss_one_relative']:.2%})",
    ]
    labels = {"": "MLP", "_refined": "MLP + local search", "_search_only": "local search only"}
    for kind in ("uniform", "hotspot"):
        first = metrics[f"balance_{kind}"]
        lines.append(
            f"load balancer, {kind} assignment, {first['n_slots']} held-out slots "
            f"({first['n_no_gain']} with no optimal gain), share of the optimal gain captured:"
        )
        for suffix, label in labels.items():
            lb = metrics[f"balance_{kind}{suffix}"]
            lines.append(
                f"  {label}: mean {lb['share_captured_mean']:.3f}, "
                f"median {lb['share_captured_median']:.3f}, "
                f"aggregate {lb['share_aggregate']:.3f}, "
                f"lowers QoS in {lb['fraction_lowered']:.1%} of slots"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Train, store and report, then return the exit status: 0, or 2 on invalid input."""
    try:
        if args.seed < 0:
            raise ParameterError(f"--seed must be an integer >= 0, got {args.seed}")
        for option in ("delta_scenarios", "balance_scenarios", "test_scenarios"):
            value = getattr(args, option)
            if value < 1:
                flag = "--" + option.replace("_", "-")
                raise ParameterError(f"{flag} must be an integer >= 1, got {value}")
        params = params_from_args(args)
    except (ParameterError, FileNotFoundError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return _EXIT_INVALID_INPUT

    start = time.perf_counter()
    bundle = train_models(
        params,
        seed=args.seed,
        n_delta_scenarios=args.delta_scenarios,
        n_balance_scenarios=args.balance_scenarios,
        n_test_scenarios=args.test_scenarios,
    )
    seconds = time.perf_counter() - start
    path = save_bundle(bundle, bundle_path(params, args.seed, args.output))
    summary = bundle_summary(bundle)
    if args.json:
        print(json.dumps({"path": str(path), "seconds": seconds, **summary}, indent=2))
    else:
        print(_format_report(summary, path, seconds))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand as a standalone program (``python -m mpdob.commands.train``)."""
    parser = argparse.ArgumentParser(prog=_PROG, description=_DESCRIPTION)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
