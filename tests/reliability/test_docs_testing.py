"""The example projects of docs/testing.md run as written, in real pytest sessions.

Each framework's section holds whole files (the file name on the first line);
they are written into a fresh directory and run with pytest in a subprocess,
so the plugin loads from its entry point as in a user's project.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_BLOCK = re.compile(r"```(?:python|toml)\n# (\S+)\n(.*?)```", re.S)


def files_of(section: str) -> dict[str, str]:
    """The files of the doc section whose heading starts with ``section``."""
    text = DOC.read_text()
    start = text.index(f"### {section}")
    end = text.find("\n### ", start + 1)
    return dict(_BLOCK.findall(text[start : end if end != -1 else None]))


def run_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, section: str
) -> pytest.RunResult:
    """Write the section's files into a fresh directory and run pytest there."""
    # The project names its own Django settings (or none).
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    for name, source in files_of(section).items():
        (pytester.path / name).write_text(source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")


def test_sections_hold_whole_projects() -> None:
    """Each framework's section gives its pyproject, its app and its tests."""
    assert set(files_of("Flask")) == {"pyproject.toml", "notes_flask.py", "test_notes_flask.py"}
    assert set(files_of("Django")) == {
        "pyproject.toml",
        "settings.py",
        "notes_django.py",
        "test_notes_django.py",
    }
    assert set(files_of("Starlette")) == {
        "pyproject.toml",
        "notes_starlette.py",
        "test_notes_starlette.py",
    }


def test_flask_example_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Flask example's tests pass: requests by the test client see datum_override."""
    run_project(pytester, monkeypatch, "Flask").assert_outcomes(passed=3)


def test_django_example_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Django example's tests pass: client and async_client requests see datum_override."""
    run_project(pytester, monkeypatch, "Django").assert_outcomes(passed=3)


def test_starlette_example_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Starlette example's tests pass: httpx requests see an overridden resource."""
    run_project(pytester, monkeypatch, "Starlette").assert_outcomes(passed=2)
