"""Consistency of requirements.lock, environment.yml, pyproject.toml and the Makefile."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
MAKEFILE = ROOT / "Makefile"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;=]+)$")


def parse_pins(lines: list[str], source: str) -> dict[str, str]:
    """Map canonical package name to pinned version, failing on anything but ``name==version``."""
    pins: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        assert match, f"{source}: {line!r} is not an exact 'name==version' pin"
        name = canonicalize_name(match["name"])
        assert name not in pins, f"{source}: {name} is pinned twice"
        pins[name] = match["version"]
    return pins


def lock_pins() -> dict[str, str]:
    return parse_pins(LOCK.read_text(encoding="utf-8").splitlines(), "requirements.lock")


def environment() -> dict:
    return yaml.safe_load(ENVIRONMENT.read_text(encoding="utf-8"))


def environment_pip_list() -> list[str]:
    pip_sections = [
        entry["pip"] for entry in environment()["dependencies"] if isinstance(entry, dict)
    ]
    assert len(pip_sections) == 1, "environment.yml needs exactly one 'pip:' list"
    return [str(item) for item in pip_sections[0]]


def environment_pins() -> dict[str, str]:
    # Install options such as "-e ." are not pins.
    items = [item for item in environment_pip_list() if not item.startswith("-")]
    return parse_pins(items, "environment.yml")


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_lock_has_exact_pins():
    # parse_pins rejects any line that is not name==version. The size check
    # guards the comparisons below, which an empty lock would pass.
    assert len(lock_pins()) > 20


def test_environment_pins_match_lock():
    lock = lock_pins()
    conda = environment_pins()

    only_lock = sorted(set(lock) - set(conda))
    only_conda = sorted(set(conda) - set(lock))
    differing = sorted(
        f"{name} (lock {lock[name]}, environment.yml {conda[name]})"
        for name in set(lock) & set(conda)
        if lock[name] != conda[name]
    )
    assert not only_lock, f"pinned in requirements.lock only: {', '.join(only_lock)}"
    assert not only_conda, f"pinned in environment.yml only: {', '.join(only_conda)}"
    assert not differing, f"pinned differently: {'; '.join(differing)}"


def test_environment_installs_project():
    assert "-e ." in environment_pip_list()


def test_environment_python_is_311():
    conda_packages = [entry for entry in environment()["dependencies"] if isinstance(entry, str)]

    assert "python=3.11" in conda_packages
    assert "pip" in conda_packages


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_runtime_dependency_is_pinned(requirement: Requirement):
    if requirement.marker is not None and not requirement.marker.evaluate():
        pytest.skip(f"{requirement} does not apply to Python {sys.version.split()[0]}")
    lock = lock_pins()
    name = canonicalize_name(requirement.name)

    assert name in lock, f"runtime dependency {requirement.name} is not in requirements.lock"
    assert requirement.specifier.contains(lock[name], prereleases=True), (
        f"requirements.lock pins {name}=={lock[name]}, outside pyproject.toml's {requirement}"
    )


def test_test_dependencies_are_pinned():
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    lock = lock_pins()
    for text in project["optional-dependencies"]["test"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"test dependency {requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {name}=={lock[name]}, outside pyproject.toml's {requirement}"
        )


def test_installed_versions_match_lock():
    mismatched = []
    for name, version in lock_pins().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            mismatched.append(f"{name} (locked {version}, not installed)")
            continue
        if installed != version:
            mismatched.append(f"{name} (locked {version}, installed {installed})")
    assert not mismatched, "environment differs from requirements.lock: " + "; ".join(mismatched)


def test_makefile_minimum_python_fits_lock():
    # Every locked package must accept the oldest Python the Makefile lets through.
    match = re.search(r"^PYTHON_MIN\s*:?=\s*(\S+)", MAKEFILE.read_text(), re.MULTILINE)
    assert match, "Makefile defines no PYTHON_MIN"
    minimum = match[1]
    rejecting = []
    for name in lock_pins():
        requires = importlib.metadata.metadata(name).get("Requires-Python")
        if requires and minimum not in SpecifierSet(requires):
            rejecting.append(f"{name} (Requires-Python {requires})")
    assert not rejecting, f"PYTHON_MIN {minimum} is too old for: " + ", ".join(rejecting)
