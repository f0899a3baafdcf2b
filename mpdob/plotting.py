"""Shared figure style: colour-blind-safe colours, one marker and line per strategy.

Colours come from the Okabe-Ito palette (Okabe and Ito, "Color Universal
Design", 2008), which stays distinguishable under the common colour-vision
deficiencies. Each strategy also has its own marker and line style, so the
curves stay distinguishable in greyscale print. Curves show the mean over runs
with a shaded 95% t-interval band around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "LABEL_QOS",
    "LABEL_RATE",
    "LABEL_ROUND",
    "LABEL_SERVICES",
    "OKABE_ITO",
    "STYLES",
    "apply_style",
    "new_figure",
    "plot_band",
    "plot_summary",
    "save_figure",
    "strategy_label",
]

# Okabe-Ito palette, by colour name.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

# Strategy name (as in mpdob.strategies.STRATEGIES) to its legend label and style.
# Yellow is left out because it is hard to see on white.
STYLES: dict[str, dict] = {
    "mpdob": {"label": "MP-DOB", "color": OKABE_ITO["blue"], "marker": "o", "linestyle": "-"},
    "mpdob-nolb": {
        "label": "MP-DOB without load balance",
        "color": OKABE_ITO["sky_blue"],
        "marker": "s",
        "linestyle": "--",
    },
    "elc": {"label": "ELC", "color": OKABE_ITO["black"], "marker": "v", "linestyle": ":"},
    "ecc": {"label": "ECC", "color": OKABE_ITO["vermillion"], "marker": "^", "linestyle": "-."},
    "bdo": {
        "label": "BDO",
        "color": OKABE_ITO["bluish_green"],
        "marker": "D",
        "linestyle": (0, (5, 1)),
    },
    "acco": {"label": "ACCO", "color": OKABE_ITO["orange"], "marker": "P", "linestyle": "--"},
    "mtto": {
        "label": "MTTO",
        "color": OKABE_ITO["reddish_purple"],
        "marker": "X",
        "linestyle": (0, (3, 1, 1, 1, 1, 1)),
    },
}

LABEL_SERVICES = "services per slot"
LABEL_QOS = "system-wide QoS (sum of Q_i, dimensionless)"
LABEL_RATE = "offloading rate (%)"
LABEL_ROUND = "round of Algorithm 2"

# Opacity of the 95% interval bands.
BAND_ALPHA = 0.2


def apply_style() -> None:
    """Set the matplotlib defaults shared by every figure of the project."""
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "lines.linewidth": 1.6,
            "lines.markersize": 5,
            "axes.prop_cycle": mpl.cycler(
                color=[OKABE_ITO[name] for name in OKABE_ITO if name != "yellow"]
            ),
        }
    )


def strategy_label(name: str) -> str:
    """Return the legend label of a strategy; unknown names are returned unchanged."""
    return STYLES.get(name, {}).get("label", name)


def _style_for(name: str) -> dict:
    style = dict(STYLES.get(name, {"label": name}))
    style.pop("label", None)
    return style


def new_figure(ncols: int = 1, width_per_panel: float = 5.0, height: float = 3.6):
    """Create a figure with ``ncols`` panels side by side, in the project style.

    Returns the figure and a 1-D array of axes.
    """
    apply_style()
    fig, axes = plt.subplots(
        1, ncols, figsize=(width_per_panel * ncols, height), squeeze=False, layout="constrained"
    )
    return fig, axes[0]


def plot_band(
    ax,
    x,
    mean,
    low=None,
    high=None,
    name: str = "",
    label: str | None = None,
    **kwargs,
):
    """Plot a mean curve with an optional shaded band between ``low`` and ``high``.

    ``name`` selects the strategy style; ``label`` overrides its legend label.
    Extra keyword arguments go to :meth:`matplotlib.axes.Axes.plot`.
    """
    style = {**_style_for(name), **kwargs}
    text = strategy_label(name) if label is None else label
    (line,) = ax.plot(np.asarray(x), np.asarray(mean, dtype=float), label=text, **style)
    if low is not None and high is not None:
        low = np.asarray(low, dtype=float)
        high = np.asarray(high, dtype=float)
        if np.all(np.isfinite(low)) and np.all(np.isfinite(high)):
            ax.fill_between(
                np.asarray(x), low, high, color=line.get_color(), alpha=BAND_ALPHA, linewidth=0
            )
    return line


def plot_summary(
    ax,
    summary: pd.DataFrame,
    strategies: Iterable[str],
    scale: float = 1.0,
    x: str = "n_services",
) -> None:
    """Plot the mean and 95% interval of each strategy from a summary table.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    summary : DataFrame
        Output of :func:`mpdob.experiments.summarise`, with columns
        ``strategy``, ``x``, ``mean``, ``ci_low`` and ``ci_high``.
    strategies : iterable of str
        Strategies to draw, in legend order.
    scale : float
        Factor applied to the values (100 turns a fraction into percent).
    x : str
        Column on the horizontal axis.
    """
    for name in strategies:
        rows = summary[summary["strategy"] == name].sort_values(x)
        if rows.empty:
            raise ValueError(
                f"strategy {name!r} has no rows in the summary; "
                f"present: {sorted(summary['strategy'].unique())}"
            )
        plot_band(
            ax,
            rows[x],
            rows["mean"] * scale,
            rows["ci_low"] * scale,
            rows["ci_high"] * scale,
            name=name,
        )


def save_figure(fig, path: str | Path) -> Path:
    """Save a figure as PNG, creating the directory, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
