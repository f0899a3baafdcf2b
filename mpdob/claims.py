"""The claims ledger: each claim the paper makes about Figures 3-9, with a computed verdict.

The paper is "Human-centric Service Offloading with CNN Partitioning in
Cloud-Edge Computing-Empowered Industrial Metaverse" (MP-DOB); its Section V
describes Figures 3-9 in prose. Each :class:`Claim` turns one sentence of it into a
criterion on the per-run results of one figure (the ``figN.csv`` that its
notebook writes). The criterion returns a :class:`Verdict`: the measured
values as text, ``"holds"``, ``"partly"`` or ``"does not hold"``, and the
label of the parameter set the results came from.

Comparisons use the mean over runs at each N. System-wide QoS is a sum of
Q_i = 1 - log2(1 + Gamma_i / varpi), which is negative when a service's
overhead exceeds varpi, so a sum can be zero or negative. A ratio or a
relative margin is only defined here when its denominator is positive;
where it is not, the measured text says so and the part that needs the
ratio does not hold.

Wording of the paper and the tolerance chosen for it:

- "about", "nearly": within 15% of the stated factor (:data:`ABOUT_TOLERANCE`).
- "rising", "growing", "widening", "grows with N": an upward trend, i.e. the
  last mean is above the first and, with three or more N values, the
  Spearman rank correlation with N is at least :data:`TREND_MIN_SPEARMAN`.
- "steady growth", "keeps rising": the mean rises at every step of N.
- "slightly above": a relative margin in (0, :data:`SLIGHT_MARGIN_MAX`].
- "far above": a relative margin of at least :data:`FAR_MARGIN_MIN`.

Multi-part claims hold when every part holds, hold partly when some part
holds and do not hold when no part holds, unless a claim states another rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ABOUT_TOLERANCE",
    "CLAIMS",
    "FAR_MARGIN_MIN",
    "QUICK_RISE_SHARE",
    "SATURATION_STEP_MAX_PP",
    "SLIGHT_MARGIN_MAX",
    "TREND_MIN_SPEARMAN",
    "VERDICTS",
    "Claim",
    "Verdict",
    "claims_for_figure",
    "evaluate_figure",
    "ledger",
]

VERDICTS = ("holds", "partly", "does not hold")

#: "About twice" and "nearly half": within 15% of the factor, i.e. a ratio in
#: [1.7, 2.3] for twice and [0.425, 0.575] for half. This is narrow enough
#: that 1.5x or 2.5x do not count as "about twice". The figure notebooks
#: report whether their intervals are narrower than the gaps they compare.
ABOUT_TOLERANCE = 0.15

#: An upward trend over N needs a Spearman rank correlation of at least 0.8:
#: with ten N values this allows one or two small dips and rejects a flat or
#: mixed curve.
TREND_MIN_SPEARMAN = 0.8

#: "Only slightly more": MP-DOB above ACCO by at most 15% of ACCO's value,
#: the same width as "about".
SLIGHT_MARGIN_MAX = 0.15

#: "Far superior": MP-DOB above ACCO by at least 30%, twice the largest
#: margin that still counts as slight, so the two words cannot both apply.
FAR_MARGIN_MIN = 0.30

# "ECC falls sharply": its mean drops from the smallest to the largest N by
# at least half of MP-DOB's value at the smallest N. MP-DOB's value is the
# scale of the figure at light load, where ECC is compared with it.
SHARP_DROP_SHARE = 0.5

# "Saturate": over the top third of the N range (at least one step of the
# grid) the offloading rate changes by at most 3 percentage points per 9
# added services on average, i.e. per added service at each of the 9 edge
# servers. On a 0-100% axis such a change reads as flat. The rate is taken
# per service so that the test does not depend on the grid's spacing.
SATURATION_STEP_MAX_PP = 3.0
SATURATION_SERVICES_PER_STEP = 9

# "Rises quickly": halfway through a run's rounds, the QoS has covered at
# least 60% of its total rise. A straight line covers 50%, so this requires
# a rise that is faster early than late.
QUICK_RISE_SHARE = 0.6

# "Improves constantly": the QoS may not fall from one round to the next by
# more than float rounding of a sum of up to a few hundred Q_i.
FALL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Verdict:
    """Outcome of one claim on one set of results.

    Attributes
    ----------
    measured : str
        The values the verdict rests on, as text.
    verdict : {"holds", "partly", "does not hold"}
    parameter_set : str
        Label of the parameters, seed and number of runs behind the results.
    """

    measured: str
    verdict: str
    parameter_set: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """One claim of the paper about one figure, with its test.

    Attributes
    ----------
    id : str
        Short identifier, e.g. ``"fig3-elc"``.
    figure : int
        Figure number (3-9).
    statement : str
        The claim, in one sentence.
    criterion : str
        The test applied, with its tolerances.
    check : callable
        Takes the figure's per-run DataFrame and returns a :class:`Verdict`.
    """

    id: str
    figure: int
    statement: str
    criterion: str
    check: Callable[[pd.DataFrame], Verdict]

    def evaluate(self, df: pd.DataFrame) -> Verdict:
        """Apply the criterion to the figure's per-run results."""
        return self.check(df)


# --- helpers -----------------------------------------------------------------


def _label(df: pd.DataFrame) -> str:
    if "parameter_set" in df.columns and df["parameter_set"].notna().any():
        return str(df["parameter_set"].dropna().iloc[0])
    return "unlabelled results"


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "undefined"
    return f"{value:.3g}"


def _fmt_list(values) -> str:
    return "[" + ", ".join(_fmt(float(v)) for v in values) + "]"


def _means(df: pd.DataFrame, strategies: Sequence[str], value: str = "system_qos") -> pd.DataFrame:
    """Return the mean of ``value`` per N (rows) and strategy (columns)."""
    present = set(df["strategy"].unique()) if "strategy" in df.columns else set()
    missing = [name for name in strategies if name not in present]
    if missing:
        raise ValueError(
            f"the results lack strategy(ies) {', '.join(missing)}; present: {sorted(present)}"
        )
    rows = df[df["strategy"].isin(strategies)]
    table = rows.pivot_table(index="n_services", columns="strategy", values=value, aggfunc="mean")
    return table.sort_index()[list(strategies)]


def _rises_every_step(values) -> bool:
    values = np.asarray(values, dtype=float)
    return values.size >= 2 and bool(np.all(np.diff(values) > 0))


def _trend_up(x, values) -> bool:
    values = np.asarray(values, dtype=float)
    if values.size < 2 or not values[-1] > values[0]:
        return False
    if values.size == 2:
        return True
    rho = _spearman(x, values)
    return bool(np.isfinite(rho) and rho >= TREND_MIN_SPEARMAN)


def _trend_down(x, values) -> bool:
    return _trend_up(x, -np.asarray(values, dtype=float))


def _spearman(x, values) -> float:
    """Spearman rank correlation; NaN for a constant input (no ranking exists)."""
    x = np.asarray(x, dtype=float)
    values = np.asarray(values, dtype=float)
    if np.ptp(x) == 0 or np.ptp(values) == 0:
        return math.nan
    return float(stats.spearmanr(x, values).statistic)


def _spearman_text(x, values) -> str:
    if len(values) < 3:
        return "Spearman undefined (fewer than 3 N values)"
    return f"Spearman {_fmt(_spearman(x, values))}"


def _ratio(numerator: float, denominator: float) -> float:
    """Ratio defined only for a positive denominator (QoS sums can be negative)."""
    return numerator / denominator if denominator > 0 else math.nan


def _combine(parts: Sequence[tuple[str, bool]]) -> str:
    passed = sum(ok for _, ok in parts)
    if passed == len(parts):
        return "holds"
    return "partly" if passed else "does not hold"


def _parts_text(parts: Sequence[tuple[str, bool]]) -> str:
    return "; ".join(f"{text} [{'yes' if ok else 'no'}]" for text, ok in parts)


def _n_text(ns) -> str:
    return f"N = {int(ns[0])}..{int(ns[-1])}"


# --- Figure 3 ------------------------------------------------------------------


def _check_fig3_elc(df: pd.DataFrame) -> Verdict:
    means = _means(df, ["mpdob", "elc"])
    ns = means.index.to_numpy()
    mp, elc = means["mpdob"].to_numpy(), means["elc"].to_numpy()
    ratios = np.array([_ratio(a, b) for a, b in zip(mp, elc, strict=True)])
    low, high = 2.0 * (1 - ABOUT_TOLERANCE), 2.0 * (1 + ABOUT_TOLERANCE)
    within = np.isfinite(ratios) & (ratios >= low) & (ratios <= high)
    above = mp > elc
    if np.all(within):
        verdict = "holds"
    elif np.all(above):
        verdict = "partly"
    else:
        verdict = "does not hold"
    defined = ratios[np.isfinite(ratios)]
    ratio_text = (
        f"MP-DOB/ELC from {_fmt(defined.min())} to {_fmt(defined.max())}"
        if defined.size
        else "MP-DOB/ELC undefined at every N"
    )
    undefined = ns[~np.isfinite(ratios)]
    if undefined.size:
        ratio_text += f" (undefined where ELC <= 0: N = {', '.join(map(str, undefined))})"
    measured = (
        f"{_n_text(ns)}: {ratio_text}; ratio in [{low:.2f}, {high:.2f}] at "
        f"{int(within.sum())} of {ns.size} N; MP-DOB above ELC at {int(above.sum())} of {ns.size} N"
    )
    return Verdict(measured, verdict, _label(df))


def _check_fig3_ecc(df: pd.DataFrame) -> Verdict:
    means = _means(df, ["mpdob", "ecc"])
    ns = means.index.to_numpy()
    mp, ecc = means["mpdob"].to_numpy(), means["ecc"].to_numpy()
    ratio_small = _ratio(ecc[0], mp[0])
    low, high = 0.5 * (1 - ABOUT_TOLERANCE), 0.5 * (1 + ABOUT_TOLERANCE)
    half = bool(np.isfinite(ratio_small) and low <= ratio_small <= high)
    drop = ecc[0] - ecc[-1]
    scale = abs(mp[0])
    sharp = bool(ns.size >= 2 and drop >= SHARP_DROP_SHARE * scale and _trend_down(ns, ecc))
    parts = [
        (f"ECC/MP-DOB at N = {ns[0]}: {_fmt(ratio_small)} (half: [{low:.3f}, {high:.3f}])", half),
        (
            f"ECC falls by {_fmt(drop)} from N = {ns[0]} to {ns[-1]}, "
            f"{_fmt(drop / scale if scale > 0 else math.nan)} x |MP-DOB at N = {ns[0]}|, "
            f"{_spearman_text(ns, ecc)} (sharp: >= {SHARP_DROP_SHARE} and falling)",
            sharp,
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


def _check_fig3_bdo(df: pd.DataFrame) -> Verdict:
    means = _means(df, ["mpdob", "bdo", "elc", "ecc"])
    ns = means.index.to_numpy()
    mp, bdo = means["mpdob"].to_numpy(), means["bdo"].to_numpy()
    gap = mp - bdo
    parts = [
        (
            f"BDO above ELC at {int(np.sum(bdo > means['elc'].to_numpy()))} of {ns.size} N",
            bool(np.all(bdo > means["elc"].to_numpy())),
        ),
        (
            f"BDO above ECC at {int(np.sum(bdo > means['ecc'].to_numpy()))} of {ns.size} N",
            bool(np.all(bdo > means["ecc"].to_numpy())),
        ),
        (f"BDO below MP-DOB at {int(np.sum(gap > 0))} of {ns.size} N", bool(np.all(gap > 0))),
        (
            f"gap MP-DOB - BDO from {_fmt(gap[0])} to {_fmt(gap[-1])}, {_spearman_text(ns, gap)}",
            _trend_up(ns, gap),
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


# --- Figures 4 and 5 ------------------------------------------------------------


def _relative_margin(a: float, b: float) -> float:
    """(a - b) / b, defined only for b > 0."""
    return (a - b) / b if b > 0 else math.nan


def _check_fig4(df: pd.DataFrame) -> Verdict:
    means = _means(df, ["mpdob", "acco"])
    ns = means.index.to_numpy()
    mp, acco = means["mpdob"].to_numpy(), means["acco"].to_numpy()
    small = _relative_margin(mp[0], acco[0])
    large = _relative_margin(mp[-1], acco[-1])
    slight = bool(np.isfinite(small) and 0 < small <= SLIGHT_MARGIN_MAX)
    # With ACCO at or below zero and MP-DOB above zero the margin is
    # unbounded, which counts as far above.
    far = bool((np.isfinite(large) and large >= FAR_MARGIN_MIN) or (acco[-1] <= 0 < mp[-1]))
    both_rising = _trend_up(ns, mp) and _trend_up(ns, acco)
    parts = [
        (
            f"margin (MP-DOB - ACCO)/ACCO at N = {ns[0]}: {_fmt(small)} "
            f"(slight: in (0, {SLIGHT_MARGIN_MAX}])",
            slight,
        ),
        (f"margin at N = {ns[-1]}: {_fmt(large)} (far: >= {FAR_MARGIN_MIN})", far),
        (
            f"MP-DOB {_spearman_text(ns, mp)}, ACCO {_spearman_text(ns, acco)}, "
            f"MP-DOB {_fmt(mp[0])} -> {_fmt(mp[-1])}, ACCO {_fmt(acco[0])} -> {_fmt(acco[-1])} "
            "(both rising)",
            both_rising,
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


def _check_fig5(df: pd.DataFrame) -> Verdict:
    means = _means(df, ["mpdob", "mtto"])
    ns = means.index.to_numpy()
    mp, mtto = means["mpdob"].to_numpy(), means["mtto"].to_numpy()
    steps_mp = int(np.sum(np.diff(mp) > 0))
    steps_mtto = int(np.sum(np.diff(mtto) > 0))
    parts = [
        (
            f"MP-DOB rises at {steps_mp} of {ns.size - 1} steps, MTTO at {steps_mtto} "
            "(steady growth: every step)",
            _rises_every_step(mp) and _rises_every_step(mtto),
        ),
        (
            f"MP-DOB above MTTO at {int(np.sum(mp > mtto))} of {ns.size} N, "
            f"smallest difference {_fmt(float(np.min(mp - mtto)))}",
            bool(np.all(mp > mtto)),
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


# --- Figure 6 -------------------------------------------------------------------


def _saturation_step_pp(ns, rate_percent) -> float:
    """Mean absolute change per 9 services over the top third of the N range, in points.

    The steps counted are those that start at or above N_min + 2/3 (N_max - N_min),
    and at least the last step.
    """
    ns = np.asarray(ns, dtype=float)
    rate = np.asarray(rate_percent, dtype=float)
    start = ns[0] + 2.0 / 3.0 * (ns[-1] - ns[0])
    first = min(int(np.searchsorted(ns, start)), ns.size - 2)
    change = np.abs(np.diff(rate[first:])) / np.diff(ns[first:])
    return float(np.mean(change) * SATURATION_SERVICES_PER_STEP)


def _check_fig6(df: pd.DataFrame) -> Verdict:
    names = ["mpdob", "mtto", "acco"]
    means = _means(df, names, value="offloading_rate") * 100.0
    ns = means.index.to_numpy()
    if ns.size < 2:
        raise ValueError("Figure 6 needs at least two N values to judge saturation")
    moves = {name: _saturation_step_pp(ns, means[name]) for name in names}
    last = means.iloc[-1]
    # A rate that stays at zero is flat but has not saturated: nothing offloads.
    saturate = all(moves[name] <= SATURATION_STEP_MAX_PP and last[name] > 0 for name in names)
    highest = bool(last["mpdob"] > last["mtto"] and last["mpdob"] > last["acco"])
    parts = [
        (
            "mean change per 9 services over the top third of N (points): "
            + ", ".join(f"{name} {_fmt(moves[name])}" for name in names)
            + f" (saturated: <= {SATURATION_STEP_MAX_PP} and above zero at the largest N)",
            saturate,
        ),
        (
            f"rate at N = {ns[-1]} (%): "
            + ", ".join(f"{name} {_fmt(float(last[name]))}" for name in names),
            highest,
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


# --- Figure 7 -------------------------------------------------------------------


def _check_fig7(df: pd.DataFrame) -> Verdict:
    rows = df[df["strategy"] == "mpdob"]
    if rows.empty:
        raise ValueError("Figure 7 needs MP-DOB rows with system_qos_without_lb")
    if rows["system_qos_without_lb"].isna().all():
        raise ValueError("Figure 7 needs system_qos_without_lb, but every value is missing")
    gain = rows.assign(gain=rows["system_qos"] - rows["system_qos_without_lb"])
    panels = gain["assignment"].unique() if "assignment" in gain.columns else ["all"]
    texts, verdicts = [], []
    for panel in sorted(panels):
        part = gain if panel == "all" else gain[gain["assignment"] == panel]
        mean_gain = part.groupby("n_services")["gain"].mean().sort_index()
        ns = mean_gain.index.to_numpy()
        values = mean_gain.to_numpy()
        parts = [
            (
                f"{panel}: gain positive at {int(np.sum(values > 0))} of {ns.size} N "
                f"(from {_fmt(values[0])} to {_fmt(values[-1])})",
                bool(np.all(values > 0)),
            ),
            (f"{panel}: gain growing, {_spearman_text(ns, values)}", _trend_up(ns, values)),
        ]
        texts.append(_parts_text(parts))
        verdicts.append(_combine(parts))
    if all(v == "holds" for v in verdicts):
        verdict = "holds"
    elif all(v == "does not hold" for v in verdicts):
        verdict = "does not hold"
    else:
        verdict = "partly"
    return Verdict(" | ".join(texts), verdict, _label(df))


# --- Figure 8 -------------------------------------------------------------------


def _check_fig8(df: pd.DataFrame) -> Verdict:
    rows = df[df["strategy"] == "mpdob"] if "strategy" in df.columns else df
    if rows.empty:
        raise ValueError("Figure 8 needs MP-DOB rows")
    table = rows.groupby("n_services")["system_qos"].agg(["min", "mean", "max", "count"])
    table = table.sort_index()
    ns = table.index.to_numpy()
    spread = (table["max"] - table["min"]).to_numpy()
    mean = table["mean"].to_numpy()
    parts = [
        (
            f"max - min from {_fmt(spread[0])} to {_fmt(spread[-1])}, "
            f"{_spearman_text(ns, spread)} (grows: trend up)",
            _trend_up(ns, spread),
        ),
        (
            f"mean rises at {int(np.sum(np.diff(mean) > 0))} of {ns.size - 1} steps "
            "(keeps rising: every step)",
            _rises_every_step(mean),
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


# --- Figure 9 -------------------------------------------------------------------


def _half_rise_share(history: np.ndarray) -> float:
    """Share of a run's total QoS rise reached halfway through its rounds."""
    rise = history[-1] - history[0]
    if history.size < 2 or not rise > 0:
        return math.nan
    half = int(math.ceil((history.size - 1) / 2))
    return float((history[half] - history[0]) / rise)


def _fig9_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Summarise each (N, run) history: convergence, rounds, rise, half share, steadiness."""
    per_run = []
    for (n, run), group in df.groupby(["n_services", "run"], sort=True):
        history = group.sort_values("round")["system_qos"].to_numpy(dtype=float)
        per_run.append(
            {
                "n_services": n,
                "run": run,
                "converged": bool(group["converged"].iloc[0]),
                "rounds": int(group["rounds"].iloc[0]),
                "rise": float(history[-1] - history[0]),
                "half_share": _half_rise_share(history),
                "never_falls": bool(np.all(np.diff(history) >= -FALL_TOLERANCE)),
            }
        )
    return pd.DataFrame(per_run)


def _check_fig9(df: pd.DataFrame) -> Verdict:
    runs = _fig9_runs(df)
    by_n = runs.groupby("n_services").agg(
        share=("half_share", "mean"), max_rounds=("rounds", "max")
    )
    converged = bool(runs["converged"].all())

    # A run without any update has nothing to rise; it counts for convergence only.
    moved = runs[runs["rounds"] > 0]
    rises = bool(len(moved) > 0 and (moved["rise"] > 0).all())
    steady = bool(len(moved) > 0 and moved["never_falls"].all())
    # The share is undefined at an N where no run rose; such an N is skipped.
    shares = by_n["share"].dropna()
    quick = bool(len(shares) > 0 and (shares >= QUICK_RISE_SHARE).all())

    parts = [
        (
            f"{int(runs['converged'].sum())} of {len(runs)} runs reached an equilibrium, "
            f"longest run {int(by_n['max_rounds'].max())} rounds",
            converged,
        ),
        (
            f"QoS ended above its start in {int((moved['rise'] > 0).sum())} of {len(moved)} "
            f"runs with at least one update ({len(runs) - len(moved)} runs had none)",
            rises,
        ),
        (
            f"QoS never fell between rounds in {int(moved['never_falls'].sum())} of "
            f"{len(moved)} runs with at least one update",
            steady,
        ),
        (
            "share of the rise reached at half the rounds, mean per N: "
            + ", ".join(f"N = {n}: {_fmt(s)}" for n, s in by_n["share"].items())
            + " (undefined where no run rose)"
            + f" (quick: >= {QUICK_RISE_SHARE})",
            quick,
        ),
    ]
    return Verdict(_parts_text(parts), _combine(parts), _label(df))


# --- the ledger -------------------------------------------------------------------

CLAIMS: list[Claim] = [
    Claim(
        "fig3-elc",
        3,
        "The system-wide QoS of MP-DOB is nearly twice that of ELC at every number of services.",
        "Holds if MP-DOB/ELC (means, defined only where ELC > 0) lies in [1.7, 2.3] at every N; "
        "partly if MP-DOB is above ELC at every N; otherwise does not hold.",
        _check_fig3_elc,
    ),
    Claim(
        "fig3-ecc",
        3,
        "ECC reaches about half of MP-DOB's QoS with few services and falls sharply as N grows.",
        "Part 1: ECC/MP-DOB at the smallest N in [0.425, 0.575] (MP-DOB > 0). Part 2: ECC's "
        "mean drops from the smallest to the largest N by at least half of |MP-DOB| at the "
        "smallest N, with a downward trend (Spearman <= -0.8).",
        _check_fig3_ecc,
    ),
    Claim(
        "fig3-bdo",
        3,
        "BDO is above ELC and ECC but below MP-DOB, and its gap to MP-DOB widens as N grows.",
        "Parts: BDO > ELC, BDO > ECC and BDO < MP-DOB at every N; MP-DOB - BDO trends up "
        "(last > first, Spearman >= 0.8).",
        _check_fig3_bdo,
    ),
    Claim(
        "fig4-acco",
        4,
        "MP-DOB is only slightly above ACCO with few services and far above it with many, "
        "while both rise.",
        "Parts: (MP-DOB - ACCO)/ACCO in (0, 0.15] at the smallest N; at least 0.30 at the "
        "largest N (or ACCO <= 0 < MP-DOB); both trend up.",
        _check_fig4,
    ),
    Claim(
        "fig5-mtto",
        5,
        "MP-DOB and MTTO both grow steadily with N and MP-DOB is always above MTTO.",
        "Parts: both means rise at every step of N; MP-DOB > MTTO at every N.",
        _check_fig5,
    ),
    Claim(
        "fig6-rate",
        6,
        "The offloading rates of MP-DOB, MTTO and ACCO all saturate, with MP-DOB on top "
        "when services are many.",
        "Parts: over the top third of the N range each rate changes by at most 3 percentage "
        "points per 9 services on average and ends above zero; at the largest N MP-DOB's rate "
        "exceeds both others. "
        "MP-DOB's rate is the offloaded share of tail FLOP, the others' the share of services.",
        _check_fig6,
    ),
    Claim(
        "fig7-balance",
        7,
        "Load balance raises MP-DOB's QoS at every N, and the gain grows with N.",
        "Per assignment (uniform, hotspot), on the paired gain with minus without load "
        "balance: mean gain > 0 at every N; gain trends up. Holds if both parts hold in every "
        "panel, does not hold if no part holds in any panel, otherwise partly.",
        _check_fig7,
    ),
    Claim(
        "fig8-robust",
        8,
        "The gap between MP-DOB's minimum and maximum QoS over runs widens with N while the "
        "mean keeps rising.",
        "Parts: max - min over runs trends up; the mean rises at every step of N.",
        _check_fig8,
    ),
    Claim(
        "fig9-converge",
        9,
        "Under Algorithm 2 the system-wide QoS rises quickly and steadily at first and settles "
        "at a Nash equilibrium after finitely many rounds.",
        "Parts: every run ends with no service able to improve (no cycle, no round limit); "
        "in every run with at least one update, QoS ends above its all-local start and never "
        "falls from one round to the next; on average the first half of the rounds brings at "
        "least 60% of the rise at every N where some run rose.",
        _check_fig9,
    ),
]


def claims_for_figure(figure: int) -> list[Claim]:
    """Return the claims about one figure."""
    return [claim for claim in CLAIMS if claim.figure == figure]


def evaluate_figure(figure: int, df: pd.DataFrame) -> pd.DataFrame:
    """Evaluate every claim about ``figure`` on its per-run results.

    Returns one row per claim with ``claim``, ``statement``, ``criterion``,
    ``measured``, ``verdict`` and ``parameter_set``.
    """
    rows = []
    for claim in claims_for_figure(figure):
        verdict = claim.evaluate(df)
        rows.append(
            {
                "claim": claim.id,
                "figure": claim.figure,
                "statement": claim.statement,
                "criterion": claim.criterion,
                "measured": verdict.measured,
                "verdict": verdict.verdict,
                "parameter_set": verdict.parameter_set,
            }
        )
    return pd.DataFrame(rows)


def ledger(results_dir: str | Path) -> pd.DataFrame:
    """Build the claims ledger from the ``figN.csv`` files in ``results_dir``.

    A claim whose file is missing gets the verdict ``"not evaluated"`` and
    the missing file in ``measured``.
    """
    results_dir = Path(results_dir)
    frames = []
    for figure in sorted({claim.figure for claim in CLAIMS}):
        path = results_dir / f"fig{figure}.csv"
        if path.is_file():
            frames.append(evaluate_figure(figure, pd.read_csv(path)))
            continue
        frames.append(
            pd.DataFrame(
                [
                    {
                        "claim": claim.id,
                        "figure": claim.figure,
                        "statement": claim.statement,
                        "criterion": claim.criterion,
                        "measured": f"{path.name} not found in {results_dir}",
                        "verdict": "not evaluated",
                        "parameter_set": "",
                    }
                    for claim in claims_for_figure(figure)
                ]
            )
        )
    return pd.concat(frames, ignore_index=True)
