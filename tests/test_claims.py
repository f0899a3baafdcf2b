"""Tests of the claims ledger on synthetic results whose verdict is known by construction.

Each synthetic frame has two runs per (strategy, N) at mean + 0.01 and
mean - 0.01, so the mean over runs is exactly the curve given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mpdob import claims
from mpdob.claims import CLAIMS, Verdict, claims_for_figure, evaluate_figure, ledger

NS = [9, 18, 27, 36, 45]


def frame(
    curves: dict[str, list[float]], value: str = "system_qos", ns=NS, **extra
) -> pd.DataFrame:
    """Per-run rows whose mean per (strategy, N) equals ``curves``."""
    rows = []
    for name, means in curves.items():
        for n, mean in zip(ns, means, strict=True):
            for run, noise in enumerate((0.01, -0.01)):
                row = {"strategy": name, "n_services": n, "run": run, value: mean + noise}
                row.update(extra)
                rows.append(row)
    df = pd.DataFrame(rows)
    df["parameter_set"] = "synthetic"
    return df


def verdict(claim_id: str, df: pd.DataFrame) -> Verdict:
    (claim,) = [c for c in CLAIMS if c.id == claim_id]
    return claim.evaluate(df)


# --- structure ------------------------------------------------------------------


def test_ledger_covers_figures_3_to_9():
    figures = sorted({claim.figure for claim in CLAIMS})
    assert figures == [3, 4, 5, 6, 7, 8, 9]
    assert len(claims_for_figure(3)) == 3
    assert len({claim.id for claim in CLAIMS}) == len(CLAIMS)


def test_verdict_rejects_unknown_text():
    with pytest.raises(ValueError, match="verdict must be one of"):
        Verdict("x", "mostly", "p")


def test_missing_strategy_names_it():
    df = frame({"mpdob": [1, 2, 3, 4, 5]})
    with pytest.raises(ValueError, match="elc"):
        verdict("fig3-elc", df)


# --- Figure 3 ---------------------------------------------------------------------


def test_fig3_elc_twice_holds():
    # Ratios 10/5 = 2.0 and 18/10 = 1.8, 22/11 = 2.0 ...: all inside [1.7, 2.3].
    df = frame({"mpdob": [10, 18, 22, 30, 40], "elc": [5, 10, 11, 15, 20]})
    result = verdict("fig3-elc", df)
    assert result.verdict == "holds"
    assert result.parameter_set == "synthetic"


def test_fig3_elc_above_but_not_twice_is_partly():
    # Ratio 1.3 everywhere: above ELC, outside [1.7, 2.3].
    df = frame({"mpdob": [13, 26, 39, 52, 65], "elc": [10, 20, 30, 40, 50]})
    assert verdict("fig3-elc", df).verdict == "partly"


def test_fig3_elc_negative_elc_ratio_undefined():
    # ELC <= 0 at N = 45: the ratio is undefined there, so at most partly.
    df = frame({"mpdob": [10, 20, 30, 40, 5], "elc": [5, 10, 15, 20, -1]})
    result = verdict("fig3-elc", df)
    assert result.verdict == "partly"
    assert "undefined where ELC <= 0" in result.measured


def test_fig3_elc_below_does_not_hold():
    df = frame({"mpdob": [10, 20, 30, 40, 50], "elc": [5, 10, 15, 20, 60]})
    assert verdict("fig3-elc", df).verdict == "does not hold"


def test_fig3_ecc_half_and_falling_holds():
    # 5/10 = 0.5 at N = 9; ECC drops 5 - (-20) = 25 >= 0.5 * 10, falling every step.
    df = frame({"mpdob": [10, 20, 30, 40, 50], "ecc": [5, 0, -5, -10, -20]})
    assert verdict("fig3-ecc", df).verdict == "holds"


def test_fig3_ecc_half_but_rising_is_partly():
    df = frame({"mpdob": [10, 20, 30, 40, 50], "ecc": [5, 6, 7, 8, 9]})
    assert verdict("fig3-ecc", df).verdict == "partly"


def test_fig3_ecc_neither_part_does_not_hold():
    # 9/10 = 0.9 is not about half, and ECC rises.
    df = frame({"mpdob": [10, 20, 30, 40, 50], "ecc": [9, 12, 15, 18, 21]})
    assert verdict("fig3-ecc", df).verdict == "does not hold"


def test_fig3_ecc_small_drop_is_not_sharp():
    # ECC falls, but only by 1 < 0.5 * 10.
    df = frame({"mpdob": [10, 20, 30, 40, 50], "ecc": [5, 4.8, 4.6, 4.3, 4]})
    result = verdict("fig3-ecc", df)
    assert result.verdict == "partly"


def base_fig3(bdo):
    return {
        "mpdob": [10, 20, 30, 40, 50],
        "elc": [5, 9, 13, 17, 21],
        "ecc": [5, 0, -5, -10, -20],
        "bdo": bdo,
    }


def test_fig3_bdo_between_and_widening_holds():
    # Gap 10 - 8 = 2, 20 - 15 = 5, ... 50 - 30 = 20: widening.
    df = frame(base_fig3([8, 15, 20, 25, 30]))
    assert verdict("fig3-bdo", df).verdict == "holds"


def test_fig3_bdo_below_elc_is_partly():
    df = frame(base_fig3([4, 8, 12, 16, 20]))
    assert verdict("fig3-bdo", df).verdict == "partly"


def test_fig3_bdo_every_part_fails():
    # Above MP-DOB (gap negative and shrinking), below ELC and ECC.
    curves = base_fig3([11, 22, 33, 44, 55])
    curves["elc"] = [20, 30, 40, 50, 60]
    curves["ecc"] = [20, 30, 40, 50, 60]
    df = frame(curves)
    assert verdict("fig3-bdo", df).verdict == "does not hold"


# --- Figures 4 and 5 ----------------------------------------------------------------


def test_fig4_slight_then_far_holds():
    # Margins: (11 - 10)/10 = 0.1 at N = 9, (40 - 20)/20 = 1.0 at N = 45.
    df = frame({"mpdob": [11, 20, 28, 34, 40], "acco": [10, 14, 16, 18, 20]})
    assert verdict("fig4-acco", df).verdict == "holds"


def test_fig4_far_from_start_is_partly():
    # Margin 0.5 at N = 9 is not slight; the other parts hold.
    df = frame({"mpdob": [15, 25, 30, 35, 40], "acco": [10, 14, 16, 18, 20]})
    assert verdict("fig4-acco", df).verdict == "partly"


def test_fig4_acco_negative_counts_as_far():
    # ACCO <= 0 < MP-DOB at the largest N: the margin is unbounded, far above.
    df = frame({"mpdob": [11, 20, 28, 34, 40], "acco": [10, 5, 2, 1, -1]})
    result = verdict("fig4-acco", df)
    assert result.verdict == "partly"
    assert "far: >= 0.3) [yes]" in result.measured


def test_fig4_below_and_falling_does_not_hold():
    df = frame({"mpdob": [9, 8, 7, 6, 5], "acco": [10, 10, 10, 10, 10]})
    assert verdict("fig4-acco", df).verdict == "does not hold"


def test_fig5_steady_and_above_holds():
    df = frame({"mpdob": [5, 10, 15, 20, 25], "mtto": [4, 8, 12, 16, 20]})
    assert verdict("fig5-mtto", df).verdict == "holds"


def test_fig5_one_dip_is_partly():
    # MP-DOB dips from 15 to 14 at one step: not steady, still above MTTO.
    df = frame({"mpdob": [5, 15, 14, 20, 25], "mtto": [4, 8, 12, 16, 20]})
    assert verdict("fig5-mtto", df).verdict == "partly"


def test_fig5_below_and_falling_does_not_hold():
    df = frame({"mpdob": [5, 4, 3, 2, 1], "mtto": [6, 6, 6, 6, 6]})
    assert verdict("fig5-mtto", df).verdict == "does not hold"


# --- Figure 6 ---------------------------------------------------------------------


def test_fig6_saturated_and_on_top_holds():
    # Top third of N = 9..45 starts at 9 + 2/3 * 36 = 33, so the step 36 -> 45
    # counts: changes of 1, 1 and 1 points per 9 services, all <= 3.
    df = frame(
        {
            "mpdob": [0.2, 0.5, 0.7, 0.80, 0.81],
            "mtto": [0.3, 0.5, 0.6, 0.65, 0.66],
            "acco": [0.3, 0.4, 0.5, 0.55, 0.56],
        },
        value="offloading_rate",
    )
    assert verdict("fig6-rate", df).verdict == "holds"


def test_fig6_saturated_not_on_top_is_partly():
    df = frame(
        {
            "mpdob": [0.2, 0.5, 0.5, 0.50, 0.51],
            "mtto": [0.3, 0.5, 0.6, 0.65, 0.66],
            "acco": [0.3, 0.4, 0.5, 0.55, 0.56],
        },
        value="offloading_rate",
    )
    assert verdict("fig6-rate", df).verdict == "partly"


def test_fig6_still_climbing_and_below_does_not_hold():
    # MTTO climbs 20 points in the last step, and MP-DOB is lowest.
    df = frame(
        {
            "mpdob": [0.1, 0.1, 0.1, 0.1, 0.1],
            "mtto": [0.1, 0.2, 0.3, 0.4, 0.6],
            "acco": [0.1, 0.2, 0.3, 0.4, 0.5],
        },
        value="offloading_rate",
    )
    assert verdict("fig6-rate", df).verdict == "does not hold"


# --- Figure 7 -----------------------------------------------------------------------


def fig7_frame(gains: dict[str, list[float]]) -> pd.DataFrame:
    frames = []
    for assignment, gain in gains.items():
        df = frame({"mpdob": [10, 20, 30, 40, 50]}, assignment=assignment)
        without = df["system_qos"] - np.repeat(gain, 2)
        frames.append(df.assign(system_qos_without_lb=without))
    return pd.concat(frames, ignore_index=True)


def test_fig7_positive_growing_both_panels_holds():
    df = fig7_frame({"uniform": [0.1, 0.2, 0.3, 0.4, 0.5], "hotspot": [1, 2, 3, 4, 5]})
    assert verdict("fig7-balance", df).verdict == "holds"


def test_fig7_one_panel_failing_is_partly():
    df = fig7_frame({"uniform": [0.1, 0.2, 0.3, 0.4, 0.5], "hotspot": [-1, -2, -3, -4, -5]})
    assert verdict("fig7-balance", df).verdict == "partly"


def test_fig7_zero_gain_does_not_hold():
    df = fig7_frame({"uniform": [0, 0, 0, 0, 0], "hotspot": [0, 0, 0, 0, 0]})
    assert verdict("fig7-balance", df).verdict == "does not hold"


def test_fig7_missing_without_lb_raises():
    df = frame({"mpdob": [1, 2, 3, 4, 5]}).assign(system_qos_without_lb=np.nan)
    with pytest.raises(ValueError, match="system_qos_without_lb"):
        verdict("fig7-balance", df)


# --- Figure 8 ---------------------------------------------------------------------


def fig8_frame(means, half_spreads) -> pd.DataFrame:
    rows = []
    for n, mean, half in zip(NS, means, half_spreads, strict=True):
        for run, offset in enumerate((-half, 0.0, half)):
            rows.append(
                {"strategy": "mpdob", "n_services": n, "run": run, "system_qos": mean + offset}
            )
    return pd.DataFrame(rows)


def test_fig8_spread_grows_mean_rises_holds():
    df = fig8_frame([5, 10, 15, 20, 25], [1, 2, 3, 4, 5])
    result = verdict("fig8-robust", df)
    assert result.verdict == "holds"
    assert result.parameter_set == "unlabelled results"


def test_fig8_constant_spread_is_partly():
    df = fig8_frame([5, 10, 15, 20, 25], [1, 1, 1, 1, 1])
    assert verdict("fig8-robust", df).verdict == "partly"


def test_fig8_shrinking_spread_falling_mean_does_not_hold():
    df = fig8_frame([25, 20, 15, 10, 5], [5, 4, 3, 2, 1])
    assert verdict("fig8-robust", df).verdict == "does not hold"


# --- Figure 9 ---------------------------------------------------------------------


def fig9_frame(histories: dict[int, list[float]], converged: bool = True) -> pd.DataFrame:
    rows = []
    for n, history in histories.items():
        for run in (0, 1):
            for index, value in enumerate(history):
                rows.append(
                    {
                        "n_services": n,
                        "run": run,
                        "round": index,
                        "system_qos": value,
                        "rounds": len(history) - 1,
                        "converged": converged,
                    }
                )
    return pd.DataFrame(rows)


def test_fig9_concave_converged_holds():
    # 4 rounds, rise 10; at round 2 the rise is 8: share 0.8 >= 0.6.
    df = fig9_frame({9: [0, 5, 8, 9.5, 10], 18: [0, 6, 9, 10, 10.5]})
    assert verdict("fig9-converge", df).verdict == "holds"


def test_fig9_linear_rise_is_partly():
    # Rise linear: share 0.5 at half the rounds, below 0.6.
    df = fig9_frame({9: [0, 1, 2, 3, 4], 18: [0, 2, 4, 6, 8]})
    assert verdict("fig9-converge", df).verdict == "partly"


def test_fig9_no_rise_no_equilibrium_does_not_hold():
    df = fig9_frame({9: [5, 4, 3], 18: [5, 5, 5]}, converged=False)
    assert verdict("fig9-converge", df).verdict == "does not hold"


# --- ledger ---------------------------------------------------------------------


def test_ledger_without_files_marks_not_evaluated(tmp_path):
    table = ledger(tmp_path)
    assert len(table) == len(CLAIMS)
    assert set(table["verdict"]) == {"not evaluated"}
    assert table["measured"].str.contains("fig3.csv").sum() == 3


def test_ledger_reads_written_results(tmp_path):
    df = frame({"mpdob": [5, 10, 15, 20, 25], "mtto": [4, 8, 12, 16, 20]})
    df.to_csv(tmp_path / "fig5.csv", index=False)
    table = ledger(tmp_path).set_index("claim")
    assert table.loc["fig5-mtto", "verdict"] == "holds"
    assert table.loc["fig5-mtto", "parameter_set"] == "synthetic"
    assert table.loc["fig3-elc", "verdict"] == "not evaluated"


def test_evaluate_figure_returns_one_row_per_claim():
    df = frame(base_fig3([8, 15, 20, 25, 30]))
    table = evaluate_figure(3, df)
    assert list(table["claim"]) == ["fig3-elc", "fig3-ecc", "fig3-bdo"]
    assert set(table["verdict"]) <= set(claims.VERDICTS)


def test_fig6_rate_stuck_at_zero_not_saturated():
    # ACCO never offloads: flat at 0 %, which is not saturation.
    df = frame(
        {
            "mpdob": [0.2, 0.5, 0.7, 0.80, 0.81],
            "mtto": [0.3, 0.5, 0.6, 0.65, 0.66],
            "acco": [0.0, 0.0, 0.0, 0.0, 0.0],
        },
        value="offloading_rate",
    )
    result = verdict("fig6-rate", df)
    assert result.verdict == "partly"
    assert "above zero at the largest N) [no]" in result.measured


def test_fig9_dip_between_rounds_is_partly():
    # Converged, rises overall and quickly (share 9/10 at round 2), but falls
    # from 9 to 8 at round 3: not steady.
    df = fig9_frame({9: [0, 5, 9, 8, 10], 18: [0, 6, 9, 10, 10.5]})
    result = verdict("fig9-converge", df)
    assert result.verdict == "partly"
    assert "never fell between rounds in 2 of 4" in result.measured


def test_fig9_runs_without_update_count_for_convergence_only():
    # N = 9: no service offloads (0 rounds); N = 18 rises concavely.
    df = pd.concat(
        [fig9_frame({9: [5.0]}), fig9_frame({18: [0, 6, 9, 10, 10.5]})], ignore_index=True
    )
    result = verdict("fig9-converge", df)
    assert "(2 runs had none)" in result.measured
    # The share is undefined at N = 9 and skipped; N = 18 satisfies every part.
    assert result.verdict == "holds"


def test_fig6_saturation_per_nine_services():
    # Grid spacing 18: a change of 4 points per step is 4 / 18 * 9 = 2 points
    # per 9 services, so it counts as saturated; 8 points per step is 4.
    ns = [9, 27, 45, 63, 81]
    rates = {"mtto": [0.1, 0.2, 0.3, 0.35, 0.39], "acco": [0.1, 0.2, 0.3, 0.3, 0.3]}
    flat = frame({"mpdob": [0.2, 0.4, 0.5, 0.56, 0.60], **rates}, "offloading_rate", ns)
    climbing = frame({"mpdob": [0.2, 0.4, 0.5, 0.56, 0.64], **rates}, "offloading_rate", ns)
    assert verdict("fig6-rate", flat).verdict == "holds"
    assert verdict("fig6-rate", climbing).verdict == "partly"
