"""The README's support table and the extras' lower bounds are those of noxfile.py."""

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
EXTRAS: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "optional-dependencies"
]


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
    """The extra's ``>=`` bound for the distribution is its oldest pin, and admits its newest."""
    target = NOXFILE.target(name)
    requirements = [Requirement(r) for r in EXTRAS[target.extra]]
    (requirement,) = [r for r in requirements if r.name == distribution]
    lower = [s.version for s in requirement.specifier if s.operator == ">="]
    assert lower, f"{requirement} in the {target.extra!r} extra has no lower bound"
    oldest = NOXFILE.pinned(target.oldest.pins, distribution)
    assert Version(lower[0]) == Version(oldest), (
        f"the {target.extra!r} extra says {requirement}, but the oldest {label} tested is {oldest}"
    )
    assert requirement.specifier.contains(NOXFILE.pinned(target.newest.pins, distribution))


def test_a_pin_must_be_exact() -> None:
    """``pinned`` refuses a range: each end of the matrix names one release."""
    with pytest.raises(ValueError, match="not an exact pin"):
        NOXFILE.pinned(("flask>=3.0",), "flask")
