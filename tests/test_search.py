"""Tests of mpdob.search: game tables, cycle detection and the two searches."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from test_game import deviation_gains, worked_workload

from mpdob.game import potential_corrected, potential_printed
from mpdob.search import (
    CYCLE_SEARCH_RANGES,
    enumerate_game,
    find_cycle,
    find_printed_potential_counterexample,
    random_workload,
    search_improvement_cycle,
    search_instance,
)
from mpdob.system import Workload, evaluate

DATA = Path(__file__).resolve().parents[1] / "data" / "counterexamples"


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def test_enumerate_game_profiles_in_order():
    table = enumerate_game(worked_workload())
    assert table.n_profiles == 27
    expected = [list(p) for p in itertools.product(range(3), repeat=3)]
    assert table.profiles.tolist() == expected
    assert table.index_of([1, 2, 0]) == 1 * 9 + 2 * 3 + 0


def test_enumerate_game_matches_evaluate():
    w = worked_workload()
    table = enumerate_game(w)
    for k, profile in enumerate(table.profiles):
        assert np.array_equal(table.qos[k], evaluate(w, profile).qos)
        assert table.system_qos[k] == pytest.approx(evaluate(w, profile).system_qos)
        assert table.potential_printed[k] == potential_printed(w, profile)
        assert table.potential_corrected[k] == potential_corrected(w, profile)


def test_enumerate_game_moves_match_brute_force():
    w = worked_workload()
    table = enumerate_game(w)
    for k, profile in enumerate(table.profiles):
        has_move = bool(np.any(deviation_gains(w, profile) > 1e-12))
        assert table.is_nash[k] == (not has_move)
        for service, choice, gain in table.moves_from(k):
            moved = profile.copy()
            moved[service] = choice
            assert gain == pytest.approx(evaluate(w, moved).qos[service] - table.qos[k, service])
            assert gain > 0


def test_enumerate_game_equilibria_of_worked_example():
    table = enumerate_game(worked_workload())
    assert table.profiles[table.is_nash].tolist() == [[1, 2, 0], [2, 1, 0]]


def test_enumerate_game_rejects_large_games():
    w = random_workload(0, 5, 2)
    with pytest.raises(ValueError, match="max_profiles"):
        enumerate_game(w, max_profiles=100)


def test_index_of_rejects_bad_profile():
    table = enumerate_game(worked_workload())
    with pytest.raises(ValueError, match="profile"):
        table.index_of([0, 3, 0])


def test_find_cycle_acyclic():
    # 0 -> 1 -> 2 and 0 -> 2: a DAG.
    assert find_cycle(3, [0, 1, 0], [1, 2, 2]) is None


def test_find_cycle_no_edges():
    assert find_cycle(4, [], []) is None


def test_find_cycle_returns_shortest():
    # A 4-cycle 0 -> 1 -> 2 -> 3 -> 0 with a chord 2 -> 0 (a 3-cycle), and
    # node 4 that only leads into the cycle.
    source = [0, 1, 2, 3, 2, 4]
    target = [1, 2, 3, 0, 0, 0]
    assert find_cycle(5, source, target) == [0, 1, 2]


def test_find_cycle_self_consistent():
    rng = np.random.default_rng(5)
    for _ in range(50):
        source = rng.integers(0, 8, size=10)
        target = rng.integers(0, 8, size=10)
        edges = set(zip(source.tolist(), target.tolist(), strict=True))
        cycle = find_cycle(8, source, target)
        if cycle is None:
            continue
        for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
            assert (a, b) in edges


def test_random_workload_deterministic():
    first = random_workload(3, 4, 2).to_dict()
    second = random_workload(3, 4, 2).to_dict()
    assert first == second


def test_random_workload_rejects_unknown_range():
    with pytest.raises(ValueError, match="unknown key"):
        random_workload(0, 2, 1, ranges={"speed": (1.0, 2.0)})


def test_random_workload_rejects_reversed_range():
    with pytest.raises(ValueError, match="alpha"):
        random_workload(0, 2, 1, ranges={"alpha": (0.9, 0.1)})


def test_e2_search_deterministic():
    assert find_printed_potential_counterexample(7) == find_printed_potential_counterexample(7)


def test_e2_search_reproduces_saved_instance():
    saved = load("e2_printed_potential.json")
    fresh = find_printed_potential_counterexample(saved["generated_by"]["seed"])
    assert fresh["workload"] == saved["workload"]
    assert fresh["profile"] == saved["profile"]
    assert fresh["move"] == saved["move"]
    assert fresh["potential_printed_after"] == pytest.approx(saved["potential_printed_after"])


def test_e2_saved_result_is_what_it_claims():
    saved = load("e2_printed_potential.json")
    assert saved["found"]
    assert saved["xi"] / 2 < saved["gamma"] < saved["xi"]
    assert saved["qos_after"] > saved["qos_before"]
    assert saved["potential_printed_after"] < saved["potential_printed_before"]
    assert saved["potential_corrected_after"] > saved["potential_corrected_before"]


def test_e2_search_rejects_bad_band():
    with pytest.raises(ValueError, match="ratio_band"):
        find_printed_potential_counterexample(0, ratio_band=(0.4, 0.9))


def test_cycle_search_deterministic():
    first = search_improvement_cycle(11, 15)
    second = search_improvement_cycle(11, 15)
    assert first == second


def test_cycle_search_rejects_bad_count():
    with pytest.raises(ValueError, match="n_instances"):
        search_improvement_cycle(0, -1)


def test_fixed_share_graphs_acyclic():
    result = search_improvement_cycle(
        5, 40, cloud_sharing="fixed", ranges=CYCLE_SEARCH_RANGES, check_fixed=False
    )
    assert result["instances_with_cycle"] == []
    assert not result["found"]


def test_saved_cycle_search_fixed_share_acyclic():
    saved = load("e4_cycle_search.json")
    assert saved["fixed_share_checked"]
    assert saved["fixed_share_instances_with_cycle"] == []


def saved_cycle_workload(saved: dict) -> Workload:
    return search_instance(
        saved["generated_by"]["seed"],
        saved["example"]["instance"],
        tuple(saved["n_services"]),
        tuple(saved["n_channels"]),
        {name: tuple(pair) for name, pair in saved["ranges"].items()},
        tuple(saved["latency_readings"]),
        saved["cloud_sharing"],
    )


def test_saved_cycle_instance_redrawn():
    saved = load("e4_cycle_search.json")
    assert saved["found"]
    assert saved_cycle_workload(saved).to_dict() == saved["example"]["workload"]


def test_saved_cycle_is_improving_and_closed():
    saved = load("e4_cycle_search.json")
    w = Workload.from_dict(saved["example"]["workload"])
    steps = saved["example"]["cycle"]
    profile = np.array(steps[0]["profile"])
    for step in steps:
        assert profile.tolist() == step["profile"]
        moved = profile.copy()
        moved[step["service"]] = step["to"]
        i = step["service"]
        assert evaluate(w, moved).qos[i] > evaluate(w, profile).qos[i]
        profile = moved
    assert profile.tolist() == steps[0]["profile"]


def test_saved_cycle_instance_graph_cyclic():
    saved = load("e4_cycle_search.json")
    w = Workload.from_dict(saved["example"]["workload"])
    table = enumerate_game(w)
    assert find_cycle(table.n_profiles, table.move_source, table.move_target) is not None
    fixed = enumerate_game(w.replace(cloud_sharing="fixed"))
    assert find_cycle(fixed.n_profiles, fixed.move_source, fixed.move_target) is None
