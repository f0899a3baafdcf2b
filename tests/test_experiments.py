"""Tests of the sweeps behind Figures 3-9: common random numbers, summaries, intervals."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mpdob import experiments
from mpdob.experiments import (
    DEFAULT_SERVICES,
    SWEEP_COLUMNS,
    compare_intervals,
    convergence,
    extend_histories,
    interval_excludes,
    parameter_label,
    resolve_output_dir,
    resolve_params_file,
    scenario_seed,
    strategy_seed,
    summarise,
    sweep,
)
from mpdob.params import DEFAULT_PARAMS_PATH, load_params


@pytest.fixture(scope="module")
def params():
    return load_params()


class RecordingRunner:
    """Stand-in for run_strategy that records what each strategy received."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, scenario, rng, models=None):
        draw = float(rng.random())
        self.calls.append(
            {
                "name": name,
                "n": scenario.n_services,
                "scenario": scenario.d_in_bit.tobytes() + scenario.alpha.tobytes(),
                "draw": draw,
            }
        )
        return SimpleNamespace(
            system_qos=draw,
            offloading_rate=0.5,
            channel=np.zeros(scenario.n_services, dtype=int),
            rounds=0,
            extra={},
        )


def without_time(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns="seconds")


# --- seeds ------------------------------------------------------------------------


def test_default_services_light_to_heavy(params):
    # First point: one service per edge server (9 / 9); last: ten per server.
    assert DEFAULT_SERVICES[0] == params.n_edge_servers
    assert DEFAULT_SERVICES[-1] == 10 * params.n_edge_servers


def test_scenario_seed_rejects_negative():
    with pytest.raises(ValueError, match="run must be a non-negative integer"):
        scenario_seed(0, 9, -1)


def test_strategy_seed_depends_on_name_only():
    parent = scenario_seed(3, 18, 2)
    first = np.random.default_rng(strategy_seed(parent, "bdo")).random(4)
    again = np.random.default_rng(strategy_seed(scenario_seed(3, 18, 2), "bdo")).random(4)
    other = np.random.default_rng(strategy_seed(parent, "mtto")).random(4)
    scenario_stream = np.random.default_rng(parent).random(4)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, scenario_stream)


# --- sweep with a stand-in runner -------------------------------------------------


def test_sweep_shape_and_columns(params):
    runner = RecordingRunner()
    df = sweep(["a", "b", "c"], [9, 18], n_runs=3, seed=1, params=params, runner=runner)
    assert list(df.columns) == list(SWEEP_COLUMNS)
    # 3 strategies x 2 values of N x 3 runs.
    assert len(df) == 18
    assert set(df["assignment"]) == {params.assignment}
    assert df["system_qos_without_lb"].isna().all()


def test_sweep_same_scenario_for_every_strategy(params):
    runner = RecordingRunner()
    sweep(["a", "b"], [9, 18], n_runs=2, seed=1, params=params, runner=runner)
    calls = pd.DataFrame(runner.calls)
    calls["run"] = [0, 0, 1, 1] * 2
    per_point = calls.groupby(["n", "run"])["scenario"].nunique()
    assert (per_point == 1).all()
    # Different runs at one N draw different scenarios.
    assert calls[calls["n"] == 9]["scenario"].nunique() == 2


def test_sweep_strategy_stream_ignores_other_strategies(params):
    alone = sweep(["b"], [9], n_runs=3, seed=4, params=params, runner=RecordingRunner())
    together = sweep(["a", "b"], [9], n_runs=3, seed=4, params=params, runner=RecordingRunner())
    b_rows = together[together["strategy"] == "b"].reset_index(drop=True)
    assert np.array_equal(alone["system_qos"].to_numpy(), b_rows["system_qos"].to_numpy())


def test_sweep_rejects_bad_arguments(params):
    with pytest.raises(ValueError, match="services must be integers >= 1"):
        sweep(["a"], [0], n_runs=1, params=params, runner=RecordingRunner())
    with pytest.raises(ValueError, match="n_runs must be an integer >= 1"):
        sweep(["a"], [9], n_runs=0, params=params, runner=RecordingRunner())
    with pytest.raises(ValueError, match="strategies must name at least one"):
        sweep([], [9], n_runs=1, params=params, runner=RecordingRunner())


# --- sweep with the real baselines --------------------------------------------------


def test_sweep_real_baselines_reproducible(params):
    first = sweep(["elc", "bdo"], [9, 27], n_runs=2, seed=7, params=params)
    second = sweep(["elc", "bdo"], [9, 27], n_runs=2, seed=7, params=params)
    pd.testing.assert_frame_equal(without_time(first), without_time(second))
    other_seed = sweep(["elc", "bdo"], [9, 27], n_runs=2, seed=8, params=params)
    assert not np.allclose(first["system_qos"], other_seed["system_qos"])


def test_sweep_elc_never_offloads(params):
    df = sweep(["elc"], [9, 27], n_runs=2, seed=0, params=params)
    assert (df["offloading_rate"] == 0).all()
    assert (df["n_offloading"] == 0).all()
    assert (df["rounds"] == 0).all()


def test_sweep_bdo_same_with_other_strategies(params):
    alone = sweep(["bdo"], [18], n_runs=2, seed=5, params=params)
    together = sweep(["ecc", "bdo", "elc"], [18], n_runs=2, seed=5, params=params)
    bdo = together[together["strategy"] == "bdo"].reset_index(drop=True)
    pd.testing.assert_frame_equal(without_time(alone), without_time(bdo))


def test_sweep_hotspot_assignment_recorded(params):
    df = sweep(["elc"], [18], n_runs=1, seed=0, params=params, assignment="hotspot")
    assert set(df["assignment"]) == {"hotspot"}


# --- summaries and intervals -------------------------------------------------------


def test_summarise_t_interval():
    df = pd.DataFrame({"strategy": ["a"] * 3, "n_services": [9] * 3, "system_qos": [1.0, 2.0, 3.0]})
    row = summarise(df, "system_qos").iloc[0]
    # mean 2, sample std 1, t(0.975, 2) = 4.302652729911275,
    # half width = 4.302652729911275 / sqrt(3) = 2.484137...
    assert row["mean"] == pytest.approx(2.0)
    assert row["std"] == pytest.approx(1.0)
    assert row["min"] == 1.0
    assert row["max"] == 3.0
    assert row["n"] == 3
    assert row["ci_low"] == pytest.approx(2.0 - 2.4841377118)
    assert row["ci_high"] == pytest.approx(2.0 + 2.4841377118)


def test_summarise_single_run_has_no_interval():
    df = pd.DataFrame({"strategy": ["a"], "n_services": [9], "system_qos": [1.0]})
    row = summarise(df, "system_qos").iloc[0]
    assert math.isnan(row["ci_low"])
    assert math.isnan(row["ci_high"])


def test_summarise_unknown_column():
    df = pd.DataFrame({"strategy": ["a"], "n_services": [9], "system_qos": [1.0]})
    with pytest.raises(ValueError, match="column 'qos' not found"):
        summarise(df, "qos")


def interval_table(rows):
    return pd.DataFrame(rows, columns=["strategy", "n_services", "mean", "ci_low", "ci_high"])


def test_compare_intervals_overlap_and_gap():
    summary = interval_table(
        [
            ("a", 9, 1.0, 0.5, 1.5),
            ("b", 9, 1.2, 1.0, 1.4),  # overlaps a at N = 9
            ("a", 18, 5.0, 4.5, 5.5),
            ("b", 18, 2.0, 1.5, 2.5),  # separate from a at N = 18
        ]
    )
    table = compare_intervals(summary, ["a", "b"]).set_index("n_services")
    assert bool(table.loc[9, "overlap"]) is True
    assert bool(table.loc[18, "overlap"]) is False
    assert table.loc[18, "mean_difference"] == pytest.approx(3.0)


def test_interval_excludes_zero():
    summary = interval_table(
        [("a", 9, 1.0, 0.5, 1.5), ("a", 18, 0.1, -0.2, 0.4), ("a", 27, 1.0, np.nan, np.nan)]
    )
    assert list(interval_excludes(summary)) == [True, False, False]


# --- convergence --------------------------------------------------------------------


class GameRunner:
    """Stand-in for run_strategy whose game rises by 1 per offloading service."""

    def __call__(self, name, scenario, rng, models=None):
        assert name == "mpdob"
        rounds = scenario.n_services // 9
        game = SimpleNamespace(
            qos_history=np.arange(rounds + 1, dtype=float), rounds=rounds, converged=True
        )
        return SimpleNamespace(extra={"game": game})


def test_convergence_long_format(params):
    df = convergence([9, 18], seed=0, params=params, n_runs=2, runner=GameRunner())
    # N = 9: 1 round, 2 rows per run; N = 18: 2 rounds, 3 rows per run.
    assert len(df) == 2 * 2 + 2 * 3
    assert list(df.columns) == ["n_services", "run", "round", "system_qos", "rounds", "converged"]
    assert df.groupby(["n_services", "run"])["round"].max().tolist() == [1, 1, 2, 2]


def test_convergence_without_game_raises(params):
    def runner(name, scenario, rng, models=None):
        return SimpleNamespace(extra={})

    with pytest.raises(ValueError, match="carries no game history"):
        convergence([9], params=params, n_runs=1, runner=runner)


def test_extend_histories_pads_with_final_value():
    df = pd.DataFrame(
        {
            "n_services": [9] * 5,
            "run": [0, 0, 0, 1, 1],
            "round": [0, 1, 2, 0, 1],
            "system_qos": [0.0, 1.0, 1.5, 0.0, 2.0],
        }
    )
    padded = extend_histories(df)
    run1 = padded[padded["run"] == 1]["system_qos"].tolist()
    assert run1 == [0.0, 2.0, 2.0]


# --- paths and labels ---------------------------------------------------------------


def test_resolve_params_file_default_and_relative(tmp_path, monkeypatch):
    assert resolve_params_file("") == DEFAULT_PARAMS_PATH
    monkeypatch.chdir(tmp_path)
    assert resolve_params_file("alt.toml") == tmp_path / "alt.toml"


def test_resolve_output_dir_creates_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = resolve_output_dir("out/figs")
    assert path == tmp_path / "out" / "figs"
    assert path.is_dir()


def test_literal_parameter_parses_text():
    assert experiments.literal_parameter("services", "[9, 27]", list) == [9, 27]
    assert experiments.literal_parameter("services", (9, 27), list) == [9, 27]
    assert experiments.literal_parameter("overrides", "{'varpi': 0.2}", dict) == {"varpi": 0.2}
    with pytest.raises(ValueError, match="services must be a list"):
        experiments.literal_parameter("services", "9", list)
    with pytest.raises(ValueError, match="overrides must be a dict literal"):
        experiments.literal_parameter("overrides", "{oops", dict)


def test_parameter_label_lists_overrides():
    label = parameter_label("", {"varpi": 0.2, "cloud_sharing": "fixed"}, seed=3, n_runs=5)
    assert label == "paper.toml (cloud_sharing=fixed, varpi=0.2); seed 3; 5 runs per point"
    assert "no overrides" in parameter_label("", {}, 0, 1)


def test_results_dir_inside_repository():
    assert experiments.RESULTS_DIR.parts[-2:] == ("data", "results")


def test_paired_differences_tighter_than_means():
    # Two runs per N; b is a minus exactly 1 in each run, while a varies a lot
    # across runs (0 and 10), so the means' intervals overlap but the paired
    # difference is exactly 1 with zero spread.
    df = pd.DataFrame(
        {
            "strategy": ["a", "b", "a", "b"],
            "n_services": [9, 9, 9, 9],
            "run": [0, 0, 1, 1],
            "system_qos": [0.0, -1.0, 10.0, 9.0],
        }
    )
    table = experiments.paired_differences(df, [("a", "b")])
    row = table.iloc[0]
    assert row["first"] == "a"
    assert row["mean"] == pytest.approx(1.0)
    assert row["std"] == pytest.approx(0.0)
    means = compare_intervals(summarise(df, "system_qos"), ["a", "b"])
    assert bool(means.iloc[0]["overlap"]) is True


def test_paired_differences_unknown_strategy():
    df = pd.DataFrame({"strategy": ["a"], "n_services": [9], "run": [0], "system_qos": [1.0]})
    with pytest.raises(ValueError, match="strategy 'b' has no rows"):
        experiments.paired_differences(df, [("a", "b")])


class CountingRunner:
    """Stand-in runner with a one-round game that counts calls per strategy."""

    def __init__(self):
        self.calls = {}

    def __call__(self, name, scenario, rng, models=None):
        self.calls[name] = self.calls.get(name, 0) + 1
        game = SimpleNamespace(qos_history=np.array([0.0, 1.0]), rounds=1, converged=True)
        return SimpleNamespace(
            system_qos=1.0,
            offloading_rate=0.1,
            channel=np.zeros(scenario.n_services, dtype=int),
            rounds=1,
            extra={"game": game, "system_qos_without_lb": 0.5},
        )


def test_figure_frames_reuse_mpdob_slots(params):
    runner = CountingRunner()
    frames = experiments.figure_frames(params, [9, 18], n_runs=2, label="x", runner=runner)
    assert sorted(frames) == [3, 4, 5, 6, 7, 8, 9]
    # MP-DOB: 2 N x 2 runs uniform + 2 x 2 hotspot; Figure 9 reuses the uniform slots.
    assert runner.calls["mpdob"] == 8
    assert runner.calls["elc"] == 4
    assert set(frames[7]["assignment"]) == {"uniform", "hotspot"}
    assert set(frames[8]["strategy"]) == {"mpdob"}
    assert (frames[3]["parameter_set"] == "x").all()
    assert len(frames[9]) == 2 * 2 * 2


# --- figure notebooks -----------------------------------------------------------------

NOTEBOOK_DIR = experiments.REPO_ROOT / "notebooks"
NOTEBOOK_PARAMETERS = {"services", "n_runs", "seed", "params_file", "overrides", "output_dir"}


def load_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebooks", NOTEBOOK_DIR / "make_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_match_generator():
    import nbformat

    generator = load_generator()
    assert len(generator.NOTEBOOKS) == 7
    for name in generator.NOTEBOOKS:
        written = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        expected = generator.build(name)
        written_sources = [cell.source for cell in written.cells]
        expected_sources = [cell.source for cell in expected.cells]
        assert written_sources == expected_sources, f"{name}: rerun make_notebooks.py"


def test_notebook_parameters_cell():
    import papermill

    for path in sorted(NOTEBOOK_DIR.glob("fig*_*.ipynb")):
        declared = papermill.inspect_notebook(str(path))
        assert set(declared) == NOTEBOOK_PARAMETERS, path.name
        assert declared["params_file"]["default"] == '""', path.name
        assert declared["output_dir"]["default"] == '""', path.name


# --- with the real MP-DOB (exact steps, so no trained models are needed) ------------------


def test_figure_frames_real_mpdob_consistent(params):
    frames = experiments.figure_frames(
        params, [9, 27], n_runs=2, label="exact", runner=experiments.exact_mpdob_runner
    )
    mpdob = frames[8].set_index(["n_services", "run"])
    history = frames[9].sort_values("round").groupby(["n_services", "run"])["system_qos"]
    # The game is played before load balance, so its final QoS is MP-DOB's QoS
    # without load balance on the same scenario.
    np.testing.assert_allclose(
        history.last().sort_index().to_numpy(),
        mpdob["system_qos_without_lb"].sort_index().to_numpy(),
    )
    # The exact load balance includes "move nothing", so it never loses QoS.
    assert (mpdob["system_qos"] >= mpdob["system_qos_without_lb"] - 1e-9).all()
    assert frames[9]["converged"].all()
