"""Tests for the parameter file loader, its validation, overrides and input checks."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from mpdob.params import (
    DEFAULT_PARAMS_PATH,
    SPECS,
    ParameterError,
    as_generator,
    load_params,
    parse_override,
)
from mpdob.scenario import generate_scenario
from mpdob.system import Workload


def test_default_file_loads():
    params = load_params()
    assert params.n_edge_servers == 9
    assert params.n_channels == 15


def test_default_file_converts_to_si():
    params = load_params()
    # 6 TFLOP/s = 6e12 FLOP/s; 150 mW = 0.15 W; 15 MHz = 1.5e7 Hz.
    assert params.f_edge_flops == pytest.approx(6e12)
    assert params.transmit_power_watt == pytest.approx(0.15)
    assert params.bandwidth_hz == pytest.approx(1.5e7)
    # -100 dBm = 10^(-100/10) mW = 1e-10 mW = 1e-13 W.
    assert params.noise_power_watt == pytest.approx(1e-13)
    # 2000 KiB = 2000 * 1024 * 8 bit = 16,384,000 bit.
    assert params.d_in_range_bit == pytest.approx((16_384_000.0, 24_576_000.0))
    # 0.8 J/TFLOP = 0.8e-12 J/FLOP.
    assert params.epsilon_edge_range_joule_per_flop == pytest.approx((0.8e-12, 1.2e-12))
    # zeta = p * radio tail = 0.15 W * 0.02 s = 0.003 J.
    assert params.zeta_joule == pytest.approx(0.003)


def test_default_file_keeps_source_entries():
    params = load_params()
    assert set(params.source) == {spec.name for spec in SPECS}
    for entry in params.source.values():
        assert entry["source"] in ("paper", "reading")
        assert entry["reason"]


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_params(tmp_path / "absent.toml")


def test_invalid_toml_is_reported(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[f_edge\nvalue = 1\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_params(path)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("f_edge", 0.0, r"\(0, inf\] TFLOP/s"),
        ("f_edge", -6.0, r"\(0, inf\] TFLOP/s"),
        ("f_cloud", 0.0, r"\(0, inf\] TFLOP/s"),
        ("f_cloud", -14.0, r"\(0, inf\] TFLOP/s"),
        ("transmit_power", 0.0, r"\(0, inf\] mW"),
        ("transmit_power", -150.0, r"\(0, inf\] mW"),
        ("bandwidth", 0.0, r"\(0, inf\] MHz"),
        ("bandwidth", -15.0, r"\(0, inf\] MHz"),
        ("n_edge_servers", 0, r"an integer in \[1, 10000\]"),
        ("n_channels", 0, r"an integer in \[1, 10000\]"),
        ("varpi", 0.0, r"\(0, inf\] s\+J"),
        ("hotspot_share", 1.5, r"\[0, 1\]"),
    ],
)
def test_out_of_range_value_is_rejected(name, value, allowed):
    with pytest.raises(ParameterError) as info:
        load_params(overrides={name: value})
    message = str(info.value)
    assert f"parameter '{name}'" in message
    assert re.search(allowed, message)
    assert f"got {value!r}" in message


def test_zero_edge_servers_message():
    with pytest.raises(ParameterError) as info:
        load_params(overrides={"n_edge_servers": 0})
    # The dimensionless unit "1" is not printed after the range.
    assert "parameter 'n_edge_servers': expected an integer in [1, 10000], got 0" in str(info.value)


def test_non_integer_count_is_rejected():
    with pytest.raises(ParameterError, match=r"parameter 'n_channels'.*got 2\.5"):
        load_params(overrides={"n_channels": 2.5})


def test_boolean_number_is_rejected():
    with pytest.raises(ParameterError, match=r"parameter 'f_edge'.*got True"):
        load_params(overrides={"f_edge": True})


@pytest.mark.parametrize("name", ["f_edge", "bandwidth", "transmit_power", "noise_power"])
def test_toml_nan_is_rejected(tmp_path, name):
    text = DEFAULT_PARAMS_PATH.read_text(encoding="utf-8")
    path = tmp_path / "nan.toml"
    # Replace the parameter's value line with a TOML nan.
    lines = text.splitlines()
    start = lines.index(f"[{name}]")
    lines[start + 1] = "value = nan"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ParameterError) as info:
        load_params(path)
    message = str(info.value)
    assert f"parameter '{name}'" in message
    assert "got nan" in message


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ([0.0, 0.9], "alpha_range'[0]"),
        ([0.1, 1.0], "alpha_range'[1]"),
        ([-0.2, 0.5], "alpha_range'[0]"),
        ([0.5, 1.5], "alpha_range'[1]"),
    ],
)
def test_alpha_range_outside_open_unit_interval(value, bad):
    with pytest.raises(ParameterError) as info:
        load_params(overrides={"alpha_range": value})
    message = str(info.value)
    assert f"parameter '{bad}" in message
    assert "(0, 1)" in message


def test_range_with_low_above_high_is_rejected():
    with pytest.raises(ParameterError, match=r"parameter 'alpha_range': low 0.9 exceeds high 0.1"):
        load_params(overrides={"alpha_range": [0.9, 0.1]})


def test_range_of_wrong_length_is_rejected():
    with pytest.raises(ParameterError, match=r"parameter 'd_in_range'.*got \[2000\.0\]"):
        load_params(overrides={"d_in_range": [2000.0]})


def test_every_error_is_listed_at_once():
    with pytest.raises(ParameterError) as info:
        load_params(overrides={"f_edge": -1.0, "bandwidth": 0.0, "n_edge_servers": 0})
    message = str(info.value)
    assert message.startswith("3 invalid parameter(s)")
    for name in ("f_edge", "bandwidth", "n_edge_servers"):
        assert f"parameter '{name}'" in message


def test_unknown_name_in_overrides_is_rejected():
    with pytest.raises(ParameterError) as info:
        load_params(overrides={"f_egde": 6.0})
    message = str(info.value)
    assert "unknown parameter 'f_egde'" in message
    assert "f_edge" in message


def test_unknown_name_in_file_is_rejected(tmp_path):
    path = tmp_path / "extra.toml"
    text = DEFAULT_PARAMS_PATH.read_text(encoding="utf-8")
    path.write_text(text + '\n[f_gpu]\nvalue = 1.0\nunit = "TFLOP/s"\n', encoding="utf-8")
    with pytest.raises(ParameterError, match=r"parameter 'f_gpu': unknown name"):
        load_params(path)


def test_missing_parameter_is_reported(tmp_path):
    text = DEFAULT_PARAMS_PATH.read_text(encoding="utf-8")
    path = tmp_path / "missing.toml"
    path.write_text(text.replace("[varpi]", "[varpi_old]"), encoding="utf-8")
    with pytest.raises(ParameterError) as info:
        load_params(path)
    message = str(info.value)
    assert "parameter 'varpi': missing" in message
    assert "parameter 'varpi_old': unknown name" in message


def test_wrong_unit_is_rejected(tmp_path):
    text = DEFAULT_PARAMS_PATH.read_text(encoding="utf-8")
    path = tmp_path / "unit.toml"
    path.write_text(
        text.replace('value = 6.0\nunit = "TFLOP/s"', 'value = 6000.0\nunit = "GFLOP/s"'),
        encoding="utf-8",
    )
    with pytest.raises(ParameterError) as info:
        load_params(path)
    message = str(info.value)
    assert "parameter 'f_edge': unit must be 'TFLOP/s', got 'GFLOP/s'" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("latency_reading", "concurrent"),
        ("cloud_sharing", "proportional"),
        ("update_rule", "best"),
        ("rho_count", "darknet"),
        ("assignment", "clustered"),
        ("latency_reading", 1),
    ],
)
def test_choice_outside_list_is_rejected(name, value):
    spec = {s.name: s for s in SPECS}[name]
    with pytest.raises(ParameterError) as info:
        load_params(overrides={name: value})
    message = str(info.value)
    assert f"parameter '{name}'" in message
    for choice in spec.choices:
        assert repr(choice) in message
    assert f"got {value!r}" in message


def test_min_distance_above_plant_side_is_rejected():
    with pytest.raises(ParameterError, match=r"parameter 'min_distance': must not exceed"):
        load_params(overrides={"min_distance": 600.0, "plant_side": 500.0})


def test_overrides_change_values():
    params = load_params(overrides={"n_channels": 3, "f_cloud": 7.0})
    assert params.n_channels == 3
    assert params.f_cloud_flops == pytest.approx(7e12)
    assert params.source["n_channels"]["value"] == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n_channels=3", ("n_channels", 3)),
        ("f_edge=6.5", ("f_edge", 6.5)),
        ("latency_reading=parallel", ("latency_reading", "parallel")),
        ('latency_reading="parallel"', ("latency_reading", "parallel")),
        ("alpha_range=[0.2, 0.8]", ("alpha_range", [0.2, 0.8])),
        (" n_channels = 4 ", ("n_channels", 4)),
    ],
)
def test_parse_override_reads_toml_values(text, expected):
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("n_channels", "NAME=VALUE"),
        ("=3", "NAME=VALUE"),
        ("channels=3", "unknown parameter 'channels'"),
    ],
)
def test_parse_override_rejects_malformed_text(text, match):
    with pytest.raises(ParameterError, match=match):
        parse_override(text)


def test_parse_override_value_is_validated_on_load():
    name, value = parse_override("bandwidth=-1")
    with pytest.raises(ParameterError, match=r"parameter 'bandwidth'.*got -1"):
        load_params(overrides={name: value})


def test_replace_changes_named_values():
    params = load_params().replace(n_channels=3, latency_reading="parallel", bandwidth=10.0)
    assert params.n_channels == 3
    assert params.latency_reading == "parallel"
    assert params.bandwidth_hz == pytest.approx(1e7)


def test_replace_keeps_other_values():
    base = load_params()
    changed = base.replace(n_channels=3)
    assert changed.f_edge_flops == base.f_edge_flops
    assert changed.source["f_edge"] == base.source["f_edge"]
    assert base.n_channels == 15


def test_replace_rejects_unknown_name():
    with pytest.raises(ParameterError, match="unknown parameter"):
        load_params().replace(n_channel=3)


def test_replace_validates_values():
    with pytest.raises(ParameterError, match=r"parameter 'f_cloud'.*got -2"):
        load_params().replace(f_cloud=-2)


def test_as_generator_accepts_seed_and_generator():
    generator = np.random.default_rng(5)
    assert as_generator(generator) is generator
    assert as_generator(5).integers(1000) == np.random.default_rng(5).integers(1000)


@pytest.mark.parametrize("rng", [None, -1, True, 1.5])
def test_as_generator_rejects_other_values(rng):
    with pytest.raises(TypeError, match="rng must be"):
        as_generator(rng)


def test_zero_services_is_rejected():
    with pytest.raises(ValueError, match=r"n_services must be an integer >= 1, got 0"):
        generate_scenario(load_params(), 0, rng=0)


def test_unknown_assignment_is_rejected():
    with pytest.raises(ValueError, match=r"assignment must be .*got 'ring'"):
        generate_scenario(load_params(), 3, rng=0, assignment="ring")


def _workload_fields(**changes):
    """Return valid Workload arguments for two services, with ``changes`` applied."""
    fields = dict(
        psi_head_flop=[1e9, 2e9],
        psi_tail_flop=[3e9, 4e9],
        d_med_bit=[1e6, 2e6],
        delta=[0.5, 0.5],
        head_rate_flops=[1e12, 1e12],
        tail_rate_flops=[1e12, 1e12],
        alpha=[0.5, 0.5],
        beta=[0.5, 0.5],
        epsilon_edge=[1e-12, 1e-12],
        epsilon_cloud=[1e-12, 1e-12],
        zeta_joule=[0.003, 0.003],
        p_watt=[0.15, 0.15],
        gain=[1e-9, 1e-9],
        bandwidth_hz=1.5e7,
        noise_watt=1e-13,
        f_cloud_flops=1.4e13,
        n_channels=15,
        varpi=0.1,
    )
    fields.update(changes)
    return fields


def test_valid_workload_is_accepted():
    workload = Workload(**_workload_fields())
    assert workload.n_services == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"psi_head_flop": [-1.0, 2e9]}, "psi_head_flop must be >= 0, got -1.0"),
        ({"psi_tail_flop": [3e9, -4.0]}, "psi_tail_flop must be >= 0, got -4.0"),
        ({"psi_tail_flop": [math.nan, 4e9]}, "psi_tail_flop must be finite, got nan"),
        ({"d_med_bit": [0.0, 2e6]}, "d_med_bit must be > 0, got 0.0"),
        ({"gain": [1e-9, math.inf]}, "gain must be finite, got inf"),
        ({"p_watt": [0.0, 0.15]}, "p_watt must be > 0, got 0.0"),
        ({"alpha": [1.0, 0.5], "beta": [0.0, 0.5]}, r"alpha must lie in .*\(0, 1\), got 1.0"),
        ({"alpha": [0.0, 0.5], "beta": [1.0, 0.5]}, r"alpha must lie in .*\(0, 1\), got 0.0"),
        ({"alpha": [math.nan, 0.5]}, "alpha must be finite, got nan"),
        ({"alpha": [0.4, 0.5]}, "alpha \\+ beta must equal 1"),
        ({"delta": [1.5, 0.5]}, r"delta must lie in \[0, 1\], got 1.5"),
        ({"delta": [-0.5, 0.5]}, "delta must be >= 0, got -0.5"),
        ({"psi_head_flop": [1e9]}, r"psi_tail_flop must have shape \(1,\)"),
        ({"bandwidth_hz": 0.0}, "bandwidth_hz must be a finite number > 0, got 0.0"),
        ({"noise_watt": math.nan}, "noise_watt must be a finite number > 0, got nan"),
        ({"n_channels": 0}, "n_channels must be an integer >= 1, got 0"),
        ({"cloud_sharing": "half"}, "cloud_sharing must be 'offloaders' or 'fixed'"),
        ({"latency_reading": "mixed"}, "latency_reading must be 'sequential' or 'parallel'"),
    ],
)
def test_invalid_workload_names_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        Workload(**_workload_fields(**changes))
