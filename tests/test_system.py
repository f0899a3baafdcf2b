"""Tests for the system model (eq. 8-16 and 19) on examples worked by hand.

The two-service workload below uses round numbers so that every expected
value follows from a few lines of arithmetic, written in the comments. The
expected values are literals or short hand formulas, never calls into
``mpdob.system``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpdob.params import load_params
from mpdob.scenario import Scenario
from mpdob.system import (
    Workload,
    cloud_overhead,
    cloud_share,
    edge_overhead,
    edge_stage_rates,
    evaluate,
    interference,
    make_workload,
    qos,
    transmission_rate,
)

# Two services, B = 1 MHz, sigma_0 = 1e-9 W, f_c = 8 TFLOP/s, varpi = 1.
#   service 1: p g = 0.5 W * 6e-9 = 3e-9 W;  service 2: p g = 0.25 W * 4e-9 = 1e-9 W.
#   service 1: psi_head 2e12, psi_tail 4e12 FLOP, d_med 4e6 bit, delta 0.5,
#              both stages at 1e12 FLOP/s, alpha = beta = 0.5,
#              eps_e 1e-12, eps_c 0.5e-12 J/FLOP, zeta 0.01 J.
#   service 2: psi_head 1e12, psi_tail 2e12 FLOP, d_med 1e6 bit, delta 0.25,
#              both stages at 2e12 FLOP/s, alpha 0.75, beta 0.25,
#              eps_e 2e-12, eps_c 1e-12 J/FLOP, zeta 0.02 J.


def two_services(**changes) -> Workload:
    fields = dict(
        psi_head_flop=[2e12, 1e12],
        psi_tail_flop=[4e12, 2e12],
        d_med_bit=[4e6, 1e6],
        delta=[0.5, 0.25],
        head_rate_flops=[1e12, 2e12],
        tail_rate_flops=[1e12, 2e12],
        alpha=[0.5, 0.75],
        beta=[0.5, 0.25],
        epsilon_edge=[1e-12, 2e-12],
        epsilon_cloud=[0.5e-12, 1e-12],
        zeta_joule=[0.01, 0.02],
        p_watt=[0.5, 0.25],
        gain=[6e-9, 4e-9],
        bandwidth_hz=1e6,
        noise_watt=1e-9,
        f_cloud_flops=8e12,
        n_channels=2,
        varpi=1.0,
    )
    fields.update(changes)
    return Workload(**fields)


# --- eq. (8) and (28): interference and rate ---------------------------------


def test_interference_separate_channels():
    # Each service is alone on its channel, so neither has interference.
    assert interference(two_services(), [1, 2]) == pytest.approx([0.0, 0.0])


def test_interference_shared_channel():
    # gamma_1 = p_2 g_2 = 1e-9 W; gamma_2 = p_1 g_1 = 3e-9 W.
    assert interference(two_services(), [1, 1]) == pytest.approx([1e-9, 3e-9], rel=1e-12)


def test_interference_local_is_zero():
    assert interference(two_services(), [0, 1]) == pytest.approx([0.0, 0.0])


def test_rate_separate_channels():
    # lambda_1 = 1e6 log2(1 + 3e-9 / 1e-9) = 1e6 log2(4) = 2e6 bit/s.
    # lambda_2 = 1e6 log2(1 + 1e-9 / 1e-9) = 1e6 log2(2) = 1e6 bit/s.
    assert transmission_rate(two_services(), [1, 2]) == pytest.approx([2e6, 1e6], rel=1e-12)


def test_rate_shared_channel():
    # lambda_1 = 1e6 log2(1 + 3e-9 / (1e-9 + 1e-9)) = 1e6 log2(2.5) = 1.321928e6 bit/s.
    # lambda_2 = 1e6 log2(1 + 1e-9 / (1e-9 + 3e-9)) = 1e6 log2(1.25) = 0.321928e6 bit/s.
    # log2(2.5) = 1 + log2(1.25), so the two rates differ by exactly 1e6.
    rate = transmission_rate(two_services(), [1, 1])
    assert rate == pytest.approx([1.321928095e6, 0.321928095e6], rel=1e-9)
    assert rate[0] - rate[1] == pytest.approx(1e6, rel=1e-12)


def test_rate_local_is_zero():
    assert transmission_rate(two_services(), [0, 2]) == pytest.approx([0.0, 1e6], rel=1e-12)


def test_channel_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"channel entries must lie in 0..2 \(0 = local\), got 3"):
        transmission_rate(two_services(), [0, 3])


def test_channel_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"channel must have shape \(2,\)"):
        evaluate(two_services(), [0, 1, 1])


# --- eq. (9)-(11): edge-only ------------------------------------------------


def test_edge_only_latency_energy_overhead():
    latency, energy, overhead = edge_overhead(two_services())
    # t_1 = 2e12 / 1e12 + 4e12 / 1e12 = 6 s;   t_2 = 1e12 / 2e12 + 2e12 / 2e12 = 1.5 s.
    assert latency == pytest.approx([6.0, 1.5], rel=1e-12)
    # e_1 = 1e-12 * 6e12 = 6 J;   e_2 = 2e-12 * 3e12 = 6 J.
    assert energy == pytest.approx([6.0, 6.0], rel=1e-12)
    # Gamma_1 = 0.5 * 6 + 0.5 * 6 = 6;   Gamma_2 = 0.75 * 1.5 + 0.25 * 6 = 2.625.
    assert overhead == pytest.approx([6.0, 2.625], rel=1e-12)


def test_edge_only_uses_separate_stage_rates():
    # Head at 1e12 and tail at 4e12 for service 1: t = 2 + 1 = 3 s.
    workload = two_services(tail_rate_flops=[4e12, 2e12])
    latency, _, _ = edge_overhead(workload)
    assert latency[0] == pytest.approx(3.0, rel=1e-12)


# --- eq. (12)-(16): cloud-edge, both latency readings ------------------------

# On separate channels, rates 2e6 and 1e6 bit/s; f_c = 4e12 FLOP/s each (two
# offloaders share 8e12).
#   service 1: transfer 4e6 / 2e6 = 2 s, head 2 s, edge tail 0.5 * 4e12 / 1e12 = 2 s,
#              cloud 0.5 * 4e12 / 4e12 = 0.5 s.
#              energy = 0.5 W * 2 s + 1e-12 (2e12 + 2e12) + 0.5e-12 * 2e12 + 0.01
#                     = 1 + 4 + 1 + 0.01 = 6.01 J.
#   service 2: transfer 1e6 / 1e6 = 1 s, head 0.5 s, edge tail 0.75 * 2e12 / 2e12 = 0.75 s,
#              cloud 0.25 * 2e12 / 4e12 = 0.125 s.
#              energy = 0.25 * 1 + 2e-12 (1e12 + 1.5e12) + 1e-12 * 0.5e12 + 0.02
#                     = 0.25 + 5 + 0.5 + 0.02 = 5.77 J.
RATES = np.array([2e6, 1e6])
F_CLOUD = np.array([4e12, 4e12])


def test_cloud_energy():
    _, energy, _ = cloud_overhead(two_services(), RATES, F_CLOUD)
    assert energy == pytest.approx([6.01, 5.77], rel=1e-12)


def test_cloud_sequential_latency_and_overhead():
    latency, _, overhead = cloud_overhead(two_services(), RATES, F_CLOUD)
    # Eq. (16) as printed adds all terms:
    # t_1 = 2 + 2 + 0.5 + 2 = 6.5 s;   t_2 = 0.5 + 0.75 + 0.125 + 1 = 2.375 s.
    assert latency == pytest.approx([6.5, 2.375], rel=1e-12)
    # Gamma_1 = 0.5 * 6.5 + 0.5 * 6.01 = 6.255
    # Gamma_2 = 0.75 * 2.375 + 0.25 * 5.77 = 1.78125 + 1.4425 = 3.22375
    assert overhead == pytest.approx([6.255, 3.22375], rel=1e-12)


def test_cloud_parallel_latency_and_overhead():
    workload = two_services(latency_reading="parallel")
    latency, energy, overhead = cloud_overhead(workload, RATES, F_CLOUD)
    # head + max(edge tail, transfer + cloud):
    # t_1 = 2 + max(2, 2 + 0.5) = 4.5 s;   t_2 = 0.5 + max(0.75, 1 + 0.125) = 1.625 s.
    assert latency == pytest.approx([4.5, 1.625], rel=1e-12)
    # The energy does not depend on the reading.
    assert energy == pytest.approx([6.01, 5.77], rel=1e-12)
    # Gamma_1 = 0.5 * 4.5 + 0.5 * 6.01 = 5.255
    # Gamma_2 = 0.75 * 1.625 + 0.25 * 5.77 = 1.21875 + 1.4425 = 2.66125
    assert overhead == pytest.approx([5.255, 2.66125], rel=1e-12)


def test_cloud_parallel_edge_branch_dominates():
    # Service 1 with a fast link (8e6 bit/s) and fast cloud (8e12):
    # transfer 0.5 s + cloud 0.25 s = 0.75 s < edge tail 2 s, so t = 2 + 2 = 4 s.
    workload = two_services(latency_reading="parallel")
    latency, _, _ = cloud_overhead(workload, np.array([8e6, 1e6]), np.array([8e12, 4e12]))
    assert latency[0] == pytest.approx(4.0, rel=1e-12)


def test_cloud_zero_rate_is_infinite():
    _, _, overhead = cloud_overhead(two_services(), np.array([0.0, 1e6]), F_CLOUD)
    assert np.isinf(overhead[0])
    assert np.isfinite(overhead[1])


# --- cloud sharing rules ----------------------------------------------------


def test_cloud_share_offloaders_one_offloading():
    # Service 1 offloads alone: 8e12. Service 2 would be the second: 8e12 / 2.
    assert cloud_share(two_services(), [1, 0]) == pytest.approx([8e12, 4e12])


def test_cloud_share_offloaders_both_offloading():
    assert cloud_share(two_services(), [1, 2]) == pytest.approx([4e12, 4e12])


def test_cloud_share_offloaders_nobody_offloading():
    # Either would be the first offloader and get the whole cloud.
    assert cloud_share(two_services(), [0, 0]) == pytest.approx([8e12, 8e12])


def test_cloud_share_fixed():
    # 1/N of the cloud whatever the others do: 8e12 / 2 = 4e12.
    workload = two_services(cloud_sharing="fixed")
    for channel in ([0, 0], [1, 0], [1, 2]):
        assert cloud_share(workload, channel) == pytest.approx([4e12, 4e12])


# --- eq. (19): QoS ----------------------------------------------------------


def test_qos_values():
    # Q = 1 - log2(1 + Gamma / varpi) with varpi = 0.5:
    # Gamma = 0 -> 1;  Gamma = 0.5 -> 1 - 1 = 0;  Gamma = 1.5 -> 1 - log2(4) = -1.
    assert qos([0.0, 0.5, 1.5], 0.5) == pytest.approx([1.0, 0.0, -1.0], abs=1e-15)


# --- evaluate: the whole profile --------------------------------------------


def test_evaluate_one_offloader_sequential():
    result = evaluate(two_services(), [1, 0])
    # Service 1 alone on channel 1: rate 2e6, f_c = 8e12 (the only offloader).
    # cloud time 0.5 * 4e12 / 8e12 = 0.25 s; t = 2 + 2 + 0.25 + 2 = 6.25 s.
    # energy = 1 + 4 + 1 + 0.01 = 6.01 J; Gamma = 0.5 * 6.25 + 0.5 * 6.01 = 6.13.
    # Service 2 local: Gamma_e = 2.625 (see the edge-only test).
    assert result.overhead == pytest.approx([6.13, 2.625], rel=1e-12)
    assert result.latency_s == pytest.approx([6.25, 1.5], rel=1e-12)
    assert result.energy_joule == pytest.approx([6.01, 6.0], rel=1e-12)
    assert result.rate_bps == pytest.approx([2e6, 0.0])
    # Q_1 = 1 - log2(7.13), Q_2 = 1 - log2(3.625), varpi = 1.
    expected = [1.0 - math.log2(7.13), 1.0 - math.log2(3.625)]
    assert result.qos == pytest.approx(expected, rel=1e-12)
    assert result.system_qos == pytest.approx(sum(expected), rel=1e-12)
    assert result.n_offloading == 1


def test_evaluate_both_offload_parallel():
    result = evaluate(two_services(latency_reading="parallel"), [1, 2])
    # Same numbers as test_cloud_parallel_latency_and_overhead.
    assert result.overhead == pytest.approx([5.255, 2.66125], rel=1e-12)
    assert result.f_cloud_flops == pytest.approx([4e12, 4e12])
    assert result.n_offloading == 2


def test_evaluate_all_local_matches_edge_only():
    result = evaluate(two_services(), [0, 0])
    assert result.overhead == pytest.approx([6.0, 2.625], rel=1e-12)
    assert result.n_offloading == 0


# --- edge stage sharing on a two-ES scenario ---------------------------------


def toy_scenario(service_es=(0, 0, 1), f_edge=(12e12, 4e12)) -> Scenario:
    """Build a 2-ES, 3-service scenario directly; ES 0 and ES 1 are each other's nearest."""
    params = load_params().replace(n_edge_servers=2)
    n = len(service_es)
    alpha = np.full(n, 0.5)
    return Scenario(
        params=params,
        es_position_m=np.array([[-50.0, 0.0], [50.0, 0.0]]),
        es_gain=np.array([50.0**-4, 50.0**-4]),
        nearest_es=np.array([1, 0]),
        f_edge_flops=np.array(f_edge),
        service_es=np.array(service_es),
        input_side=np.full(n, 448),
        d_in_bit=np.full(n, 448.0 * 448 * 3 * 32),
        d_med_bit=np.full(n, 1e6),
        d_out_bit=np.full(n, 1e4),
        pdp_index=np.full(n, 10),
        psi_head_flop=np.array([1e10, 2e10, 3e10]),
        psi_tail_flop=np.array([4e10, 5e10, 6e10]),
        epsilon_edge=np.full(n, 1e-12),
        epsilon_cloud=np.full(n, 1e-12),
        alpha=alpha,
        beta=1.0 - alpha,
    )


def test_stage_rates_without_load_balance():
    head, tail = edge_stage_rates(toy_scenario())
    # ES 0: services 0, 1 -> 2 heads + 2 tails = 4 stages -> 12e12 / 4 = 3e12 each.
    # ES 1: service 2 -> 1 head + 1 tail = 2 stages -> 4e12 / 2 = 2e12 each.
    assert head == pytest.approx([3e12, 3e12, 2e12])
    assert tail == pytest.approx([3e12, 3e12, 2e12])


def test_stage_rates_omega_moves_es0_heads():
    head, tail = edge_stage_rates(toy_scenario(), np.array([1, 0]))
    # ES 0 keeps only its 2 tails -> 12e12 / 2 = 6e12.
    # ES 1 hosts its own head and tail plus ES 0's 2 heads = 4 stages -> 1e12.
    assert head == pytest.approx([1e12, 1e12, 1e12])
    assert tail == pytest.approx([6e12, 6e12, 1e12])


def test_stage_rates_omega_moves_es1_head():
    head, tail = edge_stage_rates(toy_scenario(), np.array([0, 1]))
    # ES 0: 2 heads + 2 tails + ES 1's head = 5 stages -> 12e12 / 5 = 2.4e12.
    # ES 1: its tail only -> 4e12.
    assert head == pytest.approx([2.4e12, 2.4e12, 2.4e12])
    assert tail == pytest.approx([2.4e12, 2.4e12, 4e12])


def test_stage_rates_omega_swaps_heads():
    head, tail = edge_stage_rates(toy_scenario(), np.array([1, 1]))
    # ES 0: 2 tails + ES 1's head = 3 stages -> 4e12.
    # ES 1: 1 tail + ES 0's 2 heads = 3 stages -> 4e12 / 3.
    assert head == pytest.approx([4e12 / 3, 4e12 / 3, 4e12])
    assert tail == pytest.approx([4e12, 4e12, 4e12 / 3])


def test_stage_rates_empty_es_receives_heads():
    # All three services at ES 0; ES 1 is idle. omega = [1, 0] moves the heads there:
    # ES 0 hosts 3 tails -> 12e12 / 3 = 4e12; ES 1 hosts 3 heads -> 4e12 / 3.
    scenario = toy_scenario(service_es=(0, 0, 0))
    head, tail = edge_stage_rates(scenario, np.array([1, 0]))
    assert head == pytest.approx([4e12 / 3] * 3)
    assert tail == pytest.approx([4e12] * 3)


@pytest.mark.parametrize("omega", [np.array([1]), np.array([0, 2]), np.array([[0, 1]])])
def test_stage_rates_reject_bad_omega(omega):
    with pytest.raises(ValueError, match=r"omega must be an array of shape \(2,\)"):
        edge_stage_rates(toy_scenario(), omega)


def test_make_workload_partitioned():
    scenario = toy_scenario()
    workload = make_workload(scenario, 0.4, omega=np.array([1, 0]))
    assert workload.delta == pytest.approx([0.4, 0.4, 0.4])
    assert workload.psi_head_flop == pytest.approx([1e10, 2e10, 3e10])
    assert workload.d_med_bit == pytest.approx([1e6, 1e6, 1e6])
    assert workload.head_rate_flops == pytest.approx([1e12, 1e12, 1e12])
    assert workload.tail_rate_flops == pytest.approx([6e12, 6e12, 1e12])
    # Both ESs at 50 m: g = 50^-4 = 1.6e-7.
    assert workload.gain == pytest.approx([1.6e-7] * 3)


def test_make_workload_whole_task():
    scenario = toy_scenario()
    workload = make_workload(scenario, 0.4, omega=np.array([1, 0]), whole_task=True)
    # The whole model goes to the cloud: empty head, tail = head + tail, d_in sent.
    assert workload.psi_head_flop == pytest.approx([0.0, 0.0, 0.0])
    assert workload.psi_tail_flop == pytest.approx([5e10, 7e10, 9e10])
    assert workload.d_med_bit == pytest.approx([448.0 * 448 * 3 * 32] * 3)
    assert workload.delta == pytest.approx([1.0, 1.0, 1.0])
    # One stage at the smaller of the two stage rates: min(1e12, 6e12) = 1e12.
    assert workload.head_rate_flops == pytest.approx([1e12, 1e12, 1e12])
    assert workload.tail_rate_flops == pytest.approx([1e12, 1e12, 1e12])


def test_workload_round_trips_through_dict():
    workload = two_services()
    again = Workload.from_dict(workload.to_dict())
    for name in ("psi_head_flop", "gain", "delta"):
        assert np.array_equal(getattr(again, name), getattr(workload, name))
    assert again.varpi == workload.varpi
