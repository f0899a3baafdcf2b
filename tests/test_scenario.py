"""Tests for the seeded scenario generator."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mpdob.params import load_params
from mpdob.scenario import Scenario, generate_scenario

ARRAY_FIELDS = [f.name for f in dataclasses.fields(Scenario) if f.name != "params"]


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def scenario(params):
    return generate_scenario(params, 27, rng=0)


def test_same_seed_gives_identical_arrays(params):
    first = generate_scenario(params, 27, rng=11)
    second = generate_scenario(params, 27, rng=11)
    for name in ARRAY_FIELDS:
        a, b = getattr(first, name), getattr(second, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name


def test_same_seed_gives_identical_bytes(params):
    first = generate_scenario(params, 27, rng=11, assignment="hotspot")
    second = generate_scenario(params, 27, rng=np.random.default_rng(11), assignment="hotspot")
    for name in ARRAY_FIELDS:
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name


def test_other_seed_gives_other_scenario(params):
    first = generate_scenario(params, 27, rng=1)
    second = generate_scenario(params, 27, rng=2)
    assert not np.array_equal(first.es_position_m, second.es_position_m)


@pytest.mark.parametrize("n_services", [1, 5, 27, 60])
def test_shapes(params, n_services):
    scenario = generate_scenario(params, n_services, rng=3)
    n_es = params.n_edge_servers
    assert scenario.n_services == n_services
    assert scenario.n_edge_servers == n_es
    assert scenario.es_position_m.shape == (n_es, 2)
    for name in ("es_gain", "nearest_es", "f_edge_flops"):
        assert getattr(scenario, name).shape == (n_es,), name
    per_service = [
        "service_es",
        "input_side",
        "d_in_bit",
        "d_med_bit",
        "d_out_bit",
        "pdp_index",
        "psi_head_flop",
        "psi_tail_flop",
        "epsilon_edge",
        "epsilon_cloud",
        "alpha",
        "beta",
    ]
    for name in per_service:
        assert getattr(scenario, name).shape == (n_services,), name
    assert scenario.gain.shape == (n_services,)
    assert scenario.p_watt.shape == (n_services,)
    assert scenario.zeta_joule.shape == (n_services,)
    assert scenario.services_per_es.sum() == n_services


def test_arrays_are_read_only(scenario):
    for name in ARRAY_FIELDS:
        assert not getattr(scenario, name).flags.writeable, name


def test_alpha_plus_beta_is_one(scenario, params):
    assert np.allclose(scenario.alpha + scenario.beta, 1.0, rtol=0, atol=1e-15)
    low, high = params.alpha_range
    assert np.all((scenario.alpha >= low) & (scenario.alpha <= high))


def test_energy_coefficients_in_range(scenario, params):
    low, high = params.epsilon_edge_range_joule_per_flop
    assert np.all((scenario.epsilon_edge >= low) & (scenario.epsilon_edge <= high))
    low, high = params.epsilon_cloud_range_joule_per_flop
    assert np.all((scenario.epsilon_cloud >= low) & (scenario.epsilon_cloud <= high))


def test_positions_inside_plant(scenario, params):
    half = params.plant_side_m / 2
    assert np.all(np.abs(scenario.es_position_m) <= half)


def test_gain_follows_path_loss(scenario, params):
    # g = max(distance, 10 m) ** -4, base station at the origin.
    distance = np.hypot(scenario.es_position_m[:, 0], scenario.es_position_m[:, 1])
    expected = np.maximum(distance, params.min_distance_m) ** -4.0
    assert scenario.es_gain == pytest.approx(expected, rel=1e-12)


def test_min_distance_caps_gain(params):
    # In a 20 m square every ES is at most sqrt(2) * 10 = 14.1 m from the base station,
    # below the 15 m minimum distance, so every gain is 15^-4.
    small = params.replace(plant_side=20.0, min_distance=15.0)
    scenario = generate_scenario(small, 4, rng=0)
    assert scenario.es_gain == pytest.approx(np.full(9, 15.0**-4), rel=1e-12)


def test_d_in_within_range_after_rounding(params):
    # The drawn size S bytes (in [2000, 3000] KiB) becomes the side s = round(sqrt(S / 12))
    # of a 3-channel float32 square, so the side is within 0.5 of sqrt(S / 12). The sent
    # size 12 s^2 is then within 12 (sqrt(S / 12) + 0.5)^2 - S = sqrt(12 S) + 3 bytes of S:
    # at most sqrt(12 * 3072000) + 3 = 6075 bytes, i.e. below 0.3 % of the range's lower end.
    scenario = generate_scenario(params, 400, rng=7)
    low_byte, high_byte = (b / 8 for b in params.d_in_range_bit)
    side_low = math.sqrt(low_byte / 12)
    side_high = math.sqrt(high_byte / 12)
    assert np.all(scenario.input_side >= side_low - 0.5)
    assert np.all(scenario.input_side <= side_high + 0.5)
    d_in_byte = scenario.d_in_bit / 8
    tolerance = math.sqrt(12 * high_byte) + 3
    assert np.all(d_in_byte >= low_byte - tolerance)
    assert np.all(d_in_byte <= high_byte + tolerance)
    assert tolerance / low_byte < 0.003


def test_d_in_is_the_rounded_square(scenario):
    # 3 channels * 4 bytes * 8 bits = 96 bits per pixel.
    assert np.array_equal(scenario.d_in_bit, scenario.input_side.astype(float) ** 2 * 96)


def test_partition_quantities_positive(scenario):
    assert np.all(scenario.psi_head_flop > 0)
    assert np.all(scenario.psi_tail_flop > 0)
    assert np.all(scenario.d_med_bit > 0)
    assert np.all(scenario.d_med_bit < scenario.d_in_bit)


def test_nearest_es_is_never_itself(params):
    for seed in range(20):
        scenario = generate_scenario(params, 5, rng=seed)
        assert np.all(scenario.nearest_es != np.arange(scenario.n_edge_servers))


def test_nearest_es_is_nearest(scenario):
    positions = scenario.es_position_m
    for j, k in enumerate(scenario.nearest_es):
        distances = np.hypot(*(positions - positions[j]).T)
        distances[j] = np.inf
        assert distances[k] == distances.min()


def test_nearest_es_single_server_is_itself(params):
    scenario = generate_scenario(params.replace(n_edge_servers=1), 3, rng=0)
    assert np.array_equal(scenario.nearest_es, [0])


def test_hotspot_concentrates_services(params):
    # With hotspot_share 0.5, about half of 300 services go to one ES on top of the
    # uniform 1/9 of the rest: expected 150 + 150/9 = 167. Uniform gives 300/9 = 33 each.
    hotspot = generate_scenario(params, 300, rng=4, assignment="hotspot")
    uniform = generate_scenario(params, 300, rng=4, assignment="uniform")
    assert hotspot.services_per_es.max() > 120
    assert uniform.services_per_es.max() < 60


def test_hotspot_share_one_sends_all_to_one_es(params):
    scenario = generate_scenario(params.replace(hotspot_share=1.0), 50, rng=5, assignment="hotspot")
    assert np.count_nonzero(scenario.services_per_es) == 1


def test_default_assignment_comes_from_params(params):
    from_params = generate_scenario(params.replace(assignment="hotspot"), 40, rng=6)
    explicit = generate_scenario(params, 40, rng=6, assignment="hotspot")
    assert np.array_equal(from_params.service_es, explicit.service_es)
