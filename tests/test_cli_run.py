"""Tests for the ``mpdob run`` subcommand, run through an argparse parser."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from mpdob.commands import run as run_command
from mpdob.params import DEFAULT_PARAMS_PATH, load_params
from mpdob.scenario import generate_scenario
from mpdob.strategies import STRATEGIES, run_strategy
from mpdob.system import Workload, evaluate


def run_cli(argv, capsys):
    """Run ``mpdob run ARGV`` and return (exit status, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="mpdob")
    subparsers = parser.add_subparsers()
    run_command.register(subparsers)
    args = parser.parse_args(["run", *argv])
    status = args.func(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(argv, capsys) -> dict:
    status, out, err = run_cli([*argv, "--json"], capsys)
    assert status == 0, err
    assert err == ""
    return json.loads(out)


def test_register_sets_run():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = run_command.register(parser.add_subparsers())
    assert subparser.get_default("func") is run_command.run


def test_summary_lists_outcome(capsys):
    status, out, err = run_cli(["--services", "30", "--seed", "1", "--strategy", "bdo"], capsys)
    assert status == 0
    assert err == ""
    for label in (
        "system-wide QoS:",
        "offloading services:",
        "offloading rate:",
        "rounds:",
        "wall time",
    ):
        assert label in out


def test_json_fields(capsys):
    report = run_json(["--services", "40", "--seed", "3", "--strategy", "mtto"], capsys)
    for key in (
        "params",
        "strategy",
        "seed",
        "services",
        "workload",
        "channel",
        "f_cloud_flops",
        "qos",
        "system_qos",
        "rounds",
        "history",
    ):
        assert key in report
    assert report["strategy"] == "mtto"
    assert report["seed"] == 3
    assert report["services"] == 40
    assert len(report["channel"]) == 40
    assert report["params"]["n_channels"]["value"] == 15
    assert report["params"]["f_cloud"]["unit"] == "TFLOP/s"
    history = report["history"]
    assert len(history["qos"]) == report["rounds"] + 1
    assert len(history["potential_printed"]) == report["rounds"] + 1
    assert len(history["potential_corrected"]) == report["rounds"] + 1
    assert report["system_qos"] == pytest.approx(sum(report["qos"]))


def test_json_matches_library_run(capsys):
    report = run_json(["--services", "25", "--seed", "9", "--strategy", "acco"], capsys)
    # The command draws the scenario and the strategy from one generator.
    rng = np.random.default_rng(9)
    scenario = generate_scenario(load_params(), 25, rng)
    result = run_strategy("acco", scenario, rng)
    assert report["channel"] == result.channel.tolist()
    assert report["qos"] == result.qos.tolist()


def test_json_recomputes_alternative_decision(capsys):
    report = run_json(["--services", "30", "--seed", "4", "--strategy", "ecc"], capsys)
    workload = Workload.from_dict(report["workload"])
    channel = np.asarray(report["channel"])
    # The reported decision prices back to the reported QoS.
    np.testing.assert_allclose(evaluate(workload, channel).qos, report["qos"], rtol=1e-12)
    # An alternative decision: every second service turns local. A service
    # that is local in both profiles keeps its edge-only QoS.
    other = channel.copy()
    other[::2] = 0
    priced = evaluate(workload, other)
    all_local = evaluate(workload, np.zeros_like(channel))
    np.testing.assert_allclose(priced.qos[::2], all_local.qos[::2], rtol=1e-12)
    # The same alternative priced on the in-memory workload agrees.
    rng = np.random.default_rng(4)
    scenario = generate_scenario(load_params(), 30, rng)
    original = run_strategy("ecc", scenario, rng).workload
    np.testing.assert_allclose(evaluate(original, other).qos, priced.qos, rtol=1e-12)


def test_json_mtto_qos_at_reported_cloud_share(capsys):
    report = run_json(["--services", "100", "--seed", "1", "--strategy", "mtto"], capsys)
    workload = Workload.from_dict(report["workload"])
    channel = np.asarray(report["channel"])
    f_cloud = np.asarray(report["f_cloud_flops"])
    assert np.all(f_cloud[channel == 0] == 0.0)
    evaluation = evaluate(workload, channel)
    if report["extra"]["allocation"] == "equal":
        np.testing.assert_allclose(evaluation.qos, report["qos"], rtol=1e-12)


def test_set_overrides_parameter(capsys):
    report = run_json(
        ["--services", "20", "--seed", "0", "--strategy", "ecc", "--set", "n_channels=3"], capsys
    )
    assert report["params"]["n_channels"]["value"] == 3
    assert report["workload"]["n_channels"] == 3
    assert max(report["channel"]) == 3


def test_params_file(tmp_path, capsys):
    text = DEFAULT_PARAMS_PATH.read_text(encoding="utf-8")
    assert "[varpi]\nvalue = 0.1\n" in text
    path = tmp_path / "params.toml"
    path.write_text(text.replace("[varpi]\nvalue = 0.1\n", "[varpi]\nvalue = 0.2\n"))
    report = run_json(
        ["--services", "10", "--seed", "0", "--strategy", "elc", "--params", str(path)], capsys
    )
    assert report["params"]["varpi"]["value"] == 0.2
    assert report["workload"]["varpi"] == 0.2


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"mpdob", "mpdob-nolb"}))
def test_every_baseline_runs(name, capsys):
    report = run_json(["--services", "12", "--seed", "2", "--strategy", name], capsys)
    assert report["strategy"] == name
    assert len(report["qos"]) == 12


def test_unknown_strategy(capsys):
    status, out, err = run_cli(["--services", "5", "--seed", "0", "--strategy", "greedy"], capsys)
    assert status == 2
    assert out == ""
    assert "unknown strategy 'greedy'" in err
    assert "acco, bdo, ecc, elc, mpdob, mpdob-nolb, mtto" in err


def test_unknown_set_key(capsys):
    status, out, err = run_cli(["--services", "5", "--seed", "0", "--set", "colour=3"], capsys)
    assert status == 2
    assert out == ""
    assert "unknown parameter 'colour'" in err


def test_invalid_set_value(capsys):
    status, _, err = run_cli(["--services", "5", "--seed", "0", "--set", "n_channels=0"], capsys)
    assert status == 2
    assert "n_channels" in err
    assert "got 0" in err


def test_malformed_set(capsys):
    status, _, err = run_cli(["--services", "5", "--seed", "0", "--set", "n_channels"], capsys)
    assert status == 2
    assert "NAME=VALUE" in err


@pytest.mark.parametrize("services", ["0", "-3"])
def test_services_below_one(services, capsys):
    status, out, err = run_cli(["--services", services, "--seed", "0"], capsys)
    assert status == 2
    assert out == ""
    assert f"--services must be an integer >= 1, got {services}" in err


def test_negative_seed(capsys):
    status, _, err = run_cli(["--services", "5", "--seed", "-1"], capsys)
    assert status == 2
    assert "--seed must be an integer >= 0, got -1" in err


def test_missing_params_file(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    status, _, err = run_cli(["--services", "5", "--seed", "0", "--params", str(missing)], capsys)
    assert status == 2
    assert "not found" in err
