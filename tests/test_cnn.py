"""Tests for the layer table, partition costs (eq. 1-6) and the built-in YOLO.

Expected values are worked out by hand in the comments. Code index i is the
paper's layer l_{i+1}.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from mpdob.cnn import (
    Layer,
    LayerTable,
    computation_terms,
    input_side_for_bytes,
    layer_costs,
    layer_flop,
    memory_terms,
    select_pdp,
    total_flop,
    yolov1,
)


def make_layer(kind, input_shape, output_shape, kernel_size=0, stride=0, groups=1):
    (in_h, in_w, in_c), (out_h, out_w, out_c) = input_shape, output_shape
    return Layer(
        kind=kind,
        input_height=in_h,
        input_width=in_w,
        input_channels=in_c,
        kernel_size=kernel_size,
        stride=stride,
        groups=groups,
        output_height=out_h,
        output_width=out_w,
        output_channels=out_c,
    )


def toy_table():
    """A 2x2 stride-2 maxpool on 4x4x2, then a 3x3 convolution 2 -> 4 at 2x2."""
    return LayerTable(
        name="toy",
        layers=(
            make_layer("maxpool", (4, 4, 2), (2, 2, 2), kernel_size=2, stride=2),
            make_layer("convolutional", (2, 2, 2), (2, 2, 4), kernel_size=3, stride=1),
        ),
    )


# --- worked example ---------------------------------------------------------
#
# layer 0, maxpool 4x4x2 -> 2x2x2, no weights:
#   eq. (1) term 0
#   eq. (2) term 4*4*(2 + 2) = 64
#   eq. (3) 4*4*2 = 32
#   exact FLOP 0
# layer 1, convolution 3x3, 2x2x2 -> 2x2x4:
#   eq. (1) term 2*2*(2*3**2 + 1)*4 = 4*19*4 = 304
#   eq. (2) term 2*2*(2 + 4) + 2*4 = 24 + 8 = 32
#   eq. (3) 2*2*2 = 8
#   exact FLOP 2 * 2*2*4 * 3**2 * 2 = 576
# Suffix sums: chi_com = [304, 304], chi_mem = [96, 32], chi_trans = [32, 8].
# kappa1 = kappa2 = 1: Re = [400, 336], rho = [sqrt(400/32), sqrt(336/8)]
#   = [sqrt(12.5), sqrt(42)] = [3.536, 6.481], so the PDP is layer 1.


def test_toy_per_layer_terms():
    table = toy_table()
    assert computation_terms(table).tolist() == [0, 304]
    assert memory_terms(table).tolist() == [64, 32]
    assert layer_flop(table).tolist() == [0, 576]


def test_toy_costs():
    costs = layer_costs(toy_table())
    assert costs.chi_com.tolist() == [304, 304]
    assert costs.chi_mem.tolist() == [96, 32]
    assert costs.chi_trans.tolist() == [32, 8]
    assert costs.flop.tolist() == [0, 576]
    np.testing.assert_allclose(costs.rho, [math.sqrt(12.5), math.sqrt(42.0)])


def test_toy_costs_kappa_weights():
    # kappa1 = 2, kappa2 = 3: Re = [2*304 + 3*96, 2*304 + 3*32] = [896, 704]
    # rho = [sqrt(896/32), sqrt(704/8)] = [sqrt(28), sqrt(88)]
    costs = layer_costs(toy_table(), kappa1=2.0, kappa2=3.0)
    np.testing.assert_allclose(costs.rho, [math.sqrt(28.0), math.sqrt(88.0)])


def test_toy_pdp():
    pdp = select_pdp(toy_table())
    assert pdp.index == 1
    assert pdp.psi_head_flop == 0
    assert pdp.psi_tail_flop == 576
    assert pdp.d_med_bit == 8 * 4 * 8  # 8 elements of 4 bytes
    assert pdp.d_in_bit == 32 * 4 * 8  # 4x4x2 input
    assert pdp.d_out_bit == 16 * 4 * 8  # 2x2x4 output
    np.testing.assert_allclose(pdp.rho, [math.sqrt(12.5), math.sqrt(42.0)])


def test_toy_pdp_bytes_per_element():
    pdp = select_pdp(toy_table(), bytes_per_element=2)
    assert pdp.d_med_bit == 8 * 2 * 8
    assert pdp.d_in_bit == 32 * 2 * 8


def test_pdp_tie_goes_to_first_layer():
    # layer 0, route 1x1x6 -> 1x1x2: eq. (2) term 1*(6 + 2) = 8, eq. (3) 6
    # layer 1, dropout 1x1x2: eq. (2) term 1*(2 + 2) = 4, eq. (3) 2
    # chi_mem = [12, 4], no computation: rho = [sqrt(12/6), sqrt(4/2)] = [sqrt2] * 2
    table = LayerTable(
        name="tie",
        layers=(
            make_layer("route", (1, 1, 6), (1, 1, 2)),
            make_layer("dropout", (1, 1, 2), (1, 1, 2)),
        ),
    )
    pdp = select_pdp(table)
    assert pdp.rho[0] == pdp.rho[1]
    assert pdp.index == 0
    assert pdp.psi_head_flop == 0


def test_connected_layer_costs():
    # connected, 2x2x3 flattened = 12 inputs -> 5 outputs, read as H = W = 1,
    # C_in = 12, K = 1:
    #   eq. (1) (12*1 + 1)*5 = 65
    #   eq. (2) (12 + 5) + 12*5 = 77
    #   eq. (3) 12, exact FLOP 2*12*5 = 120
    table = LayerTable(name="fc", layers=(make_layer("connected", (2, 2, 3), (1, 1, 5)),))
    costs = layer_costs(table)
    assert costs.chi_com.tolist() == [65]
    assert costs.chi_mem.tolist() == [77]
    assert costs.chi_trans.tolist() == [12]
    assert costs.flop.tolist() == [120]


def test_grouped_convolution_costs():
    # 3x3, 4x4x4 -> 4x4x6 in 2 groups, so 2 input channels per group:
    #   eq. (1) 4*4*(2*9 + 1)*6 = 1824
    #   eq. (2) 4*4*(4 + 6) + 2*6 = 172
    #   exact FLOP 2 * 4*4*6 * 9 * 2 = 3456
    table = LayerTable(
        name="grouped",
        layers=(make_layer("convolutional", (4, 4, 4), (4, 4, 6), 3, 1, groups=2),),
    )
    assert computation_terms(table).tolist() == [1824]
    assert memory_terms(table).tolist() == [172]
    assert layer_flop(table).tolist() == [3456]


def test_local_layer_costs():
    # local 3x3, 5x5x2 -> 3x3x4 (unpadded): eq. (1) at the input size
    #   5*5*(2*9 + 1)*4 = 1900
    #   eq. (2) 5*5*(2 + 4) + 2*4 = 158
    #   exact FLOP at the output size 2 * 3*3*4 * 9 * 2 = 1296
    table = LayerTable(name="local", layers=(make_layer("local", (5, 5, 2), (3, 3, 4), 3, 1),))
    assert computation_terms(table).tolist() == [1900]
    assert memory_terms(table).tolist() == [158]
    assert layer_flop(table).tolist() == [1296]


def test_eq1_uses_input_size():
    # 1x1 stride 2, 4x4x1 -> 2x2x1: eq. (1) 4*4*(1 + 1)*1 = 32, but the exact
    # count uses the 2x2 output: 2 * 2*2*1 * 1 * 1 = 8
    table = LayerTable(
        name="strided",
        layers=(make_layer("convolutional", (4, 4, 1), (2, 2, 1), 1, 2),),
    )
    assert computation_terms(table).tolist() == [32]
    assert total_flop(table) == 8


# --- parameter checks ---------------------------------------------------------


@pytest.mark.parametrize("name", ["kappa1", "kappa2"])
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_kappa_out_of_range(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
        layer_costs(toy_table(), **{name: value})


@pytest.mark.parametrize("value", ["1", True, None])
def test_kappa_wrong_type(value):
    with pytest.raises(TypeError, match="kappa1"):
        select_pdp(toy_table(), kappa1=value)


@pytest.mark.parametrize("value", [0, -4])
def test_bytes_per_element_out_of_range(value):
    with pytest.raises(ValueError, match="bytes_per_element must be an integer >= 1"):
        select_pdp(toy_table(), bytes_per_element=value)


def test_layer_costs_rejects_non_table():
    with pytest.raises(TypeError, match="LayerTable"):
        layer_costs([make_layer("dropout", (1, 1, 1), (1, 1, 1))])


# --- table validation and accessors -------------------------------------------


def test_table_length_and_columns():
    table = toy_table()
    assert len(table) == 2
    assert table.kind.tolist() == ["maxpool", "convolutional"]
    assert table.input_height.tolist() == [4, 2]
    assert table.input_channels.tolist() == [2, 2]
    assert table.kernel_size.tolist() == [2, 3]
    assert table.stride.tolist() == [2, 1]
    assert table.groups.tolist() == [1, 1]
    assert table.output_channels.tolist() == [2, 4]
    assert table.input_elements.tolist() == [32, 8]
    assert table.output_elements.tolist() == [8, 16]
    assert table.input_height.dtype == np.int64


def test_table_columns_read_only():
    table = toy_table()
    with pytest.raises(ValueError, match="read-only"):
        table.input_height[0] = 5
    costs = layer_costs(table)
    with pytest.raises(ValueError, match="read-only"):
        costs.rho[0] = 0.0


def test_table_and_layer_frozen():
    table = toy_table()
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        table[0].input_height = 8


def test_table_list_stored_as_tuple():
    layers = list(toy_table().layers)
    table = LayerTable(name="copy", layers=layers)
    assert isinstance(table.layers, tuple)
    assert table == LayerTable(name="copy", layers=tuple(layers))


def test_table_empty_rejected():
    with pytest.raises(ValueError, match="at least 1 layer"):
        LayerTable(name="empty", layers=())


def test_table_name_required():
    with pytest.raises(ValueError, match="LayerTable.name"):
        LayerTable(name="", layers=toy_table().layers)


def test_table_non_layer_rejected():
    with pytest.raises(TypeError, match=r"LayerTable.layers\[1\] must be a Layer"):
        LayerTable(name="bad", layers=(toy_table()[0], ("maxpool", 4, 4, 2)))


@pytest.mark.parametrize(
    ("field", "value", "minimum"),
    [
        ("input_height", 0, 1),
        ("input_width", -3, 1),
        ("output_channels", 0, 1),
        ("kernel_size", -1, 0),
        ("stride", -2, 0),
        ("groups", 0, 1),
    ],
)
def test_layer_field_below_minimum(field, value, minimum):
    fields = dataclasses.asdict(toy_table()[1])
    fields[field] = value
    with pytest.raises(ValueError, match=f"Layer.{field} must be an integer >= {minimum}"):
        Layer(**fields)


@pytest.mark.parametrize("value", [2.0, "2", True])
def test_layer_field_not_integer(value):
    fields = dataclasses.asdict(toy_table()[1])
    fields["input_channels"] = value
    with pytest.raises(TypeError, match="Layer.input_channels must be an integer"):
        Layer(**fields)


def test_layer_numpy_integers_stored_as_int():
    fields = dataclasses.asdict(toy_table()[1])
    fields["input_height"] = np.int32(2)
    layer = Layer(**fields)
    assert type(layer.input_height) is int
    assert layer == toy_table()[1]


def test_layer_unknown_kind():
    fields = dataclasses.asdict(toy_table()[1])
    fields["kind"] = "conv"
    with pytest.raises(ValueError, match="Layer.kind must be one of"):
        Layer(**fields)


def test_layer_groups_must_divide_channels():
    with pytest.raises(ValueError, match="multiple of Layer.groups"):
        make_layer("convolutional", (4, 4, 3), (4, 4, 4), 3, 1, groups=2)


# --- the CVPR 2016 YOLO ---------------------------------------------------------

# (kind, input side, input channels, kernel, stride, output side, output
# channels) at 448, from Figure 3 of Redmon et al. (CVPR 2016), with sides
# halved by each stride-2 layer: 448 -> 224 -> 112 -> 56 -> 28 -> 14 -> 7.
YOLOV1_AT_448 = [
    ("convolutional", 448, 3, 7, 2, 224, 64),
    ("maxpool", 224, 64, 2, 2, 112, 64),
    ("convolutional", 112, 64, 3, 1, 112, 192),
    ("maxpool", 112, 192, 2, 2, 56, 192),
    ("convolutional", 56, 192, 1, 1, 56, 128),
    ("convolutional", 56, 128, 3, 1, 56, 256),
    ("convolutional", 56, 256, 1, 1, 56, 256),
    ("convolutional", 56, 256, 3, 1, 56, 512),
    ("maxpool", 56, 512, 2, 2, 28, 512),
    *[
        ("convolutional", 28, 512, 1, 1, 28, 256),
        ("convolutional", 28, 256, 3, 1, 28, 512),
    ]
    * 4,
    ("convolutional", 28, 512, 1, 1, 28, 512),
    ("convolutional", 28, 512, 3, 1, 28, 1024),
    ("maxpool", 28, 1024, 2, 2, 14, 1024),
    *[
        ("convolutional", 14, 1024, 1, 1, 14, 512),
        ("convolutional", 14, 512, 3, 1, 14, 1024),
    ]
    * 2,
    ("convolutional", 14, 1024, 3, 1, 14, 1024),
    ("convolutional", 14, 1024, 3, 2, 7, 1024),
    ("convolutional", 7, 1024, 3, 1, 7, 1024),
    ("convolutional", 7, 1024, 3, 1, 7, 1024),
]


def test_yolov1_layer_shapes():
    table = yolov1(448)
    assert table.name == "yolov1"
    assert len(table) == 30
    assert (table.kind == "convolutional").sum() == 24
    assert (table.kind == "maxpool").sum() == 4
    assert (table.kind == "connected").sum() == 2
    for index, expected in enumerate(YOLOV1_AT_448):
        layer = table[index]
        got = (
            layer.kind,
            layer.input_height,
            layer.input_channels,
            layer.kernel_size,
            layer.stride,
            layer.output_height,
            layer.output_channels,
        )
        assert got == expected, f"layer {index}"
        assert layer.input_width == layer.input_height
        assert layer.output_width == layer.output_height


def test_yolov1_connected_layers():
    table = yolov1(448)
    first, last = table[28], table[29]
    # 7x7x1024 flattened into the 4096-unit layer
    assert (first.input_height, first.input_width, first.input_channels) == (7, 7, 1024)
    assert first.output_channels == 4096
    assert last.input_elements == 4096
    assert last.output_elements == 7 * 7 * 30


def test_yolov1_exact_total():
    # 2 * H_out * W_out * C_out * K^2 * C_in per convolution, 2 * in * out per
    # connected layer, from the table above:
    expected = (
        2 * 224 * 224 * 64 * 49 * 3
        + 2 * 112 * 112 * 192 * 9 * 64
        + 2 * 56 * 56 * 128 * 1 * 192
        + 2 * 56 * 56 * 256 * 9 * 128
        + 2 * 56 * 56 * 256 * 1 * 256
        + 2 * 56 * 56 * 512 * 9 * 256
        + 4 * (2 * 28 * 28 * 256 * 1 * 512 + 2 * 28 * 28 * 512 * 9 * 256)
        + 2 * 28 * 28 * 512 * 1 * 512
        + 2 * 28 * 28 * 1024 * 9 * 512
        + 2 * (2 * 14 * 14 * 512 * 1 * 1024 + 2 * 14 * 14 * 1024 * 9 * 512)
        + 2 * 14 * 14 * 1024 * 9 * 1024
        + 3 * (2 * 7 * 7 * 1024 * 9 * 1024)  # stride-2 layer and the two at 7x7
        + 2 * (7 * 7 * 1024) * 4096
        + 2 * 4096 * 1470
    )
    assert expected == 40_570_306_560
    assert total_flop(yolov1(448)) == expected


def test_yolov1_pdp_against_plain_loop():
    # Recompute eq. (1)-(6) with a plain loop over the shapes above.
    rows = [(side, c_in, k, c_out) for _, side, c_in, k, _, _, c_out in YOLOV1_AT_448]
    kinds = [row[0] for row in YOLOV1_AT_448] + ["connected", "connected"]
    rows += [(1, 7 * 7 * 1024, 1, 4096), (1, 4096, 1, 1470)]
    com_terms, mem_terms = [], []
    for kind, (side, c_in, k, c_out) in zip(kinds, rows, strict=True):
        weighted = kind != "maxpool"
        com_terms.append(side * side * (c_in * k * k + 1) * c_out if weighted else 0)
        mem_terms.append(side * side * (c_in + c_out) + (c_in * c_out if weighted else 0))
    rho = [
        math.sqrt((sum(com_terms[i:]) + sum(mem_terms[i:])) / (side * side * c_in))
        for i, (side, c_in, _, _) in enumerate(rows)
    ]
    best = rho.index(max(rho))

    pdp = select_pdp(yolov1(448))
    np.testing.assert_allclose(pdp.rho, rho, rtol=1e-12)
    assert pdp.index == best
    side, c_in, _, _ = rows[best]
    assert pdp.d_med_bit == side * side * c_in * 32
    assert pdp.d_in_bit == 448 * 448 * 3 * 32
    assert pdp.d_out_bit == 1470 * 32
    assert pdp.psi_head_flop + pdp.psi_tail_flop == 40_570_306_560


def test_yolov1_at_320():
    # 320 -> 160 -> 80 -> 40 -> 20 -> 10, stride-2 conv (10 + 2 - 3)//2 + 1 = 5
    table = yolov1(320)
    assert (table[27].output_height, table[27].output_channels) == (5, 1024)
    assert table[28].input_elements == 5 * 5 * 1024
    assert table[29].output_channels == 1470


def test_yolov1_odd_size_uses_darknet_rules():
    # 449: conv 7x7 s2 pad 3 gives (449 + 6 - 7)//2 + 1 = 225, and the maxpool
    # with padding 1 gives (225 + 1 - 2)//2 + 1 = 113.
    table = yolov1(449)
    assert table[0].output_height == 225
    assert table[1].output_height == 113


def test_yolov1_minimum_size():
    table = yolov1(64)
    # 64 -> 32 -> 16 -> 8 -> 4 -> 2, stride-2 conv (2 + 2 - 3)//2 + 1 = 1
    assert table[28].input_elements == 1024


@pytest.mark.parametrize("value", [63, 0, -448])
def test_yolov1_size_out_of_range(value):
    with pytest.raises(ValueError, match="input_size must be an integer >= 64"):
        yolov1(value)


@pytest.mark.parametrize("value", [448.0, "448", True])
def test_yolov1_size_wrong_type(value):
    with pytest.raises(TypeError, match="input_size"):
        yolov1(value)


def test_yolov1_cached_per_size():
    assert yolov1(448) is yolov1(448)
    assert yolov1(np.int64(448)) is yolov1()
    assert yolov1(416) is not yolov1(448)


# --- input side from bytes ------------------------------------------------------


def test_input_side_for_yolo_input():
    # 448 * 448 * 3 * 4 bytes = 2,408,448 bytes = 2352 KiB
    assert input_side_for_bytes(2_408_448) == 448
    assert input_side_for_bytes(2352 * 1024) == 448


def test_input_side_rounds_half_up():
    # 10.5**2 * 12 = 1323 bytes, side 10.5 -> 11
    assert input_side_for_bytes(1323) == 11
    # 10.4**2 * 12 = 1297.92 bytes -> 10
    assert input_side_for_bytes(1297.92) == 10


def test_input_side_other_layouts():
    # 100 * 100 * 1 channel * 1 byte
    assert input_side_for_bytes(10_000, channels=1, bytes_per_element=1) == 100


@pytest.mark.parametrize("value", [0, -1.0, math.nan, math.inf])
def test_input_side_invalid_bytes(value):
    with pytest.raises(ValueError, match="d_in_byte must be a finite number > 0"):
        input_side_for_bytes(value)


def test_input_side_too_small():
    # sqrt(1 / 12) = 0.29 rounds to 0. The minimum is 0.25 * 12 = 3 bytes.
    with pytest.raises(ValueError, match="d_in_byte must be >= 3 bytes"):
        input_side_for_bytes(1)
    assert input_side_for_bytes(3) == 1


def test_input_side_invalid_channels():
    with pytest.raises(ValueError, match="channels must be an integer >= 1"):
        input_side_for_bytes(1000, channels=0)
