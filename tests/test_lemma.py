"""Tests for Lemma 1: the interference threshold xi, corrected and as printed.

The property tests draw random valid workloads and check the lemma's claim
directly against eq. (8)-(16): at an interference just below xi_i offloading
costs no more than edge-only computing, just above it costs more. The rate at
a given interference is computed here from eq. (8), not by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mpdob.lemma import min_profitable_rate, rate_gap_terms, xi_printed, xi_threshold
from mpdob.params import load_params
from mpdob.scenario import generate_scenario
from mpdob.system import (
    Workload,
    cloud_overhead,
    cloud_share,
    edge_overhead,
    evaluate,
    interference,
    make_workload,
    qos,
)

READINGS = ("sequential", "parallel")

# Relative distance from the boundary, applied to sigma_0 + gamma. Eq. (8) turns it
# into a relative rate change of at least MARGIN / (1 + ln(1 + SINR)), which is far
# above float rounding for the SINR range the tests keep (below 1e12).
MARGIN = 1e-2


def log_uniform(low_exp: float, high_exp: float):
    """Floats 10**x with x uniform in [low_exp, high_exp]."""
    return st.floats(low_exp, high_exp).map(lambda x: 10.0**x)


@st.composite
def workloads(draw, latency_reading="sequential", bandwidth_hz=None):
    """Draw a valid workload of 1 to 4 services with physically plausible magnitudes."""
    n = draw(st.integers(1, 4))

    def array(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)))

    alpha = array(st.floats(0.05, 0.95))
    workload = Workload(
        psi_head_flop=array(log_uniform(8, 11)),
        psi_tail_flop=array(log_uniform(9, 12)),
        d_med_bit=array(log_uniform(4, 7)),
        # delta = 0 exactly (erratum E7) or at least 1e-3; a subnormal delta would put the
        # overhead difference below float resolution.
        delta=array(st.one_of(st.just(0.0), st.floats(1e-3, 1.0))),
        head_rate_flops=array(log_uniform(11, 13)),
        tail_rate_flops=array(log_uniform(11, 13)),
        alpha=alpha,
        beta=1.0 - alpha,
        epsilon_edge=array(st.floats(0.5e-12, 2e-12)),
        epsilon_cloud=array(st.floats(0.5e-12, 2e-12)),
        zeta_joule=array(st.floats(0.0, 0.01)),
        p_watt=array(st.floats(0.01, 1.0)),
        gain=array(log_uniform(-12, -6)),
        bandwidth_hz=draw(log_uniform(6, 8)) if bandwidth_hz is None else bandwidth_hz,
        noise_watt=draw(log_uniform(-15, -11)),
        f_cloud_flops=draw(log_uniform(12, 14)),
        n_channels=3,
        varpi=0.1,
        latency_reading=latency_reading,
    )
    f_cloud = array(log_uniform(11, 14))
    return workload, f_cloud


def rate_at(workload: Workload, gamma: np.ndarray) -> np.ndarray:
    """Eq. (8) at interference ``gamma``: B log2(1 + p g / (sigma_0 + gamma))."""
    sinr = workload.p_watt * workload.gain / (workload.noise_watt + gamma)
    return workload.bandwidth_hz * np.log2(1.0 + sinr)


def resolvable(workload: Workload, rate: np.ndarray) -> np.ndarray:
    """Mask of services whose overhead moves visibly with a MARGIN change of the rate.

    Near lambda* the overhead changes by at least beta p d / lambda* times the relative
    rate change. Where that is below 1e-9 of Gamma_e, float rounding could decide the sign.
    """
    _, _, edge = edge_overhead(workload)
    with np.errstate(divide="ignore"):
        transfer_energy = workload.beta * workload.p_watt * workload.d_med_bit / rate
    return np.isfinite(rate) & (transfer_energy > 1e-9 * edge)


def gap_at(workload: Workload, f_cloud: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Gamma_c - Gamma_e at interference ``gamma`` (negative: offloading pays)."""
    _, _, edge = edge_overhead(workload)
    _, _, cloud = cloud_overhead(workload, rate_at(workload, gamma), f_cloud)
    return cloud - edge


# --- the lemma's equivalence, both readings --------------------------------


@pytest.mark.parametrize("reading", READINGS)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_profitable_exactly_below_threshold(reading, data):
    workload, f_cloud = data.draw(workloads(latency_reading=reading))
    xi = xi_threshold(workload, f_cloud)
    noise = workload.noise_watt
    finite = np.isfinite(xi) & (xi + noise > 0)
    # The boundary SINR p g / (sigma_0 + xi) is kept below 1e12 (see MARGIN).
    sinr_star = np.where(finite, workload.received_power_watt / np.where(finite, xi + noise, 1), 0)
    rate_star = min_profitable_rate(workload, f_cloud)
    keep = finite & (sinr_star < 1e12) & resolvable(workload, rate_star)
    assume(np.any(keep))
    # The equivalence holds for every sigma_0 + gamma > 0, which includes all gamma >= 0.
    below = (xi + noise) * (1.0 - MARGIN) - noise
    above = (xi + noise) * (1.0 + MARGIN) - noise
    below, above = np.where(keep, below, 0.0), np.where(keep, above, 0.0)
    gap_below = gap_at(workload, f_cloud, below)
    gap_above = gap_at(workload, f_cloud, above)
    assert np.all(gap_below[keep] <= 0.0)
    assert np.all(gap_above[keep] > 0.0)


@pytest.mark.parametrize("reading", READINGS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_minus_infinity_means_never_profitable(reading, data):
    workload, f_cloud = data.draw(workloads(latency_reading=reading))
    xi = xi_threshold(workload, f_cloud)
    never = np.isneginf(xi)
    assume(np.any(never))
    # At zero interference the rate is the highest the channel allows.
    gap = gap_at(workload, f_cloud, np.zeros(workload.n_services))
    assert np.all(gap[never] > 0.0)


@pytest.mark.parametrize("reading", READINGS)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_min_rate_is_the_break_even_rate(reading, data):
    workload, f_cloud = data.draw(workloads(latency_reading=reading))
    rate = min_profitable_rate(workload, f_cloud)
    finite = resolvable(workload, rate)
    assume(np.any(finite))
    _, _, edge = edge_overhead(workload)
    # Just above lambda* offloading pays, just below it does not.
    _, _, fast = cloud_overhead(workload, np.where(finite, rate * (1 + MARGIN), 1.0), f_cloud)
    _, _, slow = cloud_overhead(workload, np.where(finite, rate * (1 - MARGIN), 1.0), f_cloud)
    assert np.all(fast[finite] <= edge[finite])
    assert np.all(slow[finite] > edge[finite])


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_parallel_threshold_not_below_sequential(data):
    # max(A, d u + C) <= A + d u + C, so the parallel reading tolerates at least as
    # much interference as the sequential one.
    workload, f_cloud = data.draw(workloads(latency_reading="sequential"))
    sequential = xi_threshold(workload, f_cloud)
    parallel = xi_threshold(workload.replace(latency_reading="parallel"), f_cloud)
    assert np.all(parallel >= sequential - 1e-9 * np.abs(sequential))


# --- eq. (19): Q strictly decreasing in Gamma -------------------------------


@settings(max_examples=300, deadline=None)
@given(
    overhead=log_uniform(-6, 6),
    step=log_uniform(-6, 3),
    varpi=log_uniform(-3, 1),
)
def test_qos_strictly_decreasing(overhead, step, varpi):
    # Overheads are taken relative to varpi, so Gamma / varpi lies in [1e-6, 1e6].
    low = overhead * varpi
    high = low * (1.0 + step)
    values = qos(np.array([low, high]), varpi)
    assert values[0] > values[1]


def test_qos_zero_overhead_is_one():
    assert qos(np.array([0.0]), 0.1) == pytest.approx([1.0])


# --- worked examples --------------------------------------------------------


def one_service(**changes) -> tuple[Workload, float]:
    """A single service with round numbers; see the worked examples below."""
    fields = dict(
        psi_head_flop=[2e12],
        psi_tail_flop=[4e12],
        d_med_bit=[4e6],
        delta=[0.5],
        head_rate_flops=[1e12],
        tail_rate_flops=[1e12],
        alpha=[0.5],
        beta=[0.5],
        epsilon_edge=[1e-12],
        epsilon_cloud=[0.2e-12],
        zeta_joule=[0.1],
        p_watt=[0.5],
        gain=[12e-9],
        bandwidth_hz=1e6,
        noise_watt=1e-9,
        f_cloud_flops=4e12,
        n_channels=1,
        varpi=1.0,
    )
    fields.update(changes)
    return Workload(**fields), 4e12


def test_worked_example_sequential():
    workload, f_cloud = one_service()
    # Tail at the edge T = 4e12 / 1e12 = 4 s; edge share A = 0.5 * 4 = 2 s;
    # cloud share C = 0.5 * 4e12 / 4e12 = 0.5 s.
    # Energy saved S = (1e-12 - 0.2e-12) * 0.5 * 4e12 - 0.1 = 1.6 - 0.1 = 1.5 J.
    terms = rate_gap_terms(workload, f_cloud)
    assert terms["T"] == pytest.approx([4.0])
    assert terms["A"] == pytest.approx([2.0])
    assert terms["C"] == pytest.approx([0.5])
    assert terms["S"] == pytest.approx([1.5])
    # D = alpha (T - A - C) + beta S = 0.5 * 1.5 + 0.5 * 1.5 = 1.5.
    # lambda* = d (alpha + beta p) / D = 4e6 * (0.5 + 0.25) / 1.5 = 2e6 bit/s.
    assert min_profitable_rate(workload, f_cloud) == pytest.approx([2e6], rel=1e-12)
    # xi = p g / (2^(lambda* / B) - 1) - sigma_0 = 6e-9 / (2^2 - 1) - 1e-9 = 1e-9 W.
    assert xi_threshold(workload, f_cloud) == pytest.approx([1e-9], rel=1e-12)


def test_worked_example_boundary_overheads():
    workload, f_cloud = one_service()
    # At gamma = xi = 1e-9: SINR = 6e-9 / 2e-9 = 3, rate = 1e6 log2(4) = 2e6 = lambda*.
    # Gamma_e = 0.5 * (2 + 4) + 0.5 * 1e-12 * 6e12 = 3 + 3 = 6.
    # Gamma_c: transfer 4e6 / 2e6 = 2 s; latency 2 + 2 + 0.5 + 2 = 6.5 s;
    #          energy 0.5 * 2 + 1e-12 * 4e12 + 0.2e-12 * 2e12 + 0.1 = 5.5 J;
    #          Gamma_c = 0.5 * 6.5 + 0.5 * 5.5 = 6. The two modes tie on the boundary.
    _, _, edge = edge_overhead(workload)
    _, _, cloud = cloud_overhead(workload, np.array([2e6]), f_cloud)
    assert edge == pytest.approx([6.0], rel=1e-12)
    assert cloud == pytest.approx([6.0], rel=1e-12)


def test_worked_example_printed_form():
    workload, f_cloud = one_service()
    # Printed eq. (22): 2^(lambda*) - 1 with lambda* = 2e6 overflows, so
    # xi = 6e-9 / inf - 1e-9 = -sigma_0 = -1e-9 W: never profitable, although the
    # corrected threshold admits up to 1e-9 W of interference.
    assert xi_printed(workload, f_cloud) == pytest.approx([-1e-9], rel=1e-12)


def test_worked_example_parallel_steep_branch():
    workload, f_cloud = one_service(latency_reading="parallel")
    # g(u) = alpha (max(A, d u + C) - T) + beta (p d u - S) with u = 1 / rate.
    # Knee at d u + C = A: u_k = (2 - 0.5) / 4e6 = 3.75e-7;
    # g(u_k) = 0.5 (2 - 4) + 0.5 (0.5 * 4e6 * 3.75e-7 - 1.5) = -1 - 0.375 < 0,
    # so the root is beyond the knee: 0.5 (4e6 u + 0.5 - 4) + 0.5 (2e6 u - 1.5) = 0
    # -> 3e6 u = 2.5 -> lambda* = 1.2e6 bit/s.
    assert min_profitable_rate(workload, f_cloud) == pytest.approx([1.2e6], rel=1e-12)
    # xi = 6e-9 / (2^1.2 - 1) - 1e-9.
    expected = 6e-9 / (2.0**1.2 - 1.0) - 1e-9
    assert xi_threshold(workload, f_cloud) == pytest.approx([expected], rel=1e-12)


def test_worked_example_parallel_flat_branch():
    workload, f_cloud = one_service(
        latency_reading="parallel", delta=[0.1], zeta_joule=[0.22], gain=[48e-9]
    )
    # delta = 0.1: A = 0.9 * 4 = 3.6 s, C = 0.1 * 4e12 / 4e12 = 0.1 s, T = 4 s,
    # S = 0.8e-12 * 0.4e12 - 0.22 = 0.1 J. Knee u_k = (3.6 - 0.1) / 4e6 = 8.75e-7.
    # Before the knee only the transfer energy grows: g(u) = 0.5 (3.6 - 4) + 0.5 (2e6 u - 0.1)
    # = 1e6 u - 0.25 -> u* = 2.5e-7 < u_k, so lambda* = 4e6 bit/s.
    assert min_profitable_rate(workload, f_cloud) == pytest.approx([4e6], rel=1e-12)
    # xi = p g / (2^4 - 1) - sigma_0 = 24e-9 / 15 - 1e-9 = 0.6e-9 W.
    assert xi_threshold(workload, f_cloud) == pytest.approx([0.6e-9], rel=1e-12)


def test_parallel_tie_at_zero_rate_cost():
    # A <= C and g(0) = 0: the knee is at u = 0, so lambda* is infinite.
    # delta = 1: A = 0, C = 4e12 / f_c. With f_c = 1e12, C = 4 s = T, and S = 0
    # (eps_e = eps_c, zeta = 0), so g(0) = alpha (C - T) - beta S = 0.
    workload, _ = one_service(
        latency_reading="parallel",
        delta=[1.0],
        epsilon_cloud=[1e-12],
        zeta_joule=[0.0],
    )
    assert np.isinf(min_profitable_rate(workload, 1e12)).all()
    assert np.isneginf(xi_threshold(workload, 1e12)).all()


# --- erratum E1: the printed exponent lacks 1/B -----------------------------


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_printed_equals_corrected_when_bandwidth_is_one(data):
    # With B = 1 Hz the exponents lambda* / B and lambda* coincide.
    workload, f_cloud = data.draw(workloads(bandwidth_hz=1.0))
    corrected = xi_threshold(workload, f_cloud)
    printed = xi_printed(workload, f_cloud)
    assert np.array_equal(np.isneginf(corrected), np.isneginf(printed))
    finite = np.isfinite(corrected)
    assert printed[finite] == pytest.approx(corrected[finite], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_printed_is_minus_noise_for_realistic_bandwidth(data):
    # B >= 1e6 Hz gives lambda* of many bit/s whenever offloading can pay at all,
    # so 2^lambda* overflows and the printed threshold is -sigma_0 (never profitable).
    workload, f_cloud = data.draw(workloads())
    rate = min_profitable_rate(workload, f_cloud)
    finite = np.isfinite(rate) & (rate > 2000.0)
    assume(np.any(finite))
    printed = xi_printed(workload, f_cloud)
    assert printed[finite] == pytest.approx(np.full(finite.sum(), -workload.noise_watt))


def test_printed_form_rejects_profitable_offloading():
    # Default scenario, every tail wholly in the cloud (delta = 1), empty channels.
    params = load_params()
    scenario = generate_scenario(params, 27, rng=0)
    workload = make_workload(scenario, 1.0)
    local = np.zeros(scenario.n_services, dtype=int)
    f_cloud = cloud_share(workload, local)
    corrected = xi_threshold(workload, f_cloud)
    printed = xi_printed(workload, f_cloud)
    profitable_alone = np.flatnonzero(corrected >= 0.0)
    assert profitable_alone.size >= 1
    assert np.all(printed < 0.0)
    for i in profitable_alone:
        # Service i alone on channel 1 gains QoS, which the printed form denies.
        channel = local.copy()
        channel[i] = 1
        assert evaluate(workload, channel).qos[i] > evaluate(workload, local).qos[i]


def test_threshold_agrees_with_evaluate_on_shared_channels():
    # Default scenario with services spread over 3 channels: for every offloading
    # service, gamma_i <= xi_i exactly when its own QoS beats edge-only computing.
    params = load_params().replace(n_channels=3, latency_reading="parallel")
    scenario = generate_scenario(params, 27, rng=1)
    workload = make_workload(scenario, 1.0)
    channel = np.arange(scenario.n_services) % 4
    result = evaluate(workload, channel)
    _, _, edge = edge_overhead(workload)
    xi = xi_threshold(workload, result.f_cloud_flops)
    gamma = interference(workload, channel)
    offloading = channel > 0
    pays = result.overhead <= edge
    assert np.array_equal((gamma <= xi)[offloading], pays[offloading])


# --- erratum E7: a non-positive denominator ---------------------------------


def test_e7_dirty_slow_cloud_never_pays():
    # Cloud energy 2e-12 > edge 1e-12 and cloud 0.5e12 FLOP/s < edge tail 1e12:
    # D = alpha (T - A - C) + beta S = 0.5 (4 - 2 - 4) + 0.5 (-1e-12 * 2e12 - 0.1) = -2.05 < 0.
    for reading in READINGS:
        workload, _ = one_service(epsilon_cloud=[2e-12], latency_reading=reading)
        f_cloud = 0.5e12
        assert np.isneginf(xi_threshold(workload, f_cloud)).all()
        # Even with no interference (the fastest rate) offloading costs more.
        assert (gap_at(workload, np.array([f_cloud]), np.zeros(1)) > 0).all()


def test_e7_printed_literal_is_meaningless():
    # The printed chain divides eq. (25) by D. With D = -2.05 eq. (26) becomes
    # lambda >= 3e6 / -2.05 < 0, true for every rate, i.e. "always profitable",
    # while the correct verdict is "never". Eq. (22) itself gives 2^(3e6 / -2.05) - 1 = -1,
    # so xi = 6e-9 / -1 - 1e-9 = -7e-9 W: negative by accident, not by derivation.
    denominator = 0.5 * (4 - 2 - 4) + 0.5 * (-1e-12 * 2e12 - 0.1)
    assert denominator == pytest.approx(-2.05)
    literal = 6e-9 / (2.0 ** (3e6 / denominator) - 1.0) - 1e-9
    assert literal == pytest.approx(-7e-9)


@pytest.mark.parametrize("zeta", [0.0, 0.1])
@pytest.mark.parametrize("reading", READINGS)
def test_e7_zero_delta_never_pays(zeta, reading):
    # delta = 0 offloads nothing but still pays the transfer and zeta:
    # D = alpha (T - T - 0) + beta (0 - zeta) = -beta zeta <= 0. With zeta = 0, D = 0 and
    # the printed eq. (22) divides by zero; the corrected threshold is -inf.
    workload, f_cloud = one_service(delta=[0.0], zeta_joule=[zeta], latency_reading=reading)
    assert np.isinf(min_profitable_rate(workload, f_cloud)).all()
    assert np.isneginf(xi_threshold(workload, f_cloud)).all()
    assert np.isneginf(xi_printed(workload, f_cloud)).all()
    for gamma in (0.0, 1e-9):
        assert (gap_at(workload, np.array([f_cloud]), np.array([gamma])) > 0).all()
    # Only in the limit of an infinite rate does the gap close to beta zeta >= 0.
    _, _, edge = edge_overhead(workload)
    _, _, cloud = cloud_overhead(workload, np.array([math.inf]), f_cloud)
    assert cloud - edge == pytest.approx([0.5 * zeta], abs=1e-12)
