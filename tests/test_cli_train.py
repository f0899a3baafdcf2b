"""Tests of the ``mpdob train`` subcommand."""

from __future__ import annotations

import argparse
import json

from mpdob.commands import train
from mpdob.learn import bundle_path, load_bundle
from mpdob.params import DEFAULT_PARAMS_PATH, load_params

MODES = ("", "_refined", "_search_only")
SMALL = ["--delta-scenarios", "20", "--balance-scenarios", "30", "--test-scenarios", "4"]


def test_train_writes_bundle(tmp_path, capsys):
    status = train.main(["--output", str(tmp_path), "--seed", "2", *SMALL])
    out = capsys.readouterr().out
    assert status == 0
    path = bundle_path(load_params(), 2, tmp_path)
    assert path.is_file()
    assert (tmp_path / ".gitignore").is_file()
    assert f"stored {path}" in out
    assert "R^2 =" in out
    assert "share of the optimal gain captured" in out
    assert "MLP + local search: mean" in out
    bundle = load_bundle(path, load_params())
    assert bundle.metadata["seed"] == 2
    assert bundle.metadata["n_delta_scenarios"] == 20


def test_train_json_output(tmp_path, capsys):
    status = train.main(["--output", str(tmp_path), "--json", *SMALL])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seed"] == 0
    kinds = {f"balance_{kind}{mode}" for kind in ("uniform", "hotspot") for mode in MODES}
    assert set(report["metrics"]) == {"delta"} | kinds
    assert "r2" in report["metrics"]["delta"]
    assert report["path"].endswith(".joblib")


def test_train_set_override(tmp_path, capsys):
    status = train.main(
        ["--output", str(tmp_path), "--set", "latency_reading=parallel", "--json", *SMALL]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["latency_reading"] == "parallel"
    params = load_params(overrides={"latency_reading": "parallel"})
    assert bundle_path(params, 0, tmp_path).is_file()


def test_train_params_file(tmp_path, capsys):
    text = load_params().source
    lines = []
    for name, entry in text.items():
        value = json.dumps(entry["value"])
        if name == "n_channels":
            value = "10"
        lines.append(f"[{name}]\nvalue = {value}\nunit = {json.dumps(entry.get('unit', ''))}\n")
    file = tmp_path / "p.toml"
    file.write_text("\n".join(lines))
    status = train.main(["--output", str(tmp_path), "--params", str(file), "--json", *SMALL])
    assert status == 0
    params = load_params(file)
    assert params.n_channels == 10
    assert bundle_path(params, 0, tmp_path).is_file()


def test_train_invalid_override(capsys):
    status = train.main(["--set", "n_channels=0"])
    err = capsys.readouterr().err
    assert status == 2
    assert "mpdob train: error:" in err
    assert "n_channels" in err


def test_train_unknown_parameter(capsys):
    status = train.main(["--set", "channels=3"])
    assert status == 2
    assert "unknown parameter 'channels'" in capsys.readouterr().err


def test_train_missing_params_file(tmp_path, capsys):
    status = train.main(["--params", str(tmp_path / "none.toml")])
    assert status == 2
    assert "parameter file not found" in capsys.readouterr().err


def test_train_negative_seed(capsys):
    status = train.main(["--seed", "-1"])
    assert status == 2
    assert "--seed must be an integer >= 0, got -1" in capsys.readouterr().err


def test_train_zero_scenarios(capsys):
    status = train.main(["--delta-scenarios", "0"])
    assert status == 2
    assert "--delta-scenarios must be an integer >= 1, got 0" in capsys.readouterr().err


def test_mpdob_cli_dispatches_train(tmp_path, capsys):
    from mpdob.cli import main

    status = main(["train", "--output", str(tmp_path), "--json", *SMALL])
    assert status == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 0


def test_register_adds_subcommand():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparsers = parser.add_subparsers(dest="command")
    train.register(subparsers)
    args = parser.parse_args(["train", "--seed", "4", "--set", "n_channels=3", "--json"])
    assert args.func is train.run
    assert args.seed == 4
    assert args.overrides == ["n_channels=3"]
    assert args.json is True
    assert args.output is None


def test_train_invalid_override_names_error_once(capsys):
    status = train.main(["--set", "n_channels=-1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("mpdob train: error: 1 invalid parameter(s):\n")
    assert err.count("invalid parameter") == 1
    assert "parameter 'n_channels': expected an integer in [1, 10000], got -1" in err


def test_train_help_shows_resolved_params_path():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = train.register(parser.add_subparsers(dest="command"))
    help_text = " ".join(subparser.format_help().split())
    assert f"(default: {DEFAULT_PARAMS_PATH})" in help_text
    assert DEFAULT_PARAMS_PATH.is_absolute()
    assert "``" not in help_text
