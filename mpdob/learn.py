"""Learned decisions of MP-DOB: segmentation rate (Algorithm 1) and load balance (Algorithm 3).

The MP-DOB paper makes both decisions with a "neural network" that it does
not specify. Here two small multi-layer perceptrons (MLPs) take that role,
each trained on exact labels that this module computes:

- :class:`DeltaPredictor` maps what an edge server (ES) has at slot start
  about one service to the segmentation rate delta that minimises the
  service's cloud-edge overhead Gamma_c (eq. 16). :func:`optimal_delta`
  computes that minimum exactly.
- :class:`BalancePredictor` maps the global status that the base station
  collects to the load-balance choice omega (one bit per ES: run the heads
  of its services on its nearest ES). :func:`exact_balance` finds the best
  omega by evaluating all 2^E choices, and :func:`refine_balance` improves
  a predicted omega by a local search.

:func:`train_models` trains both, measures them on held-out scenarios and
returns a :class:`ModelBundle`; :func:`get_models` caches bundles on disk
under ``data/models/`` and rejects a cached bundle that no longer matches
the installed scikit-learn, the feature lists or the parameters.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mpdob.game import solve_game
from mpdob.params import Params, as_generator
from mpdob.scenario import Scenario, generate_scenario
from mpdob.system import (
    Workload,
    check_channels,
    cloud_share,
    edge_stage_rates,
    make_workload,
    transmission_rate,
)

__all__ = [
    "BALANCE_FEATURES",
    "DEFAULT_CACHE_DIR",
    "DELTA_FEATURES",
    "BalancePredictor",
    "DeltaPredictor",
    "ModelBundle",
    "ModelMismatchError",
    "balance_features",
    "balance_system_qos",
    "delta_features",
    "estimated_conditions",
    "evaluate_balance_model",
    "evaluate_delta_model",
    "exact_balance",
    "exact_delta",
    "bundle_path",
    "bundle_summary",
    "get_models",
    "load_bundle",
    "optimal_delta",
    "overhead_at_delta",
    "params_hash",
    "refine_balance",
    "save_bundle",
    "time_exact_balance",
    "train_models",
]

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[1] / "data" / "models"

# Inputs of the segmentation-rate regressor, one row per service. "log10_"
# features span several decades, so the regressor takes their logarithm.
DELTA_FEATURES = (
    "log10_psi_tail_flop",
    "log10_d_med_bit",
    "log10_tail_rate_flops",
    "log10_expected_f_cloud_flops",
    "log10_estimated_rate_bps",
    "alpha",
    "beta",
    "epsilon_edge_joule_per_tflop",
    "epsilon_cloud_joule_per_tflop",
    "zeta_joule",
)

# Inputs of the load-balance classifier, one row per ES j with nearest ES k.
# Loads are in seconds of work at the ES's full compute, summed over services.
BALANCE_FEATURES = (
    "n_services_own",
    "n_services_nearest",
    "head_seconds_own",
    "head_seconds_nearest",
    "edge_tail_seconds_own",
    "edge_tail_seconds_nearest",
    "alpha_sum_own",
    "alpha_sum_nearest",
    "n_services_sending_to_own",
    "n_services_sending_to_nearest",
    "nearest_is_mutual",
    "log10_f_edge_own",
    "log10_f_edge_nearest",
    "qos_gain_own_alone",
    "qos_gain_nearest_alone",
    "qos_gain_both",
)

# Version of the stored bundle layout and of the code that builds features,
# labels and predictions. Raise it when any of these change, so that cached
# bundles are rejected.
BUNDLE_FORMAT = 4

# Parameters that change neither features nor labels; they stay out of the hash.
_UNHASHED_PARAMS = ("bdo_probability", "deadline", "assignment")

# Optimal load-balance gains at or below this many QoS units count as none.
GAIN_TOLERANCE = 1e-6

# Training defaults, sized so both models train in well under a minute on 2 cores.
DEFAULT_N_RANGE = (9, 90)
DEFAULT_DELTA_SCENARIOS = 300
DEFAULT_BALANCE_SCENARIOS = 600
DEFAULT_TEST_SCENARIOS = 150


# --------------------------------------------------------------------------
# Segmentation rate (Algorithm 1)
# --------------------------------------------------------------------------


def estimated_conditions(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Return the rate and cloud share an ES expects for each service at slot start.

    The ES does not know the game's outcome, so it assumes that
    ``n_hat = min(N, M)`` services offload, each on a channel of its own:

    - estimated rate: the interference-free rate of eq. (8),
      ``B log2(1 + p g / sigma_0)``, bit/s;
    - expected cloud share: ``f_cloud / n_hat`` when offloaders share the
      cloud, ``f_cloud / N`` under the "fixed" cloud sharing, FLOP/s.

    NOTE: this is an observation, not a guarantee. In equilibria checked
    with the default parameters (d^-4 path loss, N from 20 to 90), no two
    offloaders shared a channel and about ``min(N, M)`` services offloaded,
    so both estimates were close to what offloaders got. Other parameters
    can make them less accurate.

    Returns
    -------
    rate_bps, f_cloud_flops : ndarray of shape (n_services,)
    """
    params = scenario.params
    n = scenario.n_services
    received = scenario.p_watt * scenario.gain
    rate = params.bandwidth_hz * np.log2(1.0 + received / params.noise_power_watt)
    if params.cloud_sharing == "fixed":
        sharers = n
    else:
        sharers = min(n, params.n_channels)
    f_cloud = np.full(n, params.f_cloud_flops / sharers)
    return rate, f_cloud


def _delta_terms(workload: Workload, rate_bps, f_cloud_flops) -> dict[str, np.ndarray]:
    """Return the delta-independent pieces of Gamma_c(delta) = a + b delta + alpha L(delta)."""
    w = workload
    rate = np.broadcast_to(np.asarray(rate_bps, dtype=float), (w.n_services,))
    f_cloud = np.broadcast_to(np.asarray(f_cloud_flops, dtype=float), (w.n_services,))
    for name, value in (("rate_bps", rate), ("f_cloud_flops", f_cloud)):
        bad = ~(np.isfinite(value) & (value > 0))
        if np.any(bad):
            raise ValueError(f"{name} must be finite and > 0, got {value[bad][0]!r}")
    transfer = w.d_med_bit / rate
    energy_at_zero = (
        w.p_watt * transfer + w.epsilon_edge * (w.psi_head_flop + w.psi_tail_flop) + w.zeta_joule
    )
    return {
        "head": w.psi_head_flop / w.head_rate_flops,
        "edge_tail": w.psi_tail_flop / w.tail_rate_flops,
        "cloud_tail": w.psi_tail_flop / f_cloud,
        "transfer": transfer,
        "energy_at_zero": energy_at_zero,
        "energy_slope": (w.epsilon_cloud - w.epsilon_edge) * w.psi_tail_flop,
    }


def _overhead_from_terms(terms, alpha, beta, delta, reading: str) -> np.ndarray:
    edge = (1.0 - delta) * terms["edge_tail"]
    cloud = terms["transfer"] + delta * terms["cloud_tail"]
    if reading == "sequential":
        latency = terms["head"] + edge + cloud
    else:
        latency = terms["head"] + np.maximum(edge, cloud)
    energy = terms["energy_at_zero"] + delta * terms["energy_slope"]
    return alpha * latency + beta * energy


def overhead_at_delta(workload: Workload, delta, rate_bps, f_cloud_flops) -> np.ndarray:
    """Return Gamma_c (eq. 16) of every service at segmentation rate ``delta``.

    Parameters
    ----------
    workload : Workload
        Its own ``delta`` field is ignored.
    delta : float or ndarray broadcastable to (..., n_services)
        Segmentation rates in [0, 1].
    rate_bps, f_cloud_flops : float or ndarray of shape (n_services,)
        Transfer rate and cloud compute the service gets.
    """
    delta = np.asarray(delta, dtype=float)
    if np.any((delta < 0) | (delta > 1)) or not np.all(np.isfinite(delta)):
        raise ValueError(f"delta must lie in [0, 1], got {delta[(delta < 0) | (delta > 1)]!r}")
    terms = _delta_terms(workload, rate_bps, f_cloud_flops)
    return _overhead_from_terms(
        terms, workload.alpha, workload.beta, delta, workload.latency_reading
    )


def optimal_delta(
    workload: Workload, rate_bps, f_cloud_flops, method: str = "closed_form"
) -> np.ndarray:
    """Return the segmentation rate that minimises each service's Gamma_c.

    Sequential reading: Gamma_c is linear in delta, so the minimum is at 0 or
    1 (0 on a tie). Parallel reading: the latency is the larger of the
    falling edge branch (1 - delta) T_e and the rising cloud branch
    transfer + delta T_c, and the energy is linear, so Gamma_c is convex
    and piecewise linear. Its minimum lies at 0, at 1 or where the branches
    cross, delta_x = (T_e - transfer) / (T_e + T_c), and the closed form
    takes the best of these (the smallest delta on a tie).

    Parameters
    ----------
    workload : Workload
    rate_bps, f_cloud_flops : float or ndarray of shape (n_services,)
        Conditions the optimum is computed for.
    method : {"closed_form", "numeric"}
        ``"numeric"`` runs :func:`scipy.optimize.minimize_scalar` (bounded)
        per service and is kept to check the closed form.

    Returns
    -------
    ndarray of shape (n_services,)
    """
    if method not in ("closed_form", "numeric"):
        raise ValueError(f"method must be 'closed_form' or 'numeric', got {method!r}")
    w = workload
    terms = _delta_terms(w, rate_bps, f_cloud_flops)
    reading = w.latency_reading
    if method == "numeric":
        return _optimal_delta_numeric(w, terms)
    if reading == "sequential":
        slope = (
            w.alpha * (terms["cloud_tail"] - terms["edge_tail"]) + w.beta * terms["energy_slope"]
        )
        return np.where(slope < 0.0, 1.0, 0.0)
    crossing = (terms["edge_tail"] - terms["transfer"]) / (terms["edge_tail"] + terms["cloud_tail"])
    candidates = np.stack(
        [np.zeros(w.n_services), np.clip(crossing, 0.0, 1.0), np.ones(w.n_services)]
    )
    values = _overhead_from_terms(terms, w.alpha, w.beta, candidates, reading)
    # On ties argmin keeps the first candidate in the order 0, crossing, 1.
    best = np.argmin(values, axis=0)
    return candidates[best, np.arange(w.n_services)]


def _optimal_delta_numeric(w: Workload, terms: dict) -> np.ndarray:
    out = np.empty(w.n_services)
    for i in range(w.n_services):
        own = {name: value[i] for name, value in terms.items()}

        def gamma(delta, own=own, i=i):
            return float(_overhead_from_terms(own, w.alpha[i], w.beta[i], delta, w.latency_reading))

        result = minimize_scalar(
            gamma, bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-10}
        )
        # The bounded method never evaluates the bounds themselves.
        ends = [(gamma(0.0), 0.0), (gamma(1.0), 1.0), (result.fun, float(result.x))]
        out[i] = min(ends)[1]
    return out


def exact_delta(scenario: Scenario, method: str = "closed_form") -> np.ndarray:
    """Return the optimal delta of every service under :func:`estimated_conditions`.

    These are the regressor's training labels and the ``delta_mode="exact"``
    decision of :func:`mpdob.pipeline.mpdob_step`.
    """
    rate, f_cloud = estimated_conditions(scenario)
    return optimal_delta(make_workload(scenario, 0.0), rate, f_cloud, method=method)


def delta_features(scenario: Scenario) -> np.ndarray:
    """Return the regressor's inputs, shape (n_services, len(DELTA_FEATURES)).

    Only quantities an ES has at slot start enter: the service's tail and
    intermediate data, its tail-stage compute without load balance, the
    estimated rate and cloud share, its weights and energy coefficients.
    """
    _, tail_rate = edge_stage_rates(scenario)
    rate, f_cloud = estimated_conditions(scenario)
    columns = (
        np.log10(np.maximum(scenario.psi_tail_flop, 1.0)),
        np.log10(scenario.d_med_bit),
        np.log10(tail_rate),
        np.log10(f_cloud),
        np.log10(rate),
        scenario.alpha,
        scenario.beta,
        scenario.epsilon_edge * 1e12,
        scenario.epsilon_cloud * 1e12,
        scenario.zeta_joule,
    )
    return np.column_stack(columns)


def _fit_quietly(estimator, x, y) -> bool:
    """Fit ``estimator`` and return False when it raised a ConvergenceWarning."""
    # One BLAS thread keeps the fit reproducible run to run on one machine.
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(x, y)
    not_converged = [c for c in caught if issubclass(c.category, ConvergenceWarning)]
    for other in caught:
        if not issubclass(other.category, ConvergenceWarning):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if not_converged:
        logger.warning("MLP training stopped before convergence: %s", not_converged[0].message)
    return not not_converged


@dataclass
class DeltaPredictor:
    """MLP regressor from :func:`delta_features` to the optimal delta.

    A scikit-learn Pipeline of StandardScaler and MLPRegressor. The
    regression output is projected onto the set where the optimum can lie.
    This projection is a fixed step after the network, not something it
    learned. Under the parallel reading the output is clipped to [0, 1].
    Under the sequential reading it is rounded to 0 or 1, because Gamma_c is
    linear in delta there and the optimum is always an end point.
    """

    latency_reading: str = "sequential"
    hidden_layer_sizes: tuple[int, ...] = (64, 64)
    random_state: int = 0
    max_iter: int = 300
    pipeline: Pipeline | None = None
    converged: bool = False

    def fit(self, x: np.ndarray, y: np.ndarray) -> DeltaPredictor:
        """Train on features ``x`` (n, len(DELTA_FEATURES)) and labels ``y`` (n,)."""
        x = _check_features("x", x, len(DELTA_FEATURES))
        self.pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "mlp",
                    MLPRegressor(
                        hidden_layer_sizes=self.hidden_layer_sizes,
                        max_iter=self.max_iter,
                        early_stopping=True,
                        n_iter_no_change=20,
                        random_state=self.random_state,
                    ),
                ),
            ]
        )
        self.converged = _fit_quietly(self.pipeline, x, np.asarray(y, dtype=float))
        return self

    def predict(self, x: np.ndarray, project: bool = True) -> np.ndarray:
        """Return delta for each row of ``x``.

        With ``project=False`` the output is only clipped to [0, 1], also
        under the sequential reading.
        """
        if self.pipeline is None:
            raise ValueError("DeltaPredictor is not trained; call fit() or run `mpdob train`")
        x = _check_features("x", x, len(DELTA_FEATURES))
        delta = np.clip(self.pipeline.predict(x), 0.0, 1.0)
        if project and self.latency_reading == "sequential":
            return np.where(delta >= 0.5, 1.0, 0.0)
        return delta

    def predict_scenario(self, scenario: Scenario) -> np.ndarray:
        """Return the predicted delta of every service of ``scenario``."""
        return self.predict(delta_features(scenario))


def _check_features(name: str, x, n_columns: int) -> np.ndarray:
    array = np.asarray(x, dtype=float)
    if array.ndim != 2 or array.shape[1] != n_columns:
        raise ValueError(f"{name} must have shape (n, {n_columns}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got a non-finite entry")
    return array


# --------------------------------------------------------------------------
# Load balance (Algorithm 3)
# --------------------------------------------------------------------------


def _all_omegas(n_es: int) -> np.ndarray:
    codes = np.arange(2**n_es)[:, None]
    return (codes >> np.arange(n_es)[None, :]) & 1


def balance_system_qos(scenario: Scenario, channel, delta, omegas) -> np.ndarray:
    """Return the system QoS for each load-balance choice, channels held fixed.

    Load balance changes the stage counts of the ESs, so it changes every
    affected service's head and edge-tail compute. The channels, and so the
    rates and cloud shares, stay as the game left them.

    Parameters
    ----------
    scenario : Scenario
    channel : ndarray of shape (n_services,)
        Decision profile, 0 = local.
    delta : float or ndarray of shape (n_services,)
    omegas : ndarray of shape (K, n_edge_servers)
        Load-balance choices with entries 0 or 1.

    Returns
    -------
    ndarray of shape (K,)
        Sum of Q_i (eq. 19) for each choice; it equals
        ``evaluate(make_workload(scenario, delta, omega), channel).system_qos``.
    """
    n_es = scenario.n_edge_servers
    omegas = np.asarray(omegas)
    if omegas.ndim != 2 or omegas.shape[1] != n_es or not np.all((omegas == 0) | (omegas == 1)):
        raise ValueError(
            f"omegas must have shape (K, {n_es}) with entries 0 or 1, got shape {omegas.shape}"
        )
    base = make_workload(scenario, delta)
    channel = check_channels(base, channel)
    home = scenario.service_es
    k = omegas.shape[0]
    head_es = np.where(omegas[:, home] == 1, scenario.nearest_es[home][None, :], home[None, :])
    offsets = n_es * np.arange(k)[:, None]
    head_count = np.bincount((head_es + offsets).ravel(), minlength=k * n_es).reshape(k, n_es)
    stages = head_count + np.bincount(home, minlength=n_es)[None, :]
    f_edge = scenario.f_edge_flops
    head_rate = f_edge[head_es] / np.take_along_axis(stages, head_es, axis=1)
    tail_rate = f_edge[home][None, :] / stages[:, home]

    w = base
    offload = channel > 0
    rate = np.where(offload, transmission_rate(w, channel), 1.0)
    f_cloud = cloud_share(w, channel)
    head = w.psi_head_flop / head_rate
    edge_tail_full = w.psi_tail_flop / tail_rate
    local = w.alpha * (head + edge_tail_full) + w.beta * w.epsilon_edge * (
        w.psi_head_flop + w.psi_tail_flop
    )
    transfer = w.d_med_bit / rate
    edge_tail = (1.0 - w.delta) * edge_tail_full
    cloud = transfer + w.delta * w.psi_tail_flop / f_cloud
    if w.latency_reading == "sequential":
        latency = head + edge_tail + cloud
    else:
        latency = head + np.maximum(edge_tail, cloud)
    energy = (
        w.p_watt * transfer
        + w.epsilon_edge * (w.psi_head_flop + (1.0 - w.delta) * w.psi_tail_flop)
        + w.epsilon_cloud * w.delta * w.psi_tail_flop
        + w.zeta_joule
    )
    overhead = np.where(offload, w.alpha * latency + w.beta * energy, local)
    return (1.0 - np.log2(1.0 + overhead / w.varpi)).sum(axis=1)


def exact_balance(scenario: Scenario, channel, delta) -> tuple[np.ndarray, float]:
    """Return the best load-balance choice omega and its system QoS.

    Evaluates all 2^E choices at once (512 for E = 9), so time and memory
    grow as 2^E N. The all-zero choice is a candidate, so the result never
    has a lower system QoS than no load balance. On ties the choice with the
    smallest binary code (ES 0 is the lowest bit) wins.

    Returns
    -------
    omega : ndarray of shape (n_edge_servers,)
    system_qos : float
    """
    n_es = scenario.n_edge_servers
    if n_es > 20:
        raise ValueError(f"exact_balance needs n_edge_servers <= 20 (2^E choices), got {n_es}")
    omegas = _all_omegas(n_es)
    values = balance_system_qos(scenario, channel, delta, omegas)
    best = int(np.argmax(values))
    return omegas[best].astype(int), float(values[best])


def balance_features(scenario: Scenario, channel, delta) -> np.ndarray:
    """Return the load-balance inputs, one row per ES, shape (E, len(BALANCE_FEATURES)).

    Each row describes ES j and its nearest ES k from the status the base
    station collects. It contains the service counts, the head and
    edge-tail work (seconds at full compute) and the summed latency weights
    of both. It also counts the services at ESs whose nearest ES is j or k,
    whose heads could arrive there. Then follow whether k's nearest is j,
    the compute of both, and the QoS change of three single moves.
    """
    n_es = scenario.n_edge_servers
    base = make_workload(scenario, delta)
    channel = check_channels(base, channel)
    home = scenario.service_es
    nearest = scenario.nearest_es
    f_edge = scenario.f_edge_flops
    edge_tail_flop = np.where(channel > 0, 1.0 - base.delta, 1.0) * scenario.psi_tail_flop
    count = np.bincount(home, minlength=n_es).astype(float)
    head_s = np.bincount(home, weights=scenario.psi_head_flop, minlength=n_es) / f_edge
    tail_s = np.bincount(home, weights=edge_tail_flop, minlength=n_es) / f_edge
    alpha_sum = np.bincount(home, weights=scenario.alpha, minlength=n_es)
    others = np.arange(n_es) != nearest  # E = 1 has no other ES
    # Services at other ESs whose nearest ES is j, and at ESs other than j whose nearest is k.
    inbound = np.bincount(nearest[others], weights=count[others], minlength=n_es)
    inbound_to_nearest = np.where(others, inbound[nearest] - count, 0.0)
    columns = (
        count,
        count[nearest],
        head_s,
        head_s[nearest],
        tail_s,
        tail_s[nearest],
        alpha_sum,
        alpha_sum[nearest],
        inbound,
        inbound_to_nearest,
        (nearest[nearest] == np.arange(n_es)).astype(float),
        np.log10(f_edge),
        np.log10(f_edge[nearest]),
        *_single_move_gains(scenario, channel, base.delta),
    )
    return np.column_stack(columns)


def _single_move_gains(scenario: Scenario, channel, delta) -> tuple[np.ndarray, ...]:
    """Return the system QoS gain, per ES j, of moving only j's heads, only its
    nearest ES k's heads, and both, against no load balance.

    These 2E + 1 evaluations cost O(E N), against O(2^E N) for the exact search.
    """
    n_es = scenario.n_edge_servers
    eye = np.eye(n_es, dtype=int)
    both = np.minimum(eye + eye[scenario.nearest_es], 1)
    omegas = np.concatenate([np.zeros((1, n_es), dtype=int), eye, both])
    values = balance_system_qos(scenario, channel, delta, omegas)
    alone = values[1 : n_es + 1] - values[0]
    return alone, alone[scenario.nearest_es], values[n_es + 1 :] - values[0]


@dataclass
class BalancePredictor:
    """MLP classifier from :func:`balance_features` to each ES's omega bit.

    One network with shared weights decides every ES from that ES's row
    (ES j, its nearest ES and the heads that could arrive at either). This
    keeps the decision independent of how the ESs are numbered, gives E
    training rows per scenario and works for any E; the price is that each
    bit is decided from the neighbourhood only, not from the whole system.
    """

    hidden_layer_sizes: tuple[int, ...] = (64, 64)
    random_state: int = 0
    max_iter: int = 400
    pipeline: Pipeline | None = None
    converged: bool = False

    def fit(self, x: np.ndarray, y: np.ndarray) -> BalancePredictor:
        """Train on per-ES rows ``x`` (n, len(BALANCE_FEATURES)) and bits ``y`` (n,)."""
        x = _check_features("x", x, len(BALANCE_FEATURES))
        y = np.asarray(y).astype(int)
        self.pipeline = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "mlp",
                    MLPClassifier(
                        hidden_layer_sizes=self.hidden_layer_sizes,
                        max_iter=self.max_iter,
                        early_stopping=True,
                        n_iter_no_change=20,
                        random_state=self.random_state,
                    ),
                ),
            ]
        )
        if np.unique(y).size < 2:
            raise ValueError("y must contain both omega = 0 and omega = 1 to train the classifier")
        self.converged = _fit_quietly(self.pipeline, x, y)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return omega bits (0 or 1) for each per-ES row of ``x``."""
        if self.pipeline is None:
            raise ValueError("BalancePredictor is not trained; call fit() or run `mpdob train`")
        x = _check_features("x", x, len(BALANCE_FEATURES))
        return self.pipeline.predict(x).astype(int)

    def predict_scenario(self, scenario: Scenario, channel, delta, refine: bool = False):
        """Return omega, shape (n_edge_servers,), for one slot.

        With ``refine=True`` the prediction is the start of
        :func:`refine_balance`, a local search on the system QoS.
        """
        omega = self.predict(balance_features(scenario, channel, delta))
        if refine:
            omega = refine_balance(scenario, channel, delta, omega)
        return omega


def refine_balance(scenario: Scenario, channel, delta, omega, max_flips: int | None = None):
    """Improve a load-balance choice by single-bit flips and return the result.

    Each step evaluates the E choices that differ from ``omega`` in one bit
    and applies the flip that raises the system QoS most. The search stops
    when no flip raises it or after ``max_flips`` flips (default 2E). Each
    step costs O(E N), so the search never lowers the system QoS of its
    start but can stop at a local optimum.
    """
    n_es = scenario.n_edge_servers
    omega = np.asarray(omega, dtype=int).copy()
    if omega.shape != (n_es,) or not np.all((omega == 0) | (omega == 1)):
        raise ValueError(
            f"omega must be an array of shape ({n_es},) with entries 0 or 1, got {omega!r}"
        )
    max_flips = 2 * n_es if max_flips is None else _check_positive_int("max_flips", max_flips, 0)
    rows = np.arange(n_es)
    for _ in range(max_flips):
        candidates = np.repeat(omega[None, :], n_es + 1, axis=0)
        candidates[rows + 1, rows] ^= 1
        values = balance_system_qos(scenario, channel, delta, candidates)
        best = int(np.argmax(values[1:])) + 1
        if values[best] <= values[0] + 1e-12:
            break
        omega = candidates[best]
    return omega


# --------------------------------------------------------------------------
# Training data and metrics
# --------------------------------------------------------------------------


def _draw_scenarios(params: Params, rng, n_scenarios: int, n_range, assignment=None):
    """Yield scenarios with N uniform in n_range and the assignment alternating or fixed."""
    low, high = n_range
    for index in range(n_scenarios):
        n = int(rng.integers(low, high + 1))
        kind = assignment or ("uniform", "hotspot")[index % 2]
        yield generate_scenario(params, n, rng, assignment=kind)


def _balance_sample(scenario: Scenario, rng):
    """Return (features, exact omega, channel, delta) for one slot."""
    params = scenario.params
    delta = exact_delta(scenario)
    game = solve_game(
        make_workload(scenario, delta),
        update_rule=params.update_rule,
        rng=rng,
        max_rounds=params.max_rounds,
    )
    omega, _ = exact_balance(scenario, game.channel, delta)
    return balance_features(scenario, game.channel, delta), omega, game.channel, delta


def _delta_qos(scenario: Scenario, delta: np.ndarray) -> np.ndarray:
    rate, f_cloud = estimated_conditions(scenario)
    gamma = overhead_at_delta(make_workload(scenario, 0.0), delta, rate, f_cloud)
    return 1.0 - np.log2(1.0 + gamma / scenario.params.varpi)


def evaluate_delta_model(model: DeltaPredictor, scenarios) -> dict:
    """Measure a delta regressor against the exact delta on held-out scenarios.

    QoS is Q_i (eq. 19) of Gamma_c at the estimated conditions, the same
    conditions the labels use. ``r2`` scores the projected prediction and
    ``r2_clipped_only`` the regression output clipped to [0, 1].
    ``qos_loss_*`` is the mean per-service QoS lost against the exact delta
    (in QoS units), and ``*_relative`` divides the total loss by the total
    absolute value of Q_i at the exact delta. The same numbers are given for the trivial
    rules delta = 0 and delta = 1.
    """
    exact, learned, clipped, q_exact, q_learned, q_zero, q_one = [], [], [], [], [], [], []
    for scenario in scenarios:
        best = exact_delta(scenario)
        features = delta_features(scenario)
        predicted = model.predict(features)
        exact.append(best)
        learned.append(predicted)
        clipped.append(model.predict(features, project=False))
        q_exact.append(_delta_qos(scenario, best))
        q_learned.append(_delta_qos(scenario, predicted))
        q_zero.append(_delta_qos(scenario, np.zeros_like(best)))
        q_one.append(_delta_qos(scenario, np.ones_like(best)))
    exact, learned, clipped = map(np.concatenate, (exact, learned, clipped))
    q_exact = np.concatenate(q_exact)
    scale = float(np.abs(q_exact).sum())
    out = {
        "n_services": int(exact.size),
        "r2": float(r2_score(exact, learned)) if np.ptp(exact) > 0 else float("nan"),
        "r2_clipped_only": float(r2_score(exact, clipped)) if np.ptp(exact) > 0 else float("nan"),
        "mean_abs_delta_error": float(np.mean(np.abs(exact - learned))),
        "share_interior_exact": float(np.mean((exact > 1e-9) & (exact < 1 - 1e-9))),
    }
    for name, q in (("learned", q_learned), ("zero", q_zero), ("one", q_one)):
        loss = q_exact - np.concatenate(q)
        out[f"qos_loss_{name}"] = float(loss.mean())
        out[f"qos_loss_{name}_relative"] = float(loss.sum() / scale)
    return out


BALANCE_EVALUATION_MODES = ("learned", "refined", "search_only")


def evaluate_balance_model(model: BalancePredictor, samples, mode: str = "learned") -> dict:
    """Measure a load-balance classifier on held-out slots.

    ``samples`` yields (scenario, channel, delta). For each slot, Q_none,
    Q_exact and Q_learned are the system QoS without load balance, at the
    exact omega and at the predicted omega. The share of the optimal gain
    captured is (Q_learned - Q_none) / (Q_exact - Q_none), averaged over the
    slots whose optimal gain exceeds GAIN_TOLERANCE; slots with a smaller
    optimal gain are counted in ``n_no_gain`` and left out of that mean.
    ``share_aggregate`` divides the summed gains instead. ``fraction_lowered``
    is the share of all slots where the predicted omega lowers the system
    QoS below Q_none.

    ``mode`` chooses the omega measured: ``"learned"`` is the classifier's
    prediction, ``"refined"`` that prediction improved by
    :func:`refine_balance`, and ``"search_only"`` :func:`refine_balance`
    started from omega = 0 without the classifier.
    """
    if mode not in BALANCE_EVALUATION_MODES:
        raise ValueError(f"mode must be one of {BALANCE_EVALUATION_MODES}, got {mode!r}")
    q_none, q_exact, q_learned, bit_match = [], [], [], []
    for scenario, channel, delta in samples:
        omega_exact, best = exact_balance(scenario, channel, delta)
        if mode == "search_only":
            omega = refine_balance(scenario, channel, delta, np.zeros_like(omega_exact))
        else:
            omega = model.predict_scenario(scenario, channel, delta, refine=mode == "refined")
        values = balance_system_qos(
            scenario, channel, delta, np.stack([np.zeros_like(omega), omega])
        )
        q_none.append(values[0])
        q_exact.append(best)
        q_learned.append(values[1])
        bit_match.append(np.mean(omega == omega_exact))
    q_none, q_exact, q_learned = map(np.asarray, (q_none, q_exact, q_learned))
    optimal_gain = q_exact - q_none
    learned_gain = q_learned - q_none
    has_gain = optimal_gain > GAIN_TOLERANCE
    shares = learned_gain[has_gain] / optimal_gain[has_gain]
    # A slot with a tiny optimal gain and a small loss gives a large negative
    # ratio, so the median is reported beside the mean.
    return {
        "n_slots": int(q_none.size),
        "n_no_gain": int(np.count_nonzero(~has_gain)),
        "share_captured_mean": float(shares.mean()) if shares.size else float("nan"),
        "share_captured_median": float(np.median(shares)) if shares.size else float("nan"),
        "share_aggregate": float(learned_gain.sum() / optimal_gain.sum())
        if optimal_gain.sum() > 0
        else float("nan"),
        "fraction_lowered": float(np.mean(learned_gain < -GAIN_TOLERANCE)),
        "mean_optimal_gain": float(optimal_gain.mean()),
        "mean_learned_gain": float(learned_gain.mean()),
        "bit_accuracy": float(np.mean(bit_match)),
    }


def time_exact_balance(
    params: Params, n_edge_servers=(5, 7, 9, 11, 13), n_services: int = 90, rng=0, repeats=3
) -> dict[int, float]:
    """Return the median seconds of one :func:`exact_balance` call for each E.

    Synthetic slots: ``n_services`` services, all local, delta = 0, on
    ``params`` with ``n_edge_servers`` replaced.
    """
    rng = as_generator(rng)
    out = {}
    for n_es in n_edge_servers:
        scenario = generate_scenario(params.replace(n_edge_servers=int(n_es)), n_services, rng)
        channel = np.zeros(n_services, dtype=int)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            exact_balance(scenario, channel, 0.0)
            times.append(time.perf_counter() - start)
        out[int(n_es)] = float(np.median(times))
    return out


# --------------------------------------------------------------------------
# Bundles: training, storage, cache
# --------------------------------------------------------------------------


class ModelMismatchError(ValueError):
    """A stored model bundle does not match the current software or parameters."""


@dataclass
class ModelBundle:
    """The two trained predictors and their provenance.

    ``metadata`` contains: bundle_format, sklearn_version, numpy_version, seed,
    params_hash, delta_features, balance_features, training-set sizes,
    training time, held-out metrics, and converged flags.
    """

    delta_model: DeltaPredictor
    balance_model: BalancePredictor
    metadata: dict = field(default_factory=dict)


def params_hash(params: Params) -> str:
    """Return a SHA-256 hex digest of the parameters that affect features or labels."""
    values = {
        name: entry.get("value")
        for name, entry in sorted(params.source.items())
        if name not in _UNHASHED_PARAMS
    }
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def train_models(
    params: Params,
    seed: int = 0,
    n_delta_scenarios: int = DEFAULT_DELTA_SCENARIOS,
    n_balance_scenarios: int = DEFAULT_BALANCE_SCENARIOS,
    n_test_scenarios: int = DEFAULT_TEST_SCENARIOS,
    n_range: tuple[int, int] = DEFAULT_N_RANGE,
) -> ModelBundle:
    """Generate exact labels, train both predictors and measure them held out.

    Parameters
    ----------
    params : Params
    seed : int
        Seeds the one generator of the run; every scenario and both MLP
        seeds are drawn from it.
    n_delta_scenarios, n_balance_scenarios : int
        Training slots for each model (both assignments, alternating).
    n_test_scenarios : int
        Held-out slots per assignment for the load balancer; the delta
        regressor is measured on ``n_test_scenarios`` mixed slots.
    n_range : (int, int)
        N is drawn uniformly from this inclusive range.
    """
    seed = _check_positive_int("seed", seed, 0)
    n_delta_scenarios = _check_positive_int("n_delta_scenarios", n_delta_scenarios)
    n_balance_scenarios = _check_positive_int("n_balance_scenarios", n_balance_scenarios)
    n_test_scenarios = _check_positive_int("n_test_scenarios", n_test_scenarios)
    low, high = (int(v) for v in n_range)
    if not 1 <= low <= high:
        raise ValueError(f"n_range must be (low, high) with 1 <= low <= high, got {n_range!r}")
    rng = as_generator(seed)
    start = time.perf_counter()

    delta_train = list(_draw_scenarios(params, rng, n_delta_scenarios, (low, high)))
    x_delta = np.concatenate([delta_features(s) for s in delta_train])
    y_delta = np.concatenate([exact_delta(s) for s in delta_train])
    balance_train = [
        _balance_sample(s, rng)
        for s in _draw_scenarios(params, rng, n_balance_scenarios, (low, high))
    ]
    x_balance = np.concatenate([sample[0] for sample in balance_train])
    y_balance = np.concatenate([sample[1] for sample in balance_train])
    data_seconds = time.perf_counter() - start

    fit_start = time.perf_counter()
    delta_model = DeltaPredictor(
        latency_reading=params.latency_reading, random_state=int(rng.integers(2**31 - 1))
    )
    delta_model.fit(x_delta, y_delta)
    delta_seconds = time.perf_counter() - fit_start
    fit_start = time.perf_counter()
    balance_model = BalancePredictor(random_state=int(rng.integers(2**31 - 1)))
    balance_model.fit(x_balance, y_balance)
    balance_seconds = time.perf_counter() - fit_start

    eval_start = time.perf_counter()
    delta_test = list(_draw_scenarios(params, rng, n_test_scenarios, (low, high)))
    metrics = {"delta": evaluate_delta_model(delta_model, delta_test)}
    for kind in ("uniform", "hotspot"):
        test = []
        for scenario in _draw_scenarios(params, rng, n_test_scenarios, (low, high), kind):
            _, _, channel, delta = _balance_sample(scenario, rng)
            test.append((scenario, channel, delta))
        metrics[f"balance_{kind}"] = evaluate_balance_model(balance_model, test)
        for mode in ("refined", "search_only"):
            metrics[f"balance_{kind}_{mode}"] = evaluate_balance_model(balance_model, test, mode)
    eval_seconds = time.perf_counter() - eval_start

    metadata = {
        "bundle_format": BUNDLE_FORMAT,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "seed": seed,
        "params_hash": params_hash(params),
        "latency_reading": params.latency_reading,
        "delta_features": list(DELTA_FEATURES),
        "balance_features": list(BALANCE_FEATURES),
        "n_range": [low, high],
        "n_delta_scenarios": n_delta_scenarios,
        "n_balance_scenarios": n_balance_scenarios,
        "n_test_scenarios": n_test_scenarios,
        "n_delta_rows": int(y_delta.size),
        "n_balance_rows": int(y_balance.size),
        "share_omega_one_train": float(y_balance.mean()),
        "seconds_data": data_seconds,
        "seconds_fit_delta": delta_seconds,
        "seconds_fit_balance": balance_seconds,
        "seconds_evaluation": eval_seconds,
        "converged": {"delta": delta_model.converged, "balance": balance_model.converged},
        "metrics": metrics,
    }
    return ModelBundle(delta_model, balance_model, metadata)


def bundle_path(params: Params, seed: int, cache_dir=None) -> Path:
    """Return the file of the bundle for ``params`` and ``seed`` under ``cache_dir``."""
    directory = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    return directory / f"models-{params_hash(params)[:16]}-seed{seed}.joblib"


def save_bundle(bundle: ModelBundle, path) -> Path:
    """Write ``bundle`` to ``path`` with joblib, creating the directory and its .gitignore."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Trained models are rebuilt by `mpdob train`.\n*\n!.gitignore\n")
    # Write to a temporary file first so a reader never sees a partial bundle.
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    joblib.dump(
        {
            "metadata": bundle.metadata,
            "delta_model": bundle.delta_model,
            "balance_model": bundle.balance_model,
        },
        partial,
    )
    os.replace(partial, path)
    return path


def load_bundle(path, params: Params | None = None) -> ModelBundle:
    """Read a bundle and check it against the installed software and ``params``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ModelMismatchError
        If the bundle format, the scikit-learn version, a feature list or
        the parameter hash differs from the current one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model bundle not found: {path}; run `mpdob train`")
    stored = joblib.load(path)
    metadata = stored["metadata"]
    problems = []
    if metadata.get("bundle_format") != BUNDLE_FORMAT:
        problems.append(
            f"bundle format {metadata.get('bundle_format')} stored, {BUNDLE_FORMAT} expected"
        )
    if metadata.get("sklearn_version") != sklearn.__version__:
        problems.append(
            f"scikit-learn {metadata.get('sklearn_version')} stored, "
            f"{sklearn.__version__} installed"
        )
    for key, names in (("delta_features", DELTA_FEATURES), ("balance_features", BALANCE_FEATURES)):
        if metadata.get(key) != list(names):
            problems.append(f"{key} stored as {metadata.get(key)}, expected {list(names)}")
    if params is not None and metadata.get("params_hash") != params_hash(params):
        problems.append("the parameters that affect labels differ from those of the stored models")
    if problems:
        raise ModelMismatchError(
            f"model bundle {path} does not match: " + "; ".join(problems) + ". Run `mpdob train`."
        )
    return ModelBundle(stored["delta_model"], stored["balance_model"], metadata)


_MEMORY_CACHE: dict[tuple[str, int, str], ModelBundle] = {}


def get_models(
    params: Params, seed: int = 0, cache_dir=None, retrain_on_mismatch: bool = True
) -> ModelBundle:
    """Return the model bundle for ``params`` and ``seed``: from memory, disk or training.

    A bundle on disk that does not match (see :func:`load_bundle`) is
    retrained and overwritten when ``retrain_on_mismatch`` is true, and a
    warning is logged. Otherwise the ModelMismatchError propagates.
    """
    seed = _check_positive_int("seed", seed, 0)
    path = bundle_path(params, seed, cache_dir)
    key = (params_hash(params), seed, str(path))
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    # An exclusive lock on a file beside the bundle makes parallel callers
    # (figure notebooks run side by side) wait for one training run instead
    # of training the same bundle twice.
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bundle = None
        if path.is_file():
            try:
                bundle = load_bundle(path, params)
            except ModelMismatchError as error:
                if not retrain_on_mismatch:
                    raise
                logger.warning("retraining: %s", error)
        if bundle is None:
            logger.info("training models for seed %d into %s", seed, path)
            bundle = train_models(params, seed=seed)
            save_bundle(bundle, path)
    _MEMORY_CACHE[key] = bundle
    return bundle


def bundle_summary(bundle: ModelBundle) -> dict:
    """Return the bundle's metadata as JSON-ready values."""
    return json.loads(json.dumps(bundle.metadata, default=float))
