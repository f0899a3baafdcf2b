"""Tests of Lemma 2: the printed potential (eq. 32) and the corrected one.

With a fixed cloud share each service's threshold xi_i does not depend on
the others, and the potential with the factor 1/2 on the pair term,

    Phi = -1/2 sum_i p_i g_i gamma_i [offloading] - sum_i p_i g_i xi_i [local],

changes under a move of service i by p_i g_i (gamma_old - gamma_new)
between channels, by p_i g_i (xi_i - gamma_new) from local to a channel and
by p_i g_i (gamma_old - xi_i) from a channel to local. Each is positive
exactly when the move raises the mover's QoS (Lemma 1), so every improving
move raises Phi. Potentials are of the order (p g) ** 2, about 1e-22 W^2 at
the default scales, so comparisons are relative to their magnitude.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_game import is_equilibrium_by_brute_force, worked_workload

from mpdob.game import (
    GAIN_TOLERANCE,
    potential_corrected,
    potential_printed,
    solve_game,
)
from mpdob.lemma import xi_threshold
from mpdob.system import Workload, cloud_share, evaluate, interference

DATA = Path(__file__).resolve().parents[1] / "data" / "counterexamples"
E2_PATH = DATA / "e2_printed_potential.json"

# Relative tolerance for comparing potentials, far above float rounding of
# sums of a few terms and far below the changes a real move makes.
RELATIVE_TOLERANCE = 1e-9


def floats(low: float, high: float):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def workloads(draw, cloud_sharing: str = "fixed") -> Workload:
    """Draw a small workload at scales around the default parameters."""
    n = draw(st.integers(2, 5))
    m = draw(st.integers(1, 3))

    def vector(low: float, high: float) -> np.ndarray:
        return np.array(draw(st.lists(floats(low, high), min_size=n, max_size=n)))

    alpha = vector(0.05, 0.95)
    distance = vector(10.0, 300.0)
    edge_rate = vector(2e11, 3e12)
    return Workload(
        psi_head_flop=vector(0.0, 2e10),
        psi_tail_flop=vector(1e9, 1e11),
        d_med_bit=vector(1e5, 1e7),
        delta=vector(0.0, 1.0),
        head_rate_flops=edge_rate,
        tail_rate_flops=vector(1e11, 3e12),
        alpha=alpha,
        beta=1.0 - alpha,
        epsilon_edge=vector(0.8e-12, 1.2e-12),
        epsilon_cloud=vector(0.8e-12, 1.2e-12),
        zeta_joule=vector(0.0, 0.01),
        p_watt=vector(0.05, 0.3),
        gain=distance**-4.0,
        bandwidth_hz=draw(floats(1e6, 2e7)),
        noise_watt=1e-13,
        f_cloud_flops=draw(floats(1e12, 5e13)),
        n_channels=m,
        varpi=draw(floats(0.05, 1.0)),
        cloud_sharing=cloud_sharing,
        latency_reading=draw(st.sampled_from(["sequential", "parallel"])),
    )


@st.composite
def workloads_with_profile(draw):
    w = draw(workloads())
    profile = draw(
        st.lists(st.integers(0, w.n_channels), min_size=w.n_services, max_size=w.n_services)
    )
    return w, np.array(profile)


def unilateral_moves(w: Workload, profile: np.ndarray):
    """Yield (service, new profile) for every unilateral change."""
    for i in range(w.n_services):
        for choice in range(w.n_channels + 1):
            if choice != profile[i]:
                moved = profile.copy()
                moved[i] = choice
                yield i, moved


def scale(*values: float) -> float:
    return max(abs(v) for v in values)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads_with_profile())
def test_improving_moves_raise_corrected_potential(case):
    w, profile = case
    q_now = evaluate(w, profile).qos
    phi_now = potential_corrected(w, profile)
    for i, moved in unilateral_moves(w, profile):
        if evaluate(w, moved).qos[i] - q_now[i] <= GAIN_TOLERANCE:
            continue
        phi_moved = potential_corrected(w, moved)
        assert phi_moved - phi_now > -RELATIVE_TOLERANCE * scale(phi_now, phi_moved)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads_with_profile())
def test_corrected_potential_change_formula(case):
    # The change of Phi under any unilateral move (improving or not) is the
    # closed form of the module docstring.
    w, profile = case
    xi = np.maximum(xi_threshold(w, cloud_share(w, profile)), -w.noise_watt)
    rp = w.received_power_watt
    phi_now = potential_corrected(w, profile)
    gamma_now = interference(w, profile)
    for i, moved in unilateral_moves(w, profile):
        gamma_moved = interference(w, moved)
        old = gamma_now[i] if profile[i] > 0 else xi[i]
        new = gamma_moved[i] if moved[i] > 0 else xi[i]
        expected = rp[i] * (old - new)
        phi_moved = potential_corrected(w, moved)
        tolerance = RELATIVE_TOLERANCE * scale(phi_now, phi_moved, expected)
        assert phi_moved - phi_now == pytest.approx(expected, abs=tolerance)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), st.sampled_from(["system", "random", "own"]), st.integers(0, 2**16))
def test_solve_game_ends_at_equilibrium(w, rule, seed):
    result = solve_game(w, update_rule=rule, rng=seed)
    assert result.converged
    assert is_equilibrium_by_brute_force(w, result.channel)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), st.sampled_from(["system", "random", "own"]), st.integers(0, 2**16))
def test_corrected_potential_history_non_decreasing(w, rule, seed):
    history = solve_game(w, update_rule=rule, rng=seed).potential_corrected_history
    steps = np.diff(history)
    sizes = np.maximum(np.abs(history[:-1]), np.abs(history[1:]))
    assert np.all(steps > -RELATIVE_TOLERANCE * sizes)


def test_worked_example_potentials():
    w = worked_workload()
    # xi_i = w_i - 1 = (14, 6, 2) W (the module docstring of test_game), so
    # all local: Phi = -(15 * 14 + 7 * 6 + 3 * 2) = -258 W^2.
    assert potential_corrected(w, [0, 0, 0]) == pytest.approx(-258.0)
    # A on 1, B on 2, C local: no co-channel pair, Phi = -3 * 2 = -6 W^2.
    assert potential_corrected(w, [1, 2, 0]) == pytest.approx(-6.0)
    # A and B on channel 1, C local: the pair term is
    # -1/2 (15 * 7 + 7 * 15) = -105 in the corrected potential and -210 as
    # printed; the local term is -6.
    assert potential_corrected(w, [1, 1, 0]) == pytest.approx(-111.0)
    assert potential_printed(w, [1, 1, 0]) == pytest.approx(-216.0)


def load_e2() -> dict:
    return json.loads(E2_PATH.read_text(encoding="utf-8"))


def test_e2_counterexample_improves_mover():
    data = load_e2()
    w = Workload.from_dict(data["workload"])
    before = np.array(data["profile"])
    i = data["move"]["service"]
    after = before.copy()
    after[i] = data["move"]["to"]
    assert before[i] == 0
    assert after[i] > 0
    assert evaluate(w, after).qos[i] > evaluate(w, before).qos[i]


def test_e2_gamma_between_half_xi_and_xi():
    data = load_e2()
    w = Workload.from_dict(data["workload"])
    before = np.array(data["profile"])
    i = data["move"]["service"]
    after = before.copy()
    after[i] = data["move"]["to"]
    xi = xi_threshold(w, cloud_share(w, before))[i]
    gamma = interference(w, after)[i]
    assert xi / 2 < gamma < xi


def test_e2_printed_potential_falls():
    data = load_e2()
    w = Workload.from_dict(data["workload"])
    before = np.array(data["profile"])
    i = data["move"]["service"]
    after = before.copy()
    after[i] = data["move"]["to"]
    printed_before = potential_printed(w, before)
    printed_after = potential_printed(w, after)
    assert printed_after < printed_before
    corrected_before = potential_corrected(w, before)
    corrected_after = potential_corrected(w, after)
    assert corrected_after > corrected_before
    # The saved numbers match a fresh computation.
    assert printed_before == pytest.approx(data["potential_printed_before"], rel=1e-12)
    assert printed_after == pytest.approx(data["potential_printed_after"], rel=1e-12)


def test_e3_case1_non_improving_move_lowers_potential():
    # The printed proof's Case 1 claims that Psi rises for any change between two
    # channels. At the equilibrium (1, 2, 0) of the worked example, A moving
    # from its empty channel 1 to B's channel 2 raises A's interference from
    # 0 to 7 W: the move does not improve A, and both potentials fall, the
    # corrected one by 15 * 7 = 105 W^2 and the printed one by 210 W^2.
    w = worked_workload()
    before, after = np.array([1, 2, 0]), np.array([2, 2, 0])
    assert evaluate(w, after).qos[0] < evaluate(w, before).qos[0]
    assert potential_corrected(w, after) - potential_corrected(w, before) == pytest.approx(-105.0)
    assert potential_printed(w, after) - potential_printed(w, before) == pytest.approx(-210.0)


def test_e3_case2_non_improving_join_lowers_potential():
    # Case 2 (local to a channel) claims Psi rises too; C joining B on
    # channel 2 meets gamma = 7 > xi_C = 2, so it is not improving, and the
    # corrected potential changes by 3 * (2 - 7) = -15 W^2.
    w = worked_workload()
    before, after = np.array([1, 2, 0]), np.array([1, 2, 2])
    assert evaluate(w, after).qos[2] < evaluate(w, before).qos[2]
    assert potential_corrected(w, after) - potential_corrected(w, before) == pytest.approx(-15.0)


def test_never_profitable_service_leaving_raises_potential():
    # A service whose offloading never pays (xi = -inf, erratum E7) and that
    # sits alone on a channel improves by going local; with xi replaced by
    # -sigma_0 the potential rises by p g sigma_0 > 0 instead of staying put.
    w = worked_workload().replace(tail_rate_flops=np.array([1e12, 1e12, 1e14]))
    xi = xi_threshold(w, cloud_share(w, np.array([0, 0, 1])))
    assert xi[2] == -math.inf
    before, after = np.array([0, 0, 1]), np.array([0, 0, 0])
    assert evaluate(w, after).qos[2] > evaluate(w, before).qos[2]
    rise = potential_corrected(w, after) - potential_corrected(w, before)
    assert rise == pytest.approx(3.0 * w.noise_watt)
