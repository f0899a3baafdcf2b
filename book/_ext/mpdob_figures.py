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

import csv
import hashlib
import os
import shutil
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


# Columns of the results CSV files that measure wall time; they change on
# every run without changing any result the pages show.
_TIMING_COLUMNS = {"seconds"}


def _results_bytes(path: Path) -> bytes:
    """Return a CSV file's content without its wall-time columns."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return b""
    keep = [index for index, name in enumerate(rows[0]) if name not in _TIMING_COLUMNS]
    lines = (",".join(row[index] for index in keep if index < len(row)) for row in rows)
    return "\n".join(lines).encode()


def _inputs_digest(root: Path) -> str:
    """Return a SHA-256 over the package sources, parameters, results and lock."""
    digest = hashlib.sha256()
    paths = reproduce.package_sources(root / "mpdob")
    paths += [root / "data" / "params" / "paper.toml", root / "requirements.lock"]
    paths += sorted((root / "data" / "counterexamples").glob("*.json"))
    for path in paths:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for path in sorted((root / "data" / "results").glob("*.csv")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(hashlib.sha256(_results_bytes(path)).digest())
    return digest.hexdigest()


def _stamp_paths(app: Sphinx) -> tuple[Path, Path]:
    build = Path(app.outdir).parent
    return build / ".mpdob_inputs.sha256", build / ".mpdob_last_build_clean"


def refresh_page_cache(app: Sphinx) -> None:
    """Decide which pages to read again before Sphinx looks for changes.

    myst-nb's cache keys a page on its own code cells only, so a page would
    otherwise keep outputs computed by an older ``mpdob`` or older results:
    when those inputs changed, the cache is dropped and every page runs
    again. When the last build had warnings, every page is read again (from
    the cache) so that an unchanged rebuild reports them again.
    """
    root = Path(app.srcdir).parent
    cache = Path(app.outdir).parent / ".jupyter_cache"
    stamp, clean_marker = _stamp_paths(app)
    current = _inputs_digest(root)
    previous = stamp.read_text().strip() if stamp.is_file() else ""
    inputs_changed = previous != current
    if inputs_changed and cache.exists():
        logger.info("[mpdob_figures] package, parameters or results changed: re-executing pages")
        shutil.rmtree(cache)
    app.mpdob_reread_all = inputs_changed or not clean_marker.is_file()
    app.mpdob_inputs_digest = current


def record_inputs(app: Sphinx, exception: Exception | None) -> None:
    """Record the inputs the pages ran with and whether the build was clean."""
    stamp, clean_marker = _stamp_paths(app)
    digest = getattr(app, "mpdob_inputs_digest", None)
    if exception is None and digest:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
    if exception is None and getattr(app, "_warncount", 0) == 0:
        clean_marker.touch()
    else:
        clean_marker.unlink(missing_ok=True)


def reread_when_inputs_changed(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Mark every page outdated when :func:`refresh_page_cache` asked for it.

    Sphinx re-reads only pages whose source file changed. A page whose code
    cells are unchanged can still depend on changed code or results, so it
    must be read and executed again too.
    """
    if getattr(app, "mpdob_reread_all", False):
        return sorted(env.found_docs)
    return []


def setup(app: Sphinx) -> dict[str, object]:
    """Register the notebook run on ``builder-inited``."""
    # The figures run first: the pages read the results they write.
    app.connect("builder-inited", run_figure_notebooks, priority=400)
    app.connect("builder-inited", refresh_page_cache, priority=450)
    app.connect("env-get-outdated", reread_when_inputs_changed)
    app.connect("build-finished", record_inputs)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
