"""Algorithm 2: the channel-selection offloading game and its potentials.

Every service is a player whose strategies are 0 (compute the tail at the
edge) and the channels 1..M (offload the cloud share of the tail). All
services start local. In each round every service computes its best
response against the current channel loads, and the base station applies
one of the improving responses, picked by an update rule. The game stops
when no service can improve, which is a Nash equilibrium (eq. 21).

One round costs O(N M) for the best responses; the "system" rule adds
O(K n_off) to price the K requests against the n_off current offloaders.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np

from mpdob.lemma import xi_threshold
from mpdob.params import as_generator
from mpdob.system import (
    Workload,
    channel_power,
    check_channels,
    cloud_share,
    edge_overhead,
    evaluate,
    interference,
    qos,
)

__all__ = [
    "CycleWarning",
    "GAIN_TOLERANCE",
    "GameResult",
    "RoundLimitWarning",
    "UPDATE_RULES",
    "best_responses",
    "is_nash_equilibrium",
    "potential_corrected",
    "potential_printed",
    "solve_game",
]

UPDATE_RULES = ("system", "random", "own")

#: Gains below this many QoS units count as no improvement (float rounding).
GAIN_TOLERANCE = 1e-12


class RoundLimitWarning(UserWarning):
    """Algorithm 2 stopped at its round limit before reaching an equilibrium."""


class CycleWarning(UserWarning):
    """Algorithm 2 revisited a decision profile: its improvement path cycles."""


@dataclass(frozen=True)
class GameResult:
    """Outcome of one run of Algorithm 2.

    Attributes
    ----------
    channel : ndarray of shape (n_services,)
        Final decisions, 0 = local, m = channel m.
    rounds : int
        Number of updates applied.
    converged : bool
        True when no service could improve at the end.
    qos_history : ndarray of shape (rounds + 1,)
        System-wide QoS before the first update and after each update.
    potential_printed_history, potential_corrected_history : ndarray
        Eq. (32) as printed and with the factor 1/2 of Chen et al. (2016),
        per round, shape (rounds + 1,).
    moves : ndarray of shape (rounds, 3)
        Each update as (service, old channel, new channel).
    cycle : tuple of ndarray or None
        If a profile repeated: the profiles from its first visit to its
        repeat (both included); otherwise None.
    update_rule : str
        Rule the base station used to pick an update.
    """

    channel: np.ndarray
    rounds: int
    converged: bool
    qos_history: np.ndarray
    potential_printed_history: np.ndarray
    potential_corrected_history: np.ndarray
    moves: np.ndarray
    cycle: tuple | None
    update_rule: str

    @property
    def system_qos(self) -> float:
        """System-wide QoS at the final profile."""
        return float(self.qos_history[-1])

    @property
    def n_offloading(self) -> int:
        """Number of offloading services at the final profile."""
        return int(np.count_nonzero(self.channel))


def _cloud_overhead_at(w: Workload, idx, gamma, f_cloud) -> np.ndarray:
    """Gamma_c of services ``idx`` at interference ``gamma`` and cloud share.

    ``gamma`` and ``f_cloud`` broadcast against ``idx``; this lets one call
    price many hypothetical moves at once.
    """
    rp = w.received_power_watt[idx]
    rate = w.bandwidth_hz * np.log2(1.0 + rp / (w.noise_watt + gamma))
    transfer = w.d_med_bit[idx] / rate
    psi_t, delta = w.psi_tail_flop[idx], w.delta[idx]
    head = w.psi_head_flop[idx] / w.head_rate_flops[idx]
    edge_tail = (1.0 - delta) * psi_t / w.tail_rate_flops[idx]
    cloud = delta * psi_t / f_cloud
    if w.latency_reading == "sequential":
        latency = head + edge_tail + cloud + transfer
    else:
        latency = head + np.maximum(edge_tail, transfer + cloud)
    energy = (
        w.p_watt[idx] * transfer
        + w.epsilon_edge[idx] * (w.psi_head_flop[idx] + (1.0 - delta) * psi_t)
        + w.epsilon_cloud[idx] * delta * psi_t
        + w.zeta_joule[idx]
    )
    return w.alpha[idx] * latency + w.beta[idx] * energy


def best_responses(workload: Workload, channel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every service's best response to the others' current choices.

    Parameters
    ----------
    workload : Workload
    channel : ndarray of shape (n_services,)
        Current profile.

    Returns
    -------
    response : ndarray of shape (n_services,)
        Best strategy (0 = local, 1..M); the current one on ties.
    gain : ndarray of shape (n_services,)
        QoS gained by switching to ``response`` (0 when it is the current).
    current_qos : ndarray of shape (n_services,)
        Q_i at the current profile.
    """
    w = workload
    channel = check_channels(w, channel)
    n, m = w.n_services, w.n_channels
    rp = w.received_power_watt
    power = channel_power(w, channel)
    # gamma_i(c) for every channel c: the others' power on c.
    gamma = np.broadcast_to(power[1:], (n, m)).copy()
    offloading = channel > 0
    rows = np.nonzero(offloading)[0]
    gamma[rows, channel[rows] - 1] -= rp[rows]
    np.maximum(gamma, 0.0, out=gamma)
    best_channel = np.argmin(gamma, axis=1) + 1
    # Keep the current channel when it ties with the best.
    current_gamma = np.where(offloading, gamma[np.arange(n), np.maximum(channel, 1) - 1], np.inf)
    best_gamma = gamma[np.arange(n), best_channel - 1]
    keep = offloading & (current_gamma <= best_gamma)
    best_channel = np.where(keep, channel, best_channel)
    best_gamma = np.where(keep, current_gamma, best_gamma)

    f_cloud = cloud_share(w, channel)
    q_local = qos(edge_overhead(w)[2], w.varpi)
    q_offload = qos(_cloud_overhead_at(w, slice(None), best_gamma, f_cloud), w.varpi)
    own_gamma = np.where(offloading, current_gamma, 0.0)
    q_own = qos(_cloud_overhead_at(w, slice(None), own_gamma, f_cloud), w.varpi)
    current = np.where(offloading, q_own, q_local)
    response = np.where(q_offload > q_local, best_channel, 0)
    best = np.maximum(q_offload, q_local)
    gain = best - current
    response = np.where(gain > GAIN_TOLERANCE, response, channel)
    gain = np.where(gain > GAIN_TOLERANCE, gain, 0.0)
    return response, gain, current


def _system_gains(w: Workload, channel, candidates, response, own_gain, current_qos):
    """Return the change of system-wide QoS for each candidate update.

    The change is the mover's own gain plus the change of every other
    offloader's Q: co-channel interference on the old and new channel, and
    under the "offloaders" rule the cloud share when the count changes.
    """
    rp = w.received_power_watt
    off = np.nonzero(channel > 0)[0]
    n_off = off.size
    gains = own_gain[candidates].astype(float).copy()
    if n_off == 0:
        return gains
    gamma_off = interference(w, channel)[off]
    q_off = current_qos[off]
    chunk = max(1, 4_000_000 // max(n_off, 1))
    for start in range(0, candidates.size, chunk):
        cand = candidates[start : start + chunk]
        src = channel[cand][:, None]
        dst = response[cand][:, None]
        ch_off = channel[off][None, :]
        delta_gamma = rp[cand][:, None] * ((ch_off == dst).astype(float) - (ch_off == src))
        new_gamma = np.maximum(gamma_off[None, :] + delta_gamma, 0.0)
        if w.cloud_sharing == "offloaders":
            new_count = n_off + (dst > 0).astype(int) - (src > 0).astype(int)
            f_cloud = w.f_cloud_flops / np.maximum(new_count, 1)
        else:
            f_cloud = np.full((cand.size, 1), w.f_cloud_flops / w.n_services)
        new_q = qos(_cloud_overhead_at(w, off[None, :], new_gamma, f_cloud), w.varpi)
        change = new_q - q_off[None, :]
        # The mover's own change is already in own_gain.
        change[cand[:, None] == off[None, :]] = 0.0
        gains[start : start + cand.size] += change.sum(axis=1)
    return gains


def _thresholds(w: Workload, channel) -> np.ndarray:
    return xi_threshold(w, cloud_share(w, channel))


def _potential_terms(w: Workload, channel) -> tuple[float, float]:
    """Return the pair term and the local term of eq. (32), in W^2."""
    rp = w.received_power_watt
    gamma = interference(w, channel)
    # A service that can never profit (xi = -inf) gets xi = -sigma_0, the
    # limit of eq. (22) as the minimum profitable rate grows without bound.
    # Any negative value keeps "offloading pays iff gamma <= xi" true, and a
    # finite one makes its move from a channel to local raise the potential.
    xi = np.maximum(_thresholds(w, channel), -w.noise_watt)
    pair = float(np.sum(rp * gamma * (channel > 0)))
    local = float(np.sum(np.where(channel == 0, rp * xi, 0.0)))
    return pair, local


def _potential(w: Workload, channel, pair_weight: float) -> float:
    pair, local = _potential_terms(w, channel)
    return -pair_weight * pair - local


def _both_potentials(w: Workload, channel) -> tuple[float, float]:
    """Return (printed, corrected) potentials from one pass over the services."""
    pair, local = _potential_terms(w, channel)
    return -pair - local, -0.5 * pair - local


def potential_printed(workload: Workload, channel) -> float:
    """Return eq. (32) as printed, in W^2.

    Psi = - sum over offloaders of p_i g_i gamma_i - sum over local services
    of p_i g_i xi_i. Summing over ordered pairs counts each co-channel pair
    twice (erratum E2). A service that can never profit (xi = -inf) enters
    with xi = -sigma_0, the value eq. (22) tends to as the minimum
    profitable rate grows without bound.
    """
    channel = check_channels(workload, channel)
    return _potential(workload, channel, 1.0)


def potential_corrected(workload: Workload, channel) -> float:
    """Return the potential with the factor 1/2 on the pair term, in W^2.

    With a fixed cloud share this is an ordinal potential of the game, so
    every strictly improving unilateral move raises it. A move between
    channels changes it by p_i g_i times the fall of the mover's
    interference, and a move from local by p_i g_i (xi_i - gamma_i). Services that can
    never profit enter with xi = -sigma_0, as in :func:`potential_printed`.
    """
    channel = check_channels(workload, channel)
    return _potential(workload, channel, 0.5)


def is_nash_equilibrium(workload: Workload, channel) -> bool:
    """Return True when no service gains by a unilateral change (eq. 21)."""
    _, gain, _ = best_responses(workload, channel)
    return not np.any(gain > GAIN_TOLERANCE)


def _profile_key(channel: np.ndarray) -> bytes:
    return hashlib.blake2b(channel.tobytes(), digest_size=16).digest()


def solve_game(
    workload: Workload,
    update_rule: str = "system",
    rng: int | np.random.Generator = 0,
    max_rounds: int = 100_000,
    initial=None,
) -> GameResult:
    """Run Algorithm 2 to a Nash equilibrium, a cycle or the round limit.

    Parameters
    ----------
    workload : Workload
        The slot's services (see :func:`mpdob.system.make_workload`).
    update_rule : {"system", "random", "own"}
        Which improving request the base station applies each round: the
        largest rise of system-wide QoS (the paper's rule), a uniformly
        random one (Chen et al. 2016), or the largest own gain.
    rng : int or numpy.random.Generator
        Used only by the "random" rule.
    max_rounds : int
        Limit on applied updates; reaching it emits
        :class:`RoundLimitWarning` and returns ``converged=False``.
    initial : ndarray of shape (n_services,), optional
        Starting profile; all local (the paper's start) by default.

    Returns
    -------
    GameResult
    """
    if update_rule not in UPDATE_RULES:
        raise ValueError(f"update_rule must be one of {UPDATE_RULES}, got {update_rule!r}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int | np.integer):
        raise ValueError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    if max_rounds < 0:
        raise ValueError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    rng = as_generator(rng)
    w = workload
    n = w.n_services
    if initial is None:
        channel = np.zeros(n, dtype=np.int64)
    else:
        try:
            channel = check_channels(w, initial).astype(np.int64).copy()
        except ValueError as error:
            raise ValueError(f"initial is not a valid profile: {error}") from error
    start_profile = channel.copy()

    qos_history = [evaluate(w, channel).system_qos]
    first_printed, first_corrected = _both_potentials(w, channel)
    printed = [first_printed]
    corrected = [first_corrected]
    moves: list[tuple[int, int, int]] = []
    seen = {_profile_key(channel): 0}
    converged = False
    cycle = None
    while True:
        response, gain, current = best_responses(w, channel)
        candidates = np.nonzero(gain > 0.0)[0]
        if candidates.size == 0:
            converged = True
            break
        if len(moves) >= max_rounds:
            warnings.warn(
                f"Algorithm 2 stopped after max_rounds={max_rounds} updates with "
                f"{candidates.size} services still able to improve",
                RoundLimitWarning,
                stacklevel=2,
            )
            break
        if update_rule == "own":
            mover = int(candidates[np.argmax(gain[candidates])])
        elif update_rule == "random":
            mover = int(rng.choice(candidates))
        else:
            system_gain = _system_gains(w, channel, candidates, response, gain, current)
            mover = int(candidates[np.argmax(system_gain)])
        moves.append((mover, int(channel[mover]), int(response[mover])))
        channel[mover] = response[mover]
        qos_history.append(evaluate(w, channel).system_qos)
        psi_printed, psi_corrected = _both_potentials(w, channel)
        printed.append(psi_printed)
        corrected.append(psi_corrected)
        key = _profile_key(channel)
        if key in seen:
            first = seen[key]
            cycle = _replay_from(start_profile, moves, first)
            warnings.warn(
                f"Algorithm 2 revisited the profile of round {first} at round "
                f"{len(moves)}: the improvement path cycles",
                CycleWarning,
                stacklevel=2,
            )
            break
        seen[key] = len(moves)
    return GameResult(
        channel=channel,
        rounds=len(moves),
        converged=converged,
        qos_history=np.asarray(qos_history),
        potential_printed_history=np.asarray(printed),
        potential_corrected_history=np.asarray(corrected),
        moves=np.asarray(moves, dtype=np.int64).reshape(-1, 3),
        cycle=cycle,
        update_rule=update_rule,
    )


def _replay_from(start_profile: np.ndarray, moves: list, first: int) -> tuple:
    """Return the profiles from round ``first`` to the last move, inclusive."""
    profile = start_profile.copy()
    profiles = []
    for index in range(len(moves) + 1):
        if index >= first:
            profiles.append(profile.copy())
        if index < len(moves):
            service, _, new = moves[index]
            profile[service] = new
    return tuple(profiles)
