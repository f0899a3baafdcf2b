"""Tests for the Darknet .cfg importer, on fixtures written for this project.

Expected shapes are worked out by hand in the comments, as (height, width,
channels) with Darknet's rules: convolution ``(in + 2*pad - size)//stride + 1``
and maxpool ``(in + padding - size)//stride + 1`` with padding the total.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mpdob.cnn import total_flop
from mpdob.darknet import DarknetCfgError, parse_cfg

FIXTURES = Path(__file__).parent / "fixtures" / "darknet"


def shapes(table):
    """Return [(kind, input (h, w, c), output (h, w, c))] per layer."""
    return [
        (
            layer.kind,
            (layer.input_height, layer.input_width, layer.input_channels),
            (layer.output_height, layer.output_width, layer.output_channels),
        )
        for layer in table.layers
    ]


def cfg_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


NET_8x8x3 = ("[net]", "width=8", "height=8", "channels=3")


# --- published total -------------------------------------------------------


def test_tiny_yolo3_published_total():
    table = parse_cfg(FIXTURES / "tiny_yolo3_416.cfg")
    # 2 * H_out * W_out * C_out * K^2 * C_in per convolution:
    expected = (
        2 * 416 * 416 * 16 * 9 * 3  # 0: 3x3, 3 -> 16 at 416
        + 2 * 208 * 208 * 32 * 9 * 16  # 2: at 208
        + 2 * 104 * 104 * 64 * 9 * 32  # 4: at 104
        + 2 * 52 * 52 * 128 * 9 * 64  # 6: at 52
        + 2 * 26 * 26 * 256 * 9 * 128  # 8: at 26
        + 2 * 13 * 13 * 512 * 9 * 256  # 10: at 13
        + 2 * 13 * 13 * 1024 * 9 * 512  # 12: after the 2x2 stride-1 maxpool
        + 2 * 13 * 13 * 256 * 1 * 1024  # 13: 1x1
        + 2 * 13 * 13 * 512 * 9 * 256  # 14
        + 2 * 13 * 13 * 255 * 1 * 512  # 15: 3 * (80 + 5) = 255 outputs
        + 2 * 13 * 13 * 128 * 1 * 256  # 18: after route -4 to layer 13
        + 2 * 26 * 26 * 256 * 9 * 384  # 21: route of upsampled 128 + layer 8's 256
        + 2 * 26 * 26 * 255 * 1 * 256  # 22
    )
    assert expected == 5_564_961_792
    assert total_flop(table) == expected
    # Darknet reports 5.56 billion for this network at 416x416.
    assert abs(total_flop(table) - 5.56e9) <= 0.01e9


def test_tiny_yolo3_layer_shapes():
    table = parse_cfg(FIXTURES / "tiny_yolo3_416.cfg")
    assert table.name == "tiny_yolo3_416"
    assert len(table) == 24
    got = shapes(table)
    assert got[11] == ("maxpool", (13, 13, 512), (13, 13, 512))
    assert got[16] == ("yolo", (13, 13, 255), (13, 13, 255))
    assert got[17] == ("route", (13, 13, 256), (13, 13, 256))
    assert got[19] == ("upsample", (13, 13, 128), (26, 26, 128))
    assert got[20] == ("route", (26, 26, 384), (26, 26, 384))
    assert got[23] == ("yolo", (26, 26, 255), (26, 26, 255))


def test_tiny_yolo3_input_size_override():
    table = parse_cfg(FIXTURES / "tiny_yolo3_416.cfg", input_size=320)
    # 320 / 2**5 = 10 at the first head, 20 at the second.
    assert shapes(table)[15][2] == (10, 10, 255)
    assert shapes(table)[22][2] == (20, 20, 255)


def test_input_size_tuple_is_height_width():
    table = parse_cfg(FIXTURES / "tiny_yolo3_416.cfg", input_size=(320, 416))
    assert shapes(table)[0][1] == (320, 416, 3)
    assert shapes(table)[15][2] == (10, 13, 255)


def test_input_size_numpy_integer():
    table = parse_cfg(FIXTURES / "tiny_yolo3_416.cfg", input_size=np.int64(320))
    assert shapes(table)[0][1] == (320, 320, 3)


@pytest.mark.parametrize("bad", [0, -416, (416,), (416, 0), 416.0, True, "416"])
def test_input_size_invalid(bad):
    with pytest.raises(ValueError, match="input_size"):
        parse_cfg(FIXTURES / "tiny_yolo3_416.cfg", input_size=bad)


# --- one test per shape rule -----------------------------------------------


def test_convolution_rules():
    table = parse_cfg(FIXTURES / "convolution_rules.cfg")
    assert shapes(table) == [
        # pad=1 -> padding 1: (24+2-3)//2+1 = 12, (32+2-3)//2+1 = 16
        ("convolutional", (24, 32, 4), (12, 16, 8)),
        # padding=2, size 5: (12+4-5)//1+1 = 12, (16+4-5)//1+1 = 16
        ("convolutional", (12, 16, 8), (12, 16, 8)),
        # no padding, size 3: 12-3+1 = 10, 16-3+1 = 14
        ("convolutional", (12, 16, 8), (10, 14, 6)),
        # 1x1, groups=2
        ("convolutional", (10, 14, 6), (10, 14, 4)),
        # [conv] alias with the defaults size=1, stride=1
        ("convolutional", (10, 14, 4), (10, 14, 2)),
    ]
    assert [layer.groups for layer in table.layers] == [1, 1, 1, 2, 1]
    assert [layer.kernel_size for layer in table.layers] == [3, 5, 3, 1, 1]
    assert [layer.stride for layer in table.layers] == [2, 1, 1, 1, 1]
    expected = (
        2 * 12 * 16 * 8 * 9 * 4
        + 2 * 12 * 16 * 8 * 25 * 8
        + 2 * 10 * 14 * 6 * 9 * 8
        + 2 * 10 * 14 * 4 * 1 * 3  # 6 input channels / 2 groups
        + 2 * 10 * 14 * 2 * 1 * 4
    )
    assert expected == 851_552
    assert total_flop(table) == expected


def test_pooling_rules():
    table = parse_cfg(FIXTURES / "pooling_rules.cfg")
    assert shapes(table) == [
        ("maxpool", (13, 13, 4), (13, 13, 4)),  # (13+1-2)//1+1
        ("maxpool", (13, 13, 4), (7, 7, 4)),  # (13+1-2)//2+1
        ("maxpool", (7, 7, 4), (3, 3, 4)),  # (7+0-3)//2+1
        ("maxpool", (3, 3, 4), (2, 2, 4)),  # size = stride = 2: (3+1-2)//2+1
        ("avgpool", (2, 2, 4), (1, 1, 4)),
    ]
    assert [layer.kernel_size for layer in table.layers] == [2, 2, 3, 2, 0]
    assert total_flop(table) == 0


def test_routing_rules():
    table = parse_cfg(FIXTURES / "routing_rules.cfg")
    assert shapes(table) == [
        ("convolutional", (16, 16, 3), (16, 16, 8)),  # 0
        ("convolutional", (16, 16, 8), (16, 16, 8)),  # 1
        ("shortcut", (16, 16, 8), (16, 16, 8)),  # 2: from layer 0
        ("route", (16, 16, 8), (16, 16, 8)),  # 3: layer 0
        ("route", (16, 16, 24), (16, 16, 24)),  # 4: layers 3, 1, 2 = 8 + 8 + 8
        ("reorg", (16, 16, 24), (8, 8, 96)),  # 5: 16/2, 24 * 2**2
        ("upsample", (8, 8, 96), (32, 32, 96)),  # 6: 8 * 4
        ("upsample", (32, 32, 96), (16, 16, 96)),  # 7: 32 / 2
        ("reorg", (16, 16, 96), (32, 32, 24)),  # 8: reverse, 16 * 2, 96 / 4
        ("route", (32, 32, 24), (32, 32, 12)),  # 9: groups=2
    ]
    assert total_flop(table) == 2 * 256 * 8 * 9 * 3 + 2 * 256 * 8 * 9 * 8


def test_head_rules():
    table = parse_cfg(FIXTURES / "head_rules.cfg")
    assert shapes(table) == [
        ("crop", (10, 10, 2), (8, 6, 2)),
        ("local", (8, 6, 2), (8, 6, 4)),  # padded: (8-1)//1+1, (6-1)//1+1
        ("local", (8, 6, 4), (3, 2, 5)),  # unpadded: (8-3)//2+1, (6-3)//2+1
        ("dropout", (3, 2, 5), (3, 2, 5)),
        ("connected", (3, 2, 5), (1, 1, 12)),  # 3*2*5 = 30 inputs
        ("connected", (1, 1, 12), (1, 1, 6)),  # [conn] alias
        ("softmax", (1, 1, 6), (1, 1, 6)),
        ("softmax", (1, 1, 6), (1, 1, 6)),  # [soft] alias
        ("region", (1, 1, 6), (1, 1, 6)),
        ("detection", (1, 1, 6), (1, 1, 6)),
        ("yolo", (1, 1, 6), (1, 1, 6)),
        ("cost", (1, 1, 6), (1, 1, 6)),
    ]
    expected = (
        2 * 8 * 6 * 4 * 9 * 2  # local, output size like a convolution
        + 2 * 3 * 2 * 5 * 9 * 4
        + 2 * 30 * 12  # connected: 2 * inputs * outputs
        + 2 * 12 * 6
    )
    assert expected == 9_936
    assert total_flop(table) == expected


def test_file_format_rules():
    # Spaces and tabs inside lines, # and ; comments, blank lines, and a
    # repeated key whose first value wins (width=8, size=3).
    table = parse_cfg(FIXTURES / "file_format.cfg")
    assert shapes(table) == [("convolutional", (8, 8, 1), (8, 8, 3))]
    assert table[0].kernel_size == 3


def test_crlf_line_endings():
    table = parse_cfg(FIXTURES / "crlf_line_endings.cfg")
    assert shapes(table) == [("dropout", (4, 4, 1), (4, 4, 1))]


def test_text_argument_and_name():
    text = cfg_text(*NET_8x8x3, "[maxpool]", "size=2", "stride=2")
    table = parse_cfg(text)
    assert table.name == "darknet-cfg"
    assert shapes(table) == [("maxpool", (8, 8, 3), (4, 4, 3))]
    assert parse_cfg(text, name="toy").name == "toy"


def test_path_string_argument():
    table = parse_cfg(str(FIXTURES / "pooling_rules.cfg"))
    assert table.name == "pooling_rules"
    assert len(table) == 5


# --- errors name the line --------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "line_number", "line", "problem"),
    [
        ("error_outside_section.cfg", 2, "width=416", "outside any section"),
        ("error_malformed_line.cfg", 6, "filters 16", "expected key=value"),
        ("error_non_integer.cfg", 7, "size=3.5", "'size' must be an integer"),
        ("error_unknown_section.cfg", 5, "[lstm]", "unknown section type [lstm]"),
        ("error_route_missing_layer.cfg", 8, "layers=-1,5", "does not exist"),
        ("error_route_size_mismatch.cfg", 11, "layers=-1, -2", "differ in size"),
        ("error_missing_net.cfg", 2, "[convolutional]", "missing [net] section"),
    ],
)
def test_error_fixture_names_line(fixture, line_number, line, problem):
    path = FIXTURES / fixture
    with pytest.raises(DarknetCfgError) as caught:
        parse_cfg(path)
    error = caught.value
    assert error.line_number == line_number
    assert error.line == line
    assert error.source == str(path)
    message = str(error)
    assert f"line {line_number}" in message
    assert repr(line) in message
    assert problem in message


def test_route_mismatch_message_gives_sizes():
    with pytest.raises(DarknetCfgError) as caught:
        parse_cfg(FIXTURES / "error_route_size_mismatch.cfg")
    # layer 1 (maxpool) is 4x4, layer 0 (convolution) is 8x8
    assert "layer 1 outputs 4x4, layer 0 outputs 8x8" in str(caught.value)


def test_unreadable_path_named():
    missing = FIXTURES / "no_such_file.cfg"
    with pytest.raises(DarknetCfgError, match="no_such_file.cfg") as caught:
        parse_cfg(missing)
    assert caught.value.line_number is None
    assert "failed to read" in str(caught.value)


def test_directory_path_rejected():
    with pytest.raises(DarknetCfgError, match="failed to read"):
        parse_cfg(FIXTURES)


def test_non_utf8_file_rejected(tmp_path):
    path = tmp_path / "latin1.cfg"
    path.write_bytes(b"[net]\n# caf\xe9\n")
    with pytest.raises(DarknetCfgError, match="latin1.cfg"):
        parse_cfg(path)


def test_path_type_rejected():
    with pytest.raises(TypeError, match="path_or_text"):
        parse_cfg(42)


def test_empty_file_missing_net(tmp_path):
    path = tmp_path / "empty.cfg"
    path.write_text("# only a comment\n")
    with pytest.raises(DarknetCfgError, match="missing \\[net\\]") as caught:
        parse_cfg(path)
    assert caught.value.line_number == 1


def test_no_layers_rejected():
    with pytest.raises(DarknetCfgError, match="no layers") as caught:
        parse_cfg(cfg_text(*NET_8x8x3))
    assert caught.value.line_number == 1


def test_second_net_rejected():
    text = cfg_text(*NET_8x8x3, "[dropout]", "[network]")
    with pytest.raises(DarknetCfgError, match="only as the first section") as caught:
        parse_cfg(text)
    assert caught.value.line_number == 6


@pytest.mark.parametrize("key", ["width", "height", "channels"])
def test_net_key_missing(key):
    lines = [line for line in NET_8x8x3 if not line.startswith(key)]
    with pytest.raises(DarknetCfgError, match=f"no '{key}' key") as caught:
        parse_cfg(cfg_text(*lines, "[dropout]"))
    assert caught.value.line == "[net]"


def test_input_size_replaces_missing_width():
    table = parse_cfg(cfg_text("[net]", "channels=3", "[dropout]"), input_size=5)
    assert shapes(table) == [("dropout", (5, 5, 3), (5, 5, 3))]


def test_malformed_header_rejected():
    text = cfg_text(*NET_8x8x3, "[dropout")
    with pytest.raises(DarknetCfgError, match="malformed section header") as caught:
        parse_cfg(text)
    assert caught.value.line_number == 5


def test_empty_key_rejected():
    text = cfg_text(*NET_8x8x3, "[dropout]", "=5")
    with pytest.raises(DarknetCfgError, match="key=value") as caught:
        parse_cfg(text)
    assert caught.value.line_number == 6


def test_route_layers_missing():
    text = cfg_text(*NET_8x8x3, "[dropout]", "[route]")
    with pytest.raises(DarknetCfgError, match="no 'layers' key") as caught:
        parse_cfg(text)
    assert caught.value.line_number == 6


def test_route_layers_not_integers():
    text = cfg_text(*NET_8x8x3, "[dropout]", "[route]", "layers=-1,x")
    with pytest.raises(DarknetCfgError, match="list of integers") as caught:
        parse_cfg(text)
    assert caught.value.line == "layers=-1,x"


def test_route_to_itself_rejected():
    # The route is layer 1, so index 1 is not an earlier layer.
    text = cfg_text(*NET_8x8x3, "[dropout]", "[route]", "layers=1")
    with pytest.raises(DarknetCfgError, match="indices 0 to 0"):
        parse_cfg(text)


def test_route_too_far_back_rejected():
    # -2 from layer 1 is index -1.
    text = cfg_text(*NET_8x8x3, "[dropout]", "[route]", "layers=-2")
    with pytest.raises(DarknetCfgError, match="index -1"):
        parse_cfg(text)


def test_route_as_first_layer_rejected():
    text = cfg_text(*NET_8x8x3, "[route]", "layers=-1")
    with pytest.raises(DarknetCfgError, match="cannot be the first layer"):
        parse_cfg(text)


def test_shortcut_from_missing_layer():
    text = cfg_text(*NET_8x8x3, "[dropout]", "[shortcut]", "from=-3")
    with pytest.raises(DarknetCfgError, match="does not exist") as caught:
        parse_cfg(text)
    assert caught.value.line == "from=-3"


def test_shortcut_from_required():
    text = cfg_text(*NET_8x8x3, "[dropout]", "[shortcut]")
    with pytest.raises(DarknetCfgError, match="no 'from' key"):
        parse_cfg(text)


def test_convolution_output_not_positive():
    # (8 + 0 - 9)//1 + 1 = 0
    text = cfg_text(*NET_8x8x3, "[convolutional]", "size=9")
    with pytest.raises(DarknetCfgError, match="output size 0x0") as caught:
        parse_cfg(text)
    assert caught.value.line_number == 5


def test_groups_must_divide_channels():
    text = cfg_text(*NET_8x8x3, "[convolutional]", "groups=2")
    with pytest.raises(DarknetCfgError, match="must divide the 3 input channels"):
        parse_cfg(text)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("filters=0", "'filters' must be an integer >= 1"),
        ("stride=0", "'stride' must be an integer >= 1"),
        ("padding=-1", "'padding' must be an integer >= 0"),
        ("filters=", "'filters' must be an integer, got ''"),
        ("size=1e3", "'size' must be an integer"),
    ],
)
def test_convolution_value_out_of_range(line, problem):
    text = cfg_text(*NET_8x8x3, "[convolutional]", line)
    with pytest.raises(DarknetCfgError, match=problem) as caught:
        parse_cfg(text)
    assert caught.value.line_number == 6


def test_crop_larger_than_input():
    text = cfg_text(*NET_8x8x3, "[crop]", "crop_height=9", "crop_width=4")
    with pytest.raises(DarknetCfgError, match="larger than the input 8x8"):
        parse_cfg(text)


def test_upsample_zero_stride():
    text = cfg_text(*NET_8x8x3, "[upsample]", "stride=0")
    with pytest.raises(DarknetCfgError, match="non-zero"):
        parse_cfg(text)


def test_reverse_reorg_channels():
    # 3 channels cannot be split over 2**2 = 4 positions.
    text = cfg_text(*NET_8x8x3, "[reorg]", "stride=2", "reverse=1")
    with pytest.raises(DarknetCfgError, match="divisible by stride"):
        parse_cfg(text)


def test_reorg_extra_rejected():
    text = cfg_text(*NET_8x8x3, "[reorg]", "stride=2", "extra=3")
    with pytest.raises(DarknetCfgError, match="'extra'") as caught:
        parse_cfg(text)
    assert caught.value.line == "extra=3"


def test_section_names_case_sensitive():
    # Darknet compares section names exactly, so [Net] is unknown.
    with pytest.raises(DarknetCfgError, match="unknown section type"):
        parse_cfg(cfg_text("[Net]", "width=8"))


def test_error_is_value_error():
    assert issubclass(DarknetCfgError, ValueError)
