"""Algorithm 2 written with plain Python loops, one service and one channel at a time.

This is the reference version of :func:`mpdob.game.solve_game`: the same
game, start, update rules and tie rules, with no numpy vectorisation. It
serves as a test oracle for the vectorised solver and as the baseline of
``benchmarks/bench_game.py``.

Tie rules, shared with :func:`mpdob.game.best_responses`:

- the best channel is the one with the least co-channel interference, the
  lowest channel number among equals, and a service keeps its current
  channel when that channel's interference is no larger;
- a service offloads only if that is strictly better than local computing;
- a gain of at most :data:`mpdob.game.GAIN_TOLERANCE` is no improvement;
- the "system" and "own" rules pick the lowest-numbered service among
  equal scores;
- the "random" rule draws one of the improving services, listed in
  increasing order, with ``rng.choice``.

Per round the best responses cost O(N M) and the "system" rule adds
O(K n_off) for the K requests priced against the n_off offloaders.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from mpdob.game import GAIN_TOLERANCE, UPDATE_RULES, CycleWarning, RoundLimitWarning
from mpdob.params import as_generator
from mpdob.system import Workload, check_channels

__all__ = ["LoopGameResult", "solve_game_loop"]


@dataclass(frozen=True)
class LoopGameResult:
    """Outcome of :func:`solve_game_loop`.

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
    moves : ndarray of shape (rounds, 3)
        Each update as (service, old channel, new channel).
    cycled : bool
        True when the path revisited a profile and the run stopped there.
    update_rule : str
    """

    channel: np.ndarray
    rounds: int
    converged: bool
    qos_history: np.ndarray
    moves: np.ndarray
    cycled: bool
    update_rule: str

    @property
    def system_qos(self) -> float:
        """System-wide QoS at the final profile."""
        return float(self.qos_history[-1])

    @property
    def n_offloading(self) -> int:
        """Number of offloading services at the final profile."""
        return int(np.count_nonzero(self.channel))


class _Instance:
    """The workload's per-service values as Python floats, and the cost formulas."""

    def __init__(self, w: Workload):
        self.n = w.n_services
        self.m = w.n_channels
        self.rp = w.received_power_watt.tolist()
        self.d = w.d_med_bit.tolist()
        self.psi_head = w.psi_head_flop.tolist()
        self.psi_tail = w.psi_tail_flop.tolist()
        self.delta = w.delta.tolist()
        self.f_head = w.head_rate_flops.tolist()
        self.f_tail = w.tail_rate_flops.tolist()
        self.alpha = w.alpha.tolist()
        self.beta = w.beta.tolist()
        self.eps_edge = w.epsilon_edge.tolist()
        self.eps_cloud = w.epsilon_cloud.tolist()
        self.zeta = w.zeta_joule.tolist()
        self.p = w.p_watt.tolist()
        self.bandwidth = w.bandwidth_hz
        self.noise = w.noise_watt
        self.f_cloud = w.f_cloud_flops
        self.varpi = w.varpi
        self.sequential = w.latency_reading == "sequential"
        self.shared_by_offloaders = w.cloud_sharing == "offloaders"
        self.q_local = [self.qos(self.edge_overhead(i)) for i in range(self.n)]

    def qos(self, overhead: float) -> float:
        return 1.0 - math.log2(1.0 + overhead / self.varpi)

    def edge_overhead(self, i: int) -> float:
        latency = self.psi_head[i] / self.f_head[i] + self.psi_tail[i] / self.f_tail[i]
        energy = self.eps_edge[i] * (self.psi_head[i] + self.psi_tail[i])
        return self.alpha[i] * latency + self.beta[i] * energy

    def cloud_overhead(self, i: int, gamma: float, f_cloud: float) -> float:
        rate = self.bandwidth * math.log2(1.0 + self.rp[i] / (self.noise + gamma))
        transfer = self.d[i] / rate
        psi_tail, delta = self.psi_tail[i], self.delta[i]
        head = self.psi_head[i] / self.f_head[i]
        edge_tail = (1.0 - delta) * psi_tail / self.f_tail[i]
        cloud = delta * psi_tail / f_cloud
        if self.sequential:
            latency = head + edge_tail + cloud + transfer
        else:
            latency = head + max(edge_tail, transfer + cloud)
        energy = (
            self.p[i] * transfer
            + self.eps_edge[i] * (self.psi_head[i] + (1.0 - delta) * psi_tail)
            + self.eps_cloud[i] * delta * psi_tail
            + self.zeta[i]
        )
        return self.alpha[i] * latency + self.beta[i] * energy

    def cloud_share(self, n_offloaders: int) -> float:
        """Return one offloader's cloud compute when ``n_offloaders`` offload."""
        if self.shared_by_offloaders:
            return self.f_cloud / max(n_offloaders, 1)
        return self.f_cloud / self.n


def _channel_power(inst: _Instance, channel: list[int]) -> list[float]:
    power = [0.0] * (inst.m + 1)
    for i in range(inst.n):
        power[channel[i]] += inst.rp[i]
    return power


def _best_responses(inst: _Instance, channel: list[int], power: list[float], n_off: int):
    """Return (response, gain, current QoS, current interference) of every service."""
    responses, gains, currents, gammas = [], [], [], []
    for i in range(inst.n):
        own = channel[i]
        best_channel, best_gamma = 0, math.inf
        current_gamma = math.inf
        for c in range(1, inst.m + 1):
            gamma = power[c] - inst.rp[i] if c == own else power[c]
            gamma = max(gamma, 0.0)
            if c == own:
                current_gamma = gamma
            if gamma < best_gamma:
                best_channel, best_gamma = c, gamma
        if own > 0 and current_gamma <= best_gamma:
            best_channel, best_gamma = own, current_gamma

        # A local service would join the offloaders; an offloader is one of them.
        share = inst.cloud_share(n_off if own > 0 else n_off + 1)
        q_local = inst.q_local[i]
        q_offload = inst.qos(inst.cloud_overhead(i, best_gamma, share))
        if own > 0:
            current = inst.qos(inst.cloud_overhead(i, current_gamma, share))
        else:
            current = q_local
        response = best_channel if q_offload > q_local else 0
        gain = max(q_offload, q_local) - current
        if gain > GAIN_TOLERANCE:
            responses.append(response)
            gains.append(gain)
        else:
            responses.append(own)
            gains.append(0.0)
        currents.append(current)
        gammas.append(current_gamma if own > 0 else 0.0)
    return responses, gains, currents, gammas


def _system_gain(inst, channel, n_off, mover, target, own_gain, currents, gammas) -> float:
    """Return the change of system-wide QoS if ``mover`` switches to ``target``."""
    source = channel[mover]
    new_count = n_off
    if target > 0:
        new_count += 1
    if source > 0:
        new_count -= 1
    share = inst.cloud_share(new_count)
    total = own_gain
    for j in range(inst.n):
        if channel[j] == 0 or j == mover:
            continue
        gamma = gammas[j]
        if channel[j] == target:
            gamma += inst.rp[mover]
        elif channel[j] == source:
            gamma -= inst.rp[mover]
        gamma = max(gamma, 0.0)
        total += inst.qos(inst.cloud_overhead(j, gamma, share)) - currents[j]
    return total


def _system_qos(inst: _Instance, channel: list[int], power: list[float], n_off: int) -> float:
    share = inst.cloud_share(n_off)
    total = 0.0
    for i in range(inst.n):
        if channel[i] == 0:
            total += inst.q_local[i]
        else:
            gamma = max(power[channel[i]] - inst.rp[i], 0.0)
            total += inst.qos(inst.cloud_overhead(i, gamma, share))
    return total


def solve_game_loop(
    workload: Workload,
    update_rule: str = "system",
    rng: int | np.random.Generator = 0,
    max_rounds: int = 100_000,
) -> LoopGameResult:
    """Run Algorithm 2 from the all-local profile with plain Python loops.

    Parameters
    ----------
    workload : Workload
    update_rule : {"system", "random", "own"}
        Which improving request is applied each round: the largest rise of
        system-wide QoS, a uniformly random one, or the largest own gain.
    rng : int or numpy.random.Generator
        Used only by the "random" rule.
    max_rounds : int
        Limit on applied updates; reaching it emits
        :class:`mpdob.game.RoundLimitWarning`.

    Returns
    -------
    LoopGameResult
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a mpdob.system.Workload, got {type(workload)!r}")
    if update_rule not in UPDATE_RULES:
        raise ValueError(f"update_rule must be one of {UPDATE_RULES}, got {update_rule!r}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int | np.integer):
        raise TypeError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    if max_rounds < 0:
        raise ValueError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    rng = as_generator(rng)
    inst = _Instance(workload)
    channel = [0] * inst.n
    n_off = 0
    power = _channel_power(inst, channel)
    qos_history = [_system_qos(inst, channel, power, n_off)]
    moves: list[tuple[int, int, int]] = []
    seen = {tuple(channel)}
    converged = cycled = False
    while True:
        responses, gains, currents, gammas = _best_responses(inst, channel, power, n_off)
        candidates = [i for i in range(inst.n) if gains[i] > 0.0]
        if not candidates:
            converged = True
            break
        if len(moves) >= max_rounds:
            warnings.warn(
                f"Algorithm 2 (loop version) stopped after max_rounds={max_rounds} updates "
                f"with {len(candidates)} services still able to improve",
                RoundLimitWarning,
                stacklevel=2,
            )
            break
        if update_rule == "random":
            mover = int(rng.choice(np.asarray(candidates)))
        else:
            mover, best_score = -1, -math.inf
            for i in candidates:
                if update_rule == "own":
                    score = gains[i]
                else:
                    score = _system_gain(
                        inst, channel, n_off, i, responses[i], gains[i], currents, gammas
                    )
                if score > best_score:
                    mover, best_score = i, score

        old, new = channel[mover], responses[mover]
        moves.append((mover, old, new))
        channel[mover] = new
        if new > 0:
            n_off += 1
        if old > 0:
            n_off -= 1
        power = _channel_power(inst, channel)
        qos_history.append(_system_qos(inst, channel, power, n_off))
        profile = tuple(channel)
        if profile in seen:
            warnings.warn(
                f"Algorithm 2 (loop version) revisited a profile at round {len(moves)}: "
                "the improvement path cycles",
                CycleWarning,
                stacklevel=2,
            )
            cycled = True
            break
        seen.add(profile)
    return LoopGameResult(
        channel=check_channels(workload, np.asarray(channel, dtype=np.int64)),
        rounds=len(moves),
        converged=converged,
        qos_history=np.asarray(qos_history),
        moves=np.asarray(moves, dtype=np.int64).reshape(-1, 3),
        cycled=cycled,
        update_rule=update_rule,
    )
