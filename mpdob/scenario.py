"""Seeded scenario generator: edge servers, channel gains and services.

A scenario is everything that is fixed at the start of a time slot. It
contains where the edge servers (ESs) stand and their channel gains to the
base station at the plant's centre. It also contains the services that
arrived, each with its input size, its YOLO partition point (PDP) and its
preferences. Decisions
(channels, segmentation rates, load balance) are not part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mpdob.cnn import input_side_for_bytes, layer_costs, select_pdp, yolov1
from mpdob.params import Params, as_generator

__all__ = ["Scenario", "generate_scenario", "pdp_for_side"]


@dataclass(frozen=True)
class Scenario:
    """One time slot's servers and services (all arrays read-only).

    Attributes
    ----------
    params : Params
        The parameters the scenario was drawn with.
    es_position_m : ndarray of shape (n_edge_servers, 2)
        ES coordinates in metres; the base station is at the origin.
    es_gain : ndarray of shape (n_edge_servers,)
        Channel gain g = max(distance, min_distance) ** -path_loss_exponent.
    nearest_es : ndarray of shape (n_edge_servers,)
        Index of each ES's nearest other ES (itself when E = 1).
    f_edge_flops : ndarray of shape (n_edge_servers,)
        Compute of each ES in FLOP/s.
    service_es : ndarray of shape (n_services,)
        Home ES of each service.
    input_side : ndarray of shape (n_services,)
        Side of the square 3-channel input tensor each service sends.
    d_in_bit, d_med_bit, d_out_bit : ndarray of shape (n_services,)
        Input, intermediate (input of the PDP layer) and output sizes in bits.
    pdp_index : ndarray of shape (n_services,)
        0-based index of the PDP layer in YOLO rescaled to ``input_side``.
    psi_head_flop, psi_tail_flop : ndarray of shape (n_services,)
        Computation of the head (layers before the PDP) and tail in FLOP.
    epsilon_edge, epsilon_cloud : ndarray of shape (n_services,)
        Energy per FLOP at the edge and in the cloud, J/FLOP.
    alpha, beta : ndarray of shape (n_services,)
        Weights of latency and energy in the overhead, alpha + beta = 1.
    """

    params: Params
    es_position_m: np.ndarray
    es_gain: np.ndarray
    nearest_es: np.ndarray
    f_edge_flops: np.ndarray
    service_es: np.ndarray
    input_side: np.ndarray
    d_in_bit: np.ndarray
    d_med_bit: np.ndarray
    d_out_bit: np.ndarray
    pdp_index: np.ndarray
    psi_head_flop: np.ndarray
    psi_tail_flop: np.ndarray
    epsilon_edge: np.ndarray
    epsilon_cloud: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray

    @property
    def n_services(self) -> int:
        """Number of services N in the slot."""
        return int(self.service_es.size)

    @property
    def n_edge_servers(self) -> int:
        """Number of edge servers E."""
        return int(self.es_gain.size)

    @property
    def gain(self) -> np.ndarray:
        """Channel gain of each service's home ES, shape (n_services,)."""
        return self.es_gain[self.service_es]

    @property
    def p_watt(self) -> np.ndarray:
        """Transmit power of each service in watts, shape (n_services,)."""
        return np.full(self.n_services, self.params.transmit_power_watt)

    @property
    def zeta_joule(self) -> np.ndarray:
        """Channel-holding energy zeta_i of eq. (15) in joules, shape (n_services,)."""
        return np.full(self.n_services, self.params.zeta_joule)

    @property
    def services_per_es(self) -> np.ndarray:
        """Number of services at each ES, shape (n_edge_servers,)."""
        return np.bincount(self.service_es, minlength=self.n_edge_servers)


@lru_cache(maxsize=4096)
def pdp_for_side(
    side: int, kappa1: float, kappa2: float, bytes_per_element: int, rho_count: str
) -> tuple[int, float, float, float, float]:
    """Return the PDP of YOLO at one input side, cached.

    Returns ``(index, psi_head_flop, psi_tail_flop, d_med_bit, d_out_bit)``.
    ``rho_count`` chooses which computation count enters the profit rate:
    ``"paper"`` (eq. 1 as printed) or ``"exact"`` (2 FLOP per
    multiply-accumulate at the output size).
    """
    table = yolov1(side)
    pdp = select_pdp(table, kappa1=kappa1, kappa2=kappa2, bytes_per_element=bytes_per_element)
    if rho_count == "exact":
        costs = layer_costs(table, kappa1=kappa1, kappa2=kappa2)
        flop = np.asarray(costs.flop, dtype=float)
        tail_flop = np.cumsum(flop[::-1])[::-1]
        chi_mem = np.asarray(costs.chi_mem, dtype=float)
        chi_trans = np.asarray(costs.chi_trans, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.sqrt((kappa1 * tail_flop + kappa2 * chi_mem) / chi_trans)
        rho = np.where(np.isfinite(rho), rho, -np.inf)
        index = int(np.argmax(rho))
        flop_total = float(flop.sum())
        psi_head = float(flop[:index].sum())
        d_med = float(chi_trans[index]) * bytes_per_element * 8
        return index, psi_head, flop_total - psi_head, d_med, float(pdp.d_out_bit)
    return (
        int(pdp.index),
        float(pdp.psi_head_flop),
        float(pdp.psi_tail_flop),
        float(pdp.d_med_bit),
        float(pdp.d_out_bit),
    )


def _check_count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _positions(params: Params, n_es: int, rng: np.random.Generator) -> np.ndarray:
    half = params.plant_side_m / 2.0
    return rng.uniform(-half, half, size=(n_es, 2))


def _nearest(positions: np.ndarray) -> np.ndarray:
    if len(positions) == 1:
        return np.zeros(1, dtype=int)
    diff = positions[:, None, :] - positions[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    np.fill_diagonal(dist, np.inf)
    return np.argmin(dist, axis=1)


def _assign(params: Params, n_services: int, n_es: int, assignment: str, rng) -> np.ndarray:
    home = rng.integers(0, n_es, size=n_services)
    if assignment == "hotspot":
        hotspot = rng.integers(0, n_es)
        to_hotspot = rng.random(n_services) < params.hotspot_share
        home = np.where(to_hotspot, hotspot, home)
    return home


def generate_scenario(
    params: Params,
    n_services: int,
    rng: int | np.random.Generator,
    assignment: str | None = None,
) -> Scenario:
    """Draw one time slot's servers and services.

    Parameters
    ----------
    params : Params
        Experiment parameters (see :func:`mpdob.params.load_params`).
    n_services : int
        Number of services N in the slot, at least 1.
    rng : int or numpy.random.Generator
        Seed or generator; the only source of randomness.
    assignment : {"uniform", "hotspot"}, optional
        How services pick their home ES; defaults to ``params.assignment``.

    Returns
    -------
    Scenario
    """
    n_services = _check_count("n_services", n_services, 1)
    assignment = params.assignment if assignment is None else assignment
    if assignment not in ("uniform", "hotspot"):
        raise ValueError(f"assignment must be 'uniform' or 'hotspot', got {assignment!r}")
    rng = as_generator(rng)
    n_es = params.n_edge_servers

    positions = _positions(params, n_es, rng)
    distance = np.maximum(np.hypot(positions[:, 0], positions[:, 1]), params.min_distance_m)
    es_gain = distance ** (-params.path_loss_exponent)
    home = _assign(params, n_services, n_es, assignment, rng)

    d_in_draw_bit = rng.uniform(*params.d_in_range_bit, size=n_services)
    bpe = params.bytes_per_element
    side = np.array([input_side_for_bytes(b / 8.0, 3, bpe) for b in d_in_draw_bit], dtype=int)
    rows = np.array(
        [pdp_for_side(int(s), params.kappa1, params.kappa2, bpe, params.rho_count) for s in side]
    )
    alpha = rng.uniform(*params.alpha_range, size=n_services)
    eps_edge = rng.uniform(*params.epsilon_edge_range_joule_per_flop, size=n_services)
    eps_cloud = rng.uniform(*params.epsilon_cloud_range_joule_per_flop, size=n_services)

    arrays = dict(
        es_position_m=positions,
        es_gain=es_gain,
        nearest_es=_nearest(positions),
        f_edge_flops=np.full(n_es, params.f_edge_flops),
        service_es=home,
        input_side=side,
        # The tensor actually sent: the rounded square side, 3 channels.
        d_in_bit=side.astype(float) ** 2 * 3 * bpe * 8,
        d_med_bit=rows[:, 3],
        d_out_bit=rows[:, 4],
        pdp_index=rows[:, 0].astype(int),
        psi_head_flop=rows[:, 1],
        psi_tail_flop=rows[:, 2],
        epsilon_edge=eps_edge,
        epsilon_cloud=eps_cloud,
        alpha=alpha,
        beta=1.0 - alpha,
    )
    for value in arrays.values():
        value.setflags(write=False)
    return Scenario(params=params, **arrays)
