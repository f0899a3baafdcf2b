"""Write the figure notebooks fig3 ... fig9 with nbformat.

The notebooks are generated so that their code can be reviewed here as
plain Python strings; commit this script and the notebooks it writes.
Run it from anywhere:

    python notebooks/make_notebooks.py

Every notebook has a first cell tagged ``parameters`` (read by papermill)
with ``services``, ``n_runs``, ``seed``, ``params_file``, ``overrides`` and
``output_dir``. It writes ``figN.csv`` (one row per strategy, N and run) and
``figN.png`` into ``output_dir``, shows the figure, checks whether the 95%
intervals of the compared curves separate, and prints the verdict of each
claim about the figure from :mod:`mpdob.claims`.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK_DIR = Path(__file__).resolve().parent

DEFAULT_SERVICES = "[9, 18, 27, 36, 45, 54, 63, 72, 81, 90]"


def code(text: str, tags: list[str] | None = None):
    cell = new_code_cell(dedent(text).strip("\n"))
    if tags:
        cell.metadata["tags"] = tags
    return cell


def markdown(text: str):
    return new_markdown_cell(dedent(text).strip("\n"))


def parameters_cell(services: str, n_runs: int):
    return code(
        f"""
        # Services per slot N on the x-axis (see mpdob.experiments.DEFAULT_SERVICES).
        services = {services}
        # Scenarios per N; run r at N is the same scenario for every strategy.
        n_runs = {n_runs}
        # Root seed: run r at N draws from numpy SeedSequence([seed, N, r]).
        seed = 0
        # Parameter file; "" is the repository's data/params/paper.toml.
        params_file = ""
        # Parameter name -> value in the file's units, applied on top of the file.
        overrides = {{}}
        # Where figN.csv and figN.png go; "" is the repository's data/results.
        output_dir = ""
        """,
        tags=["parameters"],
    )


SETUP = """
    import matplotlib.pyplot as plt
    import pandas as pd
    from IPython.display import Image, display

    from mpdob import claims, experiments, plotting
    from mpdob.params import load_params

    services = experiments.literal_parameter("services", services, list)
    overrides = experiments.literal_parameter("overrides", overrides, dict)
    params_path = experiments.resolve_params_file(params_file)
    out_dir = experiments.resolve_output_dir(output_dir)
    params = load_params(params_path, overrides)
    label = experiments.parameter_label(params_path, overrides, seed, n_runs)
    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", 200)
    label
"""

RUN_NOTE = """
    ## Runs and their cost

    Each point is the mean over `n_runs` scenarios; the band is its 95%
    t-interval. All strategies at one (N, run) face the same scenario, so
    their differences are paired. The default `n_runs` keeps the whole set
    of figure notebooks within a few minutes on two cores. It is also meant
    to keep the intervals of the compared curves apart, and the interval
    check below reports every N where they still overlap. The table below is
    the measured wall time of one slot per strategy, in seconds.
"""

TIMING = """
    df.groupby(["strategy", "n_services"])["seconds"].mean().unstack("strategy").round(4)
"""

INTERVAL_NOTE = """
    ## Are the intervals narrower than the differences?

    For each N and each pair of compared curves: do their 95% intervals
    overlap? Where they overlap, the figure alone cannot separate the two
    curves at that N with this many runs. Because every strategy ran on the
    same scenarios, the paired difference per run is the sharper test. Its
    interval is shown last, with whether it excludes zero.
"""

VERDICT_CODE = """
    verdicts = claims.evaluate_figure({figure}, df)
    for row in verdicts.itertuples():
        print(f"{{row.claim}}: {{row.verdict.upper()}}")
        print(f"  claim:     {{row.statement}}")
        print(f"  criterion: {{row.criterion}}")
        print(f"  measured:  {{row.measured}}")
        print(f"  parameters: {{row.parameter_set}}")
"""

OVERLAP_SUMMARY = """
    def report_overlaps(table, what):
        separate = int((~table["overlap"]).sum())
        print(f"{what}: intervals separate at {separate} of {len(table)} comparisons")
        overlapping = table[table["overlap"]]
        if len(overlapping):
            print("overlapping at:")
            columns = [c for c in table.columns if not c.endswith("_ci")]
            print(overlapping[columns].to_string(index=False))
"""


def sweep_notebook(
    figure: int,
    title: str,
    intro: str,
    claim_text: str,
    strategies: list[str],
    value: str,
    y_label: str,
    n_runs: int,
    scale: float = 1.0,
    pairs: list[tuple[str, str]] | None = None,
    zoom: list[str] | None = None,
):
    """Notebook of a figure that sweeps strategies over N (Figures 3-6).

    ``pairs`` lists the (first, second) strategies whose paired difference the
    interval check reports; by default the first strategy against each other.
    ``zoom`` adds a second panel with only these strategies, for curves that
    the scale of the others would flatten.
    """
    names = repr(strategies)
    if pairs is None:
        pairs = [(strategies[0], other) for other in strategies[1:]]
    panels = [("all strategies" if zoom else "", strategies)]
    if zoom:
        panels.append(("detail", zoom))
    cells = [
        markdown(f"# Figure {figure}: {title}\n\n{dedent(intro).strip()}"),
        parameters_cell(DEFAULT_SERVICES, n_runs),
        code(SETUP),
        code(
            f"""
            strategies = {names}
            df = experiments.sweep(strategies, services, n_runs, seed, params)
            df["parameter_set"] = label
            df.to_csv(out_dir / "fig{figure}.csv", index=False)
            summary = experiments.summarise(df, "{value}")
            """
        ),
        code(
            f"""
            panels = {panels}
            fig, axes = plotting.new_figure(ncols=len(panels))
            for ax, (title, names) in zip(axes, panels, strict=True):
                plotting.plot_summary(ax, summary, names, scale={scale})
                ax.set_title(title)
                ax.set_xlabel(plotting.LABEL_SERVICES)
                ax.set_ylabel({y_label})
                ax.set_xticks(sorted(df["n_services"].unique()))
                ax.legend()
            png = plotting.save_figure(fig, out_dir / "fig{figure}.png")
            plt.close(fig)
            display(Image(filename=str(png)))
            display(summary)
            """
        ),
        markdown(RUN_NOTE),
        code(TIMING),
        markdown(INTERVAL_NOTE),
        code(
            OVERLAP_SUMMARY
            + f"""
    overlaps = experiments.compare_intervals(summary, strategies)
    report_overlaps(overlaps, "95% intervals of the means")
    pairs = {repr(pairs)}
    paired = experiments.paired_differences(df, pairs, "{value}")
    print(
        f"paired differences: interval excludes zero at "
        f"{{int(paired['excludes_zero'].sum())}} of {{len(paired)}} (pair, N)"
    )
    paired[["first", "second", "n_services", "mean", "ci_low", "ci_high", "excludes_zero"]]
    """
        ),
        markdown(f"## The claim under test\n\n{dedent(claim_text).strip()}"),
        code(VERDICT_CODE.format(figure=figure)),
    ]
    return cells


def fig3():
    return sweep_notebook(
        3,
        "system-wide QoS of MP-DOB, BDO, ELC and ECC",
        """
        System-wide QoS (the sum of Q_i over the slot's services) against the
        number of services per slot, for MP-DOB and three simple baselines:
        everything at the edge (ELC), everything whole in the cloud (ECC) and a
        random whole-task split (BDO).
        """,
        """
        The paper (Fig. 3) states three things: MP-DOB's system-wide QoS is
        "always nearly doubled" compared with ELC; ECC is "nearly half" of
        MP-DOB with few services and "falls sharply" as services grow; BDO lies
        above ELC and ECC, below MP-DOB, with a gap that becomes "more and more
        significant". The criteria and their tolerances are in
        `mpdob.claims`; the cell below prints each criterion with the verdict.
        """,
        ["mpdob", "bdo", "elc", "ecc"],
        "system_qos",
        "plotting.LABEL_QOS",
        n_runs=30,
        zoom=["mpdob", "elc"],
        pairs=[
            ("mpdob", "elc"),
            ("mpdob", "ecc"),
            ("mpdob", "bdo"),
            ("bdo", "elc"),
            ("bdo", "ecc"),
        ],
    )


def fig4():
    return sweep_notebook(
        4,
        "system-wide QoS of MP-DOB and ACCO",
        """
        System-wide QoS of MP-DOB against ACCO, a greedy whole-task offloading
        heuristic re-implemented from its published description on this
        project's cost model.
        """,
        """
        The paper (Fig. 4) says MP-DOB is "only slightly more" than ACCO with
        few services, "far superior" with many, and that both grow.
        """,
        ["mpdob", "acco"],
        "system_qos",
        "plotting.LABEL_QOS",
        n_runs=30,
    )


def fig5():
    return sweep_notebook(
        5,
        "system-wide QoS of MP-DOB and MTTO",
        """
        System-wide QoS of MP-DOB against MTTO, a whole-task offloading game
        with a learned cloud allocation. MTTO's full method is not public;
        this is a re-implementation from its abstract.
        """,
        """
        The paper (Fig. 5) says both achieve "steady growth" as services
        increase and MP-DOB "always has better results" than MTTO.
        """,
        ["mpdob", "mtto"],
        "system_qos",
        "plotting.LABEL_QOS",
        n_runs=30,
    )


def fig6():
    return sweep_notebook(
        6,
        "offloading rate of MP-DOB, MTTO and ACCO",
        """
        Offloading rate against the number of services. As in the paper, the
        rate of MP-DOB is the offloaded share of the tail computation (FLOP
        sent to the cloud over all tail FLOP), while the rate of MTTO and ACCO
        is the share of services that offload. The two definitions differ, so
        the curves compare like with like only loosely.
        """,
        """
        The paper (Fig. 6) says the three rates are "finally saturated" and
        that MP-DOB "always occupies the top" when services are many.
        """,
        ["mpdob", "mtto", "acco"],
        "offloading_rate",
        "plotting.LABEL_RATE",
        n_runs=30,
        scale=100.0,
    )


def fig7():
    cells = [
        markdown(
            """
            # Figure 7: MP-DOB with and without load balance

            System-wide QoS of MP-DOB with its load-balance step (Algorithm 3)
            and without it, on the same scenarios and the same offloading game.
            The paper motivates load balance by edge servers whose load surges,
            so there are two panels: services spread uniformly over the edge
            servers, and a hotspot where a share of the services (parameter
            `hotspot_share`) arrives at one server.
            """
        ),
        parameters_cell(DEFAULT_SERVICES, 30),
        code(SETUP),
        code(
            """
            panels = ["uniform", "hotspot"]
            frames = [
                experiments.sweep(["mpdob"], services, n_runs, seed, params, assignment=panel)
                for panel in panels
            ]
            df = pd.concat(frames, ignore_index=True)
            df["parameter_set"] = label
            df.to_csv(out_dir / "fig7.csv", index=False)

            # Long table with one curve per mode, and the paired gain per run.
            with_lb = df.assign(strategy="mpdob")
            without_lb = df.assign(strategy="mpdob-nolb", system_qos=df["system_qos_without_lb"])
            curves = pd.concat([with_lb, without_lb], ignore_index=True)
            by = ["assignment", "strategy", "n_services"]
            summary = experiments.summarise(curves, "system_qos", by=by)
            gains = df.assign(gain=df["system_qos"] - df["system_qos_without_lb"])
            gain_summary = experiments.summarise(
                gains, "gain", by=["assignment", "strategy", "n_services"]
            )
            """
        ),
        code(
            """
            fig, axes = plotting.new_figure(ncols=2)
            for ax, panel in zip(axes, panels, strict=True):
                part = summary[summary["assignment"] == panel]
                plotting.plot_summary(ax, part, ["mpdob", "mpdob-nolb"])
                ax.set_title(f"{panel} assignment")
                ax.set_xlabel(plotting.LABEL_SERVICES)
                ax.set_ylabel(plotting.LABEL_QOS)
                ax.set_xticks(sorted(df["n_services"].unique()))
            axes[0].legend()
            png = plotting.save_figure(fig, out_dir / "fig7.png")
            plt.close(fig)
            display(Image(filename=str(png)))
            display(gain_summary)
            """
        ),
        markdown(RUN_NOTE),
        code(TIMING),
        markdown(
            """
            ## Are the intervals narrower than the differences?

            The figure is about the gain of load balance, which is paired: both
            modes are evaluated on the same run. The first check tests whether
            the 95% interval of the mean gain excludes zero at each N. The
            second tests whether the intervals of the two curves overlap.
            """
        ),
        code(
            OVERLAP_SUMMARY
            + """
    gain_summary["excludes_zero"] = experiments.interval_excludes(gain_summary)
    for panel in panels:
        part = gain_summary[gain_summary["assignment"] == panel]
        print(
            f"{panel}: gain interval excludes zero at "
            f"{int(part['excludes_zero'].sum())} of {len(part)} N"
        )
        curve_part = summary[summary["assignment"] == panel]
        overlaps = experiments.compare_intervals(curve_part, ["mpdob", "mpdob-nolb"])
        report_overlaps(overlaps, f"{panel}: with vs without load balance")
    """
        ),
        markdown(
            """
            ## The claim under test

            The paper (Fig. 7) says the load-balance module is effective "in
            terms of different service scale" and that "the improvement of QoS
            increases with the growth of service number". The verdict combines
            both panels.
            """
        ),
        code(VERDICT_CODE.format(figure=7)),
    ]
    return cells


def fig8():
    cells = [
        markdown(
            """
            # Figure 8: robustness of MP-DOB

            Minimum, mean and maximum system-wide QoS of MP-DOB over the runs at
            each number of services. The band around the mean is its 95%
            t-interval. The minimum and maximum depend on the number of runs,
            so compare them only between figures with equal `n_runs`.
            """
        ),
        parameters_cell(DEFAULT_SERVICES, 30),
        code(SETUP),
        code(
            """
            df = experiments.sweep(["mpdob"], services, n_runs, seed, params)
            df["parameter_set"] = label
            df.to_csv(out_dir / "fig8.csv", index=False)
            summary = experiments.summarise(df, "system_qos")
            summary["spread"] = summary["max"] - summary["min"]
            """
        ),
        code(
            """
            fig, axes = plotting.new_figure()
            ax = axes[0]
            x = summary["n_services"]
            plotting.plot_band(
                ax, x, summary["mean"], summary["ci_low"], summary["ci_high"],
                name="mpdob", label="mean (95% interval)",
            )
            plotting.plot_band(
                ax, x, summary["max"], name="mpdob", label="maximum", marker="^",
                linestyle="--", color=plotting.OKABE_ITO["bluish_green"],
            )
            plotting.plot_band(
                ax, x, summary["min"], name="mpdob", label="minimum", marker="v",
                linestyle=":", color=plotting.OKABE_ITO["vermillion"],
            )
            ax.set_xlabel(plotting.LABEL_SERVICES)
            ax.set_ylabel(plotting.LABEL_QOS)
            ax.set_xticks(sorted(df["n_services"].unique()))
            ax.legend()
            png = plotting.save_figure(fig, out_dir / "fig8.png")
            plt.close(fig)
            display(Image(filename=str(png)))
            display(summary)
            """
        ),
        markdown(RUN_NOTE),
        code(TIMING),
        markdown(
            """
            ## Are the intervals narrower than the differences?

            The claim about the mean is that it rises from each N to the next,
            so the check compares the 95% intervals of the mean at consecutive
            values of N.
            """
        ),
        code(
            OVERLAP_SUMMARY
            + """
    steps = experiments.consecutive_overlaps(summary)
    report_overlaps(steps, "consecutive N")
    """
        ),
        markdown(
            """
            ## The claim under test

            The paper (Fig. 8) says the difference between the minimum and
            maximum QoS "is getting larger" with more services, while the
            average "keeps a constant increase".
            """
        ),
        code(VERDICT_CODE.format(figure=8)),
    ]
    return cells


def fig9():
    cells = [
        markdown(
            """
            # Figure 9: convergence of Algorithm 2 inside MP-DOB

            System-wide QoS after each update of the offloading game (Algorithm
            2) as MP-DOB runs it, from the all-local start to the Nash
            equilibrium, for a few numbers of services. Runs that stop earlier
            keep their final value, so the mean over runs is defined at every
            round. The band is the 95% t-interval of that mean.
            """
        ),
        parameters_cell("[18, 45, 90]", 20),
        code(SETUP),
        code(
            """
            df = experiments.convergence(services, seed, params, n_runs)
            df["parameter_set"] = label
            df.to_csv(out_dir / "fig9.csv", index=False)
            padded = experiments.extend_histories(df)
            summary = experiments.summarise(padded, "system_qos", by=["n_services", "round"])
            df.groupby("n_services").agg(
                runs=("run", "nunique"),
                max_rounds=("rounds", "max"),
                all_converged=("converged", "all"),
            )
            """
        ),
        code(
            """
            fig, axes = plotting.new_figure()
            ax = axes[0]
            colours = ["blue", "orange", "bluish_green", "vermillion", "reddish_purple"]
            markers = ["o", "s", "D", "^", "v"]
            for index, n in enumerate(sorted(df["n_services"].unique())):
                rows = summary[summary["n_services"] == n].sort_values("round")
                plotting.plot_band(
                    ax, rows["round"], rows["mean"], rows["ci_low"], rows["ci_high"],
                    label=f"N = {n} services", color=plotting.OKABE_ITO[colours[index % 5]],
                    marker=markers[index % 5], markevery=max(1, len(rows) // 10),
                )
            ax.set_xlabel(plotting.LABEL_ROUND)
            ax.set_ylabel(plotting.LABEL_QOS)
            ax.legend()
            png = plotting.save_figure(fig, out_dir / "fig9.png")
            plt.close(fig)
            display(Image(filename=str(png)))
            """
        ),
        markdown(
            """
            ## Are the intervals narrower than the differences?

            The figure is about the rise from the all-local start to the
            equilibrium. The check below tests, per N, whether the 95% interval
            of the paired rise (final minus initial QoS of each run) excludes
            zero.
            """
        ),
        code(
            """
            first = df[df["round"] == 0].set_index(["n_services", "run"])["system_qos"]
            last = df.sort_values("round").groupby(["n_services", "run"])["system_qos"].last()
            rise = (last - first).rename("rise").reset_index()
            rise_summary = experiments.summarise(rise, "rise", by=["n_services"])
            rise_summary["excludes_zero"] = experiments.interval_excludes(rise_summary)
            rise_summary
            """
        ),
        markdown(
            """
            ## The claim under test

            The paper (Fig. 9) says the QoS "improves quickly and constantly"
            at first and "converges to a value" after finitely many iterations,
            at a Nash equilibrium.
            """
        ),
        code(VERDICT_CODE.format(figure=9)),
    ]
    return cells


NOTEBOOKS = {
    "fig3_qos_baselines.ipynb": fig3,
    "fig4_acco.ipynb": fig4,
    "fig5_mtto.ipynb": fig5,
    "fig6_offloading_rate.ipynb": fig6,
    "fig7_load_balance.ipynb": fig7,
    "fig8_robustness.ipynb": fig8,
    "fig9_convergence.ipynb": fig9,
}


def build(name: str):
    notebook = new_notebook(cells=NOTEBOOKS[name]())
    # Fixed cell ids keep regenerated notebooks identical when nothing changed.
    stem = name.split("_")[0]
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{stem}-{index:02d}"
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def main() -> None:
    for name in NOTEBOOKS:
        notebook = build(name)
        nbformat.validate(notebook)
        nbformat.write(notebook, NOTEBOOK_DIR / name)


if __name__ == "__main__":
    main()
