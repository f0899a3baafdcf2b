"""The plain-loop Algorithm 2 against the vectorised solver, on random small instances."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpdob.game import RoundLimitWarning, is_nash_equilibrium, solve_game
from mpdob.game_loop import solve_game_loop
from mpdob.params import load_params
from mpdob.scenario import generate_scenario
from mpdob.system import evaluate, make_workload

PARAMS = load_params()


@st.composite
def workloads(draw):
    """Draw a small workload over the readings and sharing rules of the model."""
    n_services = draw(st.integers(1, 40))
    params = PARAMS.replace(
        n_channels=draw(st.integers(1, 5)),
        n_edge_servers=draw(st.integers(1, 9)),
        latency_reading=draw(st.sampled_from(["sequential", "parallel"])),
        cloud_sharing=draw(st.sampled_from(["offloaders", "fixed"])),
    )
    scenario = generate_scenario(params, n_services, draw(st.integers(0, 2**31)))
    if draw(st.booleans()):
        return make_workload(scenario, 1.0, whole_task=True)
    delta = draw(st.floats(0.0, 1.0))
    return make_workload(scenario, delta)


def solve_both(workload, rule, seed=0):
    with warnings.catch_warnings():
        # A cycle or the round limit must show up in both solvers alike.
        warnings.simplefilter("ignore")
        vectorised = solve_game(workload, update_rule=rule, rng=seed, max_rounds=2000)
        loop = solve_game_loop(workload, update_rule=rule, rng=seed, max_rounds=2000)
    return vectorised, loop


@settings(max_examples=60, deadline=None)
@given(workload=workloads(), rule=st.sampled_from(["system", "own"]))
def test_deterministic_rules_agree(workload, rule):
    vectorised, loop = solve_both(workload, rule)
    assert np.array_equal(loop.channel, vectorised.channel)
    assert loop.rounds == vectorised.rounds
    assert np.array_equal(loop.moves, vectorised.moves)
    assert loop.converged == vectorised.converged
    np.testing.assert_allclose(loop.qos_history, vectorised.qos_history, rtol=1e-9, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(workload=workloads(), seed=st.integers(0, 1000))
def test_random_rule_agrees_with_same_seed(workload, seed):
    # Both solvers draw the mover with rng.choice over the sorted improvers.
    vectorised, loop = solve_both(workload, "random", seed)
    assert np.array_equal(loop.channel, vectorised.channel)
    assert loop.rounds == vectorised.rounds


@pytest.mark.parametrize("n_services", [50, 150])
@pytest.mark.parametrize("rule", ["system", "own"])
def test_default_parameters_agree(n_services, rule):
    scenario = generate_scenario(PARAMS, n_services, 7)
    workload = make_workload(scenario, 0.8)
    vectorised, loop = solve_both(workload, rule)
    assert loop.rounds > 0
    assert np.array_equal(loop.channel, vectorised.channel)
    assert loop.rounds == vectorised.rounds


def test_loop_reaches_equilibrium():
    scenario = generate_scenario(PARAMS, 80, 2)
    workload = make_workload(scenario, 1.0)
    result = solve_game_loop(workload)
    assert result.converged
    assert is_nash_equilibrium(workload, result.channel)
    assert result.system_qos == pytest.approx(evaluate(workload, result.channel).system_qos)
    assert result.qos_history.shape == (result.rounds + 1,)
    assert result.moves.shape == (result.rounds, 3)


def test_round_limit_warns():
    scenario = generate_scenario(PARAMS, 80, 2)
    workload = make_workload(scenario, 1.0)
    with pytest.warns(RoundLimitWarning, match="max_rounds=2"):
        result = solve_game_loop(workload, max_rounds=2)
    assert result.rounds == 2
    assert not result.converged


def test_rejects_bad_arguments():
    workload = make_workload(generate_scenario(PARAMS, 3, 0), 1.0)
    with pytest.raises(ValueError, match="update_rule must be one of"):
        solve_game_loop(workload, update_rule="best")
    with pytest.raises(ValueError, match="max_rounds must be an integer >= 0, got -1"):
        solve_game_loop(workload, max_rounds=-1)
    with pytest.raises(TypeError, match="max_rounds"):
        solve_game_loop(workload, max_rounds=1.5)
    with pytest.raises(TypeError, match="workload"):
        solve_game_loop("workload")
    with pytest.raises(TypeError, match="rng"):
        solve_game_loop(workload, rng=None)
