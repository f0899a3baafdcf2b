"""Load, validate and override the parameters of an MP-DOB experiment.

The parameter file (``data/params/paper.toml``) stores each value in a
human unit with its source and reason. :func:`load_params` checks every
field, converts each value to SI once and returns a frozen :class:`Params`.
Every invalid field is reported in one :class:`ParameterError`, by name,
allowed range and value received.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_PARAMS_PATH",
    "ParameterError",
    "ParamSpec",
    "Params",
    "SPECS",
    "as_generator",
    "load_params",
    "parse_override",
]

DEFAULT_PARAMS_PATH = Path(__file__).resolve().parents[1] / "data" / "params" / "paper.toml"


class ParameterError(ValueError):
    """One or more parameters are missing, malformed or out of range."""


@dataclass(frozen=True)
class ParamSpec:
    """Schema of one parameter: its file unit, SI factor and allowed values.

    ``kind`` is ``"float"``, ``"int"``, ``"range"`` (a [low, high] pair of
    floats) or ``"choice"``. ``low`` and ``high`` bound the value in the file
    unit; ``low_open`` and ``high_open`` make a bound strict.
    """

    name: str
    kind: str
    unit: str
    si_factor: float = 1.0
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()

    def describe_range(self) -> str:
        """Return the allowed values as text, for error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        what = "a number" if self.kind != "int" else "an integer"
        if self.kind == "range":
            what = "a pair [low, high] with low <= high, each"
        # A dimensionless unit "1" is left out of the message.
        unit = "" if self.unit == "1" else self.unit
        return f"{what} in {left}{self.low:g}, {self.high:g}{right} {unit}".rstrip()


def _spec(name, kind, unit, si=1.0, low=-math.inf, high=math.inf, **kw) -> ParamSpec:
    return ParamSpec(name, kind, unit, si, low, high, **kw)


_POS = {"low": 0.0, "low_open": True}
_UNIT = {"low": 0.0, "high": 1.0}

# Every parameter the file must define. The SI factor converts the file unit.
SPECS: tuple[ParamSpec, ...] = (
    _spec("n_edge_servers", "int", "1", low=1, high=10_000),
    _spec("f_edge", "float", "TFLOP/s", 1e12, **_POS),
    _spec("f_cloud", "float", "TFLOP/s", 1e12, **_POS),
    _spec("cloud_distance", "float", "km", 1e3, low=0.0),
    _spec("transmit_power", "float", "mW", 1e-3, **_POS),
    _spec("noise_power", "float", "dBm", low=-300.0, high=100.0),
    _spec("n_channels", "int", "1", low=1, high=10_000),
    _spec("bandwidth", "float", "MHz", 1e6, **_POS),
    _spec("d_in_range", "range", "KiB", 1024 * 8, **_POS),
    _spec("bytes_per_element", "int", "byte", low=1, high=16),
    _spec("epsilon_edge_range", "range", "J/TFLOP", 1e-12, low=0.0),
    _spec("epsilon_cloud_range", "range", "J/TFLOP", 1e-12, low=0.0),
    _spec("plant_side", "float", "m", **_POS),
    _spec("min_distance", "float", "m", **_POS),
    _spec("path_loss_exponent", "float", "1", **_POS),
    _spec("alpha_range", "range", "1", low=0.0, high=1.0, low_open=True, high_open=True),
    _spec("radio_tail", "float", "ms", 1e-3, low=0.0),
    _spec("varpi", "float", "s+J", **_POS),
    _spec("kappa1", "float", "1/MAC", **_POS),
    _spec("kappa2", "float", "1/element", **_POS),
    _spec("deadline", "float", "ms", 1e-3, **_POS),
    _spec("latency_reading", "choice", "", choices=("sequential", "parallel")),
    _spec("cloud_sharing", "choice", "", choices=("offloaders", "fixed")),
    _spec("update_rule", "choice", "", choices=("system", "random", "own")),
    _spec("rho_count", "choice", "", choices=("paper", "exact")),
    _spec("assignment", "choice", "", choices=("uniform", "hotspot")),
    _spec("hotspot_share", "float", "1", **_UNIT),
    _spec("bdo_probability", "float", "1", **_UNIT),
    _spec("max_rounds", "int", "1", low=1, high=10**9),
)
_SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


@dataclass(frozen=True)
class Params:
    """Parameters of one experiment in SI units.

    Field names carry the unit where it is not 1: ``f_edge_flops`` is in
    FLOP/s, ``transmit_power_watt`` in watts, ``d_in_range_bit`` in bits,
    ``epsilon_*_range_joule_per_flop`` in J/FLOP, lengths in metres and
    times in seconds. ``source`` keeps the values in the file's units, as
    loaded after overrides, for display and provenance.
    """

    n_edge_servers: int
    f_edge_flops: float
    f_cloud_flops: float
    cloud_distance_m: float
    transmit_power_watt: float
    noise_power_watt: float
    n_channels: int
    bandwidth_hz: float
    d_in_range_bit: tuple[float, float]
    bytes_per_element: int
    epsilon_edge_range_joule_per_flop: tuple[float, float]
    epsilon_cloud_range_joule_per_flop: tuple[float, float]
    plant_side_m: float
    min_distance_m: float
    path_loss_exponent: float
    alpha_range: tuple[float, float]
    radio_tail_s: float
    varpi: float
    kappa1: float
    kappa2: float
    deadline_s: float
    latency_reading: str
    cloud_sharing: str
    update_rule: str
    rho_count: str
    assignment: str
    hotspot_share: float
    bdo_probability: float
    max_rounds: int
    source: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def zeta_joule(self) -> float:
        """Channel-holding energy zeta = p * radio tail, in joules (eq. 15)."""
        return self.transmit_power_watt * self.radio_tail_s

    def replace(self, **overrides: Any) -> Params:
        """Return a copy with parameters changed, given in file units by name.

        Examples
        --------
        >>> p = load_params().replace(n_channels=3, latency_reading="parallel")
        >>> p.n_channels, p.latency_reading
        (3, 'parallel')
        """
        values = {name: entry["value"] for name, entry in self.source.items()}
        unknown = sorted(set(overrides) - set(_SPEC_BY_NAME))
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {', '.join(unknown)}; "
                f"known names are {', '.join(sorted(_SPEC_BY_NAME))}"
            )
        values.update(overrides)
        table = {
            name: {**self.source.get(name, {}), "value": value} for name, value in values.items()
        }
        return _build(table)


def _check_number(spec: ParamSpec, value: Any, errors: list[str], label: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{label}: expected {spec.describe_range()}, got {value!r}")
        return None
    if spec.kind == "int" and not float(value).is_integer():
        errors.append(f"{label}: expected {spec.describe_range()}, got {value!r}")
        return None
    number = float(value)
    below = number <= spec.low if spec.low_open else number < spec.low
    above = number >= spec.high if spec.high_open else number > spec.high
    if not math.isfinite(number) or below or above:
        errors.append(f"{label}: expected {spec.describe_range()}, got {value!r}")
        return None
    return number


def _convert(spec: ParamSpec, entry: Any, errors: list[str]) -> Any:
    label = f"parameter '{spec.name}'"
    if not isinstance(entry, dict) or "value" not in entry:
        errors.append(f"{label}: missing; add a [{spec.name}] table with a 'value'")
        return None
    unit = entry.get("unit", spec.unit)
    if unit != spec.unit:
        errors.append(f"{label}: unit must be {spec.unit!r}, got {unit!r}")
        return None
    value = entry["value"]
    if spec.kind == "choice":
        if value not in spec.choices:
            errors.append(f"{label}: expected {spec.describe_range()}, got {value!r}")
            return None
        return value
    if spec.kind == "range":
        if not isinstance(value, list | tuple) or len(value) != 2:
            errors.append(f"{label}: expected {spec.describe_range()}, got {value!r}")
            return None
        low = _check_number(spec, value[0], errors, label + "[0]")
        high = _check_number(spec, value[1], errors, label + "[1]")
        if low is None or high is None:
            return None
        if low > high:
            errors.append(f"{label}: low {low:g} exceeds high {high:g}")
            return None
        return (low * spec.si_factor, high * spec.si_factor)
    number = _check_number(spec, value, errors, label)
    if number is None:
        return None
    if spec.kind == "int":
        return int(number)
    if spec.unit == "dBm":
        return 10.0 ** (number / 10.0) * 1e-3
    return number * spec.si_factor


_SI_NAMES = {
    "f_edge": "f_edge_flops",
    "f_cloud": "f_cloud_flops",
    "cloud_distance": "cloud_distance_m",
    "transmit_power": "transmit_power_watt",
    "noise_power": "noise_power_watt",
    "bandwidth": "bandwidth_hz",
    "d_in_range": "d_in_range_bit",
    "epsilon_edge_range": "epsilon_edge_range_joule_per_flop",
    "epsilon_cloud_range": "epsilon_cloud_range_joule_per_flop",
    "plant_side": "plant_side_m",
    "min_distance": "min_distance_m",
    "radio_tail": "radio_tail_s",
    "deadline": "deadline_s",
}


def _build(table: dict[str, Any]) -> Params:
    errors: list[str] = []
    unknown = sorted(set(table) - set(_SPEC_BY_NAME))
    for name in unknown:
        errors.append(
            f"parameter '{name}': unknown name; known names are " + ", ".join(sorted(_SPEC_BY_NAME))
        )
    fields = {}
    for spec in SPECS:
        fields[_SI_NAMES.get(spec.name, spec.name)] = _convert(spec, table.get(spec.name), errors)
    if not errors and fields["min_distance_m"] > fields["plant_side_m"]:
        errors.append(
            "parameter 'min_distance': must not exceed plant_side "
            f"({table['plant_side']['value']!r} m), got {table['min_distance']['value']!r}"
        )
    if errors:
        raise ParameterError(f"{len(errors)} invalid parameter(s):\n  " + "\n  ".join(errors))
    return Params(**fields, source={name: dict(table[name]) for name in table})


def load_params(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Read a parameter file, apply overrides and validate every field.

    Parameters
    ----------
    path : str or Path, optional
        TOML file with one table per parameter. Defaults to
        ``data/params/paper.toml`` of this repository.
    overrides : dict, optional
        Name to value, in the file's units, applied before validation.

    Returns
    -------
    Params
        The parameters in SI units.

    Raises
    ------
    ParameterError
        Listing every missing, unknown or invalid parameter.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"parameter file not found: {path}")
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ParameterError(f"parameter file {path} is not valid TOML: {error}") from None
    for name, value in (overrides or {}).items():
        if name not in _SPEC_BY_NAME:
            raise ParameterError(
                f"unknown parameter '{name}' in overrides; known names are "
                + ", ".join(sorted(_SPEC_BY_NAME))
            )
        table[name] = {**table.get(name, {}), "value": value}
    return _build(table)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``NAME=VALUE`` from the command line into a name and a TOML value.

    The value is read as TOML (``3``, ``0.5``, ``[1, 2]``, ``"parallel"``);
    a bare word that is not valid TOML is taken as a string.

    Examples
    --------
    >>> parse_override("n_channels=3")
    ('n_channels', 3)
    >>> parse_override("latency_reading=parallel")
    ('latency_reading', 'parallel')
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ParameterError(f"override must look like NAME=VALUE, got {text!r}")
    if name not in _SPEC_BY_NAME:
        raise ParameterError(
            f"unknown parameter '{name}' in override {text!r}; known names are "
            + ", ".join(sorted(_SPEC_BY_NAME))
        )
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return name, value


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Return ``rng`` as a :class:`numpy.random.Generator`.

    An integer seeds a new generator; a generator is returned unchanged.
    ``None`` is rejected so that no run depends on hidden entropy.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a non-negative integer seed or a numpy.random.Generator, got {rng!r}"
    )
