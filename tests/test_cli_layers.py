"""Tests for the ``mpdob layers`` subcommand, run through its own argparse parser."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mpdob.commands import layers

FIXTURES = Path(__file__).parent / "fixtures" / "darknet"
TINY_YOLO3 = FIXTURES / "tiny_yolo3_416.cfg"

# Exact totals, derived term by term in test_cnn.py and test_darknet.py.
YOLOV1_448_FLOP = 40_570_306_560
TINY_YOLO3_416_FLOP = 5_564_961_792


def run_layers(argv, capsys):
    """Run ``mpdob layers ARGV`` and return (exit status, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="mpdob")
    subparsers = parser.add_subparsers()
    layers.register(subparsers)
    args = parser.parse_args(["layers", *argv])
    status = args.func(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_register_sets_run():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = layers.register(parser.add_subparsers())
    assert subparser.get_default("func") is layers.run


def test_json_yolov1(capsys):
    status, out, err = run_layers(["yolov1", "--json"], capsys)
    assert status == 0
    assert err == ""
    report = json.loads(out)
    assert report["model"] == "yolov1"
    assert report["input_size"] == {"height": 448, "width": 448, "channels": 3}
    assert report["total_flops"] == YOLOV1_448_FLOP
    assert len(report["layers"]) == 30
    connected = report["layers"][28]
    assert connected["index"] == 28
    assert connected["type"] == "connected"
    assert connected["input"] == [7, 7, 1024]
    assert connected["output"] == [1, 1, 4096]
    # 2 * 50176 * 4096
    assert connected["flops"] == 411_041_792
    first = report["layers"][0]
    assert (first["kernel"], first["stride"]) == (7, 2)
    assert first["chi_trans"] == 448 * 448 * 3
    for key in ("chi_com", "chi_mem", "rho"):
        assert key in first
    assert sum(layer["flops"] for layer in report["layers"]) == YOLOV1_448_FLOP


def test_json_pdp_consistent(capsys):
    _, out, _ = run_layers(["yolov1", "--json"], capsys)
    report = json.loads(out)
    pdp = report["pdp"]
    rhos = [layer["rho"] for layer in report["layers"]]
    assert pdp["index"] == rhos.index(max(rhos))
    head = sum(layer["flops"] for layer in report["layers"][: pdp["index"]])
    assert pdp["psi_head_flop"] == head
    assert pdp["psi_tail_flop"] == YOLOV1_448_FLOP - head
    assert pdp["d_med_bit"] == report["layers"][pdp["index"]]["chi_trans"] * 32


def test_json_kappa_changes_rho(capsys):
    _, out, _ = run_layers(["yolov1", "--json"], capsys)
    default = json.loads(out)
    _, out, _ = run_layers(["yolov1", "--json", "--kappa2", "4"], capsys)
    weighted = json.loads(out)
    assert weighted["kappa2"] == 4.0
    assert weighted["layers"][0]["rho"] > default["layers"][0]["rho"]


def test_json_cfg_fixture(capsys):
    status, out, _ = run_layers([str(TINY_YOLO3), "--json"], capsys)
    assert status == 0
    report = json.loads(out)
    assert report["model"] == "tiny_yolo3_416"
    assert report["total_flops"] == TINY_YOLO3_416_FLOP
    assert len(report["layers"]) == 24


def test_json_cfg_input_size(capsys):
    status, out, _ = run_layers([str(TINY_YOLO3), "--json", "--input-size", "320"], capsys)
    assert status == 0
    report = json.loads(out)
    assert report["input_size"]["height"] == 320
    # 320 / 32 = 10 at the first detection head
    assert report["layers"][15]["output"] == [10, 10, 255]


def test_text_table_yolov1(capsys):
    status, out, _ = run_layers(["yolov1"], capsys)
    assert status == 0
    lines = out.splitlines()
    header = lines[0].split()
    assert header[:5] == ["#", "type", "input", "k/s", "output"]
    marked = [line for line in lines if line.endswith("<- PDP")]
    assert len(marked) == 1
    pdp_index = int(marked[0].split()[0])
    table_rows = lines[1:31]
    assert [int(row.split()[0]) for row in table_rows] == list(range(30))
    # Right-aligned last column: without the marker, every row ends where the
    # header's "rho" ends.
    widths = {len(row.removesuffix("<- PDP").rstrip()) for row in table_rows}
    assert widths == {len(lines[0])}
    assert "40.57 billion FLOP" in out
    assert f"PDP: layer {pdp_index} (" in out
    assert "psi_head" in out
    assert "psi_tail" in out
    assert "d_med" in out
    assert "448x448x3" in table_rows[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--kappa1", "0"], "--kappa1 must be a finite number > 0, got 0.0"),
        (["--kappa2", "-2.5"], "--kappa2 must be a finite number > 0, got -2.5"),
        (["--kappa1", "nan"], "--kappa1 must be a finite number > 0, got nan"),
        (["--input-size", "63"], "--input-size must be an integer >= 64 for yolov1, got 63"),
        (["--bytes-per-element", "0"], "--bytes-per-element must be an integer >= 1, got 0"),
    ],
)
def test_invalid_option_exit_2(argv, expected, capsys):
    status, out, err = run_layers(["yolov1", *argv], capsys)
    assert status == 2
    assert out == ""
    assert expected in err


def test_cfg_input_size_zero(capsys):
    status, _, err = run_layers([str(TINY_YOLO3), "--input-size", "0"], capsys)
    assert status == 2
    assert "--input-size must be an integer >= 1" in err
    assert "got 0" in err


def test_missing_file_exit_2(capsys, tmp_path):
    missing = tmp_path / "absent.cfg"
    status, out, err = run_layers([str(missing)], capsys)
    assert status == 2
    assert out == ""
    assert "MODEL file not found" in err
    assert str(missing) in err


def test_invalid_cfg_exit_2(capsys):
    status, _, err = run_layers([str(FIXTURES / "error_non_integer.cfg")], capsys)
    assert status == 2
    assert "line 7" in err
    assert "size=3.5" in err


def test_non_integer_input_size_is_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        run_layers(["yolov1", "--input-size", "4.5"], capsys)
    assert caught.value.code == 2


def test_module_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "mpdob.commands.layers", str(TINY_YOLO3), "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[1],
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["total_flops"] == TINY_YOLO3_416_FLOP


def test_text_table_stride_without_kernel(capsys):
    status, out, _ = run_layers([str(TINY_YOLO3)], capsys)
    assert status == 0
    upsample_row = out.splitlines()[1 + 19]
    assert upsample_row.split()[:5] == ["19", "upsample", "13x13x128", "-/2", "26x26x128"]
    assert "5.56 billion FLOP" in out


def test_text_table_legend_units(capsys):
    status, out, _ = run_layers(["yolov1"], capsys)
    assert status == 0
    lines = out.splitlines()
    legend = lines[31:37]
    assert legend[0].startswith("GFLOP: exact FLOP of the layer alone, in billions")
    assert legend[1].startswith("chi_com: multiply-accumulates of the tail")
    assert "(eq. 1)" in legend[1]
    assert legend[2].startswith("chi_trans: tensor elements of this layer's input")
    assert "(eq. 3)" in legend[2]
    assert legend[3].startswith("rho: sqrt(revenue / cost) of eq. 6")
    assert "has no unit" in " ".join(legend[3:6])
    assert lines[37] == ""


def test_directory_model_exit_2(capsys, tmp_path):
    status, out, err = run_layers([str(tmp_path)], capsys)
    assert status == 2
    assert out == ""
    assert "MODEL is a directory, not a .cfg file" in err
    assert str(tmp_path) in err
    assert "not found" not in err


def test_help_is_plain_text():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = layers.register(parser.add_subparsers())
    help_text = subparser.format_help()
    assert "``" not in help_text
    assert "partition point (PDP)" in " ".join(help_text.split())
