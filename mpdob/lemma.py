"""Lemma 1: the interference threshold below which offloading pays.

Offloading is profitable for service i (Gamma_c <= Gamma_e) exactly when
its co-channel interference gamma_i is at most a threshold xi_i. The
head's time and energy appear on both sides and cancel, so xi_i depends
only on the service's own tail, its transfer and its cloud share.

The derivation (in the book's Lemma 1 chapter) goes through the minimum
profitable rate lambda*: Gamma_c falls as the rate rises, so offloading
pays when lambda_i >= lambda*. Inverting eq. (8),
lambda_i >= lambda*  <=>  gamma_i <= p_i g_i / (2 ** (lambda* / B) - 1) - sigma_0.

The printed eq. (22) omits the 1/B in the exponent (erratum E1);
:func:`xi_printed` keeps that form for comparison. When no rate makes
offloading profitable (the denominator of eq. 22 is zero or negative,
erratum E7), both functions return minus infinity.
"""

from __future__ import annotations

import numpy as np

from mpdob.system import Workload

__all__ = ["min_profitable_rate", "rate_gap_terms", "xi_printed", "xi_threshold"]


def rate_gap_terms(workload: Workload, f_cloud_flops) -> dict[str, np.ndarray]:
    """Return the terms of Gamma_c - Gamma_e as a function of u = 1 / rate.

    Gamma_c - Gamma_e = alpha * (L(u) - T) + beta * (p d u - S), with

    - ``T``: edge time of the whole tail, psi_tail / f_tail (s);
    - ``A``: edge time of the tail's edge share, (1 - delta) psi_tail / f_tail;
    - ``C``: cloud time of the cloud share, delta psi_tail / f_c;
    - ``S``: energy saved apart from the transfer,
      (epsilon_e - epsilon_c) delta psi_tail - zeta (J);
    - ``L(u)``: A + C + d u (sequential) or max(A, d u + C) (parallel).
    """
    w = workload
    f_cloud = np.broadcast_to(np.asarray(f_cloud_flops, dtype=float), (w.n_services,))
    cloud_work = w.delta * w.psi_tail_flop
    return {
        "T": w.psi_tail_flop / w.tail_rate_flops,
        "A": (1.0 - w.delta) * w.psi_tail_flop / w.tail_rate_flops,
        "C": cloud_work / f_cloud,
        "S": (w.epsilon_edge - w.epsilon_cloud) * cloud_work - w.zeta_joule,
    }


def min_profitable_rate(workload: Workload, f_cloud_flops) -> np.ndarray:
    """Return lambda*, the lowest rate at which offloading pays, bit/s.

    Parameters
    ----------
    workload : Workload
    f_cloud_flops : float or ndarray of shape (n_services,)
        Cloud compute each service would get if it offloads.

    Returns
    -------
    ndarray of shape (n_services,)
        ``inf`` where no finite rate makes Gamma_c <= Gamma_e.

    Notes
    -----
    Sequential reading: Gamma_c <= Gamma_e is
    d u (alpha + beta p) <= D with D = alpha (T - A - C) + beta S,
    the denominator of eq. (26), so lambda* = d (alpha + beta p) / D when
    D > 0. Parallel reading: L(u) = max(A, d u + C) is piecewise linear
    and non-decreasing in u, so the crossing point is found piecewise.
    """
    w = workload
    t = rate_gap_terms(w, f_cloud_flops)
    alpha, beta, p, d = w.alpha, w.beta, w.p_watt, w.d_med_bit
    if w.latency_reading == "sequential":
        budget = alpha * (t["T"] - t["A"] - t["C"]) + beta * t["S"]
        u_star = budget / (d * (alpha + beta * p))
    else:
        # g(u) = alpha (max(A, d u + C) - T) + beta (p d u - S), non-decreasing.
        at_zero = alpha * (np.maximum(t["A"], t["C"]) - t["T"]) - beta * t["S"]
        u_knee = np.maximum((t["A"] - t["C"]) / d, 0.0)
        at_knee = alpha * (np.maximum(t["A"], d * u_knee + t["C"]) - t["T"]) + beta * (
            p * d * u_knee - t["S"]
        )
        # Below the knee only the transfer energy grows with u.
        u_flat = (alpha * (t["T"] - t["A"]) + beta * t["S"]) / (beta * p * d)
        u_steep = (alpha * (t["T"] - t["C"]) + beta * t["S"]) / (d * (alpha + beta * p))
        # Strict comparison: when A <= C the knee is at u = 0, so a tie at_knee == 0 belongs
        # to the steep branch (u* = 0). When A > C both branches give u_knee at a tie.
        u_star = np.where(at_knee > 0.0, u_flat, u_steep)
        u_star = np.where(at_zero > 0.0, -1.0, u_star)
    # A subnormal u* overflows to an infinite rate: offloading then never pays in practice.
    with np.errstate(divide="ignore", over="ignore"):
        rate = np.where(u_star > 0.0, 1.0 / np.where(u_star > 0.0, u_star, 1.0), np.inf)
    return rate


def xi_threshold(workload: Workload, f_cloud_flops) -> np.ndarray:
    """Return the corrected interference threshold xi_i of Lemma 1, W.

    xi_i = p_i g_i / (2 ** (lambda* / B) - 1) - sigma_0, minus infinity
    where offloading never pays. Offloading is profitable exactly when
    gamma_i <= xi_i. A threshold below 0 means that even an empty channel
    is too slow.
    """
    w = workload
    rate = min_profitable_rate(w, f_cloud_flops)
    with np.errstate(over="ignore"):
        denominator = np.expm1(np.log(2.0) * rate / w.bandwidth_hz)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xi = w.received_power_watt / denominator - w.noise_watt
    return np.where(np.isfinite(rate), xi, -np.inf)


def xi_printed(workload: Workload, f_cloud_flops) -> np.ndarray:
    """Return eq. (22) as printed: the exponent of 2 lacks the 1/B, W.

    Only the sequential reading has a printed form. For any realistic rate
    (millions of bit/s) 2 ** lambda* overflows, so the printed threshold
    collapses to -sigma_0 and never admits offloading.
    """
    w = workload
    rate = min_profitable_rate(w.replace(latency_reading="sequential"), f_cloud_flops)
    with np.errstate(over="ignore"):
        denominator = np.expm1(np.log(2.0) * rate)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        xi = w.received_power_watt / denominator - w.noise_watt
    return np.where(np.isfinite(rate), xi, -np.inf)
