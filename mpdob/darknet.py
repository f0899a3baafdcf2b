"""Import a Darknet ``.cfg`` model definition as a :class:`~mpdob.cnn.LayerTable`.

Only the tensor shapes are read. Weights, activations, batch normalization
and training options do not change the shapes and are ignored.

The reader follows Darknet's rules for the file format. All whitespace is
removed from a line before it is read, so ``filters = 64`` equals
``filters=64``. A line whose first character is ``#`` or ``;`` is a comment.
A line ``[name]`` starts a section and every other line is ``key=value``.
If a key repeats inside a section, the first value wins. The first section
must be ``[net]`` (or ``[network]``) and gives the input ``width``,
``height`` and ``channels``. Each later section is one layer, and layer
indices count from 0 at the first section after ``[net]``.

Shape rules per section type, with Darknet's defaults in brackets:

* ``[convolutional]`` (``[conv]``): ``filters`` [1], ``size`` [1],
  ``stride`` [1], ``groups`` [1]. ``pad`` other than 0 sets the padding on
  each side to ``size // 2``; otherwise ``padding`` [0] is used. Output side
  ``(in + 2 * padding - size) // stride + 1``.
* ``[local]``: ``filters`` [1], ``size`` [1], ``stride`` [1], ``pad`` [0].
  Output side ``(in - 1) // stride + 1`` if ``pad`` else
  ``(in - size) // stride + 1``, as Darknet's local layer computes it.
* ``[maxpool]`` (``[max]``): ``stride`` [1], ``size`` [stride], ``padding``
  [size - 1], the total over both sides. Output side
  ``(in + padding - size) // stride + 1``.
* ``[avgpool]`` (``[avg]``): global average, output ``1 x 1 x C``.
* ``[connected]`` (``[conn]``): ``output`` [1], output ``1 x 1 x output``.
* ``[route]``: ``layers`` (required), comma-separated indices, negative ones
  relative to the route itself. The outputs are concatenated along the
  channels and must agree in height and width. The concatenated tensor is
  recorded as the route layer's input. ``groups`` [1] (from the
  AlexeyAB fork of Darknet) keeps ``1 / groups`` of the channels.
* ``[shortcut]``: ``from`` (required), same index rule. The output has the
  shape of the previous layer's output.
* ``[upsample]``: ``stride`` [2]. Sides times ``stride``, or divided by
  ``-stride`` when it is negative.
* ``[reorg]``: ``stride`` [1], ``reverse`` [0]. Sides divided by ``stride``
  and channels times ``stride**2``, or the inverse when ``reverse`` is set.
  A non-zero ``extra`` is rejected.
* ``[crop]``: ``crop_height`` [1], ``crop_width`` [1], channels kept.
* ``[dropout]``, ``[softmax]`` (``[soft]``), ``[cost]``, ``[yolo]``,
  ``[region]``, ``[detection]``: output shape equals the input shape.

Any other section type is an error. Darknet itself converts non-integer
numbers with C's ``atoi`` and does not check indices, but this reader raises
:class:`DarknetCfgError` with the line number and the line text instead.
"""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mpdob.cnn import (
    Layer,
    LayerTable,
    convolution_output_size,
    maxpool_output_size,
)

__all__ = ["DarknetCfgError", "SECTION_KINDS", "parse_cfg"]

# Section header, as written in a .cfg file, to the layer type it builds.
# "net" marks the network options section.
SECTION_KINDS: dict[str, str] = {
    "[net]": "net",
    "[network]": "net",
    "[convolutional]": "convolutional",
    "[conv]": "convolutional",
    "[local]": "local",
    "[maxpool]": "maxpool",
    "[max]": "maxpool",
    "[avgpool]": "avgpool",
    "[avg]": "avgpool",
    "[connected]": "connected",
    "[conn]": "connected",
    "[route]": "route",
    "[shortcut]": "shortcut",
    "[upsample]": "upsample",
    "[reorg]": "reorg",
    "[dropout]": "dropout",
    "[softmax]": "softmax",
    "[soft]": "softmax",
    "[cost]": "cost",
    "[yolo]": "yolo",
    "[region]": "region",
    "[detection]": "detection",
    "[crop]": "crop",
}

# Layer types whose output shape equals their input shape.
_SHAPE_PRESERVING = frozenset({"dropout", "softmax", "cost", "yolo", "region", "detection"})

_INTEGER = re.compile(r"[+-]?[0-9]+")
_TEXT_SOURCE = "<cfg text>"


class DarknetCfgError(ValueError):
    """Error for a Darknet .cfg file that cannot be read or describes an invalid network.

    Attributes
    ----------
    source : str
        The file path, or ``"<cfg text>"`` for text passed directly.
    line_number : int or None
        1-based line number of the offending line, None when the file
        cannot be read at all.
    line : str or None
        The offending line without leading and trailing whitespace.
    """

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        line_number: int | None = None,
        line: str | None = None,
    ) -> None:
        if line_number is None:
            message = f"{source}: {problem}"
        else:
            message = f"{source}, line {line_number}: {problem}: {line!r}"
        super().__init__(message)
        self.source = source
        self.line_number = line_number
        self.line = line


@dataclass(frozen=True)
class _Option:
    value: str
    line_number: int
    line: str


@dataclass
class _Section:
    kind: str
    line_number: int
    line: str
    options: dict[str, _Option] = field(default_factory=dict)


@dataclass(frozen=True)
class _Shape:
    height: int
    width: int
    channels: int


class _SectionReader:
    """Typed access to one section's options, raising errors that cite lines."""

    def __init__(self, section: _Section, source: str) -> None:
        self.section = section
        self.source = source

    def error_at_header(self, problem: str) -> DarknetCfgError:
        return DarknetCfgError(
            problem,
            source=self.source,
            line_number=self.section.line_number,
            line=self.section.line,
        )

    def error_at(self, key: str, problem: str) -> DarknetCfgError:
        option = self.section.options.get(key)
        if option is None:
            return self.error_at_header(problem)
        return DarknetCfgError(
            problem, source=self.source, line_number=option.line_number, line=option.line
        )

    def raw(self, key: str) -> str:
        if key not in self.section.options:
            raise self.error_at_header(f"[{self.section.kind}] section has no {key!r} key")
        return self.section.options[key].value

    def integer(self, key: str, default: int | None, minimum: int | None = None) -> int:
        """Return the integer value of ``key``, or ``default`` when absent.

        A None default makes the key required. ``minimum`` bounds the value,
        whether read or defaulted.
        """
        if key in self.section.options:
            text = self.section.options[key].value
            if not _INTEGER.fullmatch(text):
                raise self.error_at(key, f"{key!r} must be an integer, got {text!r}")
            value = int(text)
        elif default is None:
            raise self.error_at_header(f"[{self.section.kind}] section has no {key!r} key")
        else:
            value = default
        if minimum is not None and value < minimum:
            raise self.error_at(key, f"{key!r} must be an integer >= {minimum}, got {value}")
        return value

    def integer_list(self, key: str) -> list[int]:
        """Return the comma-separated integers of a required ``key``."""
        text = self.raw(key)
        items = text.split(",")
        if not all(_INTEGER.fullmatch(item) for item in items):
            raise self.error_at(
                key, f"{key!r} must be a comma-separated list of integers, got {text!r}"
            )
        return [int(item) for item in items]


def _read_text(path_or_text: str | os.PathLike[str]) -> tuple[str, str, str]:
    """Return (text, source label, default model name) of the argument.

    A ``str`` that contains a line break is .cfg text. Any other ``str`` or
    path-like object is a file path.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return path_or_text, _TEXT_SOURCE, "darknet-cfg"
    if not isinstance(path_or_text, (str, os.PathLike)):
        raise TypeError(
            f"path_or_text must be a str or a path-like object, got {type(path_or_text).__name__}"
        )
    path = Path(path_or_text)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DarknetCfgError(
            f"failed to read the .cfg file ({exc.__class__.__name__}: {exc})",
            source=str(path),
        ) from exc
    return text, str(path), path.stem


def _split_sections(text: str, source: str) -> list[_Section]:
    sections: list[_Section] = []
    for line_number, original in enumerate(text.splitlines(), start=1):
        line_text = original.strip()
        line = "".join(original.split())
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise DarknetCfgError(
                    "malformed section header, expected [name]",
                    source=source,
                    line_number=line_number,
                    line=line_text,
                )
            kind = SECTION_KINDS.get(line)
            if kind is None:
                known = ", ".join(sorted(SECTION_KINDS))
                raise DarknetCfgError(
                    f"unknown section type {line} (supported: {known})",
                    source=source,
                    line_number=line_number,
                    line=line_text,
                )
            sections.append(_Section(kind, line_number, line_text))
            continue
        if not sections:
            raise DarknetCfgError(
                "option line outside any section, expected a [net] header before it",
                source=source,
                line_number=line_number,
                line=line_text,
            )
        key, separator, value = line.partition("=")
        if not separator or not key:
            raise DarknetCfgError(
                "malformed line, expected key=value",
                source=source,
                line_number=line_number,
                line=line_text,
            )
        # Darknet looks options up from the top, so the first value wins.
        sections[-1].options.setdefault(key, _Option(value, line_number, line_text))
    return sections


def _input_shape(reader: _SectionReader, input_size: int | tuple[int, int] | None) -> _Shape:
    channels = reader.integer("channels", None, minimum=1)
    if input_size is None:
        height = reader.integer("height", None, minimum=1)
        width = reader.integer("width", None, minimum=1)
    elif isinstance(input_size, tuple):
        height, width = input_size
    else:
        height = width = input_size
    return _Shape(height, width, channels)


def _check_input_size(input_size: object) -> int | tuple[int, int] | None:
    def is_positive_integer(value: object) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1

    if input_size is None:
        return None
    if is_positive_integer(input_size):
        return int(input_size)  # type: ignore[call-overload]
    if (
        isinstance(input_size, tuple)
        and len(input_size) == 2
        and all(is_positive_integer(side) for side in input_size)
    ):
        return (int(input_size[0]), int(input_size[1]))
    raise ValueError(
        "input_size must be None, an integer >= 1 or a (height, width) tuple of "
        f"integers >= 1, got {input_size!r}"
    )


def _resolve_index(reader: _SectionReader, key: str, offset: int, current: int) -> int:
    """Return the absolute layer index of ``offset``, relative when negative."""
    index = current + offset if offset < 0 else offset
    if not 0 <= index < current:
        raise reader.error_at(
            key,
            f"{key!r} refers to layer {offset} (index {index}), which does not "
            f"exist: the layers before this one have indices 0 to {current - 1}",
        )
    return index


def _check_output_size(reader: _SectionReader, shape: _Shape, height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise reader.error_at_header(
            f"output size {height}x{width} is not positive for the input "
            f"{shape.height}x{shape.width}x{shape.channels}"
        )


def _convolutional(reader: _SectionReader, shape: _Shape) -> Layer:
    filters = reader.integer("filters", 1, minimum=1)
    size = reader.integer("size", 1, minimum=1)
    stride = reader.integer("stride", 1, minimum=1)
    groups = reader.integer("groups", 1, minimum=1)
    padding = reader.integer("padding", 0, minimum=0)
    if reader.integer("pad", 0) != 0:
        padding = size // 2
    if shape.channels % groups != 0:
        raise reader.error_at(
            "groups",
            f"'groups' must divide the {shape.channels} input channels, got {groups}",
        )
    height = convolution_output_size(shape.height, size, stride, padding)
    width = convolution_output_size(shape.width, size, stride, padding)
    _check_output_size(reader, shape, height, width)
    return _layer("convolutional", shape, _Shape(height, width, filters), size, stride, groups)


def _local(reader: _SectionReader, shape: _Shape) -> Layer:
    filters = reader.integer("filters", 1, minimum=1)
    size = reader.integer("size", 1, minimum=1)
    stride = reader.integer("stride", 1, minimum=1)
    # Darknet's local layer shrinks each side by 1 when padded and by the
    # kernel size otherwise, which equals "same" padding for odd sizes.
    shrink = 1 if reader.integer("pad", 0) != 0 else size
    height = (shape.height - shrink) // stride + 1
    width = (shape.width - shrink) // stride + 1
    _check_output_size(reader, shape, height, width)
    return _layer("local", shape, _Shape(height, width, filters), size, stride)


def _maxpool(reader: _SectionReader, shape: _Shape) -> Layer:
    stride = reader.integer("stride", 1, minimum=1)
    size = reader.integer("size", stride, minimum=1)
    padding = reader.integer("padding", size - 1, minimum=0)
    height = maxpool_output_size(shape.height, size, stride, padding)
    width = maxpool_output_size(shape.width, size, stride, padding)
    _check_output_size(reader, shape, height, width)
    return _layer("maxpool", shape, _Shape(height, width, shape.channels), size, stride)


def _avgpool(reader: _SectionReader, shape: _Shape) -> Layer:
    return _layer("avgpool", shape, _Shape(1, 1, shape.channels))


def _connected(reader: _SectionReader, shape: _Shape) -> Layer:
    outputs = reader.integer("output", 1, minimum=1)
    return _layer("connected", shape, _Shape(1, 1, outputs))


def _upsample(reader: _SectionReader, shape: _Shape) -> Layer:
    stride = reader.integer("stride", 2)
    if stride == 0:
        raise reader.error_at("stride", "'stride' must be a non-zero integer, got 0")
    if stride > 0:
        height, width = shape.height * stride, shape.width * stride
    else:
        height, width = shape.height // -stride, shape.width // -stride
    _check_output_size(reader, shape, height, width)
    return _layer("upsample", shape, _Shape(height, width, shape.channels), 0, abs(stride))


def _reorg(reader: _SectionReader, shape: _Shape) -> Layer:
    stride = reader.integer("stride", 1, minimum=1)
    if reader.integer("extra", 0) != 0:
        raise reader.error_at("extra", "reorg with 'extra' outputs is not supported")
    area = stride * stride
    if reader.integer("reverse", 0) != 0:
        if shape.channels % area != 0:
            raise reader.error_at(
                "stride",
                f"reverse reorg needs channels divisible by stride**2 = {area}, "
                f"got {shape.channels} channels",
            )
        output = _Shape(shape.height * stride, shape.width * stride, shape.channels // area)
    else:
        output = _Shape(shape.height // stride, shape.width // stride, shape.channels * area)
    _check_output_size(reader, shape, output.height, output.width)
    return _layer("reorg", shape, output, 0, stride)


def _crop(reader: _SectionReader, shape: _Shape) -> Layer:
    height = reader.integer("crop_height", 1, minimum=1)
    width = reader.integer("crop_width", 1, minimum=1)
    if height > shape.height or width > shape.width:
        raise reader.error_at_header(
            f"crop {height}x{width} is larger than the input {shape.height}x{shape.width}"
        )
    return _layer("crop", shape, _Shape(height, width, shape.channels))


def _layer(
    kind: str,
    shape: _Shape,
    output: _Shape,
    kernel_size: int = 0,
    stride: int = 0,
    groups: int = 1,
) -> Layer:
    return Layer(
        kind=kind,
        input_height=shape.height,
        input_width=shape.width,
        input_channels=shape.channels,
        kernel_size=kernel_size,
        stride=stride,
        groups=groups,
        output_height=output.height,
        output_width=output.width,
        output_channels=output.channels,
    )


_SIMPLE_BUILDERS: dict[str, Callable[[_SectionReader, _Shape], Layer]] = {
    "convolutional": _convolutional,
    "local": _local,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "connected": _connected,
    "upsample": _upsample,
    "reorg": _reorg,
    "crop": _crop,
}


def _route(reader: _SectionReader, outputs: list[_Shape]) -> Layer:
    """Build a route layer, whose input is its concatenated sources."""
    current = len(outputs)
    offsets = reader.integer_list("layers")
    sources = [_resolve_index(reader, "layers", offset, current) for offset in offsets]
    first = outputs[sources[0]]
    for index in sources[1:]:
        other = outputs[index]
        if (other.height, other.width) != (first.height, first.width):
            raise reader.error_at(
                "layers",
                f"route inputs differ in size: layer {sources[0]} outputs "
                f"{first.height}x{first.width}, layer {index} outputs "
                f"{other.height}x{other.width}",
            )
    channels = sum(outputs[index].channels for index in sources)
    groups = reader.integer("groups", 1, minimum=1)
    if channels % groups != 0:
        raise reader.error_at(
            "groups",
            f"'groups' must divide the {channels} concatenated channels, got {groups}",
        )
    concatenated = _Shape(first.height, first.width, channels)
    output = _Shape(first.height, first.width, channels // groups)
    return _layer("route", concatenated, output)


def _shortcut(reader: _SectionReader, outputs: list[_Shape], shape: _Shape) -> Layer:
    current = len(outputs)
    offset = reader.integer("from", None)
    _resolve_index(reader, "from", offset, current)
    return _layer("shortcut", shape, shape)


def parse_cfg(
    path_or_text: str | os.PathLike[str],
    input_size: int | tuple[int, int] | None = None,
    *,
    name: str | None = None,
) -> LayerTable:
    """Read a Darknet .cfg model definition into a layer table.

    Parameters
    ----------
    path_or_text : str or path-like
        Path of the .cfg file, or the .cfg text itself. A ``str`` is taken as
        text when it contains a line break and as a path otherwise.
    input_size : int or (int, int) or None
        Input side in pixels, or a (height, width) pair, each >= 1. It
        overrides ``width`` and ``height`` of the ``[net]`` section. None
        keeps the file's values.
    name : str or None
        Model name for the table. None uses the file name without its
        extension, or ``"darknet-cfg"`` for text.

    Returns
    -------
    LayerTable
        One layer per section after ``[net]``, in file order.

    Raises
    ------
    DarknetCfgError
        If the file cannot be read or its content breaks a rule listed in
        the module docstring. The message gives the line number and text.
    """
    input_size = _check_input_size(input_size)
    text, source, default_name = _read_text(path_or_text)
    sections = _split_sections(text, source)
    if not sections:
        raise DarknetCfgError(
            "missing [net] section: the file contains no sections",
            source=source,
            line_number=1,
            line=text.splitlines()[0].strip() if text.strip() else "",
        )
    if sections[0].kind != "net":
        raise _SectionReader(sections[0], source).error_at_header(
            "missing [net] section: the first section must be [net] or [network]"
        )

    shape = _input_shape(_SectionReader(sections[0], source), input_size)
    outputs: list[_Shape] = []
    layers: list[Layer] = []
    for section in sections[1:]:
        reader = _SectionReader(section, source)
        if section.kind == "net":
            raise reader.error_at_header("[net] is allowed only as the first section")
        if section.kind in ("route", "shortcut") and not outputs:
            raise reader.error_at_header(
                f"[{section.kind}] cannot be the first layer because it reads earlier layers"
            )
        if section.kind == "route":
            layer = _route(reader, outputs)
        elif section.kind == "shortcut":
            layer = _shortcut(reader, outputs, shape)
        elif section.kind in _SHAPE_PRESERVING:
            layer = _layer(section.kind, shape, shape)
        else:
            layer = _SIMPLE_BUILDERS[section.kind](reader, shape)
        layers.append(layer)
        shape = _Shape(layer.output_height, layer.output_width, layer.output_channels)
        outputs.append(shape)

    if not layers:
        raise _SectionReader(sections[0], source).error_at_header(
            "the network has no layers: no section follows [net]"
        )
    return LayerTable(name=name if name is not None else default_name, layers=tuple(layers))
