"""Sphinx extension that executes the figure notebooks before the book is read.

On ``builder-inited`` it calls :func:`mpdob.reproduce.run_figures` for the
repository that contains the book, so ``jupyter-book build book/`` alone
writes fresh ``figures/figN.ipynb`` pages. Unchanged figures come from the
runner's cache. Two environment variables control the run:

``MPDOB_BOOK_PROFILE``
    ``full`` (default) runs each notebook with its own parameters, ``quick``
    with the fast profile that the tests use.
``MPDOB_JOBS``
    Number of notebooks executed at once (default: the number of CPU cores).

A notebook that fails stops the build with the figure and the cell error.
"""

from __future__ import annotations

import os
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

from mpdob import reproduce

logger = logging.getLogger(__name__)

PROFILE_VARIABLE = "MPDOB_BOOK_PROFILE"
JOBS_VARIABLE = "MPDOB_JOBS"


def _jobs_from_environment() -> int | None:
    text = os.environ.get(JOBS_VARIABLE, "").strip()
    if not text:
        return None
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise ConfigError(f"{JOBS_VARIABLE} must be an integer >= 1, but received {text!r}")
    return jobs


def _profile_from_environment() -> str:
    profile = os.environ.get(PROFILE_VARIABLE, "full").strip() or "full"
    if profile not in reproduce.PROFILES:
        raise ConfigError(
            f"{PROFILE_VARIABLE} must be one of {', '.join(reproduce.PROFILES)}, "
            f"but received {profile!r}"
        )
    return profile


def run_figure_notebooks(app: Sphinx) -> None:
    """Execute the figure notebooks into ``<book>/figures`` (cached when unchanged)."""
    book = Path(app.srcdir)
    # The repository that contains this book. A copy of the repository builds
    # from its own notebooks, parameters and results.
    root = book.parent
    profile = _profile_from_environment()
    jobs = _jobs_from_environment()
    logger.info(f"[mpdob_figures] executing the figure notebooks, profile {profile}")
    try:
        runs = reproduce.run_figures(
            jobs=jobs,
            output_dir=book / "figures",
            profile=profile,
            progress=lambda line: logger.info(f"[mpdob_figures] {line}"),
            notebooks_dir=root / "notebooks",
            results_dir=root / "data" / "results",
            params_file=root / "data" / "params" / "paper.toml",
            lock_file=root / "requirements.lock",
        )
    except (reproduce.FigureExecutionError, ValueError, TypeError, FileNotFoundError) as error:
        raise ExtensionError(f"the figure notebooks failed: {error}") from error
    executed = sum(not run.cached for run in runs)
    logger.info(
        f"[mpdob_figures] {len(runs)} figures ready, {executed} executed, "
        f"{len(runs) - executed} from the cache"
    )


def setup(app: Sphinx) -> dict[str, object]:
    """Register the notebook run on ``builder-inited``."""
    app.connect("builder-inited", run_figure_notebooks)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
