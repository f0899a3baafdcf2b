"""Exhaustive optimum of the offloading problem (eq. 17-18) for small instances.

Problem (17) maximises the system-wide QoS, the sum of Q_i of eq. (19),
over all decision profiles; each service picks 0 (edge only) or a channel
1..M, so there are (M + 1) ** N profiles. Constraint (18) also requires every
offloader to be profitable, Gamma_c <= Gamma_e. :func:`exact_optimum`
evaluates every profile, a block of profiles at a time as one numpy array,
and :func:`price_of_anarchy` compares the optimum with the equilibrium that
Algorithm 2 reaches on many small random instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mpdob.game import GAIN_TOLERANCE, solve_game
from mpdob.params import Params, load_params
from mpdob.scenario import generate_scenario
from mpdob.system import Workload, cloud_overhead, edge_overhead, make_workload, qos

__all__ = [
    "OptimumResult",
    "PriceOfAnarchyResult",
    "exact_optimum",
    "price_of_anarchy",
]

# Profiles evaluated per numpy block: bounds memory at about
# BLOCK_PROFILES * N * (M + 1) floats for the channel loads.
BLOCK_PROFILES = 1 << 15


@dataclass(frozen=True)
class OptimumResult:
    """Best profile of an exhaustive search.

    Attributes
    ----------
    channel : ndarray of shape (n_services,)
        An optimal profile; among equal optima the first in enumeration
        order (service 0 is the most significant digit, 0 before 1..M).
    system_qos : float
        Its system-wide QoS. It is finite because the all-local profile
        has no offloader and so always satisfies eq. (18).
    n_profiles : int
        Profiles evaluated, (M + 1) ** N.
    n_feasible : int
        Profiles that satisfied eq. (18) (all of them when
        ``profitable_only`` is false).
    """

    channel: np.ndarray
    system_qos: float
    n_profiles: int
    n_feasible: int


def _check_workload(workload) -> Workload:
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a mpdob.system.Workload, got {type(workload)!r}")
    return workload


def _profile_block(start: int, stop: int, n: int, base: int) -> np.ndarray:
    """Return profiles ``start .. stop - 1`` as rows of base-(M + 1) digits."""
    index = np.arange(start, stop, dtype=np.int64)
    powers = base ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return (index[:, None] // powers[None, :]) % base


def _block_qos(w: Workload, profiles: np.ndarray, q_local: np.ndarray):
    """Return per-service QoS and the eq. (18) check for a block of profiles.

    ``profiles`` has shape (B, N). Returns ``(q, profitable)`` of shape
    (B, N): Q_i in each profile, and whether service i is local or offloads
    at no loss to its own QoS.
    """
    n, m = w.n_services, w.n_channels
    rp = w.received_power_watt
    offload = profiles > 0
    # Received power on each channel (column 0 collects local services).
    onehot = profiles[:, :, None] == np.arange(m + 1)[None, None, :]
    power = np.einsum("bnc,n->bc", onehot, rp)
    own_channel_power = np.take_along_axis(power, profiles, axis=1)
    gamma = np.maximum(own_channel_power - rp[None, :], 0.0)
    rate = w.bandwidth_hz * np.log2(1.0 + rp[None, :] / (w.noise_watt + gamma))
    if w.cloud_sharing == "offloaders":
        n_off = np.count_nonzero(offload, axis=1)
        f_cloud = w.f_cloud_flops / np.maximum(n_off, 1)[:, None]
    else:
        f_cloud = np.full((profiles.shape[0], 1), w.f_cloud_flops / n)
    f_cloud = np.broadcast_to(f_cloud, profiles.shape)
    gamma_cloud = cloud_overhead(w, rate, f_cloud)[2]
    q_cloud = qos(gamma_cloud, w.varpi)
    q = np.where(offload, q_cloud, q_local[None, :])
    # Gamma_c <= Gamma_e is Q_c >= Q_e because Q falls as Gamma rises. The
    # tolerance is the game's, so that every equilibrium of Algorithm 2
    # counts as feasible despite rounding.
    profitable = ~offload | (q_cloud >= q_local[None, :] - GAIN_TOLERANCE)
    return q, profitable


def exact_optimum(
    workload: Workload, max_profiles: int = 2_000_000, profitable_only: bool = True
) -> OptimumResult:
    """Search all (M + 1) ** N profiles for the maximum system-wide QoS (eq. 17).

    Parameters
    ----------
    workload : Workload
        The instance; its sharing rule and latency reading apply.
    max_profiles : int
        Largest number of profiles to evaluate; a larger instance raises.
    profitable_only : bool
        If true (the default), enforce constraint (18): every offloader's
        cloud overhead must not exceed its edge overhead, checked as
        Q_c >= Q_e - ``mpdob.game.GAIN_TOLERANCE``. If false, maximise
        eq. (17) over every profile.

    Returns
    -------
    OptimumResult

    Raises
    ------
    ValueError
        If (M + 1) ** N exceeds ``max_profiles``.
    """
    w = _check_workload(workload)
    if isinstance(max_profiles, bool) or not isinstance(max_profiles, int | np.integer):
        raise TypeError(f"max_profiles must be an integer >= 1, got {max_profiles!r}")
    if max_profiles < 1:
        raise ValueError(f"max_profiles must be an integer >= 1, got {max_profiles!r}")
    n, m = w.n_services, w.n_channels
    base = m + 1
    count = base**n
    if count > max_profiles:
        raise ValueError(
            f"exhaustive search needs (M + 1) ** N = {base} ** {n} = {count} profiles "
            f"(N = {n} services, M = {m} channels), more than max_profiles = {max_profiles}; "
            "use fewer services or channels, or raise max_profiles"
        )

    q_local = qos(edge_overhead(w)[2], w.varpi)
    best_qos = -math.inf
    best_index = -1
    n_feasible = 0
    for start in range(0, count, BLOCK_PROFILES):
        stop = min(start + BLOCK_PROFILES, count)
        profiles = _profile_block(start, stop, n, base)
        q, profitable = _block_qos(w, profiles, q_local)
        system = q.sum(axis=1)
        if profitable_only:
            feasible = profitable.all(axis=1)
            system = np.where(feasible, system, -np.inf)
            n_feasible += int(np.count_nonzero(feasible))
        else:
            n_feasible += profiles.shape[0]
        k = int(np.argmax(system))
        # Strictly greater keeps the first optimum in enumeration order.
        if system[k] > best_qos:
            best_qos = float(system[k])
            best_index = start + k
    channel = _profile_block(best_index, best_index + 1, n, base)[0]
    return OptimumResult(
        channel=channel, system_qos=best_qos, n_profiles=count, n_feasible=n_feasible
    )


@dataclass(frozen=True)
class PriceOfAnarchyResult:
    """Optimum against Algorithm 2's equilibrium on many small instances.

    Definitions, per instance: ``gap = optimum_qos - equilibrium_qos``. It is
    at least 0 up to rounding when the game converged, because at an
    equilibrium no offloader gains by turning local, so the equilibrium
    satisfies eq. (18) and is one of the profiles searched.
    ``ratio = optimum_qos / equilibrium_qos`` only where both are positive,
    NaN elsewhere, because QoS can be 0 or negative and a ratio of such
    numbers has no meaning as an efficiency loss.

    Attributes
    ----------
    seeds : ndarray of shape (K,)
        Seed of each instance.
    optimum_qos, equilibrium_qos, gap, ratio : ndarray of shape (K,)
        Per instance, as defined above.
    equilibrium_optimal : ndarray of shape (K,)
        True where the gap is at most ``tolerance``.
    converged : ndarray of shape (K,)
        True where Algorithm 2 reached an equilibrium (no cycle, no round
        limit); elsewhere ``equilibrium_qos`` is the QoS where it stopped.
    n_services, n_channels, n_edge_servers : int
        Instance size.
    update_rule : str
        Rule Algorithm 2 used.
    """

    seeds: np.ndarray
    optimum_qos: np.ndarray
    equilibrium_qos: np.ndarray
    gap: np.ndarray
    ratio: np.ndarray
    equilibrium_optimal: np.ndarray
    converged: np.ndarray
    n_services: int
    n_channels: int
    n_edge_servers: int
    update_rule: str

    @property
    def worst_ratio(self) -> float:
        """Largest ratio over the instances where it is defined (the price of anarchy)."""
        finite = self.ratio[np.isfinite(self.ratio)]
        return float(finite.max()) if finite.size else math.nan

    @property
    def max_gap(self) -> float:
        """Largest QoS gap over the instances."""
        return float(self.gap.max())

    @property
    def mean_gap(self) -> float:
        """Mean QoS gap over the instances."""
        return float(self.gap.mean())

    @property
    def share_optimal(self) -> float:
        """Share of instances where the equilibrium is optimal."""
        return float(self.equilibrium_optimal.mean())


def price_of_anarchy(
    params: Params | None = None,
    n_services: int = 6,
    n_channels: int = 2,
    n_edge_servers: int = 1,
    seeds=range(50),
    update_rule: str = "system",
    delta: float = 1.0,
    whole_task: bool = False,
    tolerance: float = 1e-9,
) -> PriceOfAnarchyResult:
    """Compare the exhaustive optimum with Algorithm 2's equilibrium per seed.

    Each seed draws one scenario with ``n_services`` services,
    ``n_channels`` channels and ``n_edge_servers`` edge servers (the other
    parameters from ``params``), builds
    its workload with the segmentation rate ``delta`` for every service (or
    whole-task offloading), and runs :func:`mpdob.game.solve_game` from the
    all-local profile and :func:`exact_optimum` with constraint (18).

    Parameters
    ----------
    params : Params, optional
        Defaults to ``data/params/paper.toml``.
    n_services, n_channels : int
        Instance size; (n_channels + 1) ** n_services profiles per instance.
    n_edge_servers : int
        Edge servers E. The default 1 puts every service on one ES. With the
        parameter file's nine ESs, eight services or fewer leave each ES so
        lightly loaded that no service profits from offloading and every
        instance is trivially all-local. One ES loaded with 6-8 services is
        about as loaded as an ES in an N = 60-70 slot with nine ESs.
    seeds : iterable of int
        One instance per seed; the seed also drives the "random" rule.
    update_rule : {"system", "random", "own"}
    delta : float
        Segmentation rate of every service, in [0, 1].
    whole_task : bool
        Use whole-task binary offloading instead of the partitioned tail.
    tolerance : float
        Gap below which the equilibrium counts as optimal.

    Returns
    -------
    PriceOfAnarchyResult
    """
    params = load_params() if params is None else params
    params = params.replace(n_channels=n_channels, n_edge_servers=n_edge_servers)
    seeds = np.asarray(list(seeds), dtype=np.int64)
    if seeds.size == 0:
        raise ValueError("seeds must contain at least one seed, got none")
    optimum = np.empty(seeds.size)
    equilibrium = np.empty(seeds.size)
    converged = np.zeros(seeds.size, dtype=bool)
    for k, seed in enumerate(seeds):
        scenario = generate_scenario(params, n_services, int(seed))
        workload = make_workload(scenario, delta, whole_task=whole_task)
        game = solve_game(workload, update_rule=update_rule, rng=int(seed))
        equilibrium[k] = game.system_qos
        converged[k] = game.converged
        optimum[k] = exact_optimum(workload).system_qos
    gap = optimum - equilibrium
    both_positive = (optimum > 0) & (equilibrium > 0)
    ratio = np.full(seeds.size, math.nan)
    ratio[both_positive] = optimum[both_positive] / equilibrium[both_positive]
    return PriceOfAnarchyResult(
        seeds=seeds,
        optimum_qos=optimum,
        equilibrium_qos=equilibrium,
        gap=gap,
        ratio=ratio,
        equilibrium_optimal=gap <= tolerance,
        converged=converged,
        n_services=int(n_services),
        n_channels=int(n_channels),
        n_edge_servers=int(n_edge_servers),
        update_rule=update_rule,
    )
