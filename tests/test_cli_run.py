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


def test_invalid_set_value_names_error_once(capsys):
    status, out, err = run_cli(
        ["--services", "10", "--seed", "0", "--set", "n_channels=-1"], capsys
    )
    assert status == 2
    assert out == ""
    assert err.startswith("mpdob run: error: 1 invalid parameter(s):\n")
    assert err.count("invalid parameter") == 1
    assert "parameter 'n_channels': expected an integer in [1, 10000], got -1" in err


def test_baseline_rate_is_share_of_services(capsys):
    report = run_json(["--services", "27", "--seed", "0", "--strategy", "bdo"], capsys)
    assert report["offloading_rate_basis"] == "services"
    assert report["offloading_rate"] == pytest.approx(report["n_offloading"] / 27)

    status, out, _ = run_cli(["--services", "27", "--seed", "0", "--strategy", "bdo"], capsys)
    assert status == 0
    rate = f"{report['offloading_rate']:.2%}"
    assert f"offloading rate: {rate} of the services offloaded whole to the cloud" in out


@pytest.mark.parametrize("name", ["mpdob", "mpdob-nolb"])
def test_mpdob_rate_is_share_of_tail_flop(name):
    assert run_command._offloading_rate_basis(name) == "tail_flop"


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"mpdob", "mpdob-nolb"}))
def test_baseline_rate_basis(name):
    assert run_command._offloading_rate_basis(name) == "services"


def test_summary_labels_tail_flop_rate():
    report = {
        "strategy": "mpdob",
        "services": 27,
        "seed": 0,
        "system_qos": 11.8,
        "n_offloading": 1,
        "offloading_rate": 0.0372,
        "offloading_rate_basis": "tail_flop",
        "rounds": 1,
        "wall_time_s": 0.01,
    }
    summary = run_command._summary(report)
    assert (
        "offloading rate: 3.72% of the tail FLOP (the layers after the partition point) "
        "sent to the cloud" in summary
    )
    assert "offloading services: 1 of 27" in summary


def test_help_shows_resolved_params_path(capsys):
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = run_command.register(parser.add_subparsers())
    help_text = " ".join(subparser.format_help().split())
    assert f"(default: {DEFAULT_PARAMS_PATH})" in help_text
    assert DEFAULT_PARAMS_PATH.is_absolute()
    assert "``" not in help_text
