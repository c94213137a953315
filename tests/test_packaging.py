"""The package as users get it: the wheel's files and metadata, and an editable install.

Both are built in a fresh virtual environment that holds only the lowest versions
of the build requirements ``pyproject.toml`` allows, so a minimum that is too low
fails here rather than on a user's machine.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = {"polydatum", "flask_datum", "django_datum", "starlette_datum"}
# What the published package offers: the integrations (OpenTelemetry's API for
# polydatum.contrib.opentelemetry among them) and the tools of docs/testing.md.
EXTRAS = {
    "flask",
    "django",
    "starlette",
    "fastapi",
    "sqlalchemy",
    "celery",
    "opentelemetry",
    "testing",
}

# A user's module type-checked against an editable checkout (outside the repository).
USER_MODULE = """\
from __future__ import annotations

from django_datum import get_dal
from flask_datum import Datum
from polydatum import DataAccessLayer, DataManager, Service
from starlette_datum import DatumMiddleware


class Notes(Service):
    def title(self, note_id: int) -> str:
        return f"note {note_id}"


dm = DataManager()
dm.register_services(notes=Notes())
with dm.dal() as dal:
    layer: DataAccessLayer = dal
datum = Datum(data_manager=dm)
plugins = (get_dal, DatumMiddleware)
"""

# A typed app's module (polydatum alone: the build environment has no web framework).
TYPED_MODULE = """\
from __future__ import annotations

from typing import assert_type

from polydatum import DataManager, Layer, Service


class Notes(Service["Dal"]):
    def title(self, note_id: int) -> str:
        return f"note {note_id}"


class Dal(Layer):
    notes: Notes


dm = DataManager(dal_class=Dal)
dm.register_services(notes=Notes())
with dm.dal() as dal:
    assert_type(dal.notes, Notes)
    title: str = dal.notes.title(1)
"""


def _pip(python: Path, *args: str) -> None:
    """Run this environment's pip on the environment of ``python`` (which has no pip)."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "-q", *args]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)


def _lowest(requirement: str) -> str:
    """``name==X`` for a requirement ``name>=X``; fail when it names no minimum."""
    parsed = Requirement(requirement)
    lows = [spec.version for spec in parsed.specifier if spec.operator == ">="]
    assert lows, f"build-system.requires should name a minimum version: {requirement!r}"
    return f"{parsed.name}=={lows[0]}"


@pytest.fixture(scope="module")
def build_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the lowest allowed build requirements; its python."""
    venv = tmp_path_factory.mktemp("build") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # editables: what the backend asks for an editable build (get_requires_for_build_editable).
    _pip(python, "install", *map(_lowest, PYPROJECT["build-system"]["requires"]), "editables")
    return python


@pytest.fixture(scope="module")
def wheel(build_python: Path, tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel ``pip wheel . --no-deps`` builds with the lowest build requirements."""
    out = tmp_path_factory.mktemp("wheel")
    _pip(build_python, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT))
    (built,) = out.glob("polydatum-*.whl")
    return zipfile.ZipFile(built)


def _metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = (name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_lowest_build_requirements_write_the_license_expression(wheel: zipfile.ZipFile) -> None:
    """The lowest allowed backend turns ``license = "MIT"`` into a PEP 639 License-Expression."""
    metadata = _metadata(wheel)
    assert tuple(map(int, metadata["Metadata-Version"].split("."))) >= (2, 4)
    assert metadata["License-Expression"] == "MIT"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel.namelist())


def test_wheel_holds_the_four_typed_packages_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    """The wheel holds polydatum and the three plugins, each with py.typed; no tests or apps."""
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    assert top_level - {"polydatum-2.0.0.dev0.dist-info"} == PACKAGES
    assert {f"{package}/py.typed" for package in PACKAGES} <= set(wheel.namelist())
    assert not [name for name in wheel.namelist() if "__pycache__" in name]


def test_wheel_extras_offer_only_what_the_wheel_holds(wheel: zipfile.ZipFile) -> None:
    """The extras are the integrations and ``testing``: none for the checkout's apps or tests."""
    metadata = _metadata(wheel)
    assert set(metadata.get_all("Provides-Extra") or []) == EXTRAS
    requires = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    assert not [req for req in requires if req.name == "polydatum"]  # no extra of extras
    testing = {
        req.name for req in requires if req.marker and req.marker.evaluate({"extra": "testing"})
    }
    assert testing == {"pytest", "pytest-django", "httpx", "httpx2"}


def test_metadata_names_the_project_urls_and_python_versions(wheel: zipfile.ZipFile) -> None:
    """The metadata links the project's pages and lists each Python version it supports."""
    metadata = _metadata(wheel)
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Source", "Changelog", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(
        int(c.removeprefix(prefix))
        for c in metadata.get_all("Classifier") or []
        if c.startswith(prefix)
    )
    assert metadata["Requires-Python"] == f">=3.{minors[0]}"
    assert minors == list(range(minors[0], minors[-1] + 1))  # no version left out in between


def test_editable_install_gives_type_checkers_the_packages(
    build_python: Path, tmp_path: Path
) -> None:
    """After ``pip install -e .``, mypy --strict and pyright find the packages' types there."""
    _pip(build_python, "install", "--no-deps", "--no-build-isolation", "-e", str(ROOT))
    (tmp_path / "app.py").write_text(USER_MODULE)
    (tmp_path / "typed.py").write_text(TYPED_MODULE)
    command = [sys.executable, "-m", "mypy", "--strict", "--config-file=", "--cache-dir=/dev/null"]
    command += ["--python-executable", str(build_python), "app.py", "typed.py"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # pyright (strict) finds them too, through the same plain .pth file.
    (tmp_path / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict"}')
    command = [sys.executable, "-m", "pyright", "--pythonpath", str(build_python), "typed.py"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
