"""Exhaustive game tables and counterexample searches for Lemma 2.

Lemma 2 of Xu et al. (2023) claims that the channel-selection game of
Algorithm 2 is a potential game with the potential of their eq. (32). This
module checks that claim on small instances, where every profile can be
listed:

- :func:`enumerate_game` lists all (M + 1) ** N profiles of a workload with
  each service's QoS, both potentials, the improving unilateral moves and
  the Nash equilibria.
- :func:`find_printed_potential_counterexample` draws random small
  workloads until an improving move lowers eq. (32) as printed, whose pair
  term counts each co-channel pair twice.
- :func:`search_improvement_cycle` builds the improvement graph of random
  small workloads and looks for a cycle of strictly improving moves. With
  the cloud shared among the current offloaders, each service's threshold
  xi depends on how many others offload, so the proof's argument does not
  apply. With a fixed cloud share every graph must be acyclic.

Run ``python -m mpdob.search DIRECTORY`` to regenerate the two saved result
files under ``data/counterexamples``.
"""

from __future__ import annotations

import collections
import itertools
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpdob.game import (
    GAIN_TOLERANCE,
    UPDATE_RULES,
    CycleWarning,
    potential_corrected,
    potential_printed,
    solve_game,
)
from mpdob.lemma import xi_threshold
from mpdob.params import as_generator
from mpdob.system import Workload, cloud_share, evaluate, interference

__all__ = [
    "CYCLE_SEARCH_RANGES",
    "DEFAULT_RANGES",
    "GameTable",
    "describe_cycle",
    "enumerate_game",
    "find_cycle",
    "find_printed_potential_counterexample",
    "random_workload",
    "search_improvement_cycle",
    "search_instance",
    "write_counterexamples",
]

# Uniform sampling ranges (low, high) in SI units for random_workload, at
# the scales of the default parameters. Transmitters send 150 mW from
# 20-250 m with path-loss exponent 4 over 15 MHz channels with -100 dBm
# noise. Heads and tails are YOLO-sized (tens of GFLOP), intermediate
# tensors a few Mbit, and each edge stage gets 0.5-3 TFLOP/s of a
# 6 TFLOP/s server.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "distance_m": (20.0, 250.0),
    "path_loss_exponent": (4.0, 4.0),
    "p_watt": (0.15, 0.15),
    "psi_head_flop": (1.0e10, 2.0e10),
    "psi_tail_flop": (2.0e10, 6.0e10),
    "d_med_bit": (2.0e6, 1.0e7),
    "edge_rate_flops": (0.5e12, 3.0e12),
    "f_cloud_flops": (14.0e12, 14.0e12),
    "delta": (1.0, 1.0),
    "alpha": (0.1, 0.9),
    "epsilon_joule_per_flop": (0.8e-12, 1.2e-12),
    "zeta_joule": (0.003, 0.003),
    "bandwidth_hz": (15.0e6, 15.0e6),
    "noise_watt": (1.0e-13, 1.0e-13),
    "varpi": (0.1, 0.1),
}

# Ranges where the cloud share decides whether offloading pays. The cloud
# is only 0.5-12 times one edge stage, long tails go whole to the cloud
# (delta = 1) and the weights favour latency, so the cloud time
# delta psi_tail n / f_cloud grows steeply with the number n of offloaders.
CYCLE_SEARCH_RANGES: dict[str, tuple[float, float]] = {
    **DEFAULT_RANGES,
    "psi_tail_flop": (4.0e10, 2.0e11),
    "d_med_bit": (1.0e6, 1.0e7),
    "edge_rate_flops": (0.5e12, 2.0e12),
    "f_cloud_flops": (1.0e12, 6.0e12),
    "alpha": (0.5, 0.95),
}


def _check_ranges(ranges: dict) -> dict[str, tuple[float, float]]:
    unknown = sorted(set(ranges) - set(DEFAULT_RANGES))
    if unknown:
        raise ValueError(
            f"ranges has unknown key(s) {', '.join(unknown)}. "
            f"Known keys are {', '.join(sorted(DEFAULT_RANGES))}"
        )
    merged = {**DEFAULT_RANGES, **ranges}
    for name, pair in merged.items():
        low, high = (float(x) for x in pair)
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(f"ranges[{name!r}] must be a finite pair low <= high, got {pair!r}")
        merged[name] = (low, high)
    return merged


def random_workload(
    rng: int | np.random.Generator,
    n_services: int,
    n_channels: int,
    ranges: dict | None = None,
    cloud_sharing: str = "fixed",
    latency_reading: str = "sequential",
) -> Workload:
    """Draw a small random workload, each input uniform in its range.

    Parameters
    ----------
    rng : int or numpy.random.Generator
    n_services, n_channels : int
        N and M, at least 1.
    ranges : dict, optional
        Overrides of ``DEFAULT_RANGES``, each a pair (low, high) in SI
        units. The channel gain is ``distance_m ** -path_loss_exponent``;
        the head and tail stages of a service get the same edge rate.
    cloud_sharing, latency_reading : str
        Passed to :class:`~mpdob.system.Workload`.

    Returns
    -------
    Workload
    """
    for name, value in (("n_services", n_services), ("n_channels", n_channels)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    bounds = _check_ranges(ranges or {})
    rng = as_generator(rng)
    n = int(n_services)

    def draw(name: str, size: int | None = n) -> np.ndarray | float:
        return rng.uniform(*bounds[name], size=size)

    distance = draw("distance_m")
    exponent = draw("path_loss_exponent", None)
    alpha = draw("alpha")
    edge_rate = draw("edge_rate_flops")
    return Workload(
        psi_head_flop=draw("psi_head_flop"),
        psi_tail_flop=draw("psi_tail_flop"),
        d_med_bit=draw("d_med_bit"),
        delta=draw("delta"),
        head_rate_flops=edge_rate,
        tail_rate_flops=edge_rate,
        alpha=alpha,
        beta=1.0 - alpha,
        epsilon_edge=draw("epsilon_joule_per_flop"),
        epsilon_cloud=draw("epsilon_joule_per_flop"),
        zeta_joule=draw("zeta_joule"),
        p_watt=draw("p_watt"),
        gain=distance**-exponent,
        bandwidth_hz=draw("bandwidth_hz", None),
        noise_watt=draw("noise_watt", None),
        f_cloud_flops=draw("f_cloud_flops", None),
        n_channels=int(n_channels),
        varpi=draw("varpi", None),
        cloud_sharing=cloud_sharing,
        latency_reading=latency_reading,
    )


@dataclass(frozen=True)
class GameTable:
    """Every profile of a small game with its payoffs and improving moves.

    Profiles are numbered in base M + 1 with service 0 as the most
    significant digit, so profile ``k`` is ``profiles[k]``.

    Attributes
    ----------
    workload : Workload
    profiles : ndarray of shape (n_profiles, n_services)
        All (M + 1) ** N profiles (0 = local, m = channel m).
    qos : ndarray of shape (n_profiles, n_services)
        Q_i of eq. (19) at each profile, from :func:`mpdob.system.evaluate`.
    system_qos : ndarray of shape (n_profiles,)
        Sum of Q_i.
    potential_printed, potential_corrected : ndarray of shape (n_profiles,)
        Eq. (32) as printed and with the factor 1/2, W^2.
    move_source, move_target, move_service : ndarray of shape (n_moves,)
        Every strictly improving unilateral move: service ``move_service``
        changes its choice and the profile goes from ``move_source`` to
        ``move_target``.
    move_gain : ndarray of shape (n_moves,)
        The mover's QoS gain, above ``mpdob.game.GAIN_TOLERANCE``.
    is_nash : ndarray of shape (n_profiles,)
        True where no service has an improving move (eq. 21).
    """

    workload: Workload
    profiles: np.ndarray
    qos: np.ndarray
    system_qos: np.ndarray
    potential_printed: np.ndarray
    potential_corrected: np.ndarray
    move_source: np.ndarray
    move_target: np.ndarray
    move_service: np.ndarray
    move_gain: np.ndarray
    is_nash: np.ndarray

    @property
    def n_profiles(self) -> int:
        """Number of profiles, (M + 1) ** N."""
        return int(self.profiles.shape[0])

    def index_of(self, profile) -> int:
        """Return the row of ``profile`` in :attr:`profiles`."""
        profile = np.asarray(profile, dtype=int)
        base = self.workload.n_channels + 1
        if profile.shape != (self.workload.n_services,) or np.any(
            (profile < 0) | (profile >= base)
        ):
            raise ValueError(
                f"profile must have shape ({self.workload.n_services},) with entries "
                f"0..{base - 1}, got {profile.tolist()!r}"
            )
        return int(np.ravel_multi_index(tuple(profile), (base,) * profile.size))

    def moves_from(self, index: int) -> list[tuple[int, int, float]]:
        """Return the improving moves from profile ``index``.

        Each move is (service, new choice, mover's QoS gain).
        """
        rows = np.nonzero(self.move_source == index)[0]
        return [
            (
                int(self.move_service[k]),
                int(self.profiles[self.move_target[k], self.move_service[k]]),
                float(self.move_gain[k]),
            )
            for k in rows
        ]


def _all_profiles(n_services: int, n_channels: int) -> np.ndarray:
    choices = range(n_channels + 1)
    return np.array(list(itertools.product(choices, repeat=n_services)), dtype=np.int64)


def _improving_moves(qos_table: np.ndarray, profiles: np.ndarray, n_channels: int):
    """Return (source, target, service, gain) of every improving move."""
    n_profiles, n = profiles.shape
    base = n_channels + 1
    source_rows = np.arange(n_profiles)
    sources, targets, services, gains = [], [], [], []
    for service in range(n):
        place = base ** (n - 1 - service)
        for new in range(base):
            target = source_rows + (new - profiles[:, service]) * place
            gain = qos_table[target, service] - qos_table[source_rows, service]
            keep = (profiles[:, service] != new) & (gain > GAIN_TOLERANCE)
            sources.append(source_rows[keep])
            targets.append(target[keep])
            services.append(np.full(int(keep.sum()), service))
            gains.append(gain[keep])
    return (
        np.concatenate(sources),
        np.concatenate(targets),
        np.concatenate(services),
        np.concatenate(gains),
    )


def enumerate_game(workload: Workload, max_profiles: int = 4096) -> GameTable:
    """List every profile of a small game with payoffs, potentials and moves.

    Every Q_i comes from :func:`mpdob.system.evaluate`, so a move is
    improving exactly when the mover's evaluated QoS rises by more than
    ``mpdob.game.GAIN_TOLERANCE``.

    Parameters
    ----------
    workload : Workload
    max_profiles : int
        Upper limit on (M + 1) ** N, to keep the listing small.

    Returns
    -------
    GameTable
    """
    n, m = workload.n_services, workload.n_channels
    n_profiles = (m + 1) ** n
    if n_profiles > max_profiles:
        raise ValueError(
            f"the game has (M + 1) ** N = {n_profiles} profiles, more than "
            f"max_profiles={max_profiles}. Use fewer services or channels"
        )
    profiles = _all_profiles(n, m)
    qos_table = np.empty((n_profiles, n))
    printed = np.empty(n_profiles)
    corrected = np.empty(n_profiles)
    for k, profile in enumerate(profiles):
        qos_table[k] = evaluate(workload, profile).qos
        printed[k] = potential_printed(workload, profile)
        corrected[k] = potential_corrected(workload, profile)
    source, target, service, gain = _improving_moves(qos_table, profiles, m)
    is_nash = np.bincount(source, minlength=n_profiles) == 0
    return GameTable(
        workload=workload,
        profiles=profiles,
        qos=qos_table,
        system_qos=qos_table.sum(axis=1),
        potential_printed=printed,
        potential_corrected=corrected,
        move_source=source,
        move_target=target,
        move_service=service,
        move_gain=gain,
        is_nash=is_nash,
    )


def _cyclic_core(n_nodes: int, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return a mask of the nodes left after repeatedly removing sinks.

    A node survives exactly when it can reach a cycle, so the graph is
    acyclic when no node survives.
    """
    out_degree = np.bincount(source, minlength=n_nodes)
    predecessors: list[list[int]] = [[] for _ in range(n_nodes)]
    for s, t in zip(source.tolist(), target.tolist(), strict=True):
        predecessors[t].append(s)
    alive = np.ones(n_nodes, dtype=bool)
    sinks = collections.deque(np.nonzero(out_degree == 0)[0].tolist())
    while sinks:
        node = sinks.popleft()
        alive[node] = False
        for pred in predecessors[node]:
            out_degree[pred] -= 1
            if out_degree[pred] == 0:
                sinks.append(pred)
    return alive


def find_cycle(n_nodes: int, source, target) -> list[int] | None:
    """Return a shortest directed cycle of a graph, or None if it is acyclic.

    Parameters
    ----------
    n_nodes : int
        Nodes are 0..n_nodes - 1.
    source, target : array_like of int, same length
        The directed edges.

    Returns
    -------
    list of int or None
        The nodes of the cycle in order, starting at its smallest node;
        the edge back to the first node is implied.
    """
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    alive = _cyclic_core(n_nodes, source, target)
    if not alive.any():
        return None
    successors: list[list[int]] = [[] for _ in range(n_nodes)]
    for s, t in zip(source.tolist(), target.tolist(), strict=True):
        if alive[s] and alive[t]:
            successors[s].append(t)
    best: list[int] | None = None
    # Breadth-first search from each surviving node for the shortest way back.
    for start in np.nonzero(alive)[0].tolist():
        parent = {start: -1}
        queue = collections.deque([start])
        closing = None
        while queue and closing is None:
            node = queue.popleft()
            for next_node in successors[node]:
                if next_node == start:
                    closing = node
                    break
                if next_node not in parent:
                    parent[next_node] = node
                    queue.append(next_node)
        if closing is None:
            continue
        path = [closing]
        while path[-1] != start:
            path.append(parent[path[-1]])
        path.reverse()
        if best is None or len(path) < len(best):
            best = path
    return best


def _thresholds_at(workload: Workload, profile) -> tuple[np.ndarray, np.ndarray]:
    """Return (xi, gamma) of every service at ``profile``, W."""
    xi = xi_threshold(workload, cloud_share(workload, profile))
    return xi, interference(workload, profile)


def _base_seed(rng: int | np.random.Generator) -> int:
    """Return the integer seed from which every instance's generator derives.

    An integer ``rng`` is used as is. A generator supplies one draw, so a
    search that received a generator still records a seed that replays it.
    """
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a seed >= 0 or a numpy Generator, got {rng!r}")
        return int(rng)
    return int(as_generator(rng).integers(0, 2**63 - 1))


def _instance_rng(base_seed: int, instance: int) -> np.random.Generator:
    # Instance k draws from its own stream, so any instance can be replayed
    # without replaying the ones before it.
    return np.random.default_rng([base_seed, instance])


def search_instance(
    base_seed: int,
    instance: int,
    n_services: tuple[int, int],
    n_channels: tuple[int, int],
    ranges: dict | None = None,
    latency_readings: tuple[str, ...] = ("sequential",),
    cloud_sharing: str = "fixed",
) -> Workload:
    """Return instance number ``instance`` of a search started with ``base_seed``.

    The instance draws N and M uniformly from the inclusive ranges, then a
    latency reading from ``latency_readings``, then the workload from
    ``ranges`` (see :func:`random_workload`), all from the generator
    ``numpy.random.default_rng([base_seed, instance])``. Both searches in
    this module draw their instances this way, so a saved instance can be
    checked by drawing it again.
    """
    rng = _instance_rng(base_seed, instance)
    n = int(rng.integers(n_services[0], n_services[1] + 1))
    m = int(rng.integers(n_channels[0], n_channels[1] + 1))
    reading = str(latency_readings[int(rng.integers(len(latency_readings)))])
    return random_workload(rng, n, m, ranges, cloud_sharing, reading)


def find_printed_potential_counterexample(
    rng: int | np.random.Generator,
    n_services: tuple[int, int] = (2, 2),
    n_channels: tuple[int, int] = (1, 1),
    ranges: dict | None = None,
    cloud_sharing: str = "fixed",
    ratio_band: tuple[float, float] = (0.6, 0.9),
    max_instances: int = 10_000,
) -> dict:
    """Search random workloads for an improving move that lowers eq. (32).

    Eq. (32) as printed puts weight 1 on every ordered co-channel pair. A
    service that joins a channel where the others' power is gamma therefore
    changes the pair term by -2 p_i g_i gamma and the local term by
    + p_i g_i xi_i. The move is improving when gamma < xi_i but lowers the printed potential
    when gamma > xi_i / 2. The search stops at the first such move whose
    ratio gamma / xi_i lies inside ``ratio_band``, which keeps the example
    away from the two ends of the interval where rounding could decide it.

    Parameters
    ----------
    rng : int or numpy.random.Generator
        Seed or generator; the result records the integer seed used.
    n_services, n_channels : (int, int)
        Inclusive ranges of N and M, drawn uniformly per instance.
    ranges : dict, optional
        Sampling ranges, see :func:`random_workload`.
    cloud_sharing : {"fixed", "offloaders"}
    ratio_band : (float, float)
        Open interval, within [0.5, 1], that gamma / xi_i must fall in.
    max_instances : int
        Number of workloads to try before giving up.

    Returns
    -------
    dict
        JSON-ready: ``generated_by`` (function, seed, instance number),
        ``found``, ``instances_tried`` and, when found, ``workload``
        (:meth:`mpdob.system.Workload.to_dict`), ``profile`` before the move, ``move``
        (service, from, to), the mover's ``xi`` and ``gamma``, the mover's
        QoS, the system QoS and both potentials before and after the move.
    """
    low, high = (float(x) for x in ratio_band)
    if not 0.5 <= low < high <= 1.0:
        raise ValueError(f"ratio_band must satisfy 0.5 <= low < high <= 1, got {ratio_band!r}")
    base = _base_seed(rng)
    result = {
        "generated_by": {
            "function": "mpdob.search.find_printed_potential_counterexample",
            "seed": base,
            "n_services": list(n_services),
            "n_channels": list(n_channels),
            "cloud_sharing": cloud_sharing,
        },
        "found": False,
    }
    for instance in range(max_instances):
        workload = search_instance(
            base, instance, n_services, n_channels, ranges, ("sequential",), cloud_sharing
        )
        table = enumerate_game(workload)
        printed = table.potential_printed
        for k in np.nonzero(printed[table.move_target] < printed[table.move_source])[0]:
            before, after = int(table.move_source[k]), int(table.move_target[k])
            service = int(table.move_service[k])
            profile = table.profiles[before]
            xi, _ = _thresholds_at(workload, profile)
            gamma = float(interference(workload, table.profiles[after])[service])
            if not low < gamma / xi[service] < high:
                continue
            result["generated_by"]["instance"] = instance
            result.update(
                found=True,
                instances_tried=instance + 1,
                workload=workload.to_dict(),
                profile=profile.tolist(),
                move={
                    "service": service,
                    "from": int(profile[service]),
                    "to": int(table.profiles[after, service]),
                },
                xi=float(xi[service]),
                gamma=gamma,
                qos_before=float(table.qos[before, service]),
                qos_after=float(table.qos[after, service]),
                system_qos_before=float(table.system_qos[before]),
                system_qos_after=float(table.system_qos[after]),
                potential_printed_before=float(printed[before]),
                potential_printed_after=float(printed[after]),
                potential_corrected_before=float(table.potential_corrected[before]),
                potential_corrected_after=float(table.potential_corrected[after]),
            )
            return result
    result["instances_tried"] = max_instances
    return result


def describe_cycle(table: GameTable, cycle: list[int]) -> list[dict]:
    """Return each move of a cycle of profile indices as a JSON-ready dict.

    Each step gives the profile before the move, the mover, its old and new
    choice, its QoS gain, the number of offloaders after the move, and the
    mover's threshold xi and interference gamma before and after the move.
    """
    workload = table.workload
    steps = []
    for position, before in enumerate(cycle):
        after = cycle[(position + 1) % len(cycle)]
        service = int(np.nonzero(table.profiles[before] != table.profiles[after])[0][0])
        xi_before, gamma_before = _thresholds_at(workload, table.profiles[before])
        xi_after, gamma_after = _thresholds_at(workload, table.profiles[after])
        steps.append(
            {
                "profile": table.profiles[before].tolist(),
                "service": service,
                "from": int(table.profiles[before, service]),
                "to": int(table.profiles[after, service]),
                "gain": float(table.qos[after, service] - table.qos[before, service]),
                "n_offloading_after": int(np.count_nonzero(table.profiles[after])),
                "xi_before": float(xi_before[service]),
                "gamma_before": float(gamma_before[service]),
                "xi_after": float(xi_after[service]),
                "gamma_after": float(gamma_after[service]),
            }
        )
    return steps


def _graph_cycle(workload: Workload) -> tuple[GameTable, list[int] | None]:
    table = enumerate_game(workload)
    return table, find_cycle(table.n_profiles, table.move_source, table.move_target)


def _algorithm2_outcomes(workload: Workload, seed: int) -> dict[str, str]:
    """Run Algorithm 2 from all-local under each rule: converged or cycled."""
    outcomes = {}
    for rule in UPDATE_RULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CycleWarning)
            run = solve_game(workload, update_rule=rule, rng=seed)
        outcomes[rule] = "converged" if run.converged else "cycled"
    return outcomes


def search_improvement_cycle(
    rng: int | np.random.Generator,
    n_instances: int,
    n_services: tuple[int, int] = (3, 5),
    n_channels: tuple[int, int] = (1, 2),
    ranges: dict | None = None,
    latency_readings: tuple[str, ...] = ("sequential", "parallel"),
    cloud_sharing: str = "offloaders",
    check_fixed: bool = True,
) -> dict:
    """Search random small games for a cycle of strictly improving moves.

    For each instance (drawn by :func:`search_instance`) the improvement
    graph over all (M + 1) ** N profiles is built with
    :func:`enumerate_game` and checked for a directed cycle with
    :func:`find_cycle`. With ``check_fixed`` the same instance is checked
    again with ``cloud_sharing="fixed"``, where the corrected potential of
    Lemma 2 rules out any cycle. Every instance with a cycle is also run
    through Algorithm 2 (:func:`mpdob.game.solve_game`) from all-local
    under each update rule, to see whether the algorithm meets the cycle.

    Parameters
    ----------
    rng : int or numpy.random.Generator
        Seed or generator; the result records the integer seed used.
    n_instances : int
        Number of random workloads to check.
    n_services, n_channels : (int, int)
        Inclusive ranges of N and M, drawn uniformly per instance.
    ranges : dict, optional
        Sampling ranges; default ``CYCLE_SEARCH_RANGES``.
    latency_readings : tuple of str
        Each instance draws its latency reading uniformly from these.
    cloud_sharing : {"offloaders", "fixed"}
        Sharing rule of the searched games.
    check_fixed : bool
        Also check each instance with the fixed cloud share.

    Returns
    -------
    dict
        JSON-ready, with these keys:

        - ``generated_by`` and the search settings;
        - ``found`` and ``instances_with_cycle``, the indices of the
          instances whose improvement graph has a cycle;
        - ``instances_with_offloading``, the number of games with at least
          one improving move from local to a channel;
        - ``fixed_share_instances_with_cycle``, indices, when checked;
        - ``algorithm2_cycled``, for each update rule the indices of the
          cyclic instances where Algorithm 2 from all-local cycled;
        - ``example`` when a cycle was found: the cyclic instance with the
          fewest services, then the shortest cycle. It has the
          ``instance`` index, ``workload``, ``cycle`` (see
          :func:`describe_cycle`) and ``algorithm2``, the outcome of
          Algorithm 2 under each rule.
    """
    if isinstance(n_instances, bool) or not isinstance(n_instances, int) or n_instances < 0:
        raise ValueError(f"n_instances must be an integer >= 0, got {n_instances!r}")
    base = _base_seed(rng)
    used_ranges = _check_ranges(CYCLE_SEARCH_RANGES if ranges is None else ranges)
    result = {
        "generated_by": {"function": "mpdob.search.search_improvement_cycle", "seed": base},
        "n_instances": n_instances,
        "n_services": list(n_services),
        "n_channels": list(n_channels),
        "latency_readings": list(latency_readings),
        "cloud_sharing": cloud_sharing,
        "ranges": {name: list(pair) for name, pair in used_ranges.items()},
        "found": False,
        "instances_with_cycle": [],
        "instances_with_offloading": 0,
        "fixed_share_checked": bool(check_fixed),
        "fixed_share_instances_with_cycle": [],
        "algorithm2_cycled": {rule: [] for rule in UPDATE_RULES},
    }
    best_key = None
    for instance in range(n_instances):
        workload = search_instance(
            base, instance, n_services, n_channels, used_ranges, latency_readings, cloud_sharing
        )
        table, cycle = _graph_cycle(workload)
        joins = table.profiles[table.move_source, table.move_service] == 0
        result["instances_with_offloading"] += int(joins.any())
        if check_fixed and _graph_cycle(workload.replace(cloud_sharing="fixed"))[1] is not None:
            result["fixed_share_instances_with_cycle"].append(instance)
        if cycle is None:
            continue
        result["instances_with_cycle"].append(instance)
        outcomes = _algorithm2_outcomes(workload, base)
        for rule, outcome in outcomes.items():
            if outcome == "cycled":
                result["algorithm2_cycled"][rule].append(instance)
        key = (workload.n_services, len(cycle))
        if best_key is None or key < best_key:
            best_key = key
            result["found"] = True
            result["example"] = {
                "instance": instance,
                "workload": workload.to_dict(),
                "cycle": describe_cycle(table, cycle),
                "algorithm2": outcomes,
            }
    return result


def write_counterexamples(directory: str | Path, seed: int = 2023, n_instances: int = 2000):
    """Run both searches and write their JSON files into ``directory``.

    Writes ``e2_printed_potential.json`` and ``e4_cycle_search.json`` and
    returns the two results.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    e2 = find_printed_potential_counterexample(seed)
    e4 = search_improvement_cycle(seed, n_instances)
    for name, data in (("e2_printed_potential.json", e2), ("e4_cycle_search.json", e4)):
        (directory / name).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return e2, e4


if __name__ == "__main__":  # pragma: no cover
    target = sys.argv[1] if len(sys.argv) > 1 else "data/counterexamples"
    e2_result, e4_result = write_counterexamples(target)
    print(f"E2 found: {e2_result['found']} after {e2_result['instances_tried']} instances")
    print(
        f"E4: {len(e4_result['instances_with_cycle'])} of {e4_result['n_instances']} instances "
        f"have an improvement cycle; fixed share: "
        f"{len(e4_result['fixed_share_instances_with_cycle'])}"
    )
