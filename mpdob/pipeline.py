"""One MP-DOB time slot end to end: segmentation rate, offloading game, load balance.

The partition point (PDP) of each service is already part of the scenario.
:func:`mpdob_step` then

1. sets each service's segmentation rate delta (Algorithm 1): from the
   trained regressor or the exact optimum of :func:`mpdob.learn.exact_delta`;
2. runs the offloading game on the tails (Algorithm 2) with the parameters'
   update rule and round limit, without load balance;
3. picks the load-balance choice omega (Algorithm 3) from the trained
   classifier, from the classifier followed by a local search, by exact
   search or not at all, and evaluates the slot with the game's channels
   held fixed.

Load balance runs alongside the game, as Algorithm 3 of the MP-DOB paper
places it, so the game does not see omega. Omega still changes the edge-tail compute of the ESs it
touches (see :func:`mpdob.system.edge_stage_rates`), so the channels the
game chose need not stay an equilibrium once omega is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpdob.game import GameResult, solve_game
from mpdob.learn import ModelBundle, exact_balance, exact_delta, get_models
from mpdob.params import as_generator
from mpdob.scenario import Scenario
from mpdob.system import Workload, evaluate, make_workload

__all__ = ["DELTA_MODES", "LOAD_BALANCE_MODES", "MPDOBResult", "mpdob_step"]

# "refined" starts mpdob.learn.refine_balance, a local search, from the learned omega.
LOAD_BALANCE_MODES = ("learned", "refined", "exact", "none")
# "zero" and "one" are the trivial rules the regressor is compared with.
DELTA_MODES = ("learned", "exact", "zero", "one")


@dataclass(frozen=True)
class MPDOBResult:
    """Outcome of one MP-DOB slot.

    Attributes
    ----------
    channel : ndarray of shape (n_services,)
        The game's decisions, 0 = local, m = channel m.
    delta : ndarray of shape (n_services,)
        Segmentation rate of each service.
    omega : ndarray of shape (n_edge_servers,)
        Load-balance choice (all zero when ``load_balance="none"``).
    qos, qos_without_lb : ndarray of shape (n_services,)
        Q_i (eq. 19) with and without load balance, same channels.
    system_qos, system_qos_without_lb : float
        Sums of ``qos`` and ``qos_without_lb``.
    offloading_rate : float
        Offloaded tail FLOP (delta psi_tail over offloaders) divided by the
        total tail FLOP of the slot.
    game : GameResult
    workload, workload_without_lb : Workload
        The slot's workload with omega applied and without it.
    """

    channel: np.ndarray
    delta: np.ndarray
    omega: np.ndarray
    qos: np.ndarray
    qos_without_lb: np.ndarray
    system_qos: float
    system_qos_without_lb: float
    offloading_rate: float
    game: GameResult
    workload: Workload
    workload_without_lb: Workload


def _choose_delta(scenario: Scenario, delta_mode: str, models) -> np.ndarray:
    if delta_mode == "exact":
        return exact_delta(scenario)
    if delta_mode == "zero":
        return np.zeros(scenario.n_services)
    if delta_mode == "one":
        return np.ones(scenario.n_services)
    return models.delta_model.predict_scenario(scenario)


def mpdob_step(
    scenario: Scenario,
    rng: int | np.random.Generator,
    models: ModelBundle | None = None,
    load_balance: str = "learned",
    delta_mode: str = "learned",
) -> MPDOBResult:
    """Run one MP-DOB slot: delta, the offloading game, then load balance.

    Parameters
    ----------
    scenario : Scenario
    rng : int or numpy.random.Generator
        Passed to the game; only its "random" update rule draws from it.
    models : ModelBundle, optional
        Trained predictors. ``None`` loads or trains the default bundle for
        ``scenario.params`` with :func:`mpdob.learn.get_models`. No bundle is
        needed when neither mode uses a trained model.
    load_balance : {"learned", "refined", "exact", "none"}
        ``"refined"`` improves the learned omega by single-bit flips
        (:func:`mpdob.learn.refine_balance`).
    delta_mode : {"learned", "exact", "zero", "one"}
        ``"zero"`` and ``"one"`` set every delta to that value.

    Returns
    -------
    MPDOBResult
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a mpdob.scenario.Scenario, got {type(scenario)!r}")
    if load_balance not in LOAD_BALANCE_MODES:
        raise ValueError(f"load_balance must be one of {LOAD_BALANCE_MODES}, got {load_balance!r}")
    if delta_mode not in DELTA_MODES:
        raise ValueError(f"delta_mode must be one of {DELTA_MODES}, got {delta_mode!r}")
    rng = as_generator(rng)
    needs_models = load_balance in ("learned", "refined") or delta_mode == "learned"
    if needs_models and models is None:
        models = get_models(scenario.params)
    if needs_models and not isinstance(models, ModelBundle):
        raise TypeError(f"models must be a mpdob.learn.ModelBundle or None, got {type(models)!r}")

    params = scenario.params
    delta = _choose_delta(scenario, delta_mode, models)
    workload_without_lb = make_workload(scenario, delta)
    game = solve_game(
        workload_without_lb,
        update_rule=params.update_rule,
        rng=rng,
        max_rounds=params.max_rounds,
    )
    channel = game.channel

    if load_balance == "exact":
        omega, _ = exact_balance(scenario, channel, delta)
    elif load_balance in ("learned", "refined"):
        omega = models.balance_model.predict_scenario(
            scenario, channel, delta, refine=load_balance == "refined"
        )
    else:
        omega = np.zeros(scenario.n_edge_servers, dtype=int)
    workload = make_workload(scenario, delta, omega)
    with_lb = evaluate(workload, channel)
    without_lb = evaluate(workload_without_lb, channel)

    offloaded = np.sum(np.where(channel > 0, delta, 0.0) * scenario.psi_tail_flop)
    total_tail = float(np.sum(scenario.psi_tail_flop))
    return MPDOBResult(
        channel=channel,
        delta=np.asarray(delta, dtype=float),
        omega=np.asarray(omega, dtype=int),
        qos=with_lb.qos,
        qos_without_lb=without_lb.qos,
        system_qos=with_lb.system_qos,
        system_qos_without_lb=without_lb.system_qos,
        offloading_rate=float(offloaded / total_tail) if total_tail > 0 else 0.0,
        game=game,
        workload=workload,
        workload_without_lb=workload_without_lb,
    )
