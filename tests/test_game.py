"""Tests of Algorithm 2 (mpdob.game.solve_game) and the best responses.

The worked example has three services and two channels with round numbers,
so every best response and the equilibria can be found by hand:

- bandwidth B = 1 MHz and d_med = 1 Mbit, so the transfer time is
  u = 1 / log2(1 + SINR) seconds;
- noise sigma_0 = 1 W, p = 1 W and gains 15, 7, 3, so the received powers
  are w = (15, 7, 3) W;
- no head (psi_head = 0), a 4 TFLOP tail on a 1 TFLOP/s edge stage
  (T = 4 s), delta = 1 and a fixed cloud share 6 / 3 = 2 TFLOP/s (C = 2 s);
- alpha = beta = 1/2, no compute energy (epsilon = 0), zeta = 0, varpi = 1.

Then Gamma_e = T / 2 = 2 and Gamma_c = (C + u) / 2 + p u / 2 = 1 + u, so
offloading pays when u < 1, that is SINR > 1, that is gamma_i < w_i - 1.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from mpdob.game import (
    RoundLimitWarning,
    best_responses,
    is_nash_equilibrium,
    solve_game,
)
from mpdob.params import load_params
from mpdob.scenario import generate_scenario
from mpdob.system import Workload, evaluate, make_workload


def worked_workload(cloud_sharing: str = "fixed") -> Workload:
    """Return the three-service, two-channel example of the module docstring."""
    ones = np.ones(3)
    return Workload(
        psi_head_flop=np.zeros(3),
        psi_tail_flop=4e12 * ones,
        d_med_bit=1e6 * ones,
        delta=ones,
        head_rate_flops=1e12 * ones,
        tail_rate_flops=1e12 * ones,
        alpha=0.5 * ones,
        beta=0.5 * ones,
        epsilon_edge=np.zeros(3),
        epsilon_cloud=np.zeros(3),
        zeta_joule=np.zeros(3),
        p_watt=ones,
        gain=np.array([15.0, 7.0, 3.0]),
        bandwidth_hz=1e6,
        noise_watt=1.0,
        f_cloud_flops=6e12,
        n_channels=2,
        varpi=1.0,
        cloud_sharing=cloud_sharing,
    )


def deviation_gains(workload: Workload, channel) -> np.ndarray:
    """Return the largest QoS gain of each service over all its deviations.

    Brute force: every alternative choice is evaluated with
    mpdob.system.evaluate, independently of best_responses.
    """
    channel = np.asarray(channel)
    now = evaluate(workload, channel).qos
    best = np.full(workload.n_services, -np.inf)
    for i in range(workload.n_services):
        for choice in range(workload.n_channels + 1):
            if choice == channel[i]:
                continue
            deviated = channel.copy()
            deviated[i] = choice
            best[i] = max(best[i], evaluate(workload, deviated).qos[i] - now[i])
    return best


def is_equilibrium_by_brute_force(workload: Workload, channel) -> bool:
    return bool(np.all(deviation_gains(workload, channel) <= 1e-12))


def test_worked_example_qos_values():
    w = worked_workload()
    # All local: Gamma_e = 2, Q = 1 - log2(1 + 2 / 1) = 1 - log2(3).
    assert np.allclose(evaluate(w, [0, 0, 0]).qos, 1 - math.log2(3))
    # A alone on channel 1: SINR 15, u = 1 / log2(16) = 1/4, Gamma_c = 5/4,
    # Q = 1 - log2(9/4).
    assert evaluate(w, [1, 0, 0]).qos[0] == pytest.approx(1 - math.log2(9 / 4))
    # A and B on channel 1: B's SINR 7 / (1 + 15) = 7/16,
    # u = 1 / log2(23/16), Gamma_c = 1 + u.
    u_b = 1 / math.log2(23 / 16)
    assert evaluate(w, [1, 1, 0]).qos[1] == pytest.approx(1 - math.log2(2 + u_b))


def test_best_responses_from_all_local():
    w = worked_workload()
    response, gain, current = best_responses(w, [0, 0, 0])
    # Both channels are empty; ties go to channel 1.
    assert response.tolist() == [1, 1, 1]
    # Gains log2(3 / (2 + u)) with u = 1/4, 1/3, 1/2 (SINR 15, 7, 3):
    # log2(4/3), log2(9/7), log2(6/5).
    expected = [math.log2(4 / 3), math.log2(9 / 7), math.log2(6 / 5)]
    assert gain == pytest.approx(expected)
    assert current == pytest.approx([1 - math.log2(3)] * 3)


def test_best_responses_after_first_move():
    w = worked_workload()
    response, gain, _ = best_responses(w, [1, 0, 0])
    # A stays; B and C see gamma = 15 on channel 1 and 0 on channel 2.
    assert response.tolist() == [1, 2, 2]
    assert gain == pytest.approx([0.0, math.log2(9 / 7), math.log2(6 / 5)])


def test_best_responses_at_equilibrium():
    w = worked_workload()
    response, gain, _ = best_responses(w, [1, 2, 0])
    # C: channel 1 has gamma = 15 > xi_C = 2 and channel 2 has gamma = 7 > 2,
    # so C stays local; A and B are alone on their channels.
    assert response.tolist() == [1, 2, 0]
    assert gain.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("rule", ["system", "own"])
def test_worked_example_path(rule):
    w = worked_workload()
    result = solve_game(w, update_rule=rule)
    # Round 1: A has the largest gain, log2(4/3) > log2(9/7) > log2(6/5), and
    # with nobody offloading the system gain equals the own gain.
    # Round 2: B to channel 2 (log2(9/7)) beats C to channel 2 (log2(6/5));
    # it does not touch A on channel 1, so both rules pick it.
    assert result.moves.tolist() == [[0, 0, 1], [1, 0, 2]]
    assert result.channel.tolist() == [1, 2, 0]
    assert result.converged
    assert result.rounds == 2
    assert result.cycle is None
    # Final system QoS: 1 - log2(9/4) + 1 - log2(7/3) + 1 - log2(3).
    final = 3 - math.log2(9 / 4) - math.log2(7 / 3) - math.log2(3)
    assert result.system_qos == pytest.approx(final)


def test_worked_example_equilibria_by_brute_force():
    w = worked_workload()
    equilibria = [
        list(profile)
        for profile in itertools.product(range(3), repeat=3)
        if is_equilibrium_by_brute_force(w, np.array(profile))
    ]
    # A and B alone on different channels, C local (gamma >= 7 > xi_C = 2 on
    # either channel).
    assert equilibria == [[1, 2, 0], [2, 1, 0]]


def test_is_nash_equilibrium_matches_brute_force():
    w = worked_workload()
    for profile in itertools.product(range(3), repeat=3):
        channel = np.array(profile)
        assert is_nash_equilibrium(w, channel) == is_equilibrium_by_brute_force(w, channel)


@pytest.mark.parametrize("rule", ["system", "random", "own"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rules_end_at_equilibrium_worked(rule, seed):
    w = worked_workload()
    result = solve_game(w, update_rule=rule, rng=seed)
    assert result.converged
    assert is_equilibrium_by_brute_force(w, result.channel)


@pytest.mark.parametrize("rule", ["system", "random", "own"])
@pytest.mark.parametrize("seed", [3, 4])
def test_rules_end_at_equilibrium_scenario(rule, seed):
    params = load_params().replace(n_channels=2, cloud_sharing="fixed")
    scenario = generate_scenario(params, 8, rng=seed)
    w = make_workload(scenario, 1.0)
    result = solve_game(w, update_rule=rule, rng=seed)
    assert result.converged
    assert is_equilibrium_by_brute_force(w, result.channel)


@pytest.mark.parametrize("rule", ["system", "random", "own"])
def test_rules_end_at_equilibrium_shared_cloud(rule):
    w = worked_workload(cloud_sharing="offloaders")
    result = solve_game(w, update_rule=rule, rng=5)
    assert result.converged
    assert is_equilibrium_by_brute_force(w, result.channel)


def test_round_limit_warns():
    w = worked_workload()
    with pytest.warns(RoundLimitWarning):
        result = solve_game(w, max_rounds=1)
    assert not result.converged
    assert result.rounds == 1
    assert result.channel.tolist() == [1, 0, 0]


def test_zero_round_limit_warns():
    w = worked_workload()
    with pytest.warns(RoundLimitWarning):
        result = solve_game(w, max_rounds=0)
    assert not result.converged
    assert result.rounds == 0
    assert result.qos_history.shape == (1,)


def test_round_limit_at_equilibrium_is_silent():
    w = worked_workload()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoundLimitWarning)
        result = solve_game(w, max_rounds=0, initial=[1, 2, 0])
    assert result.converged
    assert result.rounds == 0


@pytest.mark.parametrize("rule", ["best", "", None, "System"])
def test_invalid_update_rule(rule):
    with pytest.raises(ValueError, match="update_rule"):
        solve_game(worked_workload(), update_rule=rule)


@pytest.mark.parametrize("limit", [-1, 1.5, True, "10", None])
def test_invalid_max_rounds(limit):
    with pytest.raises(ValueError, match="max_rounds"):
        solve_game(worked_workload(), max_rounds=limit)


@pytest.mark.parametrize("initial", [[0, 0], [0, 0, 3], [0, -1, 0], [0.5, 0, 0]])
def test_invalid_initial(initial):
    with pytest.raises(ValueError, match="initial"):
        solve_game(worked_workload(), initial=initial)


def test_initial_profile_used():
    w = worked_workload()
    # From B and C sharing channel 2, the own gains of moving to the empty
    # channel 1 are: A log2(3 / (9/4)) = 0.415; B log2(2.685 / (7/3)) = 0.203
    # (now u = 1 / log2(1 + 7/4)); C log2(4.177 / 2.5) = 0.740 (now
    # u = 1 / log2(1 + 3/8)). C moves first. Then A joins C on channel 1
    # (gamma = 3 < xi_A = 14), and C, at gamma = 15 > xi_C = 2, returns local.
    result = solve_game(w, update_rule="own", initial=[0, 2, 2])
    assert result.moves.tolist() == [[2, 2, 1], [0, 0, 1], [2, 1, 0]]
    assert result.converged
    assert result.channel.tolist() == [1, 2, 0]


@pytest.mark.parametrize("rule", ["system", "random", "own"])
def test_solver_deterministic_for_seed(rule):
    params = load_params().replace(n_channels=2)
    w = make_workload(generate_scenario(params, 10, rng=11), 1.0)
    first = solve_game(w, update_rule=rule, rng=42)
    second = solve_game(w, update_rule=rule, rng=42)
    assert np.array_equal(first.moves, second.moves)
    assert np.array_equal(first.channel, second.channel)
    assert np.array_equal(first.qos_history, second.qos_history)
