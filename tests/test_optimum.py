"""Tests for the exhaustive optimum of eq. (17)-(18) and the price of anarchy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import mpdob.optimum as optimum_module
from mpdob.game import solve_game
from mpdob.optimum import exact_optimum, price_of_anarchy
from mpdob.params import load_params
from mpdob.scenario import generate_scenario
from mpdob.system import edge_overhead, evaluate, make_workload, qos


def crowded_workload(seed: int, n_services: int = 5, n_channels: int = 2, delta: float = 1.0):
    """Return a small instance with every service on one ES, so offloading pays for some."""
    params = load_params().replace(n_edge_servers=1, n_channels=n_channels)
    scenario = generate_scenario(params, n_services, seed)
    return make_workload(scenario, delta)


def brute_force(workload, profitable_only: bool):
    """Return (best QoS, best profile) by evaluating every profile one at a time."""
    q_local = qos(edge_overhead(workload)[2], workload.varpi)
    best = (-math.inf, None)
    choices = range(workload.n_channels + 1)
    for profile in itertools.product(choices, repeat=workload.n_services):
        channel = np.array(profile)
        evaluation = evaluate(workload, channel)
        offload = channel > 0
        if profitable_only and np.any(evaluation.qos[offload] < q_local[offload] - 1e-12):
            continue
        if evaluation.system_qos > best[0]:
            best = (evaluation.system_qos, channel)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("profitable_only", [True, False])
def test_matches_brute_force(seed, profitable_only):
    workload = crowded_workload(seed)
    result = exact_optimum(workload, profitable_only=profitable_only)
    best_qos, best_channel = brute_force(workload, profitable_only)
    assert result.system_qos == pytest.approx(best_qos, rel=1e-12, abs=1e-12)
    assert evaluate(workload, result.channel).system_qos == pytest.approx(best_qos, abs=1e-12)
    assert np.array_equal(result.channel, best_channel)


def test_some_instances_offload():
    # Guard that the brute-force comparison covers non-trivial optima.
    offloaders = [exact_optimum(crowded_workload(seed)).channel.any() for seed in range(6)]
    assert any(offloaders)


def test_counts_profiles():
    workload = crowded_workload(0, n_services=4, n_channels=3)
    result = exact_optimum(workload)
    # (M + 1) ** N = 4 ** 4 = 256.
    assert result.n_profiles == 256
    assert 1 <= result.n_feasible <= 256


def test_unconstrained_at_least_constrained():
    for seed in range(4):
        workload = crowded_workload(seed, n_services=6)
        constrained = exact_optimum(workload, profitable_only=True)
        free = exact_optimum(workload, profitable_only=False)
        assert free.system_qos >= constrained.system_qos - 1e-12
        assert free.n_feasible == free.n_profiles


def test_blocks_give_same_answer(monkeypatch):
    workload = crowded_workload(3, n_services=5, n_channels=2)
    whole = exact_optimum(workload)
    # 3 ** 5 = 243 profiles in blocks of 7: 35 blocks, the last one partial.
    monkeypatch.setattr(optimum_module, "BLOCK_PROFILES", 7)
    blocked = exact_optimum(workload)
    assert np.array_equal(whole.channel, blocked.channel)
    assert blocked.system_qos == whole.system_qos
    assert blocked.n_feasible == whole.n_feasible


def test_optimum_not_below_equilibrium():
    for seed in range(8):
        workload = crowded_workload(seed, n_services=6, n_channels=2)
        game = solve_game(workload)
        result = exact_optimum(workload)
        assert result.system_qos >= game.system_qos - 1e-9


def test_rejects_too_many_profiles():
    workload = crowded_workload(0, n_services=8, n_channels=3)
    # 4 ** 8 = 65536 profiles.
    with pytest.raises(
        ValueError, match=r"65536 profiles \(N = 8 services, M = 3 channels\).*max_profiles = 1000"
    ):
        exact_optimum(workload, max_profiles=1000)


def test_rejects_bad_arguments():
    workload = crowded_workload(0, n_services=3)
    with pytest.raises(TypeError, match="workload"):
        exact_optimum({"n": 3})
    with pytest.raises(TypeError, match="max_profiles"):
        exact_optimum(workload, max_profiles=True)
    with pytest.raises(ValueError, match="max_profiles must be an integer >= 1, got 0"):
        exact_optimum(workload, max_profiles=0)


def test_price_of_anarchy_definitions():
    result = price_of_anarchy(n_services=5, n_channels=2, seeds=range(10))
    assert result.seeds.shape == (10,)
    assert result.converged.all()
    # Every equilibrium satisfies eq. (18), so the optimum is at least as good.
    assert np.all(result.gap >= -1e-9)
    np.testing.assert_allclose(result.gap, result.optimum_qos - result.equilibrium_qos)
    defined = np.isfinite(result.ratio)
    both_positive = (result.optimum_qos > 0) & (result.equilibrium_qos > 0)
    assert np.array_equal(defined, both_positive)
    assert np.all(result.ratio[defined] >= 1.0 - 1e-12)
    assert 0.0 <= result.share_optimal <= 1.0
    assert result.max_gap >= result.mean_gap


def test_price_of_anarchy_random_rule_can_lose():
    # The random rule stops at whichever equilibrium it reaches first; on
    # these instances at least one is worse than the optimum.
    result = price_of_anarchy(n_services=6, n_channels=2, seeds=range(20), update_rule="random")
    assert result.max_gap > 1e-6


def test_price_of_anarchy_rejects_empty_seeds():
    with pytest.raises(ValueError, match="seeds"):
        price_of_anarchy(seeds=[])
