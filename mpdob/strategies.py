"""MP-DOB and the five baselines of the comparison, behind one interface.

Every strategy is a small class with a ``name`` and a method
``decide(scenario, rng, models=None) -> StrategyResult``. :data:`STRATEGIES`
maps each name to its class and :func:`run_strategy` runs one by name.

The strategies, in the terms of this project's system model:

``elc``
    Entirely local computing: every service runs head and tail at the edge.
``ecc``
    Entirely cloud computing: every service sends its input and runs the
    whole model in the cloud, the services spread evenly over the channels.
``bdo``
    Random binary offloading: each service offloads its whole model with
    probability ``params.bdo_probability`` on a uniformly random channel.
``acco``
    A greedy deadline-first assignment after Guo and Liu (IEEE TVT 2018),
    with whole-task binary offloading; see :class:`ACCO`.
``mtto``
    A whole-task offloading game followed by a Q-learning allocation of the
    cloud, after Jiang et al. (ICWS 2021); see :class:`MTTO`.
``mpdob``, ``mpdob-nolb``
    The paper's method (:func:`mpdob.pipeline.mpdob_step`) with and
    without the load-balance step.

Only MP-DOB partitions the CNN. The four binary baselines other than ELC
use ``make_workload(..., whole_task=True)``: offloading sends the input
``d_in`` and runs the whole model in the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mpdob.game import solve_game
from mpdob.params import as_generator
from mpdob.scenario import Scenario
from mpdob.system import (
    PER_SERVICE_FIELDS,
    Workload,
    cloud_overhead,
    cloud_share,
    edge_overhead,
    evaluate,
    make_workload,
    qos,
    transmission_rate,
)

__all__ = [
    "ACCO",
    "BDO",
    "ECC",
    "ELC",
    "GAME_STRATEGIES",
    "MPDOB",
    "MPDOBNoLoadBalance",
    "MTTO",
    "STRATEGIES",
    "StrategyResult",
    "run_strategy",
]


@dataclass(frozen=True)
class StrategyResult:
    """Decisions and outcome of one strategy on one scenario.

    Attributes
    ----------
    name : str
        Strategy name, a key of :data:`STRATEGIES`.
    channel : ndarray of shape (n_services,)
        0 for local computing, 1..M for offloading on that channel.
    workload : Workload
        What the decisions were priced with: whole-task or partitioned,
        with the segmentation rates ``delta`` and the load balance used.
    f_cloud_flops : ndarray of shape (n_services,)
        Cloud compute each offloader received, FLOP/s; 0 for local services.
    qos : ndarray of shape (n_services,)
        Q_i of eq. (19) at ``workload``, ``channel`` and ``f_cloud_flops``.
    rounds : int
        Decision updates applied: game rounds for the game-based
        strategies, greedy assignments for ACCO, 0 for the others.
    offloading_rate : float
        MP-DOB: offloaded tail FLOP over the total tail FLOP. The other
        strategies: offloading services over N.
    extra : dict
        Strategy-specific details (for example the game result).
    """

    name: str
    channel: np.ndarray
    workload: Workload
    f_cloud_flops: np.ndarray
    qos: np.ndarray
    rounds: int
    offloading_rate: float
    extra: dict = field(default_factory=dict)

    @property
    def system_qos(self) -> float:
        """System-wide QoS, the sum of Q_i (objective of eq. 17)."""
        return float(self.qos.sum())

    @property
    def n_offloading(self) -> int:
        """Number of offloading services."""
        return int(np.count_nonzero(self.channel))


def _check_scenario(scenario) -> Scenario:
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a mpdob.scenario.Scenario, got {type(scenario)!r}")
    return scenario


def _received_cloud(workload: Workload, channel: np.ndarray) -> np.ndarray:
    """Return the cloud share of each offloader under the workload's sharing rule, 0 if local."""
    return np.where(channel > 0, cloud_share(workload, channel), 0.0)


def _qos_at(workload: Workload, channel: np.ndarray, f_cloud_flops: np.ndarray) -> np.ndarray:
    """Return Q_i at a profile when offloaders get the cloud compute ``f_cloud_flops``.

    Local services get edge-only QoS. The placeholder rate and cloud share of
    1 for local services only keep the unused cloud branch finite.
    """
    offload = channel > 0
    rate = np.where(offload, transmission_rate(workload, channel), 1.0)
    f_cloud = np.where(offload, f_cloud_flops, 1.0)
    gamma_cloud = cloud_overhead(workload, rate, f_cloud)[2]
    gamma_edge = edge_overhead(workload)[2]
    return qos(np.where(offload, gamma_cloud, gamma_edge), workload.varpi)


def _binary_result(
    name: str,
    workload: Workload,
    channel: np.ndarray,
    rounds: int = 0,
    extra: dict | None = None,
) -> StrategyResult:
    """Return the result of a binary strategy that uses the model's own cloud sharing."""
    channel = np.asarray(channel, dtype=np.int64)
    evaluation = evaluate(workload, channel)
    return StrategyResult(
        name=name,
        channel=channel,
        workload=workload,
        f_cloud_flops=_received_cloud(workload, channel),
        qos=evaluation.qos,
        rounds=int(rounds),
        offloading_rate=evaluation.n_offloading / workload.n_services,
        extra={} if extra is None else extra,
    )


class ELC:
    """Entirely local computing: every service runs wholly at its edge server.

    The workload is the partitioned one with ``delta = 0``, so each service
    runs its head and tail stages at the edge (eq. 9-11).
    """

    name = "elc"

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Keep every service local. ``rng`` and ``models`` are not used."""
        scenario = _check_scenario(scenario)
        as_generator(rng)
        workload = make_workload(scenario, 0.0)
        channel = np.zeros(scenario.n_services, dtype=np.int64)
        return _binary_result(self.name, workload, channel)


class ECC:
    """Entirely cloud computing: every service runs its whole model in the cloud.

    Each service sends its input ``d_in``. After a random permutation drawn
    from ``rng``, the service at position ``i`` of the permutation uses
    channel ``i % M + 1``, so the channel loads differ by at most one service.
    """

    name = "ecc"

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Offload every service whole, spread evenly over the channels."""
        scenario = _check_scenario(scenario)
        rng = as_generator(rng)
        workload = make_workload(scenario, 1.0, whole_task=True)
        n, m = scenario.n_services, workload.n_channels
        channel = np.empty(n, dtype=np.int64)
        channel[rng.permutation(n)] = np.arange(n) % m + 1
        return _binary_result(self.name, workload, channel)


class BDO:
    """Random binary offloading with probability ``params.bdo_probability``.

    Each service independently offloads its whole model with that
    probability, on a channel drawn uniformly from 1..M.
    """

    name = "bdo"

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Draw each service's binary decision and channel from ``rng``."""
        scenario = _check_scenario(scenario)
        rng = as_generator(rng)
        workload = make_workload(scenario, 1.0, whole_task=True)
        n, m = scenario.n_services, workload.n_channels
        # Both draws happen for every service, so a service's channel does
        # not depend on how many services before it offloaded.
        offload = rng.random(n) < scenario.params.bdo_probability
        drawn = rng.integers(1, m + 1, size=n)
        channel = np.where(offload, drawn, 0)
        return _binary_result(self.name, workload, channel)


class ACCO:
    """Greedy deadline-first offloading, a re-implementation of ACCO.

    What was read: only the MP-DOB paper's one-paragraph account of ACCO
    (Guo and Liu, "Collaborative computation offloading for multiaccess edge
    computing over fiber-wireless networks", IEEE TVT 67(5), 2018). It states
    that ACCO approximates a near-optimal offloading decision with a greedy
    scheme that schedules each user's decision in turn. The original article
    was not available, so the steps below are this project's assumptions,
    priced in this project's cost model with whole-task binary offloading:

    1. A service that misses ``params.deadline_s`` both locally and when
       offloaded alone on an empty channel (no interference, and the whole
       cloud under the "offloaders" sharing rule or 1/N of it under
       "fixed") cannot be helped. It stays
       local and is listed in ``extra["dropped"]``.
    2. Services that miss the deadline locally are offloaded first, largest
       local overhead first, one service per channel so that no two
       offloaders interfere, while free channels remain.
    3. The remaining services, in a random order drawn from ``rng``, offload
       on the next free channel if that lowers their own overhead at the
       cloud share they would then get.

    Each step prices one service in O(1), so the whole pass costs
    O(N log N) for the sort. At most M services offload.
    """

    name = "acco"

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Assign channels greedily: urgent services first, then profitable ones."""
        scenario = _check_scenario(scenario)
        rng = as_generator(rng)
        w = make_workload(scenario, 1.0, whole_task=True)
        n, m = w.n_services, w.n_channels
        deadline = scenario.params.deadline_s

        latency_local, _, gamma_local = edge_overhead(w)
        rate_alone = w.bandwidth_hz * np.log2(1.0 + w.received_power_watt / w.noise_watt)
        f_alone = w.f_cloud_flops if w.cloud_sharing == "offloaders" else w.f_cloud_flops / n
        latency_alone = cloud_overhead(w, rate_alone, np.full(n, f_alone))[0]
        late_locally = latency_local > deadline
        dropped = late_locally & (latency_alone > deadline)
        urgent = np.nonzero(late_locally & ~dropped)[0]

        channel = np.zeros(n, dtype=np.int64)
        next_channel = 1
        deadline_first = []
        for i in urgent[np.argsort(-gamma_local[urgent], kind="stable")]:
            if next_channel > m:
                break
            channel[i] = next_channel
            deadline_first.append(int(i))
            next_channel += 1

        profitable = []
        remaining = np.nonzero((channel == 0) & ~dropped)[0]
        for i in rng.permutation(remaining):
            if next_channel > m:
                break
            n_after = next_channel  # number of offloaders once service i joins
            f_cloud = w.f_cloud_flops / (n_after if w.cloud_sharing == "offloaders" else n)
            gamma_cloud = _single_cloud_overhead(w, int(i), rate_alone[i], f_cloud)
            if gamma_cloud < gamma_local[i]:
                channel[i] = next_channel
                profitable.append(int(i))
                next_channel += 1

        extra = {
            "dropped": np.nonzero(dropped)[0],
            "deadline_first": np.asarray(deadline_first, dtype=np.int64),
            "profitable": np.asarray(profitable, dtype=np.int64),
            "deadline_s": deadline,
        }
        rounds = len(deadline_first) + len(profitable)
        return _binary_result(self.name, w, channel, rounds=rounds, extra=extra)


def _subset(w: Workload, index) -> Workload:
    """Return the workload of the services ``index`` only."""
    return w.replace(**{name: getattr(w, name)[index] for name in PER_SERVICE_FIELDS})


def _single_cloud_overhead(w: Workload, i: int, rate_bps: float, f_cloud_flops: float) -> float:
    """Return Gamma_c of service ``i`` at one rate and cloud share (eq. 12-16)."""
    one = _subset(w, slice(i, i + 1))
    return float(cloud_overhead(one, np.array([rate_bps]), np.array([f_cloud_flops]))[2][0])


class MTTO:
    """Whole-task offloading game plus a Q-learning cloud allocation, after MTTO.

    This is a reading, not a re-implementation: only the abstract of Jiang
    et al., "Game theory-based task offloading and resource allocation for
    vehicular networks in edge-cloud computing" (ICWS 2021), is public, and
    the MP-DOB paper describes MTTO in one paragraph (a game for the
    offloading decision, then reinforcement-learning resource allocation).

    Step 1 runs Algorithm 2 (:func:`mpdob.game.solve_game`) on the
    whole-task workload with the ``"system"`` update rule. The MP-DOB paper
    describes MTTO as fixing the offloading policy with respect to the whole
    system. It also attributes MP-DOB's lead over MTTO to CNN partitioning
    and load balance, so both methods use the same rule here and differ only
    in those two steps.

    Step 2 reallocates the cloud among the offloaders with tabular
    Q-learning. The budget is the cloud compute the offloaders share under
    the model's sharing rule. Each offloader is in one of
    :attr:`MTTO.n_buckets` states, the tercile of its cloud work among the
    offloaders, and picks a level from :attr:`MTTO.levels` (multiples of the
    equal share). The shares are the levels normalised to the budget. One
    episode is one joint allocation and its reward is the system-wide QoS,
    so each episode is a single step and the update is
    ``Q[s, a] += learning_rate * (reward - Q[s, a])``. Actions are
    epsilon-greedy. The Q table starts at the equal-share reward. After
    :attr:`MTTO.episodes` episodes each offloader takes its state's greedy
    level. If that allocation scores below the equal share, the equal share
    is kept (``extra["allocation"]`` records which).

    NOTE: on the parameter file's instances checked (N = 100 and 1,000,
    seeds 1 and 2), none of the 64 per-tercile level choices beat the equal
    share, so this step keeps the equal share and MTTO's QoS equals that of
    the whole-task game.

    Transfer rates stay those of the game's profile. Only the cloud shares
    change, so the reported QoS is ``cloud_overhead`` at the reported
    ``f_cloud_flops``.
    """

    name = "mtto"
    update_rule = "system"
    #: Share levels an offloader can pick, as multiples of the equal share.
    levels = (0.5, 1.0, 1.5, 2.0)
    #: Number of states: buckets of cloud work among the offloaders.
    n_buckets = 3
    #: Number of Q-learning episodes (one joint allocation each).
    episodes = 200
    learning_rate = 0.1
    epsilon = 0.2

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Solve the whole-task game, then learn a cloud allocation for its offloaders."""
        scenario = _check_scenario(scenario)
        rng = as_generator(rng)
        w = make_workload(scenario, 1.0, whole_task=True)
        game = solve_game(
            w, update_rule=self.update_rule, rng=rng, max_rounds=scenario.params.max_rounds
        )
        channel = game.channel.astype(np.int64)
        equal = _received_cloud(w, channel)
        off = np.nonzero(channel > 0)[0]
        extra = {"game": game, "levels": self.levels, "allocation": "equal"}
        if off.size == 0:
            return _mtto_result(self.name, w, channel, equal, game, extra)

        f_cloud, learned = self._learn_allocation(w, channel, off, equal, rng)
        extra.update(learned)
        return _mtto_result(self.name, w, channel, f_cloud, game, extra)

    def _learn_allocation(self, w, channel, off, equal, rng):
        budget = float(equal[off].sum())
        work = (w.delta * w.psi_tail_flop)[off]
        rank = np.argsort(np.argsort(work, kind="stable"), kind="stable")
        state = rank * self.n_buckets // off.size
        levels = np.asarray(self.levels)

        rate = transmission_rate(w, channel)[off]
        sub = _subset(w, off)
        q_local_sum = float(qos(edge_overhead(w)[2], w.varpi)[channel == 0].sum())

        def system_qos(action: np.ndarray) -> float:
            weight = levels[action]
            shares = budget * weight / weight.sum()
            return q_local_sum + float(qos(cloud_overhead(sub, rate, shares)[2], w.varpi).sum())

        equal_action = np.full(off.size, int(np.argmax(levels == 1.0)))
        equal_reward = system_qos(equal_action)
        table = np.full((self.n_buckets, levels.size), equal_reward)
        for _ in range(self.episodes):
            greedy = np.argmax(table[state], axis=1)
            explore = rng.random(off.size) < self.epsilon
            random_action = rng.integers(0, levels.size, size=off.size)
            action = np.where(explore, random_action, greedy)
            reward = system_qos(action)
            # One-step episodes make the target the reward itself. When several
            # offloaders share a (state, action) cell, the cell is updated once.
            cells = np.unique(state * levels.size + action)
            s, a = np.divmod(cells, levels.size)
            table[s, a] += self.learning_rate * (reward - table[s, a])

        greedy = np.argmax(table[state], axis=1)
        learned_reward = system_qos(greedy)
        f_cloud = equal.copy()
        details = {
            "q_table": table,
            "state": state,
            "system_qos_equal_share": equal_reward,
            "system_qos_learned": learned_reward,
        }
        if learned_reward > equal_reward:
            weight = levels[greedy]
            f_cloud[off] = budget * weight / weight.sum()
            details["allocation"] = "learned"
            details["level"] = levels[greedy]
        else:
            details["level"] = np.ones(off.size)
        return f_cloud, details


def _mtto_result(name, w, channel, f_cloud, game, extra) -> StrategyResult:
    return StrategyResult(
        name=name,
        channel=channel,
        workload=w,
        f_cloud_flops=f_cloud,
        qos=_qos_at(w, channel, f_cloud),
        rounds=game.rounds,
        offloading_rate=game.n_offloading / w.n_services,
        extra=extra,
    )


class MPDOB:
    """The paper's method: CNN partitioning, Algorithm 2 and learned load balance.

    Calls :func:`mpdob.pipeline.mpdob_step`. ``models`` is the trained bundle
    of :func:`mpdob.learn.get_models`; ``None`` lets the pipeline load or
    train the default bundle for ``scenario.params``.

    Parameters
    ----------
    delta_mode : {"learned", "exact", "zero", "one"}
        How the segmentation rates are chosen (passed to ``mpdob_step``).
    load_balance : {"learned", "exact", "none"}, optional
        Overrides the class default, ``"learned"`` for ``mpdob``.
    """

    name = "mpdob"
    default_load_balance = "learned"

    def __init__(self, delta_mode: str = "learned", load_balance: str | None = None):
        from mpdob.pipeline import DELTA_MODES, LOAD_BALANCE_MODES

        if load_balance is None:
            load_balance = self.default_load_balance
        if delta_mode not in DELTA_MODES:
            raise ValueError(f"delta_mode must be one of {DELTA_MODES}, got {delta_mode!r}")
        if load_balance not in LOAD_BALANCE_MODES:
            raise ValueError(
                f"load_balance must be one of {LOAD_BALANCE_MODES}, got {load_balance!r}"
            )
        self.delta_mode = delta_mode
        self.load_balance = load_balance

    def decide(self, scenario: Scenario, rng, models=None) -> StrategyResult:
        """Run one MP-DOB slot and repackage its result."""
        from mpdob.pipeline import mpdob_step

        scenario = _check_scenario(scenario)
        rng = as_generator(rng)
        step = mpdob_step(
            scenario,
            rng,
            models,
            load_balance=self.load_balance,
            delta_mode=self.delta_mode,
        )
        w = step.workload
        channel = np.asarray(step.channel, dtype=np.int64)
        # MP-DOB's rate is the offloaded share of the tail FLOP (Fig. 6 of the MP-DOB paper).
        offloaded_tail = float(np.sum(np.where(channel > 0, w.delta * w.psi_tail_flop, 0.0)))
        extra = {
            "game": step.game,
            "delta": step.delta,
            "omega": step.omega,
            "qos_without_lb": step.qos_without_lb,
            "system_qos_without_lb": step.system_qos_without_lb,
            "workload_without_lb": step.workload_without_lb,
            "load_balance": self.load_balance,
            "delta_mode": self.delta_mode,
        }
        return StrategyResult(
            name=self.name,
            channel=channel,
            workload=w,
            f_cloud_flops=_received_cloud(w, channel),
            qos=np.asarray(step.qos, dtype=float),
            rounds=int(step.game.rounds),
            offloading_rate=offloaded_tail / float(np.sum(w.psi_tail_flop)),
            extra=extra,
        )


class MPDOBNoLoadBalance(MPDOB):
    """MP-DOB without the load-balance step (Algorithm 3 off)."""

    name = "mpdob-nolb"
    default_load_balance = "none"


#: Strategy name to strategy class, for :func:`run_strategy`.
STRATEGIES: dict[str, type] = {
    cls.name: cls for cls in (MPDOB, MPDOBNoLoadBalance, ELC, ECC, BDO, ACCO, MTTO)
}

# Strategies whose result carries a GameResult in extra["game"].
GAME_STRATEGIES = ("mpdob", "mpdob-nolb", "mtto")


def run_strategy(name: str, scenario: Scenario, rng, models=None) -> StrategyResult:
    """Run the strategy called ``name`` on ``scenario``.

    Parameters
    ----------
    name : str
        A key of :data:`STRATEGIES`.
    scenario : Scenario
    rng : int or numpy.random.Generator
        The run's only source of randomness.
    models : ModelBundle, optional
        Trained predictors for MP-DOB; other strategies ignore it.

    Raises
    ------
    ValueError
        If ``name`` is not a known strategy.
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(sorted(STRATEGIES))}, got {name!r}")
    return STRATEGIES[name]().decide(scenario, rng, models)
