"""The README's support table, the extras' lower bounds and the Pythons are noxfile.py's."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("nox")

from packaging.requirements import Requirement  # nox brings packaging
from packaging.version import Version

ROOT = Path(__file__).parents[1]
BEGIN = "<!-- support table: built by noxfile.support_table() -->\n"
END = "<!-- end of support table -->"


def load_noxfile() -> ModuleType:
    """Import noxfile.py from the repository's root."""
    spec = importlib.util.spec_from_file_location("noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


NOXFILE = load_noxfile()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]


def classified(prefix: str) -> list[str]:
    """The versions pyproject's classifiers name after ``prefix`` ("3.12" for Python's)."""
    return [c.removeprefix(prefix) for c in PROJECT["classifiers"] if c.startswith(prefix)]


def test_readme_support_table_is_the_one_the_noxfile_builds() -> None:
    """The table between the README's markers is exactly ``support_table()``'s."""
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme, f"the README lacks {BEGIN.strip()}"
    assert END in readme, f"the README lacks {END}"
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    expected = NOXFILE.support_table()
    assert table == expected, f"Replace the README's support table with:\n{expected}"


@pytest.mark.parametrize(("label", "distribution", "name"), NOXFILE.SUPPORTED)
def test_extra_lower_bound_is_the_oldest_release_tested(
    label: str, distribution: str, name: str
) -> None:
    """The extra's ``>=`` bound for the distribution is its oldest pin, and admits every newest.

    The newest are those of the target's newest end and of each newer Python's session.
    """
    target = NOXFILE.target(name)
    requirements = [Requirement(r) for r in EXTRAS[target.extra]]
    (requirement,) = [r for r in requirements if r.name == distribution]
    lower = [s.version for s in requirement.specifier if s.operator == ">="]
    assert lower, f"{requirement} in the {target.extra!r} extra has no lower bound"
    oldest = NOXFILE.pinned(target.oldest.pins, distribution)
    assert Version(lower[0]) == Version(oldest), (
        f"the {target.extra!r} extra says {requirement}, but the oldest {label} tested is {oldest}"
    )
    newest = [target.newest.pins, *(python.pins for python in NOXFILE.NEWER_PYTHONS)]
    for pins in newest:
        assert requirement.specifier.contains(NOXFILE.pinned(pins, distribution)), pins


def test_every_python_the_package_claims_is_tested() -> None:
    """Each Python classifier has its sessions: the matrix's oldest, then one per newer Python.

    ``requires-python``'s lower bound is the Python the oldest and newest ends run on.
    """
    tested = [NOXFILE.OLDEST_PYTHON, *(python.version for python in NOXFILE.NEWER_PYTHONS)]
    assert classified("Programming Language :: Python :: 3.") == [
        v.removeprefix("3.") for v in tested
    ], f"pyproject's Python classifiers must be the tested ones, {tested}"
    assert PROJECT["requires-python"] == f">={NOXFILE.OLDEST_PYTHON}"


def test_every_newer_python_installs_every_extra() -> None:
    """A newer Python's session installs each integration's extra (all but ``testing``)."""
    assert set(NOXFILE.ALL_EXTRAS) == set(EXTRAS) - {"testing"}


def test_every_django_the_package_claims_is_tested() -> None:
    """The Django classifiers name exactly the feature releases (X.Y) the sessions pin."""
    pins = [NOXFILE.target("django").oldest.pins, NOXFILE.target("django").newest.pins]
    pins += [python.pins for python in NOXFILE.NEWER_PYTHONS]
    tested = sorted({".".join(NOXFILE.pinned(p, "django").split(".")[:2]) for p in pins})
    assert sorted(classified("Framework :: Django :: ")) == tested


def test_newest_pins_refuse_an_unknown_distribution() -> None:
    """Replacing a pin the newest ends do not have is a mistake ``newest_pins`` names."""
    with pytest.raises(LookupError, match=r"no newest pin for \['djang'\]"):
        NOXFILE.newest_pins(djang="djang==6.1.3")


def test_a_pin_must_be_exact() -> None:
    """``pinned`` refuses a range: each end of the matrix names one release."""
    with pytest.raises(ValueError, match="not an exact pin"):
        NOXFILE.pinned(("flask>=3.0",), "flask")
