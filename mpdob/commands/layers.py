"""The ``mpdob layers`` subcommand: per-layer costs and the partition point of a CNN.

``mpdob layers MODEL [--input-size N] [--kappa1 X] [--kappa2 X] [--json]``
prints, for the built-in ``yolov1`` or a Darknet .cfg file, each layer's
shapes, exact FLOP and the partition costs of eq. (1)-(6), then the exact
total and the partition point (PDP). Exit status is 0 on success and 2 when
an option, the model name or the .cfg file is invalid.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from mpdob.cnn import LayerTable, layer_costs, select_pdp, yolov1
from mpdob.darknet import DarknetCfgError, parse_cfg

__all__ = ["register", "run", "main"]

BUILTIN_MODELS = ("yolov1",)
_PROG = "mpdob layers"
_EXIT_INVALID_INPUT = 2
_YOLOV1_MIN_INPUT_SIZE = 64
# Plain text for the terminal: argparse prints it as-is, so no reST markup.
_DESCRIPTION = (
    "Print, for the built-in yolov1 or a Darknet .cfg file, each layer's shapes, "
    "exact FLOP and partition costs (eq. 1-6 of the MP-DOB paper), then the exact "
    "total and the partition point (PDP). Exit status is 0 on success and 2 when "
    "an option, the model name or the .cfg file is invalid."
)
# Units of the table's cost columns, printed under the table.
_TABLE_LEGEND = (
    "GFLOP: exact FLOP of the layer alone, in billions (2 FLOP per multiply-accumulate)",
    "chi_com: multiply-accumulates of the tail from this layer to the last (eq. 1)",
    "chi_trans: tensor elements of this layer's input, sent at a cut before it (eq. 3)",
    "rho: sqrt(revenue / cost) of eq. 6, with revenue = kappa1 * chi_com + kappa2 * chi_mem",
    "     (eq. 4) and cost = chi_trans (eq. 5), so rho has no unit when kappa1 and kappa2",
    "     convert both loads into tensor elements",
)


class _InvalidInput(Exception):
    """An option or the model is invalid. The message is printed as-is."""


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="'yolov1' for the built-in CVPR 2016 YOLO, or the path of a Darknet .cfg file",
    )
    parser.add_argument(
        "--input-size",
        type=int,
        default=None,
        metavar="N",
        help=(
            "square input side in pixels (>= 64 for yolov1, >= 1 for a .cfg file); "
            "default: 448 for yolov1, the [net] width and height for a .cfg file"
        ),
    )
    parser.add_argument(
        "--kappa1",
        type=float,
        default=1.0,
        metavar="X",
        help="weight of the computation load in the revenue, eq. (4), > 0 (default: 1)",
    )
    parser.add_argument(
        "--kappa2",
        type=float,
        default=1.0,
        metavar="X",
        help="weight of the memory load in the revenue, eq. (4), > 0 (default: 1)",
    )
    parser.add_argument(
        "--bytes-per-element",
        type=int,
        default=4,
        metavar="B",
        help="bytes per tensor element for d_med, d_in and d_out, >= 1 (default: 4)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``layers`` subcommand to an argparse subparsers object.

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The new subparser, whose ``func`` default is :func:`run`.
    """
    parser = subparsers.add_parser(
        "layers",
        help="print per-layer costs and the partition point of a CNN",
        description=_DESCRIPTION,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _check_options(args: argparse.Namespace) -> None:
    for option, value in (("--kappa1", args.kappa1), ("--kappa2", args.kappa2)):
        if not (math.isfinite(value) and value > 0.0):
            raise _InvalidInput(f"{option} must be a finite number > 0, got {value!r}")
    if args.bytes_per_element < 1:
        raise _InvalidInput(
            f"--bytes-per-element must be an integer >= 1, got {args.bytes_per_element}"
        )
    if args.input_size is None:
        return
    minimum = _YOLOV1_MIN_INPUT_SIZE if args.model in BUILTIN_MODELS else 1
    if args.input_size < minimum:
        raise _InvalidInput(
            f"--input-size must be an integer >= {minimum} for {args.model}, got {args.input_size}"
        )


def _load_table(args: argparse.Namespace) -> LayerTable:
    if args.model == "yolov1":
        return yolov1(448 if args.input_size is None else args.input_size)
    path = Path(args.model)
    expected = "expected 'yolov1' or the path of a Darknet .cfg file"
    if path.is_dir():
        raise _InvalidInput(f"MODEL is a directory, not a .cfg file: {args.model!r} ({expected})")
    if not path.exists():
        raise _InvalidInput(f"MODEL file not found: {args.model!r} ({expected})")
    if not path.is_file():
        raise _InvalidInput(f"MODEL is not a regular file: {args.model!r} ({expected})")
    try:
        return parse_cfg(path, args.input_size)
    except DarknetCfgError as exc:
        raise _InvalidInput(f"invalid .cfg file: {exc}") from exc


def _shape_text(height: int, width: int, channels: int) -> str:
    return f"{height}x{width}x{channels}"


def _report(table: LayerTable, args: argparse.Namespace) -> dict[str, Any]:
    """Collect everything the command prints, as JSON-ready values."""
    costs = layer_costs(table, args.kappa1, args.kappa2)
    pdp = select_pdp(table, args.kappa1, args.kappa2, args.bytes_per_element)
    layers = []
    for index, layer in enumerate(table.layers):
        layers.append(
            {
                "index": index,
                "type": layer.kind,
                "input": [layer.input_height, layer.input_width, layer.input_channels],
                "output": [layer.output_height, layer.output_width, layer.output_channels],
                "kernel": layer.kernel_size,
                "stride": layer.stride,
                "groups": layer.groups,
                "flops": int(costs.flop[index]),
                "chi_com": int(costs.chi_com[index]),
                "chi_mem": int(costs.chi_mem[index]),
                "chi_trans": int(costs.chi_trans[index]),
                "rho": float(costs.rho[index]),
            }
        )
    first = table[0]
    return {
        "model": table.name,
        "input_size": {
            "height": first.input_height,
            "width": first.input_width,
            "channels": first.input_channels,
        },
        "kappa1": args.kappa1,
        "kappa2": args.kappa2,
        "bytes_per_element": args.bytes_per_element,
        "layers": layers,
        "total_flops": int(costs.flop.sum()),
        "pdp": {
            "index": pdp.index,
            "type": table[pdp.index].kind,
            "rho": float(costs.rho[pdp.index]),
            "psi_head_flop": pdp.psi_head_flop,
            "psi_tail_flop": pdp.psi_tail_flop,
            "d_med_bit": pdp.d_med_bit,
            "d_in_bit": pdp.d_in_bit,
            "d_out_bit": pdp.d_out_bit,
        },
    }


def _format_table(report: dict[str, Any]) -> str:
    header = ["#", "type", "input", "k/s", "output", "GFLOP", "chi_com", "chi_trans", "rho", ""]
    right_aligned = {0, 5, 6, 7, 8}
    pdp_index = report["pdp"]["index"]
    rows = [header]
    for layer in report["layers"]:
        kernel_stride = "-"
        if layer["kernel"] or layer["stride"]:
            # Upsample and reorg layers have a stride but no kernel.
            kernel = layer["kernel"] or "-"
            kernel_stride = f"{kernel}/{layer['stride']}"
        rows.append(
            [
                str(layer["index"]),
                layer["type"],
                _shape_text(*layer["input"]),
                kernel_stride,
                _shape_text(*layer["output"]),
                f"{layer['flops'] / 1e9:.3f}",
                f"{layer['chi_com']:.4e}",
                str(layer["chi_trans"]),
                f"{layer['rho']:.2f}",
                "<- PDP" if layer["index"] == pdp_index else "",
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _format_summary(report: dict[str, Any]) -> str:
    pdp = report["pdp"]
    shape = report["input_size"]
    last = len(report["layers"]) - 1
    index = pdp["index"]
    head_layers = "none" if index == 0 else f"layers 0-{index - 1}"
    d_med_kib = pdp["d_med_bit"] / 8 / 1024
    return "\n".join(
        [
            f"model {report['model']}, input {shape['height']}x{shape['width']}x"
            f"{shape['channels']}, {last + 1} layers, "
            f"kappa1 = {report['kappa1']:g}, kappa2 = {report['kappa2']:g}",
            f"total: {report['total_flops'] / 1e9:.2f} billion FLOP "
            f"({report['total_flops']} FLOP, 2 per multiply-accumulate)",
            f"PDP: layer {index} ({pdp['type']}), rho = {pdp['rho']:.2f}",
            f"  psi_head = {pdp['psi_head_flop'] / 1e9:.3f} GFLOP ({head_layers})",
            f"  psi_tail = {pdp['psi_tail_flop'] / 1e9:.3f} GFLOP (layers {index}-{last})",
            f"  d_med = {pdp['d_med_bit']} bit ({d_med_kib:g} KiB at "
            f"{report['bytes_per_element']} bytes per element)",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Print the layer report for ``args.model`` and return the exit status.

    Returns 0 on success. Returns 2 after printing a message on stderr when
    an option is out of range, MODEL is neither ``yolov1`` nor an existing
    file, or the .cfg file is invalid.
    """
    try:
        _check_options(args)
        table = _load_table(args)
    except _InvalidInput as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return _EXIT_INVALID_INPUT

    report = _report(table, args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_format_table(report))
        print("\n".join(_TABLE_LEGEND))
        print()
        print(_format_summary(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand as a standalone program (``python -m mpdob.commands.layers``)."""
    parser = argparse.ArgumentParser(prog=_PROG, description=_DESCRIPTION)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
