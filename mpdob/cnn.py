"""Describe a CNN layer by layer and choose where to partition it.

A :class:`LayerTable` lists the input and output tensor shape of each layer.
From it this module computes the partition costs of the MP-DOB paper
("Human-centric Service Offloading with CNN Partitioning in Cloud-Edge
Computing-Empowered Industrial Metaverse"):

* eq. (1) ``chi_com``: computation load of the tail that starts at a layer,
* eq. (2) ``chi_mem``: memory load of that tail,
* eq. (3) ``chi_trans``: elements of the tensor sent at the cut,
* eq. (4)-(6): revenue, cost and the profit rate ``rho`` whose maximum is
  the partition point (PDP),

and, beside the paper's proxies, the exact FLOP count of each layer, which is
what the latency and energy model uses for ``psi_head`` and ``psi_tail``.

Layers are indexed from 0 in code. The paper numbers them ``l_1 .. l_L``, so
code index ``i`` is the paper's layer ``l_{i+1}``.

The module also builds the YOLO network of Redmon et al., "You Only Look
Once: Unified, Real-Time Object Detection", CVPR 2016, for any square input
size (:func:`yolov1`).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = [
    "LAYER_KINDS",
    "WEIGHTED_KINDS",
    "Layer",
    "LayerCosts",
    "LayerTable",
    "PartitionPoint",
    "computation_terms",
    "convolution_output_size",
    "input_side_for_bytes",
    "layer_costs",
    "layer_flop",
    "maxpool_output_size",
    "memory_terms",
    "select_pdp",
    "total_flop",
    "yolov1",
]

# Layer types, named as Darknet names its .cfg sections.
LAYER_KINDS = frozenset(
    {
        "convolutional",
        "local",
        "connected",
        "maxpool",
        "avgpool",
        "route",
        "shortcut",
        "upsample",
        "reorg",
        "dropout",
        "yolo",
        "region",
        "detection",
        "cost",
        "softmax",
        "crop",
    }
)

# Layer types with trainable weights. Only these contribute to chi_com, to
# the weight term of chi_mem and to the exact FLOP count.
WEIGHTED_KINDS = frozenset({"convolutional", "local", "connected"})

# The CVPR 2016 YOLO: (kernel size, filters, stride) per convolution and
# None per 2x2 stride-2 maxpool, in network order (Figure 3 of that paper).
_YOLOV1_FEATURES: tuple[tuple[int, int, int] | None, ...] = (
    (7, 64, 2),
    None,
    (3, 192, 1),
    None,
    (1, 128, 1),
    (3, 256, 1),
    (1, 256, 1),
    (3, 512, 1),
    None,
    *((1, 256, 1), (3, 512, 1)) * 4,
    (1, 512, 1),
    (3, 1024, 1),
    None,
    *((1, 512, 1), (3, 1024, 1)) * 2,
    (3, 1024, 1),
    (3, 1024, 2),
    (3, 1024, 1),
    (3, 1024, 1),
)
_YOLOV1_HIDDEN_UNITS = 4096
# S x S x (B * 5 + C) = 7 x 7 x (2 * 5 + 20) for PASCAL VOC.
_YOLOV1_OUTPUT_UNITS = 7 * 7 * 30
_YOLOV1_MIN_INPUT_SIZE = 64


def _check_integer(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int, or raise unless it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_real(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite number > 0, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def convolution_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Return the output side of a convolution by Darknet's rule.

    ``(size + 2 * padding - kernel_size) // stride + 1``, where ``padding`` is
    added on each side. The result is zero or negative when the kernel does
    not fit, so callers must check it.
    """
    return (size + 2 * padding - kernel_size) // stride + 1


def maxpool_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """Return the output side of a max pooling layer by Darknet's rule.

    ``(size + padding - kernel_size) // stride + 1``. Unlike the convolution,
    ``padding`` is the total over both sides, and Darknet's default is
    ``kernel_size - 1``, so a 2x2 stride-1 maxpool keeps the size.
    """
    return (size + padding - kernel_size) // stride + 1


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer: its type, input and output tensor shape and its kernel.

    Shapes are in elements (height x width x channels). ``kernel_size`` and
    ``stride`` are 0 for layers without a spatial window (connected, route,
    shortcut, dropout, detection heads). ``groups`` is the number of
    convolution groups and 1 for every other layer. A connected layer
    records the real shape of the tensor it flattens as its input and
    ``1 x 1 x outputs`` as its output.
    """

    kind: str
    input_height: int
    input_width: int
    input_channels: int
    kernel_size: int = 0
    stride: int = 0
    groups: int = 1
    output_height: int
    output_width: int
    output_channels: int

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in LAYER_KINDS:
            raise ValueError(f"Layer.kind must be one of {sorted(LAYER_KINDS)}, got {self.kind!r}")
        minimums = {
            "input_height": 1,
            "input_width": 1,
            "input_channels": 1,
            "kernel_size": 0,
            "stride": 0,
            "groups": 1,
            "output_height": 1,
            "output_width": 1,
            "output_channels": 1,
        }
        for field_name, minimum in minimums.items():
            value = _check_integer(f"Layer.{field_name}", getattr(self, field_name), minimum)
            # Store numpy integers as plain ints so that records compare and
            # hash the same whatever built them.
            object.__setattr__(self, field_name, value)
        if self.input_channels % self.groups != 0:
            raise ValueError(
                "Layer.input_channels must be a multiple of Layer.groups, got "
                f"input_channels={self.input_channels}, groups={self.groups}"
            )

    @property
    def input_elements(self) -> int:
        """Number of elements of the input tensor."""
        return self.input_height * self.input_width * self.input_channels

    @property
    def output_elements(self) -> int:
        """Number of elements of the output tensor."""
        return self.output_height * self.output_width * self.output_channels


@dataclass(frozen=True)
class LayerTable:
    """The layers of one CNN in execution order.

    Parameters
    ----------
    name : str
        Model name, used in reports.
    layers : sequence of Layer
        At least one layer. It is stored as a tuple.

    Notes
    -----
    ``len(table)`` is the number of layers L. Each column of the table is
    available as a read-only numpy array of shape (L,): ``kind`` (str) and
    the int64 columns ``input_height``, ``input_width``, ``input_channels``,
    ``kernel_size``, ``stride``, ``groups``, ``output_height``,
    ``output_width``, ``output_channels``, ``input_elements`` and
    ``output_elements``.
    """

    name: str
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"LayerTable.name must be a non-empty str, got {self.name!r}")
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("LayerTable.layers must contain at least 1 layer, got 0")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"LayerTable.layers[{index}] must be a Layer, got {type(layer).__name__}"
                )
        object.__setattr__(self, "layers", layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def _column(self, field_name: str, dtype: type | None = np.int64) -> np.ndarray:
        values = [getattr(layer, field_name) for layer in self.layers]
        column = np.array(values, dtype=dtype)
        column.flags.writeable = False
        return column

    @cached_property
    def kind(self) -> np.ndarray:
        """Layer type of each layer, shape (L,), str."""
        return self._column("kind", dtype=None)

    @cached_property
    def input_height(self) -> np.ndarray:
        """Input tensor height, shape (L,), elements."""
        return self._column("input_height")

    @cached_property
    def input_width(self) -> np.ndarray:
        """Input tensor width, shape (L,), elements."""
        return self._column("input_width")

    @cached_property
    def input_channels(self) -> np.ndarray:
        """Input tensor channels, shape (L,)."""
        return self._column("input_channels")

    @cached_property
    def kernel_size(self) -> np.ndarray:
        """Kernel side, shape (L,), 0 for layers without a spatial window."""
        return self._column("kernel_size")

    @cached_property
    def stride(self) -> np.ndarray:
        """Stride, shape (L,), 0 for layers without a spatial window."""
        return self._column("stride")

    @cached_property
    def groups(self) -> np.ndarray:
        """Convolution groups, shape (L,), 1 for other layers."""
        return self._column("groups")

    @cached_property
    def output_height(self) -> np.ndarray:
        """Output tensor height, shape (L,), elements."""
        return self._column("output_height")

    @cached_property
    def output_width(self) -> np.ndarray:
        """Output tensor width, shape (L,), elements."""
        return self._column("output_width")

    @cached_property
    def output_channels(self) -> np.ndarray:
        """Output tensor channels, shape (L,)."""
        return self._column("output_channels")

    @cached_property
    def input_elements(self) -> np.ndarray:
        """Elements of the input tensor, shape (L,)."""
        return self._column("input_elements")

    @cached_property
    def output_elements(self) -> np.ndarray:
        """Elements of the output tensor, shape (L,)."""
        return self._column("output_elements")


@dataclass(frozen=True, eq=False)
class LayerCosts:
    """Per-layer partition costs of one table, each an array of shape (L,).

    Attributes
    ----------
    chi_com : numpy.ndarray of int64
        Eq. (1): multiply-accumulates of the tail that starts at each layer.
    chi_mem : numpy.ndarray of int64
        Eq. (2): elements held by the tail that starts at each layer.
    chi_trans : numpy.ndarray of int64
        Eq. (3): elements of each layer's input tensor.
    flop : numpy.ndarray of int64
        Exact FLOP of each layer alone (not cumulative).
    rho : numpy.ndarray of float64
        Eq. (6): profit rate of cutting before each layer.
    """

    chi_com: np.ndarray
    chi_mem: np.ndarray
    chi_trans: np.ndarray
    flop: np.ndarray
    rho: np.ndarray


@dataclass(frozen=True, eq=False)
class PartitionPoint:
    """The partition point (PDP) of a CNN and the sizes of its two parts.

    Attributes
    ----------
    index : int
        0-based index of the PDP layer. The head is layers ``0 .. index-1``
        and the tail is layers ``index .. L-1``. Index 0 leaves the head
        empty.
    rho : numpy.ndarray of float64
        Profit rate of every layer (eq. 6), shape (L,).
    psi_head_flop : int
        Exact FLOP of the head.
    psi_tail_flop : int
        Exact FLOP of the tail.
    d_med_bit : int
        Size of the PDP layer's input tensor, the data sent at the cut, bit.
    d_in_bit : int
        Size of the network's input tensor, bit.
    d_out_bit : int
        Size of the last layer's output tensor, bit.
    """

    index: int
    rho: np.ndarray
    psi_head_flop: int
    psi_tail_flop: int
    d_med_bit: int
    d_in_bit: int
    d_out_bit: int


def _suffix_sum(values: np.ndarray) -> np.ndarray:
    """Return ``out[i] = sum(values[i:])``."""
    return np.cumsum(values[::-1])[::-1]


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _paper_operands(table: LayerTable) -> tuple[np.ndarray, ...]:
    """Return (H_in, W_in, C_in per group, K, C_out) as eq. (1)-(2) read them.

    A connected layer counts as a 1x1 layer whose input channels are all of
    its flattened inputs, with K = 1.
    """
    connected = table.kind == "connected"
    height = np.where(connected, 1, table.input_height)
    width = np.where(connected, 1, table.input_width)
    channels = np.where(connected, table.input_elements, table.input_channels // table.groups)
    kernel = np.where(connected, 1, table.kernel_size)
    return height, width, channels, kernel, table.output_channels


def computation_terms(table: LayerTable) -> np.ndarray:
    """Return each layer's own term of eq. (1), multiply-accumulates, shape (L,).

    ``H_in * W_in * (C_in / groups * K**2 + 1) * C_out`` for convolutional,
    local and connected layers, 0 for every other layer. The ``+ 1`` counts
    the bias. As printed in the paper, the spatial size is the INPUT one, so
    a stride-2 layer counts about four times its real work. A local (locally
    connected) layer has its own weights at each output position but the
    same number of multiply-accumulates per position as a convolution, so it
    uses the convolution formula.
    """
    height, width, channels, kernel, out_channels = _paper_operands(table)
    terms = height * width * (channels * kernel**2 + 1) * out_channels
    return np.where(np.isin(table.kind, list(WEIGHTED_KINDS)), terms, 0)


def memory_terms(table: LayerTable) -> np.ndarray:
    """Return each layer's own term of eq. (2), elements, shape (L,).

    ``H_in * W_in * (C_in + C_out)`` activations for every layer plus the
    paper's weight term ``C_in / groups * C_out`` for convolutional, local
    and connected layers only. The weight term is the paper's proxy. It
    leaves out ``K**2`` and, for a local layer, the per-position copies.
    """
    height, width, channels, _, out_channels = _paper_operands(table)
    connected = table.kind == "connected"
    all_in_channels = np.where(connected, table.input_elements, table.input_channels)
    activations = height * width * (all_in_channels + out_channels)
    weights = np.where(np.isin(table.kind, list(WEIGHTED_KINDS)), channels * out_channels, 0)
    return activations + weights


def layer_flop(table: LayerTable) -> np.ndarray:
    """Return the exact FLOP of each layer, shape (L,), int64.

    Two FLOP per multiply-accumulate, at the OUTPUT spatial size:
    ``2 * H_out * W_out * C_out * K**2 * C_in / groups`` for convolutional
    and local layers and ``2 * inputs * outputs`` for connected layers.
    Biases, activations, pooling and the other layers count 0. For
    convolutions this is the "BFLOPs" figure that Darknet prints per layer
    (``2 * weights * H_out * W_out``), and the sum reproduces Darknet's
    published totals for yolov3, yolov3-tiny and yolov2-tiny. The AlexeyAB
    fork of Darknet also counts maxpool and shortcut layers, which this count
    leaves out. Local layers are counted here, with their output size.
    """
    kind = table.kind
    spatial = (
        2
        * table.output_height
        * table.output_width
        * table.output_channels
        * table.kernel_size**2
        * (table.input_channels // table.groups)
    )
    dense = 2 * table.input_elements * table.output_channels
    flop = np.where(np.isin(kind, ["convolutional", "local"]), spatial, 0)
    return np.where(kind == "connected", dense, flop).astype(np.int64)


def total_flop(table: LayerTable) -> int:
    """Return the exact FLOP of one inference of the whole network.

    The sum of :func:`layer_flop`. For Darknet's yolov3.cfg at 416x416 it is
    65.86e9.
    """
    return int(layer_flop(table).sum())


def layer_costs(table: LayerTable, kappa1: float = 1.0, kappa2: float = 1.0) -> LayerCosts:
    """Compute the per-layer partition costs of eq. (1)-(6).

    Parameters
    ----------
    table : LayerTable
        The network, L layers.
    kappa1 : float
        Weight of the computation load in the revenue, eq. (4), > 0.
    kappa2 : float
        Weight of the memory load in the revenue, eq. (4), > 0.

    Returns
    -------
    LayerCosts
        ``chi_com[i] = sum_{j >= i} computation_terms[j]`` (eq. 1),
        ``chi_mem[i] = sum_{j >= i} memory_terms[j]`` (eq. 2),
        ``chi_trans[i] = H_in_i * W_in_i * C_in_i`` (eq. 3), the exact
        ``flop`` per layer, and ``rho[i] = sqrt(Re_i / Co_i)`` with revenue
        ``Re_i = kappa1 * chi_com[i] + kappa2 * chi_mem[i]`` (eq. 4) and
        cost ``Co_i = chi_trans[i]`` (eq. 5), eq. (6).

    Notes
    -----
    Eq. (1) is printed with a garbled summation index. It is read here as
    the sum over the layers from ``i`` to ``L``, so that ``chi_com[i]`` is
    the load of the tail that runs after a cut before layer ``i``.
    """
    if not isinstance(table, LayerTable):
        raise TypeError(f"table must be a LayerTable, got {type(table).__name__}")
    kappa1 = _check_positive_real("kappa1", kappa1)
    kappa2 = _check_positive_real("kappa2", kappa2)

    chi_com = _suffix_sum(computation_terms(table))
    chi_mem = _suffix_sum(memory_terms(table))
    # NOTE: eq. (3) counts only the PDP layer's own input. Behind a route or
    # shortcut layer the cut also has to carry the older tensors that later
    # layers read, which this count leaves out.
    chi_trans = table.input_elements.copy()
    revenue = kappa1 * chi_com.astype(np.float64) + kappa2 * chi_mem.astype(np.float64)
    rho = np.sqrt(revenue / chi_trans)
    return LayerCosts(
        chi_com=_read_only(chi_com),
        chi_mem=_read_only(chi_mem),
        chi_trans=_read_only(chi_trans),
        flop=_read_only(layer_flop(table)),
        rho=_read_only(rho),
    )


def select_pdp(
    table: LayerTable,
    kappa1: float = 1.0,
    kappa2: float = 1.0,
    bytes_per_element: int = 4,
) -> PartitionPoint:
    """Select the partition point (PDP) with the highest profit rate, eq. (6).

    Parameters
    ----------
    table : LayerTable
        The network, L layers.
    kappa1, kappa2 : float
        Revenue weights of eq. (4), each > 0.
    bytes_per_element : int
        Size of one tensor element in bytes, >= 1 (4 for float32).

    Returns
    -------
    PartitionPoint
        The first layer index with the maximum ``rho``, the exact FLOP of
        head and tail, and the input, cut and output tensor sizes in bit.
    """
    bytes_per_element = _check_integer("bytes_per_element", bytes_per_element, 1)
    costs = layer_costs(table, kappa1, kappa2)
    # np.argmax returns the first maximum, so ties go to the earliest layer.
    index = int(np.argmax(costs.rho))
    bits_per_element = 8 * bytes_per_element
    return PartitionPoint(
        index=index,
        rho=costs.rho,
        psi_head_flop=int(costs.flop[:index].sum()),
        psi_tail_flop=int(costs.flop[index:].sum()),
        d_med_bit=int(costs.chi_trans[index]) * bits_per_element,
        d_in_bit=table[0].input_elements * bits_per_element,
        d_out_bit=table[-1].output_elements * bits_per_element,
    )


def yolov1(input_size: int = 448) -> LayerTable:
    """Build the CVPR 2016 YOLO for a square RGB input of ``input_size`` pixels.

    24 convolutional layers, 4 maxpool layers and 2 connected layers (4096
    and 7 x 7 x 30 = 1470 outputs), as in Figure 3 of Redmon et al., "You
    Only Look Once: Unified, Real-Time Object Detection", CVPR 2016.
    Convolutions pad by ``kernel_size // 2`` on each side and every side
    follows Darknet's arithmetic (:func:`convolution_output_size`,
    :func:`maxpool_output_size` with the default padding of 1). At 448 the
    last convolution outputs 7 x 7 x 1024. At other sizes the first
    connected layer takes all ``H * W * 1024`` of that output and the last
    layer keeps 1470 outputs.

    Parameters
    ----------
    input_size : int
        Input height and width in pixels, >= 64.

    Returns
    -------
    LayerTable
        30 layers named ``"yolov1"``. Tables are cached per size, so callers
        get the same immutable object for the same size.
    """
    input_size = _check_integer("input_size", input_size, _YOLOV1_MIN_INPUT_SIZE)
    return _build_yolov1(input_size)


@functools.lru_cache(maxsize=4096)
def _build_yolov1(input_size: int) -> LayerTable:
    layers: list[Layer] = []
    side, channels = input_size, 3
    for spec in _YOLOV1_FEATURES:
        if spec is None:
            kind, kernel, out_channels, stride = "maxpool", 2, channels, 2
            out_side = maxpool_output_size(side, kernel, stride, padding=kernel - 1)
        else:
            kind = "convolutional"
            kernel, out_channels, stride = spec
            out_side = convolution_output_size(side, kernel, stride, kernel // 2)
        layers.append(
            Layer(
                kind=kind,
                input_height=side,
                input_width=side,
                input_channels=channels,
                kernel_size=kernel,
                stride=stride,
                output_height=out_side,
                output_width=out_side,
                output_channels=out_channels,
            )
        )
        side, channels = out_side, out_channels

    layers.append(
        Layer(
            kind="connected",
            input_height=side,
            input_width=side,
            input_channels=channels,
            output_height=1,
            output_width=1,
            output_channels=_YOLOV1_HIDDEN_UNITS,
        )
    )
    layers.append(
        Layer(
            kind="connected",
            input_height=1,
            input_width=1,
            input_channels=_YOLOV1_HIDDEN_UNITS,
            output_height=1,
            output_width=1,
            output_channels=_YOLOV1_OUTPUT_UNITS,
        )
    )
    return LayerTable(name="yolov1", layers=tuple(layers))


def input_side_for_bytes(d_in_byte: float, channels: int = 3, bytes_per_element: int = 4) -> int:
    """Return the square input side whose tensor is ``d_in_byte`` bytes.

    ``round(sqrt(d_in_byte / (channels * bytes_per_element)))``, with halves
    rounded up. A service's input size thus sets the input of
    :func:`yolov1`: 2,408,448 bytes (2352 KiB) gives 448, the size of a
    448 x 448 x 3 float32 image.

    Parameters
    ----------
    d_in_byte : float
        Input data size, bytes, > 0.
    channels : int
        Image channels, >= 1.
    bytes_per_element : int
        Bytes per element, >= 1.

    Returns
    -------
    int
        The side in pixels, >= 1. It can be below the 64 that
        :func:`yolov1` accepts.
    """
    d_in_byte = _check_positive_real("d_in_byte", d_in_byte)
    channels = _check_integer("channels", channels, 1)
    bytes_per_element = _check_integer("bytes_per_element", bytes_per_element, 1)
    side = math.floor(math.sqrt(d_in_byte / (channels * bytes_per_element)) + 0.5)
    if side < 1:
        minimum = 0.25 * channels * bytes_per_element
        raise ValueError(
            f"d_in_byte must be >= {minimum:g} bytes so that the input side is at "
            f"least 1 pixel, got {d_in_byte!r}"
        )
    return side
