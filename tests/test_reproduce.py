"""Tests of the figure runner (mpdob.reproduce) and `mpdob reproduce`.

The runner tests execute tiny notebooks generated in tmp_path, so they need a
working Python kernel but none of the real figure notebooks.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import papermill
import pytest

from mpdob import reproduce
from mpdob.commands import reproduce as command
from mpdob.reproduce import FigureExecutionError, UnknownParameterError, run_figures

PARAMETERS_CELL = 'n_runs = 1\nlabel = "a"\nfail = False\noutput_dir = "results"\n'


def _body(figure: int) -> str:
    # Writes the two outputs the runner expects and appends one line per
    # execution to executions.log, so tests count executions independently
    # of FigureRun.cached.
    return (
        "from pathlib import Path\n"
        "out = Path(output_dir)\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "if fail:\n"
        f"    raise ValueError('figure {figure} failed on purpose')\n"
        f"(out / 'fig{figure}.csv').write_text(f'n_runs,label\\n{{n_runs}},{{label}}\\n')\n"
        f"(out / 'fig{figure}.png').write_bytes(b'png')\n"
        f"with open(out / 'executions{figure}.log', 'a') as log:\n"
        "    log.write(f'{n_runs}\\n')\n"
    )


def write_notebook(directory: Path, figure: int, parameters: str = PARAMETERS_CELL) -> Path:
    """Write ``fig<figure>_tiny.ipynb`` with a tagged parameters cell."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell(_body(figure))]
    path = directory / f"fig{figure}_tiny.ipynb"
    nbformat.write(notebook, path)
    return path


class Project:
    """A throw-away layout of notebooks, results, parameter, lock and source files."""

    def __init__(self, root: Path):
        self.root = root
        self.notebooks = root / "notebooks"
        self.results = root / "results"
        self.executed = root / "executed"
        self.params_file = root / "params.toml"
        self.lock_file = root / "requirements.lock"
        self.source = root / "module.py"
        self.notebooks.mkdir()
        self.params_file.write_text("[n_channels]\nvalue = 10\n")
        self.lock_file.write_text("numpy==2.0.0\n")
        self.source.write_text("X = 1\n")

    def run(self, **kwargs):
        kwargs.setdefault("jobs", 1)
        return run_figures(
            output_dir=self.executed,
            notebooks_dir=self.notebooks,
            results_dir=self.results,
            params_file=self.params_file,
            lock_file=self.lock_file,
            sources=[self.source],
            **kwargs,
        )

    def executions(self, figure: int) -> list[str]:
        log = self.results / f"executions{figure}.log"
        return log.read_text().split() if log.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path)
    write_notebook(project.notebooks, 1)
    return project


def test_run_executes_notebook(project: Project):
    [figure_run] = project.run()

    assert figure_run.figure == 1
    assert figure_run.cached is False
    assert figure_run.seconds > 0
    assert figure_run.notebook == (project.notebooks / "fig1_tiny.ipynb").resolve()
    assert figure_run.executed == (project.executed / "fig1.ipynb").resolve()
    assert figure_run.executed.is_file()
    assert (project.results / "fig1.csv").read_text() == "n_runs,label\n1,a\n"
    assert (project.results / "fig1.png").is_file()
    assert project.executions(1) == ["1"]


def test_run_records_cache_key(project: Project):
    project.run()

    record = json.loads((project.results / ".cache" / "fig1.json").read_text())
    assert record["figure"] == 1
    assert len(record["key"]) == 64
    assert record["parameters"] == {"output_dir": "../results"}


def test_second_call_is_cached(project: Project):
    project.run()
    [second] = project.run()

    assert second.cached is True
    assert second.seconds == 0.0
    assert project.executions(1) == ["1"]


def test_changed_parameter_reruns(project: Project):
    project.run(parameters={"n_runs": 1})
    [second] = project.run(parameters={"n_runs": 2})

    assert second.cached is False
    assert project.executions(1) == ["1", "2"]
    assert (project.results / "fig1.csv").read_text() == "n_runs,label\n2,a\n"


@pytest.mark.parametrize("changed", ["source", "params_file", "lock_file", "notebook"])
def test_changed_input_file_reruns(project: Project, changed: str):
    project.run()
    if changed == "notebook":
        write_notebook(project.notebooks, 1, PARAMETERS_CELL + "# edited\n")
    else:
        path = getattr(project, changed)
        path.write_text(path.read_text() + "# edited\n")
    [second] = project.run()

    assert second.cached is False
    assert project.executions(1) == ["1", "1"]


@pytest.mark.parametrize("output", ["fig1.png", "fig1.csv"])
def test_missing_output_reruns(project: Project, output: str):
    project.run()
    (project.results / output).unlink()
    [second] = project.run()

    assert second.cached is False
    assert (project.results / output).is_file()


def test_missing_executed_notebook_reruns(project: Project):
    project.run()
    (project.executed / "fig1.ipynb").unlink()
    [second] = project.run()

    assert second.cached is False


def test_force_reruns(project: Project):
    project.run()
    [second] = project.run(force=True)

    assert second.cached is False
    assert project.executions(1) == ["1", "1"]


def test_unknown_parameter_raises_before_running(project: Project):
    with pytest.raises(UnknownParameterError) as caught:
        project.run(parameters={"n_rnus": 3})

    message = str(caught.value)
    assert "figure 1" in message
    assert "n_rnus" in message
    assert "n_runs" in message
    assert not project.executed.exists()
    assert project.executions(1) == []


def test_unknown_parameter_stops_other_figures(project: Project):
    write_notebook(project.notebooks, 2, 'output_dir = "results"\nfail = False\n')

    with pytest.raises(UnknownParameterError, match="figure 2"):
        project.run(parameters={"n_runs": 3})

    assert project.executions(1) == []


def test_raising_notebook_raises_after_others(project: Project):
    write_notebook(project.notebooks, 2, PARAMETERS_CELL.replace("False", "True"))

    with pytest.raises(FigureExecutionError) as caught:
        project.run(jobs=2)

    assert set(caught.value.failures) == {2}
    message = str(caught.value)
    assert "figure 2" in message
    assert "ValueError" in message
    assert "failed on purpose" in message
    assert project.executions(1) == ["1"]
    assert (project.results / ".cache" / "fig1.json").is_file()
    assert not (project.results / ".cache" / "fig2.json").exists()


def test_notebook_without_outputs_fails(project: Project):
    write_notebook(project.notebooks, 2)
    (project.notebooks / "fig2_tiny.ipynb").write_text(
        (project.notebooks / "fig2_tiny.ipynb").read_text().replace("fig2.png", "other.png")
    )

    with pytest.raises(FigureExecutionError, match="did not write .*fig2.png"):
        project.run(figures=[2])


def test_failed_figure_is_not_cached(project: Project):
    project.run()
    with pytest.raises(FigureExecutionError):
        project.run(parameters={"fail": True})
    [third] = project.run()

    assert third.cached is False


def test_unknown_figure_raises(project: Project):
    with pytest.raises(ValueError, match=r"figure\(s\) 7 .*Available figures: 1"):
        project.run(figures=[7])


def test_relative_output_dir_follows_cwd(project: Project, monkeypatch):
    monkeypatch.chdir(project.root)
    project.run(parameters={"output_dir": "elsewhere"})

    assert (project.root / "elsewhere" / "fig1.csv").is_file()


def test_missing_params_file_raises(project: Project):
    write_notebook(project.notebooks, 2, PARAMETERS_CELL + 'params_file = "x.toml"\n')

    with pytest.raises(FileNotFoundError, match="figure 2"):
        project.run(figures=[2], parameters={"params_file": str(project.root / "none.toml")})


def test_progress_reports_each_event(project: Project):
    lines: list[str] = []
    project.run(progress=lines.append)
    project.run(progress=lines.append)

    assert lines[0].startswith("figure 1: started")
    assert lines[1].startswith("figure 1: finished in ")
    assert lines[1].endswith(" s")
    assert lines[2].startswith("figure 1: cached")
    assert len(lines) == 3


def test_progress_reports_failure(project: Project):
    lines: list[str] = []
    with pytest.raises(FigureExecutionError):
        project.run(parameters={"fail": True}, progress=lines.append)

    assert lines[-1].startswith("figure 1: failed after ")


def test_parallel_jobs_run_all(project: Project):
    write_notebook(project.notebooks, 2)
    runs = project.run(jobs=2)

    assert [figure_run.figure for figure_run in runs] == [1, 2]
    assert project.executions(1) == ["1"]
    assert project.executions(2) == ["1"]


@pytest.mark.parametrize(("keyword", "value"), [("profile", "slow"), ("jobs", 0), ("jobs", 1.5)])
def test_invalid_option_raises(project: Project, keyword: str, value):
    with pytest.raises(ValueError, match=keyword):
        project.run(**{keyword: value})


def test_discover_figures_by_name(tmp_path: Path):
    for name in ["fig3_a.ipynb", "fig10_b.ipynb", "fig_notes.ipynb", "figure4_c.ipynb"]:
        (tmp_path / name).write_text("{}")

    found = reproduce.discover_figures(tmp_path)

    assert found == {3: tmp_path / "fig3_a.ipynb", 10: tmp_path / "fig10_b.ipynb"}


def test_discover_figures_rejects_duplicates(tmp_path: Path):
    (tmp_path / "fig3_a.ipynb").write_text("{}")
    (tmp_path / "fig3_b.ipynb").write_text("{}")

    with pytest.raises(ValueError, match="figure 3 has two notebooks"):
        reproduce.discover_figures(tmp_path)


def test_package_sources_cover_commands():
    names = {
        path.relative_to(reproduce.PACKAGE_DIR).as_posix() for path in reproduce.package_sources()
    }

    assert "reproduce.py" in names
    assert "commands/reproduce.py" in names


def test_quick_profile_matches_notebooks():
    if not reproduce.FIGURES:
        pytest.skip("notebooks/ holds no figure notebook yet")
    for figure, notebook in reproduce.FIGURES.items():
        declared = papermill.inspect_notebook(str(notebook))
        quick = reproduce.QUICK_PARAMETERS.get(figure)
        assert quick is not None, f"QUICK_PARAMETERS has no entry for figure {figure}"
        unknown = set(quick) - set(declared)
        assert not unknown, f"figure {figure} does not declare {sorted(unknown)}"


# --- mpdob reproduce -------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mpdob")
    command.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("[10, 20]", [10, 20]),
        ('{"n_channels": 5}', {"n_channels": 5}),
        ("true", True),
        ("data/params/alt.toml", "data/params/alt.toml"),
        ("yolov1", "yolov1"),
    ],
)
def test_parse_value(text: str, value):
    assert command.parse_value(text) == value


def test_command_passes_parsed_options(monkeypatch):
    received = {}

    def fake_run_figures(**kwargs):
        received.update(kwargs)
        return []

    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("fig3_x.ipynb")})
    monkeypatch.setattr(reproduce, "run_figures", fake_run_figures)
    args = _parse(
        [
            "reproduce",
            "3",
            "-p",
            "services",
            "[10, 20]",
            "-p",
            "n_runs",
            "5",
            "--quick",
            "--jobs",
            "1",
        ]
    )

    assert command.run(args) == 0
    assert received["figures"] == [3]
    assert received["parameters"] == {"services": [10, 20], "n_runs": 5}
    assert received["profile"] == "quick"
    assert received["jobs"] == 1
    assert received["force"] is False


def test_command_unknown_figure_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a"), 4: Path("b")})

    status = command.run(_parse(["reproduce", "99"]))

    assert status == 2
    assert "Available figures: 3, 4" in capsys.readouterr().err


def test_command_notebook_failure_exits_1(monkeypatch, capsys):
    def failing_run_figures(**kwargs):
        raise FigureExecutionError({3: "cell raised ValueError: boom"})

    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", failing_run_figures)

    assert command.run(_parse(["reproduce"])) == 1
    assert "figure 3: cell raised ValueError: boom" in capsys.readouterr().err


def test_command_unknown_parameter_exits_2(monkeypatch, capsys):
    def rejecting_run_figures(**kwargs):
        raise UnknownParameterError("figure 3 does not accept the parameter(s) n_rnus")

    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", rejecting_run_figures)

    assert command.run(_parse(["reproduce", "-p", "n_rnus", "3"])) == 2
    assert "n_rnus" in capsys.readouterr().err


def test_non_json_parameter_raises(project: Project):
    with pytest.raises(TypeError, match="figure 1: parameter values must be JSON values"):
        project.run(parameters={"label": object()})

    assert not project.executed.exists()


def test_empty_output_dir_means_default(project: Project):
    [figure_run] = project.run(parameters={"output_dir": ""})

    assert figure_run.cached is False
    assert (project.results / "fig1.csv").is_file()


def _fail_if_called(**kwargs):
    raise AssertionError("run_figures must not be called")


def _figure_runs(executed_dir: Path, cached: bool) -> list[reproduce.FigureRun]:
    return [
        reproduce.FigureRun(
            figure=figure,
            notebook=Path(f"fig{figure}_x.ipynb"),
            executed=executed_dir / f"fig{figure}.ipynb",
            cached=cached,
            seconds=0.0 if cached else 2.5,
        )
        for figure in (3, 4)
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["99"], "mpdob reproduce: error: no notebook for figure(s) 99. Available figures: 3"),
        (["--jobs", "0"], "mpdob reproduce: error: --jobs must be an integer >= 1, got 0"),
    ],
)
def test_command_option_errors_prefixed(monkeypatch, capsys, argv, expected):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", _fail_if_called)

    status = command.run(_parse(["reproduce", *argv]))

    assert status == 2
    assert capsys.readouterr().err == expected + "\n"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UnknownParameterError("figure 3 does not accept the parameter(s) n_rnus"), 2),
        (FileNotFoundError("figure 3: parameter file not found: x.toml"), 2),
        (FigureExecutionError({3: "cell raised ValueError: boom"}), 1),
    ],
)
def test_command_runner_errors_prefixed(monkeypatch, capsys, error, status):
    def raising_run_figures(**kwargs):
        raise error

    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", raising_run_figures)

    assert command.run(_parse(["reproduce"])) == status
    err = capsys.readouterr().err
    assert err.startswith("mpdob reproduce: error: ")
    assert str(error) in err


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("n_runs", "0", "-p n_runs must be an integer >= 1, got 0"),
        ("n_runs", "-4", "-p n_runs must be an integer >= 1, got -4"),
        ("n_runs", "2.5", "-p n_runs must be an integer >= 1, got 2.5"),
        ("n_runs", "true", "-p n_runs must be an integer >= 1, got True"),
        ("n_runs", "five", "-p n_runs must be an integer >= 1, got 'five'"),
        ("seed", "-1", "-p seed must be an integer >= 0, got -1"),
        ("seed", "1.0", "-p seed must be an integer >= 0, got 1.0"),
        ("seed", "[0]", "-p seed must be an integer >= 0, got [0]"),
        ("output_dir", "5", "-p output_dir must be a path (a string), got 5"),
        ("params_file", "null", "-p params_file must be a path (a string), got None"),
    ],
)
def test_command_invalid_parameter_value(monkeypatch, capsys, name, value, expected):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", _fail_if_called)

    status = command.run(_parse(["reproduce", "-p", name, value]))

    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"mpdob reproduce: error: {expected}\n"


@pytest.mark.parametrize(("name", "value"), [("n_runs", "1"), ("seed", "0"), ("seed", "7")])
def test_command_accepts_boundary_values(monkeypatch, name, value):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a")})
    monkeypatch.setattr(reproduce, "run_figures", lambda **kwargs: [])

    assert command.run(_parse(["reproduce", "-p", name, value])) == 0


def test_command_prints_output_paths(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a"), 4: Path("b")})
    monkeypatch.setattr(
        reproduce, "run_figures", lambda **kwargs: _figure_runs(tmp_path, cached=False)
    )

    assert command.run(_parse(["reproduce"])) == 0

    lines = capsys.readouterr().out.splitlines()
    results = reproduce.RESULTS_DIR
    assert lines[0] == "figure 3: executed in 2.5 s"
    assert lines[1] == f"  executed notebook: {tmp_path / 'fig3.ipynb'}"
    assert lines[2] == f"  data and image: {results / 'fig3.csv'}, {results / 'fig3.png'}"
    assert lines[3] == "figure 4: executed in 2.5 s"
    assert lines[5] == f"  data and image: {results / 'fig4.csv'}, {results / 'fig4.png'}"
    assert "replaced the book's copies" in lines[6]
    assert str(results) in lines[6]
    assert "-p output_dir DIR" in lines[6]
    assert len(lines) == 7


def test_command_prints_variant_output_dir(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a"), 4: Path("b")})
    monkeypatch.setattr(
        reproduce, "run_figures", lambda **kwargs: _figure_runs(tmp_path, cached=False)
    )

    assert command.run(_parse(["reproduce", "-p", "output_dir", "variants/fig"])) == 0

    out = capsys.readouterr().out
    variant = tmp_path.resolve() / "variants" / "fig"
    assert f"  data and image: {variant / 'fig3.csv'}, {variant / 'fig3.png'}" in out
    assert "book's copies" not in out


def test_command_cached_run_replaces_nothing(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr(reproduce, "discover_figures", lambda: {3: Path("a"), 4: Path("b")})
    monkeypatch.setattr(reproduce, "run_figures", lambda **kwargs: _figure_runs(tmp_path, True))

    assert command.run(_parse(["reproduce"])) == 0

    out = capsys.readouterr().out
    assert "figure 3: cached\n" in out
    assert f"{reproduce.RESULTS_DIR / 'fig4.png'}" in out
    assert "book's copies" not in out


def test_command_help_shows_resolved_output_dir():
    parser = argparse.ArgumentParser(prog="mpdob")
    subparser = command.register(parser.add_subparsers(dest="command"))
    help_text = " ".join(subparser.format_help().split())

    assert f"(default: {reproduce.DEFAULT_OUTPUT_DIR})" in help_text
    assert "``" not in help_text


# --- make venv --------------------------------------------------------------


def test_make_venv_missing_interpreter(tmp_path: Path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    root = Path(__file__).parents[1]
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)

    completed = subprocess.run(
        [make, "PYTHON=nosuchpython", "venv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode != 0
    assert "error: Python interpreter 'nosuchpython' not found." in completed.stderr
    assert "make PYTHON=python3.12 venv" in completed.stderr
    assert "/bin/sh" not in completed.stderr
    assert not (tmp_path / ".venv").exists()
