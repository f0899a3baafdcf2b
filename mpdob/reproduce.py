"""Run the figure notebooks with papermill, in parallel, with a result cache.

Each of Figures 3-9 of Xu et al., "Human-centric Service Offloading with CNN
Partitioning in Cloud-Edge Computing-Empowered Industrial Metaverse" (IEEE
Transactions on Industrial Informatics, 2023) has a parameterised notebook
``notebooks/figN_<slug>.ipynb``. :func:`run_figures` executes the chosen ones
in separate processes and writes each executed notebook to
``<output_dir>/figN.ipynb``, which the book shows as the figure's page. The
notebooks themselves write ``figN.csv`` and ``figN.png`` into their own
``output_dir`` parameter, ``data/results`` unless overridden.

A figure is skipped when nothing that can change its result has changed since
its last successful run and its outputs still exist. The SHA-256 cache key
covers the notebook, every source file of the ``mpdob`` package, the parameter
file, ``requirements.lock``, the effective parameters and the path of the
executed notebook. It is stored in ``data/results/.cache/figN.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "FIGURES",
    "PROFILES",
    "QUICK_PARAMETERS",
    "FigureExecutionError",
    "FigureRun",
    "UnknownParameterError",
    "discover_figures",
    "package_sources",
    "run_figures",
]

logger = logging.getLogger(__name__)
# A library leaves output to the application's logging set-up. Without this
# handler, Python's last-resort handler would print every error a second time
# next to the `progress` line.
logger.addHandler(logging.NullHandler())

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RESULTS_DIR = REPO_ROOT / "data" / "results"
PARAMS_FILE = REPO_ROOT / "data" / "params" / "paper.toml"
LOCK_FILE = REPO_ROOT / "requirements.lock"
#: Directory of the executed notebooks, which the book shows as figure pages:
#: ``book/figures`` of this repository.
#:
#: :meta hide-value:
DEFAULT_OUTPUT_DIR = REPO_ROOT / "book" / "figures"

NOTEBOOK_GLOB = "fig[0-9]*_*.ipynb"
_NOTEBOOK_NAME = re.compile(r"^fig(\d+)_.+\.ipynb$")

# Kernel that papermill starts. `make venv` installs this kernelspec with the
# environment's interpreter, and jupyter_client (8.x) replaces a bare "python"
# command with sys.executable, so the kernel runs in the caller's environment.
KERNEL_NAME = "python3"

#: Parameter profiles of :func:`run_figures`.
PROFILES = ("full", "quick")

# Notebook parameters that hold paths. The runner passes them relative to the
# notebook's directory, which is the working directory during execution.
_PATH_PARAMETERS = ("output_dir", "params_file")


def discover_figures(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict[int, Path]:
    """Find the figure notebooks ``figN_<slug>.ipynb`` in a directory.

    Parameters
    ----------
    notebooks_dir : str or Path
        Directory searched with the pattern ``fig[0-9]*_*.ipynb``.

    Returns
    -------
    dict of int to Path
        Figure number to notebook path, sorted by figure number. Empty when
        the directory does not exist.

    Raises
    ------
    ValueError
        If two notebooks carry the same figure number.
    """
    found: dict[int, Path] = {}
    for path in sorted(Path(notebooks_dir).glob(NOTEBOOK_GLOB)):
        match = _NOTEBOOK_NAME.match(path.name)
        if match is None:
            continue
        figure = int(match.group(1))
        if figure in found:
            raise ValueError(
                f"figure {figure} has two notebooks, {found[figure].name} and {path.name}. "
                "Rename or remove one."
            )
        found[figure] = path
    return dict(sorted(found.items()))


#: Figure number to notebook path, found in ``notebooks/`` when the module is imported.
#:
#: :meta hide-value:
FIGURES: dict[int, Path] = discover_figures()

_QUICK_DEFAULT: dict[str, Any] = {"n_runs": 2, "services": [9, 18]}
#: Figure number to the parameter overrides of the quick profile, used by the
#: tests and ``mpdob reproduce --quick``: few repetitions, two service counts.
QUICK_PARAMETERS: dict[int, dict[str, Any]] = {
    figure: dict(_QUICK_DEFAULT) for figure in range(3, 10)
}


@dataclass(frozen=True)
class FigureRun:
    """Result of one figure in :func:`run_figures`.

    ``seconds`` is the execution time in this call, 0.0 when ``cached``.
    """

    figure: int
    notebook: Path
    executed: Path
    cached: bool
    seconds: float


class UnknownParameterError(ValueError):
    """A parameter name that the figure notebook does not declare."""


class FigureExecutionError(RuntimeError):
    """One or more figure notebooks failed.

    ``failures`` maps each failed figure number to its error text.
    """

    def __init__(self, failures: Mapping[int, str]):
        self.failures = dict(sorted(failures.items()))
        lines = [f"figure {figure}: {text}" for figure, text in self.failures.items()]
        count = len(self.failures)
        noun = "notebook" if count == 1 else "notebooks"
        super().__init__(f"{count} figure {noun} failed:\n" + "\n".join(lines))


def package_sources(package_dir: str | Path = PACKAGE_DIR) -> list[Path]:
    """List the package's source files that take part in the cache key.

    These are ``*.py`` directly in ``package_dir`` and in its ``commands``
    subpackage, sorted by path.
    """
    package_dir = Path(package_dir)
    files = list(package_dir.glob("*.py")) + list((package_dir / "commands").glob("*.py"))
    return sorted(files)


@dataclass(frozen=True)
class _Plan:
    """Everything needed to decide on and execute one figure."""

    figure: int
    notebook: Path
    executed: Path
    parameters: dict[str, Any]
    outputs: tuple[Path, ...]
    key: str
    cache_file: Path


def _relative_to_notebook(value: Any, notebook_dir: Path) -> str:
    """Express a path parameter relative to the notebook's directory.

    A relative path given by the caller is taken relative to the current
    working directory first.
    """
    absolute = Path(os.path.abspath(Path(value)))
    return os.path.relpath(absolute, notebook_dir)


def _effective_parameters(
    figure: int,
    notebook: Path,
    declared: Mapping[str, Any],
    profile: str,
    parameters: Mapping[str, Any],
    results_dir: Path,
    params_file: Path,
) -> dict[str, Any]:
    """Merge the profile, the caller's parameters and the default paths."""
    effective: dict[str, Any] = {}
    if profile == "quick":
        effective.update(QUICK_PARAMETERS.get(figure, {}))
    effective.update(parameters)

    unknown = sorted(set(effective) - set(declared))
    if unknown:
        accepted = ", ".join(sorted(declared)) or "(none: the notebook has no parameters cell)"
        raise UnknownParameterError(
            f"figure {figure} ({notebook.name}) does not accept the parameter(s) "
            f"{', '.join(unknown)}. Accepted parameters: {accepted}"
        )

    # An empty path means the default, as it does in the notebooks themselves.
    defaults = {"output_dir": results_dir, "params_file": params_file}
    for name in _PATH_PARAMETERS:
        if effective.get(name) not in (None, ""):
            effective[name] = _relative_to_notebook(effective[name], notebook.parent)
        elif name in declared:
            effective[name] = _relative_to_notebook(defaults[name], notebook.parent)
    return effective


def _hash_files(digest: Any, label: str, paths: Iterable[Path]) -> None:
    for path in paths:
        digest.update(f"{label}:{path.parent.name}/{path.name}:".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def _cache_key(
    notebook: Path,
    sources: Sequence[Path],
    params_file: Path,
    lock_file: Path,
    parameters: Mapping[str, Any],
    executed: Path,
) -> str:
    """Compute the SHA-256 cache key of one figure execution."""
    digest = hashlib.sha256()
    _hash_files(digest, "notebook", [notebook])
    _hash_files(digest, "source", sources)
    _hash_files(digest, "params", [params_file])
    _hash_files(digest, "lock", [lock_file])
    canonical = json.dumps(dict(parameters), sort_keys=True, default=str)
    digest.update(b"parameters:" + canonical.encode())
    digest.update(b"executed:" + str(executed.resolve()).encode())
    return digest.hexdigest()


def _is_cached(plan: _Plan) -> bool:
    """Return whether the last successful run had the same key and left its outputs."""
    if not plan.cache_file.is_file():
        return False
    try:
        record = json.loads(plan.cache_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        logger.warning("ignoring unreadable cache record %s", plan.cache_file)
        return False
    if record.get("key") != plan.key:
        return False
    return all(path.is_file() for path in plan.outputs)


def _plan_figure(
    figure: int,
    notebook: Path,
    parameters: Mapping[str, Any],
    profile: str,
    output_dir: Path,
    results_dir: Path,
    params_file: Path,
    lock_file: Path,
    sources: Sequence[Path],
) -> _Plan:
    """Validate the parameters of one figure and compute its cache key."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    effective = _effective_parameters(
        figure, notebook, declared, profile, parameters, results_dir, params_file
    )

    try:
        json.dumps(effective)
    except TypeError as error:
        raise TypeError(
            f"figure {figure}: parameter values must be JSON values (numbers, strings, "
            f"booleans, None, lists and dicts of these): {error}"
        ) from None

    used_params_file = params_file
    if "params_file" in effective:
        used_params_file = (notebook.parent / effective["params_file"]).resolve()
    if not used_params_file.is_file():
        raise FileNotFoundError(
            f"figure {figure}: parameter file not found: {used_params_file}. "
            "Pass an existing TOML file as params_file."
        )

    executed = output_dir / f"fig{figure}.ipynb"
    outputs: list[Path] = [executed]
    if "output_dir" in effective:
        figure_dir = (notebook.parent / effective["output_dir"]).resolve()
        outputs += [figure_dir / f"fig{figure}.csv", figure_dir / f"fig{figure}.png"]

    key = _cache_key(notebook, sources, used_params_file, lock_file, effective, executed)
    return _Plan(
        figure=figure,
        notebook=notebook,
        executed=executed,
        parameters=effective,
        outputs=tuple(outputs),
        key=key,
        cache_file=results_dir / ".cache" / f"fig{figure}.json",
    )


def _describe_error(error: BaseException) -> str:
    """Summarise a notebook failure as the failing cell and its exception."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return f'cell "In [{error.exec_count}]" raised {error.ename}: {error.evalue}'
    return f"{type(error).__name__}: {error}"


def _worker_main() -> None:
    """Execute the notebook described by the task file ``sys.argv[1]``.

    Runs in a fresh interpreter started by :func:`_execute_in_subprocess`,
    and writes ``{"error": text or null}`` to the task's result file.
    """
    import papermill

    task = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    error = None
    try:
        papermill.execute_notebook(
            task["notebook"],
            task["executed"],
            parameters=task["parameters"],
            kernel_name=KERNEL_NAME,
            cwd=str(Path(task["notebook"]).parent),
            progress_bar=False,
            log_output=False,
        )
    except Exception as caught:  # noqa: BLE001 - reported to the parent process as text
        error = _describe_error(caught)
    Path(task["result"]).write_text(json.dumps({"error": error}), encoding="utf-8")


def _execute_in_subprocess(plan: _Plan) -> tuple[float, str | None]:
    """Execute one notebook in a child interpreter and return the seconds and the error text.

    A child process per notebook keeps the caller free of papermill's event
    loop and of multiprocessing's rules about the main module. The kernel
    that papermill starts inherits MPLBACKEND=Agg, so no figure opens a
    window.
    """
    environment = {**os.environ, "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mpdob-fig{plan.figure}-") as scratch:
        task_file = Path(scratch) / "task.json"
        result_file = Path(scratch) / "result.json"
        task = {
            "notebook": str(plan.notebook),
            "executed": str(plan.executed),
            "parameters": plan.parameters,
            "result": str(result_file),
        }
        task_file.write_text(json.dumps(task), encoding="utf-8")
        completed = subprocess.run(
            [sys.executable, "-c", _WORKER_CODE, str(task_file)],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if completed.stderr:
            logger.debug("figure %d: worker stderr:\n%s", plan.figure, completed.stderr)
        if result_file.is_file():
            return seconds, json.loads(result_file.read_text(encoding="utf-8"))["error"]
    # The worker died before it could report, e.g. on an import error.
    tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
    return seconds, f"the worker process exited with status {completed.returncode}: {tail}"


_WORKER_CODE = "from mpdob.reproduce import _worker_main; _worker_main()"


def _report(progress: Callable[[str], None] | None, line: str, level: int = logging.INFO) -> None:
    logger.log(level, line)
    if progress is not None:
        progress(line)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _finish(plan: _Plan, seconds: float) -> str | None:
    """Record a successful run in the cache, or return why it does not count."""
    missing = [path for path in plan.outputs if not path.is_file()]
    if missing:
        names = ", ".join(_display(path) for path in missing)
        return f"the notebook finished but did not write {names}"
    record = {
        "figure": plan.figure,
        "key": plan.key,
        "notebook": str(plan.notebook),
        "executed": str(plan.executed),
        "parameters": plan.parameters,
        "seconds": round(seconds, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    plan.cache_file.parent.mkdir(parents=True, exist_ok=True)
    plan.cache_file.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    return None


def run_figures(
    figures: Iterable[int] | None = None,
    parameters: Mapping[str, Any] | None = None,
    jobs: int | None = None,
    force: bool = False,
    output_dir: str | Path = DEFAULT_OUTPUT_DIR,
    profile: str = "full",
    progress: Callable[[str], None] | None = None,
    *,
    notebooks_dir: str | Path = NOTEBOOKS_DIR,
    results_dir: str | Path = RESULTS_DIR,
    params_file: str | Path = PARAMS_FILE,
    lock_file: str | Path = LOCK_FILE,
    sources: Sequence[str | Path] | None = None,
) -> list[FigureRun]:
    """Execute figure notebooks with papermill, skipping unchanged ones.

    Parameters
    ----------
    figures : iterable of int, optional
        Figure numbers to run. When omitted, every notebook found in
        ``notebooks_dir`` runs.
    parameters : mapping, optional
        Notebook parameter name to value, applied to every chosen figure on
        top of the profile. ``output_dir`` and ``params_file`` are paths
        relative to the current directory.
    jobs : int, optional
        Number of notebooks executed at once, one process each. Defaults to
        ``os.cpu_count()``.
    force : bool
        Execute even the figures whose cache record matches their inputs.
    output_dir : str or Path
        Directory of the executed notebooks ``figN.ipynb``. This is not the
        notebooks' own ``output_dir`` parameter, which defaults to
        ``results_dir``.
    profile : {"full", "quick"}
        ``"quick"`` applies :data:`QUICK_PARAMETERS` under ``parameters``.
    progress : callable, optional
        Called with one line of text per event: started, cached, finished
        (with seconds) and failed.
    notebooks_dir, results_dir, params_file, lock_file : str or Path
        Locations of the figure notebooks, of their CSV and PNG outputs and
        of the cache records, of the default parameter file and of the lock
        file. The defaults are the ones of this repository.
    sources : sequence of path, optional
        Files whose content invalidates every figure's cache. Defaults to
        :func:`package_sources`.

    Returns
    -------
    list of FigureRun
        One entry per chosen figure, sorted by figure number.

    Raises
    ------
    ValueError
        If a figure number has no notebook, ``profile`` or ``jobs`` is
        invalid, or a parameter is unknown (:class:`UnknownParameterError`).
        Nothing runs in these cases.
    TypeError
        If a parameter value is not a JSON value. Nothing runs in this case.
    FileNotFoundError
        If the parameter file does not exist. Nothing runs in this case.
    FigureExecutionError
        After all chosen figures have finished, if any notebook raised or did
        not write its outputs.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, but received {profile!r}")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, but received {jobs!r}")

    available = discover_figures(notebooks_dir)
    chosen = sorted(set(available if figures is None else figures))
    missing = [figure for figure in chosen if figure not in available]
    if missing:
        listed = ", ".join(str(figure) for figure in available) or "none"
        raise ValueError(
            f"no notebook for figure(s) {', '.join(map(str, missing))} in {notebooks_dir}. "
            f"Available figures: {listed}"
        )

    output_dir = Path(output_dir).resolve()
    results_dir = Path(results_dir).resolve()
    source_files = package_sources() if sources is None else [Path(path) for path in sources]

    # Validate and key every figure before executing any of them.
    plans = [
        _plan_figure(
            figure,
            available[figure].resolve(),
            dict(parameters or {}),
            profile,
            output_dir,
            results_dir,
            Path(params_file).resolve(),
            Path(lock_file).resolve(),
            source_files,
        )
        for figure in chosen
    ]

    runs: dict[int, FigureRun] = {}
    pending: list[_Plan] = []
    for plan in plans:
        if not force and _is_cached(plan):
            _report(progress, f"figure {plan.figure}: cached, inputs unchanged since its last run")
            runs[plan.figure] = FigureRun(plan.figure, plan.notebook, plan.executed, True, 0.0)
        else:
            pending.append(plan)

    failures = _execute_plans(pending, jobs, progress, runs)
    if failures:
        raise FigureExecutionError(failures)
    return [runs[figure] for figure in sorted(runs)]


def _execute_plans(
    pending: list[_Plan],
    jobs: int,
    progress: Callable[[str], None] | None,
    runs: dict[int, FigureRun],
) -> dict[int, str]:
    """Execute the plans, one child process each, and fill ``runs``.

    Returns the error text of each failed figure.
    """
    failures: dict[int, str] = {}
    if not pending:
        return failures

    for plan in pending:
        plan.executed.parent.mkdir(parents=True, exist_ok=True)
        # A run that fails half-way must not leave a valid record behind.
        plan.cache_file.unlink(missing_ok=True)

    workers = min(jobs, len(pending))
    queue = list(pending)
    running: dict[Future, _Plan] = {}
    # Each thread only waits for its child process, which does the work.
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mpdob-figure") as pool:
        # Submit at most one task per worker, so that each "started" line is
        # reported when its notebook really starts.
        while queue or running:
            while queue and len(running) < workers:
                plan = queue.pop(0)
                _report(progress, f"figure {plan.figure}: started {_display(plan.notebook)}")
                running[pool.submit(_execute_in_subprocess, plan)] = plan
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                plan = running.pop(future)
                try:
                    seconds, error = future.result()
                except OSError as caught:  # e.g. the interpreter could not be started
                    seconds, error = 0.0, f"{type(caught).__name__}: {caught}"
                if error is None:
                    error = _finish(plan, seconds)
                if error is None:
                    _report(progress, f"figure {plan.figure}: finished in {seconds:.1f} s")
                    runs[plan.figure] = FigureRun(
                        plan.figure, plan.notebook, plan.executed, False, seconds
                    )
                else:
                    text = f"{error} (executed notebook: {_display(plan.executed)})"
                    line = f"figure {plan.figure}: failed after {seconds:.1f} s: {text}"
                    _report(progress, line, logging.ERROR)
                    failures[plan.figure] = text
    return failures
