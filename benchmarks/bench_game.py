"""Benchmark Algorithm 2: the vectorised solver, the plain-loop version, and rounds against N.

Run from the repository root:

    .venv/bin/python benchmarks/bench_game.py [--output FILE]

Every instance uses the parameter file ``data/params/paper.toml`` (M = 15
channels, nine edge servers), the "system" update rule, and a partitioned
workload whose segmentation rate is ``--delta`` for every service (1.0 by
default: an offloader sends its whole tail to the cloud). The script
prints four Markdown tables:

1. ``solve_game`` at N = 100, 1,000 and 10,000 (seed 0): wall time, rounds
   and time per round;
2. ``solve_game_loop`` at N = 100 and 1,000 on the same instances, with the
   speed-up of the vectorised solver (both return the same profile);
3. experiment E5: rounds T against N = 10 ... 3,000 over several seeds, to
   test the claim that T is a constant;
4. a profile of ``solve_game`` at N = 1,000: where the time goes.

Wall times are the minimum of ``--repeat`` runs for N <= 1,000 and one run
above that.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mpdob.game import solve_game
from mpdob.game_loop import solve_game_loop
from mpdob.params import load_params
from mpdob.scenario import generate_scenario
from mpdob.system import make_workload

SOLVER_SIZES = (100, 1_000, 10_000)
LOOP_SIZES = (100, 1_000)
E5_SIZES = (10, 30, 100, 300, 1_000, 3_000)
PROFILE_SIZE = 1_000
# Functions of mpdob.game whose cumulative time the profile reports.
PROFILED = (
    ("best_responses", "best responses of all services, O(N M)"),
    ("_system_gains", "pricing each request's system-wide gain, O(K n_off)"),
    ("evaluate", "system QoS recorded after each update"),
    ("_both_potentials", "eq. (32) as printed and corrected, recorded after each update"),
)


def workload_for(n_services: int, seed: int, delta: float):
    """Return the benchmark workload of ``n_services`` services drawn from ``seed``."""
    scenario = generate_scenario(load_params(), n_services, seed)
    return make_workload(scenario, delta)


def timed(function, repeat: int):
    """Return the last call's result and the minimum wall and CPU times over ``repeat`` calls.

    The CPU time is this process's (``time.process_time``), which other
    processes on a shared machine disturb less than the wall time.
    """
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        result = function()
        wall = min(wall, time.perf_counter() - wall_start)
        cpu = min(cpu, time.process_time() - cpu_start)
    return result, wall, cpu


def markdown_table(header: list[str], rows: list[list[str]], text_columns=(0,)) -> str:
    """Return a Markdown table; ``text_columns`` are left-aligned, the rest right-aligned."""
    align = [":---" if k in text_columns else "---:" for k in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def bench_solver(sizes, delta: float, repeat: int, loop_sizes) -> tuple[str, str]:
    """Time the vectorised solver and, where asked, the loop version."""
    solver_rows, loop_rows = [], []
    for n in sizes:
        workload = workload_for(n, 0, delta)
        runs = repeat if n <= 1_000 else 1
        game, seconds, cpu = timed(lambda w=workload: solve_game(w), runs)
        per_round = seconds / max(game.rounds, 1)
        solver_rows.append(
            [
                f"{n:,}",
                str(game.rounds),
                str(game.n_offloading),
                f"{seconds:.3f}",
                f"{cpu:.3f}",
                f"{per_round * 1e3:.3f}",
            ]
        )
        print(f"solve_game N={n}: {game.rounds} rounds, {seconds:.3f} s", file=sys.stderr)
        if n in loop_sizes:
            loop, loop_seconds, loop_cpu = timed(lambda w=workload: solve_game_loop(w), 1)
            same = np.array_equal(loop.channel, game.channel) and loop.rounds == game.rounds
            loop_rows.append(
                [
                    f"{n:,}",
                    str(loop.rounds),
                    f"{seconds:.3f}",
                    f"{loop_seconds:.3f}",
                    f"{loop_seconds / seconds:.1f}",
                    f"{loop_cpu / cpu:.1f}",
                    "yes" if same else "NO",
                ]
            )
            print(f"solve_game_loop N={n}: {loop_seconds:.3f} s", file=sys.stderr)
    solver = markdown_table(
        ["N", "rounds", "offloaders", "wall time (s)", "CPU time (s)", "wall time per round (ms)"],
        solver_rows,
    )
    loop = markdown_table(
        [
            "N",
            "rounds",
            "solve_game (s)",
            "solve_game_loop (s)",
            "speed-up (wall)",
            "speed-up (CPU)",
            "same profile and rounds",
        ],
        loop_rows,
    )
    return solver, loop


def bench_rounds(sizes, seeds: int, delta: float) -> str:
    """Experiment E5: rounds to equilibrium against N, over ``seeds`` seeds."""
    rows = []
    for n in sizes:
        rounds, offloaders = [], []
        for seed in range(seeds):
            game = solve_game(workload_for(n, seed, delta))
            rounds.append(game.rounds)
            offloaders.append(game.n_offloading)
        rounds = np.asarray(rounds)
        rows.append(
            [
                f"{n:,}",
                f"{rounds.mean():.1f}",
                str(rounds.min()),
                str(rounds.max()),
                f"{np.mean(offloaders):.1f}",
                f"{rounds.mean() / n:.3f}",
            ]
        )
        print(f"E5 N={n}: mean {rounds.mean():.1f} rounds", file=sys.stderr)
    return markdown_table(["N", "mean T", "min T", "max T", "mean offloaders", "mean T / N"], rows)


def profile_solver(n: int, delta: float) -> str:
    """Profile one solve_game run and report the cumulative time of its main steps."""
    workload = workload_for(n, 0, delta)
    profiler = cProfile.Profile()
    profiler.enable()
    solve_game(workload)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    total = max(entry[3] for (path, _, name), entry in stats.items() if name == "solve_game")
    rows = [["solve_game (total, under the profiler)", f"{total:.3f}", "100%", ""]]
    for function, meaning in PROFILED:
        seconds = sum(
            entry[3]
            for (path, _, name), entry in stats.items()
            if name == function and path.endswith(("game.py", "system.py"))
        )
        rows.append([function, f"{seconds:.3f}", f"{100 * seconds / total:.0f}%", meaning])
    header = ["step", "cumulative time (s)", "share", "what it does"]
    return markdown_table(header, rows, text_columns=(0, 3))


def machine_line() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="also write the Markdown tables to this file")
    parser.add_argument(
        "--delta",
        type=float,
        default=1.0,
        help="segmentation rate of every service, in [0, 1] (default: 1.0)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per timing for N <= 1,000 (default: 3)"
    )
    parser.add_argument(
        "--e5-seeds", type=int, default=5, help="seeds per N in experiment E5 (default: 5)"
    )
    parser.add_argument(
        "--skip-large",
        action="store_true",
        help="leave out N = 10,000 (about a minute on a 2-core machine)",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.delta <= 1.0:
        parser.error(f"--delta must lie in [0, 1], got {args.delta}")
    if args.repeat < 1:
        parser.error(f"--repeat must be an integer >= 1, got {args.repeat}")
    if args.e5_seeds < 1:
        parser.error(f"--e5-seeds must be an integer >= 1, got {args.e5_seeds}")

    sizes = tuple(n for n in SOLVER_SIZES if not (args.skip_large and n > 1_000))
    solver, loop = bench_solver(sizes, args.delta, args.repeat, LOOP_SIZES)
    rounds = bench_rounds(E5_SIZES, args.e5_seeds, args.delta)
    profile = profile_solver(PROFILE_SIZE, args.delta)

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "benchmarks/bench_game.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n\n".join(
        [
            f"Measured {stamp} on {machine_line()}.",
            f'Command: `{command.strip()}`; delta = {args.delta:g}, update rule "system", '
            "M = 15, nine edge servers.",
            "### solve_game, seed 0\n\n" + solver,
            "### solve_game_loop against solve_game, seed 0\n\n" + loop,
            f"### E5: rounds T against N, seeds 0-{args.e5_seeds - 1}\n\n" + rounds,
            f"### Profile of solve_game at N = {PROFILE_SIZE:,}, seed 0\n\n" + profile,
        ]
    )
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
