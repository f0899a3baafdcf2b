"""The system model: rate, latency, energy, overhead and QoS (eq. 8-16, 19).

All functions work on every service at once. A :class:`Workload` contains the
per-service quantities that the equations need for one slot; it is built
from a :class:`~mpdob.scenario.Scenario` by :func:`make_workload` once the
segmentation rates ``delta`` (and optionally a load-balance choice
``omega``) are known. A decision profile ``channel`` has one entry per
service: 0 for edge-only computing, ``m`` in 1..M for offloading the cloud
share of the tail over channel ``m``.

The MP-DOB paper leaves edge compute sharing open, so this module reads it
as follows. Every edge server (ES) runs each stage it hosts, a service's
head or a service's tail, as a concurrent process with an equal share of
its compute. Without load
balance an ES with ``n`` services hosts ``2 n`` stages, so each stage runs at
``f_e / (2 n)``. The tail stage keeps its share whether or not the tail is
offloaded, so a service's edge times do not depend on other services'
offloading decisions, as Lemma 1 needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mpdob.scenario import Scenario

__all__ = [
    "Evaluation",
    "PER_SERVICE_FIELDS",
    "Workload",
    "cloud_overhead",
    "cloud_share",
    "edge_overhead",
    "edge_stage_rates",
    "evaluate",
    "interference",
    "make_workload",
    "qos",
    "transmission_rate",
]

#: Names of the per-service array fields of a :class:`Workload`.
PER_SERVICE_FIELDS = (
    "psi_head_flop",
    "psi_tail_flop",
    "d_med_bit",
    "delta",
    "head_rate_flops",
    "tail_rate_flops",
    "alpha",
    "beta",
    "epsilon_edge",
    "epsilon_cloud",
    "zeta_joule",
    "p_watt",
    "gain",
)


def _check_array(name: str, value, n: int | None, low: float, strict: bool) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 1 or (n is not None and array.size != n):
        expected = "a 1-D array" if n is None else f"shape ({n},)"
        raise ValueError(f"{name} must have {expected}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)][0]
        raise ValueError(f"{name} must be finite, got {float(bad)!r}")
    below = array <= low if strict else array < low
    if np.any(below):
        bound = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be {bound}, got {float(array[below][0])!r}")
    return array


def _check_scalar(name: str, value, low: float = 0.0) -> float:
    number = float(value)
    if not np.isfinite(number) or number <= low:
        raise ValueError(f"{name} must be a finite number > {low:g}, got {number!r}")
    return number


@dataclass(frozen=True)
class Workload:
    """Per-service inputs of eq. (8)-(16) and (19) for one slot.

    Attributes
    ----------
    psi_head_flop, psi_tail_flop : ndarray of shape (n_services,)
        Head and tail computation in FLOP (eq. 7).
    d_med_bit : ndarray of shape (n_services,)
        Data sent when offloading, in bits (d_med of eq. 12).
    delta : ndarray of shape (n_services,)
        Segmentation rate: share of the tail computed in the cloud.
    head_rate_flops, tail_rate_flops : ndarray of shape (n_services,)
        Edge compute available to the head and to the edge share of the
        tail, FLOP/s (f_i^e of eq. 9 and 13).
    alpha, beta : ndarray of shape (n_services,)
        Latency and energy weights, positive, alpha + beta = 1.
    epsilon_edge, epsilon_cloud : ndarray of shape (n_services,)
        Energy per FLOP at the edge and in the cloud, J/FLOP.
    zeta_joule : ndarray of shape (n_services,)
        Energy for holding the channel after a transfer, J.
    p_watt, gain : ndarray of shape (n_services,)
        Transmit power (W) and channel gain to the base station.
    bandwidth_hz, noise_watt, f_cloud_flops, varpi : float
        Channel bandwidth B, noise power sigma_0, cloud compute and the QoS
        normalisation of eq. (19).
    n_channels : int
        Number of channels M.
    cloud_sharing : {"offloaders", "fixed"}
        ``"offloaders"``: the cloud is shared equally among the services
        offloading now; ``"fixed"``: every service has 1/N of it.
    latency_reading : {"sequential", "parallel"}
        ``"sequential"`` adds edge, transfer and cloud times as eq. (16)
        does; ``"parallel"`` runs the edge share of the tail alongside the
        transfer and the cloud share.
    """

    psi_head_flop: np.ndarray
    psi_tail_flop: np.ndarray
    d_med_bit: np.ndarray
    delta: np.ndarray
    head_rate_flops: np.ndarray
    tail_rate_flops: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    epsilon_edge: np.ndarray
    epsilon_cloud: np.ndarray
    zeta_joule: np.ndarray
    p_watt: np.ndarray
    gain: np.ndarray
    bandwidth_hz: float
    noise_watt: float
    f_cloud_flops: float
    n_channels: int
    varpi: float
    cloud_sharing: str = "offloaders"
    latency_reading: str = "sequential"

    def __post_init__(self) -> None:
        n = np.asarray(self.psi_head_flop).size
        if n < 1:
            raise ValueError("a workload needs at least one service, got 0")
        strict = {"d_med_bit", "head_rate_flops", "tail_rate_flops", "p_watt", "gain"}
        for name in PER_SERVICE_FIELDS:
            checked = _check_array(name, getattr(self, name), n, 0.0, name in strict)
            checked.setflags(write=False)
            object.__setattr__(self, name, checked)
        if np.any(self.delta > 1.0):
            raise ValueError(f"delta must lie in [0, 1], got {float(self.delta.max())!r}")
        if np.any((self.alpha <= 0) | (self.alpha >= 1)):
            bad = self.alpha[(self.alpha <= 0) | (self.alpha >= 1)][0]
            raise ValueError(f"alpha must lie in the open interval (0, 1), got {float(bad)!r}")
        if np.any(np.abs(self.alpha + self.beta - 1.0) > 1e-9):
            raise ValueError("alpha + beta must equal 1 for every service")
        for name in ("bandwidth_hz", "noise_watt", "f_cloud_flops", "varpi"):
            object.__setattr__(self, name, _check_scalar(name, getattr(self, name)))
        if isinstance(self.n_channels, bool) or int(self.n_channels) != self.n_channels:
            raise ValueError(f"n_channels must be an integer >= 1, got {self.n_channels!r}")
        if self.n_channels < 1:
            raise ValueError(f"n_channels must be an integer >= 1, got {self.n_channels!r}")
        object.__setattr__(self, "n_channels", int(self.n_channels))
        if self.cloud_sharing not in ("offloaders", "fixed"):
            raise ValueError(
                f"cloud_sharing must be 'offloaders' or 'fixed', got {self.cloud_sharing!r}"
            )
        if self.latency_reading not in ("sequential", "parallel"):
            raise ValueError(
                f"latency_reading must be 'sequential' or 'parallel', got {self.latency_reading!r}"
            )

    @property
    def n_services(self) -> int:
        """Number of services N."""
        return int(self.psi_head_flop.size)

    @property
    def received_power_watt(self) -> np.ndarray:
        """Received power p_i g_i at the base station, W."""
        return self.p_watt * self.gain

    def replace(self, **changes) -> Workload:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Return the workload as plain JSON-ready lists and numbers."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> Workload:
        """Rebuild a workload written by :meth:`to_dict`."""
        return cls(**data)


def edge_stage_rates(
    scenario: Scenario, omega: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the edge compute of each service's head and tail stage, FLOP/s.

    Parameters
    ----------
    scenario : Scenario
    omega : ndarray of shape (n_edge_servers,), optional
        Load-balance choice of Algorithm 3: ``omega[j] = 1`` runs the heads
        of ES ``j``'s services on its nearest ES. Default: all zero.

    Returns
    -------
    head_rate_flops, tail_rate_flops : ndarray of shape (n_services,)
        Each ES's compute divided equally among the stages it hosts: the
        heads placed on it and the tails of its own services.
    """
    n_es = scenario.n_edge_servers
    omega = np.zeros(n_es, dtype=int) if omega is None else np.asarray(omega)
    if omega.shape != (n_es,) or not np.all((omega == 0) | (omega == 1)):
        raise ValueError(
            f"omega must be an array of shape ({n_es},) with entries 0 or 1, got {omega!r}"
        )
    home = scenario.service_es
    head_es = np.where(omega[home] == 1, scenario.nearest_es[home], home)
    stages = np.bincount(home, minlength=n_es) + np.bincount(head_es, minlength=n_es)
    head_rate = scenario.f_edge_flops[head_es] / stages[head_es]
    tail_rate = scenario.f_edge_flops[home] / stages[home]
    return head_rate, tail_rate


def make_workload(
    scenario: Scenario,
    delta: np.ndarray | float,
    omega: np.ndarray | None = None,
    whole_task: bool = False,
) -> Workload:
    """Build the per-service workload of a slot.

    Parameters
    ----------
    scenario : Scenario
    delta : float or ndarray of shape (n_services,)
        Segmentation rate of each tail, in [0, 1].
    omega : ndarray of shape (n_edge_servers,), optional
        Load-balance choice; see :func:`edge_stage_rates`.
    whole_task : bool
        If true, offloading sends the input ``d_in`` and runs the whole
        model in the cloud (``delta`` is then forced to 1 and the head is
        empty): the binary offloading of the ECC, BDO, ACCO and MTTO
        baselines. Locally the service still runs in two stages.
    """
    params = scenario.params
    head_rate, tail_rate = edge_stage_rates(scenario, omega)
    n = scenario.n_services
    if whole_task:
        psi_head = np.zeros(n)
        psi_tail = scenario.psi_head_flop + scenario.psi_tail_flop
        d_med = scenario.d_in_bit
        delta = np.ones(n)
        # The whole model runs in one stage, whose time equals the two
        # stages run back to back at the same share.
        head_rate = tail_rate = np.minimum(head_rate, tail_rate)
    else:
        psi_head, psi_tail, d_med = (
            scenario.psi_head_flop,
            scenario.psi_tail_flop,
            scenario.d_med_bit,
        )
        delta = np.broadcast_to(np.asarray(delta, dtype=float), (n,))
    return Workload(
        psi_head_flop=psi_head,
        psi_tail_flop=psi_tail,
        d_med_bit=d_med,
        delta=delta,
        head_rate_flops=head_rate,
        tail_rate_flops=tail_rate,
        alpha=scenario.alpha,
        beta=scenario.beta,
        epsilon_edge=scenario.epsilon_edge,
        epsilon_cloud=scenario.epsilon_cloud,
        zeta_joule=scenario.zeta_joule,
        p_watt=scenario.p_watt,
        gain=scenario.gain,
        bandwidth_hz=params.bandwidth_hz,
        noise_watt=params.noise_power_watt,
        f_cloud_flops=params.f_cloud_flops,
        n_channels=params.n_channels,
        varpi=params.varpi,
        cloud_sharing=params.cloud_sharing,
        latency_reading=params.latency_reading,
    )


def check_channels(workload: Workload, channel) -> np.ndarray:
    """Validate a decision profile and return it as an integer array."""
    array = np.asarray(channel)
    n, m = workload.n_services, workload.n_channels
    if array.shape != (n,):
        raise ValueError(f"channel must have shape ({n},), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError("channel entries must be integers 0..M")
        array = array.astype(int)
    if np.any((array < 0) | (array > m)):
        bad = array[(array < 0) | (array > m)][0]
        raise ValueError(f"channel entries must lie in 0..{m} (0 = local), got {int(bad)!r}")
    return array


def channel_power(workload: Workload, channel: np.ndarray) -> np.ndarray:
    """Return the total received power on each channel, shape (M + 1,), W.

    Entry 0 collects local services and is not a channel.
    """
    return np.bincount(
        channel, weights=workload.received_power_watt, minlength=workload.n_channels + 1
    )


def interference(workload: Workload, channel) -> np.ndarray:
    """Return gamma_i, the co-channel received power of others (eq. 28), W.

    Local services (channel 0) get 0.
    """
    channel = check_channels(workload, channel)
    power = channel_power(workload, channel)
    gamma = power[channel] - workload.received_power_watt
    return np.where(channel > 0, np.maximum(gamma, 0.0), 0.0)


def transmission_rate(workload: Workload, channel) -> np.ndarray:
    """Return lambda_i of eq. (8) in bit/s; 0 for local services."""
    channel = check_channels(workload, channel)
    gamma = interference(workload, channel)
    sinr = workload.received_power_watt / (workload.noise_watt + gamma)
    rate = workload.bandwidth_hz * np.log2(1.0 + sinr)
    return np.where(channel > 0, rate, 0.0)


def cloud_share(workload: Workload, channel) -> np.ndarray:
    """Return the cloud compute f_i^c each service gets or would get, FLOP/s.

    Offloading services get their share now; a local service gets the
    share it would have if it alone started offloading.
    """
    channel = check_channels(workload, channel)
    if workload.cloud_sharing == "fixed":
        return np.full(workload.n_services, workload.f_cloud_flops / workload.n_services)
    n_off = int(np.count_nonzero(channel))
    sharers = np.where(channel > 0, n_off, n_off + 1)
    return workload.f_cloud_flops / sharers


def edge_overhead(workload: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return latency (s), energy (J) and overhead of edge-only computing.

    Eq. (9)-(11): t = psi_head / f_head + psi_tail / f_tail,
    e = epsilon_e (psi_head + psi_tail), Gamma_e = alpha t + beta e.
    """
    w = workload
    latency = w.psi_head_flop / w.head_rate_flops + w.psi_tail_flop / w.tail_rate_flops
    energy = w.epsilon_edge * (w.psi_head_flop + w.psi_tail_flop)
    return latency, energy, w.alpha * latency + w.beta * energy


def cloud_overhead(
    workload: Workload, rate_bps: np.ndarray, f_cloud_flops: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return latency (s), energy (J) and overhead of cloud-edge computing.

    Eq. (12)-(16). ``rate_bps`` and ``f_cloud_flops`` are the transfer rate
    and cloud compute the service gets; a rate of 0 gives infinite cost.
    """
    w = workload
    with np.errstate(divide="ignore"):
        transfer = w.d_med_bit / np.asarray(rate_bps, dtype=float)
    head = w.psi_head_flop / w.head_rate_flops
    edge_tail = (1.0 - w.delta) * w.psi_tail_flop / w.tail_rate_flops
    cloud = w.delta * w.psi_tail_flop / f_cloud_flops
    if w.latency_reading == "sequential":
        latency = head + edge_tail + cloud + transfer
    else:
        latency = head + np.maximum(edge_tail, transfer + cloud)
    energy = (
        w.p_watt * transfer
        + w.epsilon_edge * (w.psi_head_flop + (1.0 - w.delta) * w.psi_tail_flop)
        + w.epsilon_cloud * w.delta * w.psi_tail_flop
        + w.zeta_joule
    )
    return latency, energy, w.alpha * latency + w.beta * energy


def qos(overhead, varpi: float) -> np.ndarray:
    """Return Q = 1 - log2(1 + Gamma / varpi) of eq. (19).

    Q is 1 at zero overhead, 0 at Gamma = varpi and falls without bound.
    """
    return 1.0 - np.log2(1.0 + np.asarray(overhead, dtype=float) / varpi)


@dataclass(frozen=True)
class Evaluation:
    """Per-service outcome of one decision profile.

    Attributes
    ----------
    channel : ndarray of shape (n_services,)
        The profile evaluated (0 = local).
    qos : ndarray of shape (n_services,)
        Q_i of eq. (19).
    overhead, latency_s, energy_joule : ndarray of shape (n_services,)
        Gamma, latency and energy of the mode each service is in.
    rate_bps : ndarray of shape (n_services,)
        Transfer rate (0 for local services).
    f_cloud_flops : ndarray of shape (n_services,)
        Cloud compute each service gets or would get.
    """

    channel: np.ndarray
    qos: np.ndarray
    overhead: np.ndarray
    latency_s: np.ndarray
    energy_joule: np.ndarray
    rate_bps: np.ndarray
    f_cloud_flops: np.ndarray

    @property
    def system_qos(self) -> float:
        """System-wide QoS: the sum of Q_i (objective of eq. 17)."""
        return float(self.qos.sum())

    @property
    def n_offloading(self) -> int:
        """Number of services that offload."""
        return int(np.count_nonzero(self.channel))


def evaluate(workload: Workload, channel) -> Evaluation:
    """Evaluate a decision profile: rate, latency, energy, overhead and QoS."""
    channel = check_channels(workload, channel)
    rate = transmission_rate(workload, channel)
    f_cloud = cloud_share(workload, channel)
    t_e, e_e, g_e = edge_overhead(workload)
    t_c, e_c, g_c = cloud_overhead(workload, np.where(channel > 0, rate, 1.0), f_cloud)
    offload = channel > 0
    overhead = np.where(offload, g_c, g_e)
    return Evaluation(
        channel=channel,
        qos=qos(overhead, workload.varpi),
        overhead=overhead,
        latency_s=np.where(offload, t_c, t_e),
        energy_joule=np.where(offload, e_c, e_e),
        rate_bps=rate,
        f_cloud_flops=f_cloud,
    )
