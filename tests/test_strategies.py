"""Contract tests shared by every strategy, plus worked examples of the baselines."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from mpdob.params import load_params
from mpdob.scenario import Scenario, generate_scenario
from mpdob.strategies import STRATEGIES, StrategyResult, run_strategy
from mpdob.system import cloud_overhead, edge_overhead, qos, transmission_rate

ALL_NAMES = sorted(STRATEGIES)
MPDOB_NAMES = ("mpdob", "mpdob-nolb")
N_SERVICES = 60

HAVE_PIPELINE = importlib.util.find_spec("mpdob.pipeline") is not None


def make_strategy(name: str):
    """Return a strategy instance that needs no trained models.

    MP-DOB uses exact segmentation rates and, for ``mpdob``, the exact 2^E
    load-balance search, so the contract tests train no MLP.
    """
    if name in MPDOB_NAMES:
        if not HAVE_PIPELINE:
            pytest.skip("mpdob.pipeline is not written yet")
        load_balance = "exact" if name == "mpdob" else "none"
        return STRATEGIES[name](delta_mode="exact", load_balance=load_balance)
    return STRATEGIES[name]()


@pytest.fixture(scope="module")
def params():
    return load_params()


@pytest.fixture(scope="module")
def scenario(params):
    return generate_scenario(params, N_SERVICES, 11)


def recomputed_qos(result: StrategyResult) -> np.ndarray:
    """Price the result again from its workload, channel and cloud shares (eq. 8-19)."""
    w, channel = result.workload, result.channel
    offload = channel > 0
    rate = np.where(offload, transmission_rate(w, channel), 1.0)
    f_cloud = np.where(offload, result.f_cloud_flops, 1.0)
    gamma_cloud = cloud_overhead(w, rate, f_cloud)[2]
    gamma_edge = edge_overhead(w)[2]
    return qos(np.where(offload, gamma_cloud, gamma_edge), w.varpi)


@pytest.mark.parametrize("name", ALL_NAMES)
class TestStrategyContract:
    def test_name_matches_key(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        assert result.name == name

    def test_channel_valid(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        m = scenario.params.n_channels
        assert result.channel.shape == (N_SERVICES,)
        assert np.issubdtype(result.channel.dtype, np.integer)
        assert result.channel.min() >= 0
        assert result.channel.max() <= m

    def test_same_seed_identical(self, name, scenario):
        first = make_strategy(name).decide(scenario, 5)
        second = make_strategy(name).decide(scenario, 5)
        assert np.array_equal(first.channel, second.channel)
        assert np.array_equal(first.qos, second.qos)
        assert np.array_equal(first.f_cloud_flops, second.f_cloud_flops)
        assert first.rounds == second.rounds
        assert first.offloading_rate == second.offloading_rate

    def test_different_seed_valid(self, name, scenario):
        # A different seed may change the decisions; both must be valid.
        for seed in (1, 2):
            result = make_strategy(name).decide(scenario, seed)
            assert result.channel.shape == (N_SERVICES,)
            assert np.all(np.isfinite(result.qos))

    def test_qos_shape_and_finite(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        assert result.qos.shape == (N_SERVICES,)
        assert np.all(np.isfinite(result.qos))
        assert result.system_qos == pytest.approx(float(result.qos.sum()), rel=1e-12)

    def test_qos_matches_system_model(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        np.testing.assert_allclose(result.qos, recomputed_qos(result), rtol=1e-9, atol=1e-12)

    def test_cloud_share_only_for_offloaders(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        offload = result.channel > 0
        assert np.all(result.f_cloud_flops[~offload] == 0.0)
        assert np.all(result.f_cloud_flops[offload] > 0.0)

    def test_offloading_rate_in_unit_interval(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        assert 0.0 <= result.offloading_rate <= 1.0

    def test_rounds_non_negative(self, name, scenario):
        result = make_strategy(name).decide(scenario, 0)
        assert isinstance(result.rounds, int)
        assert result.rounds >= 0


@pytest.mark.parametrize("name", ["ecc", "bdo"])
def test_randomised_strategies_depend_on_seed(name, scenario):
    first = run_strategy(name, scenario, 0)
    second = run_strategy(name, scenario, 1)
    assert not np.array_equal(first.channel, second.channel)


def test_run_strategy_unknown_name(scenario):
    with pytest.raises(ValueError, match="acco, bdo, ecc, elc, mpdob, mpdob-nolb, mtto"):
        run_strategy("greedy", scenario, 0)


def test_decide_rejects_non_scenario():
    with pytest.raises(TypeError, match="scenario"):
        STRATEGIES["elc"]().decide({"services": 3}, 0)


@pytest.mark.skipif(not HAVE_PIPELINE, reason="mpdob.pipeline is not written yet")
def test_mpdob_rejects_unknown_modes():
    with pytest.raises(ValueError, match="delta_mode must be one of .* got 'x'"):
        STRATEGIES["mpdob"](delta_mode="x")
    with pytest.raises(ValueError, match="load_balance must be .* got 'all'"):
        STRATEGIES["mpdob"](load_balance="all")


@pytest.mark.skipif(not HAVE_PIPELINE, reason="mpdob.pipeline is not written yet")
def test_nolb_defaults_to_no_load_balance():
    assert STRATEGIES["mpdob-nolb"]().load_balance == "none"
    assert STRATEGIES["mpdob"]().load_balance == "learned"


def test_strategies_cover_paper_comparison():
    assert set(STRATEGIES) == {"mpdob", "mpdob-nolb", "elc", "ecc", "bdo", "acco", "mtto"}


# --- Worked examples on hand-built scenarios --------------------------------


def hand_scenario(params, gain, service_es, psi_head, psi_tail, d_in, eps_edge, eps_cloud, alpha):
    """Build a Scenario from explicit per-service values; E = len(gain)."""
    n_es, n = len(gain), len(service_es)
    as_array = np.asarray
    return Scenario(
        params=params,
        es_position_m=np.zeros((n_es, 2)),
        es_gain=as_array(gain, dtype=float),
        nearest_es=np.zeros(n_es, dtype=int),
        f_edge_flops=np.full(n_es, params.f_edge_flops),
        service_es=as_array(service_es, dtype=int),
        input_side=np.full(n, 448),
        d_in_bit=as_array(d_in, dtype=float),
        d_med_bit=as_array(d_in, dtype=float) / 2,
        d_out_bit=np.full(n, 1e4),
        pdp_index=np.ones(n, dtype=int),
        psi_head_flop=as_array(psi_head, dtype=float),
        psi_tail_flop=as_array(psi_tail, dtype=float),
        epsilon_edge=as_array(eps_edge, dtype=float),
        epsilon_cloud=as_array(eps_cloud, dtype=float),
        alpha=as_array(alpha, dtype=float),
        beta=1.0 - as_array(alpha, dtype=float),
    )


def test_elc_worked_example():
    params = load_params().replace(f_edge=1.0, varpi=0.1)
    scenario = hand_scenario(
        params,
        gain=[1e-6],
        service_es=[0, 0],
        psi_head=[4e10, 1e10],
        psi_tail=[6e10, 4e10],
        d_in=[1e5, 1e5],
        eps_edge=[2e-12, 0.0],
        eps_cloud=[1e-12, 1e-12],
        alpha=[0.5, 0.5],
    )
    result = run_strategy("elc", scenario, 0)
    # One ES of 1e12 FLOP/s hosts 2 services = 4 stages: 2.5e11 FLOP/s each.
    # Service 0: t = 1e11 / 2.5e11 = 0.4 s, e = 2e-12 * 1e11 = 0.2 J,
    #   Gamma = 0.5 * 0.4 + 0.5 * 0.2 = 0.3, Q = 1 - log2(1 + 0.3 / 0.1) = 1 - 2 = -1.
    # Service 1: t = 5e10 / 2.5e11 = 0.2 s, e = 0, Gamma = 0.1, Q = 1 - log2(2) = 0.
    assert np.array_equal(result.channel, [0, 0])
    np.testing.assert_allclose(result.qos, [-1.0, 0.0], atol=1e-12)
    assert result.system_qos == pytest.approx(-1.0, abs=1e-12)
    assert result.offloading_rate == 0.0
    assert result.rounds == 0


def test_ecc_worked_example():
    params = load_params().replace(
        n_channels=1, f_cloud=2.0, bandwidth=1.0, radio_tail=0.0, varpi=0.1
    )
    # p g = 0.15 W * (1e-13 / 0.15) = 1e-13 W, equal to the -100 dBm noise.
    gain = 1e-13 / 0.15
    scenario = hand_scenario(
        params,
        gain=[gain],
        service_es=[0, 0],
        psi_head=[4e10, 2e10],
        psi_tail=[6e10, 2e10],
        d_in=[1e5, 2e5],
        eps_edge=[1e-12, 1e-12],
        eps_cloud=[1e-12, 0.5e-12],
        alpha=[0.5, 0.25],
    )
    result = run_strategy("ecc", scenario, 0)

    # Both services share channel 1, so each receives the other's 1e-13 W:
    # SINR = 1e-13 / (1e-13 + 1e-13) = 0.5, rate = 1e6 * log2(1.5) bit/s.
    rate = 1e6 * math.log2(1.5)
    # Two offloaders share the 2e12 FLOP/s cloud: 1e12 FLOP/s each.
    # Whole task: no head, no edge tail, so latency = transfer + cloud time
    # and energy = p * transfer + eps_cloud * psi_total (zeta = 0).
    # Service 0: transfer = 1e5 / rate, cloud = 1e11 / 1e12 = 0.1 s.
    transfer0 = 1e5 / rate
    overhead0 = 0.5 * (transfer0 + 0.1) + 0.5 * (0.15 * transfer0 + 1e-12 * 1e11)
    # Service 1: transfer = 2e5 / rate, cloud = 4e10 / 1e12 = 0.04 s,
    # energy = 0.15 * transfer + 0.5e-12 * 4e10 = 0.15 * transfer + 0.02 J.
    transfer1 = 2e5 / rate
    overhead1 = 0.25 * (transfer1 + 0.04) + 0.75 * (0.15 * transfer1 + 0.02)

    expected = [1 - math.log2(1 + overhead0 / 0.1), 1 - math.log2(1 + overhead1 / 0.1)]
    assert np.array_equal(result.channel, [1, 1])
    np.testing.assert_allclose(result.f_cloud_flops, [1e12, 1e12])
    np.testing.assert_allclose(result.qos, expected, rtol=1e-12)
    assert result.offloading_rate == 1.0


def test_ecc_spreads_channels_evenly(params):
    scenario = generate_scenario(params, 40, 3)
    result = run_strategy("ecc", scenario, 4)
    load = np.bincount(result.channel, minlength=params.n_channels + 1)
    # 40 services on 15 channels: 10 channels carry 3, 5 carry 2.
    assert load[0] == 0
    assert load[1:].max() - load[1:].min() <= 1
    assert load.sum() == 40


@pytest.mark.parametrize(("probability", "expected_offloaders"), [(0.0, 0), (1.0, 30)])
def test_bdo_probability_extremes(params, probability, expected_offloaders):
    scenario = generate_scenario(params.replace(bdo_probability=probability), 30, 2)
    result = run_strategy("bdo", scenario, 0)
    assert result.n_offloading == expected_offloaders


def test_acco_one_service_per_channel(params):
    scenario = generate_scenario(params, 100, 5)
    result = run_strategy("acco", scenario, 0)
    used = result.channel[result.channel > 0]
    assert used.size <= params.n_channels
    assert np.unique(used).size == used.size
    assert np.all(result.channel[result.extra["dropped"]] == 0)
    assert result.rounds == result.n_offloading


def test_acco_without_deadline_pressure(params):
    # With a 10 s deadline every service meets it locally: none is urgent or
    # dropped, and only services that gain offload (greedy step 3).
    scenario = generate_scenario(params.replace(deadline=10_000.0), 100, 5)
    result = run_strategy("acco", scenario, 0)
    profitable = result.extra["profitable"]
    assert result.extra["dropped"].size == 0
    assert result.extra["deadline_first"].size == 0
    assert profitable.size == result.n_offloading
    assert profitable.size > 0
    # The k-th joiner (k = 0, 1, ...) was priced alone on an empty channel
    # with the cloud split among k + 1 offloaders, and had to gain.
    w = result.workload
    rate_alone = w.bandwidth_hz * np.log2(1.0 + w.received_power_watt / w.noise_watt)
    share = np.ones(w.n_services)
    share[profitable] = params.f_cloud_flops / (np.arange(profitable.size) + 1)
    gamma_cloud = cloud_overhead(w, rate_alone, share)[2]
    gamma_edge = edge_overhead(w)[2]
    assert np.all(gamma_cloud[profitable] < gamma_edge[profitable])


def test_mtto_allocation_uses_budget(params):
    scenario = generate_scenario(params, 100, 1)
    result = run_strategy("mtto", scenario, 0)
    offload = result.channel > 0
    assert offload.any()
    # Under the "offloaders" sharing rule the offloaders share the whole cloud.
    assert result.f_cloud_flops[offload].sum() == pytest.approx(params.f_cloud_flops)
    assert result.extra["allocation"] in ("equal", "learned")
    assert result.system_qos >= result.extra["system_qos_equal_share"] - 1e-9


@pytest.mark.skipif(not HAVE_PIPELINE, reason="mpdob.pipeline is not written yet")
def test_mpdob_offloading_rate_counts_tail_flop(scenario):
    result = make_strategy("mpdob-nolb").decide(scenario, 0)
    w = result.workload
    offloaded = np.sum(np.where(result.channel > 0, w.delta * w.psi_tail_flop, 0.0))
    assert result.offloading_rate == pytest.approx(offloaded / w.psi_tail_flop.sum())
