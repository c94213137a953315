"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "sqlalchemy.md", ROOT / "docs" / "celery.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _examples() -> list[pytest.ParameterSet]:
    params = []
    for doc in DOCS:
        for i, code in enumerate(BLOCK.findall(doc.read_text())):
            params.append(pytest.param(code, id=f"{doc.stem}-{i}"))
    return params


@pytest.mark.parametrize("code", _examples())
def test_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Python block of the docs runs without error in a fresh namespace."""
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<doc example>", "exec"), {"__name__": "__doc_example__"})
