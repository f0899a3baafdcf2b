"""Slow tests: every figure notebook runs with the quick profile, and the book builds.

Both work in a copy of the repository under tmp_path, so the committed
results in data/results and the real book/_build stay untouched. The book
build runs the figure notebooks through the local Sphinx extension. When the
notebook test ran first, the extension finds them in the runner's cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from mpdob import reproduce

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"
FIGURES = sorted(reproduce.FIGURES)

# Top-level entries of the repository that the copy leaves out: environments,
# caches and build outputs.
_NOT_COPIED = {".venv", ".git", ".pytest_cache", ".hypothesis", ".ruff_cache", "mpdob.egg-info"}
_NOT_COPIED_INSIDE = {Path("book/_build"), Path("book/figures"), Path("data/results/.cache")}

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_TRACEBACK = "Traceback (most recent call last)"
_IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg")


def _ignore(directory: str, names: list[str]) -> set[str]:
    relative = Path(directory).relative_to(ROOT)
    ignored = {name for name in names if name == "__pycache__" or name == ".ipynb_checkpoints"}
    if relative == Path("."):
        ignored |= _NOT_COPIED & set(names)
    ignored |= {name for name in names if relative / name in _NOT_COPIED_INSIDE}
    return ignored


@pytest.fixture(scope="module")
def repository_copy(tmp_path_factory) -> Path:
    """Copy the repository without its environment, caches and build outputs."""
    copy = tmp_path_factory.mktemp("repository") / "mpdob"
    shutil.copytree(ROOT, copy, ignore=_ignore)
    return copy


def _run_quick(copy: Path) -> dict[int, str]:
    """Execute every figure notebook of the copy and return the failures by figure."""
    # The same locations that book/_ext/mpdob_figures.py derives for the copy,
    # so the book build below reuses these executions.
    try:
        reproduce.run_figures(
            output_dir=copy / "book" / "figures",
            profile="quick",
            notebooks_dir=copy / "notebooks",
            results_dir=copy / "data" / "results",
            params_file=copy / "data" / "params" / "paper.toml",
            lock_file=copy / "requirements.lock",
        )
    except reproduce.FigureExecutionError as error:
        return error.failures
    return {}


@pytest.fixture(scope="module")
def quick_failures(repository_copy: Path) -> dict[int, str]:
    if not FIGURES:
        pytest.skip("notebooks/ holds no figure notebook (notebooks/fig<N>_<slug>.ipynb)")
    return _run_quick(repository_copy)


def _image_outputs(path: Path) -> int:
    notebook = nbformat.read(path, as_version=4)
    return sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if any(kind in output.get("data", {}) for kind in _IMAGE_TYPES)
    )


@pytest.mark.parametrize("figure", FIGURES or [None])
def test_figure_notebook_shows_image(repository_copy, quick_failures, figure):
    assert figure not in quick_failures, f"figure {figure} failed: {quick_failures[figure]}"
    executed = repository_copy / "book" / "figures" / f"fig{figure}.ipynb"
    # Under MPLBACKEND=Agg, plt.show() displays nothing: a notebook has to
    # display the figure itself, e.g. IPython.display.Image(filename=png).
    assert _image_outputs(executed) >= 1, f"{executed.name} has no image output"


@pytest.fixture(scope="module")
def book_build(repository_copy: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Build the copy's book with warnings as errors and return the process and HTML dir."""
    if not FIGURES:
        pytest.skip("notebooks/ holds no figure notebook (notebooks/fig<N>_<slug>.ipynb)")
    environment = {**os.environ, "MPDOB_BOOK_PROFILE": "quick", "MPLBACKEND": "Agg"}
    environment["PATH"] = f"{JUPYTER_BOOK.parent}{os.pathsep}{environment.get('PATH', '')}"
    command = [str(JUPYTER_BOOK), "build", "book/", "-W", "-n", "--keep-going"]
    completed = subprocess.run(
        command,
        cwd=repository_copy,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    (repository_copy / "book-build.log").write_text(completed.stdout + completed.stderr)
    return completed, repository_copy / "book" / "_build" / "html"


def _problems(completed: subprocess.CompletedProcess) -> str:
    lines = _ANSI_ESCAPE.sub("", completed.stdout + completed.stderr).splitlines()
    # Kernels print a WARNING about unencrypted TCP on start, which is not a build problem.
    lines = [line for line in lines if not line.startswith("[IPKernelApp]")]
    flagged = [line for line in lines if "WARNING" in line or "ERROR" in line or "Error" in line]
    return "\n".join(flagged[-60:] or lines[-60:])


def _pages(html: Path) -> list[Path]:
    # Generated source views (_modules, _sources) are not pages of the book.
    return sorted(
        path for path in html.rglob("*.html") if not path.relative_to(html).parts[0].startswith("_")
    )


def test_book_builds_without_warnings(book_build):
    completed, html = book_build

    assert completed.returncode == 0, (
        f"jupyter-book build -W -n --keep-going exited with {completed.returncode}:\n"
        + _problems(completed)
    )
    assert (html / "index.html").is_file()


@pytest.mark.parametrize("figure", FIGURES or [None])
def test_figure_page_has_image(book_build, figure):
    _, html = book_build
    page = html / "figures" / f"fig{figure}.html"

    assert page.is_file(), f"the build wrote no {page.name}"
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert soup.find("img") is not None, f"{page.name} has no <img>"


def test_no_page_shows_traceback(book_build):
    _, html = book_build
    pages = _pages(html)
    assert pages, "the build wrote no HTML page"

    with_traceback = []
    with_ansi = []
    with_error_output = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(html).as_posix()
        if _TRACEBACK in text:
            with_traceback.append(name)
        if "\x1b[" in text:
            with_ansi.append(name)
        soup = BeautifulSoup(text, "html.parser")
        if soup.select(".traceback, .output.error"):
            with_error_output.append(name)

    assert not with_traceback, f"pages with a Python traceback: {with_traceback}"
    assert not with_ansi, f"pages with ANSI escape sequences: {with_ansi}"
    assert not with_error_output, f"pages with an error output cell: {with_error_output}"


def test_no_unrendered_glue(book_build):
    _, html = book_build

    leftovers = []
    for page in _pages(html):
        text = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").get_text()
        if "{glue" in text or ".. glue" in text:
            leftovers.append(page.relative_to(html).as_posix())

    assert not leftovers, f"pages with an unrendered glue role or directive: {leftovers}"
